//! What the fleet as a whole offers, as one ComfyUI would tell it: node classes, models,
//! system stats. The virtual ComfyUI serves these.

use crate::{Dispatcher, Inner, lock};
use gantry_comfy::ComfyClient;
use serde_json::{Map, Value, json};
use std::sync::Arc;

/// How long a merged `object_info` is reused, ms (instances rarely gain node classes).
const OBJECT_INFO_TTL_MS: i64 = 30_000;

/// The folders whose model lists Gantry keeps for each instance.
pub const MODEL_FOLDERS: [&str; 8] =
    ["checkpoints", "loras", "vae", "controlnet", "upscale_models", "text_encoders", "diffusion_models", "embeddings"];

impl Dispatcher {
    /// Every node class any live instance knows (the first instance's description wins),
    /// merged and cached for a while. Empty when no instance answers.
    pub async fn object_info(&self) -> Arc<Value> {
        let now = self.inner.now();
        let mut cache = self.inner.object_info.lock().await;
        if let Some((at, info)) = cache.as_ref()
            && now - at < OBJECT_INFO_TTL_MS
        {
            return info.clone();
        }
        let mut merged = Map::new();
        for answer in
            futures_util::future::join_all(self.inner.live_clients().iter().map(ComfyClient::object_info)).await
        {
            match answer {
                Ok(Value::Object(classes)) => {
                    for (name, class) in classes {
                        merged.entry(name).or_insert(class);
                    }
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "cannot read object_info"),
            }
        }
        let info = Arc::new(Value::Object(merged));
        if !info.as_object().is_some_and(Map::is_empty) {
            *cache = Some((now, info.clone()));
        }
        info
    }

    /// The live instances' `system_stats` as one: the first one's `system`, with the RAM
    /// summed, and every instance's devices.
    pub async fn system_stats(&self) -> Value {
        let answers =
            futures_util::future::join_all(self.inner.live_clients().iter().map(ComfyClient::system_stats)).await;
        let mut system = Value::Null;
        let (mut ram_total, mut ram_free) = (0u64, 0u64);
        let mut devices = Vec::new();
        for stats in answers.into_iter().flatten() {
            ram_total += stats.pointer("/system/ram_total").and_then(Value::as_u64).unwrap_or(0);
            ram_free += stats.pointer("/system/ram_free").and_then(Value::as_u64).unwrap_or(0);
            if system.is_null() {
                system = stats.get("system").cloned().unwrap_or_else(|| json!({}));
            }
            devices.extend(stats.get("devices").and_then(Value::as_array).into_iter().flatten().cloned());
        }
        if !system.is_object() {
            system = json!({});
        }
        system["ram_total"] = json!(ram_total);
        system["ram_free"] = json!(ram_free);
        json!({ "system": system, "devices": devices })
    }

    /// The model files in `folder` that some instance has, sorted.
    pub fn model_names(&self, folder: &str) -> Vec<String> {
        let fleet = lock(&self.inner.fleet);
        let names: std::collections::BTreeSet<String> = fleet
            .list()
            .flat_map(|i| i.models.iter().flatten())
            .filter(|m| m.folder == folder)
            .map(|m| m.name.clone())
            .collect();
        names.into_iter().collect()
    }
}

impl Inner {
    /// Clients of the instances that answer now.
    fn live_clients(&self) -> Vec<ComfyClient> {
        let fleet = lock(&self.fleet);
        fleet.list().filter(|i| i.alive).map(|i| ComfyClient::new(&i.spec.base_url(), self.http.clone())).collect()
    }
}
