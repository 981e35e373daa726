//! Real-VM tests of the QEMU engine. They boot the tiny guest built by `scripts/guest-image`
//! (found via `GANTRY_GUEST_DIR`, default `<repo>/target/guest`). A missing guest or QEMU is a
//! failure, never a skip. At most two VMs run at once (one per VM test).

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use gantry_vm_engine::engine::VmEventKind;
use gantry_vm_engine::ports::{self, PortRange, Protocol};
use gantry_vm_engine::{
    EngineError, KernelBoot, NatRule, NicSpec, NicType, PowerAction, ProbeGuest, QemuConfig, QemuEngine, QmpClient,
    QmpError, VmEngine, VmPower, VmSpec,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const NAT_RANGE: (u16, u16) = (24000, 24999);

fn guest_dir() -> PathBuf {
    let dir = std::env::var_os("GANTRY_GUEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/guest"));
    let missing: Vec<&str> = ["vmlinuz", "initramfs.cpio.gz"].into_iter().filter(|f| !dir.join(f).is_file()).collect();
    assert!(
        missing.is_empty(),
        "test guest missing in {} ({missing:?}): run `scripts/guest-image target/guest` (or set GANTRY_GUEST_DIR)",
        dir.display()
    );
    for tool in ["qemu-system-x86_64", "qemu-img"] {
        assert!(
            gantry_vm_engine::host::which(Path::new(tool)).is_some(),
            "{tool} not found: run `scripts/guest-image target/guest` (it installs qemu-system-x86 and qemu-utils)"
        );
    }
    dir
}

fn engine(storage: &Path) -> QemuEngine {
    let mut cfg = QemuConfig::new(storage);
    cfg.probe_guest = ProbeGuest::gantry_guest(&guest_dir());
    cfg.nat_bind = Ipv4Addr::LOCALHOST;
    cfg.nat_range = Some(PortRange::new(NAT_RANGE.0, NAT_RANGE.1).unwrap());
    cfg.shutdown_timeout = Duration::from_secs(30);
    QemuEngine::new(cfg).unwrap()
}

fn guest_spec(uuid: &str) -> VmSpec {
    let dir = guest_dir();
    let mut spec = VmSpec::new(uuid, format!("test {uuid}"), 1, 256);
    spec.hdd_num = 64;
    spec.boot = Some(KernelBoot {
        kernel: dir.join("vmlinuz"),
        initrd: Some(dir.join("initramfs.cpio.gz")),
        cmdline: format!(
            "console=ttyS0 quiet panic=-1 gantry.hostname={uuid} gantry.ip=10.0.2.15/24 gantry.gw=10.0.2.2"
        ),
    });
    spec
}

/// Waits until the guest printed its ready line `n` times on ttyS0.
async fn wait_ready(serial: &Path, n: usize, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        let log = std::fs::read_to_string(serial).unwrap_or_default();
        if log.matches("GANTRY-GUEST-READY").count() >= n {
            return;
        }
        assert!(Instant::now() < deadline, "guest not ready within {timeout:?}; serial log:\n{log}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn http_get(port: u16) -> std::io::Result<String> {
    let mut s = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).await?;
    s.write_all(b"GET / HTTP/1.0\r\nHost: guest\r\n\r\n").await?;
    let mut body = String::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_string(&mut body))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "read timed out"))??;
    Ok(body)
}

