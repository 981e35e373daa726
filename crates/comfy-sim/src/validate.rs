//! Prompt validation with ComfyUI's error types and shapes (`POST /prompt`).

use indexmap::IndexMap;
use serde_json::{Map, Value, json};

use crate::catalogue::{Catalogue, ComboLists, InputType, NodeDef};
use crate::graph::Graph;
use crate::pyfmt::{self, Num};

/// Combos longer than this are not echoed in `value_not_in_list` errors.
const MAX_ECHOED_LIST: usize = 20;

/// A prompt that may be queued: the outputs to execute and the errors of dropped outputs.
#[derive(Debug)]
pub(crate) struct Accepted {
    pub outputs: Vec<String>,
    pub node_errors: Value,
}

/// A rejected prompt: the 400 body's `error` and `node_errors`.
#[derive(Debug)]
pub(crate) struct Rejected {
    pub error: Value,
    pub node_errors: Value,
}

/// What validation needs from the server besides the catalogue.
pub(crate) trait ValidationEnv: ComboLists {
    /// Whether `LoadImage` can open this (possibly annotated) input file.
    fn input_file_exists(&self, name: &str) -> bool;
}

/// A Python exception raised while validating a node.
struct Raised {
    kind: &'static str,
    message: String,
}

struct Outcome {
    valid: bool,
    errors: Vec<Value>,
}

struct Validator<'a> {
    graph: &'a mut Graph,
    catalogue: &'a Catalogue,
    env: &'a dyn ValidationEnv,
    validated: IndexMap<String, Outcome>,
    visiting: Vec<String>,
}

/// Validates (and coerces in place) a prompt, as `execution.validate_prompt` does.
pub(crate) fn validate_prompt(
    graph: &mut Graph,
    partial_targets: Option<&[String]>,
    catalogue: &Catalogue,
    env: &dyn ValidationEnv,
) -> Result<Accepted, Rejected> {
    let mut outputs = Vec::new();
    for (id, node) in graph.iter() {
        let Some(class_type) = node.class_type.as_deref() else {
            return Err(reject(
                "invalid_prompt",
                "Cannot execute because a node is missing the class_type property.".into(),
                format!("Node ID '#{id}'"),
            ));
        };
        let Some(def) = catalogue.get(class_type) else {
            return Err(reject(
                "invalid_prompt",
                format!("Cannot execute because node {class_type} does not exist."),
                format!("Node ID '#{id}'"),
            ));
        };
        if def.output_node && partial_targets.is_none_or(|t| t.iter().any(|x| x == id)) {
            outputs.push(id.to_owned());
        }
    }
    if outputs.is_empty() {
        return Err(reject("prompt_no_outputs", "Prompt has no outputs".into(), String::new()));
    }

    let mut v = Validator { graph, catalogue, env, validated: IndexMap::new(), visiting: Vec::new() };
    let mut good = Vec::new();
    let mut failures: Vec<Vec<Value>> = Vec::new();
    let mut node_errors: IndexMap<String, (Vec<Value>, Vec<String>, String)> = IndexMap::new();
    for output in &outputs {
        let (valid, reasons) = match v.validate_node(output) {
            Ok(()) => {
                let outcome = &v.validated[output.as_str()];
                (outcome.valid, outcome.errors.clone())
            }
            Err(raised) => {
                let reasons = vec![json!({
                    "type": "exception_during_validation",
                    "message": "Exception when validating node",
                    "details": raised.message,
                    "extra_info": {"exception_type": raised.kind, "traceback": traceback()},
                })];
                v.record(output, false, reasons.clone());
                (false, reasons)
            }
        };
        if valid {
            good.push(output.clone());
            continue;
        }
        tracing::warn!(output, "prompt output failed validation");
        failures.push(reasons);
        for (id, outcome) in &v.validated {
            if outcome.valid || outcome.errors.is_empty() {
                continue;
            }
            let entry = node_errors
                .entry(id.clone())
                .or_insert_with(|| (outcome.errors.clone(), Vec::new(), v.graph.class_of(id).to_owned()));
            entry.1.push(output.clone());
        }
    }

    let node_errors = Value::Object(
        node_errors
            .into_iter()
            .map(|(id, (errors, dependent, class_type))| {
                let body = json!({"errors": errors, "dependent_outputs": dependent, "class_type": class_type});
                (id, body)
            })
            .collect(),
    );
    if good.is_empty() {
        let lines: Vec<String> =
            failures.iter().flatten().map(|e| format!("{}: {}", text(&e["message"]), text(&e["details"]))).collect();
        return Err(Rejected {
            error: json!({
                "type": "prompt_outputs_failed_validation",
                "message": "Prompt outputs failed validation",
                "details": lines.join("\n"),
                "extra_info": {},
            }),
            node_errors,
        });
    }
    Ok(Accepted { outputs: good, node_errors })
}

