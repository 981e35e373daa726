//! The durable task queue. A task is stored before its submission is acknowledged, and
//! every state change is one guarded `UPDATE`, so a restart finds each task where it was.
//!
//! States: `pending` (in Gantry's queue) → `dispatched` (handed to an instance, waiting
//! in its queue) → `running` → `completed` | `failed` | `cancelled`. A dispatched or
//! running task whose instance is lost goes back to `pending`.

use gantry_core::UserId;
use gantry_core::events::TaskFailure;
use gantry_store::{Db, StoreError, StoreResult};
use sqlx::Row;
use sqlx::any::AnyRow;
use std::sync::LazyLock;

/// A task's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TaskStatus {
    /// In Gantry's queue.
    Pending,
    /// Handed to an instance, waiting in its queue.
    Dispatched,
    Running,
    Completed,
    Failed,
    Cancelled,
}

impl TaskStatus {
    /// Every state.
    pub const ALL: [TaskStatus; 6] = [
        TaskStatus::Pending,
        TaskStatus::Dispatched,
        TaskStatus::Running,
        TaskStatus::Completed,
        TaskStatus::Failed,
        TaskStatus::Cancelled,
    ];

    /// The stored name.
    pub const fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Pending => "pending",
            TaskStatus::Dispatched => "dispatched",
            TaskStatus::Running => "running",
            TaskStatus::Completed => "completed",
            TaskStatus::Failed => "failed",
            TaskStatus::Cancelled => "cancelled",
        }
    }

    /// Reads a stored name.
    pub fn parse(stored: &str) -> Option<TaskStatus> {
        TaskStatus::ALL.into_iter().find(|s| s.as_str() == stored)
    }

    /// Whether a task in this state can no longer change state.
    pub const fn is_terminal(self) -> bool {
        matches!(self, TaskStatus::Completed | TaskStatus::Failed | TaskStatus::Cancelled)
    }
}

/// A stored value that is not one of its type's names.
fn undecodable(column: &str, value: &str) -> StoreError {
    StoreError::Database(sqlx::Error::Decode(format!("tasks.{column}: unknown value `{value}`").into()))
}

/// A stored task.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskRecord {
    pub id: String,
    pub user_id: UserId,
    /// What produced it: `workflow` (a raw ComfyUI graph) or a generator type (`TEXT2IMG`, …).
    pub kind: String,
    pub status: TaskStatus,
    pub priority: i64,
    /// Submission order.
    pub seq: i64,
    /// The API-format graph to run, JSON.
    pub graph: String,
    /// The parameters as submitted, JSON.
    pub params: String,
    /// Input files to upload before running, JSON.
    pub inputs: String,
    /// Models the graph needs, JSON `[{folder, name}]`.
    pub models: String,
    pub total_steps: i64,
    pub instance_id: Option<String>,
    pub prompt_id: Option<String>,
    pub attempts: i64,
    pub progress: i64,
    pub error: Option<String>,
    /// Why it failed, when it did.
    pub failure: Option<TaskFailure>,
    /// Result JSON (file ids), when completed.
    pub result: Option<String>,
    /// Dialect-specific details as JSON (e.g. star-graph's parameters).
    pub meta: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    /// When its owner removed it from a client's history (see [`archive`]).
    pub archived_at: Option<i64>,
}

impl TaskRecord {
    /// Whether the task can no longer change state.
    pub fn is_terminal(&self) -> bool {
        self.status.is_terminal()
    }
}

const COLUMNS: &str = "id, user_id, kind, status, priority, seq, graph, params, inputs, models, total_steps, \
     instance_id, prompt_id, attempts, progress, error, error_code, result, created_at, updated_at, started_at, finished_at, meta, archived_at";

