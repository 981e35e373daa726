//! Pure helpers for API-format graphs (`{node_id: {class_type, inputs}}`). No I/O.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};

/// An API-format graph: node id → `{"class_type": …, "inputs": {…}}`.
pub type Graph = Map<String, Value>;

/// Why a graph or a set of params was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    #[error("the graph has no nodes")]
    Empty,
    #[error("node {node}: {reason}")]
    InvalidNode { node: String, reason: String },
    #[error("node {node}, input {input}: {reason}")]
    InvalidLink { node: String, input: String, reason: String },
    #[error("node {node} is part of a cycle of links")]
    Cycle { node: String },
    #[error("invalid parameter name {0:?}: use \"name\" or \"<nodeId>.<input>\"")]
    InvalidParamKey(String),
    #[error("parameter {param:?} names node {node}, which is not in the graph")]
    UnknownNode { param: String, node: String },
    #[error("parameter {0:?} matches no \"{{{{{0}}}}}\" placeholder in the graph")]
    UnusedParam(String),
}

/// A model file a graph loads: `GET /models/{folder}` must list `name`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct ModelRef {
    pub folder: String,
    pub name: String,
}

/// Loader classes and the inputs that name model files, with their model folder.
const MODEL_LOADERS: &[(&str, &[(&str, &str)])] = &[
    ("CheckpointLoaderSimple", &[("ckpt_name", "checkpoints")]),
    ("CheckpointLoader", &[("ckpt_name", "checkpoints")]),
    ("ImageOnlyCheckpointLoader", &[("ckpt_name", "checkpoints")]),
    ("unCLIPCheckpointLoader", &[("ckpt_name", "checkpoints")]),
    ("UpscaleModelLoader", &[("model_name", "upscale_models")]),
    ("ControlNetLoader", &[("control_net_name", "controlnet")]),
    ("DiffControlNetLoader", &[("control_net_name", "controlnet")]),
    ("LoraLoader", &[("lora_name", "loras")]),
    ("LoraLoaderModelOnly", &[("lora_name", "loras")]),
    ("VAELoader", &[("vae_name", "vae")]),
    ("CLIPLoader", &[("clip_name", "text_encoders")]),
    ("DualCLIPLoader", &[("clip_name1", "text_encoders"), ("clip_name2", "text_encoders")]),
    (
        "TripleCLIPLoader",
        &[("clip_name1", "text_encoders"), ("clip_name2", "text_encoders"), ("clip_name3", "text_encoders")],
    ),
    ("UNETLoader", &[("unet_name", "diffusion_models")]),
    ("CLIPVisionLoader", &[("clip_name", "clip_vision")]),
    ("StyleModelLoader", &[("style_model_name", "style_models")]),
];

/// VAELoader choices that are not files in `models/vae` (built-in or approximate decoders).
const BUILTIN_VAES: &[&str] = &["pixel_space", "taesd", "taesdxl", "taesd3", "taef1"];

/// Classes whose `image` input names a file in ComfyUI's input directory.
const IMAGE_LOADERS: &[&str] = &["LoadImage", "LoadImageMask"];

/// Applies Gantry's params to a graph.
///
/// - `"<nodeId>.<input>"` sets that input of that node (the node must exist; the input
///   may be new). These win over placeholders.
/// - Any other key `name` replaces every input whose value is exactly the string
///   `"{{name}}"` with the param value, keeping its JSON type.
///
/// A key that is empty, names a missing node, or matches no placeholder is an error,
/// and then the graph is left unchanged.
pub fn apply_params(graph: &mut Graph, params: &Map<String, Value>) -> Result<(), GraphError> {
    let mut placeholder_sets = Vec::new();
    let mut direct_sets = Vec::new();
    for (key, value) in params {
        if let Some((node, input)) = key.split_once('.') {
            if node.is_empty() || input.is_empty() {
                return Err(GraphError::InvalidParamKey(key.clone()));
            }
            let Some(target) = graph.get(node) else {
                return Err(GraphError::UnknownNode { param: key.clone(), node: node.to_owned() });
            };
            let well_formed =
                target.as_object().is_some_and(|t| matches!(t.get("inputs"), None | Some(Value::Object(_))));
            if !well_formed {
                return Err(invalid_node(node, "is not an object with an inputs object"));
            }
            direct_sets.push((node.to_owned(), input.to_owned(), value));
        } else {
            if key.is_empty() {
                return Err(GraphError::InvalidParamKey(key.clone()));
            }
            let found = placeholder_inputs(graph, key);
            if found.is_empty() {
                return Err(GraphError::UnusedParam(key.clone()));
            }
            placeholder_sets.extend(found.into_iter().map(|(node, input)| (node, input, value)));
        }
    }
    for (node, input, value) in placeholder_sets.into_iter().chain(direct_sets) {
        set_input(graph, &node, &input, value.clone());
    }
    Ok(())
}

