//! A VM's network: NAT rules (`natget/natadd/natdel`), addresses (`iplist/ipadd_/ipdel_`) and
//! reverse-proxy routes (`pxyget/pxyadd/pxydel`). Everything is checked against every VM's
//! records before the engine is touched; the engine's change is undone when storing fails.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use crate::repo::vms::VmRecord;
use gantry_vm_engine::{EngineError, NatRule, PortRange, Protocol, ProxyRoute, VmPower};

use crate::Compute;
use crate::error::{ComputeError, Result, invalid};
use crate::hosts::HostEntry;
use crate::journal::Target;
use crate::model::{Actor, HostConfig, IpAdd, IpChanged, IpEntry, NicConfig, PortData, VmConfig, WebProxy};
use crate::settings::host_bind;
use crate::spec::{check_address, mask_of, nat_rule, nic_address, nic_spec, port_data};
use crate::vms::VmEntry;

impl Compute {
    /// Checks rules against the host's range and every forward of its VMs.
    pub(crate) async fn check_nat(&self, hs_name: &str, host: &HostConfig, rules: &[NatRule]) -> Result<()> {
        let range = PortRange::new(host.ports_start, host.ports_close)?;
        let mut used: BTreeSet<(Protocol, u16)> = BTreeSet::new();
        for vm in self.all_vms(Some(hs_name)).await? {
            for r in &vm.config.nat_all {
                used.insert((Protocol::parse(&r.protocol)?, r.wan_port));
            }
        }
        for r in rules.iter().filter(|r| r.wan_port != 0) {
            if !range.contains(r.wan_port) {
                return invalid(format!(
                    "port {} is outside the host's NAT range {}-{}",
                    r.wan_port, range.start, range.end
                ));
            }
            if !used.insert((r.protocol, r.wan_port)) {
                return Err(ComputeError::Conflict(format!("{} port {} is already forwarded", r.protocol, r.wan_port)));
            }
        }
        Ok(())
    }

    /// The VM's NAT rules.
    pub async fn nat_list(&self, hs_name: &str, vm_uuid: &str) -> Result<Vec<PortData>> {
        Ok(self.load_vm(hs_name, vm_uuid).await?.config.nat_all)
    }

    /// Adds a forward, applied at once when the VM runs and on every start.
    pub async fn nat_add(&self, actor: &Actor, hs_name: &str, vm_uuid: &str, rule: PortData) -> Result<PortData> {
        self.audited(actor, "nat.add", Target::vm(hs_name, vm_uuid), async {
            let _w = self.inner.write.lock().await;
            let host = self.load_host(hs_name).await?;
            let mut e = self.load_vm(hs_name, vm_uuid).await?;
            self.add_forward(&host, &mut e, nat_rule(&rule)?).await
        })
        .await
    }

    /// Checks, applies and stores one forward; the caller holds the write lock.
    async fn add_forward(&self, host: &HostEntry, e: &mut VmEntry, rule: NatRule) -> Result<PortData> {
        let hs_name = &host.config.hs_name;
        self.check_nat(hs_name, &host.config, std::slice::from_ref(&rule)).await?;
        let engine = self.engine(hs_name).await?;
        let stored = engine.nat_add(&e.record.vm_uuid, rule).await?;
        let data = port_data(&stored);
        e.config.nat_all.push(data.clone());
        if let Err(err) = self.save_vm(e).await {
            self.undo(
                engine.nat_remove(&e.record.vm_uuid, stored.protocol, stored.wan_port).await,
                "remove the forward",
            );
            return Err(err);
        }
        Ok(data)
    }

    /// Removes the forward at `index` of `natget`'s list.
    pub async fn nat_delete(&self, actor: &Actor, hs_name: &str, vm_uuid: &str, index: usize) -> Result<PortData> {
        self.audited(actor, "nat.delete", Target::vm(hs_name, vm_uuid), async {
            let _w = self.inner.write.lock().await;
            let mut e = self.load_vm(hs_name, vm_uuid).await?;
            let rule = e
                .config
                .nat_all
                .get(index)
                .cloned()
                .ok_or_else(|| ComputeError::NotFound(format!("NAT rule {index} not found")))?;
            if let Some(p) = e.config.web_all.iter().find(|p| p.wan_port == rule.wan_port && rule.protocol == "tcp") {
                return invalid(format!("the reverse proxy for {} uses this forward: delete it first", p.web_addr));
            }
            self.remove_forward(&mut e, index).await?;
            Ok(rule)
        })
        .await
    }

