//! The login-flood benchmark: what a burst of failing logins costs the server.
//!
//! A fresh gantry gets `--requests` concurrent star-graph logins (`POST
//! /api/v1/auth/login`), one task each, all at once: half for unknown usernames, half for
//! `admin` with a wrong password. Meanwhile its resident memory (VmRSS) is sampled every
//! 10 ms and `GET /api/health` is timed back to back on a connection of its own. Printed:
//! peak RSS (sampled, and VmHWM), the answers by status, the time until every login was
//! answered, login latency, and health latency during the flood against the same series
//! measured before it.

use crate::procs;
use crate::stats::summary_ms;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(clap::Args)]
pub struct Args {
    /// Concurrent failing logins.
    #[arg(long, default_value_t = 1_000)]
    requests: usize,
    /// Health requests in the baseline series.
    #[arg(long, default_value_t = 200)]
    health_requests: usize,
}

/// Milliseconds of GET `/api/health` until `stop` is set, or `limit` requests.
async fn health_series(http: reqwest::Client, base: String, stop: Arc<AtomicBool>, limit: usize) -> Vec<f64> {
    let mut out = Vec::new();
    while out.len() < limit && !stop.load(Ordering::SeqCst) {
        let t = Instant::now();
        if let Ok(response) = http.get(format!("{base}/api/health")).send().await {
            let ok = response.status().is_success();
            if response.bytes().await.is_ok() && ok {
                out.push(t.elapsed().as_secs_f64() * 1e3);
            }
        }
    }
    out
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let stamp = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros()).unwrap_or(0);
    let data = std::env::temp_dir().join(format!("gantry-bench-login-flood-{stamp}"));
    let gantry = Arc::new(procs::gantry(&data, &format!("bench-{stamp}"))?);
    let base = format!("http://{}", gantry.addr);
    let timeout = Duration::from_secs(120);
    let health_http = reqwest::Client::builder().timeout(timeout).build()?;
    let flood_http = reqwest::Client::builder().timeout(timeout).pool_max_idle_per_host(args.requests).build()?;
    println!("login flood: {} concurrent failing star-graph logins", args.requests);

    let never = Arc::new(AtomicBool::new(false));
    let mut before = health_series(health_http.clone(), base.clone(), never, args.health_requests).await;
    let idle_rss = gantry.rss_mib().unwrap_or(0.0);

    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (gantry, stop) = (gantry.clone(), stop.clone());
        tokio::spawn(async move {
            let mut peak = 0.0_f64;
            while !stop.load(Ordering::SeqCst) {
                peak = peak.max(gantry.rss_mib().unwrap_or(0.0));
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            peak
        })
    };
    let during = tokio::spawn(health_series(health_http, base.clone(), stop.clone(), usize::MAX));

    let t = Instant::now();
    let mut logins = Vec::with_capacity(args.requests);
    for i in 0..args.requests {
        let (http, url) = (flood_http.clone(), format!("{base}/api/v1/auth/login"));
        let username = if i % 2 == 0 { format!("nobody-{i}") } else { "admin".to_owned() };
        let body = serde_json::json!({"username": username, "password": format!("wrong-password-{i}")});
        logins.push(tokio::spawn(async move {
            let sent = Instant::now();
            let status = match http.post(url).json(&body).send().await {
                Ok(response) => {
                    let status = response.status().as_u16().to_string();
                    let _ = response.bytes().await;
                    status
                }
                Err(e) if e.is_timeout() => "timeout".to_owned(),
                Err(_) => "connection error".to_owned(),
            };
            (status, sent.elapsed().as_secs_f64() * 1e3)
        }));
    }
    let mut statuses: BTreeMap<String, usize> = BTreeMap::new();
    let mut login_ms = Vec::with_capacity(args.requests);
    for login in logins {
        let (status, ms) = login.await?;
        *statuses.entry(status).or_default() += 1;
        login_ms.push(ms);
    }
    let elapsed = t.elapsed().as_secs_f64();
    stop.store(true, Ordering::SeqCst);
    let sampled_peak = sampler.await?;
    let mut during = during.await?;
    let hwm = gantry.peak_rss_mib().unwrap_or(0.0);

    for status in ["401", "429", "503"] {
        statuses.entry(status.to_owned()).or_default();
    }
    let counts: Vec<String> = statuses.iter().map(|(status, n)| format!("{status}: {n}")).collect();
    println!("answers        {}", counts.join(", "));
    println!("all answered   in {elapsed:.2} s");
    println!("login latency  {}", summary_ms(&mut login_ms));
    println!(
        "memory         idle {idle_rss:.1} MiB, peak during the flood {sampled_peak:.1} MiB (VmRSS every 10 ms), VmHWM {hwm:.1} MiB"
    );
    println!("/api/health    before the flood {}", summary_ms(&mut before));
    println!("               during the flood {}", summary_ms(&mut during));
    drop(gantry);
    let _ = std::fs::remove_dir_all(&data);
    Ok(())
}
