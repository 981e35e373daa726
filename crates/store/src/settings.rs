//! Server-wide named values that must agree across nodes (e.g. the generated JWT secret).

use crate::{Db, StoreResult};

/// Stores `value` under `name` unless a value is already there, and returns the value in force.
pub async fn get_or_insert(db: &Db, name: &str, value: &str) -> StoreResult<String> {
    sqlx::query("INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
        .bind(name)
        .bind(value)
        .execute(db.pool())
        .await?;
    let stored: String =
        sqlx::query_scalar("SELECT value FROM settings WHERE name = $1").bind(name).fetch_one(db.pool()).await?;
    Ok(stored)
}

/// Reads the value stored under `name`.
pub async fn get(db: &Db, name: &str) -> StoreResult<Option<String>> {
    Ok(sqlx::query_scalar("SELECT value FROM settings WHERE name = $1").bind(name).fetch_optional(db.pool()).await?)
}

/// Stores `value` under `name`, replacing any earlier value.
pub async fn put(db: &Db, name: &str, value: &str) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
    )
    .bind(name)
    .bind(value)
    .execute(db.pool())
    .await?;
    Ok(())
}
