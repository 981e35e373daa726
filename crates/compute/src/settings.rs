//! The `[compute]` settings, checked and resolved once.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use gantry_core::config::ComputeConfig;
use gantry_vm_engine::{AccelPolicy, PortRange, ProbeGuest, QemuConfig, QemuEngine, VmEngine};

use crate::error::{ComputeError, Result, invalid};
use crate::model::HostConfig;

/// Resolved compute settings.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub storage_root: PathBuf,
    pub accel: AccelPolicy,
    pub probe_guest: Option<ProbeGuest>,
    pub shutdown_timeout: Duration,
    pub default_ports: (u16, u16),
    pub nat_bind: Ipv4Addr,
    pub agent_per_minute: u32,
}

impl Settings {
    pub fn from_config(c: &ComputeConfig, data_dir: &Path) -> Result<Settings> {
        let accel = match c.accel.trim().to_ascii_lowercase().as_str() {
            "" | "auto" => AccelPolicy::Auto,
            "kvm" => AccelPolicy::Kvm,
            "tcg" => AccelPolicy::Tcg,
            other => return invalid(format!("compute.accel = {other:?}: expected auto, kvm or tcg")),
        };
        let nat_bind = c.nat_bind.parse().map_err(|_| {
            ComputeError::Invalid(format!("compute.nat_bind = {:?} is not an IPv4 address", c.nat_bind))
        })?;
        PortRange::new(c.default_ports_start, c.default_ports_close)?;
        Ok(Settings {
            storage_root: c.storage_root.clone().unwrap_or_else(|| data_dir.join("vms")),
            accel,
            probe_guest: c.probe_guest_dir.as_deref().and_then(ProbeGuest::gantry_guest),
            shutdown_timeout: Duration::from_secs(c.shutdown_timeout_secs.max(1)),
            default_ports: (c.default_ports_start, c.default_ports_close),
            nat_bind,
            agent_per_minute: c.agent_reports_per_minute.max(1),
        })
    }

    /// The QEMU engine configuration of a host.
    pub fn qemu_config(&self, host: &HostConfig) -> Result<QemuConfig> {
        let mut cfg = QemuConfig::new(&host.system_path);
        cfg.accel = self.accel;
        cfg.probe_guest = self.probe_guest.clone();
        cfg.nat_range = Some(PortRange::new(host.ports_start, host.ports_close)?);
        cfg.nat_bind = host_bind(host)?;
        cfg.shutdown_timeout = self.shutdown_timeout;
        Ok(cfg)
    }

    /// Builds the engine of a host.
    pub fn engine(&self, host: &HostConfig) -> Result<Arc<dyn VmEngine>> {
        Ok(Arc::new(QemuEngine::new(self.qemu_config(host)?)?))
    }
}

/// The address a host's forwards listen on.
pub(crate) fn host_bind(host: &HostConfig) -> Result<Ipv4Addr> {
    host.nat_bind
        .parse()
        .map_err(|_| ComputeError::Invalid(format!("nat_bind {:?} is not an IPv4 address", host.nat_bind)))
}
