//! Gantry's automation context: the dialect-free service behind vflow's workflow routes.
//!
//! - [`Flows`]: workflows ([`workflows`]), folders ([`folders`]), executions and logs
//!   ([`executions`]), import/export ([`transfer`]), statistics ([`system`]).
//! - Runs go through [`gantry_automation::Engine`] with a host that acts as the
//!   workflow's owner ([`host`]); VM modules use a [`VmControl`] when one is given.
//! - Triggers run for real: a cron scheduler, webhooks and event subscriptions
//!   ([`triggers`]), started by [`Flows::spawn_triggers`].
//! - At most [`AutomationConfig::max_running_per_workflow`] runs of one workflow at
//!   once; more are refused ([`FlowsError::TooManyRuns`]).

mod error;
pub mod executions;
pub mod folders;
mod host;
mod record;
mod runs;
pub mod system;
pub mod transfer;
pub mod triggers;
mod vm;
pub mod workflows;

use std::path::PathBuf;
use std::sync::Arc;

use gantry_automation::{Catalogue, DefaultHost, Engine};
use gantry_core::config::AutomationConfig;
use gantry_core::events::EventBus;
use gantry_core::{Clock, UserId};
use gantry_dispatch::Dispatcher;
use gantry_files::FileStore;
use gantry_generation::Studio;
use gantry_store::Db;

pub use error::{FlowsError, FlowsResult};
pub use record::{StoredWorkflow, TriggerSpec};
pub use vm::{VmControl, VmFuture};

/// Who acts: the caller of a route, or the owner a triggered run acts for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    /// The user.
    pub user_id: UserId,
    /// Whether the user is an admin (admin-only modules and events need it).
    pub is_admin: bool,
}

/// What the automation context is built from.
pub struct FlowsDeps {
    /// Storage of workflows, folders and executions.
    pub db: Db,
    /// The modules workflows are checked against and run with.
    pub catalogue: Arc<Catalogue>,
    /// For the task and instance modules.
    pub dispatcher: Dispatcher,
    /// For `gantry_generate_image` (charges the owner's credits).
    pub studio: Studio,
    /// For task output URLs.
    pub files: FileStore,
    /// Event triggers subscribe here; finished executions are published here.
    pub events: EventBus,
    /// Time, injected.
    pub clock: Arc<dyn Clock>,
    /// The `[automation]` settings.
    pub config: AutomationConfig,
    /// Where the per-user sandboxes of the file modules live (`<dir>/<user id>`).
    pub data_dir: PathBuf,
    /// VM power and status for the VM modules; `None` makes them fail clearly.
    pub vm: Option<Arc<dyn VmControl>>,
}

pub(crate) struct Inner {
    db: Db,
    catalogue: Arc<Catalogue>,
    engine: Engine,
    dispatcher: Dispatcher,
    studio: Studio,
    files: FileStore,
    events: EventBus,
    clock: Arc<dyn Clock>,
    config: AutomationConfig,
    sandbox_root: PathBuf,
    vm: Option<Arc<dyn VmControl>>,
    webhook_key: Vec<u8>,
    runs: runs::Runs,
    started_at_ms: i64,
}

/// The automation context. Cloning is cheap.
#[derive(Clone)]
pub struct Flows {
    inner: Arc<Inner>,
}

/// The reason recorded on executions a restart interrupted.
pub const INTERRUPTED: &str = "interrupted: the server stopped while this execution was running";

impl Flows {
    /// Builds the context and recovers from a previous process: executions still marked
    /// running are failed with [`INTERRUPTED`].
    pub async fn open(deps: FlowsDeps) -> FlowsResult<Self> {
        let FlowsDeps { db, catalogue, dispatcher, studio, files, events, clock, config, data_dir, vm } = deps;
        let recovered = gantry_store::executions::fail_all_running(&db, INTERRUPTED, clock.now_ms()).await?;
        if recovered > 0 {
            tracing::warn!(count = recovered, "marked executions interrupted by the last stop as failed");
        }
        let random: [u8; 32] = rand::random();
        let key = gantry_store::settings::get_or_insert(&db, "webhook_key", &hex::encode(random)).await?;
        let engine = Engine::new(catalogue.clone(), Arc::new(DefaultHost));
        let started_at_ms = clock.now_ms();
        let inner = Inner {
            db,
            catalogue,
            engine,
            dispatcher,
            studio,
            files,
            events,
            clock,
            config,
            sandbox_root: data_dir.join("workflow-files"),
            vm,
            webhook_key: key.into_bytes(),
            runs: runs::Runs::default(),
            started_at_ms,
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
