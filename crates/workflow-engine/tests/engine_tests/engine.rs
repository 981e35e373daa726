//! Executor runs: control flow, error policies, cancellation, timeouts, caps, host modules.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gantry_workflow_engine::model::{ERROR_POLICY_PARAM, RETRY_COUNT_PARAM, RETRY_INTERVAL_PARAM};
use gantry_workflow_engine::{
    BoxFuture, Catalogue, EngineConfig, Host, HostCall, LogEntry, LogLevel, NoopObserver, Outcome, RunObserver,
    RunReport, RunRequest, Step, Workflow, WorkflowEngine, validate,
};
use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;

#[derive(Default)]
struct TestHost {
    calls: AtomicU32,
    fail_first: u32,
}

impl Host for TestHost {
    fn call<'a>(&'a self, call: HostCall<'a>) -> BoxFuture<'a, Result<Map<String, Value>, String>> {
        Box::pin(async move {
            let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
            if n <= self.fail_first {
                return Err(format!("attempt {n} failed"));
            }
            let mut out = Map::new();
            out.insert("count".into(), json!(2));
            out.insert("echo".into(), Value::Object(call.inputs.clone()));
            out.insert("step".into(), json!(call.step_id));
            Ok(out)
        })
    }

    fn device_info(&self) -> Value {
        json!({"name": "test-host"})
    }
}

#[derive(Default)]
struct Recorder {
    logs: Mutex<Vec<LogEntry>>,
    progress: Mutex<Vec<usize>>,
}

impl RunObserver for Recorder {
    fn on_log(&self, entry: LogEntry) {
        self.logs.lock().unwrap().push(entry);
    }
    fn on_progress(&self, index: usize, _step: &Step) {
        self.progress.lock().unwrap().push(index);
    }
}

fn engine_with(host: TestHost, config: EngineConfig) -> WorkflowEngine {
    WorkflowEngine::new(Arc::new(Catalogue::builtin()), Arc::new(host)).with_config(config)
}

fn engine() -> WorkflowEngine {
    engine_with(TestHost::default(), EngineConfig::default())
}

fn wf(steps: Vec<Step>) -> Workflow {
    Workflow { id: "wf".into(), steps, ..Workflow::default() }
}

fn s(id: &str, module: &str) -> Step {
    Step::new(id, module)
}

fn set(id: &str, name: &str, value: impl Into<Value>) -> Step {
    s(id, "set_variable").with("name", name).with("value", value)
}

async fn run(engine: &WorkflowEngine, workflow: &Workflow) -> RunReport {
    engine.run(workflow, RunRequest::default(), &NoopObserver).await
}

fn var(report: &RunReport, name: &str) -> Value {
    report.variables.get(name).map(|t| t.value.clone()).unwrap_or(Value::Null)
}

#[tokio::test]
async fn nested_if_else_in_loop_in_foreach_with_break_and_continue() {
    let acc =
        |id: &str, suffix: &str| set(id, "acc", format!("{{{{acc}}}}{{{{each.item}}}}.{{{{times.index}}}}{suffix} "));
    let workflow = wf(vec![
        s("t", "trigger_manual"),
        set("init", "acc", ""),
        s("each", "foreach").with("items", "{{trigger.data.items}}"),
        s("skip3", "if_condition").with("condition", "{{each.item}} == 3").indent(1),
        s("cont", "continue").indent(2),
        s("skip3-end", "endif").indent(1),
        s("times", "loop").with("count", 3).indent(1),
        s("second", "if_condition").with("condition", "{{times.index}} == 2").indent(2),
        acc("a2", "b").indent(3),
        s("brk", "break").indent(3),
        s("else", "else").indent(2),
        acc("a1", "").indent(3),
        s("second-end", "endif").indent(2),
        s("times-end", "endloop").indent(1),
        s("each-end", "endforeach"),
        set("done", "done", true),
    ]);
    assert_eq!(validate(&workflow, &Catalogue::builtin()), Ok(()));
    let req = RunRequest::default().trigger(json!({"items": [1, 2, 3, 4]}));
    let report = engine().run(&workflow, req, &NoopObserver).await;
    assert_eq!(report.outcome, Outcome::Completed);
    assert_eq!(var(&report, "acc"), json!("1.1 1.2b 2.1 2.2b 4.1 4.2b "));
    assert_eq!(var(&report, "done"), json!(true));
    assert_eq!(report.outputs["each"]["index"].value, json!(4));
    assert_eq!(report.outputs["t"]["data"].value, json!({"items": [1, 2, 3, 4]}));
    assert_eq!(report.outputs["second"]["result"].ty, "boolean");
}

