//! Moving tasks: the scheduler loop, handing a task to an instance, withdrawing it,
//! collecting its outputs, reconciling after reconnects, and the timeout watchdog.

use crate::repo::tasks::{self, Claimed, TaskStatus};
use crate::{Inner, InputFile, Progress, lock};
use gantry_comfy::graph::{self, Graph};
use gantry_comfy::{ComfyClient, ComfyError, Outcome, PromptRequest};
use gantry_core::events::TaskFailure;
use gantry_core::events::{Event, FileRef};
use gantry_files::{FileKind, FilesError, NewFile};
use std::sync::Arc;
use std::time::Duration;

/// Largest output file Gantry collects from an instance.
const MAX_OUTPUT_BYTES: usize = 512 * 1024 * 1024;

/// Places queued tasks whenever something changes (and once a second regardless).
pub async fn schedule_loop(inner: Arc<Inner>) {
    loop {
        tokio::select! {
            () = inner.wake.notified() => {}
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
            () = inner.supervisor.stopping() => return,
        }
        for (task, instance_id, prompt_id) in inner.place_all() {
            let inner = inner.clone();
            inner.supervisor.clone().spawn(async move { dispatch(&inner, task, &instance_id, &prompt_id).await });
        }
    }
}

impl Inner {
    /// Pairs as many queued tasks with free instance slots as possible, reserving each
    /// slot before any network call so concurrent placements cannot overfill an instance.
    fn place_all(&self) -> Vec<(crate::queue::Pending, String, String)> {
        let slots = self.slots_per_instance();
        let mut fleet = lock(&self.fleet);
        let mut queue = lock(&self.queue);
        let mut placed = Vec::new();
        while let Some(task) = queue.pop_placeable(|t| fleet.place(t, slots).is_some()) {
            let Some(instance_id) = fleet.place(&task, slots).map(str::to_owned) else { break };
            let prompt_id = self.ids.random().to_string();
            fleet.occupy(&instance_id, &prompt_id, &task);
            lock(&self.posting).insert(prompt_id.clone());
            placed.push((task, instance_id, prompt_id));
        }
        placed
    }
}

/// Hands one task to one instance (its prompt id was marked as posting when its slot was
/// reserved, and is unmarked here once the post is over): claims it in the database (recording the prompt id
/// first, for crash recovery), uploads its input files, posts the prompt.
async fn dispatch(inner: &Arc<Inner>, task: crate::queue::Pending, instance_id: &str, prompt_id: &str) {
    let task_id = task.id.clone();
    hand_over(inner, task, instance_id, prompt_id).await;
    lock(&inner.posting).remove(prompt_id);
    // A cancel that arrived during the post left the withdrawal to us.
    let cancelled =
        tasks::by_id(&inner.db, &task_id).await.ok().flatten().is_some_and(|t| t.status == TaskStatus::Cancelled);
    if cancelled && let Some(client) = inner.client_of(instance_id) {
        let assigned = tasks::by_id(&inner.db, &task_id).await.ok().flatten().and_then(|t| t.prompt_id);
        withdraw(inner, &client, instance_id, assigned.as_deref().unwrap_or(prompt_id)).await;
    }
}

