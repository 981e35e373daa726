//! The dispatch benchmark.
//!
//! 1. **Direct**: an ideal client drives N instances itself: one WebSocket per instance,
//!    one prompt running plus one waiting on each, the next task to whichever instance
//!    frees up first, outputs read through `/history` and `/view`.
//! 2. **Gantry**: the same tasks submitted to Gantry's `/api/tasks` (completions read
//!    from its monitor counts). Both runs count failed tasks apart and print them.
//! 3. **Virtual ComfyUI**: the same tasks as prompts to Gantry's `/comfy/prompt`.
//! 4. **Latency**: tasks one at a time on an idle fleet, directly and through Gantry,
//!    each up to its output files downloaded (`/history` + `/view` directly, the
//!    `task_completed` message + the file URLs through comfy-manager, and the direct
//!    client's own steps through the virtual ComfyUI at `/comfy/k/<token>`); added
//!    latency = end-to-end time minus the instance's own queued→finished time.
//!
//! The instances are comfy-sims (sending `progress_state` on every step, as ComfyUI
//! does), or with `--real-comfyui` real ComfyUI servers (`scripts/comfyui-env`) running a
//! model-free graph; idle gaps and latency need the sims' own timelines (end of one
//! prompt to start of the next on the same instance, while work was still waiting), so a
//! real fleet gives the throughput figures only.

use crate::procs::{self, Proc};
use crate::stats::{percentile, summary_ms};
use anyhow::{Context, bail};
use futures_util::StreamExt;
use gantry_comfy::{ComfyClient, ComfyEvent, PromptRequest};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(clap::Args)]
pub struct Args {
    /// comfy-sim instances.
    #[arg(long, default_value_t = 32)]
    instances: usize,
    /// Tasks per throughput run.
    #[arg(long, default_value_t = 20_000)]
    tasks: usize,
    /// Sampler steps per task.
    #[arg(long, default_value_t = 4)]
    steps: u64,
    /// Milliseconds per sampler step in the sims.
    #[arg(long, default_value_t = 25)]
    step_ms: u64,
    /// Tasks in the one-at-a-time latency runs.
    #[arg(long, default_value_t = 200)]
    latency_samples: usize,
    /// Real ComfyUI instances instead of comfy-sims (`--instances` of them).
    #[arg(long)]
    real_comfyui: bool,
}

const CHECKPOINT: &str = "v1-5-pruned-emaonly.safetensors";

/// The benchmark's graph: a small text-to-image run on the sims, or a model-free one on a
/// real ComfyUI, which has no model weights here (a 512² image blurred and saved: tens of
/// milliseconds of CPU work, so the run measures dispatch rather than Python's overhead).
pub(crate) fn graph(seed: usize, steps: u64, real: bool) -> Value {
    if real {
        return json!({
            "1": {"class_type": "EmptyImage", "inputs": {"width": 512, "height": 512, "batch_size": 1, "color": seed % 0x100_0000}},
            "2": {"class_type": "ImageBlur", "inputs": {"image": ["1", 0], "blur_radius": 15, "sigma": 5.0}},
            "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": format!("bench/{seed}")}}
        });
    }
    json!({
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": CHECKPOINT}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "bench", "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["4", 1]}},
        "3": {"class_type": "KSampler", "inputs": {"seed": seed, "steps": steps, "cfg": 7.0, "sampler_name": "euler",
            "scheduler": "normal", "denoise": 1.0, "model": ["4", 0], "positive": ["6", 0], "negative": ["7", 0], "latent_image": ["5", 0]}},
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": format!("bench/{seed}"), "images": ["8", 0]}}
    })
}

pub(crate) fn now_us() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0)
}

#[derive(Debug, Clone)]
pub(crate) struct Timing {
    pub prompt_id: String,
    pub queued: u64,
    pub started: u64,
    pub finished: u64,
}

pub(crate) async fn timelines(http: &reqwest::Client, sims: &[Proc]) -> anyhow::Result<Vec<Vec<Timing>>> {
    let mut all = Vec::new();
    for sim in sims {
        let list: Value = http.get(format!("http://{}/sim/timeline", sim.addr)).send().await?.json().await?;
        let mut entries: Vec<Timing> = list
            .as_array()
            .context("timeline")?
            .iter()
            .filter_map(|e| {
                Some(Timing {
                    prompt_id: e["prompt_id"].as_str()?.to_owned(),
                    queued: e["queued_at"].as_u64()?,
                    started: e["started_at"].as_u64()?,
                    finished: e["finished_at"].as_u64()?,
                })
            })
            .collect();
        entries.sort_by_key(|t| t.started);
        all.push(entries);
    }
    Ok(all)
}