fn from_row(row: &AnyRow) -> StoreResult<TaskRecord> {
    let status: String = row.try_get("status")?;
    let failure: Option<String> = row.try_get("error_code")?;
    Ok(TaskRecord {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        kind: row.try_get("kind")?,
        status: TaskStatus::parse(&status).ok_or_else(|| undecodable("status", &status))?,
        priority: row.try_get("priority")?,
        seq: row.try_get("seq")?,
        graph: row.try_get("graph")?,
        params: row.try_get("params")?,
        inputs: row.try_get("inputs")?,
        models: row.try_get("models")?,
        total_steps: row.try_get("total_steps")?,
        instance_id: row.try_get("instance_id")?,
        prompt_id: row.try_get("prompt_id")?,
        attempts: row.try_get("attempts")?,
        progress: row.try_get("progress")?,
        error: row.try_get("error")?,
        failure: match failure {
            Some(code) => Some(TaskFailure::parse(&code).ok_or_else(|| undecodable("error_code", &code))?),
            None => None,
        },
        result: row.try_get("result")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        started_at: row.try_get("started_at")?,
        finished_at: row.try_get("finished_at")?,
        meta: row.try_get("meta")?,
        archived_at: row.try_get("archived_at")?,
    })
}

/// Stores a new task as its user's next one (see [`list`]), unless the user already has
/// `max_active` unfinished tasks: then nothing is stored and the answer is false. The user's
/// `task_counts` row, written first, is locked until the end, so concurrent submissions of
/// one user through any gateway are counted one after another.
pub async fn insert(db: &Db, t: &TaskRecord, max_active: Option<u64>) -> StoreResult<bool> {
    let mut tx = db.begin_write().await?;
    let ordinal: i64 = sqlx::query_scalar(
        "INSERT INTO task_counts (user_id, n) VALUES ($1, 1) \
         ON CONFLICT (user_id) DO UPDATE SET n = task_counts.n + 1 RETURNING n",
    )
    .bind(t.user_id)
    .fetch_one(&mut *tx)
    .await?;
    if let Some(max) = max_active {
        let active: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM tasks WHERE user_id = $1 AND status IN ('pending', 'dispatched', 'running')",
        )
        .bind(t.user_id)
        .fetch_one(&mut *tx)
        .await?;
        if active as u64 >= max {
            tx.rollback().await?;
            return Ok(false);
        }
    }
    sqlx::query(
        "INSERT INTO tasks (id, user_id, kind, status, priority, seq, graph, params, inputs, models, total_steps, \
         instance_id, prompt_id, attempts, progress, error, error_code, result, created_at, updated_at, started_at, finished_at, meta, \
         user_ordinal) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24)",
    )
    .bind(&t.id)
    .bind(t.user_id)
    .bind(&t.kind)
    .bind(t.status.as_str())
    .bind(t.priority)
    .bind(t.seq)
    .bind(&t.graph)
    .bind(&t.params)
    .bind(&t.inputs)
    .bind(&t.models)
    .bind(t.total_steps)
    .bind(t.instance_id.as_deref())
    .bind(t.prompt_id.as_deref())
    .bind(t.attempts)
    .bind(t.progress)
    .bind(t.error.as_deref())
    .bind(t.failure.map(TaskFailure::as_str))
    .bind(t.result.as_deref())
    .bind(t.created_at)
    .bind(t.updated_at)
    .bind(t.started_at)
    .bind(t.finished_at)
    .bind(t.meta.as_deref())
    .bind(ordinal)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// A task by id.
pub async fn by_id(db: &Db, id: &str) -> StoreResult<Option<TaskRecord>> {
    let sql = format!("SELECT {COLUMNS} FROM tasks WHERE id = $1");
    sqlx::query(&sql).bind(id).fetch_optional(db.pool()).await?.as_ref().map(from_row).transpose()
}

/// Filter for listing tasks.
#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    /// Only this user's tasks (`None`: everyone's, for admins).
    pub user_id: Option<UserId>,
    /// Any of these stored states (empty: all).
    pub statuses: Vec<TaskStatus>,
    pub kind: Option<String>,
    pub limit: i64,
    pub offset: i64,
    /// Oldest first instead of newest first.
    pub ascending: bool,
    /// Leave out tasks their owner archived (see [`archive`]).
    pub unarchived: bool,
    /// Leave out tasks cancelled before they started.
    pub started_if_cancelled: bool,
}

impl TaskFilter {
    /// Whether the filter has conditions beyond the owner (a plain page of one user's
    /// tasks, or everyone's, has none).
    fn narrows(&self) -> bool {
        !self.statuses.is_empty() || self.kind.is_some() || self.unarchived || self.started_if_cancelled
    }
}

