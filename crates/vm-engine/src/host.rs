//! Facts about the host an engine runs on: QEMU version, CPUs, memory, disk of the storage path.
//! Shaped after OpenIDCS's `HWStatus` (MiB and percent) so a dialect can map it field by field.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::accel::AccelReport;
use crate::error::{EngineError, Result};
use crate::procfs;

/// What an engine reports about its host.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct HostFacts {
    pub hostname: String,
    /// The QEMU binary in use and its version (`7.2.22`), if it runs.
    pub qemu_binary: PathBuf,
    pub qemu_version: Option<String>,
    /// Logical CPUs and the CPU model name.
    pub cpu_total: u32,
    pub cpu_model: String,
    /// Host CPU busy percent over a short sample (0–100).
    pub cpu_usage: f32,
    pub mem_total_mib: u64,
    /// Available memory (`MemAvailable`).
    pub mem_free_mib: u64,
    /// The storage path holding the VM directories, and its file system's size and free space.
    pub storage_path: PathBuf,
    pub hdd_total_mib: u64,
    pub hdd_free_mib: u64,
    /// `/dev/kvm` exists (which says nothing about whether KVM works: see [`crate::accel`]).
    pub kvm_device: bool,
    /// The accelerator VMs get, once decided.
    pub accel: Option<AccelReport>,
}

/// Runs `<qemu> --version` and returns the version number (`7.2.22`).
pub async fn qemu_version(qemu: &Path) -> Result<String> {
    let out = tokio::process::Command::new(qemu)
        .arg("--version")
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| EngineError::io(format!("running {} --version", qemu.display()), e))?;
    let text = String::from_utf8_lossy(&out.stdout);
    parse_qemu_version(&text)
        .ok_or_else(|| EngineError::Qemu(format!("cannot parse the version of {}: {text:?}", qemu.display())))
}

/// Parses `QEMU emulator version 7.2.22 (Debian …)` → `7.2.22`.
pub fn parse_qemu_version(text: &str) -> Option<String> {
    let rest = text.split("version ").nth(1)?;
    let v: String = rest.chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect();
    (!v.is_empty()).then_some(v)
}

/// Collects the host facts (samples host CPU for ~100 ms).
pub async fn collect(qemu: &Path, storage: &Path) -> HostFacts {
    let qemu_version = qemu_version(qemu).await.ok();
    let cpu_total = std::thread::available_parallelism().map(|n| n.get() as u32).unwrap_or(1);
    let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_default();
    let before = procfs::cpu_counters();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let after = procfs::cpu_counters();
    let cpu_usage = match (before, after) {
        (Some((b0, t0)), Some((b1, t1))) if t1 > t0 => (b1.saturating_sub(b0)) as f32 * 100.0 / (t1 - t0) as f32,
        _ => 0.0,
    };
    let (mem_total, mem_free) = procfs::meminfo().unwrap_or((0, 0));
    let (hdd_total, hdd_free) = procfs::disk_space(storage).unwrap_or((0, 0));
    let hostname =
        std::fs::read_to_string("/proc/sys/kernel/hostname").map(|s| s.trim().to_string()).unwrap_or_default();
    HostFacts {
        hostname,
        qemu_binary: qemu.to_path_buf(),
        qemu_version,
        cpu_total,
        cpu_model,
        cpu_usage,
        mem_total_mib: mem_total / 1024,
        mem_free_mib: mem_free / 1024,
        storage_path: storage.to_path_buf(),
        hdd_total_mib: hdd_total / (1024 * 1024),
        hdd_free_mib: hdd_free / (1024 * 1024),
        kvm_device: Path::new("/dev/kvm").exists(),
        accel: None,
    }
}

/// Looks a program up in `PATH` (or returns it if it is a path that exists).
pub fn which(program: &Path) -> Option<PathBuf> {
    if program.components().count() > 1 {
        return program.exists().then(|| program.to_path_buf());
    }
    std::env::split_paths(&std::env::var_os("PATH")?).map(|d| d.join(program)).find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_versions() {
        assert_eq!(
            parse_qemu_version("QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)\nCopyright").as_deref(),
            Some("7.2.22")
        );
        assert_eq!(parse_qemu_version("qemu-img version 10.0.2").as_deref(), Some("10.0.2"));
        assert_eq!(parse_qemu_version("nonsense"), None);
    }

    #[tokio::test]
    async fn collects_facts() {
        let dir = tempfile::tempdir().unwrap();
        let f = collect(Path::new("/nonexistent/qemu"), dir.path()).await;
        assert!(f.cpu_total >= 1);
        assert!(f.mem_total_mib > 0 && f.hdd_total_mib > 0);
        assert_eq!(f.qemu_version, None);
    }
}
