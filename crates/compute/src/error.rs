//! The compute context's one error type; a dialect maps each variant to its codes.

use gantry_store::StoreError;
use gantry_vm_engine::EngineError;

/// What can go wrong in the compute context.
#[derive(Debug, thiserror::Error)]
pub enum ComputeError {
    /// The host, VM, rule… does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The request is wrong: bad field, out of range, beyond the host's resources.
    #[error("{0}")]
    Invalid(String),
    /// The request conflicts with what exists (duplicate name, port taken, host has VMs…).
    #[error("{0}")]
    Conflict(String),
    /// The agent secret is missing or wrong.
    #[error("{0}")]
    Unauthorized(String),
    /// Too many requests from one VM or address.
    #[error("{0}")]
    RateLimited(String),
    /// The engine failed or did not answer in time.
    #[error("engine: {0}")]
    Engine(String),
    /// Storage or another internal failure (details are logged, not shown).
    #[error("internal: {0}")]
    Internal(String),
}

impl From<EngineError> for ComputeError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::NotFound(m) => ComputeError::NotFound(format!("not found: {m}")),
            EngineError::Invalid(m) | EngineError::Unsupported(m) => ComputeError::Invalid(m),
            e @ (EngineError::Conflict(_) | EngineError::PortInUse { .. }) => ComputeError::Conflict(e.to_string()),
            e @ (EngineError::Qemu(_) | EngineError::Timeout(_)) => ComputeError::Engine(e.to_string()),
            e @ EngineError::Io { .. } => ComputeError::Internal(e.to_string()),
        }
    }
}

impl From<StoreError> for ComputeError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(what) => ComputeError::Conflict(format!("{what} already exists")),
            other => ComputeError::Internal(other.to_string()),
        }
    }
}

impl From<serde_json::Error> for ComputeError {
    fn from(e: serde_json::Error) -> Self {
        ComputeError::Internal(format!("corrupt record: {e}"))
    }
}

/// Result alias of the compute context.
pub type Result<T, E = ComputeError> = std::result::Result<T, E>;

/// Shorthand for an [`ComputeError::Invalid`].
pub(crate) fn invalid<T>(msg: impl Into<String>) -> Result<T> {
    Err(ComputeError::Invalid(msg.into()))
}
