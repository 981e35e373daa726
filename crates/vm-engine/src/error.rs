//! One error type for the whole compute core, with variants a dialect can map to its codes
//! (OpenIDCS: NotFound → 404, Conflict/PortInUse → 409 or 400, Invalid → 400, the rest → 500).

use std::io;

use crate::qmp::QmpError;

/// Errors of the compute core.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The VM (or the rule, the file…) does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The request conflicts with the current state (VM already exists, already running, paused, QMP
    /// socket held by another client…).
    #[error("conflict: {0}")]
    Conflict(String),
    /// A NAT host port is taken: by another rule, by another process on the host, or QEMU refused it.
    #[error("port {port} is in use: {detail}")]
    PortInUse { port: u16, detail: String },
    /// The request itself is wrong (bad name, out-of-range port, shrinking a disk…).
    #[error("invalid request: {0}")]
    Invalid(String),
    /// The engine cannot do this (e.g. bridged NICs in the QEMU user-network engine).
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// QEMU (or qemu-img) failed: the process, a QMP command or an HMP command.
    #[error("qemu: {0}")]
    Qemu(String),
    /// An I/O error with what was being done.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    /// Something did not happen in time.
    #[error("timed out: {0}")]
    Timeout(String),
}

impl EngineError {
    /// Wraps an I/O error with context.
    pub fn io(context: impl Into<String>, source: io::Error) -> Self {
        EngineError::Io { context: context.into(), source }
    }

    /// True for `Conflict` and `PortInUse`.
    pub fn is_conflict(&self) -> bool {
        matches!(self, EngineError::Conflict(_) | EngineError::PortInUse { .. })
    }

    /// A short, stable name of the variant (for logs and dialect mappings).
    pub fn kind(&self) -> &'static str {
        match self {
            EngineError::NotFound(_) => "not_found",
            EngineError::Conflict(_) => "conflict",
            EngineError::PortInUse { .. } => "port_in_use",
            EngineError::Invalid(_) => "invalid",
            EngineError::Unsupported(_) => "unsupported",
            EngineError::Qemu(_) => "qemu",
            EngineError::Io { .. } => "io",
            EngineError::Timeout(_) => "timeout",
        }
    }
}

impl From<QmpError> for EngineError {
    fn from(e: QmpError) -> Self {
        match e {
            QmpError::Busy(msg) => EngineError::Conflict(msg),
            QmpError::Timeout(msg) => EngineError::Timeout(msg),
            QmpError::Io(e) => EngineError::io("qmp", e),
            other => EngineError::Qemu(other.to_string()),
        }
    }
}

/// Result alias of the compute core.
pub type Result<T, E = EngineError> = std::result::Result<T, E>;
