//! Per-instance flags that outlive configuration changes (an instance disabled by an
//! operator stays disabled when the server list is edited).

use gantry_store::{Db, StoreResult};
use sqlx::Row;

/// Every stored flag: (instance id, enabled).
pub async fn flags(db: &Db) -> StoreResult<Vec<(String, bool)>> {
    let rows = sqlx::query("SELECT instance_id, enabled FROM instance_flags").fetch_all(db.pool()).await?;
    rows.iter().map(|r| Ok((r.try_get("instance_id")?, r.try_get::<i64, _>("enabled")? != 0))).collect()
}

/// Sets an instance's enabled flag.
pub async fn set_enabled(db: &Db, instance_id: &str, enabled: bool) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO instance_flags (instance_id, enabled) VALUES ($1, $2) \
         ON CONFLICT (instance_id) DO UPDATE SET enabled = excluded.enabled",
    )
    .bind(instance_id)
    .bind(i64::from(enabled))
    .execute(db.pool())
    .await?;
    Ok(())
}
