//! Routes two dialects claim. `POST /api/v1/auth/refresh` belongs to star-graph and
//! vflow alike: it answers in the dialect of the session that issued the refresh token
//! (star-graph when the token is unknown).

use crate::envelope::{Envelope, Reply, StarGraph, Vflow, render_error_for};
use crate::error::{ApiError, ErrorKind};
use crate::extract::bearer;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use gantry_core::Dialect;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(refresh))
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct Refreshed {
    token: String,
    /// The next refresh token; the presented one no longer works.
    refresh_token: String,
    expires_in: i64,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct RefreshBody {
    refresh_token: String,
}

/// Exchange a refresh token (`Authorization: Bearer <refreshToken>`, or a JSON body
/// `{"refreshToken": …}`) for a new access token and a new refresh token.
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "star-graph", security(("bearer" = [])),
    request_body(content = Option<RefreshBody>, description = "optional when the token is in the Authorization header"),
    responses((status = 200, body = Refreshed), (status = 401, description = "unknown, used or expired refresh token")))]
async fn refresh(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let token = bearer(&headers)
        .map(str::to_owned)
        .or_else(|| serde_json::from_slice::<RefreshBody>(&body).ok().map(|b| b.refresh_token));
    let Some(token) = token else {
        return StarGraph::render_error(&ApiError::new(ErrorKind::Unauthenticated, "missing refresh token"));
    };
    let dialect = match state.accounts.refresh_token_dialect(&token).await {
        Ok(Some(Dialect::Vflow)) => Dialect::Vflow,
        Ok(_) => Dialect::StarGraph,
        Err(e) => return StarGraph::render_error(&e.into()),
    };
    match state.accounts.refresh(&token).await {
        Ok((_, issued)) => {
            let body = Refreshed {
                token: issued.access_token,
                refresh_token: issued.refresh_token,
                expires_in: issued.expires_in,
            };
            match dialect {
                Dialect::Vflow => Reply::<Vflow, _>::ok(body).into_response(),
                _ => Reply::<StarGraph, _>::with_message("token refreshed", body).into_response(),
            }
        }
        Err(e) => render_error_for(dialect, &e.into()),
    }
}
