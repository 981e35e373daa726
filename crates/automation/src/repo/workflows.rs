//! Automation workflows (vFlow). A workflow belongs to one user, optionally sits in one of
//! that user's folders, and its name is unique per (user, folder) — the root included.
//! Steps, trigger configuration and metadata are JSON text the caller owns; the trigger's
//! `type` is kept in its own column (`trigger_type`) so that triggers can be queried, and
//! tags live in their own table so that "any of these tags" is one portable query.

use super::folders::{self, Refusal};
use gantry_core::UserId;
use gantry_store::{Db, StoreError, StoreResult};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

/// A stored workflow.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkflowRecord {
    pub id: String,
    pub user_id: UserId,
    pub folder_id: Option<String>,
    pub name: String,
    pub description: String,
    pub is_enabled: bool,
    pub is_favorite: bool,
    /// Display order (the API's `order`).
    pub position: i64,
    pub tags: Vec<String>,
    /// Starts at 1, incremented by every [`update`].
    pub version: i64,
    /// Steps, JSON.
    pub steps: String,
    /// Trigger configuration, JSON.
    pub trigger_config: String,
    /// The `type` field of `trigger_config`, set by the caller.
    pub trigger_type: Option<String>,
    /// Seconds.
    pub max_execution_time: i64,
    /// JSON.
    pub metadata: String,
    pub webhook_secret_hash: Option<String>,
    pub created_at: i64,
    pub modified_at: i64,
}

/// Workflow fields to change; `None` leaves a field as it is (`Some(None)` clears a
/// nullable one, e.g. `folder_id: Some(None)` moves the workflow to the root).
#[derive(Debug, Clone, Default)]
pub struct WorkflowChange {
    pub folder_id: Option<Option<String>>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub is_enabled: Option<bool>,
    pub is_favorite: Option<bool>,
    pub position: Option<i64>,
    pub tags: Option<Vec<String>>,
    pub steps: Option<String>,
    /// The configuration JSON and its `type`, together.
    pub trigger: Option<(String, Option<String>)>,
    pub max_execution_time: Option<i64>,
    pub metadata: Option<String>,
    pub webhook_secret_hash: Option<Option<String>>,
}

/// Sort field for [`list`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WorkflowSort {
    Name,
    ModifiedAt,
    /// The API's `order`.
    #[default]
    Position,
}

/// Filter for [`list`]; the default lists everything, enabled or not, by position.
#[derive(Debug, Clone, Default)]
pub struct WorkflowFilter {
    /// Only workflows directly in this folder.
    pub folder_id: Option<String>,
    /// Leave disabled workflows out.
    pub enabled_only: bool,
    /// Case-insensitive substring of the name or description.
    pub search: Option<String>,
    /// Workflows with any of these tags (empty: no tag filter).
    pub tags: Vec<String>,
    pub sort: WorkflowSort,
    pub descending: bool,
    /// 0: no limit.
    pub limit: i64,
    pub offset: i64,
}

const COLUMNS: &str = "id, user_id, folder_id, name, description, is_enabled, is_favorite, position, version, steps, \
     trigger_config, trigger_type, max_execution_time, metadata, webhook_secret_hash, created_at, modified_at";

fn from_row(row: &AnyRow) -> StoreResult<WorkflowRecord> {
    Ok(WorkflowRecord {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        folder_id: row.try_get("folder_id")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        is_enabled: row.try_get::<i64, _>("is_enabled")? != 0,
        is_favorite: row.try_get::<i64, _>("is_favorite")? != 0,
        position: row.try_get("position")?,
        tags: Vec::new(),
        version: row.try_get("version")?,
        steps: row.try_get("steps")?,
        trigger_config: row.try_get("trigger_config")?,
        trigger_type: row.try_get("trigger_type")?,
        max_execution_time: row.try_get("max_execution_time")?,
        metadata: row.try_get("metadata")?,
        webhook_secret_hash: row.try_get("webhook_secret_hash")?,
        created_at: row.try_get("created_at")?,
        modified_at: row.try_get("modified_at")?,
    })
}

