//! The engine's host for one run: the Gantry modules act as the workflow's owner, with
//! exactly the owner's authority (their tasks, their credits; admin-only actions refused
//! to others).

use std::sync::Arc;
use std::time::Duration;

use gantry_core::events::Event;
use gantry_dispatch::{Caller, Submission, TaskStatus};
use gantry_generation::Text2Img;
use gantry_workflow_engine::{BoxFuture, Host, HostCall, HttpPolicy};
use serde_json::{Map, Value, json};

use crate::{Inner, Owner};

/// How often a waited-for task is re-read besides its events.
const POLL: Duration = Duration::from_secs(1);

pub(crate) struct OwnerHost {
    inner: Arc<Inner>,
    owner: Owner,
}

type Outputs = Result<Map<String, Value>, String>;

impl OwnerHost {
    pub(crate) fn new(inner: Arc<Inner>, owner: Owner) -> Self {
        Self { inner, owner }
    }

    fn caller(&self) -> Caller {
        Caller { user_id: self.owner.user_id, is_admin: self.owner.is_admin }
    }

    async fn dispatch(&self, call: HostCall<'_>) -> Outputs {
        let inputs = call.inputs;
        match call.module_id {
            "gantry_generate_image" => self.generate(inputs, call).await,
            "gantry_submit_task" => self.submit(inputs, call).await,
            "gantry_wait_task" => {
                let id = text(inputs, "taskId");
                self.wait(&id, secs(inputs, "timeout"), call).await
            }
            "gantry_task_status" => self.status(&text(inputs, "taskId")).await,
            "gantry_set_instance" => self.set_instance(inputs).await,
            "gantry_list_instances" => Ok(self.list_instances(&text(inputs, "status"))),
            "gantry_vm_action" | "gantry_vm_status" => self.vm(call).await,
            other => Err(format!("module `{other}` is not available on this host")),
        }
    }

    async fn generate(&self, inputs: &Map<String, Value>, call: HostCall<'_>) -> Outputs {
        /// An input read as `T`; `null` and `""` count as not given. A value of the wrong
        /// type (`"512"` for a number) is refused, not converted.
        fn given<T: serde::de::DeserializeOwned>(inputs: &Map<String, Value>, key: &str) -> Result<Option<T>, String> {
            let value = inputs.get(key).filter(|v| !v.is_null() && v.as_str() != Some(""));
            value.map(|v| serde_json::from_value(v.clone()).map_err(|e| format!("invalid request: {e}"))).transpose()
        }
        let request = Text2Img {
            prompt: given(inputs, "prompt")?.unwrap_or_default(),
            negative_prompt: given(inputs, "negativePrompt")?,
            model_name: given(inputs, "modelName")?,
            width: given(inputs, "width")?,
            height: given(inputs, "height")?,
            steps: given(inputs, "steps")?,
            seed: given(inputs, "seed")?,
            ..Text2Img::default()
        };
        let submitted =
            self.inner.generation.generate(self.owner.user_id, request.into()).await.map_err(|e| e.to_string())?;
        let mut out = self.maybe_wait(&submitted.task_id, inputs, call).await?;
        out.insert("cost".into(), Value::from(submitted.cost));
        Ok(out)
    }

    async fn submit(&self, inputs: &Map<String, Value>, call: HostCall<'_>) -> Outputs {
        let graph = match inputs.get("workflow") {
            Some(Value::Object(g)) => g.clone(),
            Some(Value::String(s)) => serde_json::from_str(s).map_err(|e| format!("`workflow` is not JSON: {e}"))?,
            _ => return Err("`workflow` must be a ComfyUI graph (a dictionary)".into()),
        };
        let params = match inputs.get("params") {
            Some(Value::Object(p)) => p.clone(),
            _ => Map::new(),
        };
        let priority = inputs.get("priority").and_then(Value::as_f64).unwrap_or(0.0) as i64;
        let submission = Submission {
            caller: self.caller(),
            kind: "workflow".into(),
            id: None,
            graph,
            params,
            priority,
            meta: None,
            max_active: None,
        };
        let task = self.inner.generation.submit_graph(submission).await.map_err(|e| e.to_string())?;
        self.maybe_wait(&task.id, inputs, call).await
    }

    async fn maybe_wait(&self, task_id: &str, inputs: &Map<String, Value>, call: HostCall<'_>) -> Outputs {
        if inputs.get("wait").and_then(Value::as_bool).unwrap_or(true) {
            return self.wait(task_id, secs(inputs, "timeout"), call).await;
        }
        let mut out = self.status(task_id).await?;
        out.insert("taskId".into(), Value::from(task_id));
        Ok(out)
    }