/// Tasks matching a filter, with the total count. A page of one user's tasks, unfiltered,
/// is a range of their numbers (one query, whatever the page and the total); other lists
/// walk the `seq` index (everyone's, or a user's in some states) from the nearer end, so
/// a page past the middle costs what the page as far from the other end does.
pub async fn list(db: &Db, filter: &TaskFilter) -> StoreResult<(Vec<TaskRecord>, i64)> {
    if let (Some(user), false) = (filter.user_id, filter.narrows()) {
        return list_numbered(db, user, filter).await;
    }
    let mut clauses = Vec::new();
    let mut n = 0;
    let mut next = || {
        n += 1;
        format!("${n}")
    };
    if filter.user_id.is_some() {
        clauses.push(format!("user_id = {}", next()));
    }
    if !filter.statuses.is_empty() {
        let marks: Vec<String> = filter.statuses.iter().map(|_| next()).collect();
        clauses.push(format!("status IN ({})", marks.join(", ")));
    }
    if filter.kind.is_some() {
        clauses.push(format!("kind = {}", next()));
    }
    if filter.unarchived {
        clauses.push("archived_at IS NULL".to_owned());
    }
    if filter.started_if_cancelled {
        clauses.push(format!("(status <> '{}' OR started_at IS NOT NULL)", TaskStatus::Cancelled.as_str()));
    }
    let where_sql = if clauses.is_empty() { String::new() } else { format!("WHERE {}", clauses.join(" AND ")) };
    let total = total(db, filter, &where_sql).await?;
    let (offset, limit) = (filter.offset.max(0), filter.limit.max(0));
    if offset >= total || limit == 0 {
        return Ok((Vec::new(), total));
    }
    // Past the middle, the same rows counted from the other end, then put back in order.
    let from_far_end = offset > total / 2;
    let (offset, limit) = if from_far_end {
        let limit = limit.min(total - offset);
        (total - offset - limit, limit)
    } else {
        (offset, limit)
    };
    let order = if filter.ascending != from_far_end { "ASC" } else { "DESC" };
    let (limit_mark, offset_mark) = (next(), next());
    let sql =
        format!("SELECT {COLUMNS} FROM tasks {where_sql} ORDER BY seq {order} LIMIT {limit_mark} OFFSET {offset_mark}");

    let mut query = sqlx::query(&sql);
    if let Some(user) = filter.user_id {
        query = query.bind(user);
    }
    for s in &filter.statuses {
        query = query.bind(s.as_str());
    }
    if let Some(kind) = &filter.kind {
        query = query.bind(kind.clone());
    }
    let rows = query.bind(limit).bind(offset).fetch_all(db.pool()).await?;
    let mut tasks = rows.iter().map(from_row).collect::<StoreResult<Vec<_>>>()?;
    if from_far_end {
        tasks.reverse();
    }
    Ok((tasks, total))
}

/// The query of a page of one user's tasks by their numbers, oldest first (`$2 + 1` to
/// `$2 + $3`) or newest first (the page below the newest `$2`), with the user's total.
fn numbered_page_sql(ascending: bool) -> String {
    let columns: Vec<String> = COLUMNS.split(',').map(|c| format!("t.{}", c.trim())).collect();
    let (range, order) =
        if ascending { ("$2 + 1 AND $2 + $3", "ASC") } else { ("c.n - $2 - $3 + 1 AND c.n - $2", "DESC") };
    format!(
        "SELECT {}, c.n AS listed_total FROM task_counts c JOIN tasks t ON t.user_id = c.user_id \
         WHERE c.user_id = $1 AND t.user_ordinal BETWEEN {range} ORDER BY t.user_ordinal {order}",
        columns.join(", ")
    )
}

static NUMBERED_PAGE_ASC: LazyLock<String> = LazyLock::new(|| numbered_page_sql(true));
static NUMBERED_PAGE_DESC: LazyLock<String> = LazyLock::new(|| numbered_page_sql(false));

