//! vflow `/folders`: list, detail, create, update, delete.

use super::owner;
use super::workflows::nullable;
use crate::envelope::{ApiResult, Reply, Vflow};
use crate::error::ApiError;
use crate::extract::{Auth, Body, PathArg, QueryArgs};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use gantry_automation::folders::{Contents, FolderSummary, Parent};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list, create)).routes(routes!(detail, update, delete))
}

fn folder_json(f: &FolderSummary) -> Value {
    let r = &f.folder;
    json!({
        "id": r.id, "name": r.name, "parentId": r.parent_id, "order": r.position,
        "workflowCount": f.workflow_count, "subfolderCount": f.subfolder_count,
        "createdAt": r.created_at, "modifiedAt": r.modified_at,
    })
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
struct ListParams {
    /// A folder id; empty or `null`: root folders; absent: every folder.
    parent_id: Option<String>,
}

/// The caller's folders.
#[utoipa::path(get, path = "/api/v1/folders", tag = "vflow", security(("bearer" = [])), params(ListParams),
    responses((status = 200, description = "{folders: [{id, name, parentId, order, workflowCount, subfolderCount, createdAt, modifiedAt}], total}"),
        (status = 404, description = "unknown parent (3001)")))]
async fn list(
    State(state): State<AppState>,
    Auth(caller, ..): Auth<Vflow>,
    QueryArgs(q, ..): QueryArgs<Vflow, ListParams>,
) -> ApiResult<Vflow, Value> {
    let parent = match q.parent_id.as_deref() {
        None => Parent::Any,
        Some("" | "null") => Parent::Root,
        Some(id) => Parent::Of(id.to_owned()),
    };
    let folders: Vec<Value> =
        state.automation.list_folders(owner(&caller), parent).await?.iter().map(folder_json).collect();
    let total = folders.len();
    Ok(Reply::ok(json!({ "folders": folders, "total": total })))
}

/// One folder with its workflows and subfolders.
#[utoipa::path(get, path = "/api/v1/folders/{folderId}", tag = "vflow", security(("bearer" = [])),
    params(("folderId" = String, Path)),
    responses((status = 200, description = "the folder with workflows [{id, name, isEnabled, order}] and subfolders [{id, name, order}]"),
        (status = 404, description = "unknown folder (3001)")))]
async fn detail(
    State(state): State<AppState>,
    Auth(caller, ..): Auth<Vflow>,
    PathArg(id, ..): PathArg<Vflow, String>,
) -> ApiResult<Vflow, Value> {
    let d = state.automation.folder_detail(owner(&caller), &id).await?;
    let mut v = folder_json(&d.summary);
    v["workflows"] = d
        .workflows
        .iter()
        .map(|w| json!({ "id": w.id, "name": w.name, "isEnabled": w.is_enabled, "order": w.position }))
        .collect();
    v["subfolders"] = d
        .subfolders
        .iter()
        .map(|f| json!({ "id": f.folder.id, "name": f.folder.name, "order": f.folder.position }))
        .collect();
    Ok(Reply::ok(v))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct NewFolderBody {
    name: String,
    parent_id: Option<String>,
    order: Option<i64>,
}

/// Create a folder.
#[utoipa::path(post, path = "/api/v1/folders", tag = "vflow", security(("bearer" = [])), request_body = NewFolderBody,
    responses((status = 201, description = "{id, name, createdAt}"), (status = 400, description = "bad name (1002)"),
        (status = 404, description = "unknown parent (3001)"), (status = 409, description = "name taken among siblings (1004)")))]
async fn create(
    State(state): State<AppState>,
    Auth(caller, ..): Auth<Vflow>,
    Body(body, ..): Body<Vflow, NewFolderBody>,
) -> ApiResult<Vflow, Value> {
    let parent = body.parent_id.as_deref().filter(|p| !p.is_empty());
    let f = state.automation.create_folder(owner(&caller), &body.name, parent, body.order.unwrap_or(0)).await?;
    let data = json!({ "id": f.id, "name": f.name, "createdAt": f.created_at });
    Ok(Reply::with_message("Folder created successfully", data).status(StatusCode::CREATED))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FolderChangeBody {
    name: Option<String>,
    /// null: move to the root.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    parent_id: Option<Option<String>>,
    order: Option<i64>,
}

/// Rename, move or reorder a folder (never under itself).
#[utoipa::path(put, path = "/api/v1/folders/{folderId}", tag = "vflow", security(("bearer" = [])),
    params(("folderId" = String, Path)), request_body = FolderChangeBody,
    responses((status = 200, description = "{id, updatedAt}"), (status = 400, description = "bad name or a cycle (1002)"),
        (status = 404, description = "unknown folder or parent (3001)"), (status = 409, description = "name taken (1004)")))]
async fn update(
    State(state): State<AppState>,
    Auth(caller, ..): Auth<Vflow>,
    PathArg(id, ..): PathArg<Vflow, String>,
    Body(body, ..): Body<Vflow, FolderChangeBody>,
) -> ApiResult<Vflow, Value> {
    let parent = body.parent_id.map(|p| p.filter(|s| !s.is_empty()));
    let f = state.automation.update_folder(owner(&caller), &id, body.name.as_deref(), parent, body.order).await?;
    Ok(Reply::with_message("Folder updated successfully", json!({ "id": f.id, "updatedAt": f.modified_at })))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
struct DeleteParams {
    /// Delete the folder's workflows and subfolders too.
    delete_workflows: Option<bool>,
    /// Move its workflows and subfolders to this folder (`root`: the root).
    move_workflows_to: Option<String>,
}

/// Delete a folder; a non-empty one needs deleteWorkflows or moveWorkflowsTo.
#[utoipa::path(delete, path = "/api/v1/folders/{folderId}", tag = "vflow", security(("bearer" = [])),
    params(("folderId" = String, Path), DeleteParams),
    responses((status = 200, description = "{deleted, deletedAt, workflowsDeleted, workflowsMoved}"),
        (status = 400, description = "not empty and no action given (3002)"), (status = 404, description = "unknown folder (3001)"),
        (status = 409, description = "a moved workflow's or folder's name is taken where it goes (1004)")))]
async fn delete(
    State(state): State<AppState>,
    Auth(caller, ..): Auth<Vflow>,
    PathArg(id, ..): PathArg<Vflow, String>,
    QueryArgs(q, ..): QueryArgs<Vflow, DeleteParams>,
) -> ApiResult<Vflow, Value> {
    let contents = match (q.delete_workflows.unwrap_or(false), q.move_workflows_to) {
        (true, Some(_)) => {
            return Err(ApiError::bad_request("give deleteWorkflows or moveWorkflowsTo, not both").into());
        }
        (true, None) => Contents::Delete,
        (false, Some(t)) if t.is_empty() || t == "root" => Contents::MoveTo(None),
        (false, Some(t)) => Contents::MoveTo(Some(t)),
        (false, None) => Contents::Keep,
    };
    let done = state.automation.delete_folder(owner(&caller), &id, contents).await?;
    let data = json!({
        "deleted": true, "deletedAt": state.clock.now_ms(),
        "workflowsDeleted": done.workflows_deleted, "workflowsMoved": done.workflows_moved,
    });
    Ok(Reply::with_message("Folder deleted successfully", data))
}
