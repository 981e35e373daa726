//! comfy-manager instances, configuration and monitor overview.

use crate::envelope::{ApiResult, ComfyManager, Reply};
use crate::error::ApiError;
use crate::extract::{Auth, Body, PathArg, QueryArgs};
use crate::state::AppState;
use axum::extract::State;
use gantry_dispatch::config::{ConfigChange, FleetConfig, ServerConfig};
use gantry_dispatch::{InstanceView, Overview};
use serde::Deserialize;
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_instances))
        .routes(routes!(get_instance, set_instance))
        .routes(routes!(get_config, put_config, patch_config))
        .routes(routes!(add_server))
        .routes(routes!(update_server, remove_server))
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

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
struct DropAll {
    /// `true` to accept a change that leaves no server (while some are configured).
    drop_all_servers: Option<bool>,
}

/// Makes a configuration change for an admin, logs it and records it in the audit log.
async fn change(
    state: &AppState,
    caller: &gantry_accounts::Principal,
    change: ConfigChange,
    drop_all: Option<bool>,
) -> ApiResult<ComfyManager, FleetConfig> {
    caller.require_admin()?;
    let (config, summary) = state
        .dispatcher
        .change_config(&caller.username, change, drop_all.unwrap_or(false))
        .await
        .map_err(ApiError::from)?;
    let actor = gantry_compute::Actor::user(caller.username.clone(), caller.user_id);
    state.compute.record_change(&actor, "fleet.config", &summary).await;
    Ok(Reply::ok(config))
}

/// Replace the fleet configuration (admin). Validated, stored, and applied at once
/// without dropping running tasks; omitted sections take their defaults. A configuration
/// without servers, while some are configured, needs `?dropAllServers=true`.
#[utoipa::path(put, path = "/api/config", tag = "comfy-manager", security(("bearer" = ["admin"])), params(DropAll),
    request_body(content = Object, description = "the whole configuration, as GET returns it"),
    responses((status = 200, description = "the configuration in force"), (status = 400, description = "invalid configuration, or every server dropped without dropAllServers=true")))]
async fn put_config(
    State(state): State<AppState>,
    Auth(caller, ..): Auth<ComfyManager>,
    QueryArgs(q, ..): QueryArgs<ComfyManager, DropAll>,
    Body(config, ..): Body<ComfyManager, FleetConfig>,
) -> ApiResult<ComfyManager, FleetConfig> {
    change(&state, &caller, ConfigChange::Replace(config), q.drop_all_servers).await
}

/// Change part of the fleet configuration (admin): a JSON merge patch (RFC 7396) of the
/// configuration as GET shows it — `{"dispatch": {"prefetch": 2}}` keeps everything else.
#[utoipa::path(patch, path = "/api/config", tag = "comfy-manager", security(("bearer" = ["admin"])), params(DropAll),
    request_body(content = Object, description = "the fields to change; objects merge, lists replace, null removes"),
    responses((status = 200, description = "the configuration in force"), (status = 400, description = "invalid result, or every server dropped without dropAllServers=true")))]
async fn patch_config(
    State(state): State<AppState>,
    Auth(caller, ..): Auth<ComfyManager>,
    QueryArgs(q, ..): QueryArgs<ComfyManager, DropAll>,
    Body(patch, ..): Body<ComfyManager, Value>,
) -> ApiResult<ComfyManager, FleetConfig> {
    change(&state, &caller, ConfigChange::Merge(patch), q.drop_all_servers).await
}

/// Add one server (admin); its `id` is derived from its name when left out.
#[utoipa::path(post, path = "/api/config/servers", tag = "comfy-manager", security(("bearer" = ["admin"])),
    request_body(content = Object, description = "{id?, name, ip, ports, enabled?}"),
    responses((status = 200, description = "the configuration in force"), (status = 400, description = "invalid server or id taken")))]
async fn add_server(
    State(state): State<AppState>,
    Auth(caller, ..): Auth<ComfyManager>,
    Body(server, ..): Body<ComfyManager, ServerConfig>,
) -> ApiResult<ComfyManager, FleetConfig> {
    change(&state, &caller, ConfigChange::AddServer(server), None).await
}

/// Replace one server (admin), keeping its id.
#[utoipa::path(put, path = "/api/config/servers/{serverId}", tag = "comfy-manager", security(("bearer" = ["admin"])),
    params(("serverId" = String, Path)), request_body(content = Object, description = "{name, ip, ports, enabled?}"),
    responses((status = 200, description = "the configuration in force"), (status = 400, description = "invalid server"),
        (status = 404, description = "unknown server")))]
async fn update_server(
    State(state): State<AppState>,
    Auth(caller, ..): Auth<ComfyManager>,
    PathArg(id, ..): PathArg<ComfyManager, String>,
    Body(server, ..): Body<ComfyManager, ServerConfig>,
) -> ApiResult<ComfyManager, FleetConfig> {
    change(&state, &caller, ConfigChange::UpdateServer(id, server), None).await
}

/// Remove one server (admin); its instances finish their tasks and go away.
#[utoipa::path(delete, path = "/api/config/servers/{serverId}", tag = "comfy-manager", security(("bearer" = ["admin"])),
    params(("serverId" = String, Path)),
    responses((status = 200, description = "the configuration in force"), (status = 404, description = "unknown server")))]
async fn remove_server(
    State(state): State<AppState>,
    Auth(caller, ..): Auth<ComfyManager>,
    PathArg(id, ..): PathArg<ComfyManager, String>,
) -> ApiResult<ComfyManager, FleetConfig> {
    change(&state, &caller, ConfigChange::RemoveServer(id), Some(true)).await
}

/// Instance and task counts.
#[utoipa::path(get, path = "/api/monitor/overview", tag = "comfy-manager", security(("bearer" = [])),
    responses((status = 200, description = "totalInstances, aliveInstances, busyInstances, pendingTasks, runningTasks, completedTasks, failedTasks, cancelledTasks, completedLastHour (the fleet's throughput)")))]
async fn overview(State(state): State<AppState>, _caller: Auth<ComfyManager>) -> ApiResult<ComfyManager, Overview> {
    Ok(Reply::ok(state.dispatcher.overview().await?))
}
