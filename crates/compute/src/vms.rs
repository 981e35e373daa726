//! VMs: create, update, delete, list, power, status and scan-and-adopt.

use std::sync::{Arc, PoisonError};
use std::time::Duration;

use crate::repo::vms::{self as repo, VmRecord};
use gantry_vm_engine::{EngineError, PowerAction, VmEngine, VmPower, VmStatus};

use crate::Compute;
use crate::agent::new_secret;
use crate::error::{ComputeError, Result, invalid};
use crate::hosts::HostEntry;
use crate::journal::Target;
use crate::kept::{self, Record};
use crate::model::{
    Actor, AdoptedVm, CreatedVm, NicConfig, PowerResult, ScanResult, VmActionResult, VmConfig, VmStatusView, VmUpdate,
    VmUpdated, VmView,
};
use crate::spec::{self, agent_of, port_data, to_spec};

/// How long host facts are trusted for resource checks.
const FACTS_TTL_MS: i64 = 30_000;

/// A VM as loaded from the store.
pub(crate) struct VmEntry {
    pub record: VmRecord,
    pub config: VmConfig,
}

impl Compute {
    pub(crate) async fn load_vm(&self, hs_name: &str, vm_uuid: &str) -> Result<VmEntry> {
        let record = repo::get(self.db(), hs_name, vm_uuid)
            .await?
            .ok_or_else(|| ComputeError::NotFound(format!("VM {vm_uuid} not found on host {hs_name}")))?;
        let config = serde_json::from_str(&record.config)?;
        Ok(VmEntry { record, config })
    }

    /// Every VM of every host (or of one).
    pub(crate) async fn all_vms(&self, hs_name: Option<&str>) -> Result<Vec<VmEntry>> {
        repo::list(self.db(), hs_name)
            .await?
            .into_iter()
            .map(|record| Ok(VmEntry { config: serde_json::from_str(&record.config)?, record }))
            .collect()
    }

    /// Writes a changed VM record.
    pub(crate) async fn save_vm(&self, e: &mut VmEntry) -> Result<()> {
        e.record.name = e.config.vm_name.clone();
        e.record.config = serde_json::to_string(&e.config)?;
        e.record.updated_at = self.now();
        if !repo::update(self.db(), &e.record).await? {
            return Err(ComputeError::NotFound(format!("VM {} not found", e.record.vm_uuid)));
        }
        Ok(())
    }

    /// The VM's power state as its engine sees it (`UNKNOWN` when it cannot tell).
    pub(crate) async fn power_of(&self, hs_name: &str, vm_uuid: &str) -> VmPower {
        match self.engine(hs_name).await {
            Ok(engine) => engine.status(vm_uuid).await.map(|s| s.power).unwrap_or(VmPower::Unknown),
            Err(_) => VmPower::Unknown,
        }
    }

    async fn vm_view(&self, e: &VmEntry) -> VmView {
        let power = self.power_of(&e.record.host, &e.record.vm_uuid).await;
        VmView {
            hs_name: e.record.host.clone(),
            config: e.config.clone(),
            power: power.name().into(),
            power_code: power.code(),
            no_effect: kept::vm_names(&e.config),
            created_at: e.record.created_at,
            updated_at: e.record.updated_at,
        }
    }

    /// The VMs of a host.
    pub async fn vm_list(&self, hs_name: &str) -> Result<Vec<VmView>> {
        self.load_host(hs_name).await?;
        let mut out = Vec::new();
        for e in self.all_vms(Some(hs_name)).await? {
            out.push(self.vm_view(&e).await);
        }
        Ok(out)
    }

    /// One VM.
    pub async fn vm_detail(&self, hs_name: &str, vm_uuid: &str) -> Result<VmView> {
        let e = self.load_vm(hs_name, vm_uuid).await?;
        Ok(self.vm_view(&e).await)
    }

    /// The host's facts, read at most every [`FACTS_TTL_MS`].
    async fn facts(&self, hs_name: &str) -> Result<gantry_vm_engine::HostFacts> {
        let now = self.now();
        let cached = self.inner.facts.lock().unwrap_or_else(PoisonError::into_inner).get(hs_name).cloned();
        if let Some((at, facts)) = cached.filter(|(at, _)| now - at < FACTS_TTL_MS) {
            tracing::trace!(host = %hs_name, age_ms = now - at, "cached host facts");
            return Ok(facts);
        }
        let facts = self.engine(hs_name).await?.host_facts().await?;
        self.inner
            .facts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(hs_name.to_string(), (now, facts.clone()));
        Ok(facts)
    }

