//! One monitor per instance: keeps its WebSocket open (events are routed to tasks by
//! prompt id), checks its health, learns its models, and after every (re)connect asks
//! it what became of the tasks Gantry believes it holds.

use crate::activity::ActivityKind;
use crate::fleet_info::MODEL_FOLDERS;
use crate::{Inner, InstanceView, lock};
use gantry_comfy::graph::ModelRef;
use gantry_comfy::{ComfyClient, ComfyEvent};
use gantry_core::events::Event;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Model folders probed on connect.
const FIRST_RETRY: Duration = Duration::from_millis(250);

/// Supervises `instance_id` until `stop` is cancelled or the instance is retired.
pub async fn run(inner: Arc<Inner>, instance_id: String, stop: CancellationToken) {
    let mut failures = 0u32;
    let mut retry = FIRST_RETRY;
    loop {
        if stop.is_cancelled() || inner.retire_if_drained(&instance_id) {
            return;
        }
        let Some(client) = inner.client_of(&instance_id) else { return };
        let health = inner.config.read().unwrap_or_else(std::sync::PoisonError::into_inner).health_check.clone();
        let connect = tokio::time::timeout(Duration::from_millis(health.timeout), client.events(&inner.client_id));
        let connected = tokio::select! {
            r = connect => r,
            () = stop.cancelled() => return,
        };
        match connected {
            Ok(Ok(mut events)) => {
                failures = 0;
                retry = FIRST_RETRY;
                // Before it gets new work: what Gantry gave up on there must not run on.
                crate::runner::sweep(&inner, &instance_id, &client).await;
                inner.set_alive(&instance_id, true);
                refresh_models(&inner, &instance_id, &client).await;
                crate::runner::reconcile(&inner, &instance_id, &client).await;
                inner.wake.notify_one();
                let mut tick = tokio::time::interval(Duration::from_millis(health.interval));
                tick.tick().await;
                let mut missed = 0u32;
                loop {
                    tokio::select! {
                        () = stop.cancelled() => return,
                        event = events.next() => match event {
                            Some(Ok(event)) => {
                                inner.heartbeat(&instance_id);
                                on_event(&inner, &instance_id, event).await;
                            }
                            Some(Err(e)) => {
                                tracing::warn!(instance = %instance_id, error = %e, "instance event stream failed");
                                break;
                            }
                            None => {
                                tracing::info!(instance = %instance_id, "instance closed its WebSocket");
                                break;
                            }
                        },
                        _ = tick.tick() => {
                            let check = tokio::time::timeout(Duration::from_millis(health.timeout), client.system_stats()).await;
                            if matches!(check, Ok(Ok(_))) {
                                missed = 0;
                                crate::runner::sweep(&inner, &instance_id, &client).await;
                                // Back in placement if a refused post took it out.
                                inner.set_alive(&instance_id, true);
                                // Safety net for events ComfyUI did not deliver.
                                crate::runner::reconcile(&inner, &instance_id, &client).await;
                            } else {
                                missed += 1;
                                tracing::warn!(instance = %instance_id, missed, "health check failed");
                                if missed >= health.failure_threshold {
                                    inner.instance_lost(&instance_id, "it failed its health checks").await;
                                    break;
                                }
                            }
                            if inner.retire_if_drained(&instance_id) {
                                return;
                            }
                        }
                    }
                }
            }
            _ => {
                failures += 1;
                if failures >= health.failure_threshold {
                    inner.instance_lost(&instance_id, "it stopped answering").await;
                }
                tokio::select! {
                    () = tokio::time::sleep(retry) => {}
                    () = stop.cancelled() => return,
                }
                retry = (retry * 2).min(Duration::from_millis(health.interval));
            }
        }
    }
}

