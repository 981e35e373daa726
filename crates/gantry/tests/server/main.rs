//! Gantry's server-level tests: one binary (one link of the whole server), a module per area.

mod auth;
mod cli;
mod comfy_contract;
mod common;
mod connections;
mod console;
mod contract_fuzz;
mod errors;
mod fleet;
mod fleet_faults;
mod metrics;
mod openidcs_restart;
mod openidcs_routes;
mod openidcs_vms;
mod outbound_tls;
mod paying;
mod restart;
mod reverse_proxy;
mod stargraph;
mod stomp;
mod vflow;
mod vflow_executions;
mod vflow_system;
mod vflow_transfer;
mod vflow_triggers;
mod vflow_workflows;
