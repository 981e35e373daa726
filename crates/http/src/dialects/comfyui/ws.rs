//! `WS /comfy/ws?clientId=`: the messages one ComfyUI sends a client, for the caller's
//! prompts whichever instance runs them. `status` on connect (with `sid`) and whenever the
//! caller's queue changes; for each prompt `execution_start`, `execution_cached`,
//! `executing`, `progress`, `progress_state` and binary preview frames as its instance
//! reports them, then `executed` per output node (pointing at this facade's `/view`),
//! `execution_success`, `execution_error` or `execution_interrupted`, and `executing` with
//! no node. As in ComfyUI, a prompt's messages go to the socket whose `clientId` submitted
//! it, or to all of the caller's sockets when it named none.

use super::authenticate;
use super::history::outputs_of;
use super::prompt::PromptMeta;
use crate::envelope::{ComfyUi, Envelope};
use crate::error::ApiError;
use crate::extract::{ClientIp, QueryArgs};
use crate::live_credential::LiveCredential;
use crate::state::AppState;
use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use gantry_accounts::Principal;
use gantry_core::events::{Event, TaskFailure};
use gantry_dispatch::activity::{Activity, ActivityKind};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(socket))
}

/// Binary frame type of a preview image, then the image format (1 JPEG, 2 PNG).
const PREVIEW_IMAGE: u32 = 1;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct WsQuery {
    /// The client's id: prompts submitted with this `client_id` send their messages here.
    #[serde(rename = "clientId")]
    client_id: Option<String>,
    /// A bearer token, for clients that cannot set headers on a WebSocket.
    token: Option<String>,
}

/// ComfyUI's WebSocket, for the caller's prompts (see the module).
#[utoipa::path(get, path = "/comfy/ws", tag = "comfyui", security(("bearer" = []), ("basic" = [])), params(WsQuery),
    responses((status = 101, description = "ComfyUI's messages: status, execution_start, execution_cached, executing, progress, progress_state, executed, execution_success, execution_error, execution_interrupted, binary previews"),
        (status = 400, description = "not a WebSocket upgrade")))]
async fn socket(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientIp(client): ClientIp,
    QueryArgs(query, ..): QueryArgs<ComfyUi, WsQuery>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(e) => return ComfyUi::render_error(&ApiError::bad_request(e.body_text())),
    };
    let credential = match Credential::check(&state, &headers, query.token.as_deref(), client).await {
        Ok(credential) => credential,
        Err(e) => return ComfyUi::render_error(&e),
    };
    let sid = query
        .client_id
        .filter(|id| !id.is_empty() && id.len() <= 128)
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    upgrade.on_upgrade(move |socket| Session::new(state, credential, sid).run(socket)).into_response()
}

/// What the socket was opened with: a token, checked again when its user or session
/// changes, or Basic credentials, which end the socket on such a change (the client
/// reconnects with them).
enum Credential {
    Token(LiveCredential),
    Basic(Principal),
}

impl Credential {
    async fn check(
        state: &AppState,
        headers: &HeaderMap,
        query_token: Option<&str>,
        client: Option<std::net::IpAddr>,
    ) -> Result<Self, ApiError> {
        let token = crate::extract::bearer(headers).or(query_token);
        let basic = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim_start().get(..6).is_some_and(|s| s.eq_ignore_ascii_case("basic ")));
        match token {
            Some(token) if !basic => Ok(Self::Token(LiveCredential::check(&state.accounts, token).await?)),
            _ => Ok(Self::Basic(authenticate(state, headers, query_token, client).await?)),
        }
    }

    fn principal(&self) -> &Principal {
        match self {
            Self::Token(live) => live.principal(),
            Self::Basic(principal) => principal,
        }
    }

    /// `Err` says why the socket must end.
    async fn recheck(&mut self, state: &AppState, event: &Event) -> Result<(), String> {
        match self {
            Self::Token(live) => live.recheck(&state.accounts, event).await.map_err(|e| e.to_string()),
            Self::Basic(principal) => match event {
                Event::SessionRevoked { user_id, .. } | Event::UserUpdated { user_id }
                    if *user_id == principal.user_id =>
                {
                    Err("the account changed; reconnect".into())
                }
                _ => Ok(()),
            },
        }
    }

    fn expired(&self, now_secs: i64) -> bool {
        matches!(self, Self::Token(live) if live.expired(now_secs))
    }
}

