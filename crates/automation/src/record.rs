//! Stored workflows ↔ the engine's model, the trigger a workflow declares, and webhook
//! secrets (derived from a server key, so only their SHA-256 is stored).

use crate::repo::workflows::WorkflowRecord;
use gantry_workflow_engine::Workflow;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::{AutomationError, AutomationResult, Inner};

/// A workflow as the context hands it out.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredWorkflow {
    /// The workflow in the engine's model (id, steps, trigger, tags, metadata…).
    pub workflow: Workflow,
    pub user_id: gantry_core::UserId,
    /// ms since the epoch.
    pub created_at: i64,
    /// `/api/v1/webhooks/<secret>` for webhook-triggered workflows, shown to the owner.
    pub webhook_path: Option<String>,
    /// When the cron scheduler starts it next (ms since the epoch): enabled schedule-triggered
    /// workflows whose expression fires again.
    pub next_run_at: Option<i64>,
}

/// How a workflow is started besides by hand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TriggerSpec {
    Manual,
    /// A 5-field cron expression (UTC).
    Schedule(String),
    Webhook,
    /// One of [`gantry_workflow_engine::modules::GANTRY_TRIGGER_EVENTS`].
    Event(String),
}

impl TriggerSpec {
    /// The trigger of a workflow: its leading trigger step, else its legacy
    /// `triggerConfig {type, cron?, event?}`, else manual.
    pub fn of(workflow: &Workflow) -> Self {
        let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().to_owned();
        if let Some(first) = workflow.steps.first() {
            match first.module_id.as_str() {
                "trigger_schedule" => return Self::Schedule(text(first.param("cron"))),
                "trigger_webhook" => return Self::Webhook,
                "trigger_event" => return Self::Event(text(first.param("event"))),
                "trigger_manual" => return Self::Manual,
                _ => {}
            }
        }
        let Some(Value::Object(config)) = &workflow.trigger_config else { return Self::Manual };
        match config.get("type").and_then(Value::as_str).unwrap_or_default() {
            "schedule" | "cron" | "trigger_schedule" => Self::Schedule(text(config.get("cron"))),
            "webhook" | "trigger_webhook" => Self::Webhook,
            "event" | "trigger_event" => Self::Event(text(config.get("event"))),
            _ => Self::Manual,
        }
    }

    /// The value kept in the `trigger_type` column.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Manual => "manual",
            Self::Schedule(_) => "schedule",
            Self::Webhook => "webhook",
            Self::Event(_) => "event",
        }
    }

    /// Checks what the step validation does not see (a legacy `triggerConfig`).
    pub(crate) fn check(&self) -> AutomationResult<()> {
        match self {
            Self::Schedule(cron) => gantry_workflow_engine::validate_cron(cron)
                .map_err(|e| AutomationError::Invalid(format!("triggerConfig.cron: {e}"))),
            Self::Event(event) if !gantry_workflow_engine::modules::GANTRY_TRIGGER_EVENTS.contains(&event.as_str()) => {
                Err(AutomationError::Invalid(format!(
                    "triggerConfig.event `{event}` is not one of {}",
                    gantry_workflow_engine::modules::GANTRY_TRIGGER_EVENTS.join(", ")
                )))
            }
            _ => Ok(()),
        }
    }
}

/// Fields kept in the `metadata` column besides the free-form metadata.
#[derive(Serialize, Deserialize, Default)]
struct Extras {
    #[serde(default)]
    version: String,
    #[serde(default)]
    metadata: Option<Map<String, Value>>,
}

