//! The compute context's one error type; a dialect maps each variant to its codes.

use gantry_compute::ComputeError;
use gantry_store::StoreError;

/// What can go wrong in the compute context.
#[derive(Debug, thiserror::Error)]
pub enum MachinesError {
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

impl From<ComputeError> for MachinesError {
    fn from(e: ComputeError) -> Self {
        match e {
            ComputeError::NotFound(m) => MachinesError::NotFound(format!("not found: {m}")),
            ComputeError::Invalid(m) | ComputeError::Unsupported(m) => MachinesError::Invalid(m),
            e @ (ComputeError::Conflict(_) | ComputeError::PortInUse { .. }) => MachinesError::Conflict(e.to_string()),
            e @ (ComputeError::Qemu(_) | ComputeError::Timeout(_)) => MachinesError::Engine(e.to_string()),
            e @ ComputeError::Io { .. } => MachinesError::Internal(e.to_string()),
        }
    }
}

impl From<StoreError> for MachinesError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(what) => MachinesError::Conflict(format!("{what} already exists")),
            other => MachinesError::Internal(other.to_string()),
        }
    }
}

impl From<serde_json::Error> for MachinesError {
    fn from(e: serde_json::Error) -> Self {
        MachinesError::Internal(format!("corrupt record: {e}"))
    }
}

/// Result alias of the compute context.
pub type Result<T, E = MachinesError> = std::result::Result<T, E>;

/// Shorthand for an [`MachinesError::Invalid`].
pub(crate) fn invalid<T>(msg: impl Into<String>) -> Result<T> {
    Err(MachinesError::Invalid(msg.into()))
}
