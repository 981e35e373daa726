//! ComfyUI instances of either kind for the contract suite: comfy-sim, or the real ComfyUI
//! that `scripts/comfyui-env` prepares (`GANTRY_COMFYUI_SRC`, `GANTRY_COMFYUI_PYTHON`).
//! Both write their outputs under a directory of the test's, so a test can count what an
//! instance really produced.

use super::sim::Sim;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Which server plays ComfyUI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Sim,
    Real,
}

/// Real ComfyUI instances are heavy (a Python process with torch each, CPU-bound work):
/// one real-ComfyUI test runs at a time.
static REAL_TURN: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(1);

/// The real ComfyUI's source tree and interpreter, if `scripts/test` prepared them.
fn real_comfyui() -> Option<(PathBuf, PathBuf)> {
    let src = PathBuf::from(std::env::var_os("GANTRY_COMFYUI_SRC")?);
    let python = PathBuf::from(std::env::var_os("GANTRY_COMFYUI_PYTHON")?);
    (src.join("main.py").is_file() && python.is_file()).then_some((src, python))
}

/// Whether the test may run with `flavor`, and the turn it holds while it runs. Without
/// the real ComfyUI the real tests are skipped with a note, except under `CI=true`.
pub async fn turn(flavor: Flavor) -> Option<Option<tokio::sync::SemaphorePermit<'static>>> {
    if flavor == Flavor::Sim {
        return Some(None);
    }
    if real_comfyui().is_none() {
        let ci = std::env::var("CI").is_ok_and(|v| v == "true");
        assert!(!ci, "CI=true but GANTRY_COMFYUI_SRC/GANTRY_COMFYUI_PYTHON name no ComfyUI (scripts/test prepares it)");
        eprintln!("skipped: the real ComfyUI is not prepared (run scripts/comfyui-env, or scripts/test)");
        return None;
    }
    Some(Some(REAL_TURN.acquire().await.expect("the turn semaphore is never closed")))
}

enum Process {
    Sim(Sim),
    Real(Child),
}

