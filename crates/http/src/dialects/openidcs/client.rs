//! VM routes (`/api/client/*`): records, power, status, console, scan and the agent's upload.

use super::Admin;
use super::console;
use crate::envelope::{ApiResult, Openidcs, Reply};
use crate::extract::{Body, ClientIp, PathArg};
use crate::state::AppState;
use crate::urls::public_base;
use axum::extract::State;
use axum::http::HeaderMap;
use gantry_compute::ComputeError;
use gantry_compute::model::{
    CreatedVm, PowerRequest, PowerResult, ScanResult, UploadAck, VmConfig, VmStatusView, VmUpdate, VmUpdated, VmView,
};
use gantry_vm_engine::PowerAction;
use serde::Serialize;
use utoipa::ToSchema;
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
        .routes(routes!(vncons))
        .routes(routes!(scaner))
        .routes(routes!(upload))
}

/// The VMs of a host (admin).
#[utoipa::path(get, path = "/api/client/listup/{hs_name}", tag = "openidcs", security(("bearer" = ["admin"])),
    params(("hs_name" = String, Path)), responses((status = 200, body = Vec<VmView>), (status = 404)))]
async fn listup(
    State(state): State<AppState>,
    _admin: Admin,
    PathArg(hs_name, ..): PathArg<Openidcs, String>,
) -> ApiResult<Openidcs, Vec<VmView>> {
    Ok(Reply::ok(state.compute.vm_list(&hs_name).await?))
}

/// One VM (admin).
#[utoipa::path(get, path = "/api/client/detail/{hs_name}/{vm_uuid}", tag = "openidcs", security(("bearer" = ["admin"])),
    params(("hs_name" = String, Path), ("vm_uuid" = String, Path)), responses((status = 200, body = VmView), (status = 404)))]
async fn detail(
    State(state): State<AppState>,
    _admin: Admin,
    PathArg((hs_name, vm_uuid), ..): PathArg<Openidcs, (String, String)>,
) -> ApiResult<Openidcs, VmView> {
    Ok(Reply::ok(state.compute.vm_detail(&hs_name, &vm_uuid).await?))
}

/// Create a VM (files only; start it with `powers`). The answer shows its agent secret once (admin).
#[utoipa::path(post, path = "/api/client/create/{hs_name}", tag = "openidcs", security(("bearer" = ["admin"])),
    params(("hs_name" = String, Path)), request_body = VmConfig,
    responses((status = 200, body = CreatedVm), (status = 400, description = "invalid, duplicate or beyond the host"), (status = 404)))]
async fn create(
    State(state): State<AppState>,
    Admin(actor): Admin,
    PathArg(hs_name, ..): PathArg<Openidcs, String>,
    Body(config, ..): Body<Openidcs, VmConfig>,
) -> ApiResult<Openidcs, CreatedVm> {
    let created = state.compute.vm_create(&actor, &hs_name, config).await?;
    Ok(Reply::with_message(super::done("VM created", &created.vm.no_effect), created))
}

/// Change a VM: live where QEMU allows, otherwise on the next boot (admin).
#[utoipa::path(put, path = "/api/client/update/{hs_name}/{vm_uuid}", tag = "openidcs", security(("bearer" = ["admin"])),
    params(("hs_name" = String, Path), ("vm_uuid" = String, Path)), request_body = VmUpdate,
    responses((status = 200, body = VmUpdated), (status = 400), (status = 404)))]
async fn update(
    State(state): State<AppState>,
    Admin(actor): Admin,
    PathArg((hs_name, vm_uuid), ..): PathArg<Openidcs, (String, String)>,
    Body(change, ..): Body<Openidcs, VmUpdate>,
) -> ApiResult<Openidcs, VmUpdated> {
    let updated = state.compute.vm_update(&actor, &hs_name, &vm_uuid, change).await?;
    Ok(Reply::with_message(super::done("VM updated", &updated.vm.no_effect), updated))
}

/// Delete a VM: stops it and removes its files (admin).
#[utoipa::path(delete, path = "/api/client/delete/{hs_name}/{vm_uuid}", tag = "openidcs", security(("bearer" = ["admin"])),
    params(("hs_name" = String, Path), ("vm_uuid" = String, Path)),
    responses((status = 200, description = "deleted"), (status = 404)))]
async fn delete(
    State(state): State<AppState>,
    Admin(actor): Admin,
    PathArg((hs_name, vm_uuid), ..): PathArg<Openidcs, (String, String)>,
) -> ApiResult<Openidcs, ()> {
    state.compute.vm_delete(&actor, &hs_name, &vm_uuid).await?;
    Ok(Reply::with_message("VM deleted", ()))
}

/// Power action: start, stop (hard), shutdown (ACPI + timeout), reboot, reset, pause, resume (admin).
#[utoipa::path(post, path = "/api/client/powers/{hs_name}/{vm_uuid}", tag = "openidcs", security(("bearer" = ["admin"])),
    params(("hs_name" = String, Path), ("vm_uuid" = String, Path)), request_body = PowerRequest,
    responses((status = 200, body = PowerResult), (status = 400), (status = 404)))]
async fn powers(
    State(state): State<AppState>,
    Admin(actor): Admin,
    PathArg((hs_name, vm_uuid), ..): PathArg<Openidcs, (String, String)>,
    Body(req, ..): Body<Openidcs, PowerRequest>,
) -> ApiResult<Openidcs, PowerResult> {
    let action = power_action(&req)?;
    Ok(Reply::ok(state.compute.vm_power(&actor, &hs_name, &vm_uuid, action).await?))
}

