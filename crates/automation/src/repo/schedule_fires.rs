//! Cron fires claimed by a gateway: with several gateways on one database, the one that
//! claims a workflow's fire runs it and the others skip it.

use gantry_store::{Db, StoreResult};

/// How long claims are kept (a fire is claimed within seconds of its time).
const KEEP_MS: i64 = 24 * 60 * 60 * 1000;

/// Claims the fire of `workflow_id` due at `fire_at`; false if it was already claimed.
pub async fn claim(db: &Db, workflow_id: &str, fire_at: i64) -> StoreResult<bool> {
    let done = sqlx::query("INSERT INTO schedule_fires (workflow_id, fire_at) VALUES ($1, $2) ON CONFLICT DO NOTHING")
        .bind(workflow_id)
        .bind(fire_at)
        .execute(db.pool())
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Forgets claims of fires long past `now`.
pub async fn prune(db: &Db, now: i64) -> StoreResult<()> {
    sqlx::query("DELETE FROM schedule_fires WHERE fire_at < $1").bind(now - KEEP_MS).execute(db.pool()).await?;
    Ok(())
}
