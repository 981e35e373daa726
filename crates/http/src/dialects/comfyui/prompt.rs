//! Prompts and the queue: `POST|GET /prompt`, `GET|POST /queue`, `POST /interrupt`.
//! A prompt's id is its task's id; its `number` is the task's place in submission order.

use super::{AnyJson, Caller, TASK_KIND, done};
use crate::envelope::{ApiResult, ComfyUi, Failure, Reply};
use crate::error::{ApiError, ErrorKind};
use crate::extract::caller;
use crate::state::AppState;
use axum::extract::State;
use axum::response::Response;
use gantry_comfy::graph::{self, Graph};
use gantry_dispatch::{FILE_REF_PREFIX, Submission, TaskFilter, TaskRecord, TaskStatus};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(queue_prompt, queue_remaining))
        .routes(routes!(get_queue, change_queue))
        .routes(routes!(interrupt))
}

/// What a prompt's task keeps of its submission, under `comfyui` in the task's meta.
#[derive(Serialize, Deserialize, Default)]
pub(super) struct PromptMeta {
    pub client_id: Option<String>,
    #[serde(default)]
    pub extra_data: Value,
}

impl PromptMeta {
    /// The meta of a task (empty for tasks submitted another way).
    pub fn of(task: &TaskRecord) -> Self {
        task.meta
            .as_deref()
            .and_then(|m| serde_json::from_str::<Value>(m).ok())
            .and_then(|mut m| serde_json::from_value(m.get_mut("comfyui")?.take()).ok())
            .unwrap_or_default()
    }
}

/// A task as ComfyUI lists a prompt: `[number, prompt_id, prompt, extra_data, outputs_to_execute]`.
pub(super) fn queue_item(task: &TaskRecord) -> Value {
    let graph: Value = serde_json::from_str(&task.graph).unwrap_or_else(|_| json!({}));
    let outputs = output_nodes(&graph);
    let extra = PromptMeta::of(task).extra_data;
    let extra = if extra.is_object() { extra } else { json!({}) };
    json!([task.seq, task.id, graph, extra, outputs])
}

/// The graph's output nodes: those no other node takes an input from.
fn output_nodes(graph: &Value) -> Vec<String> {
    let Some(nodes) = graph.as_object() else { return Vec::new() };
    let used: std::collections::HashSet<&str> = nodes
        .values()
        .filter_map(|n| n.get("inputs")?.as_object())
        .flat_map(|inputs| inputs.values())
        .filter_map(|v| v.as_array()?.first()?.as_str())
        .collect();
    nodes.keys().filter(|id| !used.contains(id.as_str())).cloned().collect()
}

#[derive(Deserialize, Default, ToSchema)]
struct PromptRequest {
    /// The API-format graph.
    #[schema(value_type = Object)]
    prompt: Option<Value>,
    /// The WebSocket `clientId` that gets this prompt's execution messages.
    client_id: Option<String>,
    /// An id of the caller's choosing (a UUID), instead of a new one.
    prompt_id: Option<String>,
    /// Kept with the prompt and shown in the queue and history (`extra_pnginfo`, …).
    #[schema(value_type = Object)]
    extra_data: Option<Value>,
    /// Accepted and ignored: Gantry's fair queue decides the order.
    #[allow(dead_code)]
    front: Option<bool>,
    /// Accepted and ignored, as `front`.
    #[allow(dead_code)]
    number: Option<f64>,
}

#[derive(Serialize, ToSchema)]
struct PromptQueued {
    prompt_id: String,
    /// The prompt's place in submission order.
    number: i64,
    #[schema(value_type = Object)]
    node_errors: Map<String, Value>,
}

/// Queue a prompt: stored as a task of the caller before the answer, placed on whichever
/// instance can run it, and paid for (the `GRAPH` price) unless the caller is an admin.
/// `LoadImage` inputs may name files from `/upload/image`.
#[utoipa::path(post, path = "/comfy/prompt", tag = "comfyui", security(("bearer" = []), ("basic" = [])),
    request_body = PromptRequest,
    responses((status = 200, body = PromptQueued),
        (status = 400, description = "no prompt, an invalid graph, a model no instance has, or an unknown input file (`error.type`: `no_prompt`, `invalid_prompt`)"),
        (status = 402, description = "not enough credits"), (status = 503, description = "queue full")))]
