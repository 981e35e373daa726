//! Running executions: the registry (cancellation, per-workflow limit) and the task that
//! runs one workflow, persisting progress, logs and the result.
//!
//! A run reports to its [`Journal`] in memory; a writer stores what the journal holds
//! every [`FLUSH_EVERY`], and once the run has ended the rest of its (bounded) log is
//! written before its end is recorded.

mod journal;

use std::collections::{BTreeMap, HashMap};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::repo::executions::{self as repo, Finish, NewLog};
use futures_util::FutureExt as _;
use gantry_core::events::Event;
use gantry_workflow_engine::{LogEntry, LogLevel, Outcome, RunReport, RunRequest, TypedValue, Workflow};
use journal::Journal;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use crate::host::OwnerHost;
use crate::{AutomationError, AutomationResult, Inner, Owner};

/// Log lines and progress written at most this often while a run goes on.
const FLUSH_EVERY: Duration = Duration::from_millis(200);

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
        let workflow = Arc::new(workflow);
        self.supervisor.clone().spawn(async move {
            // A panic inside a run (a bug) fails that execution and frees its slot; the
            // server and every other run go on.
            let run = AssertUnwindSafe(inner.run_to_end(owner, workflow.clone(), &id, request, variables));
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
        self.record_end(owner, workflow, id, &report, now).await
    }

    async fn run_to_end(
        self: &Arc<Self>,
        owner: Owner,
        workflow: Arc<Workflow>,
        id: &str,
        request: RunRequest,
        variables: String,
    ) -> Option<repo::ExecutionRecord> {
        let journal = Arc::new(Journal::new(workflow.steps.len()));
        let ended = CancellationToken::new();
        let writer = Writer { inner: self.clone(), owner, id: id.to_owned(), journal: journal.clone() };
        let writer = self.supervisor.spawn(writer.while_running(workflow.clone(), variables, ended.clone()));
        let engine = self.engine.with_host(Arc::new(OwnerHost::new(self.clone(), owner)));
        let report = engine.run(&workflow, request, &*journal).await;
        let completed_at = self.clock.now_ms();
        ended.cancel();
        if let Err(e) = writer.await {
            tracing::error!(execution_id = id, error = %e, "execution log writer failed");
        }
        // Whoever sees the execution ended sees all of its log. Its final progress is the
        // report, stored with the end.
        append(self, owner, id, journal.rest()).await;
        self.record_end(owner, &workflow, id, &report, completed_at).await
    }

    /// Records how a run ended, `completed_at` being when it did.
    async fn record_end(
        &self,
        owner: Owner,
        workflow: &Workflow,
        id: &str,
        report: &RunReport,
        completed_at: i64,
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
            completed_at,
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

/// Stores what a run's journal holds while the run goes on.
struct Writer {
    inner: Arc<Inner>,
    owner: Owner,
    id: String,
    journal: Arc<Journal>,
}

impl Writer {
    /// Every [`FLUSH_EVERY`] until `ended`: the lines ready, then the step running and the
    /// outputs so far when they changed.
    async fn while_running(self, workflow: Arc<Workflow>, variables: String, ended: CancellationToken) {
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + FLUSH_EVERY, FLUSH_EVERY);
        let (mut written_step, mut outputs) = (None, "{}".to_owned());
        loop {
            tokio::select! {
                () = ended.cancelled() => return,
                _ = tick.tick() => {}
            }
            append(&self.inner, self.owner, &self.id, self.journal.take_ready()).await;
            let current = self.journal.current();
            let changed = self.journal.changed_outputs();
            if current == written_step && changed.is_none() {
                continue;
            }
            if let Some(changed) = changed {
                outputs = outputs_json(&workflow, changed);
            }
            let step = current.and_then(|i| workflow.steps.get(i)).map(|step| {
                let name = self.inner.catalogue.get(&step.module_id).map(|m| m.metadata.name_en.clone());
                json!({ "id": step.id, "moduleId": step.module_id, "name": name.unwrap_or_default() }).to_string()
            });
            let (db, index) = (&self.inner.db, current.unwrap_or(0) as i64);
            match repo::update_progress(db, self.owner.user_id, &self.id, index, step.as_deref(), &outputs, &variables)
                .await
            {
                Ok(_) => written_step = current,
                Err(e) => tracing::error!(execution_id = self.id, error = %e, "cannot store execution progress"),
            }
        }
    }
}

/// Each step's last outputs as stored: `{stepId: {output: {type, value}}}`.
fn outputs_json(workflow: &Workflow, outputs: journal::Outputs) -> String {
    let typed: BTreeMap<&str, BTreeMap<String, TypedValue>> = workflow
        .steps
        .iter()
        .zip(outputs)
        .filter_map(|(step, out)| {
            Some((step.id.as_str(), out?.into_iter().map(|(k, v)| (k, TypedValue::infer(v))).collect()))
        })
        .collect();
    serde_json::to_string(&typed).unwrap_or_else(|_| "{}".into())
}

/// Appends `lines` to an execution's log.
async fn append(inner: &Inner, owner: Owner, id: &str, lines: Vec<LogEntry>) {
    if lines.is_empty() {
        return;
    }
    let lines: Vec<NewLog> = lines.into_iter().map(new_log).collect();
    if let Err(e) = repo::append_logs(&inner.db, owner.user_id, id, &lines).await {
        tracing::error!(execution_id = id, error = %e, "cannot store execution logs");
    }
}

fn new_log(entry: LogEntry) -> NewLog {
    let level = match entry.level {
        LogLevel::Info => "info",
        LogLevel::Warning => "warning",
        LogLevel::Error => "error",
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
