//! History: `GET /history`, `GET /history/{prompt_id}`, `POST /history`, from Gantry's own
//! store, so a prompt's entry outlives its instance's memory (and Gantry's restarts).

use super::prompt::{Removal, queue_item};
use super::{AnyJson, Caller, TASK_KIND, done};
use crate::envelope::{ApiResult, ComfyUi, Failure, Reply};
use crate::error::ApiError;
use crate::extract::{PathArg, QueryArgs};
use crate::state::AppState;
use axum::extract::State;
use axum::response::Response;
use gantry_dispatch::{TaskFilter, TaskRecord, TaskStatus};
use gantry_files::FileRecord;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(history, change_history)).routes(routes!(history_of))
}

/// The most ids one `POST /history` deletes.
const MAX_DELETE: usize = 1000;

/// Whether a task has a history entry: it ended, it ran if it was cancelled (ComfyUI keeps
/// no entry for a prompt removed from the queue), and its owner has not deleted the entry.
/// The list in [`history`] asks the store for the same tasks.
fn in_history(task: &TaskRecord) -> bool {
    task.is_terminal()
        && (task.status != TaskStatus::Cancelled || task.started_at.is_some())
        && task.archived_at.is_none()
}

/// A file as the history and `executed` messages name it: an output's subfolder is its id.
fn file_entry(file: &FileRecord) -> Value {
    json!({ "filename": file.filename, "subfolder": file.id, "type": "output" })
}

/// The `outputs` of completed tasks, by task id: `{node: {images | audio: [files]}}`.
pub(super) async fn outputs_of(state: &AppState, tasks: &[&TaskRecord]) -> Result<HashMap<String, Value>, ApiError> {
    let done: Vec<String> = tasks.iter().filter(|t| t.result.is_some()).map(|t| t.id.clone()).collect();
    let files: HashMap<String, FileRecord> =
        state.files.for_tasks(&done).await?.into_iter().map(|f| (f.id.clone(), f)).collect();
    let mut all = HashMap::new();
    for task in tasks {
        let mut outputs = Map::new();
        for (file_id, node) in gantry_dispatch::output_nodes(task) {
            let Some(file) = files.get(&file_id) else { continue };
            let key = if file.content_type.starts_with("audio/") { "audio" } else { "images" };
            let node = outputs.entry(node).or_insert_with(|| json!({}));
            match node.get_mut(key).and_then(Value::as_array_mut) {
                Some(list) => list.push(file_entry(file)),
                None => node[key] = json!([file_entry(file)]),
            }
        }
        all.insert(task.id.clone(), Value::Object(outputs));
    }
    Ok(all)
}

/// What ComfyUI records of how a prompt ended: `status_str`, `completed` and its messages.
fn status_of(task: &TaskRecord) -> Value {
    let id = &task.id;
    let start = json!(["execution_start", { "prompt_id": id, "timestamp": task.started_at }]);
    let end = match task.status {
        TaskStatus::Completed => json!(["execution_success", { "prompt_id": id, "timestamp": task.finished_at }]),
        TaskStatus::Cancelled => json!(["execution_interrupted", {
            "prompt_id": id, "timestamp": task.finished_at, "node_id": null, "node_type": null, "executed": [],
        }]),
        _ => json!(["execution_error", {
            "prompt_id": id, "timestamp": task.finished_at, "node_id": null, "node_type": null, "executed": [],
            "exception_message": task.error.clone().unwrap_or_default(),
            "exception_type": task.failure.map(|f| f.as_str()).unwrap_or_default(),
            "traceback": [], "current_inputs": {}, "current_outputs": {},
        }]),
    };
    let messages = if task.started_at.is_some() { vec![start, end] } else { vec![end] };
    let success = task.status == TaskStatus::Completed;
    json!({ "status_str": if success { "success" } else { "error" }, "completed": success, "messages": messages })
}

/// One history entry: `{prompt, outputs, status, meta}`.
fn entry(task: &TaskRecord, outputs: Value) -> Value {
    let meta: Map<String, Value> = outputs
        .as_object()
        .into_iter()
        .flat_map(|o| o.keys())
        .map(|node| {
            let about = json!({ "node_id": node, "display_node": node, "parent_node": null, "real_node_id": node });
            (node.clone(), about)
        })
        .collect();
    json!({ "prompt": queue_item(task), "outputs": outputs, "status": status_of(task), "meta": meta })
}

