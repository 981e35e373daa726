//! A small async QMP (QEMU Machine Protocol) client over a unix socket.
//!
//! - reads the greeting and negotiates `qmp_capabilities`;
//! - [`QmpClient::execute`] sends `{"execute", "arguments", "id"}` and waits for the reply with the
//!   same `id`; a reader task routes replies to waiters (many commands may be in flight) and
//!   broadcasts asynchronous events (`SHUTDOWN`, `STOP`, `RESUME`, `POWERDOWN`, `RESET`…);
//! - [`QmpClient::hmp`] runs an HMP command through `human-monitor-command` and turns the error
//!   strings that QEMU returns *inside a successful reply* (`hostfwd_add`, `hostfwd_remove`…) into
//!   [`QmpError::Hmp`].
//!
//! QEMU serves **one QMP client at a time** on a socket: a second client is accepted by the
//! kernel but gets no greeting until the first one disconnects. [`QmpClient::connect`] therefore
//! waits for the greeting with a timeout and reports [`QmpError::Busy`]. Dropping the client
//! closes the connection (the reader task is aborted), which lets the next client in.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{broadcast, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Errors of the QMP client.
#[derive(Debug, thiserror::Error)]
pub enum QmpError {
    #[error("qmp i/o: {0}")]
    Io(#[from] std::io::Error),
    /// Another client holds the QMP socket (no greeting arrived in time).
    #[error("{0}")]
    Busy(String),
    /// The peer said something that is not QMP.
    #[error("qmp protocol: {0}")]
    Protocol(String),
    /// QEMU answered `{"error": {class, desc}}`.
    #[error("qmp command {command} failed: {class}: {desc}")]
    Command { command: String, class: String, desc: String },
    /// An HMP command returned an error string inside a successful reply.
    #[error("hmp `{command}` failed: {message}")]
    Hmp { command: String, message: String },
    /// The connection is closed (QEMU exited or the socket was dropped).
    #[error("qmp connection closed")]
    Closed,
    #[error("{0}")]
    Timeout(String),
}

/// An asynchronous QMP event.
#[derive(Clone, Debug, PartialEq)]
pub struct QmpEvent {
    /// `SHUTDOWN`, `STOP`, `RESUME`, `POWERDOWN`, `RESET`…
    pub event: String,
    /// The event's `data` (`Value::Null` when absent).
    pub data: Value,
    /// QEMU's timestamp in microseconds since the epoch.
    pub timestamp_us: u64,
}

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Result<Value, QmpError>>>>>;

/// A connected, negotiated QMP client. Cheap to share behind an `Arc`.
pub struct QmpClient {
    writer: tokio::sync::Mutex<OwnedWriteHalf>,
    pending: Pending,
    next_id: AtomicU64,
    events: broadcast::Sender<QmpEvent>,
    closed: CancellationToken,
    greeting: Value,
    reader: JoinHandle<()>,
    command_timeout: Duration,
}

impl std::fmt::Debug for QmpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QmpClient").field("closed", &self.closed.is_cancelled()).finish_non_exhaustive()
    }
}

impl Drop for QmpClient {
    fn drop(&mut self) {
        // Aborting the reader drops the read half; the write half goes with `self`: the socket
        // closes and QEMU accepts its next client. `closed` is left alone: the VM did not stop.
        self.reader.abort();
    }
}

/// Default time a command may take before [`QmpError::Timeout`].
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

