//! The engine abstraction and the dialect-free VM vocabulary.
//!
//! An [`VmEngine`] runs the VMs of one host. [`crate::qemu::QemuEngine`] is the first; others (a
//! remote host agent, LXC, Docker…) implement the same trait. The trait is object safe
//! (`Arc<dyn VmEngine>`), its futures are boxed. Identity is the VM's `uuid` (OpenIDCS `vm_uuid`);
//! the engine keeps its own runtime files, the caller keeps the records.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::Duration;

use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::broadcast;

use crate::accel::Accel;
use crate::error::{EngineError, Result};
use crate::host::HostFacts;
use crate::ports::Protocol;

/// What a VM is: the engine-independent part of OpenIDCS's `VMConfig`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VmSpec {
    /// Stable id (`vm_uuid`): `[A-Za-z0-9][A-Za-z0-9_.-]{0,63}`; also the VM directory's name.
    pub uuid: String,
    /// Display name.
    pub name: String,
    /// vCPUs (`cpu_num`).
    pub cpu_num: u32,
    /// Memory in MiB (`mem_num`).
    pub mem_num: u64,
    /// System disk size in MiB (`hdd_num`); 0 = no disk unless `os_image` is set.
    #[serde(default)]
    pub hdd_num: u64,
    /// Base image the system disk is a copy-on-write overlay of (`os_name` resolved to a path).
    #[serde(default)]
    pub os_image: Option<PathBuf>,
    /// Direct kernel boot instead of booting the disk.
    #[serde(default)]
    pub boot: Option<KernelBoot>,
    /// Network interfaces (`nic_all`).
    #[serde(default)]
    pub nics: Vec<NicSpec>,
    /// Port forwards from the host to the guest (`nat_all`).
    #[serde(default)]
    pub nat: Vec<NatRule>,
}

impl VmSpec {
    /// A spec with one NAT NIC and no disk; fill in the rest.
    pub fn new(uuid: impl Into<String>, name: impl Into<String>, cpu_num: u32, mem_num: u64) -> VmSpec {
        VmSpec {
            uuid: uuid.into(),
            name: name.into(),
            cpu_num,
            mem_num,
            hdd_num: 0,
            os_image: None,
            boot: None,
            nics: vec![NicSpec::nat("nic0")],
            nat: Vec::new(),
        }
    }

    /// Checks the fields an engine relies on.
    pub fn validate(&self) -> Result<()> {
        validate_uuid(&self.uuid)?;
        if self.name.trim().is_empty() || self.name.len() > 128 || self.name.chars().any(char::is_control) {
            return Err(EngineError::Invalid("name must be 1–128 printable characters".into()));
        }
        if !(1..=256).contains(&self.cpu_num) {
            return Err(EngineError::Invalid(format!("cpu_num {} out of 1..=256", self.cpu_num)));
        }
        if !(16..=4 * 1024 * 1024).contains(&self.mem_num) {
            return Err(EngineError::Invalid(format!("mem_num {} MiB out of 16..=4194304", self.mem_num)));
        }
        let mut names = std::collections::BTreeSet::new();
        for nic in &self.nics {
            if nic.name.is_empty() || !names.insert(nic.name.as_str()) {
                return Err(EngineError::Invalid(format!("NIC name {:?} empty or repeated", nic.name)));
            }
            if let Some(mac) = &nic.mac_addr {
                parse_mac(mac)?;
            }
            if nic.prefix_len == 0 || nic.prefix_len > 30 {
                return Err(EngineError::Invalid(format!(
                    "NIC {}: prefix_len {} out of 1..=30",
                    nic.name, nic.prefix_len
                )));
            }
        }
        for r in &self.nat {
            if r.lan_port == 0 {
                return Err(EngineError::Invalid("NAT rule with lan_port 0".into()));
            }
        }
        Ok(())
    }
}

/// Checks a VM id: it names a directory and a unix socket path, so it is kept short and plain.
pub fn validate_uuid(uuid: &str) -> Result<()> {
    let ok = !uuid.is_empty()
        && uuid.len() <= 64
        && uuid.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && uuid.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if ok {
        Ok(())
    } else {
        Err(EngineError::Invalid(format!("bad VM id {uuid:?}: use [A-Za-z0-9][A-Za-z0-9_.-]{{0,63}}")))
    }
}

