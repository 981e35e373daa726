//! vflow `/executions`: status, stop, logs, history and deletion.

use super::owner;
use crate::envelope::{ApiResult, Reply, Vflow};
use crate::error::ApiError;
use crate::extract::{Auth, PathArg, QueryArgs};
use crate::state::AppState;
use axum::extract::State;
use gantry_automation::executions::{Deletion, ExecutionRecord, History, LogRecord};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(history, delete))
        .routes(routes!(status))
        .routes(routes!(stop))
        .routes(routes!(logs))
}

fn parsed(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

/// The full execution shape.
pub(super) fn execution_json(e: &ExecutionRecord) -> Value {
    json!({
        "executionId": e.id, "workflowId": e.workflow_id, "workflowName": e.workflow_name, "status": e.status,
        "currentStepIndex": e.current_step_index, "totalSteps": e.total_steps,
        "currentStep": e.current_step.as_deref().map(parsed), "startedAt": e.started_at,
        "completedAt": e.completed_at, "duration": e.duration(), "outputs": parsed(&e.outputs),
        "error": e.error, "variables": parsed(&e.variables), "triggeredBy": e.triggered_by,
    })
}

/// One execution: status, progress, outputs, variables, error.
#[utoipa::path(get, path = "/api/v1/executions/{executionId}", tag = "vflow", security(("bearer" = [])),
    params(("executionId" = String, Path)),
    responses((status = 200, description = "{executionId, workflowId, workflowName, status, currentStepIndex, totalSteps, currentStep, startedAt, completedAt, duration, outputs, error, variables}"),
        (status = 404, description = "unknown execution (5001)")))]
async fn status(
    State(state): State<AppState>,
    Auth(caller, ..): Auth<Vflow>,
    PathArg(id, ..): PathArg<Vflow, String>,
) -> ApiResult<Vflow, Value> {
    Ok(Reply::ok(execution_json(&state.automation.execution(owner(&caller), &id).await?)))
}

/// Stop a running execution (it ends `cancelled`).
#[utoipa::path(post, path = "/api/v1/executions/{executionId}/stop", tag = "vflow", security(("bearer" = [])),
    params(("executionId" = String, Path)),
    responses((status = 200, description = "{executionId, stoppedAt, status: cancelled}"), (status = 404, description = "unknown execution (5001)"),
        (status = 409, description = "already stopped (5002)")))]
async fn stop(
    State(state): State<AppState>,
    Auth(caller, ..): Auth<Vflow>,
    PathArg(id, ..): PathArg<Vflow, String>,
) -> ApiResult<Vflow, Value> {
    let e = state.automation.stop(owner(&caller), &id).await?;
    Ok(Reply::with_message(
        "Execution stopped",
        json!({ "executionId": e.id, "stoppedAt": e.completed_at, "status": e.status }),
    ))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
struct LogParams {
    /// info, warning or error.
    level: Option<String>,
    step_index: Option<i64>,
    /// Default 100, at most 1000.
    limit: Option<i64>,
    offset: Option<i64>,
}

fn log_json(l: &LogRecord) -> Value {
    json!({
        "timestamp": l.timestamp, "level": l.level, "stepIndex": l.step_index, "moduleId": l.module_id,
        "message": l.message, "details": l.details.as_deref().map_or(Value::Null, parsed),
    })
}

/// An execution's log, oldest first.
#[utoipa::path(get, path = "/api/v1/executions/{executionId}/logs", tag = "vflow", security(("bearer" = [])),
    params(("executionId" = String, Path), LogParams),
    responses((status = 200, description = "{logs: [{timestamp, level, stepIndex, moduleId, message, details}], total, limit, offset}"),
        (status = 404, description = "unknown execution (5001)")))]
async fn logs(
    State(state): State<AppState>,
    Auth(caller, ..): Auth<Vflow>,
    PathArg(id, ..): PathArg<Vflow, String>,
    QueryArgs(q, ..): QueryArgs<Vflow, LogParams>,
) -> ApiResult<Vflow, Value> {
    let (limit, offset) = (q.limit.unwrap_or(100).clamp(1, 1000), q.offset.unwrap_or(0).max(0));
    let (lines, total) = state.automation.logs(owner(&caller), &id, q.level, q.step_index, limit, offset).await?;
    let logs: Vec<Value> = lines.iter().map(log_json).collect();
    Ok(Reply::ok(json!({ "logs": logs, "total": total, "limit": limit, "offset": offset })))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
struct HistoryParams {
    workflow_id: Option<String>,
    /// running, completed, failed, cancelled or timeout.
    status: Option<String>,
    /// Started at or after, ms.
    start_date: Option<i64>,
    /// Started at or before, ms.
    end_date: Option<i64>,
    /// Default 20, at most 500.
    limit: Option<i64>,
    offset: Option<i64>,
}

/// The caller's executions, newest first.
#[utoipa::path(get, path = "/api/v1/executions", tag = "vflow", security(("bearer" = [])), params(HistoryParams),
    responses((status = 200, description = "{executions: [{executionId, workflowId, workflowName, status, startedAt, completedAt, duration, triggeredBy, error?}], total, limit, offset}")))]
async fn history(
    State(state): State<AppState>,
    Auth(caller, ..): Auth<Vflow>,
    QueryArgs(q, ..): QueryArgs<Vflow, HistoryParams>,
) -> ApiResult<Vflow, Value> {
    let (limit, offset) = (q.limit.unwrap_or(20).clamp(1, 500), q.offset.unwrap_or(0).max(0));
    let query = History {
        workflow_id: q.workflow_id,
        status: q.status,
        start_date: q.start_date,
        end_date: q.end_date,
        limit,
        offset,
    };
    let (rows, total) = state.automation.history(owner(&caller), query).await?;
    let executions: Vec<Value> = rows
        .iter()
        .map(|e| {
            let mut v = json!({
                "executionId": e.id, "workflowId": e.workflow_id, "workflowName": e.workflow_name, "status": e.status,
                "startedAt": e.started_at, "completedAt": e.completed_at, "duration": e.duration(), "triggeredBy": e.triggered_by,
            });
            if let Some(error) = &e.error {
                v["error"] = json!(error);
            }
            v
        })
        .collect();
    Ok(Reply::ok(json!({ "executions": executions, "total": total, "limit": limit, "offset": offset })))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
struct DeleteParams {
    execution_id: Option<String>,
    workflow_id: Option<String>,
    /// Ended executions started before this, ms.
    older_than: Option<i64>,
}

/// Delete execution history: one execution, a workflow's, or everything older than a time.
#[utoipa::path(delete, path = "/api/v1/executions", tag = "vflow", security(("bearer" = [])), params(DeleteParams),
    responses((status = 200, description = "{deletedCount}"), (status = 400, description = "no selector, or a running execution"),
        (status = 404, description = "unknown execution (5001)")))]
async fn delete(
    State(state): State<AppState>,
    Auth(caller, ..): Auth<Vflow>,
    QueryArgs(q, ..): QueryArgs<Vflow, DeleteParams>,
) -> ApiResult<Vflow, Value> {
    let which = match (q.execution_id, q.workflow_id, q.older_than) {
        (Some(id), None, None) => Deletion::One(id),
        (None, Some(id), None) => Deletion::OfWorkflow(id),
        (None, None, Some(ms)) => Deletion::OlderThan(ms),
        _ => return Err(ApiError::bad_request("give exactly one of executionId, workflowId, olderThan").into()),
    };
    let n = state.automation.delete_executions(owner(&caller), which).await?;
    Ok(Reply::with_message("Execution history deleted", json!({ "deletedCount": n })))
}
