//! From the API's `VMConfig` to the engine's [`VmSpec`], and the checks on the way: names,
//! files inside the host's `images_path`, NICs, addresses, NAT rules, the guest's kernel
//! command line (`gantry.ip=… gantry.gw=… gantry.hostname=… gantry.agent=…`).

use std::net::Ipv4Addr;
use std::path::{Component, Path, PathBuf};

use gantry_vm_engine::engine::{parse_mac, validate_uuid};
use gantry_vm_engine::{KernelBoot, NatRule, NicSpec, NicType, Protocol, VmSpec};

use crate::error::{Result, invalid};
use crate::model::{HostConfig, NicConfig, PortData, VmConfig};

/// Kernel command line used when a kernel-booted VM names none.
const DEFAULT_CMDLINE: &str = "console=ttyS0 quiet panic=-1";
/// The command-line key that carries the agent secret.
const AGENT_KEY: &str = "gantry.agent=";

/// Checks a host or NIC name: `[A-Za-z0-9][A-Za-z0-9_.-]{0,63}`.
pub(crate) fn check_id(what: &str, id: &str) -> Result<()> {
    validate_uuid(id).or_else(|_| invalid(format!("bad {what} {id:?}: use [A-Za-z0-9][A-Za-z0-9_.-]{{0,63}}")))
}

/// Checks a display name: 1–128 printable characters.
pub(crate) fn check_name(name: &str) -> Result<()> {
    if name.trim().is_empty() || name.chars().count() > 128 || name.chars().any(char::is_control) {
        return invalid(format!("bad VM name {name:?}: 1 to 128 printable characters"));
    }
    Ok(())
}

/// A file named by a VM: relative to the host's `images_path`, never leaving it. Absolute
/// paths are accepted only for adopted VMs (`allow_absolute`).
pub(crate) fn resolve_file(host: &HostConfig, name: &str, allow_absolute: bool) -> Result<PathBuf> {
    let path = Path::new(name);
    if path.is_absolute() {
        return if allow_absolute {
            Ok(path.to_path_buf())
        } else {
            invalid(format!("{name:?} must be a file name in the host's images_path"))
        };
    }
    if host.images_path.is_empty() {
        return invalid(format!("{name:?}: the host has no images_path"));
    }
    if path.components().any(|c| !matches!(c, Component::Normal(_))) {
        return invalid(format!("{name:?} must stay inside the host's images_path"));
    }
    let full = Path::new(&host.images_path).join(path);
    if !full.is_file() {
        return invalid(format!("{name:?} does not exist in the host's images_path"));
    }
    Ok(full)
}

/// Parses a netmask (`255.255.255.0`, or a prefix length `24`); empty = /24.
pub(crate) fn parse_mask(mask: &str) -> Result<u8> {
    let mask = mask.trim().trim_start_matches('/');
    if mask.is_empty() {
        return Ok(24);
    }
    let prefix = if let Ok(n) = mask.parse::<u8>() {
        n
    } else {
        let m: Ipv4Addr = mask.parse().or_else(|_| invalid(format!("bad netmask {mask:?}")))?;
        let bits = u32::from(m);
        if bits.leading_ones() + bits.trailing_zeros() != 32 {
            return invalid(format!("netmask {mask} is not contiguous"));
        }
        bits.leading_ones() as u8
    };
    if !(1..=30).contains(&prefix) {
        return invalid(format!("netmask /{prefix} out of /1../30"));
    }
    Ok(prefix)
}

/// Formats a prefix length as a dotted netmask.
pub(crate) fn mask_of(prefix: u8) -> String {
    Ipv4Addr::from(u32::MAX << (32 - u32::from(prefix))).to_string()
}

