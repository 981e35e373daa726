//! comfy-manager tasks: submit a ComfyUI API-format workflow with params, list, detail, cancel.
//!
//! `params` (documented in the README): a key `"<nodeId>.<input>"` sets that input of
//! the graph; any other key `name` replaces every string input equal to `"{{name}}"`,
//! keeping the value's JSON type. A `LoadImage` input may name an uploaded file as
//! `"gantry-file:<fileId>"`; Gantry uploads it to the instance before the prompt.

use crate::envelope::{ApiResult, ComfyManager, Reply};
use crate::error::ApiError;
use crate::extract::{Auth, Body, PathArg, QueryArgs, caller};
use crate::state::AppState;
use crate::urls;
use axum::extract::State;
use axum::http::HeaderMap;
use gantry_comfy::graph::Graph;
use gantry_core::clock::iso_millis;
use gantry_dispatch::{Submission, TaskStatus};
use gantry_dispatch::{TaskFilter, TaskRecord};
use gantry_files::FileRecord;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_tasks, submit_task)).routes(routes!(get_task, cancel_task))
}

/// A task as comfy-manager shows it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct TaskView {
    id: String,
    instance_id: Option<String>,
    /// The prompt id on the instance (for operators correlating with ComfyUI's logs).
    prompt_id: Option<String>,
    /// pending, running, completed, failed or cancelled.
    status: &'static str,
    progress: i64,
    created_at: String,
    updated_at: String,
    user_id: i64,
    kind: String,
    attempts: i64,
    /// 1-based place in Gantry's queue, while pending there.
    queue_position: Option<usize>,
    error: Option<String>,
    error_code: Option<String>,
    result: Option<TaskResult>,
}

#[derive(Serialize, ToSchema)]
pub(super) struct TaskResult {
    /// Absolute URLs of the outputs.
    files: Vec<String>,
}

/// Builds the view of a task, with its output URLs when completed.
pub(super) async fn view(state: &AppState, base: &str, task: TaskRecord) -> Result<TaskView, ApiError> {
    let files = if task.result.is_some() { state.files.for_task(&task.id).await? } else { Vec::new() };
    Ok(view_with(state, base, task, &files))
}

/// Builds the views of a page of tasks with one query for all their files.
async fn views(state: &AppState, base: &str, tasks: Vec<TaskRecord>) -> Result<Vec<TaskView>, ApiError> {
    let done: Vec<String> = tasks.iter().filter(|t| t.result.is_some()).map(|t| t.id.clone()).collect();
    let mut files: HashMap<String, Vec<FileRecord>> = HashMap::new();
    for file in state.files.for_tasks(&done).await? {
        if let Some(task_id) = file.task_id.clone() {
            files.entry(task_id).or_default().push(file);
        }
    }
    Ok(tasks
        .into_iter()
        .map(|task| {
            let own = files.remove(&task.id).unwrap_or_default();
            view_with(state, base, task, &own)
        })
        .collect())
}

/// The view of a task whose files are `files`.
fn view_with(state: &AppState, base: &str, task: TaskRecord, files: &[FileRecord]) -> TaskView {
    let result = task.result.is_some().then(|| {
        let outputs = files.iter().filter(|f| f.kind == gantry_files::FileKind::Output.as_str());
        TaskResult { files: outputs.map(|f| urls::file_url(base, f)).collect() }
    });
    TaskView {
        queue_position: (task.status == TaskStatus::Pending)
            .then(|| state.dispatcher.queue_position(&task.id))
            .flatten(),
        status: status_name(task.status),
        created_at: iso_millis(task.created_at),
        updated_at: iso_millis(task.updated_at),
        id: task.id,
        instance_id: task.instance_id,
        prompt_id: task.prompt_id,
        progress: task.progress,
        user_id: task.user_id,
        kind: task.kind,
        attempts: task.attempts,
        error: task.error,
        error_code: task.failure.map(|f| f.as_str().to_owned()),
        result,
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// pending, running, completed, failed or cancelled.
    status: Option<String>,
    /// Page size, 1-500 (default 20).
    limit: Option<i64>,
    offset: Option<i64>,
}

#[derive(Serialize, ToSchema)]
struct TaskPage {
    total: i64,
    items: Vec<TaskView>,
}

/// The caller's tasks (admins: everyone's), newest first.
#[utoipa::path(get, path = "/api/tasks", tag = "comfy-manager", security(("bearer" = [])), params(ListQuery),
    responses((status = 200, body = TaskPage), (status = 400, description = "unknown status")))]
