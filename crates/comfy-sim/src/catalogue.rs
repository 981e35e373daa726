//! The node catalogue: which classes exist, their inputs and outputs, rendered as `/object_info`.
//!
//! Loaded from `data/object_info.json` (or a file given in the config). Combo inputs whose values
//! depend on the server (model files, uploaded images, samplers) are filled at request time.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use crate::nodes;
use serde::ser::{SerializeMap, Serializer};
use serde_json::{Map, Value};

const BUILTIN: &str = include_str!("../data/object_info.json");

/// All node classes the sim knows.
#[derive(Debug, Clone)]
pub(crate) struct Catalogue {
    samplers: Vec<Value>,
    schedulers: Vec<Value>,
    nodes: BTreeMap<String, NodeDef>,
}

/// One node class.
#[derive(Debug, Clone)]
pub(crate) struct NodeDef {
    pub name: String,
    /// `None`: rendered as null (ComfyUI's V3 nodes without one).
    display_name: Option<String>,
    description: String,
    category: String,
    python_module: String,
    pub output_node: bool,
    deprecated: bool,
    /// Defined with ComfyUI's V3 node API: `experimental` and `api_node` are reported too.
    v3: bool,
    pub required: Vec<InputDef>,
    pub optional: Vec<InputDef>,
    hidden: Vec<InputDef>,
    pub output: Vec<String>,
    output_name: Vec<String>,
    output_tooltips: Option<Vec<Value>>,
}

/// One declared input.
#[derive(Debug, Clone)]
pub(crate) struct InputDef {
    pub name: String,
    kind: InputKind,
    pub options: Map<String, Value>,
    /// Rendered `[type, {}]` even without options (V3 nodes do so).
    options_given: bool,
    /// A V3 combo: rendered `["COMBO", {"multiselect": false, "options": [...]}]`.
    v3_combo: bool,
}

#[derive(Debug, Clone)]
enum InputKind {
    Named(String),
    Combo(Vec<Value>),
    Dynamic(ComboSource),
}

#[derive(Debug, Clone)]
enum ComboSource {
    Models(String),
    Samplers,
    Schedulers,
    InputImages,
    /// `VAELoader`'s list: the files in `models/vae` and the built-in `pixel_space`.
    VaeList,
}

/// An input type with server-dependent combos filled in.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum InputType {
    Named(String),
    Combo(Vec<Value>),
}

impl InputType {
    /// The `[type, options]` spec as `/object_info` and validation errors show it.
    pub(crate) fn spec(&self, options: &Map<String, Value>) -> Value {
        let head = match self {
            Self::Named(t) => Value::String(t.clone()),
            Self::Combo(values) => Value::Array(values.clone()),
        };
        if options.is_empty() {
            Value::Array(vec![head])
        } else {
            Value::Array(vec![head, Value::Object(options.clone())])
        }
    }
}

/// Server-side lists that combos are filled from.
pub(crate) trait ComboLists {
    /// Files of a model folder, sorted.
    fn models(&self, folder: &str) -> Vec<String>;
    /// Image files in the input directory, sorted.
    fn input_images(&self) -> Vec<String>;
}

/// Why the catalogue file could not be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CatalogueError {
    #[error("cannot read catalogue: {0}")]
    Io(#[from] std::io::Error),
    #[error("catalogue is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("catalogue entry {0}: {1}")]
    Shape(String, &'static str),
}

impl Catalogue {
    /// The catalogue shipped with the crate.
    pub(crate) fn builtin() -> Result<Self, CatalogueError> {
        Self::parse(BUILTIN)
    }

    pub(crate) fn from_file(path: &Path) -> Result<Self, CatalogueError> {
        Self::parse(&std::fs::read_to_string(path)?)
    }

    fn parse(text: &str) -> Result<Self, CatalogueError> {
        let root: Value = serde_json::from_str(text)?;
        let strings =
            |key: &str| -> Vec<Value> { root.get(key).and_then(Value::as_array).cloned().unwrap_or_default() };
        let samplers = strings("samplers");
        let schedulers = strings("schedulers");
        let mut nodes = BTreeMap::new();
        let entries = root
            .get("nodes")
            .and_then(Value::as_object)
            .ok_or_else(|| CatalogueError::Shape("nodes".into(), "missing object"))?;
        for (name, entry) in entries {
            nodes.insert(name.clone(), NodeDef::parse(name, entry)?);
        }
        Ok(Self { samplers, schedulers, nodes })
    }

    pub(crate) fn get(&self, class_type: &str) -> Option<&NodeDef> {
        self.nodes.get(class_type)
    }

    /// Fills a declared input's type.
    pub(crate) fn resolve(&self, input: &InputDef, lists: &dyn ComboLists) -> InputType {
        let strings = |names: Vec<String>| names.into_iter().map(Value::String).collect();
        match &input.kind {
            InputKind::Named(t) => InputType::Named(t.clone()),
            InputKind::Combo(values) => InputType::Combo(values.clone()),
            InputKind::Dynamic(ComboSource::Samplers) => InputType::Combo(self.samplers.clone()),
            InputKind::Dynamic(ComboSource::Schedulers) => InputType::Combo(self.schedulers.clone()),
            InputKind::Dynamic(ComboSource::Models(folder)) => InputType::Combo(strings(lists.models(folder))),
            InputKind::Dynamic(ComboSource::InputImages) => InputType::Combo(strings(lists.input_images())),
            InputKind::Dynamic(ComboSource::VaeList) => {
                let mut names = lists.models("vae");
                names.push(nodes::PIXEL_SPACE.to_owned());
                InputType::Combo(strings(names))
            }
        }
    }

    /// `GET /object_info` for every class, or for one (`{}` when unknown).
    pub(crate) fn object_info<'a>(&'a self, only: Option<&'a str>, lists: &'a dyn ComboLists) -> ObjectInfo<'a> {
        ObjectInfo { catalogue: self, only, lists }
    }
}

