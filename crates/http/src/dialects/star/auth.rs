//! star-graph login and logout (refresh is shared with vflow: see `dialects::shared`).

use super::UserView;
use crate::envelope::{ApiResult, Reply, StarGraph};
use crate::extract::{Auth, Body, ClientIp};
use crate::state::AppState;
use axum::extract::State;
use gantry_accounts::PasswordInput;
use gantry_core::Dialect;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(login)).routes(routes!(logout))
}

/// `password` is the hex MD5 of the password, as star-graph clients send it; a value
/// that is not 32 hex digits is taken as the password itself.
#[derive(Deserialize, ToSchema)]
#[schema(as = star::LoginRequest)]
struct LoginRequest {
    username: String,
    password: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = star::LoginResponse)]
struct LoginResponse {
    token: String,
    refresh_token: String,
    expires_in: i64,
    user: UserView,
}

/// Log in; answers an access token, a refresh token and the user.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "star-graph", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), (status = 401, description = "wrong username or password"),
        (status = 429, description = "too many failed attempts; details {resetAt}"),
        (status = 503, description = "every password check is busy and the queue for them is full")))]
async fn login(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    Body(req, ..): Body<StarGraph, LoginRequest>,
) -> ApiResult<StarGraph, LoginResponse> {
    let password = PasswordInput::star_graph(req.password);
    let issued = state.accounts.login(&req.username, password, Dialect::StarGraph, None, client).await?;
    Ok(Reply::with_message(
        "login succeeded",
        LoginResponse {
            token: issued.access_token,
            refresh_token: issued.refresh_token,
            expires_in: issued.expires_in,
            user: issued.user.into(),
        },
    ))
}

/// Log out: the session ends, its access and refresh tokens stop working.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "star-graph", security(("bearer" = [])),
    responses((status = 200, description = "logged out"), (status = 401, description = "not logged in")))]
async fn logout(State(state): State<AppState>, Auth(caller, ..): Auth<StarGraph>) -> ApiResult<StarGraph, ()> {
    state.accounts.revoke(&caller).await?;
    Ok(Reply::with_message("logged out", ()))
}
