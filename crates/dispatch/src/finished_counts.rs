//! The overview's counts of finished tasks without reading the finished history on every
//! call: a finished task never changes state again, so what ended before a cut a little in
//! the past is counted once and kept, and each call reads only what ended since (one range
//! of the `(status, finished_at)` index). Its cost follows the recent rate, not the total.

use crate::repo::tasks::{self, TaskStatus};
use gantry_store::{Db, StoreResult};

/// How far behind now the kept counts stop: a task's end is stamped just before its write
/// commits (within the database's 5 s lock wait), so every end stamped before the cut is
/// visible by then, on every gateway whose clock is within that margin.
const SETTLED_MS: i64 = 10_000;

/// Kept counts, advanced by each call.
#[derive(Debug, Default)]
pub struct FinishedCounts {
    /// Ends before this instant are in `settled`.
    cut: Option<i64>,
    settled: Counts,
    /// Completions before this instant are in `completed_before_hour`.
    hour_cut: Option<i64>,
    completed_before_hour: i64,
}

/// Finished tasks per end state.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub completed: i64,
    pub failed: i64,
    pub cancelled: i64,
}

impl Counts {
    fn add(&mut self, found: &[(TaskStatus, i64)]) {
        for (status, n) in found {
            match status {
                TaskStatus::Completed => self.completed += n,
                TaskStatus::Failed => self.failed += n,
                TaskStatus::Cancelled => self.cancelled += n,
                TaskStatus::Pending | TaskStatus::Dispatched | TaskStatus::Running => {}
            }
        }
    }
}

impl FinishedCounts {
    /// Every finished task per end state, and how many completed in the hour before `now`.
    pub async fn read(&mut self, db: &Db, now: i64) -> StoreResult<(Counts, i64)> {
        let cut = now - SETTLED_MS;
        let from = self.cut.unwrap_or(i64::MIN);
        if cut > from {
            self.settled.add(&tasks::count_finished_between(db, from, cut).await?);
            self.cut = Some(cut);
        }
        let settled_to = self.cut.unwrap_or(i64::MIN);
        let mut all = self.settled;
        all.add(&tasks::count_finished_between(db, settled_to, i64::MAX).await?);

        let hour_ago = now - 3_600_000;
        let from = self.hour_cut.unwrap_or(i64::MIN);
        if hour_ago > from {
            let mut ended = Counts::default();
            ended.add(&tasks::count_finished_between(db, from, hour_ago).await?);
            self.completed_before_hour += ended.completed;
            self.hour_cut = Some(hour_ago);
        }
        Ok((all, all.completed - self.completed_before_hour))
    }
}
