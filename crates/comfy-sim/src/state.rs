//! State shared by the HTTP routes, the WebSocket hub and the executor.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Mutex, MutexGuard, PoisonError, RwLock};

use serde_json::json;
use tokio::sync::{Notify, watch};

use crate::catalogue::{Catalogue, ComboLists};
use crate::config::Knobs;
use crate::outputs::normalize;
use crate::queue::PromptQueue;
use crate::validate::ValidationEnv;
use crate::ws::Hub;

/// Model folder names ComfyUI registers (`folder_paths.folder_names_and_paths`).
const MODEL_FOLDERS: &[&str] = &[
    "checkpoints",
    "configs",
    "loras",
    "vae",
    "text_encoders",
    "diffusion_models",
    "clip_vision",
    "style_models",
    "embeddings",
    "diffusers",
    "vae_approx",
    "controlnet",
    "gligen",
    "upscale_models",
    "latent_upscale_models",
    "custom_nodes",
    "hypernetworks",
    "photomaker",
    "classifiers",
    "model_patches",
    "audio_encoders",
];

const IMAGE_EXTENSIONS: &[&str] = &["png", "jpg", "jpeg", "webp", "gif", "bmp", "tif", "tiff"];

/// The three file roots (absolute).
#[derive(Debug, Clone)]
pub(crate) struct Dirs {
    pub output: PathBuf,
    pub input: PathBuf,
    pub temp: PathBuf,
}

/// Settings fixed at start-up.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub models_dir: Option<PathBuf>,
    pub max_upload_mb: f64,
    pub device_name: String,
    pub cpu: bool,
    pub vram_total: u64,
    pub argv: Vec<String>,
    pub exit_on_die: bool,
}

impl Settings {
    pub(crate) fn max_upload_bytes(&self) -> usize {
        (self.max_upload_mb * 1024.0 * 1024.0).round() as usize
    }
}

/// What the executor is doing, for the WebSocket reconnect message.
#[derive(Debug, Default)]
pub(crate) struct ExecStatus {
    pub client_id: Option<String>,
    pub last_node_id: Option<String>,
}

/// Everything one simulated server owns.
pub(crate) struct Sim {
    pub dirs: Dirs,
    pub catalogue: Catalogue,
    pub settings: Settings,
    pub models: RwLock<BTreeMap<String, Vec<String>>>,
    pub knobs: Mutex<Knobs>,
    pub queue: Mutex<PromptQueue>,
    /// Wakes the executor when a prompt is queued.
    pub wake: Notify,
    pub hub: Hub,
    /// ComfyUI's global interrupt flag, reset when a prompt starts.
    pub interrupt: AtomicBool,
    pub exec: Mutex<ExecStatus>,
    /// Set once the server has "crashed" or was shut down.
    pub dead: watch::Sender<bool>,
    /// Whether the listening socket is closed (`refuse`).
    pub refuse: watch::Sender<bool>,
}

/// Locks a mutex, ignoring poisoning (a panicked holder leaves consistent data here).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Sim {
    pub(crate) fn knobs(&self) -> Knobs {
        lock(&self.knobs).clone()
    }

    /// Broadcasts the queue size, as ComfyUI does on every queue change.
    pub(crate) fn queue_updated(&self, queue: &PromptQueue) {
        let data = json!({"status": {"exec_info": {"queue_remaining": queue.remaining()}}});
        self.hub.send_json("status", &data, None);
    }

    /// Crashes the server: exits the process, or (in-process) stops serving and drops every socket.
    pub(crate) fn die(&self) {
        tracing::warn!("simulated crash");
        if self.settings.exit_on_die {
            std::process::exit(1);
        }
        self.dead.send_replace(true);
        self.hub.drop_all();
    }

    pub(crate) fn is_dead(&self) -> bool {
        *self.dead.borrow()
    }

    /// Folder keys for `GET /models`.
    pub(crate) fn model_folders(&self) -> Vec<String> {
        let configured = self.models.read().unwrap_or_else(PoisonError::into_inner);
        let mut folders: Vec<String> = MODEL_FOLDERS.iter().map(|f| (*f).to_owned()).collect();
        for extra in configured.keys() {
            if !folders.contains(extra) {
                folders.push(extra.clone());
            }
        }
        folders
    }

    pub(crate) fn is_model_folder(&self, folder: &str) -> bool {
        self.model_folders().iter().any(|f| f == folder)
    }

    /// `get_directory_by_type`.
    pub(crate) fn dir_by_type(&self, kind: &str) -> Option<&Path> {
        match kind {
            "output" => Some(&self.dirs.output),
            "input" => Some(&self.dirs.input),
            "temp" => Some(&self.dirs.temp),
            _ => None,
        }
    }

    /// `folder_paths.get_annotated_filepath`: `name [output]` style suffixes pick the root.
    pub(crate) fn annotated_path(&self, name: &str, default: &str) -> Option<PathBuf> {
        let (name, kind) = split_annotation(name);
        let root = self.dir_by_type(kind.unwrap_or(default))?;
        let path = normalize(&root.join(name));
        path.starts_with(root).then_some(path)
    }
}

/// Strips a `[output]`, `[input]` or `[temp]` annotation (and the character before it).
pub(crate) fn split_annotation(name: &str) -> (&str, Option<&'static str>) {
    for (suffix, kind) in [("[output]", "output"), ("[input]", "input"), ("[temp]", "temp")] {
        if name.ends_with(suffix) {
            let cut = name.char_indices().rev().nth(suffix.len()).map_or(0, |(i, _)| i);
            return (&name[..cut], Some(kind));
        }
    }
    (name, None)
}

fn scan_files(root: &Path, dir: &Path, out: &mut BTreeSet<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            scan_files(root, &path, out);
        } else if let Ok(rel) = path.strip_prefix(root) {
            out.insert(rel.to_string_lossy().into_owned());
        }
    }
}

impl ComboLists for Sim {
    fn models(&self, folder: &str) -> Vec<String> {
        let mut names: BTreeSet<String> = self
            .models
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(folder)
            .map(|v| v.iter().cloned().collect())
            .unwrap_or_default();
        if let Some(dir) = &self.settings.models_dir {
            let root = dir.join(folder);
            scan_files(&root, &root, &mut names);
        }
        names.into_iter().collect()
    }

    fn input_images(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(&self.dirs.input) else {
            return Vec::new();
        };
        let mut names: Vec<String> = entries
            .flatten()
            .filter(|e| e.path().is_file())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| {
                let ext = n.rsplit('.').next().unwrap_or("").to_ascii_lowercase();
                IMAGE_EXTENSIONS.contains(&ext.as_str())
            })
            .collect();
        names.sort();
        names
    }
}

impl ValidationEnv for Sim {
    fn input_file_exists(&self, name: &str) -> bool {
        self.annotated_path(name, "input").is_some_and(|p| p.is_file())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_annotations_like_comfyui() {
        assert_eq!(split_annotation("a.png [output]"), ("a.png", Some("output")));
        assert_eq!(split_annotation("sub/a.png [temp]"), ("sub/a.png", Some("temp")));
        assert_eq!(split_annotation("a.png"), ("a.png", None));
    }
}
