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
    /// The compute context (hosts, VMs, NAT, IPs, reverse proxies) behind the openidcs routes.
    pub machines: gantry_machines::Machines,
    /// vflow's module catalogue.
    pub catalogue: Arc<gantry_automation::Catalogue>,
    /// The automation context (workflows, folders, executions, triggers).
    pub flows: gantry_flows::Flows,
    /// SockJS XHR sessions of the STOMP endpoint.
    pub sockjs: crate::stomp::sockjs::XhrSessions,
    pub config: Arc<Config>,
    pub events: EventBus,
    pub clock: Arc<dyn Clock>,
    /// When this process started, Unix ms.
    pub started_at_ms: i64,
    /// Cancelled when the server shuts down; long-lived connections (WebSockets) end then.
    pub shutdown: tokio_util::sync::CancellationToken,
    /// Reverse-proxy routes, consulted before routing on every request.
    pub proxies: Arc<gantry_compute::ProxyTable>,
    /// Single-use VM console tickets (redeemed by `/console/ws`).
    pub consoles: crate::console::Tickets,
}