async fn queue_prompt(
    State(state): State<AppState>,
    caller_of: Caller,
    AnyJson(req): AnyJson<PromptRequest>,
) -> ApiResult<ComfyUi, PromptQueued> {
    let Caller(principal) = &caller_of;
    let Some(prompt) = req.prompt else {
        return Err(invalid("no_prompt", "No prompt provided"));
    };
    let mut graph: Graph = serde_json::from_value(prompt).map_err(|e| {
        invalid("invalid_prompt", &format!("Invalid prompt: the prompt must be an object of nodes ({e})"))
    })?;
    resolve_uploads(&state, principal.user_id, &mut graph).await?;
    if let Some(id) = &req.prompt_id {
        if uuid::Uuid::parse_str(id).is_err() {
            return Err(invalid("invalid_prompt", "prompt_id must be a UUID"));
        }
        if state.dispatcher.owner(id).await?.is_some() {
            return Err(invalid("invalid_prompt", "prompt_id is already used"));
        }
    }
    let meta = PromptMeta { client_id: req.client_id, extra_data: req.extra_data.unwrap_or_else(|| json!({})) };
    let submission = Submission {
        caller: caller(principal),
        kind: TASK_KIND.into(),
        id: req.prompt_id,
        graph,
        params: Map::new(),
        priority: 0,
        meta: Some(json!({ "comfyui": meta })),
        max_active: None,
    };
    let task = state.generation.submit_graph(submission).await.map_err(|refused| {
        let error = ApiError::from(refused);
        if error.kind == ErrorKind::BadRequest { error.with_code("invalid_prompt") } else { error }
    })?;
    Ok(Reply::ok(PromptQueued { prompt_id: task.id, number: task.seq, node_errors: Map::new() }))
}

fn invalid(kind: &str, message: &str) -> Failure<ComfyUi> {
    Failure::new(ApiError::bad_request(message).with_code(kind))
}

/// Points `LoadImage` inputs that name the caller's uploads (`<fileId>_<name>`, as
/// `/upload/image` answers, with or without a subfolder or an ` [input]` mark) at those files.
async fn resolve_uploads(state: &AppState, user_id: gantry_core::UserId, graph: &mut Graph) -> Result<(), ApiError> {
    for (node, value) in graph::input_images(graph) {
        let Some(file_id) = super::files::upload_id(&value) else { continue };
        match state.files.get(file_id).await {
            Ok(file) if file.user_id == user_id => {
                graph::set_input(graph, &node, "image", json!(format!("{FILE_REF_PREFIX}{file_id}")));
            }
            _ => {
                return Err(ApiError::bad_request(format!("Invalid image file: {value}")).with_code("invalid_prompt"));
            }
        }
    }
    Ok(())
}

#[derive(Serialize, ToSchema)]
struct QueueRemaining {
    exec_info: ExecInfo,
}

#[derive(Serialize, ToSchema)]
pub(super) struct ExecInfo {
    /// The caller's prompts not finished yet.
    pub queue_remaining: i64,
}

/// How many of the caller's prompts are waiting or running.
#[utoipa::path(get, path = "/comfy/prompt", tag = "comfyui", security(("bearer" = []), ("basic" = [])),
    responses((status = 200, body = QueueRemaining)))]
async fn queue_remaining(State(state): State<AppState>, caller: Caller) -> ApiResult<ComfyUi, QueueRemaining> {
    let queue_remaining = state.dispatcher.active_count(caller.0.user_id).await?;
    Ok(Reply::ok(QueueRemaining { exec_info: ExecInfo { queue_remaining } }))
}

/// The caller's unfinished tasks, oldest first.
pub(super) async fn unfinished(state: &AppState, caller: &Caller) -> Result<Vec<TaskRecord>, ApiError> {
    let filter = TaskFilter {
        statuses: vec![TaskStatus::Pending, TaskStatus::Dispatched, TaskStatus::Running],
        limit: 10_000,
        ascending: true,
        ..TaskFilter::default()
    };
    Ok(state.dispatcher.list(caller.own(), filter).await?.0)
}

