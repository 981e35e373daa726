//! The module catalogue: definitions, categories, and the JSON shapes of the modules API
//! (list, detail, input schema, categories).

mod builder;
mod builtin;
mod schema;

use serde::Serialize;
use serde_json::{Value, json};

pub use builtin::{GANTRY_TRIGGER_EVENTS, GANTRY_VM_ACTIONS, builtin_modules, categories};

/// What kind of block marker a module is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BlockType {
    /// Not part of a block.
    None,
    /// Opens an if block.
    If,
    /// Separates the if block's branches.
    Else,
    /// Closes an if block.
    Endif,
    /// Opens a counted loop.
    Loop,
    /// Closes a counted loop.
    Endloop,
    /// Opens a loop over a list.
    Foreach,
    /// Closes a loop over a list.
    Endforeach,
    /// Opens a conditional loop.
    While,
    /// Closes a conditional loop.
    Endwhile,
}

impl BlockType {
    /// The lowercase name used in the API.
    pub fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::If => "if",
            Self::Else => "else",
            Self::Endif => "endif",
            Self::Loop => "loop",
            Self::Endloop => "endloop",
            Self::Foreach => "foreach",
            Self::Endforeach => "endforeach",
            Self::While => "while",
            Self::Endwhile => "endwhile",
        }
    }

    /// Whether it opens a loop.
    pub fn is_loop_start(self) -> bool {
        matches!(self, Self::Loop | Self::Foreach | Self::While)
    }

    /// The block type that closes this opener.
    pub fn closer(self) -> Option<Self> {
        match self {
            Self::If => Some(Self::Endif),
            Self::Loop => Some(Self::Endloop),
            Self::Foreach => Some(Self::Endforeach),
            Self::While => Some(Self::Endwhile),
            _ => None,
        }
    }
}

/// Value types of inputs and outputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ValueType {
    /// Text.
    String,
    /// Number.
    Number,
    /// `true`/`false`.
    Boolean,
    /// JSON object.
    Dictionary,
    /// JSON array.
    List,
    /// Anything.
    Any,
}

/// Editor widget for an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UiType {
    /// One-line text.
    TextField,
    /// Multi-line text.
    TextArea,
    /// Choice among `constraints.options`.
    Dropdown,
    /// Number with `min`/`max`/`step`.
    NumberSlider,
    /// Boolean.
    Switch,
    /// Dictionary editor.
    KeyValueEditor,
    /// Code or JSON.
    CodeEditor,
}

/// Limits an input's value must meet.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Constraints {
    /// Smallest number.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "ser_num")]
    pub min: Option<f64>,
    /// Largest number.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "ser_num")]
    pub max: Option<f64>,
    /// Slider step.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "ser_num")]
    pub step: Option<f64>,
    /// Regular expression the text must match.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// Shortest text, in characters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_length: Option<usize>,
    /// Longest text, in characters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_length: Option<usize>,
    /// Allowed values (compared case-insensitively).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
    /// Language hint for code editors (`json`, `expression`, `cron`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
}

/// Serialises whole numbers without a fraction (`1`, not `1.0`), as the spec shows them.
fn ser_num<S: serde::Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    v.map(crate::value::number).serialize(s)
}

/// One input of a module.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InputDef {
    /// Parameter id.
    pub id: String,
    /// Value type.
    #[serde(rename = "type")]
    pub ty: ValueType,
    /// Chinese label.
    pub label: String,
    /// English label.
    pub label_en: String,
    /// Chinese description.
    pub description: String,
    /// English description.
    pub description_en: String,
    /// Used when the parameter is absent.
    pub default_value: Value,
    /// Must be present (and non-empty) when it has no default.
    pub required: bool,
    /// Editor widget.
    pub ui_type: UiType,
    /// Limits, when any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub constraints: Option<Constraints>,
    /// Placeholder for text widgets.
    #[serde(skip)]
    pub placeholder: Option<String>,
    /// Parsed as a condition/arithmetic expression instead of a template.
    #[serde(skip)]
    pub expression: bool,
}

