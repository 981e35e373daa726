//! A STOMP session: CONNECT authenticates with the `Authorization` header (ERROR frame
//! and close otherwise); SUBSCRIBE to `/user/queue/reply`, `/user/topic/progress`,
//! `/user/topic/result` delivers only the caller's own messages; SEND `/app/generate`
//! and `/app/task/status` answer on `/user/queue/reply`; heart-beats are negotiated.

use super::frame::{Decoder, Frame, Item};
use crate::live_credential::LiveCredential;
use crate::state::AppState;
use crate::urls;
use gantry_core::events::Event;
use gantry_dispatch::Caller;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;

/// Heart-beat interval the server offers and wants (ms).
const HEART_BEAT_MS: u64 = 10_000;

/// How long a new session may go without a CONNECT frame.
const CONNECT_DEADLINE: Duration = Duration::from_secs(10);

/// Runs a session until the client leaves, the transport closes, or the server stops.
/// `inbound` carries raw STOMP text from the client; `outbound` takes encoded frames.
pub async fn run(state: AppState, base: String, mut inbound: mpsc::Receiver<String>, outbound: mpsc::Sender<String>) {
    let _live = state.metrics.live_session("stomp");
    let mut session = Session {
        state: state.clone(),
        base,
        outbound,
        credential: None,
        subscriptions: HashMap::new(),
        counter: 0,
        last_out: Instant::now(),
    };
    let mut decoder = Decoder::default();
    let mut events = state.events.subscribe();
    let mut send_every: Option<Duration> = None;
    let mut expect_every: Option<Duration> = None;
    let mut last_in = Instant::now();
    let opened = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(1000));
    loop {
        tokio::select! {
            () = state.supervisor.stopping() => return,
            chunk = inbound.recv() => {
                let Some(chunk) = chunk else { return };
                last_in = Instant::now();
                decoder.push(chunk.as_bytes());
                loop {
                    match decoder.next_item() {
                        Ok(Some(Item::HeartBeat)) => {}
                        Ok(Some(Item::Frame(frame))) => match session.handle(frame).await {
                            Flow::Continue => {}
                            Flow::Connected { client_send, client_wants } => {
                                send_every = (client_wants > 0).then(|| Duration::from_millis(client_wants.max(HEART_BEAT_MS)));
                                expect_every = (client_send > 0).then(|| Duration::from_millis(client_send.max(HEART_BEAT_MS)));
                            }
                            Flow::Close => return,
                        },
                        Ok(None) => break,
                        Err(message) => {
                            session.error(&message).await;
                            return;
                        }
                    }
                }
            }
            event = events.recv(), if session.credential.is_some() => match event {
                Ok(envelope) => {
                    if let Err(e) = session.recheck(&envelope.event).await {
                        session.error(&format!("session ended: {e}")).await;
                        return;
                    }
                    session.deliver(envelope.event).await;
                }
                Err(RecvError::Lagged(n)) => tracing::warn!(missed = n, "STOMP session lagged behind the event stream"),
                Err(RecvError::Closed) => return,
            },
            _ = tick.tick() => {
                if send_every.is_some_and(|every| session.last_out.elapsed() >= every) {
                    // A bare end-of-line is a STOMP heart-beat.
                    if session.outbound.send("\n".into()).await.is_err() {
                        return;
                    }
                    session.last_out = Instant::now();
                }
                if expect_every.is_some_and(|every| last_in.elapsed() > every * 2) {
                    tracing::info!("STOMP client missed its heart-beats; closing");
                    return;
                }
                match &session.credential {
                    None if opened.elapsed() > CONNECT_DEADLINE => {
                        session.error("no CONNECT frame in time").await;
                        return;
                    }
                    Some(credential) if credential.expired(state.clock.now_secs()) => {
                        session.error("session ended: token expired").await;
                        return;
                    }
                    _ => {}
                }
            }
        }
    }
}

enum Flow {
    Continue,
    Connected { client_send: u64, client_wants: u64 },
    Close,
}

struct Session {
    state: AppState,
    base: String,
    outbound: mpsc::Sender<String>,
    /// Set by CONNECT; checked again as its user or session changes.
    credential: Option<LiveCredential>,
    /// destination → subscription id.
    subscriptions: HashMap<String, String>,
    counter: u64,
    /// When the last frame went out, for heart-beats.
    last_out: Instant,
}

