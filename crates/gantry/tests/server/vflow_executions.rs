//! vflow executions over HTTP: nested control flow, sync and async runs, stop, timeouts,
//! logs and history filters, deletion, the per-workflow run limit, restart recovery and
//! http_request against a local server (internal addresses need the admin allowance).

use crate::common::vflow::step;
use crate::common::{TestApp, next_message};
use gantry_store::Backend;
use serde_json::{Value, json};

fn code(body: &Value) -> i64 {
    body["code"].as_i64().unwrap_or(-1)
}

fn set(id: &str, indent: u32, name: &str, value: Value) -> Value {
    step(id, "set_variable", indent, json!({"name": name, "value": value}))
}

async fn nested_blocks_with_break_and_continue_run_through_the_api(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (_, user) = app.admin_and_user("alice").await;
    let acc = |id: &str, indent: u32, suffix: &str| {
        set(id, indent, "acc", json!(format!("{{{{acc}}}}{{{{each.item}}}}.{{{{times.index}}}}{suffix} ")))
    };
    let steps = json!([
        step("t", "trigger_manual", 0, json!({})),
        set("init", 0, "acc", json!("")),
        set("n0", 0, "n", json!(0)),
        step("each", "foreach", 0, json!({"items": "{{vars.items}}"})),
        step("skip3", "if_condition", 1, json!({"condition": "{{each.item}} == 3"})),
        step("cont", "continue", 2, json!({})),
        step("skip3-end", "endif", 1, json!({})),
        step("times", "loop", 1, json!({"count": 3})),
        step("second", "if_condition", 2, json!({"condition": "{{times.index}} == 2"})),
        acc("a2", 3, "b"),
        step("brk", "break", 3, json!({})),
        step("else", "else", 2, json!({})),
        acc("a1", 3, ""),
        step("second-end", "endif", 2, json!({})),
        step("times-end", "endloop", 1, json!({})),
        step("each-end", "endforeach", 0, json!({})),
        step("w", "while", 0, json!({"condition": "{{n}} < 5"})),
        step("inc", "math", 1, json!({"expression": "{{n}} + 1"})),
        set("setn", 1, "n", json!("{{inc.result}}")),
        step("w-end", "endwhile", 0, json!({})),
        step("done", "log", 0, json!({"message": "acc={{acc}} n={{n}}"})),
    ]);
    let id = app.workflow(&user, "nested", steps).await;
    let data = app.run_sync(&user, &id, json!({"items": {"type": "list", "value": [1, 2, 3, 4]}})).await;
    assert_eq!(data["status"], "completed", "{data}");
    assert_eq!(data["variables"]["acc"]["value"], "1.1 1.2b 2.1 2.2b 4.1 4.2b ");
    assert_eq!(data["variables"]["n"], json!({"type": "number", "value": 5}));
    assert_eq!(data["outputs"]["done"]["message"]["value"], "acc=1.1 1.2b 2.1 2.2b 4.1 4.2b  n=5");
    assert!(data["duration"].as_i64().is_some() && data["completedAt"].as_i64().is_some());

    // The stored execution says the same, and the log has per-step lines.
    let exec = data["executionId"].as_str().unwrap();
    let (_, body) = app.call("GET", &format!("/api/v1/executions/{exec}"), Some(&user), None).await;
    let e = &body["data"];
    assert_eq!(
        (e["status"].as_str(), e["totalSteps"].as_i64(), e["triggeredBy"].as_str()),
        (Some("completed"), Some(21), Some("manual"))
    );
    assert_eq!(e["outputs"]["inc"]["result"]["value"], 5);
    let (_, body) = app.call("GET", &format!("/api/v1/executions/{exec}/logs?stepIndex=20"), Some(&user), None).await;
    let messages: Vec<&str> =
        body["data"]["logs"].as_array().unwrap().iter().filter_map(|l| l["message"].as_str()).collect();
    assert!(messages.contains(&"Starting step: log") && messages.contains(&"Completed step: log"), "{messages:?}");
    assert!(body["data"]["logs"].as_array().unwrap().iter().all(|l| l["stepIndex"] == 20));
    app.stop().await;
}

