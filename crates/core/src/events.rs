//! The one typed event stream every part of Gantry publishes to; WebSocket hubs,
//! workflow triggers and the audit log subscribe to it.

use crate::identity::{Role, UserId};
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, mpsc};

/// Something that happened. Each variant is one state change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A user account was created.
    UserCreated { user_id: UserId, username: String, role: Role },
    /// A user's profile, role or password changed.
    UserUpdated { user_id: UserId },
    /// A session (access + refresh token family) was revoked.
    SessionRevoked { user_id: UserId, session_id: String },
    /// A ComfyUI instance changed liveness or load.
    InstanceStatus { instance_id: String, alive: bool, busy: bool },
    /// A task was stored and queued.
    TaskQueued { task_id: String, user_id: UserId, kind: String },
    /// A task started executing on an instance.
    TaskStarted { task_id: String, user_id: UserId, instance_id: String },
    /// A task made progress (percent, and sampler steps when known).
    TaskProgress { task_id: String, user_id: UserId, progress: u8, step: u64, total_steps: u64 },
    /// A task finished with output files (in the file store).
    TaskCompleted { task_id: String, user_id: UserId, files: Vec<FileRef> },
    /// A completed generation's results are ready to show (thumbnails made, charge settled).
    TaskResultsReady { task_id: String, user_id: UserId },
    /// A task failed for good.
    TaskFailed {
        task_id: String,
        user_id: UserId,
        #[serde(rename = "code")]
        reason: TaskFailure,
        error: String,
    },
    /// A task was cancelled by its owner or an admin.
    TaskCancelled { task_id: String, user_id: UserId },
    /// A virtual machine's power state changed (`power` is an OpenIDCS `VMPowers` name such
    /// as `STARTED` or `STOPPED`).
    VmStateChanged { host: String, vm_uuid: String, name: String, power: String },
    /// A compute resource (host, VM, NAT rule, IP, proxy, token, inventory) was changed
    /// through the API; the audit log and workflow triggers see it.
    ComputeChanged { actor: Option<UserId>, action: String, host: Option<String>, vm_uuid: Option<String> },
    /// A workflow execution ended (`status`: completed, failed, cancelled, timeout).
    ExecutionFinished { execution_id: String, workflow_id: String, user_id: UserId, status: String },
}

impl Event {
    /// The user whose data this event concerns, if it concerns one user only.
    pub fn user_id(&self) -> Option<UserId> {
        match self {
            Event::UserCreated { user_id, .. }
            | Event::UserUpdated { user_id }
            | Event::SessionRevoked { user_id, .. }
            | Event::TaskQueued { user_id, .. }
            | Event::TaskStarted { user_id, .. }
            | Event::TaskProgress { user_id, .. }
            | Event::TaskCompleted { user_id, .. }
            | Event::TaskResultsReady { user_id, .. }
            | Event::TaskFailed { user_id, .. }
            | Event::TaskCancelled { user_id, .. }
            | Event::ExecutionFinished { user_id, .. } => Some(*user_id),
            Event::InstanceStatus { .. } | Event::VmStateChanged { .. } | Event::ComputeChanged { .. } => None,
        }
    }
}

/// A stored file, as events name it: enough to build its URL without a lookup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRef {
    pub id: String,
    pub filename: String,
}

/// A published event with its time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// Unix milliseconds.
    pub at_ms: i64,
    #[serde(flatten)]
    pub event: Event,
    /// Published by another gateway of the cluster and relayed here. Work that must happen
    /// once per event (settling a charge, firing a workflow trigger, counting it) is done
    /// where the event was published, so it skips these.
    #[serde(skip)]
    pub remote: bool,
}

/// Fan-out of events to any number of subscribers. Slow subscribers lose the oldest
/// events (they see `RecvError::Lagged`) instead of slowing publishers down.
///
/// In a cluster, a relay (see [`EventBus::relay_to`]) also carries every event published
/// here to the other gateways, and [`EventBus::deliver_remote`] brings theirs in.
#[derive(Debug, Clone)]
pub struct EventBus {
    sender: broadcast::Sender<Envelope>,
    relay: std::sync::Arc<std::sync::OnceLock<mpsc::Sender<Envelope>>>,
}

impl EventBus {
    /// A bus that buffers up to `capacity` events per subscriber.
    pub fn new(capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(capacity.max(1));
        Self { sender, relay: Default::default() }
    }

    /// Publishes an event; having no subscribers is fine.
    pub fn publish(&self, at_ms: i64, event: Event) {
        let envelope = Envelope { at_ms, event, remote: false };
        if let Some(relay) = self.relay.get()
            && relay.try_send(envelope.clone()).is_err()
        {
            tracing::warn!("the cluster relay is behind: an event reaches this gateway only");
        }
        let _ = self.sender.send(envelope);
    }

