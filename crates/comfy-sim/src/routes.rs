//! The HTTP API: ComfyUI's routes (each also under `/api`), plus `/sim/*` for tests.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::control::{self, Control};
use crate::files;
use crate::graph::Graph;
use crate::info;
use crate::ordered::{OrderedValue, PairsAsMap};
use crate::pyfmt;
use crate::queue::QueueItem;
use crate::state::{Sim, lock};
use crate::validate::validate_prompt;

type SimState = State<Arc<Sim>>;

/// Keys of `extra_data` that never reach the queue or history.
const SENSITIVE_EXTRA_DATA: &[&str] = &["auth_token_comfy_org", "api_key_comfy_org"];

/// Builds the full router.
pub(crate) fn router(sim: Arc<Sim>) -> Router {
    let comfy = Router::new()
        .route("/ws", get(websocket))
        .route("/prompt", get(get_prompt).post(post_prompt))
        .route("/queue", get(get_queue).post(post_queue))
        .route("/interrupt", post(post_interrupt))
        .route("/free", post(post_free))
        .route("/history", get(get_history).post(post_history))
        .route("/history/{prompt_id}", get(get_history_entry))
        .route("/view", get(files::view))
        .route("/upload/image", post(files::upload_image))
        .route("/system_stats", get(info::system_stats))
        .route("/features", get(info::features))
        .route("/object_info", get(info::object_info))
        .route("/object_info/{class}", get(info::object_info_class))
        .route("/models", get(info::models))
        .route("/models/{folder}", get(info::models_in))
        .route("/embeddings", get(info::embeddings))
        .route("/extensions", get(info::extensions));
    let body_limit = sim.settings.max_upload_bytes();
    Router::new()
        .route("/", get(index))
        .merge(comfy.clone())
        .nest("/api", comfy)
        .route("/sim/control", get(get_control).post(post_control))
        .route("/sim/timeline", get(get_timeline))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(middleware::from_fn_with_state(Arc::clone(&sim), guard))
        .with_state(sim)
}

/// A JSON response as aiohttp's `json_response` sends it.
pub(crate) fn json_response<T: Serialize>(status: StatusCode, body: &T) -> Response {
    let text = serde_json::to_string(body).unwrap_or_else(|_| "null".to_owned());
    let mut response = (status, text).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
    response
}

/// A bare status with no body (`web.Response(status=...)`).
pub(crate) fn empty(status: StatusCode) -> Response {
    status.into_response()
}

/// aiohttp's page for an unhandled exception.
pub(crate) fn server_error() -> Response {
    (StatusCode::INTERNAL_SERVER_ERROR, "500 Internal Server Error\n\nServer got itself in trouble").into_response()
}

/// `await request.json()`; `None` (a body that is not JSON) is an unhandled exception (500).
fn parse_json(body: &Bytes) -> Option<Value> {
    serde_json::from_slice(body).ok()
}

/// Origin check (403 when a loopback Host meets a foreign Origin) and the `slow_ms` delay.
async fn guard(State(sim): SimState, request: Request, next: Next) -> Response {
    if origin_mismatch(request.headers()) {
        tracing::warn!("request with non matching host and origin, returning 403");
        return empty(StatusCode::FORBIDDEN);
    }
    if !request.uri().path().starts_with("/sim/") {
        let slow_ms = lock(&sim.knobs).slow_ms;
        if slow_ms > 0 {
            tokio::time::sleep(Duration::from_millis(slow_ms)).await;
        }
    }
    next.run(request).await
}

/// Splits `host[:port]` (IPv6 in brackets) into the host name and the port.
fn split_host(authority: &str) -> (String, Option<&str>) {
    if let Some(rest) = authority.strip_prefix('[') {
        let (host, tail) = rest.split_once(']').unwrap_or((rest, ""));
        return (host.to_owned(), tail.strip_prefix(':').filter(|p| !p.is_empty()));
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if !port.is_empty() => (host.to_owned(), Some(port)),
        _ => (authority.trim_end_matches(':').to_owned(), None),
    }
}

fn origin_mismatch(headers: &HeaderMap) -> bool {
    let text = |name| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_ascii_lowercase();
    let (host, origin) = (text(header::HOST), text(header::ORIGIN));
    if host.is_empty() || origin.is_empty() {
        return false;
    }
    let netloc = origin.split_once("://").map_or("", |(_, rest)| rest);
    let netloc = netloc.split(['/', '?', '#']).next().unwrap_or("");
    let (origin_name, origin_port) = split_host(netloc);
    let (host_name, host_port) = split_host(&host);
    let loopback = host_name == "localhost" || host_name.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
    let host_domain = if origin_port.is_none() { host_name.clone() } else { host.clone() };
    let origin_domain = if host_port.is_none() { origin_name } else { netloc.to_owned() };
    loopback && !host_domain.is_empty() && !origin_domain.is_empty() && host_domain != origin_domain
}

