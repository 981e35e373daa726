//! The failure paths the README promises, driven by comfy-sim's fault controls: refused
//! connections, slow answers, a failing `/view`, a dropped instance WebSocket, an instance
//! that lost its queue, and giving up after `maxAttempts`.

use crate::common::sim::Sim;
use crate::common::{TestApp, eventually, fleet_config, t2i_graph};
use gantry_store::Backend;
use serde_json::{Value, json};

const SD15: &str = "v1-5-pruned-emaonly.safetensors";

/// Changes a sim's behaviour through `/sim/control`.
async fn control(app: &TestApp, sim: &Sim, change: Value) {
    let answer = app.http.post(format!("{}/sim/control", sim.base())).json(&change).send().await.unwrap();
    assert!(answer.status().is_success(), "sim control {change}");
}

async fn alive(app: &TestApp, admin: &str, sim: &Sim) -> bool {
    let (_, body) = app.call("GET", &format!("/api/instances/127.0.0.1:{}", sim.port), Some(admin), None).await;
    body["data"]["alive"] == true
}

/// An instance that refuses connections leaves the fleet, work goes to the other one, and
/// it comes back when it listens again.
async fn a_refusing_instance_leaves_and_comes_back(backend: Backend) {
    let sims = [Sim::spawn(&["--step-ms", "5"]), Sim::spawn(&["--step-ms", "5"])];
    let app = TestApp::start(backend).await;
    let admin = app.admin_token().await;
    app.use_fleet(&admin, fleet_config(&[sims[0].port, sims[1].port], 0)).await;
    control(&app, &sims[0], json!({"refuse": true, "refuse_for_ms": 4000, "drop_ws": true})).await;
    eventually(20, "the refusing instance marked dead", || async {
        (!alive(&app, &admin, &sims[0]).await).then_some(())
    })
    .await;
    for seed in 0..3 {
        let task = app.submit(&admin, t2i_graph(SD15, 2, seed), json!({"prompt": "elsewhere"})).await;
        let done = app.finished(&admin, &task).await;
        assert_eq!(done["status"], "completed", "{done}");
        assert_eq!(done["instanceId"], json!(format!("127.0.0.1:{}", sims[1].port)));
    }
    // It listens again by itself after four seconds.
    eventually(20, "the instance back", || async { alive(&app, &admin, &sims[0]).await.then_some(()) }).await;
    app.stop().await;
}

/// Answers slower than the health check's timeout count as failed checks: the instance
/// is marked dead until it answers in time again.
async fn slow_answers_fail_health_checks(backend: Backend) {
    let sim = Sim::spawn(&["--step-ms", "5"]);
    let app = TestApp::start(backend).await;
    let admin = app.admin_token().await;
    app.use_fleet(&admin, fleet_config(&[sim.port], 0)).await;
    control(&app, &sim, json!({"slow_ms": 1500})).await;
    eventually(20, "the slow instance marked dead", || async { (!alive(&app, &admin, &sim).await).then_some(()) })
        .await;
    control(&app, &sim, json!({"slow_ms": 0})).await;
    eventually(20, "the instance back", || async { alive(&app, &admin, &sim).await.then_some(()) }).await;
    let task = app.submit(&admin, t2i_graph(SD15, 2, 1), json!({"prompt": "after"})).await;
    assert_eq!(app.finished(&admin, &task).await["status"], "completed");
    app.stop().await;
}

