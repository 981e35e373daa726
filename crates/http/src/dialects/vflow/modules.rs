//! vflow `/modules`: the server-side module catalogue (categories, list, detail, input schema).

use crate::envelope::{ApiResult, Reply, Vflow};
use crate::error::ApiError;
use crate::extract::{Auth, PathArg, QueryArgs};
use crate::state::AppState;
use axum::extract::State;
use serde::Deserialize;
use serde_json::Value;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(categories))
        .routes(routes!(list))
        .routes(routes!(detail))
        .routes(routes!(input_schema))
}

/// 404 with vflow's code 2001.
fn not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("Module not found: {id}"))
        .with_code(2001)
        .with_details(serde_json::json!({ "moduleId": id }))
}

/// Module categories, in display order.
#[utoipa::path(get, path = "/api/v1/modules/categories", tag = "vflow", security(("bearer" = [])),
    responses((status = 200, description = "{categories: [{id, name, nameEn, icon, description, descriptionEn, order}]}")))]
async fn categories(State(state): State<AppState>, _caller: Auth<Vflow>) -> ApiResult<Vflow, Value> {
    Ok(Reply::ok(state.catalogue.categories_json()))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// A category id.
    category: Option<String>,
    /// Searched in module names and descriptions.
    search: Option<String>,
}

/// Modules, optionally of one category or matching a search.
#[utoipa::path(get, path = "/api/v1/modules", tag = "vflow", security(("bearer" = [])), params(ListQuery),
    responses((status = 200, description = "{modules: [{id, metadata, blockBehavior}]}")))]
async fn list(
    State(state): State<AppState>,
    _caller: Auth<Vflow>,
    QueryArgs(q, ..): QueryArgs<Vflow, ListQuery>,
) -> ApiResult<Vflow, Value> {
    Ok(Reply::ok(state.catalogue.list_json(q.category.as_deref(), q.search.as_deref())))
}

/// One module: metadata, block behaviour, typed inputs with constraints and UI types, outputs, examples.
#[utoipa::path(get, path = "/api/v1/modules/{moduleId}", tag = "vflow", security(("bearer" = [])),
    params(("moduleId" = String, Path)),
    responses((status = 200, description = "the module"), (status = 404, description = "unknown module (2001)")))]
async fn detail(
    State(state): State<AppState>,
    _caller: Auth<Vflow>,
    PathArg(id, ..): PathArg<Vflow, String>,
) -> ApiResult<Vflow, Value> {
    let module = state.catalogue.get(&id).ok_or_else(|| not_found(&id))?;
    Ok(Reply::ok(module.detail_json()))
}

/// The UI schema of a module's inputs.
#[utoipa::path(get, path = "/api/v1/modules/{moduleId}/input-schema", tag = "vflow", security(("bearer" = [])),
    params(("moduleId" = String, Path)),
    responses((status = 200, description = "{schema: [...]}"), (status = 404, description = "unknown module (2001)")))]
async fn input_schema(
    State(state): State<AppState>,
    _caller: Auth<Vflow>,
    PathArg(id, ..): PathArg<Vflow, String>,
) -> ApiResult<Vflow, Value> {
    let module = state.catalogue.get(&id).ok_or_else(|| not_found(&id))?;
    Ok(Reply::ok(module.input_schema_json()))
}
