//! Triggers that start workflows without a person: a cron scheduler ([`schedule`]),
//! event subscriptions ([`events`]) and webhooks ([`Automation::webhook`]). Triggered runs act
//! as the workflow's owner, with the owner's current role.

mod events;
pub(crate) mod schedule;

use std::sync::Arc;

use crate::repo::workflows::WorkflowRecord;
use gantry_accounts::AccountsError;
use gantry_core::Role;
use gantry_workflow_engine::{RunRequest, validate};
use serde_json::Value;

use crate::runs::Start;
use crate::{Automation, AutomationError, AutomationResult, Inner, Owner};

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

impl Automation {
    /// Starts the cron scheduler and the event listener under the context's supervisor; its
    /// shutdown stops both and interrupts running executions (they end failed, see
    /// [`crate::INTERRUPTED`]).
    pub fn spawn_triggers(&self) {
        let supervisor = &self.inner.supervisor;
        supervisor.spawn(schedule::run(self.inner.clone()));
        supervisor.spawn(events::run(self.inner.clone(), self.inner.events.subscribe()));
        let inner = self.inner.clone();
        supervisor.spawn(async move {
            inner.supervisor.stopping().await;
            inner.runs.interrupt_all();
        });
    }

    /// Runs the enabled workflow whose webhook secret is `secret`; returns the execution.
    /// An unknown secret or a disabled workflow is [`AutomationError::WorkflowNotFound`].
    /// Credentials (`Authorization`, cookies) are never handed to the workflow.
    pub async fn webhook(
        &self,
        secret: &str,
        mut call: WebhookCall,
    ) -> AutomationResult<crate::executions::ExecutionRecord> {
        if secret.len() != 64 || !secret.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(AutomationError::WorkflowNotFound("webhook".into()));
        }
        call.headers.retain(|k, _| !HIDDEN_HEADERS.contains(&k.to_ascii_lowercase().as_str()));
        let hash = Inner::webhook_hash(secret);
        let record = crate::repo::workflows::by_webhook_secret_hash(&self.inner.db, &hash)
            .await?
            .filter(|r| r.is_enabled)
            .ok_or_else(|| AutomationError::WorkflowNotFound("webhook".into()))?;
        let data = serde_json::json!({
            "method": call.method, "headers": call.headers, "query": call.query, "body": call.body,
        });
        self.inner.fire(record, "webhook", data).await
    }
}

impl Inner {
    /// The owner of a stored workflow, with their role as of now.
    async fn owner_of(&self, record: &WorkflowRecord) -> AutomationResult<Owner> {
        let user = match self.accounts.user(record.user_id).await {
            Ok(user) => user,
            Err(AccountsError::UserNotFound) => return Err(AutomationError::WorkflowNotFound(record.id.clone())),
            Err(e) => return Err(AutomationError::Context(e.to_string())),
        };
        Ok(Owner { user_id: user.id, is_admin: user.role == Role::Admin })
    }

    /// Starts a triggered run of `record` with `data` as its trigger data.
    pub(crate) async fn fire(
        self: &Arc<Self>,
        record: WorkflowRecord,
        triggered_by: &'static str,
        data: Value,
    ) -> AutomationResult<crate::executions::ExecutionRecord> {
        let owner = self.owner_of(&record).await?;
        let workflow = self.to_stored(record).workflow;
        validate(&workflow, &self.catalogue)
            .map_err(|issues| AutomationError::Validation { issues, on_save: false })?;
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