/// Idle gaps (ms) between consecutive prompts on each instance within `[from, to]` µs,
/// counted only while work was still waiting (before the last prompt of the run started).
fn idle_gaps(timelines: &[Vec<Timing>], from: u64, to: u64) -> Vec<f64> {
    let last_start = timelines
        .iter()
        .flatten()
        .filter(|t| t.started >= from && t.finished <= to)
        .map(|t| t.started)
        .max()
        .unwrap_or(0);
    let mut gaps = Vec::new();
    for timeline in timelines {
        let runs: Vec<&Timing> = timeline.iter().filter(|t| t.started >= from && t.finished <= to).collect();
        for pair in runs.windows(2) {
            if pair[1].started <= last_start {
                gaps.push(pair[1].started.saturating_sub(pair[0].finished) as f64 / 1000.0);
            }
        }
    }
    gaps
}

/// How long each prompt within `[from, to]` µs ran on its instance (ms): on a machine the
/// instances share with the client, a busier client stretches them.
fn run_times(timelines: &[Vec<Timing>], from: u64, to: u64) -> Vec<f64> {
    let within = timelines.iter().flatten().filter(|t| t.started >= from && t.finished <= to);
    within.map(|t| t.finished.saturating_sub(t.started) as f64 / 1000.0).collect()
}

/// Tasks a run finished: completed, and failed (an execution error, say).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Finished {
    pub completed: usize,
    pub failed: usize,
}

impl std::ops::AddAssign for Finished {
    fn add_assign(&mut self, other: Self) {
        self.completed += other.completed;
        self.failed += other.failed;
    }
}

impl std::fmt::Display for Finished {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} completed, {} failed", self.completed, self.failed)
    }
}

/// One instance's share of the direct run: keeps two prompts on it until the work runs out.
async fn direct_worker(
    client: ComfyClient,
    next: Arc<AtomicUsize>,
    total: usize,
    (steps, real): (u64, bool),
    seed_base: usize,
) -> anyhow::Result<Finished> {
    let client_id = format!("bench-{}", now_us());
    let mut events = client.events(&client_id).await?;
    let mut in_flight = 0;
    let mut done = Finished::default();
    let submit = |i: usize| {
        let graph = graph(seed_base + i, steps, real);
        let request = PromptRequest::new(graph.as_object().cloned().unwrap_or_default(), client_id.clone());
        let client = client.clone();
        async move { client.submit(&request).await }
    };
    for _ in 0..2 {
        let i = next.fetch_add(1, Ordering::SeqCst);
        if i < total {
            submit(i).await?;
            in_flight += 1;
        }
    }
    while in_flight > 0 {
        let Some(event) = events.next().await else { bail!("instance closed its socket") };
        if let ComfyEvent::Executing { prompt_id: Some(prompt_id), node: None } = event? {
            in_flight -= 1;
            let i = next.fetch_add(1, Ordering::SeqCst);
            if i < total {
                submit(i).await?;
                in_flight += 1;
            }
            let entry = client.history(&prompt_id).await?.context("history entry")?;
            for output in &entry.outputs {
                client.view(output).await?;
            }
            if matches!(entry.outcome, gantry_comfy::Outcome::Success) && !entry.outputs.is_empty() {
                done.completed += 1;
            } else {
                done.failed += 1;
            }
        }
    }
    Ok(done)
}

async fn direct_run(
    http: &reqwest::Client,
    sims: &[Proc],
    tasks: usize,
    work: (u64, bool),
    seed_base: usize,
) -> anyhow::Result<(f64, Finished)> {
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let workers: Vec<_> = sims
        .iter()
        .map(|s| {
            tokio::spawn(direct_worker(
                ComfyClient::new(&format!("http://{}", s.addr), http.clone()),
                next.clone(),
                tasks,
                work,
                seed_base,
            ))
        })
        .collect();
    let mut done = Finished::default();
    for w in workers {
        done += w.await??;
    }
    if done.completed + done.failed != tasks {
        bail!("direct run finished {} of {tasks}", done.completed + done.failed);
    }
    Ok((start.elapsed().as_secs_f64(), done))
}

pub(crate) struct GantryClient {
    pub http: reqwest::Client,
    pub base: String,
    pub token: String,
}