    /// Waits for a task to end (its events, re-read every second), up to `timeout`.
    async fn wait(&self, task_id: &str, timeout: Duration, call: HostCall<'_>) -> Outputs {
        let mut events = self.inner.events.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let mut out = self.status(task_id).await?;
            let status = out.get("status").and_then(Value::as_str).unwrap_or_default().to_owned();
            if matches!(status.as_str(), "completed" | "failed" | "cancelled") {
                out.insert("taskId".into(), Value::from(task_id));
                return if status == "completed" {
                    Ok(out)
                } else {
                    Err(format!("task {task_id} {status}: {}", out.get("error").and_then(Value::as_str).unwrap_or("")))
                };
            }
            let ended = async {
                loop {
                    match events.recv().await {
                        Ok(e) if ends(&e.event, task_id) => return,
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => std::future::pending().await,
                        _ => {}
                    }
                }
            };
            tokio::select! {
                () = call.cancel.cancelled() => return Err("cancelled".into()),
                () = tokio::time::sleep_until(deadline) => return Err(format!("task {task_id} did not finish in time")),
                () = tokio::time::sleep(POLL) => {}
                () = ended => {}
            }
        }
    }

    async fn status(&self, task_id: &str) -> Outputs {
        let task = self.inner.dispatcher.task(self.caller(), task_id).await.map_err(|e| e.to_string())?;
        let mut urls = Vec::new();
        if task.status == TaskStatus::Completed {
            let files = self.inner.files.for_task(&task.id).await.map_err(|e| e.to_string())?;
            urls = files.iter().map(|f| Value::String(gantry_files::url_path(f))).collect();
        }
        let mut out = Map::new();
        out.insert("status".into(), Value::from(status_name(task.status)));
        out.insert("progress".into(), Value::from(task.progress));
        out.insert("outputs".into(), Value::Array(urls));
        out.insert("error".into(), task.error.map_or(Value::Null, Value::String));
        Ok(out)
    }

    async fn set_instance(&self, inputs: &Map<String, Value>) -> Outputs {
        if !self.owner.is_admin {
            return Err("only admins may enable or disable instances".into());
        }
        let enabled = match inputs.get("enabled") {
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
            _ => return Err("`enabled` must be true or false".into()),
        };
        let view = self
            .inner
            .dispatcher
            .set_instance_enabled(&text(inputs, "instanceId"), enabled)
            .await
            .map_err(|e| e.to_string())?;
        let mut out = Map::new();
        out.insert("enabled".into(), Value::Bool(view.enabled));
        out.insert("instance".into(), serde_json::to_value(view).map_err(|e| e.to_string())?);
        Ok(out)
    }

    fn list_instances(&self, status: &str) -> Map<String, Value> {
        let list: Vec<Value> = self
            .inner
            .dispatcher
            .instances()
            .into_iter()
            .filter(|i| match status {
                "idle" => i.alive && !i.busy,
                "busy" => i.alive && i.busy,
                "offline" => !i.alive,
                _ => true,
            })
            .filter_map(|i| serde_json::to_value(i).ok())
            .collect();
        let mut out = Map::new();
        out.insert("count".into(), Value::from(list.len()));
        out.insert("instances".into(), Value::Array(list));
        out
    }

    async fn vm(&self, call: HostCall<'_>) -> Outputs {
        let Some(compute) = &self.inner.compute else { return Err("compute is not available on this server".into()) };
        let (host, vm_id) = (text(call.inputs, "host"), text(call.inputs, "vmId"));
        let result = if call.module_id == "gantry_vm_action" {
            let action = text(call.inputs, "action").to_ascii_lowercase();
            if !gantry_workflow_engine::modules::GANTRY_VM_ACTIONS.contains(&action.as_str()) {
                return Err(format!("unknown VM action `{action}`"));
            }
            crate::vm::power(compute, self.owner, &host, &vm_id, &action).await?
        } else {
            crate::vm::status(compute, self.owner, &host, &vm_id).await?
        };
        let mut out = Map::new();
        out.insert("state".into(), result.get("state").cloned().unwrap_or(Value::Null));
        if call.module_id == "gantry_vm_action" {
            out.insert("success".into(), Value::Bool(true));
        }
        out.insert("result".into(), result);
        Ok(out)
    }
}

/// A task state as the task modules report it: `pending` (waiting, also inside an
/// instance), `running`, `completed`, `failed` or `cancelled`.
fn status_name(status: TaskStatus) -> &'static str {
    match status {
        TaskStatus::Pending | TaskStatus::Dispatched => "pending",
        other => other.as_str(),
    }
}

/// Whether `event` ends task `task_id`.
fn ends(event: &Event, task_id: &str) -> bool {
    matches!(event,
        Event::TaskCompleted { task_id: t, .. } | Event::TaskFailed { task_id: t, .. }
        | Event::TaskCancelled { task_id: t, .. } if t == task_id)
}

fn text(inputs: &Map<String, Value>, key: &str) -> String {
    match inputs.get(key) {
        Some(Value::String(s)) => s.trim().to_owned(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

fn secs(inputs: &Map<String, Value>, key: &str) -> Duration {
    let s = inputs.get(key).and_then(Value::as_f64).unwrap_or(600.0).clamp(1.0, 86_400.0);
    Duration::from_secs_f64(s)
}

impl Host for OwnerHost {
    fn call<'a>(&'a self, call: HostCall<'a>) -> BoxFuture<'a, Result<Map<String, Value>, String>> {
        Box::pin(self.dispatch(call))
    }

    fn http_policy(&self) -> HttpPolicy {
        HttpPolicy {
            allow_internal: self.inner.config.allow_internal_http && self.owner.is_admin,
            ..HttpPolicy::STRICT
        }
    }

    fn sandbox(&self) -> Option<Arc<dyn gantry_workflow_engine::Sandbox>> {
        Some(crate::sandbox::of_user(&self.inner.sandbox, self.owner.user_id))
    }

    fn device_info(&self) -> Value {
        json!({
            "brand": "Gantry",
            "model": format!("{}-{}", std::env::consts::OS, std::env::consts::ARCH),
            "version": env!("CARGO_PKG_VERSION"),
        })
    }
}
