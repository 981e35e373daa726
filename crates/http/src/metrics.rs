//! `GET /metrics`: Prometheus (OpenMetrics) text from the `prometheus-client` crate, one
//! registry per server. Requests are counted by route, method and status, with a latency
//! histogram per route, as they are answered; finished tasks (with their run times) and
//! workflow executions as the event stream reports them; open WebSocket and STOMP sessions
//! as they open and close; tasks, instances, hosts and VMs
//! are read from the contexts at each scrape. Admins only, unless `http.metrics_public`
//! opens it to anyone who can reach the port.

use std::collections::HashMap;
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
use tokio::sync::broadcast::Receiver;
use tokio::sync::broadcast::error::RecvError;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::envelope::{ComfyManager, Failure};
use crate::error::ApiError;
use crate::extract::MaybeAuth;
use crate::state::AppState;
use gantry_core::events::{Envelope, Event};

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

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    status: String,
}

type Latencies = Family<RouteLabels, Histogram, fn() -> Histogram>;
type Durations = Family<OutcomeLabels, Histogram, fn() -> Histogram>;

/// Tasks whose start is remembered for their run time; past this many running at once,
/// later ones are counted without a time.
const MAX_TIMED_TASKS: usize = 100_000;

/// The server's metrics.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Latencies,
    tasks: Family<StateLabels, Gauge>,
    instances: Family<StateLabels, Gauge>,
    machines: Family<StateLabels, Gauge>,
    claims_lost: Gauge,
    tasks_finished: Family<OutcomeLabels, Counter>,
    task_duration: Durations,
    executions: Family<StatusLabels, Counter>,
    sessions: Family<KindLabels, Gauge>,
}

/// A live session, counted in `gantry_live_sessions` until dropped.
pub struct LiveSession(Gauge);

impl Drop for LiveSession {
    fn drop(&mut self) {
        self.0.dec();
    }
}

fn latency_histogram() -> Histogram {
    // 0.25 ms to about 8 s.
    Histogram::new(exponential_buckets(0.000_25, 2.0, 16))
}

fn task_duration_histogram() -> Histogram {
    // 0.1 s to about 55 minutes.
    Histogram::new(exponential_buckets(0.1, 2.0, 16))
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("gantry");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency: Latencies = Family::new_with_constructor(latency_histogram);
        let tasks = Family::<StateLabels, Gauge>::default();
        let instances = Family::<StateLabels, Gauge>::default();
        let machines = Family::<StateLabels, Gauge>::default();
        let claims_lost = Gauge::default();
        let tasks_finished = Family::<OutcomeLabels, Counter>::default();
        let task_duration: Durations = Family::new_with_constructor(task_duration_histogram);
        let executions = Family::<StatusLabels, Counter>::default();
        let sessions = Family::<KindLabels, Gauge>::default();
        registry.register("http_requests", "HTTP requests answered, by route, method and status", requests.clone());
        registry.register("http_request_duration_seconds", "Time to answer, by route", latency.clone());
        registry.register("tasks", "Tasks by state (pending includes those waiting inside an instance)", tasks.clone());
        registry.register("instances", "ComfyUI instances: configured, alive, busy", instances.clone());
        registry.register("machines", "Hypervisor hosts and VMs: hosts, vms, vms_running", machines.clone());
        registry.register(
            "dispatch_claims_lost",
            "Tasks this gateway picked for one of its instances that another gateway claimed (or a cancel ended) first",
            claims_lost.clone(),
        );
        registry.register("tasks_finished", "Tasks ended, by outcome", tasks_finished.clone());
        registry.register("task_run_seconds", "Time from a task's (last) start to its end", task_duration.clone());
        registry.register("workflow_executions", "Workflow executions ended, by status", executions.clone());
        registry.register(
            "live_sessions",
            "Open client sessions: comfy_ws (comfy-manager's JSON WebSocket), stomp (WebSocket or SockJS)",
            sessions.clone(),
        );
        Self {
            registry,
            requests,
            latency,
            tasks,
            instances,
            machines,
            claims_lost,
            tasks_finished,
            task_duration,
            executions,
            sessions,
        }
    }
}

impl Metrics {
    /// Counts a session of `kind` as live until the returned guard is dropped.
    pub fn live_session(&self, kind: &'static str) -> LiveSession {
        let gauge = self.sessions.get_or_create(&KindLabels { kind }).clone();
        gauge.inc();
        LiveSession(gauge)
    }

    /// Counts what the event stream reports until the server stops: tasks ended, by
    /// outcome and with their run times, and workflow executions ended, by status.
    pub async fn count_events(self: Arc<Self>, mut events: Receiver<Envelope>, supervisor: gantry_core::Supervisor) {
        let mut started: HashMap<String, i64> = HashMap::new();
        loop {
            tokio::select! {
                () = supervisor.stopping() => return,
                event = events.recv() => match event {
                    // Each gateway counts what it did; the cluster's totals are their sum.
                    Ok(envelope) if envelope.remote => {}
                    Ok(envelope) => self.count(envelope, &mut started),
                    // Events missed under load are not counted; nothing else depends on them.
                    Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => return,
                },
            }
        }
    }

    fn count(&self, Envelope { at_ms, event, .. }: Envelope, started: &mut HashMap<String, i64>) {
        let (task, outcome) = match event {
            Event::TaskStarted { task_id, .. } => {
                if started.len() < MAX_TIMED_TASKS || started.contains_key(&task_id) {
                    started.insert(task_id, at_ms);
                }
                return;
            }
            Event::TaskCompleted { task_id, .. } => (task_id, "completed"),
            Event::TaskFailed { task_id, .. } => (task_id, "failed"),
            Event::TaskCancelled { task_id, .. } => (task_id, "cancelled"),
            Event::ExecutionFinished { status, .. } => {
                self.executions.get_or_create(&StatusLabels { status }).inc();
                return;
            }
            _ => return,
        };
        self.tasks_finished.get_or_create(&OutcomeLabels { outcome }).inc();
        if let Some(start) = started.remove(&task) {
            let seconds = (at_ms - start).max(0) as f64 / 1000.0;
            self.task_duration.get_or_create(&OutcomeLabels { outcome }).observe(seconds);
        }
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
/// tasks by state and ended (with run times), instances, hosts and VMs, workflow
/// executions. Admins only unless `http.metrics_public`.
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
    let machines = state.compute.statis().await.map_err(ApiError::from)?;
    for (name, n) in
        [("hosts", machines.host_count), ("vms", machines.vm_count), ("vms_running", machines.running_vm_count)]
    {
        metrics.machines.get_or_create(&StateLabels { state: name }).set(n as i64);
    }
    metrics.claims_lost.set(i64::try_from(state.dispatcher.claims_lost()).unwrap_or(i64::MAX));
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &metrics.registry).map_err(ApiError::internal)?;
    let content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8";
    Ok(([(header::CONTENT_TYPE, content_type)], text).into_response())
}
