//! The API dialects: the four upstream systems' and the virtual ComfyUI's. Each module maps its routes to context calls and renders
//! answers in its envelope; none holds a business rule.

pub mod comfy;
pub mod comfyui;
pub mod openidcs;
pub mod shared;
pub mod star;
pub mod vflow;

use crate::envelope::Envelope;
use crate::error::{ApiError, ErrorKind};
use crate::state::AppState;
use axum::response::Response;
use gantry_core::Dialect;
use tower_http::catch_panic::CatchPanicLayer;
use utoipa_axum::router::OpenApiRouter;

/// Every dialect's routes, each behind a panic guard that answers in its envelope.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(comfy::routes().layer(CatchPanicLayer::custom(panic_response::<crate::envelope::ComfyManager>)))
        .merge(star::routes().layer(CatchPanicLayer::custom(panic_response::<crate::envelope::StarGraph>)))
        .merge(openidcs::routes().layer(CatchPanicLayer::custom(panic_response::<crate::envelope::Openidcs>)))
        .merge(vflow::routes().layer(CatchPanicLayer::custom(panic_response::<crate::envelope::Vflow>)))
        .merge(comfyui::routes())
        .merge(shared::routes().layer(CatchPanicLayer::custom(panic_response::<crate::envelope::StarGraph>)))
        .merge(
            crate::dialects::openidcs::console::routes()
                .layer(CatchPanicLayer::custom(panic_response::<crate::envelope::Openidcs>)),
        )
}

pub(crate) fn panic_response<D: Envelope>(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("handler panicked");
    D::render_error(&ApiError::new(ErrorKind::Internal, "internal server error"))
}

/// vflow's route families under the `/api/v1` prefix it shares with star-graph.
const VFLOW_FAMILIES: [&str; 6] = ["workflows", "executions", "modules", "folders", "system", "webhooks"];
const VFLOW_AUTH: [&str; 4] = ["token", "verify", "revoke", "pairing-codes"];

/// Which dialect owns a path, for answers that no handler produced (unknown routes,
/// wrong methods). `/api/v1` paths outside vflow's families belong to star-graph.
pub fn dialect_for_path(path: &str) -> Dialect {
    let mut segments = path.trim_start_matches('/').split('/');
    match (segments.next(), segments.next(), segments.next(), segments.next()) {
        (Some("api"), Some("system" | "server" | "client"), _, _) => Dialect::Openidcs,
        (Some("api"), Some(first), _, _) if openidcs::upstream::PREFIXES.contains(&first) => Dialect::Openidcs,
        (Some("console"), _, _, _) => Dialect::Openidcs,
        (Some("comfy"), _, _, _) => Dialect::ComfyUi,
        (Some("api"), Some("v1"), Some(family), _) if VFLOW_FAMILIES.contains(&family) => Dialect::Vflow,
        (Some("api"), Some("v1"), Some("auth"), Some(action)) if VFLOW_AUTH.contains(&action) => Dialect::Vflow,
        (Some("api"), Some("v1"), _, _) => Dialect::StarGraph,
        _ => Dialect::ComfyManager,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_map_to_their_dialects() {
        assert_eq!(dialect_for_path("/api/tasks/x"), Dialect::ComfyManager);
        assert_eq!(dialect_for_path("/nothing"), Dialect::ComfyManager);
        assert_eq!(dialect_for_path("/api/client/natget/h/v"), Dialect::Openidcs);
        assert_eq!(dialect_for_path("/console/novnc/x.js"), Dialect::Openidcs);
        assert_eq!(dialect_for_path("/api/users/current"), Dialect::Openidcs);
        assert_eq!(dialect_for_path("/api/hosts/h/vms/v/ip_addresses"), Dialect::Openidcs);
        assert_eq!(dialect_for_path("/api/v1/workflows/1"), Dialect::Vflow);
        assert_eq!(dialect_for_path("/api/v1/auth/verify"), Dialect::Vflow);
        assert_eq!(dialect_for_path("/api/v1/auth/login"), Dialect::StarGraph);
        assert_eq!(dialect_for_path("/api/v1/nope"), Dialect::StarGraph);
        assert_eq!(dialect_for_path("/comfy/nope"), Dialect::ComfyUi);
    }
}