#[derive(Serialize, ToSchema)]
struct Queue {
    /// `[number, prompt_id, prompt, extra_data, outputs_to_execute]` of each running prompt.
    #[schema(value_type = Vec<Object>)]
    queue_running: Vec<Value>,
    /// The same for prompts waiting, in Gantry's queue or an instance's.
    #[schema(value_type = Vec<Object>)]
    queue_pending: Vec<Value>,
}

/// The caller's running and waiting prompts (waiting includes those still in Gantry's own
/// queue, not yet on any instance).
#[utoipa::path(get, path = "/comfy/queue", tag = "comfyui", security(("bearer" = []), ("basic" = [])),
    responses((status = 200, body = Queue)))]
async fn get_queue(State(state): State<AppState>, caller: Caller) -> ApiResult<ComfyUi, Queue> {
    let (running, pending): (Vec<TaskRecord>, Vec<TaskRecord>) =
        unfinished(&state, &caller).await?.into_iter().partition(|t| t.status == TaskStatus::Running);
    Ok(Reply::ok(Queue {
        queue_running: running.iter().map(queue_item).collect(),
        queue_pending: pending.iter().map(queue_item).collect(),
    }))
}

#[derive(Deserialize, Default, ToSchema)]
pub(super) struct Removal {
    /// Remove every one of the caller's entries.
    #[serde(default)]
    pub clear: bool,
    /// Remove these prompts (the caller's own; others are ignored).
    #[serde(default)]
    pub delete: Vec<String>,
}

/// Remove waiting prompts of the caller: `{"delete": [ids]}` or `{"clear": true}`. Running
/// prompts stay (interrupt them); a removed prompt is refunded.
#[utoipa::path(post, path = "/comfy/queue", tag = "comfyui", security(("bearer" = []), ("basic" = [])),
    request_body = Removal, responses((status = 200, description = "removed (an empty body, as ComfyUI answers)", body = String, content_type = "text/plain")))]
async fn change_queue(
    State(state): State<AppState>,
    caller: Caller,
    AnyJson(removal): AnyJson<Removal>,
) -> Result<Response, Failure<ComfyUi>> {
    let removed = |t: &TaskRecord| removal.clear || removal.delete.contains(&t.id);
    cancel_own(&state, &caller, |t| t.status != TaskStatus::Running && removed(t)).await?;
    Ok(done())
}

#[derive(Deserialize, Default, ToSchema)]
struct InterruptRequest {
    /// Interrupt this prompt only; without it, every running prompt of the caller.
    prompt_id: Option<String>,
}

/// Interrupt the caller's running prompt(s); they end as `execution_interrupted` and are
/// refunded. Other users' prompts are never touched.
#[utoipa::path(post, path = "/comfy/interrupt", tag = "comfyui", security(("bearer" = []), ("basic" = [])),
    request_body = InterruptRequest, responses((status = 200, description = "interrupted (an empty body, as ComfyUI answers)", body = String, content_type = "text/plain")))]
async fn interrupt(
    State(state): State<AppState>,
    caller: Caller,
    AnyJson(req): AnyJson<InterruptRequest>,
) -> Result<Response, Failure<ComfyUi>> {
    let named = |t: &TaskRecord| req.prompt_id.as_ref().is_none_or(|id| *id == t.id);
    cancel_own(&state, &caller, |t| t.status == TaskStatus::Running && named(t)).await?;
    Ok(done())
}

/// Cancels the caller's unfinished tasks that `which` picks; one that ended meanwhile is
/// left as it is.
async fn cancel_own(state: &AppState, caller: &Caller, which: impl Fn(&TaskRecord) -> bool) -> Result<(), ApiError> {
    for task in unfinished(state, caller).await?.into_iter().filter(|t| which(t)) {
        if let Err(e) = state.dispatcher.cancel(caller.own(), &task.id).await {
            tracing::debug!(task_id = task.id, error = %e, "not cancelled");
        }
    }
    Ok(())
}
