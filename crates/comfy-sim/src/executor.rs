//! The prompt worker: takes one prompt at a time from the queue, plays out its graph and
//! reports over the WebSocket exactly as ComfyUI's `prompt_worker` and `PromptExecutor` do.

use std::collections::{HashMap, HashSet};
use std::io::Cursor;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use indexmap::{IndexMap, IndexSet};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::watch;

use crate::cache::{NodeCache, signatures};
use crate::config::FailSpec;
use crate::graph::Graph;
use crate::nodes::{self, Arg, Args, ComputeCtx, NodeError, NodeOutput, Work};
use crate::pixels::Pixels;
use crate::pyfmt::json_dumps;
use crate::queue::{ExecutionStatus, HistoryEntry, QueueItem};
use crate::state::{Sim, lock};
use crate::ws::{PREVIEW_IMAGE, PREVIEW_IMAGE_WITH_METADATA};

/// Previews are shrunk to fit this size (`--preview-size`).
const MAX_PREVIEW: u32 = 512;

/// Why a node did not finish.
enum Failure {
    Interrupted,
    Error {
        exception_type: String,
        message: String,
        inputs: Value,
    },
    /// The sim crashed; nothing more is reported.
    Died,
}

/// Runs prompts until the sim dies.
pub(crate) async fn run_worker(sim: Arc<Sim>) {
    let mut executor = Executor { sim: Arc::clone(&sim), cache: NodeCache::default(), loaded_checkpoint: None };
    let mut dead = sim.dead.subscribe();
    while let Some(item) = next_prompt(&sim, &mut dead).await {
        executor.apply_free_flags();
        let Some((entry, outcome)) = executor.run_prompt(Arc::clone(&item)).await else {
            return;
        };
        {
            let mut queue = lock(&sim.queue);
            queue.finish(entry, outcome);
            sim.queue_updated(&queue);
        }
        let client = item.client_id();
        if client.is_some() {
            let done = json!({"node": null, "prompt_id": item.prompt_id});
            sim.hub.send_json("executing", &done, client.as_deref());
        }
    }
}

async fn next_prompt(sim: &Sim, dead: &mut watch::Receiver<bool>) -> Option<Arc<QueueItem>> {
    loop {
        if *dead.borrow() {
            return None;
        }
        let taken = {
            let mut queue = lock(&sim.queue);
            let item = queue.take_next();
            if item.is_some() {
                sim.queue_updated(&queue);
            }
            item
        };
        if taken.is_some() {
            return taken;
        }
        tokio::select! {
            () = sim.wake.notified() => {}
            changed = dead.changed() => if changed.is_err() { return None },
        }
    }
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)).unwrap_or(0)
}

fn traceback(class_type: &str) -> Value {
    json!([
        "  File \"/ComfyUI/execution.py\", line 496, in execute\n",
        "  File \"/ComfyUI/execution.py\", line 315, in get_output_data\n",
        format!("  File \"/ComfyUI/nodes.py\", in {class_type}\n"),
    ])
}

struct Executor {
    sim: Arc<Sim>,
    cache: NodeCache,
    loaded_checkpoint: Option<String>,
}

/// Per-prompt reporting state.
struct Run<'a> {
    sim: &'a Sim,
    prompt_id: &'a str,
    client: Option<String>,
    messages: Vec<(String, Value)>,
    progress: IndexMap<String, (Value, Value, &'static str)>,
    executed: Vec<String>,
    steps_done: u32,
    fail: Option<FailSpec>,
    png_texts: Arc<Vec<(String, String)>>,
}

