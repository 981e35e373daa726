//! The ledger: every user's credits.
//!
//! `available + frozen + Σ deductions = Σ grants`, always, and `available` never goes
//! negative. Each movement is one transaction: a guarded `UPDATE` of the balance and its
//! fund record together.
//!
//! A fund record's `amount` is the change of the user's balance (available + frozen) and
//! `frozen` the change of the frozen credits, so a user's amounts add up to their balance
//! and their `frozen`s to the credits frozen now; `balance` is the total after it.
//!
//! - **Recharge** (admin grant): `available += n`, record `RECHARGE` amount +n.
//! - **Freeze** (a task is submitted): `available -= c, frozen += c`, record `FREEZE`
//!   amount 0, frozen +c; refused when `available < c`. The task's charge is remembered.
//! - **Deduct** (the task succeeded): `frozen -= c`, record `DEDUCT` amount −c, frozen −c.
//! - **Refund** (the task failed or was cancelled): `frozen -= c, available += c`, record
//!   `REFUND` amount 0, frozen −c.
//!
//! A charge is settled once: deduct and refund both move it out of the `frozen` state
//! under a guard, so events seen twice or a sweep racing an event change nothing.

use gantry_core::{Clock, UserId};
use gantry_store::{Db, StoreError};
use sqlx::Row;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// Fund record kinds.
pub mod kind {
    pub const RECHARGE: &str = "RECHARGE";
    pub const FREEZE: &str = "FREEZE";
    pub const DEDUCT: &str = "DEDUCT";
    pub const REFUND: &str = "REFUND";
    /// Every kind, for validating filters.
    pub const ALL: [&str; 4] = [RECHARGE, FREEZE, DEDUCT, REFUND];
}

/// Errors of the ledger.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("insufficient balance: {available} available, {needed} needed")]
    InsufficientBalance { available: i64, needed: i64 },
    #[error("amount must be positive")]
    InvalidAmount,
    /// A reason with control characters.
    #[error("{0}")]
    InvalidText(String),
    /// The balance would pass [`MAX_BALANCE`].
    #[error("the balance would exceed {MAX_BALANCE} credits")]
    BalanceTooLarge,
    #[error("storage error: {0}")]
    Store(String),
}

impl From<sqlx::Error> for LedgerError {
    fn from(e: sqlx::Error) -> Self {
        Self::Store(e.to_string())
    }
}

impl From<StoreError> for LedgerError {
    fn from(e: StoreError) -> Self {
        Self::Store(e.to_string())
    }
}

/// A user's credits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct Balance {
    pub available: i64,
    pub frozen: i64,
    /// Deducted today (UTC).
    pub today_used: i64,
    /// Deducted this month (UTC).
    pub month_used: i64,
}

/// One fund record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FundRecord {
    pub id: i64,
    pub user_id: UserId,
    pub kind: String,
    /// Change of the balance (available + frozen).
    pub amount: i64,
    /// Change of the frozen credits.
    pub frozen: i64,
    /// Balance after the movement.
    pub balance: i64,
    pub reason: String,
    pub task_id: Option<String>,
    pub created_at: i64,
}

/// How a charge ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settlement {
    Deducted,
    Refunded,
}

/// The ledger service.
#[derive(Clone)]
pub struct Ledger {
    db: Db,
    clock: Arc<dyn Clock>,
    ids: Arc<AtomicI64>,
}

/// The most credits one balance may hold.
pub const MAX_BALANCE: i64 = 1_000_000_000_000_000;

const EPOCH_MS: i64 = 1_704_067_200_000;

impl Ledger {
    /// The ledger on `db`.
    pub fn new(db: Db, clock: Arc<dyn Clock>) -> Self {
        Self { db, clock, ids: Arc::new(AtomicI64::new(0)) }
    }

