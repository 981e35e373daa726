//! Run observation: log entries and progress.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::sync::mpsc::UnboundedSender;

use crate::model::Step;

/// Log severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Normal progress.
    Info,
    /// Something was skipped or retried.
    Warning,
    /// A step failed.
    Error,
}

/// One execution-log entry, in the API's shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogEntry {
    /// ms since the epoch.
    pub timestamp: i64,
    /// Severity.
    pub level: LogLevel,
    /// The step concerned; `None` for run-level entries.
    pub step_index: Option<usize>,
    /// Its module.
    pub module_id: Option<String>,
    /// Text.
    pub message: String,
    /// Structured details (inputs, outputs, error…), or `null`.
    pub details: Value,
}

/// Receives what happens during a run. Called inline on the run's task: keep it cheap.
pub trait RunObserver: Send + Sync {
    /// A log entry.
    fn on_log(&self, _entry: LogEntry) {}

    /// Step `index` is about to run.
    fn on_progress(&self, _index: usize, _step: &Step) {}

    /// Step `index` produced `outputs` (what `{{<step>.<output>}}` now reads).
    fn on_outputs(&self, _index: usize, _step: &Step, _outputs: &Map<String, Value>) {}

    /// Whether to produce the per-step "Starting/Completed step" entries (with resolved
    /// inputs and outputs as details). Read once per run.
    fn step_logs(&self) -> bool {
        true
    }
}

/// Ignores everything and asks for no per-step logs.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoopObserver;

impl RunObserver for NoopObserver {
    fn step_logs(&self) -> bool {
        false
    }
}

/// An event forwarded by [`ChannelObserver`].
#[derive(Debug, Clone, PartialEq)]
pub enum RunEvent {
    /// A log entry.
    Log(LogEntry),
    /// A step is about to run.
    Progress {
        /// Step index.
        index: usize,
        /// Step id.
        step_id: String,
        /// Module id.
        module_id: String,
    },
    /// A step produced outputs.
    Outputs {
        /// Step index.
        index: usize,
        /// Step id.
        step_id: String,
        /// Output id → value.
        outputs: Map<String, Value>,
    },
}

/// Forwards events to an unbounded channel (a dropped receiver is ignored).
#[derive(Debug, Clone)]
pub struct ChannelObserver {
    tx: UnboundedSender<RunEvent>,
    step_logs: bool,
}

impl ChannelObserver {
    /// Forwards to `tx`, with per-step logs.
    pub fn new(tx: UnboundedSender<RunEvent>) -> Self {
        Self { tx, step_logs: true }
    }

    /// Turns per-step logs on or off.
    pub fn with_step_logs(mut self, on: bool) -> Self {
        self.step_logs = on;
        self
    }
}

impl RunObserver for ChannelObserver {
    fn on_log(&self, entry: LogEntry) {
        let _ = self.tx.send(RunEvent::Log(entry));
    }

    fn on_progress(&self, index: usize, step: &Step) {
        let _ = self.tx.send(RunEvent::Progress { index, step_id: step.id.clone(), module_id: step.module_id.clone() });
    }

    fn on_outputs(&self, index: usize, step: &Step, outputs: &Map<String, Value>) {
        let _ = self.tx.send(RunEvent::Outputs { index, step_id: step.id.clone(), outputs: outputs.clone() });
    }

    fn step_logs(&self) -> bool {
        self.step_logs
    }
}
