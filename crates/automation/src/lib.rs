//! Gantry's automation context: the dialect-free service behind vflow's workflow routes.
//!
//! - [`Automation`]: workflows ([`workflows`]), folders ([`folders`]), executions and logs
//!   ([`executions`]), import/export ([`transfer`]), statistics ([`system`]).
//! - Runs go through [`gantry_workflow_engine::WorkflowEngine`] with a host that acts as the
//!   workflow's owner ([`host`]); VM modules use the compute context when one is given.
//! - Triggers run for real: a cron scheduler, webhooks and event subscriptions
//!   ([`triggers`]), started by [`Automation::spawn_triggers`].
//! - At most [`AutomationConfig::max_running_per_workflow`] runs of one workflow at
//!   once; more are refused ([`AutomationError::TooManyRuns`]).

mod error;
pub mod executions;
pub mod folders;
mod host;
mod record;
pub mod repo;
mod runs;
mod sandbox;
pub mod system;
pub mod transfer;
pub mod triggers;
mod vm;
pub mod workflows;

use std::path::PathBuf;
use std::sync::Arc;

use gantry_accounts::Accounts;
use gantry_compute::Compute;
use gantry_core::config::AutomationConfig;
use gantry_core::events::EventBus;
use gantry_core::{Clock, IdSource, Supervisor, UserId};
use gantry_dispatch::Dispatcher;
use gantry_files::FileStore;
use gantry_generation::GenerationService;
use gantry_store::Db;
use gantry_workflow_engine::{Catalogue, DefaultHost, EngineConfig, WorkflowEngine};

pub use error::{AutomationError, AutomationResult};
pub use record::{StoredWorkflow, TriggerSpec};

/// Who acts: the caller of a route, or the owner a triggered run acts for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    /// The user.
    pub user_id: UserId,
    /// Whether the user is an admin (admin-only modules and events need it).
    pub is_admin: bool,
}

/// What the automation context is built from.
pub struct AutomationDeps {
    /// Storage of workflows, folders and executions.
    pub db: Db,
    /// Workflow owners' roles, as of each run.
    pub accounts: Accounts,
    /// The modules workflows are checked against and run with.
    pub catalogue: Arc<Catalogue>,
    /// For the task and instance modules.
    pub dispatcher: Dispatcher,
    /// For `gantry_generate_image` (charges the owner's credits).
    pub generation: GenerationService,
    /// For task output URLs.
    pub files: FileStore,
    /// Event triggers subscribe here; finished executions are published here.
    pub events: EventBus,
    /// Time, injected.
    pub clock: Arc<dyn Clock>,
    /// Ids, injected.
    pub ids: Arc<dyn IdSource>,
    /// The `[automation]` settings.
    pub config: AutomationConfig,
    /// Where the per-user sandboxes of the file modules live (`<dir>/<user id>`).
    pub data_dir: PathBuf,
    /// The compute context the VM modules drive; `None` makes them fail clearly.
    pub compute: Option<Compute>,
    /// Runs the triggers and every execution; its shutdown interrupts running executions.
    pub supervisor: Supervisor,
}

pub(crate) struct Inner {
    db: Db,
    accounts: Accounts,
    catalogue: Arc<Catalogue>,
    engine: WorkflowEngine,
    dispatcher: Dispatcher,
    generation: GenerationService,
    files: FileStore,
    events: EventBus,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdSource>,
    config: AutomationConfig,
    /// The file store's area holding the file modules' per-user sandboxes.
    sandbox: gantry_files::Area,
    data_dir: PathBuf,
    compute: Option<Compute>,
    webhook_key: Vec<u8>,
    runs: runs::Runs,
    started_at_ms: i64,
    supervisor: Supervisor,
}

/// The automation context. Cloning is cheap.
#[derive(Clone)]
pub struct Automation {
    inner: Arc<Inner>,
}

/// The reason recorded on executions a restart interrupted.
pub const INTERRUPTED: &str = "interrupted: the server stopped while this execution was running";

impl Automation {
    /// Builds the context and recovers from a previous process: executions still marked
    /// running are failed with [`INTERRUPTED`].
    pub async fn open(deps: AutomationDeps) -> AutomationResult<Self> {
        let AutomationDeps {
            db,
            accounts,
            catalogue,
            dispatcher,
            generation,
            files,
            events,
            clock,
            ids,
            config,
            data_dir,
            compute,
            supervisor,
        } = deps;
        let sandbox = files.area(sandbox::AREA);
        sandbox::adopt_old_sandboxes(&data_dir, &sandbox);
        let recovered = crate::repo::executions::fail_all_running(&db, INTERRUPTED, clock.now_ms()).await?;
        if recovered > 0 {
            tracing::warn!(count = recovered, "marked executions interrupted by the last stop as failed");
        }
        let random: [u8; 32] = rand::random();
        let key = gantry_store::settings::get_or_insert(&db, "webhook_key", &hex::encode(random)).await?;
        let limits = EngineConfig {
            max_value_bytes: config.max_value_bytes,
            max_run_bytes: config.max_run_bytes,
            ..EngineConfig::default()
        };
        let engine = WorkflowEngine::new(catalogue.clone(), Arc::new(DefaultHost)).with_config(limits);
        let started_at_ms = clock.now_ms();
        let inner = Inner {
            db,
            accounts,
            catalogue,
            engine,
            dispatcher,
            generation,
            files,
            events,
            clock,
            ids,
            config,
            sandbox,
            data_dir,
            compute,
            webhook_key: key.into_bytes(),
            runs: runs::Runs::default(),
            started_at_ms,
            supervisor,
        };
        Ok(Self { inner: Arc::new(inner) })
    }

    /// The module catalogue workflows are checked against.
    pub fn catalogue(&self) -> &Catalogue {
        &self.inner.catalogue
    }

    fn now(&self) -> i64 {
        self.inner.clock.now_ms()
    }
}