/// `/object_info`'s body: class name → node info, in catalogue order.
pub(crate) struct ObjectInfo<'a> {
    catalogue: &'a Catalogue,
    only: Option<&'a str>,
    lists: &'a dyn ComboLists,
}

impl Serialize for ObjectInfo<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        for (name, def) in &self.catalogue.nodes {
            if self.only.is_none_or(|o| o == name) {
                let info = NodeInfo { def, catalogue: self.catalogue, lists: self.lists };
                map.serialize_entry(name, &info)?;
            }
        }
        map.end()
    }
}

impl NodeDef {
    fn parse(name: &str, entry: &Value) -> Result<Self, CatalogueError> {
        let text = |key: &str| entry.get(key).and_then(Value::as_str).map(str::to_owned);
        let flag = |key: &str| entry.get(key).and_then(Value::as_bool).unwrap_or(false);
        let inputs = |key: &str| -> Result<Vec<InputDef>, CatalogueError> {
            match entry.get(key) {
                None => Ok(Vec::new()),
                Some(Value::Array(items)) => items.iter().map(|i| InputDef::parse(name, i)).collect(),
                Some(_) => Err(CatalogueError::Shape(name.into(), "inputs must be a list")),
            }
        };
        let output: Vec<String> = entry
            .get("output")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
            .ok_or_else(|| CatalogueError::Shape(name.into(), "missing output list"))?;
        let output_name = entry
            .get("output_name")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
            .unwrap_or_else(|| output.clone());
        Ok(Self {
            name: name.to_owned(),
            display_name: match entry.get("display_name") {
                Some(Value::Null) => None,
                _ => Some(text("display_name").unwrap_or_else(|| name.to_owned())),
            },
            description: text("description").unwrap_or_default(),
            category: text("category").unwrap_or_else(|| "sd".to_owned()),
            python_module: text("python_module").unwrap_or_else(|| "nodes".to_owned()),
            output_node: flag("output_node"),
            deprecated: flag("deprecated"),
            v3: flag("v3"),
            required: inputs("required")?,
            optional: inputs("optional")?,
            hidden: inputs("hidden")?,
            output,
            output_name,
            output_tooltips: entry.get("output_tooltips").and_then(Value::as_array).cloned(),
        })
    }

    /// Declared inputs as `(input, required?)`, required ones first.
    pub(crate) fn declared_inputs(&self) -> impl Iterator<Item = (&InputDef, bool)> {
        self.required.iter().map(|i| (i, true)).chain(self.optional.iter().map(|i| (i, false)))
    }
}

impl InputDef {
    fn parse(node: &str, item: &Value) -> Result<Self, CatalogueError> {
        let bad = || CatalogueError::Shape(node.into(), "input must be [name, type, options?]");
        let parts = item.as_array().ok_or_else(bad)?;
        let name = parts.first().and_then(Value::as_str).ok_or_else(bad)?;
        let (v3_combo, kind) = match parts.get(1) {
            Some(Value::String(t)) => match t.strip_prefix("$combo:") {
                Some(source) => (true, format!("${source}")),
                None => (false, t.clone()),
            },
            Some(Value::Array(_)) => (false, String::new()),
            _ => return Err(bad()),
        };
        let kind = match parts.get(1) {
            Some(Value::String(_)) => match kind.strip_prefix('$') {
                None => InputKind::Named(kind.clone()),
                Some("samplers") => InputKind::Dynamic(ComboSource::Samplers),
                Some("schedulers") => InputKind::Dynamic(ComboSource::Schedulers),
                Some("input_images") => InputKind::Dynamic(ComboSource::InputImages),
                Some("vae_list") => InputKind::Dynamic(ComboSource::VaeList),
                Some(other) => match other.strip_prefix("models:") {
                    Some(folder) => InputKind::Dynamic(ComboSource::Models(folder.to_owned())),
                    None => return Err(CatalogueError::Shape(node.into(), "unknown $ combo")),
                },
            },
            Some(Value::Array(values)) => InputKind::Combo(values.clone()),
            _ => return Err(bad()),
        };
        let options = parts.get(2).and_then(Value::as_object).cloned();
        let options_given = options.is_some();
        Ok(Self { name: name.to_owned(), kind, options: options.unwrap_or_default(), options_given, v3_combo })
    }