/// Parses `aa:bb:cc:dd:ee:ff` (or with `-`).
pub fn parse_mac(mac: &str) -> Result<[u8; 6]> {
    let parts: Vec<&str> = mac.split([':', '-']).collect();
    let bad = || EngineError::Invalid(format!("bad MAC address {mac:?}"));
    if parts.len() != 6 {
        return Err(bad());
    }
    let mut out = [0u8; 6];
    for (o, p) in out.iter_mut().zip(parts) {
        if p.len() != 2 {
            return Err(bad());
        }
        *o = u8::from_str_radix(p, 16).map_err(|_| bad())?;
    }
    if out[0] & 1 == 1 {
        return Err(EngineError::Invalid(format!("{mac} is a multicast MAC address")));
    }
    Ok(out)
}

/// Direct kernel boot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KernelBoot {
    pub kernel: PathBuf,
    #[serde(default)]
    pub initrd: Option<PathBuf>,
    #[serde(default)]
    pub cmdline: String,
}

/// Kind of NIC (OpenIDCS `nic_type`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NicType {
    /// Behind the host's NAT (QEMU user networking); reachable through [`NatRule`]s.
    #[default]
    Nat,
    /// Bridged onto a public network.
    Pub,
}

/// A network interface (OpenIDCS `NCConfig`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NicSpec {
    pub name: String,
    #[serde(default)]
    pub nic_type: NicType,
    /// `None`: derived from the VM id (`52:54:00:…`).
    #[serde(default)]
    pub mac_addr: Option<String>,
    /// The guest's IPv4 address. For NAT NICs the engine builds the user network around it
    /// (`net=<ip>/<prefix>`, DHCP hands out exactly this address first).
    #[serde(default)]
    pub ip4_addr: Option<Ipv4Addr>,
    #[serde(default = "default_prefix")]
    pub prefix_len: u8,
    /// Gateway; default the network's `.2` (QEMU's user-network host address).
    #[serde(default)]
    pub gateway: Option<Ipv4Addr>,
}

fn default_prefix() -> u8 {
    24
}

impl NicSpec {
    /// A NAT NIC with QEMU's default addressing (guest 10.0.2.15/24 via 10.0.2.2).
    pub fn nat(name: impl Into<String>) -> NicSpec {
        NicSpec {
            name: name.into(),
            nic_type: NicType::Nat,
            mac_addr: None,
            ip4_addr: Some(Ipv4Addr::new(10, 0, 2, 15)),
            prefix_len: 24,
            gateway: None,
        }
    }

    /// The guest address, netmask-derived network and gateway of a NAT NIC.
    pub fn addressing(&self) -> (Ipv4Addr, Ipv4Addr, Ipv4Addr) {
        let ip = self.ip4_addr.unwrap_or(Ipv4Addr::new(10, 0, 2, 15));
        let mask = u32::MAX << (32 - u32::from(self.prefix_len.clamp(1, 30)));
        let net = Ipv4Addr::from(u32::from(ip) & mask);
        let gw = self.gateway.unwrap_or(Ipv4Addr::from(u32::from(net) + 2));
        (ip, net, gw)
    }
}

/// A port forward from the host to the guest (OpenIDCS `PortData`: `wan_port`, `lan_port`,
/// `lan_addr`, `nat_tips`). A rule is identified by `(protocol, wan_port)`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NatRule {
    #[serde(default)]
    pub protocol: Protocol,
    /// Host port; 0 in a request = allocate one from the host's range.
    pub wan_port: u16,
    /// Guest port.
    pub lan_port: u16,
    /// Guest address; `None` = the address of the VM's first NAT NIC.
    #[serde(default)]
    pub lan_addr: Option<Ipv4Addr>,
    /// Free-text note.
    #[serde(default)]
    pub nat_tips: String,
}

impl NatRule {
    pub fn tcp(wan_port: u16, lan_port: u16) -> NatRule {
        NatRule { protocol: Protocol::Tcp, wan_port, lan_port, lan_addr: None, nat_tips: String::new() }
    }
}

/// VM power states, with OpenIDCS `VMPowers` codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum VmPower {
    Stopped,
    Started,
    Suspend,
    /// Shutting down.
    OnStop,
    /// Starting.
    OnOpen,
    /// Saving state.
    OnSave,
    /// Restoring state.
    OnWake,
    Crashed,
    Unknown,
}

