//! Fixed-window counting, the one limiter behind Gantry's rate limits: failed logins
//! (accounts), agent reports (compute) and vflow's request classes (http).
//!
//! Each key has one window at a time and a count of the events in it; when the window ends
//! the next event starts a new one from zero. A window either starts at the key's first event
//! ([`WindowStart::FirstEvent`]) or at a multiple of the window length
//! ([`WindowStart::Aligned`], so every key's window resets at the same instants). Time comes
//! from the caller in Unix milliseconds (an injected [`Clock`](crate::Clock)), so tests
//! control it. The counts live in memory: each node limits on its own.
//!
//! Not `governor`: that crate implements GCRA (a smoothed token bucket), whose allowance
//! refills continuously, while the specs Gantry serves promise fixed windows with a reset
//! instant (vflow's `X-RateLimit-Reset`, "N per minute").

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// Windows kept before the ended ones are swept.
const SWEEP_AT: usize = 10_000;

/// Where a key's window starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowStart {
    /// At the key's first event after its previous window ended.
    FirstEvent,
    /// At the latest multiple of the window length (since the Unix epoch).
    Aligned,
}

/// The outcome of [`FixedWindows::take`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    /// Whether the event was within the limit (and so counted).
    pub allowed: bool,
    /// Events counted in the window, this one included when allowed.
    pub count: u32,
    /// The limit asked for.
    pub limit: u32,
    /// Events still allowed in the window.
    pub remaining: u32,
    /// When the window ends (Unix ms).
    pub reset_at_ms: i64,
}

/// Counts of events per key in fixed windows.
#[derive(Debug)]
pub struct FixedWindows<K> {
    window_ms: i64,
    start: WindowStart,
    /// Window start (Unix ms) and events counted in it, per key.
    entries: Mutex<HashMap<K, (i64, u32)>>,
}

impl<K: Eq + Hash> FixedWindows<K> {
    /// Windows of `window` (at least a millisecond) starting as `start` says.
    pub fn new(window: Duration, start: WindowStart) -> Self {
        let window_ms = i64::try_from(window.as_millis()).unwrap_or(i64::MAX).max(1);
        Self { window_ms, start, entries: Mutex::default() }
    }

    /// Counts one event for `key` if fewer than `limit` are in its window.
    pub fn take(&self, key: K, now_ms: i64, limit: u32) -> Tally {
        let mut entries = self.lock();
        self.sweep(&mut entries, now_ms);
        let entry = self.entry(&mut entries, key, now_ms);
        let allowed = entry.1 < limit;
        if allowed {
            entry.1 = entry.1.saturating_add(1);
        }
        Tally {
            allowed,
            count: entry.1,
            limit,
            remaining: limit.saturating_sub(entry.1),
            reset_at_ms: entry.0.saturating_add(self.window_ms),
        }
    }

    /// Counts one event for `key` whatever the limit (a failure, say); returns the count in
    /// its window, this event included.
    pub fn record(&self, key: K, now_ms: i64) -> u32 {
        let mut entries = self.lock();
        self.sweep(&mut entries, now_ms);
        let entry = self.entry(&mut entries, key, now_ms);
        entry.1 = entry.1.saturating_add(1);
        entry.1
    }

    /// The count of `key` in its current window (0 once that ended, or before any event) and
    /// when that window ends (Unix ms).
    pub fn current(&self, key: &K, now_ms: i64) -> (u32, i64) {
        let entries = self.lock();
        match entries.get(key) {
            Some(&(start, count)) if !self.ended(start, now_ms) => (count, start.saturating_add(self.window_ms)),
            _ => (0, self.start_for(now_ms).saturating_add(self.window_ms)),
        }
    }

    /// Forgets `key`'s window and count.
    pub fn forget(&self, key: &K) {
        self.lock().remove(key);
    }

    /// A poisoned lock still holds consistent counts (every update is a single store).
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, (i64, u32)>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Where a window opened at `now_ms` starts.
    fn start_for(&self, now_ms: i64) -> i64 {
        match self.start {
            WindowStart::FirstEvent => now_ms,
            WindowStart::Aligned => now_ms.saturating_sub(now_ms.rem_euclid(self.window_ms)),
        }
    }

    /// Whether the window that started at `start` is over at `now_ms`.
    fn ended(&self, start: i64, now_ms: i64) -> bool {
        match self.start {
            WindowStart::FirstEvent => now_ms >= start.saturating_add(self.window_ms),
            // Any other start (an earlier window, or a later one if the clock went back).
            WindowStart::Aligned => start != self.start_for(now_ms),
        }
    }

    fn sweep(&self, entries: &mut HashMap<K, (i64, u32)>, now_ms: i64) {
        if entries.len() >= SWEEP_AT {
            entries.retain(|_, (start, _)| !self.ended(*start, now_ms));
        }
    }