/// Entries of tasks, keyed by prompt id, in the order given.
async fn entries(state: &AppState, tasks: &[&TaskRecord]) -> Result<Map<String, Value>, ApiError> {
    let mut outputs = outputs_of(state, tasks).await?;
    Ok(tasks
        .iter()
        .map(|task| (task.id.clone(), entry(task, outputs.remove(&task.id).unwrap_or_else(|| json!({})))))
        .collect())
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct HistoryQuery {
    /// The newest this many entries (default 200, at most 10000).
    max_items: Option<i64>,
    /// Skip this many of the newest entries first.
    offset: Option<i64>,
}

/// The caller's newest finished prompts, keyed by prompt id (each entry's `prompt[0]` is
/// its number, in submission order). Entries stay until the caller deletes them, whatever
/// their instance has forgotten.
#[utoipa::path(get, path = "/comfy/history", tag = "comfyui", security(("bearer" = []), ("basic" = [])),
    params(HistoryQuery), responses((status = 200, description = "`{prompt_id: {prompt, outputs, status, meta}}`", body = Object)))]
async fn history(
    State(state): State<AppState>,
    caller: Caller,
    QueryArgs(q, ..): QueryArgs<ComfyUi, HistoryQuery>,
) -> ApiResult<ComfyUi, Map<String, Value>> {
    let filter = TaskFilter {
        statuses: vec![TaskStatus::Completed, TaskStatus::Failed, TaskStatus::Cancelled],
        kind: Some(TASK_KIND.into()),
        limit: q.max_items.unwrap_or(200).clamp(1, 10_000),
        offset: q.offset.unwrap_or(0).max(0),
        unarchived: true,
        started_if_cancelled: true,
        ..TaskFilter::default()
    };
    let (tasks, _) = state.dispatcher.list(caller.own(), filter).await?;
    Ok(Reply::ok(entries(&state, &tasks.iter().collect::<Vec<_>>()).await?))
}

/// One prompt's entry (`{}` while it has none: waiting, running, or not the caller's).
#[utoipa::path(get, path = "/comfy/history/{prompt_id}", tag = "comfyui", security(("bearer" = []), ("basic" = [])),
    params(("prompt_id" = String, Path)),
    responses((status = 200, description = "`{prompt_id: {prompt, outputs, status, meta}}` or `{}`", body = Object)))]
async fn history_of(
    State(state): State<AppState>,
    caller: Caller,
    PathArg(id, ..): PathArg<ComfyUi, String>,
) -> ApiResult<ComfyUi, Map<String, Value>> {
    match state.dispatcher.task(caller.own(), &id).await {
        Ok(task) if in_history(&task) => Ok(Reply::ok(entries(&state, &[&task]).await?)),
        Ok(_) | Err(gantry_dispatch::DispatchError::TaskNotFound) => Ok(Reply::ok(Map::new())),
        Err(e) => Err(e.into()),
    }
}

/// Delete entries of the caller's history: `{"delete": [ids]}` or `{"clear": true}`. The
/// tasks stay (with their files and charges) in Gantry's other views.
#[utoipa::path(post, path = "/comfy/history", tag = "comfyui", security(("bearer" = []), ("basic" = [])),
    request_body = Removal, responses((status = 200, description = "deleted (an empty body, as ComfyUI answers)", body = String, content_type = "text/plain")))]
async fn change_history(
    State(state): State<AppState>,
    caller: Caller,
    AnyJson(removal): AnyJson<Removal>,
) -> Result<Response, Failure<ComfyUi>> {
    if removal.clear {
        state.dispatcher.archive(caller.own(), TASK_KIND, None).await?;
    } else {
        let ids: Vec<String> = removal.delete.into_iter().take(MAX_DELETE).collect();
        state.dispatcher.archive(caller.own(), TASK_KIND, Some(&ids)).await?;
    }
    Ok(done())
}