/// Checks the shape ComfyUI expects: a non-empty object whose nodes have a string
/// `class_type` and an `inputs` object, and whose links (`[node_id, output_index]`)
/// point at existing nodes without forming a cycle.
pub fn validate_shape(graph: &Graph) -> Result<(), GraphError> {
    if graph.is_empty() {
        return Err(GraphError::Empty);
    }
    for (id, node) in graph {
        let Some(node) = node.as_object() else {
            return Err(invalid_node(id, "is not an object"));
        };
        match node.get("class_type") {
            Some(Value::String(class)) if !class.trim().is_empty() => {}
            Some(Value::String(_)) => return Err(invalid_node(id, "has an empty class_type")),
            Some(_) => return Err(invalid_node(id, "has a class_type that is not a string")),
            None => return Err(invalid_node(id, "has no class_type")),
        }
        let inputs = match node.get("inputs") {
            Some(Value::Object(inputs)) => inputs,
            Some(_) => return Err(invalid_node(id, "has inputs that are not an object")),
            None => return Err(invalid_node(id, "has no inputs object")),
        };
        for (input, value) in inputs {
            if let Value::Array(link) = value {
                check_link(graph, id, input, link)?;
            }
        }
    }
    check_acyclic(graph)
}

/// Sets `inputs.filename_prefix` on every node that has one; returns how many.
///
/// Give each task its own prefix so ComfyUI's cache never hands back another task's files.
pub fn set_filename_prefix(graph: &mut Graph, prefix: &str) -> usize {
    let mut count = 0;
    for node in graph.values_mut() {
        let Some(inputs) = node.get_mut("inputs").and_then(Value::as_object_mut) else {
            continue;
        };
        if let Some(current) = inputs.get_mut("filename_prefix") {
            *current = Value::String(prefix.to_owned());
            count += 1;
        }
    }
    count
}

/// The model files the graph's loader nodes name as literal strings, deduplicated,
/// in the graph's key order.
pub fn required_models(graph: &Graph) -> Vec<ModelRef> {
    let mut seen = HashSet::new();
    let mut models = Vec::new();
    for node in graph.values() {
        let Some(class) = class_type(node) else {
            continue;
        };
        let Some((_, inputs)) = MODEL_LOADERS.iter().find(|(loader, _)| *loader == class) else {
            continue;
        };
        for (input, folder) in inputs.iter() {
            let Some(name) = literal_str(node, input) else {
                continue;
            };
            if class == "VAELoader" && BUILTIN_VAES.contains(&name) {
                continue;
            }
            let model = ModelRef { folder: (*folder).to_owned(), name: name.to_owned() };
            if seen.insert(model.clone()) {
                models.push(model);
            }
        }
    }
    models
}

/// `(node id, image)` for every LoadImage/LoadImageMask node with a literal `image`.
pub fn input_images(graph: &Graph) -> Vec<(String, String)> {
    graph
        .iter()
        .filter(|(_, node)| class_type(node).is_some_and(|class| IMAGE_LOADERS.contains(&class)))
        .filter_map(|(id, node)| Some((id.clone(), literal_str(node, "image")?.to_owned())))
        .collect()
}

/// Sets one input of one node, creating `inputs` or the input if missing.
/// Returns false (and changes nothing) when the node does not exist or is malformed.
pub fn set_input(graph: &mut Graph, node: &str, input: &str, value: Value) -> bool {
    let Some(Value::Object(node)) = graph.get_mut(node) else {
        return false;
    };
    let inputs = node.entry("inputs").or_insert_with(|| Value::Object(Map::new()));
    let Some(inputs) = inputs.as_object_mut() else {
        return false;
    };
    inputs.insert(input.to_owned(), value);
    true
}