async fn async_runs_stop_time_out_and_fail_with_their_logs(backend: Backend) {
    let app = TestApp::start_with(backend, |c| c.automation.max_running_per_workflow = 1).await;
    let (_, user) = app.admin_and_user("bob").await;
    let t = Some(user.as_str());
    let steps =
        json!([step("b", "log", 0, json!({"message": "before"})), step("d", "delay", 0, json!({"duration": 60000})),]);
    let slow = app.workflow(&user, "slow", steps).await;

    let exec = app.run_async(&user, &slow).await;
    let (_, body) = app.call("GET", &format!("/api/v1/executions/{exec}"), t, None).await;
    assert_eq!(body["data"]["status"], "running");
    // The per-workflow limit (here 1) refuses a second run with 409/1003.
    let (status, body) = app.call("POST", &format!("/api/v1/workflows/{slow}/execute"), t, Some(json!({}))).await;
    assert_eq!((status, code(&body), body["details"]["limit"].as_i64()), (409, 1003, Some(1)), "{body}");
    // Progress is persisted while it runs: the current step and earlier steps' outputs.
    crate::common::eventually(10, "the delay step to start", || async {
        let (_, body) = app.call("GET", &format!("/api/v1/executions/{exec}"), t, None).await;
        let e = &body["data"];
        (e["currentStep"]["moduleId"] == "delay"
            && e["currentStepIndex"] == 1
            && e["outputs"]["b"]["message"]["value"] == "before")
            .then_some(())
    })
    .await;

    let mut live = app.live_socket(&user).await;
    let (status, body) = app.call("POST", &format!("/api/v1/executions/{exec}/stop"), t, None).await;
    assert_eq!((status, body["data"]["status"].as_str()), (200, Some("cancelled")), "{body}");
    // The owner's live socket (the console's) hears the end at once.
    let heard = next_message(&mut live, "execution_finished", |m| m["data"]["executionId"] == exec.as_str()).await;
    assert_eq!(
        (heard["data"]["workflowId"].as_str(), heard["data"]["status"].as_str()),
        (Some(slow.as_str()), Some("cancelled"))
    );
    drop(live);
    let (status, body) = app.call("POST", &format!("/api/v1/executions/{exec}/stop"), t, None).await;
    assert_eq!((status, code(&body), body["details"]["executionId"].as_str()), (409, 5002, Some(exec.as_str())));
    let ended = app.ended(&user, &exec).await;
    assert_eq!(ended["status"], "cancelled");
    // The slot is free again once the run has ended.
    crate::common::eventually(10, "the slot to free up", || async {
        let (status, body) =
            app.call("POST", &format!("/api/v1/workflows/{slow}/execute"), t, Some(json!({"timeout": 1}))).await;
        (status == 202).then(|| body["data"]["executionId"].as_str().unwrap().to_owned())
    })
    .await;

    // `timeout` in the request and maxExecutionTime both end runs as `timeout`.
    let (_, body) = app
        .call(
            "POST",
            "/api/v1/workflows",
            t,
            Some(json!({"name": "capped", "isEnabled": true, "maxExecutionTime": 1,
            "steps": [step("d", "delay", 0, json!({"duration": 30000}))]})),
        )
        .await;
    let capped = body["data"]["id"].as_str().unwrap_or_else(|| panic!("{body}")).to_owned();
    let data = app.run_sync(&user, &capped, json!({})).await;
    assert_eq!((data["status"].as_str(), data["error"].is_string()), (Some("timeout"), true), "{data}");

    // A failing step fails the run, with an error log naming the step.
    let failing =
        app.workflow(&user, "failing", json!([step("p", "json_parse", 0, json!({"text": "{not json"}))])).await;
    let data = app.run_sync(&user, &failing, json!({})).await;
    assert_eq!(data["status"], "failed", "{data}");
    assert!(data["error"].as_str().unwrap().contains("step p"), "{data}");
    let exec = data["executionId"].as_str().unwrap();
    let (_, body) = app.call("GET", &format!("/api/v1/executions/{exec}/logs?level=error"), t, None).await;
    assert!(body["data"]["total"].as_i64().unwrap() >= 1);
    assert!(body["data"]["logs"].as_array().unwrap().iter().all(|l| l["level"] == "error"));
    let (_, body) = app.call("GET", &format!("/api/v1/executions/{exec}/logs?limit=1&offset=1"), t, None).await;
    assert_eq!((body["data"]["logs"].as_array().unwrap().len(), body["data"]["limit"].as_i64()), (1, Some(1)));
    let (status, _) = app.call("GET", &format!("/api/v1/executions/{exec}/logs?level=loud"), t, None).await;
    assert_eq!(status, 400);

    // Disabled workflows are refused (409/1003); unknown ones 404/1001 and 5001.
    app.call("POST", &format!("/api/v1/workflows/{failing}/disable"), t, None).await;
    let (status, body) = app.call("POST", &format!("/api/v1/workflows/{failing}/execute"), t, None).await;
    assert_eq!((status, code(&body)), (409, 1003), "{body}");
    assert!(body["message"].as_str().unwrap().contains("enable it"), "{body}");
    let (status, body) = app.call("POST", "/api/v1/workflows/ghost/execute", t, None).await;
    assert_eq!((status, code(&body)), (404, 1001));
    let (status, body) = app.call("GET", "/api/v1/executions/ghost", t, None).await;
    assert_eq!((status, code(&body), body["details"]["executionId"].as_str()), (404, 5001, Some("ghost")));
    app.stop().await;
}