/// A checked guest address: usable host address of its subnet, gateway inside the subnet.
pub(crate) fn check_address(address: &str, mask: &str, gateway: &str) -> Result<(Ipv4Addr, u8, Option<Ipv4Addr>)> {
    let ip: Ipv4Addr = address.trim().parse().or_else(|_| invalid(format!("invalid IPv4 address {address:?}")))?;
    if ip.is_unspecified() || ip.is_loopback() || ip.is_multicast() || ip.is_broadcast() || ip.is_link_local() {
        return invalid(format!("{ip} cannot be a guest address"));
    }
    let prefix = parse_mask(mask)?;
    let m = u32::MAX << (32 - u32::from(prefix));
    let net = u32::from(ip) & m;
    if u32::from(ip) == net || u32::from(ip) == net | !m {
        return invalid(format!("{ip} is the network or broadcast address of its /{prefix}"));
    }
    let gw = match gateway.trim() {
        "" => None,
        g => {
            let g: Ipv4Addr = g.parse().or_else(|_| invalid(format!("invalid gateway {g:?}")))?;
            if u32::from(g) & m != net || g == ip {
                return invalid(format!("gateway {g} must be another address of {ip}/{prefix}"));
            }
            Some(g)
        }
    };
    Ok((ip, prefix, gw))
}

/// The engine's NIC of an API NIC.
pub(crate) fn nic_spec(name: &str, nic: &NicConfig) -> Result<NicSpec> {
    if name.is_empty() || name.len() > 15 || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        return invalid(format!("bad NIC name {name:?}: 1 to 15 of [A-Za-z0-9_-]"));
    }
    match nic.nic_type.as_str() {
        "" | "nat" => {}
        "pub" => return invalid(format!("NIC {name}: public (bridged) NICs are not supported by the QEMU engine yet")),
        other => return invalid(format!("NIC {name}: unknown nic_type {other:?} (nat)")),
    }
    let mac_addr = match nic.mac_addr.trim() {
        "" => None,
        m => {
            parse_mac(m)?;
            Some(m.to_string())
        }
    };
    let mut spec = NicSpec {
        name: name.to_string(),
        nic_type: NicType::Nat,
        mac_addr,
        ip4_addr: None,
        prefix_len: 24,
        gateway: None,
    };
    if !nic.ip4_addr.trim().is_empty() {
        let (ip, prefix, gw) = check_address(&nic.ip4_addr, &nic.nic_mask, &nic.nic_gate)?;
        spec.ip4_addr = Some(ip);
        spec.prefix_len = prefix;
        spec.gateway = gw;
    } else if !nic.nic_gate.trim().is_empty() || !nic.nic_mask.trim().is_empty() {
        return invalid(format!("NIC {name}: nic_mask/nic_gate need an ip4_addr"));
    }
    Ok(spec)
}

/// The engine's NAT rule of an API rule.
pub(crate) fn nat_rule(p: &PortData) -> Result<NatRule> {
    let protocol = Protocol::parse(&p.protocol)?;
    if p.lan_port == 0 {
        return invalid("lan_port must be 1..=65535");
    }
    let lan_addr = match p.lan_addr.trim() {
        "" => None,
        a => Some(a.parse().or_else(|_| invalid(format!("invalid lan_addr {a:?}")))?),
    };
    Ok(NatRule { protocol, wan_port: p.wan_port, lan_port: p.lan_port, lan_addr, nat_tips: p.nat_tips.clone() })
}

/// The API rule of an engine rule.
pub(crate) fn port_data(r: &NatRule) -> PortData {
    PortData {
        protocol: r.protocol.as_str().into(),
        wan_port: r.wan_port,
        lan_port: r.lan_port,
        lan_addr: r.lan_addr.map(|a| a.to_string()).unwrap_or_default(),
        nat_tips: r.nat_tips.clone(),
    }
}

/// The agent secret on an engine's command line, if any.
pub(crate) fn agent_of(spec: &VmSpec) -> Option<String> {
    let cmdline = &spec.boot.as_ref()?.cmdline;
    cmdline.split_whitespace().find_map(|t| t.strip_prefix(AGENT_KEY)).map(str::to_string)
}

