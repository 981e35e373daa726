//! Files: `POST /upload/image` and `/upload/mask` into Gantry's file store, `GET /view` of
//! the caller's uploads and outputs. An upload is named `<fileId>_<name>`, which a prompt's
//! `LoadImage` input can use as it is; an output's `subfolder` is its file id.

use super::Caller;
use crate::envelope::{ApiResult, ComfyUi, Failure, Reply};
use crate::error::ApiError;
use crate::extract::QueryArgs;
use crate::state::AppState;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{DefaultBodyLimit, Multipart, State};
use axum::response::Response;
use gantry_files::{FileKind, FileRecord, NewFile};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(upload_image))
        .routes(routes!(upload_mask))
        .routes(routes!(view))
        // Uploads may exceed the JSON body limit; the reader stops at files.max_upload_bytes.
        .layer(DefaultBodyLimit::disable())
}

/// A file as ComfyUI names it in `/view`, uploads and history outputs.
#[derive(Serialize, ToSchema)]
pub(super) struct FileName {
    #[serde(rename = "name")]
    pub name: String,
    pub subfolder: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
}

/// The name an upload is known by.
fn upload_name(record: &FileRecord) -> String {
    format!("{}_{}", record.id, record.filename)
}

/// The file id in an upload's name as a prompt may spell it: `<fileId>_<name>`, maybe after
/// a subfolder and with ComfyUI's ` [input]` mark.
pub(super) fn upload_id(value: &str) -> Option<&str> {
    let value = value.trim_end_matches(" [input]");
    let name = value.rsplit('/').next().unwrap_or(value);
    let (id, _) = name.split_once('_')?;
    is_file_id(id).then_some(id)
}

fn is_file_id(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Multipart form: the file in `image`; `subfolder`, `type` and `overwrite` as ComfyUI takes them.
#[derive(ToSchema)]
#[allow(dead_code)]
struct ImageForm {
    #[schema(format = Binary, value_type = String)]
    image: Vec<u8>,
    subfolder: Option<String>,
    overwrite: Option<String>,
}

/// Upload an input image (field `image`; PNG, JPEG, WebP or GIF, at most
/// `files.max_upload_bytes`). The answer's `name` can be used as a `LoadImage` input.
#[utoipa::path(post, path = "/comfy/upload/image", tag = "comfyui", security(("bearer" = []), ("basic" = [])),
    request_body(content = ImageForm, content_type = "multipart/form-data"),
    responses((status = 200, body = FileName), (status = 400, description = "no image part"),
        (status = 413, description = "too large"), (status = 415, description = "unsupported type")))]
async fn upload_image(
    State(state): State<AppState>,
    caller: Caller,
    form: Result<Multipart, MultipartRejection>,
) -> ApiResult<ComfyUi, FileName> {
    upload(&state, &caller, form).await
}

/// Upload a mask (field `image`), as `/upload/image`; the mask is stored as sent.
#[utoipa::path(post, path = "/comfy/upload/mask", tag = "comfyui", security(("bearer" = []), ("basic" = [])),
    request_body(content = ImageForm, content_type = "multipart/form-data"),
    responses((status = 200, body = FileName), (status = 400, description = "no image part"),
        (status = 413, description = "too large"), (status = 415, description = "unsupported type")))]
async fn upload_mask(
    State(state): State<AppState>,
    caller: Caller,
    form: Result<Multipart, MultipartRejection>,
) -> ApiResult<ComfyUi, FileName> {
    upload(&state, &caller, form).await
}

async fn upload(
    state: &AppState,
    caller: &Caller,
    form: Result<Multipart, MultipartRejection>,
) -> ApiResult<ComfyUi, FileName> {
    let limit = state.config.files.max_upload_bytes;
    let form = crate::file_io::read(form, "image", limit).await?;
    let Some((filename, bytes)) = form.file else {
        return Err(ApiError::bad_request("the form has no part named `image`").into());
    };
    let new = NewFile { user_id: caller.0.user_id, kind: FileKind::Upload, filename, bytes, task_id: None };
    let record = state.files.put_media(new, limit).await?;
    let subfolder = form.fields.get("subfolder").cloned().unwrap_or_default();
    Ok(Reply::ok(FileName { name: upload_name(&record), subfolder, kind: "input" }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ViewQuery {
    filename: String,
    /// For outputs, the file id.
    #[serde(default)]
    subfolder: String,
    /// `output` or `input`.
    #[serde(default, rename = "type")]
    #[allow(dead_code)]
    kind: Option<String>,
}

/// One of the caller's files: an output (`subfolder` is its id, as the history and
/// `executed` messages give it) or an upload (`filename` as `/upload/image` answered).
/// Other users' files are not found.
#[utoipa::path(get, path = "/comfy/view", tag = "comfyui", security(("bearer" = []), ("basic" = [])), params(ViewQuery),
    responses((status = 200, description = "the file's bytes", content(("image/*"), ("video/*"))),
        (status = 404, description = "no such file of the caller")))]
async fn view(
    State(state): State<AppState>,
    caller: Caller,
    QueryArgs(q, ..): QueryArgs<ComfyUi, ViewQuery>,
) -> Result<Response, Failure<ComfyUi>> {
    let not_found = || ApiError::not_found(format!("no file {}", q.filename));
    let (id, name) = if is_file_id(&q.subfolder) {
        (q.subfolder.as_str(), q.filename.as_str())
    } else {
        let id = upload_id(&q.filename).ok_or_else(not_found)?;
        (id, q.filename.get(id.len() + 1..).unwrap_or_default())
    };
    let record = state.files.get(id).await.map_err(|_| not_found())?;
    if record.user_id != caller.0.user_id || record.filename != name {
        return Err(not_found().into());
    }
    let bytes = state.files.read(&record).await?;
    Ok(crate::file_io::serve(&record, bytes))
}

#[cfg(test)]
mod tests {
    use super::upload_id;

    #[test]
    fn upload_names_give_their_file_id_however_spelled() {
        let id = "0123456789abcdef0123456789abcdef";
        assert_eq!(upload_id(&format!("{id}_cat.png")), Some(id));
        assert_eq!(upload_id(&format!("pasted/{id}_cat.png [input]")), Some(id));
        assert_eq!(upload_id("example.png"), None);
        assert_eq!(upload_id("my_cat.png"), None);
    }
}
