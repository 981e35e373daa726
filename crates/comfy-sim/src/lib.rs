//! comfy-sim: a faithful fake of a ComfyUI 0.3.64 server for Gantry's tests and benchmarks.
//!
//! It speaks ComfyUI's HTTP and WebSocket protocol (every route also under `/api`), validates
//! prompts against a node catalogue, runs one prompt at a time with simulated sampler steps,
//! writes real PNG and animated WebP outputs, caches like ComfyUI, and can inject failures.
//!
//! Besides ComfyUI's routes the server has `GET /sim/timeline` (per-prompt queue/start/finish times)
//! and `GET|POST /sim/control`, whose JSON body is a [`Control`]: any of `step_ms`, `load_ms`,
//! `preview`, `progress_state`, `die_after_steps` (0 disarms), `refuse` (+ `refuse_for_ms`),
//! `slow_ms`, `ws_lag_ms`, `fail_next` (`true` = out of memory, or `{exception_type, exception_message}`),
//! `fail_view`, `drop_ws: true`, `models: {folder: [files]}`. It answers the resulting settings.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let sim = comfy_sim::spawn(comfy_sim::SimConfig::default()).await?;
//! println!("ComfyUI at {}", sim.base_url());
//! sim.shutdown().await;
//! # Ok(())
//! # }
//! ```

mod cache;
mod catalogue;
mod config;
mod control;
mod executor;
mod files;
mod graph;
mod info;
mod nodes;
mod ordered;
mod outputs;
mod pixels;
mod pyfmt;
mod queue;
mod routes;
mod server;
mod state;
mod validate;
mod webp;
mod ws;

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, RwLock};

use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

pub use config::{FailSpec, Knobs, SimConfig, default_models};
pub use control::{Control, FailNext};
pub use info::COMFYUI_VERSION;
pub use queue::PromptTiming;

use catalogue::Catalogue;
use queue::PromptQueue;
use state::{Dirs, ExecStatus, Settings, Sim, lock};

/// A running simulated server. Dropping it stops the server (and removes directories it created).
pub struct SimHandle {
    sim: Arc<Sim>,
    addr: SocketAddr,
    stopped: watch::Receiver<bool>,
    tasks: Vec<JoinHandle<()>>,
    scratch: Option<PathBuf>,
}

/// Starts a simulated ComfyUI server and returns once it is listening.
pub async fn spawn(config: SimConfig) -> io::Result<SimHandle> {
    let catalogue = match &config.catalogue_path {
        Some(path) => Catalogue::from_file(path),
        None => Catalogue::builtin(),
    }
    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    let (dirs, scratch) = prepare_dirs(&config)?;
    let listener = TcpListener::bind((config.listen, config.port)).await?;
    let addr = listener.local_addr()?;

    let sim = Arc::new(Sim {
        dirs,
        catalogue,
        settings: Settings {
            models_dir: config.models_dir.clone(),
            max_upload_mb: config.max_upload_size_mb,
            device_name: config.device_name.clone(),
            cpu: config.cpu,
            vram_total: config.vram_total,
            argv: config.argv.clone(),
            exit_on_die: config.exit_on_die,
        },
        models: RwLock::new(config.models.clone()),
        knobs: Mutex::new(config.knobs.clone()),
        queue: Mutex::new(PromptQueue::new(config.max_history)),
        wake: Notify::new(),
        hub: ws::Hub::default(),
        interrupt: AtomicBool::new(false),
        exec: Mutex::new(ExecStatus::default()),
        dead: watch::Sender::new(false),
        refuse: watch::Sender::new(config.knobs.refuse),
    });
    let (stopped_tx, stopped) = watch::channel(false);
    let app = routes::router(Arc::clone(&sim));
    let tasks = vec![
        tokio::spawn(server::serve(Arc::clone(&sim), listener, app, stopped_tx)),
        tokio::spawn(executor::run_worker(Arc::clone(&sim))),
    ];
    tracing::info!(%addr, "comfy-sim listening");
    Ok(SimHandle { sim, addr, stopped, tasks, scratch })
}

/// Scratch directories are named `comfy-sim-<pid>-<id>`.
const SCRATCH_PREFIX: &str = "comfy-sim-";

