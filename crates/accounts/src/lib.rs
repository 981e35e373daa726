//! The accounts context: one identity for all four dialects.
//!
//! - Users have a role (admin or user) and an argon2 password hash ([`password`]).
//! - A login opens a *session*; the session hands out short-lived access tokens (JWT,
//!   [`jwt`]) and opaque refresh tokens that rotate on every use. Replaying a used refresh
//!   token revokes the session. Logging out revokes the session, which ends its access
//!   tokens at once because every request checks the session.
//! - Long-lived API tokens (the openidcs system token) and one-time device pairing codes
//!   are stored as SHA-256 digests only.

mod hashing;
pub mod jwt;
mod login_guard;
pub mod password;
mod personal_tokens;
pub mod repo;
pub mod secrets;
pub mod user_files;

use crate::repo::sessions::{NewSession, RefreshLookup};
use crate::repo::users::NewUser;
pub use crate::repo::users::{ProfileChange, UserRecord};
use gantry_core::events::{Event, EventBus};
use gantry_core::{Clock, Dialect, IdSource, Role, UserId, config::AuthConfig};
use gantry_store::{Db, StoreError, settings};
use hashing::Hashing;
use jwt::{Claims, JwtKeys, Rejection};
use login_guard::LoginGuard;
pub use password::PasswordInput;
pub use personal_tokens::{MAX_PERSONAL_TOKENS, PersonalToken};
use repo::{api_tokens, pairing, sessions, users};
use std::net::IpAddr;
use std::sync::Arc;

/// The name of the openidcs system API token.
pub const OPENIDCS_TOKEN: &str = "openidcs";
/// How long a device pairing code stays valid.
pub const PAIRING_TTL_MS: i64 = 10 * 60 * 1000;
/// Shortest API token an operator may set by hand.
pub const MIN_API_TOKEN_LEN: usize = 24;

/// Errors of the accounts context; each dialect maps them to its own codes.
#[derive(Debug, thiserror::Error)]
pub enum AccountsError {
    #[error("invalid username or password")]
    InvalidCredentials,
    #[error("missing authentication token")]
    MissingToken,
    #[error("invalid or revoked token")]
    InvalidToken,
    /// The token's session ended when a newer token was issued for the same device.
    #[error("token revoked: a newer token was issued for device `{0}` (one token per device)")]
    ReplacedOnDevice(String),
    #[error("token expired")]
    TokenExpired,
    #[error("insufficient permissions")]
    Forbidden,
    #[error("user not found")]
    UserNotFound,
    #[error("{0}")]
    NotFound(String),
    #[error("username already taken")]
    UsernameTaken,
    #[error("{0}")]
    Invalid(String),
    /// Something is in the way (an existing file that may not be replaced).
    #[error("{0}")]
    Conflict(String),
    /// Too many wrong passwords for this username from this address; try after `retry_at_ms`.
    #[error("too many failed logins; try again later")]
    TooManyAttempts { retry_at_ms: i64 },
    /// Every password-hashing worker is busy and the queue for them is full.
    #[error("the server is busy checking passwords; try again shortly")]
    Busy,
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for AccountsError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Conflict(_) => Self::UsernameTaken,
            other => Self::Internal(other.to_string()),
        }
    }
}

/// Result alias for the accounts context.
pub type AccountsResult<T> = Result<T, AccountsError>;

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    pub user_id: UserId,
    pub username: String,
    pub role: Role,
    /// The session behind an access token; `None` for API tokens.
    pub session_id: Option<String>,
    /// The dialect that issued the credential.
    pub dialect: Dialect,
    /// Access token expiry, Unix seconds (`None` for API tokens).
    pub expires_at: Option<i64>,
    pub device_id: Option<String>,
    pub device_name: Option<String>,
}

impl Principal {
    /// Whether the caller is an admin.
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// Fails with [`AccountsError::Forbidden`] unless the caller is an admin.
    pub fn require_admin(&self) -> AccountsResult<()> {
        if self.is_admin() { Ok(()) } else { Err(AccountsError::Forbidden) }
    }
}

/// A device asking for its own session.
#[derive(Debug, Clone, Default)]
pub struct Device {
    pub id: String,
    pub name: String,
}

