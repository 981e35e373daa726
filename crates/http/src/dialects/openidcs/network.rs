//! A VM's network routes: NAT rules, IP addresses and reverse-proxy routes. Rules are deleted
//! by their index in the matching list (as the spec's paths say).

use super::Admin;
use crate::envelope::{ApiResult, Openidcs, Reply};
use crate::extract::{Body, PathArg};
use crate::state::AppState;
use axum::extract::State;
use gantry_compute::model::{IpAdd, IpChanged, IpEntry, PortData, WebProxy};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(natget))
        .routes(routes!(natadd))
        .routes(routes!(natdel))
        .routes(routes!(iplist))
        .routes(routes!(ipadd))
        .routes(routes!(ipdel))
        .routes(routes!(pxyget))
        .routes(routes!(pxyadd))
        .routes(routes!(pxydel))
}

type VmPath = PathArg<Openidcs, (String, String)>;
type IndexPath = PathArg<Openidcs, (String, String, usize)>;

/// The VM's NAT rules (admin).
#[utoipa::path(get, path = "/api/client/natget/{hs_name}/{vm_uuid}", tag = "openidcs", security(("bearer" = ["admin"])),
    params(("hs_name" = String, Path), ("vm_uuid" = String, Path)), responses((status = 200, body = Vec<PortData>), (status = 404)))]
async fn natget(
    State(state): State<AppState>,
    _admin: Admin,
    PathArg((hs, vm), ..): VmPath,
) -> ApiResult<Openidcs, Vec<PortData>> {
    Ok(Reply::ok(state.compute.nat_list(&hs, &vm).await?))
}

/// Forward a host port (inside the host's range; 0 = any free one) to a VM port, live (admin).
#[utoipa::path(post, path = "/api/client/natadd/{hs_name}/{vm_uuid}", tag = "openidcs", security(("bearer" = ["admin"])),
    params(("hs_name" = String, Path), ("vm_uuid" = String, Path)), request_body = PortData,
    responses((status = 200, body = PortData), (status = 400, description = "out of range or taken"), (status = 404)))]
async fn natadd(
    State(state): State<AppState>,
    Admin(actor): Admin,
    PathArg((hs, vm), ..): VmPath,
    Body(rule, ..): Body<Openidcs, PortData>,
) -> ApiResult<Openidcs, PortData> {
    Ok(Reply::with_message("NAT rule added", state.compute.nat_add(&actor, &hs, &vm, rule).await?))
}

/// Remove the NAT rule at `rule_index` of `natget`'s list (admin).
#[utoipa::path(delete, path = "/api/client/natdel/{hs_name}/{vm_uuid}/{rule_index}", tag = "openidcs", security(("bearer" = ["admin"])),
    params(("hs_name" = String, Path), ("vm_uuid" = String, Path), ("rule_index" = usize, Path)),
    responses((status = 200, body = PortData), (status = 400), (status = 404)))]
async fn natdel(
    State(state): State<AppState>,
    Admin(actor): Admin,
    PathArg((hs, vm, i), ..): IndexPath,
) -> ApiResult<Openidcs, PortData> {
    Ok(Reply::with_message("NAT rule deleted", state.compute.nat_delete(&actor, &hs, &vm, i).await?))
}

/// The VM's IPv4 addresses (admin).
#[utoipa::path(get, path = "/api/client/iplist/{hs_name}/{vm_uuid}", tag = "openidcs", security(("bearer" = ["admin"])),
    params(("hs_name" = String, Path), ("vm_uuid" = String, Path)), responses((status = 200, body = Vec<IpEntry>), (status = 404)))]
async fn iplist(
    State(state): State<AppState>,
    _admin: Admin,
    PathArg((hs, vm), ..): VmPath,
) -> ApiResult<Openidcs, Vec<IpEntry>> {
    Ok(Reply::ok(state.compute.ip_list(&hs, &vm).await?))
}

