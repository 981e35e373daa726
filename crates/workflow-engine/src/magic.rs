//! The magic-variables listing (`GET /workflows/{id}/magic-variables`).

use serde::Serialize;
use serde_json::Value;

use crate::blocks::{self, Marker};
use crate::model::Workflow;
use crate::modules::{Catalogue, ValueType};

/// A step output that later steps can reference.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MagicVariable {
    /// `{{step-id.output}}` (or `{{name}}` for a named variable).
    pub key: String,
    /// `"<module name> - <output name>"`.
    pub label: String,
    /// The same in English.
    pub label_en: String,
    /// Output type.
    #[serde(rename = "type")]
    pub ty: ValueType,
    /// The producing step.
    pub step_id: String,
    /// The producing module's name.
    pub step_name: String,
    /// The output id.
    pub output_id: String,
    /// The output's name.
    pub output_name: String,
    /// `Steps`, `Loop` or `Variables`.
    pub category: &'static str,
}

/// A variable every step can reference.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SystemVariable {
    /// `{{trigger.data}}`, `{{current_time}}`, `{{device_info}}`.
    pub key: &'static str,
    /// Display name.
    pub label: &'static str,
    /// The same in English.
    #[serde(rename = "labelEn")]
    pub label_en: &'static str,
    /// Type name.
    #[serde(rename = "type")]
    pub ty: &'static str,
    /// Explanation.
    pub description: &'static str,
    /// The same in English.
    #[serde(rename = "descriptionEn")]
    pub description_en: &'static str,
}

/// The response body: `{magicVariables, systemVariables}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MagicVariables {
    /// Step outputs and named variables.
    pub magic_variables: Vec<MagicVariable>,
    /// Run-wide variables.
    pub system_variables: Vec<SystemVariable>,
}

/// Lists what can be referenced; with `upto_step`, only what step `upto_step` can see
/// (earlier steps, and loop outputs of loops enclosing it).
pub fn magic_variables(workflow: &Workflow, catalogue: &Catalogue, upto_step: Option<usize>) -> MagicVariables {
    let steps = &workflow.steps;
    let markers: Vec<Marker> = steps.iter().map(|s| Marker::of(s, catalogue)).collect();
    let (blocks, _) = blocks::analyze(&markers);
    let end = upto_step.map_or(steps.len(), |u| u.min(steps.len()));
    let mut out = Vec::new();
    for (j, step) in steps[..end].iter().enumerate() {
        let Some(def) = catalogue.get(&step.module_id) else { continue };
        let is_loop = def.block_behavior.block_type.is_loop_start();
        if is_loop && upto_step.is_some_and(|u| !blocks.loop_encloses(j, u)) {
            continue;
        }
        for o in &def.outputs {
            out.push(MagicVariable {
                key: format!("{{{{{}.{}}}}}", step.id, o.id),
                label: format!("{} - {}", def.metadata.name, o.label),
                label_en: format!("{} - {}", def.metadata.name_en, o.label_en),
                ty: o.ty,
                step_id: step.id.clone(),
                step_name: def.metadata.name.clone(),
                output_id: o.id.clone(),
                output_name: o.label.clone(),
                category: if is_loop { "Loop" } else { "Steps" },
            });
        }
        if step.module_id == "set_variable"
            && let Some(Value::String(name)) = step.param("name")
        {
            out.push(MagicVariable {
                key: format!("{{{{{name}}}}}"),
                label: format!("{} - {name}", def.metadata.name),
                label_en: format!("{} - {name}", def.metadata.name_en),
                ty: ValueType::Any,
                step_id: step.id.clone(),
                step_name: def.metadata.name.clone(),
                output_id: "value".into(),
                output_name: name.clone(),
                category: "Variables",
            });
        }
    }
    MagicVariables { magic_variables: out, system_variables: system_variables() }
}

fn system_variables() -> Vec<SystemVariable> {
    vec![
        SystemVariable {
            key: "{{trigger.data}}",
            label: "触发器数据",
            label_en: "Trigger data",
            ty: "any",
            description: "触发器传入的原始数据",
            description_en: "The data the trigger passed in, as it came",
        },
        SystemVariable {
            key: "{{current_time}}",
            label: "当前时间",
            label_en: "Current time (ms)",
            ty: "number",
            description: "当前时间戳(毫秒)",
            description_en: "Now, in milliseconds since 1970-01-01 UTC (a number, not a formatted date)",
        },
        SystemVariable {
            key: "{{device_info}}",
            label: "设备信息",
            label_en: "Device information",
            ty: "dictionary",
            description: "设备相关信息",
            description_en: "The device running the workflow",
        },
    ]
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::model::Step;

    #[test]
    fn lists_outputs_in_the_spec_shape() {
        let wf = Workflow {
            steps: vec![
                Step::new("step-001", "delay"),
                Step::new("loop", "loop").with("count", 2),
                Step::new("v", "set_variable").with("name", "x").indent(1),
                Step::new("end", "endloop"),
                Step::new("step-002", "http_request"),
            ],
            ..Workflow::default()
        };
        let c = Catalogue::builtin();
        let all = serde_json::to_value(magic_variables(&wf, &c, None)).unwrap();
        assert_eq!(
            all["magicVariables"][0],
            json!({"key": "{{step-001.actualDuration}}", "label": "延迟 - 实际延迟",
                   "labelEn": "Delay - Actual Duration", "type": "number",
                   "stepId": "step-001", "stepName": "延迟", "outputId": "actualDuration",
                   "outputName": "实际延迟", "category": "Steps"})
        );
        assert_eq!(all["systemVariables"][1]["key"], "{{current_time}}");
        assert!(all["systemVariables"][1]["descriptionEn"].as_str().unwrap().contains("milliseconds"));
        assert_eq!(all["systemVariables"][1]["labelEn"], "Current time (ms)");
        let keys = |upto| -> Vec<String> {
            magic_variables(&wf, &c, Some(upto)).magic_variables.into_iter().map(|m| m.key).collect()
        };
        assert!(keys(2).contains(&"{{loop.index}}".to_owned()));
        assert!(!keys(4).contains(&"{{loop.index}}".to_owned()));
        assert!(keys(4).contains(&"{{x}}".to_owned()));
        assert!(!keys(4).iter().any(|k| k.starts_with("{{step-002")));
    }
}
