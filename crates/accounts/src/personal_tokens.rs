//! Personal API tokens: long-lived bearer tokens a user makes for tools that cannot log in
//! (scripts, ComfyUI clients). Each acts as its owner, with the owner's current role, in every
//! dialect; it is shown once, stored as a SHA-256 digest, and works until revoked.

use gantry_core::UserId;

use crate::repo::api_tokens::{self, PERSONAL, PersonalAdd, PersonalTokenRecord};
use crate::{Accounts, AccountsError, AccountsResult, secrets};

/// The most personal tokens one user may hold.
pub const MAX_PERSONAL_TOKENS: i64 = 20;

/// A personal token as its owner sees it (never the secret).
#[derive(Debug, Clone, PartialEq)]
pub struct PersonalToken {
    pub id: String,
    pub label: String,
    /// Its first characters.
    pub hint: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

impl From<PersonalTokenRecord> for PersonalToken {
    fn from(r: PersonalTokenRecord) -> Self {
        Self {
            id: r.name.strip_prefix(PERSONAL).unwrap_or(&r.name).to_owned(),
            label: r.label,
            hint: r.hint,
            created_at: r.created_at,
            last_used_at: r.last_used_at,
        }
    }
}

impl Accounts {
    /// Makes a personal token for `owner`, labelled (1–64 characters); answers it and its
    /// secret, which is shown this once.
    pub async fn create_personal_token(&self, owner: UserId, label: &str) -> AccountsResult<(PersonalToken, String)> {
        let label = label.trim();
        if label.is_empty() || label.chars().count() > 64 || label.chars().any(char::is_control) {
            return Err(AccountsError::Invalid("label must be 1-64 characters".into()));
        }
        let secret = secrets::random_token("gat_");
        let id = self.ids.random().simple().to_string()[..12].to_owned();
        let record = PersonalTokenRecord {
            name: format!("{PERSONAL}{id}"),
            label: label.to_owned(),
            hint: secrets::hint(&secret),
            created_at: self.clock.now_ms(),
            last_used_at: None,
        };
        match api_tokens::add_personal(&self.db, &record, &secrets::digest(&secret), owner, MAX_PERSONAL_TOKENS).await?
        {
            PersonalAdd::Added => Ok((record.into(), secret)),
            PersonalAdd::Full => {
                Err(AccountsError::Invalid(format!("at most {MAX_PERSONAL_TOKENS} personal tokens: revoke one first")))
            }
            PersonalAdd::NoSuchUser => Err(AccountsError::UserNotFound),
        }
    }

    /// `owner`'s personal tokens, newest first.
    pub async fn personal_tokens(&self, owner: UserId) -> AccountsResult<Vec<PersonalToken>> {
        Ok(api_tokens::personal_of(&self.db, owner).await?.into_iter().map(Into::into).collect())
    }

    /// Revokes `owner`'s personal token `id`: it stops working at once. Another user's
    /// token is not found.
    pub async fn revoke_personal_token(&self, owner: UserId, id: &str) -> AccountsResult<()> {
        if api_tokens::delete_personal(&self.db, owner, &format!("{PERSONAL}{id}")).await? {
            Ok(())
        } else {
            Err(AccountsError::NotFound(format!("no personal token {id}")))
        }
    }
}
