//! How each dialect wraps answers. A handler returns [`Reply<D, T>`] or [`Failure<D>`];
//! the dialect `D` decides the body shape, the codes and the status.

use crate::error::{ApiError, ErrorKind};
use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};
use std::marker::PhantomData;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaType, Type};

/// One API dialect's envelope.
pub trait Envelope: Send + Sync + 'static {
    /// Which dialect this is.
    const DIALECT: gantry_core::Dialect;

    /// The body of a successful answer, serialized straight from `data`.
    fn success<T: Serialize>(message: &str, data: &T) -> serde_json::Result<Vec<u8>>;

    /// The default code of an error kind in this dialect.
    fn error_code(kind: ErrorKind) -> Value;

    /// The body of a failed answer.
    fn failure(error: &ApiError, code: Value) -> Value;

    /// The OpenAPI schema of [`Envelope::success`] around `data`.
    fn success_schema(data: RefOr<Schema>) -> Schema;

    /// The OpenAPI schema of [`Envelope::failure`].
    fn failure_schema() -> Schema;

    /// Renders an error with its status.
    fn render_error(error: &ApiError) -> Response {
        let code = error.code.clone().unwrap_or_else(|| Self::error_code(error.kind));
        (error.kind.status(), Json(Self::failure(error, code))).into_response()
    }
}

/// A successful answer in dialect `D`.
pub struct Reply<D, T> {
    status: StatusCode,
    message: String,
    data: T,
    dialect: PhantomData<D>,
}

impl<D: Envelope, T: Serialize> Reply<D, T> {
    /// 200 with data and the default message.
    pub fn ok(data: T) -> Self {
        Self::with_message("success", data)
    }

    /// 200 with data and a message.
    pub fn with_message(message: impl Into<String>, data: T) -> Self {
        Self { status: StatusCode::OK, message: message.into(), data, dialect: PhantomData }
    }

    /// Changes the status (e.g. 201, 202).
    pub fn status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }
}

impl<D: Envelope, T: Serialize> IntoResponse for Reply<D, T> {
    fn into_response(self) -> Response {
        match D::success(&self.message, &self.data) {
            Ok(body) => (self.status, [(header::CONTENT_TYPE, "application/json")], body).into_response(),
            Err(e) => D::render_error(&ApiError::internal(e)),
        }
    }
}

/// A failed answer in dialect `D`.
pub struct Failure<D> {
    pub error: ApiError,
    dialect: PhantomData<D>,
}

impl<D> Failure<D> {
    /// Wraps an error for dialect `D`.
    pub fn new(error: ApiError) -> Self {
        Self { error, dialect: PhantomData }
    }
}

impl<D> std::fmt::Debug for Failure<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

impl<D: Envelope> IntoResponse for Failure<D> {
    fn into_response(self) -> Response {
        D::render_error(&self.error)
    }
}

impl<D> From<ApiError> for Failure<D> {
    fn from(error: ApiError) -> Self {
        Self::new(error)
    }
}

/// Context errors become failures through their [`ApiError`] mapping, so handlers can
/// use `?` on any context call.
macro_rules! failure_from {
    ($($error:ty),* $(,)?) => {$(
        impl<D> From<$error> for Failure<D> {
            fn from(error: $error) -> Self {
                Self::new(error.into())
            }
        }
    )*};
}

failure_from!(
    gantry_accounts::AccountsError,
    gantry_dispatch::DispatchError,
    gantry_files::FilesError,
    gantry_generation::GenerationError,
    gantry_generation::graphs::GraphRefused,
    gantry_ledger::LedgerError,
);

/// What handlers of dialect `D` return.
pub type ApiResult<D, T> = Result<Reply<D, T>, Failure<D>>;

/// comfy-manager: `{code: 200, data}`; errors `{code: <status>, message}`.
pub struct ComfyManager;

impl Envelope for ComfyManager {
    const DIALECT: gantry_core::Dialect = gantry_core::Dialect::ComfyManager;
    fn success<T: Serialize>(_message: &str, data: &T) -> serde_json::Result<Vec<u8>> {
        #[derive(Serialize)]
        struct Body<'a, T> {
            code: u16,
            data: &'a T,
        }
        serde_json::to_vec(&Body { code: 200, data })
    }
    fn error_code(kind: ErrorKind) -> Value {
        json!(kind.status().as_u16())
    }
    fn failure(error: &ApiError, code: Value) -> Value {
        let mut body = json!({ "code": code, "message": error.message });
        if let Some(details) = &error.details {
            body["details"] = details.clone();
        }
        body
    }
    fn success_schema(data: RefOr<Schema>) -> Schema {
        schema::object([("code", schema::fixed(200)), ("data", data)], &[])
    }
    fn failure_schema() -> Schema {
        let fields =
            [("code", schema::of(Type::Integer)), ("message", schema::of(Type::String)), ("details", schema::any())];
        schema::object(fields, &["details"])
    }
}

