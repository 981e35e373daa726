//! The cron scheduler: at every minute boundary it starts the enabled schedule-triggered
//! workflows whose expression fell due since the previous tick (so none is missed or
//! fired twice when a tick runs late).

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};

use crate::Inner;
use crate::record::TriggerSpec;

/// Whether `cron` is due in `(after, until]`.
pub fn due_between(cron: &str, after: DateTime<Utc>, until: DateTime<Utc>) -> bool {
    due_in(cron, after, until).is_some()
}

/// The time `cron` fires in `(after, until]`, if it does.
fn due_in(cron: &str, after: DateTime<Utc>, until: DateTime<Utc>) -> Option<DateTime<Utc>> {
    gantry_workflow_engine::next_fire(cron, after).ok().flatten().filter(|t| *t <= until)
}

/// The first fire time of `cron` after `now_ms`, in ms.
pub(crate) fn next_after(cron: &str, now_ms: i64) -> Option<i64> {
    gantry_workflow_engine::next_fire(cron, at(now_ms)).ok().flatten().map(|t| t.timestamp_millis())
}

fn at(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_else(Utc::now)
}

pub(super) async fn run(inner: Arc<Inner>) {
    let mut last = at(inner.clock.now_ms());
    loop {
        // Sleep to just past the next whole minute (cron's resolution).
        let now_ms = inner.clock.now_ms();
        let wait = 60_000 - now_ms.rem_euclid(60_000) + 5;
        tokio::select! {
            () = inner.supervisor.stopping() => return,
            () = tokio::time::sleep(std::time::Duration::from_millis(wait as u64)) => {}
        }
        let now = at(inner.clock.now_ms());
        tick(&inner, last, now).await;
        last = now;
    }
}

async fn tick(inner: &Arc<Inner>, after: DateTime<Utc>, until: DateTime<Utc>) {
    let records = match crate::repo::workflows::enabled_with_trigger(&inner.db, None, "schedule").await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "scheduler cannot list scheduled workflows");
            return;
        }
    };
    for record in records {
        let TriggerSpec::Schedule(cron) = TriggerSpec::of(&inner.to_stored(record.clone()).workflow) else { continue };
        let Some(due) = due_in(&cron, after, until) else { continue };
        // Every gateway on the database ticks; the one that claims the fire runs it.
        match crate::repo::schedule_fires::claim(&inner.db, &record.id, due.timestamp_millis()).await {
            Ok(true) => {}
            Ok(false) => continue,
            Err(e) => {
                tracing::error!(workflow_id = %record.id, error = %e, "scheduler cannot claim a fire");
                continue;
            }
        }
        let data = serde_json::json!({ "firedAt": until.timestamp_millis() });
        inner.fire_logged(record, "schedule", data).await;
    }
    if let Err(e) = crate::repo::schedule_fires::prune(&inner.db, until.timestamp_millis()).await {
        tracing::warn!(error = %e, "scheduler cannot prune old fires");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_in_the_window_only() {
        let t = |m: u32, s: u32| Utc.with_ymd_and_hms(2026, 1, 1, 10, m, s).single().unwrap();
        assert!(due_between("* * * * *", t(0, 30), t(1, 0)));
        assert!(!due_between("* * * * *", t(1, 0), t(1, 30)));
        assert!(due_between("*/5 * * * *", t(4, 59), t(5, 1)));
        assert!(!due_between("*/5 * * * *", t(5, 1), t(6, 1)));
        assert!(!due_between("not cron", t(0, 0), t(59, 0)));
    }
}
