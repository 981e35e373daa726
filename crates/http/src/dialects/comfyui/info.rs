//! What the fleet offers, as one ComfyUI: `/object_info` (merged over the instances,
//! cached), `/system_stats` (summed), `/models`, `/embeddings`, `/extensions`, `/features`.

use super::Caller;
use crate::envelope::{ApiResult, ComfyUi, Reply};
use crate::error::ApiError;
use crate::extract::PathArg;
use crate::state::AppState;
use axum::extract::State;
use gantry_dispatch::fleet_info::MODEL_FOLDERS;
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(object_info))
        .routes(routes!(object_info_of))
        .routes(routes!(system_stats))
        .routes(routes!(model_folders))
        .routes(routes!(models_in))
        .routes(routes!(embeddings))
        .routes(routes!(extensions))
        .routes(routes!(features))
}

/// Every node class some live instance knows, with its inputs and outputs (refreshed at
/// most every 30 s).
#[utoipa::path(get, path = "/comfy/object_info", tag = "comfyui", security(("bearer" = []), ("basic" = [])),
    responses((status = 200, description = "`{class: {input, output, …}}`", body = Object)))]
async fn object_info(State(state): State<AppState>, _caller: Caller) -> ApiResult<ComfyUi, Value> {
    Ok(Reply::ok(state.dispatcher.object_info().await.as_ref().clone()))
}

/// One node class (`{}` when no instance knows it).
#[utoipa::path(get, path = "/comfy/object_info/{node_class}", tag = "comfyui",
    security(("bearer" = []), ("basic" = [])), params(("node_class" = String, Path)),
    responses((status = 200, description = "`{class: {…}}` or `{}`", body = Object)))]
async fn object_info_of(
    State(state): State<AppState>,
    _caller: Caller,
    PathArg(class, ..): PathArg<ComfyUi, String>,
) -> ApiResult<ComfyUi, Value> {
    let info = state.dispatcher.object_info().await;
    let answer = match info.get(&class) {
        Some(found) => json!({ class: found }),
        None => json!({}),
    };
    Ok(Reply::ok(answer))
}

/// The live instances as one machine: the first one's `system` with the RAM summed, and
/// every instance's devices.
#[utoipa::path(get, path = "/comfy/system_stats", tag = "comfyui", security(("bearer" = []), ("basic" = [])),
    responses((status = 200, description = "`{system, devices}`", body = Object)))]
async fn system_stats(State(state): State<AppState>, _caller: Caller) -> ApiResult<ComfyUi, Value> {
    Ok(Reply::ok(state.dispatcher.system_stats().await))
}

/// The model folders Gantry tracks on its instances.
#[utoipa::path(get, path = "/comfy/models", tag = "comfyui", security(("bearer" = []), ("basic" = [])),
    responses((status = 200, body = Vec<String>)))]
async fn model_folders(_caller: Caller) -> ApiResult<ComfyUi, Vec<&'static str>> {
    Ok(Reply::ok(MODEL_FOLDERS.to_vec()))
}

/// The model files in a folder that some instance has.
#[utoipa::path(get, path = "/comfy/models/{folder}", tag = "comfyui", security(("bearer" = []), ("basic" = [])),
    params(("folder" = String, Path)),
    responses((status = 200, body = Vec<String>), (status = 404, description = "not a tracked folder")))]
async fn models_in(
    State(state): State<AppState>,
    _caller: Caller,
    PathArg(folder, ..): PathArg<ComfyUi, String>,
) -> ApiResult<ComfyUi, Vec<String>> {
    tracked(&folder)?;
    Ok(Reply::ok(state.dispatcher.model_names(&folder)))
}

/// Refuses a folder Gantry does not track (404, as ComfyUI answers an unknown folder).
pub(super) fn tracked(folder: &str) -> Result<(), ApiError> {
    if MODEL_FOLDERS.contains(&folder) {
        Ok(())
    } else {
        Err(ApiError::not_found(format!("unknown model folder {folder}")))
    }
}

/// The text embeddings some instance has, without their extensions.
#[utoipa::path(get, path = "/comfy/embeddings", tag = "comfyui", security(("bearer" = []), ("basic" = [])),
    responses((status = 200, body = Vec<String>)))]
async fn embeddings(State(state): State<AppState>, _caller: Caller) -> ApiResult<ComfyUi, Vec<String>> {
    let names = state.dispatcher.model_names("embeddings");
    let mut stems: Vec<String> =
        names.iter().map(|n| n.rsplit_once('.').map_or(n.as_str(), |(stem, _)| stem).to_owned()).collect();
    stems.dedup();
    Ok(Reply::ok(stems))
}

/// Front-end extension scripts: none (the instances' scripts are not relayed).
#[utoipa::path(get, path = "/comfy/extensions", tag = "comfyui", security(("bearer" = []), ("basic" = [])),
    responses((status = 200, body = Vec<String>)))]
async fn extensions(_caller: Caller) -> ApiResult<ComfyUi, Vec<String>> {
    Ok(Reply::ok(Vec::new()))
}

/// What this server supports, as ComfyUI's `/features` says it.
#[utoipa::path(get, path = "/comfy/features", tag = "comfyui", security(("bearer" = []), ("basic" = [])),
    responses((status = 200, body = Object)))]
async fn features(State(state): State<AppState>, _caller: Caller) -> ApiResult<ComfyUi, Value> {
    Ok(Reply::ok(json!({
        "supports_preview_metadata": false,
        "max_upload_size": state.config.files.max_upload_bytes,
    })))
}
