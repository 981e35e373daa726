//! Gantry's compute context: hypervisor hosts and their VMs, dialect-free.
//!
//! [`Compute`] keeps the records (hosts, VMs with their NICs, NAT rules and reverse-proxy
//! routes) in the store and drives one [`gantry_vm_engine::VmEngine`] per host (QEMU so far). It
//! checks every request against the records and the host's facts before it touches an engine,
//! and undoes the engine's part when the database write after it fails. Every change is an
//! audit entry and a [`gantry_core::events::Event::ComputeChanged`]; every power-state change
//! seen by an engine is a [`gantry_core::events::Event::VmStateChanged`]; long operations are
//! task records.
//!
//! - [`model`] — the API vocabulary (OpenIDCS `HSConfig`, `VMConfig`, `PortData`, `WebProxy`…);
//! - hosts, VMs, network (NAT, IPs, proxies), agent reports, inventory and logs are `impl
//!   Compute` blocks in their own modules.
//!
//! No host exists until an admin creates one. At start every known VM is re-attached through
//! its QMP socket, so VMs that kept running while Gantry was down are reported truly.

mod agent;
pub mod error;
mod hosts;
mod inventory;
mod journal;
mod kept;
pub mod model;
mod network;
pub mod repo;
mod settings;
mod spec;
mod vms;
mod watch;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, PoisonError, RwLock};

use gantry_core::config::ComputeConfig;
use gantry_core::events::EventBus;
use gantry_core::{Clock, IdSource, Supervisor};
use gantry_store::Db;
use gantry_vm_engine::VmEngine;

pub use error::{ComputeError, Result};
pub use gantry_vm_engine::ProxyTable;
pub use model::Actor;

use settings::Settings;

/// The compute context. Cheap to clone (shared state).
#[derive(Clone)]
pub struct Compute {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    events: EventBus,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdSource>,
    settings: Settings,
    proxies: Arc<ProxyTable>,
    /// One engine per host, by host name.
    engines: RwLock<HashMap<String, Arc<dyn VmEngine>>>,
    /// Serialises changes whose checks span several records (names, ports, addresses, domains).
    write: tokio::sync::Mutex<()>,
    limiter: agent::Limiter,
    /// Host facts the resource checks use, with when they were read (Unix ms).
    facts: std::sync::Mutex<HashMap<String, (i64, gantry_vm_engine::HostFacts)>>,
    supervisor: Supervisor,
    /// This machine's id (`<data_dir>/machine-id`): it runs the VMs of the hosts recorded
    /// with it; gateways on other machines refuse requests for them.
    machine: String,
}

/// What [`Compute::open`] needs.
pub struct ComputeDeps {
    pub db: Db,
    pub events: EventBus,
    pub clock: Arc<dyn Clock>,
    pub ids: Arc<dyn IdSource>,
    /// The reverse-proxy table the HTTP layer forwards by; loaded from the records here.
    pub proxies: Arc<ProxyTable>,
    /// Runs the background tasks (engine event watchers).
    pub supervisor: Supervisor,
}

impl std::fmt::Debug for Compute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compute").finish_non_exhaustive()
    }
}

impl Compute {
    /// Opens the context: builds every host's engine, re-attaches every known VM, loads the
    /// reverse-proxy table and marks tasks a previous process left running as failed.
    pub async fn open(deps: ComputeDeps, config: &ComputeConfig, data_dir: &Path) -> Result<Compute> {
        let settings = Settings::from_config(config, data_dir)?;
        let limiter = agent::Limiter::new(settings.agent_per_minute);
        let machine = machine_id(data_dir, deps.ids.as_ref())?;
        let compute = Compute {
            inner: Arc::new(Inner {
                db: deps.db,
                events: deps.events,
                clock: deps.clock,
                ids: deps.ids,
                settings,
                proxies: deps.proxies,
                engines: RwLock::new(HashMap::new()),
                write: tokio::sync::Mutex::new(()),
                limiter,
                facts: std::sync::Mutex::new(HashMap::new()),
                supervisor: deps.supervisor,
                machine,
            }),
        };
        let interrupted = crate::repo::compute_log::fail_unfinished(&compute.inner.db, compute.now()).await?;
        if interrupted > 0 {
            tracing::warn!(interrupted, "compute tasks cut short by the last stop marked failed");
        }
        compute.attach_all().await?;
        compute.reload_proxies().await?;
        Ok(compute)
    }

    fn now(&self) -> i64 {
        self.inner.clock.now_ms()
    }

    fn db(&self) -> &Db {
        &self.inner.db
    }

    /// The engine of a host, e.g. for the console proxy: 404 for an unknown host, 409 naming
    /// the machine for a host another gateway's machine runs.
    pub async fn engine(&self, hs_name: &str) -> Result<Arc<dyn VmEngine>> {
        let engine = self.inner.engines.read().unwrap_or_else(PoisonError::into_inner).get(hs_name).cloned();
        match engine {
            Some(engine) => Ok(engine),
            None => {
                self.local(hs_name).await?;
                Err(ComputeError::NotFound(format!("host {hs_name} not found")))
            }
        }
    }

    /// Refuses a host this machine does not run (404 if there is no such host).
    async fn local(&self, hs_name: &str) -> Result<()> {
        match crate::repo::hosts::machine_of(self.db(), hs_name).await? {
            None => Err(ComputeError::NotFound(format!("host {hs_name} not found"))),
            Some((Some(machine), addr)) if machine != self.inner.machine => {
                let at = addr.map(|a| format!(", served by the gateway at {a}")).unwrap_or_default();
                Err(ComputeError::Conflict(format!(
                    "host {hs_name} runs on another machine ({machine}{at}): send requests for its VMs there"
                )))
            }
            Some(_) => Ok(()),
        }
    }

    /// Records where this machine's gateway serves (named when another gateway refuses a
    /// request for one of its hosts).
    pub async fn serving_at(&self, addr: &str) -> Result<()> {
        Ok(crate::repo::hosts::machine_seen(self.db(), &self.inner.machine, addr, self.now()).await?)
    }

    fn set_engine(&self, hs_name: &str, engine: Option<Arc<dyn VmEngine>>) {
        let mut map = self.inner.engines.write().unwrap_or_else(PoisonError::into_inner);
        match engine {
            Some(e) => map.insert(hs_name.to_string(), e),
            None => map.remove(hs_name),
        };
    }
}

/// This machine's id, kept in `<data_dir>/machine-id` (made at first start).
fn machine_id(data_dir: &Path, ids: &dyn gantry_core::IdSource) -> Result<String> {
    let path = data_dir.join("machine-id");
    match std::fs::read_to_string(&path) {
        Ok(id) if !id.trim().is_empty() => Ok(id.trim().to_owned()),
        Ok(_) | Err(_) => {
            let id = ids.random().simple().to_string();
            std::fs::write(&path, format!("{id}\n"))
                .map_err(|e| ComputeError::Internal(format!("cannot write {}: {e}", path.display())))?;
            Ok(id)
        }
    }
}
