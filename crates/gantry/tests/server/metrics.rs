//! `/metrics`: what an operator's Prometheus scrapes, read back with a Prometheus text
//! parser (`prometheus-parse`).

use crate::common::sim::Sim;
use crate::common::vflow::step;
use crate::common::{TestApp, eventually, fleet_config, t2i_graph};
use gantry_store::Backend;
use prometheus_parse::{Scrape, Value};
use serde_json::json;

async fn scrape(app: &TestApp, token: Option<&str>) -> (u16, String, String) {
    let mut request = app.http.get(app.url("/metrics"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let content_type =
        response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    (status, content_type, response.text().await.unwrap())
}

fn parse(text: &str) -> Scrape {
    Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn value(scrape: &Scrape, metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape.samples.iter().find(|s| s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v))).map(
        |s| match &s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
            Value::Histogram(buckets) => buckets.last().map_or(0.0, |b| b.count),
            Value::Summary(_) => f64::NAN,
        },
    )
}

async fn requests_tasks_and_instances_are_scraped_by_admins(backend: Backend) {
    let sim = Sim::spawn(&["--step-ms", "10"]);
    let app = TestApp::start(backend).await;
    let admin = app.admin_token().await;
    app.use_fleet(&admin, fleet_config(&[sim.port], 1)).await;
    for _ in 0..3 {
        let (status, _) = app.call("GET", "/api/tasks", Some(&admin), None).await;
        assert_eq!(status, 200);
    }
    let (status, _) = app.call("GET", "/api/tasks/nope", Some(&admin), None).await;
    assert_eq!(status, 404);
    // One task run to its end, one workflow executed.
    let task = app.submit(&admin, t2i_graph("v1-5-pruned-emaonly.safetensors", 2, 1), json!({"prompt": "a"})).await;
    assert_eq!(app.finished(&admin, &task).await["status"], "completed");
    let hello = json!({"message": {"type": "string", "value": "hi"}});
    let workflow = app.workflow(&admin, "say hi", json!([step("l", "log", 0, hello)])).await;
    assert_eq!(app.run_sync(&admin, &workflow, json!({})).await["status"], "completed");

    assert_eq!(scrape(&app, None).await.0, 401);
    let user = app.create_user(&admin, "watcher", "watcher-password").await;
    let _ = user;
    let (user_token, _) = app.star_login("watcher", "watcher-password").await;
    assert_eq!(scrape(&app, Some(&user_token)).await.0, 403);
    // Ended tasks and executions are counted from the event stream, a moment after.
    let (status, content_type, text) = eventually(10, "the task and the execution counted", || async {
        let (status, content_type, text) = scrape(&app, Some(&admin)).await;
        let scraped = parse(&text);
        let counted = value(&scraped, "gantry_tasks_finished_total", &[("outcome", "completed")]).is_some()
            && value(&scraped, "gantry_workflow_executions_total", &[("status", "completed")]).is_some();
        (status != 200 || counted).then_some((status, content_type, text))
    })
    .await;
    assert_eq!(status, 200, "{text}");
    assert!(content_type.starts_with("application/openmetrics-text"), "{content_type}");
    let scraped = parse(&text);
    let route = [("route", "/api/tasks"), ("method", "GET"), ("status", "200")];
    assert!(value(&scraped, "gantry_http_requests_total", &route) >= Some(3.0), "{text}");
    let missing = [("route", "/api/tasks/:taskId"), ("status", "404")];
    assert_eq!(value(&scraped, "gantry_http_requests_total", &missing), Some(1.0), "{text}");
    let timed = value(&scraped, "gantry_http_request_duration_seconds", &[("route", "/api/tasks")]);
    assert!(timed >= Some(3.0), "every request timed: {text}");
    assert_eq!(value(&scraped, "gantry_instances", &[("state", "configured")]), Some(1.0), "{text}");
    assert_eq!(value(&scraped, "gantry_instances", &[("state", "alive")]), Some(1.0), "{text}");
    assert_eq!(value(&scraped, "gantry_tasks", &[("state", "pending")]), Some(0.0), "{text}");
    assert_eq!(value(&scraped, "gantry_tasks", &[("state", "completed")]), Some(1.0), "{text}");
    assert_eq!(value(&scraped, "gantry_tasks_finished_total", &[("outcome", "completed")]), Some(1.0), "{text}");
    assert_eq!(value(&scraped, "gantry_task_run_seconds", &[("outcome", "completed")]), Some(1.0), "timed: {text}");
    assert_eq!(value(&scraped, "gantry_workflow_executions_total", &[("status", "completed")]), Some(1.0), "{text}");
    assert_eq!(value(&scraped, "gantry_machines", &[("state", "vms")]), Some(0.0), "{text}");

    // Open sessions are counted while they are open.
    let sessions = || async {
        let text = scrape(&app, Some(&admin)).await.2;
        value(&parse(&text), "gantry_live_sessions", &[("kind", "comfy_ws")]).unwrap_or(0.0)
    };
    let url = format!("ws://{}/ws?token={admin}", app.base.trim_start_matches("http://"));
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.expect("websocket connects");
    eventually(10, "the socket counted", || async { (sessions().await == 1.0).then_some(()) }).await;
    socket.close(None).await.ok();
    eventually(10, "the closed socket no longer counted", || async { (sessions().await == 0.0).then_some(()) }).await;
    app.stop().await;

    let app = TestApp::start_with(backend, |c| c.http.metrics_public = true).await;
    let (status, _, text) = scrape(&app, None).await;
    assert_eq!(status, 200, "open to anyone when the operator says so: {text}");
    app.stop().await;
}

gantry_testkit::on_each_backend!(requests_tasks_and_instances_are_scraped_by_admins);
