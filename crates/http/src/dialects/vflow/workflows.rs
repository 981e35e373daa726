//! vflow `/workflows`: list, detail, create, update, delete, duplicate, enable, disable,
//! batch, magic variables and execute. Every rule lives in `gantry-automation`.

use super::{OptionalJson, owner};
use crate::envelope::{ApiResult, Reply, Vflow};
use crate::error::ApiError;
use crate::extract::{Auth, Body, PathArg, QueryArgs};
use crate::state::AppState;
use crate::urls;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use gantry_automation::StoredWorkflow;
use gantry_automation::executions::Execute;
use gantry_automation::workflows::{Batch, Draft, ListQuery, WorkflowSort};
use gantry_workflow_engine::Step;
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value, json};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(detail, update, delete))
        .routes(routes!(duplicate))
        .routes(routes!(enable))
        .routes(routes!(disable))
        .routes(routes!(batch))
        .routes(routes!(magic_variables))
        .routes(routes!(execute))
}

/// `Some(None)` for an explicit `null`, `None` when the field is absent.
pub(super) fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// The list item shape.
fn summary(w: &StoredWorkflow) -> Value {
    let wf = &w.workflow;
    let meta = wf.metadata.clone().unwrap_or_default();
    json!({
        "id": wf.id, "name": wf.name, "description": wf.description, "isEnabled": wf.is_enabled,
        "isFavorite": wf.is_favorite, "folderId": wf.folder_id, "order": wf.order, "stepCount": wf.steps.len(),
        "modifiedAt": wf.modified_at, "tags": wf.tags, "version": wf.version, "triggerConfig": wf.trigger_config,
        "maxExecutionTime": wf.max_execution_time, "author": meta.get("author"), "vFlowLevel": meta.get("vFlowLevel"),
        "nextRunAt": w.next_run_at,
    })
}

/// The detail shape: the whole workflow, its creation time and, for webhook-triggered
/// workflows, the secret webhook URL (shown to the owner only).
pub(super) fn detail_json(w: &StoredWorkflow, base: &str) -> Value {
    let mut v = serde_json::to_value(&w.workflow).unwrap_or(Value::Null);
    v["createdAt"] = json!(w.created_at);
    v["webhookUrl"] = json!(w.webhook_path.as_ref().map(|p| format!("{base}{p}")));
    v["nextRunAt"] = json!(w.next_run_at);
    v
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
struct ListParams {
    folder_id: Option<String>,
    /// Default true.
    include_disabled: Option<bool>,
    /// name, modifiedAt or order (default).
    sort_by: Option<String>,
    /// asc (default) or desc.
    order: Option<String>,
    /// Default 50, at most 500.
    limit: Option<i64>,
    offset: Option<i64>,
    search: Option<String>,
    /// Comma-separated; workflows with any of them.
    tags: Option<String>,
}

/// The caller's workflows.
#[utoipa::path(get, path = "/api/v1/workflows", tag = "vflow", security(("bearer" = [])), params(ListParams),
    responses((status = 200, description = "{workflows: [{id, name, description, isEnabled, isFavorite, folderId, order, stepCount, modifiedAt, tags, version, triggerConfig, maxExecutionTime, author, vFlowLevel}], total, limit, offset}"),
        (status = 400, description = "bad parameter")))]
async fn list(
    State(state): State<AppState>,
    Auth(caller, ..): Auth<Vflow>,
    QueryArgs(q, ..): QueryArgs<Vflow, ListParams>,
) -> ApiResult<Vflow, Value> {
    let sort = match q.sort_by.as_deref() {
        None | Some("order") => WorkflowSort::Position,
        Some("name") => WorkflowSort::Name,
        Some("modifiedAt") => WorkflowSort::ModifiedAt,
        Some(other) => {
            return Err(ApiError::bad_request(format!("sortBy `{other}`: use name, modifiedAt or order")).into());
        }
    };
    let descending = match q.order.as_deref() {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(other) => return Err(ApiError::bad_request(format!("order `{other}`: use asc or desc")).into()),
    };
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    let offset = q.offset.unwrap_or(0).max(0);
    let tags = q.tags.map(|t| t.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect());
    let query = ListQuery {
        folder_id: q.folder_id.filter(|f| !f.is_empty()),
        include_disabled: q.include_disabled.unwrap_or(true),
        sort,
        descending,
        limit,
        offset,
        search: q.search,
        tags: tags.unwrap_or_default(),
    };
    let (rows, total) = state.automation.list_workflows(owner(&caller), query).await?;
    let workflows: Vec<Value> = rows.iter().map(summary).collect();
    Ok(Reply::ok(json!({ "workflows": workflows, "total": total, "limit": limit, "offset": offset })))
}

