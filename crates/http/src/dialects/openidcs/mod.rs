//! openidcs dialect (`/api/system`, `/api/server`, `/api/client`; envelope `{code, msg, data}`,
//! `code` = the HTTP status). Thin handlers over the compute context
//! ([`gantry_compute::Compute`]); every route but the agent's `upload` needs an admin (a
//! user with the admin role, or the system token).
//!
//! - [`tokens`] — `treset`, `tsetup`, `tquery`;
//! - [`system`] — `saving`, `loader`, `statis`, `engine`, `logget`, `tasget`;
//! - [`server`] — hosts; [`client`] — VMs, console, scan, agent upload;
//! - [`network`] — NAT rules, IPs and reverse-proxy routes of a VM;
//! - [`upstream`] — the route names of OpenIDCS's own web console, its login and current user.

mod client;
pub mod console;
mod network;
mod server;
mod system;
mod tokens;
pub mod upstream;

use crate::envelope::{Failure, Openidcs};
use crate::error::{ApiError, ErrorKind};
use crate::extract::Auth;
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use gantry_compute::{Actor, ComputeError};
use utoipa_axum::router::OpenApiRouter;

/// openidcs's routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(tokens::routes())
        .merge(system::routes())
        .merge(server::routes())
        .merge(client::routes())
        .merge(network::routes())
        .merge(upstream::routes())
}

/// The message of a create or update: what was done, then the OpenIDCS fields that have no
/// effect in Gantry (kept and returned, or, for passwords, dropped).
fn done(what: &str, no_effect: &[String]) -> String {
    if no_effect.is_empty() {
        return what.to_string();
    }
    format!(
        "{what}; these OpenIDCS fields have no effect in Gantry (kept as sent, passwords not stored): {}",
        no_effect.join(", ")
    )
}

/// An admin caller (401 without a credential, 403 for a non-admin).
pub(crate) struct Admin(pub Actor);

impl FromRequestParts<AppState> for Admin {
    type Rejection = Failure<Openidcs>;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Auth(principal, _) = Auth::<Openidcs>::from_request_parts(parts, state).await?;
        principal.require_admin()?;
        Ok(Self(Actor::user(principal.username, principal.user_id)))
    }
}

impl From<ComputeError> for ApiError {
    fn from(err: ComputeError) -> Self {
        let kind = match &err {
            ComputeError::NotFound(_) => ErrorKind::NotFound,
            // The spec's codes are 200/400/404/500: conflicts are client errors (400).
            ComputeError::Invalid(_) | ComputeError::Conflict(_) => ErrorKind::BadRequest,
            ComputeError::Unauthorized(_) => ErrorKind::Unauthenticated,
            ComputeError::RateLimited(_) => ErrorKind::RateLimited,
            ComputeError::Engine(_) => ErrorKind::Internal,
            ComputeError::Internal(cause) => return Self::internal(cause),
        };
        Self::new(kind, err.to_string())
    }
}

impl<D> From<ComputeError> for Failure<D> {
    fn from(err: ComputeError) -> Self {
        Self::new(err.into())
    }
}
