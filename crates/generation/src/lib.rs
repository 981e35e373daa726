//! The generation context: star-graph's six generators. A request is validated
//! ([`request`]), its images stored ([`images`]), its ComfyUI graph built from a template
//! file ([`templates`]), its cost frozen in the ledger, and the task handed to the
//! dispatcher. Settlement and thumbnails follow the task's end ([`settle`]).

pub mod catalogue;
pub mod graphs;
pub mod images;
pub mod request;
mod settle;
pub mod templates;

pub use request::{GenerationRequest, Img2Img, Img2Video, Pose, Text2Img, Text2Video, Upscale};

use gantry_core::config::GenerationConfig;
use gantry_core::{Clock, IdSource, UserId};
use gantry_dispatch::TaskRecord;
use gantry_dispatch::{Caller, DispatchError, Dispatcher, Submission};
use gantry_files::{FileKind, FileRecord, FileStore, NewFile};
use gantry_ledger::{Ledger, LedgerError, Settlement};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use templates::Templates;

/// The generators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Text2Img,
    Img2Img,
    Upscale,
    Pose,
    Text2Video,
    Img2Video,
}

impl Kind {
    /// Every generator.
    pub const ALL: [Kind; 6] =
        [Kind::Text2Img, Kind::Img2Img, Kind::Upscale, Kind::Pose, Kind::Text2Video, Kind::Img2Video];

    /// star-graph's type name (`TEXT2IMG`, …), also the task kind.
    pub fn type_name(self) -> &'static str {
        match self {
            Kind::Text2Img => "TEXT2IMG",
            Kind::Img2Img => "IMG2IMG",
            Kind::Upscale => "UPSCALE",
            Kind::Pose => "POSE",
            Kind::Text2Video => "TEXT2VIDEO",
            Kind::Img2Video => "IMG2VIDEO",
        }
    }

    /// Task id prefix (`t2i_…`).
    pub fn prefix(self) -> &'static str {
        match self {
            Kind::Text2Img => "t2i",
            Kind::Img2Img => "i2i",
            Kind::Upscale => "ups",
            Kind::Pose => "pose",
            Kind::Text2Video => "t2v",
            Kind::Img2Video => "i2v",
        }
    }

    /// Template file name, also the route segment (`/generate/text2img`).
    pub fn template(self) -> &'static str {
        match self {
            Kind::Text2Img => "text2img",
            Kind::Img2Img => "img2img",
            Kind::Upscale => "upscale",
            Kind::Pose => "pose",
            Kind::Text2Video => "text2video",
            Kind::Img2Video => "img2video",
        }
    }

    /// The generator of a type name (`TEXT2IMG`) or route segment (`text2img`).
    pub fn parse(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.type_name().eq_ignore_ascii_case(name) || k.template() == name)
    }

    /// Whether it produces video.
    pub fn is_video(self) -> bool {
        matches!(self, Kind::Text2Video | Kind::Img2Video)
    }

    /// Typical run time in seconds before any has been measured.
    fn default_seconds(self) -> i64 {
        match self {
            Kind::Text2Img | Kind::Img2Img => 30,
            Kind::Upscale => 15,
            Kind::Pose => 40,
            Kind::Text2Video | Kind::Img2Video => 120,
        }
    }
}

