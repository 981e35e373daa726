//! Triggers that run for real: a cron schedule, a webhook with its secret URL, and event
//! triggers on task completions from comfy-sim (each user sees only their own tasks'
//! events; admins see all). Also the Gantry task modules acting as the owner.

use crate::common::sim::Sim;
use crate::common::vflow::step;
use crate::common::{TestApp, eventually, fleet_config, t2i_graph};
use gantry_store::Backend;
use serde_json::{Value, json};

const SD15: &str = "v1-5-pruned-emaonly.safetensors";

/// The executions of a workflow, newest first.
async fn runs_of(app: &TestApp, token: &str, workflow: &str) -> Vec<Value> {
    let (_, body) = app.call("GET", &format!("/api/v1/executions?workflowId={workflow}"), Some(token), None).await;
    body["data"]["executions"].as_array().cloned().unwrap_or_default()
}

async fn a_cron_schedule_fires_within_a_minute(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (_, user) = app.admin_and_user("alice").await;
    let steps = json!([
        step("t", "trigger_schedule", 0, json!({"cron": "* * * * *"})),
        step("l", "log", 0, json!({"message": "fired at {{t.firedAt}}"})),
    ]);
    let id = app.workflow(&user, "every minute", steps).await;
    // The workflow says when it runs next: within the coming minute, on a minute boundary.
    let (_, detail) = app.call("GET", &format!("/api/v1/workflows/{id}"), Some(&user), None).await;
    let next = detail["data"]["nextRunAt"].as_i64().unwrap_or_else(|| panic!("nextRunAt: {detail}"));
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    assert!(next > now - 1_000 && next <= now + 60_000 && next % 60_000 == 0, "{next} vs {now}");
    let (_, list) = app.call("GET", "/api/v1/workflows", Some(&user), None).await;
    assert_eq!(list["data"]["workflows"][0]["nextRunAt"], next, "{list}");
    let run = eventually(70, "the schedule to fire", || async {
        runs_of(&app, &user, &id).await.into_iter().find(|e| e["triggeredBy"] == "schedule")
    })
    .await;
    let exec = run["executionId"].as_str().unwrap();
    let done = app.ended(&user, exec).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert!(done["outputs"]["t"]["firedAt"]["value"].as_i64().is_some(), "{done}");
    // A disabled schedule runs never.
    app.call("POST", &format!("/api/v1/workflows/{id}/disable"), Some(&user), None).await;
    let (_, detail) = app.call("GET", &format!("/api/v1/workflows/{id}"), Some(&user), None).await;
    assert_eq!(detail["data"]["nextRunAt"], Value::Null, "{detail}");
    app.stop().await;
}

