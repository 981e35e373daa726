//! Several gateways on one PostgreSQL database: the same workload over the same comfy-sims
//! through one gateway on SQLite, one on PostgreSQL and three on PostgreSQL (submissions
//! spread over them). Prints throughput (three against one), the latency of single tasks
//! (PostgreSQL beside SQLite), and the failover time: a gateway driving instances is killed
//! mid-run, and the time until its instances get new work from the others is measured on
//! the sims' own timelines; every task must still complete once.

use crate::dispatch::{Finished, GantryClient, admin_client, configure_fleet, graph, now_us, timelines, wait_alive};
use crate::procs::{self, Proc};
use crate::stats::summary_ms;
use anyhow::{Context, bail};
use gantry_store::Db;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct Args {
    /// comfy-sim instances.
    #[arg(long, default_value_t = 32)]
    instances: usize,
    /// Tasks per throughput run.
    #[arg(long, default_value_t = 3000)]
    tasks: usize,
    /// Sampler steps per task.
    #[arg(long, default_value_t = 4)]
    steps: u64,
    /// Milliseconds per sampler step in the sims.
    #[arg(long, default_value_t = 25)]
    step_ms: u64,
    /// Tasks in the one-at-a-time latency runs.
    #[arg(long, default_value_t = 50)]
    latency_samples: usize,
    /// A PostgreSQL server the bench may create databases on (default:
    /// `GANTRY_TEST_POSTGRES_URL`).
    #[arg(long)]
    postgres: Option<String>,
}

/// Instance lease time of the clustered runs (the failover time is bounded by it).
const LEASE_SECS: u64 = 6;

/// A run's gateways and a client of each.
struct Gateways {
    procs: Vec<Proc>,
    clients: Vec<Arc<GantryClient>>,
    db_url: String,
}

async fn start(
    http: &reqwest::Client,
    sims: &[Proc],
    scratch: &std::path::Path,
    db_url: String,
    count: usize,
) -> anyhow::Result<Gateways> {
    let password = format!("bench-{}", now_us());
    std::fs::create_dir_all(scratch)?;
    let config = scratch.join("gantry.toml");
    std::fs::write(&config, format!("[cluster]\nlease_secs = {LEASE_SECS}\n"))?;
    let files = format!("file://{}", scratch.join("files").display());
    let mut procs = Vec::new();
    for i in 0..count {
        let env = [
            ("GANTRY_DATABASE_URL", db_url.as_str()),
            ("GANTRY_FILES_URL", files.as_str()),
            ("GANTRY_CONFIG", config.to_str().unwrap_or_default()),
            ("GANTRY_JWT_SECRET", "bench-jwt-secret-bench-jwt-secret-bench"),
        ];
        procs.push(procs::gantry_with_env(&scratch.join(format!("gateway-{i}")), &password, &env)?);
    }
    let first = admin_client(http, format!("http://{}", procs[0].addr), &password).await?;
    let clients: Vec<Arc<GantryClient>> = procs
        .iter()
        .map(|p| {
            Arc::new(GantryClient {
                http: http.clone(),
                base: format!("http://{}", p.addr),
                token: first.token.clone(),
            })
        })
        .collect();
    configure_fleet(&first, sims).await?;
    for client in &clients {
        wait_alive(client, sims.len(), false).await?;
    }
    Ok(Gateways { procs, clients, db_url })
}

/// Submits `tasks` tasks spread over the gateways (16 submitters) and waits until all ended;
/// the seconds it took and how they ended.
async fn throughput(g: &Gateways, tasks: usize, steps: u64, seed_base: usize) -> anyhow::Result<(f64, Finished)> {
    let before = g.clients[0].finished_count().await?;
    let start = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let submitters: Vec<_> = (0..16)
        .map(|_| {
            let (clients, next) = (g.clients.clone(), next.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= tasks {
                        return Ok::<_, anyhow::Error>(());
                    }
                    let body = json!({"workflow": graph(seed_base + i, steps, false)});
                    clients[i % clients.len()].post("/api/tasks", body).await?;
                }
            })
        })
        .collect();
    for s in submitters {
        s.await??;
    }
    let run = wait_finished(&g.clients[0], &before, tasks).await?;
    Ok((start.elapsed().as_secs_f64(), run))
}