/// Give the VM an address, unique across VMs; the guest gets it on (next) boot (admin).
#[utoipa::path(post, path = "/api/client/ipadd_/{hs_name}/{vm_uuid}", tag = "openidcs", security(("bearer" = ["admin"])),
    params(("hs_name" = String, Path), ("vm_uuid" = String, Path)), request_body = IpAdd,
    responses((status = 200, body = IpChanged), (status = 400, description = "invalid or duplicate address"), (status = 404)))]
async fn ipadd(
    State(state): State<AppState>,
    Admin(actor): Admin,
    PathArg((hs, vm), ..): VmPath,
    Body(req, ..): Body<Openidcs, IpAdd>,
) -> ApiResult<Openidcs, IpChanged> {
    Ok(Reply::with_message("IP added", state.compute.ip_add(&actor, &hs, &vm, req).await?))
}

/// Take away the address at `ip_index` of `iplist`'s list (admin).
#[utoipa::path(delete, path = "/api/client/ipdel_/{hs_name}/{vm_uuid}/{ip_index}", tag = "openidcs", security(("bearer" = ["admin"])),
    params(("hs_name" = String, Path), ("vm_uuid" = String, Path), ("ip_index" = usize, Path)),
    responses((status = 200, body = IpChanged), (status = 400), (status = 404)))]
async fn ipdel(
    State(state): State<AppState>,
    Admin(actor): Admin,
    PathArg((hs, vm, i), ..): IndexPath,
) -> ApiResult<Openidcs, IpChanged> {
    Ok(Reply::with_message("IP deleted", state.compute.ip_delete(&actor, &hs, &vm, i).await?))
}

/// The VM's reverse-proxy routes (admin).
#[utoipa::path(get, path = "/api/client/pxyget/{hs_name}/{vm_uuid}", tag = "openidcs", security(("bearer" = ["admin"])),
    params(("hs_name" = String, Path), ("vm_uuid" = String, Path)), responses((status = 200, body = Vec<WebProxy>), (status = 404)))]
async fn pxyget(
    State(state): State<AppState>,
    _admin: Admin,
    PathArg((hs, vm), ..): VmPath,
) -> ApiResult<Openidcs, Vec<WebProxy>> {
    Ok(Reply::ok(state.compute.proxy_list(&hs, &vm).await?))
}

/// Proxy HTTP for a domain (`Host` header) and optional path prefix to a VM port (admin).
#[utoipa::path(post, path = "/api/client/pxyadd/{hs_name}/{vm_uuid}", tag = "openidcs", security(("bearer" = ["admin"])),
    params(("hs_name" = String, Path), ("vm_uuid" = String, Path)), request_body = WebProxy,
    responses((status = 200, body = WebProxy), (status = 400, description = "invalid or duplicate domain"), (status = 404)))]
async fn pxyadd(
    State(state): State<AppState>,
    Admin(actor): Admin,
    PathArg((hs, vm), ..): VmPath,
    Body(route, ..): Body<Openidcs, WebProxy>,
) -> ApiResult<Openidcs, WebProxy> {
    Ok(Reply::with_message("proxy added", state.compute.proxy_add(&actor, &hs, &vm, route).await?))
}

/// Remove the route at `proxy_index` of `pxyget`'s list (admin).
#[utoipa::path(delete, path = "/api/client/pxydel/{hs_name}/{vm_uuid}/{proxy_index}", tag = "openidcs", security(("bearer" = ["admin"])),
    params(("hs_name" = String, Path), ("vm_uuid" = String, Path), ("proxy_index" = usize, Path)),
    responses((status = 200, body = WebProxy), (status = 404)))]
async fn pxydel(
    State(state): State<AppState>,
    Admin(actor): Admin,
    PathArg((hs, vm, i), ..): IndexPath,
) -> ApiResult<Openidcs, WebProxy> {
    Ok(Reply::with_message("proxy deleted", state.compute.proxy_delete(&actor, &hs, &vm, i).await?))
}
