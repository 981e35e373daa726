//! Sessions and their rotating refresh tokens. A session is one login (one device);
//! every access token names its session, so revoking the session ends them all.

use gantry_core::{Dialect, UserId};
use gantry_store::{Db, StoreResult};
use sqlx::Row;
use sqlx::any::AnyRow;

/// A stored session.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRecord {
    pub id: String,
    pub user_id: UserId,
    pub dialect: Dialect,
    pub device_id: Option<String>,
    pub device_name: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
}

impl SessionRecord {
    /// Whether the session can still authenticate at `now_ms`.
    pub fn is_live(&self, now_ms: i64) -> bool {
        self.revoked_at.is_none() && self.expires_at > now_ms
    }
}

/// A new session with its first refresh token.
#[derive(Debug, Clone)]
pub struct NewSession<'a> {
    pub id: &'a str,
    pub user_id: UserId,
    pub dialect: Dialect,
    pub device_id: Option<&'a str>,
    pub device_name: Option<&'a str>,
    pub now_ms: i64,
    pub expires_at: i64,
    pub refresh_hash: &'a str,
}

/// What a presented refresh token turned out to be.
#[derive(Debug, Clone, PartialEq)]
pub enum RefreshLookup {
    /// Never issued, or expired.
    Unknown,
    /// Already exchanged once: a replay, so the whole session has been revoked.
    Reused { session_id: String, user_id: UserId },
    /// Valid and now consumed; the session to issue new tokens for.
    Consumed(SessionRecord),
}

