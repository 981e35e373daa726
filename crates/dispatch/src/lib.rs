//! The fleet and dispatch contexts: Gantry's heart. It keeps every ComfyUI instance busy
//! and loses no task.
//!
//! - [`config`]: servers → instances, health-check and dispatch settings (persisted).
//! - [`fleet`]: live instance state and the placement rule.
//! - [`queue`]: the fair in-memory view of the durable queue (the `tasks` table).
//! - `monitor`: one monitor per instance — its WebSocket (events routed by prompt
//!   id), health checks, model lists, reconciliation after every (re)connect.
//! - `runner`: handing a task to an instance, and collecting its outputs.
//!
//! A submission is acknowledged only after the task is stored. Tasks handed to an
//! instance remember their prompt id before the prompt is posted, so after a crash
//! Gantry asks the instance (`/history`, `/queue`) what became of each and neither
//! loses a task nor runs a finished one twice.

pub mod activity;
pub mod cluster;
pub mod config;
pub mod finished_counts;
pub mod fleet;
pub mod fleet_info;
mod monitor;
mod progress;
pub mod queue;
pub mod repo;
mod runner;

use config::{ConfigChange, FleetConfig, InstanceSpec};
use fleet::{Fleet, Instance};
use gantry_comfy::ComfyClient;
use gantry_comfy::graph::{self, Graph, ModelRef};
use gantry_core::events::TaskFailure;
use gantry_core::events::{Event, EventBus};
use gantry_core::{Clock, IdSource, Supervisor, UserId};
use gantry_files::FileStore;
use gantry_store::{Db, StoreError, settings};
use progress::Progress;
use queue::{FairQueue, Pending};
use repo::instances;
use repo::tasks;
pub use repo::tasks::{TaskFilter, TaskRecord, TaskStatus};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

const CONFIG_KEY: &str = "fleet_config";
/// Prefix of a LoadImage value that names a file in Gantry's file store.
pub const FILE_REF_PREFIX: &str = "gantry-file:";

/// Errors of the dispatch context; dialects map them to their codes.
#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    #[error("invalid workflow: {0}")]
    InvalidWorkflow(String),
    #[error("invalid params: {0}")]
    InvalidParams(String),
    #[error("no instance has the model(s): {0}")]
    ModelUnavailable(String),
    #[error("the queue is full ({0} tasks waiting)")]
    QueueFull(u64),
    #[error("too many unfinished tasks (at most {0})")]
    TooManyActive(u64),
    #[error("task not found")]
    TaskNotFound,
    #[error("instance not found")]
    InstanceNotFound,
    #[error("no server with that id")]
    ServerNotFound,
    #[error("input file not found: {0}")]
    FileNotFound(String),
    #[error("task already finished")]
    AlreadyFinished,
    #[error("only admins may set a priority above 0")]
    PriorityNotAllowed,
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for DispatchError {
    fn from(e: StoreError) -> Self {
        Self::Internal(e.to_string())
    }
}

/// Who is asking: tasks are visible to their owner and to admins.
#[derive(Debug, Clone, Copy)]
pub struct Caller {
    pub user_id: UserId,
    pub is_admin: bool,
}

impl Caller {
    fn may_see(&self, task: &TaskRecord) -> bool {
        self.is_admin || task.user_id == self.user_id
    }
}

/// A task to submit.
#[derive(Debug, Clone)]
pub struct Submission {
    /// Who submits: the task's owner. Only admins may raise the priority above 0.
    pub caller: Caller,
    /// `workflow` for raw graphs, or a generator type such as `TEXT2IMG`.
    pub kind: String,
    /// The task id to use (e.g. one already charged for); a new UUID when `None`.
    pub id: Option<String>,
    pub graph: Graph,
    pub params: serde_json::Map<String, serde_json::Value>,
    pub priority: i64,
    /// Dialect-specific details to keep with the task.
    pub meta: Option<serde_json::Value>,
    /// Refused with [`DispatchError::TooManyActive`] if the owner already has this many
    /// unfinished tasks (counted in the database, so it holds across gateways).
    pub max_active: Option<u64>,
}

