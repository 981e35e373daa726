//! The compute vocabulary as the API sees it, after OpenIDCS's data model (`HSConfig`,
//! `VMConfig`, `NCConfig`, `PortData`, `WebProxy`). These types are stored as JSON and are the
//! request and answer bodies; their schemas go into the OpenAPI document.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

pub use crate::kept::Kept;

/// Who asked: a user (by name and id), the in-VM agent or Gantry itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub name: String,
    pub user_id: Option<i64>,
}

impl Actor {
    /// A user.
    pub fn user(name: impl Into<String>, user_id: i64) -> Actor {
        Actor { name: name.into(), user_id: Some(user_id) }
    }

    /// Gantry itself (start-up, background work).
    pub fn system() -> Actor {
        Actor { name: "system".into(), user_id: None }
    }
}

/// A host's settings (OpenIDCS `HSConfig`). Paths are on the host. The rest of OpenIDCS's
/// `HSConfig` (`server_name`, `server_user`, `network_nat`, `remote_port`, `i_kuai_*`,
/// `ipaddr_maps`…) is kept and returned without effect; its passwords (`server_pass`,
/// `i_kuai_pass`) are accepted and not stored; any other field is refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HostConfig {
    /// Host name (`hs_name`): `[A-Za-z0-9][A-Za-z0-9_.-]{0,63}`.
    pub hs_name: String,
    /// Engine key; only `QEMUServer` exists so far.
    #[serde(default = "qemu_key")]
    pub server_type: String,
    /// Where the engine runs: empty, `local`, `localhost` or `127.0.0.1` (this machine). Remote
    /// host agents are not implemented yet.
    #[serde(default)]
    pub server_addr: String,
    /// VM-id prefix `scaner` adopts (empty: any).
    #[serde(default)]
    pub filter_name: String,
    /// Directory of base images, kernels and initrds that VMs name (`os_name`, `kernel`, `initrd`).
    #[serde(default)]
    pub images_path: String,
    /// Directory of the VMs' own files; default `<compute.storage_root>/<hs_name>`.
    #[serde(default)]
    pub system_path: String,
    /// Directory for backups (kept for OpenIDCS compatibility; unused so far).
    #[serde(default)]
    pub backup_path: String,
    /// NAT host-port range, inclusive; default from `[compute]`.
    #[serde(default)]
    pub ports_start: u16,
    #[serde(default)]
    pub ports_close: u16,
    /// Address NAT forwards listen on; default `compute.nat_bind`.
    #[serde(default)]
    pub nat_bind: String,
    /// Public addresses of the host, for display.
    #[serde(default)]
    pub public_addr: Vec<String>,
    /// Free-form data kept with the host.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub extend_data: Value,
    /// OpenIDCS fields kept without effect.
    #[serde(flatten)]
    #[schema(ignore)]
    pub kept: Kept,
}

fn qemu_key() -> String {
    gantry_vm_engine::qemu::ENGINE_KEY.to_string()
}

/// Fields of a host to change (`PUT /api/server/update/{hs_name}`); absent fields stay.
/// `system_path` cannot change while the host has VMs; the port range and `nat_bind` only
/// while none of them runs. OpenIDCS's other `HSConfig` fields are kept as in `create` (`null`
/// removes one).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct HostUpdate {
    /// The engine cannot change: when given, it must be the host's.
    pub server_type: Option<String>,
    pub server_addr: Option<String>,
    pub filter_name: Option<String>,
    pub images_path: Option<String>,
    pub system_path: Option<String>,
    pub backup_path: Option<String>,
    pub ports_start: Option<u16>,
    pub ports_close: Option<u16>,
    pub nat_bind: Option<String>,
    pub public_addr: Option<Vec<String>>,
    #[schema(value_type = Option<Object>)]
    pub extend_data: Option<Value>,
    #[serde(flatten)]
    #[schema(ignore)]
    pub kept: Kept,
}

/// A host as listed (`listup`, `detail`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HostView {
    #[serde(flatten)]
    pub config: HostConfig,
    /// VMs may not be created or started while on.
    pub maintenance: bool,
    /// OpenIDCS fields this host has (or this request sent) that Gantry does not act on.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub no_effect: Vec<String>,
    pub vm_count: u64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Host power actions (`POST /api/server/powers/{hs_name}`).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HostPowerRequest {
    /// `start_all` (start every stopped VM), `stop_all` (hard off), `shutdown_all` (ACPI with
    /// timeout), `maintenance_on`, `maintenance_off`.
    pub action: Option<String>,
    /// OpenIDCS form: `true` = `maintenance_off`, `false` = `maintenance_on`.
    pub enable: Option<bool>,
}

