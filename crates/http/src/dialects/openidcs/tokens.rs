//! openidcs system token routes (`treset`, `tsetup`, `tquery`).
//!
//! The system token is an admin API credential usable as `Authorization: Bearer` on
//! every dialect. It is stored only as a digest: `treset` and `tsetup` show it once,
//! `tquery` describes it (hint, owner, times) without revealing it.

use crate::envelope::{ApiResult, Openidcs, Reply};
use crate::extract::{Auth, Body};
use crate::state::AppState;
use axum::extract::State;
use gantry_accounts::OPENIDCS_TOKEN;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The token routes.
pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(treset)).routes(routes!(tsetup)).routes(routes!(tquery))
}

#[derive(Serialize, ToSchema)]
struct NewToken {
    /// The new token; shown only in this answer.
    token: String,
}

/// Replace the system token with a new random one (admin).
#[utoipa::path(post, path = "/api/system/treset", tag = "openidcs", security(("bearer" = ["admin"])),
    responses((status = 200, body = NewToken)))]
async fn treset(State(state): State<AppState>, Auth(caller, ..): Auth<Openidcs>) -> ApiResult<Openidcs, NewToken> {
    let token = state.accounts.reset_api_token(&caller, OPENIDCS_TOKEN).await?;
    Ok(Reply::with_message("token reset", NewToken { token }))
}

#[derive(Deserialize, ToSchema)]
struct TokenSetup {
    /// At least 24 characters, no spaces.
    token: String,
}

/// Set the system token to a chosen value (admin).
#[utoipa::path(post, path = "/api/system/tsetup", tag = "openidcs", security(("bearer" = ["admin"])), request_body = TokenSetup,
    responses((status = 200, description = "token set"), (status = 400, description = "token too short")))]
async fn tsetup(
    State(state): State<AppState>,
    Auth(caller, ..): Auth<Openidcs>,
    Body(setup, ..): Body<Openidcs, TokenSetup>,
) -> ApiResult<Openidcs, ()> {
    state.accounts.setup_api_token(&caller, OPENIDCS_TOKEN, &setup.token).await?;
    Ok(Reply::with_message("token set", ()))
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct TokenInfo {
    configured: bool,
    /// The first characters of the token.
    hint: Option<String>,
    owner: Option<String>,
    created_at: Option<i64>,
    last_used_at: Option<i64>,
}

/// Describe the system token without revealing it (admin).
#[utoipa::path(get, path = "/api/system/tquery", tag = "openidcs", security(("bearer" = ["admin"])),
    responses((status = 200, body = TokenInfo)))]
async fn tquery(State(state): State<AppState>, Auth(caller, ..): Auth<Openidcs>) -> ApiResult<Openidcs, TokenInfo> {
    let info = state.accounts.api_token_info(&caller, OPENIDCS_TOKEN).await?;
    Ok(Reply::ok(match info {
        Some(i) => TokenInfo {
            configured: true,
            hint: Some(i.hint),
            owner: Some(i.owner),
            created_at: Some(i.created_at),
            last_used_at: i.last_used_at,
        },
        None => TokenInfo { configured: false, hint: None, owner: None, created_at: None, last_used_at: None },
    }))
}