    /// A fund record id: milliseconds since 2024 shifted left 12 bits, or one more than the
    /// last id when that is later; numeric (as star-graph shows), unique per node, below
    /// 2^53, and increasing. Taken once the movement holds the user's balance row, so a
    /// user's records are in the order their movements committed.
    fn next_id(&self) -> i64 {
        let floor = (self.clock.now_ms() - EPOCH_MS).max(0) << 12;
        let bump = |last: i64| Some((last + 1).max(floor));
        let last = self.ids.fetch_update(Ordering::SeqCst, Ordering::SeqCst, bump).unwrap_or(floor);
        (last + 1).max(floor)
    }

    /// Grants credits (admin recharge).
    pub async fn recharge(&self, user_id: UserId, amount: i64, reason: &str) -> Result<FundRecord, LedgerError> {
        if amount <= 0 {
            return Err(LedgerError::InvalidAmount);
        }
        gantry_core::text::check_text("reason", reason).map_err(LedgerError::InvalidText)?;
        let now = self.clock.now_ms();
        let mut tx = self.db.pool().begin().await?;
        sqlx::query(
            "INSERT INTO balances (user_id, available, frozen, updated_at) VALUES ($1, 0, 0, $2) \
             ON CONFLICT (user_id) DO NOTHING",
        )
        .bind(user_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        // Guarded so that no balance (or sum the records add up) can overflow.
        let added = sqlx::query(
            "UPDATE balances SET available = available + $1, updated_at = $2 \
             WHERE user_id = $3 AND available + frozen <= $4",
        )
        .bind(amount)
        .bind(now)
        .bind(user_id)
        .bind(MAX_BALANCE.saturating_sub(amount))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if added == 0 {
            return Err(LedgerError::BalanceTooLarge);
        }
        let record = self.record(&mut tx, user_id, kind::RECHARGE, (amount, 0), reason, None, now).await?;
        tx.commit().await?;
        Ok(record)
    }

    /// Freezes `amount` for a task about to be submitted. Fails with
    /// [`LedgerError::InsufficientBalance`] (and changes nothing) when not enough is available.
    pub async fn freeze(&self, user_id: UserId, task_id: &str, amount: i64, reason: &str) -> Result<(), LedgerError> {
        if amount < 0 {
            return Err(LedgerError::InvalidAmount);
        }
        let now = self.clock.now_ms();
        let mut tx = self.db.pool().begin().await?;
        let moved = sqlx::query(
            "UPDATE balances SET available = available - $1, frozen = frozen + $1, updated_at = $2 \
             WHERE user_id = $3 AND available >= $1",
        )
        .bind(amount)
        .bind(now)
        .bind(user_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if moved != 1 {
            drop(tx);
            let available = self.balance(user_id).await?.available;
            return Err(LedgerError::InsufficientBalance { available, needed: amount });
        }
        sqlx::query(
            "INSERT INTO task_charges (task_id, user_id, amount, state, created_at) VALUES ($1, $2, $3, 'frozen', $4)",
        )
        .bind(task_id)
        .bind(user_id)
        .bind(amount)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        self.record(&mut tx, user_id, kind::FREEZE, (0, amount), reason, Some(task_id), now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Settles a task's charge: deducted on success, refunded otherwise. Returns the
    /// amount moved, or `None` when the task had no open charge (never charged, or
    /// already settled).
    pub async fn settle(&self, task_id: &str, how: Settlement, reason: &str) -> Result<Option<i64>, LedgerError> {
        let now = self.clock.now_ms();
        let state = match how {
            Settlement::Deducted => "deducted",
            Settlement::Refunded => "refunded",
        };
        let mut tx = self.db.pool().begin().await?;
        let closed =
            sqlx::query("UPDATE task_charges SET state = $1, settled_at = $2 WHERE task_id = $3 AND state = 'frozen'")
                .bind(state)
                .bind(now)
                .bind(task_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        if closed != 1 {
            return Ok(None);
        }
        let row = sqlx::query("SELECT user_id, amount FROM task_charges WHERE task_id = $1")
            .bind(task_id)
            .fetch_one(&mut *tx)
            .await?;
        let (user_id, amount): (i64, i64) = (row.try_get("user_id")?, row.try_get("amount")?);
        let (sql, kind, change) = match how {
            Settlement::Deducted => (
                "UPDATE balances SET frozen = frozen - $1, updated_at = $2 WHERE user_id = $3 AND frozen >= $1",
                kind::DEDUCT,
                (-amount, -amount),
            ),
            Settlement::Refunded => (
                "UPDATE balances SET frozen = frozen - $1, available = available + $1, updated_at = $2 \
                 WHERE user_id = $3 AND frozen >= $1",
                kind::REFUND,
                (0, -amount),
            ),
        };
        let moved = sqlx::query(sql).bind(amount).bind(now).bind(user_id).execute(&mut *tx).await?.rows_affected();
        if moved != 1 {
            // Cannot happen while the invariant holds; refuse to write a half movement.
            return Err(LedgerError::Store(format!(
                "frozen credits of user {user_id} below the charge of task {task_id}"
            )));
        }
        self.record(&mut tx, user_id, kind, change, reason, Some(task_id), now).await?;
        tx.commit().await?;
        Ok(Some(amount))
    }

    /// The amounts charged for several tasks (tasks never charged are left out).
    pub async fn charges_of(&self, task_ids: &[String]) -> Result<HashMap<String, i64>, LedgerError> {
        let sql = "SELECT task_id, amount FROM task_charges WHERE task_id IN ({ids})";
        let rows = self.db.fetch_for_ids(sql, task_ids).await?;
        Ok(rows
            .iter()
            .map(|row| Ok((row.try_get("task_id")?, row.try_get("amount")?)))
            .collect::<Result<_, sqlx::Error>>()?)
    }

    /// The amount charged for a task, if it was charged.
    pub async fn charge_of(&self, task_id: &str) -> Result<Option<(i64, String)>, LedgerError> {
        let row = sqlx::query("SELECT amount, state FROM task_charges WHERE task_id = $1")
            .bind(task_id)
            .fetch_optional(self.db.pool())
            .await?;
        Ok(row.map(|r| Ok::<_, sqlx::Error>((r.try_get("amount")?, r.try_get("state")?))).transpose()?)
    }

    /// The tasks whose charges are still frozen (not yet deducted or refunded).
    pub async fn frozen_tasks(&self) -> Result<Vec<String>, LedgerError> {
        Ok(sqlx::query_scalar("SELECT task_id FROM task_charges WHERE state = 'frozen'")
            .fetch_all(self.db.pool())
            .await?)
    }

    /// A user's balance with today's and this month's deductions (UTC).
    pub async fn balance(&self, user_id: UserId) -> Result<Balance, LedgerError> {
        let row = sqlx::query("SELECT available, frozen FROM balances WHERE user_id = $1")
            .bind(user_id)
            .fetch_optional(self.db.pool())
            .await?;
        let (available, frozen) = match row {
            Some(r) => (r.try_get("available")?, r.try_get("frozen")?),
            None => (0, 0),
        };
        let now = self.clock.now_ms();
        let day_start = now - now.rem_euclid(86_400_000);
        let month_start = month_start_ms(now);
        let used_since = |since: i64| {
            sqlx::query_scalar::<_, i64>(
                "SELECT CAST(COALESCE(SUM(-amount), 0) AS BIGINT) FROM fund_records WHERE user_id = $1 AND kind = 'DEDUCT' AND created_at >= $2",
            )
            .bind(user_id)
            .bind(since)
            .fetch_one(self.db.pool())
        };
        Ok(Balance {
            available,
            frozen,
            today_used: used_since(day_start).await?,
            month_used: used_since(month_start).await?,
        })
    }

    /// A user's fund records, newest first, optionally of one kind, with the total.
    pub async fn records(
        &self,
        user_id: UserId,
        kind: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<FundRecord>, i64), LedgerError> {
        let filter = if kind.is_some() { "AND kind = $2" } else { "" };
        let (limit_mark, offset_mark) = if kind.is_some() { ("$3", "$4") } else { ("$2", "$3") };
        let sql = format!(
            "SELECT id, user_id, kind, amount, frozen, balance, reason, task_id, created_at FROM fund_records \
             WHERE user_id = $1 {filter} ORDER BY id DESC LIMIT {limit_mark} OFFSET {offset_mark}"
        );
        let count_sql = format!("SELECT COUNT(*) FROM fund_records WHERE user_id = $1 {filter}");
        let mut query = sqlx::query(&sql).bind(user_id);
        let mut count = sqlx::query_scalar::<_, i64>(&count_sql).bind(user_id);
        if let Some(k) = kind {
            query = query.bind(k);
            count = count.bind(k);
        }
        let rows = query.bind(limit).bind(offset).fetch_all(self.db.pool()).await?;
        let total = count.fetch_one(self.db.pool()).await?;
        let records = rows
            .iter()
            .map(|r| {
                Ok(FundRecord {
                    id: r.try_get("id")?,
                    user_id: r.try_get("user_id")?,
                    kind: r.try_get("kind")?,
                    amount: r.try_get("amount")?,
                    frozen: r.try_get("frozen")?,
                    balance: r.try_get("balance")?,
                    reason: r.try_get("reason")?,
                    task_id: r.try_get("task_id")?,
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()?;
        Ok((records, total))
    }

    /// Sum of all grants and of all deductions of a user (for audits and tests).
    pub async fn totals(&self, user_id: UserId) -> Result<(i64, i64), LedgerError> {
        let sum = |k: &'static str| {
            sqlx::query_scalar::<_, i64>(
                "SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM fund_records WHERE user_id = $1 AND kind = $2",
            )
            .bind(user_id)
            .bind(k)
            .fetch_one(self.db.pool())
        };
        Ok((sum(kind::RECHARGE).await?, -sum(kind::DEDUCT).await?))
    }

    #[allow(clippy::too_many_arguments)]
    async fn record(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        user_id: UserId,
        kind: &str,
        (amount, frozen): (i64, i64),
        reason: &str,
        task_id: Option<&str>,
        now: i64,
    ) -> Result<FundRecord, LedgerError> {
        let row = sqlx::query("SELECT available + frozen AS total FROM balances WHERE user_id = $1")
            .bind(user_id)
            .fetch_one(&mut **tx)
            .await?;
        let balance: i64 = row.try_get("total")?;
        let record = FundRecord {
            id: self.next_id(),
            user_id,
            kind: kind.to_owned(),
            amount,
            frozen,
            balance,
            reason: reason.to_owned(),
            task_id: task_id.map(str::to_owned),
            created_at: now,
        };
        sqlx::query(
            "INSERT INTO fund_records (id, user_id, kind, amount, frozen, balance, reason, task_id, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(record.id)
        .bind(record.user_id)
        .bind(&record.kind)
        .bind(record.amount)
        .bind(record.frozen)
        .bind(record.balance)
        .bind(&record.reason)
        .bind(record.task_id.as_deref())
        .bind(record.created_at)
        .execute(&mut **tx)
        .await?;
        Ok(record)
    }
}

/// Start of the UTC month containing `ms`.
fn month_start_ms(ms: i64) -> i64 {
    use chrono::{Datelike, TimeZone, Utc};
    let Some(at) = chrono::DateTime::from_timestamp_millis(ms) else { return 0 };
    Utc.with_ymd_and_hms(at.year(), at.month(), 1, 0, 0, 0).single().map_or(0, |d| d.timestamp_millis())
}

#[cfg(test)]
mod tests {
    #[test]
    fn month_starts_at_midnight_of_the_first() {
        // 2024-03-15T12:00:00Z → 2024-03-01T00:00:00Z
        assert_eq!(super::month_start_ms(1_710_504_000_000), 1_709_251_200_000);
        assert_eq!(super::month_start_ms(1_704_067_200_000), 1_704_067_200_000);
    }
}
