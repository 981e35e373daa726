//! Hosts: create, update, delete, list, status and host-wide power actions.

use std::path::Path;

use crate::repo::hosts::{self as repo, HostRecord};
use crate::repo::vms as vm_repo;
use gantry_vm_engine::{PortRange, PowerAction, VmPower};

use crate::error::{ComputeError, Result, invalid};
use crate::journal::Target;
use crate::kept::{self, Record};
use crate::model::{
    Actor, HostConfig, HostPowerOutcome, HostPowerRequest, HostStatus, HostUpdate, HostView, VmActionResult,
};
use crate::settings::host_bind;
use crate::spec::check_id;
use crate::{Compute, settings};

/// A host as loaded from the store.
pub(crate) struct HostEntry {
    pub config: HostConfig,
    pub maintenance: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

impl HostEntry {
    fn from_record(r: &HostRecord) -> Result<HostEntry> {
        Ok(HostEntry {
            config: serde_json::from_str(&r.config)?,
            maintenance: r.maintenance,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }

    fn record(&self) -> Result<HostRecord> {
        Ok(HostRecord {
            name: self.config.hs_name.clone(),
            server_type: self.config.server_type.clone(),
            config: serde_json::to_string(&self.config)?,
            maintenance: self.maintenance,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

impl Compute {
    /// Fills in a host's defaults and checks it.
    pub(crate) fn normalize_host(&self, mut c: HostConfig) -> Result<HostConfig> {
        check_id("host name", &c.hs_name)?;
        if c.server_type != gantry_vm_engine::qemu::ENGINE_KEY {
            return invalid(format!("server_type {:?}: only QEMUServer is available", c.server_type));
        }
        match c.server_addr.trim() {
            "" | "local" | "localhost" | "127.0.0.1" | "::1" => c.server_addr = "local".into(),
            other => return invalid(format!("server_addr {other:?}: remote host agents are not supported yet")),
        }
        let s = &self.inner.settings;
        if c.system_path.trim().is_empty() {
            c.system_path = s.storage_root.join(&c.hs_name).to_string_lossy().into_owned();
        }
        for (what, p) in
            [("system_path", &c.system_path), ("images_path", &c.images_path), ("backup_path", &c.backup_path)]
        {
            if !p.is_empty() && !Path::new(p).is_absolute() {
                return invalid(format!("{what} {p:?} must be an absolute path"));
            }
        }
        if c.system_path.contains(',') {
            return invalid("system_path must not contain commas");
        }
        if c.ports_start == 0 && c.ports_close == 0 {
            (c.ports_start, c.ports_close) = s.default_ports;
        }
        PortRange::new(c.ports_start, c.ports_close)?;
        if c.nat_bind.trim().is_empty() {
            c.nat_bind = s.nat_bind.to_string();
        }
        host_bind(&c)?;
        if c.extend_data.is_null() {
            c.extend_data = serde_json::json!({});
        }
        Ok(c)
    }

    pub(crate) async fn load_host(&self, hs_name: &str) -> Result<HostEntry> {
        let record = repo::get(self.db(), hs_name)
            .await?
            .ok_or_else(|| ComputeError::NotFound(format!("host {hs_name} not found")))?;
        HostEntry::from_record(&record)
    }

    async fn host_view(&self, h: HostEntry) -> Result<HostView> {
        let vm_count = vm_repo::list(self.db(), Some(&h.config.hs_name)).await?.len() as u64;
        Ok(HostView {
            no_effect: h.config.kept.keys().cloned().collect(),
            config: h.config,
            maintenance: h.maintenance,
            vm_count,
            created_at: h.created_at,
            updated_at: h.updated_at,
        })
    }

    /// Every host.
    pub async fn host_list(&self) -> Result<Vec<HostView>> {
        let mut out = Vec::new();
        for r in repo::list(self.db()).await? {
            out.push(self.host_view(HostEntry::from_record(&r)?).await?);
        }
        Ok(out)
    }

    /// One host.
    pub async fn host_detail(&self, hs_name: &str) -> Result<HostView> {
        let h = self.load_host(hs_name).await?;
        self.host_view(h).await
    }

    /// Adds a host and builds its engine.
    pub async fn host_create(&self, actor: &Actor, mut config: HostConfig) -> Result<HostView> {
        let name = config.hs_name.clone();
        self.audited(actor, "host.create", Target::host(&name), async {
            let _w = self.inner.write.lock().await;
            let sent = kept::accept(Record::Host, &mut config.kept)?;
            let config = self.normalize_host(config)?;
            if repo::get(self.db(), &config.hs_name).await?.is_some() {
                return Err(ComputeError::Conflict(format!("host {} already exists", config.hs_name)));
            }
            let engine = self.inner.settings.engine(&config)?;
            let now = self.now();
            let entry = HostEntry { config, maintenance: false, created_at: now, updated_at: now };
            repo::create(self.db(), &entry.record()?).await?;
            repo::set_machine(self.db(), &name, &self.inner.machine).await?;
            self.set_engine(&name, Some(engine.clone()));
            self.watch(&name, engine);
            tracing::info!(host = %name, "host created");
            let mut view = self.host_view(entry).await?;
            view.no_effect = kept::union(view.no_effect, sent);
            Ok(view)
        })
        .await
    }

    /// Changes a host's settings (see [`HostUpdate`] for what may change when).
    pub async fn host_update(&self, actor: &Actor, hs_name: &str, u: HostUpdate) -> Result<HostView> {
        self.audited(actor, "host.update", Target::host(hs_name), async {
            self.local(hs_name).await?;
            let _w = self.inner.write.lock().await;
            let mut h = self.load_host(hs_name).await?;
            let old = h.config.clone();
            if u.server_type.as_ref().is_some_and(|t| *t != old.server_type) {
                return invalid(format!("server_type cannot change (the host's is {})", old.server_type));
            }
            let c = &mut h.config;
            macro_rules! set {
                ($($f:ident),*) => {$( if let Some(v) = u.$f { c.$f = v; } )*};
            }
            set!(
                server_addr,
                filter_name,
                images_path,
                system_path,
                backup_path,
                ports_start,
                ports_close,
                nat_bind,
                public_addr,
                extend_data
            );
            let sent = kept::merge(Record::Host, &mut c.kept, u.kept)?;
            let new = self.normalize_host(h.config.clone())?;
            let vms = vm_repo::list(self.db(), Some(hs_name)).await?;
            if new.system_path != old.system_path && !vms.is_empty() {
                return invalid("system_path cannot change while the host has VMs");
            }
            let engine_changes = new.system_path != old.system_path
                || (new.ports_start, new.ports_close) != (old.ports_start, old.ports_close)
                || new.nat_bind != old.nat_bind;
            if engine_changes {
                for vm in &vms {
                    if self.power_of(hs_name, &vm.vm_uuid).await == VmPower::Started {
                        return invalid(format!(
                            "VM {} runs: stop the host's VMs before changing its ports or paths",
                            vm.vm_uuid
                        ));
                    }
                }
                let range = PortRange::new(new.ports_start, new.ports_close)?;
                for vm in &vms {
                    let cfg: crate::model::VmConfig = serde_json::from_str(&vm.config)?;
                    if let Some(r) = cfg.nat_all.iter().find(|r| !range.contains(r.wan_port)) {
                        return invalid(format!(
                            "VM {} forwards port {} outside the new range",
                            vm.vm_uuid, r.wan_port
                        ));
                    }
                }
            }
            h.config = new;
            h.updated_at = self.now();
            let engine = if engine_changes { Some(self.inner.settings.engine(&h.config)?) } else { None };
            repo::update(self.db(), &h.record()?).await?;
            if let Some(engine) = engine {
                self.set_engine(hs_name, Some(engine.clone()));
                self.watch(hs_name, engine);
            }
            let mut view = self.host_view(h).await?;
            view.no_effect = kept::union(view.no_effect, sent);
            Ok(view)
        })
        .await
    }

    /// Removes a host. Refused while it has VMs unless `force`, which deletes them (stopped,
    /// files removed) first.
    pub async fn host_delete(&self, actor: &Actor, hs_name: &str, force: bool) -> Result<()> {
        self.audited(actor, "host.delete", Target::host(hs_name), async {
            let _w = self.inner.write.lock().await;
            self.load_host(hs_name).await?;
            let vms = vm_repo::list(self.db(), Some(hs_name)).await?;
            if !vms.is_empty() && !force {
                return invalid(format!("host {hs_name} has {} VMs: delete them first or pass force", vms.len()));
            }
            let engine = self.engine(hs_name).await?;
            for vm in &vms {
                engine.delete(&vm.vm_uuid).await.or_else(|e| match e {
                    gantry_vm_engine::EngineError::NotFound(_) => Ok(()),
                    e => Err(e),
                })?;
                self.drop_proxies(vm)?;
            }
            repo::delete(self.db(), hs_name, true).await?;
            self.set_engine(hs_name, None);
            Ok(())
        })
        .await
    }

    /// Host facts, VM counts and the engine's version.
    pub async fn host_status(&self, hs_name: &str) -> Result<HostStatus> {
        let h = self.load_host(hs_name).await?;
        let engine = self.engine(hs_name).await?;
        let facts = engine.host_facts().await?;
        let vms = vm_repo::list(self.db(), Some(hs_name)).await?;
        let mut running = 0;
        for vm in &vms {
            if self.power_of(hs_name, &vm.vm_uuid).await == VmPower::Started {
                running += 1;
            }
        }
        Ok(HostStatus {
            hs_name: hs_name.to_string(),
            maintenance: h.maintenance,
            hostname: facts.hostname,
            cpu_model: facts.cpu_model,
            cpu_total: facts.cpu_total,
            cpu_usage: facts.cpu_usage,
            mem_total: facts.mem_total_mib,
            mem_usage: facts.mem_total_mib.saturating_sub(facts.mem_free_mib),
            hdd_total: facts.hdd_total_mib,
            hdd_usage: facts.hdd_total_mib.saturating_sub(facts.hdd_free_mib),
            vm_count: vms.len() as u64,
            running_vm_count: running,
            engine: engine.info().key,
            engine_version: facts.qemu_version,
            accel: facts.accel.map(|a| a.accel.as_str().to_string()),
            kvm_device: facts.kvm_device,
        })
    }

    /// Host-wide actions: `start_all`, `stop_all`, `shutdown_all`, `maintenance_on|off`.
    pub async fn host_powers(&self, actor: &Actor, hs_name: &str, req: HostPowerRequest) -> Result<HostPowerOutcome> {
        let action = match (req.action.as_deref(), req.enable) {
            (Some(a), None) => a.to_string(),
            (None, Some(true)) => "maintenance_off".into(),
            (None, Some(false)) => "maintenance_on".into(),
            _ => return invalid("give either action or enable"),
        };
        let vm_action = match action.as_str() {
            "start_all" => Some(PowerAction::Start),
            "stop_all" => Some(PowerAction::Stop),
            "shutdown_all" => Some(PowerAction::Shutdown { timeout: None }),
            "maintenance_on" | "maintenance_off" => None,
            other => {
                return invalid(format!(
                    "unknown host action {other:?} (start_all, stop_all, shutdown_all, maintenance_on, maintenance_off)"
                ));
            }
        };
        let Some(vm_action) = vm_action else {
            let on = action == "maintenance_on";
            return self
                .audited(actor, &format!("host.{action}"), Target::host(hs_name), async {
                    let mut h = self.load_host(hs_name).await?;
                    h.maintenance = on;
                    h.updated_at = self.now();
                    repo::update(self.db(), &h.record()?).await?;
                    Ok(HostPowerOutcome { action: action.clone(), maintenance: on, results: Vec::new() })
                })
                .await;
        };
        let h = self.load_host(hs_name).await?;
        let mut results = Vec::new();
        for vm in vm_repo::list(self.db(), Some(hs_name)).await? {
            let power = self.power_of(hs_name, &vm.vm_uuid).await;
            let wanted = match vm_action {
                PowerAction::Start => power == VmPower::Stopped,
                _ => power != VmPower::Stopped,
            };
            if !wanted {
                continue;
            }
            let outcome = self.vm_power(actor, hs_name, &vm.vm_uuid, vm_action).await;
            results.push(VmActionResult {
                vm_uuid: vm.vm_uuid.clone(),
                success: outcome.is_ok(),
                message: outcome.err().map(|e| e.to_string()).unwrap_or_default(),
            });
        }
        Ok(HostPowerOutcome { action, maintenance: h.maintenance, results })
    }

    /// Builds the engines of every stored host.
    pub(crate) async fn build_engines(&self) -> Result<Vec<String>> {
        let mut names = Vec::new();
        repo::claim_unowned(self.db(), &self.inner.machine).await?;
        for r in repo::list_on(self.db(), &self.inner.machine).await? {
            let h = HostEntry::from_record(&r)?;
            match settings::Settings::engine(&self.inner.settings, &h.config) {
                Ok(engine) => {
                    self.set_engine(&r.name, Some(engine.clone()));
                    self.watch(&r.name, engine);
                    names.push(r.name);
                }
                Err(e) => tracing::error!(host = %r.name, error = %e, "cannot build the host's engine"),
            }
        }
        Ok(names)
    }
}