/// A result that cannot be downloaded sends the task back to run again; once `/view`
/// works it completes. If it never works, the task fails after `maxAttempts`
/// (`NO_INSTANCE`, star-graph's E007).
async fn a_failing_download_is_retried_then_given_up(backend: Backend) {
    let sim = Sim::spawn(&["--step-ms", "5"]);
    let app = TestApp::start(backend).await;
    let admin = app.admin_token().await;
    app.use_fleet(&admin, fleet_config(&[sim.port], 0)).await;
    control(&app, &sim, json!({"fail_view": true})).await;
    let doomed = app.submit(&admin, t2i_graph(SD15, 2, 1), json!({"prompt": "never"})).await;
    let failed = app.finished(&admin, &doomed).await;
    assert_eq!((failed["status"].as_str(), failed["errorCode"].as_str()), (Some("failed"), Some("NO_INSTANCE")));
    assert_eq!(failed["attempts"], 3, "{failed}");
    assert!(failed["error"].as_str().unwrap().starts_with("gave up after 3 attempts: cannot download"), "{failed}");

    // ComfyUI's cache answers a rerun at once: slow answers and more attempts leave time
    // to mend the download between two of them.
    let more = json!({"dispatch": {"maxAttempts": 20}});
    assert_eq!(app.call("PATCH", "/api/config", Some(&admin), Some(more)).await.0, 200);
    control(&app, &sim, json!({"slow_ms": 100})).await;
    let task = app.submit(&admin, t2i_graph(SD15, 2, 2), json!({"prompt": "later"})).await;
    eventually(30, "a first failed download", || async {
        let (_, body) = app.call("GET", &format!("/api/tasks/{task}"), Some(&admin), None).await;
        (body["data"]["attempts"].as_i64()? >= 2).then_some(())
    })
    .await;
    control(&app, &sim, json!({"fail_view": false, "slow_ms": 0})).await;
    let done = app.finished(&admin, &task).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert!(done["attempts"].as_i64().unwrap() >= 2);
    app.stop().await;
}

/// A dropped instance WebSocket is reconnected, and the task running meanwhile completes
/// without running again.
async fn a_dropped_instance_socket_reconnects(backend: Backend) {
    let sim = Sim::spawn(&["--step-ms", "50"]);
    let app = TestApp::start(backend).await;
    let admin = app.admin_token().await;
    app.use_fleet(&admin, fleet_config(&[sim.port], 0)).await;
    let task = app.submit(&admin, t2i_graph(SD15, 30, 1), json!({"prompt": "through"})).await;
    app.running(&admin, &task).await;
    control(&app, &sim, json!({"drop_ws": true})).await;
    let done = app.finished(&admin, &task).await;
    assert_eq!((done["status"].as_str(), done["attempts"].as_i64()), (Some("completed"), Some(1)), "{done}");
    let state: Value = app.http.get(format!("{}/sim/control", sim.base())).send().await.unwrap().json().await.unwrap();
    assert_eq!(state["websockets"], 1, "Gantry is connected again: {state}");
    app.stop().await;
}

/// An instance that restarted and lost its queue: what Gantry had handed to it goes back
/// to the queue and runs on the new process.
async fn prompts_an_instance_lost_are_requeued(backend: Backend) {
    let mut sim = Sim::spawn(&["--step-ms", "100"]);
    let port = sim.port;
    let app = TestApp::start(backend).await;
    let admin = app.admin_token().await;
    app.use_fleet(&admin, fleet_config(&[port], 1)).await;
    let first = app.submit(&admin, t2i_graph(SD15, 40, 1), json!({"prompt": "a"})).await;
    let second = app.submit(&admin, t2i_graph(SD15, 40, 2), json!({"prompt": "b"})).await;
    eventually(20, "both queued on the instance", || async {
        let queue: Value = app.http.get(format!("{}/queue", sim.base())).send().await.ok()?.json().await.ok()?;
        let held = queue["queue_running"].as_array()?.len() + queue["queue_pending"].as_array()?.len();
        (held == 2).then_some(())
    })
    .await;
    sim.kill();
    let _restarted = Sim::spawn_on(port, &["--step-ms", "5"]);
    for id in [&first, &second] {
        let done = app.finished(&admin, id).await;
        assert_eq!(done["status"], "completed", "{done}");
        assert_eq!(done["attempts"], 2, "run again on the restarted instance: {done}");
    }
    app.stop().await;
}

gantry_testkit::on_each_backend!(
    a_refusing_instance_leaves_and_comes_back,
    slow_answers_fail_health_checks,
    a_failing_download_is_retried_then_given_up,
    a_dropped_instance_socket_reconnects,
    prompts_an_instance_lost_are_requeued,
);
