//! WebSocket sessions and message routing (`GET /ws?clientId=`).
//!
//! Routing follows ComfyUI's `send_json`: a message for a client id goes to the socket registered
//! under that id (dropped if none); `None` broadcasts. A second connection with the same id
//! replaces the first in the registry; when the first one later closes it unregisters the id,
//! silencing the second one too. That ComfyUI bug is reproduced on purpose.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::ws::{Message, Utf8Bytes, WebSocket};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::state::{Sim, lock};

/// Binary event type of a preview image (`u32` BE type, `u32` BE format, image bytes).
pub(crate) const PREVIEW_IMAGE: u32 = 1;
/// Binary event type of a preview image with JSON metadata.
pub(crate) const PREVIEW_IMAGE_WITH_METADATA: u32 = 4;

/// What a socket task is asked to do.
#[derive(Debug, Clone)]
pub(crate) enum Frame {
    Text(Utf8Bytes),
    Binary(Bytes),
    /// Drop the connection without a close handshake.
    Drop,
}

/// A frame and when it was sent (the `ws_lag_ms` knob delays it from then).
type Outgoing = (tokio::time::Instant, Frame);

struct Peer {
    tx: mpsc::UnboundedSender<Outgoing>,
    preview_metadata: bool,
}

#[derive(Default)]
struct HubInner {
    sockets: HashMap<String, Peer>,
    live: HashMap<u64, mpsc::UnboundedSender<Outgoing>>,
    next_conn: u64,
}

/// Registry of connected sockets.
#[derive(Default)]
pub(crate) struct Hub {
    inner: Mutex<HubInner>,
}

impl Hub {
    /// Registers a connection under `sid`, evicting (but not closing) a previous one.
    fn connect(&self, sid: &str) -> (u64, mpsc::UnboundedReceiver<Outgoing>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut inner = lock(&self.inner);
        inner.next_conn += 1;
        let conn = inner.next_conn;
        inner.live.insert(conn, tx.clone());
        inner.sockets.insert(sid.to_owned(), Peer { tx, preview_metadata: false });
        (conn, rx)
    }

    /// Unregisters `sid` whichever connection holds it now (ComfyUI's `sockets.pop(sid)`).
    fn disconnect(&self, sid: &str, conn: u64) {
        let mut inner = lock(&self.inner);
        inner.sockets.remove(sid);
        inner.live.remove(&conn);
    }

    fn set_preview_metadata(&self, sid: &str, enabled: bool) {
        if let Some(peer) = lock(&self.inner).sockets.get_mut(sid) {
            peer.preview_metadata = enabled;
        }
    }

    /// Whether the socket for this client declared `supports_preview_metadata`.
    pub(crate) fn supports_preview_metadata(&self, sid: Option<&str>) -> bool {
        sid.is_some_and(|sid| lock(&self.inner).sockets.get(sid).is_some_and(|p| p.preview_metadata))
    }

    fn deliver(&self, frame: Frame, to: Option<&str>) {
        let inner = lock(&self.inner);
        let now = tokio::time::Instant::now();
        match to {
            None => {
                for peer in inner.sockets.values() {
                    let _ = peer.tx.send((now, frame.clone()));
                }
            }
            Some(sid) => {
                if let Some(peer) = inner.sockets.get(sid) {
                    let _ = peer.tx.send((now, frame));
                }
            }
        }
    }

    /// Sends `{"type": event, "data": data}` to one client id, or to everyone.
    pub(crate) fn send_json(&self, event: &str, data: &Value, to: Option<&str>) {
        let text = json!({"type": event, "data": data}).to_string();
        self.deliver(Frame::Text(text.into()), to);
    }

    /// Sends a binary frame: the `u32` BE event type, then `payload`.
    pub(crate) fn send_binary(&self, event: u32, payload: &[u8], to: Option<&str>) {
        let mut bytes = Vec::with_capacity(payload.len() + 4);
        bytes.extend_from_slice(&event.to_be_bytes());
        bytes.extend_from_slice(payload);
        self.deliver(Frame::Binary(bytes.into()), to);
    }

    /// Drops every open connection, registered or evicted.
    pub(crate) fn drop_all(&self) {
        let inner = lock(&self.inner);
        for tx in inner.live.values() {
            let _ = tx.send((tokio::time::Instant::now(), Frame::Drop));
        }
    }

    /// Number of open connections.
    pub(crate) fn open_connections(&self) -> usize {
        lock(&self.inner).live.len()
    }
}

/// Serves one WebSocket until either side closes it or the sim dies.
pub(crate) async fn serve_socket(sim: Arc<Sim>, socket: WebSocket, client_id: Option<String>) {
    let sid = client_id.filter(|s| !s.is_empty()).unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    let (conn, mut outbox) = sim.hub.connect(&sid);
    tracing::debug!(sid, conn, "websocket connected");

    let remaining = lock(&sim.queue).remaining();
    let hello = json!({"status": {"exec_info": {"queue_remaining": remaining}}, "sid": sid});
    sim.hub.send_json("status", &hello, Some(&sid));
    let resume = {
        let exec = lock(&sim.exec);
        (exec.client_id.as_deref() == Some(sid.as_str())).then(|| exec.last_node_id.clone()).flatten()
    };
    if let Some(node) = resume {
        sim.hub.send_json("executing", &json!({"node": node}), Some(&sid));
    }

    let mut dead = sim.dead.subscribe();
    let (mut sink, mut stream) = socket.split();
    let mut first_message = true;
    loop {
        tokio::select! {
            // Queued frames go out before a drop or a crash is noticed.
            biased;
            frame = outbox.recv() => {
                let message = match frame {
                    Some((_, Frame::Drop)) | None => break,
                    Some((sent, frame)) => {
                        let lag = lock(&sim.knobs).ws_lag_ms;
                        if lag > 0 {
                            tokio::time::sleep_until(sent + std::time::Duration::from_millis(lag)).await;
                        }
                        match frame {
                            Frame::Text(text) => Message::Text(text),
                            Frame::Binary(bytes) => Message::Binary(bytes),
                            Frame::Drop => break,
                        }
                    }
                };
                if sink.send(message).await.is_err() {
                    break;
                }
            }
            incoming = stream.next() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    if let Ok(parsed) = serde_json::from_str::<Value>(text.as_str()) {
                        if first_message && parsed.get("type").and_then(Value::as_str) == Some("feature_flags") {
                            let wants = parsed.pointer("/data/supports_preview_metadata").is_some_and(crate::pyfmt::truthy);
                            sim.hub.set_preview_metadata(&sid, wants);
                            let features = server_features(&sim);
                            sim.hub.send_json("feature_flags", &features, Some(&sid));
                        }
                        first_message = false;
                    }
                }
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
            () = until_set(&mut dead) => break,
        }
    }
    sim.hub.disconnect(&sid, conn);
    tracing::debug!(sid, conn, "websocket closed");
}

/// Resolves once the flag is set (or its sender is gone).
pub(crate) async fn until_set(flag: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = flag.wait_for(|set| *set).await;
}

/// `GET /features` and the WebSocket feature-flag reply.
pub(crate) fn server_features(sim: &Sim) -> Value {
    json!({
        "supports_preview_metadata": true,
        "max_upload_size": sim.settings.max_upload_bytes(),
    })
}
