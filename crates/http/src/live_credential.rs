//! The credential of a long-lived connection (STOMP over WebSocket or SockJS, the
//! comfy-manager WebSocket): checked at the start, and again whenever its user or session
//! changes (logout, revoke, password change, role change) and when the access token
//! expires, so a connection never outlives what opened it.

use gantry_accounts::{Accounts, AccountsError, Principal};
use gantry_core::events::Event;

/// A bearer token and who it names, as of the last check.
pub struct LiveCredential {
    token: String,
    principal: Principal,
}

impl LiveCredential {
    /// Authenticates `token` now.
    pub async fn check(accounts: &Accounts, token: &str) -> Result<Self, AccountsError> {
        let principal = accounts.authenticate(token).await?;
        Ok(Self { token: token.to_owned(), principal })
    }

    /// Who the connection acts for.
    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    /// Checks the token again when `event` changes its user or session; `Err` says why the
    /// connection must end. A demoted user's connection goes on with the lesser role.
    pub async fn recheck(&mut self, accounts: &Accounts, event: &Event) -> Result<(), AccountsError> {
        let concerned = match event {
            Event::SessionRevoked { user_id, .. } | Event::UserUpdated { user_id } => {
                *user_id == self.principal.user_id
            }
            _ => false,
        };
        if concerned {
            self.principal = accounts.authenticate(&self.token).await?;
        }
        Ok(())
    }

    /// Whether the access token has expired at `now_secs` (API tokens do not expire).
    pub fn expired(&self, now_secs: i64) -> bool {
        self.principal.expires_at.is_some_and(|exp| exp <= now_secs)
    }
}