impl Session {
    async fn send(&mut self, frame: Frame) {
        let _ = self.outbound.send(String::from_utf8_lossy(&frame.encode()).into_owned()).await;
        self.last_out = Instant::now();
    }

    async fn error(&mut self, message: &str) {
        self.send(Frame::new("ERROR").header("message", message).header("content-type", "text/plain").body(message))
            .await;
    }

    async fn receipt(&mut self, frame: &Frame) {
        if let Some(id) = frame.get("receipt") {
            self.send(Frame::new("RECEIPT").header("receipt-id", id)).await;
        }
    }

    async fn handle(&mut self, frame: Frame) -> Flow {
        if self.credential.is_none() && !matches!(frame.command.as_str(), "CONNECT" | "STOMP") {
            self.error("not connected: send CONNECT first").await;
            return Flow::Close;
        }
        match frame.command.as_str() {
            "CONNECT" | "STOMP" => self.connect(&frame).await,
            "SUBSCRIBE" => {
                match (frame.get("destination"), frame.get("id")) {
                    (Some(destination), id) => {
                        let id = id.unwrap_or(destination).to_owned();
                        self.subscriptions.insert(destination.to_owned(), id);
                    }
                    (None, _) => {
                        self.error("SUBSCRIBE needs a destination").await;
                        return Flow::Close;
                    }
                }
                self.receipt(&frame).await;
                Flow::Continue
            }
            "UNSUBSCRIBE" => {
                if let Some(id) = frame.get("id") {
                    self.subscriptions.retain(|_, sub| sub != id);
                }
                self.receipt(&frame).await;
                Flow::Continue
            }
            "SEND" => {
                let flow = self.on_send(&frame).await;
                self.receipt(&frame).await;
                flow
            }
            "DISCONNECT" => {
                self.receipt(&frame).await;
                Flow::Close
            }
            "ACK" | "NACK" | "BEGIN" | "COMMIT" | "ABORT" => {
                self.receipt(&frame).await;
                Flow::Continue
            }
            other => {
                self.error(&format!("unknown command {other}")).await;
                Flow::Close
            }
        }
    }

