//! The interpreter: a program counter over the compiled plan.

use std::collections::BTreeMap;
use std::future::Future;

use serde_json::{Map, Value};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::plan::{Action, Inputs, Plan, Planned};
use super::{HostCall, LogEntry, LogLevel, RunObserver};
use super::{Outcome, RunReport, RunRequest, WorkflowEngine, actions, files, http};
use crate::FastMap;
use crate::blocks::Link;
use crate::model::{ErrorPolicy, Workflow};
use crate::template::{Scope, now_ms};
use crate::value::{TypedValue, footprint, to_text};

/// Run state that references read from.
struct State {
    outputs: Vec<Option<Map<String, Value>>>,
    vars: FastMap<String, Value>,
    trigger: Value,
    device_info: Value,
    loops: Vec<LoopFrame>,
    value_limit: usize,
}

impl Scope for State {
    fn step_outputs(&self, index: usize) -> Option<&Map<String, Value>> {
        self.outputs.get(index)?.as_ref()
    }
    fn var(&self, name: &str) -> Option<&Value> {
        self.vars.get(name)
    }
    fn trigger(&self) -> &Value {
        &self.trigger
    }
    fn device_info(&self) -> &Value {
        &self.device_info
    }
    fn value_limit(&self) -> usize {
        self.value_limit
    }
}

/// What a run holds (step outputs, variables, trigger data), in [`footprint`] bytes,
/// against the engine's caps.
struct Held {
    outputs: Vec<usize>,
    vars: FastMap<String, usize>,
    total: usize,
    value_limit: usize,
    run_limit: usize,
}

impl Held {
    fn new(state: &State, config: &super::EngineConfig) -> Self {
        let vars: FastMap<String, usize> = state.vars.iter().map(|(k, v)| (k.clone(), footprint(v))).collect();
        let total = vars.values().sum::<usize>() + footprint(&state.trigger);
        Self {
            outputs: vec![0; state.outputs.len()],
            vars,
            total,
            value_limit: config.max_value_bytes,
            run_limit: config.max_run_bytes,
        }
    }

    /// Checks a value about to be kept; its size.
    fn admit(&self, what: &str, value: &Value) -> Result<usize, String> {
        let size = footprint(value);
        if size > self.value_limit {
            return Err(too_large(what, size, self.value_limit));
        }
        Ok(size)
    }

    /// Counts `size` bytes in place of `old`, unless the run would then hold more than
    /// its cap.
    fn replace(&mut self, old: usize, size: usize) -> Result<(), String> {
        let total = self.total - old + size;
        if total > self.run_limit {
            return Err(format!(
                "the run would hold {total} bytes of values, over its cap of {} bytes",
                self.run_limit
            ));
        }
        self.total = total;
        Ok(())
    }

    /// Admits a step's outputs in place of its previous ones.
    fn outputs(&mut self, pc: usize, outputs: &Map<String, Value>) -> Result<(), String> {
        let mut size = 0;
        for (id, v) in outputs {
            size += self.admit(&format!("output `{id}`"), v)?;
        }
        self.replace(self.outputs[pc], size)?;
        self.outputs[pc] = size;
        Ok(())
    }

    /// Admits a variable's new value.
    fn var(&mut self, name: &str, value: &Value) -> Result<(), String> {
        let size = self.admit(&format!("variable `{name}`"), value)?;
        self.replace(self.vars.get(name).copied().unwrap_or(0), size)?;
        self.vars.insert(name.to_owned(), size);
        Ok(())
    }
}

fn too_large(what: &str, size: usize, limit: usize) -> String {
    format!("{what} is {size} bytes, over the cap of {limit} bytes per value")
}

/// Log details larger than this are replaced by their size, so logs never copy big values.
const MAX_LOG_DETAILS_BYTES: usize = 16 * 1024;
/// Log messages are cut to this many bytes (a `log` step can print any value).
const MAX_LOG_MESSAGE_BYTES: usize = 4 * 1024;

/// An active loop.
struct LoopFrame {
    start: usize,
    index: u64,
    total: u64,
    items: Vec<Value>,
}

/// Where control goes after a step.
enum Flow {
    Next,
    Jump(usize),
    End(Outcome),
}

/// Why an awaited step was abandoned.
enum Interrupt {
    Cancelled,
    Timeout,
}

impl From<Interrupt> for Outcome {
    fn from(i: Interrupt) -> Self {
        match i {
            Interrupt::Cancelled => Self::Cancelled,
            Interrupt::Timeout => Self::Timeout,
        }
    }
}