impl GantryClient {
    pub async fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        let answer: Value = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await?
            .json()
            .await?;
        if answer["code"] != 200 {
            bail!("{path}: {answer}");
        }
        Ok(answer["data"].clone())
    }

    /// Queues a prompt through the virtual ComfyUI; its id.
    async fn prompt(&self, graph: Value) -> anyhow::Result<String> {
        let answer: Value = self
            .http
            .post(format!("{}/comfy/prompt", self.base))
            .bearer_auth(&self.token)
            .json(&json!({"prompt": graph, "client_id": "bench"}))
            .send()
            .await?
            .json()
            .await?;
        answer["prompt_id"].as_str().map(str::to_owned).with_context(|| format!("/comfy/prompt: {answer}"))
    }

    /// The instance's prompt id of a task (the timelines name prompts by it).
    async fn prompt_on_instance(&self, task_id: &str) -> anyhow::Result<Option<String>> {
        let detail: Value = self
            .http
            .get(format!("{}/api/tasks/{task_id}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await?
            .json()
            .await?;
        Ok(detail["data"]["promptId"].as_str().map(str::to_owned))
    }

    /// Completed and failed tasks, from the monitor overview.
    pub async fn finished_count(&self) -> anyhow::Result<Finished> {
        let overview: Value = self
            .http
            .get(format!("{}/api/monitor/overview", self.base))
            .bearer_auth(&self.token)
            .send()
            .await?
            .json()
            .await?;
        let count = |key: &str| overview["data"][key].as_u64().unwrap_or(0) as usize;
        Ok(Finished { completed: count("completedTasks"), failed: count("failedTasks") })
    }

    /// Tasks as they end, with their result files' URLs, from the WebSocket.
    pub async fn completions(&self) -> anyhow::Result<tokio::sync::mpsc::UnboundedReceiver<(String, Vec<String>)>> {
        let url = format!("ws://{}/ws?token={}", self.base.trim_start_matches("http://"), self.token);
        let (mut socket, _) = tokio_tungstenite::connect_async(url).await?;
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Some(Ok(message)) = socket.next().await {
                if let tokio_tungstenite::tungstenite::Message::Text(text) = message {
                    let value: Value = serde_json::from_str(&text).unwrap_or_default();
                    if value["type"] == "task_completed" || value["type"] == "task_failed" {
                        let id = value["data"]["taskId"].as_str().unwrap_or_default().to_owned();
                        let files = value["data"]["result"]["files"].as_array().map_or_else(Vec::new, |f| {
                            f.iter().filter_map(|u| u.as_str().map(str::to_owned)).collect()
                        });
                        if tx.send((id, files)).is_err() {
                            return;
                        }
                    }
                }
            }
        });
        Ok(rx)
    }
}

/// Where a Gantry run submits its tasks.
#[derive(Clone, Copy)]
enum Entry {
    /// comfy-manager's `/api/tasks`.
    Tasks,
    /// The virtual ComfyUI's `/comfy/prompt`.
    Prompts,
}

