//! comfy-manager files: multipart upload (size and type limits), list, delete; and the
//! public `/files/{id}/{name}` links they answer with.

use crate::envelope::{ApiResult, ComfyManager, Failure, Reply};
use crate::error::ApiError;
use crate::extract::{Auth, PathArg, QueryArgs};
use crate::state::AppState;
use crate::urls;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{DefaultBodyLimit, Multipart, State};
use axum::http::HeaderMap;
use axum::response::Response;
use gantry_core::clock::iso_millis;
use gantry_files::{FileKind, FileRecord, NewFile};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(upload))
        .routes(routes!(list_files))
        .routes(routes!(delete_file))
        .routes(routes!(download))
        // Uploads may exceed the JSON body limit; the handler streams and stops at files.max_upload_bytes.
        .layer(DefaultBodyLimit::disable())
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct FileView {
    file_id: String,
    filename: String,
    url: String,
    size: i64,
    content_type: String,
    width: Option<i64>,
    height: Option<i64>,
    created_at: String,
}

fn file_view(base: &str, f: &FileRecord) -> FileView {
    FileView {
        file_id: f.id.clone(),
        filename: f.filename.clone(),
        url: urls::file_url(base, f),
        size: f.size,
        content_type: f.content_type.clone(),
        width: f.width,
        height: f.height,
        created_at: iso_millis(f.created_at),
    }
}

/// Multipart form with one part named `file`.
#[derive(ToSchema)]
#[allow(dead_code)]
struct UploadForm {
    #[schema(format = Binary, value_type = String)]
    file: Vec<u8>,
}

/// Upload a file (field `file`): PNG, JPEG, WebP, GIF, MP4 or WebM judged by content, at
/// most `files.max_upload_bytes`. Use `"gantry-file:<fileId>"` as a LoadImage input.
#[utoipa::path(post, path = "/api/files/upload", tag = "comfy-manager", security(("bearer" = [])),
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses((status = 200, body = FileView), (status = 400, description = "no file part"),
        (status = 413, description = "too large"), (status = 415, description = "unsupported type")))]
async fn upload(
    State(state): State<AppState>,
    headers: HeaderMap,
    Auth(principal, ..): Auth<ComfyManager>,
    form: Result<Multipart, MultipartRejection>,
) -> ApiResult<ComfyManager, FileView> {
    let limit = state.config.files.max_upload_bytes;
    let form = crate::file_io::read(form, "file", limit).await?;
    let Some((filename, bytes)) = form.file else {
        return Err(ApiError::bad_request("the form has no part named `file`").into());
    };
    let new = NewFile { user_id: principal.user_id, kind: FileKind::Upload, filename, bytes, task_id: None };
    let record = state.files.put_media(new, limit).await?;
    let base = urls::public_base(&state, &headers);
    Ok(Reply::ok(file_view(&base, &record)))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct Paging {
    limit: Option<i64>,
    offset: Option<i64>,
}

#[derive(Serialize, ToSchema)]
struct FilePage {
    total: i64,
    items: Vec<FileView>,
}

/// The caller's uploads, newest first.
#[utoipa::path(get, path = "/api/files", tag = "comfy-manager", security(("bearer" = [])), params(Paging),
    responses((status = 200, body = FilePage)))]
async fn list_files(
    State(state): State<AppState>,
    headers: HeaderMap,
    Auth(principal, ..): Auth<ComfyManager>,
    QueryArgs(paging, ..): QueryArgs<ComfyManager, Paging>,
) -> ApiResult<ComfyManager, FilePage> {
    let limit = paging.limit.unwrap_or(50).clamp(1, 500);
    let (files, total) =
        state.files.list(principal.user_id, FileKind::Upload, limit, paging.offset.unwrap_or(0)).await?;
    let base = urls::public_base(&state, &headers);
    Ok(Reply::ok(FilePage { total, items: files.iter().map(|f| file_view(&base, f)).collect() }))
}

/// Delete one of the caller's files (admins: anyone's).
#[utoipa::path(delete, path = "/api/files/{fileId}", tag = "comfy-manager", security(("bearer" = [])),
    params(("fileId" = String, Path)), responses((status = 200, description = "deleted"), (status = 404, description = "unknown file")))]
async fn delete_file(
    State(state): State<AppState>,
    Auth(principal, ..): Auth<ComfyManager>,
    PathArg(id, ..): PathArg<ComfyManager, String>,
) -> ApiResult<ComfyManager, serde_json::Value> {
    state.files.delete(&id, principal.user_id, principal.is_admin()).await?;
    Ok(Reply::ok(serde_json::json!({ "fileId": id, "deleted": true })))
}

/// A stored file. The random id in the link is the capability: anyone holding the link
/// can fetch the file (so it works in an `<img>` tag), nobody can guess one.
#[utoipa::path(get, path = "/files/{fileId}/{name}", tag = "comfy-manager",
    params(("fileId" = String, Path), ("name" = String, Path)),
    responses((status = 200, description = "the file's bytes", content(("image/*"), ("video/*"))),
        (status = 404, description = "unknown file")))]
async fn download(
    State(state): State<AppState>,
    PathArg((id, _name), ..): PathArg<ComfyManager, (String, String)>,
) -> Result<Response, Failure<ComfyManager>> {
    let record = state.files.get(&id).await?;
    let bytes = state.files.read(&record).await?;
    Ok(crate::file_io::serve(&record, bytes))
}
