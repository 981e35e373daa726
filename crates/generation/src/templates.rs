//! Generator templates: ComfyUI API graphs with `{{binding}}` placeholders, shipped in
//! the repository (`crates/generation/templates/*.json`) and overridable by files of the
//! same name in `<data_dir>/templates/`.

use crate::{GenerationError, Kind};
use gantry_comfy::graph::Graph;
use std::path::PathBuf;

fn builtin(kind: Kind) -> &'static str {
    match kind {
        Kind::Text2Img => include_str!("../templates/text2img.json"),
        Kind::Img2Img => include_str!("../templates/img2img.json"),
        Kind::Upscale => include_str!("../templates/upscale.json"),
        Kind::Pose => include_str!("../templates/pose.json"),
        Kind::Text2Video => include_str!("../templates/text2video.json"),
        Kind::Img2Video => include_str!("../templates/img2video.json"),
    }
}

/// Where templates come from.
#[derive(Debug, Clone)]
pub struct Templates {
    overrides: PathBuf,
}

impl Templates {
    /// Templates with overrides read from `dir`.
    pub fn new(dir: PathBuf) -> Self {
        Self { overrides: dir }
    }

    /// The graph template of a generator: the operator's override if there is one.
    pub async fn load(&self, kind: Kind) -> Result<Graph, GenerationError> {
        let path = self.overrides.join(format!("{}.json", kind.template()));
        let text = match tokio::fs::read_to_string(&path).await {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => builtin(kind).to_owned(),
            Err(e) => return Err(GenerationError::Internal(format!("reading {}: {e}", path.display()))),
        };
        serde_json::from_str(&text).map_err(|e| GenerationError::Internal(format!("template {}: {e}", kind.template())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_templates_are_valid_graphs() {
        for kind in Kind::ALL {
            let graph: Graph = serde_json::from_str(builtin(kind)).unwrap();
            gantry_comfy::graph::validate_shape(&graph).unwrap();
            assert!(gantry_comfy::graph::set_filename_prefix(&mut graph.clone(), "x") == 1, "{kind:?}");
        }
    }
}
