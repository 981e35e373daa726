//! What a running execution logs and reaches, held in memory between writes. The engine
//! reports inline, so each report is a few field updates under an uncontended lock.
//!
//! Step info lines ("Starting/Completed step") are bounded per run: the first
//! [`HEAD_INFO_LINES`] and the last [`TAIL_INFO_LINES`] are kept and the ones between are
//! summarised in one warning; other lines are all kept, in order. Progress is the step
//! running and each step's last outputs, read when they are written.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

use gantry_workflow_engine::{LogEntry, LogLevel, RunObserver, Step};
use serde_json::{Map, Value};

/// Step info lines kept from the start of a run.
pub(crate) const HEAD_INFO_LINES: usize = 200;
/// Step info lines kept from the end of a run.
pub(crate) const TAIL_INFO_LINES: usize = 800;

/// A step's outputs by step index.
pub(super) type Outputs = Vec<Option<Map<String, Value>>>;

/// The observer of one run.
pub(super) struct Journal {
    state: Mutex<State>,
    /// Index + 1 of the step running; 0 before the first.
    current: AtomicUsize,
}

#[derive(Default)]
struct State {
    /// Lines to write, in order.
    ready: Vec<LogEntry>,
    /// The lines after the first [`HEAD_INFO_LINES`] step info lines, in order: at most
    /// [`TAIL_INFO_LINES`] step info lines (older ones are dropped), and the other lines
    /// among them (moved to `ready` as the info lines before them go).
    held: VecDeque<LogEntry>,
    held_info: usize,
    info_lines: usize,
    omitted: usize,
    last_omitted_at: i64,
    outputs: Outputs,
    outputs_changed: bool,
}

fn is_step_info(entry: &LogEntry) -> bool {
    entry.level == LogLevel::Info && entry.step_index.is_some()
}

impl Journal {
    /// A journal for a run of a workflow of `steps` steps.
    pub(super) fn new(steps: usize) -> Self {
        let state = State { outputs: vec![None; steps], ..State::default() };
        Self { state: Mutex::new(state), current: AtomicUsize::new(0) }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The lines ready to write since the last call.
    pub(super) fn take_ready(&self) -> Vec<LogEntry> {
        std::mem::take(&mut self.lock().ready)
    }

    /// The index of the step running, once one has started.
    pub(super) fn current(&self) -> Option<usize> {
        self.current.load(Ordering::Relaxed).checked_sub(1)
    }

    /// Each step's last outputs, if any changed since the last call.
    pub(super) fn changed_outputs(&self) -> Option<Outputs> {
        let mut state = self.lock();
        std::mem::take(&mut state.outputs_changed).then(|| state.outputs.clone())
    }

    /// Every line not yet taken, once the run has ended: the ready ones, the summary of
    /// the step info lines dropped, then the held ones.
    pub(super) fn rest(&self) -> Vec<LogEntry> {
        let mut state = self.lock();
        let mut lines = std::mem::take(&mut state.ready);
        if state.omitted > 0 {
            lines.push(LogEntry {
                timestamp: state.last_omitted_at,
                level: LogLevel::Warning,
                step_index: None,
                module_id: None,
                message: format!(
                    "{} step info lines not kept: a run keeps its first {HEAD_INFO_LINES} and last {TAIL_INFO_LINES}",
                    state.omitted
                ),
                details: Value::Null,
            });
        }
        lines.extend(state.held.drain(..));
        lines
    }
}

impl RunObserver for Journal {
    fn on_log(&self, entry: LogEntry) {
        let mut state = self.lock();
        let info = is_step_info(&entry);
        state.info_lines += usize::from(info);
        if state.info_lines <= HEAD_INFO_LINES {
            state.ready.push(entry);
            return;
        }
        state.held_info += usize::from(info);
        state.held.push_back(entry);
        while state.held_info > TAIL_INFO_LINES {
            let Some(old) = state.held.pop_front() else { break };
            if is_step_info(&old) {
                state.held_info -= 1;
                state.omitted += 1;
                state.last_omitted_at = old.timestamp;
            } else {
                state.ready.push(old);
            }
        }
    }

    fn on_progress(&self, index: usize, _step: &Step) {
        self.current.store(index + 1, Ordering::Relaxed);
    }

    fn on_outputs(&self, index: usize, _step: &Step, outputs: &Map<String, Value>) {
        let mut state = self.lock();
        if let Some(slot) = state.outputs.get_mut(index) {
            *slot = Some(outputs.clone());
            state.outputs_changed = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(level: LogLevel, step: Option<usize>, message: &str) -> LogEntry {
        LogEntry {
            timestamp: 1,
            level,
            step_index: step,
            module_id: None,
            message: message.into(),
            details: Value::Null,
        }
    }

    #[test]
    fn step_info_lines_keep_the_head_and_the_tail_and_every_other_line_in_order() {
        let journal = Journal::new(1);
        let total = HEAD_INFO_LINES + TAIL_INFO_LINES + 50;
        for i in 0..total {
            journal.on_log(line(LogLevel::Info, Some(0), &format!("info {i}")));
            if i % 100 == 0 {
                journal.on_log(line(LogLevel::Warning, Some(0), &format!("warning {i}")));
            }
        }
        journal.on_log(line(LogLevel::Info, None, "done"));
        let mut lines = journal.take_ready();
        lines.extend(journal.rest());
        let messages: Vec<&str> = lines.iter().map(|l| l.message.as_str()).collect();
        let info: Vec<&str> = messages.iter().copied().filter(|m| m.starts_with("info ")).collect();
        assert_eq!(info.len(), HEAD_INFO_LINES + TAIL_INFO_LINES);
        assert_eq!((info[0], info[HEAD_INFO_LINES]), ("info 0", "info 250"));
        assert_eq!(messages.iter().filter(|m| m.starts_with("warning ")).count(), total.div_ceil(100));
        let summary = messages.iter().position(|m| m.starts_with("50 step info lines not kept")).unwrap();
        assert_eq!(messages[summary + 1], "info 250", "the summary stands where the lines were dropped");
        assert_eq!(messages.last(), Some(&"done"));
        let order = |m: &str| m.split(' ').nth(1).and_then(|n| n.parse::<usize>().ok());
        let numbers: Vec<usize> = messages.iter().filter_map(|m| order(m)).collect();
        assert!(numbers.windows(2).all(|w| w[0] <= w[1]), "lines stay in order");
    }

    #[test]
    fn progress_is_the_step_running_and_outputs_once_they_change() {
        let journal = Journal::new(2);
        let step = Step::new("s", "math");
        assert_eq!((journal.current(), journal.changed_outputs()), (None, None));
        journal.on_progress(1, &step);
        let outputs: Map<String, Value> = [("result".to_owned(), Value::from(3))].into_iter().collect();
        journal.on_outputs(1, &step, &outputs);
        assert_eq!((journal.current(), journal.changed_outputs()), (Some(1), Some(vec![None, Some(outputs)])));
        assert_eq!(journal.changed_outputs(), None);
    }
}