fn reject(kind: &str, message: String, details: String) -> Rejected {
    Rejected {
        error: json!({"type": kind, "message": message, "details": details, "extra_info": {}}),
        node_errors: json!({}),
    }
}

fn text(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_owned)
}

fn traceback() -> Value {
    json!(["  File \"/ComfyUI/execution.py\", in validate_inputs\n"])
}

fn error(kind: &str, message: impl Into<String>, details: impl Into<String>, extra: Value) -> Value {
    json!({"type": kind, "message": message.into(), "details": details.into(), "extra_info": extra})
}

impl Validator<'_> {
    fn record(&mut self, id: &str, valid: bool, errors: Vec<Value>) {
        self.validated.insert(id.to_owned(), Outcome { valid, errors });
    }

    /// `validate_inputs` for one node; `Err` is an exception that escapes it.
    fn validate_node(&mut self, id: &str) -> Result<(), Raised> {
        if self.validated.contains_key(id) {
            return Ok(());
        }
        if let Some(pos) = self.visiting.iter().position(|v| v == id) {
            self.mark_cycle(pos, id);
            return Ok(());
        }
        let catalogue = self.catalogue;
        let class_type = self.graph.class_of(id).to_owned();
        let Some(def) = catalogue.get(&class_type) else {
            return Err(Raised { kind: "KeyError", message: pyfmt::repr(&Value::String(class_type)) });
        };
        let custom_validated = custom_validated_inputs(&class_type);
        let mut errors = Vec::new();
        let mut valid = true;

        for (input, required) in def.declared_inputs() {
            let name = input.name.as_str();
            let input_type = catalogue.resolve(input, self.env);
            let config = input_type.spec(&input.options);
            let Some(value) = self.graph.get(id).and_then(|n| n.input(name)).cloned() else {
                if required {
                    errors.push(error(
                        "required_input_missing",
                        "Required input is missing",
                        name,
                        json!({"input_name": name}),
                    ));
                }
                continue;
            };

            if let Value::Array(items) = &value {
                if items.len() != 2 {
                    errors.push(error(
                        "bad_linked_input",
                        "Bad linked input, must be a length-2 list of [node_id, slot_index]",
                        name,
                        json!({"input_name": name, "input_config": config, "received_value": value}),
                    ));
                    continue;
                }
                let source = self.linked_source(&items[0])?;
                let received = output_type(catalogue, self.graph.class_of(&source), &items[1])?;
                if !types_compatible(&received, &input_type) {
                    let expected = match &input_type {
                        InputType::Named(t) => t.clone(),
                        InputType::Combo(values) => pyfmt::repr(&Value::Array(values.clone())),
                    };
                    errors.push(error(
                        "return_type_mismatch",
                        "Return type mismatch between linked nodes",
                        format!("{name}, received_type({received}) mismatch input_type({expected})"),
                        json!({"input_name": name, "input_config": config, "received_type": received, "linked_node": value}),
                    ));
                    continue;
                }
                self.visiting.push(id.to_owned());
                let inner = self.validate_node(&source);
                self.visiting.pop();
                match inner {
                    Ok(()) => {
                        if self.validated.get(&source).is_some_and(|o| !o.valid) {
                            valid = false;
                        }
                    }
                    Err(raised) => {
                        valid = false;
                        let reasons = vec![error(
                            "exception_during_inner_validation",
                            "Exception when validating inner node",
                            raised.message.clone(),
                            json!({
                                "input_name": name, "input_config": config,
                                "exception_message": raised.message, "exception_type": raised.kind,
                                "traceback": traceback(), "linked_node": value,
                            }),
                        )];
                        self.record(&source, false, reasons);
                    }
                }
                continue;
            }

            let converted = match coerce(&input_type, &value) {
                Ok(v) => v,
                Err(message) => {
                    let kind = match &input_type {
                        InputType::Named(t) => t.clone(),
                        InputType::Combo(_) => "COMBO".to_owned(),
                    };
                    errors.push(error(
                        "invalid_input_type",
                        format!("Failed to convert an input value to a {kind} value"),
                        format!("{name}, {}, {message}", pyfmt::str(&value)),
                        json!({"input_name": name, "input_config": config, "received_value": value, "exception_message": message}),
                    ));
                    continue;
                }
            };
            if let Some(node) = self.graph.get_mut(id) {
                node.set_input(name, converted.clone());
            }
            if custom_validated.contains(&name) {
                continue;
            }
            if let Some(e) = range_error(name, &converted, &input.options, &config) {
                errors.push(e);
                continue;
            }
            if let InputType::Combo(options) = &input_type
                && !options.iter().any(|o| pyfmt::eq(o, &converted))
            {
                let (list_info, shown_config) = if options.len() > MAX_ECHOED_LIST {
                    (format!("(list of length {})", options.len()), Value::Null)
                } else {
                    (pyfmt::repr(&Value::Array(options.clone())), config.clone())
                };
                errors.push(error(
                    "value_not_in_list",
                    "Value not in list",
                    format!("{name}: '{}' not in {list_info}", pyfmt::str(&converted)),
                    json!({"input_name": name, "input_config": shown_config, "received_value": converted}),
                ));
            }
        }

        if let Some(e) = self.custom_validation(id, def) {
            errors.push(e);
        }
        let previous = self.validated.shift_remove(id);
        let (prev_valid, mut all_errors) = previous.map_or((true, Vec::new()), |o| (o.valid, o.errors));
        for e in errors {
            if !all_errors.contains(&e) {
                all_errors.push(e);
            }
        }
        let valid = prev_valid && valid && all_errors.is_empty();
        self.record(id, valid, all_errors);
        Ok(())
    }

    /// Resolves `val[0]` of a link; a missing node is a `KeyError` as in Python.
    fn linked_source(&self, id: &Value) -> Result<String, Raised> {
        match id {
            Value::String(s) if self.graph.get(s).is_some() => Ok(s.clone()),
            other => Err(Raised { kind: "KeyError", message: pyfmt::repr(other) }),
        }
    }

    /// `LoadImage.VALIDATE_INPUTS`: the file must exist in the input directory.
    fn custom_validation(&self, id: &str, def: &NodeDef) -> Option<Value> {
        if def.name != "LoadImage" {
            return None;
        }
        let image = self.graph.get(id)?.input("image")?;
        if image.is_array() {
            return None;
        }
        let name = pyfmt::str(image);
        if self.env.input_file_exists(&name) {
            return None;
        }
        Some(error(
            "custom_validation_failed",
            "Custom validation failed for node",
            format!("image - Invalid image file: {name}"),
            json!({"input_name": "image"}),
        ))
    }

    fn mark_cycle(&mut self, start: usize, id: &str) {
        let mut path: Vec<String> = self.visiting[start..].to_vec();
        path.push(id.to_owned());
        let described: Vec<String> = path.iter().map(|n| format!("{n} ({})", self.graph.class_of(n))).collect();
        let mut cycle_nodes = path.clone();
        cycle_nodes.dedup();
        cycle_nodes.pop();
        for node in &cycle_nodes {
            let e = error(
                "dependency_cycle",
                "Dependency cycle detected",
                described.join(" -> "),
                json!({"node_id": node, "cycle_nodes": cycle_nodes}),
            );
            self.record(node, false, vec![e]);
        }
    }
}

