//! The in-VM agent's reports (`POST /api/client/upload`, unauthenticated per the spec): each
//! VM has its own random secret, stored as a SHA-256 digest; reports are rate-limited per VM,
//! and failed attempts per source address (past the limit they answer 429; a right secret
//! still gets through).

use std::net::IpAddr;
use std::time::Duration;

use gantry_core::limits::{FixedWindows, WindowStart};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::Compute;
use crate::error::{ComputeError, Result};
use crate::model::UploadAck;

/// Failed agent attempts allowed per source address per minute.
const FAILURES_PER_MINUTE: u32 = 10;
/// Largest accepted report (serialized JSON), bytes.
const MAX_REPORT_BYTES: usize = 64 * 1024;

/// A new agent secret (64 hex digits) and its digest.
pub(crate) fn new_secret() -> (String, String) {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let secret = hex::encode(bytes);
    let hash = digest(&secret);
    (secret, hash)
}

/// The stored digest of a secret.
pub(crate) fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// One-minute windows of counts per key, starting at the key's first event.
pub(crate) struct Limiter {
    per_vm: u32,
    windows: FixedWindows<String>,
}

impl Limiter {
    pub fn new(per_vm: u32) -> Limiter {
        Limiter { per_vm, windows: FixedWindows::new(Duration::from_secs(60), WindowStart::FirstEvent) }
    }

    /// Counts one event for `key`, refused ones included; false when it is over `limit` in
    /// the current window.
    fn hit(&self, key: &str, now_ms: i64, limit: u32) -> bool {
        self.windows.record(key.to_owned(), now_ms) <= limit
    }
}

impl Compute {
    /// Stores an agent report for the VM whose secret it carries.
    pub async fn agent_upload(
        &self,
        secret: Option<&str>,
        source: Option<IpAddr>,
        report: serde_json::Value,
    ) -> Result<UploadAck> {
        let now = self.now();
        let limiter = &self.inner.limiter;
        let source_key = format!("fail:{}", source.map(|a| a.to_string()).unwrap_or_else(|| "unknown".into()));
        let vm = match secret.map(str::trim).filter(|s| !s.is_empty()) {
            Some(s) => crate::repo::vms::by_agent_hash(self.db(), &digest(s)).await?,
            None => None,
        };
        // A right secret is never refused for others' failures: user-network guests all
        // report from the host's loopback address.
        let Some(vm) = vm else {
            if !limiter.hit(&source_key, now, FAILURES_PER_MINUTE) {
                return Err(ComputeError::RateLimited("too many failed agent reports from this address".into()));
            }
            tracing::warn!(source = ?source, "agent report with a missing or unknown secret");
            return Err(ComputeError::Unauthorized("missing or wrong agent secret (X-Agent-Secret)".into()));
        };
        if !limiter.hit(&format!("vm:{}/{}", vm.host, vm.vm_uuid), now, limiter.per_vm) {
            return Err(ComputeError::RateLimited(format!("at most {} reports per minute per VM", limiter.per_vm)));
        }
        if !report.is_object() {
            return Err(ComputeError::Invalid("a report is a JSON object".into()));
        }
        let text = serde_json::to_string(&report)?;
        if text.len() > MAX_REPORT_BYTES {
            return Err(ComputeError::Invalid(format!("a report has at most {MAX_REPORT_BYTES} bytes")));
        }
        crate::repo::vms::report(self.db(), &vm.host, &vm.vm_uuid, &text, now).await?;
        Ok(UploadAck { hs_name: vm.host, vm_uuid: vm.vm_uuid })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_and_limits() {
        let (s, h) = new_secret();
        assert_eq!(s.len(), 64);
        assert_eq!(digest(&s), h);
        assert_ne!(new_secret().0, s);
        let l = Limiter::new(2);
        assert!(l.hit("a", 0, 2) && l.hit("a", 1, 2));
        assert!(!l.hit("a", 2, 2));
        assert!(l.hit("a", 60_000, 2), "a new window");
    }
}