impl VmPower {
    /// The numeric `VMPowers` code.
    pub fn code(self) -> u8 {
        match self {
            VmPower::Stopped => 0,
            VmPower::Started => 1,
            VmPower::Suspend => 2,
            VmPower::OnStop => 3,
            VmPower::OnOpen => 4,
            VmPower::OnSave => 5,
            VmPower::OnWake => 6,
            VmPower::Crashed => 0xe,
            VmPower::Unknown => 0xf,
        }
    }

    /// The `VMPowers` name (`STOPPED`, `STARTED`…).
    pub fn name(self) -> &'static str {
        match self {
            VmPower::Stopped => "STOPPED",
            VmPower::Started => "STARTED",
            VmPower::Suspend => "SUSPEND",
            VmPower::OnStop => "ON_STOP",
            VmPower::OnOpen => "ON_OPEN",
            VmPower::OnSave => "ON_SAVE",
            VmPower::OnWake => "ON_WAKE",
            VmPower::Crashed => "CRASHED",
            VmPower::Unknown => "UNKNOWN",
        }
    }

    /// Maps QMP `query-status` `status` to a power state.
    pub fn from_qmp_status(status: &str) -> VmPower {
        match status {
            "running" => VmPower::Started,
            "paused" | "suspended" => VmPower::Suspend,
            "shutdown" => VmPower::Stopped,
            "prelaunch" | "inmigrate" => VmPower::OnOpen,
            "save-vm" | "finish-migrate" | "postmigrate" => VmPower::OnSave,
            "restore-vm" => VmPower::OnWake,
            "internal-error" | "io-error" | "guest-panicked" => VmPower::Crashed,
            _ => VmPower::Unknown,
        }
    }
}

/// A power action; [`PowerAction::from_name`] reads Gantry's names for them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PowerAction {
    Start,
    /// Hard power off (QMP `quit`, then signals).
    Stop,
    /// ACPI power button, wait up to `timeout` (engine default when `None`), then hard off.
    Shutdown {
        timeout: Option<Duration>,
    },
    /// Graceful shutdown (as `Shutdown`) then start.
    Reboot {
        timeout: Option<Duration>,
    },
    /// Hard reset (`system_reset`).
    Reset,
    /// Freeze the vCPUs (`stop`).
    Pause,
    /// Unfreeze (`cont`).
    Resume,
}

impl PowerAction {
    /// Gantry's power actions by name: `start`, `stop` (hard off), `shutdown` (ACPI, then hard
    /// off after the engine's timeout), `reboot`, `reset` (hard), `pause`, `resume`.
    pub fn from_name(action: &str) -> Option<PowerAction> {
        Some(match action {
            "start" => PowerAction::Start,
            "stop" => PowerAction::Stop,
            "shutdown" => PowerAction::Shutdown { timeout: None },
            "reboot" => PowerAction::Reboot { timeout: None },
            "reset" => PowerAction::Reset,
            "pause" => PowerAction::Pause,
            "resume" => PowerAction::Resume,
            _ => return None,
        })
    }

    /// The same action with `timeout` for the guest to shut down (`shutdown` and `reboot` only).
    pub fn with_timeout(self, timeout: Option<Duration>) -> PowerAction {
        match self {
            PowerAction::Shutdown { .. } => PowerAction::Shutdown { timeout },
            PowerAction::Reboot { .. } => PowerAction::Reboot { timeout },
            other => other,
        }
    }

    /// The `VMPowers` code of the action (`S_START 7, S_RESET/H_RESET 8, S_CLOSE 9, H_CLOSE 0xa,
    /// A_PAUSE 0xb, A_WAKED 0xc`).
    pub fn code(self) -> u8 {
        match self {
            PowerAction::Start => 7,
            PowerAction::Reboot { .. } | PowerAction::Reset => 8,
            PowerAction::Shutdown { .. } => 9,
            PowerAction::Stop => 0xa,
            PowerAction::Pause => 0xb,
            PowerAction::Resume => 0xc,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            PowerAction::Start => "start",
            PowerAction::Stop => "stop",
            PowerAction::Shutdown { .. } => "shutdown",
            PowerAction::Reboot { .. } => "reboot",
            PowerAction::Reset => "reset",
            PowerAction::Pause => "pause",
            PowerAction::Resume => "resume",
        }
    }
}

