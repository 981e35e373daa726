//! star-graph `/users/profile`: the caller's own profile.

use super::{Page, PageRequest, UserView};
use crate::envelope::{ApiResult, Reply, StarGraph};
use crate::error::ApiError;

/// Largest avatar image.
const AVATAR_MAX_BYTES: usize = 2 * 1024 * 1024;
use crate::extract::QueryArgs;
use crate::extract::{Auth, Body};
use crate::state::AppState;
use axum::extract::State;
use gantry_accounts::ProfileChange;
use serde::Deserialize;
use serde::Serialize;
use utoipa::IntoParams;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(profile, update_profile)).routes(routes!(balance)).routes(routes!(fund_records))
}

/// A profile with the user's credit balance.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct Profile {
    #[serde(flatten)]
    user: UserView,
    /// Total credits (available + frozen).
    balance: i64,
    vip_level: i64,
    vip_expire_time: Option<String>,
}

/// The caller's profile.
#[utoipa::path(get, path = "/api/v1/users/profile", tag = "star-graph", security(("bearer" = [])),
    responses((status = 200, body = Profile), (status = 401, description = "not logged in")))]
async fn profile(State(state): State<AppState>, Auth(caller, ..): Auth<StarGraph>) -> ApiResult<StarGraph, Profile> {
    let user = state.accounts.user(caller.user_id).await?.into();
    let credits = state.generation.ledger().balance(caller.user_id).await?;
    Ok(Reply::ok(Profile { user, balance: credits.available + credits.frozen, vip_level: 0, vip_expire_time: None }))
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct BalanceView {
    /// available + freezed.
    balance: i64,
    freezed: i64,
    available: i64,
    today_used: i64,
    month_used: i64,
}

/// The caller's credits: total, frozen by running tasks, available, used today and this month (UTC).
#[utoipa::path(get, path = "/api/v1/users/balance", tag = "star-graph", security(("bearer" = [])),
    responses((status = 200, body = BalanceView)))]
async fn balance(
    State(state): State<AppState>,
    Auth(caller, ..): Auth<StarGraph>,
) -> ApiResult<StarGraph, BalanceView> {
    let b = state.generation.ledger().balance(caller.user_id).await?;
    Ok(Reply::ok(BalanceView {
        balance: b.available + b.frozen,
        freezed: b.frozen,
        available: b.available,
        today_used: b.today_used,
        month_used: b.month_used,
    }))
}

#[derive(Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
struct RecordQuery {
    page: Option<i64>,
    page_size: Option<i64>,
    /// RECHARGE, FREEZE, DEDUCT or REFUND.
    r#type: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct RecordView {
    id: i64,
    r#type: String,
    /// Change of the balance: RECHARGE +n, DEDUCT −c (spent for good), FREEZE and REFUND 0
    /// (credits held for a task, then released). A user's amounts add up to their balance.
    amount: i64,
    /// Change of the frozen credits: FREEZE +c, DEDUCT and REFUND −c.
    frozen: i64,
    /// Balance (available + frozen) after the movement.
    balance: i64,
    reason: String,
    task_id: Option<String>,
    create_time: String,
}

/// The caller's fund records, newest first.
#[utoipa::path(get, path = "/api/v1/users/fund-records", tag = "star-graph", security(("bearer" = [])), params(RecordQuery),
    responses((status = 200, body = Page<RecordView>), (status = 400, description = "unknown type")))]
async fn fund_records(
    State(state): State<AppState>,
    Auth(caller, ..): Auth<StarGraph>,
    QueryArgs(q, ..): QueryArgs<StarGraph, RecordQuery>,
) -> ApiResult<StarGraph, Page<RecordView>> {
    let kind = match q.r#type.as_deref().filter(|t| !t.is_empty()) {
        Some(t) if gantry_ledger::kind::ALL.contains(&t) => Some(t),
        Some(t) => return Err(ApiError::bad_request(format!("unknown type `{t}`")).into()),
        None => None,
    };
    let (page, size, offset) = PageRequest { page: q.page, page_size: q.page_size }.resolve()?;
    let (records, total) = state.generation.ledger().records(caller.user_id, kind, size, offset).await?;
    let content = records
        .into_iter()
        .map(|r| RecordView {
            id: r.id,
            r#type: r.kind,
            amount: r.amount,
            frozen: r.frozen,
            balance: r.balance,
            reason: r.reason,
            task_id: r.task_id,
            create_time: gantry_core::clock::iso_seconds(r.created_at),
        })
        .collect();
    Ok(Reply::ok(Page::new(content, total, page, size)))
}

/// Fields to change; omitted fields stay as they are.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ProfileUpdate {
    nickname: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    /// An http(s) URL, or an image as a base64 data URL (stored by Gantry, at most 2 MiB).
    avatar: Option<String>,
}

/// Change the caller's own profile (nickname 1-32 characters, valid e-mail and phone).
#[utoipa::path(put, path = "/api/v1/users/profile", tag = "star-graph", security(("bearer" = [])), request_body = ProfileUpdate,
    responses((status = 200, body = UserView), (status = 400, description = "invalid field")))]
async fn update_profile(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    Auth(caller, ..): Auth<StarGraph>,
    Body(update, ..): Body<StarGraph, ProfileUpdate>,
) -> ApiResult<StarGraph, UserView> {
    let avatar = match update.avatar {
        // A base64 image becomes a stored file; the profile keeps its URL.
        Some(data) if data.starts_with("data:") => {
            let file = state.files.put_image_data_url(caller.user_id, "avatar", &data, AVATAR_MAX_BYTES).await?;
            Some(crate::urls::file_url(&crate::urls::public_base(&state, &headers), &file))
        }
        other => other,
    };
    let change = ProfileChange { nickname: update.nickname, email: update.email, phone: update.phone, avatar };
    Ok(Reply::with_message("profile updated", state.accounts.update_own_profile(&caller, change).await?.into()))
}
