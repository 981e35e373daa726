//! The VM benchmark (openidcs dialect over the QEMU engine).
//!
//! 1. **Create-to-running**: through Gantry, `POST /api/client/create/{hs}` + `POST
//!    /api/client/powers/{hs}/{vm}` `{action: start}`, then `GET /api/client/status/…` until
//!    it reports QMP `query-status` = `running`; by hand, the identical QEMU command line
//!    (read from the Gantry-started process's `/proc/<pid>/cmdline`, its VM directory swapped
//!    for a fresh one) spawned directly, then QMP `query-status` over its socket until
//!    `running`. Rounds alternate; min/median/max of both and the difference are printed.
//! 2. **API latency** with `--vms` VMs registered (created, not started): `GET
//!    /api/server/listup` and `GET /api/client/listup/{hs}`, against `GET /api/health` as
//!    the floor (HTTP, routing, auth), all over one keep-alive connection.

use crate::procs::{self, Proc};
use crate::stats::{percentile, summary_ms};
use anyhow::{Context, bail};
use gantry_vm_engine::QmpClient;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(clap::Args)]
pub struct Args {
    /// Create-to-running rounds (each: once through Gantry, once by hand).
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// VMs registered for the latency part.
    #[arg(long, default_value_t = 200)]
    vms: usize,
    /// Requests per latency series.
    #[arg(long, default_value_t = 500)]
    requests: usize,
    /// The test guest (`vmlinuz`, `initramfs.cpio.gz`) built by `scripts/guest-image`.
    #[arg(long, env = "GANTRY_GUEST_DIR", default_value = "target/guest")]
    guest_dir: PathBuf,
    /// Accelerator for both sides (`tcg` or `kvm`).
    #[arg(long, default_value = "tcg")]
    accel: String,
}

const HOST: &str = "bench";

fn now_us() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros()).unwrap_or(0)
}

/// An authenticated openidcs client of the Gantry under test.
struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let mut request = self.http.request(method, format!("{}{path}", self.base)).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status();
        let answer: Value = response.json().await.with_context(|| format!("{path}: non-JSON answer ({status})"))?;
        if !status.is_success() {
            bail!("{path}: {status} {answer}");
        }
        Ok(answer)
    }

    async fn create_vm(&self, uuid: &str) -> anyhow::Result<()> {
        let vm = json!({
            "vm_uuid": uuid, "cpu_num": 1, "mem_num": 128,
            "kernel": "vmlinuz", "initrd": "initramfs.cpio.gz", "cmdline": "console=ttyS0 quiet panic=-1",
        });
        self.call(reqwest::Method::POST, &format!("/api/client/create/{HOST}"), Some(vm)).await.map(drop)
    }

    async fn power(&self, uuid: &str, action: &str) -> anyhow::Result<Value> {
        self.call(reqwest::Method::POST, &format!("/api/client/powers/{HOST}/{uuid}"), Some(json!({"action": action})))
            .await
    }

    async fn status(&self, uuid: &str) -> anyhow::Result<Value> {
        self.call(reqwest::Method::GET, &format!("/api/client/status/{HOST}/{uuid}"), None).await
    }

    /// Milliseconds of `n` sequential GETs of `path`.
    async fn latencies(&self, path: &str, n: usize) -> anyhow::Result<Vec<f64>> {
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let t = Instant::now();
            let response = self.http.get(format!("{}{path}", self.base)).bearer_auth(&self.token).send().await?;
            let status = response.status();
            response.bytes().await?;
            if !status.is_success() {
                bail!("{path}: {status}");
            }
            out.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        Ok(out)
    }
}

/// One create-to-running through Gantry: the whole time and its parts, in ms.
struct GantryBoot {
    total: f64,
    create: f64,
    start: f64,
    argv: Vec<String>,
}

/// Create + start through Gantry until its status route says `running`; returns the times
/// and the QEMU command line it started.
async fn through_gantry(api: &Api, uuid: &str) -> anyhow::Result<GantryBoot> {
    let t = Instant::now();
    api.create_vm(uuid).await?;
    let create = t.elapsed().as_secs_f64() * 1000.0;
    api.power(uuid, "start").await?;
    let start = t.elapsed().as_secs_f64() * 1000.0 - create;
    let pid = loop {
        let status = api.status(uuid).await?;
        if status["data"]["qemu_status"] == "running" {
            break status["data"]["pid"].as_u64().context("status without pid")?;
        }
        if t.elapsed() > Duration::from_secs(60) {
            bail!("{uuid} not running after 60 s: {status}");
        }
    };
    let total = t.elapsed().as_secs_f64() * 1000.0;
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).context("reading the QEMU command line")?;
    let argv = raw.split(|b| *b == 0).filter(|a| !a.is_empty()).map(|a| String::from_utf8_lossy(a).into_owned());
    let argv: Vec<String> = argv.collect();
    api.power(uuid, "stop").await?;
    api.call(reqwest::Method::DELETE, &format!("/api/client/delete/{HOST}/{uuid}"), None).await?;
    Ok(GantryBoot { total, create, start, argv })
}

/// The value after `flag` in a command line.
fn arg_after<'a>(argv: &'a [String], flag: &str) -> anyhow::Result<&'a str> {
    let i = argv.iter().position(|a| a == flag).with_context(|| format!("no {flag} in the QEMU command line"))?;
    argv.get(i + 1).map(String::as_str).with_context(|| format!("{flag} without a value"))
}

