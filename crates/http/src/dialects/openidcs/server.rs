//! Host routes (`/api/server/*`).

use super::Admin;
use crate::envelope::{ApiResult, Openidcs, Reply};
use crate::extract::{Body, PathArg, QueryArgs};
use crate::state::AppState;
use axum::extract::State;
use gantry_compute::model::{HostConfig, HostPowerOutcome, HostPowerRequest, HostStatus, HostUpdate, HostView};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(listup))
        .routes(routes!(detail))
        .routes(routes!(create))
        .routes(routes!(update))
        .routes(routes!(delete))
        .routes(routes!(powers))
        .routes(routes!(status))
}

/// Every host (admin).
#[utoipa::path(get, path = "/api/server/listup", tag = "openidcs", security(("bearer" = ["admin"])),
    responses((status = 200, body = Vec<HostView>)))]
async fn listup(State(state): State<AppState>, _admin: Admin) -> ApiResult<Openidcs, Vec<HostView>> {
    Ok(Reply::ok(state.compute.host_list().await?))
}

/// One host (admin).
#[utoipa::path(get, path = "/api/server/detail/{hs_name}", tag = "openidcs", security(("bearer" = ["admin"])),
    params(("hs_name" = String, Path)), responses((status = 200, body = HostView), (status = 404)))]
async fn detail(
    State(state): State<AppState>,
    _admin: Admin,
    PathArg(hs_name, ..): PathArg<Openidcs, String>,
) -> ApiResult<Openidcs, HostView> {
    Ok(Reply::ok(state.compute.host_detail(&hs_name).await?))
}

/// Add a host (this machine, QEMU engine) with its storage paths and NAT port range (admin).
/// OpenIDCS's web console's form, `{name, type, config: {…}}`, is taken too.
#[utoipa::path(post, path = "/api/server/create", tag = "openidcs", security(("bearer" = ["admin"])), request_body = HostConfig,
    responses((status = 200, body = HostView), (status = 400, description = "invalid or duplicate host")))]
async fn create(
    State(state): State<AppState>,
    Admin(actor): Admin,
    Body(body, ..): Body<Openidcs, serde_json::Value>,
) -> ApiResult<Openidcs, HostView> {
    let config: HostConfig = super::upstream::host_body(body)?;
    let host = state.compute.host_create(&actor, config).await?;
    Ok(Reply::with_message(super::done("host created", &host.no_effect), host))
}

/// Change a host's settings (admin).
#[utoipa::path(put, path = "/api/server/update/{hs_name}", tag = "openidcs", security(("bearer" = ["admin"])),
    params(("hs_name" = String, Path)), request_body = HostUpdate,
    responses((status = 200, body = HostView), (status = 400), (status = 404)))]
async fn update(
    State(state): State<AppState>,
    Admin(actor): Admin,
    PathArg(hs_name, ..): PathArg<Openidcs, String>,
    Body(body, ..): Body<Openidcs, serde_json::Value>,
) -> ApiResult<Openidcs, HostView> {
    let change: HostUpdate = super::upstream::host_body(body)?;
    let host = state.compute.host_update(&actor, &hs_name, change).await?;
    Ok(Reply::with_message(super::done("host updated", &host.no_effect), host))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
struct DeleteQuery {
    /// Also delete the host's VMs (stopped, files removed).
    #[serde(default)]
    force: bool,
}

/// Remove a host; refused while it has VMs unless `force=true` (admin).
#[utoipa::path(delete, path = "/api/server/delete/{hs_name}", tag = "openidcs", security(("bearer" = ["admin"])),
    params(("hs_name" = String, Path), DeleteQuery),
    responses((status = 200, description = "deleted"), (status = 400, description = "the host has VMs"), (status = 404)))]
async fn delete(
    State(state): State<AppState>,
    Admin(actor): Admin,
    PathArg(hs_name, ..): PathArg<Openidcs, String>,
    QueryArgs(q, ..): QueryArgs<Openidcs, DeleteQuery>,
) -> ApiResult<Openidcs, ()> {
    state.compute.host_delete(&actor, &hs_name, q.force).await?;
    Ok(Reply::with_message("host deleted", ()))
}

/// Host-wide actions: start_all, stop_all, shutdown_all, maintenance_on, maintenance_off;
/// or OpenIDCS's `{enable}` (admin).
#[utoipa::path(post, path = "/api/server/powers/{hs_name}", tag = "openidcs", security(("bearer" = ["admin"])),
    params(("hs_name" = String, Path)), request_body = HostPowerRequest,
    responses((status = 200, body = HostPowerOutcome), (status = 400), (status = 404)))]
async fn powers(
    State(state): State<AppState>,
    Admin(actor): Admin,
    PathArg(hs_name, ..): PathArg<Openidcs, String>,
    Body(req, ..): Body<Openidcs, HostPowerRequest>,
) -> ApiResult<Openidcs, HostPowerOutcome> {
    Ok(Reply::ok(state.compute.host_powers(&actor, &hs_name, req).await?))
}

/// Host CPU, memory, disk, VM counts and engine version (admin).
#[utoipa::path(get, path = "/api/server/status/{hs_name}", tag = "openidcs", security(("bearer" = ["admin"])),
    params(("hs_name" = String, Path)), responses((status = 200, body = HostStatus), (status = 404)))]
async fn status(
    State(state): State<AppState>,
    _admin: Admin,
    PathArg(hs_name, ..): PathArg<Openidcs, String>,
) -> ApiResult<Openidcs, HostStatus> {
    Ok(Reply::ok(state.compute.host_status(&hs_name).await?))
}
