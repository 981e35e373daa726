//! Running executions: the registry (cancellation, per-workflow limit) and the task that
//! runs one workflow, persisting progress, logs and the result.

use std::collections::{BTreeMap, HashMap};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::repo::executions::{self as repo, Finish, NewLog};
use futures_util::FutureExt as _;
use gantry_core::events::Event;
use gantry_workflow_engine::{
    LogEntry, LogLevel, Outcome, RunObserver, RunReport, RunRequest, Step, TypedValue, Workflow,
};
use serde_json::{Map, Value, json};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::host::OwnerHost;
use crate::{AutomationError, AutomationResult, Inner, Owner};

/// Log lines written at most this often while a run goes on.
const FLUSH_EVERY: Duration = Duration::from_millis(200);
/// Step info lines kept per execution; later ones are dropped (warnings, errors and
/// run-level lines never are), so a long loop cannot flood the database.
const MAX_INFO_LINES: usize = 10_000;

#[derive(Default)]
struct Registry {
    /// Execution id → (workflow id, cancel).
    running: HashMap<String, (String, CancellationToken)>,
    per_workflow: HashMap<String, usize>,
}

/// The executions this process is running.
#[derive(Default)]
pub(crate) struct Runs {
    registry: Mutex<Registry>,
    /// Set at shutdown: runs cancelled from then on end as failed ([`crate::INTERRUPTED`]).
    shutting_down: AtomicBool,
}

impl Runs {
    fn lock(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Reserves a slot for a run of `workflow_id`, or refuses past `limit`.
    fn reserve(
        &self,
        execution_id: &str,
        workflow_id: &str,
        limit: usize,
        cancel: CancellationToken,
    ) -> AutomationResult<()> {
        let mut r = self.lock();
        let n = r.per_workflow.entry(workflow_id.to_owned()).or_default();
        if *n >= limit {
            return Err(AutomationError::TooManyRuns { workflow_id: workflow_id.to_owned(), limit });
        }
        *n += 1;
        r.running.insert(execution_id.to_owned(), (workflow_id.to_owned(), cancel));
        Ok(())
    }

    fn release(&self, execution_id: &str) {
        let mut r = self.lock();
        if let Some((workflow_id, _)) = r.running.remove(execution_id)
            && let Some(n) = r.per_workflow.get_mut(&workflow_id)
        {
            *n = n.saturating_sub(1);
            if *n == 0 {
                r.per_workflow.remove(&workflow_id);
            }
        }
    }

    /// Cancels a run of this process; false if it is not running here.
    pub(crate) fn cancel(&self, execution_id: &str) -> bool {
        match self.lock().running.get(execution_id) {
            Some((_, token)) => {
                token.cancel();
                true
            }
            None => false,
        }
    }

    /// Cancels every run because the server stops.
    pub(crate) fn interrupt_all(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
        for (_, token) in self.lock().running.values() {
            token.cancel();
        }
    }
}

/// How a run was started (the execution's `triggeredBy`).
#[derive(Debug, Clone)]
pub struct Start {
    pub triggered_by: &'static str,
    pub request: RunRequest,
}

impl Inner {
    /// Stores a running execution of `workflow` for `owner` and starts it. The receiver
    /// yields the stored record once the run has ended.
    pub(crate) async fn launch(
        self: &Arc<Self>,
        owner: Owner,
        workflow: Workflow,
        start: Start,
    ) -> AutomationResult<(repo::ExecutionRecord, oneshot::Receiver<repo::ExecutionRecord>)> {
        let id = format!("exec-{}", self.ids.random());
        let cancel = CancellationToken::new();
        let variables = typed_variables(&start.request.variables);
        self.runs.reserve(&id, &workflow.id, self.config.max_running_per_workflow.max(1), cancel.clone())?;
        let record = repo::ExecutionRecord {
            id: id.clone(),
            user_id: owner.user_id,
            workflow_id: workflow.id.clone(),
            workflow_name: workflow.name.clone(),
            status: repo::status::RUNNING.into(),
            triggered_by: start.triggered_by.into(),
            current_step_index: 0,
            total_steps: workflow.steps.len() as i64,
            current_step: None,
            outputs: "{}".into(),
            variables: variables.clone(),
            error: None,
            started_at: self.clock.now_ms(),
            completed_at: None,
        };
        if let Err(e) = repo::insert(&self.db, &record).await {
            self.runs.release(&id);
            return Err(e.into());
        }
        let (done_tx, done_rx) = oneshot::channel();
        let inner = self.clone();
        let request = start.request.cancel(cancel);
        self.supervisor.clone().spawn(async move {
            // A panic inside a run (a bug) fails that execution and frees its slot; the
            // server and every other run go on.
            let run = AssertUnwindSafe(inner.run_to_end(owner, &workflow, &id, request, variables));
            let finished = match run.catch_unwind().await {
                Ok(finished) => finished,
                Err(_) => {
                    tracing::error!(execution_id = %id, "an execution panicked; it is recorded as failed");
                    inner.record_crash(owner, &workflow, &id).await
                }
            };
            inner.runs.release(&id);
            if let Some(record) = finished {
                let _ = done_tx.send(record);
            }
        });
        Ok((record, done_rx))
    }