fn from_row(row: &AnyRow) -> StoreResult<SessionRecord> {
    let dialect: String = row.try_get("dialect")?;
    Ok(SessionRecord {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        dialect: dialect.parse().map_err(|e: String| sqlx::Error::Decode(e.into()))?,
        device_id: row.try_get("device_id")?,
        device_name: row.try_get("device_name")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

const COLUMNS: &str = "id, user_id, dialect, device_id, device_name, created_at, expires_at, revoked_at";

/// Creates a session and its first refresh token in one transaction.
pub async fn create(db: &Db, new: &NewSession<'_>) -> StoreResult<()> {
    let mut tx = db.pool().begin().await?;
    sqlx::query(
        "INSERT INTO sessions (id, user_id, dialect, device_id, device_name, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(new.id)
    .bind(new.user_id)
    .bind(new.dialect.as_str())
    .bind(new.device_id)
    .bind(new.device_name)
    .bind(new.now_ms)
    .bind(new.expires_at)
    .execute(&mut *tx)
    .await?;
    sqlx::query("INSERT INTO refresh_tokens (token_hash, session_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
        .bind(new.refresh_hash)
        .bind(new.id)
        .bind(new.now_ms)
        .bind(new.expires_at)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Finds a session by id.
pub async fn by_id(db: &Db, id: &str) -> StoreResult<Option<SessionRecord>> {
    let sql = format!("SELECT {COLUMNS} FROM sessions WHERE id = $1");
    let row = sqlx::query(&sql).bind(id).fetch_optional(db.pool()).await?;
    row.as_ref().map(from_row).transpose()
}

/// Exchanges a refresh token: consumes it and stores `next_hash` as the session's next
/// token, atomically. A second use of the same token revokes the session (token theft).
pub async fn rotate_refresh(
    db: &Db,
    presented_hash: &str,
    next_hash: &str,
    now_ms: i64,
    next_expires_at: i64,
) -> StoreResult<RefreshLookup> {
    let mut tx = db.pool().begin().await?;
    let row = sqlx::query(
        "SELECT r.session_id, r.used_at, r.expires_at, s.user_id FROM refresh_tokens r \
         JOIN sessions s ON s.id = r.session_id WHERE r.token_hash = $1",
    )
    .bind(presented_hash)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else {
        return Ok(RefreshLookup::Unknown);
    };
    let session_id: String = row.try_get("session_id")?;
    let used_at: Option<i64> = row.try_get("used_at")?;
    let expires_at: i64 = row.try_get("expires_at")?;
    let user_id: i64 = row.try_get("user_id")?;
    if expires_at <= now_ms {
        return Ok(RefreshLookup::Unknown);
    }
    // Consume with a guard, so two racing exchanges cannot both succeed.
    let consumed = if used_at.is_none() {
        sqlx::query("UPDATE refresh_tokens SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL")
            .bind(now_ms)
            .bind(presented_hash)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            == 1
    } else {
        false
    };
    if !consumed {
        sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(now_ms)
            .bind(&session_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        return Ok(RefreshLookup::Reused { session_id, user_id });
    }
    let sql = format!("SELECT {COLUMNS} FROM sessions WHERE id = $1");
    let session = from_row(&sqlx::query(&sql).bind(&session_id).fetch_one(&mut *tx).await?)?;
    if !session.is_live(now_ms) {
        tx.commit().await?;
        return Ok(RefreshLookup::Unknown);
    }
    sqlx::query("INSERT INTO refresh_tokens (token_hash, session_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
        .bind(next_hash)
        .bind(&session_id)
        .bind(now_ms)
        .bind(next_expires_at)
        .execute(&mut *tx)
        .await?;
    sqlx::query("UPDATE sessions SET expires_at = $1 WHERE id = $2")
        .bind(next_expires_at)
        .bind(&session_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(RefreshLookup::Consumed(SessionRecord { expires_at: next_expires_at, ..session }))
}

/// Revokes one session. Returns false when it was unknown or already revoked.
pub async fn revoke(db: &Db, id: &str, now_ms: i64) -> StoreResult<bool> {
    let done = sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
        .bind(now_ms)
        .bind(id)
        .execute(db.pool())
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Revokes every live session of a user on one device; returns how many.
pub async fn revoke_device(db: &Db, user_id: UserId, device_id: &str, now_ms: i64) -> StoreResult<u64> {
    let done =
        sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE user_id = $2 AND device_id = $3 AND revoked_at IS NULL")
            .bind(now_ms)
            .bind(user_id)
            .bind(device_id)
            .execute(db.pool())
            .await?;
    Ok(done.rows_affected())
}

/// The device of a session revoked because a newer one was opened for the same device
/// (the newer one starts the instant the older one was revoked); `None` otherwise.
pub async fn replaced_on_device(db: &Db, id: &str) -> StoreResult<Option<String>> {
    Ok(sqlx::query_scalar(
        "SELECT s.device_id FROM sessions s WHERE s.id = $1 AND s.device_id IS NOT NULL AND EXISTS \
         (SELECT 1 FROM sessions n WHERE n.user_id = s.user_id AND n.device_id = s.device_id \
          AND n.id <> s.id AND n.created_at = s.revoked_at)",
    )
    .bind(id)
    .fetch_optional(db.pool())
    .await?)
}

/// Revokes every live session of a user (password change, disable); returns how many.
pub async fn revoke_all_for_user(db: &Db, user_id: UserId, now_ms: i64) -> StoreResult<u64> {
    let done = sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL")
        .bind(now_ms)
        .bind(user_id)
        .execute(db.pool())
        .await?;
    Ok(done.rows_affected())
}

/// The identity behind a live session: who, with which role, issued by which dialect.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionIdentity {
    pub user_id: UserId,
    pub username: String,
    pub role: gantry_core::Role,
    pub dialect: Dialect,
    pub device_id: Option<String>,
    pub device_name: Option<String>,
}

/// Looks up the user behind session `id` if the session is live at `now_ms` (one query,
/// run on every authenticated request).
pub async fn live_identity(db: &Db, id: &str, now_ms: i64) -> StoreResult<Option<SessionIdentity>> {
    let row = sqlx::query(
        "SELECT s.user_id, u.username, u.role, s.dialect, s.device_id, s.device_name FROM sessions s \
         JOIN users u ON u.id = s.user_id WHERE s.id = $1 AND s.revoked_at IS NULL AND s.expires_at > $2",
    )
    .bind(id)
    .bind(now_ms)
    .fetch_optional(db.pool())
    .await?;
    let Some(row) = row else { return Ok(None) };
    let role: String = row.try_get("role")?;
    let dialect: String = row.try_get("dialect")?;
    Ok(Some(SessionIdentity {
        user_id: row.try_get("user_id")?,
        username: row.try_get("username")?,
        role: role.parse().map_err(|e: String| sqlx::Error::Decode(e.into()))?,
        dialect: dialect.parse().map_err(|e: String| sqlx::Error::Decode(e.into()))?,
        device_id: row.try_get("device_id")?,
        device_name: row.try_get("device_name")?,
    }))
}

/// The dialect of the session a refresh token belongs to, used or not.
pub async fn dialect_of_refresh(db: &Db, token_hash: &str) -> StoreResult<Option<Dialect>> {
    let dialect: Option<String> = sqlx::query_scalar(
        "SELECT s.dialect FROM refresh_tokens r JOIN sessions s ON s.id = r.session_id WHERE r.token_hash = $1",
    )
    .bind(token_hash)
    .fetch_optional(db.pool())
    .await?;
    dialect.map(|d| d.parse().map_err(|e: String| sqlx::Error::Decode(e.into()).into())).transpose()
}