async fn list_tasks(
    State(state): State<AppState>,
    headers: HeaderMap,
    Auth(principal, ..): Auth<ComfyManager>,
    QueryArgs(q, ..): QueryArgs<ComfyManager, ListQuery>,
) -> ApiResult<ComfyManager, TaskPage> {
    let statuses = match q.status.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => statuses_named(s).ok_or_else(|| ApiError::bad_request(format!("unknown status `{s}`")))?,
        None => Vec::new(),
    };
    let filter = TaskFilter {
        statuses,
        limit: q.limit.unwrap_or(20).clamp(1, 500),
        offset: q.offset.unwrap_or(0).max(0),
        ..TaskFilter::default()
    };
    let (tasks, total) = state.dispatcher.list(caller(&principal), filter).await?;
    let base = urls::public_base(&state, &headers);
    Ok(Reply::ok(TaskPage { total, items: views(&state, &base, tasks).await? }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewTask {
    /// A ComfyUI API-format graph: `{"<nodeId>": {"class_type": …, "inputs": {…}}}`.
    #[schema(value_type = Object)]
    workflow: Graph,
    /// `"<nodeId>.<input>": value`, or `name: value` for `"{{name}}"` placeholders.
    #[serde(default)]
    #[schema(value_type = Object)]
    params: serde_json::Map<String, serde_json::Value>,
    /// Higher runs first (default 0). Only admins may set a priority above 0.
    #[serde(default)]
    priority: i64,
}

/// Submit a workflow; answered once the task is stored. Non-admins pay for it (the
/// `GRAPH` price), settled when it ends.
#[utoipa::path(post, path = "/api/tasks", tag = "comfy-manager", security(("bearer" = [])), request_body = NewTask,
    responses((status = 200, body = TaskView), (status = 400, description = "invalid workflow or params, unknown model or input file"),
        (status = 402, description = "not enough credits for the graph"),
        (status = 403, description = "a priority above 0 from a non-admin"), (status = 503, description = "queue full")))]
async fn submit_task(
    State(state): State<AppState>,
    headers: HeaderMap,
    Auth(principal, ..): Auth<ComfyManager>,
    Body(new, ..): Body<ComfyManager, NewTask>,
) -> ApiResult<ComfyManager, TaskView> {
    let submission = Submission {
        caller: caller(&principal),
        kind: "workflow".into(),
        id: None,
        graph: new.workflow,
        params: new.params,
        priority: new.priority,
        meta: None,
        max_active: None,
    };
    let task = state.generation.submit_graph(submission).await?;
    let base = urls::public_base(&state, &headers);
    Ok(Reply::ok(view(&state, &base, task).await?))
}

/// One task.
#[utoipa::path(get, path = "/api/tasks/{taskId}", tag = "comfy-manager", security(("bearer" = [])),
    params(("taskId" = String, Path)), responses((status = 200, body = TaskView), (status = 404, description = "unknown task")))]
async fn get_task(
    State(state): State<AppState>,
    headers: HeaderMap,
    Auth(principal, ..): Auth<ComfyManager>,
    PathArg(id, ..): PathArg<ComfyManager, String>,
) -> ApiResult<ComfyManager, TaskView> {
    let task = state.dispatcher.task(caller(&principal), &id).await?;
    let base = urls::public_base(&state, &headers);
    Ok(Reply::ok(view(&state, &base, task).await?))
}

/// Cancel a task: a pending one leaves the queue, a running one is interrupted on its instance.
#[utoipa::path(delete, path = "/api/tasks/{taskId}", tag = "comfy-manager", security(("bearer" = [])),
    params(("taskId" = String, Path)),
    responses((status = 200, body = TaskView), (status = 404, description = "unknown task"), (status = 409, description = "already finished")))]
async fn cancel_task(
    State(state): State<AppState>,
    headers: HeaderMap,
    Auth(principal, ..): Auth<ComfyManager>,
    PathArg(id, ..): PathArg<ComfyManager, String>,
) -> ApiResult<ComfyManager, TaskView> {
    let task = state.dispatcher.cancel(caller(&principal), &id).await?;
    let base = urls::public_base(&state, &headers);
    Ok(Reply::ok(view(&state, &base, task).await?))
}

/// comfy-manager's name of a task state; a task waiting inside an instance is still
/// `pending`.
fn status_name(status: TaskStatus) -> &'static str {
    match status {
        TaskStatus::Pending | TaskStatus::Dispatched => "pending",
        other => other.as_str(),
    }
}

/// The states a status filter names (any case; `canceled` is accepted too).
fn statuses_named(name: &str) -> Option<Vec<TaskStatus>> {
    Some(match name.to_ascii_lowercase().as_str() {
        "pending" => vec![TaskStatus::Pending, TaskStatus::Dispatched],
        "running" => vec![TaskStatus::Running],
        "completed" => vec![TaskStatus::Completed],
        "failed" => vec![TaskStatus::Failed],
        "cancelled" | "canceled" => vec![TaskStatus::Cancelled],
        _ => return None,
    })
}
