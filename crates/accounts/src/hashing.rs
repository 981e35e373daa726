//! Password hashing on a few dedicated threads, a bounded number of jobs at once. Each
//! argon2 run takes a core and ~19 MiB, so a flood of logins (or sign-ups) waits in a short
//! queue and past it is refused ([`AccountsError::Busy`]) instead of exhausting memory and
//! starving every other request. The threads are dedicated, not the runtime's blocking
//! pool, because the allocator keeps each thread's freed argon2 memory for that thread:
//! with a thread per hash in flight, a flood left hundreds of MiB resident; with one per
//! core it stays at a few tens.

use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use crate::{AccountsError, AccountsResult};

type Job = Box<dyn FnOnce() + Send>;

pub(crate) struct Hashing {
    jobs: SyncSender<Job>,
}

impl Hashing {
    /// `workers` threads, and room for `max_waiting` jobs none of them has taken yet.
    pub(crate) fn new(workers: usize, max_waiting: usize) -> Self {
        let (jobs, queue) = std::sync::mpsc::sync_channel::<Job>(max_waiting);
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..workers.max(1) {
            let queue = queue.clone();
            let spawned = std::thread::Builder::new().name(format!("password-hash-{i}")).spawn(move || work(&queue));
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a password hashing thread");
            }
        }
        Self { jobs }
    }

    /// One worker per core, and a queue eight times that.
    pub(crate) fn per_core() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Self::new(cores, cores * 8)
    }

    /// Runs `work` (a hash or a verification) on a hashing thread; refuses at once when the
    /// queue is full.
    pub(crate) async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> AccountsResult<T> {
        let (done, result) = oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = done.send(work());
        });
        match self.jobs.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err(AccountsError::Busy),
            Err(TrySendError::Disconnected(_)) => {
                return Err(AccountsError::Internal("the password hashing threads are gone".into()));
            }
        }
        result.await.map_err(|_| AccountsError::Internal("a password hashing job was lost".into()))
    }
}

/// A hashing thread: takes jobs until every sender is gone.
fn work(queue: &Mutex<Receiver<Job>>) {
    loop {
        let job = match queue.lock() {
            Ok(queue) => queue.recv(),
            Err(_) => return,
        };
        match job {
            Ok(job) => job(),
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use super::*;

    #[tokio::test]
    async fn past_the_workers_and_the_queue_callers_are_refused() {
        let hashing = Arc::new(Hashing::new(1, 1));
        let (started_tx, started) = mpsc::channel::<()>();
        let (release, blocked) = mpsc::channel::<()>();
        let first = tokio::spawn({
            let hashing = hashing.clone();
            async move {
                hashing
                    .run(move || {
                        let _ = started_tx.send(());
                        blocked.recv().is_ok()
                    })
                    .await
            }
        });
        // The worker holds the first job; a second fills the queue (room for one).
        tokio::task::spawn_blocking(move || started.recv()).await.unwrap().unwrap();
        let (filler_ran, filled) = mpsc::channel::<()>();
        let filler: Job = Box::new(move || {
            let _ = filler_ran.send(());
        });
        assert!(hashing.jobs.try_send(filler).is_ok());
        assert!(matches!(hashing.run(|| 3).await, Err(AccountsError::Busy)), "the queue is full");
        release.send(()).unwrap();
        assert!(first.await.unwrap().unwrap());
        // Once the worker has taken the queued job too, there is room again.
        tokio::task::spawn_blocking(move || filled.recv()).await.unwrap().unwrap();
        assert_eq!(hashing.run(|| 4).await.unwrap(), 4, "free again");
    }
}
