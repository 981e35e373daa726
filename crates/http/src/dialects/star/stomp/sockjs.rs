//! The SockJS transports sockjs-client uses (protocol 0.3): `GET /ws/info`, the framed
//! WebSocket `/ws/{server}/{session}/websocket`, and the XHR fallbacks `xhr` (polling),
//! `xhr_streaming` and `xhr_send`. Hand-written: the only Rust crate is unmaintained
//! (actix 0.5). Frames: `o` open, `h` heart-beat, `a[...]` messages, `c[code,"reason"]`.

use crate::state::AppState;
use crate::urls;
use axum::body::{Body, Bytes};
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

const HEARTBEAT: Duration = Duration::from_secs(25);
/// An XHR session nobody polls for this long is dropped.
const XHR_IDLE: Duration = Duration::from_secs(30);

/// `a[...]` with JSON-encoded STOMP text.
fn array_frame(messages: &[String]) -> String {
    format!("a{}", serde_json::to_string(messages).unwrap_or_else(|_| "[]".into()))
}

fn decode_client(text: &str) -> Option<Vec<String>> {
    let text = text.trim();
    if text.is_empty() {
        return Some(Vec::new());
    }
    serde_json::from_str::<Vec<String>>(text)
        .ok()
        .or_else(|| serde_json::from_str::<String>(text).ok().map(|s| vec![s]))
}