struct Session {
    state: AppState,
    credential: Credential,
    sid: String,
    /// Whether this socket gets each task's execution messages, as far as looked up.
    routed: HashMap<String, bool>,
    /// Tasks this socket saw start: a cancel of one of them is an interruption.
    started: std::collections::HashSet<String>,
}

impl Session {
    fn new(state: AppState, credential: Credential, sid: String) -> Self {
        Self { state, credential, sid, routed: HashMap::new(), started: Default::default() }
    }

    fn user(&self) -> gantry_core::UserId {
        self.credential.principal().user_id
    }

    async fn run(mut self, mut socket: WebSocket) {
        let _live = self.state.metrics.live_session("comfyui_ws");
        let mut events = self.state.events.subscribe();
        let mut activity = self.state.dispatcher.activity();
        let first = self.status(true).await;
        if socket.send(first).await.is_err() {
            return;
        }
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            let outgoing = tokio::select! {
                biased;
                () = self.state.supervisor.stopping() => {
                    let _ = socket.send(Message::Close(None)).await;
                    return;
                }
                incoming = socket.recv() => match incoming {
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                    Some(Ok(_)) => Vec::new(),
                },
                event = events.recv() => match event {
                    Ok(envelope) => {
                        if let Err(why) = self.credential.recheck(&self.state, &envelope.event).await {
                            return close(&mut socket, &format!("session ended: {why}")).await;
                        }
                        self.on_event(envelope.at_ms, envelope.event).await
                    }
                    Err(RecvError::Lagged(_)) => vec![self.status(false).await],
                    Err(RecvError::Closed) => return,
                },
                activity = activity.recv() => match activity {
                    Ok(activity) => self.on_activity(activity).await.into_iter().collect(),
                    Err(RecvError::Lagged(_)) => Vec::new(),
                    Err(RecvError::Closed) => return,
                },
                _ = tick.tick() => {
                    if self.credential.expired(self.state.clock.now_secs()) {
                        return close(&mut socket, "session ended: token expired").await;
                    }
                    Vec::new()
                }
            };
            for message in outgoing {
                if socket.send(message).await.is_err() {
                    return;
                }
            }
        }
    }

    /// `status`: how many of the caller's prompts are unfinished (with `sid` first).
    async fn status(&self, with_sid: bool) -> Message {
        let remaining = self.state.dispatcher.active_count(self.user()).await.unwrap_or(0);
        let mut data = json!({ "status": { "exec_info": { "queue_remaining": remaining } } });
        if with_sid {
            data["sid"] = json!(self.sid);
        }
        text("status", data)
    }

    /// Whether a task's execution messages come to this socket.
    async fn ours(&mut self, task_id: &str) -> bool {
        if let Some(known) = self.routed.get(task_id) {
            return *known;
        }
        let caller = gantry_dispatch::Caller { user_id: self.user(), is_admin: false };
        let ours = match self.state.dispatcher.task(caller, task_id).await {
            Ok(task) => PromptMeta::of(&task).client_id.is_none_or(|id| id == self.sid),
            Err(_) => false,
        };
        self.routed.insert(task_id.to_owned(), ours);
        ours
    }

    async fn on_event(&mut self, at_ms: i64, event: Event) -> Vec<Message> {
        if event.user_id() != Some(self.user()) {
            return Vec::new();
        }
        let task_id = match &event {
            Event::TaskQueued { .. } => return vec![self.status(false).await],
            Event::TaskStarted { task_id, .. }
            | Event::TaskCompleted { task_id, .. }
            | Event::TaskFailed { task_id, .. }
            | Event::TaskCancelled { task_id, .. } => task_id.clone(),
            _ => return Vec::new(),
        };
        let ends = !matches!(event, Event::TaskStarted { .. });
        let mut out = Vec::new();
        if self.ours(&task_id).await {
            out = self.execution_messages(at_ms, &task_id, event).await;
        }
        if ends {
            // Every end changes the caller's queue, whichever socket submitted the prompt.
            self.forget(&task_id);
            out.push(self.status(false).await);
        }
        out
    }

    async fn execution_messages(&mut self, at_ms: i64, task_id: &str, event: Event) -> Vec<Message> {
        let id = task_id;
        let finished = |mut out: Vec<Message>| {
            out.push(text("executing", json!({ "node": null, "display_node": null, "prompt_id": id })));
            out
        };
        match event {
            Event::TaskStarted { .. } => {
                self.started.insert(id.to_owned());
                vec![text("execution_start", json!({ "prompt_id": id, "timestamp": at_ms }))]
            }
            Event::TaskCompleted { .. } => {
                let caller = gantry_dispatch::Caller { user_id: self.user(), is_admin: false };
                let mut out = Vec::new();
                if let Ok(task) = self.state.dispatcher.task(caller, id).await
                    && let Ok(mut outputs) = outputs_of(&self.state, &[&task]).await
                    && let Some(Value::Object(nodes)) = outputs.remove(id)
                {
                    for (node, output) in nodes {
                        let data = json!({ "node": node, "display_node": node, "output": output, "prompt_id": id });
                        out.push(text("executed", data));
                    }
                }
                out.push(text("execution_success", json!({ "prompt_id": id, "timestamp": at_ms })));
                finished(out)
            }
            Event::TaskFailed { reason: TaskFailure::Interrupted, .. } => finished(vec![interrupted(id, at_ms)]),
            Event::TaskFailed { reason, error, .. } => {
                let data = json!({
                    "prompt_id": id, "timestamp": at_ms, "node_id": null, "node_type": null, "executed": [],
                    "exception_message": error, "exception_type": reason.as_str(),
                    "traceback": [], "current_inputs": {}, "current_outputs": {},
                });
                finished(vec![text("execution_error", data)])
            }
            Event::TaskCancelled { .. } => {
                if self.started.contains(id) {
                    finished(vec![interrupted(id, at_ms)])
                } else {
                    Vec::new()
                }
            }
            _ => Vec::new(),
        }
    }

    fn forget(&mut self, task_id: &str) {
        self.routed.remove(task_id);
        self.started.remove(task_id);
    }

    async fn on_activity(&mut self, activity: Activity) -> Option<Message> {
        if activity.user_id != self.user() || !self.ours(&activity.task_id).await {
            return None;
        }
        let id = activity.task_id.as_str();
        let now = self.state.clock.now_ms();
        Some(match activity.kind {
            ActivityKind::Cached { nodes } => {
                text("execution_cached", json!({ "nodes": nodes, "prompt_id": id, "timestamp": now }))
            }
            ActivityKind::Executing { node } => {
                text("executing", json!({ "node": node, "display_node": node, "prompt_id": id }))
            }
            ActivityKind::Progress { node, value, max } => {
                text("progress", json!({ "value": value, "max": max, "prompt_id": id, "node": node }))
            }
            ActivityKind::ProgressState { mut nodes } => {
                for state in nodes.as_object_mut().into_iter().flat_map(|n| n.values_mut()) {
                    if let Some(state) = state.as_object_mut() {
                        state.insert("prompt_id".into(), json!(id));
                    }
                }
                text("progress_state", json!({ "prompt_id": id, "nodes": nodes }))
            }
            ActivityKind::Preview { image } => {
                let format: u32 = if image.starts_with(b"\x89PNG") { 2 } else { 1 };
                let mut frame = Vec::with_capacity(8 + image.len());
                frame.extend_from_slice(&PREVIEW_IMAGE.to_be_bytes());
                frame.extend_from_slice(&format.to_be_bytes());
                frame.extend_from_slice(&image);
                Message::Binary(frame.into())
            }
        })
    }
}

fn interrupted(id: &str, at_ms: i64) -> Message {
    let data = json!({ "prompt_id": id, "timestamp": at_ms, "node_id": null, "node_type": null, "executed": [] });
    text("execution_interrupted", data)
}

fn text(kind: &str, data: Value) -> Message {
    Message::Text(json!({ "type": kind, "data": data }).to_string().into())
}

/// Closes the socket, saying why.
async fn close(socket: &mut WebSocket, reason: &str) {
    let frame = CloseFrame { code: close_code::POLICY, reason: reason.to_owned().into() };
    let _ = socket.send(Message::Close(Some(frame))).await;
}
