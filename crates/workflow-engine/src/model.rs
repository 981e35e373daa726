//! The workflow data model, in the API's camelCase shape.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use crate::value::{to_number, to_text, type_name};

/// A workflow: a flat list of steps whose block structure comes from paired start/end modules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Workflow {
    /// Workflow id (UUID).
    #[serde(default)]
    pub id: String,
    /// Display name.
    #[serde(default)]
    pub name: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// Whether triggers may start it.
    #[serde(default)]
    pub is_enabled: bool,
    /// Starred in the editor.
    #[serde(default)]
    pub is_favorite: bool,
    /// Containing folder, if any.
    #[serde(default)]
    pub folder_id: Option<String>,
    /// Position within its folder.
    #[serde(default)]
    pub order: i64,
    /// The steps, in program order.
    #[serde(default)]
    pub steps: Vec<Step>,
    /// Legacy trigger description (`{"type": "manual", …}`).
    #[serde(default)]
    pub trigger_config: Option<Value>,
    /// Wall-clock budget for one run, in seconds; `None` or 0 means unlimited.
    #[serde(default)]
    pub max_execution_time: Option<u64>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Version string, `"1.0.0"` by default.
    #[serde(default = "default_version")]
    pub version: String,
    /// Last modification, ms since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified_at: Option<i64>,
    /// Free-form metadata (`author`, `homepage`, `vFlowLevel`…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Map<String, Value>>,
}

fn default_version() -> String {
    "1.0.0".to_owned()
}

impl Default for Workflow {
    fn default() -> Self {
        Self {
            id: String::new(),
            name: String::new(),
            description: String::new(),
            is_enabled: false,
            is_favorite: false,
            folder_id: None,
            order: 0,
            steps: Vec::new(),
            trigger_config: None,
            max_execution_time: None,
            tags: Vec::new(),
            version: default_version(),
            modified_at: None,
            metadata: None,
        }
    }
}

impl Workflow {
    /// The run budget from `maxExecutionTime`, if set and positive.
    pub fn time_budget(&self) -> Option<Duration> {
        self.max_execution_time.filter(|s| *s > 0).map(Duration::from_secs)
    }
}

/// One step: a module invocation with its parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    /// Step id, unique within the workflow; `{{<id>.<output>}}` refers to its outputs.
    pub id: String,
    /// Catalogue module id.
    pub module_id: String,
    /// Nesting depth as shown in the editor; validated against the block structure.
    #[serde(default)]
    pub indentation_level: u32,
    /// Parameters by input id; reserved `__error_policy`, `__retry_count`, `__retry_interval`.
    #[serde(default)]
    pub parameters: BTreeMap<String, Param>,
}

impl Step {
    /// A step with no parameters.
    pub fn new(id: impl Into<String>, module_id: impl Into<String>) -> Self {
        Self { id: id.into(), module_id: module_id.into(), indentation_level: 0, parameters: BTreeMap::new() }
    }

    /// Builder: sets a parameter, inferring its type from the value.
    pub fn with(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.parameters.insert(name.into(), Param::new(value.into()));
        self
    }

    /// Builder: sets the indentation level.
    pub fn indent(mut self, level: u32) -> Self {
        self.indentation_level = level;
        self
    }

    /// The raw value of a parameter.
    pub fn param(&self, name: &str) -> Option<&Value> {
        self.parameters.get(name).map(|p| &p.value)
    }

    /// The step's error policy from its reserved parameters.
    pub fn error_policy(&self) -> Result<ErrorPolicy, String> {
        ErrorPolicy::from_step(self)
    }
}

/// A parameter value with its declared type (`{"type": "string", "value": …}`).
///
/// Deserialises from that shape or from a bare value (the real app stores bare values).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Param {
    /// Declared type name.
    #[serde(rename = "type")]
    pub ty: String,
    /// The value; strings may contain `{{…}}` references.
    pub value: Value,
}

impl Param {
    /// A parameter whose type is inferred from `value`.
    pub fn new(value: Value) -> Self {
        Self { ty: type_name(&value).to_owned(), value }
    }
}