/// Tokens handed to a client after login or refresh.
#[derive(Debug, Clone)]
pub struct IssuedTokens {
    pub access_token: String,
    pub refresh_token: String,
    /// Access token lifetime in seconds.
    pub expires_in: i64,
    /// Access token expiry, Unix seconds.
    pub expires_at: i64,
    pub session_id: String,
    pub user: UserRecord,
}

/// What `tquery` reveals about an API token: never the token itself.
#[derive(Debug, Clone)]
pub struct ApiTokenInfo {
    pub hint: String,
    pub owner: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

/// The accounts service.
#[derive(Clone)]
pub struct Accounts {
    db: Db,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdSource>,
    events: EventBus,
    keys: Arc<JwtKeys>,
    access_ttl_secs: i64,
    refresh_ttl_secs: i64,
    login_guard: Arc<LoginGuard>,
    hashing: Arc<Hashing>,
}

impl Accounts {
    /// Opens the context. Without a configured JWT secret, a random one is generated once
    /// and kept in the database so that every node sharing the database agrees on it.
    pub async fn open(
        db: Db,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdSource>,
        events: EventBus,
        config: &AuthConfig,
    ) -> AccountsResult<Self> {
        let secret = match &config.jwt_secret {
            Some(secret) if secret.len() >= 32 => secret.clone(),
            Some(_) => {
                return Err(AccountsError::Invalid("auth.jwt_secret must be at least 32 characters".into()));
            }
            None => settings::get_or_insert(&db, "jwt_secret", &secrets::random_token("")).await?,
        };
        let login_guard = LoginGuard::new(
            db.clone(),
            config.max_failed_logins,
            config.max_failed_logins_per_address,
            config.failed_login_window_secs,
        );
        Ok(Self {
            db,
            clock,
            ids,
            events,
            keys: Arc::new(JwtKeys::new(secret.as_bytes())),
            access_ttl_secs: config.access_ttl_secs.max(1),
            refresh_ttl_secs: config.refresh_ttl_secs.max(1),
            login_guard: Arc::new(login_guard),
            hashing: Arc::new(Hashing::per_core()),
        })
    }

    /// Makes sure an admin exists. With none, creates `admin` with `password`, or with a
    /// random password that is returned so the caller can show it once.
    pub async fn ensure_admin(&self, password: Option<String>) -> AccountsResult<Option<String>> {
        if users::admin_exists(&self.db).await? {
            return Ok(None);
        }
        let (password, generated) = match password.filter(|p| !p.is_empty()) {
            Some(p) => (p, false),
            None => (secrets::random_token("")[..20].to_owned(), true),
        };
        match self.create_user("admin", &password, Role::Admin).await {
            Ok(_) => Ok(generated.then_some(password)),
            // Another node created it first, or a non-admin `admin` exists: promote nothing silently.
            Err(AccountsError::UsernameTaken) => Err(AccountsError::Invalid(
                "no admin exists but the username `admin` is taken; promote a user with `gantry user role`".into(),
            )),
            Err(e) => Err(e),
        }
    }

    /// Creates a user.
    pub async fn create_user(&self, username: &str, password: &str, role: Role) -> AccountsResult<UserRecord> {
        validate_username(username)?;
        validate_password(password)?;
        let hash = self.hash(PasswordInput::Plain(password.to_owned())).await?;
        let now = self.clock.now_ms();
        let new = NewUser { username, nickname: username, role, password_hash: &hash, now_ms: now };
        let user = users::insert(&self.db, &new).await?;
        self.events.publish(now, Event::UserCreated { user_id: user.id, username: user.username.clone(), role });
        Ok(user)
    }

    /// Sets a user's password and ends all of their sessions.
    pub async fn set_password(&self, username: &str, password: &str) -> AccountsResult<()> {
        validate_password(password)?;
        let user = users::by_username(&self.db, username).await?.ok_or(AccountsError::UserNotFound)?;
        let hash = self.hash(PasswordInput::Plain(password.to_owned())).await?;
        let now = self.clock.now_ms();
        users::set_password_hash(&self.db, user.id, &hash, now).await?;
        sessions::revoke_all_for_user(&self.db, user.id, now).await?;
        self.events.publish(now, Event::UserUpdated { user_id: user.id });
        Ok(())
    }

    /// Sets a user's role (admin only).
    pub async fn set_role(&self, caller: &Principal, user_id: UserId, role: Role) -> AccountsResult<UserRecord> {
        caller.require_admin()?;
        self.set_role_unchecked(user_id, role).await?;
        self.user(user_id).await
    }