/// What a host power action did, VM by VM.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HostPowerOutcome {
    pub action: String,
    pub maintenance: bool,
    pub results: Vec<VmActionResult>,
}

/// One VM's part of a host-wide action.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VmActionResult {
    pub vm_uuid: String,
    pub success: bool,
    pub message: String,
}

/// Host status (`GET /api/server/status/{hs_name}`), sizes in MiB, usage in percent.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HostStatus {
    pub hs_name: String,
    pub maintenance: bool,
    pub hostname: String,
    pub cpu_model: String,
    pub cpu_total: u32,
    pub cpu_usage: f32,
    pub mem_total: u64,
    pub mem_usage: u64,
    pub hdd_total: u64,
    pub hdd_usage: u64,
    pub vm_count: u64,
    pub running_vm_count: u64,
    pub engine: String,
    pub engine_version: Option<String>,
    /// `kvm` or `tcg`, once decided.
    pub accel: Option<String>,
    pub kvm_device: bool,
}

/// A network interface (OpenIDCS `NCConfig`); `nic_devs`, `ip6_addr` and `dns_addr` are kept
/// without effect.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NicConfig {
    /// Empty: derived from the VM id.
    #[serde(default)]
    pub mac_addr: String,
    /// `nat` (QEMU user network behind the host); `pub` (bridged) is not supported yet.
    #[serde(default = "nat")]
    pub nic_type: String,
    /// The guest's IPv4 address; empty: the engine default `10.0.2.15`.
    #[serde(default)]
    pub ip4_addr: String,
    /// Netmask, default `255.255.255.0`.
    #[serde(default)]
    pub nic_mask: String,
    /// Gateway; default the network's `.2`.
    #[serde(default)]
    pub nic_gate: String,
    /// OpenIDCS fields kept without effect.
    #[serde(flatten)]
    #[schema(ignore)]
    pub kept: Kept,
}

fn nat() -> String {
    "nat".into()
}

/// A port forward (OpenIDCS `PortData`), host `wan_port` → guest `lan_addr:lan_port`. The
/// seed's names (`external_port`, `internal_port`, `internal_ip`, `description`) are accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PortData {
    /// `tcp` (default) or `udp`.
    #[serde(default = "tcp")]
    pub protocol: String,
    /// Host port inside the host's range; 0 = pick a free one.
    #[serde(default, alias = "external_port")]
    pub wan_port: u16,
    #[serde(alias = "internal_port")]
    pub lan_port: u16,
    /// Guest address; empty = the VM's first NIC.
    #[serde(default, alias = "internal_ip")]
    pub lan_addr: String,
    #[serde(default, alias = "description")]
    pub nat_tips: String,
}

fn tcp() -> String {
    "tcp".into()
}

/// A reverse-proxy route (OpenIDCS `WebProxy`): HTTP for `web_addr` (a domain, matched on the
/// `Host` header) and `web_path` (a path prefix) is forwarded to the VM's `lan_port`. The seed's
/// names (`domain`, `backend_port`, `ssl_enabled`, `description`) are accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebProxy {
    /// Stable id (set by Gantry).
    #[serde(default)]
    pub id: String,
    #[serde(alias = "domain")]
    pub web_addr: String,
    /// Path prefix, `/` or empty for all paths.
    #[serde(default)]
    pub web_path: String,
    #[serde(default = "http_port", alias = "backend_port")]
    pub lan_port: u16,
    /// Set by Gantry: the guest address.
    #[serde(default)]
    pub lan_addr: String,
    #[serde(default, alias = "description")]
    pub web_tips: String,
    /// TLS termination is not supported yet: must be false.
    #[serde(default, alias = "ssl_enabled")]
    pub is_https: bool,
    /// Set by Gantry: the NAT host port the route reaches the VM through.
    #[serde(default)]
    pub wan_port: u16,
    /// Set by Gantry: the forward was made for this route (and goes with it).
    #[serde(default)]
    pub nat_auto: bool,
}

fn http_port() -> u16 {
    80
}

