//! Folders of automation workflows (vFlow). A folder belongs to one user and may sit in
//! another folder of the same user; names are unique among siblings (the root included).
//! Structural rules (missing parent, cycles, non-empty deletes) are answered with a
//! [`Refusal`]; a taken name is [`StoreError::Conflict`].

use gantry_core::UserId;
use gantry_store::{Db, StoreError, StoreResult};
use sqlx::any::AnyRow;
use sqlx::{Any, AnyConnection, Row, Transaction};

/// Why a folder or workflow change was not made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The folder or workflow itself does not exist (for this user).
    Missing,
    /// A referenced folder (parent, target) does not exist for this user.
    FolderMissing,
    /// A folder would end up under itself or one of its descendants.
    Cycle,
    /// The folder still holds workflows or subfolders.
    NotEmpty,
}

/// A stored folder.
#[derive(Debug, Clone, PartialEq)]
pub struct FolderRecord {
    pub id: String,
    pub user_id: UserId,
    pub name: String,
    /// `None`: at the root.
    pub parent_id: Option<String>,
    /// Display order among siblings (the API's `order`).
    pub position: i64,
    pub created_at: i64,
    pub modified_at: i64,
}

/// A folder with what it directly contains.
#[derive(Debug, Clone, PartialEq)]
pub struct FolderSummary {
    pub folder: FolderRecord,
    pub workflow_count: i64,
    pub subfolder_count: i64,
}

/// Which folders to list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FolderScope {
    /// Every folder of the user.
    All,
    /// Folders at the root.
    Root,
    /// Direct children of this folder.
    Children(String),
}

/// A folder to create.
#[derive(Debug, Clone)]
pub struct NewFolder<'a> {
    pub id: &'a str,
    pub user_id: UserId,
    pub name: &'a str,
    pub parent_id: Option<&'a str>,
    pub position: i64,
    pub now_ms: i64,
}

/// Folder fields to change; `None` leaves a field as it is (`parent_id: Some(None)` moves
/// the folder to the root).
#[derive(Debug, Clone, Default)]
pub struct FolderChange {
    pub name: Option<String>,
    pub parent_id: Option<Option<String>>,
    pub position: Option<i64>,
}

/// What to do with a folder's contents when deleting it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeleteMode {
    /// Refuse ([`Refusal::NotEmpty`]) if it holds workflows or subfolders.
    RefuseIfNotEmpty,
    /// Delete it, every descendant folder, and every workflow in them.
    DeleteContents,
    /// Move its workflows and direct subfolders to this folder (`None`: the root), then
    /// delete it. The target may not be the folder or one of its descendants.
    MoveContentsTo(Option<String>),
}

/// What a folder deletion did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FolderDeletion {
    pub folders_deleted: u64,
    pub workflows_deleted: u64,
    pub workflows_moved: u64,
}

const COLUMNS: &str = "f.id, f.user_id, f.name, f.parent_id, f.position, f.created_at, f.modified_at, \
     (SELECT COUNT(*) FROM automation_workflows w WHERE w.folder_id = f.id) AS workflow_count, \
     (SELECT COUNT(*) FROM automation_folders c WHERE c.parent_id = f.id) AS subfolder_count";

fn from_row(row: &AnyRow) -> StoreResult<FolderSummary> {
    Ok(FolderSummary {
        folder: FolderRecord {
            id: row.try_get("id")?,
            user_id: row.try_get("user_id")?,
            name: row.try_get("name")?,
            parent_id: row.try_get("parent_id")?,
            position: row.try_get("position")?,
            created_at: row.try_get("created_at")?,
            modified_at: row.try_get("modified_at")?,
        },
        workflow_count: row.try_get("workflow_count")?,
        subfolder_count: row.try_get("subfolder_count")?,
    })
}

/// A user's folders in `scope`, by position then name.
pub async fn list(db: &Db, user_id: UserId, scope: &FolderScope) -> StoreResult<Vec<FolderSummary>> {
    let filter = match scope {
        FolderScope::All => "",
        FolderScope::Root => "AND f.parent_id IS NULL",
        FolderScope::Children(_) => "AND f.parent_id = $2",
    };
    let sql = format!(
        "SELECT {COLUMNS} FROM automation_folders f WHERE f.user_id = $1 {filter} ORDER BY f.position, f.name, f.id"
    );
    let mut query = sqlx::query(&sql).bind(user_id);
    if let FolderScope::Children(parent) = scope {
        query = query.bind(parent.as_str());
    }
    query.fetch_all(db.pool()).await?.iter().map(from_row).collect()
}

