//! Triggers that start workflows without a person: a cron scheduler ([`schedule`]),
//! event subscriptions ([`events`]) and webhooks ([`Flows::webhook`]). Triggered runs act
//! as the workflow's owner, with the owner's current role.

mod events;
mod schedule;

use std::sync::Arc;

use gantry_automation::{RunRequest, validate};
use gantry_core::Role;
use gantry_store::workflows::WorkflowRecord;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::runs::Start;
use crate::{Flows, FlowsError, FlowsResult, Inner, Owner};

pub use schedule::due_between;

/// Request headers a webhook never passes on.
const HIDDEN_HEADERS: [&str; 3] = ["authorization", "cookie", "proxy-authorization"];

/// What a webhook call carries into the run (`{{trigger.method}}`, …).
#[derive(Debug, Clone)]
pub struct WebhookCall {
    pub method: String,
    pub headers: serde_json::Map<String, Value>,
    pub query: serde_json::Map<String, Value>,
    pub body: Value,
}

impl Flows {
    /// Starts the cron scheduler and the event listener; both stop on `stop`, which also
    /// interrupts running executions (they end failed, see [`crate::INTERRUPTED`]).
    pub fn spawn_triggers(&self, stop: CancellationToken) {
        tokio::spawn(schedule::run(self.inner.clone(), stop.clone()));
        tokio::spawn(events::run(self.inner.clone(), self.inner.events.subscribe(), stop.clone()));
        let inner = self.inner.clone();
        tokio::spawn(async move {
            stop.cancelled().await;
            inner.runs.interrupt_all();
        });
    }

    /// Runs the enabled workflow whose webhook secret is `secret`; returns the execution.
    /// An unknown secret or a disabled workflow is [`FlowsError::WorkflowNotFound`].
    /// Credentials (`Authorization`, cookies) are never handed to the workflow.
    pub async fn webhook(
        &self,
        secret: &str,
        mut call: WebhookCall,
    ) -> FlowsResult<crate::executions::ExecutionRecord> {
        if secret.len() != 64 || !secret.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(FlowsError::WorkflowNotFound("webhook".into()));
        }
        call.headers.retain(|k, _| !HIDDEN_HEADERS.contains(&k.to_ascii_lowercase().as_str()));
        let hash = Inner::webhook_hash(secret);
        let record = gantry_store::workflows::by_webhook_secret_hash(&self.inner.db, &hash)
            .await?
            .filter(|r| r.is_enabled)
            .ok_or_else(|| FlowsError::WorkflowNotFound("webhook".into()))?;
        let data = serde_json::json!({
            "method": call.method, "headers": call.headers, "query": call.query, "body": call.body,
        });
        self.inner.fire(record, "webhook", data).await
    }
}

impl Inner {
    /// The owner of a stored workflow, with their role as of now.
    async fn owner_of(&self, record: &WorkflowRecord) -> FlowsResult<Owner> {
        let user = gantry_store::users::by_id(&self.db, record.user_id).await?;
        let user = user.ok_or_else(|| FlowsError::WorkflowNotFound(record.id.clone()))?;
        Ok(Owner { user_id: user.id, is_admin: user.role == Role::Admin })
    }

    /// Starts a triggered run of `record` with `data` as its trigger data.
    pub(crate) async fn fire(
        self: &Arc<Self>,
        record: WorkflowRecord,
        triggered_by: &'static str,
        data: Value,
    ) -> FlowsResult<crate::executions::ExecutionRecord> {
        let owner = self.owner_of(&record).await?;
        let workflow = self.to_stored(record).workflow;
        validate(&workflow, &self.catalogue).map_err(|issues| FlowsError::Validation { issues, on_save: false })?;
        let request = RunRequest::default().trigger(data);
        let (started, _) = self.launch(owner, workflow, Start { triggered_by, request }).await?;
        Ok(started)
    }

    /// [`Inner::fire`] for background triggers: failures are logged, not returned.
    async fn fire_logged(self: &Arc<Self>, record: WorkflowRecord, triggered_by: &'static str, data: Value) {
        let workflow_id = record.id.clone();
        match self.fire(record, triggered_by, data).await {
            Ok(e) => tracing::info!(workflow_id, execution_id = %e.id, triggered_by, "trigger started a workflow"),
            Err(e) => tracing::warn!(workflow_id, triggered_by, error = %e, "trigger could not start a workflow"),
        }
    }
}
