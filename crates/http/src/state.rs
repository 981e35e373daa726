//! What every handler can reach: the contexts, wired once at startup.

use gantry_accounts::Accounts;
use gantry_core::Clock;
use gantry_core::config::Config;
use gantry_core::events::EventBus;
use gantry_dispatch::Dispatcher;
use gantry_files::FileStore;
use std::sync::Arc;

/// Shared handler state. Cloning is cheap (handles only).
#[derive(Clone)]
pub struct AppState {
    /// Whether the database answers, for the health routes.
    pub database: gantry_core::health::Probe,
    pub accounts: Accounts,
    pub files: FileStore,
    pub dispatcher: Dispatcher,
    pub generation: gantry_generation::GenerationService,
    /// The compute context (hosts, VMs, NAT, IPs, reverse proxies) behind the openidcs routes.
    pub compute: gantry_compute::Compute,
    /// vflow's module catalogue.
    pub catalogue: Arc<gantry_workflow_engine::Catalogue>,
    /// The automation context (workflows, folders, executions, triggers).
    pub automation: gantry_automation::Automation,
    /// SockJS XHR sessions of the STOMP endpoint.
    pub sockjs: crate::dialects::star::stomp::sockjs::XhrSessions,
    pub config: Arc<Config>,
    pub events: EventBus,
    pub clock: Arc<dyn Clock>,
    /// When this process started, Unix ms.
    pub started_at_ms: i64,
    /// Runs the server's background work; long-lived connections (WebSockets) end when it
    /// shuts down.
    pub supervisor: gantry_core::Supervisor,
    /// Reverse-proxy routes, consulted before routing on every request.
    pub proxies: Arc<gantry_vm_engine::ProxyTable>,
    /// Request counts and latencies, served with the contexts' counts at `/metrics`.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Single-use VM console tickets (redeemed by `/console/ws`).
    pub consoles: crate::dialects::openidcs::console::Tickets,
}
