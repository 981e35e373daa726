//! `kill -9` of the gantry process with tasks queued, waiting inside ComfyUI and
//! running; after a restart every task is accounted for, none lost, none run twice.

use crate::common::process::GantryProcess;
use crate::common::sim::Sim;
use crate::common::{ADMIN_PASSWORD, eventually, fleet_config, t2i_graph};
use gantry_store::Backend;
use gantry_testkit::ScratchDb;
use serde_json::json;

async fn a_killed_gantry_finds_every_task_after_restart(backend: Backend) {
    let sims = [Sim::spawn(&["--step-ms", "40"]), Sim::spawn(&["--step-ms", "40"])];
    let data = tempfile::tempdir().unwrap();
    let db = ScratchDb::new(backend).await;
    let mut gantry = GantryProcess::start(data.path(), &db.url, None);
    let login = gantry
        .call("POST", "/api/auth/login", None, Some(json!({"username": "admin", "password": ADMIN_PASSWORD})))
        .await;
    let token = login["data"]["token"].as_str().unwrap().to_owned();
    gantry.call("PUT", "/api/config", Some(&token), Some(fleet_config(&[sims[0].port, sims[1].port], 1))).await;
    eventually(20, "instances alive", || async {
        let list = gantry.call("GET", "/api/instances", Some(&token), None).await;
        (list["data"].as_array()?.iter().filter(|i| i["alive"] == true).count() == 2).then_some(())
    })
    .await;

    let mut ids = Vec::new();
    for i in 0..6 {
        let body =
            json!({"workflow": t2i_graph("v1-5-pruned-emaonly.safetensors", 15, i), "params": {"prompt": "restart"}});
        let answer = gantry.call("POST", "/api/tasks", Some(&token), Some(body)).await;
        ids.push(answer["data"]["id"].as_str().unwrap().to_owned());
    }
    eventually(20, "two tasks running", || async {
        let running = gantry.call("GET", "/api/tasks?status=running", Some(&token), None).await;
        (running["data"]["total"].as_i64()? == 2).then_some(())
    })
    .await;
    gantry.kill9();

    // ComfyUI keeps working while Gantry is down; let some prompts finish unobserved.
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    let gantry = GantryProcess::start(data.path(), &db.url, None);
    for id in &ids {
        let task = eventually(60, "task to finish after restart", || async {
            let task = gantry.call("GET", &format!("/api/tasks/{id}"), Some(&token), None).await;
            matches!(task["data"]["status"].as_str()?, "completed" | "failed" | "cancelled")
                .then(|| task["data"].clone())
        })
        .await;
        assert_eq!(task["status"], "completed", "{task}");
        assert_eq!(task["attempts"], 1, "no task was run twice: {task}");
        assert_eq!(task["result"]["files"].as_array().unwrap().len(), 1);
    }
    let mut executed = 0;
    for sim in &sims {
        executed += sim.prompts_started().await;
    }
    assert_eq!(executed, ids.len(), "each task ran exactly once on the instances");
}

gantry_testkit::on_each_backend!(a_killed_gantry_finds_every_task_after_restart);