    /// Sets a user's role without a caller (operator command line). The last admin is never
    /// demoted: Gantry always keeps someone who can administer it.
    pub async fn set_role_unchecked(&self, user_id: UserId, role: Role) -> AccountsResult<()> {
        let now = self.clock.now_ms();
        match users::set_role(&self.db, user_id, role, now).await? {
            users::RoleChange::Changed => {}
            users::RoleChange::NoSuchUser => return Err(AccountsError::UserNotFound),
            users::RoleChange::LastAdmin => {
                return Err(AccountsError::Invalid("the last admin cannot stop being an admin".into()));
            }
        }
        self.events.publish(now, Event::UserUpdated { user_id });
        Ok(())
    }

    /// A page of users, by id, with the total (for admin views and the CLI).
    pub async fn list_users(&self, limit: i64, offset: i64) -> AccountsResult<(Vec<UserRecord>, i64)> {
        Ok(users::list(&self.db, limit.clamp(1, 1000), offset.max(0)).await?)
    }

    /// A user by id.
    pub async fn user(&self, id: UserId) -> AccountsResult<UserRecord> {
        users::by_id(&self.db, id).await?.ok_or(AccountsError::UserNotFound)
    }

    /// A user by username.
    pub async fn user_by_username(&self, username: &str) -> AccountsResult<UserRecord> {
        users::by_username(&self.db, username).await?.ok_or(AccountsError::UserNotFound)
    }

    /// A user as `caller` may see them: themselves, or anyone for admins.
    pub async fn user_for(&self, caller: &Principal, id: UserId) -> AccountsResult<UserRecord> {
        if caller.user_id != id {
            caller.require_admin()?;
        }
        self.user(id).await
    }

    /// Changes the caller's own profile.
    pub async fn update_own_profile(&self, caller: &Principal, change: ProfileChange) -> AccountsResult<UserRecord> {
        validate_profile(&change)?;
        let now = self.clock.now_ms();
        if !users::update_profile(&self.db, caller.user_id, &change, now).await? {
            return Err(AccountsError::UserNotFound);
        }
        self.events.publish(now, Event::UserUpdated { user_id: caller.user_id });
        self.user(caller.user_id).await
    }

    /// Hashes a new password on a hashing worker.
    async fn hash(&self, input: PasswordInput) -> AccountsResult<String> {
        self.hashing.run(move || password::hash(&input)).await?.map_err(|e| AccountsError::Internal(e.to_string()))
    }

    /// Checks a username and password and opens a session issued by `dialect`. Too many
    /// wrong passwords for a username from one `client` address are refused for a while
    /// without checking (see `auth.max_failed_logins`).
    pub async fn login(
        &self,
        username: &str,
        password: PasswordInput,
        dialect: Dialect,
        device: Option<Device>,
        client: Option<IpAddr>,
    ) -> AccountsResult<IssuedTokens> {
        let now = self.clock.now_ms();
        self.login_guard.check(username, client, now).await?.map_err(|retry_at_ms| {
            tracing::warn!(username, ?client, "login refused: too many failed attempts");
            AccountsError::TooManyAttempts { retry_at_ms }
        })?;
        let user = users::by_username(&self.db, username).await?;
        let stored = user.as_ref().map_or_else(|| password::decoy_hash().to_owned(), |u| u.password_hash.clone());
        let ok = self.hashing.run(move || password::verify(&password, &stored)).await?;
        match user {
            Some(user) if ok => {
                self.login_guard.succeeded(username, client).await?;
                self.open_session(user, dialect, device).await
            }
            _ => {
                self.login_guard.failed(username, client, now).await?;
                Err(AccountsError::InvalidCredentials)
            }
        }
    }

