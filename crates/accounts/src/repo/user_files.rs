//! Each user's own text documents, by relative path (see `crate::user_files`).

use gantry_core::UserId;
use gantry_store::{Backend, Db, StoreResult};
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

/// Writes a document from what it holds now (`None` when there is none); `change` answers
/// `None` to leave it as it is ([`PutOutcome::Exists`]); a new content over `max_bytes` is
/// not written ([`PutOutcome::TooLarge`]). The user's documents stay locked
/// from the read to the write (SQLite's write lock, the user's row on PostgreSQL), so two
/// rewrites at once never lose one another's change.
pub async fn rewrite(
    db: &Db,
    user_id: UserId,
    path: &str,
    max_files: i64,
    max_bytes: usize,
    now_ms: i64,
    change: impl FnOnce(Option<&str>) -> Option<String>,
) -> StoreResult<PutOutcome> {
    let mut tx = db.begin_write().await?;
    if db.backend() == Backend::Postgres {
        sqlx::query("SELECT id FROM users WHERE id = $1 FOR UPDATE").bind(user_id).fetch_optional(&mut *tx).await?;
    }
    let old: Option<String> = sqlx::query_scalar("SELECT content FROM user_files WHERE user_id = $1 AND path = $2")
        .bind(user_id)
        .bind(path)
        .fetch_optional(&mut *tx)
        .await?;
    let existed = old.is_some();
    let Some(content) = change(old.as_deref()) else { return Ok(PutOutcome::Exists) };
    if content.len() > max_bytes {
        return Ok(PutOutcome::TooLarge);
    }
    if existed {
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

/// What [`rewrite`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    Written,
    /// A document was there and `overwrite` was off.
    Exists,
    /// The user has as many documents as allowed.
    TooMany,
    /// The new content is over the size allowed.
    TooLarge,
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
