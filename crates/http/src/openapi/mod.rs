//! The OpenAPI 3 document. Routes are registered through utoipa-axum, so a route cannot
//! exist without being in the document; [`contract`] then adds what every operation of a
//! dialect answers (envelopes, common errors).

mod contract;

use crate::dialects;
use crate::state::AppState;
use axum::http::header;
use axum::response::IntoResponse;
use axum::{Extension, Router};
use std::sync::Arc;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

#[derive(OpenApi)]
#[openapi(
    info(title = "Gantry", description = "One server for ComfyUI fleets, generation sales, virtual machines and workflow automation. Four API dialects: comfy-manager (/api), star-graph (/api/v1), openidcs (/api/system, /api/server, /api/client), vflow (/api/v1)."),
    modifiers(&BearerAuth),
    tags(
        (name = "comfy-manager", description = "ComfyUI instances, tasks, files, config, monitor. Envelope {code:200, data}."),
        (name = "star-graph", description = "End users, credits, generation, tasks. Envelope {code, message, data, timestamp, requestId}."),
        (name = "openidcs", description = "Hosts and virtual machines. Envelope {code, msg, data}."),
        (name = "vflow", description = "Workflow automation. Envelope {code:0, message, data, details?}."),
        (name = "comfyui", description = "The virtual ComfyUI at /comfy (also /comfy/api/… and /comfy/k/<api-token>/…): ComfyUI's own protocol over the whole fleet. ComfyUI's bodies, bare; errors {error: {type, message, details, extra_info}, node_errors}."),
        (name = "sockjs", description = "star-graph's STOMP over SockJS 0.3 (sockjs-client's transports): SockJS frames and plain-text errors, no envelope."),
        (name = "meta", description = "This document."),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
        components.add_security_scheme("basic", SecurityScheme::Http(Http::new(HttpAuthScheme::Basic)));
    }
}

/// Every dialect's routes plus `/openapi.json`, which serves the document describing them.
pub fn router() -> Router<AppState> {
    let (routes, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(dialects::routes())
        .merge(crate::metrics::routes())
        .routes(routes!(openapi_json))
        .split_for_parts();
    dialects::openidcs::upstream::document(&mut doc);
    contract::Contract.modify(&mut doc);
    // Serialized once; the document never changes while the process runs.
    let json = serde_json::to_string(&doc).unwrap_or_default();
    routes.layer(Extension(DocumentJson(Arc::from(json))))
}

#[derive(Clone)]
struct DocumentJson(Arc<str>);

/// The OpenAPI 3 document of every route.
#[utoipa::path(get, path = "/openapi.json", tag = "meta", responses((status = 200, description = "OpenAPI 3 document")))]
async fn openapi_json(Extension(doc): Extension<DocumentJson>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], doc.0.to_string())
}
