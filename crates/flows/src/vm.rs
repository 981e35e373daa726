//! What the VM modules need from the compute context, implemented where it is wired.

use std::future::Future;
use std::pin::Pin;

use serde_json::Value;

use crate::Owner;

/// A boxed future of a VM call.
pub type VmFuture<'a> = Pin<Box<dyn Future<Output = Result<Value, String>> + Send + 'a>>;

/// VM power and status on behalf of a workflow's owner (never with more authority than
/// the owner has: the implementation checks that the owner may act on that VM).
pub trait VmControl: Send + Sync {
    /// Runs a power action (`start`, `stop`, `shutdown`, `reboot`, `reset`, `pause`,
    /// `resume`) on VM `vm_uuid` of host `host`; `Ok` holds at least `{state}`.
    fn power<'a>(&'a self, owner: Owner, host: &'a str, vm_uuid: &'a str, action: &'a str) -> VmFuture<'a>;

    /// The VM's status; `Ok` holds at least `{state}`.
    fn status<'a>(&'a self, owner: Owner, host: &'a str, vm_uuid: &'a str) -> VmFuture<'a>;
}