impl QmpClient {
    /// Connects to a QMP unix socket, reads the greeting within `greeting_timeout` (else
    /// [`QmpError::Busy`]: another client holds the monitor) and negotiates capabilities.
    pub async fn connect(path: &Path, greeting_timeout: Duration) -> Result<QmpClient, QmpError> {
        let stream = UnixStream::connect(path).await?;
        let (read, mut write) = stream.into_split();
        let mut lines = BufReader::new(read);
        let greeting = match tokio::time::timeout(greeting_timeout, read_json(&mut lines)).await {
            Err(_) => {
                return Err(QmpError::Busy(format!(
                    "no QMP greeting on {} within {greeting_timeout:?}: another client holds the monitor",
                    path.display()
                )));
            }
            Ok(r) => r?.ok_or(QmpError::Closed)?,
        };
        if greeting.get("QMP").is_none() {
            return Err(QmpError::Protocol(format!("unexpected greeting: {greeting}")));
        }
        write.write_all(b"{\"execute\":\"qmp_capabilities\",\"id\":0}\n").await?;
        let negotiate = async {
            loop {
                let Some(msg) = read_json(&mut lines).await? else { return Err(QmpError::Closed) };
                if msg.get("event").is_some() {
                    continue;
                }
                if let Some(err) = msg.get("error") {
                    return Err(command_error("qmp_capabilities", err));
                }
                if msg.get("return").is_some() {
                    return Ok(());
                }
                return Err(QmpError::Protocol(format!("unexpected reply to qmp_capabilities: {msg}")));
            }
        };
        tokio::time::timeout(greeting_timeout, negotiate)
            .await
            .map_err(|_| QmpError::Timeout("qmp_capabilities got no reply".into()))??;

        let pending: Pending = Arc::default();
        let (events, _) = broadcast::channel(64);
        let closed = CancellationToken::new();
        let reader = tokio::spawn(read_loop(lines, pending.clone(), events.clone(), closed.clone()));
        Ok(QmpClient {
            writer: tokio::sync::Mutex::new(write),
            pending,
            next_id: AtomicU64::new(1),
            events,
            closed,
            greeting,
            reader,
            command_timeout: DEFAULT_COMMAND_TIMEOUT,
        })
    }

    /// Connects, retrying while the socket does not exist yet or refuses (QEMU starting up),
    /// for at most `wait`.
    pub async fn connect_retry(path: &Path, wait: Duration, greeting_timeout: Duration) -> Result<QmpClient, QmpError> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match QmpClient::connect(path, greeting_timeout).await {
                Err(QmpError::Io(e)) if tokio::time::Instant::now() < deadline => {
                    tracing::trace!(path = %path.display(), error = %e, "qmp socket not ready");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                other => return other,
            }
        }
    }

    /// The greeting QEMU sent (`{"QMP": {"version": …, "capabilities": […]}}`).
    pub fn greeting(&self) -> &Value {
        &self.greeting
    }

    /// QEMU's version as `major.minor.micro`, from the greeting.
    pub fn qemu_version(&self) -> Option<String> {
        let q = self.greeting.pointer("/QMP/version/qemu")?;
        Some(format!("{}.{}.{}", q.get("major")?, q.get("minor")?, q.get("micro")?))
    }

    /// Subscribes to asynchronous events (only events after this call are received).
    pub fn events(&self) -> broadcast::Receiver<QmpEvent> {
        self.events.subscribe()
    }

    /// True once the connection is gone (QEMU exited or the reader failed).
    pub fn is_closed(&self) -> bool {
        self.closed.is_cancelled()
    }

    /// A token cancelled when QEMU closes the connection (not when this client is dropped).
    pub fn closed_token(&self) -> CancellationToken {
        self.closed.clone()
    }

    /// Resolves when the connection closes.
    pub async fn closed(&self) {
        self.closed.cancelled().await
    }

    /// Runs a QMP command and returns its `return` value.
    pub async fn execute(&self, command: &str, arguments: Option<Value>) -> Result<Value, QmpError> {
        if self.is_closed() {
            return Err(QmpError::Closed);
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut msg = json!({ "execute": command, "id": id });
        if let Some(args) = arguments {
            msg["arguments"] = args;
        }
        let mut line = msg.to_string();
        line.push('\n');
        let (tx, rx) = oneshot::channel();
        self.pending.lock().expect("qmp pending lock").insert(id, tx);
        let sent = async {
            let mut w = self.writer.lock().await;
            w.write_all(line.as_bytes()).await?;
            w.flush().await
        }
        .await;
        if let Err(e) = sent {
            self.pending.lock().expect("qmp pending lock").remove(&id);
            return Err(e.into());
        }
        tracing::trace!(command, id, "qmp execute");
        match tokio::time::timeout(self.command_timeout, rx).await {
            Err(_) => {
                self.pending.lock().expect("qmp pending lock").remove(&id);
                Err(QmpError::Timeout(format!("qmp command {command} got no reply in {:?}", self.command_timeout)))
            }
            Ok(Err(_)) => Err(QmpError::Closed),
            Ok(Ok(result)) => result.map_err(|e| match e {
                QmpError::Command { class, desc, .. } => {
                    QmpError::Command { command: command.to_string(), class, desc }
                }
                other => other,
            }),
        }
    }

    /// Runs an HMP command and returns its text output; output that is an HMP error message
    /// (see [`hmp_error`]) becomes [`QmpError::Hmp`].
    pub async fn hmp(&self, command_line: &str) -> Result<String, QmpError> {
        let out = self.hmp_raw(command_line).await?;
        match hmp_error(&out) {
            Some(message) => Err(QmpError::Hmp { command: command_line.to_string(), message }),
            None => Ok(out),
        }
    }

    /// Runs an HMP command and returns its raw text output, errors included.
    pub async fn hmp_raw(&self, command_line: &str) -> Result<String, QmpError> {
        let v = self.execute("human-monitor-command", Some(json!({ "command-line": command_line }))).await?;
        match v {
            Value::String(s) => Ok(s),
            other => Err(QmpError::Protocol(format!("human-monitor-command returned {other}"))),
        }
    }
}