/// star-graph: `{code, message, data, timestamp, requestId}`; business errors carry `"E00x"` codes.
pub struct StarGraph;

impl Envelope for StarGraph {
    const DIALECT: gantry_core::Dialect = gantry_core::Dialect::StarGraph;
    fn success<T: Serialize>(message: &str, data: &T) -> serde_json::Result<Vec<u8>> {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Body<'a, T> {
            code: u16,
            message: &'a str,
            data: &'a T,
            timestamp: i64,
            request_id: String,
        }
        let request_id = crate::request_id::current();
        serde_json::to_vec(&Body { code: 200, message, data, timestamp: now_ms(), request_id })
    }
    fn error_code(kind: ErrorKind) -> Value {
        json!(kind.status().as_u16())
    }
    fn failure(error: &ApiError, code: Value) -> Value {
        let mut body = json!({
            "code": code,
            "message": error.message,
            "data": null,
            "timestamp": now_ms(),
            "requestId": crate::request_id::current(),
        });
        if let Some(details) = &error.details {
            body["details"] = details.clone();
        }
        body
    }
    fn success_schema(data: RefOr<Schema>) -> Schema {
        schema::object(
            [
                ("code", schema::fixed(200)),
                ("message", schema::of(Type::String)),
                ("data", data),
                ("timestamp", schema::of(Type::Integer)),
                ("requestId", schema::of(Type::String)),
            ],
            &[],
        )
    }
    fn failure_schema() -> Schema {
        schema::object(
            [
                // The HTTP status, or a business code such as "E002".
                ("code", schema::of(SchemaType::from_iter([Type::Integer, Type::String]))),
                ("message", schema::of(Type::String)),
                ("data", schema::of(Type::Null)),
                ("timestamp", schema::of(Type::Integer)),
                ("requestId", schema::of(Type::String)),
                ("details", schema::any()),
            ],
            &["details"],
        )
    }
}

/// openidcs: `{code, msg, data}` with `code` = HTTP status.
pub struct Openidcs;

impl Envelope for Openidcs {
    const DIALECT: gantry_core::Dialect = gantry_core::Dialect::Openidcs;
    fn success<T: Serialize>(message: &str, data: &T) -> serde_json::Result<Vec<u8>> {
        #[derive(Serialize)]
        struct Body<'a, T> {
            code: u16,
            msg: &'a str,
            data: &'a T,
        }
        serde_json::to_vec(&Body { code: 200, msg: message, data })
    }
    fn error_code(kind: ErrorKind) -> Value {
        json!(kind.status().as_u16())
    }
    fn failure(error: &ApiError, code: Value) -> Value {
        json!({ "code": code, "msg": error.message, "data": error.details })
    }
    fn success_schema(data: RefOr<Schema>) -> Schema {
        schema::object([("code", schema::fixed(200)), ("msg", schema::of(Type::String)), ("data", data)], &[])
    }
    fn failure_schema() -> Schema {
        let fields = [("code", schema::of(Type::Integer)), ("msg", schema::of(Type::String)), ("data", schema::any())];
        schema::object(fields, &[])
    }
}

/// vflow: `{code: 0, message, data}`; errors `{code, message, data: null, details}` with
/// the spec's numeric codes (6001 invalid token, 6002 expired, 7001 rate limit, …).
pub struct Vflow;

impl Envelope for Vflow {
    const DIALECT: gantry_core::Dialect = gantry_core::Dialect::Vflow;
    fn success<T: Serialize>(message: &str, data: &T) -> serde_json::Result<Vec<u8>> {
        #[derive(Serialize)]
        struct Body<'a, T> {
            code: u16,
            message: &'a str,
            data: &'a T,
        }
        serde_json::to_vec(&Body { code: 0, message, data })
    }
    fn error_code(kind: ErrorKind) -> Value {
        let code = match kind {
            ErrorKind::Unauthenticated => 6001,
            ErrorKind::TokenExpired => 6002,
            ErrorKind::Forbidden => 6003,
            ErrorKind::RateLimited => 7001,
            ErrorKind::UnsupportedMedia => 8001,
            ErrorKind::PayloadTooLarge => 8002,
            ErrorKind::Internal => 9001,
            ErrorKind::Unavailable => 9002,
            other => other.status().as_u16().into(),
        };
        json!(code)
    }
    fn failure(error: &ApiError, code: Value) -> Value {
        json!({ "code": code, "message": error.message, "data": null, "details": error.details })
    }
    fn success_schema(data: RefOr<Schema>) -> Schema {
        schema::object([("code", schema::fixed(0)), ("message", schema::of(Type::String)), ("data", data)], &[])
    }
    fn failure_schema() -> Schema {
        schema::object(
            [
                ("code", schema::of(Type::Integer)),
                ("message", schema::of(Type::String)),
                ("data", schema::of(Type::Null)),
                ("details", schema::any()),
            ],
            &[],
        )
    }
}