async fn gantry_run(
    client: &Arc<GantryClient>,
    tasks: usize,
    (steps, real): (u64, bool),
    seed_base: usize,
    entry: Entry,
) -> anyhow::Result<(f64, Finished)> {
    let before = client.finished_count().await?;
    let start = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let submitters: Vec<_> = (0..16)
        .map(|_| {
            let (client, next) = (client.clone(), next.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= tasks {
                        return Ok::<_, anyhow::Error>(());
                    }
                    let graph = graph(seed_base + i, steps, real);
                    match entry {
                        Entry::Tasks => {
                            client.post("/api/tasks", json!({"workflow": graph})).await?;
                        }
                        Entry::Prompts => {
                            client.prompt(graph).await?;
                        }
                    }
                }
            })
        })
        .collect();
    for s in submitters {
        s.await??;
    }
    // Completion is read from the monitor counts (polled every 100 ms), not the WebSocket:
    // a client that falls behind a burst of 20,000 events may miss some.
    let mut last_progress = (Instant::now(), 0);
    loop {
        let now = client.finished_count().await?;
        let run = Finished { completed: now.completed - before.completed, failed: now.failed - before.failed };
        let finished = run.completed + run.failed;
        if finished >= tasks {
            return Ok((start.elapsed().as_secs_f64(), run));
        }
        if finished != last_progress.1 {
            last_progress = (Instant::now(), finished);
        } else if last_progress.0.elapsed() > Duration::from_secs(120) {
            bail!("no task finished for 2 minutes ({finished} of {tasks} done)");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let http = reqwest::Client::builder().pool_max_idle_per_host(64).build()?;
    let real = args.real_comfyui;
    let work = (args.steps, real);
    let scratch = std::env::temp_dir().join(format!("gantry-bench-{}", now_us()));
    let sims: Vec<Proc> = if real {
        println!(
            "dispatch benchmark: {} real ComfyUI instances (--cpu), {} model-free tasks",
            args.instances, args.tasks
        );
        let started: Vec<Proc> = (0..args.instances)
            .map(|i| procs::comfyui(&scratch.join(format!("comfyui-{i}"))))
            .collect::<anyhow::Result<_>>()?;
        for instance in &started {
            answering(&http, instance).await?;
        }
        started
    } else {
        println!(
            "dispatch benchmark: {} comfy-sims, {} tasks of {} steps × {} ms",
            args.instances, args.tasks, args.steps, args.step_ms
        );
        (0..args.instances).map(|_| procs::sim(args.step_ms)).collect::<anyhow::Result<_>>()?
    };

    // 1. Direct.
    let t0 = now_us();
    let (direct_secs, direct_done) = direct_run(&http, &sims, args.tasks, work, 0).await?;
    let t1 = now_us();
    let direct_rate = args.tasks as f64 / direct_secs;

    // 2. Gantry.
    let data = scratch.join("gantry");
    let password = format!("bench-{}", now_us());
    let gantry = procs::gantry(&data, &password)?;
    let client = Arc::new(admin_client(&http, format!("http://{}", gantry.addr), &password).await?);
    configure_fleet(&client, &sims).await?;
    wait_alive(&client, args.instances, real).await?;
    let t2 = now_us();
    let cpu_before = gantry.cpu_secs();
    let (gantry_secs, gantry_done) = gantry_run(&client, args.tasks, work, 1_000_000, Entry::Tasks).await?;
    let t3 = now_us();
    let gantry_rate = args.tasks as f64 / gantry_secs;

    // 3. The virtual ComfyUI.
    let cpu_between = gantry.cpu_secs();
    let t4 = now_us();
    let (prompts_secs, prompts_done) = gantry_run(&client, args.tasks, work, 4_000_000, Entry::Prompts).await?;
    let t5 = now_us();
    let prompts_rate = args.tasks as f64 / prompts_secs;
    let cpu_after = gantry.cpu_secs();
    let rss = gantry.peak_rss_mib();
    println!();
    println!(
        "throughput   direct {direct_rate:.1} tasks/s ({direct_secs:.2} s, {direct_done}), gantry {gantry_rate:.1} tasks/s ({gantry_secs:.2} s, {gantry_done}), ratio {:.3}",
        gantry_rate / direct_rate
    );
    println!(
        "             virtual ComfyUI {prompts_rate:.1} tasks/s ({prompts_secs:.2} s, {prompts_done}), ratio {:.3}",
        prompts_rate / direct_rate
    );
    let per_task = |from: Option<f64>, to: Option<f64>| from.zip(to).map(|(a, b)| (b - a) * 1000.0 / args.tasks as f64);
    if let (Some(tasks), Some(prompts)) = (per_task(cpu_before, cpu_between), per_task(cpu_between, cpu_after)) {
        println!(
            "gantry CPU   {tasks:.2} ms per task through /api/tasks, {prompts:.2} ms per prompt through the virtual ComfyUI"
        );
    }
    if real {
        println!("idle gaps and latency need comfy-sim's timelines: not measured on a real fleet");
        print_rss(rss);
        let _ = std::fs::remove_dir_all(&scratch);
        return Ok(());
    }
    let fleet = timelines(&http, &sims).await?;
    let (mut direct_gaps, mut gantry_gaps) = (idle_gaps(&fleet, t0, t1), idle_gaps(&fleet, t2, t3));
    let (mut direct_runs, mut gantry_runs) = (run_times(&fleet, t0, t1), run_times(&fleet, t2, t3));
    let (mut prompt_gaps, mut prompt_runs) = (idle_gaps(&fleet, t4, t5), run_times(&fleet, t4, t5));

    // 4. Latency, one task at a time on an idle fleet.
    let one = &sims[..1];
    let mut direct_added = Vec::new();
    let direct_client = ComfyClient::new(&format!("http://{}", one[0].addr), http.clone());
    let mut events = direct_client.events("bench-latency").await?;
    let mut ends = HashMap::new();
    for i in 0..args.latency_samples {
        let begin = Instant::now();
        let request = PromptRequest::new(
            graph(2_000_000 + i, args.steps, false).as_object().cloned().unwrap_or_default(),
            "bench-latency",
        );
        let accepted = direct_client.submit(&request).await?;
        loop {
            if let Some(Ok(ComfyEvent::Executing { prompt_id: Some(p), node: None })) = events.next().await
                && p == accepted.prompt_id
            {
                break;
            }
        }
        let entry = direct_client.history(&accepted.prompt_id).await?.context("history")?;
        for output in &entry.outputs {
            direct_client.view(output).await?;
        }
        ends.insert(accepted.prompt_id, begin.elapsed());
    }
    for timing in timelines(&http, one).await?.into_iter().flatten() {
        if let Some(total) = ends.get(&timing.prompt_id) {
            direct_added.push(total.as_secs_f64() * 1000.0 - (timing.finished - timing.queued) as f64 / 1000.0);
        }
    }
    // Through Gantry, on the same single instance.
    configure_fleet(&client, &sims[..1]).await?;
    let mut done = client.completions().await?;
    let mut totals = HashMap::new();
    // Wall-clock stamps (µs) per task: submitted, `task_completed` received, files downloaded.
    let mut stamps: HashMap<String, (u64, u64, u64)> = HashMap::new();
    for i in 0..args.latency_samples {
        let begin = Instant::now();
        let begin_us = now_us();
        let task = client.post("/api/tasks", json!({"workflow": graph(3_000_000 + i, args.steps, false)})).await?;
        let id = task["id"].as_str().unwrap_or_default().to_owned();
        loop {
            let (finished, files) =
                tokio::time::timeout(Duration::from_secs(60), done.recv()).await?.context("socket")?;
            if finished == id {
                // Like the direct client: done once the outputs are downloaded.
                let event_us = now_us();
                for url in files {
                    http.get(url).bearer_auth(&client.token).send().await?.error_for_status()?.bytes().await?;
                }
                totals.insert(id.clone(), begin.elapsed());
                stamps.insert(id.clone(), (begin_us, event_us, now_us()));
                break;
            }
        }
        if let Some(prompt) = client.prompt_on_instance(&id).await? {
            totals.insert(prompt.clone(), totals[&id]);
            stamps.insert(prompt, stamps[&id]);
        }
    }
    // Through the virtual ComfyUI: the direct client's own steps, at the per-token base URL.
    let facade = ComfyClient::new(&format!("{}/comfy/k/{}", client.base, client.token), http.clone());
    let mut facade_events = facade.events("bench-facade").await?;
    let mut facade_totals = HashMap::new();
    for i in 0..args.latency_samples {
        let begin = Instant::now();
        let graph = graph(5_000_000 + i, args.steps, false).as_object().cloned().unwrap_or_default();
        let accepted = facade.submit(&PromptRequest::new(graph, "bench-facade")).await?;
        loop {
            match tokio::time::timeout(Duration::from_secs(60), facade_events.next()).await?.context("socket")? {
                Ok(ComfyEvent::Executing { prompt_id: Some(p), node: None }) if p == accepted.prompt_id => break,
                _ => {}
            }
        }
        let entry = facade.history(&accepted.prompt_id).await?.context("history")?;
        for output in &entry.outputs {
            facade.view(output).await?;
        }
        let elapsed = begin.elapsed();
        if let Some(prompt) = client.prompt_on_instance(&accepted.prompt_id).await? {
            facade_totals.insert(prompt, elapsed);
        }
    }
    let mut gantry_added = Vec::new();
    let mut facade_added = Vec::new();
    let (mut before, mut after, mut download) = (Vec::new(), Vec::new(), Vec::new());
    let ms = |from: u64, to: u64| to.saturating_sub(from) as f64 / 1000.0;
    for timing in timelines(&http, one).await?.into_iter().flatten() {
        let own_ms = (timing.finished - timing.queued) as f64 / 1000.0;
        if let Some(total) = totals.get(&timing.prompt_id) {
            gantry_added.push(total.as_secs_f64() * 1000.0 - own_ms);
        }
        if let Some(total) = facade_totals.get(&timing.prompt_id) {
            facade_added.push(total.as_secs_f64() * 1000.0 - own_ms);
        }
        if let Some(&(begin, event, end)) = stamps.get(&timing.prompt_id) {
            before.push(ms(begin, timing.queued));
            after.push(ms(timing.finished, event));
            download.push(ms(event, end));
        }
    }

    println!("idle gap     direct {}", summary_ms(&mut direct_gaps));
    println!("             gantry {}", summary_ms(&mut gantry_gaps));
    println!("             virtual ComfyUI {}", summary_ms(&mut prompt_gaps));
    println!("run time     direct {}", summary_ms(&mut direct_runs));
    println!("             gantry {}", summary_ms(&mut gantry_runs));
    println!("             virtual ComfyUI {}", summary_ms(&mut prompt_runs));
    println!("latency      direct client overhead {}", summary_ms(&mut direct_added));
    println!("             gantry end-to-end overhead {}", summary_ms(&mut gantry_added));
    println!("               submitted → queued on the instance {}", summary_ms(&mut before));
    println!("               finished there → task_completed {}", summary_ms(&mut after));
    println!("               task_completed → files downloaded {}", summary_ms(&mut download));
    println!(
        "             gantry added over the direct client: p50 {:.2} ms, p99 {:.2} ms",
        percentile(&mut gantry_added.clone(), 50.0) - percentile(&mut direct_added.clone(), 50.0),
        percentile(&mut gantry_added.clone(), 99.0) - percentile(&mut direct_added.clone(), 99.0)
    );
    println!("             virtual ComfyUI end-to-end overhead {}", summary_ms(&mut facade_added));
    println!(
        "             virtual ComfyUI added over the direct client: p50 {:.2} ms, p99 {:.2} ms",
        percentile(&mut facade_added.clone(), 50.0) - percentile(&mut direct_added.clone(), 50.0),
        percentile(&mut facade_added.clone(), 99.0) - percentile(&mut direct_added.clone(), 99.0)
    );
    print_rss(rss);
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(())
}

/// Signs in as the admin of the gantry at `base`; a client of it.
pub(crate) async fn admin_client(http: &reqwest::Client, base: String, password: &str) -> anyhow::Result<GantryClient> {
    let login: Value = http
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"username": "admin", "password": password}))
        .send()
        .await?
        .json()
        .await?;
    let token = login["data"]["token"].as_str().context("login")?.to_owned();
    Ok(GantryClient { http: http.clone(), base, token })
}