/// A VM's live state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VmStatus {
    pub uuid: String,
    pub power: VmPower,
    /// QMP `query-status` `status` (`running`, `paused`…), when running.
    pub qemu_status: Option<String>,
    pub pid: Option<u32>,
    pub accel: Option<Accel>,
    pub uptime_s: Option<u64>,
    pub cpu_num: u32,
    /// CPU use of the VM's process as a percent of its vCPUs (0–100), averaged since the last
    /// status call (or since start).
    pub cpu_usage: f32,
    pub mem_total_mib: u64,
    /// Resident memory of the VM's process.
    pub mem_usage_mib: u64,
    pub hdd_total_mib: u64,
    /// Bytes allocated by the disk image on the host.
    pub hdd_usage_mib: u64,
    /// Spec fields changed while running that take effect on the next boot.
    pub pending: Vec<String>,
    /// Set when the engine could not talk to the VM (e.g. QMP held by another client).
    pub message: Option<String>,
}

/// Result of a power action.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PowerOutcome {
    /// The action's name.
    pub action: String,
    /// A graceful shutdown timed out and the VM was powered off hard.
    pub forced: bool,
    pub status: VmStatus,
}

/// Result of an update.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateOutcome {
    /// Fields applied now (e.g. `hdd_num` grown live, `name`).
    pub applied: Vec<String>,
    /// Fields stored that take effect on the next boot (`cpu_num`, `mem_num`…).
    pub pending: Vec<String>,
}

/// A VM found on the host that the caller did not know.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScannedVm {
    pub uuid: String,
    pub dir: PathBuf,
    /// The engine's record of it, when readable.
    pub spec: Option<VmSpec>,
    pub running: bool,
}

/// What an engine is (the OpenIDCS `engine` route's entry).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EngineInfo {
    /// VmEngine key (`QEMUServer`).
    pub key: String,
    pub name: String,
    pub description: String,
    pub enabled: bool,
    pub platform: Vec<String>,
    pub arch: Vec<String>,
    pub options: serde_json::Value,
    pub message: String,
}

/// What happened to a VM, as the engine saw it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum VmEventKind {
    Created,
    Started,
    /// The process is gone (guest poweroff, `quit`, crash, kill).
    Stopped,
    Paused,
    Resumed,
    /// The ACPI power button was pressed.
    Powerdown,
    /// QEMU's `SHUTDOWN` event (`guest` = initiated by the guest).
    Shutdown {
        guest: bool,
        reason: String,
    },
    Reset {
        guest: bool,
    },
    Deleted,
    NatAdded {
        rule: NatRule,
    },
    NatRemoved {
        rule: NatRule,
    },
    /// Any other QMP event, by name.
    Other {
        event: String,
    },
}

/// An engine event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VmEvent {
    pub uuid: String,
    #[serde(flatten)]
    pub kind: VmEventKind,
}

/// A bidirectional byte stream to a VM console (VNC/RFB), for a WebSocket proxy.
pub trait ConsoleIo: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> ConsoleIo for T {}

/// A boxed console stream.
pub type ConsoleStream = Pin<Box<dyn ConsoleIo>>;

