//! star-graph `/tasks`: the caller's tasks (the same tasks comfy-manager shows), with
//! results and thumbnails, cancel with refund, and retry as a new charge.

use super::{Page, PageRequest, failure_code, status_name, statuses_named};
use crate::envelope::{ApiResult, Reply, StarGraph};
use crate::error::ApiError;
use crate::extract::{Auth, PathArg, QueryArgs, caller};
use crate::state::AppState;
use crate::urls;
use axum::extract::State;
use axum::http::HeaderMap;
use gantry_core::clock::iso_seconds;
use gantry_dispatch::{TaskFilter, TaskRecord};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(detail, cancel))
        .routes(routes!(retry))
        .routes(routes!(admin_list))
}

fn meta(task: &TaskRecord) -> Value {
    task.meta.as_deref().and_then(|m| serde_json::from_str(m).ok()).unwrap_or(Value::Null)
}

#[derive(Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
struct ListQuery {
    page: Option<i64>,
    page_size: Option<i64>,
    /// PENDING, PROCESSING, COMPLETED, FAILED or CANCELLED.
    status: Option<String>,
    /// TEXT2IMG, IMG2IMG, UPSCALE, POSE, TEXT2VIDEO, IMG2VIDEO.
    r#type: Option<String>,
    /// `createTime` (the only sort key).
    sort: Option<String>,
    /// asc or desc (default).
    order: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct TaskSummary {
    id: String,
    r#type: String,
    status: &'static str,
    progress: i64,
    prompt: Option<String>,
    results: Vec<String>,
    cost: i64,
    create_time: String,
    complete_time: Option<String>,
}

/// The caller's tasks, a page at a time.
#[utoipa::path(get, path = "/api/v1/tasks", tag = "star-graph", security(("bearer" = [])), params(ListQuery),
    responses((status = 200, body = Page<TaskSummary>), (status = 400, description = "unknown status, type or sort")))]
async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    Auth(principal, ..): Auth<StarGraph>,
    QueryArgs(q, ..): QueryArgs<StarGraph, ListQuery>,
) -> ApiResult<StarGraph, Page<TaskSummary>> {
    page_of(&state, &headers, &principal, q, Some(principal.user_id)).await
}

/// Every user's tasks (admins), a page at a time; `userId` narrows to one user.
#[utoipa::path(get, path = "/api/v1/admin/tasks", tag = "star-graph", security(("bearer" = ["admin"])),
    params(ListQuery, ("userId" = Option<i64>, Query)),
    responses((status = 200, body = Page<TaskSummary>), (status = 400, description = "unknown status, type or sort")))]
async fn admin_list(
    State(state): State<AppState>,
    headers: HeaderMap,
    Auth(principal, ..): Auth<StarGraph>,
    QueryArgs(q, ..): QueryArgs<StarGraph, ListQuery>,
    QueryArgs(owner, ..): QueryArgs<StarGraph, OwnerQuery>,
) -> ApiResult<StarGraph, Page<TaskSummary>> {
    principal.require_admin()?;
    page_of(&state, &headers, &principal, q, owner.user_id).await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OwnerQuery {
    user_id: Option<i64>,
}

async fn page_of(
    state: &AppState,
    headers: &HeaderMap,
    principal: &gantry_accounts::Principal,
    q: ListQuery,
    owner: Option<i64>,
) -> ApiResult<StarGraph, Page<TaskSummary>> {
    let statuses = match q.status.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => statuses_named(s).ok_or_else(|| ApiError::bad_request(format!("unknown status `{s}`")))?,
        None => Vec::new(),
    };
    let kind = match q.r#type.as_deref().filter(|t| !t.is_empty()) {
        Some(t) => Some(
            gantry_generation::Kind::parse(t).ok_or_else(|| ApiError::bad_request(format!("unknown type `{t}`")))?,
        ),
        None => None,
    };
    if q.sort.as_deref().is_some_and(|s| !s.is_empty() && s != "createTime") {
        return Err(ApiError::bad_request("sort must be createTime").into());
    }
    let ascending = match q.order.as_deref() {
        None | Some("") | Some("desc") => false,
        Some("asc") => true,
        Some(other) => return Err(ApiError::bad_request(format!("order must be asc or desc, not `{other}`")).into()),
    };
    let (page, size, offset) = PageRequest { page: q.page, page_size: q.page_size }.resolve()?;
    let filter = TaskFilter {
        user_id: owner,
        statuses,
        kind: kind.map(|k| k.type_name().to_owned()),
        limit: size,
        offset,
        ascending,
        ..TaskFilter::default()
    };
    // One page is three queries whatever its size: the tasks, then their results and their
    // charges in one query each, at once.
    let (tasks, total) = state.dispatcher.list(caller(principal), filter).await?;
    let ids: Vec<String> = tasks.iter().map(|t| t.id.clone()).collect();
    let (results, costs) = tokio::join!(state.generation.results_of(&ids), state.generation.costs_of(&ids));
    let (mut results, costs) = (results?, costs?);
    let base = urls::public_base(state, headers);
    let mut content = Vec::with_capacity(tasks.len());
    for task in tasks {
        let results = results.remove(&task.id).unwrap_or_default();
        let meta = meta(&task);
        content.push(TaskSummary {
            r#type: task.kind.clone(),
            status: status_name(task.status),
            progress: task.progress,
            prompt: meta["prompt"].as_str().map(str::to_owned),
            results: results.iter().map(|r| urls::file_url(&base, &r.file)).collect(),
            cost: costs.get(&task.id).copied().unwrap_or(0),
            create_time: iso_seconds(task.created_at),
            complete_time: task.finished_at.map(iso_seconds),
            id: task.id,
        });
    }
    Ok(Reply::ok(Page::new(content, total, page, size)))
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct ResultView {
    url: String,
    thumbnail_url: Option<String>,
    size: i64,
    width: Option<i64>,
    height: Option<i64>,
    /// PNG, JPEG, WEBP, GIF, MP4 or WEBM.
    format: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct TaskDetail {
    id: String,
    r#type: String,
    status: &'static str,
    progress: i64,
    prompt: Option<String>,
    negative_prompt: Option<String>,
    /// The generator's parameters; null for tasks submitted through comfy-manager.
    #[schema(value_type = Option<Object>)]
    parameters: Value,
    results: Vec<ResultView>,
    cost: i64,
    /// 1-based place in Gantry's queue while the task waits there; null once an instance
    /// has it, and when finished.
    queue_position: Option<usize>,
    /// Seconds until it is expected to finish, while it waits (as the submit answer estimates).
    estimated_time: Option<i64>,
    /// Seconds waiting before it started.
    queue_time: Option<i64>,
    /// Seconds it ran.
    process_time: Option<i64>,
    create_time: String,
    start_time: Option<String>,
    complete_time: Option<String>,
    /// E008 when it timed out, other codes for other failures.
    error_code: Option<String>,
    error: Option<String>,
}

/// One task with its results.
#[utoipa::path(get, path = "/api/v1/tasks/{taskId}", tag = "star-graph", security(("bearer" = [])),
    params(("taskId" = String, Path)), responses((status = 200, body = TaskDetail), (status = 404, description = "no such task")))]
