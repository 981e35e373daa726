//! The `/ws?clientId=` event stream: JSON and binary frames decoded into [`ComfyEvent`]s.

use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::time::{Instant, Interval, MissedTickBehavior};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::error::ComfyError;
use crate::history::text;

/// Binary frame type: `u32` image format, then the image.
const PREVIEW_IMAGE: u32 = 1;
/// Binary frame type: `u32` node id length, node id, then UTF-8 text.
const TEXT: u32 = 3;
/// Binary frame type: `u32` metadata length, metadata JSON, then the image.
const PREVIEW_IMAGE_WITH_METADATA: u32 = 4;

/// One message from ComfyUI's WebSocket.
#[derive(Debug, Clone, PartialEq)]
pub enum ComfyEvent {
    /// Queue size changed (broadcast). `sid` is set only in the first message after connecting.
    Status {
        queue_remaining: u64,
        sid: Option<String>,
    },
    ExecutionStart {
        prompt_id: String,
    },
    /// These nodes' results come from the cache and will not run.
    ExecutionCached {
        prompt_id: String,
        nodes: Vec<String>,
    },
    /// A node started. `node: None` means the prompt finished, whatever the outcome;
    /// the history entry exists by then. `prompt_id` is absent in the reconnect message.
    Executing {
        prompt_id: Option<String>,
        node: Option<String>,
    },
    /// Per-step (or per-tile) progress of a node.
    Progress {
        prompt_id: Option<String>,
        node: Option<String>,
        value: u64,
        max: u64,
    },
    /// A node produced UI output (`{"images": [...]}` and the like).
    Executed {
        prompt_id: String,
        node: String,
        output: Value,
    },
    /// Sent before the history is written: wait for `Executing { node: None }` to collect.
    ExecutionSuccess {
        prompt_id: String,
    },
    ExecutionError {
        prompt_id: String,
        node_id: Option<String>,
        node_type: Option<String>,
        exception_message: String,
        exception_type: String,
    },
    ExecutionInterrupted {
        prompt_id: String,
    },
    /// A preview image (binary frame type 1 or 4), encoded as JPEG or PNG.
    Preview {
        image: Bytes,
    },
    /// Any other message, e.g. `progress_state`, `feature_flags`, or binary text frames
    /// (`kind: "progress_text"`, `data: {node_id, text}`).
    Other {
        kind: String,
        data: Value,
    },
}

impl ComfyEvent {
    /// Decodes a JSON text frame `{"type": …, "data": {…}}`.
    pub fn from_text(frame: &str) -> Result<Self, ComfyError> {
        let message: Value = serde_json::from_str(frame)
            .map_err(|err| ComfyError::unexpected_body(&format!("event is not JSON ({err})"), frame.as_bytes()))?;
        let Some(kind) = message.get("type").and_then(Value::as_str) else {
            return Err(ComfyError::unexpected_body("event without a type", frame.as_bytes()));
        };
        let data = message.get("data").cloned().unwrap_or(Value::Null);
        let required = |key: &str| {
            text(&data, key)
                .ok_or_else(|| ComfyError::unexpected_body(&format!("{kind} event without {key}"), frame.as_bytes()))
        };
        let event = match kind {
            "status" => Self::Status {
                queue_remaining: data.pointer("/status/exec_info/queue_remaining").and_then(count).ok_or_else(
                    || ComfyError::unexpected_body("status event without queue_remaining", frame.as_bytes()),
                )?,
                sid: text(&data, "sid"),
            },
            "execution_start" => Self::ExecutionStart { prompt_id: required("prompt_id")? },
            "execution_cached" => Self::ExecutionCached {
                prompt_id: required("prompt_id")?,
                nodes: data.get("nodes").and_then(Value::as_array).into_iter().flatten().filter_map(node_id).collect(),
            },
            "executing" => Self::Executing { prompt_id: text(&data, "prompt_id"), node: text(&data, "node") },
            "progress" => Self::Progress {
                prompt_id: text(&data, "prompt_id"),
                node: text(&data, "node"),
                value: data.get("value").and_then(count).unwrap_or(0),
                max: data.get("max").and_then(count).unwrap_or(0),
            },
            "executed" => Self::Executed {
                prompt_id: required("prompt_id")?,
                node: required("node")?,
                output: data.get("output").cloned().unwrap_or(Value::Null),
            },
            "execution_success" => Self::ExecutionSuccess { prompt_id: required("prompt_id")? },
            "execution_error" => Self::ExecutionError {
                prompt_id: required("prompt_id")?,
                node_id: text(&data, "node_id"),
                node_type: text(&data, "node_type"),
                exception_message: text(&data, "exception_message").unwrap_or_default(),
                exception_type: text(&data, "exception_type").unwrap_or_default(),
            },
            "execution_interrupted" => Self::ExecutionInterrupted { prompt_id: required("prompt_id")? },
            other => Self::Other { kind: other.to_owned(), data },
        };
        Ok(event)
    }