/// A page of one user's tasks by their numbers, with how many the user has.
async fn list_numbered(db: &Db, user: UserId, filter: &TaskFilter) -> StoreResult<(Vec<TaskRecord>, i64)> {
    let (offset, limit) = (filter.offset.max(0), filter.limit.max(0));
    let sql: &str = if filter.ascending { &NUMBERED_PAGE_ASC } else { &NUMBERED_PAGE_DESC };
    let rows = sqlx::query(sql).bind(user).bind(offset).bind(limit).fetch_all(db.pool()).await?;
    let total = match rows.first() {
        Some(row) => row.try_get("listed_total")?,
        None => sqlx::query_scalar("SELECT n FROM task_counts WHERE user_id = $1")
            .bind(user)
            .fetch_optional(db.pool())
            .await?
            .unwrap_or(0),
    };
    Ok((rows.iter().map(from_row).collect::<StoreResult<_>>()?, total))
}

/// How many tasks match `filter` (whose conditions are `where_sql`); everyone's, unfiltered,
/// from the users' counts.
async fn total(db: &Db, filter: &TaskFilter, where_sql: &str) -> StoreResult<i64> {
    if filter.user_id.is_none() && !filter.narrows() {
        let everyone: Option<i64> =
            sqlx::query_scalar("SELECT CAST(SUM(n) AS BIGINT) FROM task_counts").fetch_one(db.pool()).await?;
        return Ok(everyone.unwrap_or(0));
    }
    let sql = format!("SELECT COUNT(*) FROM tasks {where_sql}");
    let mut count = sqlx::query_scalar::<_, i64>(&sql);
    if let Some(user) = filter.user_id {
        count = count.bind(user);
    }
    for s in &filter.statuses {
        count = count.bind(s.as_str());
    }
    if let Some(kind) = &filter.kind {
        count = count.bind(kind.clone());
    }
    Ok(count.fetch_one(db.pool()).await?)
}

/// Tasks in the given states, oldest first (queue rebuild and recovery after a restart).
pub async fn in_states(db: &Db, states: &[TaskStatus]) -> StoreResult<Vec<TaskRecord>> {
    let filter = TaskFilter { statuses: states.to_vec(), limit: i64::MAX, ascending: true, ..TaskFilter::default() };
    Ok(list(db, &filter).await?.0)
}

/// The tasks handed to `instance_id` that have not finished (a gateway taking over the
/// instance carries on with them).
pub async fn on_instance(db: &Db, instance_id: &str) -> StoreResult<Vec<TaskRecord>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM tasks WHERE instance_id = $1 AND status IN ('dispatched', 'running')"
    ))
    .bind(instance_id)
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(from_row).collect()
}

/// The queue's view of the pending tasks among `ids`, or of every pending task.
pub async fn waiting(db: &Db, ids: Option<&[String]>) -> StoreResult<Vec<crate::queue::Pending>> {
    const SQL: &str = "SELECT id, user_id, priority, seq, models FROM tasks WHERE status = 'pending'";
    let rows = match ids {
        Some(ids) => db.fetch_for_ids(&format!("{SQL} AND id IN ({{ids}})"), ids).await?,
        None => sqlx::query(SQL).fetch_all(db.pool()).await?,
    };
    rows.iter()
        .map(|r| {
            let models: String = r.try_get("models")?;
            Ok(crate::queue::Pending {
                id: r.try_get("id")?,
                user_id: r.try_get("user_id")?,
                priority: r.try_get("priority")?,
                seq: r.try_get("seq")?,
                models: serde_json::from_str(&models).unwrap_or_default(),
            })
        })
        .collect()
}

/// The states of the tasks named (unknown ids are left out).
pub async fn states_of(db: &Db, ids: &[String]) -> StoreResult<Vec<(String, TaskStatus)>> {
    let rows = db.fetch_for_ids("SELECT id, status FROM tasks WHERE id IN ({ids})", ids).await?;
    rows.iter()
        .map(|row| {
            let status: String = row.try_get("status")?;
            Ok((row.try_get("id")?, TaskStatus::parse(&status).ok_or_else(|| undecodable("status", &status))?))
        })
        .collect()
}

