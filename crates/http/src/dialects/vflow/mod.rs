//! vflow dialect (`/api/v1`, envelope `{code: 0, message, data, details?}`).
//!
//! Devices get tokens only from an authenticated user (`Authorization: Bearer` with any
//! dialect's access token) or with a one-time pairing code an admin created; there are no
//! anonymous tokens. One token per device: a new one revokes the device's earlier ones.

mod errors;
mod executions;
mod folders;
mod modules;
mod system;
mod transfer;
mod webhooks;
mod workflows;

use crate::envelope::{ApiResult, Reply, Vflow};
use crate::error::{ApiError, ErrorKind};
use crate::extract::{Auth, Body, MaybeAuth};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use gantry_accounts::{Device, IssuedTokens, Principal};
use gantry_core::Dialect;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// vflow's routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(token))
        .routes(routes!(verify))
        .routes(routes!(revoke))
        .routes(routes!(pairing_code))
        .routes(routes!(health))
        .merge(modules::routes())
        .merge(workflows::routes())
        .merge(folders::routes())
        .merge(executions::routes())
        .merge(transfer::routes())
        .merge(system::routes())
        .merge(webhooks::routes())
}

/// The automation context's view of a caller.
fn owner(p: &Principal) -> gantry_automation::Owner {
    gantry_automation::Owner { user_id: p.user_id, is_admin: p.is_admin() }
}

/// An optional JSON body: absent or empty means `T::default()`; anything else must parse.
struct OptionalJson<T>(T);

impl<T, S> axum::extract::FromRequest<S> for OptionalJson<T>
where
    T: serde::de::DeserializeOwned + Default,
    S: Send + Sync,
{
    type Rejection = crate::envelope::Failure<Vflow>;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|_| ApiError::new(ErrorKind::PayloadTooLarge, "request body too large"))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(T::default()));
        }
        serde_json::from_slice(&bytes)
            .map(Self)
            .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")).into())
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct TokenRequest {
    device_id: String,
    device_name: String,
    /// Client time in Unix ms (informational).
    #[allow(dead_code)]
    timestamp: Option<i64>,
    /// A one-time code from `POST /api/v1/auth/pairing-codes`, for a device without a session.
    pairing_code: Option<String>,
}

/// Facts about the session's device and this server.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct DeviceInfo {
    brand: &'static str,
    model: String,
    device_id: Option<String>,
    device_name: Option<String>,
}

impl DeviceInfo {
    fn of(device_id: Option<String>, device_name: Option<String>) -> Self {
        Self {
            brand: "Gantry",
            model: format!("{}-{}", std::env::consts::OS, std::env::consts::ARCH),
            device_id,
            device_name,
        }
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct TokenResponse {
    token: String,
    refresh_token: String,
    expires_in: i64,
    token_type: &'static str,
    device_info: DeviceInfo,
}

impl From<IssuedTokens> for TokenResponse {
    fn from(t: IssuedTokens) -> Self {
        let device = DeviceInfo::of(None, None);
        Self {
            token: t.access_token,
            refresh_token: t.refresh_token,
            expires_in: t.expires_in,
            token_type: "Bearer",
            device_info: device,
        }
    }
}

/// Issue a token for a device: needs a logged-in caller or a pairing code.
#[utoipa::path(post, path = "/api/v1/auth/token", tag = "vflow", request_body = TokenRequest,
    responses((status = 200, body = TokenResponse), (status = 400, description = "missing device"), (status = 401, description = "no session and no valid pairing code")))]
