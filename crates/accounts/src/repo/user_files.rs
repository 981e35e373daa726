//! Each user's own text documents, by relative path (see `crate::user_files`).

use gantry_core::UserId;
use gantry_store::{Db, StoreResult};
use sqlx::Row;

/// A stored document, without its content.
#[derive(Debug, Clone, PartialEq)]
pub struct UserFileInfo {
    pub path: String,
    pub size: i64,
    pub updated_at: i64,
}

/// A document's content.
pub async fn get(db: &Db, user_id: UserId, path: &str) -> StoreResult<Option<String>> {
    Ok(sqlx::query_scalar("SELECT content FROM user_files WHERE user_id = $1 AND path = $2")
        .bind(user_id)
        .bind(path)
        .fetch_optional(db.pool())
        .await?)
}

/// Writes a document, replacing one at that path only if `overwrite`. A new document is
/// refused once the user has `max_files`.
pub async fn put(
    db: &Db,
    user_id: UserId,
    path: &str,
    content: &str,
    overwrite: bool,
    max_files: i64,
    now_ms: i64,
) -> StoreResult<PutOutcome> {
    let mut tx = db.begin_write().await?;
    let exists: Option<i64> = sqlx::query_scalar("SELECT 1 FROM user_files WHERE user_id = $1 AND path = $2")
        .bind(user_id)
        .bind(path)
        .fetch_optional(&mut *tx)
        .await?;
    if exists.is_some() {
        if !overwrite {
            return Ok(PutOutcome::Exists);
        }
        sqlx::query("UPDATE user_files SET content = $1, updated_at = $2 WHERE user_id = $3 AND path = $4")
            .bind(content)
            .bind(now_ms)
            .bind(user_id)
            .bind(path)
            .execute(&mut *tx)
            .await?;
    } else {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM user_files WHERE user_id = $1")
            .bind(user_id)
            .fetch_one(&mut *tx)
            .await?;
        if count >= max_files {
            return Ok(PutOutcome::TooMany);
        }
        sqlx::query("INSERT INTO user_files (user_id, path, content, updated_at) VALUES ($1, $2, $3, $4)")
            .bind(user_id)
            .bind(path)
            .bind(content)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(PutOutcome::Written)
}

/// What [`put`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    Written,
    /// A document was there and `overwrite` was off.
    Exists,
    /// The user has as many documents as allowed.
    TooMany,
}

/// The user's documents whose path starts with `prefix`, by path (a user has a bounded
/// number of them, so the prefix is matched here, the same on every database).
pub async fn list(db: &Db, user_id: UserId, prefix: &str) -> StoreResult<Vec<UserFileInfo>> {
    let rows = sqlx::query(
        "SELECT path, CAST(LENGTH(content) AS BIGINT) AS size, updated_at FROM user_files WHERE user_id = $1 ORDER BY path",
    )
    .bind(user_id)
    .fetch_all(db.pool())
    .await?;
    let mut found = Vec::new();
    for row in &rows {
        let path: String = row.try_get("path")?;
        if path.starts_with(prefix) {
            found.push(UserFileInfo { path, size: row.try_get("size")?, updated_at: row.try_get("updated_at")? });
        }
    }
    Ok(found)
}

/// Deletes a document; returns whether there was one.
pub async fn delete(db: &Db, user_id: UserId, path: &str) -> StoreResult<bool> {
    let done = sqlx::query("DELETE FROM user_files WHERE user_id = $1 AND path = $2")
        .bind(user_id)
        .bind(path)
        .execute(db.pool())
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Renames a document, replacing one at `to` if `overwrite` (else a document there is a
/// conflict); returns whether there was one at `from`.
pub async fn rename(db: &Db, user_id: UserId, from: &str, to: &str, overwrite: bool, now_ms: i64) -> StoreResult<bool> {
    let mut tx = db.begin_write().await?;
    let there: Option<i64> = sqlx::query_scalar("SELECT 1 FROM user_files WHERE user_id = $1 AND path = $2")
        .bind(user_id)
        .bind(from)
        .fetch_optional(&mut *tx)
        .await?;
    // Nothing to move, or nowhere to move it: the document at `to` stays.
    if there.is_none() || from == to {
        return Ok(there.is_some());
    }
    if overwrite {
        sqlx::query("DELETE FROM user_files WHERE user_id = $1 AND path = $2")
            .bind(user_id)
            .bind(to)
            .execute(&mut *tx)
            .await?;
    }
    let done = sqlx::query("UPDATE user_files SET path = $1, updated_at = $2 WHERE user_id = $3 AND path = $4")
        .bind(to)
        .bind(now_ms)
        .bind(user_id)
        .bind(from)
        .execute(&mut *tx)
        .await
        .map_err(|e| gantry_store::StoreError::on_unique(e, "file"))?;
    tx.commit().await?;
    Ok(done.rows_affected() == 1)
}
