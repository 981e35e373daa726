//! The task-list benchmark: list latency as stored tasks pile up.
//!
//! For each size (`--baseline` tasks, then `--tasks`): a fresh gantry gets a user; it is
//! stopped and the user's tasks are stored straight into its SQLite database through the
//! dispatch and files repositories (the rows the server writes: star-graph text-to-image
//! tasks, nine in ten completed with one output file, the rest cancelled); it is started
//! again, and `--clients` concurrent clients, each sending its next request as soon as
//! the last is answered, GET:
//! - `/api/health`, the floor (HTTP, routing, auth);
//! - star-graph `/api/v1/tasks`, page 1, the middle page (the deepest from either end) and
//!   the last page (20 per page);
//! - comfy-manager `/api/tasks` (first 20).
//!
//! p50/p99 of each series at both sizes are printed with their ratio.

use crate::api::Api;
use crate::procs;
use crate::stats::percentile;
use anyhow::{Context, bail};
use gantry_dispatch::repo::tasks::{self, TaskRecord, TaskStatus};
use gantry_files::FileRecord;
use gantry_store::Db;
use serde_json::{Value, json};
use std::path::Path;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

#[derive(clap::Args)]
pub struct Args {
    /// Tasks stored for the measured run.
    #[arg(long, default_value_t = 100_000)]
    tasks: usize,
    /// Tasks stored for the baseline run.
    #[arg(long, default_value_t = 1_000)]
    baseline: usize,
    /// Concurrent clients.
    #[arg(long, default_value_t = 50)]
    clients: usize,
    /// Requests per series (spread over the clients).
    #[arg(long, default_value_t = 2_000)]
    requests: usize,
}

const PAGE: usize = 20;
const USER: &str = "lister";
const USER_PASSWORD: &str = "lister-password-1";

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// A text-to-image graph as the star-graph templates make them.
fn graph(seed: usize) -> String {
    json!({
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "v1-5-pruned-emaonly.safetensors"}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": 512, "batch_size": 1}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a lighthouse at dusk, oil painting", "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["4", 1]}},
        "3": {"class_type": "KSampler", "inputs": {"seed": seed, "steps": 20, "cfg": 7.0, "sampler_name": "euler",
            "scheduler": "normal", "denoise": 1.0, "model": ["4", 0], "positive": ["6", 0], "negative": ["7", 0], "latent_image": ["5", 0]}},
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": format!("gantry/{seed}/out"), "images": ["8", 0]}}
    })
    .to_string()
}

/// One stored task (and its output file when completed), `age_s` seconds old.
fn task(i: usize, user_id: i64, age_s: i64, now: i64) -> (TaskRecord, Option<FileRecord>) {
    let id = format!("t2i_bench_{i:09}");
    let created = now - age_s * 1000;
    let finished = created + 4_000;
    let completed = !i.is_multiple_of(10);
    let file = completed.then(|| FileRecord {
        id: format!("file_bench_{i:09}"),
        user_id,
        kind: "output".into(),
        filename: format!("out_{i:05}_.png"),
        content_type: "image/png".into(),
        size: 412_345,
        sha256: format!("{i:064x}"),
        width: Some(512),
        height: Some(512),
        task_id: Some(id.clone()),
        created_at: finished,
    });
    let meta = json!({"prompt": "a lighthouse at dusk, oil painting", "negativePrompt": "blurry",
        "parameters": {"width": 512, "height": 512, "steps": 20, "seed": i}, "cost": 10});
    let record = TaskRecord {
        id,
        user_id,
        kind: "TEXT2IMG".into(),
        status: if completed { TaskStatus::Completed } else { TaskStatus::Cancelled },
        priority: 0,
        seq: created * 1000,
        graph: graph(i),
        params: json!({"6.text": "a lighthouse at dusk, oil painting", "3.seed": i}).to_string(),
        inputs: "[]".into(),
        models: json!([{"folder": "checkpoints", "name": "v1-5-pruned-emaonly.safetensors"}]).to_string(),
        total_steps: 20,
        instance_id: Some("sim-0".into()),
        prompt_id: Some(format!("prompt-{i}")),
        attempts: 1,
        progress: if completed { 100 } else { 0 },
        error: None,
        failure: None,
        result: file.as_ref().map(|f| json!({"files": [f.id]}).to_string()),
        meta: Some(meta.to_string()),
        archived_at: None,
        created_at: created,
        updated_at: finished,
        started_at: Some(created + 1_000),
        finished_at: Some(finished),
    };
    (record, file)
}

/// Stores `n` tasks of `user_id` in the (stopped) gantry's database.
async fn seed(database: &Path, user_id: i64, n: usize) -> anyhow::Result<()> {
    let db = Db::connect(&format!("sqlite://{}", database.display())).await?;
    let now = now_ms();
    for i in 0..n {
        let (record, file) = task(i, user_id, (n - i) as i64, now);
        tasks::insert(&db, &record, None).await?;
        if let Some(file) = file {
            gantry_files::repo::files::insert(&db, &file).await?;
        }
    }
    db.close().await;
    Ok(())
}

