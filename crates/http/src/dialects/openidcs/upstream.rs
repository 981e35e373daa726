//! The route names of OpenIDCS's own web console (the later HostAgent `FrontPages`) for the
//! seed's routes, so that console can drive Gantry's hosts and VMs.
//!
//! Most are plain aliases: [`rewrite`] maps the path to the seed route before routing, and
//! [`document`] copies the seed operation into the OpenAPI document under the alias. Where
//! the console expects another shape (hosts and VMs keyed by name, an address deleted by its
//! NIC's name) or a route the seed lacks (its login, current user and logout), a handler
//! here answers.

use std::collections::BTreeMap;

use super::Admin;
use crate::envelope::{ApiResult, Openidcs, Reply};
use crate::error::{ApiError, ErrorKind};
use crate::extract::{Auth, Body, ClientIp, PathArg};
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::Uri;
use axum::middleware::Next;
use axum::response::Response;
use gantry_accounts::{PasswordInput, UserRecord};
use gantry_compute::model::{HostConfig, HostView, IpChanged, VmConfig, VmView};
use gantry_core::{Dialect, Role};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The console's route names for seed routes: (method, console path, seed path). Path
/// parameters keep their names.
const ALIASES: [(&str, &str, &str); 12] = [
    ("GET", "/api/token/current", "/api/system/tquery"),
    ("POST", "/api/token/set", "/api/system/tsetup"),
    ("POST", "/api/token/reset", "/api/system/treset"),
    ("GET", "/api/system/stats", "/api/system/statis"),
    ("GET", "/api/system/logger/detail", "/api/system/logget"),
    ("POST", "/api/system/config/save", "/api/system/saving"),
    ("GET", "/api/client/remote/{hs_name}/{vm_uuid}", "/api/client/vncons/{hs_name}/{vm_uuid}"),
    ("GET", "/api/hosts/{hs_name}/vms/{vm_uuid}/ip_addresses", "/api/client/iplist/{hs_name}/{vm_uuid}"),
    ("POST", "/api/hosts/{hs_name}/vms/{vm_uuid}/ip_addresses", "/api/client/ipadd_/{hs_name}/{vm_uuid}"),
    ("GET", "/api/client/proxys/detail/{hs_name}/{vm_uuid}", "/api/client/pxyget/{hs_name}/{vm_uuid}"),
    ("POST", "/api/client/proxys/create/{hs_name}/{vm_uuid}", "/api/client/pxyadd/{hs_name}/{vm_uuid}"),
    (
        "DELETE",
        "/api/client/proxys/delete/{hs_name}/{vm_uuid}/{proxy_index}",
        "/api/client/pxydel/{hs_name}/{vm_uuid}/{proxy_index}",
    ),
];

/// First path segments of the console's own routes, which belong to the openidcs dialect.
pub(crate) const PREFIXES: [&str; 5] = ["token", "hosts", "login", "logout", "users"];

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(current_user))
        .routes(routes!(hosts_by_name))
        .routes(routes!(vms_by_id))
        .routes(routes!(ip_delete_by_nic))
}

/// Middleware: a request for a console alias goes on as the seed route it names (query kept).
pub async fn rewrite(mut request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let seed = ALIASES
        .iter()
        .filter(|(m, _, _)| *m == request.method().as_str())
        .find_map(|(_, alias, seed)| matches(alias, path).map(|params| fill(seed, &params)));
    if let Some(seed) = seed {
        let target = match request.uri().query() {
            Some(q) => format!("{seed}?{q}"),
            None => seed,
        };
        if let Ok(uri) = target.parse::<Uri>() {
            *request.uri_mut() = uri;
        }
    }
    next.run(request).await
}

/// The values of `pattern`'s `{name}` segments in `path`, by name; `None` if it does not match.
fn matches<'a>(pattern: &'a str, path: &'a str) -> Option<BTreeMap<&'a str, &'a str>> {
    let (mut p, mut s) = (pattern.split('/'), path.split('/'));
    let mut params = BTreeMap::new();
    loop {
        match (p.next(), s.next()) {
            (None, None) => return Some(params),
            (Some(want), Some(got)) => match want.strip_prefix('{').and_then(|w| w.strip_suffix('}')) {
                Some(name) if !got.is_empty() => {
                    params.insert(name, got);
                }
                None if want == got => {}
                _ => return None,
            },
            _ => return None,
        }
    }
}

