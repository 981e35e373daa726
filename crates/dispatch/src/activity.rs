//! Node-level activity of running tasks, relayed from their instances for clients that
//! speak ComfyUI's own protocol (the virtual ComfyUI). It is kept off the event bus: ticks
//! are many and only those clients want them, so nothing is sent while nobody listens.

use bytes::Bytes;
use gantry_core::UserId;
use serde_json::Value;

/// One node-level message about a running task.
#[derive(Debug, Clone)]
pub struct Activity {
    pub task_id: String,
    pub user_id: UserId,
    pub kind: ActivityKind,
}

/// What happened, in ComfyUI's terms (node ids are the submitted graph's).
#[derive(Debug, Clone)]
pub enum ActivityKind {
    /// These nodes' results come from the instance's cache.
    Cached { nodes: Vec<String> },
    /// A node started.
    Executing { node: String },
    /// A node's progress bar moved.
    Progress { node: Option<String>, value: u64, max: u64 },
    /// ComfyUI's `progress_state`: every node's state, keyed by node id.
    ProgressState { nodes: Value },
    /// A preview image (JPEG or PNG) of the node that is running.
    Preview { image: Bytes },
}
