//! Wiring: builds every context from a [`Config`], serves the HTTP router, and stops
//! cleanly. The `gantry` binary and the integration tests both start Gantry through here.

pub mod cli;
mod cluster;
mod listener;
mod server_lock;
pub mod settings;
mod telemetry;

use anyhow::Context as _;
use gantry_accounts::Accounts;
use gantry_core::config::Config;
use gantry_core::events::EventBus;
use gantry_core::health::Probe;
use gantry_core::{Clock, IdSource, Supervisor, SystemClock, SystemIds};
use gantry_dispatch::Dispatcher;
use gantry_files::FileStore;
use gantry_http::AppState;
use gantry_store::Db;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;

/// Opens the database named by `config` and applies migrations.
pub async fn open_database(config: &Config) -> anyhow::Result<Db> {
    let url = config.effective_database_url();
    let db = Db::connect(&url).await.with_context(|| format!("connecting to {}", redact(&url)))?;
    db.migrate().await.context("applying migrations")?;
    Ok(db)
}

/// Opens the accounts context on `db`, on the system clock and random ids.
pub async fn open_accounts(db: &Db, config: &Config, events: &EventBus) -> anyhow::Result<Accounts> {
    let Sources { clock, ids } = Sources::system();
    Ok(Accounts::open(db.clone(), clock, ids, events.clone(), &config.auth).await?)
}

/// How long shutdown waits for background work before closing the database anyway.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(15);

/// A running Gantry server.
pub struct Running {
    addr: SocketAddr,
    /// The address serving the virtual ComfyUI at its root, when configured.
    comfyui_addr: Option<SocketAddr>,
    supervisor: Supervisor,
    server: JoinHandle<()>,
    db: Db,
    state: AppState,
    first_admin_password: Option<String>,
    /// Held while it serves a SQLite database (see [`server_lock`]).
    _lock: Option<server_lock::ServerLock>,
}

impl Running {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The address serving the virtual ComfyUI at its root (`http.comfyui_listen`).
    pub fn comfyui_addr(&self) -> Option<SocketAddr> {
        self.comfyui_addr
    }

    /// The password generated for the first admin, when this start created it.
    pub fn first_admin_password(&self) -> Option<&str> {
        self.first_admin_password.as_deref()
    }

    /// The contexts it serves (for embedding and tests: e.g. its proxy table and console
    /// tickets).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Stops accepting requests, lets running ones finish, waits for every background task
    /// (at most [`SHUTDOWN_GRACE`]), then closes the database.
    pub async fn stop(self) -> anyhow::Result<()> {
        let left = self.supervisor.shutdown(SHUTDOWN_GRACE).await;
        if left > 0 {
            tracing::warn!(tasks = left, "background tasks still running after the shutdown grace");
        }
        self.server.await.context("server task")?;
        self.db.close().await;
        Ok(())
    }

    /// Waits until the server stops on its own (it does not, unless it fails).
    pub async fn wait_for_signal_then_stop(self) -> anyhow::Result<()> {
        shutdown_signal().await;
        tracing::info!("shutting down");
        self.stop().await
    }
}

/// Checkpoints SQLite's write-ahead log every second, off the requests' path (see
/// [`Db::checkpoint`]).
async fn checkpoint_loop(db: Db, supervisor: Supervisor) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            () = supervisor.stopping() => return,
            _ = tick.tick() => {
                if let Err(e) = db.checkpoint().await {
                    tracing::warn!(error = %e, "WAL checkpoint failed");
                }
            }
        }
    }
}

/// Starts Gantry on the system clock: see [`start_with_clock`].
pub async fn start(config: Config, admin_password: Option<String>) -> anyhow::Result<Running> {
    start_with(config, admin_password, Sources::system()).await
}

/// Where every context takes time and ids from.
#[derive(Clone)]
pub struct Sources {
    pub clock: Arc<dyn Clock>,
    pub ids: Arc<dyn IdSource>,
}

impl Sources {
    /// The system clock and random ids.
    pub fn system() -> Self {
        Self { clock: Arc::new(SystemClock), ids: Arc::new(SystemIds) }
    }
}