    /// From now on, every event published here is also sent to `relay` (once per bus; a
    /// second call is ignored). When `relay` is full the event stays on this gateway.
    pub fn relay_to(&self, relay: mpsc::Sender<Envelope>) {
        let _ = self.relay.set(relay);
    }

    /// Hands subscribers an event another gateway published.
    pub fn deliver_remote(&self, mut envelope: Envelope) {
        envelope.remote = true;
        let _ = self.sender.send(envelope);
    }

    /// A new subscription that sees events published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Envelope> {
        self.sender.subscribe()
    }
}

impl Default for EventBus {
    fn default() -> Self {
        Self::new(16_384)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn subscribers_see_events_published_after_they_subscribe() {
        let bus = EventBus::new(8);
        bus.publish(1, Event::UserUpdated { user_id: 1 });
        let mut rx = bus.subscribe();
        bus.publish(2, Event::UserUpdated { user_id: 2 });
        let got = rx.recv().await.unwrap();
        assert_eq!(got.at_ms, 2);
        assert_eq!(got.event, Event::UserUpdated { user_id: 2 });
        assert!(!got.remote);
    }

    #[tokio::test]
    async fn relayed_events_round_trip_and_arrive_marked_remote() {
        let (tx, mut relayed) = mpsc::channel(8);
        let here = EventBus::new(8);
        here.relay_to(tx);
        let event =
            Event::TaskFailed { task_id: "t".into(), user_id: 3, reason: TaskFailure::TimedOut, error: "slow".into() };
        here.publish(5, event.clone());
        let sent = relayed.recv().await.unwrap();
        let wire = serde_json::to_string(&sent).unwrap();
        let there = EventBus::new(8);
        let mut rx = there.subscribe();
        there.deliver_remote(serde_json::from_str(&wire).unwrap());
        let got = rx.recv().await.unwrap();
        assert_eq!((got.at_ms, got.event, got.remote), (5, event, true));
    }
}

/// Why a task failed for good; each dialect names these its own way (event payloads use the
/// stored names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TaskFailure {
    /// ComfyUI refused the graph (not retried).
    InvalidWorkflow,
    /// The graph failed while running.
    ExecutionError,
    /// The prompt was interrupted on its instance.
    Interrupted,
    /// No instance could run it within the allowed attempts.
    NoInstance,
    /// It ran longer than the task time limit.
    TimedOut,
}

impl<'de> Deserialize<'de> for TaskFailure {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let stored = String::deserialize(deserializer)?;
        TaskFailure::parse(&stored).ok_or_else(|| serde::de::Error::custom(format!("unknown failure `{stored}`")))
    }
}

impl Serialize for TaskFailure {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl TaskFailure {
    /// The stored name.
    pub const fn as_str(self) -> &'static str {
        match self {
            TaskFailure::InvalidWorkflow => "INVALID_WORKFLOW",
            TaskFailure::ExecutionError => "EXECUTION_ERROR",
            TaskFailure::Interrupted => "INTERRUPTED",
            TaskFailure::NoInstance => "NO_INSTANCE",
            TaskFailure::TimedOut => "TIMEOUT",
        }
    }

    /// Reads a stored name; `E007` and `E008` are how databases of earlier versions stored
    /// [`TaskFailure::NoInstance`] and [`TaskFailure::TimedOut`].
    pub fn parse(stored: &str) -> Option<TaskFailure> {
        Some(match stored {
            "INVALID_WORKFLOW" => TaskFailure::InvalidWorkflow,
            "EXECUTION_ERROR" => TaskFailure::ExecutionError,
            "INTERRUPTED" => TaskFailure::Interrupted,
            "NO_INSTANCE" | "E007" => TaskFailure::NoInstance,
            "TIMEOUT" | "E008" => TaskFailure::TimedOut,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod failure_tests {
    use super::TaskFailure;

    #[test]
    fn stored_names_round_trip_and_old_codes_still_read() {
        for f in [
            TaskFailure::InvalidWorkflow,
            TaskFailure::ExecutionError,
            TaskFailure::Interrupted,
            TaskFailure::NoInstance,
            TaskFailure::TimedOut,
        ] {
            assert_eq!(TaskFailure::parse(f.as_str()), Some(f));
        }
        assert_eq!(TaskFailure::parse("E007"), Some(TaskFailure::NoInstance));
        assert_eq!(TaskFailure::parse("E008"), Some(TaskFailure::TimedOut));
        assert_eq!(TaskFailure::parse("E001"), None);
    }
}
