//! The workflow-engine benchmark (`gantry-workflow-engine`), in-process, no I/O, then the
//! same workflows through a release gantry.
//!
//! 1. **Straight line**: a workflow of `--steps` logic and data steps (set_variable, math,
//!    if/else/endif, text) run start to finish; steps/s, with and without per-step logs.
//! 2. **Loop**: a `loop` of `--iterations` passes over a small body; iterations/s, with and
//!    without per-step logs.
//! 3. **Start latency**: time from calling `WorkflowEngine::run` to the first step starting,
//!    over `--latency-runs` runs of a small workflow; p50/p99.
//! 4. **Through the server**: the loop and the straight line run synchronously through the
//!    vflow API (`POST /api/v1/workflows/{id}/execute` `{"async": false}`); the execution's
//!    own duration (`completedAt - startedAt`) and the request's wall time, against the
//!    engine's time without step logs (target: the server within 3×).
//!
//! Each in-process run happens on one task, so one core does the work.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::bail;
use gantry_workflow_engine::{
    Catalogue, DefaultHost, LogEntry, NoopObserver, Outcome, RunObserver, RunRequest, Step, Workflow, WorkflowEngine,
};

use crate::engine_server;
use crate::stats::{percentile, summary_ms};

#[derive(clap::Args)]
pub struct Args {
    /// Steps in the straight-line workflow.
    #[arg(long, default_value_t = 10_000)]
    steps: usize,
    /// Passes of the loop workflow.
    #[arg(long, default_value_t = 1_000)]
    iterations: usize,
    /// Runs measured for start latency.
    #[arg(long, default_value_t = 1_000)]
    latency_runs: usize,
    /// Repetitions of the throughput runs (the median is reported).
    #[arg(long, default_value_t = 7)]
    repeat: usize,
    /// In-process only: skip the runs through a gantry server.
    #[arg(long)]
    no_server: bool,
}

/// Counts log entries and asks for per-step logs, as a host storing logs would.
#[derive(Default)]
struct Counting(Mutex<usize>);

impl RunObserver for Counting {
    fn on_log(&self, _entry: LogEntry) {
        if let Ok(mut n) = self.0.lock() {
            *n += 1;
        }
    }
}

/// Records when the first step starts.
#[derive(Default)]
struct FirstStep(Mutex<Option<Instant>>);

impl RunObserver for FirstStep {
    fn on_progress(&self, _index: usize, _step: &Step) {
        if let Ok(mut first) = self.0.lock() {
            first.get_or_insert_with(Instant::now);
        }
    }

    fn step_logs(&self) -> bool {
        false
    }
}

fn set(id: String, name: &str, value: &str, indent: u32) -> Step {
    Step::new(id, "set_variable").with("name", name).with("value", value).indent(indent)
}

/// 10 steps per block: math, set, if, math, set, else, text, set, endif, set.
fn straight_line(steps: usize) -> Workflow {
    let mut out = vec![Step::new("init", "set_variable").with("name", "n").with("value", 0)];
    let mut k = 0;
    while out.len() + 10 <= steps {
        let m = format!("m{k}");
        let t = format!("t{k}");
        let h = format!("h{k}");
        out.push(Step::new(m.clone(), "math").with("expression", "{{n}} + 1"));
        out.push(set(format!("s{k}"), "n", &format!("{{{{{m}.result}}}}"), 0));
        out.push(Step::new(format!("if{k}"), "if_condition").with("condition", "{{n}} % 2 == 0 && {{n}} >= 0"));
        out.push(Step::new(h.clone(), "math").with("operator", "multiply").with("a", "{{n}}").with("b", 2).indent(1));
        out.push(set(format!("e{k}"), "half", &format!("{{{{{h}.result}}}}"), 1));
        out.push(Step::new(format!("else{k}"), "else"));
        out.push(Step::new(t.clone(), "text").with("operation", "upper").with("text", "odd {{n}}").indent(1));
        out.push(set(format!("o{k}"), "odd", &format!("{{{{{t}.result}}}}"), 1));
        out.push(Step::new(format!("endif{k}"), "endif"));
        out.push(set(format!("x{k}"), "last", "step {{n}}", 0));
        k += 1;
    }
    while out.len() < steps {
        out.push(set(format!("pad{}", out.len()), "pad", "{{n}}", 0));
    }
    Workflow { id: "bench-straight".into(), steps: out, ..Workflow::default() }
}

/// loop { math, set, if { set } endif } endloop.
fn looping(iterations: usize) -> Workflow {
    let steps = vec![
        Step::new("init", "set_variable").with("name", "sum").with("value", 0),
        Step::new("loop", "loop").with("count", iterations),
        Step::new("add", "math").with("expression", "{{sum}} + {{loop.index}}").indent(1),
        set("store".into(), "sum", "{{add.result}}", 1),
        Step::new("check", "if_condition").with("condition", "{{loop.index}} == {{loop.total}}").indent(1),
        Step::new("done", "set_variable").with("name", "done").with("value", true).indent(2),
        Step::new("check-end", "endif").indent(1),
        Step::new("loop-end", "endloop"),
    ];
    Workflow { id: "bench-loop".into(), steps, ..Workflow::default() }
}

