//! Helpers of the openidcs (compute) tests: the test guest, hosts and VMs over HTTP, port
//! ranges that parallel tests do not share, and a reaper that kills any QEMU a failing test
//! leaves behind.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use gantry_core::config::Config;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{TestApp, eventually};

/// The guest built by `scripts/guest-image` (`GANTRY_GUEST_DIR`, default `target/guest`).
pub fn guest_dir() -> PathBuf {
    let dir = std::env::var_os("GANTRY_GUEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/guest"));
    for f in ["vmlinuz", "initramfs.cpio.gz"] {
        assert!(dir.join(f).is_file(), "{f} missing in {}: run `scripts/guest-image target/guest`", dir.display());
    }
    dir
}

/// A NAT port range of 40 ports that no other test of this run uses (by a random block, and
/// each port checked free now).
pub fn port_range() -> (u16, u16) {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    loop {
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().subsec_nanos();
        let seed =
            nanos ^ std::process::id().rotate_left(16) ^ NEXT.fetch_add(7919, std::sync::atomic::Ordering::Relaxed);
        // 10000–23999: below the kernel's ephemeral ports and the engine tests' 24000–24999.
        let block = (seed % 350) as u16;
        let start = 10000 + block * 40;
        let free = (start..start + 40).all(|p| std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, p)).is_ok());
        if free {
            return (start, start + 39);
        }
    }
}

/// Compute settings for tests: TCG (the engine tests cover the KVM probe), forwards on
/// loopback, VMs under `storage`.
pub fn compute_config(config: &mut Config, storage: &Path) {
    config.compute.accel = "tcg".into();
    config.compute.nat_bind = "127.0.0.1".into();
    config.compute.storage_root = Some(storage.to_path_buf());
    config.compute.shutdown_timeout_secs = 30;
}

/// Kills every QEMU left under a storage root (`<root>/<host>/<vm>/pid`) when dropped.
pub struct Reaper(pub PathBuf);

impl Drop for Reaper {
    fn drop(&mut self) {
        for host in std::fs::read_dir(&self.0).into_iter().flatten().flatten() {
            for vm in std::fs::read_dir(host.path()).into_iter().flatten().flatten() {
                let dir = vm.path();
                if let Some(pid) = gantry_vm_engine::procfs::read_pid_file(&dir.join("pid"))
                    && gantry_vm_engine::procfs::alive_with(pid, &dir.to_string_lossy())
                {
                    gantry_vm_engine::procfs::signal(pid, 9);
                }
            }
        }
    }
}

/// A host body with the guest as its images and the given port range.
pub fn host_body(name: &str, ports: (u16, u16)) -> Value {
    json!({
        "hs_name": name,
        "images_path": guest_dir(),
        "ports_start": ports.0,
        "ports_close": ports.1,
    })
}

/// A VM body that boots the test guest by its kernel.
pub fn guest_vm(name: &str) -> Value {
    json!({
        "vm_name": name,
        "cpu_num": 1,
        "mem_num": 256,
        "hdd_num": 64,
        "kernel": "vmlinuz",
        "initrd": "initramfs.cpio.gz",
    })
}

impl TestApp {
    /// Sends an openidcs call that must succeed; returns `data`.
    pub async fn ok(&self, method: &str, path: &str, token: &str, body: Option<Value>) -> Value {
        let (status, answer) = self.call(method, path, Some(token), body).await;
        assert_eq!(status, 200, "{method} {path}: {answer}");
        assert_eq!(answer["code"], 200, "{answer}");
        answer["data"].clone()
    }

    /// Sends an openidcs call that must fail with `status` (HTTP and envelope `code`); returns `msg`.
    pub async fn fails(
        &self,
        status: u16,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> String {
        let (got, answer) = self.call(method, path, token, body).await;
        assert_eq!(got, status, "{method} {path}: {answer}");
        assert_eq!(answer["code"], status, "{answer}");
        answer["msg"].as_str().unwrap_or_default().to_owned()
    }
}

/// Waits until the guest's page answers through a host port; returns the page.
pub async fn guest_page(port: u16, host_header: &str) -> String {
    eventually(60, &format!("the guest page on port {port}"), || async {
        http_get(port, host_header).await.ok().filter(|body| body.contains("gantry-guest"))
    })
    .await
}

/// A plain HTTP/1.0 GET of `/` on 127.0.0.1:port with a Host header; returns the whole answer.
pub async fn http_get(port: u16, host_header: &str) -> std::io::Result<String> {
    let mut s = tokio::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port)).await?;
    s.write_all(format!("GET / HTTP/1.0\r\nHost: {host_header}\r\n\r\n").as_bytes()).await?;
    let mut body = String::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_string(&mut body))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "read timed out"))??;
    Ok(body)
}

/// Events published from now on, as JSON (`{"at_ms", "event", …}`).
pub struct Events(tokio::sync::broadcast::Receiver<gantry_core::events::Envelope>);

impl Events {
    /// Whether any event published since the last look matches (all of them are read).
    pub fn saw(&mut self, wanted: impl Fn(&Value) -> bool) -> bool {
        let mut seen = false;
        while let Ok(event) = self.0.try_recv() {
            seen |= wanted(&serde_json::to_value(event).unwrap_or_default());
        }
        seen
    }
}

impl TestApp {
    /// Subscribes to the server's event bus.
    pub fn events(&self) -> Events {
        Events(self.running.as_ref().expect("running").state().events.subscribe())
    }
}
