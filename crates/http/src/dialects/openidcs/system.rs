//! System routes: inventory export/import, counts, engines, audit log, tasks.

use super::Admin;
use crate::envelope::{ApiResult, Openidcs, Reply};
use crate::extract::{Body, QueryArgs};
use crate::state::AppState;
use axum::extract::State;
use gantry_compute::model::{AuditEntry, EngineEntry, Inventory, LoadResult, LogQuery, Statis, TaskEntry};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(saving))
        .routes(routes!(loader))
        .routes(routes!(statis))
        .routes(routes!(engine))
        .routes(routes!(logget))
        .routes(routes!(tasget))
}

/// Export the whole inventory (hosts, VMs, NAT rules, IPs, proxies) as JSON (admin).
#[utoipa::path(post, path = "/api/system/saving", tag = "openidcs", security(("bearer" = ["admin"])),
    responses((status = 200, body = Inventory)))]
async fn saving(State(state): State<AppState>, Admin(actor): Admin) -> ApiResult<Openidcs, Inventory> {
    Ok(Reply::ok(state.compute.saving(&actor).await?))
}

/// Import an inventory: everything is validated before anything is written (admin).
#[utoipa::path(post, path = "/api/system/loader", tag = "openidcs", security(("bearer" = ["admin"])), request_body = Inventory,
    responses((status = 200, body = LoadResult), (status = 400, description = "invalid inventory; nothing written")))]
async fn loader(
    State(state): State<AppState>,
    Admin(actor): Admin,
    Body(inventory, ..): Body<Openidcs, Inventory>,
) -> ApiResult<Openidcs, LoadResult> {
    Ok(Reply::with_message("inventory loaded", state.compute.loader(&actor, inventory).await?))
}

/// Counts: hosts, VMs, running VMs, NAT rules, proxies, running tasks (admin).
#[utoipa::path(get, path = "/api/system/statis", tag = "openidcs", security(("bearer" = ["admin"])),
    responses((status = 200, body = Statis)))]
async fn statis(State(state): State<AppState>, _admin: Admin) -> ApiResult<Openidcs, Statis> {
    Ok(Reply::ok(state.compute.statis().await?))
}

/// Engines available on this machine, with versions and accelerator (admin).
#[utoipa::path(get, path = "/api/system/engine", tag = "openidcs", security(("bearer" = ["admin"])),
    responses((status = 200, body = Vec<EngineEntry>)))]
async fn engine(State(state): State<AppState>, _admin: Admin) -> ApiResult<Openidcs, Vec<EngineEntry>> {
    Ok(Reply::ok(state.compute.engines().await?))
}

/// The audit log, newest first, filtered by host, VM, actor and action (admin).
#[utoipa::path(get, path = "/api/system/logget", tag = "openidcs", security(("bearer" = ["admin"])), params(LogQuery),
    responses((status = 200, body = Vec<AuditEntry>)))]
async fn logget(
    State(state): State<AppState>,
    _admin: Admin,
    QueryArgs(q, ..): QueryArgs<Openidcs, LogQuery>,
) -> ApiResult<Openidcs, Vec<AuditEntry>> {
    Ok(Reply::ok(state.compute.logs(q).await?))
}

/// Long operations (create, start, shutdown, reboot, delete, scan, loader…), newest first (admin).
#[utoipa::path(get, path = "/api/system/tasget", tag = "openidcs", security(("bearer" = ["admin"])), params(LogQuery),
    responses((status = 200, body = Vec<TaskEntry>)))]
async fn tasget(
    State(state): State<AppState>,
    _admin: Admin,
    QueryArgs(q, ..): QueryArgs<Openidcs, LogQuery>,
) -> ApiResult<Openidcs, Vec<TaskEntry>> {
    Ok(Reply::ok(state.compute.tasks(q).await?))
}