/// `$first, $first+1, …` for `n` values.
fn marks(first: usize, n: usize) -> String {
    (first..first + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

/// Reads rows and fills in their tags.
async fn with_tags(conn: &mut AnyConnection, rows: &[AnyRow]) -> StoreResult<Vec<WorkflowRecord>> {
    let mut records = rows.iter().map(from_row).collect::<StoreResult<Vec<_>>>()?;
    for chunk in records.chunks_mut(500) {
        let sql = format!(
            "SELECT workflow_id, tag FROM automation_workflow_tags WHERE workflow_id IN ({}) \
             ORDER BY workflow_id, position",
            marks(1, chunk.len())
        );
        let mut query = sqlx::query(&sql);
        for r in chunk.iter() {
            query = query.bind(r.id.clone());
        }
        for row in query.fetch_all(&mut *conn).await? {
            let id: String = row.try_get("workflow_id")?;
            if let Some(r) = chunk.iter_mut().find(|r| r.id == id) {
                r.tags.push(row.try_get("tag")?);
            }
        }
    }
    Ok(records)
}

async fn fetch(conn: &mut AnyConnection, user_id: UserId, id: &str) -> StoreResult<Option<WorkflowRecord>> {
    let sql = format!("SELECT {COLUMNS} FROM automation_workflows WHERE id = $1 AND user_id = $2");
    let row = sqlx::query(&sql).bind(id).bind(user_id).fetch_optional(&mut *conn).await?;
    Ok(with_tags(conn, row.as_slice()).await?.pop())
}

async fn write_tags(conn: &mut AnyConnection, id: &str, tags: &[String]) -> StoreResult<()> {
    sqlx::query("DELETE FROM automation_workflow_tags WHERE workflow_id = $1").bind(id).execute(&mut *conn).await?;
    let mut seen = Vec::new();
    for tag in tags {
        if seen.contains(&tag) {
            continue;
        }
        sqlx::query("INSERT INTO automation_workflow_tags (workflow_id, tag, position) VALUES ($1, $2, $3)")
            .bind(id)
            .bind(tag.as_str())
            .bind(seen.len() as i64)
            .execute(&mut *conn)
            .await?;
        seen.push(tag);
    }
    Ok(())
}

/// Fails with a conflict when another workflow of the user in that folder has the name.
async fn ensure_name_free(
    conn: &mut AnyConnection,
    user_id: UserId,
    folder_id: Option<&str>,
    name: &str,
    except: &str,
) -> StoreResult<()> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM automation_workflows WHERE user_id = $1 AND COALESCE(folder_id, '') = $2 \
         AND name = $3 AND id <> $4",
    )
    .bind(user_id)
    .bind(folder_id.unwrap_or(""))
    .bind(name)
    .bind(except)
    .fetch_one(conn)
    .await?;
    if n > 0 { Err(StoreError::Conflict("workflow name".into())) } else { Ok(()) }
}

/// Stores a new workflow (its `tags` included). Refuses a folder the user does not have;
/// a taken name in that folder is a conflict.
pub async fn create(db: &Db, w: &WorkflowRecord) -> StoreResult<Result<WorkflowRecord, Refusal>> {
    let mut tx = db.begin_write().await?;
    if let Some(folder) = &w.folder_id
        && !folders::exists(&mut tx, w.user_id, folder).await?
    {
        return Ok(Err(Refusal::FolderMissing));
    }
    ensure_name_free(&mut tx, w.user_id, w.folder_id.as_deref(), &w.name, &w.id).await?;
    sqlx::query(
        "INSERT INTO automation_workflows (id, user_id, folder_id, name, description, is_enabled, is_favorite, \
         position, version, steps, trigger_config, trigger_type, max_execution_time, metadata, webhook_secret_hash, \
         created_at, modified_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
    )
    .bind(&w.id)
    .bind(w.user_id)
    .bind(w.folder_id.as_deref())
    .bind(&w.name)
    .bind(&w.description)
    .bind(i64::from(w.is_enabled))
    .bind(i64::from(w.is_favorite))
    .bind(w.position)
    .bind(w.version)
    .bind(&w.steps)
    .bind(&w.trigger_config)
    .bind(w.trigger_type.as_deref())
    .bind(w.max_execution_time)
    .bind(&w.metadata)
    .bind(w.webhook_secret_hash.as_deref())
    .bind(w.created_at)
    .bind(w.modified_at)
    .execute(&mut *tx)
    .await
    .map_err(|e| StoreError::on_unique(e, "workflow"))?;
    write_tags(&mut tx, &w.id, &w.tags).await?;
    let stored = fetch(&mut tx, w.user_id, &w.id).await?.ok_or(StoreError::Database(sqlx::Error::RowNotFound))?;
    tx.commit().await?;
    Ok(Ok(stored))
}

