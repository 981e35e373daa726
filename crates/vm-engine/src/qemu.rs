//! The QEMU engine: one daemonized `qemu-system-x86_64` per VM, driven over QMP.
//!
//! Each VM lives in `<storage>/<uuid>/`:
//!
//! | file | what |
//! |---|---|
//! | `vm.json` | the engine's record of the VM ([`VmSpec`]); rewritten on every change |
//! | `running.json` | the spec and accelerator the running process was started with |
//! | `disk.qcow2` | system disk (a qcow2 overlay of `os_image` when one is given) |
//! | `qmp.sock` | QMP monitor (one client at a time: the engine's) |
//! | `vnc.sock` | VNC server (`password=on`; see [`QemuEngine::console_password`]) |
//! | `serial.log` | the guest's ttyS0 |
//! | `pid` | QEMU's pid file |
//!
//! VMs are started with `-daemonize`, so they survive the manager; a new engine finds them again
//! by their pid file and QMP socket ([`QemuEngine::attach`], or lazily on the first call that
//! needs QMP). NAT forwards use QEMU user networking: rules are put on the `-netdev` line at
//! start and added/removed live with `hostfwd_add`/`hostfwd_remove`.

use std::collections::{BTreeSet, HashMap};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::{Mutex, OnceCell, broadcast};

use crate::accel::{self, Accel, AccelPolicy, AccelReport, ProbeGuest};
use crate::engine::{
    ConsoleStream, EngineInfo, NatRule, NicType, PowerAction, PowerOutcome, ScannedVm, UpdateOutcome, VmEngine,
    VmEvent, VmEventKind, VmPower, VmSpec, VmStatus, parse_mac, validate_uuid,
};
use crate::error::{EngineError, Result};
use crate::host::{self, HostFacts};
use crate::ports::{self, PortRange, Protocol};
use crate::procfs;
use crate::qmp::{QmpClient, QmpError, QmpEvent};

/// The engine key (OpenIDCS `server_type` / `engine` entry).
pub const ENGINE_KEY: &str = "QEMUServer";

/// Configuration of a [`QemuEngine`] (one host).
#[derive(Clone, Debug)]
pub struct QemuConfig {
    /// Directory holding one sub-directory per VM (OpenIDCS `system_path`).
    pub storage: PathBuf,
    /// `qemu-system-x86_64` (looked up in `PATH` unless a path).
    pub qemu_binary: PathBuf,
    /// `qemu-img`.
    pub qemu_img: PathBuf,
    /// Accelerator policy (the env `GANTRY_QEMU_ACCEL` overrides it).
    pub accel: AccelPolicy,
    /// Guest used to probe KVM (see [`crate::accel`]).
    pub probe_guest: Option<ProbeGuest>,
    pub probe_timeout: Duration,
    /// NAT host-port range (`ports_start..=ports_close`); `None` = any port, no allocation.
    pub nat_range: Option<PortRange>,
    /// Host address forwards listen on (`0.0.0.0` = all).
    pub nat_bind: Ipv4Addr,
    /// How long an ACPI shutdown may take before the VM is powered off hard.
    pub shutdown_timeout: Duration,
    /// How long to wait for the QMP greeting before calling the monitor busy.
    pub qmp_greeting_timeout: Duration,
    /// QEMU machine type.
    pub machine: String,
}

impl QemuConfig {
    /// Defaults: binaries from `PATH`, probe KVM (no probe guest), no NAT range, forwards on
    /// all addresses, 60 s shutdown timeout, machine `pc`.
    pub fn new(storage: impl Into<PathBuf>) -> QemuConfig {
        QemuConfig {
            storage: storage.into(),
            qemu_binary: "qemu-system-x86_64".into(),
            qemu_img: "qemu-img".into(),
            accel: AccelPolicy::Auto,
            probe_guest: None,
            probe_timeout: Duration::from_secs(6),
            nat_range: None,
            nat_bind: Ipv4Addr::UNSPECIFIED,
            shutdown_timeout: Duration::from_secs(60),
            qmp_greeting_timeout: Duration::from_secs(3),
            machine: "pc".into(),
        }
    }
}

/// The files of one VM.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VmPaths {
    pub dir: PathBuf,
    pub spec: PathBuf,
    pub running: PathBuf,
    pub disk: PathBuf,
    pub qmp: PathBuf,
    pub vnc: PathBuf,
    pub serial: PathBuf,
    pub pid: PathBuf,
}

impl VmPaths {
    pub fn new(storage: &Path, uuid: &str) -> VmPaths {
        let dir = storage.join(uuid);
        VmPaths {
            spec: dir.join("vm.json"),
            running: dir.join("running.json"),
            disk: dir.join("disk.qcow2"),
            qmp: dir.join("qmp.sock"),
            vnc: dir.join("vnc.sock"),
            serial: dir.join("serial.log"),
            pid: dir.join("pid"),
            dir,
        }
    }
}

/// What the running process was started with.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct RunningRecord {
    spec: VmSpec,
    accel: Accel,
    started_unix: u64,
}

struct Vm {
    uuid: String,
    paths: VmPaths,
    /// Serialises lifecycle operations (start, stop, update, NAT changes, delete).
    op: Mutex<()>,
    st: Mutex<VmState>,
}

struct VmState {
    spec: VmSpec,
    qmp: Option<Arc<QmpClient>>,
    cpu_sample: Option<(u32, Instant, u64)>,
    transition: Option<VmPower>,
    accel: Option<Accel>,
}

struct Inner {
    cfg: QemuConfig,
    vms: std::sync::Mutex<HashMap<String, Arc<Vm>>>,
    /// Serialises creation and NAT port allocation across the host's VMs.
    host_lock: Mutex<()>,
    events: broadcast::Sender<VmEvent>,
    accel: OnceCell<AccelReport>,
}

/// The QEMU engine of one host. Cheap to clone (shared state).
#[derive(Clone)]
pub struct QemuEngine {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for QemuEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QemuEngine").field("storage", &self.inner.cfg.storage).finish_non_exhaustive()
    }
}

/// Longest unix socket path (`sun_path` is 108 bytes with the NUL).
const MAX_SOCKET_PATH: usize = 107;

impl QemuEngine {
    /// Creates the engine; makes the storage directory. Nothing is started or probed yet.
    pub fn new(cfg: QemuConfig) -> Result<QemuEngine> {
        let storage = cfg.storage.to_string_lossy();
        if storage.contains(',') {
            return Err(EngineError::Invalid(format!("storage path {storage:?} must not contain commas")));
        }
        std::fs::create_dir_all(&cfg.storage)
            .map_err(|e| EngineError::io(format!("creating {}", cfg.storage.display()), e))?;
        let (events, _) = broadcast::channel(256);
        Ok(QemuEngine {
            inner: Arc::new(Inner {
                cfg,
                vms: Default::default(),
                host_lock: Mutex::new(()),
                events,
                accel: OnceCell::new(),
            }),
        })
    }

    pub fn config(&self) -> &QemuConfig {
        &self.inner.cfg
    }

