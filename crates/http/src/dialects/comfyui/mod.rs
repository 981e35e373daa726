//! The virtual ComfyUI: ComfyUI's own protocol at `/comfy` (also `/comfy/api/…`, as
//! ComfyUI serves both), in front of the whole fleet. Each prompt is a Gantry task — stored
//! before the answer, placed by the scheduler, owned and paid for by its caller — so every
//! ComfyUI client gets failover, fairness, persistence and per-user isolation unchanged.
//!
//! Callers authenticate with `Authorization: Bearer` (access or API token), HTTP Basic
//! (username with password or API token), or, for clients that can set no header, a
//! per-token base URL `/comfy/k/<api-token>`. With `http.comfyui_listen`, a second address
//! serves the same routes at its root for clients that only reach a ComfyUI there.
//!
//! Facts about ComfyUI's protocol come from its `server.py` and `execution.py`.

mod files;
pub mod frontend;
mod history;
mod info;
mod optional;
mod prompt;
mod user_files;
mod ws;

use crate::envelope::{ComfyUi, Envelope, Failure};
use crate::error::{ApiError, ErrorKind};
use crate::extract::{ClientIp, bearer};
use crate::state::AppState;
use axum::Router;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use gantry_accounts::{AccountsError, Principal};
use serde::de::DeserializeOwned;
use tower_http::catch_panic::CatchPanicLayer;
use utoipa_axum::router::OpenApiRouter;

/// Where the virtual ComfyUI is served.
pub const PREFIX: &str = "/comfy";
/// The kind of the tasks its prompts become.
pub const TASK_KIND: &str = "comfyui";

/// The virtual ComfyUI's routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(prompt::routes())
        .merge(history::routes())
        .merge(files::routes())
        .merge(info::routes())
        .merge(optional::routes())
        .merge(user_files::routes())
        .merge(ws::routes())
        .layer(CatchPanicLayer::custom(super::panic_response::<ComfyUi>))
}

/// Maps the other spellings of a virtual ComfyUI path onto its routes, before routing:
/// `/comfy/api/x` is `/comfy/x`, and `/comfy/k/<token>/[api/]x` is `/comfy/x` with
/// `Authorization: Bearer <token>` (the token never reaches the request logs).
pub async fn rewrite(mut request: Request, next: Next) -> Response {
    if let Some((path, token)) = canonical(request.uri().path()) {
        if let Some(token) = token {
            match HeaderValue::from_str(&format!("Bearer {token}")) {
                Ok(value) => {
                    request.headers_mut().insert(header::AUTHORIZATION, value);
                }
                Err(_) => {
                    let error = ApiError::new(ErrorKind::Unauthenticated, "invalid token in the URL");
                    return ComfyUi::render_error(&error);
                }
            }
        }
        let target = match request.uri().query() {
            Some(q) => format!("{path}?{q}"),
            None => path,
        };
        if let Ok(uri) = target.parse::<Uri>() {
            *request.uri_mut() = uri;
        }
    }
    next.run(request).await
}

/// The canonical path of a virtual ComfyUI path spelled another way, and the token it
/// carries; `None` when it is already canonical (or not the virtual ComfyUI's).
fn canonical(path: &str) -> Option<(String, Option<String>)> {
    let rest = path.strip_prefix(PREFIX)?.strip_prefix('/')?;
    let (rest, token) = match rest.strip_prefix("k/") {
        Some(keyed) => {
            let (token, rest) = keyed.split_once('/').unwrap_or((keyed, ""));
            (rest, Some(token.to_owned()))
        }
        None => (rest, None),
    };
    let unprefixed = if rest == "api" { "" } else { rest.strip_prefix("api/").unwrap_or(rest) };
    if token.is_none() && unprefixed.len() == rest.len() {
        return None;
    }
    Some((format!("{PREFIX}/{unprefixed}"), token))
}

/// Serves `app` with the virtual ComfyUI at the root: every path is taken as `/comfy/…`.
pub fn at_root(app: Router) -> Router {
    Router::new().fallback_service(app).layer(axum::middleware::from_fn(prefix_path))
}