/// Configures a fleet of one server per instance in `sims` through `client`.
pub(crate) async fn configure_fleet(client: &GantryClient, sims: &[Proc]) -> anyhow::Result<()> {
    let servers: Vec<Value> = sims
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let (ip, port) = s.addr.rsplit_once(':').unwrap_or(("127.0.0.1", "0"));
            json!({"id": format!("sim-{i}"), "name": format!("sim {i}"), "ip": ip, "ports": [port.parse::<u16>().unwrap_or(0)]})
        })
        .collect();
    let config = json!({"servers": servers, "healthCheck": {"interval": 5000, "timeout": 5000, "failureThreshold": 3},
        "dispatch": {"prefetch": 1, "maxAttempts": 3, "taskTimeout": 600000, "maxQueue": 1000000}});
    let answer: Value = client
        .http
        .put(format!("{}/api/config", client.base))
        .bearer_auth(&client.token)
        .json(&config)
        .send()
        .await?
        .json()
        .await?;
    if answer["code"] != 200 {
        bail!("config: {answer}");
    }
    Ok(())
}

/// Waits (up to a minute) until `client` shows `count` instances alive; sims also with their
/// models probed (a real ComfyUI here has none to report).
pub(crate) async fn wait_alive(client: &GantryClient, count: usize, real: bool) -> anyhow::Result<()> {
    let ready = Instant::now();
    loop {
        let list: Value = client
            .http
            .get(format!("{}/api/instances", client.base))
            .bearer_auth(&client.token)
            .send()
            .await?
            .json()
            .await?;
        let alive = list["data"].as_array().map_or(0, |l| {
            l.iter()
                .filter(|i| i["alive"] == true && (real || i["models"].as_array().is_some_and(|m| !m.is_empty())))
                .count()
        });
        if alive == count {
            return Ok(());
        }
        if ready.elapsed() > Duration::from_secs(60) {
            bail!("only {alive} of {count} instances came up at {}", client.base);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn print_rss(rss: Option<f64>) {
    match rss {
        Some(mib) => println!("memory       gantry peak RSS {mib:.1} MiB"),
        None => println!("memory       gantry peak RSS unavailable"),
    }
}

/// Waits (up to three minutes) until an instance answers `/system_stats`.
async fn answering(http: &reqwest::Client, instance: &Proc) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(180);
    while Instant::now() < deadline {
        let url = format!("http://{}/system_stats", instance.addr);
        if http.get(url).send().await.is_ok_and(|r| r.status().is_success()) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    bail!("the instance at {} did not start", instance.addr)
}
