//! Failed-login throttling. After `max_failures` wrong passwords for one username from one
//! client address within a window, further attempts from there are refused without checking
//! the password until the window ends. Keying by (username, address) keeps a guesser
//! elsewhere from locking the user out. An address is also refused after
//! `max_address_failures` wrong passwords for any usernames (password spraying). The counts
//! live in the database, so the limits hold however many gateways share it.

use crate::repo::login_failures;
use gantry_store::{Db, StoreResult};
use std::net::IpAddr;

/// Counts of failed logins per (username, client address) and per address.
pub(crate) struct LoginGuard {
    db: Db,
    max_failures: u32,
    max_address_failures: u32,
    window_ms: i64,
}

/// The key of a username tried from an address, and the key of the address.
fn keys(username: &str, client: Option<IpAddr>) -> [String; 2] {
    let address = client.map_or_else(|| "-".to_owned(), |ip| ip.to_string());
    let user = serde_json::json!(["user", username.to_lowercase(), address]).to_string();
    let address = serde_json::json!(["address", address]).to_string();
    [user, address]
}

impl LoginGuard {
    pub(crate) fn new(db: Db, max_failures: u32, max_address_failures: u32, window_secs: u64) -> Self {
        let window_ms = i64::try_from(window_secs.max(1)).unwrap_or(i64::MAX / 2_000) * 1000;
        Self { db, max_failures, max_address_failures, window_ms }
    }

    /// `Err(retry_at_ms)` while this username and address, or this address, have used up
    /// their failures.
    pub(crate) async fn check(
        &self,
        username: &str,
        client: Option<IpAddr>,
        now_ms: i64,
    ) -> StoreResult<Result<(), i64>> {
        let [user, address] = keys(username, client);
        let windows = login_failures::current(&self.db, &[user.clone(), address], now_ms).await?;
        let used_up = windows
            .into_iter()
            .filter(|(key, count, _)| {
                let max = if *key == user { self.max_failures } else { self.max_address_failures };
                *count >= i64::from(max.max(1))
            })
            .map(|(_, _, ends_at)| ends_at)
            .max();
        Ok(used_up.map_or(Ok(()), Err))
    }

    /// Counts a wrong password.
    pub(crate) async fn failed(&self, username: &str, client: Option<IpAddr>, now_ms: i64) -> StoreResult<()> {
        for key in keys(username, client) {
            login_failures::record(&self.db, &key, now_ms, self.window_ms).await?;
        }
        Ok(())
    }

    /// Forgets the failures of a username and address after a good login.
    pub(crate) async fn succeeded(&self, username: &str, client: Option<IpAddr>) -> StoreResult<()> {
        let [user, _] = keys(username, client);
        login_failures::forget(&self.db, &user).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gantry_testkit::{Backend, ScratchDb};

    async fn guard(max: u32, max_address: u32) -> (ScratchDb, LoginGuard) {
        let (scratch, db) = ScratchDb::migrated(Backend::Sqlite).await;
        (scratch, LoginGuard::new(db, max, max_address, 60))
    }

    #[tokio::test]
    async fn refuses_after_the_failures_until_the_window_ends() {
        let (_db, guard) = guard(2, 100).await;
        let here = Some(IpAddr::from([10, 0, 0, 1]));
        let there = Some(IpAddr::from([10, 0, 0, 2]));
        guard.failed("Alice", here, 1_000).await.unwrap();
        assert_eq!(guard.check("alice", here, 1_500).await.unwrap(), Ok(()));
        guard.failed("alice", here, 2_000).await.unwrap();
        assert_eq!(guard.check("ALICE", here, 2_500).await.unwrap(), Err(61_000));
        assert_eq!(guard.check("alice", there, 2_500).await.unwrap(), Ok(()), "another address is not locked out");
        assert_eq!(guard.check("bob", here, 2_500).await.unwrap(), Ok(()), "another user is not locked out");
        assert_eq!(guard.check("alice", here, 61_000).await.unwrap(), Ok(()), "the window ended");
        guard.failed("alice", here, 61_000).await.unwrap();
        assert_eq!(guard.check("alice", here, 61_001).await.unwrap(), Ok(()), "a new window counts afresh");
        guard.succeeded("alice", here).await.unwrap();
        guard.failed("alice", here, 61_002).await.unwrap();
        assert_eq!(guard.check("alice", here, 61_003).await.unwrap(), Ok(()));
    }

    #[tokio::test]
    async fn an_address_spraying_many_usernames_is_refused() {
        let (_db, guard) = guard(5, 3).await;
        let here = Some(IpAddr::from([10, 0, 0, 1]));
        for (i, name) in ["ann", "ben", "cat"].into_iter().enumerate() {
            assert_eq!(guard.check(name, here, 1_000 + i as i64).await.unwrap(), Ok(()));
            guard.failed(name, here, 1_000 + i as i64).await.unwrap();
        }
        assert_eq!(guard.check("dan", here, 2_000).await.unwrap(), Err(61_000), "a fourth username from there");
        let elsewhere = Some(IpAddr::from([10, 0, 0, 2]));
        assert_eq!(guard.check("dan", elsewhere, 2_000).await.unwrap(), Ok(()), "elsewhere");
        assert_eq!(guard.check("dan", here, 61_000).await.unwrap(), Ok(()), "the window ended");
    }
}