/// The same command line run by hand in `dir`: spawn (it daemonizes), then QMP `query-status`
/// until `running`; then `quit`. Returns the time to `running`.
async fn by_hand(argv: &[String], vm_dir: &str, dir: &Path) -> anyhow::Result<f64> {
    std::fs::create_dir_all(dir)?;
    let fresh = dir.to_string_lossy();
    let argv: Vec<String> = argv.iter().map(|a| a.replace(vm_dir, &fresh)).collect();
    let (binary, rest) = argv.split_first().context("empty QEMU command line")?;
    let qmp = arg_after(&argv, "-qmp")?;
    let qmp = PathBuf::from(qmp.strip_prefix("unix:").and_then(|s| s.split(',').next()).context("QMP socket")?);

    let t = Instant::now();
    let out = tokio::process::Command::new(binary).args(rest).stdin(std::process::Stdio::null()).output().await?;
    if !out.status.success() {
        bail!("qemu failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let client = QmpClient::connect_retry(&qmp, Duration::from_secs(10), Duration::from_secs(3)).await?;
    loop {
        let status = client.execute("query-status", None).await?;
        if status["status"] == "running" {
            break;
        }
        if t.elapsed() > Duration::from_secs(60) {
            bail!("hand-started VM not running after 60 s: {status}");
        }
    }
    let elapsed = t.elapsed().as_secs_f64() * 1000.0;
    let _ = client.execute("quit", None).await;
    // Wait (bounded) for the process to leave before the next round.
    let pidfile = arg_after(&argv, "-pidfile")?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while Path::new(pidfile).exists() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let _ = std::fs::remove_dir_all(dir);
    Ok(elapsed)
}

fn min_median_max(values: &mut [f64]) -> String {
    values.sort_by(f64::total_cmp);
    format!(
        "min {:.1} ms, median {:.1} ms, max {:.1} ms",
        values.first().copied().unwrap_or(0.0),
        percentile(values, 50.0),
        values.last().copied().unwrap_or(0.0)
    )
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let guest = std::fs::canonicalize(&args.guest_dir)
        .with_context(|| format!("{}: run `scripts/guest-image target/guest`", args.guest_dir.display()))?;
    for file in ["vmlinuz", "initramfs.cpio.gz"] {
        if !guest.join(file).is_file() {
            bail!("{} has no {file}: run `scripts/guest-image target/guest`", guest.display());
        }
    }
    println!(
        "vm benchmark: {} create-to-running rounds ({}), {} VMs registered, {} requests per latency series",
        args.rounds, args.accel, args.vms, args.requests
    );
    let data = std::env::temp_dir().join(format!("gantry-bench-vm-{}", now_us()));
    let password = format!("bench-{}", now_us());
    let gantry: Proc = procs::gantry_with_env(&data, &password, &[("GANTRY_QEMU_ACCEL", &args.accel)])?;
    let http = reqwest::Client::builder().pool_max_idle_per_host(4).build()?;
    let base = format!("http://{}", gantry.addr);
    let login: Value = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"username": "admin", "password": password}))
        .send()
        .await?
        .json()
        .await?;
    let token = login["data"]["token"].as_str().with_context(|| format!("login: {login}"))?.to_owned();
    let api = Api { http, base, token };
    let vms = data.join("vms");
    let host = json!({"hs_name": HOST, "images_path": guest, "system_path": vms, "nat_bind": "127.0.0.1"});
    api.call(reqwest::Method::POST, "/api/server/create", Some(host)).await?;

    // 1. Create-to-running, after one unmeasured warm-up round of each.
    let hand_dir = data.join("hand");
    let (mut gantry_ms, mut create_ms, mut start_ms, mut hand_ms) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for round in 0..=args.rounds {
        let uuid = format!("boot{round}");
        let g = through_gantry(&api, &uuid).await?;
        let vm_dir = vms.join(&uuid).to_string_lossy().into_owned();
        let h = by_hand(&g.argv, &vm_dir, &hand_dir.join(&uuid)).await?;
        if round > 0 {
            println!(
                "round {round}      gantry {:.1} ms (create {:.1}, start {:.1}), by hand {h:.1} ms",
                g.total, g.create, g.start
            );
            gantry_ms.push(g.total);
            create_ms.push(g.create);
            start_ms.push(g.start);
            hand_ms.push(h);
        }
    }

    // 2. API latency with many VMs registered.
    for i in 0..args.vms {
        api.create_vm(&format!("idle{i}")).await?;
    }
    let mut health = api.latencies("/api/health", args.requests).await?;
    let mut hosts = api.latencies("/api/server/listup", args.requests).await?;
    let mut vms_list = api.latencies(&format!("/api/client/listup/{HOST}"), args.requests).await?;
    let rss = gantry.peak_rss_mib();

    println!();
    let median = |v: &mut Vec<f64>| percentile(v, 50.0);
    let added = median(&mut gantry_ms.clone()) - median(&mut hand_ms.clone());
    println!("create→running  gantry  {}", min_median_max(&mut gantry_ms));
    println!("                by hand {}", min_median_max(&mut hand_ms));
    println!(
        "                of which create {:.1} ms, start {:.1} ms at the median",
        median(&mut create_ms),
        median(&mut start_ms)
    );
    println!("                gantry adds {added:.1} ms at the median (target ≤ 50 ms)");
    println!("latency         GET /api/health (floor)          {}", summary_ms(&mut health));
    println!("                GET /api/server/listup           {}", summary_ms(&mut hosts));
    println!("                GET /api/client/listup/{HOST} ({} VMs) {}", args.vms, summary_ms(&mut vms_list));
    match rss {
        Some(mib) => println!("memory          gantry peak RSS {mib:.1} MiB"),
        None => println!("memory          gantry peak RSS unavailable"),
    }
    // The registered VMs were never started; their files go with the data directory.
    drop(gantry);
    let _ = std::fs::remove_dir_all(&data);
    Ok(())
}