#[tokio::test]
async fn while_with_a_counter_keeps_numbers_typed() {
    let workflow = wf(vec![
        set("init", "n", 0),
        s("w", "while").with("condition", "{{n}} < 5"),
        s("inc", "math").with("expression", "{{n}} + 1").indent(1),
        set("store", "n", "{{inc.result}}").indent(1),
        s("w-end", "endwhile"),
        s("say", "log").with("message", "n={{n}}"),
    ]);
    assert_eq!(validate(&workflow, &Catalogue::builtin()).map_err(|e| e[0].message.clone()), Ok(()));
    let report = run(&engine(), &workflow).await;
    assert_eq!(report.outcome, Outcome::Completed);
    assert_eq!(var(&report, "n"), json!(5));
    assert_eq!(report.variables["n"].ty, "number");
    assert_eq!(report.outputs["say"]["message"].value, json!("n=5"));
    assert_eq!(report.outputs["w"]["index"].value, json!(5));
    // init, 6 condition checks, 5 × (math, set, endwhile), log
    assert_eq!(report.steps_executed, 1 + 6 + 5 * 3 + 1);
}

#[tokio::test]
async fn stop_ends_the_run_as_completed() {
    let report = run(&engine(), &wf(vec![set("a", "x", 1), s("stop", "stop"), set("b", "x", 2)])).await;
    assert_eq!(report.outcome, Outcome::Completed);
    assert_eq!(var(&report, "x"), json!(1));
    assert!(!report.outputs.contains_key("b"));
}

