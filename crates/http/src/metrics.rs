//! `GET /metrics`: Prometheus (OpenMetrics) text from the `prometheus-client` crate, one
//! registry per server. Requests are counted by route, method and status, with a latency
//! histogram per route, as they are answered; the queue, tasks and instances are read from
//! the contexts at each scrape. Admins only, unless `http.metrics_public` opens it to anyone
//! who can reach the port.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::envelope::{ComfyManager, Failure};
use crate::error::ApiError;
use crate::extract::MaybeAuth;
use crate::state::AppState;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: &'static str,
}

type Latencies = Family<RouteLabels, Histogram, fn() -> Histogram>;

/// The server's metrics.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Latencies,
    tasks: Family<StateLabels, Gauge>,
    instances: Family<StateLabels, Gauge>,
}

fn latency_histogram() -> Histogram {
    // 0.25 ms to about 8 s.
    Histogram::new(exponential_buckets(0.000_25, 2.0, 16))
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("gantry");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency: Latencies = Family::new_with_constructor(latency_histogram);
        let tasks = Family::<StateLabels, Gauge>::default();
        let instances = Family::<StateLabels, Gauge>::default();
        registry.register("http_requests", "HTTP requests answered, by route, method and status", requests.clone());
        registry.register("http_request_duration_seconds", "Time to answer, by route", latency.clone());
        registry.register("tasks", "Tasks by state (pending includes those waiting inside an instance)", tasks.clone());
        registry.register("instances", "ComfyUI instances: configured, alive, busy", instances.clone());
        Self { registry, requests, latency, tasks, instances }
    }
}

/// A route template as a label: `/api/tasks/:taskId` (braces inside label values trip
/// simple exposition parsers).
fn route_label(template: &str) -> String {
    template.replace('{', ":").replace('}', "")
}

/// Middleware: counts and times every answered request by its route.
pub async fn track(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let route =
        request.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_owned(), |p| route_label(p.as_str()));
    let method = request.method().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics.latency.get_or_create(&RouteLabels { route: route.clone() }).observe(started.elapsed().as_secs_f64());
    metrics.requests.get_or_create(&RequestLabels { route, method, status }).inc();
    response
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(scrape))
}

/// Prometheus metrics (OpenMetrics text): requests by route and status with latencies,
/// tasks by state, instances. Admins only unless `http.metrics_public`.
#[utoipa::path(get, path = "/metrics", tag = "operations", security(("bearer" = ["admin"])),
    responses((status = 200, description = "OpenMetrics text", body = String, content_type = "application/openmetrics-text"),
        (status = 401, description = "no token"), (status = 403, description = "not an admin")))]
async fn scrape(
    State(state): State<AppState>,
    MaybeAuth(caller, ..): MaybeAuth<ComfyManager>,
) -> Result<Response, Failure<ComfyManager>> {
    if !state.config.http.metrics_public {
        caller.ok_or(gantry_accounts::AccountsError::MissingToken)?.require_admin()?;
    }
    let overview = state.dispatcher.overview().await.map_err(ApiError::from)?;
    let metrics = &state.metrics;
    for (name, n) in [
        ("pending", overview.pending_tasks),
        ("running", overview.running_tasks),
        ("completed", overview.completed_tasks),
        ("failed", overview.failed_tasks),
        ("cancelled", overview.cancelled_tasks),
    ] {
        metrics.tasks.get_or_create(&StateLabels { state: name }).set(n);
    }
    for (name, n) in [
        ("configured", overview.total_instances),
        ("alive", overview.alive_instances),
        ("busy", overview.busy_instances),
    ] {
        metrics.instances.get_or_create(&StateLabels { state: name }).set(n as i64);
    }
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &metrics.registry).map_err(ApiError::internal)?;
    let content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8";
    Ok(([(header::CONTENT_TYPE, content_type)], text).into_response())
}