/// Recognises the error strings HMP commands print (QEMU returns them in a *successful* QMP
/// reply): `Could not set up host forwarding rule …`, `… not found`, `unrecognized netdev id …`,
/// `unknown command: …`, `Error: …`, `invalid …`. Returns the trimmed message.
pub fn hmp_error(output: &str) -> Option<String> {
    let text = output.trim();
    if text.is_empty() {
        return None;
    }
    let lower = text.to_ascii_lowercase();
    let first = lower.lines().next().unwrap_or("");
    let is_error = first.starts_with("could not")
        || first.starts_with("error")
        || first.starts_with("unknown command")
        || first.starts_with("unrecognized")
        || first.starts_with("invalid")
        || first.starts_with("usage")
        || first.contains(" not found")
        || first.contains("failed")
        || first.contains("requires ");
    is_error.then(|| text.replace("\r\n", "\n"))
}

fn command_error(command: &str, err: &Value) -> QmpError {
    QmpError::Command {
        command: command.to_string(),
        class: err.get("class").and_then(Value::as_str).unwrap_or("GenericError").to_string(),
        desc: err.get("desc").and_then(Value::as_str).unwrap_or("").to_string(),
    }
}

async fn read_json(lines: &mut BufReader<OwnedReadHalf>) -> Result<Option<Value>, QmpError> {
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(None);
        }
        let t = line.trim();
        if t.is_empty() {
            continue;
        }
        return serde_json::from_str(t).map(Some).map_err(|e| QmpError::Protocol(format!("{e}: {t}")));
    }
}

