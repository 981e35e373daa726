//! star-graph `/admin/*`: user administration (admins only; others get 403).

use super::{Page, PageRequest, UserView};
use crate::envelope::{ApiResult, Reply, StarGraph};
use crate::error::ApiError;
use crate::extract::{Auth, Body, PathArg, QueryArgs};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use gantry_core::Role;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_users, create_user))
        .routes(routes!(get_user))
        .routes(routes!(set_role))
        .routes(routes!(grant_credits))
}

/// All users, a page at a time.
#[utoipa::path(get, path = "/api/v1/admin/users", tag = "star-graph", security(("bearer" = ["admin"])), params(PageRequest),
    responses((status = 200, body = Page<UserView>)))]
async fn list_users(
    State(state): State<AppState>,
    Auth(caller, ..): Auth<StarGraph>,
    QueryArgs(paging, ..): QueryArgs<StarGraph, PageRequest>,
) -> ApiResult<StarGraph, Page<UserView>> {
    caller.require_admin()?;
    let (page, size, offset) = paging.resolve()?;
    let (users, total) = state.accounts.list_users(size, offset).await?;
    Ok(Reply::ok(Page::new(users.into_iter().map(UserView::from).collect(), total, page, size)))
}

/// One user.
#[utoipa::path(get, path = "/api/v1/admin/users/{userId}", tag = "star-graph", security(("bearer" = [])),
    params(("userId" = i64, Path)),
    responses((status = 200, body = UserView), (status = 403, description = "another user, for a non-admin"), (status = 404, description = "no such user")))]
async fn get_user(
    State(state): State<AppState>,
    Auth(caller, ..): Auth<StarGraph>,
    PathArg(user_id, ..): PathArg<StarGraph, i64>,
) -> ApiResult<StarGraph, UserView> {
    Ok(Reply::ok(state.accounts.user_for(&caller, user_id).await?.into()))
}

#[derive(Deserialize, ToSchema)]
struct RoleChange {
    /// `ADMIN` or `USER`.
    role: String,
}

/// Set a user's role.
#[utoipa::path(put, path = "/api/v1/admin/users/{userId}/role", tag = "star-graph", security(("bearer" = ["admin"])),
    params(("userId" = i64, Path)), request_body = RoleChange,
    responses((status = 200, body = UserView), (status = 404, description = "no such user")))]
async fn set_role(
    State(state): State<AppState>,
    Auth(caller, ..): Auth<StarGraph>,
    PathArg(user_id, ..): PathArg<StarGraph, i64>,
    Body(change, ..): Body<StarGraph, RoleChange>,
) -> ApiResult<StarGraph, UserView> {
    let role: Role = change.role.parse().map_err(ApiError::bad_request)?;
    Ok(Reply::ok(state.accounts.set_role(&caller, user_id, role).await?.into()))
}

#[derive(Deserialize, ToSchema)]
struct NewUser {
    username: String,
    /// The password itself (8-256 characters).
    password: String,
    /// `ADMIN` or `USER` (default).
    role: Option<String>,
}

/// Create a user.
#[utoipa::path(post, path = "/api/v1/admin/users", tag = "star-graph", security(("bearer" = ["admin"])), request_body = NewUser,
    responses((status = 201, body = UserView), (status = 400, description = "invalid username or password"),
        (status = 409, description = "username taken")))]
async fn create_user(
    State(state): State<AppState>,
    Auth(caller, ..): Auth<StarGraph>,
    Body(new, ..): Body<StarGraph, NewUser>,
) -> ApiResult<StarGraph, UserView> {
    caller.require_admin()?;
    let role: Role = new.role.as_deref().unwrap_or("user").parse().map_err(ApiError::bad_request)?;
    let user = state.accounts.create_user(&new.username, &new.password, role).await?;
    Ok(Reply::with_message("user created", UserView::from(user)).status(StatusCode::CREATED))
}

#[derive(Deserialize, ToSchema)]
struct Grant {
    /// Credits to add (> 0).
    amount: i64,
    reason: Option<String>,
}

#[derive(serde::Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct Granted {
    user_id: i64,
    amount: i64,
    /// The user's total balance afterwards.
    balance: i64,
}

/// Grant credits to a user (a RECHARGE fund record).
#[utoipa::path(post, path = "/api/v1/admin/users/{userId}/credits", tag = "star-graph", security(("bearer" = ["admin"])),
    params(("userId" = i64, Path)), request_body = Grant,
    responses((status = 200, body = Granted), (status = 400, description = "amount not positive"),
        (status = 404, description = "no such user")))]
async fn grant_credits(
    State(state): State<AppState>,
    Auth(caller, ..): Auth<StarGraph>,
    PathArg(user_id, ..): PathArg<StarGraph, i64>,
    Body(grant, ..): Body<StarGraph, Grant>,
) -> ApiResult<StarGraph, Granted> {
    caller.require_admin()?;
    state.accounts.user(user_id).await?;
    let reason = grant.reason.unwrap_or_else(|| format!("granted by {}", caller.username));
    let record = state.generation.ledger().recharge(user_id, grant.amount, &reason).await?;
    Ok(Reply::with_message("credits granted", Granted { user_id, amount: grant.amount, balance: record.balance }))
}