    /// Authenticates HTTP Basic credentials without opening a session: the password is the
    /// user's password, or a bearer credential (API or access token) of that same user.
    /// Wrong passwords count against the login limits as a login's do.
    pub async fn authenticate_basic(
        &self,
        username: &str,
        password: &str,
        client: Option<IpAddr>,
    ) -> AccountsResult<Principal> {
        if let Ok(principal) = self.authenticate(password).await {
            return if principal.username == username { Ok(principal) } else { Err(AccountsError::InvalidCredentials) };
        }
        let now = self.clock.now_ms();
        self.login_guard.check(username, client, now).await?.map_err(|retry_at_ms| {
            tracing::warn!(username, ?client, "basic authentication refused: too many failed attempts");
            AccountsError::TooManyAttempts { retry_at_ms }
        })?;
        let user = users::by_username(&self.db, username).await?;
        let stored = user.as_ref().map_or_else(|| password::decoy_hash().to_owned(), |u| u.password_hash.clone());
        let input = PasswordInput::Plain(password.to_owned());
        let ok = self.hashing.run(move || password::verify(&input, &stored)).await?;
        match user {
            Some(user) if ok => {
                self.login_guard.succeeded(username, client).await?;
                Ok(Principal {
                    user_id: user.id,
                    username: user.username,
                    role: user.role,
                    session_id: None,
                    dialect: Dialect::ComfyUi,
                    expires_at: None,
                    device_id: None,
                    device_name: None,
                })
            }
            _ => {
                self.login_guard.failed(username, client, now).await?;
                Err(AccountsError::InvalidCredentials)
            }
        }
    }

    /// Opens a session for a new device of an already authenticated caller (vflow's
    /// `auth/token`). Issuing a token for a device revokes that device's earlier ones.
    pub async fn issue_for_device(
        &self,
        caller: &Principal,
        dialect: Dialect,
        device: Device,
    ) -> AccountsResult<IssuedTokens> {
        let user = self.user(caller.user_id).await?;
        self.open_session(user, dialect, Some(device)).await
    }

    /// Creates a one-time pairing code with which a new device of `user_id` can obtain a
    /// session (admin only). Returns the code and its expiry (Unix ms).
    pub async fn create_pairing_code(&self, caller: &Principal, user_id: UserId) -> AccountsResult<(String, i64)> {
        caller.require_admin()?;
        self.user(user_id).await?;
        let code = secrets::pairing_code();
        let now = self.clock.now_ms();
        let expires = now + PAIRING_TTL_MS;
        pairing::insert(&self.db, &secrets::digest(&code), user_id, caller.user_id, now, expires).await?;
        Ok((code, expires))
    }

    /// Exchanges a pairing code for a device session.
    pub async fn redeem_pairing_code(
        &self,
        code: &str,
        dialect: Dialect,
        device: Device,
    ) -> AccountsResult<IssuedTokens> {
        let code = code.trim().to_ascii_uppercase();
        let user_id = pairing::redeem(&self.db, &secrets::digest(&code), self.clock.now_ms())
            .await?
            .ok_or(AccountsError::InvalidToken)?;
        let user = self.user(user_id).await?;
        self.open_session(user, dialect, Some(device)).await
    }

    async fn open_session(
        &self,
        user: UserRecord,
        dialect: Dialect,
        device: Option<Device>,
    ) -> AccountsResult<IssuedTokens> {
        let now = self.clock.now_ms();
        if let Some(device) = &device {
            sessions::revoke_device(&self.db, user.id, &device.id, now).await?;
        }
        let session_id = self.ids.ordered().to_string();
        let refresh = secrets::random_token("grt_");
        let new = NewSession {
            id: &session_id,
            user_id: user.id,
            dialect,
            device_id: device.as_ref().map(|d| d.id.as_str()),
            device_name: device.as_ref().map(|d| d.name.as_str()),
            now_ms: now,
            expires_at: now + self.refresh_ttl_secs * 1000,
            refresh_hash: &secrets::digest(&refresh),
        };
        sessions::create(&self.db, &new).await?;
        self.tokens_for(user, session_id, dialect, refresh)
    }

    fn tokens_for(
        &self,
        user: UserRecord,
        session_id: String,
        dialect: Dialect,
        refresh: String,
    ) -> AccountsResult<IssuedTokens> {
        let iat = self.clock.now_secs();
        let exp = iat + self.access_ttl_secs;
        let claims = Claims {
            sub: user.id.to_string(),
            role: user.role,
            sid: session_id.clone(),
            dia: dialect,
            iss: String::new(),
            iat,
            exp,
            jti: self.ids.ordered().to_string(),
        };
        let access_token = self.keys.sign(claims).map_err(|e| AccountsError::Internal(e.to_string()))?;
        Ok(IssuedTokens {
            access_token,
            refresh_token: refresh,
            expires_in: self.access_ttl_secs,
            expires_at: exp,
            session_id,
            user,
        })
    }