    /// Records an execution whose run panicked as failed.
    async fn record_crash(&self, owner: Owner, workflow: &Workflow, id: &str) -> Option<repo::ExecutionRecord> {
        let now = self.clock.now_ms();
        let report = RunReport {
            outcome: Outcome::Failed {
                error: "internal error: the execution stopped unexpectedly".into(),
                step_index: None,
                step_id: None,
            },
            outputs: BTreeMap::new(),
            variables: BTreeMap::new(),
            steps_executed: 0,
            started_at: now,
            completed_at: now,
        };
        self.record_end(owner, workflow, id, &report).await
    }

    async fn run_to_end(
        self: &Arc<Self>,
        owner: Owner,
        workflow: &Workflow,
        id: &str,
        request: RunRequest,
        variables: String,
    ) -> Option<repo::ExecutionRecord> {
        let (tx, rx) = mpsc::unbounded_channel();
        let observer = Recorder { tx, pending: Arc::default(), info_lines: AtomicUsize::new(0) };
        let writer = self.supervisor.spawn(write_progress(
            self.clone(),
            owner,
            id.to_owned(),
            variables,
            rx,
            observer.pending.clone(),
        ));
        let engine = self.engine.with_host(Arc::new(OwnerHost::new(self.clone(), owner)));
        let report = engine.run(workflow, request, &observer).await;
        drop(observer);
        if let Err(e) = writer.await {
            tracing::error!(execution_id = id, error = %e, "execution log writer failed");
        }
        self.record_end(owner, workflow, id, &report).await
    }

