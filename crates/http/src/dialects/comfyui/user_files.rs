//! The caller's own settings and documents, as ComfyUI's user manager serves them to its
//! front end: `/users` (one user per credential), `/settings`, `/userdata`. They live in
//! the accounts context (see `gantry_accounts::user_files`): settings in
//! `comfy.settings.json`, saved workflows under `workflows/`, styles in `user.css`.

use super::{AnyJson, Caller, done};
use crate::envelope::{ApiResult, ComfyUi, Failure, Reply};
use crate::error::ApiError;
use crate::extract::{PathArg, QueryArgs};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use gantry_accounts::user_files::UserFileInfo;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(users))
        .routes(routes!(settings, merge_settings))
        .routes(routes!(setting, set_setting))
        .routes(routes!(list_files))
        .routes(routes!(read_file, write_file, delete_file))
        .routes(routes!(move_file))
        .routes(routes!(user_css))
}

/// Where the front end's settings are kept.
const SETTINGS: &str = "comfy.settings.json";

/// Documents a fresh user has without having written them: empty styles, no saved templates.
fn default_content(path: &str) -> Option<&'static str> {
    match path {
        "user.css" => Some(""),
        "comfy.templates.json" => Some("[]"),
        _ => None,
    }
}

/// Single-user mode, as ComfyUI answers it: each credential is its own user.
#[utoipa::path(get, path = "/comfy/users", tag = "comfyui", security(("bearer" = []), ("basic" = [])),
    responses((status = 200, description = "`{storage: \"server\", migrated: true}`", body = Object)))]
async fn users(_caller: Caller) -> ApiResult<ComfyUi, Value> {
    Ok(Reply::ok(json!({ "storage": "server", "migrated": true })))
}

/// The settings a stored document holds (none when it is missing or not an object).
fn settings_in(stored: Option<&str>) -> Map<String, Value> {
    stored.and_then(|text| serde_json::from_str(text).ok()).unwrap_or_default()
}

async fn all_settings(state: &AppState, caller: &Caller) -> Result<Map<String, Value>, ApiError> {
    Ok(settings_in(state.accounts.user_file(caller.0.user_id, SETTINGS).await?.as_deref()))
}

/// Sets `changes` over the stored settings in one step: changes sent at once (the front
/// end sends several as it starts) all stay.
async fn change_settings(state: &AppState, caller: &Caller, changes: Map<String, Value>) -> Result<(), ApiError> {
    let merge = |stored: Option<&str>| {
        let mut settings = settings_in(stored);
        settings.extend(changes);
        Value::Object(settings).to_string()
    };
    Ok(state.accounts.rewrite_user_file(caller.0.user_id, SETTINGS, merge).await?)
}

/// The caller's front-end settings.
#[utoipa::path(get, path = "/comfy/settings", tag = "comfyui", security(("bearer" = []), ("basic" = [])),
    responses((status = 200, body = Object)))]
async fn settings(State(state): State<AppState>, caller: Caller) -> ApiResult<ComfyUi, Map<String, Value>> {
    Ok(Reply::ok(all_settings(&state, &caller).await?))
}

/// Sets several settings at once.
#[utoipa::path(post, path = "/comfy/settings", tag = "comfyui", security(("bearer" = []), ("basic" = [])),
    request_body = Object,
    responses((status = 200, description = "an empty body, as ComfyUI answers", body = String, content_type = "text/plain")))]
async fn merge_settings(
    State(state): State<AppState>,
    caller: Caller,
    AnyJson(changes): AnyJson<Map<String, Value>>,
) -> Result<Response, Failure<ComfyUi>> {
    change_settings(&state, &caller, changes).await?;
    Ok(done())
}

/// One setting (`null` when unset).
#[utoipa::path(get, path = "/comfy/settings/{id}", tag = "comfyui", security(("bearer" = []), ("basic" = [])),
    params(("id" = String, Path)), responses((status = 200, description = "the setting's JSON value")))]
async fn setting(
    State(state): State<AppState>,
    caller: Caller,
    PathArg(id, ..): PathArg<ComfyUi, String>,
) -> ApiResult<ComfyUi, Value> {
    Ok(Reply::ok(all_settings(&state, &caller).await?.remove(&id).unwrap_or(Value::Null)))
}