    /// The files of a VM (whether or not it exists).
    pub fn paths(&self, uuid: &str) -> Result<VmPaths> {
        validate_uuid(uuid)?;
        Ok(VmPaths::new(&self.inner.cfg.storage, uuid))
    }

    /// The accelerator VMs get (decided once per engine; see [`crate::accel::detect`]).
    pub async fn accel(&self) -> Result<AccelReport> {
        let cfg = &self.inner.cfg;
        self.inner
            .accel
            .get_or_try_init(|| accel::detect(&cfg.qemu_binary, cfg.accel, cfg.probe_guest.as_ref(), cfg.probe_timeout))
            .await
            .cloned()
    }

    /// The VM's QMP client (connecting if needed), for callers that need raw QMP/HMP.
    pub async fn qmp(&self, uuid: &str) -> Result<Arc<QmpClient>> {
        let vm = self.vm(uuid)?;
        self.client(&vm).await
    }

    /// Subscribes to engine events.
    pub fn subscribe(&self) -> broadcast::Receiver<VmEvent> {
        self.inner.events.subscribe()
    }

    /// See [`VmEngine::info`].
    pub fn info(&self) -> EngineInfo {
        let cfg = &self.inner.cfg;
        let qemu = host::which(&cfg.qemu_binary);
        let img = host::which(&cfg.qemu_img);
        let message = match (&qemu, &img) {
            (Some(_), Some(_)) => String::new(),
            (None, _) => format!("{} not found", cfg.qemu_binary.display()),
            (_, None) => format!("{} not found", cfg.qemu_img.display()),
        };
        EngineInfo {
            key: ENGINE_KEY.into(),
            name: "QEMU/KVM".into(),
            description: "QEMU virtual machines driven over QMP (KVM when it works, else TCG)".into(),
            enabled: qemu.is_some() && img.is_some(),
            platform: vec!["Linux".into()],
            arch: vec!["x86_64".into()],
            options: json!({
                "storage": cfg.storage,
                "accel": cfg.accel,
                "accel_decided": self.inner.accel.get(),
                "nat_range": cfg.nat_range,
                "nat_bind": cfg.nat_bind,
                "console": "vnc",
            }),
            message,
        }
    }

    /// See [`VmEngine::host_facts`].
    pub async fn host_facts(&self) -> Result<HostFacts> {
        let mut facts = host::collect(&self.inner.cfg.qemu_binary, &self.inner.cfg.storage).await;
        facts.accel = self.accel().await.ok();
        Ok(facts)
    }

    // ---- VM registry ----------------------------------------------------------------------

    fn vm(&self, uuid: &str) -> Result<Arc<Vm>> {
        validate_uuid(uuid)?;
        if let Some(vm) = self.inner.vms.lock().expect("vms lock").get(uuid) {
            return Ok(vm.clone());
        }
        let paths = VmPaths::new(&self.inner.cfg.storage, uuid);
        let spec = read_spec(&paths.spec)?.ok_or_else(|| EngineError::NotFound(format!("VM {uuid}")))?;
        let accel = read_running(&paths.running).map(|r| r.accel);
        let vm = Arc::new(Vm {
            uuid: uuid.to_string(),
            paths,
            op: Mutex::new(()),
            st: Mutex::new(VmState { spec, qmp: None, cpu_sample: None, transition: None, accel }),
        });
        Ok(self.inner.vms.lock().expect("vms lock").entry(uuid.to_string()).or_insert(vm).clone())
    }

    fn emit(&self, uuid: &str, kind: VmEventKind) {
        let _ = self.inner.events.send(VmEvent { uuid: uuid.to_string(), kind });
    }

    /// The pid of the VM's live QEMU, checked against its command line.
    fn pid_of(&self, vm: &Vm) -> Option<u32> {
        let pid = procfs::read_pid_file(&vm.paths.pid)?;
        procfs::alive_with(pid, &vm.paths.dir.to_string_lossy()).then_some(pid)
    }

    /// The VM's QMP client, connecting (and starting the event forwarder) if needed.
    async fn client(&self, vm: &Vm) -> Result<Arc<QmpClient>> {
        let mut st = vm.st.lock().await;
        if let Some(q) = &st.qmp
            && !q.is_closed()
        {
            return Ok(q.clone());
        }
        st.qmp = None;
        let Some(pid) = self.pid_of(vm) else {
            return Err(EngineError::Conflict(format!("VM {} is not running", vm.uuid)));
        };
        let q = Arc::new(QmpClient::connect(&vm.paths.qmp, self.inner.cfg.qmp_greeting_timeout).await?);
        self.forward_events(vm, pid, &q);
        st.qmp = Some(q.clone());
        Ok(q)
    }

    fn forward_events(&self, vm: &Vm, pid: u32, q: &Arc<QmpClient>) {
        let mut rx = q.events();
        let closed = q.closed_token();
        let tx = self.inner.events.clone();
        let uuid = vm.uuid.clone();
        tokio::spawn(async move {
            let send = |kind| {
                let _ = tx.send(VmEvent { uuid: uuid.clone(), kind });
            };
            // Events first, in order: the reader sends every event before it marks the
            // connection closed, so the close is seen only once none is left to read.
            loop {
                tokio::select! {
                    biased;
                    ev = rx.recv() => match ev {
                        Ok(ev) => send(map_event(&ev)),
                        Err(broadcast::error::RecvError::Lagged(_)) => continue,
                        // The client was dropped: by the engine while the VM runs on, or after
                        // QEMU exited (a shutdown drops it once the process is gone, and this task
                        // may only run after that).
                        Err(broadcast::error::RecvError::Closed) => break,
                    },
                    _ = closed.cancelled() => break,
                }
            }
            // A closed connection means QEMU is exiting: give it time to go. A client dropped
            // on an open connection stopped nothing unless the process is already gone.
            let gone = if closed.is_cancelled() {
                procfs::wait_gone(pid, Duration::from_secs(5)).await
            } else {
                !procfs::alive(pid)
            };
            if gone {
                send(VmEventKind::Stopped);
            }
        });
    }

    // ---- create / update / delete ---------------------------------------------------------

