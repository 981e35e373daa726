//! Extractors whose rejections speak the handler's dialect: bad JSON, wrong types,
//! oversize bodies, bad query strings and missing or bad tokens never fall back to
//! axum's plain-text answers.

use crate::envelope::{Envelope, Failure};
use crate::error::{ApiError, ErrorKind};
use crate::state::AppState;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use gantry_accounts::Principal;
use serde::de::DeserializeOwned;
use std::marker::PhantomData;

/// A JSON body, rejected in dialect `D`.
pub struct Body<D, T>(pub T, pub PhantomData<D>);

impl<D, T, S> FromRequest<S> for Body<D, T>
where
    D: Envelope,
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Failure<D>;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Self(value, PhantomData)),
            Err(rejection) => Err(Failure::new(json_error(&rejection))),
        }
    }
}

fn json_error(rejection: &JsonRejection) -> ApiError {
    match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(ErrorKind::PayloadTooLarge, "request body too large"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            ApiError::new(ErrorKind::UnsupportedMedia, "expected a body with `Content-Type: application/json`")
        }
        _ => ApiError::bad_request(format!("invalid JSON body: {}", rejection.body_text())),
    }
}

/// Query parameters, rejected in dialect `D`.
pub struct QueryArgs<D, T>(pub T, pub PhantomData<D>);

impl<D, T, S> FromRequestParts<S> for QueryArgs<D, T>
where
    D: Envelope,
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Failure<D>;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Self(q.0, PhantomData))
            .map_err(|r: QueryRejection| Failure::new(ApiError::bad_request(r.body_text())))
    }
}

/// Path parameters, rejected in dialect `D`.
pub struct PathArg<D, T>(pub T, pub PhantomData<D>);

impl<D, T, S> FromRequestParts<S> for PathArg<D, T>
where
    D: Envelope,
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = Failure<D>;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Self(p.0, PhantomData))
            .map_err(|r: PathRejection| Failure::new(ApiError::bad_request(r.body_text())))
    }
}

/// The bearer credential of a request: `Authorization: Bearer <token>` (a bare token
/// without the scheme is accepted too, as star-graph's clients send it).
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let token = match value.split_once(' ') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
        Some(_) => return None,
        None => value,
    };
    (!token.is_empty()).then_some(token)
}

/// The dispatch context's view of a caller: tasks are visible to their owner and admins.
pub fn caller(p: &Principal) -> gantry_dispatch::Caller {
    gantry_dispatch::Caller { user_id: p.user_id, is_admin: p.is_admin() }
}

/// The authenticated caller; requests without a valid credential are refused in dialect `D`.
pub struct Auth<D>(pub Principal, pub PhantomData<D>);

impl<D: Envelope> FromRequestParts<AppState> for Auth<D> {
    type Rejection = Failure<D>;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token =
            bearer(&parts.headers).ok_or_else(|| Failure::from(gantry_accounts::AccountsError::MissingToken))?;
        let principal = state.accounts.authenticate(token).await?;
        tracing::Span::current().record("user_id", principal.user_id);
        Ok(Self(principal, PhantomData))
    }
}

/// The caller if a credential was sent; a sent but bad credential is still refused.
pub struct MaybeAuth<D>(pub Option<Principal>, pub PhantomData<D>);

impl<D: Envelope> FromRequestParts<AppState> for MaybeAuth<D> {
    type Rejection = Failure<D>;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        match bearer(&parts.headers) {
            None => Ok(Self(None, PhantomData)),
            Some(token) => Ok(Self(Some(state.accounts.authenticate(token).await?), PhantomData)),
        }
    }
}

/// The client's address (see [`crate::client_addr`]), when the server records peers (it
/// does: `gantry::start` serves with connect info).
pub struct ClientIp(pub Option<std::net::IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let resolved = parts.extensions.get::<crate::client_addr::ClientAddr>().map(|c| c.0);
        let peer = || parts.extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip());
        Ok(Self(resolved.or_else(peer)))
    }
}