impl Run<'_> {
    /// `PromptExecutor.add_message`: recorded for history, sent to the client (or broadcast).
    fn add_message(&mut self, event: &str, mut data: Value, broadcast: bool) {
        if let Value::Object(map) = &mut data {
            map.insert("timestamp".into(), now_ms().into());
        }
        if self.client.is_some() || broadcast {
            self.sim.hub.send_json(event, &data, self.client.as_deref());
        }
        self.messages.push((event.to_owned(), data));
    }

    /// Sent only when the prompt has a client id.
    fn send_client(&self, event: &str, data: &Value) {
        if self.client.is_some() {
            self.sim.hub.send_json(event, data, self.client.as_deref());
        }
    }

    fn set_progress(&mut self, node: &str, value: Value, max: Value, state: &'static str) {
        self.progress.insert(node.to_owned(), (value, max, state));
        if !lock(&self.sim.knobs).progress_state {
            return;
        }
        let nodes: serde_json::Map<String, Value> = self
            .progress
            .iter()
            .map(|(id, (value, max, state))| {
                let entry = json!({
                    "value": value, "max": max, "state": state, "node_id": id,
                    "prompt_id": self.prompt_id, "display_node_id": id,
                    "parent_node_id": null, "real_node_id": id,
                });
                (id.clone(), entry)
            })
            .collect();
        let data = json!({"prompt_id": self.prompt_id, "nodes": nodes});
        self.sim.hub.send_json("progress_state", &data, self.client.as_deref());
    }

    fn finish_progress(&mut self, node: &str) {
        let max = self.progress.get(node).map_or(json!(1.0), |p| p.1.clone());
        self.set_progress(node, max.clone(), max, "finished");
    }

    /// Whether an injected failure fires at this node: the first uncached heavy node, else an output.
    fn take_injected(&mut self, class_type: &str, cached: bool, is_output: bool) -> Option<FailSpec> {
        let here = (nodes::is_heavy(class_type) && !cached) || is_output;
        if here { self.fail.take() } else { None }
    }

    fn report_failure(
        &mut self,
        graph: &Graph,
        node_id: &str,
        failure: Failure,
        current_outputs: &[String],
    ) -> &'static str {
        let node_type = graph.class_of(node_id).to_owned();
        match failure {
            Failure::Interrupted => {
                let data = json!({"prompt_id": self.prompt_id, "node_id": node_id, "node_type": node_type, "executed": self.executed});
                self.add_message("execution_interrupted", data, true);
                "interrupted"
            }
            Failure::Error { exception_type, message, inputs } => {
                let data = json!({
                    "prompt_id": self.prompt_id, "node_id": node_id, "node_type": node_type,
                    "executed": self.executed, "exception_message": message,
                    "exception_type": exception_type, "traceback": traceback(&node_type),
                    "current_inputs": inputs, "current_outputs": current_outputs,
                });
                self.add_message("execution_error", data, false);
                "error"
            }
            Failure::Died => "error",
        }
    }
}

/// ComfyUI's `ExecutionList`: which node to run next, output-first as `ux_friendly_pick_node` does.
#[derive(Default)]
struct ExecutionList {
    pending: IndexSet<String>,
    block_count: HashMap<String, usize>,
    blocking: HashMap<String, IndexSet<String>>,
}