    /// See [`VmEngine::create`].
    pub async fn create(&self, mut spec: VmSpec) -> Result<VmStatus> {
        spec.validate()?;
        self.check_supported(&spec)?;
        let paths = self.paths(&spec.uuid)?;
        for sock in [&paths.qmp, &paths.vnc] {
            if sock.as_os_str().len() > MAX_SOCKET_PATH {
                return Err(EngineError::Invalid(format!(
                    "socket path {} is longer than {MAX_SOCKET_PATH} bytes: use a shorter storage path or VM id",
                    sock.display()
                )));
            }
        }
        check_boot_files(&spec)?;
        let _host = self.inner.host_lock.lock().await;
        if paths.dir.exists() || self.inner.vms.lock().expect("vms lock").contains_key(&spec.uuid) {
            return Err(EngineError::Conflict(format!("VM {} already exists", spec.uuid)));
        }
        // NAT rules given at creation are checked and allocated like live ones.
        let mut used: HashMap<Protocol, BTreeSet<u16>> = HashMap::new();
        for rule in spec.nat.iter_mut() {
            let used = match used.entry(rule.protocol) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => e.insert(self.used_ports(rule.protocol, None)),
            };
            let (_, lan) = nic_for_rule(&spec.nics, rule)?;
            rule.lan_addr = Some(lan);
            rule.wan_port = self.pick_port(rule.wan_port, used, rule.protocol)?;
            used.insert(rule.wan_port);
        }
        std::fs::create_dir_all(&paths.dir)
            .map_err(|e| EngineError::io(format!("creating {}", paths.dir.display()), e))?;
        let made = async {
            if spec.hdd_num > 0 || spec.os_image.is_some() {
                self.create_disk(&paths.disk, &spec).await?;
            }
            write_json(&paths.spec, &spec)
        }
        .await;
        if let Err(e) = made {
            let _ = std::fs::remove_dir_all(&paths.dir);
            return Err(e);
        }
        let uuid = spec.uuid.clone();
        let vm = self.vm(&uuid)?;
        self.emit(&uuid, VmEventKind::Created);
        tracing::info!(vm = %uuid, "created");
        self.status_of(&vm).await
    }

    fn check_supported(&self, spec: &VmSpec) -> Result<()> {
        if let Some(nic) = spec.nics.iter().find(|n| n.nic_type == NicType::Pub) {
            return Err(EngineError::Unsupported(format!(
                "NIC {}: public (bridged) NICs are not supported by the QEMU user-network engine",
                nic.name
            )));
        }
        Ok(())
    }

    async fn create_disk(&self, disk: &Path, spec: &VmSpec) -> Result<()> {
        let mut size = spec.hdd_num * 1024 * 1024;
        let mut cmd = tokio::process::Command::new(&self.inner.cfg.qemu_img);
        cmd.args(["create", "-q", "-f", "qcow2"]);
        if let Some(base) = &spec.os_image {
            let info = self.qemu_img_info(base).await?;
            let format = info.get("format").and_then(|v| v.as_str()).unwrap_or("raw").to_string();
            let vsize = info.get("virtual-size").and_then(|v| v.as_u64()).unwrap_or(0);
            size = size.max(vsize);
            cmd.arg("-b").arg(base).args(["-F", &format]);
        }
        cmd.arg(disk).arg(size.to_string());
        run_tool(cmd, "qemu-img create").await.map(drop)
    }

    async fn qemu_img_info(&self, image: &Path) -> Result<serde_json::Value> {
        let mut cmd = tokio::process::Command::new(&self.inner.cfg.qemu_img);
        cmd.args(["info", "--output=json"]).arg(image);
        let out = run_tool(cmd, "qemu-img info").await?;
        serde_json::from_str(&out).map_err(|e| EngineError::Qemu(format!("qemu-img info: {e}")))
    }

    /// See [`VmEngine::get`].
    pub async fn get(&self, uuid: &str) -> Result<VmSpec> {
        let vm = self.vm(uuid)?;
        Ok(vm.st.lock().await.spec.clone())
    }

    /// See [`VmEngine::list`].
    pub async fn list(&self) -> Result<Vec<VmSpec>> {
        let mut out = Vec::new();
        for uuid in self.vm_dirs()? {
            if let Ok(vm) = self.vm(&uuid) {
                out.push(vm.st.lock().await.spec.clone());
            }
        }
        Ok(out)
    }

    fn vm_dirs(&self) -> Result<Vec<String>> {
        let storage = &self.inner.cfg.storage;
        let rd =
            std::fs::read_dir(storage).map_err(|e| EngineError::io(format!("reading {}", storage.display()), e))?;
        let mut out: Vec<String> = rd
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| validate_uuid(n).is_ok())
            .collect();
        out.sort();
        Ok(out)
    }

    /// See [`VmEngine::update`].
    pub async fn update(&self, mut spec: VmSpec) -> Result<UpdateOutcome> {
        spec.validate()?;
        self.check_supported(&spec)?;
        check_boot_files(&spec)?;
        let vm = self.vm(&spec.uuid)?;
        let _op = vm.op.lock().await;
        let old = vm.st.lock().await.spec.clone();
        spec.nat = old.nat.clone();
        if spec.os_image != old.os_image {
            return Err(EngineError::Invalid("os_image cannot change (reinstall the VM instead)".into()));
        }
        if spec.hdd_num < old.hdd_num {
            return Err(EngineError::Invalid(format!(
                "the disk cannot shrink ({} → {} MiB)",
                old.hdd_num, spec.hdd_num
            )));
        }
        for (i, rule) in spec.nat.iter().enumerate() {
            nic_for_rule(&spec.nics, rule)
                .map_err(|e| EngineError::Invalid(format!("NAT rule {i} would lose its NIC: {e}")))?;
        }
        let running = self.pid_of(&vm).is_some();
        let mut out = UpdateOutcome::default();
        let mut note = |field: &str, live: bool| {
            if live { out.applied.push(field.into()) } else { out.pending.push(field.into()) }
        };
        if spec.name != old.name {
            note("name", true);
        }
        if spec.hdd_num > old.hdd_num {
            let bytes = spec.hdd_num * 1024 * 1024;
            if vm.paths.disk.exists() {
                if running {
                    let q = self.client(&vm).await?;
                    q.execute("block_resize", Some(json!({ "device": "drive0", "size": bytes }))).await?;
                    if let Some(mut rec) = read_running(&vm.paths.running) {
                        rec.spec.hdd_num = spec.hdd_num;
                        write_json(&vm.paths.running, &rec)?;
                    }
                } else {
                    let mut cmd = tokio::process::Command::new(&self.inner.cfg.qemu_img);
                    cmd.args(["resize", "-q", "-f", "qcow2"]).arg(&vm.paths.disk).arg(bytes.to_string());
                    run_tool(cmd, "qemu-img resize").await?;
                }
                note("hdd_num", true);
            } else {
                self.create_disk(&vm.paths.disk, &spec).await?;
                note("hdd_num", !running);
            }
        }
        for (field, changed) in [
            ("cpu_num", spec.cpu_num != old.cpu_num),
            ("mem_num", spec.mem_num != old.mem_num),
            ("boot", spec.boot != old.boot),
            ("nics", spec.nics != old.nics),
        ] {
            if changed {
                note(field, !running);
            }
        }
        write_json(&vm.paths.spec, &spec)?;
        vm.st.lock().await.spec = spec;
        Ok(out)
    }

    /// See [`VmEngine::delete`].
    pub async fn delete(&self, uuid: &str) -> Result<()> {
        let vm = self.vm(uuid)?;
        let _op = vm.op.lock().await;
        self.hard_stop(&vm).await?;
        match std::fs::remove_dir_all(&vm.paths.dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(EngineError::io(format!("removing {}", vm.paths.dir.display()), e)),
        }
        self.inner.vms.lock().expect("vms lock").remove(uuid);
        self.emit(uuid, VmEventKind::Deleted);
        tracing::info!(vm = %uuid, "deleted");
        Ok(())
    }

    // ---- power ------------------------------------------------------------------------------

    /// See [`VmEngine::power`].
    pub async fn power(&self, uuid: &str, action: PowerAction) -> Result<PowerOutcome> {
        let vm = self.vm(uuid)?;
        let _op = vm.op.lock().await;
        let mut forced = false;
        match action {
            PowerAction::Start => self.start(&vm).await?,
            PowerAction::Stop => {
                self.hard_stop(&vm).await?;
            }
            PowerAction::Shutdown { timeout } => forced = self.shutdown(&vm, timeout).await?,
            PowerAction::Reboot { timeout } => {
                if self.pid_of(&vm).is_some() {
                    forced = self.shutdown(&vm, timeout).await?;
                }
                self.start(&vm).await?;
            }
            PowerAction::Reset => {
                self.client(&vm).await?.execute("system_reset", None).await?;
            }
            PowerAction::Pause => {
                self.client(&vm).await?.execute("stop", None).await?;
            }
            PowerAction::Resume => {
                self.client(&vm).await?.execute("cont", None).await?;
            }
        }
        tracing::info!(vm = %uuid, action = action.name(), forced, "power");
        Ok(PowerOutcome { action: action.name().into(), forced, status: self.status_of(&vm).await? })
    }

    async fn start(&self, vm: &Vm) -> Result<()> {
        if self.pid_of(vm).is_some() {
            return Err(EngineError::Conflict(format!("VM {} is already running", vm.uuid)));
        }
        let accel = self.accel().await?.accel;
        let spec = vm.st.lock().await.spec.clone();
        self.check_supported(&spec)?;
        check_boot_files(&spec)?;
        for stale in [&vm.paths.qmp, &vm.paths.vnc, &vm.paths.pid] {
            let _ = std::fs::remove_file(stale);
        }
        let args = qemu_args(&self.inner.cfg, &vm.paths, &spec, accel)?;
        tracing::debug!(vm = %vm.uuid, ?args, "starting qemu");
        {
            let mut st = vm.st.lock().await;
            st.transition = Some(VmPower::OnOpen);
            st.qmp = None;
            st.cpu_sample = None;
        }
        let result = async {
            let spawned = tokio::process::Command::new(&self.inner.cfg.qemu_binary)
                .args(&args)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .kill_on_drop(true)
                .output();
            let out = tokio::time::timeout(Duration::from_secs(60), spawned)
                .await
                .map_err(|_| EngineError::Timeout("qemu did not daemonize within 60 s".into()))?
                .map_err(|e| EngineError::io(format!("running {}", self.inner.cfg.qemu_binary.display()), e))?;
            if !out.status.success() {
                let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
                return Err(start_error(&spec, err));
            }
            let rec = RunningRecord { spec: spec.clone(), accel, started_unix: unix_now() };
            write_json(&vm.paths.running, &rec)?;
            let pid = self
                .pid_of(vm)
                .ok_or_else(|| EngineError::Qemu("qemu daemonized but its pid file names no live process".into()))?;
            let q =
                QmpClient::connect_retry(&vm.paths.qmp, Duration::from_secs(5), self.inner.cfg.qmp_greeting_timeout)
                    .await
                    .map(Arc::new)?;
            self.forward_events(vm, pid, &q);
            Ok(q)
        }
        .await;
        let mut st = vm.st.lock().await;
        st.transition = None;
        let q = result?;
        st.qmp = Some(q);
        st.accel = Some(accel);
        drop(st);
        self.emit(&vm.uuid, VmEventKind::Started);
        Ok(())
    }

    /// Powers off hard: QMP `quit`, then SIGTERM, then SIGKILL. Ok(false) if it was not running.
    async fn hard_stop(&self, vm: &Vm) -> Result<bool> {
        let Some(pid) = self.pid_of(vm) else {
            vm.st.lock().await.qmp = None;
            return Ok(false);
        };
        let had_qmp = match self.client(vm).await {
            Ok(q) => {
                let _ = tokio::time::timeout(Duration::from_secs(3), q.execute("quit", None)).await;
                true
            }
            Err(e) => {
                tracing::warn!(vm = %vm.uuid, error = %e, "no QMP for quit; signalling qemu");
                false
            }
        };
        if !procfs::wait_gone(pid, Duration::from_secs(5)).await {
            procfs::signal(pid, libc::SIGTERM);
            if !procfs::wait_gone(pid, Duration::from_secs(5)).await {
                procfs::signal(pid, libc::SIGKILL);
                if !procfs::wait_gone(pid, Duration::from_secs(5)).await {
                    return Err(EngineError::Timeout(format!("qemu pid {pid} of VM {} did not exit", vm.uuid)));
                }
            }
        }
        let _ = std::fs::remove_file(&vm.paths.pid);
        let mut st = vm.st.lock().await;
        st.qmp = None;
        st.cpu_sample = None;
        drop(st);
        if !had_qmp {
            self.emit(&vm.uuid, VmEventKind::Stopped);
        }
        Ok(true)
    }

    /// ACPI shutdown; hard off after the timeout. Ok(true) if it had to force.
    async fn shutdown(&self, vm: &Vm, timeout: Option<Duration>) -> Result<bool> {
        let Some(pid) = self.pid_of(vm) else { return Ok(false) };
        let timeout = timeout.unwrap_or(self.inner.cfg.shutdown_timeout);
        let q = self.client(vm).await?;
        let status = q.execute("query-status", None).await?;
        if status.get("status").and_then(|s| s.as_str()) == Some("paused") {
            return Err(EngineError::Conflict(format!(
                "VM {} is paused: resume it before shutting it down, or stop it hard",
                vm.uuid
            )));
        }
        vm.st.lock().await.transition = Some(VmPower::OnStop);
        let sent = q.execute("system_powerdown", None).await;
        let graceful = sent.is_ok() && procfs::wait_gone(pid, timeout).await;
        vm.st.lock().await.transition = None;
        if let Err(e) = sent {
            tracing::warn!(vm = %vm.uuid, error = %e, "system_powerdown failed; stopping hard");
        }
        if graceful {
            let _ = std::fs::remove_file(&vm.paths.pid);
            vm.st.lock().await.qmp = None;
            return Ok(false);
        }
        tracing::warn!(vm = %vm.uuid, ?timeout, "guest did not power off in time; stopping hard");
        self.hard_stop(vm).await?;
        Ok(true)
    }

    // ---- status / attach / scan -------------------------------------------------------------

    /// See [`VmEngine::status`].
    pub async fn status(&self, uuid: &str) -> Result<VmStatus> {
        let vm = self.vm(uuid)?;
        self.status_of(&vm).await
    }

    async fn status_of(&self, vm: &Vm) -> Result<VmStatus> {
        let (spec, transition, accel) = {
            let st = vm.st.lock().await;
            (st.spec.clone(), st.transition, st.accel)
        };
        let hdd_usage_mib = std::fs::metadata(&vm.paths.disk)
            .map(|m| {
                use std::os::unix::fs::MetadataExt;
                m.blocks() * 512 / (1024 * 1024)
            })
            .unwrap_or(0);
        let mut status = VmStatus {
            uuid: vm.uuid.clone(),
            power: VmPower::Stopped,
            qemu_status: None,
            pid: None,
            accel: None,
            uptime_s: None,
            cpu_num: spec.cpu_num,
            cpu_usage: 0.0,
            mem_total_mib: spec.mem_num,
            mem_usage_mib: 0,
            hdd_total_mib: spec.hdd_num,
            hdd_usage_mib,
            pending: Vec::new(),
            message: None,
        };
        let Some(pid) = self.pid_of(vm) else {
            if transition == Some(VmPower::OnOpen) {
                status.power = VmPower::OnOpen;
            } else if vm.paths.pid.exists() {
                // QEMU removes its pid file when it exits cleanly.
                status.message =
                    Some("stale pid file: QEMU did not exit cleanly (killed, or the host rebooted)".into());
            }
            return Ok(status);
        };
        status.pid = Some(pid);
        status.accel = accel;
        status.uptime_s = procfs::process_age(pid).map(|d| d.as_secs());
        status.mem_usage_mib = procfs::rss_kib(pid).unwrap_or(0) / 1024;
        if let Some((ticks, _)) = procfs::cpu_ticks(pid) {
            let now = Instant::now();
            let mut st = vm.st.lock().await;
            let (dticks, dt) = match st.cpu_sample {
                Some((p, t0, k0)) if p == pid && now > t0 => (ticks.saturating_sub(k0), now - t0),
                _ => (ticks, procfs::process_age(pid).unwrap_or_default()),
            };
            st.cpu_sample = Some((pid, now, ticks));
            let secs = dt.as_secs_f64();
            if secs > 0.0 {
                let busy = dticks as f64 / procfs::clk_tck() as f64;
                status.cpu_usage = (busy / secs / f64::from(spec.cpu_num.max(1)) * 100.0).clamp(0.0, 100.0) as f32;
            }
        }
        if let Some(rec) = read_running(&vm.paths.running) {
            status.accel = Some(rec.accel);
            status.pending = pending_fields(&rec.spec, &spec);
        }
        match self.client(vm).await {
            Ok(q) => match q.execute("query-status", None).await {
                Ok(v) => {
                    let s = v.get("status").and_then(|s| s.as_str()).unwrap_or("unknown").to_string();
                    status.power = VmPower::from_qmp_status(&s);
                    status.qemu_status = Some(s);
                }
                Err(e) => {
                    status.power = VmPower::Unknown;
                    status.message = Some(e.to_string());
                }
            },
            Err(e) => {
                status.power = VmPower::Unknown;
                status.message = Some(e.to_string());
            }
        }
        if let Some(t) = transition {
            status.power = t;
        }
        Ok(status)
    }

    /// See [`VmEngine::attach`]: reconnects QMP to a VM that survived a manager restart and re-adds
    /// NAT forwards that its QEMU lost. A stopped VM is reported as such.
    pub async fn attach(&self, uuid: &str) -> Result<VmStatus> {
        let vm = self.vm(uuid)?;
        let _op = vm.op.lock().await;
        if self.pid_of(&vm).is_some() {
            let q = self.client(&vm).await?;
            let spec = vm.st.lock().await.spec.clone();
            let live: BTreeSet<(Protocol, u16)> = parse_usernet(&q.hmp("info usernet").await?).into_iter().collect();
            for rule in spec.nat.iter().filter(|r| !live.contains(&(r.protocol, r.wan_port))) {
                tracing::warn!(vm = %uuid, port = rule.wan_port, "re-adding a NAT forward missing in qemu");
                let (idx, lan) = nic_for_rule(&spec.nics, rule)?;
                q.hmp(&hostfwd_add_cmd(idx, self.inner.cfg.nat_bind, rule, lan))
                    .await
                    .map_err(|e| nat_error(rule, e))?;
            }
            tracing::info!(vm = %uuid, "attached");
        }
        self.status_of(&vm).await
    }

    /// See [`VmEngine::scan`].
    pub async fn scan(&self, known: &[String]) -> Result<Vec<ScannedVm>> {
        let known: BTreeSet<&str> = known.iter().map(String::as_str).collect();
        let mut out = Vec::new();
        for uuid in self.vm_dirs()? {
            if known.contains(uuid.as_str()) {
                continue;
            }
            let paths = VmPaths::new(&self.inner.cfg.storage, &uuid);
            let spec = read_spec(&paths.spec).ok().flatten();
            let running = procfs::read_pid_file(&paths.pid)
                .is_some_and(|pid| procfs::alive_with(pid, &paths.dir.to_string_lossy()));
            if spec.is_none() && !running && !paths.disk.exists() {
                continue;
            }
            out.push(ScannedVm { uuid, dir: paths.dir, spec, running });
        }
        Ok(out)
    }

    // ---- NAT --------------------------------------------------------------------------------

    /// Host ports used by rules of all VMs on this host (read from their records), optionally
    /// leaving one VM out.
    fn used_ports(&self, proto: Protocol, except: Option<&str>) -> BTreeSet<u16> {
        let mut used = BTreeSet::new();
        for uuid in self.vm_dirs().unwrap_or_default() {
            if Some(uuid.as_str()) == except {
                continue;
            }
            let paths = VmPaths::new(&self.inner.cfg.storage, &uuid);
            if let Ok(Some(spec)) = read_spec(&paths.spec) {
                used.extend(spec.nat.iter().filter(|r| r.protocol == proto).map(|r| r.wan_port));
            }
        }
        used
    }

    fn pick_port(&self, wanted: u16, used: &BTreeSet<u16>, proto: Protocol) -> Result<u16> {
        let cfg = &self.inner.cfg;
        let bind = cfg.nat_bind.into();
        if wanted == 0 {
            let range = cfg
                .nat_range
                .ok_or_else(|| EngineError::Invalid("wan_port 0 needs a NAT port range on the host".into()))?;
            ports::allocate(range, used, bind, proto)
        } else {
            ports::check(cfg.nat_range, used, bind, wanted, proto)?;
            Ok(wanted)
        }
    }

    /// See [`VmEngine::nat_list`].
    pub async fn nat_list(&self, uuid: &str) -> Result<Vec<NatRule>> {
        let vm = self.vm(uuid)?;
        Ok(vm.st.lock().await.spec.nat.clone())
    }

    /// See [`VmEngine::nat_add`].
    pub async fn nat_add(&self, uuid: &str, mut rule: NatRule) -> Result<NatRule> {
        if rule.lan_port == 0 {
            return Err(EngineError::Invalid("lan_port must not be 0".into()));
        }
        let vm = self.vm(uuid)?;
        let _op = vm.op.lock().await;
        let _host = self.inner.host_lock.lock().await;
        let spec = vm.st.lock().await.spec.clone();
        let (idx, lan) = nic_for_rule(&spec.nics, &rule)?;
        rule.lan_addr = Some(lan);
        let used = self.used_ports(rule.protocol, None);
        rule.wan_port = self.pick_port(rule.wan_port, &used, rule.protocol)?;
        if self.pid_of(&vm).is_some() {
            let q = self.client(&vm).await?;
            q.hmp(&hostfwd_add_cmd(idx, self.inner.cfg.nat_bind, &rule, lan)).await.map_err(|e| nat_error(&rule, e))?;
        }
        let mut st = vm.st.lock().await;
        st.spec.nat.push(rule.clone());
        if let Err(e) = write_json(&vm.paths.spec, &st.spec) {
            st.spec.nat.pop();
            return Err(e);
        }
        drop(st);
        self.emit(uuid, VmEventKind::NatAdded { rule: rule.clone() });
        Ok(rule)
    }

    /// See [`VmEngine::nat_remove`].
    pub async fn nat_remove(&self, uuid: &str, protocol: Protocol, wan_port: u16) -> Result<NatRule> {
        let vm = self.vm(uuid)?;
        let _op = vm.op.lock().await;
        let _host = self.inner.host_lock.lock().await;
        let spec = vm.st.lock().await.spec.clone();
        let pos = spec
            .nat
            .iter()
            .position(|r| r.protocol == protocol && r.wan_port == wan_port)
            .ok_or_else(|| EngineError::NotFound(format!("NAT rule {protocol}/{wan_port} of VM {uuid}")))?;
        let rule = spec.nat[pos].clone();
        if self.pid_of(&vm).is_some() {
            let q = self.client(&vm).await?;
            let idx = nic_for_rule(&spec.nics, &rule).map(|(i, _)| i).unwrap_or(0);
            let cmd = format!("hostfwd_remove net{idx} {}:{}:{}", protocol.as_str(), self.inner.cfg.nat_bind, wan_port);
            match q.hmp(&cmd).await {
                Ok(_) => {}
                Err(QmpError::Hmp { message, .. }) if message.contains("not found") => {
                    tracing::warn!(vm = %uuid, port = wan_port, "forward was already gone in qemu");
                }
                Err(e) => return Err(e.into()),
            }
        }
        let mut st = vm.st.lock().await;
        st.spec.nat.retain(|r| !(r.protocol == protocol && r.wan_port == wan_port));
        write_json(&vm.paths.spec, &st.spec)?;
        drop(st);
        self.emit(uuid, VmEventKind::NatRemoved { rule: rule.clone() });
        Ok(rule)
    }

    // ---- console ----------------------------------------------------------------------------

    /// See [`VmEngine::console_open`]: a connection to the VM's VNC unix socket (starts with the
    /// RFB greeting `RFB 003.008\n`; the client authenticates with the password set by
    /// [`QemuEngine::console_password`]).
    pub async fn console_open(&self, uuid: &str) -> Result<ConsoleStream> {
        let vm = self.vm(uuid)?;
        if self.pid_of(&vm).is_none() {
            return Err(EngineError::Conflict(format!("VM {uuid} is not running")));
        }
        let s = tokio::net::UnixStream::connect(&vm.paths.vnc)
            .await
            .map_err(|e| EngineError::io(format!("connecting to {}", vm.paths.vnc.display()), e))?;
        Ok(Box::pin(s))
    }

    /// See [`VmEngine::console_password`]: QMP `set_password` + `expire_password`.
    pub async fn console_password(&self, uuid: &str, password: &str, valid_for: Option<Duration>) -> Result<()> {
        if password.is_empty() || password.len() > 8 {
            return Err(EngineError::Invalid("a VNC password has 1 to 8 bytes".into()));
        }
        let q = self.qmp(uuid).await?;
        q.execute("set_password", Some(json!({ "protocol": "vnc", "password": password }))).await?;
        let time = match valid_for {
            Some(d) => format!("+{}", d.as_secs().max(1)),
            None => "never".into(),
        };
        q.execute("expire_password", Some(json!({ "protocol": "vnc", "time": time }))).await?;
        Ok(())
    }
}