async fn read_loop(
    mut lines: BufReader<OwnedReadHalf>,
    pending: Pending,
    events: broadcast::Sender<QmpEvent>,
    closed: CancellationToken,
) {
    loop {
        let msg = match read_json(&mut lines).await {
            Ok(Some(msg)) => msg,
            Ok(None) => break,
            Err(QmpError::Protocol(e)) => {
                tracing::warn!(error = %e, "qmp: skipping a malformed message");
                continue;
            }
            Err(e) => {
                tracing::debug!(error = %e, "qmp: read failed");
                break;
            }
        };
        if let Some(event) = msg.get("event").and_then(Value::as_str) {
            let ts = msg.get("timestamp");
            let secs = ts.and_then(|t| t.get("seconds")).and_then(Value::as_u64).unwrap_or(0);
            let usecs = ts.and_then(|t| t.get("microseconds")).and_then(Value::as_u64).unwrap_or(0);
            let ev = QmpEvent {
                event: event.to_string(),
                data: msg.get("data").cloned().unwrap_or(Value::Null),
                timestamp_us: secs * 1_000_000 + usecs,
            };
            tracing::debug!(event = %ev.event, data = %ev.data, "qmp event");
            let _ = events.send(ev);
            continue;
        }
        let Some(id) = msg.get("id").and_then(Value::as_u64) else {
            tracing::warn!(%msg, "qmp: reply without a known id");
            continue;
        };
        let Some(tx) = pending.lock().expect("qmp pending lock").remove(&id) else { continue };
        let result = match (msg.get("return"), msg.get("error")) {
            (_, Some(err)) => Err(command_error("", err)),
            (Some(ret), None) => Ok(ret.clone()),
            (None, None) => Err(QmpError::Protocol(format!("reply without return or error: {msg}"))),
        };
        let _ = tx.send(result);
    }
    closed.cancel();
    // Waiters get `Closed` when their sender is dropped.
    pending.lock().expect("qmp pending lock").clear();
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::UnixListener;

    #[test]
    fn recognises_hmp_errors() {
        assert_eq!(hmp_error(""), None);
        assert_eq!(hmp_error("host forwarding rule for tcp:127.0.0.1:5 removed\r\n"), None);
        assert!(hmp_error("Could not set up host forwarding rule 'tcp:127.0.0.1:1-:80'\r\n").is_some());
        assert!(hmp_error("host forwarding rule for tcp:127.0.0.1:18089 not found\r\n").is_some());
        assert!(hmp_error("unrecognized netdev id 'nosuch'\r\n").is_some());
        assert!(hmp_error("unknown command: 'bogus'\r\n").is_some());
        let table =
            "Hub -1 (net0):\r\n  Protocol[State]    FD  Source Address  Port   Dest. Address  Port RecvQ SendQ\r\n";
        assert_eq!(hmp_error(table), None);
    }

    /// A fake QEMU: greeting, capabilities, then answers out of order and emits an event.
    #[tokio::test]
    async fn multiplexes_replies_and_events() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("qmp.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let server = tokio::spawn(async move {
            let (s, _) = listener.accept().await.unwrap();
            let (r, mut w) = s.into_split();
            let mut r = BufReader::new(r);
            w.write_all(
                b"{\"QMP\":{\"version\":{\"qemu\":{\"major\":7,\"minor\":2,\"micro\":22}},\"capabilities\":[]}}\n",
            )
            .await
            .unwrap();
            let mut line = String::new();
            r.read_line(&mut line).await.unwrap();
            assert!(line.contains("qmp_capabilities"));
            w.write_all(b"{\"return\":{}}\n").await.unwrap();
            let mut ids = Vec::new();
            for _ in 0..2 {
                line.clear();
                r.read_line(&mut line).await.unwrap();
                let v: Value = serde_json::from_str(&line).unwrap();
                ids.push((v["id"].as_u64().unwrap(), v["execute"].as_str().unwrap().to_string()));
            }
            w.write_all(b"{\"event\":\"STOP\",\"timestamp\":{\"seconds\":1,\"microseconds\":2}}\n").await.unwrap();
            // Reply in reverse order.
            for (id, cmd) in ids.into_iter().rev() {
                let reply = if cmd == "human-monitor-command" {
                    json!({"return": "Could not set up host forwarding rule 'x'\r\n", "id": id})
                } else {
                    json!({"return": {"status": "running"}, "id": id})
                };
                w.write_all(format!("{reply}\n").as_bytes()).await.unwrap();
            }
            // Then hang up.
        });
        let client = QmpClient::connect(&path, Duration::from_secs(2)).await.unwrap();
        assert_eq!(client.qemu_version().as_deref(), Some("7.2.22"));
        let mut events = client.events();
        let (status, hmp) = tokio::join!(client.execute("query-status", None), client.hmp("hostfwd_add x"));
        assert_eq!(status.unwrap()["status"], "running");
        assert!(matches!(hmp, Err(QmpError::Hmp { .. })), "{hmp:?}");
        let ev = events.recv().await.unwrap();
        assert_eq!(ev.event, "STOP");
        assert_eq!(ev.timestamp_us, 1_000_002);
        server.await.unwrap();
        tokio::time::timeout(Duration::from_secs(2), client.closed()).await.unwrap();
        assert!(matches!(client.execute("query-status", None).await, Err(QmpError::Closed)));
    }

    #[tokio::test]
    async fn silent_server_is_busy() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("qmp.sock");
        let _listener = UnixListener::bind(&path).unwrap();
        let err = QmpClient::connect(&path, Duration::from_millis(200)).await.unwrap_err();
        assert!(matches!(err, QmpError::Busy(_)), "{err:?}");
    }
}