    /// Removes and unstores one forward; the caller holds the write lock.
    async fn remove_forward(&self, e: &mut VmEntry, index: usize) -> Result<()> {
        let rule = nat_rule(&e.config.nat_all[index])?;
        let engine = self.engine(&e.record.host).await?;
        match engine.nat_remove(&e.record.vm_uuid, rule.protocol, rule.wan_port).await {
            Ok(_) | Err(EngineError::NotFound(_)) => {}
            Err(err) => return Err(err.into()),
        }
        e.config.nat_all.remove(index);
        if let Err(err) = self.save_vm(e).await {
            self.undo(engine.nat_add(&e.record.vm_uuid, rule).await, "restore the forward");
            return Err(err);
        }
        Ok(())
    }

    /// Refuses addresses of `cfg` that another VM (any host) already has.
    pub(crate) async fn check_addresses(&self, cfg: &VmConfig, except: Option<(&str, &str)>) -> Result<()> {
        let mine: Vec<&str> = cfg.nic_all.values().map(|n| n.ip4_addr.trim()).filter(|a| !a.is_empty()).collect();
        let distinct: BTreeSet<&str> = mine.iter().copied().collect();
        if distinct.len() != mine.len() {
            return invalid("two NICs of the VM have the same address");
        }
        for other in self.all_vms(None).await? {
            if except == Some((other.record.host.as_str(), other.record.vm_uuid.as_str())) {
                continue;
            }
            if let Some(a) = other.config.nic_all.values().map(|n| n.ip4_addr.trim()).find(|a| distinct.contains(a)) {
                return Err(ComputeError::Conflict(format!(
                    "address {a} is in use by VM {} on {}",
                    other.record.vm_uuid, other.record.host
                )));
            }
        }
        Ok(())
    }

    /// The VM's addresses, by NIC name; the index is `ipdel_`'s `ip_index`.
    pub async fn ip_list(&self, hs_name: &str, vm_uuid: &str) -> Result<Vec<IpEntry>> {
        Ok(ip_entries(&self.load_vm(hs_name, vm_uuid).await?.config))
    }

    /// Gives the VM an address (on the next boot when it runs): on its kernel command line
    /// (`gantry.ip=`) and as its NAT NIC's address.
    pub async fn ip_add(&self, actor: &Actor, hs_name: &str, vm_uuid: &str, req: IpAdd) -> Result<IpChanged> {
        self.audited(actor, "ip.add", Target::vm(hs_name, vm_uuid), async {
            if !matches!(req.kind.as_deref(), None | Some("ipv4")) {
                return invalid("only ipv4 addresses are supported");
            }
            let (ip, prefix, gw) = check_address(&req.address, &req.netmask, &req.gateway)?;
            let _w = self.inner.write.lock().await;
            let host = self.load_host(hs_name).await?;
            let e = self.load_vm(hs_name, vm_uuid).await?;
            let nic_name = match req.nic.trim() {
                "" => e
                    .config
                    .nic_all
                    .iter()
                    .find(|(_, n)| n.ip4_addr.is_empty())
                    .map(|(k, _)| k.clone())
                    .unwrap_or_else(|| format!("nic{}", e.config.nic_all.len())),
                n => n.to_string(),
            };
            if e.config.nic_all.get(&nic_name).is_some_and(|n| !n.ip4_addr.is_empty()) {
                return invalid(format!("NIC {nic_name} already has an address: delete it first"));
            }
            let nic = NicConfig {
                ip4_addr: ip.to_string(),
                nic_mask: mask_of(prefix),
                nic_gate: gw.map(|g| g.to_string()).unwrap_or_default(),
                ..e.config
                    .nic_all
                    .get(&nic_name)
                    .cloned()
                    .unwrap_or(NicConfig { nic_type: "nat".into(), ..NicConfig::default() })
            };
            self.change_nic(&host, e, &nic_name, nic).await
        })
        .await
    }

    /// Takes the address at `index` of `iplist` away (the NIC stays, with the engine's default).
    pub async fn ip_delete(&self, actor: &Actor, hs_name: &str, vm_uuid: &str, index: usize) -> Result<IpChanged> {
        self.ip_clear(actor, hs_name, vm_uuid, |entries| {
            entries.into_iter().nth(index).ok_or_else(|| ComputeError::NotFound(format!("IP {index} not found")))
        })
        .await
    }

    /// Takes NIC `nic`'s address away (the NIC stays, with the engine's default).
    pub async fn ip_delete_nic(&self, actor: &Actor, hs_name: &str, vm_uuid: &str, nic: &str) -> Result<IpChanged> {
        self.ip_clear(actor, hs_name, vm_uuid, |entries| {
            entries
                .into_iter()
                .find(|e| e.nic == nic)
                .ok_or_else(|| ComputeError::NotFound(format!("NIC {nic} has no address of its own")))
        })
        .await
    }