/// Latencies (ms) of `requests` GETs of `path` from `clients` concurrent clients.
async fn series(api: &Api, path: &str, clients: usize, requests: usize) -> anyhow::Result<Vec<f64>> {
    let per_client = requests.div_ceil(clients.max(1));
    let mut running = Vec::with_capacity(clients);
    for _ in 0..clients.max(1) {
        let (api, path) = (api.clone(), path.to_owned());
        running.push(tokio::spawn(async move {
            let mut out = Vec::with_capacity(per_client);
            for _ in 0..per_client {
                out.push(api.timed_get(&path).await?);
            }
            anyhow::Ok(out)
        }));
    }
    let mut all = Vec::with_capacity(requests);
    for client in running {
        all.extend(client.await??);
    }
    Ok(all)
}

/// The series measured at one size, by label: (p50, p99) in ms.
type Figures = Vec<(String, f64, f64)>;

/// A fresh gantry with `n` tasks stored for one user, measured.
async fn measure(args: &Args, n: usize) -> anyhow::Result<Figures> {
    let data = std::env::temp_dir().join(format!("gantry-bench-lists-{n}-{}", now_ms()));
    let password = format!("bench-{}", now_ms());
    let http = reqwest::Client::builder().pool_max_idle_per_host(args.clients.max(1) * 2).build()?;

    let gantry = procs::gantry(&data, &password)?;
    let admin = Api::login(&http, &gantry.addr, "admin", &password).await?;
    let user = json!({"username": USER, "password": USER_PASSWORD});
    let created = admin.call(reqwest::Method::POST, "/api/v1/admin/users", Some(user)).await?;
    let user_id = created["data"]["id"].as_i64().context("created user without id")?;
    drop(gantry);

    let t = Instant::now();
    seed(&data.join("gantry.db"), user_id, n).await?;
    println!("{n} tasks stored in {:.1} s", t.elapsed().as_secs_f64());

    let gantry = procs::gantry(&data, &password)?;
    let api = Api::login(&http, &gantry.addr, USER, USER_PASSWORD).await?;
    let (middle, last) = (n / PAGE / 2 + 1, n.div_ceil(PAGE).max(1));
    let first: Value = api.call(reqwest::Method::GET, &format!("/api/v1/tasks?page=1&pageSize={PAGE}"), None).await?;
    if first["data"]["totalElements"].as_u64() != Some(n as u64) {
        bail!("the list counts {} tasks, not {n}", first["data"]["totalElements"]);
    }
    let paths = [
        ("GET /api/health (floor)".to_owned(), "/api/health".to_owned()),
        ("star-graph /api/v1/tasks page 1".to_owned(), format!("/api/v1/tasks?page=1&pageSize={PAGE}")),
        ("star-graph /api/v1/tasks middle page".to_owned(), format!("/api/v1/tasks?page={middle}&pageSize={PAGE}")),
        ("star-graph /api/v1/tasks last page".to_owned(), format!("/api/v1/tasks?page={last}&pageSize={PAGE}")),
        ("comfy-manager /api/tasks".to_owned(), format!("/api/tasks?limit={PAGE}")),
    ];
    // Unmeasured: opens the clients' connections and warms the server's database
    // connections and caches (the server was just started on a freshly written database).
    series(&api, "/api/health", args.clients, args.clients).await?;
    for (_, path) in &paths {
        series(&api, path, args.clients, args.requests / 4).await?;
    }
    let mut figures = Vec::new();
    for (label, path) in paths {
        let mut ms = series(&api, &path, args.clients, args.requests).await?;
        figures.push((label, percentile(&mut ms, 50.0), percentile(&mut ms, 99.0)));
    }
    drop(gantry);
    let _ = std::fs::remove_dir_all(&data);
    Ok(figures)
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    println!(
        "lists benchmark: {} clients, {} requests per series, {} tasks (baseline) vs {} tasks, {PAGE} per page",
        args.clients, args.requests, args.baseline, args.tasks
    );
    let base = measure(&args, args.baseline).await?;
    let many = measure(&args, args.tasks).await?;
    println!();
    println!(
        "{:<40} {:>24} {:>24} {:>10}",
        "",
        format!("{} tasks", args.baseline),
        format!("{} tasks", args.tasks),
        "p99 ratio"
    );
    for ((label, p50a, p99a), (_, p50b, p99b)) in base.iter().zip(&many) {
        println!(
            "{label:<40} {:>24} {:>24} {:>9.2}×",
            format!("p50 {p50a:.2} / p99 {p99a:.2} ms"),
            format!("p50 {p50b:.2} / p99 {p99b:.2} ms"),
            p99b / p99a.max(f64::EPSILON)
        );
    }
    let worst = many.iter().filter(|(label, ..)| label.contains("/tasks")).map(|(_, _, p99)| *p99).fold(0.0, f64::max);
    let verdict = if worst <= 20.0 { "met" } else { "not met" };
    println!("target: every task list p99 ≤ 20 ms with {} tasks stored: {verdict} (worst {worst:.2} ms)", args.tasks);
    Ok(())
}
