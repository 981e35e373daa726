//! Failed-login throttling. After `max_failures` wrong passwords for one username from one
//! client address within a window, further attempts from there are refused without checking
//! the password until the window ends. Keying by (username, address) keeps a guesser
//! elsewhere from locking the user out. The counts live in memory: each node slows guessing
//! on its own, which is what the limit is for.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};

/// Entries kept before expired windows are swept.
const SWEEP_AT: usize = 10_000;

type Key = (String, Option<IpAddr>);

/// Counts of failed logins per (username, client address).
pub(crate) struct LoginGuard {
    max_failures: u32,
    window_ms: i64,
    /// Window start (Unix ms) and failures counted in it.
    failures: Mutex<HashMap<Key, (i64, u32)>>,
}

impl LoginGuard {
    pub(crate) fn new(max_failures: u32, window_secs: u64) -> Self {
        let window_ms = i64::try_from(window_secs.max(1).saturating_mul(1000)).unwrap_or(i64::MAX);
        Self { max_failures, window_ms, failures: Mutex::default() }
    }

    fn key(username: &str, client: Option<IpAddr>) -> Key {
        (username.to_lowercase(), client)
    }

    /// `Err(retry_at_ms)` while this username and address have used up their failures.
    pub(crate) fn check(&self, username: &str, client: Option<IpAddr>, now_ms: i64) -> Result<(), i64> {
        let failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        match failures.get(&Self::key(username, client)) {
            Some(&(start, count)) if now_ms < start + self.window_ms && count >= self.max_failures => {
                Err(start + self.window_ms)
            }
            _ => Ok(()),
        }
    }

    /// Counts a wrong password.
    pub(crate) fn failed(&self, username: &str, client: Option<IpAddr>, now_ms: i64) {
        let mut failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        if failures.len() >= SWEEP_AT {
            let window = self.window_ms;
            failures.retain(|_, (start, _)| now_ms < *start + window);
        }
        let entry = failures.entry(Self::key(username, client)).or_insert((now_ms, 0));
        if now_ms >= entry.0 + self.window_ms {
            *entry = (now_ms, 0);
        }
        entry.1 += 1;
    }

    /// Forgets the failures of a username and address after a good login.
    pub(crate) fn succeeded(&self, username: &str, client: Option<IpAddr>) {
        self.failures.lock().unwrap_or_else(PoisonError::into_inner).remove(&Self::key(username, client));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_after_the_failures_until_the_window_ends() {
        let guard = LoginGuard::new(2, 60);
        let here = Some(IpAddr::from([10, 0, 0, 1]));
        let there = Some(IpAddr::from([10, 0, 0, 2]));
        guard.failed("Alice", here, 1_000);
        assert_eq!(guard.check("alice", here, 1_500), Ok(()));
        guard.failed("alice", here, 2_000);
        assert_eq!(guard.check("ALICE", here, 2_500), Err(61_000));
        assert_eq!(guard.check("alice", there, 2_500), Ok(()), "another address is not locked out");
        assert_eq!(guard.check("bob", here, 2_500), Ok(()), "another user is not locked out");
        assert_eq!(guard.check("alice", here, 61_000), Ok(()), "the window ended");
        guard.failed("alice", here, 61_000);
        assert_eq!(guard.check("alice", here, 61_001), Ok(()), "a new window counts afresh");
        guard.succeeded("alice", here);
        guard.failed("alice", here, 61_002);
        assert_eq!(guard.check("alice", here, 61_003), Ok(()));
    }
}