/// One of a user's folders, with its counts.
pub async fn get(db: &Db, user_id: UserId, id: &str) -> StoreResult<Option<FolderSummary>> {
    let sql = format!("SELECT {COLUMNS} FROM automation_folders f WHERE f.id = $1 AND f.user_id = $2");
    sqlx::query(&sql).bind(id).bind(user_id).fetch_optional(db.pool()).await?.as_ref().map(from_row).transpose()
}

/// Number of folders a user has.
pub async fn count(db: &Db, user_id: UserId) -> StoreResult<i64> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM automation_folders WHERE user_id = $1")
        .bind(user_id)
        .fetch_one(db.pool())
        .await?)
}

/// Whether the user has this folder.
pub(crate) async fn exists(conn: &mut AnyConnection, user_id: UserId, id: &str) -> StoreResult<bool> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM automation_folders WHERE id = $1 AND user_id = $2")
        .bind(id)
        .bind(user_id)
        .fetch_one(conn)
        .await?;
    Ok(n > 0)
}

/// Fails with a conflict when a sibling (other than `except`) already has the name.
async fn ensure_name_free(
    conn: &mut AnyConnection,
    user_id: UserId,
    parent_id: Option<&str>,
    name: &str,
    except: Option<&str>,
) -> StoreResult<()> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM automation_folders WHERE user_id = $1 AND COALESCE(parent_id, '') = $2 \
         AND name = $3 AND id <> $4",
    )
    .bind(user_id)
    .bind(parent_id.unwrap_or(""))
    .bind(name)
    .bind(except.unwrap_or(""))
    .fetch_one(conn)
    .await?;
    if n > 0 { Err(StoreError::Conflict("folder name".into())) } else { Ok(()) }
}

/// Whether `candidate` is `folder_id` or lies somewhere below it (walks up from `candidate`).
async fn is_within(conn: &mut AnyConnection, user_id: UserId, candidate: &str, folder_id: &str) -> StoreResult<bool> {
    let mut current = Some(candidate.to_owned());
    // Bounded so that a corrupt (already cyclic) tree cannot loop forever.
    for _ in 0..10_000 {
        let Some(id) = current else { return Ok(false) };
        if id == folder_id {
            return Ok(true);
        }
        current = sqlx::query_scalar::<_, Option<String>>(
            "SELECT parent_id FROM automation_folders WHERE id = $1 AND user_id = $2",
        )
        .bind(&id)
        .bind(user_id)
        .fetch_optional(&mut *conn)
        .await?
        .flatten();
    }
    Ok(true)
}

async fn record(tx: &mut Transaction<'static, Any>, user_id: UserId, id: &str) -> StoreResult<Option<FolderRecord>> {
    let sql = format!("SELECT {COLUMNS} FROM automation_folders f WHERE f.id = $1 AND f.user_id = $2");
    let row = sqlx::query(&sql).bind(id).bind(user_id).fetch_optional(&mut **tx).await?;
    Ok(row.as_ref().map(from_row).transpose()?.map(|s| s.folder))
}

/// Creates a folder. Refuses a missing parent; a sibling with the same name is a conflict.
pub async fn create(db: &Db, new: &NewFolder<'_>) -> StoreResult<Result<FolderRecord, Refusal>> {
    let mut tx = db.begin_write().await?;
    if let Some(parent) = new.parent_id
        && !exists(&mut tx, new.user_id, parent).await?
    {
        return Ok(Err(Refusal::FolderMissing));
    }
    ensure_name_free(&mut tx, new.user_id, new.parent_id, new.name, None).await?;
    sqlx::query(
        "INSERT INTO automation_folders (id, user_id, name, parent_id, position, created_at, modified_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $6)",
    )
    .bind(new.id)
    .bind(new.user_id)
    .bind(new.name)
    .bind(new.parent_id)
    .bind(new.position)
    .bind(new.now_ms)
    .execute(&mut *tx)
    .await
    .map_err(|e| StoreError::on_unique(e, "folder name"))?;
    let created = record(&mut tx, new.user_id, new.id).await?.ok_or(StoreError::Database(sqlx::Error::RowNotFound))?;
    tx.commit().await?;
    Ok(Ok(created))
}

