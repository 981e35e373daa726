//! Workflow executions (vFlow) and their logs. An execution belongs to one user; it starts
//! `running` and ends exactly once — `completed`, `failed`, `cancelled` or `timeout` — by a
//! guarded `UPDATE`. Executions outlive their workflow (they carry its name); logs are
//! deleted with their execution.

use gantry_core::UserId;
use gantry_store::{Db, StoreError, StoreResult};
use sqlx::Row;
use sqlx::any::AnyRow;

/// Execution states as stored.
pub mod status {
    pub const RUNNING: &str = "running";
    pub const COMPLETED: &str = "completed";
    pub const FAILED: &str = "failed";
    pub const CANCELLED: &str = "cancelled";
    pub const TIMEOUT: &str = "timeout";
}

/// A stored execution.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutionRecord {
    pub id: String,
    pub user_id: UserId,
    pub workflow_id: String,
    pub workflow_name: String,
    pub status: String,
    /// What started it: `manual`, a trigger type, …
    pub triggered_by: String,
    pub current_step_index: i64,
    pub total_steps: i64,
    /// The step being run, JSON.
    pub current_step: Option<String>,
    /// Step outputs, JSON.
    pub outputs: String,
    /// Variables, JSON.
    pub variables: String,
    pub error: Option<String>,
    pub started_at: i64,
    pub completed_at: Option<i64>,
}

impl ExecutionRecord {
    /// Run time in ms, once ended.
    pub fn duration(&self) -> Option<i64> {
        self.completed_at.map(|end| end - self.started_at)
    }
}

/// Filter for [`list`]; newest first.
#[derive(Debug, Clone, Default)]
pub struct ExecutionFilter {
    pub workflow_id: Option<String>,
    pub status: Option<String>,
    /// Started at or after (ms).
    pub start_date: Option<i64>,
    /// Started at or before (ms).
    pub end_date: Option<i64>,
    /// 0: no limit.
    pub limit: i64,
    pub offset: i64,
}

/// How an execution ended.
#[derive(Debug, Clone)]
pub struct Finish<'a> {
    /// `completed`, `failed`, `cancelled` or `timeout`.
    pub status: &'a str,
    pub error: Option<&'a str>,
    /// Final outputs / variables JSON; `None` keeps the stored ones.
    pub outputs: Option<&'a str>,
    pub variables: Option<&'a str>,
    pub completed_at: i64,
}

/// Totals over a period, for statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExecutionStats {
    pub total: i64,
    pub successful: i64,
    pub failed: i64,
    /// Mean run time (ms) of ended executions; `None` when none has ended.
    pub average_duration_ms: Option<i64>,
}

/// A workflow among the most executed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopWorkflow {
    pub workflow_id: String,
    /// Its name at its latest execution.
    pub workflow_name: String,
    pub execution_count: i64,
}

/// A log line to append.
#[derive(Debug, Clone, Default)]
pub struct NewLog {
    pub timestamp: i64,
    /// `info`, `warning`, `error`, …
    pub level: String,
    pub step_index: Option<i64>,
    pub module_id: Option<String>,
    pub message: String,
    /// JSON.
    pub details: Option<String>,
}

/// A stored log line; `seq` orders the lines of one execution from 1.
#[derive(Debug, Clone, PartialEq)]
pub struct LogRecord {
    pub execution_id: String,
    pub seq: i64,
    pub timestamp: i64,
    pub level: String,
    pub step_index: Option<i64>,
    pub module_id: Option<String>,
    pub message: String,
    pub details: Option<String>,
}

/// Filter for [`logs`], oldest first.
#[derive(Debug, Clone, Default)]
pub struct LogFilter {
    pub level: Option<String>,
    pub step_index: Option<i64>,
    /// 0: no limit.
    pub limit: i64,
    pub offset: i64,
}

const COLUMNS: &str = "id, user_id, workflow_id, workflow_name, status, triggered_by, current_step_index, total_steps, \
     current_step, outputs, variables, error, started_at, completed_at";

fn from_row(row: &AnyRow) -> StoreResult<ExecutionRecord> {
    Ok(ExecutionRecord {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        workflow_id: row.try_get("workflow_id")?,
        workflow_name: row.try_get("workflow_name")?,
        status: row.try_get("status")?,
        triggered_by: row.try_get("triggered_by")?,
        current_step_index: row.try_get("current_step_index")?,
        total_steps: row.try_get("total_steps")?,
        current_step: row.try_get("current_step")?,
        outputs: row.try_get("outputs")?,
        variables: row.try_get("variables")?,
        error: row.try_get("error")?,
        started_at: row.try_get("started_at")?,
        completed_at: row.try_get("completed_at")?,
    })
}