/// An input file uploaded to the instance before the prompt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct InputFile {
    node: String,
    input: String,
    file_id: String,
}

/// An instance as the API shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceView {
    pub id: String,
    pub server_id: String,
    pub server_name: String,
    pub ip: String,
    pub port: u16,
    pub enabled: bool,
    pub alive: bool,
    pub busy: bool,
    /// ISO-8601 with milliseconds, or null before first contact.
    pub last_heartbeat: Option<String>,
    /// Tasks Gantry handed to it that have not finished.
    pub active_tasks: usize,
    /// ComfyUI's own queue length.
    pub queue_remaining: u64,
    /// Models it reported, as `folder/name`.
    pub models: Vec<String>,
}

impl From<&Instance> for InstanceView {
    fn from(i: &Instance) -> Self {
        let mut models: Vec<String> = i.models.iter().flatten().map(|m| format!("{}/{}", m.folder, m.name)).collect();
        models.sort();
        Self {
            id: i.spec.id.clone(),
            server_id: i.spec.server_id.clone(),
            server_name: i.spec.server_name.clone(),
            ip: i.spec.ip.clone(),
            port: i.spec.port,
            enabled: i.enabled && i.spec.server_enabled,
            alive: i.alive,
            busy: i.busy(),
            last_heartbeat: i.last_heartbeat.map(gantry_core::clock::iso_millis),
            active_tasks: i.active() as usize,
            queue_remaining: i.queue_remaining,
            models,
        }
    }
}

/// Counts for the monitor overview.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Overview {
    pub total_instances: usize,
    pub alive_instances: usize,
    pub busy_instances: usize,
    pub pending_tasks: i64,
    pub running_tasks: i64,
    pub completed_tasks: i64,
    pub failed_tasks: i64,
    pub cancelled_tasks: i64,
    /// Tasks completed in the last hour: the fleet's throughput.
    pub completed_last_hour: i64,
}

struct Inner {
    db: Db,
    files: FileStore,
    events: EventBus,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdSource>,
    http: reqwest::Client,
    /// Gantry's WebSocket client id at every instance (stable across restarts).
    client_id: String,
    config: RwLock<FleetConfig>,
    /// Held while a configuration change is read, checked, stored and applied, so
    /// concurrent changes do not undo each other.
    config_writes: tokio::sync::Mutex<()>,
    fleet: Mutex<Fleet>,
    queue: Mutex<FairQueue>,
    progress: Mutex<HashMap<String, Progress>>,
    /// Percent reached by tasks other gateways run (from their progress events).
    remote_progress: Mutex<HashMap<String, u8>>,
    /// Running tasks: task id → (instance, prompt id, start ms), for the timeout watchdog.
    running: Mutex<HashMap<String, (String, String, i64)>>,
    monitors: Mutex<HashMap<String, CancellationToken>>,
    /// Prompt ids with a reserved slot whose post is not over; reconciliation leaves them
    /// alone. Locks are always taken in the order fleet → queue → posting.
    posting: Mutex<std::collections::HashSet<String>>,
    wake: Notify,
    /// Node-level activity of running tasks, for clients of the virtual ComfyUI.
    activity: tokio::sync::broadcast::Sender<activity::Activity>,
    /// The fleet's merged `object_info` and when it was read (see `fleet_info`).
    object_info: tokio::sync::Mutex<Option<(i64, Arc<serde_json::Value>)>>,
    /// The overview's counts of finished tasks, kept so it never reads the whole history.
    finished_counts: tokio::sync::Mutex<finished_counts::FinishedCounts>,
    supervisor: Supervisor,
    seq: AtomicI64,
    /// Tasks picked for an instance here whose claim failed (see [`Dispatcher::claims_lost`]).
    claims_lost: std::sync::atomic::AtomicU64,
    /// This gateway's place in a cluster; `None` when it is the only one.
    membership: Option<cluster::Membership>,
    /// Queue changes on their way to the other gateways (see [`cluster::Notice`]).
    notices: Option<tokio::sync::mpsc::Sender<cluster::Notice>>,
}