    async fn ip_clear(
        &self,
        actor: &Actor,
        hs_name: &str,
        vm_uuid: &str,
        pick: impl FnOnce(Vec<IpEntry>) -> Result<IpEntry>,
    ) -> Result<IpChanged> {
        self.audited(actor, "ip.delete", Target::vm(hs_name, vm_uuid), async {
            let _w = self.inner.write.lock().await;
            let host = self.load_host(hs_name).await?;
            let e = self.load_vm(hs_name, vm_uuid).await?;
            let entry = pick(ip_entries(&e.config))?;
            let nic = NicConfig {
                ip4_addr: String::new(),
                nic_mask: String::new(),
                nic_gate: String::new(),
                ..e.config.nic_all[&entry.nic].clone()
            };
            self.change_nic(&host, e, &entry.nic, nic).await
        })
        .await
    }

    /// Replaces one NIC, checks it, pushes the spec to the engine and stores it.
    async fn change_nic(&self, host: &HostEntry, mut e: VmEntry, name: &str, nic: NicConfig) -> Result<IpChanged> {
        if let Some(old) = e.config.nic_all.get(name) {
            let addr = nic_address(&nic_spec(name, old)?).to_string();
            if e.config.nat_all.iter().any(|r| r.lan_addr == addr) {
                return invalid(format!("NIC {name} has NAT rules: delete them before changing its address"));
            }
        }
        let old = e.config.clone();
        e.config.nic_all.insert(name.to_string(), nic);
        self.check_addresses(&e.config, Some((&e.record.host, &e.record.vm_uuid))).await?;
        self.apply(host, &e.config).await?;
        if let Err(err) = self.save_vm(&mut e).await {
            if let Err(undo) = self.apply(host, &old).await {
                tracing::error!(error = %undo, "rollback failed: could not restore the VM's NICs");
            }
            return Err(err);
        }
        let running = self.power_of(&e.record.host, &e.record.vm_uuid).await != VmPower::Stopped;
        Ok(IpChanged { ips: ip_entries(&e.config), pending: running })
    }

    /// The VM's reverse-proxy routes.
    pub async fn proxy_list(&self, hs_name: &str, vm_uuid: &str) -> Result<Vec<WebProxy>> {
        Ok(self.load_vm(hs_name, vm_uuid).await?.config.web_all)
    }

    /// Routes HTTP for a domain (and path prefix) to a VM port. Gantry reaches the VM through a
    /// NAT forward to that port: an existing one, or one made for the route.
    pub async fn proxy_add(&self, actor: &Actor, hs_name: &str, vm_uuid: &str, mut w: WebProxy) -> Result<WebProxy> {
        self.audited(actor, "proxy.add", Target::vm(hs_name, vm_uuid), async {
            w.web_addr = check_domain(&w.web_addr)?;
            w.web_path = check_prefix(&w.web_path)?;
            if w.lan_port == 0 {
                return invalid("lan_port must be 1..=65535");
            }
            if w.is_https {
                return invalid("is_https: TLS termination is not supported yet");
            }
            let _w = self.inner.write.lock().await;
            let host = self.load_host(hs_name).await?;
            let mut e = self.load_vm(hs_name, vm_uuid).await?;
            for other in self.all_vms(None).await? {
                if other.config.web_all.iter().any(|p| p.web_addr == w.web_addr && p.web_path == w.web_path) {
                    return Err(ComputeError::Conflict(format!(
                        "{}{} is already proxied (VM {})",
                        w.web_addr, w.web_path, other.record.vm_uuid
                    )));
                }
            }
            let (first, nic) =
                e.config.nic_all.iter().next().ok_or_else(|| ComputeError::Invalid("the VM has no NIC".into()))?;
            let addr = nic_address(&nic_spec(first, nic)?).to_string();
            let existing =
                e.config.nat_all.iter().find(|r| r.protocol == "tcp" && r.lan_port == w.lan_port && r.lan_addr == addr);
            w.id = self.inner.ids.random().simple().to_string();
            w.lan_addr = addr.clone();
            w.nat_auto = existing.is_none();
            let created = match existing {
                Some(r) => {
                    w.wan_port = r.wan_port;
                    None
                }
                None => {
                    let rule = NatRule {
                        protocol: Protocol::Tcp,
                        wan_port: 0,
                        lan_port: w.lan_port,
                        lan_addr: addr.parse().ok(),
                        nat_tips: format!("reverse proxy {}", w.web_addr),
                    };
                    let data = self.add_forward(&host, &mut e, rule).await?;
                    w.wan_port = data.wan_port;
                    Some(e.config.nat_all.len() - 1)
                }
            };
            e.config.web_all.push(w.clone());
            if let Err(err) = self.save_vm(&mut e).await {
                if let Some(index) = created {
                    e.config.web_all.pop();
                    if let Err(undo) = self.remove_forward(&mut e, index).await {
                        tracing::error!(error = %undo, "rollback failed: could not remove the proxy's forward");
                    }
                }
                return Err(err);
            }
            self.inner.proxies.upsert(route(&host.config, &w)?);
            Ok(w)
        })
        .await
    }