/// Stores a new execution.
pub async fn insert(db: &Db, e: &ExecutionRecord) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO automation_executions (id, user_id, workflow_id, workflow_name, status, triggered_by, \
         current_step_index, total_steps, current_step, outputs, variables, error, started_at, completed_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(&e.id)
    .bind(e.user_id)
    .bind(&e.workflow_id)
    .bind(&e.workflow_name)
    .bind(&e.status)
    .bind(&e.triggered_by)
    .bind(e.current_step_index)
    .bind(e.total_steps)
    .bind(e.current_step.as_deref())
    .bind(&e.outputs)
    .bind(&e.variables)
    .bind(e.error.as_deref())
    .bind(e.started_at)
    .bind(e.completed_at)
    .execute(db.pool())
    .await
    .map_err(|err| StoreError::on_unique(err, "execution id"))?;
    Ok(())
}

/// One of a user's executions.
pub async fn get(db: &Db, user_id: UserId, id: &str) -> StoreResult<Option<ExecutionRecord>> {
    let sql = format!("SELECT {COLUMNS} FROM automation_executions WHERE id = $1 AND user_id = $2");
    sqlx::query(&sql).bind(id).bind(user_id).fetch_optional(db.pool()).await?.as_ref().map(from_row).transpose()
}

/// Records the progress of a running execution. False if it is not running (or not the user's).
pub async fn update_progress(
    db: &Db,
    user_id: UserId,
    id: &str,
    current_step_index: i64,
    current_step: Option<&str>,
    outputs: &str,
    variables: &str,
) -> StoreResult<bool> {
    let done = sqlx::query(
        "UPDATE automation_executions SET current_step_index = $1, current_step = $2, outputs = $3, variables = $4 \
         WHERE id = $5 AND user_id = $6 AND status = 'running'",
    )
    .bind(current_step_index)
    .bind(current_step)
    .bind(outputs)
    .bind(variables)
    .bind(id)
    .bind(user_id)
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Ends a running execution. False if it had already ended (or is not the user's).
pub async fn finish(db: &Db, user_id: UserId, id: &str, end: &Finish<'_>) -> StoreResult<bool> {
    let done = sqlx::query(
        "UPDATE automation_executions SET status = $1, error = $2, outputs = COALESCE($3, outputs), \
         variables = COALESCE($4, variables), current_step = NULL, completed_at = $5 \
         WHERE id = $6 AND user_id = $7 AND status = 'running'",
    )
    .bind(end.status)
    .bind(end.error)
    .bind(end.outputs)
    .bind(end.variables)
    .bind(end.completed_at)
    .bind(id)
    .bind(user_id)
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Fails every running execution of every user (after a restart). Returns how many.
pub async fn fail_all_running(db: &Db, reason: &str, now_ms: i64) -> StoreResult<u64> {
    let done = sqlx::query(
        "UPDATE automation_executions SET status = 'failed', error = $1, current_step = NULL, completed_at = $2 \
         WHERE status = 'running'",
    )
    .bind(reason)
    .bind(now_ms)
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected())
}

/// A user's executions matching a filter, newest first, with the total count before paging.
pub async fn list(db: &Db, user_id: UserId, filter: &ExecutionFilter) -> StoreResult<(Vec<ExecutionRecord>, i64)> {
    let mut clauses = vec!["user_id = $1".to_owned()];
    let mut n = 1;
    let mut next = || {
        n += 1;
        format!("${n}")
    };
    if filter.workflow_id.is_some() {
        clauses.push(format!("workflow_id = {}", next()));
    }
    if filter.status.is_some() {
        clauses.push(format!("status = {}", next()));
    }
    if filter.start_date.is_some() {
        clauses.push(format!("started_at >= {}", next()));
    }
    if filter.end_date.is_some() {
        clauses.push(format!("started_at <= {}", next()));
    }
    let where_sql = clauses.join(" AND ");
    let (limit_mark, offset_mark) = (next(), next());
    let sql = format!(
        "SELECT {COLUMNS} FROM automation_executions WHERE {where_sql} ORDER BY started_at DESC, id DESC \
         LIMIT {limit_mark} OFFSET {offset_mark}"
    );
    let count_sql = format!("SELECT COUNT(*) FROM automation_executions WHERE {where_sql}");

    let mut query = sqlx::query(&sql).bind(user_id);
    let mut count = sqlx::query_scalar::<_, i64>(&count_sql).bind(user_id);
    for text in [&filter.workflow_id, &filter.status].into_iter().flatten() {
        query = query.bind(text.clone());
        count = count.bind(text.clone());
    }
    for ms in [filter.start_date, filter.end_date].into_iter().flatten() {
        query = query.bind(ms);
        count = count.bind(ms);
    }
    let limit = if filter.limit > 0 { filter.limit } else { i64::MAX };
    let rows = query.bind(limit).bind(filter.offset).fetch_all(db.pool()).await?;
    let total = count.fetch_one(db.pool()).await?;
    Ok((rows.iter().map(from_row).collect::<StoreResult<_>>()?, total))
}

/// Deletes one of a user's executions and its logs. Returns how many (0 or 1).
pub async fn delete(db: &Db, user_id: UserId, id: &str) -> StoreResult<u64> {
    delete_where(db, "id = $2", user_id, Param::Text(id)).await
}

/// Deletes a user's ended executions of a workflow, and their logs. Returns how many.
pub async fn delete_for_workflow(db: &Db, user_id: UserId, workflow_id: &str) -> StoreResult<u64> {
    delete_where(db, "workflow_id = $2 AND status <> 'running'", user_id, Param::Text(workflow_id)).await
}

/// Deletes a user's ended executions started before `before_ms`, and their logs. Returns how many.
pub async fn delete_older_than(db: &Db, user_id: UserId, before_ms: i64) -> StoreResult<u64> {
    delete_where(db, "started_at < $2 AND status <> 'running'", user_id, Param::Ms(before_ms)).await
}

enum Param<'a> {
    Text(&'a str),
    Ms(i64),
}

/// Deletes matching executions of a user, logs first, in one transaction.
async fn delete_where(db: &Db, clause: &str, user_id: UserId, param: Param<'_>) -> StoreResult<u64> {
    let logs_sql = format!(
        "DELETE FROM automation_execution_logs WHERE execution_id IN \
         (SELECT id FROM automation_executions WHERE user_id = $1 AND {clause})"
    );
    let sql = format!("DELETE FROM automation_executions WHERE user_id = $1 AND {clause}");
    let mut tx = db.begin_write().await?;
    let mut total = 0;
    for (i, sql) in [logs_sql, sql].iter().enumerate() {
        let query = sqlx::query(sql).bind(user_id);
        let query = match param {
            Param::Text(t) => query.bind(t),
            Param::Ms(ms) => query.bind(ms),
        };
        let affected = query.execute(&mut *tx).await?.rows_affected();
        if i == 1 {
            total = affected;
        }
    }
    tx.commit().await?;
    Ok(total)
}

/// Totals of a user's executions started at or after `since_ms` (`None`: all time).
pub async fn stats(db: &Db, user_id: UserId, since_ms: Option<i64>) -> StoreResult<ExecutionStats> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS total, \
         CAST(COALESCE(SUM(CASE WHEN status = 'completed' THEN 1 ELSE 0 END), 0) AS BIGINT) AS successful, \
         CAST(COALESCE(SUM(CASE WHEN status IN ('failed', 'timeout') THEN 1 ELSE 0 END), 0) AS BIGINT) AS failed, \
         CAST(AVG(completed_at - started_at) AS BIGINT) AS average \
         FROM automation_executions WHERE user_id = $1 AND started_at >= $2",
    )
    .bind(user_id)
    .bind(since_ms.unwrap_or(i64::MIN))
    .fetch_one(db.pool())
    .await?;
    Ok(ExecutionStats {
        total: row.try_get("total")?,
        successful: row.try_get("successful")?,
        failed: row.try_get("failed")?,
        average_duration_ms: row.try_get("average")?,
    })
}