impl<'de> Deserialize<'de> for Param {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Value::deserialize(deserializer)?;
        if let Value::Object(map) = &raw
            && map.contains_key("value")
            && map.keys().all(|k| k == "value" || k == "type")
        {
            let value = map.get("value").cloned().unwrap_or(Value::Null);
            let ty =
                map.get("type").and_then(Value::as_str).map_or_else(|| type_name(&value).to_owned(), str::to_owned);
            return Ok(Self { ty, value });
        }
        Ok(Self::new(raw))
    }
}

/// What the executor does when a step fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ErrorPolicy {
    /// End the run as failed (the default).
    #[default]
    Stop,
    /// Record `error` and `success=false` as the step's outputs and go on.
    Skip,
    /// Try again `count` more times, `interval` apart, then stop.
    Retry {
        /// Extra attempts.
        count: u32,
        /// Pause between attempts.
        interval: Duration,
    },
}

/// Reserved parameter naming the policy (`STOP`, `SKIP`, `RETRY`).
pub const ERROR_POLICY_PARAM: &str = "__error_policy";
/// Reserved parameter: extra attempts for `RETRY` (default 3).
pub const RETRY_COUNT_PARAM: &str = "__retry_count";
/// Reserved parameter: pause between attempts in ms (default 1000).
pub const RETRY_INTERVAL_PARAM: &str = "__retry_interval";

/// Upper bound on `__retry_count`.
pub const MAX_RETRY_COUNT: u32 = 100;

impl ErrorPolicy {
    fn from_step(step: &Step) -> Result<Self, String> {
        let Some(kind) = step.param(ERROR_POLICY_PARAM) else { return Ok(Self::Stop) };
        match to_text(kind).trim().to_ascii_uppercase().as_str() {
            "" | "STOP" => Ok(Self::Stop),
            "SKIP" => Ok(Self::Skip),
            "RETRY" => {
                let count = match step.param(RETRY_COUNT_PARAM) {
                    None => 3.0,
                    Some(v) => to_number(v).ok_or_else(|| format!("{RETRY_COUNT_PARAM} must be a number"))?,
                };
                if !(0.0..=f64::from(MAX_RETRY_COUNT)).contains(&count) {
                    return Err(format!("{RETRY_COUNT_PARAM} must be between 0 and {MAX_RETRY_COUNT}"));
                }
                let interval = match step.param(RETRY_INTERVAL_PARAM) {
                    None => 1000.0,
                    Some(v) => to_number(v).ok_or_else(|| format!("{RETRY_INTERVAL_PARAM} must be a number"))?,
                };
                if !(0.0..=3_600_000.0).contains(&interval) {
                    return Err(format!("{RETRY_INTERVAL_PARAM} must be between 0 and 3600000 ms"));
                }
                Ok(Self::Retry { count: count as u32, interval: Duration::from_millis(interval as u64) })
            }
            other => Err(format!("unknown {ERROR_POLICY_PARAM} `{other}` (expected STOP, SKIP or RETRY)")),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn spec_workflow_round_trips() {
        let wf: Workflow = serde_json::from_value(json!({
            "id": "w", "name": "n", "isEnabled": true, "folderId": "f", "maxExecutionTime": 60,
            "steps": [{"id": "step-001", "moduleId": "delay", "indentationLevel": 0,
                       "parameters": {"duration": {"type": "number", "value": 1000}, "raw": "x"}}]
        }))
        .unwrap();
        assert_eq!(wf.steps[0].param("duration"), Some(&json!(1000)));
        assert_eq!(wf.steps[0].parameters["raw"].ty, "string");
        assert_eq!(wf.time_budget(), Some(Duration::from_secs(60)));
        let back = serde_json::to_value(&wf).unwrap();
        assert_eq!(back["steps"][0]["parameters"]["duration"], json!({"type": "number", "value": 1000}));
        assert_eq!(back["isEnabled"], json!(true));
    }

    #[test]
    fn error_policy_parses_reserved_parameters() {
        let s = Step::new("a", "log");
        assert_eq!(s.error_policy(), Ok(ErrorPolicy::Stop));
        let s = Step::new("a", "log").with(ERROR_POLICY_PARAM, "retry").with(RETRY_INTERVAL_PARAM, 5);
        assert_eq!(s.error_policy(), Ok(ErrorPolicy::Retry { count: 3, interval: Duration::from_millis(5) }));
        assert!(Step::new("a", "log").with(ERROR_POLICY_PARAM, "LATER").error_policy().is_err());
    }
}