    /// Exchanges a refresh token for new tokens of the same session, returning the dialect
    /// that opened the session. The presented token stops working.
    pub async fn refresh(&self, refresh_token: &str) -> AccountsResult<(Dialect, IssuedTokens)> {
        let now = self.clock.now_ms();
        let next = secrets::random_token("grt_");
        let lookup = sessions::rotate_refresh(
            &self.db,
            &secrets::digest(refresh_token),
            &secrets::digest(&next),
            now,
            now + self.refresh_ttl_secs * 1000,
        )
        .await?;
        match lookup {
            RefreshLookup::Consumed(session) => {
                let user = self.user(session.user_id).await?;
                Ok((session.dialect, self.tokens_for(user, session.id, session.dialect, next)?))
            }
            RefreshLookup::Reused { session_id, user_id } => {
                tracing::warn!(user_id, session_id, "refresh token replayed; session revoked");
                self.events.publish(now, Event::SessionRevoked { user_id, session_id });
                Err(AccountsError::InvalidToken)
            }
            RefreshLookup::Unknown => Err(AccountsError::InvalidToken),
        }
    }

    /// The dialect that issued a refresh token, without consuming it (used to answer a
    /// failed refresh in the right dialect). `None` when unknown.
    pub async fn refresh_token_dialect(&self, refresh_token: &str) -> AccountsResult<Option<Dialect>> {
        Ok(sessions::dialect_of_refresh(&self.db, &secrets::digest(refresh_token)).await?)
    }

    /// Authenticates a bearer credential: an access token (JWT) of a live session, or an API token.
    pub async fn authenticate(&self, bearer: &str) -> AccountsResult<Principal> {
        let bearer = bearer.trim();
        if bearer.is_empty() {
            return Err(AccountsError::MissingToken);
        }
        let now = self.clock.now_ms();
        if jwt::looks_like_jwt(bearer) {
            let claims = self.keys.verify(bearer).map_err(|r| match r {
                Rejection::Expired => AccountsError::TokenExpired,
                Rejection::Invalid => AccountsError::InvalidToken,
            })?;
            let live = sessions::live_identity(&self.db, &claims.sid, now).await?;
            let Some(identity) = live.filter(|id| id.user_id.to_string() == claims.sub) else {
                return Err(match sessions::replaced_on_device(&self.db, &claims.sid).await? {
                    Some(device) => AccountsError::ReplacedOnDevice(device),
                    None => AccountsError::InvalidToken,
                });
            };
            return Ok(Principal {
                user_id: identity.user_id,
                username: identity.username,
                role: identity.role,
                session_id: Some(claims.sid),
                dialect: identity.dialect,
                expires_at: Some(claims.exp),
                device_id: identity.device_id,
                device_name: identity.device_name,
            });
        }
        let owner = api_tokens::authenticate(&self.db, &secrets::digest(bearer), now)
            .await?
            .ok_or(AccountsError::InvalidToken)?;
        let user = self.user(owner).await.map_err(|_| AccountsError::InvalidToken)?;
        Ok(Principal {
            user_id: user.id,
            username: user.username,
            role: user.role,
            session_id: None,
            dialect: Dialect::Openidcs,
            expires_at: None,
            device_id: None,
            device_name: None,
        })
    }

    /// Ends the caller's session (logout / revoke). Access tokens of the session stop
    /// working immediately; API tokens have no session and are revoked by resetting them.
    pub async fn revoke(&self, caller: &Principal) -> AccountsResult<()> {
        let Some(session_id) = &caller.session_id else {
            return Err(AccountsError::Invalid("API tokens are revoked by resetting them".into()));
        };
        let now = self.clock.now_ms();
        sessions::revoke(&self.db, session_id, now).await?;
        self.events.publish(now, Event::SessionRevoked { user_id: caller.user_id, session_id: session_id.clone() });
        Ok(())
    }

    /// Replaces API token `name` with a new random one owned by the caller (admin only);
    /// returns the token, which is shown this once and stored only as a digest.
    pub async fn reset_api_token(&self, caller: &Principal, name: &str) -> AccountsResult<String> {
        let token = secrets::random_token("gat_");
        self.put_api_token(caller, name, &token).await?;
        Ok(token)
    }

