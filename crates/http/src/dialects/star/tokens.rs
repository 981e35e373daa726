//! star-graph `/users/tokens`: the caller's personal API tokens, for tools that cannot log in.

use crate::envelope::{ApiResult, Reply, StarGraph};
use crate::extract::{Auth, Body, PathArg};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use gantry_accounts::PersonalToken;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list, create)).routes(routes!(revoke))
}

/// A personal token, without its secret.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = star::PersonalToken)]
struct TokenView {
    id: String,
    label: String,
    /// The token's first characters.
    hint: String,
    created_at: i64,
    last_used_at: Option<i64>,
}

impl From<PersonalToken> for TokenView {
    fn from(t: PersonalToken) -> Self {
        Self { id: t.id, label: t.label, hint: t.hint, created_at: t.created_at, last_used_at: t.last_used_at }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = star::NewPersonalToken)]
struct NewToken {
    /// What the token is for, 1-64 characters.
    label: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = star::CreatedPersonalToken)]
struct Created {
    #[serde(flatten)]
    token: TokenView,
    /// The bearer token; shown only in this answer.
    secret: String,
}

/// The caller's personal API tokens, newest first.
#[utoipa::path(get, path = "/api/v1/users/tokens", tag = "star-graph", security(("bearer" = [])),
    responses((status = 200, body = Vec<TokenView>), (status = 401)))]
async fn list(
    State(state): State<AppState>,
    Auth(caller, ..): Auth<StarGraph>,
) -> ApiResult<StarGraph, Vec<TokenView>> {
    let tokens = state.accounts.personal_tokens(caller.user_id).await?;
    Ok(Reply::ok(tokens.into_iter().map(Into::into).collect()))
}

/// Make a personal API token: a bearer token that acts as the caller in every dialect until
/// revoked. Its secret is in this answer only.
#[utoipa::path(post, path = "/api/v1/users/tokens", tag = "star-graph", security(("bearer" = [])), request_body = NewToken,
    responses((status = 201, body = Created), (status = 400, description = "bad label, or 20 tokens already"), (status = 401)))]
async fn create(
    State(state): State<AppState>,
    Auth(caller, ..): Auth<StarGraph>,
    Body(new, ..): Body<StarGraph, NewToken>,
) -> ApiResult<StarGraph, Created> {
    let (token, secret) = state.accounts.create_personal_token(caller.user_id, &new.label).await?;
    Ok(Reply::with_message("token created", Created { token: token.into(), secret }).status(StatusCode::CREATED))
}

/// Revoke one of the caller's personal tokens; it stops working at once.
#[utoipa::path(delete, path = "/api/v1/users/tokens/{id}", tag = "star-graph", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, description = "revoked"), (status = 401), (status = 404)))]
async fn revoke(
    State(state): State<AppState>,
    Auth(caller, ..): Auth<StarGraph>,
    PathArg(id, ..): PathArg<StarGraph, String>,
) -> ApiResult<StarGraph, ()> {
    state.accounts.revoke_personal_token(caller.user_id, &id).await?;
    Ok(Reply::with_message("token revoked", ()))
}