    /// Decodes a binary frame. `Ok(None)` for frame types this client does not know.
    pub fn from_binary(frame: Bytes) -> Result<Option<Self>, ComfyError> {
        let (Some(event_type), Some(word)) = (be_u32(&frame, 0), be_u32(&frame, 4)) else {
            return Err(ComfyError::Protocol(format!("binary frame of {} bytes is too short", frame.len())));
        };
        let after_header = |len: u32| {
            let start = usize::try_from(len).ok().and_then(|len| len.checked_add(8));
            start.filter(|start| *start <= frame.len()).ok_or_else(|| {
                ComfyError::Protocol(format!(
                    "binary frame type {event_type} declares {len} bytes but has {}",
                    frame.len()
                ))
            })
        };
        let event = match event_type {
            // `word` is the image format (1 = JPEG, 2 = PNG).
            PREVIEW_IMAGE => Self::Preview { image: frame.slice(8..) },
            PREVIEW_IMAGE_WITH_METADATA => Self::Preview { image: frame.slice(after_header(word)?..) },
            TEXT => {
                let text_start = after_header(word)?;
                Self::Other {
                    kind: "progress_text".to_owned(),
                    data: json!({
                        "node_id": String::from_utf8_lossy(&frame[8..text_start]),
                        "text": String::from_utf8_lossy(&frame[text_start..]),
                    }),
                }
            }
            other => {
                tracing::debug!(event_type = other, len = frame.len(), "skipping unknown binary frame");
                return Ok(None);
            }
        };
        Ok(Some(event))
    }

    /// The prompt this event belongs to, when it says so. Filter on this: progress of
    /// prompts submitted without a client id is broadcast to every socket.
    pub fn prompt_id(&self) -> Option<&str> {
        match self {
            Self::ExecutionStart { prompt_id }
            | Self::ExecutionCached { prompt_id, .. }
            | Self::Executed { prompt_id, .. }
            | Self::ExecutionSuccess { prompt_id }
            | Self::ExecutionError { prompt_id, .. }
            | Self::ExecutionInterrupted { prompt_id } => Some(prompt_id),
            Self::Executing { prompt_id, .. } | Self::Progress { prompt_id, .. } => prompt_id.as_deref(),
            Self::Other { data, .. } => data.get("prompt_id").and_then(Value::as_str),
            Self::Status { .. } | Self::Preview { .. } => None,
        }
    }
}

/// A non-negative count; ComfyUI sends integers, custom nodes sometimes floats.
fn count(value: &Value) -> Option<u64> {
    value.as_u64().or_else(|| value.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64))
}

fn node_id(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn be_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let word: [u8; 4] = bytes.get(at..at + 4)?.try_into().ok()?;
    Some(u32::from_be_bytes(word))
}

/// Settings of an event WebSocket.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SocketOptions {
    pub connect_timeout: Duration,
    pub ping_interval: Duration,
    pub idle_timeout: Duration,
    pub max_message_bytes: usize,
}

/// ComfyUI's event WebSocket. Pings the server periodically, answers its pings, and
/// reports the instance unreachable when nothing at all arrives for the idle timeout.
pub struct EventStream {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    ping: Interval,
    idle_timeout: Duration,
    close_timeout: Duration,
    last_frame: Instant,
    closed: bool,
}

impl std::fmt::Debug for EventStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStream").field("closed", &self.closed).finish_non_exhaustive()
    }
}

/// What woke [`EventStream::next`].
enum Wake {
    Frame(Option<Result<Message, tungstenite::Error>>),
    PingDue,
}

