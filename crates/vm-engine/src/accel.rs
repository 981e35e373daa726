//! Choosing the accelerator: KVM when it really works, else TCG.
//!
//! `/dev/kvm` existing proves little: on nested or paravirtualised hosts KVM may hang guests
//! (100 % system CPU, no serial output) or abort QEMU. The honest test is a short, timed boot:
//! a probe guest (kernel + initramfs that prints a ready marker on ttyS0) is booted with
//! `-accel kvm` and must print the marker within a timeout; otherwise VMs run under TCG.
//! Without a probe guest, SeaBIOS alone is booted under KVM with a tight timeout (weaker, but it
//! catches a KVM that cannot even run firmware at native speed).
//!
//! The decision is cached per QEMU binary for the life of the process. The environment variable
//! `GANTRY_QEMU_ACCEL=kvm|tcg` overrides everything (no probe).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

use crate::error::{EngineError, Result};

/// Environment variable that forces the accelerator.
pub const ACCEL_ENV: &str = "GANTRY_QEMU_ACCEL";

/// A QEMU accelerator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Accel {
    Kvm,
    Tcg,
}

impl Accel {
    pub fn as_str(self) -> &'static str {
        match self {
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
        }
    }

    pub fn parse(s: &str) -> Option<Accel> {
        match s.trim().to_ascii_lowercase().as_str() {
            "kvm" => Some(Accel::Kvm),
            "tcg" => Some(Accel::Tcg),
            _ => None,
        }
    }
}

/// How the engine picks its accelerator.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccelPolicy {
    /// Probe KVM, fall back to TCG.
    #[default]
    Auto,
    Kvm,
    Tcg,
}

/// Where a decision came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccelSource {
    Env,
    Config,
    Probe,
}

/// The decision and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccelReport {
    pub accel: Accel,
    pub source: AccelSource,
    /// Human-readable reason, e.g. `kvm probe: guest not ready within 6s`.
    pub detail: String,
    /// How long the KVM probe ran, if one ran.
    pub probe_ms: Option<u64>,
}

/// A guest to probe KVM with: it must print `ready_marker` on its serial console once booted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeGuest {
    pub kernel: PathBuf,
    pub initrd: Option<PathBuf>,
    /// Extra kernel command line (appended to `console=ttyS0 panic=-1`).
    pub cmdline: String,
    pub ready_marker: String,
}

impl ProbeGuest {
    /// The test guest built by `scripts/guest-image <dir>` (`vmlinuz`, `initramfs.cpio.gz`,
    /// marker `GANTRY-GUEST-READY`), if present in `dir`.
    pub fn gantry_guest(dir: &Path) -> Option<ProbeGuest> {
        let kernel = dir.join("vmlinuz");
        let initrd = dir.join("initramfs.cpio.gz");
        (kernel.is_file() && initrd.is_file()).then(|| ProbeGuest {
            kernel,
            initrd: Some(initrd),
            cmdline: "quiet".into(),
            ready_marker: "GANTRY-GUEST-READY".into(),
        })
    }
}

/// Reads `GANTRY_QEMU_ACCEL`. An unknown value is an error (better than silently probing).
pub fn env_override() -> Result<Option<Accel>> {
    match std::env::var(ACCEL_ENV) {
        Err(_) => Ok(None),
        Ok(v) if v.trim().is_empty() || v.trim().eq_ignore_ascii_case("auto") => Ok(None),
        Ok(v) => Accel::parse(&v)
            .map(Some)
            .ok_or_else(|| EngineError::Invalid(format!("{ACCEL_ENV}={v:?}: expected kvm, tcg or auto"))),
    }
}

type Cache = Mutex<HashMap<PathBuf, Arc<tokio::sync::OnceCell<AccelReport>>>>;

fn cache() -> &'static Cache {
    static CACHE: std::sync::OnceLock<Cache> = std::sync::OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// Decides the accelerator: env override, then `policy`, then a cached KVM probe.
pub async fn detect(
    qemu: &Path,
    policy: AccelPolicy,
    guest: Option<&ProbeGuest>,
    timeout: Duration,
) -> Result<AccelReport> {
    if let Some(accel) = env_override()? {
        return Ok(AccelReport {
            accel,
            source: AccelSource::Env,
            detail: format!("{ACCEL_ENV}={}", accel.as_str()),
            probe_ms: None,
        });
    }
    match policy {
        AccelPolicy::Kvm => {
            return Ok(AccelReport {
                accel: Accel::Kvm,
                source: AccelSource::Config,
                detail: "configured".into(),
                probe_ms: None,
            });
        }
        AccelPolicy::Tcg => {
            return Ok(AccelReport {
                accel: Accel::Tcg,
                source: AccelSource::Config,
                detail: "configured".into(),
                probe_ms: None,
            });
        }
        AccelPolicy::Auto => {}
    }
    let cell = cache().lock().expect("accel cache").entry(qemu.to_path_buf()).or_default().clone();
    let report = cell.get_or_init(|| probe(qemu, guest, timeout)).await.clone();
    Ok(report)
}

