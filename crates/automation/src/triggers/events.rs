//! Event triggers: Gantry events start the enabled `trigger_event` workflows waiting for
//! them. A user's workflow sees only events about that user's own tasks; events about
//! no user (instances, VMs) and other users' tasks reach admins' workflows only.

use std::collections::HashMap;
use std::sync::Arc;

use gantry_core::Role;
use gantry_core::events::{Envelope, Event};
use serde_json::{Value, json};
use tokio::sync::broadcast::{Receiver, error::RecvError};

use crate::Inner;
use crate::record::TriggerSpec;

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

pub(super) async fn run(inner: Arc<Inner>, mut rx: Receiver<Envelope>) {
    let mut alive = HashMap::new();
    loop {
        let envelope = tokio::select! {
            () = inner.supervisor.stopping() => return,
            received = rx.recv() => match received {
                Ok(e) => e,
                Err(RecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "event triggers fell behind and missed events");
                    continue;
                }
                Err(RecvError::Closed) => return,
            },
        };
        let Some((name, subject)) = classify(&envelope.event, &mut alive) else { continue };
        let concerned = envelope.event.user_id();
        let payload = serde_json::to_value(&envelope.event).unwrap_or(Value::Null);
        let records = match crate::repo::workflows::enabled_with_trigger(&inner.db, None, "event").await {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "event triggers cannot list workflows");
                continue;
            }
        };
        for record in records {
            let spec = TriggerSpec::of(&inner.to_stored(record.clone()).workflow);
            if spec != TriggerSpec::Event(name.to_owned()) {
                continue;
            }
            if concerned != Some(record.user_id) && !is_admin(&inner, record.user_id).await {
                continue;
            }
            let data = json!({ "event": name, "subject": subject, "payload": payload, "at": envelope.at_ms });
            inner.fire_logged(record, "event", data).await;
        }
    }
}

async fn is_admin(inner: &Inner, user_id: gantry_core::UserId) -> bool {
    matches!(inner.accounts.user(user_id).await, Ok(u) if u.role == Role::Admin)
}