fn map_event(ev: &QmpEvent) -> VmEventKind {
    let flag = |k: &str| ev.data.get(k).and_then(|v| v.as_bool()).unwrap_or(false);
    match ev.event.as_str() {
        "STOP" => VmEventKind::Paused,
        "RESUME" => VmEventKind::Resumed,
        "POWERDOWN" => VmEventKind::Powerdown,
        "SHUTDOWN" => VmEventKind::Shutdown {
            guest: flag("guest"),
            reason: ev.data.get("reason").and_then(|v| v.as_str()).unwrap_or("").to_string(),
        },
        "RESET" => VmEventKind::Reset { guest: flag("guest") },
        other => VmEventKind::Other { event: other.to_string() },
    }
}

/// The spec fields that differ between what runs and what is stored (take effect next boot).
fn pending_fields(running: &VmSpec, stored: &VmSpec) -> Vec<String> {
    let mut out = Vec::new();
    for (field, differs) in [
        ("cpu_num", running.cpu_num != stored.cpu_num),
        ("mem_num", running.mem_num != stored.mem_num),
        ("hdd_num", running.hdd_num != stored.hdd_num),
        ("boot", running.boot != stored.boot),
        ("nics", running.nics != stored.nics),
    ] {
        if differs {
            out.push(field.to_string());
        }
    }
    out
}

