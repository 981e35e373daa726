//! The compute audit log (who did what to which host or VM, and whether it worked) and the
//! task records of long compute operations (create, start, shutdown, delete, scan, loader).

use gantry_store::{Db, StoreResult};
use sqlx::Row;
use sqlx::any::AnyRow;

/// One audit entry.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    pub id: String,
    pub at_ms: i64,
    /// Username, `agent` or `system`.
    pub actor: String,
    pub actor_id: Option<i64>,
    /// What was done (`vm.create`, `nat.add`…).
    pub action: String,
    pub host: Option<String>,
    pub vm_uuid: Option<String>,
    pub success: bool,
    pub message: String,
}

/// Which audit entries to list (newest first); `None` fields do not filter.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub host: Option<String>,
    pub vm_uuid: Option<String>,
    pub actor: Option<String>,
    pub action: Option<String>,
    /// At most this many (clamped to 1..=1000).
    pub limit: i64,
}

/// Appends an audit entry.
pub async fn audit(db: &Db, a: &AuditRecord) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO compute_audit (id, at_ms, actor, actor_id, action, host, vm_uuid, success, message) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&a.id)
    .bind(a.at_ms)
    .bind(&a.actor)
    .bind(a.actor_id)
    .bind(&a.action)
    .bind(a.host.as_deref())
    .bind(a.vm_uuid.as_deref())
    .bind(i64::from(a.success))
    .bind(&a.message)
    .execute(db.pool())
    .await?;
    Ok(())
}

fn audit_row(row: &AnyRow) -> StoreResult<AuditRecord> {
    Ok(AuditRecord {
        id: row.try_get("id")?,
        at_ms: row.try_get("at_ms")?,
        actor: row.try_get("actor")?,
        actor_id: row.try_get("actor_id")?,
        action: row.try_get("action")?,
        host: row.try_get("host")?,
        vm_uuid: row.try_get("vm_uuid")?,
        success: row.try_get::<i64, _>("success")? != 0,
        message: row.try_get("message")?,
    })
}

/// Builds `WHERE …` over optional text equality filters; values bind as `$1…`.
fn where_clause(filters: &[(&str, &Option<String>)]) -> (String, Vec<String>) {
    let mut clauses = Vec::new();
    let mut binds = Vec::new();
    for (column, value) in filters {
        if let Some(v) = value {
            binds.push(v.clone());
            clauses.push(format!("{column} = ${}", binds.len()));
        }
    }
    let sql = if clauses.is_empty() { String::new() } else { format!("WHERE {}", clauses.join(" AND ")) };
    (sql, binds)
}

/// Audit entries matching a filter, newest first.
pub async fn audits(db: &Db, f: &AuditFilter) -> StoreResult<Vec<AuditRecord>> {
    let (where_sql, binds) =
        where_clause(&[("host", &f.host), ("vm_uuid", &f.vm_uuid), ("actor", &f.actor), ("action", &f.action)]);
    let sql = format!(
        "SELECT id, at_ms, actor, actor_id, action, host, vm_uuid, success, message FROM compute_audit {where_sql} \
         ORDER BY at_ms DESC, id DESC LIMIT ${}",
        binds.len() + 1
    );
    let mut query = sqlx::query(&sql);
    for b in binds {
        query = query.bind(b);
    }
    query.bind(f.limit.clamp(1, 1000)).fetch_all(db.pool()).await?.iter().map(audit_row).collect()
}

/// Task states as stored.
pub mod task_status {
    pub const RUNNING: &str = "running";
    pub const SUCCEEDED: &str = "succeeded";
    pub const FAILED: &str = "failed";
}

/// One long operation.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskRecord {
    pub id: String,
    /// `create`, `start`, `shutdown`, `reboot`, `delete`, `scan`, `loader`…
    pub kind: String,
    pub host: Option<String>,
    pub vm_uuid: Option<String>,
    pub actor: String,
    pub status: String,
    pub message: String,
    pub started_at: i64,
    pub finished_at: Option<i64>,
}

/// Which tasks to list (newest first).
#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    pub host: Option<String>,
    pub vm_uuid: Option<String>,
    pub status: Option<String>,
    pub kind: Option<String>,
    /// At most this many (clamped to 1..=1000).
    pub limit: i64,
}

/// Stores a task as it starts.
pub async fn task_start(db: &Db, t: &TaskRecord) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO compute_tasks (id, kind, host, vm_uuid, actor, status, message, started_at, finished_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&t.id)
    .bind(&t.kind)
    .bind(t.host.as_deref())
    .bind(t.vm_uuid.as_deref())
    .bind(&t.actor)
    .bind(&t.status)
    .bind(&t.message)
    .bind(t.started_at)
    .bind(t.finished_at)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Ends a running task with its final status and message.
pub async fn task_finish(db: &Db, id: &str, status: &str, message: &str, at_ms: i64) -> StoreResult<()> {
    sqlx::query(
        "UPDATE compute_tasks SET status = $2, message = $3, finished_at = $4 WHERE id = $1 AND finished_at IS NULL",
    )
    .bind(id)
    .bind(status)
    .bind(message)
    .bind(at_ms)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Marks tasks left running by a previous process as failed (they were cut short).
pub async fn fail_unfinished(db: &Db, at_ms: i64) -> StoreResult<u64> {
    let done =
        sqlx::query("UPDATE compute_tasks SET status = $1, message = $2, finished_at = $3 WHERE finished_at IS NULL")
            .bind(task_status::FAILED)
            .bind("interrupted: gantry stopped while the task ran")
            .bind(at_ms)
            .execute(db.pool())
            .await?;
    Ok(done.rows_affected())
}

/// Tasks matching a filter, newest first.
pub async fn tasks(db: &Db, f: &TaskFilter) -> StoreResult<Vec<TaskRecord>> {
    let (where_sql, binds) =
        where_clause(&[("host", &f.host), ("vm_uuid", &f.vm_uuid), ("status", &f.status), ("kind", &f.kind)]);
    let sql = format!(
        "SELECT id, kind, host, vm_uuid, actor, status, message, started_at, finished_at FROM compute_tasks \
         {where_sql} ORDER BY started_at DESC, id DESC LIMIT ${}",
        binds.len() + 1
    );
    let mut query = sqlx::query(&sql);
    for b in binds {
        query = query.bind(b);
    }
    let rows = query.bind(f.limit.clamp(1, 1000)).fetch_all(db.pool()).await?;
    rows.iter()
        .map(|row| {
            Ok(TaskRecord {
                id: row.try_get("id")?,
                kind: row.try_get("kind")?,
                host: row.try_get("host")?,
                vm_uuid: row.try_get("vm_uuid")?,
                actor: row.try_get("actor")?,
                status: row.try_get("status")?,
                message: row.try_get("message")?,
                started_at: row.try_get("started_at")?,
                finished_at: row.try_get("finished_at")?,
            })
        })
        .collect()
}