/// One workflow.
#[utoipa::path(get, path = "/api/v1/workflows/{workflowId}", tag = "vflow", security(("bearer" = [])),
    params(("workflowId" = String, Path)),
    responses((status = 200, description = "the workflow with steps, triggerConfig, metadata, createdAt, webhookUrl, nextRunAt (ms; enabled cron-triggered workflows)"),
        (status = 404, description = "unknown workflow (1001)")))]
async fn detail(
    State(state): State<AppState>,
    headers: HeaderMap,
    Auth(caller, ..): Auth<Vflow>,
    PathArg(id, ..): PathArg<Vflow, String>,
) -> ApiResult<Vflow, Value> {
    let w = state.automation.workflow(owner(&caller), &id).await?;
    Ok(Reply::ok(detail_json(&w, &urls::public_base(&state, &headers))))
}

/// A workflow to create or the fields to change (all optional on update). Other fields
/// (`id`, `modifiedAt`, … of a fetched workflow) are ignored.
#[derive(Deserialize, ToSchema, Default)]
#[serde(rename_all = "camelCase")]
struct WorkflowBody {
    name: Option<String>,
    description: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    folder_id: Option<Option<String>>,
    is_enabled: Option<bool>,
    is_favorite: Option<bool>,
    order: Option<i64>,
    #[schema(value_type = Option<Vec<Object>>)]
    steps: Option<Vec<Step>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Object>)]
    trigger_config: Option<Option<Value>>,
    /// Seconds; 0 or null: unlimited.
    max_execution_time: Option<u64>,
    tags: Option<Vec<String>>,
    version: Option<String>,
    #[schema(value_type = Option<Object>)]
    metadata: Option<Map<String, Value>>,
}

impl From<WorkflowBody> for Draft {
    fn from(b: WorkflowBody) -> Self {
        Draft {
            name: b.name,
            description: b.description,
            folder_id: b.folder_id.map(|f| f.filter(|s| !s.is_empty())),
            is_enabled: b.is_enabled,
            is_favorite: b.is_favorite,
            order: b.order,
            steps: b.steps,
            trigger_config: b.trigger_config,
            max_execution_time: b.max_execution_time,
            tags: b.tags,
            version: b.version,
            metadata: b.metadata,
        }
    }
}

/// Create a workflow (disabled unless `isEnabled` is true).
#[utoipa::path(post, path = "/api/v1/workflows", tag = "vflow", security(("bearer" = [])), request_body = WorkflowBody,
    responses((status = 201, description = "{id, name, createdAt, isEnabled, webhookUrl}; the message says when it was created disabled"),
        (status = 400, description = "invalid workflow (1002), unknown module (2001), bad parameters (2002); details name the step and input"),
        (status = 404, description = "unknown folder (3001)"), (status = 409, description = "name taken in that folder (1004)")))]
async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    Auth(caller, ..): Auth<Vflow>,
    Body(body, ..): Body<Vflow, WorkflowBody>,
) -> ApiResult<Vflow, Value> {
    if body.name.is_none() {
        return Err(ApiError::bad_request("name is required").with_code(1002).into());
    }
    let w = state.automation.create_workflow(owner(&caller), body.into()).await?;
    let base = urls::public_base(&state, &headers);
    let message = if w.workflow.is_enabled {
        "Workflow created successfully".to_owned()
    } else {
        format!(
            "Workflow created successfully, disabled: enable it (POST /api/v1/workflows/{}/enable) before executing it",
            w.workflow.id
        )
    };
    let data = json!({
        "id": w.workflow.id, "name": w.workflow.name, "createdAt": w.created_at, "isEnabled": w.workflow.is_enabled,
        "webhookUrl": w.webhook_path.map(|p| format!("{base}{p}")),
    });
    Ok(Reply::with_message(message, data).status(StatusCode::CREATED))
}

/// Change a workflow; the result is validated like a new one.
#[utoipa::path(put, path = "/api/v1/workflows/{workflowId}", tag = "vflow", security(("bearer" = [])),
    params(("workflowId" = String, Path)), request_body = WorkflowBody,
    responses((status = 200, description = "{id, updatedAt, webhookUrl}"), (status = 400, description = "invalid (1002/2001/2002)"),
        (status = 404, description = "unknown workflow (1001) or folder (3001)"), (status = 409, description = "name taken (1004)")))]