async fn refresh_models(inner: &Inner, instance_id: &str, client: &ComfyClient) {
    let mut models = std::collections::HashSet::new();
    for folder in MODEL_FOLDERS {
        match client.models(folder).await {
            Ok(names) => models.extend(names.into_iter().map(|name| ModelRef { folder: folder.to_owned(), name })),
            Err(e) => {
                tracing::warn!(instance = %instance_id, folder, error = %e, "cannot list models");
                return;
            }
        }
    }
    if let Some(instance) = lock(&inner.fleet).instances.get_mut(instance_id) {
        instance.models = Some(models);
    }
}

async fn on_event(inner: &Arc<Inner>, instance_id: &str, event: ComfyEvent) {
    match event {
        ComfyEvent::Status { queue_remaining, .. } => {
            let changed = {
                let mut fleet = lock(&inner.fleet);
                fleet.instances.get_mut(instance_id).map(|i| {
                    let was = i.busy();
                    i.queue_remaining = queue_remaining;
                    (was != i.busy()).then(|| InstanceView::from(&*i))
                })
            };
            if let Some(Some(view)) = changed {
                inner.publish_instance(&view);
            }
        }
        ComfyEvent::ExecutionStart { prompt_id } => {
            if let Some(task_id) = inner.task_of(instance_id, &prompt_id) {
                crate::runner::started(inner, instance_id, &prompt_id, &task_id).await;
            }
        }
        ComfyEvent::ExecutionCached { prompt_id, nodes } => {
            if let Some(task_id) = inner.task_of(instance_id, &prompt_id)
                && let Some(p) = lock(&inner.progress).get_mut(&task_id)
            {
                p.nodes_to_run = p.nodes_to_run.saturating_sub(nodes.len() as u64);
            }
            inner.relay(instance_id, Some(&prompt_id), ActivityKind::Cached { nodes });
        }
        ComfyEvent::Executing { prompt_id: Some(prompt_id), node: Some(node) } => {
            if let Some(task_id) = inner.task_of(instance_id, &prompt_id)
                && let Some(p) = lock(&inner.progress).get_mut(&task_id)
            {
                p.nodes_started += 1;
            }
            inner.relay(instance_id, Some(&prompt_id), ActivityKind::Executing { node });
        }
        ComfyEvent::Progress { prompt_id: Some(prompt_id), node, value, max } => {
            if let Some(task_id) = inner.task_of(instance_id, &prompt_id) {
                let tick_node = node.as_deref().map(|n| n.parse::<u64>().unwrap_or(0));
                inner.progress(&task_id, tick_node, value, max);
            }
            inner.relay(instance_id, Some(&prompt_id), ActivityKind::Progress { node, value, max });
        }
        ComfyEvent::Other { kind, data } if kind == "progress_state" => {
            let prompt_id = data.get("prompt_id").and_then(serde_json::Value::as_str).unwrap_or_default();
            let nodes = data.get("nodes").cloned().unwrap_or_default();
            inner.relay(instance_id, Some(prompt_id), ActivityKind::ProgressState { nodes });
        }
        ComfyEvent::Preview { image } => inner.relay(instance_id, None, ActivityKind::Preview { image }),
        ComfyEvent::Executing { prompt_id: Some(prompt_id), node: None } => {
            let (freed, abandoned) = {
                let mut fleet = lock(&inner.fleet);
                let freed = fleet.release(instance_id, &prompt_id);
                let abandoned = fleet.instances.get(instance_id).is_some_and(|i| i.abandoned.contains(&prompt_id));
                (freed, abandoned)
            };
            if abandoned && let Some(client) = inner.client_of(instance_id) {
                // A prompt Gantry gave up on ended (interrupted, or it finished anyway).
                crate::runner::sweep(inner, instance_id, &client).await;
            }
            if let Some(task_id) = freed {
                inner.wake.notify_one();
                let (inner, instance_id) = (inner.clone(), instance_id.to_owned());
                inner
                    .supervisor
                    .clone()
                    .spawn(async move { crate::runner::collect(&inner, &instance_id, &prompt_id, &task_id).await });
            }
        }
        _ => {}
    }
}