fn fill(pattern: &str, params: &BTreeMap<&str, &str>) -> String {
    pattern
        .split('/')
        .map(|seg| match seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(name) => params.get(name).copied().unwrap_or(seg),
            None => seg,
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Adds each alias to the document as a copy of its seed operation.
pub fn document(doc: &mut utoipa::openapi::OpenApi) {
    for (method, alias, seed) in ALIASES {
        let Some(mut op) = doc.paths.paths.get_mut(seed).and_then(|item| operation(item, method).clone()) else {
            continue;
        };
        op.operation_id = op.operation_id.map(|id| format!("{id}_console_alias"));
        op.description = Some(format!("The name OpenIDCS's web console uses for `{method} {seed}`; answers the same."));
        let item = doc.paths.paths.entry(alias.to_string()).or_default();
        *operation(item, method) = Some(op);
    }
}

fn operation<'a>(item: &'a mut PathItem, method: &str) -> &'a mut Option<Operation> {
    match method {
        "POST" => &mut item.post,
        "DELETE" => &mut item.delete,
        _ => &mut item.get,
    }
}

/// A host body as the console sends it, `{name, type, config: {…}, server_pass}`, made the
/// seed's one `HSConfig`; any other body is read as it is.
pub(super) fn host_body<T: serde::de::DeserializeOwned>(body: serde_json::Value) -> Result<T, ApiError> {
    use serde_json::Value;
    let body = match body {
        Value::Object(mut outer) if outer.get("config").is_some_and(Value::is_object) => {
            let mut config = match outer.remove("config") {
                Some(Value::Object(config)) => config,
                _ => serde_json::Map::new(),
            };
            for (key, value) in outer {
                let key = match key.as_str() {
                    "name" => "hs_name".to_owned(),
                    "type" => "server_type".to_owned(),
                    _ => key,
                };
                config.entry(key).or_insert(value);
            }
            Value::Object(config)
        }
        other => other,
    };
    serde_json::from_value(body).map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = openidcs::LoginRequest)]
struct LoginRequest {
    /// `user` (default: username and password) or `token` (an access or API token).
    #[serde(default)]
    login_type: Option<String>,
    username: Option<String>,
    password: Option<String>,
    token: Option<String>,
}

/// The signed-in user as OpenIDCS's console reads it.
#[derive(Serialize, ToSchema)]
#[schema(as = openidcs::ConsoleUser)]
struct ConsoleUser {
    id: i64,
    username: String,
    email: String,
    is_admin: bool,
    is_active: bool,
    /// Every host: Gantry has no per-host assignment.
    assigned_hosts: Vec<String>,
    can_create_vm: bool,
    can_modify_vm: bool,
    can_delete_vm: bool,
}

#[derive(Serialize, ToSchema)]
#[schema(as = openidcs::LoginAnswer)]
struct LoginAnswer {
    /// The bearer token for every later request.
    token: String,
    user_info: ConsoleUser,
    /// Where the console goes next.
    redirect: String,
    is_token: bool,
}

fn console_user(user: &UserRecord) -> ConsoleUser {
    let admin = user.role == Role::Admin;
    ConsoleUser {
        id: user.id,
        username: user.username.clone(),
        email: user.email.clone().unwrap_or_default(),
        is_admin: admin,
        is_active: true,
        assigned_hosts: Vec::new(),
        can_create_vm: admin,
        can_modify_vm: admin,
        can_delete_vm: admin,
    }
}

/// Sign in with a username and password (a session of the openidcs dialect) or check a token.
#[utoipa::path(post, path = "/api/login", tag = "openidcs", request_body = LoginRequest,
    responses((status = 200, body = LoginAnswer), (status = 400, description = "neither a username and password nor a token"),
        (status = 401, description = "wrong username, password or token"), (status = 429, description = "too many failed attempts")))]
async fn login(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    Body(req, ..): Body<Openidcs, LoginRequest>,
) -> ApiResult<Openidcs, LoginAnswer> {
    let (token, user, is_token) = match (req.login_type.as_deref(), req.token, req.username, req.password) {
        (Some("token"), Some(token), _, _) => {
            let principal = state.accounts.authenticate(&token).await?;
            (token, state.accounts.user(principal.user_id).await?, true)
        }
        (None | Some("user"), _, Some(username), Some(password)) => {
            let issued = state
                .accounts
                .login(&username, PasswordInput::Plain(password), Dialect::Openidcs, None, client)
                .await?;
            (issued.access_token, issued.user, false)
        }
        _ => {
            return Err(ApiError::new(
                ErrorKind::BadRequest,
                "send {login_type:\"user\", username, password} or {login_type:\"token\", token}",
            )
            .into());
        }
    };
    let user_info = console_user(&user);
    let redirect = if user_info.is_admin { "/dashboard" } else { "/user/dashboard" }.to_string();
    Ok(Reply::with_message("login succeeded", LoginAnswer { token, user_info, redirect, is_token }))
}

/// Sign out: a session ends; an API token stays (reset it to revoke it).
#[utoipa::path(get, path = "/api/logout", tag = "openidcs", security(("bearer" = [])),
    responses((status = 200, description = "signed out"), (status = 401)))]
