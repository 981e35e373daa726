//! The input-schema shape (`GET /modules/{id}/input-schema`).

use serde_json::{Map, Value, json};

use super::{InputDef, UiType};

/// One schema entry: `{key, type, label, required, …}` plus widget-specific fields.
pub(super) fn input_schema(input: &InputDef) -> Value {
    let mut m = Map::new();
    m.insert("key".into(), json!(input.id));
    m.insert("type".into(), json!(input.ui_type));
    m.insert("label".into(), json!(input.label));
    m.insert("labelEn".into(), json!(input.label_en));
    m.insert("required".into(), json!(input.required));
    if let Some(p) = &input.placeholder {
        m.insert("placeholder".into(), json!(p));
    }
    if !input.default_value.is_null() {
        m.insert("defaultValue".into(), input.default_value.clone());
    }
    let c = input.constraints.clone().unwrap_or_default();
    match input.ui_type {
        UiType::Dropdown => {
            let options: Vec<Value> = c.options.iter().map(|o| json!({ "value": o, "label": o })).collect();
            m.insert("options".into(), Value::Array(options));
        }
        UiType::NumberSlider => {
            for (key, v) in [("min", c.min), ("max", c.max), ("step", c.step)] {
                if let Some(v) = v {
                    m.insert(key.into(), crate::value::number(v));
                }
            }
        }
        UiType::KeyValueEditor => {
            m.insert("keyPlaceholder".into(), json!("Key"));
            m.insert("valuePlaceholder".into(), json!("Value"));
            m.insert("allowVariables".into(), json!(true));
        }
        UiType::TextField | UiType::TextArea | UiType::CodeEditor => {
            if let Some(p) = &c.pattern {
                m.insert(
                    "validation".into(),
                    json!({ "pattern": p, "message": format!("Invalid {} format", input.label_en) }),
                );
            }
            if let Some(lang) = &c.language {
                m.insert("language".into(), json!(lang));
            }
            m.insert("autocomplete".into(), json!({ "type": "variable", "allowMagicVariables": true }));
        }
        UiType::Switch => {}
    }
    Value::Object(m)
}
