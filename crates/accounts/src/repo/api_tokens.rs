//! Long-lived API tokens (e.g. the openidcs system token). Only a hash is stored.

use gantry_core::UserId;
use gantry_store::{Db, StoreResult};
use sqlx::Row;

/// A stored API token, without its secret.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiTokenRecord {
    pub name: String,
    pub hint: String,
    pub user_id: UserId,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

/// Sets (or replaces) the token called `name`, owned by `user_id`.
pub async fn put(db: &Db, name: &str, token_hash: &str, hint: &str, user_id: UserId, now_ms: i64) -> StoreResult<()> {
    let mut tx = db.pool().begin().await?;
    sqlx::query("DELETE FROM api_tokens WHERE name = $1").bind(name).execute(&mut *tx).await?;
    sqlx::query("INSERT INTO api_tokens (name, token_hash, hint, user_id, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(name)
        .bind(token_hash)
        .bind(hint)
        .bind(user_id)
        .bind(now_ms)
        .execute(&mut *tx)
        .await
        .map_err(|e| gantry_store::StoreError::on_unique(e, "token"))?;
    tx.commit().await?;
    Ok(())
}

/// Describes the token called `name`.
pub async fn by_name(db: &Db, name: &str) -> StoreResult<Option<ApiTokenRecord>> {
    let row = sqlx::query("SELECT name, hint, user_id, created_at, last_used_at FROM api_tokens WHERE name = $1")
        .bind(name)
        .fetch_optional(db.pool())
        .await?;
    row.map(|row| {
        Ok(ApiTokenRecord {
            name: row.try_get("name")?,
            hint: row.try_get("hint")?,
            user_id: row.try_get("user_id")?,
            created_at: row.try_get("created_at")?,
            last_used_at: row.try_get("last_used_at")?,
        })
    })
    .transpose()
}

/// Finds the owner of a token by its hash and records the use.
pub async fn authenticate(db: &Db, token_hash: &str, now_ms: i64) -> StoreResult<Option<UserId>> {
    let owner: Option<i64> = sqlx::query_scalar("SELECT user_id FROM api_tokens WHERE token_hash = $1")
        .bind(token_hash)
        .fetch_optional(db.pool())
        .await?;
    if owner.is_some() {
        sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE token_hash = $2")
            .bind(now_ms)
            .bind(token_hash)
            .execute(db.pool())
            .await?;
    }
    Ok(owner)
}

/// A personal token as listed: its name, label and use.
#[derive(Debug, Clone, PartialEq)]
pub struct PersonalTokenRecord {
    pub name: String,
    pub label: String,
    pub hint: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

/// Names of personal tokens start with this.
pub const PERSONAL: &str = "personal/";

/// What [`add_personal`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PersonalAdd {
    Added,
    /// The user already holds the most they may.
    Full,
    NoSuchUser,
}

/// Adds a personal token of `user_id` unless they already have `max`.
pub async fn add_personal(
    db: &Db,
    record: &PersonalTokenRecord,
    token_hash: &str,
    user_id: UserId,
    max: i64,
) -> StoreResult<PersonalAdd> {
    let mut tx = db.pool().begin().await?;
    // The owner's row, held: two adds at once cannot both pass the count.
    let owner =
        sqlx::query("UPDATE users SET updated_at = updated_at WHERE id = $1").bind(user_id).execute(&mut *tx).await?;
    if owner.rows_affected() == 0 {
        return Ok(PersonalAdd::NoSuchUser);
    }
    let held: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM api_tokens WHERE user_id = $1 AND name LIKE $2")
        .bind(user_id)
        .bind(format!("{PERSONAL}%"))
        .fetch_one(&mut *tx)
        .await?;
    if held >= max {
        return Ok(PersonalAdd::Full);
    }
    sqlx::query(
        "INSERT INTO api_tokens (name, token_hash, hint, user_id, created_at, label) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&record.name)
    .bind(token_hash)
    .bind(&record.hint)
    .bind(user_id)
    .bind(record.created_at)
    .bind(&record.label)
    .execute(&mut *tx)
    .await
    .map_err(|e| gantry_store::StoreError::on_unique(e, "token"))?;
    tx.commit().await?;
    Ok(PersonalAdd::Added)
}

/// A user's personal tokens, newest first.
pub async fn personal_of(db: &Db, user_id: UserId) -> StoreResult<Vec<PersonalTokenRecord>> {
    let rows = sqlx::query(
        "SELECT name, label, hint, created_at, last_used_at FROM api_tokens \
         WHERE user_id = $1 AND name LIKE $2 ORDER BY created_at DESC, name",
    )
    .bind(user_id)
    .bind(format!("{PERSONAL}%"))
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|row| {
            Ok(PersonalTokenRecord {
                name: row.try_get("name")?,
                label: row.try_get::<Option<String>, _>("label")?.unwrap_or_default(),
                hint: row.try_get("hint")?,
                created_at: row.try_get("created_at")?,
                last_used_at: row.try_get("last_used_at")?,
            })
        })
        .collect()
}

/// Deletes personal token `name` (which starts with [`PERSONAL`]) of `user_id`; false when
/// they have none by that name.
pub async fn delete_personal(db: &Db, user_id: UserId, name: &str) -> StoreResult<bool> {
    let done = sqlx::query("DELETE FROM api_tokens WHERE user_id = $1 AND name = $2")
        .bind(user_id)
        .bind(name)
        .execute(db.pool())
        .await?;
    Ok(done.rows_affected() > 0)
}
