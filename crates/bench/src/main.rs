//! `gantry-bench`: benchmark drivers. Each prints its figures, and ratios against a
//! baseline measured in the same run. Build first: `cargo build --release -p gantry -p gantry-bench -p comfy-sim`.

mod api;
mod cluster;
mod dispatch;
mod engine;
mod engine_server;
mod lists;
mod login_flood;
mod procs;
mod stats;
mod vm;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "gantry-bench")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Several gateways on one PostgreSQL database: throughput of three against one, latency
    /// beside SQLite, and failover time when a gateway is killed.
    Cluster(cluster::Args),
    /// Dispatch throughput, added latency and GPU idle gaps: N comfy-sim instances, the
    /// same workload sent straight to them by an ideal client, then through Gantry.
    Dispatch(dispatch::Args),
    /// Workflow engine: steps/s, loop iterations/s, execute-to-first-step latency, and the
    /// same workflows through a gantry server.
    Engine(engine::Args),
    /// Task lists under concurrent clients with many tasks stored, against a small baseline.
    Lists(lists::Args),
    /// A burst of failing logins: server memory, answers, and health latency meanwhile.
    LoginFlood(login_flood::Args),
    /// VMs: create-to-running through Gantry vs the same QEMU command by hand, and API
    /// latency with many VMs registered.
    Vm(vm::Args),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Cluster(args) => cluster::run(args).await,
        Command::Dispatch(args) => dispatch::run(args).await,
        Command::Engine(args) => engine::run(args).await,
        Command::Lists(args) => lists::run(args).await,
        Command::LoginFlood(args) => login_flood::run(args).await,
        Command::Vm(args) => vm::run(args).await,
    }
}