/// One ComfyUI instance; killed when dropped.
pub struct Comfy {
    process: Process,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl Comfy {
    /// Starts an instance and waits until it answers. The sim runs each of a tiled VAE
    /// node's eight waits in 150 ms, so the slow graph takes seconds on both kinds.
    pub async fn start(flavor: Flavor) -> Self {
        let dir = tempfile::tempdir().expect("instance directory");
        for sub in ["custom_nodes", "input", "output", "models"] {
            std::fs::create_dir_all(dir.path().join(sub)).expect("instance subdirectory");
        }
        let (process, port) = match flavor {
            Flavor::Sim => {
                let output = dir.path().join("output");
                let input = dir.path().join("input");
                let sim = Sim::spawn(&[
                    "--cpu",
                    "--step-ms",
                    "150",
                    "--output-directory",
                    output.to_str().expect("UTF-8 path"),
                    "--input-directory",
                    input.to_str().expect("UTF-8 path"),
                ]);
                let port = sim.port;
                (Process::Sim(sim), port)
            }
            Flavor::Real => {
                let (src, python) = real_comfyui().expect("checked by turn()");
                let port = free_port();
                let child = Command::new(python)
                    .current_dir(src)
                    .args(["main.py", "--cpu", "--listen", "127.0.0.1", "--disable-auto-launch"])
                    .args(["--port", &port.to_string(), "--database-url", "sqlite:///:memory:"])
                    .arg("--base-directory")
                    .arg(dir.path())
                    .env("PYTHONDONTWRITEBYTECODE", "1")
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("ComfyUI starts");
                (Process::Real(child), port)
            }
        };
        let instance = Self { process, port, dir };
        instance.answering(Duration::from_secs(180)).await;
        instance
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn pid(&self) -> u32 {
        match &self.process {
            Process::Sim(sim) => sim.pid(),
            Process::Real(child) => child.id(),
        }
    }

    /// Waits until `/system_stats` answers.
    async fn answering(&self, within: Duration) {
        let deadline = Instant::now() + within;
        let http = reqwest::Client::new();
        loop {
            let url = format!("{}/system_stats", self.base());
            if http.get(url).send().await.is_ok_and(|r| r.status().is_success()) {
                return;
            }
            assert!(Instant::now() < deadline, "the instance on port {} did not start", self.port);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Kills the process (SIGKILL).
    pub fn kill(&mut self) {
        match &mut self.process {
            Process::Sim(sim) => sim.kill(),
            Process::Real(child) => {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }

    /// Freezes (SIGSTOP) or thaws (SIGCONT) the process: a hung instance.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill").args([signal, &self.pid().to_string()]).status().expect("kill runs");
        assert!(status.success(), "kill {signal} failed");
    }

    /// Files the instance wrote for a task (Gantry prefixes its outputs `gantry/<task id>/`).
    pub fn outputs_of(&self, task_id: &str) -> usize {
        count_files(&self.dir.path().join("output").join("gantry").join(task_id))
    }

    /// The instance's `/queue`: (running, pending) prompt counts.
    pub async fn queue(&self) -> (usize, usize) {
        let queue: Value = reqwest::get(format!("{}/queue", self.base())).await.unwrap().json().await.unwrap();
        let len = |key: &str| queue[key].as_array().map_or(0, Vec::len);
        (len("queue_running"), len("queue_pending"))
    }

    /// How many entries the instance's `/history` holds.
    pub async fn history_len(&self) -> usize {
        let history: Value = reqwest::get(format!("{}/history", self.base())).await.unwrap().json().await.unwrap();
        history.as_object().map_or(0, serde_json::Map::len)
    }
}

impl Drop for Comfy {
    fn drop(&mut self) {
        // A frozen test instance is thawed first, so nothing of it lingers.
        if let Process::Real(_) = self.process {
            let pid = self.pid().to_string();
            let _ = Command::new("kill").args(["-CONT", &pid]).stderr(Stdio::null()).status();
        }
        self.kill();
    }
}

fn count_files(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |entries| entries.filter_map(Result::ok).filter(|e| e.path().is_file()).count())
}

/// A port nobody listens on now.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("local address").port()
}

/// A quick model-free graph: a `size`² image of `color`, inverted, saved.
pub fn quick_graph(color: u32, size: u32) -> Value {
    json!({
        "1": {"class_type": "EmptyImage", "inputs": {"width": size, "height": size, "batch_size": 1, "color": color}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "quick"}}
    })
}

/// A slow, interruptible model-free graph with progress: a 2048² image through the
/// pixel-space VAE in 64-pixel tiles (3,072 progress ticks per node). `color` varies it,
/// or ComfyUI's cache answers at once. About 1.5 s on a recent CPU, more on slower ones.
pub fn slow_graph(color: u32) -> Value {
    slow_graph_of_side(color, 2048)
}

/// [`slow_graph`] at `side`² pixels; its time grows with the area (4096²: about 6 s on a
/// recent CPU), for tests that must act while it still runs.
pub fn slow_graph_of_side(color: u32, side: u32) -> Value {
    let tiled = |input: &str, from: &str| json!({"tile_size": 64, "overlap": 0, "temporal_size": 64, "temporal_overlap": 8, input: [from, 0], "vae": ["2", 0]});
    json!({
        "1": {"class_type": "EmptyImage", "inputs": {"width": side, "height": side, "batch_size": 1, "color": color}},
        "2": {"class_type": "VAELoader", "inputs": {"vae_name": "pixel_space"}},
        "3": {"class_type": "VAEEncodeTiled", "inputs": tiled("pixels", "1")},
        "4": {"class_type": "VAEDecodeTiled", "inputs": tiled("samples", "3")},
        "5": {"class_type": "SaveImage", "inputs": {"images": ["4", 0], "filename_prefix": "slow"}}
    })
}