async fn webhooks_run_their_workflow_with_the_request_as_trigger_data(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (_, user) = app.admin_and_user("bob").await;
    let steps = json!([
        step("t", "trigger_webhook", 0, json!({})),
        step("l", "log", 0, json!({"message": "{{t.method}} {{t.body.name}} {{t.query.x}} {{t.headers.x-extra}}"})),
    ]);
    let (status, body) = app
        .call(
            "POST",
            "/api/v1/workflows",
            Some(&user),
            Some(json!({"name": "hook", "steps": steps, "isEnabled": true})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let url = body["data"]["webhookUrl"].as_str().expect("the owner sees the webhook URL").to_owned();
    let id = body["data"]["id"].as_str().unwrap().to_owned();
    assert!(url.starts_with(&app.base) && url.contains("/api/v1/webhooks/"), "{url}");
    let (_, detail) = app.call("GET", &format!("/api/v1/workflows/{id}"), Some(&user), None).await;
    assert_eq!(detail["data"]["webhookUrl"], url.as_str());

    let response =
        app.http.post(format!("{url}?x=1")).header("x-extra", "yes").json(&json!({"name": "w"})).send().await.unwrap();
    assert_eq!(response.status(), 202);
    let body: Value = response.json().await.unwrap();
    let exec = body["data"]["executionId"].as_str().unwrap().to_owned();
    let done = app.ended(&user, &exec).await;
    assert_eq!(done["outputs"]["l"]["message"]["value"], "POST w 1 yes", "{done}");
    assert_eq!(done["triggeredBy"], "webhook");
    let seen = done["outputs"]["t"]["headers"]["value"].as_object().unwrap();
    assert!(
        seen.contains_key("x-extra") && !seen.contains_key("authorization"),
        "credentials are not passed on: {seen:?}"
    );

    let secret_like = format!("{}/api/v1/webhooks/{}", app.base, "0".repeat(64));
    let response = app.http.post(secret_like).send().await.unwrap();
    assert_eq!(response.status(), 404);
    app.call("POST", &format!("/api/v1/workflows/{id}/disable"), Some(&user), None).await;
    let response = app.http.post(&url).send().await.unwrap();
    assert_eq!(response.status(), 404, "a disabled workflow's webhook does nothing");
    // A non-webhook workflow has no URL.
    let plain = app.workflow(&user, "plain", json!([])).await;
    let (_, detail) = app.call("GET", &format!("/api/v1/workflows/{plain}"), Some(&user), None).await;
    assert_eq!(detail["data"]["webhookUrl"], Value::Null);
    app.stop().await;
}

async fn task_events_reach_their_owners_workflows_and_admins(backend: Backend) {
    let sim = Sim::spawn(&["--step-ms", "5"]);
    let app = TestApp::start(backend).await;
    let admin = app.admin_token().await;
    let alice = app.paying_user(&admin, "alice").await;
    let bob = app.paying_user(&admin, "bob").await;
    app.use_fleet(&admin, fleet_config(&[sim.port], 1)).await;
    let on_done = json!([
        step("t", "trigger_event", 0, json!({"event": "task_completed"})),
        step("l", "log", 0, json!({"message": "{{t.subject}}"})),
    ]);
    let alices = app.workflow(&alice, "on my task", on_done.clone()).await;
    let bobs = app.workflow(&bob, "on my task", on_done.clone()).await;
    let admins = app.workflow(&admin, "on any task", on_done).await;

    // Alice's task, submitted by a workflow acting as Alice (gantry_submit_task, waiting).
    // The graph's `{{prompt}}` placeholder would read as a workflow reference: fill it in.
    let mut graph = t2i_graph(SD15, 2, 7);
    graph["6"]["inputs"]["text"] = json!("a cat");
    let submit = step("s", "gantry_submit_task", 0, json!({"workflow": graph, "timeout": 60}));
    let submitter = app.workflow(&alice, "submit", json!([submit])).await;
    let data = app.run_sync(&alice, &submitter, json!({})).await;
    assert_eq!(data["status"], "completed", "{data}");
    let task = data["outputs"]["s"]["taskId"]["value"].as_str().unwrap().to_owned();
    assert_eq!(data["outputs"]["s"]["status"]["value"], "completed");
    assert!(!data["outputs"]["s"]["outputs"]["value"].as_array().unwrap().is_empty(), "{data}");
    let (_, t) = app.call("GET", &format!("/api/tasks/{task}"), Some(&alice), None).await;
    assert_eq!(t["data"]["status"], "completed", "the task is Alice's: {t}");

    for (token, wf) in [(&alice, &alices), (&admin, &admins)] {
        let run = eventually(30, "the event trigger", || async {
            runs_of(&app, token, wf).await.into_iter().find(|e| e["triggeredBy"] == "event")
        })
        .await;
        let done = app.ended(token, run["executionId"].as_str().unwrap()).await;
        assert_eq!(done["outputs"]["l"]["message"]["value"], task.as_str(), "{done}");
    }
    // Bob's workflow never hears about Alice's task.
    assert!(runs_of(&app, &bob, &bobs).await.is_empty());
    // Bob's own task wakes only his workflow (and the admin's).
    let bobs_task = app.submit(&bob, t2i_graph(SD15, 2, 8), json!({"prompt": "a dog"})).await;
    app.finished(&bob, &bobs_task).await;
    eventually(30, "bob's event trigger", || async { (!runs_of(&app, &bob, &bobs).await.is_empty()).then_some(()) })
        .await;
    eventually(30, "the admin's second trigger", || async {
        (runs_of(&app, &admin, &admins).await.len() >= 2).then_some(())
    })
    .await;
    assert_eq!(runs_of(&app, &alice, &alices).await.len(), 1, "alice saw only her own task");
    app.stop().await;
}

async fn generate_image_charges_the_workflows_owner(backend: Backend) {
    let sim = Sim::spawn(&["--step-ms", "2"]);
    let app = TestApp::start(backend).await;
    let (admin, rich) = app.admin_and_user("rich").await;
    app.create_user(&admin, "poor", "user-password-1").await;
    let (poor, _) = app.star_login("poor", "user-password-1").await;
    app.use_fleet(&admin, fleet_config(&[sim.port], 1)).await;
    let (_, me) = app.call("GET", "/api/v1/users/profile", Some(&rich), None).await;
    let id = me["data"]["id"].as_i64().or_else(|| me["data"]["userId"].as_i64()).expect("profile id");
    let (status, body) = app
        .call("POST", &format!("/api/v1/admin/users/{id}/credits"), Some(&admin), Some(json!({"amount": 100})))
        .await;
    assert_eq!(status, 200, "{body}");
    let generate = json!([step(
        "g",
        "gantry_generate_image",
        0,
        json!({
        "prompt": "a lighthouse", "modelName": "stable-diffusion-v1-5", "width": 64, "height": 64, "steps": 2, "timeout": 60})
    )]);

    let wf = app.workflow(&rich, "paint", generate.clone()).await;
    let data = app.run_sync(&rich, &wf, json!({})).await;
    assert_eq!(data["status"], "completed", "{data}");
    assert_eq!(data["outputs"]["g"]["cost"]["value"], 10);
    assert!(!data["outputs"]["g"]["outputs"]["value"].as_array().unwrap().is_empty());
    eventually(20, "the charge to settle", || async {
        let (_, b) = app.call("GET", "/api/v1/users/balance", Some(&rich), None).await;
        (b["data"]["balance"].as_i64() == Some(90)).then_some(())
    })
    .await;

    let wf = app.workflow(&poor, "paint", generate).await;
    let data = app.run_sync(&poor, &wf, json!({})).await;
    assert_eq!(data["status"], "failed", "no credits, no image: {data}");
    app.stop().await;
}

async fn instance_events_reach_admins_workflows_only(backend: Backend) {
    let mut sim = Sim::spawn(&["--step-ms", "2"]);
    let app = TestApp::start(backend).await;
    let (admin, user) = app.admin_and_user("ivy").await;
    let on_down = json!([
        step("t", "trigger_event", 0, json!({"event": "instance_down"})),
        step("l", "log", 0, json!({"message": "{{t.subject}} went down"})),
    ]);
    let admins = app.workflow(&admin, "on down", on_down.clone()).await;
    let users = app.workflow(&user, "on down", on_down).await;
    app.use_fleet(&admin, fleet_config(&[sim.port], 1)).await;
    sim.kill();
    let run = eventually(30, "the instance_down trigger", || async {
        runs_of(&app, &admin, &admins).await.into_iter().find(|e| e["triggeredBy"] == "event")
    })
    .await;
    let done = app.ended(&admin, run["executionId"].as_str().unwrap()).await;
    let expected = format!("127.0.0.1:{} went down", sim.port);
    assert_eq!(done["outputs"]["l"]["message"]["value"], expected.as_str(), "{done}");
    assert!(runs_of(&app, &user, &users).await.is_empty(), "instance events are for admins' workflows");
    app.stop().await;
}

gantry_testkit::on_each_backend!(
    a_cron_schedule_fires_within_a_minute,
    webhooks_run_their_workflow_with_the_request_as_trigger_data,
    task_events_reach_their_owners_workflows_and_admins,
    generate_image_charges_the_workflows_owner,
    instance_events_reach_admins_workflows_only
);
