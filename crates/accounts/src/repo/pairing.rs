//! One-time device pairing codes: an admin creates one for a user, and a new device
//! exchanges it once for a session.

use gantry_core::UserId;
use gantry_store::{Db, StoreResult};

/// Stores a new pairing code (its hash) for `user_id`.
pub async fn insert(
    db: &Db,
    code_hash: &str,
    user_id: UserId,
    created_by: UserId,
    now_ms: i64,
    expires_at: i64,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO pairing_codes (code_hash, user_id, created_by, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(code_hash)
    .bind(user_id)
    .bind(created_by)
    .bind(now_ms)
    .bind(expires_at)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Consumes a pairing code; returns its user when it was valid, unused and unexpired.
pub async fn redeem(db: &Db, code_hash: &str, now_ms: i64) -> StoreResult<Option<UserId>> {
    let mut tx = db.pool().begin().await?;
    let user: Option<i64> = sqlx::query_scalar(
        "SELECT user_id FROM pairing_codes WHERE code_hash = $1 AND used_at IS NULL AND expires_at > $2",
    )
    .bind(code_hash)
    .bind(now_ms)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(user) = user else { return Ok(None) };
    let done = sqlx::query("UPDATE pairing_codes SET used_at = $1 WHERE code_hash = $2 AND used_at IS NULL")
        .bind(now_ms)
        .bind(code_hash)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok((done.rows_affected() == 1).then_some(user))
}