/// Sets one setting to the body's JSON value.
#[utoipa::path(post, path = "/comfy/settings/{id}", tag = "comfyui", security(("bearer" = []), ("basic" = [])),
    params(("id" = String, Path)), request_body = Object,
    responses((status = 200, description = "an empty body, as ComfyUI answers", body = String, content_type = "text/plain")))]
async fn set_setting(
    State(state): State<AppState>,
    caller: Caller,
    PathArg(id, ..): PathArg<ComfyUi, String>,
    AnyJson(value): AnyJson<Value>,
) -> Result<Response, Failure<ComfyUi>> {
    change_settings(&state, &caller, Map::from_iter([(id, value)])).await?;
    Ok(done())
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// The directory, e.g. `workflows`.
    dir: String,
    /// Files in subdirectories too (`true`/`false`, default false).
    #[serde(default)]
    recurse: Option<String>,
    /// Each entry as `[path, …its parts]`.
    #[serde(default)]
    split: Option<String>,
    /// Each entry as `{path, size, modified}`.
    #[serde(default)]
    full_info: Option<String>,
}

fn flag(value: &Option<String>) -> bool {
    value.as_deref().is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// A document as the listing and writes describe it.
#[derive(Serialize, ToSchema)]
struct FileInfo {
    path: String,
    size: i64,
    /// Unix seconds, as ComfyUI gives `modified`.
    modified: f64,
}

fn info(path: String, file: &UserFileInfo) -> FileInfo {
    FileInfo { path, size: file.size, modified: file.updated_at as f64 / 1000.0 }
}

/// The caller's documents under a directory (paths relative to it); a directory with
/// nothing in it is an empty list.
#[utoipa::path(get, path = "/comfy/userdata", tag = "comfyui", security(("bearer" = []), ("basic" = [])),
    params(ListQuery), responses((status = 200, body = Vec<Object>)))]
async fn list_files(
    State(state): State<AppState>,
    caller: Caller,
    QueryArgs(q, ..): QueryArgs<ComfyUi, ListQuery>,
) -> ApiResult<ComfyUi, Vec<Value>> {
    let dir = q.dir.trim_end_matches('/').to_owned();
    let files = state.accounts.user_files(caller.0.user_id, &dir).await?;
    let prefix = if dir.is_empty() { String::new() } else { format!("{dir}/") };
    let entries = files
        .iter()
        .filter_map(|file| {
            let relative = file.path.strip_prefix(&prefix)?.to_owned();
            (flag(&q.recurse) || !relative.contains('/')).then_some((relative, file))
        })
        .map(|(relative, file)| {
            if flag(&q.full_info) {
                json!(info(relative, file))
            } else if flag(&q.split) {
                let mut parts = vec![json!(relative)];
                parts.extend(relative.split('/').map(|p| json!(p)));
                Value::Array(parts)
            } else {
                json!(relative)
            }
        })
        .collect();
    Ok(Reply::ok(entries))
}

/// One of the caller's documents (the path URL-encoded, `workflows%2Fa.json`).
#[utoipa::path(get, path = "/comfy/userdata/{file}", tag = "comfyui", security(("bearer" = []), ("basic" = [])),
    params(("file" = String, Path)),
    responses((status = 200, description = "the document", body = String, content_type = "application/octet-stream"),
        (status = 404, description = "no such document")))]
async fn read_file(
    State(state): State<AppState>,
    caller: Caller,
    PathArg(file, ..): PathArg<ComfyUi, String>,
) -> Result<Response, Failure<ComfyUi>> {
    let content = match state.accounts.user_file(caller.0.user_id, &file).await? {
        Some(content) => content,
        None => default_content(&file).ok_or_else(|| ApiError::not_found(format!("no file {file}")))?.to_owned(),
    };
    let kind = mime_guess::from_path(&file).first_or_octet_stream().to_string();
    Ok(([(header::CONTENT_TYPE, kind)], content).into_response())
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct WriteQuery {
    /// Replace an existing document (default true).
    #[serde(default)]
    overwrite: Option<String>,
    /// Answer `{path, size, modified}` instead of the path.
    #[serde(default)]
    full_info: Option<String>,
}

/// Writes one of the caller's documents: the body, as text (at most 2 MiB).
#[utoipa::path(post, path = "/comfy/userdata/{file}", tag = "comfyui", security(("bearer" = []), ("basic" = [])),
    params(("file" = String, Path), WriteQuery), request_body(content = String, content_type = "application/octet-stream"),
    responses((status = 200, description = "the path (a JSON string), or `{path, size, modified}`"),
        (status = 409, description = "it exists and overwrite is false")))]