impl EventStream {
    /// Opens `url` (a `ws://…/ws?clientId=…` URL) within the connect timeout.
    pub(crate) async fn connect(url: &str, options: SocketOptions) -> Result<Self, ComfyError> {
        let config = WebSocketConfig::default()
            .max_message_size(Some(options.max_message_bytes))
            .max_frame_size(Some(options.max_message_bytes));
        let connecting = tokio_tungstenite::connect_async_with_config(url, Some(config), true);
        let (ws, _response) = tokio::time::timeout(options.connect_timeout, connecting).await.map_err(|_| {
            ComfyError::Unreachable(format!("WebSocket connect to {url} timed out after {:?}", options.connect_timeout))
        })??;
        tracing::debug!(url, "event WebSocket connected");
        let mut ping = tokio::time::interval_at(Instant::now() + options.ping_interval, options.ping_interval);
        ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Ok(Self {
            ws,
            ping,
            idle_timeout: options.idle_timeout,
            close_timeout: options.connect_timeout,
            last_frame: Instant::now(),
            closed: false,
        })
    }

    /// The next event; `None` once the socket is closed. A [`ComfyError::Protocol`] item
    /// (an undecodable message) leaves the stream usable; after any other error the
    /// stream ends.
    pub async fn next(&mut self) -> Option<Result<ComfyEvent, ComfyError>> {
        while !self.closed {
            let wake = tokio::select! {
                frame = self.ws.next() => Wake::Frame(frame),
                _ = self.ping.tick() => Wake::PingDue,
            };
            match wake {
                Wake::PingDue => {
                    if self.last_frame.elapsed() > self.idle_timeout {
                        self.closed = true;
                        return Some(Err(ComfyError::Unreachable(format!(
                            "no WebSocket frame for {:?}",
                            self.idle_timeout
                        ))));
                    }
                    if let Err(err) = self.ws.send(Message::Ping(Bytes::new())).await {
                        self.closed = true;
                        return Some(Err(err.into()));
                    }
                }
                Wake::Frame(None) => self.closed = true,
                Wake::Frame(Some(Err(err))) => {
                    self.closed = true;
                    return Some(Err(err.into()));
                }
                Wake::Frame(Some(Ok(message))) => {
                    self.last_frame = Instant::now();
                    if let Some(event) = self.decode(message).await {
                        return Some(event);
                    }
                }
            }
        }
        None
    }

    /// Closes the socket and waits (up to the connect timeout) for the server to confirm.
    /// Do this before reconnecting with the same client id: ComfyUI drops events for a
    /// client id whose older socket is still open.
    pub async fn close(&mut self) -> Result<(), ComfyError> {
        if self.closed {
            return Ok(());
        }
        self.closed = true;
        match self.ws.close(None).await {
            Ok(()) | Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {}
            Err(err) => return Err(err.into()),
        }
        let drain = async { while let Some(Ok(_)) = self.ws.next().await {} };
        if tokio::time::timeout(self.close_timeout, drain).await.is_err() {
            tracing::debug!("server did not confirm the WebSocket close in time");
        }
        Ok(())
    }

