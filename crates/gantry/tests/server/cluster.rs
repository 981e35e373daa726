//! Three `gantry serve` processes on one PostgreSQL database and one file store, in front of
//! two comfy-sims: any gateway answers any route the same, a gateway `kill -9`ed mid-run
//! loses nothing (its instances and their tasks go on under another gateway, each task
//! running once), and every gateway's clients hear every event.

use crate::common::process::GantryProcess;
use crate::common::sim::Sim;
use crate::common::vflow::step;
use crate::common::{ADMIN_PASSWORD, eventually, fleet_config, next_message, node_script, t2i_graph};
use gantry_store::Backend;
use gantry_testkit::ScratchDb;
use serde_json::{Value, json};
use std::path::Path;

const SD15: &str = "v1-5-pruned-emaonly.safetensors";

/// One gateway of the cluster: its own data directory, the shared database and file store.
fn gateway(data: &Path, db: &str, files: &Path, config: &Path) -> GantryProcess {
    let files_url = format!("file://{}", files.display());
    GantryProcess::start_with_env(data, db, Some(config), &[("GANTRY_FILES_URL", &files_url)])
}

async fn login(gateway: &GantryProcess, username: &str, password: &str) -> String {
    let answer = gateway
        .call("POST", "/api/v1/auth/login", None, Some(json!({"username": username, "password": password})))
        .await;
    answer["data"]["token"].as_str().unwrap_or_else(|| panic!("login {username}: {answer}")).to_owned()
}

/// The instances a gateway shows that are alive with their models known.
async fn alive_instances(gateway: &GantryProcess, token: &str) -> usize {
    let list = gateway.call("GET", "/api/instances", Some(token), None).await;
    list["data"].as_array().map_or(0, |l| {
        l.iter().filter(|i| i["alive"] == true && !i["models"].as_array().is_none_or(Vec::is_empty)).count()
    })
}

/// The ids of the gateways that drive instances.
async fn drivers(db: &ScratchDb) -> Vec<String> {
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    let driving = sqlx::query_scalar("SELECT gateway_id FROM instance_leases").fetch_all(&pool).await.unwrap();
    pool.close().await;
    driving
}

/// A gateway's id, from its health route.
async fn id_of(gateway: &GantryProcess) -> String {
    let health = gateway.call("GET", "/api/health", None, None).await;
    health["data"]["gateway"].as_str().unwrap_or_else(|| panic!("{health}")).to_owned()
}