impl Inner {
    fn task_of(&self, instance_id: &str, prompt_id: &str) -> Option<String> {
        lock(&self.fleet).instances.get(instance_id)?.slots.get(prompt_id).cloned()
    }

    fn heartbeat(&self, instance_id: &str) {
        let now = self.now();
        if let Some(instance) = lock(&self.fleet).instances.get_mut(instance_id) {
            instance.last_heartbeat = Some(now);
        }
    }

    pub(crate) fn set_alive(&self, instance_id: &str, alive: bool) {
        let now = self.now();
        let view = {
            let mut fleet = lock(&self.fleet);
            let Some(instance) = fleet.instances.get_mut(instance_id) else { return };
            if alive {
                instance.last_heartbeat = Some(now);
            }
            if instance.alive == alive {
                return;
            }
            instance.alive = alive;
            InstanceView::from(&*instance)
        };
        tracing::info!(instance = %instance_id, alive, "instance status changed");
        self.publish_instance(&view);
    }

    /// Marks an instance down and sends its tasks back to the queue (or fails them).
    pub(crate) async fn instance_lost(&self, instance_id: &str, reason: &str) {
        self.set_alive(instance_id, false);
        let held: Vec<String> = {
            let mut fleet = lock(&self.fleet);
            let Some(instance) = fleet.instances.get_mut(instance_id) else { return };
            // If it comes back, these prompts must not run there as well as elsewhere.
            let drained: Vec<(String, String)> = instance.slots.drain().collect();
            instance.abandoned.extend(drained.iter().map(|(prompt, _)| prompt.clone()));
            drained.into_iter().map(|(_, task)| task).collect()
        };
        let reason = format!("instance {instance_id} was lost: {reason}");
        for task_id in held {
            self.requeue_or_fail(&task_id, &reason).await;
        }
    }

    /// Removes a retired instance once it holds no task; returns whether it did.
    fn retire_if_drained(&self, instance_id: &str) -> bool {
        if !self.is_retired(instance_id) {
            return false;
        }
        let mut fleet = lock(&self.fleet);
        if fleet.instances.get(instance_id).is_some_and(|i| !i.slots.is_empty()) {
            return false;
        }
        fleet.instances.remove(instance_id);
        fleet.order.retain(|id| id != instance_id);
        lock(&self.monitors).remove(instance_id);
        tracing::info!(instance = %instance_id, "instance removed from the fleet");
        true
    }

    /// Passes node-level activity of the task behind `prompt_id` (default: the task running
    /// on the instance) to the virtual ComfyUI's listeners, if there are any.
    fn relay(&self, instance_id: &str, prompt_id: Option<&str>, kind: ActivityKind) {
        if self.activity.receiver_count() == 0 {
            return;
        }
        let task_id = match prompt_id {
            Some(prompt_id) => self.task_of(instance_id, prompt_id),
            None => lock(&self.running).iter().find(|(_, (i, _, _))| i == instance_id).map(|(t, _)| t.clone()),
        };
        let Some(task_id) = task_id else { return };
        let Some(user_id) = lock(&self.progress).get(&task_id).map(|p| p.user_id) else { return };
        let _ = self.activity.send(crate::activity::Activity { task_id, user_id, kind });
    }

    /// A progress tick. Only a higher percentage reaches the event stream (at most 99
    /// messages a task, however many ticks its nodes report).
    fn progress(&self, task_id: &str, node: Option<u64>, value: u64, max: u64) {
        let update = {
            let mut all = lock(&self.progress);
            let Some(p) = all.get_mut(task_id) else { return };
            let (step, total, grew) = p.tick(node, value, max);
            let Some(percent) = grew else { return };
            (p.user_id, percent, step, total)
        };
        let (user_id, progress, step, total_steps) = update;
        self.events.publish(
            self.now(),
            Event::TaskProgress { task_id: task_id.to_owned(), user_id, progress, step, total_steps },
        );
    }
}
