//! Password hashing off the request threads, a bounded number at once. Each argon2 run
//! takes a core and ~19 MiB for its duration, so a flood of logins (or sign-ups) waits in a
//! short queue and past it is refused ([`AccountsError::Busy`]) instead of exhausting
//! memory and starving every other request.

use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Semaphore;

use crate::{AccountsError, AccountsResult};

pub(crate) struct Hashing {
    running: Semaphore,
    waiting: AtomicUsize,
    max_waiting: usize,
}

/// Counts a caller in the queue until it leaves it, served or gone (a dropped request).
struct InQueue<'a>(&'a AtomicUsize);

impl Drop for InQueue<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Hashing {
    /// At most `workers` hashes at once and `max_waiting` callers waiting for one.
    pub(crate) fn new(workers: usize, max_waiting: usize) -> Self {
        Self { running: Semaphore::new(workers.max(1)), waiting: AtomicUsize::new(0), max_waiting }
    }

    /// One worker per core, and a queue eight times that.
    pub(crate) fn per_core() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Self::new(cores, cores * 8)
    }

    /// Runs `work` (a hash or a verification) on a blocking thread once a worker is free;
    /// refuses at once when the queue is full.
    pub(crate) async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> AccountsResult<T> {
        let _permit = match self.running.try_acquire() {
            Ok(permit) => permit,
            Err(_) => {
                if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.max_waiting {
                    self.waiting.fetch_sub(1, Ordering::SeqCst);
                    return Err(AccountsError::Busy);
                }
                let _queued = InQueue(&self.waiting);
                self.running.acquire().await.map_err(|e| AccountsError::Internal(e.to_string()))?
            }
        };
        tokio::task::spawn_blocking(work).await.map_err(|e| AccountsError::Internal(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::mpsc;

    use super::*;

    #[tokio::test]
    async fn past_the_workers_and_the_queue_callers_are_refused() {
        let hashing = Arc::new(Hashing::new(1, 1));
        let (release, blocked) = mpsc::channel::<()>();
        let first = tokio::spawn({
            let hashing = hashing.clone();
            async move { hashing.run(move || blocked.recv().is_ok()).await }
        });
        while hashing.running.available_permits() > 0 {
            tokio::task::yield_now().await;
        }
        let second = tokio::spawn({
            let hashing = hashing.clone();
            async move { hashing.run(|| 2).await }
        });
        while hashing.waiting.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        assert!(matches!(hashing.run(|| 3).await, Err(AccountsError::Busy)), "the queue is full");
        release.send(()).unwrap();
        assert!(first.await.unwrap().unwrap());
        assert_eq!(second.await.unwrap().unwrap(), 2);
        assert_eq!(hashing.run(|| 4).await.unwrap(), 4, "free again");
        assert_eq!(hashing.waiting.load(Ordering::SeqCst), 0);
    }
}
