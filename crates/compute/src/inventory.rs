//! System routes: inventory export/import (`saving`/`loader`), counts (`statis`), engines
//! (`engine`), the audit log (`logget`) and task records (`tasget`).

use std::collections::BTreeSet;

use crate::repo::compute_log::{self, AuditFilter, TaskFilter, task_status};
use crate::repo::hosts::{self as host_repo, HostRecord};
use crate::repo::vms::VmRecord;
use gantry_vm_engine::{QemuEngine, VmPower};

use crate::Compute;
use crate::agent::new_secret;
use crate::error::{ComputeError, Result, invalid};
use crate::journal::Target;
use crate::model::{
    Actor, AuditEntry, EngineEntry, HostConfig, Inventory, InventoryHost, InventoryVm, LoadResult, LogQuery, Statis,
    TaskEntry,
};
use crate::spec::to_spec;

impl Compute {
    /// The whole inventory: hosts, VMs, their NAT rules, addresses and proxies.
    pub async fn saving(&self, actor: &Actor) -> Result<Inventory> {
        self.audited(actor, "system.saving", Target::system(), async {
            let mut hosts = Vec::new();
            for r in host_repo::list(self.db()).await? {
                let vms = self
                    .all_vms(Some(&r.name))
                    .await?
                    .into_iter()
                    .map(|e| InventoryVm { config: e.config, agent_secret_hash: e.record.agent_secret_hash })
                    .collect();
                hosts.push(InventoryHost { config: serde_json::from_str(&r.config)?, maintenance: r.maintenance, vms });
            }
            Ok(Inventory { version: 1, hosts })
        })
        .await
    }

    /// Imports an inventory: every host and VM is checked first, then all are written in one
    /// transaction (existing ones replaced). VM files are not created: a VM whose files are
    /// missing on its host is reported `UNKNOWN` until they are restored.
    pub async fn loader(&self, actor: &Actor, inv: Inventory) -> Result<LoadResult> {
        let target = Target::system();
        let op = self.tracked(actor, "loader", target, |task_id| async move {
            let _w = self.inner.write.lock().await;
            if inv.version != 1 {
                return invalid(format!("inventory version {} (expected 1)", inv.version));
            }
            let now = self.now();
            let mut hosts = Vec::new();
            let mut vms = Vec::new();
            let mut names = BTreeSet::new();
            let mut addresses = BTreeSet::new();
            let mut domains = BTreeSet::new();
            for h in inv.hosts {
                let config = self.normalize_host(h.config)?;
                if !names.insert(config.hs_name.clone()) {
                    return invalid(format!("host {} appears twice", config.hs_name));
                }
                let mut vm_ids = BTreeSet::new();
                let mut vm_names = BTreeSet::new();
                let mut ports = BTreeSet::new();
                for v in h.vms {
                    let c = v.config;
                    let at =
                        |e: ComputeError| ComputeError::Invalid(format!("VM {} on {}: {e}", c.vm_uuid, config.hs_name));
                    to_spec(&config, &c, None, true).map_err(at)?;
                    if !vm_ids.insert(c.vm_uuid.clone()) || !vm_names.insert(c.vm_name.clone()) {
                        return invalid(format!("VM {} or its name appears twice on {}", c.vm_uuid, config.hs_name));
                    }
                    for n in c.nic_all.values().filter(|n| !n.ip4_addr.is_empty()) {
                        if !addresses.insert(n.ip4_addr.clone()) {
                            return invalid(format!("address {} appears twice", n.ip4_addr));
                        }
                    }
                    for r in &c.nat_all {
                        if !(config.ports_start..=config.ports_close).contains(&r.wan_port)
                            || !ports.insert((r.protocol.clone(), r.wan_port))
                        {
                            return invalid(format!("VM {}: port {} is out of range or taken", c.vm_uuid, r.wan_port));
                        }
                    }
                    for w in &c.web_all {
                        if !domains.insert((w.web_addr.clone(), w.web_path.clone())) {
                            return invalid(format!("proxy {}{} appears twice", w.web_addr, w.web_path));
                        }
                    }
                    let hash = if v.agent_secret_hash.is_empty() { new_secret().1 } else { v.agent_secret_hash };
                    vms.push(VmRecord {
                        host: config.hs_name.clone(),
                        vm_uuid: c.vm_uuid.clone(),
                        name: c.vm_name.clone(),
                        config: serde_json::to_string(&c)?,
                        agent_secret_hash: hash,
                        last_report: None,
                        reported_at: None,
                        created_at: now,
                        updated_at: now,
                    });
                }
                hosts.push(HostRecord {
                    name: config.hs_name.clone(),
                    server_type: config.server_type.clone(),
                    config: serde_json::to_string(&config)?,
                    maintenance: h.maintenance,
                    created_at: now,
                    updated_at: now,
                });
            }
            self.check_import_against_store(&vms).await?;
            let mut rebuild = Vec::new();
            for h in &hosts {
                let config: HostConfig = serde_json::from_str(&h.config)?;
                let before = match host_repo::get(self.db(), &h.name).await? {
                    Some(old) => Some(serde_json::from_str::<HostConfig>(&old.config)?),
                    None => None,
                };
                if before.is_none_or(|old| engine_fields(&old) != engine_fields(&config))
                    || self.engine(&h.name).await.is_err()
                {
                    rebuild.push((h.name.clone(), self.inner.settings.engine(&config)?));
                }
            }
            host_repo::import(self.db(), &hosts, &vms).await?;
            for h in &hosts {
                host_repo::set_machine(self.db(), &h.name, &self.inner.machine).await?;
            }
            for (name, engine) in rebuild {
                self.set_engine(&name, Some(engine.clone()));
                self.watch(&name, engine);
            }
            self.reload_proxies().await?;
            Ok(LoadResult { task_id, hosts: hosts.len() as u64, vms: vms.len() as u64 })
        });
        self.audited(actor, "system.loader", target, op).await
    }

