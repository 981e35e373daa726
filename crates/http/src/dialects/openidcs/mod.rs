//! openidcs dialect (`/api/system`, `/api/server`, `/api/client`; envelope `{code, msg, data}`,
//! `code` = the HTTP status). Thin handlers over the compute context
//! ([`gantry_machines::Machines`]); every route but the agent's `upload` needs an admin (a
//! user with the admin role, or the system token).
//!
//! - [`tokens`] — `treset`, `tsetup`, `tquery`;
//! - [`system`] — `saving`, `loader`, `statis`, `engine`, `logget`, `tasget`;
//! - [`server`] — hosts; [`client`] — VMs, console, scan, agent upload;
//! - [`network`] — NAT rules, IPs and reverse-proxy routes of a VM.

mod client;
mod network;
mod server;
mod system;
mod tokens;

use crate::envelope::{Failure, Openidcs};
use crate::error::{ApiError, ErrorKind};
use crate::extract::Auth;
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use gantry_machines::{Actor, MachinesError};
use utoipa_axum::router::OpenApiRouter;

/// openidcs's routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(tokens::routes())
        .merge(system::routes())
        .merge(server::routes())
        .merge(client::routes())
        .merge(network::routes())
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

impl From<MachinesError> for ApiError {
    fn from(err: MachinesError) -> Self {
        let kind = match &err {
            MachinesError::NotFound(_) => ErrorKind::NotFound,
            // The spec's codes are 200/400/404/500: conflicts are client errors (400).
            MachinesError::Invalid(_) | MachinesError::Conflict(_) => ErrorKind::BadRequest,
            MachinesError::Unauthorized(_) => ErrorKind::Unauthenticated,
            MachinesError::RateLimited(_) => ErrorKind::RateLimited,
            MachinesError::Engine(_) => ErrorKind::Internal,
            MachinesError::Internal(cause) => return Self::internal(cause),
        };
        Self::new(kind, err.to_string())
    }
}

impl<D> From<MachinesError> for Failure<D> {
    fn from(err: MachinesError) -> Self {
        Self::new(err.into())
    }
}