/// Renames, moves or reorders a folder. Refuses a missing folder or parent, and a move
/// under the folder itself or one of its descendants.
pub async fn update(
    db: &Db,
    user_id: UserId,
    id: &str,
    change: &FolderChange,
    now_ms: i64,
) -> StoreResult<Result<FolderRecord, Refusal>> {
    let mut tx = db.begin_write().await?;
    let Some(mut folder) = record(&mut tx, user_id, id).await? else { return Ok(Err(Refusal::Missing)) };
    if let Some(parent) = &change.parent_id {
        if let Some(parent) = parent {
            if !exists(&mut tx, user_id, parent).await? {
                return Ok(Err(Refusal::FolderMissing));
            }
            if is_within(&mut tx, user_id, parent, id).await? {
                return Ok(Err(Refusal::Cycle));
            }
        }
        folder.parent_id = parent.clone();
    }
    if let Some(name) = &change.name {
        folder.name = name.clone();
    }
    if let Some(position) = change.position {
        folder.position = position;
    }
    folder.modified_at = now_ms;
    ensure_name_free(&mut tx, user_id, folder.parent_id.as_deref(), &folder.name, Some(id)).await?;
    let done = sqlx::query(
        "UPDATE automation_folders SET name = $1, parent_id = $2, position = $3, modified_at = $4 \
         WHERE id = $5 AND user_id = $6",
    )
    .bind(&folder.name)
    .bind(folder.parent_id.as_deref())
    .bind(folder.position)
    .bind(now_ms)
    .bind(id)
    .bind(user_id)
    .execute(&mut *tx)
    .await
    .map_err(|e| StoreError::on_unique(e, "folder name"))?;
    if done.rows_affected() != 1 {
        return Ok(Err(Refusal::Missing));
    }
    tx.commit().await?;
    Ok(Ok(folder))
}

/// The folder and every folder below it, the folder first.
async fn subtree(conn: &mut AnyConnection, user_id: UserId, id: &str) -> StoreResult<Vec<String>> {
    let mut all = vec![id.to_owned()];
    let mut next = 0;
    while next < all.len() {
        let children: Vec<String> =
            sqlx::query_scalar("SELECT id FROM automation_folders WHERE parent_id = $1 AND user_id = $2")
                .bind(&all[next])
                .bind(user_id)
                .fetch_all(&mut *conn)
                .await?;
        all.extend(children);
        next += 1;
    }
    Ok(all)
}

/// Deletes a folder, handling its contents as `mode` says, in one transaction.
pub async fn delete(
    db: &Db,
    user_id: UserId,
    id: &str,
    mode: &DeleteMode,
    now_ms: i64,
) -> StoreResult<Result<FolderDeletion, Refusal>> {
    let mut tx = db.begin_write().await?;
    let Some(folder) = record(&mut tx, user_id, id).await? else { return Ok(Err(Refusal::Missing)) };
    let mut outcome = FolderDeletion::default();
    match mode {
        DeleteMode::RefuseIfNotEmpty => {
            let held: i64 = sqlx::query_scalar(
                "SELECT (SELECT COUNT(*) FROM automation_workflows WHERE folder_id = $1) + \
                 (SELECT COUNT(*) FROM automation_folders WHERE parent_id = $1)",
            )
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
            if held > 0 {
                return Ok(Err(Refusal::NotEmpty));
            }
        }
        DeleteMode::DeleteContents => {
            for folder_id in subtree(&mut tx, user_id, id).await? {
                outcome.workflows_deleted +=
                    sqlx::query("DELETE FROM automation_workflows WHERE folder_id = $1 AND user_id = $2")
                        .bind(&folder_id)
                        .bind(user_id)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                if folder_id != id {
                    outcome.folders_deleted += sqlx::query("DELETE FROM automation_folders WHERE id = $1")
                        .bind(&folder_id)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                }
            }
        }
        DeleteMode::MoveContentsTo(target) => {
            if let Some(target) = target {
                if !exists(&mut tx, user_id, target).await? {
                    return Ok(Err(Refusal::FolderMissing));
                }
                if is_within(&mut tx, user_id, target, id).await? {
                    return Ok(Err(Refusal::Cycle));
                }
            }
            let target = target.as_deref();
            outcome.workflows_moved = sqlx::query(
                "UPDATE automation_workflows SET folder_id = $1, modified_at = $2 WHERE folder_id = $3 AND user_id = $4",
            )
            .bind(target)
            .bind(now_ms)
            .bind(id)
            .bind(user_id)
            .execute(&mut *tx)
            .await
            .map_err(|e| StoreError::on_unique(e, "workflow name"))?
            .rows_affected();
            sqlx::query(
                "UPDATE automation_folders SET parent_id = $1, modified_at = $2 WHERE parent_id = $3 AND user_id = $4",
            )
            .bind(target)
            .bind(now_ms)
            .bind(id)
            .bind(user_id)
            .execute(&mut *tx)
            .await
            .map_err(|e| StoreError::on_unique(e, "folder name"))?;
        }
    }
    outcome.folders_deleted += sqlx::query("DELETE FROM automation_folders WHERE id = $1 AND user_id = $2")
        .bind(&folder.id)
        .bind(user_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    tx.commit().await?;
    Ok(Ok(outcome))
}