/// One output of a module.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputDef {
    /// Output id, the `output` in `{{step.output}}`.
    pub id: String,
    /// Value type.
    #[serde(rename = "type")]
    pub ty: ValueType,
    /// Chinese label.
    pub label: String,
    /// English label.
    pub label_en: String,
    /// Chinese description.
    pub description: String,
    /// English description.
    pub description_en: String,
}

/// Names and category of a module.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ModuleMetadata {
    /// Chinese name.
    pub name: String,
    /// English name.
    pub name_en: String,
    /// Icon id.
    pub icon: String,
    /// Category id.
    pub category: String,
    /// Chinese description.
    pub description: String,
    /// English description.
    pub description_en: String,
    /// Documentation link.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help_url: Option<String>,
}

/// How a module takes part in blocks.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockBehavior {
    /// Marker kind.
    pub block_type: BlockType,
    /// Whether a workflow may begin with it.
    pub can_start_workflow: bool,
    /// Module id closing the block this one opens.
    pub end_block_id: Option<String>,
}

/// A module definition.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ModuleDef {
    /// Module id.
    pub id: String,
    /// Names and category.
    pub metadata: ModuleMetadata,
    /// Block role.
    pub block_behavior: BlockBehavior,
    /// Inputs.
    pub inputs: Vec<InputDef>,
    /// Outputs.
    pub outputs: Vec<OutputDef>,
    /// Example parameter sets, `{name, description, parameters}`.
    pub examples: Vec<Value>,
}

impl ModuleDef {
    /// The input with this id.
    pub fn input(&self, id: &str) -> Option<&InputDef> {
        self.inputs.iter().find(|i| i.id == id)
    }

    /// The output with this id.
    pub fn output(&self, id: &str) -> Option<&OutputDef> {
        self.outputs.iter().find(|o| o.id == id)
    }

    /// Whether the module is a trigger.
    pub fn is_trigger(&self) -> bool {
        self.metadata.category == "trigger"
    }

    /// Whether the host executes it (category `gantry`).
    pub fn is_host_module(&self) -> bool {
        self.metadata.category == "gantry"
    }

    /// `{id, metadata, blockBehavior}` as in `GET /modules`.
    pub fn summary_json(&self) -> Value {
        json!({ "id": self.id, "metadata": self.metadata, "blockBehavior": self.block_behavior })
    }

    /// The full definition as in `GET /modules/{id}`.
    pub fn detail_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// `{schema: [...]}` as in `GET /modules/{id}/input-schema`.
    pub fn input_schema_json(&self) -> Value {
        json!({ "schema": self.inputs.iter().map(schema::input_schema).collect::<Vec<_>>() })
    }
}

/// A module category.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Category {
    /// Category id.
    pub id: String,
    /// Chinese name.
    pub name: String,
    /// English name.
    pub name_en: String,
    /// Icon id.
    pub icon: String,
    /// Chinese description.
    pub description: String,
    /// English description.
    pub description_en: String,
    /// Display order.
    pub order: u32,
}

/// The set of known modules, indexed by id.
#[derive(Debug, Clone)]
pub struct Catalogue {
    categories: Vec<Category>,
    modules: Vec<ModuleDef>,
    by_id: crate::FastMap<String, usize>,
}

impl Default for Catalogue {
    fn default() -> Self {
        Self::builtin()
    }
}

impl Catalogue {
    /// The built-in catalogue (triggers, logic, data, file, network, system, gantry).
    pub fn builtin() -> Self {
        let mut c = Self { categories: categories(), modules: Vec::new(), by_id: Default::default() };
        for m in builtin_modules() {
            c.register(m);
        }
        c
    }

    /// Adds or replaces a module. Modules in category `gantry` are executed by the host.
    pub fn register(&mut self, module: ModuleDef) {
        match self.by_id.get(&module.id) {
            Some(&i) => self.modules[i] = module,
            None => {
                self.by_id.insert(module.id.clone(), self.modules.len());
                self.modules.push(module);
            }
        }
    }

    /// The module with this id.
    pub fn get(&self, id: &str) -> Option<&ModuleDef> {
        self.by_id.get(id).map(|&i| &self.modules[i])
    }

    /// All modules in registration order.
    pub fn modules(&self) -> &[ModuleDef] {
        &self.modules
    }

    /// All categories in display order.
    pub fn categories(&self) -> &[Category] {
        &self.categories
    }

