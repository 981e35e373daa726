//! Routes two dialects claim. `POST /api/v1/auth/refresh` belongs to star-graph and
//! vflow alike: it answers in the dialect of the session that issued the refresh token
//! (star-graph when the token is unknown).

use crate::envelope::{ComfyManager, Envelope, Reply, StarGraph, Vflow, render_error_for};
use crate::error::{ApiError, ErrorKind};
use crate::extract::{QueryArgs, bearer};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use gantry_core::Dialect;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(refresh))
        .routes(routes!(ws))
        .routes(routes!(sockjs_info))
        .routes(routes!(sockjs_websocket))
        .routes(routes!(sockjs_xhr, sockjs_xhr_options))
        .routes(routes!(sockjs_xhr_streaming))
        .routes(routes!(sockjs_xhr_send))
}

/// `/ws` serves two dialects: a WebSocket offering a STOMP subprotocol (`v12.stomp`,
/// `v11.stomp`, `v10.stomp`), or offering no subprotocol and no token (stomp.py's
/// WebSocket connection), gets star-graph's STOMP endpoint (authenticated by its CONNECT
/// frame, within 10 s); one with a token (`Authorization` or `?token=`) gets
/// comfy-manager's JSON socket.
#[utoipa::path(get, path = "/ws", tag = "comfy-manager",
    params(("token" = Option<String>, Query, description = "comfy-manager JSON socket: access token if not sent as Authorization")),
    responses((status = 101, description = "comfy-manager JSON messages (global_status, instance_status, task_progress, task_completed, task_failed), or star-graph STOMP 1.0-1.2 when a vNN.stomp subprotocol is offered"),
        (status = 400, description = "not a WebSocket upgrade"), (status = 401, description = "JSON socket with an invalid token")))]
async fn ws(
    State(state): State<AppState>,
    headers: HeaderMap,
    QueryArgs(query, ..): QueryArgs<ComfyManager, super::comfy::ws::WsQuery>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(e) => return ComfyManager::render_error(&ApiError::bad_request(e.body_text())),
    };
    let bare = query.token.is_none()
        && !headers.contains_key(axum::http::header::AUTHORIZATION)
        && !headers.contains_key(axum::http::header::SEC_WEBSOCKET_PROTOCOL);
    if bare || crate::dialects::star::stomp::wants_stomp(&headers) {
        crate::dialects::star::stomp::plain(state, &headers, upgrade)
    } else {
        super::comfy::ws::json_socket(state, headers, query, upgrade).await
    }
}

/// SockJS server info for star-graph's STOMP endpoint.
#[utoipa::path(get, path = "/ws/info", tag = "sockjs",
    responses((status = 200, body = crate::dialects::star::stomp::sockjs::Info, content_type = "application/json")))]
async fn sockjs_info(headers: HeaderMap) -> Response {
    crate::dialects::star::stomp::sockjs::info(headers).await
}

/// SockJS WebSocket transport (frames `o`, `h`, `a[...]`, `c[...]`) carrying STOMP.
#[utoipa::path(get, path = "/ws/{server}/{session}/websocket", tag = "sockjs",
    params(("server" = String, Path), ("session" = String, Path)),
    responses((status = 101, description = "SockJS-framed STOMP"),
        (status = 400, description = "not a WebSocket upgrade", body = String, content_type = "text/plain")))]
async fn sockjs_websocket(state: State<AppState>, headers: HeaderMap, upgrade: WebSocketUpgrade) -> Response {
    crate::dialects::star::stomp::sockjs::websocket(state, headers, upgrade).await
}

/// SockJS XHR polling transport.
#[utoipa::path(post, path = "/ws/{server}/{session}/xhr", tag = "sockjs",
    params(("server" = String, Path), ("session" = String, Path)),
    responses((status = 200, description = "o, h, a[...] or c[...]", body = String, content_type = "application/javascript")))]
async fn sockjs_xhr(state: State<AppState>, headers: HeaderMap, path: Path<(String, String)>) -> Response {
    crate::dialects::star::stomp::sockjs::xhr(state, headers, path).await
}

/// CORS preflight of the SockJS XHR transports.
#[utoipa::path(options, path = "/ws/{server}/{session}/xhr", tag = "sockjs",
    params(("server" = String, Path), ("session" = String, Path)), responses((status = 204, description = "preflight")))]
async fn sockjs_xhr_options(headers: HeaderMap) -> Response {
    crate::dialects::star::stomp::sockjs::preflight(headers).await
}

/// SockJS XHR streaming transport.
#[utoipa::path(post, path = "/ws/{server}/{session}/xhr_streaming", tag = "sockjs",
    params(("server" = String, Path), ("session" = String, Path)),
    responses((status = 200, description = "a stream of SockJS frames", body = String, content_type = "application/javascript")))]
async fn sockjs_xhr_streaming(state: State<AppState>, headers: HeaderMap, path: Path<(String, String)>) -> Response {
    crate::dialects::star::stomp::sockjs::xhr_streaming(state, headers, path).await
}

/// SockJS XHR send: a JSON array of STOMP text.
#[utoipa::path(post, path = "/ws/{server}/{session}/xhr_send", tag = "sockjs",
    params(("server" = String, Path), ("session" = String, Path)), request_body(content = Vec<String>),
    responses((status = 204, description = "accepted"),
        (status = 400, description = "not a JSON array of strings", body = String, content_type = "text/plain"),
        (status = 404, description = "no such session", body = String, content_type = "text/plain")))]
async fn sockjs_xhr_send(
    state: State<AppState>,
    headers: HeaderMap,
    path: Path<(String, String)>,
    body: Bytes,
) -> Response {
    crate::dialects::star::stomp::sockjs::xhr_send(state, headers, path, body).await
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
#[utoipa::path(post, path = "/api/v1/auth/refresh", tags = ["star-graph", "vflow"], security(("bearer" = [])),
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