/// The guest's command line: the VM's own, plus what Gantry tells the guest (unless the VM's
/// line already says it): the first NIC's address, a host name from the VM name, the agent
/// secret.
fn guest_cmdline(cfg: &VmConfig, nics: &[NicSpec], agent: Option<&str>) -> String {
    let base = if cfg.cmdline.trim().is_empty() { DEFAULT_CMDLINE } else { cfg.cmdline.trim() };
    let mut parts: Vec<String> =
        base.split_whitespace().filter(|t| !t.starts_with(AGENT_KEY)).map(str::to_string).collect();
    let has = |parts: &[String], key: &str| parts.iter().any(|t| t.starts_with(key));
    // The guest configures its first interface from these (further NICs are the guest's own
    // business); without an address the engine's default (10.0.2.15/24) and the guest's agree.
    if !has(&parts, "gantry.ip=")
        && let Some(nic) = nics.first().filter(|n| n.ip4_addr.is_some())
    {
        let (ip, _, gw) = nic.addressing();
        parts.push(format!("gantry.ip={ip}/{}", nic.prefix_len));
        parts.push(format!("gantry.gw={gw}"));
    }
    if !has(&parts, "gantry.hostname=") {
        parts.push(format!("gantry.hostname={}", hostname(cfg)));
    }
    if let Some(secret) = agent {
        parts.push(format!("{AGENT_KEY}{secret}"));
    }
    parts.join(" ")
}

/// A host name for the guest made of the VM name.
fn hostname(cfg: &VmConfig) -> String {
    let h: String = cfg
        .vm_name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' { c.to_ascii_lowercase() } else { '-' })
        .take(63)
        .collect();
    let h = h.trim_matches('-').to_string();
    if h.is_empty() { cfg.vm_uuid.to_ascii_lowercase() } else { h }
}

/// The engine spec of a VM. `adopted` VMs may name absolute files.
pub(crate) fn to_spec(host: &HostConfig, cfg: &VmConfig, agent: Option<&str>, adopted: bool) -> Result<VmSpec> {
    check_id("VM id", &cfg.vm_uuid)?;
    check_name(&cfg.vm_name)?;
    let nics = cfg.nic_all.iter().map(|(name, nic)| nic_spec(name, nic)).collect::<Result<Vec<_>>>()?;
    if nics.is_empty() {
        return invalid("a VM needs at least one NIC");
    }
    let mut spec = VmSpec::new(&cfg.vm_uuid, &cfg.vm_name, cfg.cpu_num, cfg.mem_num);
    spec.hdd_num = cfg.hdd_num;
    if !cfg.os_name.is_empty() {
        spec.os_image = Some(resolve_file(host, &cfg.os_name, adopted)?);
    }
    if cfg.kernel.is_empty() {
        if !cfg.initrd.is_empty() || !cfg.cmdline.is_empty() {
            return invalid("initrd and cmdline need a kernel");
        }
    } else {
        let initrd = if cfg.initrd.is_empty() { None } else { Some(resolve_file(host, &cfg.initrd, adopted)?) };
        spec.boot = Some(KernelBoot {
            kernel: resolve_file(host, &cfg.kernel, adopted)?,
            initrd,
            cmdline: guest_cmdline(cfg, &nics, agent),
        });
    }
    // A VM found on a host (adopted) is taken as it is; one made through the API must boot.
    if !adopted && spec.os_image.is_none() && spec.boot.is_none() {
        return invalid("the VM has nothing to boot: give it a disk image (os_name) or a kernel");
    }
    spec.nics = nics;
    spec.nat = cfg.nat_all.iter().map(nat_rule).collect::<Result<Vec<_>>>()?;
    spec.validate()?;
    Ok(spec)
}

