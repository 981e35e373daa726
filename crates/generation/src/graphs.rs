//! The paying rule for raw ComfyUI graphs (comfy-manager `POST /api/tasks`, vflow's
//! `gantry_submit_task`, and any later entry point that runs a graph its caller wrote):
//! admins run graphs uncharged; anyone else pays `generation.pricing.GRAPH`, frozen at
//! submission and settled like a generation (deducted on completion, refunded on failure
//! or cancellation).

use gantry_comfy::graph::{self, Graph};
use gantry_core::config::Price;
use gantry_dispatch::{DispatchError, Submission, TaskRecord};
use gantry_ledger::Settlement;
use serde_json::{Map, Value};

use crate::{GenerationError, GenerationService};

/// The key of raw graphs in `generation.pricing`.
pub const GRAPH_PRICE_KEY: &str = "GRAPH";

/// Sampler steps in one unit of work.
const STEPS_PER_UNIT: u64 = 10;
/// Pixels of the image one unit of work is counted on (512 × 512).
const PIXELS_PER_UNIT: u64 = 512 * 512;

/// Why a graph was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum GraphRefused {
    /// Dispatch refused it (invalid graph, unknown model, queue full…).
    #[error(transparent)]
    Dispatch(#[from] DispatchError),
    /// It could not be paid for (insufficient balance) or charged.
    #[error(transparent)]
    Payment(#[from] GenerationError),
}

/// Units of work of a graph once `params` are applied: ten sampler steps on a 512 × 512
/// image make one; at least one.
pub fn work_units(graph: &Graph, params: &Map<String, Value>) -> u64 {
    let mut bound = graph.clone();
    // A graph whose params do not apply is refused by dispatch; price it as written.
    if graph::apply_params(&mut bound, params).is_err() {
        bound = graph.clone();
    }
    let steps = graph::sampler_steps(&bound).max(1);
    let images = graph::largest_image_pixels(&bound).div_ceil(PIXELS_PER_UNIT).max(1);
    steps.saturating_mul(images).div_ceil(STEPS_PER_UNIT).max(1)
}

impl GenerationService {
    /// The price of a graph for a non-admin.
    pub fn graph_cost(&self, graph: &Graph, params: &Map<String, Value>) -> i64 {
        let price = self.config.pricing.get(GRAPH_PRICE_KEY).copied().unwrap_or(DEFAULT_GRAPH_PRICE);
        let units = i64::try_from(work_units(graph, params)).unwrap_or(i64::MAX);
        price.base.saturating_add(price.per_unit.saturating_mul(units))
    }

    /// Submits a raw graph under the paying rule (see the module).
    pub async fn submit_graph(&self, mut submission: Submission) -> Result<TaskRecord, GraphRefused> {
        if submission.caller.is_admin {
            return Ok(self.dispatcher.submit(submission).await?);
        }
        let cost = self.graph_cost(&submission.graph, &submission.params);
        let task_id = submission.id.get_or_insert_with(|| self.ids.random().to_string()).clone();
        let user_id = submission.caller.user_id;
        self.ledger.freeze(user_id, &task_id, cost, "ComfyUI graph").await.map_err(GenerationError::from)?;
        match self.dispatcher.submit(submission).await {
            Ok(task) => Ok(task),
            Err(e) => {
                self.ledger
                    .settle(&task_id, Settlement::Refunded, "submission refused")
                    .await
                    .map_err(GenerationError::from)?;
                Err(e.into())
            }
        }
    }
}

/// What a graph costs when `generation.pricing` names no `GRAPH` price.
pub const DEFAULT_GRAPH_PRICE: Price = Price { base: 5, per_unit: 2 };

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn graph(steps: Value, width: u64, height: u64, batch: u64) -> Graph {
        let g = json!({
            "3": {"class_type": "KSampler", "inputs": {"steps": steps, "model": ["4", 0]}},
            "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "m.safetensors"}},
            "5": {"class_type": "EmptyLatentImage", "inputs": {"width": width, "height": height, "batch_size": batch}},
        });
        g.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn units_grow_with_steps_and_image_size() {
        let none = Map::new();
        assert_eq!(work_units(&graph(json!(20), 512, 512, 1), &none), 2);
        assert_eq!(work_units(&graph(json!(20), 1024, 1024, 1), &none), 8);
        assert_eq!(work_units(&graph(json!(20), 512, 512, 4), &none), 8);
        assert_eq!(work_units(&graph(json!(1), 64, 64, 1), &none), 1, "at least one");
        let params = json!({"3.steps": 100}).as_object().cloned().unwrap_or_default();
        assert_eq!(work_units(&graph(json!(20), 512, 512, 1), &params), 10, "params count");
        assert_eq!(work_units(&Graph::new(), &none), 1);
    }
}
