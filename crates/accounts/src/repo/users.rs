//! Users repository.

use gantry_core::{Role, UserId};
use gantry_store::{Backend, Db, StoreError, StoreResult};
use sqlx::Row;
use sqlx::any::AnyRow;

/// A stored user.
#[derive(Debug, Clone, PartialEq)]
pub struct UserRecord {
    pub id: UserId,
    pub username: String,
    pub nickname: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub avatar: Option<String>,
    pub role: Role,
    pub password_hash: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Fields of a user to create.
#[derive(Debug, Clone)]
pub struct NewUser<'a> {
    pub username: &'a str,
    pub nickname: &'a str,
    pub role: Role,
    pub password_hash: &'a str,
    pub now_ms: i64,
}

/// Profile fields to change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ProfileChange {
    pub nickname: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub avatar: Option<String>,
}

const COLUMNS: &str = "id, username, nickname, email, phone, avatar, role, password_hash, created_at, updated_at";

fn from_row(row: &AnyRow) -> StoreResult<UserRecord> {
    let role: String = row.try_get("role")?;
    Ok(UserRecord {
        id: row.try_get("id")?,
        username: row.try_get("username")?,
        nickname: row.try_get("nickname")?,
        email: row.try_get("email")?,
        phone: row.try_get("phone")?,
        avatar: row.try_get("avatar")?,
        role: role.parse().map_err(|e: String| sqlx::Error::Decode(e.into()))?,
        password_hash: row.try_get("password_hash")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Creates a user with the next free numeric id (ids start at 1001).
pub async fn insert(db: &Db, new: &NewUser<'_>) -> StoreResult<UserRecord> {
    // Ids come from the table itself so they stay small and readable (star-graph shows
    // `1001`); two concurrent inserts on PostgreSQL may pick the same id, so retry.
    for _ in 0..5 {
        let result = sqlx::query(
            "INSERT INTO users (id, username, nickname, role, password_hash, created_at, updated_at) \
             SELECT COALESCE(MAX(id), 1000) + 1, $1, $2, $3, $4, $5, $5 FROM users RETURNING id",
        )
        .bind(new.username)
        .bind(new.nickname)
        .bind(new.role.as_str())
        .bind(new.password_hash)
        .bind(new.now_ms)
        .fetch_one(db.pool())
        .await;
        match result {
            Ok(row) => {
                let id: i64 = row.try_get("id")?;
                return by_id(db, id).await?.ok_or(StoreError::Database(sqlx::Error::RowNotFound));
            }
            Err(err) => match StoreError::on_unique(err, "username") {
                StoreError::Conflict(what) => {
                    if by_username(db, new.username).await?.is_some() {
                        return Err(StoreError::Conflict(what));
                    }
                }
                other => return Err(other),
            },
        }
    }
    Err(StoreError::Conflict("user id".into()))
}

/// Finds a user by id.
pub async fn by_id(db: &Db, id: UserId) -> StoreResult<Option<UserRecord>> {
    let sql = format!("SELECT {COLUMNS} FROM users WHERE id = $1");
    let row = sqlx::query(&sql).bind(id).fetch_optional(db.pool()).await?;
    row.as_ref().map(from_row).transpose()
}

/// Finds a user by username.
pub async fn by_username(db: &Db, username: &str) -> StoreResult<Option<UserRecord>> {
    let sql = format!("SELECT {COLUMNS} FROM users WHERE username = $1");
    let row = sqlx::query(&sql).bind(username).fetch_optional(db.pool()).await?;
    row.as_ref().map(from_row).transpose()
}

/// Lists users by id, a page at a time, with the total count.
pub async fn list(db: &Db, limit: i64, offset: i64) -> StoreResult<(Vec<UserRecord>, i64)> {
    let sql = format!("SELECT {COLUMNS} FROM users ORDER BY id LIMIT $1 OFFSET $2");
    let rows = sqlx::query(&sql).bind(limit).bind(offset).fetch_all(db.pool()).await?;
    let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users").fetch_one(db.pool()).await?;
    Ok((rows.iter().map(from_row).collect::<StoreResult<_>>()?, total))
}

/// Whether at least one admin exists.
pub async fn admin_exists(db: &Db) -> StoreResult<bool> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE role = 'admin'").fetch_one(db.pool()).await?;
    Ok(n > 0)
}

/// Replaces a user's password hash. Returns false when the user does not exist.
pub async fn set_password_hash(db: &Db, id: UserId, hash: &str, now_ms: i64) -> StoreResult<bool> {
    let done = sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3")
        .bind(hash)
        .bind(now_ms)
        .bind(id)
        .execute(db.pool())
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Sets a user's role. Returns false when the user does not exist.
pub async fn set_role(db: &Db, id: UserId, role: Role, now_ms: i64) -> StoreResult<RoleChange> {
    let mut tx = db.begin_write().await?;
    // The admins are locked (PostgreSQL; SQLite's write lock is already held), so two
    // admins demoting each other at once cannot both see the other one still there.
    let admins: Vec<UserId> = match db.backend() {
        Backend::Postgres => sqlx::query_scalar("SELECT id FROM users WHERE role = 'admin' FOR UPDATE"),
        Backend::Sqlite => sqlx::query_scalar("SELECT id FROM users WHERE role = 'admin'"),
    }
    .fetch_all(&mut *tx)
    .await?;
    if role != Role::Admin && admins == [id] {
        return Ok(RoleChange::LastAdmin);
    }
    let done = sqlx::query("UPDATE users SET role = $1, updated_at = $2 WHERE id = $3")
        .bind(role.as_str())
        .bind(now_ms)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(if done.rows_affected() == 1 { RoleChange::Changed } else { RoleChange::NoSuchUser })
}

/// What [`set_role`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleChange {
    Changed,
    NoSuchUser,
    /// Refused: the user is the only admin and would stop being one.
    LastAdmin,
}

/// Applies a profile change in one statement. Returns false when the user does not exist.
pub async fn update_profile(db: &Db, id: UserId, change: &ProfileChange, now_ms: i64) -> StoreResult<bool> {
    let done = sqlx::query(
        "UPDATE users SET nickname = COALESCE($1, nickname), email = COALESCE($2, email), \
         phone = COALESCE($3, phone), avatar = COALESCE($4, avatar), updated_at = $5 WHERE id = $6",
    )
    .bind(change.nickname.as_deref())
    .bind(change.email.as_deref())
    .bind(change.phone.as_deref())
    .bind(change.avatar.as_deref())
    .bind(now_ms)
    .bind(id)
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected() == 1)
}