async fn index() -> Response {
    let page = "<!DOCTYPE html><html><head><title>ComfyUI</title></head><body>comfy-sim</body></html>";
    ([(header::CONTENT_TYPE, "text/html")], page).into_response()
}

async fn websocket(
    State(sim): SimState,
    Query(query): Query<HashMap<String, String>>,
    upgrade: WebSocketUpgrade,
) -> Response {
    let client_id = query.get("clientId").cloned();
    upgrade.on_upgrade(move |socket| crate::ws::serve_socket(sim, socket, client_id))
}

async fn get_prompt(State(sim): SimState) -> Response {
    let remaining = lock(&sim.queue).remaining();
    json_response(StatusCode::OK, &json!({"exec_info": {"queue_remaining": remaining}}))
}

async fn post_prompt(State(sim): SimState, body: Bytes) -> Response {
    let Some(request) = parse_json(&body) else {
        return server_error();
    };
    let fields = match &request {
        Value::Object(map) => map.clone(),
        Value::Array(_) | Value::String(_) => Map::new(),
        _ => return server_error(),
    };

    let (number, priority) = match fields.get("number") {
        Some(n) => match pyfmt::to_float(n) {
            Ok(f) => (f.to_value(), f.as_f64()),
            Err(_) => return server_error(),
        },
        None => {
            let mut queue = lock(&sim.queue);
            let mut n = queue.counter;
            if fields.get("front").is_some_and(pyfmt::truthy) {
                n = -n;
            }
            queue.counter += 1;
            (Value::from(n), n as f64)
        }
    };

    if !fields.contains_key("prompt") {
        let error = json!({"type": "no_prompt", "message": "No prompt provided", "details": "No prompt provided", "extra_info": {}});
        return json_response(StatusCode::BAD_REQUEST, &json!({"error": error, "node_errors": {}}));
    }
    let prompt_id = match fields.get("prompt_id") {
        Some(Value::String(s)) => s.clone(),
        None | Some(Value::Null) => uuid::Uuid::new_v4().to_string(),
        Some(other) => other.to_string(),
    };
    let partial: Option<Vec<String>> =
        fields.get("partial_execution_targets").and_then(Value::as_array).map(|a| a.iter().map(pyfmt::str).collect());
    let Some(mut graph) = ordered_prompt(&body).and_then(Graph::from_ordered) else {
        return server_error();
    };

    let checked = validate_prompt(&mut graph, partial.as_deref(), &sim.catalogue, &*sim);
    let mut extra_data = match fields.get("extra_data") {
        None => Map::new(),
        Some(Value::Object(map)) => map.clone(),
        Some(_) => return server_error(),
    };
    if let Some(client_id) = fields.get("client_id") {
        extra_data.insert("client_id".into(), client_id.clone());
    }
    let accepted = match checked {
        Ok(accepted) => accepted,
        Err(rejected) => {
            tracing::warn!(error = %rejected.error, "invalid prompt");
            let body = json!({"error": rejected.error, "node_errors": rejected.node_errors});
            return json_response(StatusCode::BAD_REQUEST, &body);
        }
    };
    for key in SENSITIVE_EXTRA_DATA {
        extra_data.remove(*key);
    }
    {
        let mut queue = lock(&sim.queue);
        let timeline_slot = queue.timeline_slot(&prompt_id);
        queue.push(QueueItem {
            number: number.clone(),
            priority,
            prompt_id: prompt_id.clone(),
            graph,
            extra_data,
            outputs: accepted.outputs,
            timeline_slot,
        });
        sim.queue_updated(&queue);
    }
    sim.wake.notify_one();
    tracing::info!(prompt_id, "got prompt");
    let body = json!({"prompt_id": prompt_id, "number": number, "node_errors": accepted.node_errors});
    json_response(StatusCode::OK, &body)
}

/// The `prompt` field with its key order intact.
fn ordered_prompt(body: &Bytes) -> Option<OrderedValue> {
    match serde_json::from_slice::<OrderedValue>(body).ok()? {
        OrderedValue::Object(pairs) => pairs.into_iter().find(|(k, _)| k == "prompt").map(|(_, v)| v),
        _ => None,
    }
}

async fn get_queue(State(sim): SimState) -> Response {
    #[derive(Serialize)]
    struct QueueView<'a> {
        queue_running: Vec<&'a QueueItem>,
        queue_pending: Vec<&'a QueueItem>,
    }
    let queue = lock(&sim.queue);
    let view = QueueView {
        queue_running: queue.running().map(|i| &**i).into_iter().collect(),
        queue_pending: queue.pending().iter().map(|i| &**i).collect(),
    };
    json_response(StatusCode::OK, &view)
}

