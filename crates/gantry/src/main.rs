use clap::Parser;

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