async fn detail(
    State(state): State<AppState>,
    headers: HeaderMap,
    Auth(principal, ..): Auth<StarGraph>,
    PathArg(id, ..): PathArg<StarGraph, String>,
) -> ApiResult<StarGraph, TaskDetail> {
    let task = state.dispatcher.task(caller(&principal), &id).await?;
    let base = urls::public_base(&state, &headers);
    let results = state.generation.results(&task.id).await?;
    let meta = meta(&task);
    let standing = state.generation.standing(&task.id, &task.kind).await;
    Ok(Reply::ok(TaskDetail {
        r#type: task.kind.clone(),
        status: status_name(task.status),
        progress: task.progress,
        prompt: meta["prompt"].as_str().map(str::to_owned),
        negative_prompt: meta["negativePrompt"].as_str().map(str::to_owned),
        parameters: meta["parameters"].clone(),
        results: results
            .iter()
            .map(|r| ResultView {
                url: urls::file_url(&base, &r.file),
                thumbnail_url: r.thumbnail.as_ref().map(|t| urls::file_url(&base, t)),
                size: r.file.size,
                width: r.file.width,
                height: r.file.height,
                format: r.file.content_type.rsplit('/').next().unwrap_or("").to_ascii_uppercase(),
            })
            .collect(),
        cost: state.generation.cost_of(&task.id).await,
        queue_position: standing.map(|(position, _)| position),
        estimated_time: standing.and_then(|(_, seconds)| seconds),
        queue_time: task.started_at.map(|s| (s - task.created_at) / 1000),
        process_time: task.started_at.zip(task.finished_at).map(|(s, f)| (f - s) / 1000),
        create_time: iso_seconds(task.created_at),
        start_time: task.started_at.map(iso_seconds),
        complete_time: task.finished_at.map(iso_seconds),
        error_code: task.failure.map(failure_code).map(str::to_owned),
        error: task.error,
        id: task.id,
    }))
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct Cancelled {
    task_id: String,
    refund: i64,
}

/// Cancel a task; its frozen credits come back.
#[utoipa::path(delete, path = "/api/v1/tasks/{taskId}", tag = "star-graph", security(("bearer" = [])),
    params(("taskId" = String, Path)),
    responses((status = 200, body = Cancelled), (status = 404, description = "no such task"), (status = 409, description = "already finished")))]
async fn cancel(
    State(state): State<AppState>,
    Auth(principal, ..): Auth<StarGraph>,
    PathArg(id, ..): PathArg<StarGraph, String>,
) -> ApiResult<StarGraph, Cancelled> {
    let (task, refund) = state.generation.cancel(caller(&principal), &id).await?;
    Ok(Reply::with_message("task cancelled", Cancelled { task_id: task.id, refund }))
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct Retried {
    new_task_id: String,
    queue_position: usize,
    /// Credits frozen for the new task (a retry is a new charge).
    cost: i64,
}

/// Run a finished task again as a new task, charged again: `cost` says how much.
#[utoipa::path(post, path = "/api/v1/tasks/{taskId}/retry", tag = "star-graph", security(("bearer" = [])),
    params(("taskId" = String, Path)),
    responses((status = 200, body = Retried), (status = 400, description = "not finished yet"), (status = 402, description = "E002"),
        (status = 404, description = "no such task")))]
async fn retry(
    State(state): State<AppState>,
    Auth(principal, ..): Auth<StarGraph>,
    PathArg(id, ..): PathArg<StarGraph, String>,
) -> ApiResult<StarGraph, Retried> {
    let submitted = state.generation.retry(caller(&principal), &id).await?;
    Ok(Reply::with_message(
        "task retried",
        Retried { new_task_id: submitted.task_id, queue_position: submitted.queue_position, cost: submitted.cost },
    ))
}