fn id_list(value: Option<&Value>) -> Vec<String> {
    value.and_then(Value::as_array).map(|a| a.iter().map(pyfmt::str).collect()).unwrap_or_default()
}

async fn post_queue(State(sim): SimState, body: Bytes) -> Response {
    let Some(request) = parse_json(&body) else {
        return server_error();
    };
    let mut queue = lock(&sim.queue);
    if request.get("clear").is_some_and(pyfmt::truthy) {
        queue.clear_pending();
        sim.queue_updated(&queue);
    }
    for id in id_list(request.get("delete")) {
        if queue.delete_pending(&id) {
            sim.queue_updated(&queue);
        }
    }
    empty(StatusCode::OK)
}

async fn post_interrupt(State(sim): SimState, body: Bytes) -> Response {
    let request: Value = serde_json::from_slice(&body).unwrap_or_else(|_| json!({}));
    match request.get("prompt_id").filter(|v| pyfmt::truthy(v)) {
        Some(target) => {
            let target = pyfmt::str(target);
            let running = lock(&sim.queue).running().is_some_and(|i| i.prompt_id == target);
            if running {
                tracing::info!(prompt_id = target, "interrupting prompt");
                sim.interrupt.store(true, Ordering::SeqCst);
            } else {
                tracing::info!(prompt_id = target, "prompt is not currently running, skipping interrupt");
            }
        }
        None => {
            tracing::info!("global interrupt (no prompt_id specified)");
            sim.interrupt.store(true, Ordering::SeqCst);
        }
    }
    empty(StatusCode::OK)
}

async fn post_free(State(sim): SimState, body: Bytes) -> Response {
    let Some(request) = parse_json(&body) else {
        return server_error();
    };
    let mut queue = lock(&sim.queue);
    if request.get("unload_models").is_some_and(pyfmt::truthy) {
        queue.unload_models = true;
    }
    if request.get("free_memory").is_some_and(pyfmt::truthy) {
        queue.free_memory = true;
    }
    empty(StatusCode::OK)
}

async fn get_history(State(sim): SimState, Query(query): Query<HashMap<String, String>>) -> Response {
    // Python's int(): a value that is not an integer is an unhandled exception (500).
    let int = |key: &str| query.get(key).map(|v| v.trim().parse::<i64>());
    let (max_items, offset) = match (int("max_items").transpose(), int("offset").transpose()) {
        (Ok(m), Ok(o)) => (m, o.unwrap_or(-1)),
        _ => return server_error(),
    };
    let queue = lock(&sim.queue);
    let entries = queue.history(max_items, offset);
    json_response(StatusCode::OK, &PairsAsMap(&entries))
}

async fn get_history_entry(State(sim): SimState, Path(prompt_id): Path<String>) -> Response {
    let queue = lock(&sim.queue);
    match queue.history_entry(&prompt_id) {
        Some(entry) => json_response(StatusCode::OK, &PairsAsMap(&[(prompt_id.as_str(), entry)])),
        None => json_response(StatusCode::OK, &json!({})),
    }
}

async fn post_history(State(sim): SimState, body: Bytes) -> Response {
    let Some(request) = parse_json(&body) else {
        return server_error();
    };
    let mut queue = lock(&sim.queue);
    if request.get("clear").is_some_and(pyfmt::truthy) {
        queue.clear_history();
    }
    for id in id_list(request.get("delete")) {
        queue.delete_history(&id);
    }
    empty(StatusCode::OK)
}

async fn get_control(State(sim): SimState) -> Response {
    json_response(StatusCode::OK, &control::state(&sim))
}

async fn post_control(State(sim): SimState, body: Bytes) -> Response {
    match serde_json::from_slice::<Control>(&body) {
        Ok(change) => json_response(StatusCode::OK, &control::apply(&sim, change)),
        Err(e) => json_response(StatusCode::BAD_REQUEST, &json!({"error": e.to_string()})),
    }
}

async fn get_timeline(State(sim): SimState) -> Response {
    json_response(StatusCode::OK, &lock(&sim.queue).timeline())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(host: &str, origin: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_str(host).unwrap());
        h.insert(header::ORIGIN, HeaderValue::from_str(origin).unwrap());
        h
    }

    #[test]
    fn origin_check_only_guards_loopback_hosts() {
        assert!(origin_mismatch(&headers("127.0.0.1:8188", "http://evil.example")));
        assert!(!origin_mismatch(&headers("127.0.0.1:8188", "http://127.0.0.1:8188")));
        assert!(!origin_mismatch(&headers("localhost:8188", "http://localhost")));
        assert!(!origin_mismatch(&headers("gpu1.internal:8188", "http://evil.example")));
    }
}
