//! What the engine needs from the process embedding it.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use serde_json::{Map, Value};
use tokio_util::sync::CancellationToken;

/// A boxed, sendable future (object-safe async in traits).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A call to a host-executed module (category `gantry`).
#[derive(Debug, Clone, Copy)]
pub struct HostCall<'a> {
    /// Module id, e.g. `gantry_submit_task`.
    pub module_id: &'a str,
    /// Resolved inputs, defaults applied.
    pub inputs: &'a Map<String, Value>,
    /// The running workflow.
    pub workflow_id: &'a str,
    /// The calling step.
    pub step_id: &'a str,
    /// The calling step's index.
    pub step_index: usize,
    /// Fires when the run is stopped; long calls should give up on it. The engine also stops
    /// awaiting the call on cancellation or timeout.
    pub cancel: &'a CancellationToken,
}

/// Services the host provides to runs. Every method has a conservative default.
pub trait Host: Send + Sync {
    /// Executes a `gantry` module; `Ok` holds its outputs by output id.
    fn call<'a>(&'a self, call: HostCall<'a>) -> BoxFuture<'a, Result<Map<String, Value>, String>> {
        let msg = format!("module `{}` is not available on this host", call.module_id);
        Box::pin(async move { Err(msg) })
    }

    /// Limits for `http_request`; consulted on every request, so admin changes apply at once.
    fn http_policy(&self) -> HttpPolicy {
        HttpPolicy::STRICT
    }

    /// Where the file modules keep their files (a [`super::files::LocalSandbox`] directory,
    /// say); `None` disables them.
    fn sandbox(&self) -> Option<std::sync::Arc<dyn super::files::Sandbox>> {
        None
    }

    /// Value of `{{device_info}}`.
    fn device_info(&self) -> Value {
        Value::Object(Map::new())
    }
}

/// A host with every default: no host modules, strict HTTP, no files.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultHost;

impl Host for DefaultHost {}

/// Limits on outgoing HTTP from workflows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpPolicy {
    /// Allow loopback, private, link-local, unique-local, unspecified and multicast targets
    /// (an admin setting; off by default to prevent SSRF).
    pub allow_internal: bool,
    /// Largest response body read, in bytes.
    pub max_response_bytes: usize,
    /// Upper bound on a step's `timeout`.
    pub max_timeout: Duration,
    /// Redirects followed at most (each one is checked like the first request).
    pub max_redirects: usize,
}

impl HttpPolicy {
    /// Internal targets refused, 10 MiB bodies, 300 s timeout, 5 redirects.
    pub const STRICT: Self = Self {
        allow_internal: false,
        max_response_bytes: 10 << 20,
        max_timeout: Duration::from_secs(300),
        max_redirects: 5,
    };
}

impl Default for HttpPolicy {
    fn default() -> Self {
        Self::STRICT
    }
}
