//! The audit log, task records and change events of every compute operation.

use std::future::Future;

use crate::repo::compute_log::{self, AuditRecord, TaskRecord, task_status};
use gantry_core::events::Event;

use crate::Compute;
use crate::error::Result;
use crate::model::Actor;

/// What an operation touched, for the audit log, tasks and events.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Target<'a> {
    pub host: Option<&'a str>,
    pub vm: Option<&'a str>,
}

impl<'a> Target<'a> {
    pub fn system() -> Target<'a> {
        Target { host: None, vm: None }
    }
    pub fn host(host: &'a str) -> Target<'a> {
        Target { host: Some(host), vm: None }
    }
    pub fn vm(host: &'a str, vm: &'a str) -> Target<'a> {
        Target { host: Some(host), vm: Some(vm) }
    }
}

impl Compute {
    /// Runs a change: records its outcome in the audit log and, when it worked, publishes a
    /// `ComputeChanged` event. Failing to write the audit entry is logged, not fatal.
    pub(crate) async fn audited<T>(
        &self,
        actor: &Actor,
        action: &str,
        target: Target<'_>,
        op: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        let result = op.await;
        let message = match &result {
            Ok(_) => String::new(),
            Err(e) => e.to_string(),
        };
        self.audit(actor, action, target, result.is_ok(), &message).await;
        if result.is_ok() {
            self.inner.events.publish(
                self.now(),
                Event::ComputeChanged {
                    actor: actor.user_id,
                    action: action.to_string(),
                    host: target.host.map(str::to_string),
                    vm_uuid: target.vm.map(str::to_string),
                },
            );
        }
        result
    }

    /// Records in the audit log a change made outside compute (the fleet configuration), so
    /// the log operators read names every administrative change.
    pub async fn record_change(&self, actor: &Actor, action: &str, message: &str) {
        self.audit(actor, action, Target::system(), true, message).await;
    }

    /// Appends one audit entry.
    pub(crate) async fn audit(&self, actor: &Actor, action: &str, target: Target<'_>, success: bool, message: &str) {
        let entry = AuditRecord {
            id: self.inner.ids.ordered().to_string(),
            at_ms: self.now(),
            actor: actor.name.clone(),
            actor_id: actor.user_id,
            action: action.to_string(),
            host: target.host.map(str::to_string),
            vm_uuid: target.vm.map(str::to_string),
            success,
            message: message.to_string(),
        };
        if let Err(e) = compute_log::audit(self.db(), &entry).await {
            tracing::warn!(error = %e, action, "could not write the compute audit entry");
        }
    }

    /// Runs a long operation as a task record (`running`, then `succeeded` or `failed` with
    /// the error). The closure gets the task id.
    pub(crate) async fn tracked<T, F, Fut>(&self, actor: &Actor, kind: &str, target: Target<'_>, op: F) -> Result<T>
    where
        F: FnOnce(String) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let task = TaskRecord {
            id: self.inner.ids.ordered().to_string(),
            kind: kind.to_string(),
            host: target.host.map(str::to_string),
            vm_uuid: target.vm.map(str::to_string),
            actor: actor.name.clone(),
            status: task_status::RUNNING.into(),
            message: String::new(),
            started_at: self.now(),
            finished_at: None,
        };
        compute_log::task_start(self.db(), &task).await?;
        let result = op(task.id.clone()).await;
        let (status, message) = match &result {
            Ok(_) => (task_status::SUCCEEDED, String::new()),
            Err(e) => (task_status::FAILED, e.to_string()),
        };
        if let Err(e) = compute_log::task_finish(self.db(), &task.id, status, &message, self.now()).await {
            tracing::warn!(error = %e, task = %task.id, "could not finish the compute task record");
        }
        result
    }
}
