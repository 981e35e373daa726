//! Failed-login throttling. After `max_failures` wrong passwords for one username from one
//! client address within a window, further attempts from there are refused without checking
//! the password until the window ends. Keying by (username, address) keeps a guesser
//! elsewhere from locking the user out. An address is also refused after
//! `max_address_failures` wrong passwords for any usernames (password spraying). The counts
//! live in memory: each node slows guessing on its own, which is what the limit is for.

use std::net::IpAddr;
use std::time::Duration;

use gantry_core::limits::{FixedWindows, WindowStart};

type Key = (String, Option<IpAddr>);

/// Counts of failed logins per (username, client address), in windows that start at the
/// first failure.
pub(crate) struct LoginGuard {
    max_failures: u32,
    failures: FixedWindows<Key>,
    max_address_failures: u32,
    address_failures: FixedWindows<Option<IpAddr>>,
}

impl LoginGuard {
    pub(crate) fn new(max_failures: u32, max_address_failures: u32, window_secs: u64) -> Self {
        let window = Duration::from_secs(window_secs.max(1));
        Self {
            max_failures,
            failures: FixedWindows::new(window, WindowStart::FirstEvent),
            max_address_failures,
            address_failures: FixedWindows::new(window, WindowStart::FirstEvent),
        }
    }

    fn key(username: &str, client: Option<IpAddr>) -> Key {
        (username.to_lowercase(), client)
    }

    /// `Err(retry_at_ms)` while this username and address, or this address, have used up
    /// their failures.
    pub(crate) fn check(&self, username: &str, client: Option<IpAddr>, now_ms: i64) -> Result<(), i64> {
        // At least one failure: a window only exists once one was counted.
        let used_up = |(count, ends_at): (u32, i64), max: u32| (count > 0 && count >= max).then_some(ends_at);
        let by_user = used_up(self.failures.current(&Self::key(username, client), now_ms), self.max_failures);
        let by_address = used_up(self.address_failures.current(&client, now_ms), self.max_address_failures);
        match by_user.into_iter().chain(by_address).max() {
            Some(ends_at) => Err(ends_at),
            None => Ok(()),
        }
    }

    /// Counts a wrong password.
    pub(crate) fn failed(&self, username: &str, client: Option<IpAddr>, now_ms: i64) {
        self.failures.record(Self::key(username, client), now_ms);
        self.address_failures.record(client, now_ms);
    }

    /// Forgets the failures of a username and address after a good login.
    pub(crate) fn succeeded(&self, username: &str, client: Option<IpAddr>) {
        self.failures.forget(&Self::key(username, client));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_after_the_failures_until_the_window_ends() {
        let guard = LoginGuard::new(2, 100, 60);
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

    #[test]
    fn an_address_spraying_many_usernames_is_refused() {
        let guard = LoginGuard::new(5, 3, 60);
        let here = Some(IpAddr::from([10, 0, 0, 1]));
        for (i, name) in ["ann", "ben", "cat"].into_iter().enumerate() {
            assert_eq!(guard.check(name, here, 1_000 + i as i64), Ok(()));
            guard.failed(name, here, 1_000 + i as i64);
        }
        assert_eq!(guard.check("dan", here, 2_000), Err(61_000), "a fourth username from there");
        assert_eq!(guard.check("dan", Some(IpAddr::from([10, 0, 0, 2])), 2_000), Ok(()), "elsewhere");
        assert_eq!(guard.check("dan", here, 61_000), Ok(()), "the window ended");
    }
}