/// GETs the guest page through a forward, retrying until it answers (bounded).
async fn http_get_ready(port: u16, timeout: Duration) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        match http_get(port).await {
            Ok(body) if body.contains("gantry-guest") => return body,
            other => {
                assert!(Instant::now() < deadline, "no answer from the guest on port {port}: {other:?}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Kills every QEMU left under a storage directory when dropped (a failing test must not leave
/// daemonized VMs behind); declared after the temp dir so it runs first.
struct Reaper(PathBuf);

impl Drop for Reaper {
    fn drop(&mut self) {
        let Ok(rd) = std::fs::read_dir(&self.0) else { return };
        for entry in rd.flatten() {
            let dir = entry.path();
            if let Some(pid) = gantry_vm_engine::procfs::read_pid_file(&dir.join("pid"))
                && gantry_vm_engine::procfs::alive_with(pid, &dir.to_string_lossy())
            {
                gantry_vm_engine::procfs::signal(pid, 9);
            }
        }
    }
}

fn free_port_in_range() -> u16 {
    let range = PortRange::new(NAT_RANGE.0, NAT_RANGE.1).unwrap();
    ports::allocate(range, &Default::default(), Ipv4Addr::LOCALHOST.into(), Protocol::Tcp).unwrap()
}

#[tokio::test]
async fn create_validates_and_reports() {
    let _ = guest_dir();
    let dir = tempfile::tempdir().unwrap();
    let _reaper = Reaper(dir.path().to_path_buf());
    let eng = engine(dir.path());
    let engine: &dyn VmEngine = &eng;
    assert_eq!(engine.info().key, "QEMUServer");
    assert!(engine.info().enabled, "{}", engine.info().message);

    let st = engine.create(guest_spec("plain")).await.unwrap();
    assert_eq!(st.power, VmPower::Stopped);
    assert!(eng.paths("plain").unwrap().disk.is_file());
    assert!(matches!(engine.create(guest_spec("plain")).await, Err(EngineError::Conflict(_))));
    assert!(matches!(engine.create(guest_spec("../evil")).await, Err(EngineError::Invalid(_))));
    let mut public = guest_spec("public");
    public.nics[0].nic_type = NicType::Pub;
    assert!(matches!(engine.create(public).await, Err(EngineError::Unsupported(_))));
    let mut nokernel = guest_spec("nokernel");
    nokernel.boot.as_mut().unwrap().kernel = "/nonexistent/vmlinuz".into();
    assert!(matches!(engine.create(nokernel).await, Err(EngineError::Invalid(_))));
    assert!(matches!(engine.status("nope").await, Err(EngineError::NotFound(_))));
    assert!(matches!(engine.power("plain", PowerAction::Pause).await, Err(EngineError::Conflict(_))));
    // Stop/shutdown of a stopped VM are no-ops.
    assert_eq!(engine.power("plain", PowerAction::Stop).await.unwrap().status.power, VmPower::Stopped);

    // NAT rules are stored while stopped; out-of-range ports are refused.
    let rule = engine.nat_add("plain", NatRule::tcp(0, 22)).await.unwrap();
    assert!((NAT_RANGE.0..=NAT_RANGE.1).contains(&rule.wan_port));
    assert!(matches!(engine.nat_add("plain", NatRule::tcp(80, 22)).await, Err(EngineError::Invalid(_))));
    assert!(engine.nat_add("plain", NatRule::tcp(rule.wan_port, 23)).await.unwrap_err().is_conflict());
    let mut udp = NatRule::tcp(rule.wan_port, 53);
    udp.protocol = Protocol::Udp;
    engine.nat_add("plain", udp).await.unwrap();
    assert_eq!(engine.nat_list("plain").await.unwrap().len(), 2);

    // Updates while stopped apply at once; a disk cannot shrink.
    let mut spec = engine.get("plain").await.unwrap();
    spec.cpu_num = 2;
    spec.hdd_num = 128;
    let out = engine.update(spec.clone()).await.unwrap();
    assert!(out.pending.is_empty() && out.applied.contains(&"hdd_num".to_string()), "{out:?}");
    spec.hdd_num = 32;
    assert!(matches!(engine.update(spec).await, Err(EngineError::Invalid(_))));

    let facts = engine.host_facts().await.unwrap();
    assert!(facts.qemu_version.is_some() && facts.cpu_total >= 1 && facts.mem_total_mib > 0);
    eprintln!("host facts: {facts:?}");

    assert_eq!(engine.scan(&[]).await.unwrap().len(), 1);
    engine.delete("plain").await.unwrap();
    assert!(!dir.path().join("plain").exists());
}

#[tokio::test]
async fn vm_lifecycle_end_to_end() {
    let _ = guest_dir();
    let dir = tempfile::tempdir().unwrap();
    let _reaper = Reaper(dir.path().to_path_buf());
    let eng = engine(dir.path());
    let mut events = eng.subscribe();
    let uuid = "life";
    eng.create(guest_spec(uuid)).await.unwrap();
    let paths = eng.paths(uuid).unwrap();

    // Start: QMP says running.
    let accel = eng.accel().await.unwrap();
    eprintln!("accelerator: {accel:?}");
    let t0 = Instant::now();
    let out = eng.power(uuid, PowerAction::Start).await.unwrap();
    let spawned = t0.elapsed();
    assert_eq!(out.status.power, VmPower::Started, "{out:?}");
    assert_eq!(out.status.qemu_status.as_deref(), Some("running"));
    let pid = out.status.pid.expect("pid");
    assert!(matches!(eng.power(uuid, PowerAction::Start).await, Err(EngineError::Conflict(_))));

    // NAT add (allocated port) → HTTP reaches busybox httpd in the guest.
    let rule = eng.nat_add(uuid, NatRule::tcp(0, 80)).await.unwrap();
    let port = rule.wan_port;
    let body = http_get_ready(port, Duration::from_secs(30)).await;
    let booted = t0.elapsed();
    wait_ready(&paths.serial, 1, Duration::from_secs(5)).await;
    assert!(body.contains("hostname: life") && body.contains("10.0.2.15"), "{body}");
    eprintln!("boot: qemu daemonized + QMP in {spawned:?}; guest httpd answering after {booted:?}");

    // Conflicts: the same host port again (engine check), a port taken on the host, and QEMU's
    // own refusal (an error string inside a successful HMP reply).
    let again = eng.nat_add(uuid, NatRule::tcp(port, 81)).await.unwrap_err();
    assert!(matches!(again, EngineError::PortInUse { port: p, .. } if p == port), "{again}");
    let taken = free_port_in_range();
    let _holder = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, taken)).unwrap();
    let busy = eng.nat_add(uuid, NatRule::tcp(taken, 80)).await.unwrap_err();
    assert!(busy.is_conflict(), "{busy}");
    let q = eng.qmp(uuid).await.unwrap();
    let raw = q.hmp(&format!("hostfwd_add net0 tcp:127.0.0.1:{port}-:80")).await.unwrap_err();
    assert!(matches!(raw, QmpError::Hmp { .. }), "{raw:?}");
    assert_eq!(eng.nat_list(uuid).await.unwrap(), vec![rule.clone()]);

    // NAT remove → connection refused.
    assert_eq!(eng.nat_remove(uuid, Protocol::Tcp, port).await.unwrap(), rule);
    let refused = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).await.unwrap_err();
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
    assert!(matches!(eng.nat_remove(uuid, Protocol::Tcp, port).await, Err(EngineError::NotFound(_))));

    // VNC: the console stream starts with the RFB greeting.
    eng.console_password(uuid, "gantry", Some(Duration::from_secs(30))).await.unwrap();
    let mut vnc = eng.console_open(uuid).await.unwrap();
    let mut greeting = [0u8; 12];
    tokio::time::timeout(Duration::from_secs(5), vnc.read_exact(&mut greeting)).await.unwrap().unwrap();
    assert_eq!(&greeting, b"RFB 003.008\n");
    drop(vnc);

    // Pause / resume.
    let paused = eng.power(uuid, PowerAction::Pause).await.unwrap();
    assert_eq!(paused.status.power, VmPower::Suspend);
    assert_eq!(paused.status.qemu_status.as_deref(), Some("paused"));
    assert!(matches!(eng.power(uuid, PowerAction::Shutdown { timeout: None }).await, Err(EngineError::Conflict(_))));
    assert_eq!(eng.power(uuid, PowerAction::Resume).await.unwrap().status.power, VmPower::Started);

    // Live update: the disk grows now, vCPUs on the next boot.
    let mut spec = eng.get(uuid).await.unwrap();
    spec.cpu_num = 2;
    spec.hdd_num = 128;
    let upd = eng.update(spec).await.unwrap();
    assert_eq!((upd.applied, upd.pending), (vec!["hdd_num".to_string()], vec!["cpu_num".to_string()]));
    let st = eng.status(uuid).await.unwrap();
    assert_eq!(st.pending, vec!["cpu_num".to_string()]);
    assert!(st.mem_usage_mib > 0 && st.uptime_s.is_some() && st.cpu_usage >= 0.0, "{st:?}");

    // ACPI shutdown completes without forcing.
    let t1 = Instant::now();
    let down = eng.power(uuid, PowerAction::Shutdown { timeout: Some(Duration::from_secs(30)) }).await.unwrap();
    eprintln!("ACPI shutdown took {:?}", t1.elapsed());
    assert!(!down.forced, "guest ignored the power button");
    assert_eq!(down.status.power, VmPower::Stopped);
    assert!(!gantry_vm_engine::procfs::alive(pid));

    // Events seen along the way.
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline && !seen.contains(&VmEventKind::Stopped) {
        match tokio::time::timeout(Duration::from_millis(200), events.recv()).await {
            Ok(Ok(ev)) => seen.push(ev.kind),
            _ => continue,
        }
    }
    for want in [VmEventKind::Created, VmEventKind::Started, VmEventKind::Paused, VmEventKind::Resumed] {
        assert!(seen.contains(&want), "missing {want:?} in {seen:?}");
    }
    assert!(seen.contains(&VmEventKind::Powerdown), "{seen:?}");
    assert!(seen.iter().any(|e| matches!(e, VmEventKind::Shutdown { guest: true, .. })), "{seen:?}");
    assert!(seen.contains(&VmEventKind::Stopped), "{seen:?}");

    // Delete leaves no process and no file.
    eng.delete(uuid).await.unwrap();
    assert!(!paths.dir.exists());
    assert!(!gantry_vm_engine::procfs::alive(pid));
    assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none());
}

