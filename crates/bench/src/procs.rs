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

/// Linux's `USER_HZ`, the unit of `/proc/<pid>/stat`'s CPU times (100 on every
/// mainstream architecture).
const CLOCK_TICKS_PER_SEC: f64 = 100.0;

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

    /// CPU time it has used so far (user + system), in seconds.
    pub fn cpu_secs(&self) -> Option<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).ok()?;
        // Fields after the command name (which may hold spaces) start at its closing paren.
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
        Some(ticks / CLOCK_TICKS_PER_SEC)
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
        .args(["--port", "0", "--step-ms", &step_ms.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().context("stdout")?).read_line(&mut line)?;
    let addr = line.trim().strip_prefix("listening on ").context("comfy-sim address")?.to_owned();
    Ok(Proc { child, addr })
}

/// Starts the real ComfyUI (`GANTRY_COMFYUI_SRC`, `GANTRY_COMFYUI_PYTHON`, as
/// `scripts/comfyui-env` prints them) on a free port, `--cpu`, its files under `dir`.
/// It answers some seconds later: wait for `/system_stats`.
pub fn comfyui(dir: &std::path::Path) -> anyhow::Result<Proc> {
    let var =
        |name: &str| std::env::var_os(name).with_context(|| format!("{name} is not set (see scripts/comfyui-env)"));
    let (src, python) = (var("GANTRY_COMFYUI_SRC")?, var("GANTRY_COMFYUI_PYTHON")?);
    for sub in ["custom_nodes", "input", "output", "models"] {
        std::fs::create_dir_all(dir.join(sub))?;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let child = Command::new(python)
        .current_dir(src)
        .args(["main.py", "--cpu", "--listen", "127.0.0.1", "--disable-auto-launch"])
        .args(["--port", &port.to_string(), "--database-url", "sqlite:///:memory:"])
        .arg("--base-directory")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    Ok(Proc { child, addr: format!("127.0.0.1:{port}") })
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
