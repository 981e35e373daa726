//! vflow import/export: one workflow as JSON or ZIP, several as a ZIP, and imports of a
//! JSON or ZIP file from multipart uploads (limits enforced while reading).

use super::owner;
use crate::envelope::{Failure, Reply, Vflow};
use crate::error::{ApiError, ErrorKind};
use crate::extract::{Auth, Body, PathArg, QueryArgs};
use crate::state::AppState;
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Request, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use gantry_automation::transfer::{ExportFile, ImportOptions, ImportReport};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    let uploads = OpenApiRouter::new()
        .routes(routes!(import))
        .routes(routes!(import_batch))
        // The import routes count bytes themselves against `automation.max_import_bytes`.
        .layer(DefaultBodyLimit::disable());
    OpenApiRouter::new().routes(routes!(export)).routes(routes!(export_batch)).merge(uploads)
}

fn zip_response(file: ExportFile) -> Response {
    let disposition = format!("attachment; filename=\"{}\"", file.filename);
    ([(header::CONTENT_TYPE, "application/zip".to_owned()), (header::CONTENT_DISPOSITION, disposition)], file.bytes)
        .into_response()
}

fn format_of(format: Option<String>) -> Result<bool, Failure<Vflow>> {
    match format.as_deref() {
        None | Some("json") => Ok(false),
        Some("zip") => Ok(true),
        Some(other) => Err(ApiError::bad_request(format!("format `{other}`: use json or zip")).with_code(8001).into()),
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
struct ExportParams {
    /// json (default) or zip.
    format: Option<String>,
    /// Default true.
    include_steps: Option<bool>,
}

/// Export a workflow as JSON (in the envelope) or as a ZIP download.
#[utoipa::path(get, path = "/api/v1/workflows/{workflowId}/export", tag = "vflow", security(("bearer" = [])),
    params(("workflowId" = String, Path), ExportParams),
    responses((status = 200, description = "{workflow, exportedAt, format, formatVersion}, or a ZIP (format=zip)",
            content(("application/json"), ("application/zip"))),
        (status = 404, description = "unknown workflow (1001)")))]
async fn export(
    State(state): State<AppState>,
    Auth(caller, ..): Auth<Vflow>,
    PathArg(id, ..): PathArg<Vflow, String>,
    QueryArgs(q, ..): QueryArgs<Vflow, ExportParams>,
) -> Result<Response, Failure<Vflow>> {
    let include_steps = q.include_steps.unwrap_or(true);
    if format_of(q.format)? {
        let file = state.automation.export_zip(owner(&caller), &[id], include_steps).await?;
        return Ok(zip_response(file));
    }
    let mut doc = state.automation.export_json(owner(&caller), &id, include_steps).await?;
    doc["format"] = json!("json");
    Ok(Reply::<Vflow, Value>::ok(doc).into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ExportBatchBody {
    workflow_ids: Vec<String>,
    /// zip (the only batch format).
    format: Option<String>,
    include_steps: Option<bool>,
}

/// Export several workflows as one ZIP (one JSON file each).
#[utoipa::path(post, path = "/api/v1/workflows/export-batch", tag = "vflow", security(("bearer" = [])), request_body = ExportBatchBody,
    responses((status = 200, description = "a ZIP of one JSON file per workflow", content(("application/zip"))),
        (status = 404, description = "an unknown workflow (1001)")))]
async fn export_batch(
    State(state): State<AppState>,
    Auth(caller, ..): Auth<Vflow>,
    Body(body, ..): Body<Vflow, ExportBatchBody>,
) -> Result<Response, Failure<Vflow>> {
    if body.format.as_deref().is_some_and(|f| f != "zip") {
        return Err(ApiError::bad_request("batch exports are ZIP files (format: zip)").with_code(8001).into());
    }
    let file =
        state.automation.export_zip(owner(&caller), &body.workflow_ids, body.include_steps.unwrap_or(true)).await?;
    Ok(zip_response(file))
}

/// A multipart import request: `file`, `override`, `folderId`.
struct Upload {
    bytes: Vec<u8>,
    options: ImportOptions,
}