    /// Checks a VM's size against the host's CPUs, memory and free disk.
    async fn check_resources(&self, hs_name: &str, cfg: &VmConfig) -> Result<()> {
        let facts = self.facts(hs_name).await?;
        if cfg.cpu_num > facts.cpu_total {
            return invalid(format!("cpu_num {} is beyond the host's {} CPUs", cfg.cpu_num, facts.cpu_total));
        }
        if cfg.mem_num > facts.mem_total_mib {
            return invalid(format!("mem_num {} MiB is beyond the host's {} MiB", cfg.mem_num, facts.mem_total_mib));
        }
        if cfg.hdd_num > facts.hdd_free_mib {
            return invalid(format!(
                "hdd_num {} MiB is beyond the host's {} MiB free",
                cfg.hdd_num, facts.hdd_free_mib
            ));
        }
        Ok(())
    }

    /// Refuses a VM name or id already used on the host.
    async fn check_unique(&self, hs_name: &str, cfg: &VmConfig, except: Option<&str>) -> Result<()> {
        for other in repo::list(self.db(), Some(hs_name)).await? {
            if Some(other.vm_uuid.as_str()) == except {
                continue;
            }
            if other.vm_uuid == cfg.vm_uuid {
                return Err(ComputeError::Conflict(format!("VM id {} already exists on {hs_name}", cfg.vm_uuid)));
            }
            if other.name == cfg.vm_name {
                return Err(ComputeError::Conflict(format!("VM name {:?} already exists on {hs_name}", cfg.vm_name)));
            }
        }
        Ok(())
    }

    /// Creates a VM (its records and files; it is not started). The answer carries the agent
    /// secret, shown only here.
    pub async fn vm_create(&self, actor: &Actor, hs_name: &str, mut cfg: VmConfig) -> Result<CreatedVm> {
        if cfg.vm_uuid.is_empty() {
            cfg.vm_uuid = self.inner.ids.random().simple().to_string();
        }
        let id = cfg.vm_uuid.clone();
        let target = Target::vm(hs_name, &id);
        let vm_uuid = id.as_str();
        let op = self.tracked(actor, "create", target, |_| async move {
            let _w = self.inner.write.lock().await;
            let host = self.load_host(hs_name).await?;
            if host.maintenance {
                return invalid(format!("host {hs_name} is in maintenance"));
            }
            if cfg.vm_name.is_empty() {
                cfg.vm_name = cfg.vm_uuid.clone();
            }
            if cfg.nic_all.is_empty() {
                cfg.nic_all.insert("nic0".into(), NicConfig { nic_type: "nat".into(), ..NicConfig::default() });
            }
            if !cfg.web_all.is_empty() {
                return invalid("reverse-proxy routes are added with pxyadd, not at creation");
            }
            let no_effect = kept::accept_vm(&mut cfg)?;
            let (secret, hash) = new_secret();
            let spec = to_spec(&host.config, &cfg, Some(&secret), false)?;
            self.check_unique(hs_name, &cfg, None).await?;
            self.check_addresses(&cfg, None).await?;
            self.check_nat(hs_name, &host.config, &spec.nat).await?;
            self.check_resources(hs_name, &cfg).await?;
            let engine = self.engine(hs_name).await?;
            engine.create(spec).await?;
            let stored = engine.get(vm_uuid).await?;
            cfg.nat_all = stored.nat.iter().map(port_data).collect();
            let record = new_record(hs_name, &cfg, hash, self.now())?;
            if let Err(e) = repo::create(self.db(), &record).await {
                self.undo(engine.delete(vm_uuid).await, "delete the VM files");
                return Err(e.into());
            }
            tracing::info!(host = %hs_name, vm = %vm_uuid, "VM created");
            let entry = VmEntry { record, config: cfg };
            let mut vm = self.vm_view(&entry).await;
            vm.no_effect = kept::union(vm.no_effect, no_effect);
            Ok(CreatedVm { vm, agent_secret: secret })
        });
        self.audited(actor, "vm.create", target, op).await
    }

    /// Logs a failed undo step (the original error is what the caller sees).
    pub(crate) fn undo<T>(&self, result: gantry_vm_engine::Result<T>, what: &str) {
        if let Err(e) = result {
            tracing::error!(error = %e, "rollback failed: could not {what}");
        }
    }

    /// Pushes a VM's stored configuration to its engine (live where QEMU allows, else on the
    /// next boot).
    pub(crate) async fn apply(&self, host: &HostEntry, cfg: &VmConfig) -> Result<gantry_vm_engine::UpdateOutcome> {
        let engine = self.engine(&host.config.hs_name).await?;
        let current = engine.get(&cfg.vm_uuid).await?;
        let spec = to_spec(&host.config, cfg, agent_of(&current).as_deref(), true)?;
        Ok(engine.update(spec).await?)
    }

