//! The engine benchmark's workflows run through a release gantry (vflow API), to price
//! what the server adds: storing the execution, its progress and its step logs.

use crate::api::Api;
use crate::procs;
use crate::stats::percentile;
use anyhow::{Context, bail};
use gantry_workflow_engine::Workflow;
use serde_json::json;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Median times (ms) of synchronous runs through the server.
pub struct Served {
    /// The execution's own duration: `completedAt - startedAt` as the server recorded them.
    pub run_ms: f64,
    /// `POST /api/v1/workflows/{id}/execute` `{"async": false}`, sent to answered.
    pub request_ms: f64,
}

/// Runs each workflow `repeat` times (after one unmeasured run) through a fresh gantry.
pub async fn run(workflows: &[&Workflow], repeat: usize) -> anyhow::Result<Vec<Served>> {
    let stamp = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros()).unwrap_or(0);
    let data = std::env::temp_dir().join(format!("gantry-bench-engine-{stamp}"));
    let password = format!("bench-{stamp}");
    // Runs back to back, past vflow's default of 10 executions a minute.
    std::fs::create_dir_all(&data)?;
    let config = data.join("bench.toml");
    std::fs::write(&config, "[automation.rate_limits]\nexecute = 1000000\n")?;
    let config = config.to_string_lossy();
    // A 10,000-step workflow is a few MiB of JSON.
    let env = [("GANTRY_MAX_BODY_BYTES", "67108864"), ("GANTRY_CONFIG", config.as_ref())];
    let gantry = procs::gantry_with_env(&data, &password, &env)?;
    let http = reqwest::Client::new();
    let api = Api::login(&http, &gantry.addr, "admin", &password).await?;
    let mut out = Vec::new();
    for w in workflows {
        let body = json!({"name": w.id, "steps": w.steps, "isEnabled": true});
        let created = api.call(reqwest::Method::POST, "/api/v1/workflows", Some(body)).await?;
        let id = created["data"]["id"].as_str().context("created workflow without id")?.to_owned();
        let (mut run_ms, mut request_ms) = (Vec::new(), Vec::new());
        for round in 0..=repeat.max(1) {
            let t = Instant::now();
            let path = format!("/api/v1/workflows/{id}/execute");
            let answer = api.call(reqwest::Method::POST, &path, Some(json!({"async": false}))).await?;
            let wall = t.elapsed().as_secs_f64() * 1e3;
            let e = &answer["data"];
            if e["status"] != "completed" {
                bail!("{} through the server ended {}: {}", w.id, e["status"], e["error"]);
            }
            let took = e["completedAt"].as_i64().zip(e["startedAt"].as_i64()).map(|(end, start)| end - start);
            if round > 0 {
                run_ms.push(took.context("execution without startedAt/completedAt")? as f64);
                request_ms.push(wall);
            }
        }
        out.push(Served { run_ms: percentile(&mut run_ms, 50.0), request_ms: percentile(&mut request_ms, 50.0) });
    }
    drop(gantry);
    let _ = std::fs::remove_dir_all(&data);
    Ok(out)
}