/// Starts Gantry: storage, contexts, the first admin, the HTTP server, every context taking
/// time and ids from `sources`. `admin_password` is used only when no admin exists yet.
pub async fn start_with(
    mut config: Config,
    admin_password: Option<String>,
    sources: Sources,
) -> anyhow::Result<Running> {
    let Sources { clock, ids } = sources;
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating data dir {}", config.data_dir.display()))?;
    // Paths derived from it (VM storage, sandboxes) must not depend on where the process runs.
    config.data_dir = std::path::absolute(&config.data_dir)
        .with_context(|| format!("resolving data dir {}", config.data_dir.display()))?;
    let trusted =
        gantry_http::client_addr::TrustedProxies::parse(&config.http.trusted_proxies).map_err(anyhow::Error::msg)?;
    let lock = server_lock::hold(&config)?;
    let db = open_database(&config).await?;
    let events = EventBus::default();
    let accounts = Accounts::open(db.clone(), clock.clone(), ids.clone(), events.clone(), &config.auth).await?;
    let first_admin_password = accounts.ensure_admin(admin_password).await?;
    if first_admin_password.is_some() {
        tracing::warn!(username = "admin", "created the first admin with a random password, shown once on stderr");
    }
    let supervisor = Supervisor::new();
    let files = FileStore::open(db.clone(), &config.effective_files_url(), clock.clone(), ids.clone())
        .await
        .context("opening the file store")?;
    // On PostgreSQL this is one gateway of a cluster (perhaps of one).
    let membership = gantry_store::cluster::is_shared(&db).then(|| gantry_dispatch::cluster::Membership {
        node: ids.random().simple().to_string(),
        addr: config.listen.clone(),
        lease: Duration::from_secs(config.cluster.lease_secs.max(1)),
    });
    if let Some(me) = &membership {
        cluster::relay_events(db.clone(), &events, me.node.clone(), clock.clone(), &supervisor);
    }
    let dispatcher = Dispatcher::start(
        db.clone(),
        files.clone(),
        events.clone(),
        clock.clone(),
        ids.clone(),
        supervisor.clone(),
        membership,
    )
    .await?;
    let ledger = gantry_ledger::Ledger::new(db.clone(), clock.clone());
    let contexts = gantry_generation::Contexts {
        dispatcher: dispatcher.clone(),
        files: files.clone(),
        ledger,
        clock: clock.clone(),
        ids: ids.clone(),
        events: events.clone(),
    };
    let generation = gantry_generation::GenerationService::new(contexts, config.generation.clone(), &config.data_dir);
    generation.spawn_settlement(&supervisor);
    let catalogue = Arc::new(gantry_workflow_engine::Catalogue::builtin());
    let proxies: Arc<gantry_compute::ProxyTable> = Arc::default();
    let compute = gantry_compute::Compute::open(
        gantry_compute::ComputeDeps {
            db: db.clone(),
            events: events.clone(),
            clock: clock.clone(),
            ids: ids.clone(),
            proxies: proxies.clone(),
            supervisor: supervisor.clone(),
        },
        &config.compute,
        &config.data_dir,
    )
    .await
    .context("opening the compute context")?;
    let automation = gantry_automation::Automation::open(gantry_automation::AutomationDeps {
        db: db.clone(),
        accounts: accounts.clone(),
        catalogue: catalogue.clone(),
        dispatcher: dispatcher.clone(),
        generation: generation.clone(),
        files: files.clone(),
        events: events.clone(),
        clock: clock.clone(),
        ids: ids.clone(),
        config: config.automation.clone(),
        data_dir: config.data_dir.clone(),
        compute: Some(compute.clone()),
        supervisor: supervisor.clone(),
    })
    .await
    .context("opening the automation context")?;
    automation.spawn_triggers();
    let consoles = gantry_http::console::Tickets::new(
        std::time::Duration::from_secs(config.compute.console_ticket_ttl_secs),
        clock.clone(),
    );
    let probe_db = db.clone();
    let database = Probe::new(move || {
        let db = probe_db.clone();
        async move { db.ping().await.map_err(|e| e.to_string()) }
    });
    let state = AppState {
        database,
        accounts,
        files,
        dispatcher,
        generation,
        catalogue,
        automation,
        sockjs: Default::default(),
        events,
        started_at_ms: clock.now_ms(),
        clock,
        config: Arc::new(config.clone()),
        supervisor: supervisor.clone(),
        proxies,
        compute,
        consoles,
        metrics: Default::default(),
    };
    supervisor.spawn(state.metrics.clone().count_events(state.events.subscribe(), supervisor.clone()));
    supervisor.spawn(checkpoint_loop(db.clone(), supervisor.clone()));
    let app = gantry_http::router(state.clone(), &config.http, trusted);

    let listener =
        tokio::net::TcpListener::bind(&config.listen).await.with_context(|| format!("binding {}", config.listen))?;
    let addr = listener.local_addr()?;
    state.compute.serving_at(&addr.to_string()).await.context("recording where this gateway serves")?;
    tracing::info!(%addr, database = %redact(&config.effective_database_url()), "gantry listening");
    let limits = listener::Limits {
        header_read_timeout: Duration::from_secs(config.http.header_read_timeout_secs.max(1)),
        max_connections: config.http.max_connections,
    };
    let comfyui = match &config.http.comfyui_listen {
        Some(at) => {
            let bound = tokio::net::TcpListener::bind(at)
                .await
                .with_context(|| format!("binding {at} (http.comfyui_listen)"))?;
            tracing::info!(addr = %bound.local_addr()?, "virtual ComfyUI listening at its root");
            Some(bound)
        }
        None => None,
    };
    let comfyui_addr = comfyui.as_ref().map(tokio::net::TcpListener::local_addr).transpose()?;
    let stop = supervisor.stop_token();
    let root_app = gantry_http::dialects::comfyui::at_root(app.clone());
    let server = tokio::spawn(async move {
        let main = listener::serve(listener, app, limits, stop.clone());
        match comfyui {
            Some(bound) => {
                tokio::join!(main, listener::serve(bound, root_app, limits, stop));
            }
            None => main.await,
        }
    });
    Ok(Running { addr, comfyui_addr, supervisor, server, db, state, first_admin_password, _lock: lock })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = terminate => {} }
}

/// A database URL with any password hidden, for logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let creds = &url[scheme_end + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn redacts_passwords_in_urls() {
        assert_eq!(super::redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(super::redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(super::redact("sqlite://./data/gantry.db"), "sqlite://./data/gantry.db");
    }
}
