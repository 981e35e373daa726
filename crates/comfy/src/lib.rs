//! ComfyUI protocol client and pure helpers for API-format graphs.
//!
//! - [`ComfyClient`]: the HTTP routes a gateway needs (`/prompt`, `/queue`, `/interrupt`,
//!   `/history`, `/view`, `/upload/image`, `/models`, `/system_stats`) with timeouts,
//!   and [`EventStream`] over `/ws?clientId=`.
//! - [`graph`]: params, shape checks, filename prefixes, required models, sampler steps.
//!
//! Behaviour follows ComfyUI 0.3.64 and tolerates older servers where the wire format
//! changed (see `comfyui-protocol.md` in the shared reference).

mod client;
mod error;
mod events;
pub mod graph;
mod history;

pub use client::{
    ClientConfig, ComfyClient, Download, PromptAccepted, PromptRequest, QueueState, UploadedImage, default_http_client,
};
pub use error::ComfyError;
pub use events::{ComfyEvent, EventStream};
pub use graph::{Graph, GraphError, ModelRef};
pub use history::{HistoryEntry, MediaKind, Outcome, OutputFile};
