//! One supervisor for a running server's background work: every loop and every detached task
//! is spawned through it, learns of shutdown from one cancellation token, and is awaited
//! before the database closes.

use std::future::Future;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};
use tokio_util::task::TaskTracker;

/// Spawns and tracks background tasks; cheap to clone (all clones supervise the same set).
#[derive(Debug, Clone, Default)]
pub struct Supervisor {
    tracker: TaskTracker,
    stop: CancellationToken,
}

impl Supervisor {
    /// A supervisor with nothing running.
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs `task` in the background until it ends; shutdown waits for it.
    pub fn spawn<F>(&self, task: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.tracker.spawn(task)
    }

    /// Completes when shutdown begins; loops select on it.
    pub fn stopping(&self) -> WaitForCancellationFuture<'_> {
        self.stop.cancelled()
    }

    /// The shutdown token itself, for code that must own it (e.g. a server's graceful shutdown).
    pub fn stop_token(&self) -> CancellationToken {
        self.stop.clone()
    }

    /// A token cancelled at shutdown or earlier by its holder (one instance's monitor, say).
    pub fn child_token(&self) -> CancellationToken {
        self.stop.child_token()
    }

    /// Signals shutdown and waits for every task, at most `grace`; returns how many were
    /// still running when the grace ran out (they are left to the runtime's own shutdown).
    pub async fn shutdown(&self, grace: Duration) -> usize {
        self.stop.cancel();
        self.tracker.close();
        if tokio::time::timeout(grace, self.tracker.wait()).await.is_ok() { 0 } else { self.tracker.len() }
    }
}

#[cfg(test)]
mod tests {
    use super::Supervisor;
    use std::time::Duration;

    #[tokio::test]
    async fn shutdown_waits_for_tasks_that_watch_the_token() {
        let supervisor = Supervisor::new();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let s = supervisor.clone();
        supervisor.spawn(async move {
            s.stopping().await;
            tokio::time::sleep(Duration::from_millis(20)).await;
            let _ = tx.send(());
        });
        assert_eq!(supervisor.shutdown(Duration::from_secs(10)).await, 0);
        assert!(rx.await.is_ok(), "the task finished before shutdown returned");
    }

    #[tokio::test]
    async fn shutdown_reports_tasks_that_ignore_it() {
        let supervisor = Supervisor::new();
        supervisor.spawn(std::future::pending::<()>());
        assert_eq!(supervisor.shutdown(Duration::from_millis(50)).await, 1);
    }
}