async fn token(
    State(state): State<AppState>,
    MaybeAuth(caller, ..): MaybeAuth<Vflow>,
    Body(req, ..): Body<Vflow, TokenRequest>,
) -> ApiResult<Vflow, TokenResponse> {
    let device = Device { id: req.device_id.trim().to_owned(), name: req.device_name.trim().to_owned() };
    if device.id.is_empty() || device.id.len() > 128 || device.name.len() > 128 {
        return Err(ApiError::bad_request("deviceId (1-128 characters) and deviceName (≤128) are required").into());
    }
    let issued = match (caller, req.pairing_code) {
        (Some(caller), _) => state.accounts.issue_for_device(&caller, Dialect::Vflow, device.clone()).await?,
        (None, Some(code)) => state.accounts.redeem_pairing_code(&code, Dialect::Vflow, device.clone()).await?,
        (None, None) => {
            let how = "vflow has no login of its own: log in through another dialect (POST /api/v1/auth/login \
                       {username, password}) and send this request with that token as `Authorization: Bearer`, \
                       or present a `pairingCode` an admin made with POST /api/v1/auth/pairing-codes";
            return Err(ApiError::new(ErrorKind::Unauthenticated, how).into());
        }
    };
    let mut response = TokenResponse::from(issued);
    response.device_info = DeviceInfo::of(Some(device.id), Some(device.name));
    Ok(Reply::ok(response))
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct Verification {
    valid: bool,
    device_info: DeviceInfo,
    /// Unix seconds; null for API tokens.
    expires_at: Option<i64>,
}

/// Check a token.
#[utoipa::path(get, path = "/api/v1/auth/verify", tag = "vflow", security(("bearer" = [])),
    responses((status = 200, body = Verification), (status = 401, description = "invalid (6001) or expired (6002) token")))]
async fn verify(Auth(caller, ..): Auth<Vflow>) -> ApiResult<Vflow, Verification> {
    let Principal { device_id, device_name, expires_at, .. } = caller;
    Ok(Reply::ok(Verification { valid: true, device_info: DeviceInfo::of(device_id, device_name), expires_at }))
}

/// Revoke the presented token (its whole session).
#[utoipa::path(post, path = "/api/v1/auth/revoke", tag = "vflow", security(("bearer" = [])),
    responses((status = 200, description = "revoked"), (status = 401, description = "invalid token")))]
async fn revoke(State(state): State<AppState>, Auth(caller, ..): Auth<Vflow>) -> ApiResult<Vflow, ()> {
    state.accounts.revoke(&caller).await?;
    Ok(Reply::with_message("Token revoked successfully", ()))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct PairingRequest {
    /// The user the device will act as; the caller when omitted.
    user_id: Option<i64>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct PairingCode {
    code: String,
    user_id: i64,
    /// Unix ms.
    expires_at: i64,
}

/// Create a one-time pairing code (admin), valid for 10 minutes.
#[utoipa::path(post, path = "/api/v1/auth/pairing-codes", tag = "vflow", security(("bearer" = ["admin"])), request_body = PairingRequest,
    responses((status = 201, body = PairingCode), (status = 404, description = "unknown user")))]
async fn pairing_code(
    State(state): State<AppState>,
    Auth(caller, ..): Auth<Vflow>,
    Body(req, ..): Body<Vflow, PairingRequest>,
) -> ApiResult<Vflow, PairingCode> {
    let user_id = req.user_id.unwrap_or(caller.user_id);
    let (code, expires_at) = state.accounts.create_pairing_code(&caller, user_id).await?;
    Ok(Reply::ok(PairingCode { code, user_id, expires_at }).status(StatusCode::CREATED))
}

#[derive(Serialize, ToSchema)]
#[schema(as = vflow::Health)]
struct Health {
    status: &'static str,
    version: &'static str,
    timestamp: i64,
    uptime: i64,
}

/// Server health (no authentication).
#[utoipa::path(get, path = "/api/v1/system/health", tag = "vflow",
    responses((status = 200, body = Health), (status = 503, description = "database unreachable (9002)")))]
async fn health(State(state): State<AppState>) -> ApiResult<Vflow, Health> {
    state.database.check().await.map_err(|e| {
        tracing::error!(error = %e, "health check: database unreachable");
        ApiError::new(ErrorKind::Unavailable, "database unreachable")
    })?;
    let now = state.clock.now_ms();
    Ok(Reply::with_message(
        "healthy",
        Health {
            status: "healthy",
            version: env!("CARGO_PKG_VERSION"),
            timestamp: now,
            uptime: now - state.started_at_ms,
        },
    ))
}