/// One of a user's workflows.
pub async fn get(db: &Db, user_id: UserId, id: &str) -> StoreResult<Option<WorkflowRecord>> {
    let mut conn = db.pool().acquire().await?;
    fetch(&mut conn, user_id, id).await
}

/// A user's workflows matching a filter, with the total count before paging.
pub async fn list(db: &Db, user_id: UserId, filter: &WorkflowFilter) -> StoreResult<(Vec<WorkflowRecord>, i64)> {
    let mut clauses = vec!["user_id = $1".to_owned()];
    let mut binds: Vec<String> = Vec::new();
    // Text values bound after $1 (the user): value i is placeholder ${i + 2}.
    if let Some(folder) = &filter.folder_id {
        binds.push(folder.clone());
        clauses.push(format!("folder_id = ${}", binds.len() + 1));
    }
    if filter.enabled_only {
        clauses.push("is_enabled = 1".to_owned());
    }
    if let Some(search) = filter.search.as_deref().filter(|s| !s.is_empty()) {
        let escaped = search.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
        binds.push(format!("%{escaped}%"));
        let n = binds.len() + 1;
        clauses.push(format!("(LOWER(name) LIKE ${n} ESCAPE '\\' OR LOWER(description) LIKE ${n} ESCAPE '\\')"));
    }
    if !filter.tags.is_empty() {
        let first = binds.len() + 2;
        binds.extend(filter.tags.iter().cloned());
        clauses.push(format!(
            "id IN (SELECT workflow_id FROM automation_workflow_tags WHERE tag IN ({}))",
            marks(first, filter.tags.len())
        ));
    }
    let where_sql = clauses.join(" AND ");
    let column = match filter.sort {
        WorkflowSort::Name => "name",
        WorkflowSort::ModifiedAt => "modified_at",
        WorkflowSort::Position => "position",
    };
    let direction = if filter.descending { "DESC" } else { "ASC" };
    let limit = if filter.limit > 0 { filter.limit } else { i64::MAX };
    let sql = format!(
        "SELECT {COLUMNS} FROM automation_workflows WHERE {where_sql} ORDER BY {column} {direction}, id {direction} \
         LIMIT ${} OFFSET ${}",
        binds.len() + 2,
        binds.len() + 3
    );
    let count_sql = format!("SELECT COUNT(*) FROM automation_workflows WHERE {where_sql}");

    let mut query = sqlx::query(&sql).bind(user_id);
    let mut count = sqlx::query_scalar::<_, i64>(&count_sql).bind(user_id);
    for value in &binds {
        query = query.bind(value.clone());
        count = count.bind(value.clone());
    }
    let mut conn = db.pool().acquire().await?;
    let rows = query.bind(limit).bind(filter.offset).fetch_all(&mut *conn).await?;
    let total = count.fetch_one(&mut *conn).await?;
    Ok((with_tags(&mut conn, &rows).await?, total))
}

