//! What a caller can choose from: the models configured and, for each generator, its
//! price and the parameters a request leaves to it.

use gantry_core::config::Price;
use serde_json::{Map, Value};

use crate::request::{self, GenerationRequest, Img2Img, Img2Video, Pose, Text2Img, Text2Video, Upscale};
use crate::{GenerationService, Kind};

/// A model callers may name (`modelName`).
#[derive(Debug, Clone, PartialEq)]
pub struct ModelChoice {
    pub name: String,
    /// The generators using it when a request names no model.
    pub default_for: Vec<Kind>,
}

/// A generator as offered.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratorChoice {
    pub kind: Kind,
    /// `base + per_unit × units`.
    pub price: Price,
    /// What the price counts: `image` (of the batch) or `second` (of video).
    pub unit: &'static str,
    /// The parameters a request with only its required fields gets (`seed` -1: random).
    pub defaults: Map<String, Value>,
}

impl Kind {
    /// What this generator's price counts.
    pub fn price_unit(self) -> &'static str {
        match self {
            Kind::Text2Video | Kind::Img2Video => "second",
            _ => "image",
        }
    }
}

/// The parameters a request of `kind` with only its required fields resolves to.
fn defaults(kind: Kind, first_frame_model: &str) -> Map<String, Value> {
    // Placeholders for what each generator requires; plans do not fetch images.
    let (prompt, image) = ("-".to_owned(), Some("https://example.invalid/input.png".to_owned()));
    let minimal: GenerationRequest = match kind {
        Kind::Text2Img => Text2Img { prompt, ..Text2Img::default() }.into(),
        Kind::Img2Img => Img2Img { prompt, image_url: image, ..Img2Img::default() }.into(),
        Kind::Upscale => Upscale { image_url: image, ..Upscale::default() }.into(),
        Kind::Pose => Pose { prompt, pose_image_url: image, ..Pose::default() }.into(),
        Kind::Text2Video => Text2Video { prompt, ..Text2Video::default() }.into(),
        Kind::Img2Video => Img2Video { image_url: image, ..Img2Video::default() }.into(),
    };
    let mut parameters = request::plan(minimal, first_frame_model).map(|plan| plan.parameters).unwrap_or_default();
    if parameters.contains_key("seed") {
        parameters.insert("seed".into(), Value::from(-1));
    }
    parameters
}

impl GenerationService {
    /// The price of a generator (nothing when `generation.pricing` names none).
    pub(crate) fn price_of(&self, kind: Kind) -> Price {
        self.config.pricing.get(kind.type_name()).copied().unwrap_or(Price { base: 0, per_unit: 0 })
    }

    /// Every generator with its price and defaults.
    pub fn generators(&self) -> Vec<GeneratorChoice> {
        Kind::ALL
            .into_iter()
            .map(|kind| GeneratorChoice {
                kind,
                price: self.price_of(kind),
                unit: kind.price_unit(),
                defaults: defaults(kind, &self.config.video_first_frame_model),
            })
            .collect()
    }

    /// Every model configured (`generation.models`), by name.
    pub fn models(&self) -> Vec<ModelChoice> {
        let generators = self.generators();
        self.config
            .models
            .keys()
            .map(|name| ModelChoice {
                name: name.clone(),
                default_for: generators
                    .iter()
                    .filter(|g| g.defaults.get("modelName").and_then(Value::as_str) == Some(name))
                    .map(|g| g.kind)
                    .collect(),
            })
            .collect()
    }

    /// Why a model name is refused: the name and the ones that would do.
    pub(crate) fn unavailable(&self, name: &str) -> crate::GenerationError {
        let names: Vec<&str> = self.config.models.keys().map(String::as_str).collect();
        crate::GenerationError::ModelUnavailable(format!("`{name}` (available: {})", names.join(", ")))
    }
}