/// Number of tasks per unfinished state (one range of the `(status, finished_at)` index
/// each: what is waiting or running, never the finished history).
pub async fn count_unfinished(db: &Db) -> StoreResult<Vec<(TaskStatus, i64)>> {
    let rows = sqlx::query(
        "SELECT status, COUNT(*) AS n FROM tasks WHERE status IN ('pending', 'dispatched', 'running') GROUP BY status",
    )
    .fetch_all(db.pool())
    .await?;
    counts_of(&rows)
}

/// Number of finished tasks per state whose end is in `[from_ms, to_ms)`.
pub async fn count_finished_between(db: &Db, from_ms: i64, to_ms: i64) -> StoreResult<Vec<(TaskStatus, i64)>> {
    let rows = sqlx::query(
        "SELECT status, COUNT(*) AS n FROM tasks WHERE status IN ('completed', 'failed', 'cancelled') \
         AND finished_at >= $1 AND finished_at < $2 GROUP BY status",
    )
    .bind(from_ms)
    .bind(to_ms)
    .fetch_all(db.pool())
    .await?;
    counts_of(&rows)
}

fn counts_of(rows: &[sqlx::any::AnyRow]) -> StoreResult<Vec<(TaskStatus, i64)>> {
    rows.iter()
        .map(|r| {
            let status: String = r.try_get("status")?;
            Ok((TaskStatus::parse(&status).ok_or_else(|| undecodable("status", &status))?, r.try_get("n")?))
        })
        .collect()
}

/// What a claimed task needs for its post: its graph and input files (JSON texts).
#[derive(Debug, Clone)]
pub struct Claimed {
    pub graph: String,
    pub inputs: String,
}

/// Hands a pending task to an instance, in one statement that also reads what its post
/// needs. `None` if it was no longer pending.
pub async fn claim(db: &Db, id: &str, instance_id: &str, prompt_id: &str, now: i64) -> StoreResult<Option<Claimed>> {
    let row = sqlx::query(
        "UPDATE tasks SET status = 'dispatched', instance_id = $1, prompt_id = $2, attempts = attempts + 1, \
         updated_at = $3 WHERE id = $4 AND status = 'pending' RETURNING graph, inputs",
    )
    .bind(instance_id)
    .bind(prompt_id)
    .bind(now)
    .bind(id)
    .fetch_optional(db.pool())
    .await?;
    row.map(|r| Ok(Claimed { graph: r.try_get("graph")?, inputs: r.try_get("inputs")? })).transpose()
}

