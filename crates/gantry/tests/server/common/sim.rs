//! Real comfy-sim processes for fleet tests.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// A comfy-sim process; killed when dropped.
pub struct Sim {
    child: Child,
    pub port: u16,
}

/// The comfy-sim binary next to this test's binary (`cargo test --workspace` builds it).
fn binary() -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    let path = dir.join("comfy-sim");
    assert!(path.exists(), "{} is missing: build it with `cargo build -p comfy-sim`", path.display());
    path
}

impl Sim {
    /// Starts a sim on a free port with extra flags.
    pub fn spawn(args: &[&str]) -> Self {
        Self::spawn_on(0, args)
    }

    /// Starts a sim on `port` (0: a free one) with extra flags.
    pub fn spawn_on(port: u16, args: &[&str]) -> Self {
        let mut child = Command::new(binary())
            .args(["--port", &port.to_string()])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("comfy-sim starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).expect("comfy-sim prints its address");
        let port =
            line.trim().rsplit(':').next().and_then(|p| p.parse().ok()).unwrap_or_else(|| panic!("bad line {line}"));
        Self { child, port }
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// How many prompts this sim started (each at most once, whatever its queue saw).
    pub async fn prompts_started(&self) -> usize {
        let timeline: serde_json::Value =
            reqwest::get(format!("{}/sim/timeline", self.base())).await.unwrap().json().await.unwrap();
        timeline.as_array().unwrap().iter().filter(|p| p["started_at"].is_number()).count()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the process at once (SIGKILL).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits (without blocking the runtime) for the process to end by itself, e.g.
    /// with `--die-after-steps`; at most `secs` seconds.
    pub async fn exited(&mut self, secs: u64) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        while !matches!(self.child.try_wait(), Ok(Some(_))) {
            assert!(std::time::Instant::now() < deadline, "comfy-sim did not exit");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.kill();
    }
}