/// OpenIDCS's power action names: Gantry's, plus `hard_stop` and `hard_reset` as aliases of
/// `stop` and `reset`, and its `VMPowers` names (`S_START`, `S_CLOSE`, `H_CLOSE`, `S_RESET`,
/// `H_RESET`, `A_PAUSE`/`S_PAUSE`, `A_WAKED`/`S_RESUME`), which its web console sends;
/// `timeout` (seconds) applies to `shutdown` and `reboot`.
fn power_action(req: &PowerRequest) -> Result<PowerAction, ComputeError> {
    let name = match req.action.trim() {
        "S_START" => "start",
        "S_CLOSE" => "shutdown",
        "hard_stop" | "H_CLOSE" => "stop",
        "S_RESET" => "reboot",
        "hard_reset" | "H_RESET" => "reset",
        "A_PAUSE" | "S_PAUSE" => "pause",
        "A_WAKED" | "S_RESUME" => "resume",
        other => other,
    };
    let action = PowerAction::from_name(name).ok_or_else(|| {
        ComputeError::Invalid(format!(
            "unknown action {:?} (start, stop, shutdown, reboot, reset, pause, resume, hard_stop, hard_reset)",
            req.action
        ))
    })?;
    Ok(action.with_timeout(req.timeout.map(std::time::Duration::from_secs)))
}

/// Live state: QMP `query-status`, CPU and memory use, the agent's last report (admin).
#[utoipa::path(get, path = "/api/client/status/{hs_name}/{vm_uuid}", tag = "openidcs", security(("bearer" = ["admin"])),
    params(("hs_name" = String, Path), ("vm_uuid" = String, Path)),
    responses((status = 200, body = VmStatusView), (status = 404)))]
async fn status(
    State(state): State<AppState>,
    _admin: Admin,
    PathArg((hs_name, vm_uuid), ..): PathArg<Openidcs, (String, String)>,
) -> ApiResult<Openidcs, VmStatusView> {
    Ok(Reply::ok(state.compute.vm_status(&hs_name, &vm_uuid).await?))
}

/// A console ticket and where to use it.
#[derive(Serialize, ToSchema)]
struct ConsoleUrls {
    /// Single use, short-lived.
    ticket: String,
    /// Unix ms after which the ticket is refused.
    expires_at: i64,
    /// noVNC-compatible WebSocket carrying the VM's VNC (RFB) stream.
    ws_url: String,
    /// The noVNC page, when noVNC is installed on the server.
    url: Option<String>,
    /// The VNC password the console asks for; QEMU accepts it only until `expires_at`.
    password: String,
}

/// A console URL with a short-lived, single-use ticket for the VM's VNC over WebSocket (admin).
#[utoipa::path(get, path = "/api/client/vncons/{hs_name}/{vm_uuid}", tag = "openidcs", security(("bearer" = ["admin"])),
    params(("hs_name" = String, Path), ("vm_uuid" = String, Path)),
    responses((status = 200, body = ConsoleUrls), (status = 400, description = "the VM is not running"), (status = 404)))]
async fn vncons(
    State(state): State<AppState>,
    Admin(actor): Admin,
    headers: HeaderMap,
    PathArg((hs_name, vm_uuid), ..): PathArg<Openidcs, (String, String)>,
) -> ApiResult<Openidcs, ConsoleUrls> {
    let (engine, password) = state.compute.console_access(&actor, &hs_name, &vm_uuid, state.consoles.ttl()).await?;
    let t = state.consoles.issue(engine, vm_uuid);
    let base = public_base(&state, &headers);
    let ws_base = match base.strip_prefix("http") {
        Some(rest) => format!("ws{rest}"),
        None => base.clone(),
    };
    Ok(Reply::ok(ConsoleUrls {
        ws_url: format!("{ws_base}{}", console::ws_path(&t.ticket)),
        url: console::page_path(&t.ticket).map(|p| format!("{base}{p}")),
        ticket: t.ticket,
        expires_at: t.expires_at_ms,
        password,
    }))
}

/// Find VMs on the host that Gantry does not know yet and adopt them (admin).
#[utoipa::path(post, path = "/api/client/scaner/{hs_name}", tag = "openidcs", security(("bearer" = ["admin"])),
    params(("hs_name" = String, Path)), responses((status = 200, body = ScanResult), (status = 404)))]
async fn scaner(
    State(state): State<AppState>,
    Admin(actor): Admin,
    PathArg(hs_name, ..): PathArg<Openidcs, String>,
) -> ApiResult<Openidcs, ScanResult> {
    Ok(Reply::ok(state.compute.vm_scan(&actor, &hs_name).await?))
}

/// The in-VM agent reports its status (a JSON object, e.g. OpenIDCS `HWStatus`). No bearer
/// token: the VM's own secret goes in `X-Agent-Secret`; rate-limited per VM and, for failures,
/// per address.
#[utoipa::path(post, path = "/api/client/upload", tag = "openidcs",
    params(("X-Agent-Secret" = String, Header, description = "the VM's agent secret")),
    request_body(content = Object, description = "the report"),
    responses((status = 200, body = UploadAck), (status = 401, description = "missing or wrong secret"),
        (status = 429, description = "too many reports from the VM, or failures from the address")))]
async fn upload(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Body(report, ..): Body<Openidcs, serde_json::Value>,
) -> ApiResult<Openidcs, UploadAck> {
    let secret = headers.get("x-agent-secret").and_then(|v| v.to_str().ok());
    Ok(Reply::ok(state.compute.agent_upload(secret, ip, report).await?))
}