/// The engine of one host.
pub trait VmEngine: Send + Sync + 'static {
    /// What this engine is, for listings.
    fn info(&self) -> EngineInfo;
    /// Host facts (CPU, memory, disk, hypervisor version).
    fn host_facts(&self) -> BoxFuture<'_, Result<HostFacts>>;
    /// Creates the VM's files (disk…) without starting it.
    fn create(&self, spec: VmSpec) -> BoxFuture<'_, Result<VmStatus>>;
    /// The engine's record of a VM.
    fn get<'a>(&'a self, uuid: &'a str) -> BoxFuture<'a, Result<VmSpec>>;
    /// Every VM the engine has on this host.
    fn list(&self) -> BoxFuture<'_, Result<Vec<VmSpec>>>;
    /// Changes a VM (same `uuid`); what cannot change live is stored for the next boot.
    /// NAT rules are not changed here (use `nat_add`/`nat_remove`).
    fn update(&self, spec: VmSpec) -> BoxFuture<'_, Result<UpdateOutcome>>;
    /// Stops the VM hard if needed and removes all of its files.
    fn delete<'a>(&'a self, uuid: &'a str) -> BoxFuture<'a, Result<()>>;
    fn power<'a>(&'a self, uuid: &'a str, action: PowerAction) -> BoxFuture<'a, Result<PowerOutcome>>;
    fn status<'a>(&'a self, uuid: &'a str) -> BoxFuture<'a, Result<VmStatus>>;
    /// Reconnects to a VM that kept running while the manager was away.
    fn attach<'a>(&'a self, uuid: &'a str) -> BoxFuture<'a, Result<VmStatus>>;
    /// VMs on the host whose ids are not in `known`.
    fn scan<'a>(&'a self, known: &'a [String]) -> BoxFuture<'a, Result<Vec<ScannedVm>>>;
    fn nat_list<'a>(&'a self, uuid: &'a str) -> BoxFuture<'a, Result<Vec<NatRule>>>;
    /// Adds a forward (live when running); `wan_port` 0 allocates one. Returns the stored rule.
    fn nat_add<'a>(&'a self, uuid: &'a str, rule: NatRule) -> BoxFuture<'a, Result<NatRule>>;
    /// Removes the forward `(protocol, wan_port)` (live when running); returns it.
    fn nat_remove<'a>(&'a self, uuid: &'a str, protocol: Protocol, wan_port: u16) -> BoxFuture<'a, Result<NatRule>>;
    /// Opens the VM's graphical console (RFB) as a byte stream.
    fn console_open<'a>(&'a self, uuid: &'a str) -> BoxFuture<'a, Result<ConsoleStream>>;
    /// Sets the console password (VNC: at most 8 bytes), valid for `valid_for` (`None`: until
    /// changed).
    fn console_password<'a>(
        &'a self,
        uuid: &'a str,
        password: &'a str,
        valid_for: Option<Duration>,
    ) -> BoxFuture<'a, Result<()>>;
    /// VmEngine events of all VMs.
    fn subscribe(&self) -> broadcast::Receiver<VmEvent>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_ids_and_macs() {
        assert!(validate_uuid("vm-1.a_b").is_ok());
        assert!(validate_uuid("").is_err());
        assert!(validate_uuid("../x").is_err());
        assert!(validate_uuid(".hidden").is_err());
        assert!(validate_uuid(&"a".repeat(65)).is_err());
        assert_eq!(parse_mac("52:54:00:12:34:56").unwrap(), [0x52, 0x54, 0, 0x12, 0x34, 0x56]);
        assert!(parse_mac("01:00:00:00:00:00").is_err());
        assert!(parse_mac("52:54:00:12:34").is_err());
    }

    #[test]
    fn maps_powers() {
        assert_eq!(VmPower::from_qmp_status("running"), VmPower::Started);
        assert_eq!(VmPower::from_qmp_status("paused"), VmPower::Suspend);
        assert_eq!(VmPower::from_qmp_status("guest-panicked"), VmPower::Crashed);
        assert_eq!(VmPower::Crashed.code(), 0xe);
        assert_eq!(serde_json::to_string(&VmPower::OnStop).unwrap(), "\"ON_STOP\"");
        assert_eq!(PowerAction::from_name("stop"), Some(PowerAction::Stop));
        assert_eq!(PowerAction::from_name("shutdown").unwrap().code(), 9);
        assert_eq!(PowerAction::from_name("reboot"), Some(PowerAction::Reboot { timeout: None }));
        assert_eq!(PowerAction::from_name("reset"), Some(PowerAction::Reset));
        assert_eq!(PowerAction::from_name("halt"), None);
        let five = Some(Duration::from_secs(5));
        assert_eq!(PowerAction::Shutdown { timeout: None }.with_timeout(five), PowerAction::Shutdown { timeout: five });
        assert_eq!(PowerAction::Pause.with_timeout(five), PowerAction::Pause);
    }

    #[test]
    fn nic_addressing() {
        let mut n = NicSpec::nat("a");
        assert_eq!(
            n.addressing(),
            (Ipv4Addr::new(10, 0, 2, 15), Ipv4Addr::new(10, 0, 2, 0), Ipv4Addr::new(10, 0, 2, 2))
        );
        n.ip4_addr = Some(Ipv4Addr::new(192, 168, 7, 9));
        n.prefix_len = 16;
        assert_eq!(n.addressing().1, Ipv4Addr::new(192, 168, 0, 0));
        let spec = VmSpec::new("x", "x", 1, 128);
        spec.validate().unwrap();
        let json = serde_json::to_string(&spec).unwrap();
        assert_eq!(serde_json::from_str::<VmSpec>(&json).unwrap(), spec);
    }
}