impl ExecutionList {
    fn add_node(&mut self, graph: &Graph, start: &str, cached: &HashSet<String>) {
        let mut stack = vec![start.to_owned()];
        let mut links = Vec::new();
        while let Some(id) = stack.pop() {
            if !self.pending.insert(id.clone()) {
                continue;
            }
            self.block_count.insert(id.clone(), 0);
            self.blocking.insert(id.clone(), IndexSet::new());
            let Some(node) = graph.get(&id) else { continue };
            for (_, link) in node.links() {
                if graph.get(&link.from).is_none() {
                    continue;
                }
                if !cached.contains(&link.from) {
                    stack.push(link.from.clone());
                }
                links.push((link.from, id.clone()));
            }
        }
        for (from, to) in links {
            if cached.contains(&from) {
                continue;
            }
            self.add_node(graph, &from, cached);
            if self.blocking.entry(from).or_default().insert(to.clone()) {
                *self.block_count.entry(to).or_default() += 1;
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    fn pick(&self, is_output: impl Fn(&str) -> bool) -> Option<String> {
        let ready: Vec<&String> = self.pending.iter().filter(|id| self.block_count.get(*id) == Some(&0)).collect();
        let blocked = |id: &str| self.blocking.get(id).into_iter().flatten();
        ready
            .iter()
            .find(|id| is_output(id))
            .or_else(|| ready.iter().find(|id| blocked(id).any(|b| is_output(b))))
            .or_else(|| ready.iter().find(|id| blocked(id).any(|b| blocked(b).any(|b2| is_output(b2)))))
            .or_else(|| ready.first())
            .map(|id| (*id).clone())
    }

    fn complete(&mut self, id: &str) {
        self.pending.shift_remove(id);
        for blocked in self.blocking.remove(id).unwrap_or_default() {
            if let Some(count) = self.block_count.get_mut(&blocked) {
                *count = count.saturating_sub(1);
            }
        }
    }
}

impl Executor {
    /// `/free` flags, handled between prompts.
    fn apply_free_flags(&mut self) {
        let mut queue = lock(&self.sim.queue);
        if queue.unload_models || queue.free_memory {
            self.loaded_checkpoint = None;
        }
        if queue.free_memory {
            self.cache.clear();
        }
        queue.unload_models = false;
        queue.free_memory = false;
    }

    /// `IS_CHANGED` values: LoadImage hashes its file, so a replaced upload runs again.
    async fn is_changed(&self, graph: &Graph) -> HashMap<String, String> {
        let mut out = HashMap::new();
        for (id, node) in graph.iter() {
            if node.class_type.as_deref() != Some("LoadImage") {
                continue;
            }
            let name = node.input("image").map(crate::pyfmt::str).unwrap_or_default();
            let Some(path) = self.sim.annotated_path(&name, "input") else {
                continue;
            };
            if let Ok(bytes) = tokio::fs::read(path).await {
                out.insert(id.to_owned(), hex::encode(Sha256::digest(&bytes)));
            }
        }
        out
    }

    /// Runs one prompt; `None` when the sim died on the way.
    async fn run_prompt(&mut self, item: Arc<QueueItem>) -> Option<(HistoryEntry, &'static str)> {
        let sim = Arc::clone(&self.sim);
        let graph = &item.graph;
        sim.interrupt.store(false, Ordering::SeqCst);
        let client = item.client_id();
        {
            let mut exec = lock(&sim.exec);
            exec.client_id = client.clone();
            exec.last_node_id = None;
        }
        let fail = lock(&sim.knobs).fail_next.take();
        let mut png_texts = vec![("prompt".to_owned(), json_dumps(graph))];
        if let Some(Value::Object(info)) = item.extra_data.get("extra_pnginfo") {
            png_texts.extend(info.iter().map(|(k, v)| (k.clone(), json_dumps(v))));
        }
        let mut run = Run {
            sim: &sim,
            prompt_id: &item.prompt_id,
            client,
            messages: Vec::new(),
            progress: IndexMap::new(),
            executed: Vec::new(),
            steps_done: 0,
            fail,
            png_texts: Arc::new(png_texts),
        };
        run.add_message("execution_start", json!({"prompt_id": item.prompt_id}), false);

        let is_changed = self.is_changed(graph).await;
        let sigs = signatures(graph, &is_changed);
        self.cache.retain_signatures(&sigs.values().collect());
        let cached: Vec<String> = graph
            .ids()
            .filter(|id| sigs.get(*id).is_some_and(|s| self.cache.get(s).is_some()))
            .map(str::to_owned)
            .collect();
        run.add_message("execution_cached", json!({"nodes": cached, "prompt_id": item.prompt_id}), false);

        let cached_set: HashSet<String> = cached.iter().cloned().collect();
        let mut list = ExecutionList::default();
        for output in &item.outputs {
            list.add_node(graph, output, &cached_set);
        }
        let is_output = |id: &str| sim.catalogue.get(graph.class_of(id)).is_some_and(|d| d.output_node);
        let mut failure = None;
        while !list.is_empty() {
            let Some(id) = list.pick(is_output) else {
                let stuck = list.pending.first().cloned().unwrap_or_default();
                let error = Failure::Error {
                    exception_type: "comfy_execution.graph.DependencyCycleError".into(),
                    message: "Dependency cycle detected".into(),
                    inputs: json!({}),
                };
                failure = Some((stuck, error));
                break;
            };
            match self.execute_node(&mut run, graph, &id, &sigs).await {
                Ok(()) => list.complete(&id),
                Err(Failure::Died) => return None,
                Err(f) => {
                    failure = Some((id, f));
                    break;
                }
            }
        }
        let outcome = match failure {
            None => {
                run.add_message("execution_success", json!({"prompt_id": item.prompt_id}), false);
                "success"
            }
            Some((id, f)) => run.report_failure(graph, &id, f, &cached),
        };

        let mut outputs = Vec::new();
        let mut meta = Vec::new();
        for id in graph.ids() {
            let ui = sigs.get(id).and_then(|s| self.cache.get(s)).and_then(|o| o.ui.clone());
            if let Some(ui) = ui {
                outputs.push((id.to_owned(), ui));
                let m = json!({"node_id": id, "display_node": id, "parent_node": null, "real_node_id": id});
                meta.push((id.to_owned(), m));
            }
        }
        lock(&sim.exec).last_node_id = None;
        let success = outcome == "success";
        let status = ExecutionStatus {
            status_str: if success { "success" } else { "error" },
            completed: success,
            messages: run.messages,
        };
        let entry = HistoryEntry { prompt: Arc::clone(&item), outputs, status, meta };
        Some((entry, outcome))
    }

    async fn execute_node(
        &mut self,
        run: &mut Run<'_>,
        graph: &Graph,
        id: &str,
        sigs: &HashMap<String, String>,
    ) -> Result<(), Failure> {
        let class_type = graph.class_of(id).to_owned();
        let def = self.sim.catalogue.get(&class_type);
        let is_output = def.is_some_and(|d| d.output_node);
        let signature = sigs.get(id).cloned().unwrap_or_default();
        let prompt_id = run.prompt_id;
        let node_msg =
            |output: &Value| json!({"node": id, "display_node": id, "output": output, "prompt_id": prompt_id});

        if let Some(cached) = self.cache.get(&signature) {
            if let Some(spec) = run.take_injected(&class_type, true, is_output) {
                return Err(injected(spec, json!({})));
            }
            if let Some(ui) = &cached.ui {
                run.send_client("executed", &node_msg(ui));
            }
            run.finish_progress(id);
            return Ok(());
        }

        run.set_progress(id, json!(0.0), json!(1.0), "running");
        lock(&self.sim.exec).last_node_id = Some(id.to_owned());
        run.send_client("executing", &json!({"node": id, "display_node": id, "prompt_id": run.prompt_id}));
        let args = gather_args(graph, id, |from| sigs.get(from).and_then(|s| self.cache.get(s)));
        if self.sim.interrupt.load(Ordering::SeqCst) {
            return Err(Failure::Interrupted);
        }
        if let Some(spec) = run.take_injected(&class_type, false, is_output) {
            return Err(injected(spec, args.describe()));
        }

        match nodes::work(&class_type, &args) {
            Work::Instant => {}
            Work::LoadCheckpoint(name) => {
                if self.loaded_checkpoint.as_deref() != Some(name.as_str()) {
                    let load_ms = lock(&self.sim.knobs).load_ms;
                    tokio::time::sleep(Duration::from_millis(load_ms)).await;
                    self.loaded_checkpoint = Some(name);
                }
            }
            Work::Sample { steps, width, height } => {
                let preview = (width.min(MAX_PREVIEW), height.min(MAX_PREVIEW));
                for step in 1..=steps {
                    self.step(run, id, (step, steps), true, Some(preview), &signature).await?;
                }
            }
            Work::Tiles { ticks, per_wait } => {
                for tick in 1..=ticks {
                    let wait = tick % per_wait == 0 || tick == ticks;
                    self.step(run, id, (tick, ticks), wait, None, &signature).await?;
                }
            }
        }

        let ctx = ComputeCtx {
            sim: Arc::clone(&self.sim),
            token: token_of(&signature),
            output_types: def.map(|d| d.output.clone()).unwrap_or_default(),
            png_texts: Arc::clone(&run.png_texts),
        };
        let result = if nodes::does_io(&class_type) {
            let (class, task_args) = (class_type.clone(), args.clone());
            tokio::task::spawn_blocking(move || nodes::compute(&ctx, &class, &task_args))
                .await
                .unwrap_or_else(|e| Err(NodeError { exception_type: "RuntimeError".into(), message: e.to_string() }))
        } else {
            nodes::compute(&ctx, &class_type, &args)
        };
        let output = result.map_err(|e| Failure::Error {
            exception_type: e.exception_type,
            message: format!("{}\n", e.message),
            inputs: args.describe(),
        })?;
        let output = self.cache.insert(signature, output);
        if let Some(ui) = &output.ui {
            run.send_client("executed", &node_msg(ui));
        }
        run.finish_progress(id);
        run.executed.push(id.to_owned());
        Ok(())
    }

    /// One sampler step or progress tick (`value` of `max`): wait (when `wait`), then the
    /// progress hook (interrupt check, `progress_state`, `progress`, previews), then the
    /// crash check.
    async fn step(
        &self,
        run: &mut Run<'_>,
        node: &str,
        (value, max): (u32, u32),
        wait: bool,
        preview: Option<(u32, u32)>,
        signature: &str,
    ) -> Result<(), Failure> {
        let knobs = self.sim.knobs();
        if wait {
            tokio::time::sleep(Duration::from_millis(knobs.step_ms)).await;
        } else {
            tokio::task::yield_now().await;
        }
        if self.sim.is_dead() {
            return Err(Failure::Died);
        }
        if self.sim.interrupt.load(Ordering::SeqCst) {
            return Err(Failure::Interrupted);
        }
        run.set_progress(node, json!(value), json!(max), "running");
        let target = run.client.clone();
        let image = preview.filter(|_| knobs.preview).and_then(|f| preview_jpeg(f, token_of(signature), value, max));
        let metadata_client = self.sim.hub.supports_preview_metadata(target.as_deref());
        if let Some(jpeg) = &image
            && metadata_client
        {
            let meta = json!({
                "node_id": node, "prompt_id": run.prompt_id, "display_node_id": node,
                "parent_node_id": null, "real_node_id": node, "image_type": "image/jpeg",
            })
            .to_string();
            let mut payload = (meta.len() as u32).to_be_bytes().to_vec();
            payload.extend_from_slice(meta.as_bytes());
            payload.extend_from_slice(jpeg);
            self.sim.hub.send_binary(PREVIEW_IMAGE_WITH_METADATA, &payload, target.as_deref());
        }
        let progress = json!({"value": value, "max": max, "prompt_id": run.prompt_id, "node": node});
        self.sim.hub.send_json("progress", &progress, target.as_deref());
        if let Some(jpeg) = &image
            && !metadata_client
        {
            let mut payload = 1u32.to_be_bytes().to_vec(); // format 1 = JPEG
            payload.extend_from_slice(jpeg);
            self.sim.hub.send_binary(PREVIEW_IMAGE, &payload, target.as_deref());
        }
        run.steps_done += 1;
        if knobs.die_after_steps > 0 && run.steps_done >= knobs.die_after_steps {
            self.sim.die();
            return Err(Failure::Died);
        }
        Ok(())
    }
}

fn injected(spec: FailSpec, inputs: Value) -> Failure {
    Failure::Error { exception_type: spec.exception_type, message: spec.exception_message, inputs }
}

/// A node's inputs: literals, and linked outputs of nodes that ran or are cached.
fn gather_args(graph: &Graph, id: &str, output_of: impl Fn(&str) -> Option<Arc<NodeOutput>>) -> Args {
    let Some(node) = graph.get(id) else {
        return Args::default();
    };
    let args = node
        .inputs
        .iter()
        .map(|(name, value)| {
            let arg = match crate::graph::as_link(value) {
                Some(link) => output_of(&link.from)
                    .and_then(|o| o.values.get(link.slot).cloned())
                    .map_or(Arg::Literal(Value::Null), Arg::Linked),
                None => Arg::Literal(value.clone()),
            };
            (name.clone(), arg)
        })
        .collect();
    Args(args)
}

/// A stable 64-bit token from a signature (seeds the simulated pixels).
fn token_of(signature: &str) -> u64 {
    let digest = Sha256::digest(signature.as_bytes());
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    u64::from_le_bytes(bytes)
}

/// A latent2rgb-style preview of `size`: the final pattern fading in over the steps.
fn preview_jpeg(size: (u32, u32), token: u64, step: u32, steps: u32) -> Option<Vec<u8>> {
    let pixels = Pixels::Blend {
        base: Arc::new(Pixels::Solid([96, 96, 96])),
        top: Arc::new(Pixels::Pattern(token)),
        amount: step as f32 / steps.max(1) as f32,
    };
    let img = pixels.render(size.0, size.1, 0);
    let mut out = Cursor::new(Vec::new());
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 95).encode_image(&img).ok()?;
    Some(out.into_inner())
}
