//! Read-only server information: `/system_stats`, `/features`, `/object_info`, `/models`, ...

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use crate::catalogue::ComboLists;
use crate::routes::{empty, json_response};
use crate::state::Sim;

/// The ComfyUI version this sim imitates.
pub const COMFYUI_VERSION: &str = "0.3.64";

type SimState = State<Arc<Sim>>;

fn platform() -> &'static str {
    match std::env::consts::OS {
        "windows" => "win32",
        "macos" => "darwin",
        other => other,
    }
}

pub(crate) async fn system_stats(State(sim): SimState) -> Response {
    let s = &sim.settings;
    let ram_total: u64 = 135_089_000_448;
    let body = json!({
        "system": {
            "os": platform(),
            "ram_total": ram_total,
            "ram_free": ram_total / 10 * 7,
            "comfyui_version": COMFYUI_VERSION,
            "required_frontend_version": "1.27.10",
            "installed_templates_version": "0.1.94",
            "required_templates_version": "0.1.94",
            "python_version": "3.12.3 (main, Feb  4 2025, 14:48:35) [GCC 13.3.0]",
            "pytorch_version": "2.8.0+cu128",
            "embedded_python": false,
            "argv": s.argv,
        },
        "devices": [device(s, ram_total)],
    });
    json_response(StatusCode::OK, &body)
}

/// The device ComfyUI computes on: the GPU, or with `--cpu` the CPU and its RAM.
fn device(s: &crate::state::Settings, ram_total: u64) -> serde_json::Value {
    if s.cpu {
        let free = ram_total / 10 * 7;
        json!({
            "name": "cpu", "type": "cpu", "index": null, "vram_total": ram_total, "vram_free": free,
            "torch_vram_total": ram_total, "torch_vram_free": free,
        })
    } else {
        json!({
            "name": s.device_name, "type": "cuda", "index": 0, "vram_total": s.vram_total,
            "vram_free": s.vram_total / 100 * 95, "torch_vram_total": 0, "torch_vram_free": 0,
        })
    }
}

pub(crate) async fn features(State(sim): SimState) -> Response {
    json_response(StatusCode::OK, &crate::ws::server_features(&sim))
}

pub(crate) async fn object_info(State(sim): SimState) -> Response {
    json_response(StatusCode::OK, &sim.catalogue.object_info(None, &*sim))
}

pub(crate) async fn object_info_class(State(sim): SimState, Path(class): Path<String>) -> Response {
    json_response(StatusCode::OK, &sim.catalogue.object_info(Some(&class), &*sim))
}

pub(crate) async fn models(State(sim): SimState) -> Response {
    json_response(StatusCode::OK, &sim.model_folders())
}

pub(crate) async fn models_in(State(sim): SimState, Path(folder): Path<String>) -> Response {
    if !sim.is_model_folder(&folder) {
        return empty(StatusCode::NOT_FOUND);
    }
    json_response(StatusCode::OK, &sim.models(&folder))
}

pub(crate) async fn embeddings(State(sim): SimState) -> Response {
    let names: Vec<String> = sim
        .models("embeddings")
        .into_iter()
        .map(|n| match n.rsplit_once('.') {
            Some((stem, _)) if !stem.is_empty() => stem.to_owned(),
            _ => n,
        })
        .collect();
    json_response(StatusCode::OK, &names)
}

pub(crate) async fn extensions() -> Response {
    json_response(StatusCode::OK, &Vec::<String>::new())
}