fn cors(response: &mut Response, headers: &HeaderMap) {
    let origin = headers.get(header::ORIGIN).cloned().unwrap_or(HeaderValue::from_static("*"));
    let h = response.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    h.insert(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, HeaderValue::from_static("true"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store, no-cache, must-revalidate, max-age=0"));
}

/// What `GET /ws/info` answers.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Info {
    websocket: bool,
    cookie_needed: bool,
    origins: Vec<String>,
    entropy: u32,
}

/// `GET /ws/info`.
pub async fn info(headers: HeaderMap) -> Response {
    let body = Info { websocket: true, cookie_needed: false, origins: vec!["*:*".into()], entropy: rand::random() };
    let mut response = axum::Json(body).into_response();
    cors(&mut response, &headers);
    response
}

/// `GET /ws/{server}/{session}/websocket`: SockJS framing over a WebSocket.
pub async fn websocket(State(state): State<AppState>, headers: HeaderMap, upgrade: WebSocketUpgrade) -> Response {
    let base = urls::public_base(&state, &headers);
    upgrade.on_upgrade(move |socket| websocket_session(state, base, socket)).into_response()
}

async fn websocket_session(state: AppState, base: String, mut socket: WebSocket) {
    let (to_session, inbound) = mpsc::channel::<String>(64);
    let (outbound, mut from_session) = mpsc::channel::<String>(256);
    state.supervisor.clone().spawn(super::session::run(state, base, inbound, outbound));
    if socket.send(Message::Text("o".into())).await.is_err() {
        return;
    }
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    heartbeat.tick().await;
    loop {
        tokio::select! {
            message = socket.recv() => match message {
                Some(Ok(Message::Text(text))) => {
                    let Some(chunks) = decode_client(&text) else { return };
                    for chunk in chunks {
                        if to_session.send(chunk).await.is_err() {
                            return;
                        }
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
            out = from_session.recv() => match out {
                Some(first) => {
                    let mut batch = vec![first];
                    while let Ok(more) = from_session.try_recv() {
                        batch.push(more);
                    }
                    if socket.send(Message::Text(array_frame(&batch).into())).await.is_err() {
                        return;
                    }
                }
                None => {
                    let _ = socket.send(Message::Text("c[3000,\"Go away!\"]".into())).await;
                    return;
                }
            },
            _ = heartbeat.tick() => {
                if socket.send(Message::Text("h".into())).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// XHR sessions by id.
#[derive(Clone, Default)]
pub struct XhrSessions {
    inner: Arc<Mutex<HashMap<String, Arc<XhrSession>>>>,
}

struct XhrSession {
    to_session: mpsc::Sender<String>,
    from_session: tokio::sync::Mutex<mpsc::Receiver<String>>,
    last_seen: Mutex<Instant>,
}

impl XhrSessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<XhrSession>>> {
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The session `id`, and whether it was just opened.
    fn open(&self, id: &str, state: &AppState, base: String) -> (Arc<XhrSession>, bool) {
        let mut all = self.lock();
        // Ended sessions stay until idle, so their last frames and the close frame reach
        // the client's next polls.
        all.retain(|_, s| s.last_seen.lock().map(|t| t.elapsed() < XHR_IDLE).unwrap_or(false));
        if let Some(existing) = all.get(id) {
            if let Ok(mut seen) = existing.last_seen.lock() {
                *seen = Instant::now();
            }
            return (existing.clone(), false);
        }
        let (to_session, inbound) = mpsc::channel::<String>(64);
        let (outbound, from_session) = mpsc::channel::<String>(256);
        state.supervisor.spawn(super::session::run(state.clone(), base, inbound, outbound));
        let session = Arc::new(XhrSession {
            to_session,
            from_session: tokio::sync::Mutex::new(from_session),
            last_seen: Mutex::new(Instant::now()),
        });
        all.insert(id.to_owned(), session.clone());
        (session, true)
    }

    fn get(&self, id: &str) -> Option<Arc<XhrSession>> {
        self.lock().get(id).cloned()
    }
}

fn javascript(body: impl Into<Body>, headers: &HeaderMap) -> Response {
    let mut response = Response::new(body.into());
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/javascript; charset=UTF-8"));
    cors(&mut response, headers);
    response
}

/// `POST /ws/{server}/{session}/xhr`: long polling.
pub async fn xhr(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((_server, id)): Path<(String, String)>,
) -> Response {
    let (session, opened) = state.sockjs.open(&id, &state, urls::public_base(&state, &headers));
    if opened {
        return javascript("o\n", &headers);
    }
    let mut from_session = session.from_session.lock().await;
    let body = match tokio::time::timeout(HEARTBEAT, from_session.recv()).await {
        Ok(Some(first)) => {
            let mut batch = vec![first];
            while let Ok(more) = from_session.try_recv() {
                batch.push(more);
            }
            format!("{}\n", array_frame(&batch))
        }
        Ok(None) => "c[3000,\"Go away!\"]\n".to_owned(),
        Err(_) => "h\n".to_owned(),
    };
    javascript(body, &headers)
}

/// `POST /ws/{server}/{session}/xhr_streaming`: one long response carrying every frame.
pub async fn xhr_streaming(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((_server, id)): Path<(String, String)>,
) -> Response {
    let (session, _) = state.sockjs.open(&id, &state, urls::public_base(&state, &headers));
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(16);
    state.supervisor.clone().spawn(async move {
        // The prelude defeats buffering in old browsers; sockjs-client expects it.
        let mut prelude = "h".repeat(2048);
        prelude.push('\n');
        if tx.send(Ok(Bytes::from(prelude))).await.is_err() || tx.send(Ok(Bytes::from_static(b"o\n"))).await.is_err() {
            return;
        }
        let mut from_session = session.from_session.lock().await;
        loop {
            let line = match tokio::time::timeout(HEARTBEAT, from_session.recv()).await {
                Ok(Some(first)) => {
                    let mut batch = vec![first];
                    while let Ok(more) = from_session.try_recv() {
                        batch.push(more);
                    }
                    format!("{}\n", array_frame(&batch))
                }
                Ok(None) => {
                    let _ = tx.send(Ok(Bytes::from_static(b"c[3000,\"Go away!\"]\n"))).await;
                    return;
                }
                Err(_) => "h\n".to_owned(),
            };
            if tx.send(Ok(Bytes::from(line))).await.is_err() {
                return;
            }
            if let Ok(mut seen) = session.last_seen.lock() {
                *seen = Instant::now();
            }
        }
    });
    javascript(Body::from_stream(tokio_stream_from(rx)), &headers)
}

fn tokio_stream_from(
    mut rx: mpsc::Receiver<Result<Bytes, std::io::Error>>,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// `POST /ws/{server}/{session}/xhr_send`: a JSON array of STOMP text from the client.
pub async fn xhr_send(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((_server, id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let Some(session) = state.sockjs.get(&id) else {
        return (StatusCode::NOT_FOUND, "no such session").into_response();
    };
    // sockjs-node answers these with 500; they are the client's fault, so 400 (clients only
    // check for success).
    let Some(chunks) = std::str::from_utf8(&body).ok().and_then(decode_client) else {
        return (StatusCode::BAD_REQUEST, "Broken JSON encoding.").into_response();
    };
    if chunks.is_empty() {
        return (StatusCode::BAD_REQUEST, "Payload expected.").into_response();
    }
    for chunk in chunks {
        if session.to_session.send(chunk).await.is_err() {
            return (StatusCode::NOT_FOUND, "session closed").into_response();
        }
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    cors(&mut response, &headers);
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=UTF-8"));
    response
}

/// `OPTIONS` preflight for the XHR transports.
pub async fn preflight(headers: HeaderMap) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    cors(&mut response, &headers);
    let h = response.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("OPTIONS, POST, GET"));
    h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("31536000"));
    if let Some(requested) = headers.get(header::ACCESS_CONTROL_REQUEST_HEADERS).cloned() {
        h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, requested);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_payloads_are_json_arrays_of_strings() {
        assert_eq!(decode_client(r#"["CONNECT\n\n\u0000"]"#), Some(vec!["CONNECT\n\n\0".to_owned()]));
        assert_eq!(decode_client("\"x\""), Some(vec!["x".to_owned()]));
        assert_eq!(decode_client("[1]"), None);
        assert_eq!(array_frame(&["a\"b".to_owned()]), r#"a["a\"b"]"#);
    }
}