/// The number of sampler steps the graph will report as progress: the literal `steps` of
/// every KSampler, plus `min(steps, end_at_step) - start_at_step` of every KSamplerAdvanced.
pub fn sampler_steps(graph: &Graph) -> u64 {
    graph
        .values()
        .map(|node| {
            let steps = literal_u64(node, "steps").unwrap_or(0);
            match class_type(node) {
                Some("KSampler") => steps,
                Some("KSamplerAdvanced") => {
                    let start = literal_u64(node, "start_at_step").unwrap_or(0);
                    let end = literal_u64(node, "end_at_step").unwrap_or(u64::MAX);
                    steps.min(end).saturating_sub(start)
                }
                _ => 0,
            }
        })
        .sum()
}

/// The largest image the graph makes or reads: the most `width × height × batch_size` (batch
/// 1 when absent) of any node with literal `width` and `height` inputs; 0 when none has.
pub fn largest_image_pixels(graph: &Graph) -> u64 {
    graph
        .values()
        .filter_map(|node| {
            let area = literal_u64(node, "width")?.saturating_mul(literal_u64(node, "height")?);
            Some(area.saturating_mul(literal_u64(node, "batch_size").unwrap_or(1).max(1)))
        })
        .max()
        .unwrap_or(0)
}

/// `(node id, input)` of every input whose value is exactly `"{{name}}"`.
fn placeholder_inputs(graph: &Graph, name: &str) -> Vec<(String, String)> {
    let placeholder = format!("{{{{{name}}}}}");
    let mut found = Vec::new();
    for (node_id, node) in graph {
        let Some(inputs) = node.get("inputs").and_then(Value::as_object) else {
            continue;
        };
        for (input, value) in inputs {
            if value.as_str() == Some(placeholder.as_str()) {
                found.push((node_id.clone(), input.clone()));
            }
        }
    }
    found
}

fn invalid_node(node: &str, reason: &str) -> GraphError {
    GraphError::InvalidNode { node: node.to_owned(), reason: reason.to_owned() }
}

fn class_type(node: &Value) -> Option<&str> {
    node.get("class_type")?.as_str()
}

fn literal_str<'a>(node: &'a Value, input: &str) -> Option<&'a str> {
    node.get("inputs")?.get(input)?.as_str()
}

fn literal_u64(node: &Value, input: &str) -> Option<u64> {
    let value = node.get("inputs")?.get(input)?;
    value.as_u64().or_else(|| value.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64))
}

fn check_link(graph: &Graph, node: &str, input: &str, link: &[Value]) -> Result<(), GraphError> {
    let fail = |reason: String| Err(GraphError::InvalidLink { node: node.to_owned(), input: input.to_owned(), reason });
    let [source, slot] = link else {
        return fail(format!("a link must be [node_id, output_index], got {} elements", link.len()));
    };
    let Some(source) = source.as_str() else {
        return fail(format!("link source {source} is not a node id string"));
    };
    if slot.as_u64().is_none() {
        return fail(format!("link output index {slot} is not a non-negative integer"));
    }
    if !graph.contains_key(source) {
        return fail(format!("links to node {source}, which is not in the graph"));
    }
    Ok(())
}

/// The nodes a node takes links from.
fn link_sources<'a>(graph: &'a Graph, node: &str) -> Vec<&'a str> {
    graph
        .get(node)
        .and_then(|node| node.get("inputs"))
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|inputs| inputs.values())
        .filter_map(|value| value.as_array()?.first()?.as_str())
        .collect()
}