    async fn connect(&mut self, frame: &Frame) -> Flow {
        let raw = frame.get("Authorization").or_else(|| frame.get("authorization")).or_else(|| frame.get("passcode"));
        let token = raw.map(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")).unwrap_or(v).trim());
        let credential = match token.filter(|t| !t.is_empty()) {
            Some(token) => LiveCredential::check(&self.state.accounts, token).await,
            None => Err(gantry_accounts::AccountsError::MissingToken),
        };
        let credential = match credential {
            Ok(c) => c,
            Err(e) => {
                self.error(&format!("authentication failed: {e}")).await;
                return Flow::Close;
            }
        };
        let versions = frame.get("accept-version").unwrap_or("1.0");
        let version =
            ["1.2", "1.1", "1.0"].into_iter().find(|v| versions.split(',').any(|o| o.trim() == *v)).unwrap_or("1.0");
        let (client_send, client_wants) = frame
            .get("heart-beat")
            .and_then(|h| h.split_once(','))
            .and_then(|(a, b)| Some((a.trim().parse().ok()?, b.trim().parse().ok()?)))
            .unwrap_or((0, 0));
        let connected = Frame::new("CONNECTED")
            .header("version", version)
            .header("heart-beat", format!("{HEART_BEAT_MS},{HEART_BEAT_MS}"))
            .header("server", concat!("Gantry/", env!("CARGO_PKG_VERSION")))
            .header("user-name", credential.principal().username.clone());
        self.credential = Some(credential);
        self.send(connected).await;
        Flow::Connected { client_send, client_wants }
    }

    fn caller(&self) -> Option<Caller> {
        self.credential.as_ref().map(|c| crate::extract::caller(c.principal()))
    }

    async fn message(&mut self, destination: &str, body: &Value) {
        let Some(subscription) = self.subscriptions.get(destination).cloned() else { return };
        self.counter += 1;
        let frame = Frame::new("MESSAGE")
            .header("destination", destination)
            .header("subscription", subscription)
            .header("message-id", format!("m-{}", self.counter))
            .header("content-type", "application/json")
            .body(body.to_string());
        self.send(frame).await;
    }

    async fn on_send(&mut self, frame: &Frame) -> Flow {
        let Some(caller) = self.caller() else { return Flow::Close };
        let body: Value = serde_json::from_slice(&frame.body).unwrap_or(Value::Null);
        let reply = match frame.get("destination") {
            Some("/app/generate") => self.generate(caller, body).await,
            Some("/app/task/status") => self.task_status(caller, &body).await,
            Some(other) => {
                self.error(&format!("unknown destination {other}")).await;
                return Flow::Close;
            }
            None => {
                self.error("SEND needs a destination").await;
                return Flow::Close;
            }
        };
        self.message("/user/queue/reply", &reply).await;
        Flow::Continue
    }

    async fn generate(&self, caller: Caller, mut body: Value) -> Value {
        let kind = body.as_object_mut().and_then(|o| o.remove("type")).and_then(|t| t.as_str().map(str::to_owned));
        let Some(kind) = kind.as_deref().and_then(gantry_generation::Kind::parse) else {
            return json!({"type": "error", "code": 400, "message": "`type` must be TEXT2IMG, IMG2IMG, UPSCALE, POSE, TEXT2VIDEO or IMG2VIDEO"});
        };
        let request = crate::dialects::star::generate_body::parse(kind, body);
        let submitted = match request {
            Ok(request) => self.state.generation.generate(caller.user_id, request).await,
            Err(e) => Err(e),
        };
        match submitted {
            Ok(s) => json!({"type": "generate", "taskId": s.task_id, "queuePosition": s.queue_position,
                "estimatedTime": s.estimated_time, "cost": s.cost}),
            Err(e) => {
                let code = crate::dialects::star::codes::business_code(&e).map_or_else(|| json!(400), |c| json!(c));
                json!({"type": "error", "code": code, "message": e.to_string()})
            }
        }
    }

    async fn task_status(&self, caller: Caller, body: &Value) -> Value {
        let Some(id) = body["taskId"].as_str() else {
            return json!({"type": "error", "code": 400, "message": "taskId is required"});
        };
        match self.state.dispatcher.task(caller, id).await {
            Ok(task) => {
                json!({"type": "status", "taskId": task.id, "status": crate::dialects::star::status_name(task.status), "progress": task.progress, "errorCode": task.failure.map(crate::dialects::star::failure_code)})
            }
            Err(_) => json!({"type": "error", "taskId": id, "code": 404, "message": "task not found"}),
        }
    }

    /// Checks the credential again if `event` changed its user or session.
    async fn recheck(&mut self, event: &Event) -> Result<(), gantry_accounts::AccountsError> {
        match &mut self.credential {
            Some(credential) => credential.recheck(&self.state.accounts, event).await,
            None => Ok(()),
        }
    }

    /// Forwards the caller's own task events to their subscriptions.
    async fn deliver(&mut self, event: Event) {
        let Some(credential) = &self.credential else { return };
        if event.user_id() != Some(credential.principal().user_id) {
            return;
        }
        match event {
            Event::TaskProgress { task_id, progress, step, total_steps, .. } => {
                let body = json!({"type": "progress", "taskId": task_id, "progress": progress, "currentStep": step,
                    "totalSteps": total_steps, "message": "generating"});
                self.message("/user/topic/progress", &body).await;
            }
            Event::TaskResultsReady { task_id, .. } => {
                let results = self.state.generation.results(&task_id).await.unwrap_or_default();
                let results: Vec<Value> = results
                    .iter()
                    .map(|r| {
                        json!({"url": urls::file_url(&self.base, &r.file),
                        "thumbnailUrl": r.thumbnail.as_ref().map(|t| urls::file_url(&self.base, t))})
                    })
                    .collect();
                let body = json!({"type": "result", "taskId": task_id, "status": "COMPLETED", "results": results});
                self.message("/user/topic/result", &body).await;
            }
            Event::TaskFailed { task_id, reason, error, .. } => {
                let code = crate::dialects::star::failure_code(reason);
                let body = json!({"type": "error", "taskId": task_id, "code": code, "message": error});
                self.message("/user/topic/result", &body).await;
            }
            Event::TaskCancelled { task_id, .. } => {
                let body = json!({"type": "result", "taskId": task_id, "status": "CANCELLED", "results": []});
                self.message("/user/topic/result", &body).await;
            }
            _ => {}
        }
    }
}