fn small() -> Workflow {
    let mut w = straight_line(10);
    w.id = "bench-small".into();
    w
}

fn median(values: &mut [f64]) -> f64 {
    percentile(values, 50.0)
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let catalogue = Arc::new(Catalogue::builtin());
    let engine = WorkflowEngine::new(catalogue.clone(), Arc::new(DefaultHost));

    for w in [straight_line(args.steps), looping(args.iterations), small()] {
        if let Err(issues) = gantry_workflow_engine::validate(&w, &catalogue) {
            bail!("benchmark workflow {} is invalid: {:?}", w.id, issues.first());
        }
    }

    let straight = straight_line(args.steps);
    let t = Instant::now();
    let _ = gantry_workflow_engine::validate(&straight, &catalogue);
    println!("validate {} steps: {:.2} ms", straight.steps.len(), t.elapsed().as_secs_f64() * 1e3);

    // Each shape's time without and with step logs: the baselines of the server runs.
    let mut engine_ms = Vec::new();
    for (label, logs) in [("no step logs", false), ("step logs", true)] {
        let (ms, executed) = timed(&engine, &straight, logs, args.repeat).await?;
        let rate = executed as f64 / (ms / 1e3);
        println!("straight line ({label}): {executed} steps executed, median {ms:.2} ms, {rate:.0} steps/s");
        engine_ms.push(ms);
    }
    let lp = looping(args.iterations);
    for (label, logs) in [("no step logs", false), ("step logs", true)] {
        let (ms, executed) = timed(&engine, &lp, logs, args.repeat).await?;
        let (per_s, steps_per_s) = (args.iterations as f64 / (ms / 1e3), executed as f64 / (ms / 1e3));
        println!(
            "loop of {} iterations ({label}): median {ms:.2} ms, {per_s:.0} iterations/s ({steps_per_s:.0} steps/s)",
            args.iterations
        );
        engine_ms.push(ms);
    }

    let wf = small();
    let mut latencies = Vec::with_capacity(args.latency_runs);
    for _ in 0..args.latency_runs {
        let observer = FirstStep::default();
        let t = Instant::now();
        let report = engine.run(&wf, RunRequest::default(), &observer).await;
        if report.outcome != Outcome::Completed {
            bail!("small run ended {:?}", report.outcome);
        }
        let first = observer.0.lock().ok().and_then(|g| *g);
        if let Some(first) = first {
            latencies.push(first.duration_since(t).as_secs_f64() * 1e3);
        }
    }
    let p50 = percentile(&mut latencies, 50.0) * 1e3;
    let p99 = percentile(&mut latencies, 99.0) * 1e3;
    println!(
        "execute to first step ({}-step workflow): p50 {p50:.1} µs, p99 {p99:.1} µs ({})",
        wf.steps.len(),
        summary_ms(&mut latencies)
    );

    if args.no_server {
        return Ok(());
    }
    let served = engine_server::run(&[&straight, &lp], args.repeat).await?;
    let shapes = [format!("straight line of {} steps", args.steps), format!("loop of {} iterations", args.iterations)];
    for ((shape, engine), served) in shapes.iter().zip(engine_ms.chunks(2)).zip(served) {
        let (bare, logged) = (engine[0], engine[1]);
        println!(
            "{shape} through the server: run {:.1} ms (completedAt - startedAt), request {:.1} ms; \
             engine {bare:.2} ms without step logs ({logged:.2} ms with): ratio {:.1}× run, {:.1}× request \
             (target ≤ 3×)",
            served.run_ms,
            served.request_ms,
            served.run_ms / bare,
            served.request_ms / bare
        );
    }
    Ok(())
}

/// Median time (ms) of `repeat` runs of `w` after an unmeasured one, and the steps a run
/// executed.
async fn timed(engine: &WorkflowEngine, w: &Workflow, logs: bool, repeat: usize) -> anyhow::Result<(f64, u64)> {
    let mut ms = Vec::new();
    let mut executed = 0;
    for round in 0..=repeat.max(1) {
        let counting = Counting::default();
        let observer: &dyn RunObserver = if logs { &counting } else { &NoopObserver };
        let t = Instant::now();
        let report = engine.run(w, RunRequest::default(), observer).await;
        if round > 0 {
            ms.push(t.elapsed().as_secs_f64() * 1e3);
        }
        if report.outcome != Outcome::Completed {
            bail!("{} ended {:?}", w.id, report.outcome);
        }
        executed = report.steps_executed;
    }
    Ok((median(&mut ms), executed))
}
