//! `kill -9` of the gantry process with tasks queued, waiting inside ComfyUI and
//! running; after a restart every task is accounted for, none lost, none run twice.

mod common;

use common::sim::Sim;
use common::{ADMIN_PASSWORD, JWT_SECRET, eventually, fleet_config, t2i_graph};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

struct Gantry {
    child: Child,
    base: String,
}

impl Gantry {
    fn start(data_dir: &std::path::Path) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_gantry"))
            .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
            .env("GANTRY_DATA_DIR", data_dir)
            .env("GANTRY_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("GANTRY_JWT_SECRET", JWT_SECRET)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("gantry starts");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let addr = loop {
            let line = lines.next().expect("gantry logs its address").expect("log line");
            let entry: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
            if let Some(addr) = entry["fields"]["addr"].as_str() {
                break addr.to_owned();
            }
        };
        // Keep draining the log so the process never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Self { child, base: format!("http://{addr}") }
    }

    fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Gantry {
    fn drop(&mut self) {
        self.kill9();
    }
}

async fn call(
    http: &reqwest::Client,
    base: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Value {
    let mut request = http.request(reqwest::Method::from_bytes(method.as_bytes()).unwrap(), format!("{base}{path}"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.expect("request").json().await.expect("JSON")
}

#[tokio::test]
async fn a_killed_gantry_finds_every_task_after_restart() {
    let sims = [Sim::spawn(&["--step-ms", "40"]), Sim::spawn(&["--step-ms", "40"])];
    let data = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();
    let mut gantry = Gantry::start(data.path());
    let login = call(
        &http,
        &gantry.base,
        "POST",
        "/api/auth/login",
        None,
        Some(json!({"username": "admin", "password": ADMIN_PASSWORD})),
    )
    .await;
    let token = login["data"]["token"].as_str().unwrap().to_owned();
    call(&http, &gantry.base, "PUT", "/api/config", Some(&token), Some(fleet_config(&[sims[0].port, sims[1].port], 1)))
        .await;
    eventually(20, "instances alive", || async {
        let list = call(&http, &gantry.base, "GET", "/api/instances", Some(&token), None).await;
        (list["data"].as_array()?.iter().filter(|i| i["alive"] == true).count() == 2).then_some(())
    })
    .await;

    let mut ids = Vec::new();
    for i in 0..6 {
        let body =
            json!({"workflow": t2i_graph("v1-5-pruned-emaonly.safetensors", 15, i), "params": {"prompt": "restart"}});
        let answer = call(&http, &gantry.base, "POST", "/api/tasks", Some(&token), Some(body)).await;
        ids.push(answer["data"]["id"].as_str().unwrap().to_owned());
    }
    eventually(20, "two tasks running", || async {
        let running = call(&http, &gantry.base, "GET", "/api/tasks?status=running", Some(&token), None).await;
        (running["data"]["total"].as_i64()? == 2).then_some(())
    })
    .await;
    gantry.kill9();

    // ComfyUI keeps working while Gantry is down; let some prompts finish unobserved.
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    let gantry = Gantry::start(data.path());
    for id in &ids {
        let task = eventually(60, "task to finish after restart", || async {
            let task = call(&http, &gantry.base, "GET", &format!("/api/tasks/{id}"), Some(&token), None).await;
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
        let timeline: Value =
            http.get(format!("{}/sim/timeline", sim.base())).send().await.unwrap().json().await.unwrap();
        executed += timeline.as_array().unwrap().iter().filter(|p| p["started_at"].is_number()).count();
    }
    assert_eq!(executed, ids.len(), "each task ran exactly once on the instances");
}