/// Depth-first search over links; assumes every link source exists.
fn check_acyclic(graph: &Graph) -> Result<(), GraphError> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        OnPath,
        Done,
    }
    let mut marks: HashMap<&str, Mark> = HashMap::new();
    for start in graph.keys() {
        if marks.contains_key(start.as_str()) {
            continue;
        }
        marks.insert(start, Mark::OnPath);
        let mut path = vec![(start.as_str(), link_sources(graph, start))];
        while let Some((node, pending)) = path.last_mut() {
            let node = *node;
            match pending.pop() {
                Some(next) => match marks.get(next) {
                    Some(Mark::OnPath) => {
                        return Err(GraphError::Cycle { node: next.to_owned() });
                    }
                    Some(Mark::Done) => {}
                    None => {
                        marks.insert(next, Mark::OnPath);
                        path.push((next, link_sources(graph, next)));
                    }
                },
                None => {
                    marks.insert(node, Mark::Done);
                    path.pop();
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn graph(value: Value) -> Graph {
        match value {
            Value::Object(map) => map,
            other => panic!("not an object: {other}"),
        }
    }

    fn params(value: Value) -> Map<String, Value> {
        graph(value)
    }

    /// The standard text-to-image graph, with placeholders.
    fn txt2img() -> Graph {
        graph(json!({
            "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "v1-5.safetensors"}},
            "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "{{prompt}}", "clip": ["4", 1]}},
            "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "{{negative}}", "clip": ["4", 1]}},
            "5": {"class_type": "EmptyLatentImage", "inputs": {"width": "{{size}}", "height": "{{size}}", "batch_size": 1}},
            "3": {"class_type": "KSampler", "inputs": {"model": ["4", 0], "positive": ["6", 0], "negative": ["7", 0],
                  "latent_image": ["5", 0], "seed": 42, "steps": 20, "cfg": 8.0, "sampler_name": "euler",
                  "scheduler": "normal", "denoise": 1.0}},
            "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
            "9": {"class_type": "SaveImage", "inputs": {"images": ["8", 0], "filename_prefix": "ComfyUI"}}
        }))
    }

    fn input<'a>(graph: &'a Graph, node: &str, input: &str) -> &'a Value {
        &graph[node]["inputs"][input]
    }

    #[test]
    fn apply_params_replaces_placeholders_keeping_types() {
        let mut g = txt2img();
        let p = params(json!({"prompt": "a castle", "negative": "blurry", "size": 768}));
        apply_params(&mut g, &p).expect("params apply");
        assert_eq!(input(&g, "6", "text"), "a castle");
        assert_eq!(input(&g, "7", "text"), "blurry");
        assert_eq!(input(&g, "5", "width"), &json!(768));
        assert_eq!(input(&g, "5", "height"), &json!(768));
    }

    #[test]
    fn apply_params_sets_node_inputs_and_they_win_over_placeholders() {
        let mut g = txt2img();
        let p = params(json!({"3.seed": 7, "3.new_input": true, "size": 512, "5.width": 1024,
                              "prompt": "x", "negative": "y"}));
        apply_params(&mut g, &p).expect("params apply");
        assert_eq!(input(&g, "3", "seed"), &json!(7));
        assert_eq!(input(&g, "3", "new_input"), &json!(true));
        assert_eq!(input(&g, "5", "width"), &json!(1024));
        assert_eq!(input(&g, "5", "height"), &json!(512));
    }

    #[test]
    fn apply_params_does_not_substitute_inside_values() {
        let mut g = txt2img();
        let p = params(json!({"prompt": "{{negative}}", "negative": "n"}));
        apply_params(&mut g, &p).expect("params apply");
        assert_eq!(input(&g, "6", "text"), "{{negative}}");
        assert_eq!(input(&g, "7", "text"), "n");
    }

    #[test]
    fn apply_params_errors_leave_the_graph_unchanged() {
        let original = txt2img();
        let cases = [
            (json!({"promt": "typo"}), GraphError::UnusedParam("promt".into())),
            (json!({"99.seed": 1}), GraphError::UnknownNode { param: "99.seed".into(), node: "99".into() }),
            (json!({"": 1}), GraphError::InvalidParamKey(String::new())),
            (json!({".seed": 1}), GraphError::InvalidParamKey(".seed".into())),
            (json!({"3.": 1}), GraphError::InvalidParamKey("3.".into())),
            (json!({"prompt": "ok", "zzz": 1}), GraphError::UnusedParam("zzz".into())),
        ];
        for (p, expected) in cases {
            let mut g = original.clone();
            assert_eq!(apply_params(&mut g, &params(p.clone())), Err(expected), "{p}");
            assert_eq!(g, original, "{p}");
        }
        assert!(GraphError::UnusedParam("promt".into()).to_string().contains("\"{{promt}}\""));
    }

    #[test]
    fn validate_shape_accepts_the_standard_graph() {
        assert_eq!(validate_shape(&txt2img()), Ok(()));
    }

    #[test]
    fn validate_shape_names_the_bad_node() {
        let bad = |value: Value| validate_shape(&graph(value)).expect_err("must fail");
        assert_eq!(validate_shape(&Graph::new()), Err(GraphError::Empty));
        assert_eq!(
            bad(json!({"1": 5})),
            GraphError::InvalidNode { node: "1".into(), reason: "is not an object".into() }
        );
        for (node, reason) in [
            (json!({"inputs": {}}), "has no class_type"),
            (json!({"class_type": 3, "inputs": {}}), "has a class_type that is not a string"),
            (json!({"class_type": " ", "inputs": {}}), "has an empty class_type"),
            (json!({"class_type": "X"}), "has no inputs object"),
            (json!({"class_type": "X", "inputs": []}), "has inputs that are not an object"),
        ] {
            assert_eq!(bad(json!({ "7": node })), GraphError::InvalidNode { node: "7".into(), reason: reason.into() });
        }
        let link_error = |link: Value| match bad(json!({
            "1": {"class_type": "A", "inputs": {}},
            "2": {"class_type": "B", "inputs": {"x": link}}
        })) {
            GraphError::InvalidLink { node, input, reason } => {
                assert_eq!((node.as_str(), input.as_str()), ("2", "x"));
                reason
            }
            other => panic!("unexpected {other:?}"),
        };
        assert!(link_error(json!(["99", 0])).contains("node 99, which is not in the graph"));
        assert!(link_error(json!([1, 0])).contains("not a node id string"));
        assert!(link_error(json!(["1", -1])).contains("not a non-negative integer"));
        assert!(link_error(json!(["1", 0, 2])).contains("got 3 elements"));
    }

    #[test]
    fn validate_shape_finds_cycles() {
        let cyclic = graph(json!({
            "1": {"class_type": "A", "inputs": {"x": ["3", 0]}},
            "2": {"class_type": "B", "inputs": {"x": ["1", 0]}},
            "3": {"class_type": "C", "inputs": {"x": ["2", 0]}}
        }));
        assert!(matches!(validate_shape(&cyclic), Err(GraphError::Cycle { .. })));
        let self_loop = graph(json!({"1": {"class_type": "A", "inputs": {"x": ["1", 0]}}}));
        assert_eq!(validate_shape(&self_loop), Err(GraphError::Cycle { node: "1".into() }));
        // A diamond is not a cycle.
        let diamond = graph(json!({
            "1": {"class_type": "A", "inputs": {}},
            "2": {"class_type": "B", "inputs": {"x": ["1", 0]}},
            "3": {"class_type": "C", "inputs": {"x": ["1", 0]}},
            "4": {"class_type": "D", "inputs": {"a": ["2", 0], "b": ["3", 0]}}
        }));
        assert_eq!(validate_shape(&diamond), Ok(()));
    }

    #[test]
    fn set_filename_prefix_touches_every_save_node() {
        let mut g = txt2img();
        g.insert(
            "10".into(),
            json!({"class_type": "SaveAnimatedWEBP", "inputs": {"images": ["8", 0], "filename_prefix": "x", "fps": 6}}),
        );
        assert_eq!(set_filename_prefix(&mut g, "gantry/t1/out"), 2);
        assert_eq!(input(&g, "9", "filename_prefix"), "gantry/t1/out");
        assert_eq!(input(&g, "10", "filename_prefix"), "gantry/t1/out");
        assert!(g["3"]["inputs"].get("filename_prefix").is_none());
        assert_eq!(set_filename_prefix(&mut graph(json!({"1": {"class_type": "A"}})), "p"), 0);
    }

    #[test]
    fn required_models_reads_loaders_and_deduplicates() {
        let g = graph(json!({
            "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd15.safetensors"}},
            "2": {"class_type": "ImageOnlyCheckpointLoader", "inputs": {"ckpt_name": "sd15.safetensors"}},
            "3": {"class_type": "UpscaleModelLoader", "inputs": {"model_name": "RealESRGAN_x4plus.pth"}},
            "4": {"class_type": "ControlNetLoader", "inputs": {"control_net_name": "canny.safetensors"}},
            "5": {"class_type": "LoraLoader", "inputs": {"lora_name": "style.safetensors", "model": ["1", 0]}},
            "6": {"class_type": "LoraLoaderModelOnly", "inputs": {"lora_name": ["20", 0]}},
            "7": {"class_type": "VAELoader", "inputs": {"vae_name": "vae.safetensors"}},
            "8": {"class_type": "VAELoader", "inputs": {"vae_name": "taesd"}},
            "9": {"class_type": "CLIPLoader", "inputs": {"clip_name": "t5.safetensors"}},
            "10": {"class_type": "UNETLoader", "inputs": {"unet_name": "flux.safetensors"}},
            "11": {"class_type": "CheckpointLoader", "inputs": {"ckpt_name": "xl.safetensors", "config_name": "c.yaml"}},
            "12": {"class_type": "DualCLIPLoader", "inputs": {"clip_name1": "t5.safetensors", "clip_name2": "l.safetensors"}},
            "13": {"class_type": "KSampler", "inputs": {"ckpt_name": "ignored"}}
        }));
        let mut got: Vec<_> = required_models(&g).into_iter().map(|m| format!("{}/{}", m.folder, m.name)).collect();
        got.sort();
        assert_eq!(
            got,
            [
                "checkpoints/sd15.safetensors",
                "checkpoints/xl.safetensors",
                "controlnet/canny.safetensors",
                "diffusion_models/flux.safetensors",
                "loras/style.safetensors",
                "text_encoders/l.safetensors",
                "text_encoders/t5.safetensors",
                "upscale_models/RealESRGAN_x4plus.pth",
                "vae/vae.safetensors",
            ]
        );
    }

    #[test]
    fn input_images_and_set_input() {
        let mut g = graph(json!({
            "10": {"class_type": "LoadImage", "inputs": {"image": "src.png", "upload": "image"}},
            "11": {"class_type": "LoadImage", "inputs": {"image": ["1", 0]}},
            "12": {"class_type": "LoadImageMask", "inputs": {"image": "mask.png", "channel": "alpha"}},
            "13": {"class_type": "SaveImage", "inputs": {"image": "not-a-loader.png"}}
        }));
        assert_eq!(
            input_images(&g),
            [("10".to_owned(), "src.png".to_owned()), ("12".to_owned(), "mask.png".to_owned())]
        );
        assert!(set_input(&mut g, "10", "image", json!("gantry/t1/src.png")));
        assert_eq!(input(&g, "10", "image"), "gantry/t1/src.png");
        assert!(!set_input(&mut g, "99", "image", json!("x")));
        let mut bare = graph(json!({"1": {"class_type": "A"}, "2": 3}));
        assert!(set_input(&mut bare, "1", "x", json!(1)));
        assert_eq!(input(&bare, "1", "x"), &json!(1));
        assert!(!set_input(&mut bare, "2", "x", json!(1)));
    }

    #[test]
    fn sampler_steps_sums_samplers() {
        assert_eq!(sampler_steps(&txt2img()), 20);
        let g = graph(json!({
            "1": {"class_type": "KSampler", "inputs": {"steps": 30}},
            "2": {"class_type": "KSamplerAdvanced", "inputs": {"steps": 25, "start_at_step": 0, "end_at_step": 20}},
            "3": {"class_type": "KSamplerAdvanced", "inputs": {"steps": 25, "start_at_step": 20, "end_at_step": 10000}},
            "4": {"class_type": "KSampler", "inputs": {"steps": ["9", 0]}},
            "5": {"class_type": "BasicScheduler", "inputs": {"steps": 12}}
        }));
        assert_eq!(sampler_steps(&g), 30 + 20 + 5);
        assert_eq!(sampler_steps(&Graph::new()), 0);
    }
}
