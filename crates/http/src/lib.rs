//! Gantry's HTTP surface. Four thin API dialects (comfy-manager, star-graph, openidcs,
//! vflow) map requests to the shared contexts and answers to their own envelopes;
//! common middleware adds request ids, tracing, metrics, CORS, body limits and panic safety.

pub mod client_addr;
pub mod dialects;
pub use dialects::openidcs::console;
pub mod envelope;
pub mod error;
pub mod extract;
pub mod file_io;
pub mod live_credential;
pub mod metrics;
pub mod openapi;
pub mod rate_limit;
pub mod request_id;
pub mod reverse_proxy;
pub mod state;
pub mod urls;
pub mod web_console;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, Uri};
use axum::response::Response;
use envelope::render_error_for;
use error::{ApiError, ErrorKind};
use gantry_core::config::HttpConfig;
pub use state::AppState;
use tower_http::LatencyUnit;
use tower_http::cors::{AllowOrigin, Any, CorsLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};

/// Builds the whole application router. The reverse proxy runs before routing: requests
/// for a proxied host never reach Gantry's routes (see [`reverse_proxy`]).
pub fn router(state: AppState, http: &HttpConfig, trusted: client_addr::TrustedProxies) -> Router {
    let proxy = reverse_proxy::ReverseProxy::new(state.proxies.clone(), state.supervisor.clone());
    let limiter = rate_limit::Limiter::new(state.config.automation.rate_limits.clone(), state.clock.clone());
    let api = openapi::router()
        .fallback(unknown_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(limiter, rate_limit::enforce))
        .layer(axum::middleware::from_fn_with_state(state.metrics.clone(), metrics::track))
        .layer(DefaultBodyLimit::max(http.max_body_bytes))
        .layer(tower::util::option_layer(cors(&http.cors_origins)))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_response(DefaultOnResponse::new().level(tracing::Level::INFO).latency_unit(LatencyUnit::Micros)),
        )
        .with_state(state);
    Router::new()
        .fallback_service(api)
        .layer(axum::middleware::from_fn(dialects::openidcs::upstream::rewrite))
        .layer(axum::middleware::from_fn(dialects::comfyui::rewrite))
        .layer(axum::middleware::from_fn_with_state(proxy, reverse_proxy::route))
        .layer(axum::middleware::from_fn_with_state(trusted, client_addr::resolve))
        .layer(axum::middleware::from_fn(request_id::assign))
}

/// Each request's span: its one log line at info when answered ("finished processing
/// request", with `latency` and `status`) carries these fields; `user_id` once
/// authenticated.
fn request_span(request: &Request) -> tracing::Span {
    let path = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| request.uri().path().to_owned(), |p| p.as_str().to_owned());
    let id = request.extensions().get::<request_id::RequestId>().map(|r| r.0.as_str()).unwrap_or_default();
    tracing::info_span!("request", method = %request.method(), path, request_id = id, user_id = tracing::field::Empty)
}

/// The CORS layer, when origins are configured. Without any, there is none: it would
/// answer every `OPTIONS` itself (an empty 200), hiding the routes' own answers.
fn cors(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    Some(CorsLayer::new().allow_origin(allow).allow_methods(Any).allow_headers(Any).expose_headers(Any))
}

async fn unknown_route(State(state): State<AppState>, method: Method, uri: Uri, headers: HeaderMap) -> Response {
    if let Some(file) = dialects::comfyui::frontend::answer(&state, &method, uri.path()).await {
        return file;
    }
    if let Some(page) = web_console::answer(&method, uri.path(), &headers) {
        return page;
    }
    let error = ApiError::new(ErrorKind::NotFound, format!("no route for {}", uri.path()));
    render_error_for(dialects::dialect_for_path(uri.path()), &error)
}

async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    let error = ApiError::new(ErrorKind::MethodNotAllowed, format!("{method} is not allowed on {}", uri.path()));
    render_error_for(dialects::dialect_for_path(uri.path()), &error)
}