async fn history_filters_and_deletion(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (_, user) = app.admin_and_user("carol").await;
    let t = Some(user.as_str());
    let ok = app.workflow(&user, "ok", json!([step("l", "log", 0, json!({"message": "x"}))])).await;
    let bad = app.workflow(&user, "bad", json!([step("p", "json_parse", 0, json!({"text": "{"}))])).await;
    for _ in 0..3 {
        app.run_sync(&user, &ok, json!({})).await;
    }
    let failed = app.run_sync(&user, &bad, json!({})).await;

    let (_, body) = app.call("GET", "/api/v1/executions", t, None).await;
    assert_eq!(body["data"]["total"], 4);
    assert_eq!(body["data"]["executions"][0]["executionId"], failed["executionId"], "newest first");
    assert!(body["data"]["executions"][0]["error"].is_string());
    let (_, body) = app.call("GET", &format!("/api/v1/executions?workflowId={ok}&limit=2"), t, None).await;
    assert_eq!((body["data"]["total"].as_i64(), body["data"]["executions"].as_array().unwrap().len()), (Some(3), 2));
    let (_, body) = app.call("GET", "/api/v1/executions?status=failed", t, None).await;
    assert_eq!(body["data"]["total"], 1);
    let started = failed["startedAt"].as_i64().unwrap();
    let (_, body) = app.call("GET", &format!("/api/v1/executions?startDate={started}"), t, None).await;
    assert!(body["data"]["total"].as_i64().unwrap() >= 1);
    let (_, body) = app.call("GET", &format!("/api/v1/executions?endDate={}", started - 100_000), t, None).await;
    assert_eq!(body["data"]["total"], 0);
    let (status, _) = app.call("GET", "/api/v1/executions?status=weird", t, None).await;
    assert_eq!(status, 400);

    let exec = failed["executionId"].as_str().unwrap();
    let (status, body) = app.call("DELETE", &format!("/api/v1/executions?executionId={exec}"), t, None).await;
    assert_eq!((status, body["data"]["deletedCount"].as_i64()), (200, Some(1)));
    let (status, body) = app.call("DELETE", &format!("/api/v1/executions?executionId={exec}"), t, None).await;
    assert_eq!((status, code(&body)), (404, 5001));
    let (_, body) = app.call("DELETE", &format!("/api/v1/executions?workflowId={ok}"), t, None).await;
    assert_eq!(body["data"]["deletedCount"], 3);
    app.run_sync(&user, &ok, json!({})).await;
    let (_, body) = app.call("DELETE", "/api/v1/executions?olderThan=1", t, None).await;
    assert_eq!(body["data"]["deletedCount"], 0);
    let (_, body) = app.call("DELETE", &format!("/api/v1/executions?olderThan={}", i64::MAX / 2), t, None).await;
    assert_eq!(body["data"]["deletedCount"], 1);
    let (status, _) = app.call("DELETE", "/api/v1/executions", t, None).await;
    assert_eq!(status, 400, "a selector is required");
    app.stop().await;
}

async fn a_restart_marks_interrupted_runs_failed(backend: Backend) {
    let mut app = TestApp::start(backend).await;
    let (_, user) = app.admin_and_user("dave").await;
    let slow = app.workflow(&user, "slow", json!([step("d", "delay", 0, json!({"duration": 600000}))])).await;
    let exec = app.run_async(&user, &slow).await;
    app.restart_with(|_| {}).await;
    let (user, _) = app.star_login("dave", "user-password-1").await;
    let (_, body) = app.call("GET", &format!("/api/v1/executions/{exec}"), Some(&user), None).await;
    assert_eq!(body["data"]["status"], "failed", "{body}");
    assert!(body["data"]["error"].as_str().unwrap().contains("interrupted"), "{body}");
    assert!(body["data"]["completedAt"].as_i64().is_some());
    app.stop().await;
}

