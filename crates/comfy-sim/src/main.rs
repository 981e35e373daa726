//! `comfy-sim`: run a fake ComfyUI server. The first stdout line is `listening on ADDR`.

use std::io::Write;
use std::net::IpAddr;
use std::path::PathBuf;

use clap::Parser;
use comfy_sim::{Control, FailSpec, SimConfig};

/// A fake ComfyUI 0.3.64 server for tests and benchmarks.
#[derive(Debug, Parser)]
#[command(name = "comfy-sim", version)]
struct Cli {
    /// Address to listen on; without a value, 0.0.0.0 (as ComfyUI's bare --listen).
    #[arg(long, num_args = 0..=1, default_value = "127.0.0.1", default_missing_value = "0.0.0.0")]
    listen: IpAddr,
    /// Port to listen on (0 = any free port).
    #[arg(long, default_value_t = 8188)]
    port: u16,
    /// Output directory (default: a fresh temporary directory).
    #[arg(long)]
    output_directory: Option<PathBuf>,
    /// Input directory (default: a fresh temporary directory).
    #[arg(long)]
    input_directory: Option<PathBuf>,
    /// Temp directory base; files go to <DIR>/temp, wiped at start.
    #[arg(long)]
    temp_directory: Option<PathBuf>,
    /// Milliseconds per sampler step (and per upscaler tile).
    #[arg(long, default_value_t = 5)]
    step_ms: u64,
    /// Milliseconds to load a checkpoint that is not loaded yet.
    #[arg(long, default_value_t = 0)]
    load_ms: u64,
    /// Send binary preview frames while sampling.
    #[arg(long)]
    preview: bool,
    /// Do not send progress_state messages.
    #[arg(long)]
    no_progress_state: bool,
    /// Checkpoint file names (models/checkpoints).
    #[arg(long, value_delimiter = ',')]
    checkpoints: Option<Vec<String>>,
    /// LoRA file names (models/loras).
    #[arg(long, value_delimiter = ',')]
    loras: Option<Vec<String>>,
    /// Upscale model file names (models/upscale_models).
    #[arg(long, value_delimiter = ',')]
    upscale_models: Option<Vec<String>>,
    /// ControlNet file names (models/controlnet).
    #[arg(long, value_delimiter = ',')]
    controlnets: Option<Vec<String>>,
    /// VAE file names (models/vae).
    #[arg(long, value_delimiter = ',')]
    vae: Option<Vec<String>>,
    /// Embedding file names (models/embeddings).
    #[arg(long, value_delimiter = ',')]
    embeddings: Option<Vec<String>>,
    /// Directory of model folders to scan as well (<DIR>/<folder>/<file>).
    #[arg(long)]
    models_dir: Option<PathBuf>,
    /// Node catalogue to use instead of the built-in one.
    #[arg(long)]
    object_info: Option<PathBuf>,
    /// Upload limit in MB.
    #[arg(long, default_value_t = 100.0)]
    max_upload_size: f64,
    /// GPU name reported by /system_stats.
    #[arg(long)]
    device_name: Option<String>,
    /// Report the CPU as the device in /system_stats (ComfyUI's --cpu).
    #[arg(long)]
    cpu: bool,
    /// Exit abruptly once a running prompt has done this many sampler steps.
    #[arg(long)]
    die_after_steps: Option<u32>,
    /// Start with the listening socket closed (for good unless --refuse-for-ms is given).
    #[arg(long)]
    refuse: bool,
    /// Keep the listening socket closed for this many milliseconds after start.
    #[arg(long)]
    refuse_for_ms: Option<u64>,
    /// Delay every HTTP response by this many milliseconds.
    #[arg(long, default_value_t = 0)]
    slow_ms: u64,
    /// The first prompt fails with this exception message (empty: CUDA out of memory).
    #[arg(long, num_args = 0..=1, default_missing_value = "")]
    fail_next: Option<String>,
    /// /view answers 500.
    #[arg(long)]
    fail_view: bool,
    /// Accepted for ComfyUI compatibility; ignored.
    #[arg(long)]
    cuda_device: Option<u32>,
}

impl Cli {
    fn into_config(self) -> SimConfig {
        let mut config = SimConfig {
            listen: self.listen,
            port: self.port,
            output_dir: self.output_directory,
            input_dir: self.input_directory,
            temp_dir: self.temp_directory,
            models_dir: self.models_dir,
            catalogue_path: self.object_info,
            max_upload_size_mb: self.max_upload_size,
            argv: std::env::args().collect(),
            exit_on_die: true,
            cpu: self.cpu,
            ..SimConfig::default()
        };
        if let Some(name) = self.device_name {
            config.device_name = name;
        }
        for (folder, names) in [
            ("checkpoints", self.checkpoints),
            ("loras", self.loras),
            ("upscale_models", self.upscale_models),
            ("controlnet", self.controlnets),
            ("vae", self.vae),
            ("embeddings", self.embeddings),
        ] {
            if let Some(names) = names {
                let names = names.into_iter().filter(|n| !n.is_empty()).collect();
                config.models.insert(folder.to_owned(), names);
            }
        }
        let knobs = &mut config.knobs;
        knobs.step_ms = self.step_ms;
        knobs.load_ms = self.load_ms;
        knobs.preview = self.preview;
        knobs.progress_state = !self.no_progress_state;
        knobs.die_after_steps = self.die_after_steps.unwrap_or(0);
        knobs.refuse = self.refuse;
        knobs.slow_ms = self.slow_ms;
        knobs.fail_view = self.fail_view;
        knobs.fail_next = self.fail_next.map(|message| {
            if message.is_empty() {
                FailSpec::out_of_memory()
            } else {
                FailSpec { exception_type: "Exception".to_owned(), exception_message: message }
            }
        });
        config
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("comfy_sim=info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    let refuse_for_ms = cli.refuse_for_ms;
    let sim = comfy_sim::spawn(cli.into_config()).await?;
    if let Some(ms) = refuse_for_ms {
        sim.control(Control { refuse: Some(true), refuse_for_ms: Some(ms), ..Control::default() });
    }
    {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "listening on {}", sim.addr())?;
        stdout.flush()?;
    }
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = sim.stopped() => {}
    }
    sim.shutdown().await;
    Ok(())
}