impl Inner {
    /// The webhook secret of a workflow: HMAC-SHA256 of its id under the server key.
    pub(crate) fn webhook_secret(&self, workflow_id: &str) -> String {
        // HMAC takes keys of any length, so the error arm never runs.
        let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(&self.webhook_key) else { return String::new() };
        mac.update(b"gantry-webhook:");
        mac.update(workflow_id.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// The stored form of the secret.
    pub(crate) fn webhook_hash(secret: &str) -> String {
        hex::encode(Sha256::digest(secret.as_bytes()))
    }

    /// Rebuilds the model from a stored row.
    pub(crate) fn to_stored(&self, r: WorkflowRecord) -> StoredWorkflow {
        let steps = serde_json::from_str(&r.steps).unwrap_or_else(|e| {
            tracing::error!(workflow_id = %r.id, error = %e, "stored steps do not parse");
            Vec::new()
        });
        let trigger_config = serde_json::from_str::<Value>(&r.trigger_config).ok().filter(|v| !v.is_null());
        let extras: Extras = serde_json::from_str(&r.metadata).unwrap_or_default();
        let webhook_path =
            r.webhook_secret_hash.as_ref().map(|_| format!("/api/v1/webhooks/{}", self.webhook_secret(&r.id)));
        let workflow = Workflow {
            id: r.id,
            name: r.name,
            description: r.description,
            is_enabled: r.is_enabled,
            is_favorite: r.is_favorite,
            folder_id: r.folder_id,
            order: r.position,
            steps,
            trigger_config,
            max_execution_time: (r.max_execution_time > 0).then_some(r.max_execution_time as u64),
            tags: r.tags,
            version: if extras.version.is_empty() { "1.0.0".into() } else { extras.version },
            modified_at: Some(r.modified_at),
            metadata: extras.metadata,
        };
        let next_run_at = match TriggerSpec::of(&workflow) {
            TriggerSpec::Schedule(cron) if workflow.is_enabled => {
                crate::triggers::schedule::next_after(&cron, self.clock.now_ms())
            }
            _ => None,
        };
        StoredWorkflow { workflow, user_id: r.user_id, created_at: r.created_at, webhook_path, next_run_at }
    }
}

/// The column values derived from a model: steps, trigger config, trigger type, extras
/// and the webhook hash.
pub(crate) struct Columns {
    pub steps: String,
    pub trigger_config: String,
    pub trigger_type: String,
    pub metadata: String,
    pub webhook_hash: Option<String>,
}

impl Columns {
    pub(crate) fn of(inner: &Inner, w: &Workflow) -> AutomationResult<Self> {
        let trigger = TriggerSpec::of(w);
        let extras = Extras { version: w.version.clone(), metadata: w.metadata.clone() };
        Ok(Self {
            steps: json(&w.steps)?,
            trigger_config: json(&w.trigger_config)?,
            trigger_type: trigger.kind().to_owned(),
            metadata: json(&extras)?,
            webhook_hash: (trigger == TriggerSpec::Webhook).then(|| Inner::webhook_hash(&inner.webhook_secret(&w.id))),
        })
    }
}

fn json<T: Serialize>(value: &T) -> AutomationResult<String> {
    serde_json::to_string(value).map_err(|e| AutomationError::Invalid(e.to_string()))
}

#[cfg(test)]
mod tests {
    use gantry_workflow_engine::Step;
    use serde_json::json;

    use super::*;

    #[test]
    fn the_trigger_comes_from_the_first_step_or_the_legacy_config() {
        let mut w = Workflow {
            steps: vec![Step::new("t", "trigger_schedule").with("cron", "0 9 * * *")],
            ..Workflow::default()
        };
        assert_eq!(TriggerSpec::of(&w), TriggerSpec::Schedule("0 9 * * *".into()));
        w.steps = vec![Step::new("t", "trigger_webhook")];
        assert_eq!(TriggerSpec::of(&w).kind(), "webhook");
        w.steps = vec![Step::new("l", "log")];
        w.trigger_config = Some(json!({"type": "event", "event": "task_failed"}));
        assert_eq!(TriggerSpec::of(&w), TriggerSpec::Event("task_failed".into()));
        w.trigger_config = Some(json!({"type": "notification_received"}));
        assert_eq!(TriggerSpec::of(&w), TriggerSpec::Manual);
        assert!(TriggerSpec::Schedule("nope".into()).check().is_err());
        assert!(TriggerSpec::Event("boom".into()).check().is_err());
    }
}