    /// `key`'s entry, started afresh when its window ended.
    fn entry<'a>(&self, entries: &'a mut HashMap<K, (i64, u32)>, key: K, now_ms: i64) -> &'a mut (i64, u32) {
        let fresh = (self.start_for(now_ms), 0);
        let entry = entries.entry(key).or_insert(fresh);
        if self.ended(entry.0, now_ms) {
            *entry = fresh;
        }
        entry
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    #[test]
    fn first_event_windows_start_at_the_first_event() {
        let w = FixedWindows::new(MINUTE, WindowStart::FirstEvent);
        assert_eq!(w.current(&"a", 500), (0, 60_500), "no window yet: one would start now");
        assert_eq!(w.record("a", 1_000), 1);
        assert_eq!(w.record("a", 30_000), 2);
        assert_eq!(w.current(&"a", 60_999), (2, 61_000));
        assert_eq!(w.current(&"b", 60_999), (0, 120_999), "keys are counted apart");
        assert_eq!(w.current(&"a", 61_000), (0, 121_000), "the window ended");
        assert_eq!(w.record("a", 61_000), 1, "a new window counts afresh");
        assert_eq!(w.current(&"a", 61_001), (1, 121_000));
        w.forget(&"a");
        assert_eq!(w.current(&"a", 61_002), (0, 121_002));

        let t = w.take("c", 0, 2);
        assert_eq!(t, Tally { allowed: true, count: 1, limit: 2, remaining: 1, reset_at_ms: 60_000 });
        assert!(w.take("c", 1, 2).allowed);
        let t = w.take("c", 2, 2);
        assert_eq!(t, Tally { allowed: false, count: 2, limit: 2, remaining: 0, reset_at_ms: 60_000 });
        assert!(w.take("c", 60_000, 2).allowed);
    }

    #[test]
    fn aligned_windows_start_at_multiples_of_the_length() {
        let w = FixedWindows::new(MINUTE, WindowStart::Aligned);
        let t = w.take("a", 125_000, 2);
        assert_eq!(t, Tally { allowed: true, count: 1, limit: 2, remaining: 1, reset_at_ms: 180_000 });
        assert!(w.take("a", 179_999, 2).allowed);
        let t = w.take("a", 179_999, 2);
        assert!(!t.allowed, "refused requests are not counted");
        assert_eq!((t.count, t.remaining), (2, 0));
        assert!(w.take("b", 179_999, 2).allowed, "keys are counted apart");
        assert_eq!(w.current(&"a", 179_999), (2, 180_000));
        let t = w.take("a", 180_000, 2);
        assert_eq!((t.allowed, t.count, t.reset_at_ms), (true, 1, 240_000), "the next window counts afresh");
        assert_eq!(w.current(&"a", 100_000), (0, 120_000), "a clock gone back is another window");
        assert_eq!(w.record("a", -1), 1, "times before the epoch align too");
        assert_eq!(w.current(&"a", -60_000), (1, 0));
    }

    #[test]
    fn extreme_times_and_counts_do_not_overflow() {
        let w = FixedWindows::new(Duration::MAX, WindowStart::FirstEvent);
        assert_eq!(w.record("a", 0), 1);
        assert_eq!(w.current(&"a", i64::MAX - 1), (1, i64::MAX));
        let w = FixedWindows::<u8>::new(Duration::ZERO, WindowStart::Aligned);
        assert_eq!(w.take(0, 5, 1).reset_at_ms, 6, "a zero window is one millisecond");
        let w = FixedWindows::new(MINUTE, WindowStart::Aligned);
        assert_eq!(w.take("a", i64::MIN, 1).reset_at_ms, i64::MIN + 60_000);
        assert!(w.take("a", i64::MAX, 1).allowed);
        assert!(!w.take("a", i64::MAX, 1).allowed);
    }

    #[test]
    fn ended_windows_are_swept_once_there_are_many() {
        let w = FixedWindows::new(MINUTE, WindowStart::FirstEvent);
        for key in 0..SWEEP_AT {
            w.record(key, 0);
        }
        w.record(SWEEP_AT, 30_000);
        assert_eq!(w.lock().len(), SWEEP_AT + 1, "nothing ended yet");
        w.record(SWEEP_AT + 1, 60_000);
        assert_eq!(w.lock().len(), 2, "the ended windows went");
    }

    #[test]
    fn a_poisoned_lock_still_counts() {
        let w = std::sync::Arc::new(FixedWindows::new(MINUTE, WindowStart::FirstEvent));
        w.record("a", 0);
        let poisoner = std::sync::Arc::clone(&w);
        let _ = std::thread::spawn(move || {
            let _held = poisoner.lock();
            panic!("poison the lock");
        })
        .join();
        assert!(w.entries.is_poisoned());
        assert_eq!(w.record("a", 1), 2);
    }
}
