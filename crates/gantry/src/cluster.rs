//! Carries the event stream between the gateways sharing one PostgreSQL database: each
//! event published here is sent to the others over NOTIFY, and theirs are handed to this
//! gateway's subscribers marked remote (see [`gantry_core::events::Envelope::remote`]).

use gantry_core::events::{Envelope, EventBus};
use gantry_core::{Clock, Supervisor};
use gantry_store::{Db, cluster};
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// The NOTIFY channel events travel on.
const CHANNEL: &str = "gantry_events";
/// Events waiting to be sent before new ones stay on this gateway only.
const BACKLOG: usize = 65_536;

/// Events as received: a batch of one gateway's, in the order published.
#[derive(Deserialize)]
struct Relayed {
    from: String,
    events: Vec<Envelope>,
}

/// Starts relaying `events` to and from the other gateways of `db`, as gateway `node`.
pub fn relay_events(db: Db, events: &EventBus, node: String, clock: Arc<dyn Clock>, supervisor: &Supervisor) {
    let (tx, rx) = mpsc::channel(BACKLOG);
    events.relay_to(tx);
    supervisor.spawn(send(db.clone(), rx, node.clone(), clock, supervisor.clone()));
    supervisor.spawn(receive(db, events.clone(), node, supervisor.clone()));
}

async fn send(db: Db, mut rx: mpsc::Receiver<Envelope>, node: String, clock: Arc<dyn Clock>, supervisor: Supervisor) {
    loop {
        let envelope = tokio::select! {
            () = supervisor.stopping() => return,
            next = rx.recv() => match next { Some(e) => e, None => return },
        };
        // Whatever else is waiting goes in the same notification.
        let Some(first) = encode(&envelope) else { continue };
        let body = cluster::batch(&node, "events", first, || {
            std::iter::from_fn(|| rx.try_recv().ok()).find_map(|next| encode(&next))
        });
        if let Err(e) = cluster::notify(&db, CHANNEL, &body, clock.now_ms()).await {
            tracing::warn!(error = %e, "cannot send an event to the other gateways");
        }
    }
}

fn encode(envelope: &Envelope) -> Option<String> {
    serde_json::to_string(envelope)
        .map_err(|e| tracing::error!(error = %e, "cannot encode an event for the cluster"))
        .ok()
}

async fn receive(db: Db, events: EventBus, node: String, supervisor: Supervisor) {
    loop {
        let mut listener = tokio::select! {
            () = supervisor.stopping() => return,
            listening = cluster::listen(&db, &[CHANNEL]) => match listening {
                Ok(listener) => listener,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for the other gateways' events; retrying");
                    tokio::select! {
                        () = supervisor.stopping() => return,
                        () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    }
                }
            },
        };
        loop {
            let received = tokio::select! {
                () = supervisor.stopping() => return,
                received = listener.try_recv() => received,
            };
            let notification = match received {
                Ok(Some(notification)) => notification,
                Ok(None) => {
                    tracing::warn!("lost the connection carrying the other gateways' events; reconnecting");
                    continue;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "the other gateways' events failed; listening again");
                    break;
                }
            };
            let body = match cluster::body_of(&db, &notification).await {
                Ok(Some(body)) => body,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read a relayed event");
                    continue;
                }
            };
            match serde_json::from_str::<Relayed>(&body) {
                Ok(relayed) if relayed.from != node => {
                    for envelope in relayed.events {
                        events.deliver_remote(envelope);
                    }
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "cannot read a relayed event"),
            }
        }
    }
}