struct Run<'r> {
    engine: &'r WorkflowEngine,
    workflow: &'r Workflow,
    observer: &'r dyn RunObserver,
    cancel: CancellationToken,
    deadline: Option<Instant>,
    step_logs: bool,
    state: State,
    held: Held,
    steps_executed: u64,
}

pub(super) async fn execute(
    engine: &WorkflowEngine,
    workflow: &Workflow,
    request: RunRequest,
    observer: &dyn RunObserver,
) -> RunReport {
    let started_at = now_ms();
    // A budget too large to represent (a user's `u64::MAX` seconds) is no deadline at all.
    let deadline = request.timeout.or_else(|| workflow.time_budget()).and_then(|b| Instant::now().checked_add(b));
    let state = State {
        outputs: vec![None; workflow.steps.len()],
        vars: request.variables.into_iter().collect(),
        trigger: request.trigger_data,
        device_info: engine.host.device_info(),
        loops: Vec::new(),
        value_limit: engine.config.max_value_bytes,
    };
    let held = Held::new(&state, &engine.config);
    let mut run = Run {
        engine,
        workflow,
        observer,
        cancel: request.cancel,
        deadline,
        step_logs: observer.step_logs(),
        state,
        held,
        steps_executed: 0,
    };
    let outcome = match Plan::compile(workflow, &engine.catalogue) {
        Ok(plan) => run.interpret(&plan).await,
        Err(e) => Outcome::Failed {
            error: format!("workflow cannot run: {}", e.message),
            step_index: Some(e.index),
            step_id: workflow.steps.get(e.index).map(|s| s.id.clone()),
        },
    };
    let (level, message) = match &outcome {
        Outcome::Completed => (LogLevel::Info, "Workflow completed".to_owned()),
        Outcome::Failed { error, .. } => (LogLevel::Error, format!("Workflow failed: {error}")),
        Outcome::Cancelled => (LogLevel::Warning, "Workflow cancelled".to_owned()),
        Outcome::Timeout => (LogLevel::Error, "Workflow timed out".to_owned()),
    };
    run.log(level, None, message, Value::Null);
    run.report(outcome, started_at)
}