    /// Sets API token `name` to a value the operator chose (admin only).
    pub async fn setup_api_token(&self, caller: &Principal, name: &str, token: &str) -> AccountsResult<()> {
        if token.len() < MIN_API_TOKEN_LEN || token.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(AccountsError::Invalid(format!(
                "token must be at least {MIN_API_TOKEN_LEN} characters without spaces"
            )));
        }
        if jwt::looks_like_jwt(token) {
            return Err(AccountsError::Invalid("token must not look like a JWT (no two dots)".into()));
        }
        self.put_api_token(caller, name, token).await
    }

    async fn put_api_token(&self, caller: &Principal, name: &str, token: &str) -> AccountsResult<()> {
        caller.require_admin()?;
        let now = self.clock.now_ms();
        api_tokens::put(&self.db, name, &secrets::digest(token), &secrets::hint(token), caller.user_id, now)
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => AccountsError::Invalid("token already in use".into()),
                other => other.into(),
            })
    }

    /// Describes API token `name` (admin only); `None` when it was never set.
    pub async fn api_token_info(&self, caller: &Principal, name: &str) -> AccountsResult<Option<ApiTokenInfo>> {
        caller.require_admin()?;
        let Some(record) = api_tokens::by_name(&self.db, name).await? else {
            return Ok(None);
        };
        let owner = self.user(record.user_id).await.map(|u| u.username).unwrap_or_default();
        Ok(Some(ApiTokenInfo {
            hint: record.hint,
            owner,
            created_at: record.created_at,
            last_used_at: record.last_used_at,
        }))
    }
}

fn validate_username(username: &str) -> AccountsResult<()> {
    let ok_len = (3..=32).contains(&username.chars().count());
    let ok_chars = username.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if ok_len && ok_chars {
        Ok(())
    } else {
        Err(AccountsError::Invalid("username must be 3-32 characters of letters, digits, `_`, `-` or `.`".into()))
    }
}

fn validate_password(password: &str) -> AccountsResult<()> {
    if (8..=256).contains(&password.chars().count()) {
        Ok(())
    } else {
        Err(AccountsError::Invalid("password must be 8-256 characters".into()))
    }
}

/// Rules for profile fields: nickname 1-32 characters, a plausible e-mail address, a
/// phone number of 5-20 digits (optional leading `+`), an avatar as an http(s) URL.
pub fn validate_profile(change: &ProfileChange) -> AccountsResult<()> {
    if let Some(nickname) = &change.nickname {
        let n = nickname.trim().chars().count();
        if n == 0 || n > 32 || nickname.chars().any(char::is_control) {
            return Err(AccountsError::Invalid("nickname must be 1-32 characters".into()));
        }
    }
    if let Some(email) = &change.email {
        let valid = email.len() <= 254
            && !email.chars().any(|c| c.is_whitespace() || c.is_control())
            && email.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && !domain.contains('@')
                    && domain.split('.').count() >= 2
                    && domain.split('.').all(|part| !part.is_empty())
            });
        if !valid {
            return Err(AccountsError::Invalid("email is not a valid address".into()));
        }
    }
    if let Some(phone) = &change.phone {
        let digits = phone.strip_prefix('+').unwrap_or(phone);
        if !(5..=20).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(AccountsError::Invalid("phone must be 5-20 digits, optionally starting with +".into()));
        }
    }
    if let Some(avatar) = &change.avatar {
        let is_url = (avatar.starts_with("https://") || avatar.starts_with("http://")) && avatar.len() <= 2048;
        if !is_url || avatar.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(AccountsError::Invalid("avatar must be an http(s) URL".into()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change() -> ProfileChange {
        ProfileChange::default()
    }

    #[test]
    fn profile_rules_accept_good_values_and_name_bad_ones() {
        let good = ProfileChange {
            nickname: Some("猫咪".into()),
            email: Some("a.b@example.com".into()),
            phone: Some("+8613800138000".into()),
            avatar: Some("https://cdn.example.com/a.png".into()),
        };
        assert!(validate_profile(&good).is_ok());
        for bad in [
            ProfileChange { nickname: Some(String::new()), ..change() },
            ProfileChange { nickname: Some("x".repeat(33)), ..change() },
            ProfileChange { email: Some("no-at.example.com".into()), ..change() },
            ProfileChange { email: Some("a@b".into()), ..change() },
            ProfileChange { phone: Some("12ab5".into()), ..change() },
            ProfileChange { avatar: Some("javascript:alert(1)".into()), ..change() },
        ] {
            assert!(matches!(validate_profile(&bad), Err(AccountsError::Invalid(_))), "{bad:?}");
        }
    }
}
