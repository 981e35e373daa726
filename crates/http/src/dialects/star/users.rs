//! star-graph `/users/profile`: the caller's own profile.

use super::UserView;
use crate::envelope::{ApiResult, Reply, StarGraph};
use crate::extract::{Auth, Body};
use crate::state::AppState;
use axum::extract::State;
use gantry_accounts::ProfileChange;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(profile, update_profile))
}

/// The caller's profile.
#[utoipa::path(get, path = "/api/v1/users/profile", tag = "star-graph", security(("bearer" = [])),
    responses((status = 200, body = UserView), (status = 401, description = "not logged in")))]
async fn profile(State(state): State<AppState>, Auth(caller, ..): Auth<StarGraph>) -> ApiResult<StarGraph, UserView> {
    Ok(Reply::ok(state.accounts.user(caller.user_id).await?.into()))
}

/// Fields to change; omitted fields stay as they are.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ProfileUpdate {
    nickname: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    /// An http(s) URL.
    avatar: Option<String>,
}

/// Change the caller's own profile (nickname 1-32 characters, valid e-mail and phone).
#[utoipa::path(put, path = "/api/v1/users/profile", tag = "star-graph", security(("bearer" = [])), request_body = ProfileUpdate,
    responses((status = 200, body = UserView), (status = 400, description = "invalid field")))]
async fn update_profile(
    State(state): State<AppState>,
    Auth(caller, ..): Auth<StarGraph>,
    Body(update, ..): Body<StarGraph, ProfileUpdate>,
) -> ApiResult<StarGraph, UserView> {
    let change =
        ProfileChange { nickname: update.nickname, email: update.email, phone: update.phone, avatar: update.avatar };
    Ok(Reply::with_message("profile updated", state.accounts.update_own_profile(&caller, change).await?.into()))
}