/// The NIC a rule forwards to (index among the spec's NICs) and the guest address.
fn nic_for_rule(nics: &[crate::engine::NicSpec], rule: &NatRule) -> Result<(usize, Ipv4Addr)> {
    let nat: Vec<(usize, &crate::engine::NicSpec)> =
        nics.iter().enumerate().filter(|(_, n)| n.nic_type == NicType::Nat).collect();
    let Some(&(first, first_nic)) = nat.first() else {
        return Err(EngineError::Invalid("the VM has no NAT NIC to forward to".into()));
    };
    let Some(want) = rule.lan_addr else { return Ok((first, first_nic.addressing().0)) };
    if let Some((i, _)) = nat.iter().find(|(_, n)| n.addressing().0 == want) {
        return Ok((*i, want));
    }
    for (i, n) in &nat {
        let (_, net, _) = n.addressing();
        let mask = u32::MAX << (32 - u32::from(n.prefix_len.clamp(1, 30)));
        if u32::from(want) & mask == u32::from(net) {
            return Ok((*i, want));
        }
    }
    Err(EngineError::Invalid(format!("lan_addr {want} is on none of the VM's NAT networks")))
}

fn hostfwd_spec(bind: Ipv4Addr, rule: &NatRule, lan: Ipv4Addr) -> String {
    format!("{}:{}:{}-{}:{}", rule.protocol.as_str(), bind, rule.wan_port, lan, rule.lan_port)
}

