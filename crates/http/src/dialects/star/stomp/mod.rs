//! star-graph's STOMP endpoint at `/ws`: STOMP 1.0–1.2 over a plain WebSocket (clients
//! offer `v12.stomp`) or over SockJS (`sockjs`). One [`session`] core speaks STOMP over
//! two channels of text; each transport only moves that text.

pub mod frame;
pub mod session;
pub mod sockjs;

/// WebSocket subprotocols a STOMP client may offer.
pub const SUBPROTOCOLS: [&str; 3] = ["v12.stomp", "v11.stomp", "v10.stomp"];

use crate::state::AppState;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use tokio::sync::mpsc;

/// Whether an upgrade request offers a STOMP subprotocol.
pub fn wants_stomp(headers: &HeaderMap) -> bool {
    headers
        .get_all(axum::http::header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| SUBPROTOCOLS.contains(&p.trim()))
}

/// STOMP over a plain WebSocket: each text message carries STOMP text, each frame goes
/// out as one message.
pub fn plain(state: AppState, headers: &HeaderMap, upgrade: WebSocketUpgrade) -> Response {
    let base = crate::urls::public_base(&state, headers);
    upgrade.protocols(SUBPROTOCOLS).on_upgrade(move |socket| plain_session(state, base, socket)).into_response()
}

async fn plain_session(state: AppState, base: String, mut socket: WebSocket) {
    let (to_session, inbound) = mpsc::channel::<String>(64);
    let (outbound, mut from_session) = mpsc::channel::<String>(256);
    state.supervisor.clone().spawn(session::run(state, base, inbound, outbound));
    loop {
        tokio::select! {
            message = socket.recv() => match message {
                Some(Ok(Message::Text(text))) => {
                    if to_session.send(text.to_string()).await.is_err() {
                        return;
                    }
                }
                Some(Ok(Message::Binary(bytes))) => {
                    if to_session.send(String::from_utf8_lossy(&bytes).into_owned()).await.is_err() {
                        return;
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
            out = from_session.recv() => match out {
                Some(text) => {
                    if socket.send(Message::Text(text.into())).await.is_err() {
                        return;
                    }
                }
                None => {
                    let _ = socket.send(Message::Close(None)).await;
                    return;
                }
            },
        }
    }
}