#[tokio::test]
async fn error_policy_stop_fails_the_run() {
    let report = run(&engine(), &wf(vec![s("bad", "json_parse").with("text", "{"), set("after", "x", 1)])).await;
    match &report.outcome {
        Outcome::Failed { step_index, step_id, error } => {
            assert_eq!((*step_index, step_id.as_deref()), (Some(0), Some("bad")));
            assert!(error.contains("invalid JSON"), "{error}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(var(&report, "x"), Value::Null);
}

#[tokio::test]
async fn error_policy_skip_records_the_error_and_goes_on() {
    let workflow = wf(vec![
        s("bad", "json_parse").with("text", "{").with(ERROR_POLICY_PARAM, "SKIP"),
        s("good", "json_parse").with("text", "[1]").with(ERROR_POLICY_PARAM, "SKIP"),
        set("after", "ok", "{{bad.success}}/{{good.success}}"),
    ]);
    assert_eq!(validate(&workflow, &Catalogue::builtin()), Ok(()));
    let report = run(&engine(), &workflow).await;
    assert_eq!(report.outcome, Outcome::Completed);
    assert_eq!(report.outputs["bad"]["success"].value, json!(false));
    assert_eq!(report.outputs["bad"]["result"].value, Value::Null);
    assert!(report.outputs["bad"]["error"].value.as_str().unwrap().contains("invalid JSON"));
    assert_eq!(var(&report, "ok"), json!("false/true"));
}

#[tokio::test]
async fn error_policy_retry_retries_then_succeeds_or_gives_up() {
    let retrying = |count: u32| {
        wf(vec![
            s("call", "gantry_task_status")
                .with("taskId", "t1")
                .with(ERROR_POLICY_PARAM, "RETRY")
                .with(RETRY_COUNT_PARAM, count)
                .with(RETRY_INTERVAL_PARAM, 1),
        ])
    };
    let host = Arc::new(TestHost { fail_first: 2, ..TestHost::default() });
    let e = WorkflowEngine::new(Arc::new(Catalogue::builtin()), host.clone());
    let recorder = Recorder::default();
    let report = e.run(&retrying(3), RunRequest::default(), &recorder).await;
    assert_eq!(report.outcome, Outcome::Completed);
    assert_eq!(host.calls.load(Ordering::SeqCst), 3);
    assert_eq!(report.outputs["call"]["echo"].value, json!({"taskId": "t1"}));
    let warnings = recorder.logs.lock().unwrap().iter().filter(|l| l.level == LogLevel::Warning).count();
    assert_eq!(warnings, 2);

    let host = Arc::new(TestHost { fail_first: 10, ..TestHost::default() });
    let e = WorkflowEngine::new(Arc::new(Catalogue::builtin()), host.clone());
    let report = run(&e, &retrying(2)).await;
    assert!(matches!(report.outcome, Outcome::Failed { ref error, .. } if error == "attempt 3 failed"));
    assert_eq!(host.calls.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn cancellation_interrupts_a_delay() {
    let token = CancellationToken::new();
    let canceller = token.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(30)).await;
        canceller.cancel();
    });
    let started = Instant::now();
    let workflow = wf(vec![s("wait", "delay").with("duration", 10_000)]);
    let report = engine().run(&workflow, RunRequest::default().cancel(token), &NoopObserver).await;
    assert_eq!(report.outcome, Outcome::Cancelled);
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn timeout_interrupts_a_delay_and_a_busy_loop() {
    let e = engine_with(TestHost::default(), EngineConfig { max_loop_iterations: u64::MAX, ..EngineConfig::default() });
    let short = RunRequest::default().timeout(Duration::from_millis(50));
    let report = e.run(&wf(vec![s("wait", "delay").with("duration", 10_000)]), short.clone(), &NoopObserver).await;
    assert_eq!(report.outcome, Outcome::Timeout);
    let spin = wf(vec![s("w", "while").with("condition", "true"), s("w-end", "endwhile")]);
    let report = e.run(&spin, short, &NoopObserver).await;
    assert_eq!(report.outcome, Outcome::Timeout);
    assert!(report.steps_executed > 100);
}

#[tokio::test]
async fn workflow_max_execution_time_applies() {
    let mut workflow = wf(vec![s("wait", "delay").with("duration", 5_000)]);
    workflow.max_execution_time = Some(1);
    let started = Instant::now();
    assert_eq!(run(&engine(), &workflow).await.outcome, Outcome::Timeout);
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn loops_are_capped() {
    let e = engine_with(TestHost::default(), EngineConfig { max_loop_iterations: 1000, ..EngineConfig::default() });
    let spin = wf(vec![s("w", "while").with("condition", "1 == 1"), s("w-end", "endwhile")]);
    let report = run(&e, &spin).await;
    assert!(matches!(report.outcome, Outcome::Failed { ref error, .. } if error.contains("iteration cap")));
    assert_eq!(report.steps_executed, 2001);
    let big = wf(vec![s("l", "loop").with("count", 5000), s("l-end", "endloop")]);
    assert!(matches!(run(&e, &big).await.outcome, Outcome::Failed { step_index: Some(0), .. }));
    let zero = wf(vec![s("l", "loop").with("count", 0), set("in", "x", 1).indent(1), s("l-end", "endloop")]);
    let report = run(&e, &zero).await;
    assert_eq!((&report.outcome, var(&report, "x")), (&Outcome::Completed, Value::Null));
}

/// The attack from the hardening report: a value that doubles 26 times (1 KiB → 64 GiB).
fn doubling(times: u32) -> Workflow {
    wf(vec![
        set("init", "s", "x".repeat(1024)),
        s("l", "loop").with("count", times),
        s("t", "text").with("operation", "concat").with("text", "{{s}}").with("other", "{{s}}").indent(1),
        set("grow", "s", "{{t.result}}").indent(1),
        s("l-end", "endloop"),
    ])
}

fn failure(report: &RunReport) -> (&str, Option<usize>) {
    match &report.outcome {
        Outcome::Failed { error, step_index, .. } => (error.as_str(), *step_index),
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[tokio::test]
async fn a_value_that_keeps_doubling_fails_at_the_value_cap() {
    let report = run(&engine(), &doubling(26)).await;
    let (error, step) = failure(&report);
    assert_eq!(step, Some(2), "{error}");
    assert!(error.contains("over the cap of 1048576 bytes per value"), "{error}");
    // 1 KiB doubled 10 times is 1 MiB of text, over the cap once quoted: 512 KiB is kept.
    assert_eq!(var(&report, "s").as_str().map(str::len), Some(1 << 19));
    let small = run(&engine(), &doubling(3)).await;
    assert_eq!((&small.outcome, var(&small, "s").as_str().map(str::len)), (&Outcome::Completed, Some(8 * 1024)));
}

#[tokio::test]
async fn a_template_repeating_a_value_stops_at_the_cap() {
    let config = EngineConfig { max_value_bytes: 10_000, ..EngineConfig::default() };
    let many = "{{s}}".repeat(100_000);
    let list: Vec<Value> = (0..100_000).map(|_| json!("{{s}}")).collect();
    for value in [Value::String(many), Value::Array(list)] {
        let workflow = wf(vec![set("init", "s", "x".repeat(5_000)), set("copy", "t", value)]);
        let report = run(&engine_with(TestHost::default(), config), &workflow).await;
        let (error, step) = failure(&report);
        assert_eq!(step, Some(1), "{error}");
        assert!(error.contains("over the cap of 10000 bytes per value"), "{error}");
    }
}

#[tokio::test]
async fn a_run_holding_too_much_fails_at_the_run_cap() {
    let config = EngineConfig { max_value_bytes: 10_000, max_run_bytes: 50_000, ..EngineConfig::default() };
    let steps = (0..10).map(|i| set(&format!("v{i}"), &format!("v{i}"), "y".repeat(4_000))).collect();
    let report = run(&engine_with(TestHost::default(), config), &wf(steps)).await;
    let (error, step) = failure(&report);
    assert!(error.contains("over its cap of 50000 bytes"), "{error}");
    // Each step holds its variable and its output (about 8 KB): the sixth one passes 50 KB.
    assert_eq!(step, Some(6), "{error}");
}

#[tokio::test]
async fn log_details_never_copy_big_values() {
    let recorder = Recorder::default();
    let workflow = wf(vec![set("big", "b", "z".repeat(100_000)), s("say", "log").with("message", "{{b}}")]);
    let report = engine().run(&workflow, RunRequest::default(), &recorder).await;
    assert_eq!(report.outcome, Outcome::Completed);
    let logs = recorder.logs.lock().unwrap();
    assert!(logs.iter().all(|l| l.details.to_string().len() < 1000), "a log entry copied the value");
    let said = logs.iter().find(|l| l.step_index == Some(1) && l.message.starts_with('z')).unwrap();
    assert_eq!(said.message.len(), 4096 + '…'.len_utf8(), "a long message is cut");
    assert!(logs.iter().any(|l| l.details["omitted"].as_str().is_some_and(|s| s.contains("bytes"))));
}

#[tokio::test]
async fn a_skipped_control_failure_jumps_past_its_block() {
    let workflow = wf(vec![
        s("c", "if_condition").with("condition", "\"a\" - 1 > 0").with(ERROR_POLICY_PARAM, "SKIP"),
        set("in", "x", 1).indent(1),
        s("c-end", "endif"),
        set("after", "y", 2),
    ]);
    let report = run(&engine(), &workflow).await;
    assert_eq!(report.outcome, Outcome::Completed);
    assert_eq!((var(&report, "x"), var(&report, "y")), (Value::Null, json!(2)));
    assert_eq!(report.outputs["c"]["success"].value, json!(false));
}

#[tokio::test]
async fn unbalanced_workflows_fail_before_running() {
    let report = run(&engine(), &wf(vec![set("a", "x", 1), s("l", "loop").with("count", 2)])).await;
    assert!(matches!(report.outcome, Outcome::Failed { step_index: Some(1), .. }));
    assert_eq!(report.steps_executed, 0);
    let bad_expr = wf(vec![s("c", "if_condition").with("condition", "1 =="), s("e", "endif")]);
    assert!(
        matches!(run(&engine(), &bad_expr).await.outcome, Outcome::Failed { ref error, .. } if error.contains("column"))
    );
}

#[tokio::test]
async fn unknown_modules_are_skipped_with_a_warning() {
    let recorder = Recorder::default();
    let report = engine().run(&wf(vec![s("x", "teleport"), set("a", "v", 1)]), RunRequest::default(), &recorder).await;
    assert_eq!(report.outcome, Outcome::Completed);
    assert!(
        recorder.logs.lock().unwrap().iter().any(|l| l.level == LogLevel::Warning && l.message.contains("teleport"))
    );
}

#[tokio::test]
async fn observer_gets_step_logs_and_progress() {
    let recorder = Recorder::default();
    let workflow = wf(vec![
        s("d", "delay").with("duration", 1),
        s("l", "log").with("message", "hi {{vars.who}}").with("level", "warning"),
    ]);
    let req = RunRequest::default().variables(json!({"who": {"type": "string", "value": "Ann"}}).as_object().unwrap());
    let report = engine().run(&workflow, req, &recorder).await;
    assert_eq!(report.outcome, Outcome::Completed);
    let logs = recorder.logs.lock().unwrap();
    assert_eq!(logs[0].message, "Starting step: delay");
    assert_eq!(logs[0].details, json!({"duration": 1}));
    assert_eq!(logs[1].message, "Completed step: delay");
    assert!(logs[1].details["actualDuration"].is_number());
    assert!(logs.iter().any(|l| l.level == LogLevel::Warning && l.message == "hi Ann"));
    assert_eq!(logs.last().unwrap().message, "Workflow completed");
    let json = serde_json::to_value(&logs[0]).unwrap();
    assert_eq!(
        (json["level"].clone(), json["stepIndex"].clone(), json["moduleId"].clone()),
        (json!("info"), json!(0), json!("delay"))
    );
    assert_eq!(*recorder.progress.lock().unwrap(), [0, 1]);
}

#[tokio::test]
async fn host_modules_and_system_variables() {
    let workflow = wf(vec![
        s("ls", "gantry_list_instances"),
        s("m", "math").with("operator", "multiply").with("a", "{{ls.count}}").with("b", 21),
        s("l", "log").with("message", "{{device_info.name}} {{m.result}} {{ls.step}}"),
    ]);
    let report = run(&engine(), &workflow).await;
    assert_eq!(report.outcome, Outcome::Completed);
    assert_eq!(report.outputs["ls"]["echo"].value, json!({"status": "all"}));
    assert_eq!(report.outputs["l"]["message"].value, json!("test-host 42 ls"));
    let serialized = serde_json::to_value(&report).unwrap();
    assert_eq!(serialized["outcome"], json!({"status": "completed"}));
    assert_eq!(serialized["outputs"]["m"]["result"], json!({"type": "number", "value": 42}));
}

#[tokio::test]
async fn run_future_is_send() {
    fn assert_send<T: Send>(t: T) -> T {
        t
    }
    let e = engine();
    let workflow = wf(vec![set("a", "x", 1)]);
    let report = assert_send(e.run(&workflow, RunRequest::default(), &NoopObserver)).await;
    assert_eq!(report.outcome, Outcome::Completed);
}
