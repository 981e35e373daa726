//! The executor: runs a workflow to completion against a [`Host`].

mod actions;
pub mod files;
mod host;
mod http;
mod net_guard;
mod observer;
mod plan;
mod run;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde_json::{Map, Value};
use tokio_util::sync::CancellationToken;

pub use host::{BoxFuture, DefaultHost, Host, HostCall, HttpPolicy};
pub use net_guard::is_internal;
pub use observer::{LogEntry, LogLevel, NoopObserver, RunObserver};

use crate::model::Workflow;
use crate::modules::Catalogue;
use crate::value::TypedValue;

/// WorkflowEngine limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineConfig {
    /// Most iterations one loop activation may run (`loop` count, `foreach` items, `while`
    /// passes); exceeding it fails the loop step. Default 100 000.
    pub max_loop_iterations: u64,
    /// Steps between cooperative yields to the runtime. Default 256.
    pub yield_every: u64,
    /// Largest single value (a step input or output, a variable) in JSON bytes; a step that
    /// would make a larger one fails. Default 1 MiB.
    pub max_value_bytes: usize,
    /// Most JSON bytes a run may hold at once (every step's last outputs, variables and
    /// trigger data); a step that would hold more fails. Default 16 MiB.
    pub max_run_bytes: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self { max_loop_iterations: 100_000, yield_every: 256, max_value_bytes: 1 << 20, max_run_bytes: 16 << 20 }
    }
}

/// Runs workflows. Cheap to clone; share one per process.
#[derive(Clone)]
pub struct WorkflowEngine {
    catalogue: Arc<Catalogue>,
    host: Arc<dyn Host>,
    config: EngineConfig,
    http: Arc<http::HttpClients>,
}

impl std::fmt::Debug for WorkflowEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkflowEngine").field("config", &self.config).finish_non_exhaustive()
    }
}

/// How a run starts.
#[derive(Debug, Clone, Default)]
pub struct RunRequest {
    /// `{{trigger.data}}`; also the outputs of a leading trigger step.
    pub trigger_data: Value,
    /// Workflow variables (`{{vars.name}}`), e.g. the API's `inputVariables`.
    pub variables: Map<String, Value>,
    /// Overrides the workflow's `maxExecutionTime`.
    pub timeout: Option<Duration>,
    /// Stops the run (outcome `cancelled`).
    pub cancel: CancellationToken,
}

impl RunRequest {
    /// Sets the trigger data.
    pub fn trigger(mut self, data: Value) -> Self {
        self.trigger_data = data;
        self
    }

    /// Adds variables given as raw values or as `{type, value}` (the API's `inputVariables`).
    pub fn variables(mut self, vars: &Map<String, Value>) -> Self {
        for (k, v) in vars {
            let raw = match v {
                Value::Object(m) if m.contains_key("value") && m.keys().all(|k| k == "type" || k == "value") => {
                    m.get("value").cloned().unwrap_or(Value::Null)
                }
                other => other.clone(),
            };
            self.variables.insert(k.clone(), raw);
        }
        self
    }

    /// Sets a time budget that overrides the workflow's.
    pub fn timeout(mut self, budget: Duration) -> Self {
        self.timeout = Some(budget);
        self
    }

    /// Uses `token` for cancellation.
    pub fn cancel(mut self, token: CancellationToken) -> Self {
        self.cancel = token;
        self
    }
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum Outcome {
    /// Ran to the end or to a `stop` step.
    Completed,
    /// A step failed under policy STOP (or exhausted its retries), or the workflow could not
    /// be compiled.
    #[serde(rename_all = "camelCase")]
    Failed {
        /// What went wrong.
        error: String,
        /// The failing step.
        step_index: Option<usize>,
        /// Its id.
        step_id: Option<String>,
    },
    /// The cancellation token fired.
    Cancelled,
    /// The time budget ran out.
    Timeout,
}

impl Outcome {
    /// `completed`, `failed`, `cancelled` or `timeout`, as the API's `status`.
    pub fn status(&self) -> &'static str {
        match self {
            Self::Completed => "completed",
            Self::Failed { .. } => "failed",
            Self::Cancelled => "cancelled",
            Self::Timeout => "timeout",
        }
    }
}

/// The result of a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunReport {
    /// How it ended.
    pub outcome: Outcome,
    /// Last outputs of each step that ran: step id → output id → `{type, value}`.
    pub outputs: BTreeMap<String, BTreeMap<String, TypedValue>>,
    /// Variables at the end: name → `{type, value}`.
    pub variables: BTreeMap<String, TypedValue>,
    /// Steps executed, loop passes included.
    pub steps_executed: u64,
    /// ms since the epoch.
    pub started_at: i64,
    /// ms since the epoch.
    pub completed_at: i64,
}

impl WorkflowEngine {
    /// An engine over `catalogue`, delegating host services to `host`.
    pub fn new(catalogue: Arc<Catalogue>, host: Arc<dyn Host>) -> Self {
        Self { catalogue, host, config: EngineConfig::default(), http: Arc::default() }
    }

    /// The same engine (catalogue, limits, HTTP clients) over another host, e.g. one that
    /// acts as a particular workflow's owner.
    pub fn with_host(&self, host: Arc<dyn Host>) -> Self {
        Self { host, ..self.clone() }
    }

    /// Replaces the limits.
    pub fn with_config(mut self, config: EngineConfig) -> Self {
        self.config = config;
        self
    }

    /// The catalogue in use.
    pub fn catalogue(&self) -> &Catalogue {
        &self.catalogue
    }

    /// Runs `workflow` to completion. Never panics on bad input: a workflow that cannot be
    /// compiled (unbalanced blocks, bad expression) ends as [`Outcome::Failed`] before any
    /// step runs. Validate at save time with [`crate::validate`].
    pub async fn run(&self, workflow: &Workflow, request: RunRequest, observer: &dyn RunObserver) -> RunReport {
        run::execute(self, workflow, request, observer).await
    }
}