async fn hand_over(inner: &Arc<Inner>, task: crate::queue::Pending, instance_id: &str, prompt_id: &str) {
    let now = inner.now();
    let claimed = match tasks::claim(&inner.db, &task.id, instance_id, prompt_id, now).await {
        Ok(Some(claimed)) => {
            inner.announce(crate::cluster::Notice::Dispatched(task.id.clone()));
            claimed
        }
        Ok(None) => {
            // Claimed by another gateway, or cancelled, while waiting for the slot.
            inner.claims_lost.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            lock(&inner.fleet).release(instance_id, prompt_id);
            inner.wake.notify_one();
            return;
        }
        Err(e) => {
            tracing::error!(task_id = %task.id, error = %e, "cannot claim task");
            lock(&inner.fleet).release(instance_id, prompt_id);
            lock(&inner.queue).push(task);
            return;
        }
    };
    let Some(client) = inner.client_of(instance_id) else {
        lock(&inner.fleet).release(instance_id, prompt_id);
        inner.requeue_or_fail(&task.id, "its instance was removed").await;
        return;
    };
    match post(inner, &client, &claimed, prompt_id).await {
        Ok(assigned) if assigned != prompt_id => {
            // An older ComfyUI ignored our prompt id: follow its own.
            {
                let mut fleet = lock(&inner.fleet);
                if let Some(task_id) = fleet.release(instance_id, prompt_id)
                    && let Some(instance) = fleet.instances.get_mut(instance_id)
                {
                    instance.slots.insert(assigned.clone(), task_id);
                }
            }
            let _ = tasks::set_prompt_id(&inner.db, &task.id, &assigned).await;
        }
        Ok(_) => {}
        Err(PostError::Rejected { message, queued }) => {
            inner.fail(&task.id, task.user_id, TaskFailure::InvalidWorkflow, &message).await;
            lock(&inner.fleet).release(instance_id, prompt_id);
            if let Some(queued) = queued {
                // ComfyUI queued the valid part and an idle instance starts it at once: the
                // slot stays taken until it is withdrawn (interrupted, and its history deleted).
                if let Some(instance) = lock(&inner.fleet).instances.get_mut(instance_id) {
                    instance.slots.insert(queued.clone(), task.id.clone());
                }
                withdraw(inner, &client, instance_id, &queued).await;
            }
            inner.wake.notify_one();
        }
        Err(PostError::Unreachable(message)) => {
            // The instance is down (it refused the connection, say): it leaves placement at
            // once and the attempt counts against it, not against the task.
            tracing::warn!(task_id = %task.id, instance = %instance_id, %message, "instance unreachable; task goes back");
            inner.set_alive(instance_id, false);
            abandon(inner, instance_id, prompt_id);
            let now = inner.now();
            if matches!(tasks::unclaim(&inner.db, &task.id, prompt_id, now).await, Ok(true)) {
                inner.announce(crate::cluster::Notice::Queued(task.clone()));
                lock(&inner.queue).push(task);
            }
            inner.wake.notify_one();
        }
        Err(PostError::Transient(message)) => {
            tracing::warn!(task_id = %task.id, instance = %instance_id, %message, "cannot hand task to instance");
            abandon(inner, instance_id, prompt_id);
            inner.requeue_or_fail(&task.id, &message).await;
        }
    }
}

/// Gives up on a prompt at an instance: its slot is freed, and the prompt (which may have
/// been queued there after all) is swept away before the instance gets new work.
fn abandon(inner: &Inner, instance_id: &str, prompt_id: &str) {
    let mut fleet = lock(&inner.fleet);
    fleet.release(instance_id, prompt_id);
    if let Some(instance) = fleet.instances.get_mut(instance_id) {
        instance.abandoned.insert(prompt_id.to_owned());
    }
}

enum PostError {
    /// ComfyUI refused the graph: retrying elsewhere would not help. `queued`: the id of
    /// the part ComfyUI queued anyway (a partly valid graph).
    Rejected { message: String, queued: Option<String> },
    /// The instance could not be reached.
    Unreachable(String),
    /// The instance could not take it now.
    Transient(String),
}

async fn post(inner: &Inner, client: &ComfyClient, claimed: &Claimed, prompt_id: &str) -> Result<String, PostError> {
    let rejected = |message: String| PostError::Rejected { message, queued: None };
    let mut graph: Graph = serde_json::from_str(&claimed.graph).map_err(|e| rejected(e.to_string()))?;
    let inputs: Vec<InputFile> = serde_json::from_str(&claimed.inputs).unwrap_or_default();
    for input in inputs {
        let file = inner.files.get(&input.file_id).await.map_err(|e| rejected(format!("input file: {e}")))?;
        let bytes = inner.files.read(&file).await.map_err(|e| rejected(format!("input file: {e}")))?;
        let name = format!("{}_{}", file.id, file.filename);
        let uploaded = client.upload_image(&name, bytes.to_vec(), Some("gantry")).await.map_err(transient)?;
        let value = if uploaded.subfolder.is_empty() {
            uploaded.name
        } else {
            format!("{}/{}", uploaded.subfolder, uploaded.name)
        };
        graph::set_input(&mut graph, &input.node, &input.input, value.into());
    }
    let request = PromptRequest {
        prompt: graph,
        client_id: inner.client_id.clone(),
        prompt_id: Some(prompt_id.to_owned()),
        extra_data: None,
    };
    match client.submit(&request).await {
        Ok(accepted) => Ok(accepted.prompt_id),
        Err(ComfyError::Invalid { message, error, .. }) => {
            let queued = error.get("prompt_id").and_then(serde_json::Value::as_str).map(str::to_owned);
            Err(PostError::Rejected { message, queued })
        }
        Err(e) => Err(transient(e)),
    }
}