    /// Changes a VM.
    pub async fn vm_update(&self, actor: &Actor, hs_name: &str, vm_uuid: &str, u: VmUpdate) -> Result<VmUpdated> {
        self.audited(actor, "vm.update", Target::vm(hs_name, vm_uuid), async {
            let _w = self.inner.write.lock().await;
            let host = self.load_host(hs_name).await?;
            let mut e = self.load_vm(hs_name, vm_uuid).await?;
            let old = e.config.clone();
            let c = &mut e.config;
            macro_rules! set {
                ($($f:ident),*) => {$( if let Some(v) = u.$f { c.$f = v; } )*};
            }
            set!(vm_name, cpu_num, mem_num, hdd_num, kernel, initrd, cmdline);
            let no_effect = kept::merge(Record::Vm, &mut c.kept, u.kept)?;
            for (field, new, was) in [("kernel", &c.kernel, &old.kernel), ("initrd", &c.initrd, &old.initrd)] {
                if new != was && !new.is_empty() {
                    spec::resolve_file(&host.config, new, false)
                        .map_err(|e| ComputeError::Invalid(format!("{field}: {e}")))?;
                }
            }
            spec::check_name(&c.vm_name)?;
            self.check_unique(hs_name, c, Some(vm_uuid)).await?;
            if (c.cpu_num, c.mem_num, c.hdd_num) != (old.cpu_num, old.mem_num, old.hdd_num) {
                self.check_resources(hs_name, c).await?;
            }
            let outcome = self.apply(&host, &e.config).await?;
            if let Err(err) = self.save_vm(&mut e).await {
                if let Err(undo) = self.apply(&host, &old).await {
                    tracing::error!(error = %undo, "rollback failed: could not restore the VM's engine record");
                }
                return Err(err);
            }
            let mut vm = self.vm_view(&e).await;
            vm.no_effect = kept::union(vm.no_effect, no_effect);
            Ok(VmUpdated { vm, applied: outcome.applied, pending: outcome.pending })
        })
        .await
    }

    /// Deletes a VM: stops it hard, removes its files, then its records and proxy routes.
    pub async fn vm_delete(&self, actor: &Actor, hs_name: &str, vm_uuid: &str) -> Result<()> {
        let target = Target::vm(hs_name, vm_uuid);
        let op = self.tracked(actor, "delete", target, |_| async move {
            let _w = self.inner.write.lock().await;
            let e = self.load_vm(hs_name, vm_uuid).await?;
            match self.engine(hs_name).await?.delete(vm_uuid).await {
                Ok(()) | Err(EngineError::NotFound(_)) => {}
                Err(err) => return Err(err.into()),
            }
            repo::delete(self.db(), hs_name, vm_uuid).await?;
            self.drop_proxies(&e.record)?;
            tracing::info!(host = %hs_name, vm = %vm_uuid, "VM deleted");
            Ok(())
        });
        self.audited(actor, "vm.delete", target, op).await
    }

    /// Runs a power action as a task.
    pub async fn vm_power(
        &self,
        actor: &Actor,
        hs_name: &str,
        vm_uuid: &str,
        action: PowerAction,
    ) -> Result<PowerResult> {
        let target = Target::vm(hs_name, vm_uuid);
        let op = self.tracked(actor, action.name(), target, |task_id| async move {
            let host = self.load_host(hs_name).await?;
            let e = self.load_vm(hs_name, vm_uuid).await?;
            if host.maintenance && matches!(action, PowerAction::Start | PowerAction::Reboot { .. }) {
                return invalid(format!("host {hs_name} is in maintenance"));
            }
            let out = self.engine(hs_name).await?.power(vm_uuid, action).await?;
            Ok(PowerResult { action: out.action, forced: out.forced, task_id, status: status_view(out.status, &e) })
        });
        self.audited(actor, &format!("vm.{}", action.name()), target, op).await
    }

    /// Opens a running VM's console to one viewer (audited as `vm.console`): sets a fresh random
    /// VNC password that QEMU accepts only for `valid_for`, and returns it with the engine that
    /// serves the console stream.
    pub async fn console_access(
        &self,
        actor: &Actor,
        hs_name: &str,
        vm_uuid: &str,
        valid_for: Duration,
    ) -> Result<(Arc<dyn VmEngine>, String)> {
        self.audited(actor, "vm.console", Target::vm(hs_name, vm_uuid), async {
            self.load_vm(hs_name, vm_uuid).await?;
            if !matches!(self.power_of(hs_name, vm_uuid).await, VmPower::Started | VmPower::Suspend) {
                return invalid(format!("VM {vm_uuid} is not running"));
            }
            let engine = self.engine(hs_name).await?;
            let password = vnc_password();
            engine.console_password(vm_uuid, &password, Some(valid_for)).await?;
            Ok((engine, password))
        })
        .await
    }