/// Reads the form, refusing a file over `max` bytes as it streams in.
async fn read_upload(request: Request, max: usize) -> Result<Upload, Failure<Vflow>> {
    let bad = |m: String| ApiError::bad_request(m).with_code(8001);
    let mut form = Multipart::from_request(request, &())
        .await
        .map_err(|e| bad(format!("expected multipart/form-data with a `file`: {e}")))?;
    let too_large =
        || ApiError::new(ErrorKind::PayloadTooLarge, format!("files are limited to {max} bytes")).with_code(8002);
    let mut file = None;
    let mut options = ImportOptions::default();
    while let Some(mut field) = form.next_field().await.map_err(|e| bad(format!("unreadable form: {e}")))? {
        let name = field.name().unwrap_or_default().to_owned();
        let limit = if name == "file" { max } else { 1024 };
        let mut data = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(|e| bad(format!("unreadable form: {e}")))? {
            if data.len() + chunk.len() > limit {
                return Err(
                    if name == "file" { too_large() } else { bad(format!("field `{name}` is too long")) }.into()
                );
            }
            data.extend_from_slice(&chunk);
        }
        let text = || String::from_utf8_lossy(&data).trim().to_owned();
        match name.as_str() {
            "file" => file = Some(data),
            "override" => options.replace = matches!(text().as_str(), "true" | "1" | "yes"),
            "folderId" => options.folder_id = Some(text()).filter(|f| !f.is_empty()),
            _ => {}
        }
    }
    let bytes = file.ok_or_else(|| bad("the form has no `file` field".into()))?;
    if bytes.is_empty() {
        return Err(bad("the file is empty".into()).into());
    }
    Ok(Upload { bytes, options })
}

fn report_json(r: &ImportReport) -> Value {
    json!({
        "imported": r.imported.iter().map(|(id, name)| json!({ "workflowId": id, "name": name })).collect::<Vec<_>>(),
        "skipped": r.skipped.iter().map(|(name, reason)| json!({ "name": name, "reason": reason })).collect::<Vec<_>>(),
        "errors": r.errors.iter().map(|(file, error)| json!({ "filename": file, "error": error })).collect::<Vec<_>>(),
        "total": r.total(),
        "importedCount": r.imported.len(),
        "skippedCount": r.skipped.len(),
        "errorCount": r.errors.len(),
    })
}

/// The answer's message: `done` when everything was imported, else the counts.
fn report_message(r: &ImportReport, done: &str) -> String {
    if r.skipped.is_empty() && r.errors.is_empty() && !r.imported.is_empty() {
        return done.to_owned();
    }
    format!("{} imported, {} skipped, {} failed", r.imported.len(), r.skipped.len(), r.errors.len())
}

/// Runs an import; its answer's data and message.
async fn run_import(
    state: &AppState,
    caller: &gantry_accounts::Principal,
    request: Request,
    done: &str,
) -> Result<(Value, String), Failure<Vflow>> {
    let upload = read_upload(request, state.config.automation.max_import_bytes).await?;
    let report = state.automation.import(owner(caller), upload.bytes, upload.options).await?;
    Ok((report_json(&report), report_message(&report, done)))
}

/// Import a workflow file (JSON, or a ZIP of them). Multipart: file, override, folderId.
#[utoipa::path(post, path = "/api/v1/workflows/import", tag = "vflow", security(("bearer" = [])),
    request_body(content_type = "multipart/form-data", description = "file (JSON or ZIP), override (boolean), folderId"),
    responses((status = 200, description = "{imported: [{workflowId, name}], skipped: [{name, reason}], errors: [{filename, error}], total, importedCount, skippedCount, errorCount}; the message gives the counts unless all were imported"),
        (status = 400, description = "not a workflow file (8001) or invalid workflow (1002/2002)"),
        (status = 404, description = "unknown folder (3001)"), (status = 413, description = "too large, too many entries or a ZIP bomb (8002)")))]
async fn import(
    State(state): State<AppState>,
    Auth(caller, ..): Auth<Vflow>,
    request: Request,
) -> Result<Response, Failure<Vflow>> {
    let (data, message) = run_import(&state, &caller, request, "Workflow imported successfully").await?;
    Ok(Reply::<Vflow, Value>::with_message(message, data).into_response())
}

/// Import a ZIP of workflow files, with per-file errors. Multipart: file, override, folderId.
#[utoipa::path(post, path = "/api/v1/workflows/import-batch", tag = "vflow", security(("bearer" = [])),
    request_body(content_type = "multipart/form-data", description = "file (ZIP), override (boolean), folderId"),
    responses((status = 200, description = "{imported, skipped, errors, total, importedCount, skippedCount, errorCount}"),
        (status = 400, description = "not a ZIP of workflow files (8001)"), (status = 413, description = "too large (8002)")))]
async fn import_batch(
    State(state): State<AppState>,
    Auth(caller, ..): Auth<Vflow>,
    request: Request,
) -> Result<Response, Failure<Vflow>> {
    let (data, message) = run_import(&state, &caller, request, "Batch import completed").await?;
    Ok(Reply::<Vflow, Value>::with_message(message, data).into_response())
}