async fn logout(State(state): State<AppState>, Auth(caller, ..): Auth<Openidcs>) -> ApiResult<Openidcs, ()> {
    if caller.session_id.is_some() {
        state.accounts.revoke(&caller).await?;
    }
    Ok(Reply::with_message("signed out", ()))
}

/// The signed-in user.
#[utoipa::path(get, path = "/api/users/current", tag = "openidcs", security(("bearer" = [])),
    responses((status = 200, body = ConsoleUser), (status = 401)))]
async fn current_user(
    State(state): State<AppState>,
    Auth(caller, ..): Auth<Openidcs>,
) -> ApiResult<Openidcs, ConsoleUser> {
    Ok(Reply::ok(console_user(&state.accounts.user(caller.user_id).await?)))
}

/// A host as the console lists it: the seed's view, its settings again under `config`, and
/// `enable_host` and `status` (`active`, or `disabled` in maintenance).
#[derive(Serialize, ToSchema)]
#[schema(as = openidcs::ConsoleHost)]
struct ConsoleHost {
    #[serde(flatten)]
    host: HostView,
    config: HostConfig,
    enable_host: bool,
    status: &'static str,
}

/// A VM as the console lists it: the seed's view, its settings again under `config`, and
/// `status`, the agent reports the console charts (Gantry keeps the last one, in `status`
/// of the seed route; none here).
#[derive(Serialize, ToSchema)]
#[schema(as = openidcs::ConsoleVm)]
struct ConsoleVm {
    #[serde(flatten)]
    vm: VmView,
    config: VmConfig,
    #[schema(value_type = Vec<Object>)]
    status: Vec<serde_json::Value>,
}

/// Every host keyed by name, as the console lists them (admin).
#[utoipa::path(get, path = "/api/server/detail", tag = "openidcs", security(("bearer" = ["admin"])),
    responses((status = 200, body = BTreeMap<String, ConsoleHost>)))]
async fn hosts_by_name(
    State(state): State<AppState>,
    _admin: Admin,
) -> ApiResult<Openidcs, BTreeMap<String, ConsoleHost>> {
    let hosts = state.compute.host_list().await?;
    Ok(Reply::ok(
        hosts
            .into_iter()
            .map(|host| {
                let (config, enable_host) = (host.config.clone(), !host.maintenance);
                let status = if enable_host { "active" } else { "disabled" };
                (config.hs_name.clone(), ConsoleHost { host, config, enable_host, status })
            })
            .collect(),
    ))
}

/// A host's VMs keyed by id, as the console lists them (admin).
#[utoipa::path(get, path = "/api/client/detail/{hs_name}", tag = "openidcs", security(("bearer" = ["admin"])),
    params(("hs_name" = String, Path)), responses((status = 200, body = BTreeMap<String, ConsoleVm>), (status = 404)))]
async fn vms_by_id(
    State(state): State<AppState>,
    _admin: Admin,
    PathArg(hs_name, ..): PathArg<Openidcs, String>,
) -> ApiResult<Openidcs, BTreeMap<String, ConsoleVm>> {
    let vms = state.compute.vm_list(&hs_name).await?;
    Ok(Reply::ok(
        vms.into_iter()
            .map(|vm| {
                let config = vm.config.clone();
                (config.vm_uuid.clone(), ConsoleVm { vm, config, status: Vec::new() })
            })
            .collect(),
    ))
}

/// Take a NIC's address away, naming the NIC (`ipdel_` names its index; admin).
#[utoipa::path(delete, path = "/api/hosts/{hs_name}/vms/{vm_uuid}/ip_addresses/{nic}", tag = "openidcs",
    security(("bearer" = ["admin"])),
    params(("hs_name" = String, Path), ("vm_uuid" = String, Path), ("nic" = String, Path)),
    responses((status = 200, body = IpChanged), (status = 400), (status = 404)))]
async fn ip_delete_by_nic(
    State(state): State<AppState>,
    Admin(actor): Admin,
    PathArg((hs_name, vm_uuid, nic), ..): PathArg<Openidcs, (String, String, String)>,
) -> ApiResult<Openidcs, IpChanged> {
    Ok(Reply::with_message("IP deleted", state.compute.ip_delete_nic(&actor, &hs_name, &vm_uuid, &nic).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_carry_their_parameters() {
        let p = matches("/api/client/remote/{hs_name}/{vm_uuid}", "/api/client/remote/lab/vm1").unwrap();
        assert_eq!(fill("/api/client/vncons/{hs_name}/{vm_uuid}", &p), "/api/client/vncons/lab/vm1");
        assert!(matches("/api/client/remote/{hs_name}/{vm_uuid}", "/api/client/remote/lab").is_none());
        assert!(matches("/api/client/remote/{hs_name}/{vm_uuid}", "/api/client/remote/lab//").is_none());
        assert!(matches("/api/token/current", "/api/token/currently").is_none());
    }
}
