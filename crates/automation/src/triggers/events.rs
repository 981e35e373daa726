//! Event triggers: Gantry events start the enabled `trigger_event` workflows waiting for
//! them. A user's workflow sees only events about that user's own tasks; events about
//! no user (instances, VMs) and other users' tasks reach admins' workflows only.

use std::collections::HashMap;
use std::sync::Arc;

use gantry_core::Role;
use gantry_core::events::{Envelope, Event};
use serde_json::{Value, json};
use tokio::sync::broadcast::Receiver;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

use crate::Inner;
use crate::record::TriggerSpec;
use crate::repo::workflows::WorkflowRecord;

/// The trigger event an event stands for, with its subject and payload.
fn classify(event: &Event, alive: &mut HashMap<String, bool>) -> Option<(&'static str, String)> {
    Some(match event {
        Event::TaskCompleted { task_id, .. } => ("task_completed", task_id.clone()),
        Event::TaskFailed { task_id, .. } => ("task_failed", task_id.clone()),
        Event::VmStateChanged { vm_uuid, .. } => ("vm_state_changed", vm_uuid.clone()),
        Event::InstanceStatus { instance_id, alive: now, .. } => {
            let before = alive.insert(instance_id.clone(), *now);
            if before == Some(*now) {
                return None; // a load change, not an up/down transition
            }
            (if *now { "instance_up" } else { "instance_down" }, instance_id.clone())
        }
        _ => return None,
    })
}

/// Events taken in one go at most: under load, one listing of the workflows serves them all.
const BATCH: usize = 256;

pub(super) async fn run(inner: Arc<Inner>, mut rx: Receiver<Envelope>) {
    let mut alive = HashMap::new();
    loop {
        let first = tokio::select! {
            () = inner.supervisor.stopping() => return,
            received = rx.recv() => received,
        };
        let Some(received) = with_waiting(&mut rx, first) else { return };
        // Each event fires its triggers once for the whole cluster: on the gateway that
        // published it.
        let batch: Vec<_> = received
            .into_iter()
            .filter(|envelope| !envelope.remote)
            .filter_map(|envelope| {
                classify(&envelope.event, &mut alive).map(|(name, subject)| (envelope, name, subject))
            })
            .collect();
        if batch.is_empty() {
            continue;
        }
        let records = match crate::repo::workflows::enabled_with_trigger(&inner.db, None, "event").await {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "event triggers cannot list workflows");
                continue;
            }
        };
        // Each workflow's trigger is read once for the whole batch.
        let waiting: Vec<(String, WorkflowRecord)> = records
            .into_iter()
            .filter_map(|record| match TriggerSpec::of(&inner.to_stored(record.clone()).workflow) {
                TriggerSpec::Event(event) => Some((event, record)),
                _ => None,
            })
            .collect();
        for (envelope, name, subject) in batch {
            fire_for(&inner, &waiting, &envelope, name, &subject).await;
        }
    }
}

/// The event received and those already waiting behind it (at most [`BATCH`]); `None`
/// once the bus is closed.
fn with_waiting(rx: &mut Receiver<Envelope>, first: Result<Envelope, RecvError>) -> Option<Vec<Envelope>> {
    let mut received = Vec::new();
    let mut next = first;
    loop {
        match next {
            Ok(envelope) => received.push(envelope),
            Err(RecvError::Lagged(n)) => tracing::warn!(missed = n, "event triggers fell behind and missed events"),
            Err(RecvError::Closed) => return None,
        }
        if received.len() >= BATCH {
            return Some(received);
        }
        next = match rx.try_recv() {
            Ok(envelope) => Ok(envelope),
            Err(TryRecvError::Lagged(n)) => Err(RecvError::Lagged(n)),
            Err(TryRecvError::Empty) => return Some(received),
            Err(TryRecvError::Closed) => return None,
        };
    }
}

/// Starts the workflows among `waiting` (each with the event it waits for) that wait for
/// `name` and may hear of this event.
async fn fire_for(
    inner: &Arc<Inner>,
    waiting: &[(String, WorkflowRecord)],
    envelope: &Envelope,
    name: &str,
    subject: &str,
) {
    let concerned = envelope.event.user_id();
    let mut payload = None;
    for (event, record) in waiting {
        if event != name {
            continue;
        }
        if concerned != Some(record.user_id) && !is_admin(inner, record.user_id).await {
            continue;
        }
        let payload = payload.get_or_insert_with(|| serde_json::to_value(&envelope.event).unwrap_or(Value::Null));
        let data = json!({ "event": name, "subject": subject, "payload": payload, "at": envelope.at_ms });
        inner.fire_logged(record.clone(), "event", data).await;
    }
}

async fn is_admin(inner: &Inner, user_id: gantry_core::UserId) -> bool {
    matches!(inner.accounts.user(user_id).await, Ok(u) if u.role == Role::Admin)
}