/// The API view of an engine spec found on a host (for `scaner`).
pub(crate) fn from_spec(spec: &VmSpec) -> VmConfig {
    let file = |p: &Path| p.to_string_lossy().into_owned();
    VmConfig {
        vm_uuid: spec.uuid.clone(),
        vm_name: spec.name.clone(),
        cpu_num: spec.cpu_num,
        mem_num: spec.mem_num,
        hdd_num: spec.hdd_num,
        os_name: spec.os_image.as_deref().map(file).unwrap_or_default(),
        kernel: spec.boot.as_ref().map(|b| file(&b.kernel)).unwrap_or_default(),
        initrd: spec.boot.as_ref().and_then(|b| b.initrd.as_deref().map(file)).unwrap_or_default(),
        cmdline: spec.boot.as_ref().map(|b| b.cmdline.clone()).unwrap_or_default(),
        nic_all: spec
            .nics
            .iter()
            .map(|n| {
                // QEMU's default user network (guest 10.0.2.15/24 via .2) is no chosen address.
                let default =
                    n.ip4_addr == Some(Ipv4Addr::new(10, 0, 2, 15)) && n.prefix_len == 24 && n.gateway.is_none();
                let n = if default { NicSpec { ip4_addr: None, ..n.clone() } } else { n.clone() };
                let nic = NicConfig {
                    mac_addr: n.mac_addr.clone().unwrap_or_default(),
                    nic_type: "nat".into(),
                    ip4_addr: n.ip4_addr.map(|a| a.to_string()).unwrap_or_default(),
                    nic_mask: if n.ip4_addr.is_some() { mask_of(n.prefix_len) } else { String::new() },
                    nic_gate: n.gateway.map(|g| g.to_string()).unwrap_or_default(),
                    kept: Default::default(),
                };
                (n.name.clone(), nic)
            })
            .collect(),
        nat_all: spec.nat.iter().map(port_data).collect(),
        web_all: Vec::new(),
        kept: Default::default(),
    }
}

/// The guest address NAT rules and proxies reach a NIC at.
pub(crate) fn nic_address(spec: &NicSpec) -> Ipv4Addr {
    spec.addressing().0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(images: &Path) -> HostConfig {
        serde_json::from_value(serde_json::json!({"hs_name": "h", "images_path": images})).unwrap()
    }

    #[test]
    fn masks_and_addresses() {
        assert_eq!(parse_mask("").unwrap(), 24);
        assert_eq!(parse_mask("255.255.0.0").unwrap(), 16);
        assert_eq!(parse_mask("/20").unwrap(), 20);
        assert!(parse_mask("255.0.255.0").is_err());
        assert!(parse_mask("31").is_err());
        assert_eq!(mask_of(24), "255.255.255.0");
        assert!(check_address("10.1.2.3", "", "10.1.2.1").is_ok());
        assert!(check_address("10.1.2.0", "", "").is_err());
        assert!(check_address("10.1.2.255", "", "").is_err());
        assert!(check_address("10.1.2.300", "", "").is_err());
        assert!(check_address("127.0.0.5", "", "").is_err());
        assert!(check_address("10.1.2.3", "", "10.9.9.1").is_err());
    }

    #[test]
    fn files_stay_in_images_path() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("k"), b"x").unwrap();
        let h = host(dir.path());
        assert!(resolve_file(&h, "k", false).is_ok());
        assert!(resolve_file(&h, "../k", false).is_err());
        assert!(resolve_file(&h, "/etc/passwd", false).is_err());
        assert!(resolve_file(&h, "missing", false).is_err());
    }

    #[test]
    fn builds_the_guest_command_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("k"), b"x").unwrap();
        let h = host(dir.path());
        let mut cfg: VmConfig = serde_json::from_value(serde_json::json!({
            "vm_uuid": "v1", "vm_name": "Web One", "kernel": "k",
            "nic_all": {"nic0": {"ip4_addr": "10.0.2.20"}}
        }))
        .unwrap();
        let spec = to_spec(&h, &cfg, Some("s3cret"), false).unwrap();
        let line = &spec.boot.as_ref().unwrap().cmdline;
        assert_eq!(
            line,
            "console=ttyS0 quiet panic=-1 gantry.ip=10.0.2.20/24 gantry.gw=10.0.2.2 gantry.hostname=web-one gantry.agent=s3cret"
        );
        assert_eq!(agent_of(&spec).as_deref(), Some("s3cret"));
        cfg.cmdline = line.clone();
        let again = to_spec(&h, &cfg, Some("new"), true).unwrap();
        assert!(again.boot.unwrap().cmdline.ends_with("gantry.hostname=web-one gantry.agent=new"));
        let back = from_spec(&spec);
        assert_eq!(back.nic_all["nic0"].ip4_addr, "10.0.2.20");
    }
}
