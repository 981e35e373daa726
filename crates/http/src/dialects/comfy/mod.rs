//! comfy-manager dialect (`/api`, envelope `{code: 200, data}`).

mod files;
mod fleet;
mod tasks;
pub(crate) mod ws;

use crate::envelope::{ApiResult, ComfyManager, Failure, Reply};
use crate::error::{ApiError, ErrorKind};
use crate::extract::{Auth, Body, ClientIp};
use crate::state::AppState;
use axum::extract::State;
use gantry_accounts::PasswordInput;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// comfy-manager's routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(me))
        .routes(routes!(health))
        .merge(fleet::routes())
        .merge(tasks::routes())
        .merge(files::routes())
}

#[derive(Deserialize, ToSchema)]
#[schema(as = comfy::LoginRequest)]
struct LoginRequest {
    username: String,
    password: String,
}

#[derive(Serialize, ToSchema)]
struct LoginUser {
    id: i64,
    username: String,
    role: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = comfy::LoginResponse)]
struct LoginResponse {
    token: String,
    expires_in: i64,
    user: LoginUser,
}

/// Log in with a username and password; answers an access token.
#[utoipa::path(post, path = "/api/auth/login", tag = "comfy-manager", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), (status = 401, description = "wrong username or password"),
        (status = 429, description = "too many failed attempts; details {resetAt}"),
        (status = 503, description = "every password check is busy and the queue for them is full")))]
async fn login(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    Body(req, ..): Body<ComfyManager, LoginRequest>,
) -> ApiResult<ComfyManager, LoginResponse> {
    let password = PasswordInput::Plain(req.password);
    let issued =
        state.accounts.login(&req.username, password, gantry_core::Dialect::ComfyManager, None, client).await?;
    Ok(Reply::ok(LoginResponse {
        token: issued.access_token,
        expires_in: issued.expires_in,
        user: LoginUser { id: issued.user.id, username: issued.user.username, role: issued.user.role.to_string() },
    }))
}

/// The caller (a Gantry addition: lets clients check their token).
#[utoipa::path(get, path = "/api/auth/me", tag = "comfy-manager", security(("bearer" = [])),
    responses((status = 200, body = LoginUser), (status = 401, description = "missing, invalid or expired token")))]
async fn me(Auth(caller, ..): Auth<ComfyManager>) -> ApiResult<ComfyManager, LoginUser> {
    Ok(Reply::ok(LoginUser { id: caller.user_id, username: caller.username, role: caller.role.to_string() }))
}

#[derive(Serialize, ToSchema)]
#[schema(as = comfy::Health)]
struct Health {
    status: &'static str,
    /// `ok`: the database answered (503 otherwise).
    database: &'static str,
    /// Always `disabled`: comfy-manager's health has this field, but Gantry uses no Redis
    /// (its queue lives in the database).
    redis: &'static str,
    /// Configured ComfyUI instances, and how many answer.
    instances: InstanceCounts,
    /// On PostgreSQL, this gateway's id in the cluster (which gateway answered).
    gateway: Option<String>,
}

#[derive(Serialize, ToSchema)]
struct InstanceCounts {
    total: usize,
    alive: usize,
}

/// Liveness and dependencies (no authentication). Redis is not used: `"disabled"`.
#[utoipa::path(get, path = "/api/health", tag = "comfy-manager",
    responses((status = 200, body = Health), (status = 503, description = "database unreachable")))]
async fn health(State(state): State<AppState>) -> ApiResult<ComfyManager, Health> {
    match state.database.check().await {
        Ok(()) => {
            let list = state.dispatcher.instances();
            let instances = InstanceCounts { total: list.len(), alive: list.iter().filter(|i| i.alive).count() };
            let gateway = state.dispatcher.gateway().map(str::to_owned);
            Ok(Reply::ok(Health { status: "ok", database: "ok", redis: "disabled", instances, gateway }))
        }
        Err(e) => {
            tracing::error!(error = %e, "health check: database unreachable");
            Err(Failure::new(ApiError::new(ErrorKind::Unavailable, "database unreachable")))
        }
    }
}