/// Removes the scratch directories in `parent` of sims that are no longer running: a sim
/// killed outright (as test harnesses stop them) cannot remove its own. A directory whose
/// process is alive, or whose name carries no pid, is left alone; only where `/proc`
/// tells which processes run.
fn remove_stale_scratch(parent: &Path) {
    let proc_fs = Path::new("/proc");
    if !proc_fs.join("self").exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(parent) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let owner = name.to_str().and_then(|n| n.strip_prefix(SCRATCH_PREFIX)?.split_once('-')?.0.parse::<u32>().ok());
        if owner.is_some_and(|pid| !proc_fs.join(pid.to_string()).exists()) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

fn prepare_dirs(config: &SimConfig) -> io::Result<(Dirs, Option<PathBuf>)> {
    let needs_scratch = config.output_dir.is_none() || config.input_dir.is_none() || config.temp_dir.is_none();
    let scratch = needs_scratch.then(|| {
        let parent = std::env::temp_dir();
        remove_stale_scratch(&parent);
        parent.join(format!("{SCRATCH_PREFIX}{}-{}", std::process::id(), uuid::Uuid::new_v4().simple()))
    });
    let pick = |given: &Option<PathBuf>, name: &str| -> PathBuf {
        given.clone().unwrap_or_else(|| scratch.as_deref().unwrap_or(Path::new(".")).join(name))
    };
    let output = pick(&config.output_dir, "output");
    let input = pick(&config.input_dir, "input");
    let temp = match &config.temp_dir {
        Some(base) => base.join("temp"),
        None => pick(&None, "temp"),
    };
    if temp.exists() {
        std::fs::remove_dir_all(&temp)?;
    }
    for dir in [&output, &input, &temp] {
        std::fs::create_dir_all(dir)?;
    }
    let dirs = Dirs { output: output.canonicalize()?, input: input.canonicalize()?, temp: temp.canonicalize()? };
    Ok((dirs, scratch))
}

impl SimHandle {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `ws://ADDR/ws?clientId=CLIENT_ID`.
    pub fn ws_url(&self, client_id: &str) -> String {
        format!("ws://{}/ws?clientId={client_id}", self.addr)
    }

    /// Where SaveImage writes.
    pub fn output_dir(&self) -> &Path {
        &self.sim.dirs.output
    }

    /// Where uploads go and LoadImage reads.
    pub fn input_dir(&self) -> &Path {
        &self.sim.dirs.input
    }

    /// Where PreviewImage writes.
    pub fn temp_dir(&self) -> &Path {
        &self.sim.dirs.temp
    }

    /// Queue, start and finish times of every prompt accepted so far.
    pub fn timeline(&self) -> Vec<PromptTiming> {
        lock(&self.sim.queue).timeline()
    }

    /// The current timing and failure-injection settings.
    pub fn knobs(&self) -> Knobs {
        self.sim.knobs()
    }

    /// Changes settings or triggers actions, like `POST /sim/control`; returns the new settings.
    pub fn control(&self, change: Control) -> Knobs {
        control::apply(&self.sim, change);
        self.sim.knobs()
    }

    /// Crashes the server now: the listener and every connection are dropped, queue and
    /// history are lost. (The binary exits the process instead.)
    pub fn crash(&self) {
        self.sim.dead.send_replace(true);
        self.sim.hub.drop_all();
    }

    /// Whether the server has crashed or been shut down.
    pub fn is_dead(&self) -> bool {
        self.sim.is_dead()
    }

    /// Resolves once the server has stopped serving (after a crash or shutdown) and its port is free.
    pub async fn stopped(&self) {
        let mut stopped = self.stopped.clone();
        let _ = stopped.wait_for(|s| *s).await;
    }

    /// Stops the server and waits for its tasks.
    pub async fn shutdown(mut self) {
        self.crash();
        for task in self.tasks.drain(..) {
            let _ = task.await;
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        self.crash();
        for task in &self.tasks {
            task.abort();
        }
        if let Some(dir) = &self.scratch {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

#[cfg(test)]
mod scratch_tests {
    use super::*;

    #[test]
    fn only_the_scratch_of_sims_no_longer_running_is_removed() {
        let parent = tempfile::tempdir().unwrap();
        let mut ended = std::process::Command::new("true").spawn().unwrap();
        let dead = ended.id();
        ended.wait().unwrap();
        let names = [
            format!("{SCRATCH_PREFIX}{dead}-a"),
            format!("{SCRATCH_PREFIX}{}-b", std::process::id()),
            format!("{SCRATCH_PREFIX}0123abcd"),
            "other-1-c".to_owned(),
        ];
        for name in &names {
            std::fs::create_dir_all(parent.path().join(name).join("output")).unwrap();
        }
        remove_stale_scratch(parent.path());
        let left: Vec<bool> = names.iter().map(|n| parent.path().join(n).exists()).collect();
        assert_eq!(left, [false, true, true, true], "{names:?}");
    }
}