/// The virtual ComfyUI: ComfyUI's own bodies, bare; errors are the body of ComfyUI's
/// refused `/prompt`, `{error: {type, message, details, extra_info}, node_errors}`, with a
/// `type` that names the failure (`invalid_prompt`, `unauthorized`, …).
pub struct ComfyUi;

impl Envelope for ComfyUi {
    const DIALECT: gantry_core::Dialect = gantry_core::Dialect::ComfyUi;
    fn success<T: Serialize>(_message: &str, data: &T) -> serde_json::Result<Vec<u8>> {
        serde_json::to_vec(data)
    }
    fn error_code(kind: ErrorKind) -> Value {
        let name = match kind {
            ErrorKind::BadRequest => "invalid_request",
            ErrorKind::Unauthenticated => "unauthorized",
            ErrorKind::TokenExpired => "token_expired",
            ErrorKind::PaymentRequired => "insufficient_credits",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::NotFound => "not_found",
            ErrorKind::MethodNotAllowed => "method_not_allowed",
            ErrorKind::Conflict => "conflict",
            ErrorKind::PayloadTooLarge => "too_large",
            ErrorKind::UnsupportedMedia => "unsupported_media",
            ErrorKind::Unprocessable => "unprocessable",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::Internal => "internal_error",
            ErrorKind::Unavailable => "unavailable",
        };
        json!(name)
    }
    fn failure(error: &ApiError, code: Value) -> Value {
        // Other dialects' business codes (star-graph's "E002") mean nothing here.
        let kind = if code.is_string() { code } else { Self::error_code(error.kind) };
        let details = match &error.details {
            Some(Value::String(text)) => text.clone(),
            Some(other) => other.to_string(),
            None => String::new(),
        };
        json!({
            "error": { "type": kind, "message": error.message, "details": details, "extra_info": {} },
            "node_errors": {},
        })
    }
    fn success_schema(data: RefOr<Schema>) -> Schema {
        utoipa::openapi::schema::AllOfBuilder::new().item(data).into()
    }
    fn failure_schema() -> Schema {
        let error = schema::object(
            [
                ("type", schema::of(Type::String)),
                ("message", schema::of(Type::String)),
                ("details", schema::of(Type::String)),
                ("extra_info", schema::of(Type::Object)),
            ],
            &[],
        );
        schema::object([("error", error.into()), ("node_errors", schema::of(Type::Object))], &[])
    }
    /// A missing or wrong credential also asks for HTTP Basic, which every HTTP client can send.
    fn render_error(error: &ApiError) -> Response {
        let code = error.code.clone().unwrap_or_else(|| Self::error_code(error.kind));
        let body = Json(Self::failure(error, code));
        if error.kind == ErrorKind::Unauthenticated {
            let challenge = [(header::WWW_AUTHENTICATE, r#"Basic realm="Gantry", charset="UTF-8""#)];
            return (error.kind.status(), challenge, body).into_response();
        }
        (error.kind.status(), body).into_response()
    }
}

/// Building blocks of the envelopes' OpenAPI schemas.
mod schema {
    use super::*;

    /// A value of type `t`.
    pub(super) fn of(t: impl Into<SchemaType>) -> RefOr<Schema> {
        ObjectBuilder::new().schema_type(t).into()
    }

    /// Any JSON value.
    pub(super) fn any() -> RefOr<Schema> {
        of(SchemaType::AnyValue)
    }

    /// Exactly the integer `value`.
    pub(super) fn fixed(value: i64) -> RefOr<Schema> {
        ObjectBuilder::new().schema_type(Type::Integer).enum_values(Some([value])).into()
    }

    /// An object with these fields, all required but the `optional` ones.
    pub(super) fn object<const N: usize>(fields: [(&str, RefOr<Schema>); N], optional: &[&str]) -> Schema {
        fields
            .into_iter()
            .fold(ObjectBuilder::new().schema_type(Type::Object), |o, (name, field)| {
                let o = o.property(name, field);
                if optional.contains(&name) { o } else { o.required(name) }
            })
            .into()
    }
}

fn now_ms() -> i64 {
    use gantry_core::Clock;
    gantry_core::SystemClock.now_ms()
}

/// Renders an error in the envelope of a dialect known only at run time.
pub fn render_error_for(dialect: gantry_core::Dialect, error: &ApiError) -> Response {
    match dialect {
        gantry_core::Dialect::ComfyManager => ComfyManager::render_error(error),
        gantry_core::Dialect::StarGraph => StarGraph::render_error(error),
        gantry_core::Dialect::Openidcs => Openidcs::render_error(error),
        gantry_core::Dialect::Vflow => Vflow::render_error(error),
        gantry_core::Dialect::ComfyUi => ComfyUi::render_error(error),
    }
}