#[tokio::test]
async fn vm_survives_manager_restart() {
    let _ = guest_dir();
    let dir = tempfile::tempdir().unwrap();
    let _reaper = Reaper(dir.path().to_path_buf());
    let uuid = "keep";
    let mut spec = guest_spec(uuid);
    spec.nics = vec![NicSpec::nat("eth0")];
    spec.nat.push(NatRule::tcp(0, 80)); // on the -netdev line from the first boot
    let (pid, port) = {
        let eng = engine(dir.path());
        let created = eng.create(spec).await.unwrap();
        assert_eq!(created.power, VmPower::Stopped);
        let port = eng.nat_list(uuid).await.unwrap()[0].wan_port;
        let st = eng.power(uuid, PowerAction::Start).await.unwrap().status;
        http_get_ready(port, Duration::from_secs(30)).await;
        (st.pid.unwrap(), port)
        // The engine (and its QMP connection) is dropped here: the "manager" goes away.
    };

    // A new manager finds the VM still running and re-attaches through its QMP socket.
    let eng = engine(dir.path());
    let found = eng.scan(&[]).await.unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].running && found[0].uuid == uuid && found[0].spec.is_some());
    assert!(eng.scan(&[uuid.to_string()]).await.unwrap().is_empty());
    let st = eng.attach(uuid).await.unwrap();
    assert_eq!((st.power, st.pid), (VmPower::Started, Some(pid)), "{st:?}");
    assert!(st.accel.is_some());
    assert!(http_get(port).await.unwrap().contains("gantry-guest"));

    // One QMP client at a time: a second one gets no greeting while the engine holds it.
    let paths = eng.paths(uuid).unwrap();
    let busy = QmpClient::connect(&paths.qmp, Duration::from_millis(300)).await.unwrap_err();
    assert!(matches!(busy, QmpError::Busy(_)), "{busy:?}");

    // Hard reset: the guest boots again.
    eng.power(uuid, PowerAction::Reset).await.unwrap();
    wait_ready(&paths.serial, 2, Duration::from_secs(30)).await;
    assert_eq!(eng.status(uuid).await.unwrap().power, VmPower::Started);

    // Hard stop, then delete.
    let stopped = eng.power(uuid, PowerAction::Stop).await.unwrap();
    assert_eq!(stopped.status.power, VmPower::Stopped);
    assert!(!gantry_vm_engine::procfs::alive(pid));
    eng.delete(uuid).await.unwrap();
    assert!(!paths.dir.exists());
}
