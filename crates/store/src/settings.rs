//! Server-wide named values that must agree across nodes (e.g. the generated JWT secret).

use crate::{Db, StoreResult};

/// Stores `value` under `name` unless a value is already there, and returns the value in force.
pub async fn get_or_insert(db: &Db, name: &str, value: &str) -> StoreResult<String> {
    sqlx::query("INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
        .bind(name)
        .bind(value)
        .execute(db.pool())
        .await?;
    let stored: String = sqlx::query_scalar("SELECT value FROM settings WHERE name = $1")
        .bind(name)
        .fetch_one(db.pool())
        .await?;
    Ok(stored)
}