impl Run<'_> {
    fn log(&self, level: LogLevel, index: Option<usize>, message: String, details: Value) {
        let module_id = index.and_then(|i| self.workflow.steps.get(i)).map(|s| s.module_id.clone());
        let message = shortened(message, MAX_LOG_MESSAGE_BYTES);
        let size = footprint(&details);
        let details = if size > MAX_LOG_DETAILS_BYTES {
            serde_json::json!({ "omitted": format!("{size} bytes of details") })
        } else {
            details
        };
        self.observer.on_log(LogEntry { timestamp: now_ms(), level, step_index: index, module_id, message, details });
    }

    fn report(self, outcome: Outcome, started_at: i64) -> RunReport {
        let mut outputs = BTreeMap::new();
        for (step, out) in self.workflow.steps.iter().zip(self.state.outputs) {
            if let Some(out) = out {
                let typed = out.into_iter().map(|(k, v)| (k, TypedValue::infer(v))).collect();
                outputs.insert(step.id.clone(), typed);
            }
        }
        let variables = self.state.vars.into_iter().map(|(k, v)| (k, TypedValue::infer(v))).collect();
        RunReport {
            outcome,
            outputs,
            variables,
            steps_executed: self.steps_executed,
            started_at,
            completed_at: now_ms(),
        }
    }

    async fn interpret(&mut self, plan: &Plan<'_>) -> Outcome {
        let yield_every = self.engine.config.yield_every.max(1);
        let mut pc = 0;
        while let Some(p) = plan.steps.get(pc) {
            if self.cancel.is_cancelled() {
                return Outcome::Cancelled;
            }
            if self.deadline.is_some_and(|d| Instant::now() >= d) {
                return Outcome::Timeout;
            }
            self.steps_executed += 1;
            if self.steps_executed.is_multiple_of(yield_every) {
                tokio::task::yield_now().await;
            }
            self.observer.on_progress(pc, p.step);
            let flow = if p.action.is_control() { self.control(pc, p) } else { self.action(pc, p).await };
            match flow {
                Flow::Next => pc += 1,
                Flow::Jump(to) => pc = to,
                Flow::End(outcome) => return outcome,
            }
        }
        Outcome::Completed
    }

    /// Awaits `fut` unless the run is cancelled or out of time first.
    async fn guard<F: Future>(&self, fut: F) -> Result<F::Output, Interrupt> {
        let deadline = self.deadline;
        let out_of_time = async move {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            () = self.cancel.cancelled() => Err(Interrupt::Cancelled),
            () = out_of_time => Err(Interrupt::Timeout),
            v = fut => Ok(v),
        }
    }

    /// Keeps a step's outputs, unless they are over a cap.
    fn store(&mut self, pc: usize, outputs: Map<String, Value>) -> Result<(), String> {
        self.held.outputs(pc, &outputs)?;
        self.observer.on_outputs(pc, &self.workflow.steps[pc], &outputs);
        if self.step_logs {
            let module = &self.workflow.steps[pc].module_id;
            self.log(LogLevel::Info, Some(pc), format!("Completed step: {module}"), Value::Object(outputs.clone()));
        }
        self.state.outputs[pc] = Some(outputs);
        Ok(())
    }

    fn fail(&self, pc: usize, error: String) -> Flow {
        self.log(LogLevel::Error, Some(pc), format!("Step failed: {error}"), serde_json::json!({ "error": error }));
        Flow::End(Outcome::Failed { error, step_index: Some(pc), step_id: Some(self.workflow.steps[pc].id.clone()) })
    }

    /// Outputs recorded for a step that failed under SKIP.
    fn skipped(&mut self, pc: usize, p: &Planned<'_>, error: String) {
        self.log(
            LogLevel::Warning,
            Some(pc),
            format!("Step failed, skipped: {error}"),
            serde_json::json!({ "error": error }),
        );
        let mut out: Map<String, Value> =
            p.def.map(|d| d.outputs.iter().map(|o| (o.id.clone(), Value::Null)).collect()).unwrap_or_default();
        out.insert("error".into(), Value::String(error));
        out.insert("success".into(), Value::Bool(false));
        self.observer.on_outputs(pc, &self.workflow.steps[pc], &out);
        self.state.outputs[pc] = Some(out);
    }

    fn start_log(&self, pc: usize, details: Value) {
        if self.step_logs {
            let module = &self.workflow.steps[pc].module_id;
            self.log(LogLevel::Info, Some(pc), format!("Starting step: {module}"), details);
        }
    }

    // ---- control flow ----

    fn control(&mut self, pc: usize, p: &Planned<'_>) -> Flow {
        self.start_log(pc, Value::Null);
        let result = match p.action {
            Action::If => self.if_step(pc, p),
            Action::Else => match p.link {
                Link::Else { end } => Ok(Flow::Jump(end + 1)),
                _ => Err("`else` is not paired".into()),
            },
            Action::Loop | Action::Foreach => self.counted_loop(pc, p),
            Action::While => self.while_loop(pc, p),
            Action::LoopEnd => match p.link {
                Link::LoopEnd { start } => Ok(Flow::Jump(start)),
                _ => Err("loop end is not paired".into()),
            },
            Action::Break => match p.link {
                Link::Exit { start, end } => {
                    self.leave_loop(start);
                    Ok(Flow::Jump(end + 1))
                }
                _ => Err("`break` outside a loop".into()),
            },
            Action::Continue => match p.link {
                Link::Exit { end, .. } => Ok(Flow::Jump(end)),
                _ => Err("`continue` outside a loop".into()),
            },
            Action::Stop => {
                self.log(LogLevel::Info, Some(pc), "Stopped by a stop step".into(), Value::Null);
                Ok(Flow::End(Outcome::Completed))
            }
            _ => Ok(Flow::Next),
        };
        match result {
            Ok(flow) => flow,
            Err(error) if p.policy == ErrorPolicy::Skip => {
                self.skipped(pc, p, error);
                match p.link {
                    Link::If { end, .. } => Flow::Jump(end + 1),
                    Link::LoopStart { end } => {
                        self.leave_loop(pc);
                        Flow::Jump(end + 1)
                    }
                    _ => Flow::Next,
                }
            }
            Err(error) => self.fail(pc, error),
        }
    }

    fn condition(&self, p: &Planned<'_>) -> Result<bool, String> {
        let expr = p.expr.as_ref().ok_or("`condition` is required")?;
        expr.eval_bool(&self.state).map_err(|e| format!("condition `{}`: {e}", expr.source()))
    }

    fn if_step(&mut self, pc: usize, p: &Planned<'_>) -> Result<Flow, String> {
        let Link::If { else_at, end } = p.link else { return Err("`if` is not paired".into()) };
        let result = self.condition(p)?;
        self.store(pc, one("result", Value::Bool(result)))?;
        Ok(if result { Flow::Next } else { Flow::Jump(else_at.map_or(end + 1, |e| e + 1)) })
    }

    /// Pops loop frames up to and including the one started at `start`.
    fn leave_loop(&mut self, start: usize) {
        if let Some(pos) = self.state.loops.iter().rposition(|f| f.start == start) {
            self.state.loops.truncate(pos);
        }
    }

    fn is_reentry(&self, pc: usize) -> bool {
        self.state.loops.last().is_some_and(|f| f.start == pc)
    }

    fn counted_loop(&mut self, pc: usize, p: &Planned<'_>) -> Result<Flow, String> {
        let Link::LoopStart { end } = p.link else { return Err("loop is not paired".into()) };
        let cap = self.engine.config.max_loop_iterations;
        if self.is_reentry(pc) {
            if let Some(f) = self.state.loops.last_mut() {
                f.index += 1;
            }
        } else {
            let inputs = Inputs::resolve(&p.params, &self.state);
            let (total, items) = if p.action == Action::Foreach {
                let items = list_items(inputs.get("items"))?;
                (items.len() as u64, items)
            } else {
                let n = inputs.required_number("count")?;
                if !(n >= 0.0 && n.fract() == 0.0) {
                    return Err(format!("`count` must be a whole number ≥ 0, got {n}"));
                }
                (n as u64, Vec::new())
            };
            drop(inputs);
            if total > cap {
                return Err(format!("{total} iterations exceed the loop cap of {cap}"));
            }
            self.state.loops.push(LoopFrame { start: pc, index: 1, total, items });
        }
        let Some(frame) = self.state.loops.last_mut() else { return Err("loop state lost".into()) };
        if frame.index > frame.total {
            self.state.loops.pop();
            return Ok(Flow::Jump(end + 1));
        }
        let mut out = one("index", Value::from(frame.index));
        if p.action == Action::Foreach {
            let item = frame.items.get((frame.index - 1) as usize).cloned().unwrap_or(Value::Null);
            out.insert("item".into(), item);
        } else {
            out.insert("total".into(), Value::from(frame.total));
        }
        self.store(pc, out)?;
        Ok(Flow::Next)
    }

    fn while_loop(&mut self, pc: usize, p: &Planned<'_>) -> Result<Flow, String> {
        let Link::LoopStart { end } = p.link else { return Err("`while` is not paired".into()) };
        let reentry = self.is_reentry(pc);
        if !self.condition(p)? {
            if reentry {
                self.state.loops.pop();
            }
            return Ok(Flow::Jump(end + 1));
        }
        if !reentry {
            self.state.loops.push(LoopFrame { start: pc, index: 0, total: u64::MAX, items: Vec::new() });
        }
        let Some(frame) = self.state.loops.last_mut() else { return Err("loop state lost".into()) };
        frame.index += 1;
        let index = frame.index;
        let cap = self.engine.config.max_loop_iterations;
        if index > cap {
            return Err(format!("while loop exceeded the iteration cap of {cap}"));
        }
        self.store(pc, one("index", Value::from(index)))?;
        Ok(Flow::Next)
    }

    // ---- action steps ----

    async fn action(&mut self, pc: usize, p: &Planned<'_>) -> Flow {
        if p.action == Action::Unknown {
            let msg = format!("Unknown module `{}` skipped", p.step.module_id);
            self.log(LogLevel::Warning, Some(pc), msg, Value::Null);
            return Flow::Next;
        }
        if self.step_logs {
            let details = Value::Object(Inputs::resolve(&p.params, &self.state).to_map());
            self.start_log(pc, details);
        }
        let mut attempt = 0;
        loop {
            let result = match self.perform(pc, p).await {
                Ok(result) => result,
                Err(interrupt) => return Flow::End(interrupt.into()),
            };
            let result = result.and_then(|mut outputs| {
                if p.policy == ErrorPolicy::Skip {
                    outputs.insert("success".into(), Value::Bool(true));
                }
                self.store(pc, outputs)
            });
            match (result, p.policy) {
                (Ok(()), _) => return Flow::Next,
                (Err(error), ErrorPolicy::Retry { count, interval }) if attempt < count => {
                    attempt += 1;
                    let msg = format!("Step failed, retrying ({attempt}/{count}): {error}");
                    self.log(
                        LogLevel::Warning,
                        Some(pc),
                        msg,
                        serde_json::json!({ "error": error, "attempt": attempt }),
                    );
                    if let Err(interrupt) = self.guard(tokio::time::sleep(interval)).await {
                        return Flow::End(interrupt.into());
                    }
                }
                (Err(error), ErrorPolicy::Skip) => {
                    self.skipped(pc, p, error);
                    return Flow::Next;
                }
                (Err(error), _) => return self.fail(pc, error),
            }
        }
    }

    async fn perform(&mut self, pc: usize, p: &Planned<'_>) -> Result<Result<Map<String, Value>, String>, Interrupt> {
        if p.action == Action::SetVariable {
            return Ok(self.set_variable(p));
        }
        let state = &self.state;
        let inputs = Inputs::resolve(&p.params, state);
        let limit = self.held.value_limit;
        if let Some((id, size)) = inputs.oversized(limit) {
            return Ok(Err(too_large(&format!("input `{id}`"), size, limit)));
        }
        Ok(match p.action {
            Action::Math => actions::math(p.expr.as_ref(), &inputs, state),
            Action::Text => actions::text(&inputs, limit),
            Action::Regex => actions::regex(p.regex.as_ref(), &inputs, limit),
            Action::JsonParse => actions::json_parse(&inputs),
            Action::JsonPath => actions::json_path(&inputs),
            Action::Random => actions::random(&inputs),
            Action::DateTime => actions::datetime(&inputs),
            Action::Trigger => Ok(self.trigger_outputs(p)),
            Action::Log => Ok(self.log_step(pc, &inputs)),
            Action::Delay => {
                let ms = match inputs.number("duration") {
                    Ok(ms) => ms.unwrap_or(1000.0).clamp(0.0, 86_400_000.0),
                    Err(e) => return Ok(Err(e)),
                };
                let started = Instant::now();
                self.guard(tokio::time::sleep(std::time::Duration::from_millis(ms as u64))).await?;
                Ok(one("actualDuration", Value::from(started.elapsed().as_millis() as u64)))
            }
            Action::Http => {
                let policy = self.engine.host.http_policy();
                self.guard(http::http_request(&self.engine.http, policy, &inputs)).await?
            }
            Action::FileRead | Action::FileWrite | Action::FileList => {
                let Some(sandbox) = self.engine.host.sandbox() else {
                    return Ok(Err("file modules are disabled on this host (no sandbox directory)".into()));
                };
                match p.action {
                    Action::FileRead => self.guard(files::read(sandbox.as_ref(), &inputs)).await?,
                    Action::FileWrite => self.guard(files::write(sandbox.as_ref(), &inputs)).await?,
                    _ => self.guard(files::list(sandbox.as_ref(), &inputs)).await?,
                }
            }
            Action::Host => {
                let map = inputs.to_map();
                let call = HostCall {
                    module_id: &p.step.module_id,
                    inputs: &map,
                    workflow_id: &self.workflow.id,
                    step_id: &p.step.id,
                    step_index: pc,
                    cancel: &self.cancel,
                };
                self.guard(self.engine.host.call(call)).await?
            }
            _ => Ok(Map::new()),
        })
    }

    fn set_variable(&mut self, p: &Planned<'_>) -> Result<Map<String, Value>, String> {
        let inputs = Inputs::resolve(&p.params, &self.state);
        let name = inputs.required_text("name")?.trim().to_owned();
        let value = inputs.get("value").cloned().unwrap_or(Value::Null);
        drop(inputs);
        self.held.var(&name, &value)?;
        self.state.vars.insert(name, value.clone());
        Ok(one("value", value))
    }

    fn trigger_outputs(&self, p: &Planned<'_>) -> Map<String, Value> {
        let data = &self.state.trigger;
        let Some(def) = p.def else { return Map::new() };
        def.outputs
            .iter()
            .map(|o| {
                let v = if o.id == "data" { data.clone() } else { data.get(&o.id).cloned().unwrap_or(Value::Null) };
                (o.id.clone(), v)
            })
            .collect()
    }

    fn log_step(&self, pc: usize, inputs: &Inputs<'_>) -> Map<String, Value> {
        let message = inputs.text("message").into_owned();
        let level = match inputs.text("level").to_ascii_lowercase().as_str() {
            "warning" | "warn" => LogLevel::Warning,
            "error" => LogLevel::Error,
            _ => LogLevel::Info,
        };
        self.log(level, Some(pc), message.clone(), Value::Null);
        one("message", Value::String(message))
    }
}

/// `text` cut to at most `max` bytes on a character boundary, marked with `…` when cut.
fn shortened(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

fn one(key: &str, value: Value) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert(key.to_owned(), value);
    m
}

/// `foreach` items: a list, a dictionary (as `{key, value}` entries) or a JSON-array string.
fn list_items(value: Option<&Value>) -> Result<Vec<Value>, String> {
    match value {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => Ok(items.clone()),
        Some(Value::Object(map)) => Ok(map.iter().map(|(k, v)| serde_json::json!({ "key": k, "value": v })).collect()),
        Some(Value::String(s)) => {
            serde_json::from_str::<Vec<Value>>(s).map_err(|_| format!("`items` is not a list: `{s}`"))
        }
        Some(other) => Err(format!("`items` is not a list: `{}`", to_text(other))),
    }
}
