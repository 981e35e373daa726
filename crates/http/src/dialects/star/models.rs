//! star-graph `/models`: the models a caller may name and what each generator costs and
//! fills in by itself.

use crate::envelope::{ApiResult, Reply, StarGraph};
use crate::extract::Auth;
use crate::state::AppState;
use axum::extract::State;
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(catalogue))
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct Catalogue {
    models: Vec<ModelView>,
    generators: Vec<GeneratorView>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct ModelView {
    /// What `modelName` takes.
    name: String,
    /// The generators (TEXT2IMG, …) using it when a request names no model.
    default_for: Vec<&'static str>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct GeneratorView {
    /// TEXT2IMG, IMG2IMG, UPSCALE, POSE, TEXT2VIDEO or IMG2VIDEO.
    r#type: &'static str,
    price: PriceView,
    /// The parameters a request with only its required fields gets (`seed` -1: random).
    #[schema(value_type = Object)]
    defaults: Map<String, Value>,
}

/// Credits: `base + perUnit × units`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct PriceView {
    base: i64,
    per_unit: i64,
    /// `image` (of the batch) or `second` (of video).
    unit: &'static str,
}

/// The models and generators on offer, with prices and defaults.
#[utoipa::path(get, path = "/api/v1/models", tag = "star-graph", security(("bearer" = [])),
    responses((status = 200, body = Catalogue)))]
async fn catalogue(State(state): State<AppState>, _caller: Auth<StarGraph>) -> ApiResult<StarGraph, Catalogue> {
    let models = state
        .generation
        .models()
        .into_iter()
        .map(|m| ModelView { name: m.name, default_for: m.default_for.into_iter().map(|k| k.type_name()).collect() })
        .collect();
    let generators = state
        .generation
        .generators()
        .into_iter()
        .map(|g| GeneratorView {
            r#type: g.kind.type_name(),
            price: PriceView { base: g.price.base, per_unit: g.price.per_unit, unit: g.unit },
            defaults: g.defaults,
        })
        .collect();
    Ok(Reply::ok(Catalogue { models, generators }))
}