    async fn decode(&mut self, message: Message) -> Option<Result<ComfyEvent, ComfyError>> {
        match message {
            Message::Text(frame) => Some(ComfyEvent::from_text(&frame)),
            Message::Binary(frame) => ComfyEvent::from_binary(frame).transpose(),
            Message::Ping(_) => {
                // tungstenite queued the pong; send it now rather than on the next read.
                if let Err(err) = self.ws.flush().await {
                    self.closed = true;
                    return Some(Err(err.into()));
                }
                None
            }
            // After a close, the next read completes the handshake and ends the stream.
            Message::Pong(_) | Message::Close(_) | Message::Frame(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(frame: Value) -> ComfyEvent {
        ComfyEvent::from_text(&frame.to_string()).expect("decodes")
    }

    #[test]
    fn decodes_the_documented_messages() {
        assert_eq!(
            event(json!({"type": "status", "data": {"status": {"exec_info": {"queue_remaining": 2}}, "sid": "abc"}})),
            ComfyEvent::Status { queue_remaining: 2, sid: Some("abc".into()) }
        );
        assert_eq!(
            event(json!({"type": "execution_cached", "data": {"nodes": ["4", 7], "prompt_id": "p", "timestamp": 1}})),
            ComfyEvent::ExecutionCached { prompt_id: "p".into(), nodes: vec!["4".into(), "7".into()] }
        );
        assert_eq!(
            event(json!({"type": "executing", "data": {"node": null, "prompt_id": "p"}})),
            ComfyEvent::Executing { prompt_id: Some("p".into()), node: None }
        );
        assert_eq!(
            event(json!({"type": "executing", "data": {"node": "3"}})),
            ComfyEvent::Executing { prompt_id: None, node: Some("3".into()) }
        );
        assert_eq!(
            event(json!({"type": "progress", "data": {"value": 5, "max": 20.0, "prompt_id": "p", "node": "3"}})),
            ComfyEvent::Progress { prompt_id: Some("p".into()), node: Some("3".into()), value: 5, max: 20 }
        );
        assert_eq!(
            event(
                json!({"type": "execution_error", "data": {"prompt_id": "p", "node_id": "3", "node_type": "KSampler",
                "exception_message": "oom", "exception_type": "torch.cuda.OutOfMemoryError", "traceback": []}})
            ),
            ComfyEvent::ExecutionError {
                prompt_id: "p".into(),
                node_id: Some("3".into()),
                node_type: Some("KSampler".into()),
                exception_message: "oom".into(),
                exception_type: "torch.cuda.OutOfMemoryError".into()
            }
        );
        assert_eq!(
            event(json!({"type": "execution_interrupted", "data": {"prompt_id": "p", "node_id": "3"}})),
            ComfyEvent::ExecutionInterrupted { prompt_id: "p".into() }
        );
        let other = event(json!({"type": "progress_state", "data": {"prompt_id": "p", "nodes": {}}}));
        assert_eq!(other.prompt_id(), Some("p"));
        assert!(matches!(other, ComfyEvent::Other { kind, .. } if kind == "progress_state"));
    }

    #[test]
    fn rejects_malformed_messages() {
        for frame in [
            "not json",
            r#"{"data": {}}"#,
            r#"{"type": "execution_start", "data": {}}"#,
            r#"{"type": "status", "data": {}}"#,
        ] {
            assert!(matches!(ComfyEvent::from_text(frame), Err(ComfyError::Protocol(_))), "{frame}");
        }
    }

    #[test]
    fn decodes_binary_frames() {
        let mut preview = vec![0, 0, 0, 1, 0, 0, 0, 2];
        preview.extend_from_slice(b"\x89PNG");
        assert_eq!(
            ComfyEvent::from_binary(Bytes::from(preview)).expect("decodes"),
            Some(ComfyEvent::Preview { image: Bytes::from_static(b"\x89PNG") })
        );

        let metadata = br#"{"prompt_id":"p","image_type":"image/jpeg"}"#;
        let mut with_metadata = vec![0, 0, 0, 4];
        with_metadata.extend_from_slice(&u32::try_from(metadata.len()).expect("small").to_be_bytes());
        with_metadata.extend_from_slice(metadata);
        with_metadata.extend_from_slice(b"JPEG");
        assert_eq!(
            ComfyEvent::from_binary(Bytes::from(with_metadata)).expect("decodes"),
            Some(ComfyEvent::Preview { image: Bytes::from_static(b"JPEG") })
        );

        let mut text_frame = vec![0, 0, 0, 3, 0, 0, 0, 1, b'9'];
        text_frame.extend_from_slice(b"hello");
        assert_eq!(
            ComfyEvent::from_binary(Bytes::from(text_frame)).expect("decodes"),
            Some(ComfyEvent::Other { kind: "progress_text".into(), data: json!({"node_id": "9", "text": "hello"}) })
        );

        assert_eq!(ComfyEvent::from_binary(Bytes::from_static(&[0, 0, 0, 9, 0, 0, 0, 0])).expect("skips"), None);
        assert!(ComfyEvent::from_binary(Bytes::from_static(&[0, 0, 1])).is_err());
        assert!(ComfyEvent::from_binary(Bytes::from_static(&[0, 0, 0, 4, 0, 0, 1, 0, 1])).is_err());
    }
}