/// Takes back the claim of `prompt_id`, which never reached the instance (it refused the
/// connection): pending again, and the attempt does not count. False if the task was no
/// longer dispatched under that prompt.
pub async fn unclaim(db: &Db, id: &str, prompt_id: &str, now: i64) -> StoreResult<bool> {
    let done = sqlx::query(
        "UPDATE tasks SET status = 'pending', instance_id = NULL, prompt_id = NULL, \
         attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END, updated_at = $1 \
         WHERE id = $2 AND status = 'dispatched' AND prompt_id = $3",
    )
    .bind(now)
    .bind(id)
    .bind(prompt_id)
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records the prompt id an instance actually assigned (older ComfyUI ignores ours).
pub async fn set_prompt_id(db: &Db, id: &str, prompt_id: &str) -> StoreResult<()> {
    sqlx::query("UPDATE tasks SET prompt_id = $1 WHERE id = $2").bind(prompt_id).bind(id).execute(db.pool()).await?;
    Ok(())
}

/// Marks a dispatched task as running. False if it was not dispatched.
pub async fn mark_running(db: &Db, id: &str, now: i64) -> StoreResult<bool> {
    let done = sqlx::query(
        "UPDATE tasks SET status = 'running', started_at = $1, updated_at = $1 WHERE id = $2 AND status = 'dispatched'",
    )
    .bind(now)
    .bind(id)
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records progress (0-100) of a live task.
pub async fn set_progress(db: &Db, id: &str, progress: i64, now: i64) -> StoreResult<()> {
    sqlx::query(
        "UPDATE tasks SET progress = $1, updated_at = $2 WHERE id = $3 AND status IN ('dispatched', 'running')",
    )
    .bind(progress)
    .bind(now)
    .bind(id)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Completes a live task with its result. False if it was no longer live.
pub async fn complete(db: &Db, id: &str, result: &str, now: i64) -> StoreResult<bool> {
    let done = sqlx::query(
        "UPDATE tasks SET status = 'completed', progress = 100, result = $1, finished_at = $2, updated_at = $2, \
         started_at = COALESCE(started_at, $2) WHERE id = $3 AND status IN ('dispatched', 'running')",
    )
    .bind(result)
    .bind(now)
    .bind(id)
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Fails a task that has not ended, keeping the progress it had reached. False if it had
/// already ended.
pub async fn fail(db: &Db, id: &str, error: &str, failure: TaskFailure, progress: i64, now: i64) -> StoreResult<bool> {
    let done = sqlx::query(
        "UPDATE tasks SET status = 'failed', error = $1, error_code = $2, finished_at = $3, updated_at = $3, \
         progress = $5 WHERE id = $4 AND status IN ('pending', 'dispatched', 'running')",
    )
    .bind(error)
    .bind(failure.as_str())
    .bind(now)
    .bind(id)
    .bind(progress)
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Puts a dispatched or running task back in the queue. False if it was not live.
pub async fn requeue(db: &Db, id: &str, now: i64) -> StoreResult<bool> {
    let done = sqlx::query(
        "UPDATE tasks SET status = 'pending', instance_id = NULL, prompt_id = NULL, progress = 0, started_at = NULL, \
         updated_at = $1 WHERE id = $2 AND status IN ('dispatched', 'running')",
    )
    .bind(now)
    .bind(id)
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Cancels a task that has not ended, keeping the progress it had reached. False if it
/// had already ended.
pub async fn cancel(db: &Db, id: &str, progress: i64, now: i64) -> StoreResult<bool> {
    let done = sqlx::query(
        "UPDATE tasks SET status = 'cancelled', finished_at = $1, updated_at = $1, progress = $3 \
         WHERE id = $2 AND status IN ('pending', 'dispatched', 'running')",
    )
    .bind(now)
    .bind(id)
    .bind(progress)
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Archives finished tasks of `kind` of one user: those named, or all with `ids` `None`.
/// Returns how many it archived.
pub async fn archive(db: &Db, user_id: UserId, kind: &str, ids: Option<&[String]>, now: i64) -> StoreResult<u64> {
    let base = "UPDATE tasks SET archived_at = $1 WHERE user_id = $2 AND kind = $3 AND archived_at IS NULL \
                AND status IN ('completed', 'failed', 'cancelled')";
    let done = match ids {
        None => sqlx::query(base).bind(now).bind(user_id).bind(kind).execute(db.pool()).await?,
        Some([]) => return Ok(0),
        Some(ids) => {
            let marks: Vec<String> = (4..4 + ids.len()).map(|n| format!("${n}")).collect();
            let sql = format!("{base} AND id IN ({})", marks.join(", "));
            let mut query = sqlx::query(&sql).bind(now).bind(user_id).bind(kind);
            for id in ids {
                query = query.bind(id.clone());
            }
            query.execute(db.pool()).await?
        }
    };
    Ok(done.rows_affected())
}

/// Run times (ms) of the most recent completed tasks of a kind, newest first.
pub async fn recent_durations(db: &Db, kind: &str, limit: i64) -> StoreResult<Vec<i64>> {
    let rows = sqlx::query(
        "SELECT finished_at - started_at AS took FROM tasks WHERE kind = $1 AND status = 'completed' \
         AND started_at IS NOT NULL AND finished_at IS NOT NULL ORDER BY finished_at DESC LIMIT $2",
    )
    .bind(kind)
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(|r| Ok(r.try_get::<i64, _>("took")?)).collect()
}

/// Number of a user's tasks that have not ended.
pub async fn active_count(db: &Db, user_id: UserId) -> StoreResult<i64> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM tasks WHERE user_id = $1 AND status IN ('pending', 'dispatched', 'running')",
    )
    .bind(user_id)
    .fetch_one(db.pool())
    .await?)
}
