//! ComfyUI's routes that are about one machine rather than the fleet, answered the way a
//! ComfyUI with nothing to tell answers them, never 404 (clients such as
//! `@saintno/comfyui-sdk` call some at start and give up on a 404): memory freeing (each
//! instance manages its own), the server's terminal log (not relayed), translations and
//! workflow templates (none beyond the front end's own); and the model browser's folders and
//! files, from what the instances report.

use super::Caller;
use crate::envelope::{ApiResult, ComfyUi, Failure, Reply};
use crate::extract::PathArg;
use crate::state::AppState;
use axum::extract::State;
use axum::response::Response;
use gantry_dispatch::fleet_info::MODEL_FOLDERS;
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(free))
        .routes(routes!(logs))
        .routes(routes!(logs_raw))
        .routes(routes!(logs_subscribe))
        .routes(routes!(i18n))
        .routes(routes!(workflow_templates))
        .routes(routes!(model_folders))
        .routes(routes!(model_files))
}

/// Free memory: accepted and done nothing (each instance manages its own memory between
/// the prompts Gantry gives it).
#[utoipa::path(post, path = "/comfy/free", tag = "comfyui", security(("bearer" = []), ("basic" = [])),
    responses((status = 200, description = "an empty body, as ComfyUI answers", body = String, content_type = "text/plain")))]
async fn free(_caller: Caller) -> Response {
    super::done()
}

/// The server's terminal log as one string: empty (the instances' logs are not relayed).
#[utoipa::path(get, path = "/comfy/internal/logs", tag = "comfyui", security(("bearer" = []), ("basic" = [])),
    responses((status = 200, body = String)))]
async fn logs(_caller: Caller) -> ApiResult<ComfyUi, &'static str> {
    Ok(Reply::ok(""))
}

/// The server's terminal log: empty (the instances' logs are not relayed).
#[utoipa::path(get, path = "/comfy/internal/logs/raw", tag = "comfyui", security(("bearer" = []), ("basic" = [])),
    responses((status = 200, description = "`{entries: [], size}`", body = Object)))]
async fn logs_raw(_caller: Caller) -> ApiResult<ComfyUi, Value> {
    Ok(Reply::ok(json!({ "entries": [], "size": { "cols": 80, "rows": 24 } })))
}

/// Subscribe to the terminal log: accepted; nothing will come (see `logs/raw`).
#[utoipa::path(patch, path = "/comfy/internal/logs/subscribe", tag = "comfyui",
    security(("bearer" = []), ("basic" = [])),
    responses((status = 200, description = "an empty body, as ComfyUI answers", body = String, content_type = "text/plain")))]
async fn logs_subscribe(_caller: Caller) -> Response {
    super::done()
}

/// Translations of custom nodes: none.
#[utoipa::path(get, path = "/comfy/i18n", tag = "comfyui", security(("bearer" = []), ("basic" = [])),
    responses((status = 200, body = Object)))]
async fn i18n(_caller: Caller) -> ApiResult<ComfyUi, Value> {
    Ok(Reply::ok(json!({})))
}

/// Workflow templates of custom nodes: none.
#[utoipa::path(get, path = "/comfy/workflow_templates", tag = "comfyui", security(("bearer" = []), ("basic" = [])),
    responses((status = 200, body = Object)))]
async fn workflow_templates(_caller: Caller) -> ApiResult<ComfyUi, Value> {
    Ok(Reply::ok(json!({})))
}

/// A model folder as the model browser lists it.
#[derive(Serialize, ToSchema)]
struct ModelFolder {
    name: &'static str,
    /// The folder's paths on the server: none to show (they are the instances').
    folders: Vec<String>,
}

/// The model folders Gantry tracks.
#[utoipa::path(get, path = "/comfy/experiment/models", tag = "comfyui", security(("bearer" = []), ("basic" = [])),
    responses((status = 200, body = Vec<ModelFolder>)))]
async fn model_folders(_caller: Caller) -> ApiResult<ComfyUi, Vec<ModelFolder>> {
    Ok(Reply::ok(MODEL_FOLDERS.iter().map(|&name| ModelFolder { name, folders: Vec::new() }).collect()))
}

/// A model file as the model browser lists it.
#[derive(Serialize, ToSchema)]
struct ModelFile {
    name: String,
    #[serde(rename = "pathIndex")]
    path_index: u32,
}

/// The files of a model folder that some instance has.
#[utoipa::path(get, path = "/comfy/experiment/models/{folder}", tag = "comfyui",
    security(("bearer" = []), ("basic" = [])), params(("folder" = String, Path)),
    responses((status = 200, body = Vec<ModelFile>), (status = 404, description = "not a tracked folder")))]
async fn model_files(
    State(state): State<AppState>,
    _caller: Caller,
    PathArg(folder, ..): PathArg<ComfyUi, String>,
) -> Result<Reply<ComfyUi, Vec<ModelFile>>, Failure<ComfyUi>> {
    super::info::tracked(&folder)?;
    let files = state.dispatcher.model_names(&folder).into_iter().map(|name| ModelFile { name, path_index: 0 });
    Ok(Reply::ok(files.collect()))
}