/// Inputs checked by a node's own `VALIDATE_INPUTS` instead of the generic checks.
fn custom_validated_inputs(class_type: &str) -> &'static [&'static str] {
    match class_type {
        "LoadImage" => &["image"],
        _ => &[],
    }
}

/// The type of `slot` among the class's outputs (Python tuple indexing, negatives included).
fn output_type(catalogue: &Catalogue, class_type: &str, slot: &Value) -> Result<String, Raised> {
    let outputs = catalogue.get(class_type).map(|d| d.output.as_slice()).unwrap_or_default();
    let index = match slot {
        Value::Number(n) if n.is_i64() || n.is_u64() => n.as_i64().unwrap_or(i64::MAX),
        Value::Bool(b) => i64::from(*b),
        other => {
            return Err(Raised {
                kind: "TypeError",
                message: format!(
                    "tuple indices must be integers or slices, not {}",
                    match other {
                        Value::Number(_) => "float",
                        Value::String(_) => "str",
                        Value::Null => "NoneType",
                        Value::Array(_) => "list",
                        Value::Object(_) => "dict",
                        Value::Bool(_) => "bool",
                    }
                ),
            });
        }
    };
    let len = i64::try_from(outputs.len()).unwrap_or(i64::MAX);
    let resolved = if index < 0 { index + len } else { index };
    usize::try_from(resolved)
        .ok()
        .and_then(|i| outputs.get(i))
        .cloned()
        .ok_or_else(|| Raised { kind: "IndexError", message: "tuple index out of range".into() })
}

