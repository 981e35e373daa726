//! star-graph dialect (`/api/v1`, envelope `{code, message, data, timestamp, requestId}`).

mod admin;
mod auth;
pub(crate) mod codes;
mod generate;
mod generate_body;
mod models;
pub(crate) mod stomp;
mod tasks;
mod tokens;
mod users;

use crate::error::ApiError;
use crate::state::AppState;
use gantry_accounts::UserRecord;
use gantry_core::Role;
use gantry_core::events::TaskFailure;
use gantry_dispatch::TaskStatus;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;

/// star-graph's routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(auth::routes())
        .merge(users::routes())
        .merge(tokens::routes())
        .merge(admin::routes())
        .merge(generate::routes())
        .merge(models::routes())
        .merge(tasks::routes())
}

/// star-graph's spelling of a role.
fn role_name(role: Role) -> &'static str {
    match role {
        Role::Admin => "ADMIN",
        Role::User => "USER",
    }
}

/// star-graph's spelling of a task state (PENDING, PROCESSING, COMPLETED, FAILED, CANCELLED);
/// a task waiting inside an instance is still PENDING.
pub(crate) fn status_name(status: TaskStatus) -> &'static str {
    match status {
        TaskStatus::Pending | TaskStatus::Dispatched => "PENDING",
        TaskStatus::Running => "PROCESSING",
        TaskStatus::Completed => "COMPLETED",
        TaskStatus::Failed => "FAILED",
        TaskStatus::Cancelled => "CANCELLED",
    }
}

/// The states a status filter names (any case; RUNNING and CANCELED are accepted too).
pub(crate) fn statuses_named(name: &str) -> Option<Vec<TaskStatus>> {
    Some(match name.to_ascii_uppercase().as_str() {
        "PENDING" => vec![TaskStatus::Pending, TaskStatus::Dispatched],
        "PROCESSING" | "RUNNING" => vec![TaskStatus::Running],
        "COMPLETED" => vec![TaskStatus::Completed],
        "FAILED" => vec![TaskStatus::Failed],
        "CANCELLED" | "CANCELED" => vec![TaskStatus::Cancelled],
        _ => return None,
    })
}

/// star-graph's error code of a failed task: E007 (no GPU could run it), E008 (it timed
/// out); other failures by Gantry's name (INVALID_WORKFLOW, EXECUTION_ERROR, INTERRUPTED).
pub(crate) fn failure_code(failure: TaskFailure) -> &'static str {
    match failure {
        TaskFailure::NoInstance => "E007",
        TaskFailure::TimedOut => "E008",
        other => other.as_str(),
    }
}

/// A user as star-graph shows one.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct UserView {
    id: i64,
    username: String,
    nickname: String,
    email: Option<String>,
    phone: Option<String>,
    avatar: Option<String>,
    role: &'static str,
    create_time: String,
    update_time: String,
}

impl From<UserRecord> for UserView {
    fn from(user: UserRecord) -> Self {
        Self {
            id: user.id,
            username: user.username,
            nickname: user.nickname,
            email: user.email,
            phone: user.phone,
            avatar: user.avatar,
            role: role_name(user.role),
            create_time: gantry_core::clock::iso_seconds(user.created_at),
            update_time: gantry_core::clock::iso_seconds(user.updated_at),
        }
    }
}

/// star-graph paging: `page` from 1, `pageSize` default 20.
#[derive(Deserialize, ToSchema, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
struct PageRequest {
    page: Option<i64>,
    page_size: Option<i64>,
}

/// The last page a list answers (far beyond any real list; keeps offsets in range).
const MAX_PAGE: i64 = 1_000_000;

impl PageRequest {
    /// (page, page size, offset) with defaults and bounds applied; a page past [`MAX_PAGE`]
    /// is refused.
    fn resolve(&self) -> Result<(i64, i64, i64), ApiError> {
        let page = self.page.unwrap_or(1).max(1);
        if page > MAX_PAGE {
            return Err(ApiError::bad_request(format!("page must be between 1 and {MAX_PAGE}")));
        }
        let size = self.page_size.unwrap_or(20).clamp(1, 100);
        Ok((page, size, (page - 1) * size))
    }
}

/// star-graph's page shape.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct Page<T> {
    content: Vec<T>,
    total_elements: i64,
    total_pages: i64,
    page: i64,
    page_size: i64,
}

impl<T> Page<T> {
    fn new(content: Vec<T>, total: i64, page: i64, page_size: i64) -> Self {
        Self { content, total_elements: total, total_pages: (total + page_size - 1) / page_size, page, page_size }
    }
}