    /// The VM's live state (QMP `query-status`, process use) and its agent's last report.
    pub async fn vm_status(&self, hs_name: &str, vm_uuid: &str) -> Result<VmStatusView> {
        let e = self.load_vm(hs_name, vm_uuid).await?;
        let status = self.engine(hs_name).await?.status(vm_uuid).await?;
        Ok(status_view(status, &e))
    }

    /// Finds VMs on the host that Gantry does not know (with a readable record and, when the
    /// host has a `filter_name`, an id starting with it) and adopts them.
    pub async fn vm_scan(&self, actor: &Actor, hs_name: &str) -> Result<ScanResult> {
        let target = Target::host(hs_name);
        let op = self.tracked(actor, "scan", target, |task_id| async move {
            let _w = self.inner.write.lock().await;
            let host = self.load_host(hs_name).await?;
            let engine = self.engine(hs_name).await?;
            let known: Vec<String> =
                repo::list(self.db(), Some(hs_name)).await?.into_iter().map(|r| r.vm_uuid).collect();
            let mut result = ScanResult { task_id, adopted: Vec::new(), skipped: Vec::new() };
            for found in engine.scan(&known).await? {
                let skip = |why: String| VmActionResult { vm_uuid: found.uuid.clone(), success: false, message: why };
                if !found.uuid.starts_with(&host.config.filter_name) {
                    result.skipped.push(skip(format!("id does not start with {:?}", host.config.filter_name)));
                    continue;
                }
                let Some(spec) = &found.spec else {
                    result.skipped.push(skip("no readable vm.json".into()));
                    continue;
                };
                match self.adopt(&host, spec).await {
                    Ok(adopted) => result.adopted.push(adopted),
                    Err(e) => result.skipped.push(skip(e.to_string())),
                }
            }
            Ok(result)
        });
        self.audited(actor, "vm.scan", target, op).await
    }

    async fn adopt(&self, host: &HostEntry, spec: &gantry_vm_engine::VmSpec) -> Result<AdoptedVm> {
        let hs_name = &host.config.hs_name;
        let mut cfg = spec::from_spec(spec);
        if self.check_unique(hs_name, &cfg, None).await.is_err() {
            cfg.vm_name = format!("{}-{}", cfg.vm_name, cfg.vm_uuid);
        }
        self.check_unique(hs_name, &cfg, None).await?;
        self.check_addresses(&cfg, None).await?;
        to_spec(&host.config, &cfg, None, true)?;
        let (secret, hash) = new_secret();
        let record = new_record(hs_name, &cfg, hash, self.now())?;
        repo::create(self.db(), &record).await?;
        if let Err(e) = self.engine(hs_name).await?.attach(&cfg.vm_uuid).await {
            tracing::warn!(vm = %cfg.vm_uuid, error = %e, "adopted VM could not be attached");
        }
        tracing::info!(host = %hs_name, vm = %cfg.vm_uuid, "VM adopted");
        let entry = VmEntry { record, config: cfg };
        Ok(AdoptedVm { vm: self.vm_view(&entry).await, agent_secret: secret })
    }
}

/// The API view of an engine status.
fn status_view(s: VmStatus, e: &VmEntry) -> VmStatusView {
    VmStatusView {
        vm_uuid: s.uuid,
        power: s.power.name().into(),
        power_code: s.power.code(),
        qemu_status: s.qemu_status,
        pid: s.pid,
        accel: s.accel.map(|a| a.as_str().to_string()),
        uptime_s: s.uptime_s,
        cpu_num: s.cpu_num,
        cpu_usage: s.cpu_usage,
        mem_total: s.mem_total_mib,
        mem_usage: s.mem_usage_mib,
        hdd_total: s.hdd_total_mib,
        hdd_usage: s.hdd_usage_mib,
        pending: s.pending,
        message: s.message,
        agent_report: e.record.last_report.as_deref().and_then(|r| serde_json::from_str(r).ok()),
        reported_at: e.record.reported_at,
    }
}

/// The stored row of a VM the context starts to manage (created or adopted) at `now`.
fn new_record(hs_name: &str, cfg: &VmConfig, agent_secret_hash: String, now: i64) -> Result<VmRecord> {
    Ok(VmRecord {
        host: hs_name.to_string(),
        vm_uuid: cfg.vm_uuid.clone(),
        name: cfg.vm_name.clone(),
        config: serde_json::to_string(cfg)?,
        agent_secret_hash,
        last_report: None,
        reported_at: None,
        created_at: now,
        updated_at: now,
    })
}

/// A random VNC password: 8 alphanumerics, the most RFB's DES authentication uses.
fn vnc_password() -> String {
    use rand::Rng;
    rand::rng().sample_iter(rand::distr::Alphanumeric).take(8).map(char::from).collect()
}