/// Waits until `tasks` more tasks than `before` have ended (by the monitor overview, which
/// counts the whole cluster's).
async fn wait_finished(client: &GantryClient, before: &Finished, tasks: usize) -> anyhow::Result<Finished> {
    let mut last = (Instant::now(), 0);
    loop {
        let now = client.finished_count().await?;
        let run = Finished { completed: now.completed - before.completed, failed: now.failed - before.failed };
        let finished = run.completed + run.failed;
        if finished >= tasks {
            return Ok(run);
        }
        if finished != last.1 {
            last = (Instant::now(), finished);
        } else if last.0.elapsed() > Duration::from_secs(120) {
            bail!("no task finished for 2 minutes ({finished} of {tasks} done)");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Submit-to-completion of single tasks, one at a time, each through the next gateway and
/// heard on that gateway's WebSocket (ms).
async fn latency(g: &Gateways, samples: usize, steps: u64, seed_base: usize) -> anyhow::Result<Vec<f64>> {
    let mut sockets = Vec::new();
    for client in &g.clients {
        sockets.push(client.completions().await?);
    }
    let mut times = Vec::new();
    for i in 0..samples {
        let n = i % g.clients.len();
        let start = Instant::now();
        let task = g.clients[n].post("/api/tasks", json!({"workflow": graph(seed_base + i, steps, false)})).await?;
        let id = task["id"].as_str().context("task id")?.to_owned();
        loop {
            let (done, _) = tokio::time::timeout(Duration::from_secs(60), sockets[n].recv())
                .await?
                .context("the WebSocket closed")?;
            if done == id {
                break;
            }
        }
        times.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(times)
}

/// Kills the gateway driving the most instances while `tasks` tasks run; the seconds until
/// one of its instances was given a new prompt by another gateway, and how the tasks ended.
async fn failover(
    http: &reqwest::Client,
    g: &mut Gateways,
    sims: &[Proc],
    tasks: usize,
    steps: u64,
) -> anyhow::Result<(f64, Finished, usize)> {
    let db = Db::connect(&g.db_url).await?;
    let leases: Vec<(String, String)> =
        sqlx::query_as("SELECT instance_id, gateway_id FROM instance_leases").fetch_all(db.pool()).await?;
    db.close().await;
    let mut victim = (0, 0, String::new());
    for (i, client) in g.clients.iter().enumerate() {
        let health: Value = http.get(format!("{}/api/health", client.base)).send().await?.json().await?;
        let id = health["data"]["gateway"].as_str().unwrap_or_default().to_owned();
        let driven = leases.iter().filter(|(_, gw)| *gw == id).count();
        if driven > victim.1 {
            victim = (i, driven, id);
        }
    }
    let orphaned: Vec<&Proc> =
        sims.iter().filter(|s| leases.iter().any(|(inst, gw)| *inst == s.addr && *gw == victim.2)).collect();
    if orphaned.is_empty() {
        bail!("no gateway drives an instance ({} leases)", leases.len());
    }
    // Tasks go in through the other gateways while the victim runs its share, then dies.
    let survivor = (victim.0 + 1) % g.clients.len();
    let before = g.clients[survivor].finished_count().await?;
    let entries: Vec<Arc<GantryClient>> =
        g.clients.iter().enumerate().filter(|(i, _)| *i != victim.0).map(|(_, c)| c.clone()).collect();
    let submitter = tokio::spawn(async move {
        for i in 0..tasks {
            entries[i % entries.len()]
                .post("/api/tasks", json!({"workflow": graph(900_000 + i, steps, false)}))
                .await?;
        }
        Ok::<_, anyhow::Error>(())
    });
    tokio::time::sleep(Duration::from_secs(3)).await;
    let killed_at = now_us();
    let _ = g.procs[victim.0].child.kill();
    let _ = g.procs[victim.0].child.wait();
    let resumed = loop {
        let mut first = None;
        for sim in &orphaned {
            let list: Value = http.get(format!("http://{}/sim/timeline", sim.addr)).send().await?.json().await?;
            let after = list
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|e| e["queued_at"].as_u64())
                .filter(|q| *q > killed_at);
            first = first.into_iter().chain(after).min();
        }
        if let Some(at) = first {
            break at;
        }
        if now_us() - killed_at > 30_000_000 {
            let db = Db::connect(&g.db_url).await?;
            let after: Vec<(String, String, i64)> =
                sqlx::query_as("SELECT instance_id, gateway_id, expires_at FROM instance_leases")
                    .fetch_all(db.pool())
                    .await?;
            let live: Vec<(String, i64)> =
                sqlx::query_as("SELECT id, seen_at FROM gateways").fetch_all(db.pool()).await?;
            let pending: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM tasks WHERE status = 'pending'").fetch_one(db.pool()).await?;
            eprintln!(
                "victim {} drove {}; now {}; leases {after:?}; gateways {live:?}; pending {pending}",
                victim.2,
                orphaned.len(),
                now_us() / 1000
            );
            bail!("the killed gateway's instances got no new work within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    submitter.await??;
    let run = wait_finished(&g.clients[survivor], &before, tasks).await?;
    let executed: usize = timelines(http, sims).await?.iter().map(Vec::len).sum();
    Ok(((resumed - killed_at) as f64 / 1e6, run, executed))
}

/// `gantry_dispatch_claims_lost` of a gateway, from its `/metrics`.
async fn claims_lost(client: &GantryClient) -> anyhow::Result<u64> {
    let text =
        client.http.get(format!("{}/metrics", client.base)).bearer_auth(&client.token).send().await?.text().await?;
    let line = text.lines().find(|l| l.starts_with("gantry_dispatch_claims_lost ")).context("no claims metric")?;
    Ok(line.rsplit(' ').next().and_then(|n| n.parse().ok()).unwrap_or(0))
}

/// A fresh database on the PostgreSQL server at `admin_url`; its URL.
async fn scratch_database(admin_url: &str, name: &str) -> anyhow::Result<String> {
    let admin = Db::connect(admin_url).await?;
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(admin.pool()).await?;
    admin.close().await;
    let (base, _) = admin_url.rsplit_once('/').context("a postgres:// URL with a database")?;
    Ok(format!("{base}/{name}"))
}

async fn drop_database(admin_url: &str, name: &str) {
    if let Ok(admin) = Db::connect(admin_url).await {
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(admin.pool()).await;
        admin.close().await;
    }
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let postgres = match args.postgres.clone().or_else(|| std::env::var("GANTRY_TEST_POSTGRES_URL").ok()) {
        Some(url) => url,
        None => bail!("name a PostgreSQL server: --postgres URL or GANTRY_TEST_POSTGRES_URL"),
    };
    let http = reqwest::Client::builder().pool_max_idle_per_host(64).build()?;
    let scratch = std::env::temp_dir().join(format!("gantry-bench-{}", now_us()));
    println!(
        "cluster benchmark: {} comfy-sims, {} tasks of {} steps × {} ms, {} single tasks, lease {LEASE_SECS} s",
        args.instances, args.tasks, args.steps, args.step_ms, args.latency_samples
    );
    let sims: Vec<Proc> = (0..args.instances).map(|_| procs::sim(args.step_ms)).collect::<anyhow::Result<_>>()?;
    let stamp = now_us();
    let mut rates = Vec::new();
    let runs = [("sqlite, 1 gateway", 0usize, 1usize), ("postgres, 1 gateway", 1, 1), ("postgres, 3 gateways", 2, 3)];
    let mut latencies = Vec::new();
    for (label, n, count) in runs {
        let dir = scratch.join(format!("run-{n}"));
        let db_name = format!("gantry_bench_{stamp}_{n}");
        let db_url = if n == 0 {
            format!("sqlite://{}", dir.join("gantry.db").display())
        } else {
            scratch_database(&postgres, &db_name).await?
        };
        let mut gateways = start(&http, &sims, &dir, db_url, count).await?;
        let cpu_before: Vec<f64> = gateways.procs.iter().map(|p| p.cpu_secs().unwrap_or(0.0)).collect();
        let (secs, done) = throughput(&gateways, args.tasks, args.steps, n * 1_000_000).await?;
        let rate = args.tasks as f64 / secs;
        let cpu: Vec<String> = gateways
            .procs
            .iter()
            .zip(&cpu_before)
            .map(|(p, before)| format!("{:.2}", (p.cpu_secs().unwrap_or(0.0) - before) * 1000.0 / args.tasks as f64))
            .collect();
        let mut lost = Vec::new();
        for client in &gateways.clients {
            lost.push(claims_lost(client).await?.to_string());
        }
        println!(
            "{label:<22} throughput {rate:.1} tasks/s ({secs:.1} s; {done}); gateway CPU ms per task: {}; claims lost: {}",
            cpu.join(" + "),
            lost.join(" + ")
        );
        let mut times = latency(&gateways, args.latency_samples, args.steps, n * 1_000_000 + 500_000).await?;
        println!("{label:<22} single-task latency {}", summary_ms(&mut times));
        rates.push(rate);
        latencies.push(times);
        if count > 1 {
            let (secs, done, executed) =
                failover(&http, &mut gateways, &sims, args.instances * 150, args.steps).await?;
            println!(
                "{label:<22} failover: a killed gateway's instances got new work after {secs:.2} s; \
                 {done}, {executed} prompts run on the sims in all"
            );
        }
        drop(gateways);
        if n > 0 {
            drop_database(&postgres, &db_name).await;
        }
    }
    let p = |v: &mut Vec<f64>, q: f64| crate::stats::percentile(v, q);
    println!("ratio        throughput, 3 gateways / 1 gateway on postgres: {:.3}", rates[2] / rates[1]);
    println!("ratio        throughput, postgres / sqlite (1 gateway): {:.3}", rates[1] / rates[0]);
    let (sqlite, pg1, pg3) = (&mut latencies[0].clone(), &mut latencies[1].clone(), &mut latencies[2].clone());
    println!(
        "added        postgres − sqlite latency p50 {:+.1} ms, p99 {:+.1} ms (1 gateway); 3 gateways: p50 {:+.1} ms, p99 {:+.1} ms",
        p(pg1, 50.0) - p(sqlite, 50.0),
        p(pg1, 99.0) - p(sqlite, 99.0),
        p(pg3, 50.0) - p(sqlite, 50.0),
        p(pg3, 99.0) - p(sqlite, 99.0)
    );
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(())
}