/// A VM's configuration (OpenIDCS `VMConfig`), as stored and as `create` takes it. The rest of
/// OpenIDCS's `VMConfig` (`vc_port`, `cpu_per`, `gpu_num`, `speed_u`, `flu_num`, `hdd_all`,
/// `iso_all`, `own_all`…) is kept and returned without effect; its passwords (`os_pass`,
/// `vc_pass`) are accepted and not stored; any other field is refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct VmConfig {
    /// VM id; generated when empty. `[A-Za-z0-9][A-Za-z0-9_.-]{0,63}`.
    #[serde(default)]
    pub vm_uuid: String,
    /// Display name, unique on the host; default the id.
    #[serde(default)]
    pub vm_name: String,
    #[serde(default = "one")]
    pub cpu_num: u32,
    /// Memory, MiB.
    #[serde(default = "mem_default")]
    pub mem_num: u64,
    /// System disk, MiB (0: none, unless `os_name` names a base image).
    #[serde(default)]
    pub hdd_num: u64,
    /// Base image file in the host's `images_path` (the disk is a copy-on-write overlay of it).
    #[serde(default)]
    pub os_name: String,
    /// Kernel file in `images_path` for direct kernel boot.
    #[serde(default)]
    pub kernel: String,
    #[serde(default)]
    pub initrd: String,
    /// Kernel command line; Gantry appends `gantry.ip=… gantry.gw=… gantry.hostname=…
    /// gantry.agent=…` for the guest.
    #[serde(default)]
    pub cmdline: String,
    /// NICs by name; default one NAT NIC `nic0`.
    #[serde(default)]
    pub nic_all: BTreeMap<String, NicConfig>,
    /// NAT rules.
    #[serde(default)]
    pub nat_all: Vec<PortData>,
    /// Reverse-proxy routes (managed with `pxyadd`/`pxydel`).
    #[serde(default)]
    pub web_all: Vec<WebProxy>,
    /// OpenIDCS fields kept without effect.
    #[serde(flatten)]
    #[schema(ignore)]
    pub kept: Kept,
}

fn one() -> u32 {
    1
}

fn mem_default() -> u64 {
    512
}

/// Fields of a VM to change (`PUT /api/client/update/…`); absent fields stay. `vm_name`
/// applies at once; CPU, memory and boot changes take effect on the next boot when the VM
/// runs; the disk grows live. OpenIDCS's other `VMConfig` fields are kept as in `create` (`null`
/// removes one).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct VmUpdate {
    pub vm_name: Option<String>,
    pub cpu_num: Option<u32>,
    pub mem_num: Option<u64>,
    pub hdd_num: Option<u64>,
    pub kernel: Option<String>,
    pub initrd: Option<String>,
    pub cmdline: Option<String>,
    #[serde(flatten)]
    #[schema(ignore)]
    pub kept: Kept,
}

/// A VM as listed (`listup`, `detail`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VmView {
    pub hs_name: String,
    #[serde(flatten)]
    pub config: VmConfig,
    /// `VMPowers` name (`STARTED`, `STOPPED`…).
    pub power: String,
    /// `VMPowers` code.
    pub power_code: u8,
    /// OpenIDCS fields this VM has (or this request sent) that Gantry does not act on; a NIC's
    /// as `nic_all.<name>.<field>`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub no_effect: Vec<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// The answer of `create`: the VM and its agent secret, shown only here.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CreatedVm {
    pub vm: VmView,
    /// Secret the in-VM agent sends in `X-Agent-Secret` to `/api/client/upload`; also given to a
    /// kernel-booted guest as `gantry.agent=` on its command line. Stored only as a digest.
    pub agent_secret: String,
}

/// What `update` did.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VmUpdated {
    pub vm: VmView,
    /// Applied now.
    pub applied: Vec<String>,
    /// Stored, applied on the next boot.
    pub pending: Vec<String>,
}

/// `POST /api/client/powers/…`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PowerRequest {
    /// `start`, `stop` (hard off; alias `hard_stop`), `shutdown` (ACPI, then hard off after the
    /// timeout), `reboot`, `reset` (hard; alias `hard_reset`), `pause`, `resume`.
    pub action: String,
    /// Seconds `shutdown`/`reboot` wait for the guest; default `compute.shutdown_timeout_secs`.
    pub timeout: Option<u64>,
}

/// What a power action did.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PowerResult {
    pub action: String,
    /// The graceful shutdown timed out and the VM was powered off hard.
    pub forced: bool,
    pub task_id: String,
    pub status: VmStatusView,
}

/// VM status (`GET /api/client/status/…`): QMP `query-status` plus the QEMU process's use.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VmStatusView {
    pub vm_uuid: String,
    /// `VMPowers` name and code.
    pub power: String,
    pub power_code: u8,
    /// QMP `query-status` `status` (`running`, `paused`…), when the process runs.
    pub qemu_status: Option<String>,
    pub pid: Option<u32>,
    pub accel: Option<String>,
    pub uptime_s: Option<u64>,
    pub cpu_num: u32,
    /// Percent of the VM's vCPUs.
    pub cpu_usage: f32,
    pub mem_total: u64,
    pub mem_usage: u64,
    pub hdd_total: u64,
    pub hdd_usage: u64,
    /// Fields that take effect on the next boot.
    pub pending: Vec<String>,
    pub message: Option<String>,
    /// The in-VM agent's last report and when it came (Unix ms).
    #[schema(value_type = Option<Object>)]
    pub agent_report: Option<Value>,
    pub reported_at: Option<i64>,
}