async fn update(
    State(state): State<AppState>,
    headers: HeaderMap,
    Auth(caller, ..): Auth<Vflow>,
    PathArg(id, ..): PathArg<Vflow, String>,
    Body(body, ..): Body<Vflow, WorkflowBody>,
) -> ApiResult<Vflow, Value> {
    let w = state.automation.update_workflow(owner(&caller), &id, body.into()).await?;
    let base = urls::public_base(&state, &headers);
    let data = json!({
        "id": w.workflow.id, "updatedAt": w.workflow.modified_at,
        "webhookUrl": w.webhook_path.map(|p| format!("{base}{p}")),
    });
    Ok(Reply::with_message("Workflow updated successfully", data))
}

/// Delete a workflow (its execution history stays).
#[utoipa::path(delete, path = "/api/v1/workflows/{workflowId}", tag = "vflow", security(("bearer" = [])),
    params(("workflowId" = String, Path)),
    responses((status = 200, description = "{deleted, deletedAt}"), (status = 404, description = "unknown workflow (1001)")))]
async fn delete(
    State(state): State<AppState>,
    Auth(caller, ..): Auth<Vflow>,
    PathArg(id, ..): PathArg<Vflow, String>,
) -> ApiResult<Vflow, Value> {
    state.automation.delete_workflow(owner(&caller), &id).await?;
    Ok(Reply::with_message(
        "Workflow deleted successfully",
        json!({ "deleted": true, "deletedAt": state.clock.now_ms() }),
    ))
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DuplicateBody {
    new_name: Option<String>,
    /// null: the root; absent: the original's folder.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    target_folder_id: Option<Option<String>>,
}

/// Copy a workflow (the copy starts disabled).
#[utoipa::path(post, path = "/api/v1/workflows/{workflowId}/duplicate", tag = "vflow", security(("bearer" = [])),
    params(("workflowId" = String, Path)), request_body = DuplicateBody,
    responses((status = 201, description = "{newWorkflowId, name, createdAt}"), (status = 404, description = "unknown workflow (1001) or folder (3001)"),
        (status = 409, description = "name taken (1004)")))]
async fn duplicate(
    State(state): State<AppState>,
    Auth(caller, ..): Auth<Vflow>,
    PathArg(id, ..): PathArg<Vflow, String>,
    OptionalJson(body): OptionalJson<DuplicateBody>,
) -> ApiResult<Vflow, Value> {
    let folder = body.target_folder_id.map(|f| f.filter(|s| !s.is_empty()));
    let w = state.automation.duplicate_workflow(owner(&caller), &id, body.new_name, folder).await?;
    let data = json!({ "newWorkflowId": w.workflow.id, "name": w.workflow.name, "createdAt": w.created_at });
    Ok(Reply::with_message("Workflow duplicated successfully", data).status(StatusCode::CREATED))
}

async fn switch(state: &AppState, caller: &gantry_accounts::Principal, id: &str, on: bool) -> ApiResult<Vflow, Value> {
    let w = state.automation.set_enabled(owner(caller), id, on).await?;
    let data = json!({ "id": w.workflow.id, "isEnabled": w.workflow.is_enabled, "updatedAt": w.workflow.modified_at });
    Ok(Reply::with_message(if on { "Workflow enabled" } else { "Workflow disabled" }, data))
}

/// Enable a workflow (its triggers start firing).
#[utoipa::path(post, path = "/api/v1/workflows/{workflowId}/enable", tag = "vflow", security(("bearer" = [])),
    params(("workflowId" = String, Path)),
    responses((status = 200, description = "{id, isEnabled, updatedAt}"), (status = 404, description = "unknown workflow (1001)")))]
async fn enable(
    State(state): State<AppState>,
    Auth(caller, ..): Auth<Vflow>,
    PathArg(id, ..): PathArg<Vflow, String>,
) -> ApiResult<Vflow, Value> {
    switch(&state, &caller, &id, true).await
}

/// Disable a workflow.
#[utoipa::path(post, path = "/api/v1/workflows/{workflowId}/disable", tag = "vflow", security(("bearer" = [])),
    params(("workflowId" = String, Path)),
    responses((status = 200, description = "{id, isEnabled, updatedAt}"), (status = 404, description = "unknown workflow (1001)")))]