/// `validate_node_input`: equal types, a wildcard, or overlapping comma-separated unions.
fn types_compatible(received: &str, input_type: &InputType) -> bool {
    let InputType::Named(expected) = input_type else {
        return received == "*";
    };
    if received == expected {
        return true;
    }
    let split = |s: &str| s.split(',').map(|t| t.trim().to_owned()).collect::<Vec<_>>();
    let (got, want) = (split(received), split(expected));
    if got.iter().chain(&want).any(|t| t == "*") {
        return true;
    }
    got.iter().any(|t| want.contains(t))
}

/// Converts INT/FLOAT/STRING/BOOLEAN widget values as Python's constructors would.
fn coerce(input_type: &InputType, value: &Value) -> Result<Value, String> {
    let InputType::Named(kind) = input_type else {
        return Ok(value.clone());
    };
    match kind.as_str() {
        "INT" => pyfmt::to_int(value).map(Num::to_value),
        "FLOAT" => pyfmt::to_float(value).map(Num::to_value),
        "STRING" => Ok(Value::String(pyfmt::str(value))),
        "BOOLEAN" => Ok(Value::Bool(pyfmt::truthy(value))),
        _ => Ok(value.clone()),
    }
}

fn range_error(name: &str, value: &Value, options: &Map<String, Value>, config: &Value) -> Option<Value> {
    let n = Num::of(value)?;
    let extra = json!({"input_name": name, "input_config": config, "received_value": value});
    if let Some(min) = options.get("min").and_then(Num::of)
        && n < min
    {
        let message = format!("Value {} smaller than min of {}", pyfmt::str(value), pyfmt::str(&options["min"]));
        return Some(error("value_smaller_than_min", message, name, extra));
    }
    if let Some(max) = options.get("max").and_then(Num::of)
        && n > max
    {
        let message = format!("Value {} bigger than max of {}", pyfmt::str(value), pyfmt::str(&options["max"]));
        return Some(error("value_bigger_than_max", message, name, extra));
    }
    None
}