/// What `scaner` found.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ScanResult {
    pub task_id: String,
    /// VMs adopted, with their new agent secrets (shown only here).
    pub adopted: Vec<AdoptedVm>,
    /// VMs found but left alone, and why.
    pub skipped: Vec<VmActionResult>,
}

/// A VM `scaner` adopted.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AdoptedVm {
    pub vm: VmView,
    pub agent_secret: String,
}

/// `POST /api/client/ipadd_/…` (OpenIDCS `{address, netmask, gateway, nic}`).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IpAdd {
    /// IPv4 address, unique across all VMs.
    pub address: String,
    /// Default `255.255.255.0`.
    #[serde(default)]
    pub netmask: String,
    /// Default the network's `.2`.
    #[serde(default)]
    pub gateway: String,
    /// NIC to put it on: an existing one without an address, or a new NAT NIC of that name;
    /// default the first NIC without an address, else a new one.
    #[serde(default)]
    pub nic: String,
    /// Only `ipv4`.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub description: String,
}

/// One of a VM's addresses (`iplist`); its index is the `ip_index` of `ipdel_`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IpEntry {
    pub nic: String,
    pub address: String,
    pub netmask: String,
    pub gateway: String,
    pub mac_addr: String,
}

/// What changing an address did.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IpChanged {
    pub ips: Vec<IpEntry>,
    /// The guest gets the change on its next boot when it runs now.
    pub pending: bool,
}

/// A host-wide count (`GET /api/system/statis`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Statis {
    pub host_count: u64,
    pub vm_count: u64,
    pub running_vm_count: u64,
    pub maintenance_host_count: u64,
    pub nat_rule_count: u64,
    pub proxy_count: u64,
    pub running_task_count: u64,
}

/// An engine available on this machine (`GET /api/system/engine`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EngineEntry {
    pub key: String,
    pub name: String,
    pub description: String,
    pub enabled: bool,
    pub platform: Vec<String>,
    pub arch: Vec<String>,
    /// `qemu-system-x86_64 --version`'s number.
    pub version: Option<String>,
    /// `kvm` or `tcg` (decided by a timed KVM probe unless configured).
    pub accel: Option<String>,
    pub accel_detail: Option<String>,
    pub message: String,
}

/// An audit entry (`GET /api/system/logget`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuditEntry {
    pub id: String,
    pub at_ms: i64,
    pub actor: String,
    pub actor_id: Option<i64>,
    pub actions: String,
    pub hs_name: Option<String>,
    pub vm_uuid: Option<String>,
    pub success: bool,
    pub message: String,
}

/// A long operation (`GET /api/system/tasget`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TaskEntry {
    pub id: String,
    pub kind: String,
    pub hs_name: Option<String>,
    pub vm_uuid: Option<String>,
    pub actor: String,
    /// `running`, `succeeded`, `failed`.
    pub status: String,
    pub message: String,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    pub duration_ms: Option<i64>,
}

/// Filters of `logget` and `tasget`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct LogQuery {
    pub hs_name: Option<String>,
    pub vm_uuid: Option<String>,
    /// `logget`: username, `agent` or `system`.
    pub actor: Option<String>,
    /// `logget`: action (`vm.create`…); `tasget`: kind (`create`…).
    pub action: Option<String>,
    /// `tasget`: `running`, `succeeded`, `failed`.
    pub status: Option<String>,
    /// Default 100, at most 1000.
    pub limit: Option<i64>,
}

/// The whole inventory (`saving` answers it, `loader` takes it).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Inventory {
    /// Format version, 1.
    pub version: u32,
    pub hosts: Vec<InventoryHost>,
}

/// A host of an [`Inventory`] with its VMs.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InventoryHost {
    pub config: HostConfig,
    #[serde(default)]
    pub maintenance: bool,
    #[serde(default)]
    pub vms: Vec<InventoryVm>,
}

/// A VM of an [`Inventory`]: its configuration and the digest of its agent secret.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InventoryVm {
    pub config: VmConfig,
    /// Hex SHA-256 of the agent secret; a new secret is needed when empty.
    #[serde(default)]
    pub agent_secret_hash: String,
}

/// What `loader` did.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LoadResult {
    pub task_id: String,
    pub hosts: u64,
    pub vms: u64,
}

/// The answer to an agent report.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UploadAck {
    pub hs_name: String,
    pub vm_uuid: String,
}
