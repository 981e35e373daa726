//! comfy-manager's JSON WebSocket at `/ws`: `{type, timestamp, data}` messages —
//! `global_status` on connect and (at most once a second) after changes,
//! `instance_status`, and `task_progress` / `task_completed` / `task_failed` for the
//! caller's own tasks (admins: all tasks). Beyond the spec, for the web console:
//! `execution_finished` for the caller's workflow executions and, to admins, `vm_status`
//! when a virtual machine's power state changes. Authenticate with `Authorization: Bearer`
//! or `?token=` (browsers cannot set headers on WebSockets).

use crate::envelope::{ComfyManager, Envelope};
use crate::error::{ApiError, ErrorKind};
use crate::extract::bearer;
use crate::extract::caller;
use crate::live_credential::LiveCredential;
use crate::state::AppState;
use crate::urls;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use gantry_accounts::Principal;
use gantry_core::events::{Envelope as EventEnvelope, Event};
use serde::Deserialize;
use serde_json::{Value, json};
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

/// `task_failed`'s code for a cancelled task (the spec has no message of its own for it).
const CANCELLED: &str = "CANCELLED";

/// The query of `/ws`.
#[derive(Deserialize)]
pub struct WsQuery {
    pub(crate) token: Option<String>,
}

/// comfy-manager's JSON socket (the `/ws` route itself is shared with star-graph's STOMP,
/// see `dialects::shared`). The token is checked before the upgrade.
pub async fn json_socket(state: AppState, headers: HeaderMap, query: WsQuery, upgrade: WebSocketUpgrade) -> Response {
    let token = bearer(&headers).map(str::to_owned).or(query.token);
    let Some(token) = token else {
        return ComfyManager::render_error(&ApiError::new(ErrorKind::Unauthenticated, "missing authentication token"));
    };
    let credential = match LiveCredential::check(&state.accounts, &token).await {
        Ok(c) => c,
        Err(e) => return ComfyManager::render_error(&e.into()),
    };
    let base = urls::public_base(&state, &headers);
    upgrade.on_upgrade(move |socket| session(state, credential, base, socket)).into_response()
}

fn message(state: &AppState, kind: &str, data: Value) -> Message {
    let text = json!({ "type": kind, "timestamp": state.clock.now_ms(), "data": data }).to_string();
    Message::Text(text.into())
}

async fn global_status(state: &AppState) -> Option<Message> {
    let overview = state.dispatcher.overview().await.ok()?;
    let mut data = serde_json::to_value(overview).ok()?;
    data["instances"] = serde_json::to_value(state.dispatcher.instances()).ok()?;
    Some(message(state, "global_status", data))
}

/// Closes the socket, saying why.
async fn close(socket: &mut WebSocket, reason: &str) {
    let frame = CloseFrame { code: close_code::POLICY, reason: reason.to_owned().into() };
    let _ = socket.send(Message::Close(Some(frame))).await;
}

async fn session(state: AppState, mut credential: LiveCredential, base: String, mut socket: WebSocket) {
    let _live = state.metrics.live_session("comfy_ws");
    let mut events = state.events.subscribe();
    if let Some(status) = global_status(&state).await
        && socket.send(status).await.is_err()
    {
        return;
    }
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut changed = false;
    loop {
        let outgoing = tokio::select! {
            () = state.supervisor.stopping() => {
                let _ = socket.send(Message::Close(None)).await;
                return;
            }
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => None,
            },
            event = events.recv() => match event {
                Ok(event) => {
                    if let Err(e) = credential.recheck(&state.accounts, &event.event).await {
                        return close(&mut socket, &format!("session ended: {e}")).await;
                    }
                    changed |= affects_totals(&event.event);
                    translate(&state, credential.principal(), &base, event)
                }
                Err(RecvError::Lagged(_)) => global_status(&state).await,
                Err(RecvError::Closed) => return,
            },
            _ = tick.tick() => {
                if credential.expired(state.clock.now_secs()) {
                    return close(&mut socket, "session ended: token expired").await;
                }
                if std::mem::take(&mut changed) { global_status(&state).await } else { None }
            }
        };
        if let Some(message) = outgoing
            && socket.send(message).await.is_err()
        {
            return;
        }
    }
}

fn affects_totals(event: &Event) -> bool {
    matches!(
        event,
        Event::InstanceStatus { .. }
            | Event::TaskQueued { .. }
            | Event::TaskStarted { .. }
            | Event::TaskCompleted { .. }
            | Event::TaskFailed { .. }
            | Event::TaskCancelled { .. }
    )
}

/// The message an event becomes for this client, if any.
fn translate(state: &AppState, principal: &Principal, base: &str, envelope: EventEnvelope) -> Option<Message> {
    let event = envelope.event;
    if let Some(owner) = event.user_id()
        && !caller(principal).is_admin
        && owner != principal.user_id
    {
        return None;
    }
    let (kind, data) = match event {
        Event::InstanceStatus { instance_id, alive, busy } => {
            ("instance_status", json!({ "instanceId": instance_id, "alive": alive, "busy": busy }))
        }
        Event::TaskProgress { task_id, progress, step, total_steps, .. } => (
            "task_progress",
            json!({ "taskId": task_id, "progress": progress, "currentStep": step, "totalSteps": total_steps }),
        ),
        Event::TaskCompleted { task_id, files, .. } => {
            let files: Vec<String> =
                files.iter().map(|f| format!("{base}{}", gantry_files::path_of(&f.id, &f.filename))).collect();
            ("task_completed", json!({ "taskId": task_id, "result": { "files": files } }))
        }
        Event::TaskFailed { task_id, reason, error, .. } => {
            ("task_failed", json!({ "taskId": task_id, "code": reason.as_str(), "error": error }))
        }
        // The spec has no cancel message: a cancel is a failure whose code says so.
        Event::TaskCancelled { task_id, .. } => {
            ("task_failed", json!({ "taskId": task_id, "code": CANCELLED, "error": "the task was cancelled" }))
        }
        Event::ExecutionFinished { execution_id, workflow_id, status, .. } => {
            ("execution_finished", json!({ "executionId": execution_id, "workflowId": workflow_id, "status": status }))
        }
        Event::VmStateChanged { host, vm_uuid, name, power } if caller(principal).is_admin => {
            ("vm_status", json!({ "host": host, "vmUuid": vm_uuid, "name": name, "power": power }))
        }
        _ => return None,
    };
    Some(message(state, kind, data))
}