    /// `{categories: [...]}` as in `GET /modules/categories`.
    pub fn categories_json(&self) -> Value {
        json!({ "categories": self.categories })
    }

    /// `{modules: [...]}` as in `GET /modules?category=&search=`; `search` matches names,
    /// descriptions and ids case-insensitively.
    pub fn list_json(&self, category: Option<&str>, search: Option<&str>) -> Value {
        let needle = search.map(str::to_lowercase).filter(|s| !s.is_empty());
        let modules: Vec<Value> = self
            .modules
            .iter()
            .filter(|m| category.is_none_or(|c| m.metadata.category == c))
            .filter(|m| {
                needle.as_ref().is_none_or(|n| {
                    let md = &m.metadata;
                    [&m.id, &md.name, &md.name_en, &md.description, &md.description_en]
                        .iter()
                        .any(|s| s.to_lowercase().contains(n.as_str()))
                })
            })
            .map(ModuleDef::summary_json)
            .collect();
        json!({ "modules": modules })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_shapes() {
        let c = Catalogue::builtin();
        let http = c.get("http_request").unwrap().detail_json();
        assert_eq!(http["metadata"]["nameEn"], "HTTP Request");
        assert_eq!(http["blockBehavior"], json!({"blockType": "none", "canStartWorkflow": true, "endBlockId": null}));
        assert_eq!(http["inputs"][0]["constraints"]["pattern"], "^https?://.*");
        assert_eq!(http["inputs"][1]["uiType"], "dropdown");
        assert_eq!(http["outputs"][0]["id"], "statusCode");
        assert!(http["examples"][0]["parameters"]["url"].is_string());

        let iff = c.get("if_condition").unwrap().summary_json();
        assert_eq!(iff["blockBehavior"], json!({"blockType": "if", "canStartWorkflow": false, "endBlockId": "endif"}));

        let list = c.list_json(Some("logic"), None);
        assert!(list["modules"].as_array().unwrap().iter().all(|m| m["metadata"]["category"] == "logic"));
        let found = c.list_json(None, Some("Http_Request"));
        assert_eq!(found["modules"].as_array().map(Vec::len), Some(1));
        assert_eq!(found["modules"][0]["id"], "http_request");

        let cats = c.categories_json();
        let ids: Vec<&str> = cats["categories"].as_array().unwrap().iter().filter_map(|c| c["id"].as_str()).collect();
        assert_eq!(ids, ["trigger", "logic", "data", "file", "network", "system", "gantry"]);
    }

    #[test]
    fn every_module_is_consistent() {
        let c = Catalogue::builtin();
        for m in c.modules() {
            assert!(c.categories().iter().any(|cat| cat.id == m.metadata.category), "{}", m.id);
            if let Some(closer) = m.block_behavior.block_type.closer() {
                let end = m.block_behavior.end_block_id.as_deref().unwrap();
                assert_eq!(c.get(end).unwrap().block_behavior.block_type, closer, "{}", m.id);
            }
            for i in &m.inputs {
                assert!(!i.expression || i.ty == ValueType::String, "{}.{}", m.id, i.id);
            }
        }
    }

    #[test]
    fn input_schema_shape() {
        let c = Catalogue::builtin();
        let s = c.get("http_request").unwrap().input_schema_json();
        let items = s["schema"].as_array().unwrap();
        let url = &items[0];
        assert_eq!(url["key"], "url");
        assert_eq!(url["type"], "text_field");
        assert_eq!(url["validation"]["pattern"], "^https?://.*");
        assert_eq!(url["autocomplete"], json!({"type": "variable", "allowMagicVariables": true}));
        let method = &items[1];
        assert_eq!(method["options"][0], json!({"value": "GET", "label": "GET"}));
        let timeout = items.iter().find(|i| i["key"] == "timeout").unwrap();
        assert_eq!((timeout["min"].as_f64(), timeout["max"].as_f64()), (Some(1.0), Some(300.0)));
        assert_eq!(timeout["defaultValue"], 30);
        let headers = items.iter().find(|i| i["key"] == "headers").unwrap();
        assert_eq!(headers["type"], "key_value_editor");
        assert_eq!(headers["allowVariables"], true);
    }
}