    async fn record_end(
        &self,
        owner: Owner,
        workflow: &Workflow,
        id: &str,
        report: &RunReport,
    ) -> Option<repo::ExecutionRecord> {
        let interrupted = report.outcome == gantry_workflow_engine::Outcome::Cancelled
            && self.runs.shutting_down.load(Ordering::SeqCst);
        let error = match &report.outcome {
            _ if interrupted => Some(crate::INTERRUPTED.to_owned()),
            gantry_workflow_engine::Outcome::Failed { error, step_id, .. } => {
                Some(step_id.as_ref().map_or_else(|| error.clone(), |s| format!("step {s}: {error}")))
            }
            gantry_workflow_engine::Outcome::Timeout => Some("the execution ran out of time".to_owned()),
            _ => None,
        };
        let outputs = serde_json::to_string(&report.outputs).unwrap_or_else(|_| "{}".into());
        let variables = serde_json::to_string(&report.variables).unwrap_or_else(|_| "{}".into());
        let status = if interrupted { repo::status::FAILED } else { report.outcome.status() };
        let end = Finish {
            status,
            error: error.as_deref(),
            outputs: Some(&outputs),
            variables: Some(&variables),
            completed_at: self.clock.now_ms(),
        };
        match repo::finish(&self.db, owner.user_id, id, &end).await {
            Ok(true) => {
                let event = Event::ExecutionFinished {
                    execution_id: id.to_owned(),
                    workflow_id: workflow.id.clone(),
                    user_id: owner.user_id,
                    status: status.to_owned(),
                };
                self.events.publish(self.clock.now_ms(), event);
            }
            Ok(false) => {} // stopped through the API, which recorded the end
            Err(e) => tracing::error!(execution_id = id, error = %e, "cannot record the end of an execution"),
        }
        match repo::get(&self.db, owner.user_id, id).await {
            Ok(record) => record,
            Err(e) => {
                tracing::error!(execution_id = id, error = %e, "cannot read a finished execution");
                None
            }
        }
    }
}

/// Where a run stands, not yet written: replaced in place as the run goes on, so it holds
/// one copy of each step's outputs however fast the run outpaces the database.
#[derive(Default)]
struct Pending {
    /// Index and module id of the current step.
    step: Option<(usize, String, String)>,
    /// Last outputs of each step so far, by step id.
    outputs: BTreeMap<String, Map<String, Value>>,
    dirty: bool,
}

/// Watches a run for its writer: log lines go through a channel (info lines past
/// [`MAX_INFO_LINES`] are dropped here, so the channel stays bounded), progress and
/// outputs into [`Pending`].
struct Recorder {
    tx: mpsc::UnboundedSender<LogEntry>,
    pending: Arc<Mutex<Pending>>,
    info_lines: AtomicUsize,
}

impl Recorder {
    fn pending(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl RunObserver for Recorder {
    fn on_log(&self, entry: LogEntry) {
        if entry.level == LogLevel::Info && entry.step_index.is_some() {
            let n = self.info_lines.fetch_add(1, Ordering::Relaxed) + 1;
            if n == MAX_INFO_LINES + 1 {
                let _ = self.tx.send(omitted(entry.timestamp));
            }
            if n > MAX_INFO_LINES {
                return;
            }
        }
        let _ = self.tx.send(entry);
    }

    fn on_progress(&self, index: usize, step: &Step) {
        let mut pending = self.pending();
        pending.step = Some((index, step.id.clone(), step.module_id.clone()));
        pending.dirty = true;
    }

    fn on_outputs(&self, _index: usize, step: &Step, outputs: &Map<String, Value>) {
        let mut pending = self.pending();
        pending.outputs.insert(step.id.clone(), outputs.clone());
        pending.dirty = true;
    }
}

/// Persists log lines, the current step and outputs while a run goes on, batching writes.
async fn write_progress(
    inner: Arc<Inner>,
    owner: Owner,
    id: String,
    variables: String,
    mut rx: mpsc::UnboundedReceiver<LogEntry>,
    pending: Arc<Mutex<Pending>>,
) {
    let mut logs: Vec<NewLog> = Vec::new();
    let mut tick = tokio::time::interval(FLUSH_EVERY);
    loop {
        tokio::select! {
            entry = rx.recv() => match entry {
                Some(entry) => logs.push(new_log(entry)),
                None => break,
            },
            _ = tick.tick() => flush(&inner, owner, &id, &variables, &mut logs, &pending).await,
        }
    }
    flush(&inner, owner, &id, &variables, &mut logs, &pending).await;
}

async fn flush(
    inner: &Inner,
    owner: Owner,
    id: &str,
    variables: &str,
    logs: &mut Vec<NewLog>,
    pending: &Mutex<Pending>,
) {
    if !logs.is_empty() {
        if let Err(e) = repo::append_logs(&inner.db, owner.user_id, id, logs).await {
            tracing::error!(execution_id = id, error = %e, "cannot store execution logs");
        }
        logs.clear();
    }
    let (step, outputs) = {
        let mut pending = pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if !std::mem::take(&mut pending.dirty) {
            return;
        }
        let typed: BTreeMap<&String, BTreeMap<&String, TypedValue>> = pending
            .outputs
            .iter()
            .map(|(step, out)| (step, out.iter().map(|(k, v)| (k, TypedValue::infer(v.clone()))).collect()))
            .collect();
        (pending.step.clone(), serde_json::to_string(&typed).unwrap_or_else(|_| "{}".into()))
    };
    let (index, step) = match step {
        Some((index, step_id, module_id)) => {
            let name = inner.catalogue.get(&module_id).map(|m| m.metadata.name_en.clone()).unwrap_or_default();
            (index, Some(json!({ "id": step_id, "moduleId": module_id, "name": name }).to_string()))
        }
        None => (0, None),
    };
    if let Err(e) =
        repo::update_progress(&inner.db, owner.user_id, id, index as i64, step.as_deref(), &outputs, variables).await
    {
        tracing::error!(execution_id = id, error = %e, "cannot store execution progress");
    }
}

fn omitted(timestamp: i64) -> LogEntry {
    LogEntry {
        timestamp,
        level: LogLevel::Warning,
        step_index: None,
        module_id: None,
        message: format!("more than {MAX_INFO_LINES} info lines: later ones are not kept"),
        details: Value::Null,
    }
}

fn new_log(entry: LogEntry) -> NewLog {
    let level = match entry.level {
        gantry_workflow_engine::LogLevel::Info => "info",
        gantry_workflow_engine::LogLevel::Warning => "warning",
        gantry_workflow_engine::LogLevel::Error => "error",
    };
    NewLog {
        timestamp: entry.timestamp,
        level: level.into(),
        step_index: entry.step_index.map(|i| i as i64),
        module_id: entry.module_id,
        message: entry.message,
        details: (!entry.details.is_null()).then(|| entry.details.to_string()),
    }
}

/// Values of `inputVariables` as stored: `{name: {type, value}}`.
pub(crate) fn typed_variables(vars: &serde_json::Map<String, Value>) -> String {
    let typed: serde_json::Map<String, Value> = vars
        .iter()
        .map(|(k, v)| {
            let raw = match v {
                Value::Object(m) if m.contains_key("value") => m.get("value").cloned().unwrap_or(Value::Null),
                other => other.clone(),
            };
            (k.clone(), serde_json::to_value(TypedValue::infer(raw)).unwrap_or(Value::Null))
        })
        .collect();
    Value::Object(typed).to_string()
}