/// Applies a partial change and bumps the version. Refuses a missing workflow or target
/// folder; a taken name in the (new) folder is a conflict.
pub async fn update(
    db: &Db,
    user_id: UserId,
    id: &str,
    change: &WorkflowChange,
    now_ms: i64,
) -> StoreResult<Result<WorkflowRecord, Refusal>> {
    let mut tx = db.begin_write().await?;
    let Some(mut w) = fetch(&mut tx, user_id, id).await? else { return Ok(Err(Refusal::Missing)) };
    if let Some(folder) = &change.folder_id {
        if let Some(f) = folder
            && !folders::exists(&mut tx, user_id, f).await?
        {
            return Ok(Err(Refusal::FolderMissing));
        }
        w.folder_id = folder.clone();
    }
    if let Some(v) = &change.name {
        w.name = v.clone();
    }
    if let Some(v) = &change.description {
        w.description = v.clone();
    }
    if let Some(v) = change.is_enabled {
        w.is_enabled = v;
    }
    if let Some(v) = change.is_favorite {
        w.is_favorite = v;
    }
    if let Some(v) = change.position {
        w.position = v;
    }
    if let Some(v) = &change.steps {
        w.steps = v.clone();
    }
    if let Some((config, kind)) = &change.trigger {
        w.trigger_config = config.clone();
        w.trigger_type = kind.clone();
    }
    if let Some(v) = change.max_execution_time {
        w.max_execution_time = v;
    }
    if let Some(v) = &change.metadata {
        w.metadata = v.clone();
    }
    if let Some(v) = &change.webhook_secret_hash {
        w.webhook_secret_hash = v.clone();
    }
    ensure_name_free(&mut tx, user_id, w.folder_id.as_deref(), &w.name, id).await?;
    let done = sqlx::query(
        "UPDATE automation_workflows SET folder_id = $1, name = $2, description = $3, is_enabled = $4, \
         is_favorite = $5, position = $6, version = version + 1, steps = $7, trigger_config = $8, trigger_type = $9, \
         max_execution_time = $10, metadata = $11, webhook_secret_hash = $12, modified_at = $13 \
         WHERE id = $14 AND user_id = $15",
    )
    .bind(w.folder_id.as_deref())
    .bind(&w.name)
    .bind(&w.description)
    .bind(i64::from(w.is_enabled))
    .bind(i64::from(w.is_favorite))
    .bind(w.position)
    .bind(&w.steps)
    .bind(&w.trigger_config)
    .bind(w.trigger_type.as_deref())
    .bind(w.max_execution_time)
    .bind(&w.metadata)
    .bind(w.webhook_secret_hash.as_deref())
    .bind(now_ms)
    .bind(id)
    .bind(user_id)
    .execute(&mut *tx)
    .await
    .map_err(|e| StoreError::on_unique(e, "workflow"))?;
    if done.rows_affected() != 1 {
        return Ok(Err(Refusal::Missing));
    }
    if let Some(tags) = &change.tags {
        write_tags(&mut tx, id, tags).await?;
    }
    let stored = fetch(&mut tx, user_id, id).await?.ok_or(StoreError::Database(sqlx::Error::RowNotFound))?;
    tx.commit().await?;
    Ok(Ok(stored))
}

/// Deletes a workflow and its tags (not its execution history). False if the user has no
/// such workflow.
pub async fn delete(db: &Db, user_id: UserId, id: &str) -> StoreResult<bool> {
    let mut tx = db.begin_write().await?;
    let done = sqlx::query("DELETE FROM automation_workflows WHERE id = $1 AND user_id = $2")
        .bind(id)
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    if done.rows_affected() == 1 {
        sqlx::query("DELETE FROM automation_workflow_tags WHERE workflow_id = $1").bind(id).execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(done.rows_affected() == 1)
}

/// Enables or disables a workflow (not a new version). False if the user has no such workflow.
pub async fn set_enabled(db: &Db, user_id: UserId, id: &str, enabled: bool, now_ms: i64) -> StoreResult<bool> {
    let done =
        sqlx::query("UPDATE automation_workflows SET is_enabled = $1, modified_at = $2 WHERE id = $3 AND user_id = $4")
            .bind(i64::from(enabled))
            .bind(now_ms)
            .bind(id)
            .bind(user_id)
            .execute(db.pool())
            .await?;
    Ok(done.rows_affected() == 1)
}

/// Moves a workflow to a folder (`None`: the root), like [`update`] with only `folder_id`.
pub async fn move_to_folder(
    db: &Db,
    user_id: UserId,
    id: &str,
    folder_id: Option<&str>,
    now_ms: i64,
) -> StoreResult<Result<WorkflowRecord, Refusal>> {
    let change = WorkflowChange { folder_id: Some(folder_id.map(str::to_owned)), ..WorkflowChange::default() };
    update(db, user_id, id, &change, now_ms).await
}

/// The workflow whose webhook secret hashes to `hash` (any user: the secret identifies it).
pub async fn by_webhook_secret_hash(db: &Db, hash: &str) -> StoreResult<Option<WorkflowRecord>> {
    let sql = format!("SELECT {COLUMNS} FROM automation_workflows WHERE webhook_secret_hash = $1");
    let mut conn = db.pool().acquire().await?;
    let row = sqlx::query(&sql).bind(hash).fetch_optional(&mut *conn).await?;
    Ok(with_tags(&mut conn, row.as_slice()).await?.pop())
}

/// Enabled workflows whose trigger is of `trigger_type`, of one user or (`None`) of everyone.
pub async fn enabled_with_trigger(
    db: &Db,
    user_id: Option<UserId>,
    trigger_type: &str,
) -> StoreResult<Vec<WorkflowRecord>> {
    let user_clause = if user_id.is_some() { "AND user_id = $2" } else { "" };
    let sql = format!(
        "SELECT {COLUMNS} FROM automation_workflows WHERE is_enabled = 1 AND trigger_type = $1 {user_clause} \
         ORDER BY user_id, position, id"
    );
    let mut query = sqlx::query(&sql).bind(trigger_type);
    if let Some(user) = user_id {
        query = query.bind(user);
    }
    let mut conn = db.pool().acquire().await?;
    let rows = query.fetch_all(&mut *conn).await?;
    with_tags(&mut conn, &rows).await
}

/// Number of a user's workflows, and of those enabled.
pub async fn counts(db: &Db, user_id: UserId) -> StoreResult<(i64, i64)> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS total, CAST(COALESCE(SUM(is_enabled), 0) AS BIGINT) AS enabled \
         FROM automation_workflows WHERE user_id = $1",
    )
    .bind(user_id)
    .fetch_one(db.pool())
    .await?;
    Ok((row.try_get("total")?, row.try_get("enabled")?))
}

