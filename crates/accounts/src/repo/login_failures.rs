//! Counts of failed logins, each in a window that starts at its first failure.

use gantry_store::{Db, StoreResult};
use sqlx::Row;

/// The live windows among `keys` at `now`: (key, failures, window end).
pub async fn current(db: &Db, keys: &[String], now: i64) -> StoreResult<Vec<(String, i64, i64)>> {
    let rows = db.fetch_for_ids("SELECT key, count, ends_at FROM login_failures WHERE key IN ({ids})", keys).await?;
    rows.iter()
        .map(|r| Ok((r.try_get("key")?, r.try_get("count")?, r.try_get("ends_at")?)))
        .filter(|row: &StoreResult<(String, i64, i64)>| row.as_ref().map_or(true, |(_, _, ends_at)| *ends_at > now))
        .collect()
}

/// Counts one failure of `key` at `now`: in its live window, or in a new one of `window_ms`.
/// Windows that ended are dropped on the way.
pub async fn record(db: &Db, key: &str, now: i64, window_ms: i64) -> StoreResult<()> {
    sqlx::query("DELETE FROM login_failures WHERE ends_at <= $1").bind(now).execute(db.pool()).await?;
    sqlx::query(
        "INSERT INTO login_failures (key, count, ends_at) VALUES ($1, 1, $2) \
         ON CONFLICT (key) DO UPDATE SET \
         count = CASE WHEN login_failures.ends_at <= $3 THEN 1 ELSE login_failures.count + 1 END, \
         ends_at = CASE WHEN login_failures.ends_at <= $3 THEN excluded.ends_at ELSE login_failures.ends_at END",
    )
    .bind(key)
    .bind(now + window_ms)
    .bind(now)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Forgets the failures of `key`.
pub async fn forget(db: &Db, key: &str) -> StoreResult<()> {
    sqlx::query("DELETE FROM login_failures WHERE key = $1").bind(key).execute(db.pool()).await?;
    Ok(())
}
