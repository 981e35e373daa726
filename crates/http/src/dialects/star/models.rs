//! star-graph `/models`: the models a caller may name and what each generator costs and
//! fills in by itself.

use crate::envelope::{ApiResult, Reply, StarGraph};
use crate::extract::Auth;
use crate::state::AppState;
use axum::extract::State;
use gantry_generation::request::{Accepts, PROMPT_MAX_CHARS, Parameter, parameters};
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
    /// Every parameter a request may send, with the values it accepts (what a form needs).
    params: Vec<ParamView>,
}

/// One request parameter and the values validation accepts.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct ParamView {
    name: &'static str,
    /// `prompt` (text, at most `max` characters), `model` (a name from `models`), `integer`,
    /// `number`, `enum` (one of `options`), `boolean` or `image` (`<name>Base64` or `<name>Url`).
    r#type: &'static str,
    required: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    min: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    multiple_of: Option<i64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    options: Vec<Choice>,
}

/// One value an `enum` parameter takes: text or a whole number.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
enum Choice {
    Text(&'static str),
    Number(i64),
}

impl From<Parameter> for ParamView {
    fn from(p: Parameter) -> Self {
        let view = |r#type| ParamView {
            name: p.name,
            r#type,
            required: p.required,
            min: None,
            max: None,
            multiple_of: None,
            options: Vec::new(),
        };
        #[allow(clippy::cast_precision_loss)] // bounds are far below 2^53
        match p.accepts {
            Accepts::Prompt => ParamView { max: Some(PROMPT_MAX_CHARS as f64), ..view("prompt") },
            Accepts::Model => view("model"),
            Accepts::Integer(r) => ParamView {
                min: Some(r.min as f64),
                max: Some(r.max as f64),
                multiple_of: (r.multiple_of > 1).then_some(r.multiple_of),
                ..view("integer")
            },
            Accepts::Decimal(r) => ParamView { min: Some(r.min), max: Some(r.max), ..view("number") },
            Accepts::Text(options) => {
                ParamView { options: options.iter().map(|&o| Choice::Text(o)).collect(), ..view("enum") }
            }
            Accepts::Whole(options) => {
                ParamView { options: options.iter().map(|&o| Choice::Number(o)).collect(), ..view("enum") }
            }
            Accepts::Boolean => view("boolean"),
            Accepts::Image => view("image"),
        }
    }
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
            params: parameters(g.kind).into_iter().map(ParamView::from).collect(),
        })
        .collect();
    Ok(Reply::ok(Catalogue { models, generators }))
}
