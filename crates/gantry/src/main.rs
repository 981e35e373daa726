use clap::Parser;

/// mimalloc instead of the system allocator: a task list under 50 clients spent a fifth of
/// its CPU in glibc's malloc/free (`gantry-bench lists`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = gantry::cli::Cli::parse();
    match gantry::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gantry: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