    /// The input as `/object_info` shows it, its combo filled as `resolved`.
    fn render(&self, resolved: InputType) -> Value {
        match resolved {
            InputType::Combo(values) if self.v3_combo => {
                let mut options = Map::new();
                options.insert("multiselect".into(), Value::Bool(false));
                options.insert("options".into(), Value::Array(values));
                options.extend(self.options.clone());
                Value::Array(vec![Value::String("COMBO".into()), Value::Object(options)])
            }
            resolved if self.options_given => {
                let head = resolved.spec(&Map::new()).as_array().and_then(|a| a.first().cloned()).unwrap_or_default();
                Value::Array(vec![head, Value::Object(self.options.clone())])
            }
            resolved => resolved.spec(&self.options),
        }
    }
}

/// One class rendered in `/object_info`'s shape, inputs in declaration order.
struct NodeInfo<'a> {
    def: &'a NodeDef,
    catalogue: &'a Catalogue,
    lists: &'a dyn ComboLists,
}

struct InputGroups<'a>(&'a NodeInfo<'a>);
struct InputOrder<'a>(&'a NodeDef);
/// One group of inputs; `hidden` ones are shown by type name alone.
struct InputSpecs<'a>(&'a NodeInfo<'a>, &'a [InputDef], bool);

fn groups(def: &NodeDef) -> impl Iterator<Item = (&'static str, &[InputDef])> {
    [("required", def.required.as_slice()), ("optional", def.optional.as_slice()), ("hidden", def.hidden.as_slice())]
        .into_iter()
        .filter(|(key, inputs)| *key == "required" || !inputs.is_empty())
}

impl Serialize for InputSpecs<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.1.len()))?;
        for input in self.1 {
            let resolved = self.0.catalogue.resolve(input, self.0.lists);
            match (&resolved, self.2) {
                (InputType::Named(name), true) => map.serialize_entry(&input.name, name)?,
                _ => map.serialize_entry(&input.name, &input.render(resolved))?,
            }
        }
        map.end()
    }
}

impl Serialize for InputGroups<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        for (key, inputs) in groups(self.0.def) {
            map.serialize_entry(key, &InputSpecs(self.0, inputs, key == "hidden"))?;
        }
        map.end()
    }
}

impl Serialize for InputOrder<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        for (key, inputs) in groups(self.0) {
            let names: Vec<&str> = inputs.iter().map(|i| i.name.as_str()).collect();
            map.serialize_entry(key, &names)?;
        }
        map.end()
    }
}

impl Serialize for NodeInfo<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let def = self.def;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("input", &InputGroups(self))?;
        map.serialize_entry("input_order", &InputOrder(def))?;
        map.serialize_entry("output", &def.output)?;
        map.serialize_entry("output_is_list", &vec![false; def.output.len()])?;
        map.serialize_entry("output_name", &def.output_name)?;
        map.serialize_entry("name", &def.name)?;
        map.serialize_entry("display_name", &def.display_name)?;
        map.serialize_entry("description", &def.description)?;
        map.serialize_entry("python_module", &def.python_module)?;
        map.serialize_entry("category", &def.category)?;
        map.serialize_entry("output_node", &def.output_node)?;
        if let Some(tips) = &def.output_tooltips {
            map.serialize_entry("output_tooltips", tips)?;
        }
        if def.v3 {
            map.serialize_entry("deprecated", &def.deprecated)?;
            map.serialize_entry("experimental", &false)?;
            map.serialize_entry("api_node", &false)?;
        } else if def.deprecated {
            map.serialize_entry("deprecated", &true)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Lists;
    impl ComboLists for Lists {
        fn models(&self, folder: &str) -> Vec<String> {
            vec![format!("{folder}.safetensors")]
        }
        fn input_images(&self) -> Vec<String> {
            vec!["in.png".into()]
        }
    }

    #[test]
    fn builtin_catalogue_renders_object_info() {
        let cat = Catalogue::builtin().unwrap();
        let info = serde_json::to_value(cat.object_info(None, &Lists)).unwrap();
        let ckpt = &info["CheckpointLoaderSimple"];
        assert_eq!(ckpt["input"]["required"]["ckpt_name"][0], serde_json::json!(["checkpoints.safetensors"]));
        assert_eq!(ckpt["output"], serde_json::json!(["MODEL", "CLIP", "VAE"]));
        assert_eq!(info["SaveImage"]["output_node"], true);
        assert_eq!(info["ControlNetApply"]["deprecated"], true);
        assert_eq!(info["KSampler"]["input_order"]["required"][0], serde_json::json!("model"));
        let none = serde_json::to_value(cat.object_info(Some("Nope"), &Lists)).unwrap();
        assert_eq!(none, serde_json::json!({}));
    }
}