async fn local_server() -> String {
    let app = axum::Router::new().route(
        "/hello",
        axum::routing::post(|body: String| async move { axum::Json(json!({"echo": body, "ok": true})) }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/hello")
}

fn http_steps(url: &str) -> Value {
    json!([
        step("h", "http_request", 0, json!({"url": url, "method": "POST", "body": "ping {{vars.who}}"})),
        step("j", "json_parse", 0, json!({"text": "{{h.body}}"})),
    ])
}

async fn http_request_reaches_internal_servers_only_with_the_admin_allowance(backend: Backend) {
    let url = local_server().await;
    let app = TestApp::start_with(backend, |c| c.automation.allow_internal_http = true).await;
    let (admin, user) = app.admin_and_user("erin").await;
    let admin_wf = app.workflow(&admin, "call home", http_steps(&url)).await;
    let data = app.run_sync(&admin, &admin_wf, json!({"who": "gantry"})).await;
    assert_eq!(data["status"], "completed", "{data}");
    assert_eq!(data["outputs"]["h"]["statusCode"]["value"], 200);
    assert_eq!(data["outputs"]["j"]["result"]["value"]["echo"], "ping gantry");
    // A non-admin's workflow never gets more authority than its owner.
    let user_wf = app.workflow(&user, "call home", http_steps(&url)).await;
    let data = app.run_sync(&user, &user_wf, json!({"who": "x"})).await;
    assert_eq!(data["status"], "failed", "{data}");
    app.stop().await;

    let app = TestApp::start(backend).await;
    let admin = app.admin_token().await;
    let wf = app.workflow(&admin, "call home", http_steps(&url)).await;
    let data = app.run_sync(&admin, &wf, json!({"who": "x"})).await;
    assert_eq!(data["status"], "failed", "internal targets are refused by default: {data}");
    app.stop().await;
}

async fn vm_modules_and_admin_modules_refuse_users(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (_, user) = app.admin_and_user("frank").await;
    let vm = app
        .workflow(
            &user,
            "vm",
            json!([step("v", "gantry_vm_action", 0, json!({"host": "h1", "vmId": "u", "action": "reboot"}))]),
        )
        .await;
    let data = app.run_sync(&user, &vm, json!({})).await;
    assert_eq!(data["status"], "failed");
    assert!(data["error"].as_str().unwrap().contains("owned by an admin"), "{data}");
    let inst = app
        .workflow(
            &user,
            "inst",
            json!([step("i", "gantry_set_instance", 0, json!({"instanceId": "127.0.0.1:1", "enabled": false}))]),
        )
        .await;
    let data = app.run_sync(&user, &inst, json!({})).await;
    assert!(data["error"].as_str().unwrap().contains("only admins"), "{data}");
    let list = app.workflow(&user, "list", json!([step("l", "gantry_list_instances", 0, json!({}))])).await;
    let data = app.run_sync(&user, &list, json!({})).await;
    assert_eq!(
        (data["status"].as_str(), data["outputs"]["l"]["count"]["value"].as_i64()),
        (Some("completed"), Some(0))
    );
    app.stop().await;
}

async fn a_run_missing_an_input_variable_is_unprocessable(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (_, user) = app.admin_and_user("gina").await;
    let id =
        app.workflow(&user, "greet", json!([step("g", "log", 0, json!({"message": "hello {{vars.name}}"}))])).await;
    let (status, body) =
        app.call("POST", &format!("/api/v1/workflows/{id}/execute"), Some(&user), Some(json!({"async": false}))).await;
    assert_eq!((status, code(&body)), (422, 1002), "{body}");
    assert_eq!((body["details"]["stepId"].as_str(), body["details"]["input"].as_str()), (Some("g"), Some("message")));
    assert_eq!(body["details"]["issues"][0]["code"], "missing_variable");
    let (_, body) = app.call("GET", "/api/v1/executions", Some(&user), None).await;
    assert_eq!(body["data"]["total"], 0, "nothing ran");
    let data = app.run_sync(&user, &id, json!({"name": {"type": "string", "value": "Ada"}})).await;
    assert_eq!(data["outputs"]["g"]["message"]["value"], "hello Ada");
    app.stop().await;
}

async fn long_loops_cannot_flood_the_log(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (_, user) = app.admin_and_user("hank").await;
    let steps = json!([
        step("l", "loop", 0, json!({"count": 5000})),
        step("g", "log", 1, json!({"message": "pass {{l.index}}"})),
        step("e", "endloop", 0, json!({})),
    ]);
    let id = app.workflow(&user, "chatty", steps).await;
    let data = app.run_sync(&user, &id, json!({})).await;
    assert_eq!(data["status"], "completed");
    let exec = data["executionId"].as_str().unwrap();
    let (_, body) =
        app.call("GET", &format!("/api/v1/executions/{exec}/logs?level=info&limit=1"), Some(&user), None).await;
    assert_eq!(body["data"]["total"], 1_001, "the first 200 and last 800 step lines, and the run-level end: {body}");
    let (_, body) = app.call("GET", &format!("/api/v1/executions/{exec}/logs?level=warning"), Some(&user), None).await;
    assert!(body["data"]["logs"][0]["message"].as_str().unwrap().contains("not kept"), "{body}");
    app.stop().await;
}

async fn huge_durations_from_users_neither_crash_nor_block_the_workflow(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (_, user) = app.admin_and_user("huge").await;
    let steps = json!([
        step("t", "trigger_manual", 0, json!({})),
        // Refused by the address guard, after its timeout (1e300 s, from the run's input) was read.
        step("h", "http_request", 0, json!({"url": "http://127.0.0.1:9/", "timeout": "{{vars.t}}"})),
    ]);
    let id = app.workflow(&user, "huge", steps).await;
    let (status, body) = app
        .call("PUT", &format!("/api/v1/workflows/{id}"), Some(&user), Some(json!({"maxExecutionTime": i64::MAX})))
        .await;
    assert_eq!(status, 200, "{body}");
    // More runs than the per-workflow limit (4): none may stay `running`.
    for _ in 0..6 {
        let t = json!({"t": {"type": "number", "value": 1e300}});
        let body = json!({"async": false, "timeout": u64::MAX, "inputVariables": t});
        let (status, body) =
            app.call("POST", &format!("/api/v1/workflows/{id}/execute"), Some(&user), Some(body)).await;
        assert_eq!(status, 200, "{backend:?}: {body}");
        assert_eq!(body["data"]["status"], "failed", "{body}");
    }
    let (status, body) = app.call("GET", "/api/v1/system/health", None, None).await;
    assert_eq!(status, 200, "{body}");
    app.stop().await;
}

async fn a_value_that_keeps_doubling_fails_the_run_and_the_server_lives(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (_, user) = app.admin_and_user("doubler").await;
    // The attack from the hardening report: 1 KiB doubled 26 times would be 64 GiB.
    let steps = json!([
        set("init", 0, "s", json!("x".repeat(1024))),
        step("l", "loop", 0, json!({"count": 26})),
        step("t", "text", 1, json!({"operation": "concat", "text": "{{s}}", "other": "{{s}}"})),
        set("grow", 1, "s", json!("{{t.result}}")),
        step("e", "endloop", 0, json!({})),
    ]);
    let id = app.workflow(&user, "doubler", steps).await;
    let data = app.run_sync(&user, &id, json!({})).await;
    assert_eq!(data["status"], "failed", "{data}");
    let error = data["error"].as_str().unwrap_or_default();
    assert!(error.contains("step t:") && error.contains("over the cap of 1048576 bytes per value"), "{data}");
    let (status, body) = app.call("GET", "/api/v1/system/health", None, None).await;
    assert_eq!(status, 200, "{body}");
    app.stop().await;
}

gantry_testkit::on_each_backend!(
    a_value_that_keeps_doubling_fails_the_run_and_the_server_lives,
    huge_durations_from_users_neither_crash_nor_block_the_workflow,
    nested_blocks_with_break_and_continue_run_through_the_api,
    async_runs_stop_time_out_and_fail_with_their_logs,
    history_filters_and_deletion,
    a_restart_marks_interrupted_runs_failed,
    http_request_reaches_internal_servers_only_with_the_admin_allowance,
    vm_modules_and_admin_modules_refuse_users,
    a_run_missing_an_input_variable_is_unprocessable,
    long_loops_cannot_flood_the_log
);