fn hostfwd_add_cmd(nic_idx: usize, bind: Ipv4Addr, rule: &NatRule, lan: Ipv4Addr) -> String {
    format!("hostfwd_add net{nic_idx} {}", hostfwd_spec(bind, rule, lan))
}

fn nat_error(rule: &NatRule, e: QmpError) -> EngineError {
    match e {
        QmpError::Hmp { message, .. } if message.contains("Could not set up host forwarding") => {
            EngineError::PortInUse { port: rule.wan_port, detail: format!("qemu: {message}") }
        }
        other => other.into(),
    }
}

fn start_error(spec: &VmSpec, stderr: String) -> EngineError {
    if stderr.contains("host forwarding rule") {
        let port =
            spec.nat.iter().find(|r| stderr.contains(&format!(":{}-", r.wan_port))).map(|r| r.wan_port).unwrap_or(0);
        return EngineError::PortInUse { port, detail: stderr };
    }
    EngineError::Qemu(if stderr.is_empty() { "qemu failed to start (no message)".into() } else { stderr })
}

/// Parses HMP `info usernet` into the host forwards it lists: `(protocol, host port)`.
pub fn parse_usernet(text: &str) -> Vec<(Protocol, u16)> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let kind = it.next()?;
            let proto = match kind {
                "TCP[HOST_FORWARD]" => Protocol::Tcp,
                "UDP[HOST_FORWARD]" => Protocol::Udp,
                _ => return None,
            };
            let _fd = it.next()?;
            let _src = it.next()?;
            Some((proto, it.next()?.parse().ok()?))
        })
        .collect()
}