/// Errors of the generation context, with star-graph's business codes.
#[derive(Debug, thiserror::Error)]
pub enum GenerationError {
    #[error("{0}")]
    Invalid(String),
    #[error("model unavailable: {0}")]
    ModelUnavailable(String),
    #[error("insufficient balance: {available} available, {needed} needed")]
    InsufficientBalance { available: i64, needed: i64 },
    #[error("the task queue is full")]
    QueueFull,
    #[error("unsupported image format: use JPG, PNG or WebP")]
    ImageFormat,
    #[error("image larger than {0} bytes")]
    ImageTooLarge(usize),
    #[error("the prompt contains a sensitive word")]
    Sensitive,
    #[error("no GPU instance is available")]
    NoInstance,
    #[error("task not found")]
    TaskNotFound,
    #[error("task already finished")]
    AlreadyFinished,
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<DispatchError> for GenerationError {
    fn from(e: DispatchError) -> Self {
        match e {
            DispatchError::ModelUnavailable(m) => Self::ModelUnavailable(m),
            DispatchError::QueueFull(_) | DispatchError::TooManyActive(_) => Self::QueueFull,
            DispatchError::TaskNotFound => Self::TaskNotFound,
            DispatchError::AlreadyFinished => Self::AlreadyFinished,
            DispatchError::InvalidWorkflow(m) | DispatchError::InvalidParams(m) | DispatchError::InvalidConfig(m) => {
                Self::Internal(format!("template: {m}"))
            }
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<LedgerError> for GenerationError {
    fn from(e: LedgerError) -> Self {
        match e {
            LedgerError::InsufficientBalance { available, needed } => Self::InsufficientBalance { available, needed },
            other => Self::Internal(other.to_string()),
        }
    }
}

/// An accepted generation.
#[derive(Debug, Clone)]
pub struct Submitted {
    pub task_id: String,
    pub kind: Kind,
    /// 1-based place in the queue (0 when already handed to an instance).
    pub queue_position: usize,
    /// Seconds until done, from measured run times of this kind.
    pub estimated_time: i64,
    pub cost: i64,
    /// The parameters used (video tasks show duration, fps, totalFrames).
    pub parameters: serde_json::Map<String, Value>,
}

/// An output with its thumbnail.
#[derive(Debug, Clone)]
pub struct ResultFile {
    pub file: FileRecord,
    pub thumbnail: Option<FileRecord>,
}

/// The generation service.
#[derive(Clone)]
pub struct GenerationService {
    dispatcher: Dispatcher,
    files: FileStore,
    ledger: Ledger,
    config: Arc<GenerationConfig>,
    templates: Templates,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdSource>,
    events: gantry_core::events::EventBus,
    /// Each user's submissions take turns (by user id modulo their number), so the
    /// active-task limit is checked and the task stored as one step.
    turns: Arc<[tokio::sync::Mutex<()>; TURNS]>,
}

/// Locks the users' submissions are spread over.
const TURNS: usize = 64;

/// The contexts the generation service works with.
pub struct Contexts {
    pub dispatcher: Dispatcher,
    pub files: FileStore,
    pub ledger: Ledger,
    pub clock: Arc<dyn Clock>,
    pub ids: Arc<dyn IdSource>,
    pub events: gantry_core::events::EventBus,
}

impl GenerationService {
    /// The service; templates are overridable from `<data_dir>/templates`.
    pub fn new(contexts: Contexts, config: GenerationConfig, data_dir: &std::path::Path) -> Self {
        let Contexts { dispatcher, files, ledger, clock, ids, events } = contexts;
        let templates = Templates::new(data_dir.join("templates"));
        let turns = Arc::new(std::array::from_fn(|_| tokio::sync::Mutex::new(())));
        Self { dispatcher, files, ledger, config: Arc::new(config), templates, clock, ids, events, turns }
    }

    /// The ledger this service charges.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// Validates a request, charges it and queues its task.
    pub async fn generate(&self, user_id: UserId, request: GenerationRequest) -> Result<Submitted, GenerationError> {
        let kind = request.kind();
        let mut plan = request::plan(request, &self.config.video_first_frame_model)?;
        let words = [&plan.prompt, &plan.negative_prompt];
        let lowered: Vec<String> = words.iter().filter_map(|w| w.as_deref()).map(str::to_lowercase).collect();
        if self
            .config
            .sensitive_words
            .iter()
            .any(|w| !w.is_empty() && lowered.iter().any(|t| t.contains(&w.to_lowercase())))
        {
            return Err(GenerationError::Sensitive);
        }
        for (name, binding) in &plan.models {
            let file = self.config.models.get(name).ok_or_else(|| self.unavailable(name))?;
            plan.bindings.insert(binding.clone(), json!(file));
        }
        // The request is checked whole (its images fetched and recognised) before the fleet
        // and the user's limits are: a bad image is the caller's error whatever the fleet does.
        let limits = images::ImageLimits {
            max_bytes: self.config.max_image_bytes,
            allow_private: self.config.allow_private_image_urls,
        };
        let mut images = Vec::with_capacity(plan.images.len());
        for (binding, source) in &plan.images {
            images.push((binding.clone(), images::load(binding, source, limits).await?));
        }
        if !self.dispatcher.any_instance_usable() {
            return Err(GenerationError::NoInstance);
        }
        let turn = usize::try_from(user_id.unsigned_abs() % TURNS as u64).unwrap_or(0);
        let _turn = self.turns[turn].lock().await;
        if self.dispatcher.active_count(user_id).await? as u64 >= self.config.max_active_tasks_per_user {
            return Err(GenerationError::QueueFull);
        }
        for (binding, (bytes, filename)) in images {
            let new = NewFile { user_id, kind: FileKind::Upload, filename, bytes, task_id: None };
            let file = self
                .files
                .put_media(new, limits.max_bytes)
                .await
                .map_err(|e| GenerationError::Internal(e.to_string()))?;
            plan.bindings.insert(binding.clone(), json!(format!("{}{}", gantry_dispatch::FILE_REF_PREFIX, file.id)));
        }
        let graph = self.templates.load(kind).await?;
        let price = self.price_of(kind);
        let cost = price.base + price.per_unit * plan.units;
        let meta = json!({
            "prompt": plan.prompt,
            "negativePrompt": plan.negative_prompt,
            "parameters": plan.parameters,
            "cost": cost,
        });
        self.submit(user_id, kind, graph, plan.bindings, meta, cost, plan.parameters).await
    }

    #[allow(clippy::too_many_arguments)]
    async fn submit(
        &self,
        user_id: UserId,
        kind: Kind,
        graph: gantry_comfy::graph::Graph,
        params: serde_json::Map<String, Value>,
        meta: Value,
        cost: i64,
        parameters: serde_json::Map<String, Value>,
    ) -> Result<Submitted, GenerationError> {
        let date = chrono_date(self.clock.now_ms());
        let task_id = format!("{}_{date}_{}", kind.prefix(), &self.ids.random().simple().to_string()[..12]);
        self.ledger.freeze(user_id, &task_id, cost, &format!("{} generation", kind.type_name())).await?;
        let submission = Submission {
            caller: Caller { user_id, is_admin: false },
            kind: kind.type_name().into(),
            id: Some(task_id.clone()),
            graph,
            params,
            priority: 0,
            meta: Some(meta),
            max_active: Some(self.config.max_active_tasks_per_user),
        };
        if let Err(e) = self.dispatcher.submit(submission).await {
            self.ledger.settle(&task_id, Settlement::Refunded, "submission refused").await?;
            return Err(e.into());
        }
        let queue_position = self.dispatcher.queue_position(&task_id).unwrap_or(0);
        let estimated_time = self.estimate(kind, queue_position).await;
        Ok(Submitted { task_id, kind, queue_position, estimated_time, cost, parameters })
    }

    /// Where a task waiting in Gantry's queue stands: its 1-based position and, for a
    /// generator's task, the seconds until it is expected to finish. `None` once an instance
    /// has it.
    pub async fn standing(&self, task_id: &str, kind: &str) -> Option<(usize, Option<i64>)> {
        let position = self.dispatcher.queue_position(task_id)?;
        let seconds = match Kind::parse(kind) {
            Some(kind) => Some(self.estimate(kind, position).await),
            None => None,
        };
        Some((position, seconds))
    }

    /// Seconds until a task of `kind` at `position` is done: the mean of the last run
    /// times of that kind (or a typical value), times the rounds of work ahead of it.
    pub async fn estimate(&self, kind: Kind, position: usize) -> i64 {
        let measured = self.dispatcher.recent_durations(kind.type_name(), 20).await.unwrap_or_default();
        let each = if measured.is_empty() {
            kind.default_seconds()
        } else {
            (measured.iter().sum::<i64>() / measured.len() as i64 / 1000).max(1)
        };
        let instances = self.dispatcher.instances().iter().filter(|i| i.alive && i.enabled).count().max(1);
        each * (1 + (position / instances) as i64)
    }

    /// Runs a finished task again as a new task with the same graph and parameters, and
    /// a new charge.
    pub async fn retry(&self, caller: Caller, task_id: &str) -> Result<Submitted, GenerationError> {
        let old = self.dispatcher.task(caller, task_id).await?;
        if !old.is_terminal() {
            return Err(GenerationError::Invalid("only finished tasks can be retried".into()));
        }
        let kind = Kind::parse(&old.kind)
            .ok_or_else(|| GenerationError::Invalid("only generation tasks can be retried".into()))?;
        let graph = serde_json::from_str(&old.graph).map_err(|e| GenerationError::Internal(e.to_string()))?;
        let meta: Value = old.meta.as_deref().and_then(|m| serde_json::from_str(m).ok()).unwrap_or(Value::Null);
        let cost = meta["cost"].as_i64().unwrap_or(0);
        let parameters = meta["parameters"].as_object().cloned().unwrap_or_default();
        self.submit(caller.user_id, kind, graph, serde_json::Map::new(), meta, cost, parameters).await
    }

    /// Cancels a task and refunds its charge; returns the task and the refund.
    pub async fn cancel(&self, caller: Caller, task_id: &str) -> Result<(TaskRecord, i64), GenerationError> {
        let task = self.dispatcher.cancel(caller, task_id).await?;
        // The settlement listener may have refunded it first; report the refund either way.
        let refund = match self.ledger.settle(task_id, Settlement::Refunded, "task cancelled").await? {
            Some(amount) => amount,
            None => match self.ledger.charge_of(task_id).await? {
                Some((amount, state)) if state == "refunded" => amount,
                _ => 0,
            },
        };
        Ok((task, refund))
    }

    /// What a task was charged (0 when it was not).
    pub async fn cost_of(&self, task_id: &str) -> i64 {
        self.ledger.charge_of(task_id).await.ok().flatten().map_or(0, |(amount, _)| amount)
    }

    /// What several tasks cost (0 for tasks never charged), for lists.
    pub async fn costs_of(&self, task_ids: &[String]) -> Result<HashMap<String, i64>, GenerationError> {
        Ok(self.ledger.charges_of(task_ids).await?)
    }

    /// Several tasks' outputs with their thumbnails, by task, for lists.
    pub async fn results_of(&self, task_ids: &[String]) -> Result<HashMap<String, Vec<ResultFile>>, GenerationError> {
        let files = self.files.for_tasks(task_ids).await.map_err(|e| GenerationError::Internal(e.to_string()))?;
        let mut by_task: HashMap<String, Vec<FileRecord>> = HashMap::new();
        for file in files {
            if let Some(task_id) = file.task_id.clone() {
                by_task.entry(task_id).or_default().push(file);
            }
        }
        Ok(by_task.into_iter().map(|(task_id, files)| (task_id, pair_thumbnails(files))).collect())
    }

    /// A task's outputs, each with its thumbnail.
    pub async fn results(&self, task_id: &str) -> Result<Vec<ResultFile>, GenerationError> {
        let files = self.files.for_task(task_id).await.map_err(|e| GenerationError::Internal(e.to_string()))?;
        Ok(pair_thumbnails(files))
    }

    /// Starts settling charges and making thumbnails as tasks end, under `supervisor`.
    pub fn spawn_settlement(&self, supervisor: &gantry_core::Supervisor) {
        supervisor.spawn(settle::run(self.clone(), self.events.subscribe(), supervisor.clone()));
    }
}

/// A task's output files, each with its thumbnail (a file of its own, or the output itself
/// when it already fits).
fn pair_thumbnails(files: Vec<FileRecord>) -> Vec<ResultFile> {
    let (outputs, thumbnails): (Vec<_>, Vec<_>) = files.into_iter().partition(|f| f.kind == FileKind::Output.as_str());
    outputs
        .into_iter()
        .map(|file| {
            let name = settle::thumbnail_name(&file.id);
            let stored = thumbnails.iter().find(|t| t.filename == name).cloned();
            let thumbnail = stored.or_else(|| settle::is_own_thumbnail(&file).then(|| file.clone()));
            ResultFile { file, thumbnail }
        })
        .collect()
}

fn chrono_date(ms: i64) -> String {
    gantry_core::clock::iso_seconds(ms).get(..10).unwrap_or("00000000").replace('-', "")
}