/// A user's most executed workflows since `since_ms` (`None`: all time), most first.
pub async fn top_workflows(
    db: &Db,
    user_id: UserId,
    since_ms: Option<i64>,
    limit: i64,
) -> StoreResult<Vec<TopWorkflow>> {
    let rows = sqlx::query(
        "SELECT e.workflow_id, COUNT(*) AS n, \
         (SELECT l.workflow_name FROM automation_executions l WHERE l.workflow_id = e.workflow_id \
          AND l.user_id = $1 ORDER BY l.started_at DESC, l.id DESC LIMIT 1) AS workflow_name \
         FROM automation_executions e WHERE e.user_id = $1 AND e.started_at >= $2 \
         GROUP BY e.workflow_id ORDER BY n DESC, e.workflow_id LIMIT $3",
    )
    .bind(user_id)
    .bind(since_ms.unwrap_or(i64::MIN))
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(TopWorkflow {
                workflow_id: r.try_get("workflow_id")?,
                workflow_name: r.try_get("workflow_name")?,
                execution_count: r.try_get("n")?,
            })
        })
        .collect()
}

/// Log lines inserted by one statement, 8 parameters each: SQLite finds a statement's
/// parameters by a linear search per binding, so longer statements cost more per line.
const LOG_ROWS_PER_INSERT: usize = 25;

