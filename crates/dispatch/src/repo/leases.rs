//! Which gateway drives each ComfyUI instance (several gateways on one PostgreSQL
//! database), and what that gateway last saw of it.

use gantry_store::{Db, StoreResult};
use sqlx::Row;

/// One instance's lease.
#[derive(Debug, Clone, PartialEq)]
pub struct Lease {
    pub instance_id: String,
    pub gateway_id: String,
    pub expires_at: i64,
    pub seen: Seen,
}

/// What the driving gateway reports of its instance.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Seen {
    pub alive: bool,
    pub heartbeat_at: Option<i64>,
    pub queue_remaining: u64,
    /// Tasks the gateway handed to it that have not finished.
    pub active: u64,
    /// JSON list of the models it has (`ModelRef`s); `None` until first probed.
    pub models: Option<String>,
}

/// Every lease.
pub async fn all(db: &Db) -> StoreResult<Vec<Lease>> {
    let rows = sqlx::query(
        "SELECT instance_id, gateway_id, expires_at, alive, heartbeat_at, queue_remaining, active, models \
         FROM instance_leases",
    )
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Lease {
                instance_id: r.try_get("instance_id")?,
                gateway_id: r.try_get("gateway_id")?,
                expires_at: r.try_get("expires_at")?,
                seen: Seen {
                    alive: r.try_get::<i64, _>("alive")? != 0,
                    heartbeat_at: r.try_get("heartbeat_at")?,
                    queue_remaining: r.try_get::<i64, _>("queue_remaining")?.max(0) as u64,
                    active: r.try_get::<i64, _>("active")?.max(0) as u64,
                    models: r.try_get("models")?,
                },
            })
        })
        .collect()
}

/// Takes the lease of `instance_id` for `gateway` until `until`, if it is free, expired at
/// `now`, or already `gateway`'s. Returns whether `gateway` holds it.
pub async fn acquire(db: &Db, instance_id: &str, gateway: &str, now: i64, until: i64) -> StoreResult<bool> {
    let done = sqlx::query(
        "INSERT INTO instance_leases (instance_id, gateway_id, expires_at) VALUES ($1, $2, $3) \
         ON CONFLICT (instance_id) DO UPDATE SET gateway_id = excluded.gateway_id, expires_at = excluded.expires_at \
         WHERE instance_leases.gateway_id = excluded.gateway_id OR instance_leases.expires_at < $4",
    )
    .bind(instance_id)
    .bind(gateway)
    .bind(until)
    .bind(now)
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Extends `gateway`'s lease of `instance_id` to `until` with what it sees; false if the
/// lease is no longer `gateway`'s.
pub async fn renew(db: &Db, instance_id: &str, gateway: &str, until: i64, seen: &Seen) -> StoreResult<bool> {
    let done = sqlx::query(
        "UPDATE instance_leases SET expires_at = $1, alive = $2, heartbeat_at = $3, queue_remaining = $4, \
         active = $5, models = $6 WHERE instance_id = $7 AND gateway_id = $8",
    )
    .bind(until)
    .bind(i64::from(seen.alive))
    .bind(seen.heartbeat_at)
    .bind(seen.queue_remaining as i64)
    .bind(seen.active as i64)
    .bind(seen.models.clone())
    .bind(instance_id)
    .bind(gateway)
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Gives up `gateway`'s lease of `instance_id` (another gateway takes it at once).
pub async fn release(db: &Db, instance_id: &str, gateway: &str) -> StoreResult<()> {
    sqlx::query("DELETE FROM instance_leases WHERE instance_id = $1 AND gateway_id = $2")
        .bind(instance_id)
        .bind(gateway)
        .execute(db.pool())
        .await?;
    Ok(())
}
