//! The processes a benchmark drives: comfy-sim instances and a gantry server, started
//! from the release binaries next to this one.

use anyhow::{Context, bail};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

fn binary(name: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let path = exe.parent().context("binary dir")?.join(name);
    if !path.exists() {
        bail!("{} is missing: run `cargo build --release --workspace` first", path.display());
    }
    Ok(path)
}

/// A child process killed on drop.
pub struct Proc {
    pub child: Child,
    pub addr: String,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    /// Peak resident memory (VmHWM) in MiB.
    pub fn peak_rss_mib(&self) -> Option<f64> {
        self.status_mib("VmHWM:")
    }

    /// Resident memory now (VmRSS) in MiB.
    pub fn rss_mib(&self) -> Option<f64> {
        self.status_mib("VmRSS:")
    }

    /// A `kB` field of `/proc/<pid>/status`, in MiB.
    fn status_mib(&self, field: &str) -> Option<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let line = status.lines().find(|l| l.starts_with(field))?;
        let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib / 1024.0)
    }
}

/// Starts a comfy-sim on a free port.
pub fn sim(step_ms: u64) -> anyhow::Result<Proc> {
    let mut child = Command::new(binary("comfy-sim")?)
        .args(["--port", "0", "--step-ms", &step_ms.to_string(), "--no-progress-state"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().context("stdout")?).read_line(&mut line)?;
    let addr = line.trim().strip_prefix("listening on ").context("comfy-sim address")?.to_owned();
    Ok(Proc { child, addr })
}

/// Starts gantry on a free port with its data in `data_dir`.
pub fn gantry(data_dir: &std::path::Path, admin_password: &str) -> anyhow::Result<Proc> {
    gantry_with_env(data_dir, admin_password, &[])
}

/// [`gantry`] with extra environment variables.
pub fn gantry_with_env(data_dir: &std::path::Path, admin_password: &str, env: &[(&str, &str)]) -> anyhow::Result<Proc> {
    let mut child = Command::new(binary("gantry")?)
        .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
        .env("GANTRY_DATA_DIR", data_dir)
        .env("GANTRY_ADMIN_PASSWORD", admin_password)
        .env("RUST_LOG", "gantry=info,warn")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let mut lines = BufReader::new(child.stdout.take().context("stdout")?).lines();
    let addr = loop {
        let line = lines.next().context("gantry exited")??;
        let entry: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        if let Some(addr) = entry["fields"]["addr"].as_str() {
            break addr.to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    Ok(Proc { child, addr })
}