async fn prefix_path(mut request: Request, next: Next) -> Response {
    let target = match request.uri().path_and_query() {
        Some(pq) => format!("{PREFIX}{}", pq.as_str()),
        None => format!("{PREFIX}/"),
    };
    if let Ok(uri) = target.parse::<Uri>() {
        *request.uri_mut() = uri;
    }
    next.run(request).await
}

/// The caller of a virtual ComfyUI route (see the module for the credentials it takes).
pub(crate) struct Caller(pub Principal);

impl FromRequestParts<AppState> for Caller {
    type Rejection = Failure<ComfyUi>;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let ClientIp(client) = ClientIp::from_request_parts(parts, state).await.unwrap_or(ClientIp(None));
        let principal = authenticate(state, &parts.headers, None, client).await?;
        tracing::Span::current().record("user_id", principal.user_id);
        Ok(Self(principal))
    }
}

impl Caller {
    /// The dispatch context's view of the caller: only its own prompts, admins included
    /// (a ComfyUI client sees one user's queue and history).
    pub fn own(&self) -> gantry_dispatch::Caller {
        gantry_dispatch::Caller { user_id: self.0.user_id, is_admin: false }
    }
}

/// Checks a request's credential: HTTP Basic, a bearer token, or `query_token` (for
/// WebSockets from browsers).
pub(crate) async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    query_token: Option<&str>,
    client: Option<std::net::IpAddr>,
) -> Result<Principal, ApiError> {
    let value = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or_default().trim();
    if let Some((scheme, encoded)) = value.split_once(' ')
        && scheme.eq_ignore_ascii_case("basic")
    {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or_else(|| ApiError::new(ErrorKind::Unauthenticated, "malformed Basic credentials"))?;
        let (username, password) = decoded
            .split_once(':')
            .ok_or_else(|| ApiError::new(ErrorKind::Unauthenticated, "malformed Basic credentials"))?;
        return Ok(state.accounts.authenticate_basic(username, password, client).await?);
    }
    let token = bearer(headers).or(query_token).ok_or(AccountsError::MissingToken)?;
    Ok(state.accounts.authenticate(token).await?)
}

/// A JSON body whatever its `Content-Type`: ComfyUI reads bodies as JSON without looking,
/// and clients rely on that (`requests.post(url, data=json.dumps(p))`). An empty body is
/// `T::default()`.
pub(crate) struct AnyJson<T>(pub T);

impl<T: DeserializeOwned + Default, S: Send + Sync> FromRequest<S> for AnyJson<T> {
    type Rejection = Failure<ComfyUi>;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = axum::body::Bytes::from_request(req, state).await.map_err(|e| {
            let kind = if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ErrorKind::PayloadTooLarge
            } else {
                ErrorKind::BadRequest
            };
            ApiError::new(kind, e.body_text())
        })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(T::default()));
        }
        serde_json::from_slice(&bytes)
            .map(Self)
            .map_err(|e| Failure::new(ApiError::bad_request(format!("invalid JSON body: {e}"))))
    }
}

/// ComfyUI's answer to a request that changes something: an empty 200.
pub(crate) fn done() -> Response {
    (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], "").into_response()
}

#[cfg(test)]
mod tests {
    use super::canonical;

    #[test]
    fn other_spellings_map_to_the_canonical_path() {
        assert_eq!(canonical("/comfy/api/prompt"), Some(("/comfy/prompt".into(), None)));
        assert_eq!(canonical("/comfy/api"), Some(("/comfy/".into(), None)));
        assert_eq!(canonical("/comfy/k/gt_abc/view"), Some(("/comfy/view".into(), Some("gt_abc".into()))));
        assert_eq!(
            canonical("/comfy/k/gt_abc/api/history/1"),
            Some(("/comfy/history/1".into(), Some("gt_abc".into())))
        );
        assert_eq!(canonical("/comfy/prompt"), None);
        assert_eq!(canonical("/comfyx/api/prompt"), None);
        assert_eq!(canonical("/api/tasks"), None);
    }
}
