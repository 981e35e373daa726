//! Gantry's compute core: engines that run virtual machines, without HTTP or a database.
//!
//! - [`engine`] — the [`VmEngine`] trait (object safe, for QEMU now and remote agents, LXC or Docker
//!   later) and the dialect-free VM vocabulary ([`VmSpec`], [`NatRule`], [`VmPower`] with
//!   OpenIDCS `VMPowers` codes, [`PowerAction`]…);
//! - [`qemu`] — [`QemuEngine`], one daemonized QEMU per VM driven over QMP;
//! - [`qmp`] — a small async QMP client;
//! - [`accel`] — KVM-or-TCG decision by a timed probe boot;
//! - [`host`] — host facts; [`ports`] — NAT port ranges and allocation;
//! - [`proxy`] — the reverse-proxy route table ([`ProxyTable`]) the HTTP layer forwards by;
//! - [`error`] — [`EngineError`].
//!
//! The caller (a dialect such as OpenIDCS) keeps its own records and maps its fields onto these
//! types; the engine keeps only what it needs to run and re-find VMs (`<storage>/<uuid>/vm.json`).

pub mod accel;
pub mod engine;
pub mod error;
pub mod host;
pub mod ports;
pub mod procfs;
pub mod proxy;
pub mod qemu;
pub mod qmp;

pub use accel::{Accel, AccelPolicy, AccelReport, ProbeGuest};
pub use engine::{
    ConsoleStream, EngineInfo, KernelBoot, NatRule, NicSpec, NicType, PowerAction, PowerOutcome, ScannedVm,
    UpdateOutcome, VmEngine, VmEvent, VmEventKind, VmPower, VmSpec, VmStatus,
};
pub use error::{EngineError, Result};
pub use host::HostFacts;
pub use ports::{PortRange, Protocol};
pub use proxy::{ProxyRoute, ProxyTable};
pub use qemu::{QemuConfig, QemuEngine, VmPaths};
pub use qmp::{QmpClient, QmpError, QmpEvent};