/// The dispatcher. Cloning is cheap.
#[derive(Clone)]
pub struct Dispatcher {
    inner: Arc<Inner>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Dispatcher {
    /// Loads the configuration and the queue, re-attaches tasks that were on instances
    /// when Gantry stopped, and starts the monitors and the scheduler. With a `membership`,
    /// it is one of several gateways on the database (see [`cluster`]) and drives only the
    /// instances it holds leases on. Everything stops
    /// when `supervisor` shuts down, which also tracks every task it starts.
    pub async fn start(
        db: Db,
        files: FileStore,
        events: EventBus,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdSource>,
        supervisor: Supervisor,
        membership: Option<cluster::Membership>,
    ) -> Result<Self, DispatchError> {
        let config: FleetConfig = match settings::get(&db, CONFIG_KEY).await? {
            Some(json) => {
                serde_json::from_str(&json).map_err(|e| DispatchError::Internal(format!("stored fleet config: {e}")))?
            }
            None => FleetConfig::default(),
        };
        // The WebSocket client id survives restarts: ComfyUI sends a prompt's events only to
        // the socket whose id submitted it, so a restarted Gantry must come back as itself.
        let fresh = format!("gantry-{}", ids.random().simple());
        let client_id = settings::get_or_insert(&db, "comfy_client_id", &fresh).await?;
        let http = reqwest::Client::builder()
            .pool_idle_timeout(std::time::Duration::from_secs(60))
            .build()
            .map_err(|e| DispatchError::Internal(e.to_string()))?;
        let notices = membership.as_ref().map(|_| tokio::sync::mpsc::channel(cluster::NOTICE_BACKLOG));
        let inner = Arc::new(Inner {
            db,
            files,
            events,
            seq: AtomicI64::new(clock.now_ms() * 1000),
            claims_lost: std::sync::atomic::AtomicU64::new(0),
            clock,
            ids: ids.clone(),
            http,
            client_id,
            config: RwLock::new(config.clone()),
            config_writes: tokio::sync::Mutex::new(()),
            fleet: Mutex::new(Fleet::default()),
            queue: Mutex::new(FairQueue::default()),
            progress: Mutex::new(HashMap::new()),
            remote_progress: Mutex::new(HashMap::new()),
            running: Mutex::new(HashMap::new()),
            monitors: Mutex::new(HashMap::new()),
            posting: Mutex::new(std::collections::HashSet::new()),
            wake: Notify::new(),
            activity: tokio::sync::broadcast::channel(1024).0,
            object_info: tokio::sync::Mutex::new(None),
            finished_counts: tokio::sync::Mutex::new(finished_counts::FinishedCounts::default()),
            supervisor,
            membership: membership.clone(),
            notices: notices.as_ref().map(|(tx, _)| tx.clone()),
        });
        let dispatcher = Self { inner };
        let flags: HashMap<String, bool> = instances::flags(&dispatcher.inner.db).await?.into_iter().collect();
        dispatcher.inner.apply_instances(&config, &flags);
        dispatcher.inner.restore_queue().await?;
        dispatcher.inner.spawn_monitors();
        dispatcher.inner.supervisor.spawn(runner::schedule_loop(dispatcher.inner.clone()));
        dispatcher.inner.supervisor.spawn(runner::watchdog_loop(dispatcher.inner.clone()));
        if let (Some(me), Some((_, rx))) = (membership, notices) {
            let node = me.node.clone();
            dispatcher.inner.supervisor.spawn(cluster::send_notices(dispatcher.inner.clone(), node, rx));
            dispatcher.inner.supervisor.spawn(cluster::run(dispatcher.inner.clone(), me));
            dispatcher.inner.supervisor.spawn(cluster::listen(dispatcher.inner.clone()));
            let events = dispatcher.inner.events.subscribe();
            dispatcher.inner.supervisor.spawn(cluster::follow_progress(dispatcher.inner.clone(), events));
        }
        Ok(dispatcher)
    }

    /// Validates and stores a task, then queues it. Returns the stored task.
    pub async fn submit(&self, submission: Submission) -> Result<TaskRecord, DispatchError> {
        self.inner.submit(submission).await
    }

    /// A task, if the caller may see it.
    pub async fn task(&self, caller: Caller, id: &str) -> Result<TaskRecord, DispatchError> {
        let task =
            tasks::by_id(&self.inner.db, id).await?.filter(|t| caller.may_see(t)).ok_or(DispatchError::TaskNotFound)?;
        Ok(self.inner.with_live_progress(task))
    }

    /// Tasks the caller may see (admins: everyone's unless `filter.user_id` is set).
    pub async fn list(&self, caller: Caller, mut filter: TaskFilter) -> Result<(Vec<TaskRecord>, i64), DispatchError> {
        if !caller.is_admin {
            filter.user_id = Some(caller.user_id);
        }
        let (list, total) = tasks::list(&self.inner.db, &filter).await?;
        Ok((list.into_iter().map(|t| self.inner.with_live_progress(t)).collect(), total))
    }

    /// Archives the caller's own finished tasks of `kind` (those named, or all): they leave
    /// lists that ask for unarchived tasks only. Returns how many it archived.
    pub async fn archive(&self, caller: Caller, kind: &str, ids: Option<&[String]>) -> Result<u64, DispatchError> {
        Ok(tasks::archive(&self.inner.db, caller.user_id, kind, ids, self.inner.now()).await?)
    }

    /// Who submitted a task (for services acting on the system's behalf, e.g. settlement).
    pub async fn owner(&self, id: &str) -> Result<Option<UserId>, DispatchError> {
        Ok(tasks::by_id(&self.inner.db, id).await?.map(|t| t.user_id))
    }

    /// The states of the tasks named, in one query (unknown ids are left out).
    pub async fn states_of(&self, ids: &[String]) -> Result<Vec<(String, TaskStatus)>, DispatchError> {
        Ok(tasks::states_of(&self.inner.db, ids).await?)
    }

    /// How many of `user_id`'s tasks are not finished (pending, dispatched or running).
    pub async fn active_count(&self, user_id: UserId) -> Result<i64, DispatchError> {
        Ok(tasks::active_count(&self.inner.db, user_id).await?)
    }

    /// Run times (ms) of the last `limit` completed tasks of `kind`, newest first.
    pub async fn recent_durations(&self, kind: &str, limit: i64) -> Result<Vec<i64>, DispatchError> {
        Ok(tasks::recent_durations(&self.inner.db, kind, limit).await?)
    }

    /// 1-based position of a pending task in Gantry's queue.
    pub fn queue_position(&self, task_id: &str) -> Option<usize> {
        lock(&self.inner.queue).position(task_id)
    }

    /// Cancels a task: a pending one leaves the queue, a dispatched one is deleted from
    /// its instance's queue, a running one is interrupted on its instance.
    pub async fn cancel(&self, caller: Caller, id: &str) -> Result<TaskRecord, DispatchError> {
        self.inner.cancel(caller, id).await
    }

    /// Every instance, in configuration order.
    pub fn instances(&self) -> Vec<InstanceView> {
        lock(&self.inner.fleet).list().map(InstanceView::from).collect()
    }

    /// One instance.
    pub fn instance(&self, id: &str) -> Result<InstanceView, DispatchError> {
        lock(&self.inner.fleet).instances.get(id).map(InstanceView::from).ok_or(DispatchError::InstanceNotFound)
    }

    /// Enables or disables an instance (persisted). A disabled instance finishes what it
    /// has and gets nothing new.
    pub async fn set_instance_enabled(&self, id: &str, enabled: bool) -> Result<InstanceView, DispatchError> {
        self.instance(id)?;
        instances::set_enabled(&self.inner.db, id, enabled).await?;
        let view = {
            let mut fleet = lock(&self.inner.fleet);
            let instance = fleet.instances.get_mut(id).ok_or(DispatchError::InstanceNotFound)?;
            instance.enabled = enabled;
            InstanceView::from(&*instance)
        };
        self.inner.publish_instance(&view);
        self.inner.wake.notify_one();
        Ok(view)
    }

    /// The fleet configuration in force.
    pub fn config(&self) -> FleetConfig {
        self.inner.config.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Makes one change to the configuration for `actor` (a username), then validates,
    /// stores and applies it without dropping running tasks: new instances are connected,
    /// removed ones finish their tasks and then go away. A change leaving no server while
    /// some are configured is refused unless `drop_all_servers`. The change is logged with
    /// who made it; the answer is the configuration in force and what changed, in words.
    pub async fn change_config(
        &self,
        actor: &str,
        change: ConfigChange,
        drop_all_servers: bool,
    ) -> Result<(FleetConfig, String), DispatchError> {
        let _writing = self.inner.config_writes.lock().await;
        let current = self.config();
        let next =
            current.changed(change).map_err(DispatchError::InvalidConfig)?.ok_or(DispatchError::ServerNotFound)?;
        if next.servers.is_empty() && !current.servers.is_empty() && !drop_all_servers {
            return Err(DispatchError::InvalidConfig(format!(
                "this would remove every server ({}); say so with dropAllServers=true",
                current.servers.len()
            )));
        }
        let summary = current.describe_change(&next);
        let config = self.apply_config(next).await?;
        tracing::info!(actor, change = %summary, "fleet configuration changed");
        Ok((config, summary))
    }

    /// Validates, stores and applies a configuration.
    async fn apply_config(&self, config: FleetConfig) -> Result<FleetConfig, DispatchError> {
        config.validate().map_err(DispatchError::InvalidConfig)?;
        let json = serde_json::to_string(&config).map_err(|e| DispatchError::Internal(e.to_string()))?;
        settings::put(&self.inner.db, CONFIG_KEY, &json).await?;
        let flags: HashMap<String, bool> = instances::flags(&self.inner.db).await?.into_iter().collect();
        *self.inner.config.write().unwrap_or_else(std::sync::PoisonError::into_inner) = config.clone();
        self.inner.apply_instances(&config, &flags);
        self.inner.spawn_monitors();
        self.inner.wake.notify_one();
        Ok(config)
    }

    /// Instance and task counts.
    pub async fn overview(&self) -> Result<Overview, DispatchError> {
        let mut overview = {
            let fleet = lock(&self.inner.fleet);
            Overview {
                total_instances: fleet.instances.len(),
                alive_instances: fleet.instances.values().filter(|i| i.alive).count(),
                busy_instances: fleet.instances.values().filter(|i| i.busy()).count(),
                ..Overview::default()
            }
        };
        for (state, n) in tasks::count_unfinished(&self.inner.db).await? {
            match state {
                TaskStatus::Pending | TaskStatus::Dispatched => overview.pending_tasks += n,
                TaskStatus::Running => overview.running_tasks += n,
                TaskStatus::Completed | TaskStatus::Failed | TaskStatus::Cancelled => {}
            }
        }
        let now = self.inner.clock.now_ms();
        let (finished, last_hour) = self.inner.finished_counts.lock().await.read(&self.inner.db, now).await?;
        overview.completed_tasks = finished.completed;
        overview.failed_tasks = finished.failed;
        overview.cancelled_tasks = finished.cancelled;
        overview.completed_last_hour = last_hour;
        Ok(overview)
    }

    /// Node-level activity of running tasks from now on (see [`activity`]).
    pub fn activity(&self) -> tokio::sync::broadcast::Receiver<activity::Activity> {
        self.inner.activity.subscribe()
    }

    /// How many tasks this gateway picked for one of its instances and then found claimed by
    /// another gateway, or cancelled, first (with several gateways: their races for the same
    /// task).
    pub fn claims_lost(&self) -> u64 {
        self.inner.claims_lost.load(Ordering::Relaxed)
    }

    /// This gateway's id in the cluster; `None` when it runs alone.
    pub fn gateway(&self) -> Option<&str> {
        self.inner.membership.as_ref().map(|m| m.node.as_str())
    }

    /// Whether any instance can take work now.
    pub fn any_instance_usable(&self) -> bool {
        lock(&self.inner.fleet).any_usable()
    }
}

impl Inner {
    fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    fn slots_per_instance(&self) -> usize {
        1 + self.config.read().unwrap_or_else(std::sync::PoisonError::into_inner).dispatch.prefetch as usize
    }

    fn client_of(&self, instance_id: &str) -> Option<ComfyClient> {
        lock(&self.fleet).instances.get(instance_id).map(|i| ComfyClient::new(&i.spec.base_url(), self.http.clone()))
    }

    fn publish_instance(&self, view: &InstanceView) {
        self.events.publish(
            self.now(),
            Event::InstanceStatus { instance_id: view.id.clone(), alive: view.alive, busy: view.busy },
        );
    }

    /// Brings the fleet in line with `config`: adds new instances, updates changed
    /// ones, retires removed ones (they finish their tasks first).
    fn apply_instances(&self, config: &FleetConfig, flags: &HashMap<String, bool>) {
        let specs: Vec<InstanceSpec> = config.instances();
        let mut fleet = lock(&self.fleet);
        let wanted: std::collections::HashSet<&str> = specs.iter().map(|s| s.id.as_str()).collect();
        let retired: Vec<String> = fleet.order.iter().filter(|id| !wanted.contains(id.as_str())).cloned().collect();
        for id in &retired {
            let idle = fleet.instances.get(id).is_none_or(|i| i.slots.is_empty());
            if idle {
                fleet.instances.remove(id);
                if let Some(stop) = lock(&self.monitors).remove(id) {
                    stop.cancel();
                }
            } else if let Some(instance) = fleet.instances.get_mut(id) {
                instance.spec.server_enabled = false;
            }
        }
        for spec in specs {
            let enabled = flags.get(&spec.id).copied().unwrap_or(true);
            match fleet.instances.get_mut(&spec.id) {
                Some(instance) => {
                    instance.spec = spec;
                    instance.enabled = enabled;
                }
                None => {
                    let mut instance = Instance::new(spec, enabled);
                    instance.owned = self.membership.is_none();
                    fleet.instances.insert(instance.spec.id.clone(), instance);
                }
            }
        }
        let mut order: Vec<String> = config.instances().into_iter().map(|s| s.id).collect();
        order.extend(retired.into_iter().filter(|id| fleet.instances.contains_key(id)));
        fleet.order = order;
    }

    /// The ids of the configured instances.
    fn configured_ids(&self) -> std::collections::HashSet<String> {
        let config = self.config.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        config.instances().into_iter().map(|s| s.id).collect()
    }

    /// Whether an instance was removed from the configuration (it only drains).
    fn is_retired(&self, instance_id: &str) -> bool {
        let config = self.config.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        !config.instances().iter().any(|s| s.id == instance_id)
    }

    /// Starts a monitor for every instance this gateway drives that has none.
    fn spawn_monitors(self: &Arc<Self>) {
        let ids: Vec<String> =
            lock(&self.fleet).instances.values().filter(|i| i.owned).map(|i| i.spec.id.clone()).collect();
        let mut monitors = lock(&self.monitors);
        for id in ids {
            if !monitors.contains_key(&id) {
                let stop = self.supervisor.child_token();
                monitors.insert(id.clone(), stop.clone());
                self.supervisor.spawn(monitor::run(self.clone(), id, stop));
            }
        }
    }

    /// Rebuilds the in-memory queue and the instance slots from the database.
    async fn restore_queue(&self) -> Result<(), DispatchError> {
        let live =
            tasks::in_states(&self.db, &[TaskStatus::Pending, TaskStatus::Dispatched, TaskStatus::Running]).await?;
        let mut requeue = Vec::new();
        {
            let mut fleet = lock(&self.fleet);
            let mut queue = lock(&self.queue);
            for task in live {
                let pending = pending_of(&task);
                match (task.status, &task.instance_id, &task.prompt_id) {
                    (TaskStatus::Pending, _, _) => queue.push(pending),
                    // In a cluster, the gateway that takes the instance's lease carries on.
                    (_, Some(instance), Some(_))
                        if fleet.instances.contains_key(instance) && self.membership.is_some() => {}
                    (_, Some(instance), Some(prompt)) if fleet.instances.contains_key(instance) => {
                        fleet.occupy(instance, prompt, &pending);
                    }
                    _ => requeue.push(task.id.clone()),
                }
            }
        }
        for id in requeue {
            self.requeue_or_fail(&id, "its instance is no longer configured").await;
        }
        Ok(())
    }

    async fn submit(&self, s: Submission) -> Result<TaskRecord, DispatchError> {
        if s.priority > 0 && !s.caller.is_admin {
            return Err(DispatchError::PriorityNotAllowed);
        }
        let user_id = s.caller.user_id;
        let mut graph = s.graph;
        graph::validate_shape(&graph).map_err(|e| DispatchError::InvalidWorkflow(e.to_string()))?;
        graph::apply_params(&mut graph, &s.params).map_err(|e| DispatchError::InvalidParams(e.to_string()))?;
        graph::validate_shape(&graph).map_err(|e| DispatchError::InvalidParams(e.to_string()))?;

        let mut inputs = Vec::new();
        for (node, value) in graph::input_images(&graph) {
            if let Some(file_id) = value.strip_prefix(FILE_REF_PREFIX) {
                let file =
                    self.files.get(file_id).await.map_err(|_| DispatchError::FileNotFound(file_id.to_owned()))?;
                if file.user_id != user_id {
                    return Err(DispatchError::FileNotFound(file_id.to_owned()));
                }
                inputs.push(InputFile { node, input: "image".into(), file_id: file_id.to_owned() });
            }
        }

        let models = graph::required_models(&graph);
        if !lock(&self.fleet).could_run(&models) {
            let names: Vec<String> = models.iter().map(|m| format!("{}/{}", m.folder, m.name)).collect();
            return Err(DispatchError::ModelUnavailable(names.join(", ")));
        }
        let max_queue = self.config.read().unwrap_or_else(std::sync::PoisonError::into_inner).dispatch.max_queue;
        let waiting = lock(&self.queue).len() as u64;
        if waiting >= max_queue {
            return Err(DispatchError::QueueFull(waiting));
        }

        let id = s.id.unwrap_or_else(|| self.ids.random().to_string());
        graph::set_filename_prefix(&mut graph, &format!("gantry/{id}/out"));
        let now = self.now();
        let task = TaskRecord {
            id: id.clone(),
            user_id,
            kind: s.kind,
            status: TaskStatus::Pending,
            priority: s.priority,
            seq: self.seq.fetch_add(1, Ordering::SeqCst).max(now * 1000),
            graph: to_json(&graph),
            params: to_json(&s.params),
            inputs: to_json(&inputs),
            models: to_json(&models),
            total_steps: graph::sampler_steps(&graph) as i64,
            instance_id: None,
            prompt_id: None,
            attempts: 0,
            progress: 0,
            error: None,
            failure: None,
            result: None,
            created_at: now,
            updated_at: now,
            started_at: None,
            finished_at: None,
            meta: s.meta.map(|m| m.to_string()),
            archived_at: None,
        };
        if !tasks::insert(&self.db, &task, s.max_active).await? {
            return Err(DispatchError::TooManyActive(s.max_active.unwrap_or_default()));
        }
        lock(&self.queue).push(pending_of(&task));
        self.wake.notify_one();
        self.announce(cluster::Notice::Queued(pending_of(&task)));
        self.events.publish(now, Event::TaskQueued { task_id: id, user_id: task.user_id, kind: task.kind.clone() });
        Ok(task)
    }

    async fn cancel(&self, caller: Caller, id: &str) -> Result<TaskRecord, DispatchError> {
        let task =
            tasks::by_id(&self.db, id).await?.filter(|t| caller.may_see(t)).ok_or(DispatchError::TaskNotFound)?;
        let reached = lock(&self.progress).get(id).map_or(task.progress, |p| i64::from(p.percent));
        if task.is_terminal() || !tasks::cancel(&self.db, id, reached, self.now()).await? {
            return Err(DispatchError::AlreadyFinished);
        }
        lock(&self.queue).remove(id);
        self.forget_live(id);
        self.announce(cluster::Notice::Cancelled(id.to_owned()));
        // While the prompt is being posted, the dispatch withdraws it once the post is over.
        // An instance another gateway drives is left to that gateway (it heard the notice).
        if let (Some(instance), Some(prompt)) = (task.instance_id.clone(), task.prompt_id.clone())
            && self.drives(&instance)
            && !lock(&self.posting).contains(&prompt)
            && let Some(client) = self.client_of(&instance)
        {
            runner::withdraw(self, &client, &instance, &prompt).await;
        }
        self.events.publish(self.now(), Event::TaskCancelled { task_id: id.to_owned(), user_id: task.user_id });
        tasks::by_id(&self.db, id).await?.ok_or(DispatchError::TaskNotFound)
    }

    /// Stops tracking a task that left its instance; returns the progress it had reached.
    fn forget_live(&self, task_id: &str) -> i64 {
        lock(&self.running).remove(task_id);
        lock(&self.progress).remove(task_id).map_or(0, |p| i64::from(p.percent))
    }

    fn with_live_progress(&self, mut task: TaskRecord) -> TaskRecord {
        let local = lock(&self.progress).get(&task.id).map(|p| p.percent);
        if let Some(percent) = local.or_else(|| lock(&self.remote_progress).get(&task.id).copied()) {
            task.progress = i64::from(percent);
        }
        task
    }

    /// Puts a task whose instance was lost back in the queue, or fails it once it has
    /// used all its attempts.
    async fn requeue_or_fail(&self, task_id: &str, reason: &str) {
        let reached = self.forget_live(task_id);
        let Ok(Some(task)) = tasks::by_id(&self.db, task_id).await else { return };
        if task.is_terminal() {
            return;
        }
        let max =
            u64::from(self.config.read().unwrap_or_else(std::sync::PoisonError::into_inner).dispatch.max_attempts);
        let now = self.now();
        if task.attempts as u64 >= max {
            let error = format!("gave up after {} attempts: {reason}", task.attempts);
            if matches!(tasks::fail(&self.db, task_id, &error, TaskFailure::NoInstance, reached, now).await, Ok(true)) {
                self.events.publish(
                    now,
                    Event::TaskFailed {
                        task_id: task.id,
                        user_id: task.user_id,
                        reason: TaskFailure::NoInstance,
                        error,
                    },
                );
            }
            return;
        }
        match tasks::requeue(&self.db, task_id, now).await {
            Ok(true) => {
                tracing::info!(task_id, reason, "task back in the queue");
                lock(&self.queue).push(pending_of(&task));
                self.wake.notify_one();
                self.announce(cluster::Notice::Queued(pending_of(&task)));
            }
            Ok(false) => {}
            Err(e) => tracing::error!(task_id, error = %e, "cannot requeue task"),
        }
    }
}

fn pending_of(task: &TaskRecord) -> Pending {
    Pending {
        id: task.id.clone(),
        user_id: task.user_id,
        priority: task.priority,
        seq: task.seq,
        models: serde_json::from_str::<Vec<ModelRef>>(&task.models).unwrap_or_default(),
    }
}

/// The node that wrote each output file of a completed task: `(file id, node id)`.
pub fn output_nodes(task: &TaskRecord) -> Vec<(String, String)> {
    #[derive(Deserialize)]
    struct Stored {
        files: Vec<String>,
        #[serde(default)]
        nodes: Vec<String>,
    }
    let Some(stored) = task.result.as_deref().and_then(|r| serde_json::from_str::<Stored>(r).ok()) else {
        return Vec::new();
    };
    let nodes = stored.nodes.into_iter().map(Some).chain(std::iter::repeat(None));
    stored.files.into_iter().zip(nodes).map(|(file, node)| (file, node.unwrap_or_default())).collect()
}

/// JSON text of a stored column.
fn to_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".into())
}