    /// Removes the route at `index` of `pxyget`'s list (and the forward made for it).
    pub async fn proxy_delete(&self, actor: &Actor, hs_name: &str, vm_uuid: &str, index: usize) -> Result<WebProxy> {
        self.audited(actor, "proxy.delete", Target::vm(hs_name, vm_uuid), async {
            let _w = self.inner.write.lock().await;
            let mut e = self.load_vm(hs_name, vm_uuid).await?;
            if index >= e.config.web_all.len() {
                return Err(ComputeError::NotFound(format!("proxy {index} not found")));
            }
            let w = e.config.web_all.remove(index);
            let shared = e.config.web_all.iter().any(|p| p.wan_port == w.wan_port);
            let forward = e.config.nat_all.iter().position(|r| r.protocol == "tcp" && r.wan_port == w.wan_port);
            match forward {
                Some(i) if w.nat_auto && !shared => self.remove_forward(&mut e, i).await?,
                _ => self.save_vm(&mut e).await?,
            }
            self.inner.proxies.remove(&w.id);
            Ok(w)
        })
        .await
    }

    /// Takes a deleted VM's routes out of the proxy table.
    pub(crate) fn drop_proxies(&self, vm: &VmRecord) -> Result<()> {
        let cfg: VmConfig = serde_json::from_str(&vm.config)?;
        for w in &cfg.web_all {
            self.inner.proxies.remove(&w.id);
        }
        Ok(())
    }

    /// Loads every VM's routes into the proxy table.
    pub(crate) async fn reload_proxies(&self) -> Result<()> {
        let mut routes = Vec::new();
        for host in crate::repo::hosts::list(self.db()).await? {
            let config: HostConfig = serde_json::from_str(&host.config)?;
            for vm in self.all_vms(Some(&host.name)).await? {
                for w in &vm.config.web_all {
                    routes.push(route(&config, w)?);
                }
            }
        }
        tracing::info!(routes = routes.len(), "reverse-proxy routes loaded");
        self.inner.proxies.replace_all(routes);
        Ok(())
    }
}

/// The proxy table's entry of a route: the forward's host port on the address Gantry reaches
/// the host's forwards at.
fn route(host: &HostConfig, w: &WebProxy) -> Result<ProxyRoute> {
    let bind = host_bind(host)?;
    let ip = if bind.is_unspecified() { Ipv4Addr::LOCALHOST } else { bind };
    Ok(ProxyRoute {
        id: w.id.clone(),
        domain: w.web_addr.clone(),
        path_prefix: w.web_path.clone(),
        target: SocketAddr::new(IpAddr::V4(ip), w.wan_port),
    })
}

fn ip_entries(cfg: &VmConfig) -> Vec<IpEntry> {
    cfg.nic_all
        .iter()
        .filter(|(_, n)| !n.ip4_addr.is_empty())
        .map(|(name, n)| IpEntry {
            nic: name.clone(),
            address: n.ip4_addr.clone(),
            netmask: n.nic_mask.clone(),
            gateway: nic_spec(name, n).map(|s| s.addressing().2.to_string()).unwrap_or_default(),
            mac_addr: n.mac_addr.clone(),
        })
        .collect()
}

/// A domain name, lower-cased: dot-separated labels of `[a-z0-9-]`, no port.
fn check_domain(domain: &str) -> Result<String> {
    let d = domain.trim().trim_end_matches('.').to_ascii_lowercase();
    let ok = !d.is_empty()
        && d.len() <= 253
        && d.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if ok { Ok(d) } else { invalid(format!("bad domain {domain:?}")) }
}

/// A path prefix: empty or `/…` without spaces, stored without a trailing `/`.
fn check_prefix(prefix: &str) -> Result<String> {
    let p = prefix.trim();
    if p.is_empty() || p == "/" {
        return Ok(String::new());
    }
    if !p.starts_with('/') || p.chars().any(|c| c.is_whitespace() || c == '?' || c == '#') {
        return invalid(format!("bad path prefix {prefix:?}: it starts with / and has no spaces, ? or #"));
    }
    Ok(p.trim_end_matches('/').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_and_prefixes() {
        assert_eq!(check_domain("App.Example.COM.").unwrap(), "app.example.com");
        assert!(check_domain("a..b").is_err());
        assert!(check_domain("host:80").is_err());
        assert!(check_domain("-a.b").is_err());
        assert_eq!(check_prefix("/").unwrap(), "");
        assert_eq!(check_prefix("/app/").unwrap(), "/app");
        assert!(check_prefix("app").is_err());
        assert!(check_prefix("/a b").is_err());
    }
}