#[tokio::test]
async fn three_gateways_share_one_postgres_and_survive_a_killed_one() {
    let sims = [Sim::spawn(&["--step-ms", "60"]), Sim::spawn(&["--step-ms", "60"])];
    let db = ScratchDb::new(Backend::Postgres).await;
    let files = tempfile::tempdir().unwrap();
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let config = files.path().join("gantry.toml");
    std::fs::write(&config, "[cluster]\nlease_secs = 2\n").unwrap();
    let mut gateways: Vec<GantryProcess> =
        dirs.iter().map(|d| gateway(d.path(), &db.url, files.path(), &config)).collect();
    let http = reqwest::Client::new();

    // A token from one gateway works on all; the fleet configured through the first is
    // live on the others.
    let admin = login(&gateways[0], "admin", ADMIN_PASSWORD).await;
    let answer = gateways[0]
        .call("PUT", "/api/config", Some(&admin), Some(fleet_config(&[sims[0].port, sims[1].port], 1)))
        .await;
    assert_eq!(answer["code"], 200, "{answer}");
    for g in &gateways {
        eventually(20, "every gateway to see both instances alive", || async {
            (alive_instances(g, &admin).await == 2).then_some(())
        })
        .await;
    }

    // A user, and clients of the event streams on the second and third gateways.
    let created = gateways[1]
        .call(
            "POST",
            "/api/v1/admin/users",
            Some(&admin),
            Some(json!({"username": "ada", "password": "ada-password-1"})),
        )
        .await;
    let ada_id = created["data"]["id"].as_i64().unwrap_or_else(|| panic!("{created}"));
    gateways[2]
        .call("POST", &format!("/api/v1/admin/users/{ada_id}/credits"), Some(&admin), Some(json!({"amount": 10_000})))
        .await;
    let ada = login(&gateways[2], "ada", "ada-password-1").await;
    let ws_url = format!("{}/ws?token={admin}", gateways[1].base.replace("http://", "ws://"));
    let mut socket = tokio_tungstenite::connect_async(ws_url).await.expect("websocket connects").0;

    // An event trigger (one run per completed task for the whole cluster) and a cron
    // schedule (one run per tick for the whole cluster).
    let on_done = json!([
        step("t", "trigger_event", 0, json!({"event": "task_completed"})),
        step("l", "log", 0, json!({"message": "{{t.subject}}"})),
    ]);
    let every_minute = json!([
        step("t", "trigger_schedule", 0, json!({"cron": "* * * * *"})),
        step("l", "log", 0, json!({"message": "tick"})),
    ]);
    let mut workflows = Vec::new();
    for (name, steps) in [("on done", on_done), ("every minute", every_minute)] {
        let body = json!({"name": name, "steps": steps, "isEnabled": true});
        let created = gateways[0].call("POST", "/api/v1/workflows", Some(&ada), Some(body)).await;
        workflows.push(created["data"]["id"].as_str().unwrap_or_else(|| panic!("{created}")).to_owned());
    }

    // Tasks submitted round-robin; once some run, a gateway that drives an instance dies.
    let mut ids = Vec::new();
    for i in 0..12u64 {
        let body = json!({"workflow": t2i_graph(SD15, 20, i), "params": {"prompt": "cluster"}});
        let answer = gateways[i as usize % 3].call("POST", "/api/tasks", Some(&ada), Some(body)).await;
        ids.push(answer["data"]["id"].as_str().unwrap_or_else(|| panic!("{answer}")).to_owned());
    }
    eventually(30, "two tasks running", || async {
        let running = gateways[0].call("GET", "/api/tasks?status=running", Some(&admin), None).await;
        (running["data"]["total"].as_i64()? == 2).then_some(())
    })
    .await;
    let driving = drivers(&db).await;
    let mut victim = None;
    for (i, g) in gateways.iter().enumerate() {
        if driving.contains(&id_of(g).await) {
            victim = Some(i);
        }
    }
    let victim = victim.expect("some gateway drives an instance");
    gateways[victim].kill9();
    let survivor = (victim + 1) % 3;
    gateways[victim] = gateway(dirs[victim].path(), &db.url, files.path(), &config);

    // Every task completes once, and every gateway shows it and serves its output.
    for id in &ids {
        let task = eventually(90, "task to finish", || async {
            let task = gateways[survivor].call("GET", &format!("/api/tasks/{id}"), Some(&ada), None).await;
            matches!(task["data"]["status"].as_str()?, "completed" | "failed" | "cancelled")
                .then(|| task["data"].clone())
        })
        .await;
        assert_eq!(task["status"], "completed", "{task}");
        for g in &gateways {
            let seen = g.call("GET", &format!("/api/tasks/{id}"), Some(&ada), None).await;
            assert_eq!(seen["data"]["status"], "completed", "{seen}");
            let url = seen["data"]["result"]["files"][0].as_str().unwrap_or_else(|| panic!("{seen}"));
            let file = &url[url.find("/files/").unwrap_or_else(|| panic!("{url}"))..];
            assert_eq!(seen["data"]["queuePosition"], Value::Null, "{seen}");
            let download = http.get(format!("{}{file}", g.base)).bearer_auth(&ada).send().await.unwrap();
            assert_eq!(download.status(), 200, "{} serves {file}", g.base);
            assert!(download.bytes().await.unwrap().starts_with(b"\x89PNG"));
        }
    }
    let mut executed = 0;
    for sim in &sims {
        let timeline: Value =
            http.get(format!("{}/sim/timeline", sim.base())).send().await.unwrap().json().await.unwrap();
        executed += timeline.as_array().unwrap().iter().filter(|p| p["started_at"].is_number()).count();
    }
    assert_eq!(executed, ids.len(), "each task ran exactly once on the instances");

    // The socket on the second gateway heard every completion, whichever gateway ran it.
    let mut heard = std::collections::HashSet::new();
    while heard.len() < ids.len() {
        let message = next_message(&mut socket, "task_completed", |_| true).await;
        heard.insert(message["data"]["taskId"].as_str().unwrap_or_default().to_owned());
    }
    assert!(ids.iter().all(|id| heard.contains(id)), "heard {heard:?}");

    // The event trigger ran once per task.
    let runs = |workflow: String, gateway: usize| {
        let (gateways, ada) = (&gateways, &ada);
        async move {
            let list = gateways[gateway]
                .call("GET", &format!("/api/v1/executions?workflowId={workflow}&pageSize=100"), Some(ada), None)
                .await;
            list["data"]["executions"].as_array().cloned().unwrap_or_default()
        }
    };
    eventually(30, "one event run per task", || async {
        (runs(workflows[0].clone(), 1).await.len() >= ids.len()).then_some(())
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    assert_eq!(runs(workflows[0].clone(), 2).await.len(), ids.len(), "once per event across the cluster");

    // A STOMP client on a gateway that drives no instance gets its result from the gateway
    // that ran the task.
    let driving = drivers(&db).await;
    let mut idle = None;
    for g in &gateways {
        if !driving.contains(&id_of(g).await) {
            idle = Some(g.base.clone());
        }
    }
    let idle = idle.expect("two instances leave one of three gateways idle");
    let outcome = node_script("stomp-client.mjs", &["ws", &idle, &ada]).await;
    assert_eq!(outcome["results"][0]["status"], "COMPLETED", "{outcome}");

    // Disabling an instance through one gateway is live on the others.
    let instance = format!("127.0.0.1:{}", sims[0].port);
    let answer = gateways[2]
        .call("PUT", &format!("/api/instances/{instance}"), Some(&admin), Some(json!({"enabled": false})))
        .await;
    assert_eq!(answer["code"], 200, "{answer}");
    eventually(10, "the switch to reach the first gateway", || async {
        let seen = gateways[0].call("GET", &format!("/api/instances/{instance}"), Some(&admin), None).await;
        (seen["data"]["enabled"] == false).then_some(())
    })
    .await;

    // The schedule fired once for its minute, not once per gateway.
    let fired = eventually(75, "the schedule to fire", || async {
        let list = runs(workflows[1].clone(), 0).await;
        (!list.is_empty()).then_some(list)
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let list = runs(workflows[1].clone(), 1).await;
    assert_eq!(list.len(), fired.len().max(1), "one run per tick: {list:?}");
}