    /// Refuses an import whose addresses or domains collide with stored VMs it does not replace.
    async fn check_import_against_store(&self, vms: &[VmRecord]) -> Result<()> {
        let replaced: BTreeSet<(&str, &str)> = vms.iter().map(|v| (v.host.as_str(), v.vm_uuid.as_str())).collect();
        let imported: Vec<crate::model::VmConfig> =
            vms.iter().map(|v| serde_json::from_str(&v.config)).collect::<Result<_, _>>()?;
        for other in self.all_vms(None).await? {
            if replaced.contains(&(other.record.host.as_str(), other.record.vm_uuid.as_str())) {
                continue;
            }
            for c in &imported {
                for n in c.nic_all.values().filter(|n| !n.ip4_addr.is_empty()) {
                    if other.config.nic_all.values().any(|o| o.ip4_addr == n.ip4_addr) {
                        return invalid(format!("address {} is in use by VM {}", n.ip4_addr, other.record.vm_uuid));
                    }
                }
                if c.web_all
                    .iter()
                    .any(|w| other.config.web_all.iter().any(|o| o.web_addr == w.web_addr && o.web_path == w.web_path))
                {
                    return invalid(format!("a proxy domain is in use by VM {}", other.record.vm_uuid));
                }
            }
        }
        Ok(())
    }

    /// Counts of hosts, VMs, running VMs, rules and running tasks.
    pub async fn statis(&self) -> Result<Statis> {
        let hosts = host_repo::list(self.db()).await?;
        let vms = self.all_vms(None).await?;
        let mut running = 0;
        for vm in &vms {
            if self.power_of(&vm.record.host, &vm.record.vm_uuid).await == VmPower::Started {
                running += 1;
            }
        }
        let filter = TaskFilter { status: Some(task_status::RUNNING.into()), limit: 1000, ..TaskFilter::default() };
        Ok(Statis {
            host_count: hosts.len() as u64,
            vm_count: vms.len() as u64,
            running_vm_count: running,
            maintenance_host_count: hosts.iter().filter(|h| h.maintenance).count() as u64,
            nat_rule_count: vms.iter().map(|v| v.config.nat_all.len() as u64).sum(),
            proxy_count: vms.iter().map(|v| v.config.web_all.len() as u64).sum(),
            running_task_count: compute_log::tasks(self.db(), &filter).await?.len() as u64,
        })
    }

    /// The engines available on this machine, with versions and the accelerator VMs get.
    pub async fn engines(&self) -> Result<Vec<EngineEntry>> {
        let s = &self.inner.settings;
        let probe = HostConfig {
            hs_name: "engine-probe".into(),
            server_type: gantry_vm_engine::qemu::ENGINE_KEY.into(),
            server_addr: "local".into(),
            filter_name: String::new(),
            images_path: String::new(),
            system_path: s.storage_root.to_string_lossy().into_owned(),
            backup_path: String::new(),
            ports_start: s.default_ports.0,
            ports_close: s.default_ports.1,
            nat_bind: s.nat_bind.to_string(),
            public_addr: Vec::new(),
            extend_data: serde_json::json!({}),
            kept: Default::default(),
        };
        let cfg = s.qemu_config(&probe)?;
        let version = gantry_vm_engine::host::qemu_version(&cfg.qemu_binary).await.ok();
        let engine = QemuEngine::new(cfg)?;
        let info = engine.info();
        let accel = if info.enabled { engine.accel().await.ok() } else { None };
        Ok(vec![EngineEntry {
            key: info.key,
            name: info.name,
            description: info.description,
            enabled: info.enabled,
            platform: info.platform,
            arch: info.arch,
            version,
            accel: accel.as_ref().map(|a| a.accel.as_str().to_string()),
            accel_detail: accel.map(|a| a.detail),
            message: info.message,
        }])
    }

    /// Audit entries, newest first.
    pub async fn logs(&self, q: LogQuery) -> Result<Vec<AuditEntry>> {
        let f = AuditFilter {
            host: q.hs_name,
            vm_uuid: q.vm_uuid,
            actor: q.actor,
            action: q.action,
            limit: q.limit.unwrap_or(100),
        };
        Ok(compute_log::audits(self.db(), &f)
            .await?
            .into_iter()
            .map(|a| AuditEntry {
                id: a.id,
                at_ms: a.at_ms,
                actor: a.actor,
                actor_id: a.actor_id,
                actions: a.action,
                hs_name: a.host,
                vm_uuid: a.vm_uuid,
                success: a.success,
                message: a.message,
            })
            .collect())
    }

    /// Task records, newest first.
    pub async fn tasks(&self, q: LogQuery) -> Result<Vec<TaskEntry>> {
        let f = TaskFilter {
            host: q.hs_name,
            vm_uuid: q.vm_uuid,
            status: q.status,
            kind: q.action,
            limit: q.limit.unwrap_or(100),
        };
        Ok(compute_log::tasks(self.db(), &f)
            .await?
            .into_iter()
            .map(|t| TaskEntry {
                duration_ms: t.finished_at.map(|f| f - t.started_at),
                id: t.id,
                kind: t.kind,
                hs_name: t.host,
                vm_uuid: t.vm_uuid,
                actor: t.actor,
                status: t.status,
                message: t.message,
                started_at: t.started_at,
                finished_at: t.finished_at,
            })
            .collect())
    }
}

/// What a host's engine is built from: an engine is rebuilt only when one of these changes.
fn engine_fields(c: &HostConfig) -> (&str, u16, u16, &str) {
    (&c.system_path, c.ports_start, c.ports_close, &c.nat_bind)
}