/// Runs the KVM probe (uncached) and reports the decision.
pub async fn probe(qemu: &Path, guest: Option<&ProbeGuest>, timeout: Duration) -> AccelReport {
    let tcg = |detail: String, probe_ms: Option<u64>| AccelReport {
        accel: Accel::Tcg,
        source: AccelSource::Probe,
        detail,
        probe_ms,
    };
    if let Err(e) = std::fs::OpenOptions::new().read(true).write(true).open("/dev/kvm") {
        return tcg(format!("/dev/kvm unusable: {e}"), None);
    }
    let started = Instant::now();
    let result = match guest {
        Some(g) => boot_probe(qemu, g, timeout).await,
        None => bios_probe(qemu, timeout.min(Duration::from_secs(2))).await,
    };
    let ms = started.elapsed().as_millis() as u64;
    match result {
        Ok(()) => AccelReport {
            accel: Accel::Kvm,
            source: AccelSource::Probe,
            detail: format!("kvm probe booted in {ms} ms"),
            probe_ms: Some(ms),
        },
        Err(why) => {
            tracing::warn!(%why, "KVM probe failed; VMs will run under TCG");
            tcg(format!("kvm probe: {why}"), Some(ms))
        }
    }
}

/// Boots the probe guest under KVM and waits for its ready marker on the serial console.
async fn boot_probe(qemu: &Path, g: &ProbeGuest, timeout: Duration) -> Result<(), String> {
    let mut cmd = tokio::process::Command::new(qemu);
    cmd.args(["-nodefaults", "-no-user-config", "-accel", "kvm", "-cpu", "host", "-m", "256", "-smp", "1"])
        .args(["-display", "none", "-monitor", "none", "-serial", "stdio"])
        .args(["-netdev", "user,id=n0", "-device", "virtio-net-pci,netdev=n0"])
        .arg("-kernel")
        .arg(&g.kernel);
    if let Some(initrd) = &g.initrd {
        cmd.arg("-initrd").arg(initrd);
    }
    cmd.arg("-append").arg(format!("console=ttyS0 panic=-1 {}", g.cmdline).trim_end());
    run_until(cmd, &g.ready_marker, timeout).await
}

/// Runs SeaBIOS under KVM with no boot device; it must reach "No bootable device" in time.
async fn bios_probe(qemu: &Path, timeout: Duration) -> Result<(), String> {
    let mut cmd = tokio::process::Command::new(qemu);
    cmd.args(["-nodefaults", "-no-user-config", "-accel", "kvm", "-cpu", "host", "-m", "64"])
        .args(["-display", "none", "-monitor", "none", "-serial", "none"])
        .args(["-chardev", "stdio,id=dbg", "-device", "isa-debugcon,iobase=0x402,chardev=dbg"]);
    run_until(cmd, "No bootable device", timeout).await
}

async fn run_until(mut cmd: tokio::process::Command, marker: &str, timeout: Duration) -> Result<(), String> {
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
    let mut child = cmd.spawn().map_err(|e| format!("cannot run qemu: {e}"))?;
    let stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let watch = async {
        let mut lines = BufReader::new(stdout).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if line.contains(marker) {
                return true;
            }
        }
        false
    };
    let outcome = tokio::time::timeout(timeout, watch).await;
    let _ = child.start_kill();
    let _ = child.wait().await;
    match outcome {
        Ok(true) => Ok(()),
        Ok(false) => {
            let mut err = String::new();
            let _ = tokio::time::timeout(Duration::from_millis(200), stderr.read_to_string(&mut err)).await;
            let err = err.lines().filter(|l| !l.contains("warning:")).collect::<Vec<_>>().join("; ");
            Err(format!("qemu exited before the guest was ready: {}", if err.is_empty() { "no message" } else { &err }))
        }
        Err(_) => Err(format!("guest not ready within {timeout:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_accel() {
        assert_eq!(Accel::parse(" KVM "), Some(Accel::Kvm));
        assert_eq!(Accel::parse("tcg"), Some(Accel::Tcg));
        assert_eq!(Accel::parse("hvf"), None);
    }

    #[tokio::test]
    async fn configured_policy_skips_the_probe() {
        if std::env::var_os(ACCEL_ENV).is_some() {
            return; // the env override wins; covered elsewhere
        }
        let r = detect(Path::new("/nonexistent"), AccelPolicy::Tcg, None, Duration::from_secs(1)).await.unwrap();
        assert_eq!((r.accel, r.source), (Accel::Tcg, AccelSource::Config));
    }

    #[tokio::test]
    async fn probe_with_missing_qemu_falls_back_to_tcg() {
        let r = probe(Path::new("/nonexistent/qemu"), None, Duration::from_secs(1)).await;
        assert_eq!(r.accel, Accel::Tcg);
        assert_eq!(r.source, AccelSource::Probe);
    }
}
