//! Start-up configuration and the runtime-adjustable fault knobs.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// How a simulated server is started. `SimConfig::default()` gives a quiet sim on a random
/// loopback port with fresh temporary directories.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Address to bind (ComfyUI's `--listen`).
    pub listen: IpAddr,
    /// Port to bind; 0 picks a free one.
    pub port: u16,
    /// `--output-directory`; a fresh temporary directory when `None`.
    pub output_dir: Option<PathBuf>,
    /// `--input-directory`; a fresh temporary directory when `None`.
    pub input_dir: Option<PathBuf>,
    /// `--temp-directory`; as in ComfyUI the temp files live in `<this>/temp`, which is wiped at start.
    pub temp_dir: Option<PathBuf>,
    /// Model files per folder (`checkpoints`, `loras`, `upscale_models`, ...), as `/models/{folder}` lists them.
    pub models: BTreeMap<String, Vec<String>>,
    /// Optional directory scanned for more model files: `<dir>/<folder>/<file>`.
    pub models_dir: Option<PathBuf>,
    /// Replaces the built-in node catalogue (same format as `data/object_info.json`).
    pub catalogue_path: Option<PathBuf>,
    /// Upload and request body limit in MB (`--max-upload-size`).
    pub max_upload_size_mb: f64,
    /// History entries kept before the oldest is dropped.
    pub max_history: usize,
    /// Name reported for the GPU in `/system_stats`.
    pub device_name: String,
    /// Report the CPU as the device, as ComfyUI started with `--cpu` does.
    pub cpu: bool,
    /// VRAM reported in `/system_stats`, in bytes.
    pub vram_total: u64,
    /// `argv` reported in `/system_stats`.
    pub argv: Vec<String>,
    /// Exit the whole process (instead of only stopping this server) when `die_after_steps` fires.
    pub exit_on_die: bool,
    /// Runtime knobs; also adjustable through `POST /sim/control`.
    pub knobs: Knobs,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            listen: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            output_dir: None,
            input_dir: None,
            temp_dir: None,
            models: default_models(),
            models_dir: None,
            catalogue_path: None,
            max_upload_size_mb: 100.0,
            max_history: 10_000,
            device_name: "cuda:0 NVIDIA GeForce RTX 4090 : cudaMallocAsync".to_owned(),
            cpu: false,
            vram_total: 25_386_352_640,
            argv: vec!["main.py".to_owned()],
            exit_on_die: false,
            knobs: Knobs::default(),
        }
    }
}

/// The model files a default sim offers.
pub fn default_models() -> BTreeMap<String, Vec<String>> {
    let list = |names: &[&str]| names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>();
    BTreeMap::from([
        (
            "checkpoints".to_owned(),
            list(&[
                "v1-5-pruned-emaonly.safetensors",
                "sd_xl_base_1.0.safetensors",
                "svd.safetensors",
                "svd_xt.safetensors",
            ]),
        ),
        ("upscale_models".to_owned(), list(&["RealESRGAN_x4plus.pth", "RealESRGAN_x2plus.pth"])),
        ("controlnet".to_owned(), list(&["control_v11p_sd15_openpose.pth", "control_v11p_sd15_canny.pth"])),
        ("loras".to_owned(), list(&["add_detail.safetensors"])),
        ("vae".to_owned(), list(&["vae-ft-mse-840000-ema-pruned.safetensors"])),
        ("embeddings".to_owned(), list(&["easynegative.safetensors"])),
    ])
}

/// Timing and failure-injection settings that can change while the sim runs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Knobs {
    /// Time per sampler step (and per upscaler tile), in milliseconds.
    pub step_ms: u64,
    /// Time to load a checkpoint that is not the one currently loaded, in milliseconds.
    pub load_ms: u64,
    /// Send binary preview frames during sampling (ComfyUI's `--preview-method` other than `none`).
    pub preview: bool,
    /// Emit `progress_state` messages (ComfyUI 0.3.64 does).
    pub progress_state: bool,
    /// Die abruptly once a running prompt has completed this many sampler steps (0 = never).
    pub die_after_steps: u32,
    /// Refuse connections: the listening socket is closed until this is cleared.
    pub refuse: bool,
    /// Delay before answering every HTTP request (except `/sim/*`), in milliseconds.
    pub slow_ms: u64,
    /// Delay of every WebSocket frame from when it was sent, in milliseconds (a busy
    /// server's event loop: a prompt can be over, in `/history`, before its messages arrive).
    pub ws_lag_ms: u64,
    /// The next prompt that runs ends with this `execution_error`.
    pub fail_next: Option<FailSpec>,
    /// `/view` answers 500.
    pub fail_view: bool,
}

impl Default for Knobs {
    fn default() -> Self {
        Self {
            step_ms: 5,
            load_ms: 0,
            preview: false,
            progress_state: true,
            die_after_steps: 0,
            refuse: false,
            slow_ms: 0,
            ws_lag_ms: 0,
            fail_next: None,
            fail_view: false,
        }
    }
}

/// The exception an injected failure reports (missing fields default to the out-of-memory error's).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct FailSpec {
    /// `exception_type`, e.g. `torch.OutOfMemoryError`.
    pub exception_type: String,
    /// `exception_message`.
    pub exception_message: String,
}

impl FailSpec {
    /// The CUDA out-of-memory error ComfyUI reports, TIPS paragraph included.
    pub fn out_of_memory() -> Self {
        Self {
            exception_type: "torch.OutOfMemoryError".to_owned(),
            exception_message: "Allocation on device \nThis error means you ran out of memory on your GPU.\n\nTIPS: If the workflow worked before you might have accidentally set the batch_size to a large number.".to_owned(),
        }
    }
}

impl Default for FailSpec {
    fn default() -> Self {
        Self::out_of_memory()
    }
}