async fn write_file(
    State(state): State<AppState>,
    caller: Caller,
    PathArg(file, ..): PathArg<ComfyUi, String>,
    QueryArgs(q, ..): QueryArgs<ComfyUi, WriteQuery>,
    body: axum::body::Bytes,
) -> ApiResult<ComfyUi, Value> {
    let text = String::from_utf8(body.to_vec()).map_err(|_| ApiError::bad_request("a file must be UTF-8 text"))?;
    let overwrite = q.overwrite.as_deref().is_none_or(|v| !v.eq_ignore_ascii_case("false"));
    state.accounts.put_user_file(caller.0.user_id, &file, &text, overwrite).await?;
    described(&state, &caller, file, flag(&q.full_info)).await
}

/// A written document's path, or its full description.
async fn described(state: &AppState, caller: &Caller, path: String, full: bool) -> ApiResult<ComfyUi, Value> {
    if !full {
        return Ok(Reply::ok(json!(path)));
    }
    let dir = path.rsplit_once('/').map_or("", |(dir, _)| dir);
    let files = state.accounts.user_files(caller.0.user_id, dir).await?;
    let file = files.iter().find(|f| f.path == path).ok_or_else(|| ApiError::not_found(format!("no file {path}")))?;
    Ok(Reply::ok(json!(info(path.clone(), file))))
}

/// Deletes one of the caller's documents.
#[utoipa::path(delete, path = "/comfy/userdata/{file}", tag = "comfyui", security(("bearer" = []), ("basic" = [])),
    params(("file" = String, Path)),
    responses((status = 204, description = "deleted"), (status = 404, description = "no such document")))]
async fn delete_file(
    State(state): State<AppState>,
    caller: Caller,
    PathArg(file, ..): PathArg<ComfyUi, String>,
) -> Result<Response, Failure<ComfyUi>> {
    if !state.accounts.delete_user_file(caller.0.user_id, &file).await? {
        return Err(ApiError::not_found(format!("no file {file}")).into());
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Renames one of the caller's documents.
#[utoipa::path(post, path = "/comfy/userdata/{file}/move/{dest}", tag = "comfyui",
    security(("bearer" = []), ("basic" = [])), params(("file" = String, Path), ("dest" = String, Path), WriteQuery),
    responses((status = 200, description = "the new path (a JSON string), or `{path, size, modified}`"),
        (status = 404, description = "no such document"), (status = 409, description = "the destination exists and overwrite is false")))]
async fn move_file(
    State(state): State<AppState>,
    caller: Caller,
    PathArg((file, dest), ..): PathArg<ComfyUi, (String, String)>,
    QueryArgs(q, ..): QueryArgs<ComfyUi, WriteQuery>,
) -> ApiResult<ComfyUi, Value> {
    let overwrite = q.overwrite.as_deref().is_some_and(|v| v.eq_ignore_ascii_case("true"));
    if !state.accounts.move_user_file(caller.0.user_id, &file, &dest, overwrite).await? {
        return Err(ApiError::not_found(format!("no file {file}")).into());
    }
    described(&state, &caller, dest, flag(&q.full_info)).await
}

/// The caller's styles for the front end (`user.css` among the documents; empty if none).
#[utoipa::path(get, path = "/comfy/user.css", tag = "comfyui", security(("bearer" = []), ("basic" = [])),
    responses((status = 200, description = "CSS", body = String, content_type = "text/css")))]
async fn user_css(State(state): State<AppState>, caller: Caller) -> Result<Response, Failure<ComfyUi>> {
    let css = state.accounts.user_file(caller.0.user_id, "user.css").await?.unwrap_or_default();
    Ok(([(header::CONTENT_TYPE, "text/css; charset=utf-8")], css).into_response())
}
