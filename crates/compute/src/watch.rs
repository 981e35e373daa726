//! VmEngine events → `VmStateChanged`, and re-attaching every known VM at start.

use std::sync::Arc;

use gantry_core::events::Event;
use gantry_vm_engine::{VmEngine, VmEvent, VmEventKind, VmPower};
use tokio::sync::broadcast::error::RecvError;

use crate::Compute;
use crate::error::Result;

impl Compute {
    /// Forwards a host engine's power-state events to the event bus until Gantry stops or the
    /// engine is replaced.
    pub(crate) fn watch(&self, hs_name: &str, engine: Arc<dyn VmEngine>) {
        let mut rx = engine.subscribe();
        drop(engine);
        let me = self.clone();
        let host = hs_name.to_string();
        let supervisor = self.inner.supervisor.clone();
        self.inner.supervisor.spawn(async move {
            loop {
                tokio::select! {
                    () = supervisor.stopping() => return,
                    ev = rx.recv() => match ev {
                        Ok(ev) => me.on_engine_event(&host, ev).await,
                        Err(RecvError::Lagged(n)) => tracing::warn!(host = %host, n, "missed engine events"),
                        Err(RecvError::Closed) => return,
                    },
                }
            }
        });
    }

    async fn on_engine_event(&self, hs_name: &str, ev: VmEvent) {
        let power = match ev.kind {
            VmEventKind::Started | VmEventKind::Resumed => VmPower::Started,
            VmEventKind::Stopped => VmPower::Stopped,
            VmEventKind::Paused => VmPower::Suspend,
            _ => return,
        };
        let name = match crate::repo::vms::get(self.db(), hs_name, &ev.uuid).await {
            Ok(Some(vm)) => vm.name,
            _ => ev.uuid.clone(),
        };
        tracing::info!(host = %hs_name, vm = %ev.uuid, power = power.name(), "VM power state changed");
        self.inner.events.publish(
            self.now(),
            Event::VmStateChanged { host: hs_name.to_string(), vm_uuid: ev.uuid, name, power: power.name().into() },
        );
    }

    /// Builds every host's engine and re-attaches every known VM (QMP socket, lost forwards),
    /// so VMs that kept running while Gantry was down are reported truly.
    pub(crate) async fn attach_all(&self) -> Result<()> {
        for host in self.build_engines().await? {
            let engine = self.engine(&host).await?;
            for vm in crate::repo::vms::list(self.db(), Some(&host)).await? {
                match engine.attach(&vm.vm_uuid).await {
                    Ok(s) => {
                        tracing::info!(host = %host, vm = %vm.vm_uuid, power = s.power.name(), pid = ?s.pid, "VM attached")
                    }
                    Err(e) => tracing::warn!(host = %host, vm = %vm.vm_uuid, error = %e, "VM could not be attached"),
                }
            }
        }
        Ok(())
    }
}
