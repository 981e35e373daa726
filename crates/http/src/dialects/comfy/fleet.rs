//! comfy-manager instances, configuration and monitor overview.

use crate::envelope::{ApiResult, ComfyManager, Reply};
use crate::error::ApiError;
use crate::extract::{Auth, Body, PathArg};
use crate::state::AppState;
use axum::extract::State;
use gantry_dispatch::config::FleetConfig;
use gantry_dispatch::{InstanceView, Overview};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_instances))
        .routes(routes!(get_instance, set_instance))
        .routes(routes!(get_config, put_config))
        .routes(routes!(overview))
}

/// Every ComfyUI instance (`ip:port`) with liveness and load.
#[utoipa::path(get, path = "/api/instances", tag = "comfy-manager", security(("bearer" = [])),
    responses((status = 200, description = "instances: id, serverId, serverName, ip, port, enabled, alive, busy, lastHeartbeat, activeTasks, queueRemaining, models")))]
async fn list_instances(
    State(state): State<AppState>,
    _caller: Auth<ComfyManager>,
) -> ApiResult<ComfyManager, Vec<InstanceView>> {
    Ok(Reply::ok(state.dispatcher.instances()))
}

/// One instance.
#[utoipa::path(get, path = "/api/instances/{instanceId}", tag = "comfy-manager", security(("bearer" = [])),
    params(("instanceId" = String, Path, description = "`ip:port`")),
    responses((status = 200, description = "the instance"), (status = 404, description = "unknown instance")))]
async fn get_instance(
    State(state): State<AppState>,
    _caller: Auth<ComfyManager>,
    PathArg(id, ..): PathArg<ComfyManager, String>,
) -> ApiResult<ComfyManager, InstanceView> {
    Ok(Reply::ok(state.dispatcher.instance(&id)?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct InstanceChange {
    enabled: bool,
}

/// Enable or disable an instance (admin). A disabled instance finishes its tasks and gets no new ones.
#[utoipa::path(put, path = "/api/instances/{instanceId}", tag = "comfy-manager", security(("bearer" = ["admin"])),
    params(("instanceId" = String, Path, description = "`ip:port`")), request_body = InstanceChange,
    responses((status = 200, description = "the instance"), (status = 404, description = "unknown instance")))]
async fn set_instance(
    State(state): State<AppState>,
    Auth(caller, ..): Auth<ComfyManager>,
    PathArg(id, ..): PathArg<ComfyManager, String>,
    Body(change, ..): Body<ComfyManager, InstanceChange>,
) -> ApiResult<ComfyManager, InstanceView> {
    caller.require_admin()?;
    Ok(Reply::ok(state.dispatcher.set_instance_enabled(&id, change.enabled).await?))
}

/// The fleet configuration (admin): servers, healthCheck and dispatch settings.
#[utoipa::path(get, path = "/api/config", tag = "comfy-manager", security(("bearer" = ["admin"])),
    responses((status = 200, description = "{servers:[{id,name,ip,ports,enabled}], healthCheck:{interval,timeout,failureThreshold}, dispatch:{prefetch,maxAttempts,taskTimeout,maxQueue}} (times in ms)")))]
async fn get_config(
    State(state): State<AppState>,
    Auth(caller, ..): Auth<ComfyManager>,
) -> ApiResult<ComfyManager, FleetConfig> {
    caller.require_admin()?;
    Ok(Reply::ok(state.dispatcher.config()))
}

/// Replace the fleet configuration (admin). Validated, stored, and applied at once
/// without dropping running tasks; omitted sections take their defaults.
#[utoipa::path(put, path = "/api/config", tag = "comfy-manager", security(("bearer" = ["admin"])),
    request_body(content = Object, description = "the whole configuration, as GET returns it"),
    responses((status = 200, description = "the configuration in force"), (status = 400, description = "invalid configuration")))]
async fn put_config(
    State(state): State<AppState>,
    Auth(caller, ..): Auth<ComfyManager>,
    Body(config, ..): Body<ComfyManager, FleetConfig>,
) -> ApiResult<ComfyManager, FleetConfig> {
    caller.require_admin()?;
    Ok(Reply::ok(state.dispatcher.update_config(config).await.map_err(ApiError::from)?))
}

/// Instance and task counts.
#[utoipa::path(get, path = "/api/monitor/overview", tag = "comfy-manager", security(("bearer" = [])),
    responses((status = 200, description = "totalInstances, aliveInstances, busyInstances, pendingTasks, runningTasks, completedTasks, failedTasks, cancelledTasks")))]
async fn overview(State(state): State<AppState>, _caller: Auth<ComfyManager>) -> ApiResult<ComfyManager, Overview> {
    Ok(Reply::ok(state.dispatcher.overview().await?))
}
