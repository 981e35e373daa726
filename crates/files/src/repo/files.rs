//! File records: uploads and generation outputs. The bytes live in the file store; this
//! is the metadata.

use gantry_core::UserId;
use gantry_store::{Db, StoreResult};
use sqlx::Row;
use sqlx::any::AnyRow;

/// A stored file's metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct FileRecord {
    pub id: String,
    pub user_id: UserId,
    /// `upload`, `output` or `thumbnail`.
    pub kind: String,
    pub filename: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
    pub width: Option<i64>,
    pub height: Option<i64>,
    pub task_id: Option<String>,
    pub created_at: i64,
}

const COLUMNS: &str = "id, user_id, kind, filename, content_type, size, sha256, width, height, task_id, created_at";

fn from_row(row: &AnyRow) -> StoreResult<FileRecord> {
    Ok(FileRecord {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        kind: row.try_get("kind")?,
        filename: row.try_get("filename")?,
        content_type: row.try_get("content_type")?,
        size: row.try_get("size")?,
        sha256: row.try_get("sha256")?,
        width: row.try_get("width")?,
        height: row.try_get("height")?,
        task_id: row.try_get("task_id")?,
        created_at: row.try_get("created_at")?,
    })
}

/// Records a file.
pub async fn insert(db: &Db, file: &FileRecord) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO files (id, user_id, kind, filename, content_type, size, sha256, width, height, task_id, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(&file.id)
    .bind(file.user_id)
    .bind(&file.kind)
    .bind(&file.filename)
    .bind(&file.content_type)
    .bind(file.size)
    .bind(&file.sha256)
    .bind(file.width)
    .bind(file.height)
    .bind(file.task_id.as_deref())
    .bind(file.created_at)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// A file by id.
pub async fn by_id(db: &Db, id: &str) -> StoreResult<Option<FileRecord>> {
    let sql = format!("SELECT {COLUMNS} FROM files WHERE id = $1");
    sqlx::query(&sql).bind(id).fetch_optional(db.pool()).await?.as_ref().map(from_row).transpose()
}

/// A user's files of one kind, newest first, with the total.
pub async fn list_for_user(
    db: &Db,
    user_id: UserId,
    kind: &str,
    limit: i64,
    offset: i64,
) -> StoreResult<(Vec<FileRecord>, i64)> {
    let sql = format!(
        "SELECT {COLUMNS} FROM files WHERE user_id = $1 AND kind = $2 ORDER BY created_at DESC, id LIMIT $3 OFFSET $4"
    );
    let rows = sqlx::query(&sql).bind(user_id).bind(kind).bind(limit).bind(offset).fetch_all(db.pool()).await?;
    let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM files WHERE user_id = $1 AND kind = $2")
        .bind(user_id)
        .bind(kind)
        .fetch_one(db.pool())
        .await?;
    Ok((rows.iter().map(from_row).collect::<StoreResult<_>>()?, total))
}

/// The files a task produced, in creation order.
pub async fn for_task(db: &Db, task_id: &str) -> StoreResult<Vec<FileRecord>> {
    let sql = format!("SELECT {COLUMNS} FROM files WHERE task_id = $1 ORDER BY created_at, id");
    let rows = sqlx::query(&sql).bind(task_id).fetch_all(db.pool()).await?;
    rows.iter().map(from_row).collect()
}

/// The files of several tasks.
pub async fn for_tasks(db: &Db, task_ids: &[String]) -> StoreResult<Vec<FileRecord>> {
    let sql = format!("SELECT {COLUMNS} FROM files WHERE task_id IN ({{ids}}) ORDER BY created_at, id");
    db.fetch_for_ids(&sql, task_ids).await?.iter().map(from_row).collect()
}

/// Deletes a file record. Returns false when it did not exist.
pub async fn delete(db: &Db, id: &str) -> StoreResult<bool> {
    Ok(sqlx::query("DELETE FROM files WHERE id = $1").bind(id).execute(db.pool()).await?.rows_affected() == 1)
}