/// What [`batch`] does to each workflow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchAction {
    Delete,
    SetEnabled(bool),
    /// To this folder (`None`: the root).
    Move(Option<String>),
}

/// Per-id results of [`batch`]: `(id, reason)` for the ids not acted on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    pub succeeded: Vec<String>,
    pub failed: Vec<(String, String)>,
    pub skipped: Vec<(String, String)>,
}

/// Applies one action to several of a user's workflows in one transaction. Unknown ids
/// and moves onto a taken name fail; repeated ids and workflows already in the wanted
/// state are skipped. Refuses ([`Refusal::FolderMissing`]) a move to a missing folder.
pub async fn batch(
    db: &Db,
    user_id: UserId,
    ids: &[String],
    action: &BatchAction,
    now_ms: i64,
) -> StoreResult<Result<BatchOutcome, Refusal>> {
    let mut tx = db.begin_write().await?;
    if let BatchAction::Move(Some(folder)) = action
        && !folders::exists(&mut tx, user_id, folder).await?
    {
        return Ok(Err(Refusal::FolderMissing));
    }
    let mut out = BatchOutcome::default();
    let mut seen: Vec<&str> = Vec::new();
    for id in ids {
        if seen.contains(&id.as_str()) {
            out.skipped.push((id.clone(), "listed more than once".into()));
            continue;
        }
        seen.push(id);
        let Some(w) = fetch(&mut tx, user_id, id).await? else {
            out.failed.push((id.clone(), "Workflow not found".into()));
            continue;
        };
        match action {
            BatchAction::Delete => {
                sqlx::query("DELETE FROM automation_workflow_tags WHERE workflow_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("DELETE FROM automation_workflows WHERE id = $1 AND user_id = $2")
                    .bind(id)
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await?;
            }
            BatchAction::SetEnabled(enabled) if w.is_enabled == *enabled => {
                let state = if *enabled { "already enabled" } else { "already disabled" };
                out.skipped.push((id.clone(), state.into()));
                continue;
            }
            BatchAction::SetEnabled(enabled) => {
                sqlx::query("UPDATE automation_workflows SET is_enabled = $1, modified_at = $2 WHERE id = $3")
                    .bind(i64::from(*enabled))
                    .bind(now_ms)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
            BatchAction::Move(folder) if w.folder_id == *folder => {
                out.skipped.push((id.clone(), "already in that folder".into()));
                continue;
            }
            BatchAction::Move(folder) => {
                match ensure_name_free(&mut tx, user_id, folder.as_deref(), &w.name, id).await {
                    Err(StoreError::Conflict(_)) => {
                        out.failed.push((id.clone(), "a workflow with that name is already in the folder".into()));
                        continue;
                    }
                    other => other?,
                }
                sqlx::query("UPDATE automation_workflows SET folder_id = $1, modified_at = $2 WHERE id = $3")
                    .bind(folder.as_deref())
                    .bind(now_ms)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        out.succeeded.push(id.clone());
    }
    tx.commit().await?;
    Ok(Ok(out))
}
