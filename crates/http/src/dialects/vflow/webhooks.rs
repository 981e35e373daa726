//! `/api/v1/webhooks/{secret}`: runs the webhook-triggered workflow the secret belongs to,
//! with the request's method, headers, query and body as trigger data. No token: the
//! unguessable secret is the credential (only its SHA-256 is stored).

use crate::envelope::{ApiResult, Reply, Vflow};
use crate::error::{ApiError, ErrorKind};
use crate::extract::PathArg;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use gantry_automation::triggers::WebhookCall;
use serde_json::{Map, Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(hook_post, hook_get, hook_put))
}

async fn hook(
    state: AppState,
    secret: String,
    method: Method,
    headers: HeaderMap,
    query: Option<String>,
    body: Bytes,
) -> ApiResult<Vflow, Value> {
    let headers: Map<String, Value> = headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), Value::String(v.to_str().ok()?.to_owned()))))
        .collect();
    let query: Map<String, Value> = form_urlencoded::parse(query.as_deref().unwrap_or_default().as_bytes())
        .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
        .collect();
    let body = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&body).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()))
    };
    let call = WebhookCall { method: method.to_string(), headers, query, body };
    let e = state.automation.webhook(&secret, call).await.map_err(|e| match e {
        gantry_automation::AutomationError::WorkflowNotFound(_) => {
            ApiError::not_found("unknown or disabled webhook").with_code(1001)
        }
        other => other.into(),
    })?;
    let data =
        json!({ "executionId": e.id, "workflowId": e.workflow_id, "status": e.status, "startedAt": e.started_at });
    Ok(Reply::with_message("Workflow execution started", data).status(StatusCode::ACCEPTED))
}

macro_rules! webhook_route {
    ($name:ident, $method:ident) => {
        /// Run the webhook's workflow (202 with the execution id); 404 (1001) for an unknown or disabled one.
        #[utoipa::path($method, path = "/api/v1/webhooks/{secret}", tag = "vflow", params(("secret" = String, Path)),
            responses((status = 202, description = "{executionId, workflowId, status, startedAt}"),
                (status = 404, description = "unknown or disabled webhook (1001)"), (status = 409, description = "too many runs (1003)")))]
        async fn $name(
            State(state): State<AppState>,
            PathArg(secret, ..): PathArg<Vflow, String>,
            request: Request,
        ) -> ApiResult<Vflow, Value> {
            let (parts, body) = request.into_parts();
            let limit = state.config.http.max_body_bytes;
            let body = axum::body::to_bytes(body, limit)
                .await
                .map_err(|_| ApiError::new(ErrorKind::PayloadTooLarge, "request body too large"))?;
            hook(state, secret, parts.method, parts.headers, parts.uri.query().map(str::to_owned), body).await
        }
    };
}

webhook_route!(hook_post, post);
webhook_route!(hook_get, get);
webhook_route!(hook_put, put);
