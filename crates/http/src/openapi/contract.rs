//! What each operation really answers, applied to the generated document: the dialect's
//! envelope around success data and around errors, and the error statuses that the shared
//! extractors, middleware and panic guard give whatever the handler (bad parameters or
//! bodies, missing credentials or roles, vflow's rate limit, internal errors). Handlers document
//! only their own outcomes. An operation's dialects are its tags; one tagged with two
//! (`/api/v1/auth/refresh`) answers in either envelope.

use crate::envelope::{ComfyManager, ComfyUi, Envelope, Openidcs, StarGraph, Vflow};
use gantry_core::Dialect;
use utoipa::Modify;
use utoipa::openapi::content::Content;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::schema::{AnyOfBuilder, ObjectBuilder, Schema, SchemaType};
use utoipa::openapi::{OpenApi, Ref, RefOr, Response};

/// Completes every dialect operation of a document.
pub(super) struct Contract;

impl Modify for Contract {
    fn modify(&self, doc: &mut OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        for dialect in [Dialect::ComfyManager, Dialect::StarGraph, Dialect::Openidcs, Dialect::Vflow, Dialect::ComfyUi]
        {
            components.schemas.insert(error_schema_name(dialect), failure_schema(dialect).into());
        }
        for (path, item) in doc.paths.paths.iter_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.options,
                &mut item.head,
                &mut item.patch,
                &mut item.trace,
            ];
            for operation in operations.into_iter().flatten() {
                let tags = operation.tags.iter().flatten();
                let dialects: Vec<Dialect> = tags.filter_map(|t| t.parse().ok()).collect();
                if !dialects.is_empty() {
                    complete(&dialects, path, operation);
                }
            }
        }
    }
}

fn failure_schema(dialect: Dialect) -> Schema {
    match dialect {
        Dialect::ComfyManager => ComfyManager::failure_schema(),
        Dialect::StarGraph => StarGraph::failure_schema(),
        Dialect::Openidcs => Openidcs::failure_schema(),
        Dialect::Vflow => Vflow::failure_schema(),
        Dialect::ComfyUi => ComfyUi::failure_schema(),
    }
}

fn success_schema(dialect: Dialect, data: RefOr<Schema>) -> Schema {
    match dialect {
        Dialect::ComfyManager => ComfyManager::success_schema(data),
        Dialect::StarGraph => StarGraph::success_schema(data),
        Dialect::Openidcs => Openidcs::success_schema(data),
        Dialect::Vflow => Vflow::success_schema(data),
        Dialect::ComfyUi => ComfyUi::success_schema(data),
    }
}

/// The component holding a dialect's error body, e.g. `vflow.Error`.
fn error_schema_name(dialect: Dialect) -> String {
    format!("{}.Error", dialect.as_str())
}

/// One schema, or any of several.
fn any_of(mut schemas: Vec<RefOr<Schema>>) -> RefOr<Schema> {
    match schemas.len() {
        1 => schemas.remove(0),
        _ => schemas.into_iter().fold(AnyOfBuilder::new(), AnyOfBuilder::item).into(),
    }
}

const JSON: &str = "application/json";

fn complete(dialects: &[Dialect], path: &str, operation: &mut Operation) {
    let error_body = || {
        let refs = dialects.iter().map(|d| Ref::from_schema_name(error_schema_name(*d)).into()).collect();
        Content::new(Some(any_of(refs)))
    };
    for (status, response) in operation.responses.responses.iter_mut() {
        let RefOr::T(response) = response else { continue };
        if status.starts_with('2') && status != "204" {
            envelop(dialects, response);
        } else if status.starts_with(['4', '5']) && response.content.is_empty() {
            response.content.insert(JSON.into(), error_body());
        }
    }
    for (status, description) in common_errors(path, operation) {
        operation.responses.responses.entry(status.into()).or_insert_with(|| {
            let mut response = Response::new(description);
            response.content.insert(JSON.into(), error_body());
            RefOr::T(response)
        });
    }
}

/// Wraps a success answer's JSON data in the envelope; an answer documented without
/// content carries the envelope with any data.
fn envelop(dialects: &[Dialect], response: &mut Response) {
    if response.content.is_empty() {
        response.content.insert(JSON.into(), Content::new(None::<RefOr<Schema>>));
    }
    if let Some(content) = response.content.get_mut(JSON) {
        let data =
            content.schema.take().unwrap_or_else(|| ObjectBuilder::new().schema_type(SchemaType::AnyValue).into());
        let envelopes = dialects.iter().map(|d| success_schema(*d, data.clone()).into()).collect();
        content.schema = Some(any_of(envelopes));
    }
}

/// The errors an operation can give whatever its handler does, with why.
fn common_errors(path: &str, operation: &Operation) -> Vec<(&'static str, &'static str)> {
    let mut errors = Vec::new();
    let mut parameters = operation.parameters.iter().flatten();
    let has_parameters = parameters.any(|p| matches!(p.parameter_in, ParameterIn::Path | ParameterIn::Query));
    let has_body = operation.request_body.is_some();
    match (has_parameters, has_body) {
        (true, true) => errors.push(("400", "invalid parameters or body")),
        (true, false) => errors.push(("400", "invalid parameters")),
        (false, true) => errors.push(("400", "invalid body")),
        (false, false) => {}
    }
    if has_body {
        errors.extend([("413", "body too large"), ("415", "body not of the documented content type")]);
    }
    let security = operation.security.iter().flatten();
    if security.clone().next().is_some() {
        errors.push(("401", "missing, invalid or expired token"));
    }
    // OpenAPI 3.1 lets a bearer requirement list the roles it needs (`["admin"]`).
    let roles = |r| serde_json::to_value(r).ok().and_then(|v| v.as_object().cloned()).unwrap_or_default();
    if security.flat_map(roles).any(|(_, needed)| needed.as_array().is_some_and(|a| !a.is_empty())) {
        errors.push(("403", "not an admin"));
    }
    if crate::rate_limit::limits(path) {
        errors.push(("429", "rate limit exceeded (7001): details {limit, remaining, resetAt}"));
    }
    errors.push(("500", "internal error"));
    errors
}