/// Escapes a value for a QEMU `-opt key=value,…` string (commas are doubled).
fn qesc(s: &str) -> String {
    s.replace(',', ",,")
}

/// A stable MAC for NIC `index` of VM `uuid`: `52:54:00:xx:xx:xx` (FNV-1a of the two).
pub fn derived_mac(uuid: &str, index: usize) -> String {
    let mut h: u32 = 0x811c_9dc5;
    for b in uuid.bytes().chain(index.to_le_bytes()) {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    let b = h.to_be_bytes();
    format!("52:54:00:{:02x}:{:02x}:{:02x}", b[1], b[2], b[3])
}

/// The full QEMU command line (without the binary) for a VM — golden-testable.
pub fn qemu_args(cfg: &QemuConfig, paths: &VmPaths, spec: &VmSpec, accel: Accel) -> Result<Vec<String>> {
    let p = |p: &Path| qesc(&p.to_string_lossy());
    let mut a: Vec<String> = Vec::new();
    let mut push = |items: &[&str]| a.extend(items.iter().map(|s| s.to_string()));
    push(&["-nodefaults", "-no-user-config"]);
    push(&["-name", &format!("guest={},process=gantry-{}", qesc(&spec.name), spec.uuid)]);
    if let Ok(u) = uuid::Uuid::parse_str(&spec.uuid) {
        push(&["-uuid", &u.to_string()]);
    }
    push(&["-machine", &cfg.machine, "-accel", accel.as_str()]);
    if accel == Accel::Kvm {
        push(&["-cpu", "host"]);
    }
    push(&["-smp", &spec.cpu_num.to_string(), "-m", &spec.mem_num.to_string()]);
    push(&["-display", "none", "-vga", "std"]);
    push(&["-vnc", &format!("unix:{},password=on", p(&paths.vnc))]);
    push(&["-qmp", &format!("unix:{},server=on,wait=off", p(&paths.qmp))]);
    push(&["-serial", &format!("file:{}", p(&paths.serial))]);
    if paths.disk.exists() || spec.hdd_num > 0 || spec.os_image.is_some() {
        push(&[
            "-drive",
            &format!("file={},if=none,id=drive0,format=qcow2,cache=writeback,discard=unmap", p(&paths.disk)),
        ]);
        // With direct kernel boot the disk must not come first in SeaBIOS's boot order.
        let bootindex = if spec.boot.is_some() { "" } else { ",bootindex=1" };
        push(&["-device", &format!("virtio-blk-pci,drive=drive0,id=disk0{bootindex}")]);
    }
    for (i, nic) in spec.nics.iter().enumerate() {
        if nic.nic_type != NicType::Nat {
            return Err(EngineError::Unsupported(format!("NIC {}: only NAT NICs are supported", nic.name)));
        }
        let (ip, net, gw) = nic.addressing();
        let mut netdev = format!("user,id=net{i},net={net}/{},host={gw},dhcpstart={ip}", nic.prefix_len);
        for rule in &spec.nat {
            let (idx, lan) = nic_for_rule(&spec.nics, rule)?;
            if idx == i {
                netdev.push_str(&format!(",hostfwd={}", hostfwd_spec(cfg.nat_bind, rule, lan)));
            }
        }
        let mac = match &nic.mac_addr {
            Some(m) => {
                let b = parse_mac(m)?;
                format!("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", b[0], b[1], b[2], b[3], b[4], b[5])
            }
            None => derived_mac(&spec.uuid, i),
        };
        push(&["-netdev", &netdev]);
        push(&["-device", &format!("virtio-net-pci,netdev=net{i},mac={mac},id=nic{i}")]);
    }
    if let Some(boot) = &spec.boot {
        push(&["-kernel", &boot.kernel.to_string_lossy()]);
        if let Some(initrd) = &boot.initrd {
            push(&["-initrd", &initrd.to_string_lossy()]);
        }
        if !boot.cmdline.is_empty() {
            push(&["-append", &boot.cmdline]);
        }
    } else {
        push(&["-boot", "order=c"]);
    }
    push(&["-pidfile", &paths.pid.to_string_lossy(), "-daemonize"]);
    Ok(a)
}

fn check_boot_files(spec: &VmSpec) -> Result<()> {
    let mut files: Vec<&Path> = Vec::new();
    if let Some(b) = &spec.boot {
        files.push(&b.kernel);
        if let Some(i) = &b.initrd {
            files.push(i);
        }
    }
    if let Some(img) = &spec.os_image {
        files.push(img);
    }
    for f in files {
        if !f.is_file() {
            return Err(EngineError::Invalid(format!("{} does not exist", f.display())));
        }
    }
    Ok(())
}

async fn run_tool(mut cmd: tokio::process::Command, what: &str) -> Result<String> {
    let out = cmd
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| EngineError::io(format!("running {what}"), e))?;
    if !out.status.success() {
        return Err(EngineError::Qemu(format!("{what}: {}", String::from_utf8_lossy(&out.stderr).trim())));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn read_spec(path: &Path) -> Result<Option<VmSpec>> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| EngineError::Qemu(format!("corrupt VM record {}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(EngineError::io(format!("reading {}", path.display()), e)),
    }
}

fn read_running(path: &Path) -> Option<RunningRecord> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

/// Writes JSON atomically (temp file + rename).
fn write_json(path: &Path, value: &impl Serialize) -> Result<()> {
    let tmp = path.with_extension("json.tmp");
    let bytes = serde_json::to_vec_pretty(value).map_err(|e| EngineError::Invalid(e.to_string()))?;
    std::fs::write(&tmp, bytes).map_err(|e| EngineError::io(format!("writing {}", tmp.display()), e))?;
    std::fs::rename(&tmp, path).map_err(|e| EngineError::io(format!("renaming to {}", path.display()), e))
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

impl VmEngine for QemuEngine {
    fn info(&self) -> EngineInfo {
        QemuEngine::info(self)
    }
    fn host_facts(&self) -> BoxFuture<'_, Result<HostFacts>> {
        Box::pin(QemuEngine::host_facts(self))
    }
    fn create(&self, spec: VmSpec) -> BoxFuture<'_, Result<VmStatus>> {
        Box::pin(QemuEngine::create(self, spec))
    }
    fn get<'a>(&'a self, uuid: &'a str) -> BoxFuture<'a, Result<VmSpec>> {
        Box::pin(QemuEngine::get(self, uuid))
    }
    fn list(&self) -> BoxFuture<'_, Result<Vec<VmSpec>>> {
        Box::pin(QemuEngine::list(self))
    }
    fn update(&self, spec: VmSpec) -> BoxFuture<'_, Result<UpdateOutcome>> {
        Box::pin(QemuEngine::update(self, spec))
    }
    fn delete<'a>(&'a self, uuid: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(QemuEngine::delete(self, uuid))
    }
    fn power<'a>(&'a self, uuid: &'a str, action: PowerAction) -> BoxFuture<'a, Result<PowerOutcome>> {
        Box::pin(QemuEngine::power(self, uuid, action))
    }
    fn status<'a>(&'a self, uuid: &'a str) -> BoxFuture<'a, Result<VmStatus>> {
        Box::pin(QemuEngine::status(self, uuid))
    }
    fn attach<'a>(&'a self, uuid: &'a str) -> BoxFuture<'a, Result<VmStatus>> {
        Box::pin(QemuEngine::attach(self, uuid))
    }
    fn scan<'a>(&'a self, known: &'a [String]) -> BoxFuture<'a, Result<Vec<ScannedVm>>> {
        Box::pin(QemuEngine::scan(self, known))
    }
    fn nat_list<'a>(&'a self, uuid: &'a str) -> BoxFuture<'a, Result<Vec<NatRule>>> {
        Box::pin(QemuEngine::nat_list(self, uuid))
    }
    fn nat_add<'a>(&'a self, uuid: &'a str, rule: NatRule) -> BoxFuture<'a, Result<NatRule>> {
        Box::pin(QemuEngine::nat_add(self, uuid, rule))
    }
    fn nat_remove<'a>(&'a self, uuid: &'a str, protocol: Protocol, wan_port: u16) -> BoxFuture<'a, Result<NatRule>> {
        Box::pin(QemuEngine::nat_remove(self, uuid, protocol, wan_port))
    }
    fn console_open<'a>(&'a self, uuid: &'a str) -> BoxFuture<'a, Result<ConsoleStream>> {
        Box::pin(QemuEngine::console_open(self, uuid))
    }
    fn console_password<'a>(
        &'a self,
        uuid: &'a str,
        password: &'a str,
        valid_for: Option<Duration>,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(QemuEngine::console_password(self, uuid, password, valid_for))
    }
    fn subscribe(&self) -> broadcast::Receiver<VmEvent> {
        QemuEngine::subscribe(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{KernelBoot, NicSpec};

    #[test]
    fn command_line_is_stable() {
        let mut cfg = QemuConfig::new("/srv/vms");
        cfg.nat_bind = Ipv4Addr::LOCALHOST;
        let mut spec = VmSpec::new("web-1", "web, one", 2, 512);
        spec.boot =
            Some(KernelBoot { kernel: "/k".into(), initrd: Some("/i".into()), cmdline: "console=ttyS0".into() });
        spec.nat.push(NatRule::tcp(8080, 80));
        spec.nics[0].mac_addr = Some("52:54:00:AA:BB:CC".into());
        let paths = VmPaths::new(&cfg.storage, &spec.uuid);
        let args = qemu_args(&cfg, &paths, &spec, Accel::Tcg).unwrap().join(" ");
        assert_eq!(
            args,
            "-nodefaults -no-user-config -name guest=web,, one,process=gantry-web-1 -machine pc -accel tcg \
             -smp 2 -m 512 -display none -vga std -vnc unix:/srv/vms/web-1/vnc.sock,password=on \
             -qmp unix:/srv/vms/web-1/qmp.sock,server=on,wait=off -serial file:/srv/vms/web-1/serial.log \
             -netdev user,id=net0,net=10.0.2.0/24,host=10.0.2.2,dhcpstart=10.0.2.15,hostfwd=tcp:127.0.0.1:8080-10.0.2.15:80 \
             -device virtio-net-pci,netdev=net0,mac=52:54:00:aa:bb:cc,id=nic0 -kernel /k -initrd /i -append console=ttyS0 \
             -pidfile /srv/vms/web-1/pid -daemonize"
        );
        let kvm = qemu_args(&cfg, &paths, &spec, Accel::Kvm).unwrap();
        assert!(kvm.windows(2).any(|w| w == ["-cpu", "host"]));
    }

    #[test]
    fn rules_find_their_nic() {
        let mut second = NicSpec::nat("b");
        second.ip4_addr = Some(Ipv4Addr::new(192, 168, 50, 10));
        let nics = vec![NicSpec::nat("a"), second];
        let mut r = NatRule::tcp(1, 22);
        assert_eq!(nic_for_rule(&nics, &r).unwrap(), (0, Ipv4Addr::new(10, 0, 2, 15)));
        r.lan_addr = Some(Ipv4Addr::new(192, 168, 50, 10));
        assert_eq!(nic_for_rule(&nics, &r).unwrap().0, 1);
        r.lan_addr = Some(Ipv4Addr::new(192, 168, 50, 99));
        assert_eq!(nic_for_rule(&nics, &r).unwrap().0, 1);
        r.lan_addr = Some(Ipv4Addr::new(172, 16, 0, 1));
        assert!(nic_for_rule(&nics, &r).is_err());
        assert!(nic_for_rule(&[], &NatRule::tcp(1, 2)).is_err());
    }

    #[test]
    fn parses_usernet() {
        let text = "Hub -1 (net0):\r\n  Protocol[State]    FD  Source Address  Port   Dest. Address  Port RecvQ SendQ\r\n  TCP[HOST_FORWARD]  11       127.0.0.1 18081       10.0.2.15    80     0     0\r\n  UDP[HOST_FORWARD]  15       127.0.0.1 18082       10.0.2.15    53     0     0\r\n  TCP[ESTABLISHED]   20       10.0.2.15 40000  1.2.3.4 80 0 0\r\n";
        assert_eq!(parse_usernet(text), vec![(Protocol::Tcp, 18081), (Protocol::Udp, 18082)]);
    }

    #[test]
    fn derived_macs_are_stable_and_local() {
        let a = derived_mac("vm", 0);
        assert_eq!(a, derived_mac("vm", 0));
        assert_ne!(a, derived_mac("vm", 1));
        assert!(a.starts_with("52:54:00:"));
        parse_mac(&a).unwrap();
    }

    #[test]
    fn pending_lists_changed_fields() {
        let a = VmSpec::new("x", "x", 1, 128);
        let mut b = a.clone();
        b.cpu_num = 2;
        b.name = "y".into();
        assert_eq!(pending_fields(&a, &b), vec!["cpu_num".to_string()]);
    }
}