/// Appends log lines to one of a user's executions, in one transaction (a statement per
/// [`LOG_ROWS_PER_INSERT`] lines), numbering them after the last stored line. False if the
/// user has no such execution. One writer per execution (its runner) is assumed; a
/// concurrent append fails instead of interleaving.
pub async fn append_logs(db: &Db, user_id: UserId, execution_id: &str, lines: &[NewLog]) -> StoreResult<bool> {
    let mut tx = db.begin_write().await?;
    let owned: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM automation_executions WHERE id = $1 AND user_id = $2")
        .bind(execution_id)
        .bind(user_id)
        .fetch_one(&mut *tx)
        .await?;
    if owned == 0 {
        return Ok(false);
    }
    let last: i64 = sqlx::query_scalar(
        "SELECT CAST(COALESCE(MAX(seq), 0) AS BIGINT) FROM automation_execution_logs WHERE execution_id = $1",
    )
    .bind(execution_id)
    .fetch_one(&mut *tx)
    .await?;
    let mut seq = last;
    for chunk in lines.chunks(LOG_ROWS_PER_INSERT) {
        let rows: Vec<String> = (0..chunk.len())
            .map(|r| {
                let marks: Vec<String> = (1..=8).map(|c| format!("${}", r * 8 + c)).collect();
                format!("({})", marks.join(", "))
            })
            .collect();
        let sql = format!(
            "INSERT INTO automation_execution_logs (execution_id, seq, logged_at, level, step_index, module_id, \
             message, details) VALUES {}",
            rows.join(", ")
        );
        let mut query = sqlx::query(&sql);
        for line in chunk {
            seq += 1;
            query = query
                .bind(execution_id)
                .bind(seq)
                .bind(line.timestamp)
                .bind(line.level.as_str())
                .bind(line.step_index)
                .bind(line.module_id.as_deref())
                .bind(line.message.as_str())
                .bind(line.details.as_deref());
        }
        query.execute(&mut *tx).await.map_err(|e| StoreError::on_unique(e, "log sequence"))?;
    }
    tx.commit().await?;
    Ok(true)
}

/// Log lines of one of a user's executions, oldest first, with the total count before paging.
pub async fn logs(
    db: &Db,
    user_id: UserId,
    execution_id: &str,
    filter: &LogFilter,
) -> StoreResult<(Vec<LogRecord>, i64)> {
    let mut where_sql = "l.execution_id = $1 AND e.user_id = $2".to_owned();
    let mut n = 2;
    if filter.level.is_some() {
        n += 1;
        where_sql.push_str(&format!(" AND l.level = ${n}"));
    }
    if filter.step_index.is_some() {
        n += 1;
        where_sql.push_str(&format!(" AND l.step_index = ${n}"));
    }
    let from = "automation_execution_logs l JOIN automation_executions e ON e.id = l.execution_id";
    let sql = format!(
        "SELECT l.execution_id, l.seq, l.logged_at, l.level, l.step_index, l.module_id, l.message, l.details \
         FROM {from} WHERE {where_sql} ORDER BY l.seq LIMIT ${} OFFSET ${}",
        n + 1,
        n + 2
    );
    let count_sql = format!("SELECT COUNT(*) FROM {from} WHERE {where_sql}");
    let mut query = sqlx::query(&sql).bind(execution_id).bind(user_id);
    let mut count = sqlx::query_scalar::<_, i64>(&count_sql).bind(execution_id).bind(user_id);
    if let Some(level) = &filter.level {
        query = query.bind(level.clone());
        count = count.bind(level.clone());
    }
    if let Some(step) = filter.step_index {
        query = query.bind(step);
        count = count.bind(step);
    }
    let limit = if filter.limit > 0 { filter.limit } else { i64::MAX };
    let rows = query.bind(limit).bind(filter.offset).fetch_all(db.pool()).await?;
    let total = count.fetch_one(db.pool()).await?;
    let lines = rows
        .iter()
        .map(|r| {
            Ok(LogRecord {
                execution_id: r.try_get("execution_id")?,
                seq: r.try_get("seq")?,
                timestamp: r.try_get("logged_at")?,
                level: r.try_get("level")?,
                step_index: r.try_get("step_index")?,
                module_id: r.try_get("module_id")?,
                message: r.try_get("message")?,
                details: r.try_get("details")?,
            })
        })
        .collect::<StoreResult<_>>()?;
    Ok((lines, total))
}