fn transient(e: ComfyError) -> PostError {
    if e.is_unreachable() { PostError::Unreachable(e.to_string()) } else { PostError::Transient(e.to_string()) }
}

/// Takes a task's prompt back from its instance (the task was cancelled, timed out or
/// refused): deleted if still waiting there, interrupted if running, its history deleted
/// once it ended. Its slot is freed once the prompt is gone.
pub async fn withdraw(inner: &Inner, client: &ComfyClient, instance_id: &str, prompt_id: &str) {
    if let Some(instance) = lock(&inner.fleet).instances.get_mut(instance_id) {
        instance.abandoned.insert(prompt_id.to_owned());
    }
    sweep(inner, instance_id, client).await;
    let gone = {
        let mut fleet = lock(&inner.fleet);
        let gone = fleet.instances.get(instance_id).is_some_and(|i| !i.abandoned.contains(prompt_id));
        gone && fleet.release(instance_id, prompt_id).is_some()
    };
    if gone {
        inner.wake.notify_one();
    }
}

/// Clears an instance of the prompts Gantry gave up on there: deletes them from its
/// queue, interrupts the one running, and deletes their history once they ended. A prompt
/// still running stays listed until it ends (its `executing` end sweeps again).
pub async fn sweep(inner: &Inner, instance_id: &str, client: &ComfyClient) {
    let abandoned: Vec<String> = lock(&inner.fleet)
        .instances
        .get(instance_id)
        .map(|i| i.abandoned.iter().cloned().collect())
        .unwrap_or_default();
    if abandoned.is_empty() {
        return;
    }
    if let Err(e) = client.delete_pending(&abandoned).await {
        tracing::warn!(instance = %instance_id, error = %e, "cannot delete abandoned prompts");
        return;
    }
    let queue = match client.queue().await {
        Ok(queue) => queue,
        Err(e) => {
            tracing::warn!(instance = %instance_id, error = %e, "cannot read instance queue");
            return;
        }
    };
    let mut ended = Vec::new();
    for prompt_id in abandoned {
        if queue.running.contains(&prompt_id) {
            tracing::info!(instance = %instance_id, %prompt_id, "interrupting an abandoned prompt");
            if let Err(e) = client.interrupt(Some(&prompt_id)).await {
                tracing::warn!(instance = %instance_id, error = %e, "cannot interrupt prompt");
            }
        } else if !queue.pending.contains(&prompt_id) {
            ended.push(prompt_id);
        }
    }
    if ended.is_empty() {
        return;
    }
    match client.delete_history(&ended).await {
        Ok(()) => {
            if let Some(instance) = lock(&inner.fleet).instances.get_mut(instance_id) {
                for prompt_id in &ended {
                    instance.abandoned.remove(prompt_id);
                }
            }
        }
        Err(e) => tracing::warn!(instance = %instance_id, error = %e, "cannot delete abandoned history"),
    }
}

/// A prompt started executing.
pub async fn started(inner: &Inner, instance_id: &str, prompt_id: &str, task_id: &str) {
    let now = inner.now();
    let Ok(Some(task)) = tasks::by_id(&inner.db, task_id).await else { return };
    if task.is_terminal() {
        return;
    }
    lock(&inner.progress).insert(
        task_id.to_owned(),
        Progress {
            user_id: task.user_id,
            total_steps: task.total_steps.max(0) as u64,
            nodes_to_run: serde_json::from_str::<Graph>(&task.graph).map_or(0, |g| g.len() as u64),
            ..Progress::default()
        },
    );
    lock(&inner.running).insert(task_id.to_owned(), (instance_id.to_owned(), prompt_id.to_owned(), now));
    if matches!(tasks::mark_running(&inner.db, task_id, now).await, Ok(true)) {
        inner.events.publish(
            now,
            Event::TaskStarted {
                task_id: task_id.to_owned(),
                user_id: task.user_id,
                instance_id: instance_id.to_owned(),
            },
        );
    }
}

