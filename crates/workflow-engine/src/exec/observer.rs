//! Run observation: log entries and progress.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

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
