//! What every handler can reach: the contexts, wired once at startup.

use gantry_accounts::Accounts;
use gantry_core::Clock;
use gantry_core::config::Config;
use gantry_core::events::EventBus;
use gantry_dispatch::Dispatcher;
use gantry_files::FileStore;
use gantry_store::Db;
use std::sync::Arc;

/// Shared handler state. Cloning is cheap (handles only).
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub accounts: Accounts,
    pub files: FileStore,
    pub dispatcher: Dispatcher,
    pub studio: gantry_generation::Studio,
    /// vflow's module catalogue.
    pub catalogue: Arc<gantry_automation::Catalogue>,
    /// SockJS XHR sessions of the STOMP endpoint.
    pub sockjs: crate::stomp::sockjs::XhrSessions,
    pub config: Arc<Config>,
    pub events: EventBus,
    pub clock: Arc<dyn Clock>,
    /// When this process started, Unix ms.
    pub started_at_ms: i64,
    /// Cancelled when the server shuts down; long-lived connections (WebSockets) end then.
    pub shutdown: tokio_util::sync::CancellationToken,
}