/// A prompt ended (ComfyUI sent `executing` with no node): reads its history entry and
/// completes, fails or requeues the task.
pub async fn collect(inner: &Arc<Inner>, instance_id: &str, prompt_id: &str, task_id: &str) {
    inner.forget_live(task_id);
    let Some(client) = inner.client_of(instance_id) else { return };
    let (entry, task) = tokio::join!(history_entry(&client, prompt_id), tasks::by_id(&inner.db, task_id));
    let Some(entry) = entry else {
        inner.requeue_or_fail(task_id, "its result could not be read from the instance").await;
        return;
    };
    let Ok(Some(task)) = task else { return };
    if task.is_terminal() {
        // Cancelled or timed out, and it ended anyway: nothing to keep.
        let _ = client.delete_history(&[prompt_id.to_owned()]).await;
        return;
    }
    match &entry.outcome {
        Outcome::Success => {
            let wanted: Vec<_> = if entry.outputs.iter().any(|o| o.kind == "output") {
                entry.outputs.iter().filter(|o| o.kind == "output").collect()
            } else {
                entry.outputs.iter().collect()
            };
            let mut files = Vec::new();
            let nodes: Vec<&str> = wanted.iter().map(|o| o.node_id.as_str()).collect();
            for output in &wanted {
                let bytes = match client.view(output).await {
                    Ok(bytes) => bytes,
                    Err(e) => {
                        inner.requeue_or_fail(task_id, &format!("cannot download {}: {e}", output.filename)).await;
                        return;
                    }
                };
                let new = NewFile {
                    user_id: task.user_id,
                    kind: FileKind::Output,
                    filename: output.filename.clone(),
                    bytes,
                    task_id: Some(task_id.to_owned()),
                };
                match inner.files.put_media(new, MAX_OUTPUT_BYTES).await {
                    Ok(file) => files.push(FileRef { id: file.id, filename: file.filename }),
                    Err(e) => {
                        // Never complete a task without its files: those kept so far go.
                        for kept in &files {
                            let _ = inner.files.delete(&kept.id, task.user_id, true).await;
                        }
                        let error = format!("cannot keep the output {}: {e}", output.filename);
                        tracing::warn!(task_id, %error, "output not kept");
                        match e {
                            FilesError::Io(_) | FilesError::Store(_) => inner.requeue_or_fail(task_id, &error).await,
                            _ => inner.fail(task_id, task.user_id, TaskFailure::ExecutionError, &error).await,
                        }
                        let _ = client.delete_history(&[prompt_id.to_owned()]).await;
                        return;
                    }
                }
            }
            let ids: Vec<&str> = files.iter().map(|f| f.id.as_str()).collect();
            let result = serde_json::json!({ "files": ids, "nodes": nodes }).to_string();
            let now = inner.now();
            if matches!(tasks::complete(&inner.db, task_id, &result, now).await, Ok(true)) {
                inner
                    .events
                    .publish(now, Event::TaskCompleted { task_id: task_id.to_owned(), user_id: task.user_id, files });
            }
            let _ = client.delete_history(&[prompt_id.to_owned()]).await;
        }
        Outcome::Error { message, exception_type, .. } => {
            // ComfyUI's messages end with the traceback's newline.
            let message = message.trim_end();
            let error =
                if exception_type.is_empty() { message.to_owned() } else { format!("{exception_type}: {message}") };
            inner.fail(task_id, task.user_id, TaskFailure::ExecutionError, &error).await;
            let _ = client.delete_history(&[prompt_id.to_owned()]).await;
        }
        Outcome::Interrupted | Outcome::Unknown => {
            inner
                .fail(task_id, task.user_id, TaskFailure::Interrupted, "the prompt was interrupted on its instance")
                .await;
            let _ = client.delete_history(&[prompt_id.to_owned()]).await;
        }
    }
}