async fn disable(
    State(state): State<AppState>,
    Auth(caller, ..): Auth<Vflow>,
    PathArg(id, ..): PathArg<Vflow, String>,
) -> ApiResult<Vflow, Value> {
    switch(&state, &caller, &id, false).await
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct BatchBody {
    /// delete, enable, disable or move.
    action: String,
    workflow_ids: Vec<String>,
    /// For move; null or absent: the root.
    target_folder_id: Option<String>,
}

/// Delete, enable, disable or move several workflows in one transaction.
#[utoipa::path(post, path = "/api/v1/workflows/batch", tag = "vflow", security(("bearer" = [])), request_body = BatchBody,
    responses((status = 200, description = "{succeeded: [id], failed: [{workflowId, reason}], skipped: [{workflowId, reason}]}"),
        (status = 400, description = "unknown action or no ids"), (status = 404, description = "unknown target folder (3001)")))]
async fn batch(
    State(state): State<AppState>,
    Auth(caller, ..): Auth<Vflow>,
    Body(body, ..): Body<Vflow, BatchBody>,
) -> ApiResult<Vflow, Value> {
    let action = match body.action.as_str() {
        "delete" => Batch::Delete,
        "enable" => Batch::Enable,
        "disable" => Batch::Disable,
        "move" => Batch::Move(body.target_folder_id.filter(|f| !f.is_empty())),
        other => {
            return Err(ApiError::bad_request(format!("action `{other}`: use delete, enable, disable or move"))
                .with_code(1002)
                .into());
        }
    };
    let out = state.automation.batch(owner(&caller), action, &body.workflow_ids).await?;
    let pairs = |v: &[(String, String)]| -> Vec<Value> {
        v.iter().map(|(id, reason)| json!({ "workflowId": id, "reason": reason })).collect()
    };
    let data = json!({ "succeeded": out.succeeded, "failed": pairs(&out.failed), "skipped": pairs(&out.skipped) });
    Ok(Reply::with_message("Batch operation completed", data))
}

/// What the workflow's steps can reference.
#[utoipa::path(get, path = "/api/v1/workflows/{workflowId}/magic-variables", tag = "vflow", security(("bearer" = [])),
    params(("workflowId" = String, Path)),
    responses((status = 200, description = "{magicVariables, systemVariables}"), (status = 404, description = "unknown workflow (1001)")))]
async fn magic_variables(
    State(state): State<AppState>,
    Auth(caller, ..): Auth<Vflow>,
    PathArg(id, ..): PathArg<Vflow, String>,
) -> ApiResult<Vflow, gantry_workflow_engine::MagicVariables> {
    Ok(Reply::ok(state.automation.magic_variables(owner(&caller), &id).await?))
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ExecuteBody {
    /// `{name: {type, value}}` or `{name: value}`, readable as `{{vars.name}}`.
    #[schema(value_type = Option<Object>)]
    input_variables: Option<Map<String, Value>>,
    /// Default true.
    #[serde(rename = "async")]
    asynchronous: Option<bool>,
    /// Seconds; the run ends `timeout` past it (or past maxExecutionTime, whichever is less).
    timeout: Option<u64>,
}

/// Run a workflow: 202 at once (async, the default) or 200 with outputs when it ends.
#[utoipa::path(post, path = "/api/v1/workflows/{workflowId}/execute", tag = "vflow", security(("bearer" = [])),
    params(("workflowId" = String, Path)), request_body = ExecuteBody,
    responses((status = 202, description = "{executionId, workflowId, status: running, startedAt}"),
        (status = 200, description = "sync: {executionId, workflowId, status, startedAt, completedAt, duration, outputs, variables, error}"),
        (status = 404, description = "unknown workflow (1001)"), (status = 409, description = "disabled, or too many runs (1003)"),
        (status = 422, description = "the workflow does not validate (1002)")))]
async fn execute(
    State(state): State<AppState>,
    Auth(caller, ..): Auth<Vflow>,
    PathArg(id, ..): PathArg<Vflow, String>,
    OptionalJson(body): OptionalJson<ExecuteBody>,
) -> ApiResult<Vflow, Value> {
    let asynchronous = body.asynchronous.unwrap_or(true);
    let req =
        Execute { input_variables: body.input_variables.unwrap_or_default(), asynchronous, timeout_secs: body.timeout };
    let e = state.automation.execute(owner(&caller), &id, req).await?;
    if asynchronous {
        let data =
            json!({ "executionId": e.id, "workflowId": e.workflow_id, "status": e.status, "startedAt": e.started_at });
        return Ok(Reply::with_message("Workflow execution started", data).status(StatusCode::ACCEPTED));
    }
    let message =
        if e.status == "completed" { "Workflow completed".to_owned() } else { format!("Workflow {}", e.status) };
    Ok(Reply::with_message(message, super::executions::execution_json(&e)))
}