/// A prompt's history entry, asked for a few times (a reconnecting instance may not have
/// it yet).
async fn history_entry(client: &ComfyClient, prompt_id: &str) -> Option<gantry_comfy::HistoryEntry> {
    for attempt in 0..5u64 {
        match client.history(prompt_id).await {
            Ok(Some(found)) => return Some(found),
            Ok(None) | Err(_) => tokio::time::sleep(Duration::from_millis(20 * (attempt + 1))).await,
        }
    }
    None
}

/// After a (re)connect: asks the instance what became of every task Gantry believes it
/// holds. Finished ones are collected, running or waiting ones stay attached, missing
/// ones (the instance restarted and lost its queue) go back to the queue.
pub async fn reconcile(inner: &Arc<Inner>, instance_id: &str, client: &ComfyClient) {
    // Prompts still being posted are skipped. The filter must come before the queue is
    // read: a prompt whose post finished before this point is in the instance's queue or
    // history by the time we ask.
    let held: Vec<(String, String)> = {
        let fleet = lock(&inner.fleet);
        let posting = lock(&inner.posting);
        fleet
            .instances
            .get(instance_id)
            .map(|i| {
                i.slots.iter().filter(|(p, _)| !posting.contains(*p)).map(|(p, t)| (p.clone(), t.clone())).collect()
            })
            .unwrap_or_default()
    };
    if held.is_empty() {
        return;
    }
    let Ok(queue) = client.queue().await else { return };
    for (prompt_id, task_id) in held {
        if queue.running.contains(&prompt_id) {
            let running =
                tasks::by_id(&inner.db, &task_id).await.ok().flatten().is_some_and(|t| t.status == TaskStatus::Running);
            if !running || !lock(&inner.progress).contains_key(&task_id) {
                started(inner, instance_id, &prompt_id, &task_id).await;
            }
            continue;
        }
        if queue.pending.contains(&prompt_id) {
            continue;
        }
        // Whoever releases the slot owns the outcome (the `executing` event may race us).
        if lock(&inner.fleet).release(instance_id, &prompt_id).is_none() {
            continue;
        }
        match client.history(&prompt_id).await {
            Ok(Some(_)) => {
                // It ran, whether or not its messages have arrived yet (a busy instance
                // sends them late): it started before it ends, as its watchers expect.
                started(inner, instance_id, &prompt_id, &task_id).await;
                collect(inner, instance_id, &prompt_id, &task_id).await;
            }
            _ => inner.requeue_or_fail(&task_id, "the instance no longer knows it").await,
        }
    }
    inner.wake.notify_one();
}

/// Fails tasks that run longer than `dispatch.taskTimeout` (`TIMEOUT`) and interrupts them.
pub async fn watchdog_loop(inner: Arc<Inner>) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
            () = inner.supervisor.stopping() => return,
        }
        let limit = inner.config.read().unwrap_or_else(std::sync::PoisonError::into_inner).dispatch.task_timeout as i64;
        let now = inner.now();
        let overdue: Vec<(String, String, String)> = lock(&inner.running)
            .iter()
            .filter(|(_, (_, _, started))| now - started > limit)
            .map(|(task, (instance, prompt, _))| (task.clone(), instance.clone(), prompt.clone()))
            .collect();
        for (task_id, instance_id, prompt_id) in overdue {
            let Ok(Some(task)) = tasks::by_id(&inner.db, &task_id).await else {
                inner.forget_live(&task_id);
                continue;
            };
            inner.fail(&task_id, task.user_id, TaskFailure::TimedOut, "the task timed out").await;
            if let Some(client) = inner.client_of(&instance_id) {
                withdraw(&inner, &client, &instance_id, &prompt_id).await;
            }
        }
    }
}

impl Inner {
    /// Fails a task for good and tells everyone.
    pub(crate) async fn fail(&self, task_id: &str, user_id: gantry_core::UserId, reason: TaskFailure, error: &str) {
        let reached = self.forget_live(task_id);
        let now = self.now();
        if matches!(tasks::fail(&self.db, task_id, error, reason, reached, now).await, Ok(true)) {
            self.events.publish(
                now,
                Event::TaskFailed { task_id: task_id.to_owned(), user_id, reason, error: error.to_owned() },
            );
        }
    }
}
