//! Save-time validation of a workflow against the catalogue.

use std::collections::{HashMap, HashSet};

use regex::Regex;
use serde::Serialize;
use serde_json::Value;

use crate::blocks::{self, Blocks, Marker};
use crate::expr::{Expression, compile_regex};
use crate::model::{ERROR_POLICY_PARAM, ErrorPolicy, Step, Workflow};
use crate::modules::{Catalogue, InputDef, ModuleDef, ValueType};
use crate::template::{Ref, RefRoot, StepNames, Template};
use crate::triggers::validate_cron;
use crate::value::{to_number, to_text};

/// One problem found by [`validate`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ValidationIssue {
    /// Id of the step concerned.
    pub step_id: String,
    /// Index of the step concerned.
    pub step_index: usize,
    /// The parameter concerned, if any.
    pub input: Option<String>,
    /// Machine-readable code: `unknown_module`, `duplicate_step`, `misplaced_trigger`,
    /// `missing_input`, `bad_type`, `constraint`, `bad_expression`, `bad_cron`,
    /// `unbalanced_block`, `bad_indentation`, `unknown_reference`; at run time
    /// `missing_variable` ([`check_run_inputs`]).
    pub code: &'static str,
    /// Human-readable explanation.
    pub message: String,
}

/// Checks modules, inputs (presence, types, constraints, expressions, cron), block balance,
/// indentation and references. `Ok` when nothing is wrong.
pub fn validate(workflow: &Workflow, catalogue: &Catalogue) -> Result<(), Vec<ValidationIssue>> {
    let steps = &workflow.steps;
    let names = StepNames::new(steps.iter().map(|s| s.id.as_str()));
    let markers: Vec<Marker> = steps.iter().map(|s| Marker::of(s, catalogue)).collect();
    let (blocks, block_issues) = blocks::analyze(&markers);
    let mut v = Validator { steps, catalogue, blocks: &blocks, issues: Vec::new(), patterns: HashMap::new() };

    let mut seen = HashSet::new();
    for (i, step) in steps.iter().enumerate() {
        if !seen.insert(step.id.as_str()) {
            v.push(i, None, "duplicate_step", format!("step id `{}` is used more than once", step.id));
        }
    }
    let balanced = block_issues.is_empty();
    for issue in block_issues {
        v.push(issue.step_index, None, "unbalanced_block", issue.message);
    }
    if balanced {
        for (i, step) in steps.iter().enumerate() {
            if step.indentation_level != blocks.depth[i] {
                let msg = format!(
                    "indentationLevel is {} but the block structure puts this step at {}",
                    step.indentation_level, blocks.depth[i]
                );
                v.push(i, None, "bad_indentation", msg);
            }
        }
    }

    let mut named: HashSet<&str> = HashSet::new();
    for (i, step) in steps.iter().enumerate() {
        let Some(def) = catalogue.get(&step.module_id) else {
            v.push(i, None, "unknown_module", format!("unknown module `{}`", step.module_id));
            continue;
        };
        if def.is_trigger() && i != 0 {
            v.push(i, None, "misplaced_trigger", "a trigger can only be the first step".into());
        }
        if let Err(e) = step.error_policy() {
            v.push(i, Some(ERROR_POLICY_PARAM), "constraint", e);
        }
        for input in &def.inputs {
            v.check_input(i, step, input, &names, &named);
        }
        v.check_module_rules(i, step);
        if step.module_id == "set_variable"
            && let Some(Value::String(name)) = step.param("name")
            && !Template::compile(&Value::String(name.clone()), &names).has_refs()
        {
            named.insert(name.as_str());
        }
    }
    if v.issues.is_empty() { Ok(()) } else { Err(v.issues) }
}

/// Run-time check of a manual run: every `{{vars.name}}` a step's (non-condition) input
/// uses must be among the run's `provided` variables or set by an earlier `set_variable`
/// step. Conditions may test whether a variable exists, so they are not checked. Issues
/// have the code `missing_variable`.
pub fn check_run_inputs(
    workflow: &Workflow,
    catalogue: &Catalogue,
    provided: &serde_json::Map<String, Value>,
) -> Result<(), Vec<ValidationIssue>> {
    let names = StepNames::new(workflow.steps.iter().map(|s| s.id.as_str()));
    let mut issues = Vec::new();
    let mut set_earlier: HashSet<&str> = HashSet::new();
    for (i, step) in workflow.steps.iter().enumerate() {
        let def = catalogue.get(&step.module_id);
        for (input, param) in &step.parameters {
            if def.and_then(|d| d.input(input)).is_some_and(|d| d.expression) {
                continue;
            }
            for r in Template::compile(&param.value, &names).refs() {
                if let RefRoot::Var(name) = &r.root
                    && !provided.contains_key(name)
                    && !set_earlier.contains(name.as_str())
                {
                    issues.push(ValidationIssue {
                        step_id: step.id.clone(),
                        step_index: i,
                        input: Some(input.clone()),
                        code: "missing_variable",
                        message: format!("`{input}` uses {} but the run has no input variable `{name}`", r.raw),
                    });
                }
            }
        }
        if step.module_id == "set_variable"
            && let Some(Value::String(name)) = step.param("name")
            && !Template::compile(&Value::String(name.clone()), &names).has_refs()
        {
            set_earlier.insert(name.as_str());
        }
    }
    if issues.is_empty() { Ok(()) } else { Err(issues) }
}

struct Validator<'a> {
    steps: &'a [Step],
    catalogue: &'a Catalogue,
    blocks: &'a Blocks,
    issues: Vec<ValidationIssue>,
    patterns: HashMap<String, Option<Regex>>,
}

impl Validator<'_> {
    fn push(&mut self, i: usize, input: Option<&str>, code: &'static str, message: String) {
        let step_id = self.steps.get(i).map(|s| s.id.clone()).unwrap_or_default();
        self.issues.push(ValidationIssue { step_id, step_index: i, input: input.map(str::to_owned), code, message });
    }

    fn check_input(&mut self, i: usize, step: &Step, input: &InputDef, names: &StepNames<'_>, named: &HashSet<&str>) {
        let id = Some(input.id.as_str());
        let value = step.param(&input.id).filter(|v| !v.is_null());
        let Some(value) = value.filter(|v| v.as_str() != Some("")) else {
            if input.required && input.default_value.is_null() {
                self.push(i, id, "missing_input", format!("`{}` is required", input.id));
            }
            return;
        };
        if input.expression {
            let Some(src) = value.as_str() else {
                self.push(i, id, "bad_type", format!("`{}` must be an expression string", input.id));
                return;
            };
            match Expression::parse(src, names) {
                Ok(expr) => self.check_refs(i, id, expr.refs(), named),
                Err(e) => self.push(i, id, "bad_expression", format!("`{}`: {e}", input.id)),
            }
            return;
        }
        let template = Template::compile(value, names);
        self.check_refs(i, id, template.refs(), named);
        if template.has_refs() && value.is_string() {
            return; // checked at run time, once the references are resolved
        }
        if let Err(msg) = check_type(input.ty, value) {
            self.push(i, id, "bad_type", format!("`{}`: {msg}", input.id));
            return;
        }
        if let Some(msg) = self.check_constraints(input, value) {
            self.push(i, id, "constraint", format!("`{}`: {msg}", input.id));
        }
    }

    fn check_constraints(&mut self, input: &InputDef, value: &Value) -> Option<String> {
        let c = input.constraints.as_ref()?;
        let text = to_text(value);
        if !c.options.is_empty() && !c.options.iter().any(|o| o.eq_ignore_ascii_case(&text)) {
            return Some(format!("`{text}` is not one of {}", c.options.join(", ")));
        }
        if let Some(x) = to_number(value).filter(|_| input.ty == ValueType::Number)
            && (c.min.is_some_and(|min| x < min) || c.max.is_some_and(|max| x > max))
        {
            return Some(format!("{x} is outside {}..{}", fmt_bound(c.min), fmt_bound(c.max)));
        }
        if input.ty == ValueType::String {
            let len = text.chars().count();
            if c.min_length.is_some_and(|m| len < m) || c.max_length.is_some_and(|m| len > m) {
                return Some(format!("length {len} is outside {}..{}", fmt_len(c.min_length), fmt_len(c.max_length)));
            }
            if let Some(p) = &c.pattern {
                let re = self.patterns.entry(p.clone()).or_insert_with(|| compile_regex(p).ok());
                if re.as_ref().is_some_and(|re| !re.is_match(&text)) {
                    return Some(format!("does not match `{p}`"));
                }
            }
        }
        None
    }

    fn check_module_rules(&mut self, i: usize, step: &Step) {
        let present = |k: &str| step.param(k).is_some_and(|v| !v.is_null() && v.as_str() != Some(""));
        match step.module_id.as_str() {
            "math" if !(present("expression") || (present("a") && present("b"))) => {
                self.push(i, Some("expression"), "missing_input", "set `expression`, or `a` and `b`".into());
            }
            "trigger_schedule" => {
                if let Some(Value::String(cron)) = step.param("cron")
                    && let Err(e) = validate_cron(cron)
                {
                    self.push(i, Some("cron"), "bad_cron", e);
                }
            }
            _ => {}
        }
    }

    fn check_refs(&mut self, i: usize, input: Option<&str>, refs: Vec<&Ref>, named: &HashSet<&str>) {
        for r in refs {
            if let Some(msg) = self.reference_problem(i, r, named) {
                self.push(i, input, "unknown_reference", format!("{}: {msg}", r.raw));
            }
        }
    }

    fn reference_problem(&self, i: usize, r: &Ref, named: &HashSet<&str>) -> Option<String> {
        match &r.root {
            RefRoot::Trigger | RefRoot::CurrentTime | RefRoot::DeviceInfo | RefRoot::Var(_) => None,
            RefRoot::Named(name) if named.contains(name.as_str()) => None,
            RefRoot::Named(name) => {
                Some(format!("no earlier step sets variable `{name}` (use {{{{vars.{name}}}}} for run inputs)"))
            }
            RefRoot::Step(j) if *j >= i => Some(format!("step `{}` does not run before this step", self.steps[*j].id)),
            RefRoot::Step(j) => {
                let source = &self.steps[*j];
                let def = self.catalogue.get(&source.module_id)?;
                let output = r.path.first()?;
                output_problem(def, source, &output.name, *j, i, self.blocks)
            }
        }
    }
}

fn output_problem(def: &ModuleDef, source: &Step, output: &str, j: usize, i: usize, blocks: &Blocks) -> Option<String> {
    if def.output(output).is_some() {
        if def.block_behavior.block_type.is_loop_start() && !blocks.loop_encloses(j, i) {
            return Some(format!("`{output}` of loop `{}` is only available inside the loop", source.id));
        }
        return None;
    }
    let skip = source.error_policy() == Ok(ErrorPolicy::Skip);
    if skip && (output == "error" || output == "success") {
        return None;
    }
    Some(format!("module `{}` of step `{}` has no output `{output}`", def.id, source.id))
}

fn check_type(ty: ValueType, v: &Value) -> Result<(), String> {
    let ok = match ty {
        ValueType::Any => true,
        ValueType::String => matches!(v, Value::String(_) | Value::Number(_) | Value::Bool(_)),
        ValueType::Number => to_number(v).is_some() && !v.is_boolean(),
        ValueType::Boolean => match v {
            Value::Bool(_) => true,
            Value::String(s) => s.eq_ignore_ascii_case("true") || s.eq_ignore_ascii_case("false"),
            _ => false,
        },
        ValueType::Dictionary => v.is_object(),
        ValueType::List => match v {
            Value::Array(_) | Value::Object(_) => true,
            Value::String(s) => serde_json::from_str::<Vec<Value>>(s).is_ok(),
            _ => false,
        },
    };
    if ok { Ok(()) } else { Err(format!("expected {}, got `{}`", type_word(ty), to_text(v))) }
}

fn type_word(ty: ValueType) -> &'static str {
    match ty {
        ValueType::String => "text",
        ValueType::Number => "a number",
        ValueType::Boolean => "true or false",
        ValueType::Dictionary => "a dictionary",
        ValueType::List => "a list",
        ValueType::Any => "a value",
    }
}

fn fmt_bound(b: Option<f64>) -> String {
    b.map_or_else(String::new, |x| to_text(&crate::value::number(x)).into_owned())
}

fn fmt_len(b: Option<usize>) -> String {
    b.map_or_else(String::new, |x| x.to_string())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn wf(steps: Vec<Step>) -> Workflow {
        Workflow { steps, ..Workflow::default() }
    }

    fn codes(steps: Vec<Step>) -> Vec<(usize, &'static str, Option<String>)> {
        match validate(&wf(steps), &Catalogue::builtin()) {
            Ok(()) => Vec::new(),
            Err(issues) => issues.into_iter().map(|i| (i.step_index, i.code, i.input)).collect(),
        }
    }

    fn s(id: &str, module: &str) -> Step {
        Step::new(id, module)
    }

    #[test]
    fn a_good_workflow_passes() {
        let steps = vec![
            s("t", "trigger_manual"),
            s("v", "set_variable").with("name", "n").with("value", 0),
            s("each", "foreach").with("items", "{{trigger.data.items}}"),
            s("c", "if_condition").with("condition", "{{each.item}} > {{n}} && {{t.data}} != null").indent(1),
            s("m", "math").with("expression", "{{n}} + {{each.index}}").indent(2),
            s("e", "else").indent(1),
            s("b", "break").indent(2),
            s("ei", "endif").indent(1),
            s("ee", "endforeach"),
            s("h", "http_request").with("url", "https://x.test/{{m.result}}").with("timeout", 10),
            s("l", "log").with("message", "{{h.statusCode}} {{c.result}} {{vars.input}} [[n]]"),
        ];
        assert_eq!(codes(steps), []);
    }

    #[test]
    fn every_issue_code() {
        assert_eq!(codes(vec![s("a", "nope")]), [(0, "unknown_module", None)]);
        assert_eq!(codes(vec![s("a", "stop"), s("a", "stop")]), [(1, "duplicate_step", None)]);
        assert_eq!(codes(vec![s("a", "stop"), s("b", "trigger_manual")]), [(1, "misplaced_trigger", None)]);
        assert_eq!(codes(vec![s("a", "log")]), [(0, "missing_input", Some("message".into()))]);
        assert_eq!(codes(vec![s("a", "math")]), [(0, "missing_input", Some("expression".into()))]);
        assert_eq!(codes(vec![s("a", "delay").with("duration", "soon")]), [(0, "bad_type", Some("duration".into()))]);
        assert_eq!(codes(vec![s("a", "delay").with("duration", -5)]), [(0, "constraint", Some("duration".into()))]);
        assert_eq!(codes(vec![s("a", "http_request").with("url", "ftp://x")]), [(0, "constraint", Some("url".into()))]);
        assert_eq!(
            codes(vec![s("a", "http_request").with("url", "http://x").with("method", "BREW")]),
            [(0, "constraint", Some("method".into()))]
        );
        assert_eq!(
            codes(vec![s("a", "log").with("message", "x").with(ERROR_POLICY_PARAM, "MAYBE")]),
            [(0, "constraint", Some(ERROR_POLICY_PARAM.into()))]
        );
        assert_eq!(
            codes(vec![s("a", "if_condition").with("condition", "1 ==").indent(0), s("b", "endif")]),
            [(0, "bad_expression", Some("condition".into()))]
        );
        assert_eq!(
            codes(vec![s("a", "trigger_schedule").with("cron", "* * *")]),
            [(0, "bad_cron", Some("cron".into()))]
        );
        assert_eq!(codes(vec![s("a", "loop").with("count", 2)]), [(0, "unbalanced_block", None)]);
        assert_eq!(codes(vec![s("a", "break")]), [(0, "unbalanced_block", None)]);
        assert_eq!(
            codes(vec![s("a", "loop").with("count", 2), s("b", "stop"), s("c", "endloop")]),
            [(1, "bad_indentation", None)]
        );
    }

    #[test]
    fn references_must_point_backwards_to_declared_outputs() {
        let unknown = |steps: Vec<Step>| {
            codes(steps).into_iter().filter(|c| c.1 == "unknown_reference").map(|c| c.0).collect::<Vec<_>>()
        };
        let log = |id: &str, msg: &str| s(id, "log").with("message", msg);
        assert_eq!(unknown(vec![log("a", "{{b.message}}"), log("b", "x")]), [0]);
        assert_eq!(unknown(vec![log("a", "{{a.message}}")]), [0]);
        assert_eq!(unknown(vec![log("a", "x"), log("b", "{{a.nope}}")]), [1]);
        assert_eq!(unknown(vec![log("a", "x"), log("b", "{{a.message.length}}")]), Vec::<usize>::new());
        assert_eq!(unknown(vec![log("a", "{{counter}}")]), [0]);
        assert_eq!(unknown(vec![log("a", "{{vars.counter}} {{trigger.x}} {{current_time}}")]), Vec::<usize>::new());
        let skipped = log("a", "x").with(ERROR_POLICY_PARAM, "SKIP");
        assert_eq!(unknown(vec![skipped, log("b", "{{a.error}} {{a.success}}")]), Vec::<usize>::new());
        assert_eq!(unknown(vec![log("a", "x"), log("b", "{{a.error}}")]), [1]);
        let loop_steps = vec![
            s("l", "loop").with("count", 3),
            log("in", "{{l.index}}").indent(1),
            s("e", "endloop"),
            log("out", "{{l.index}}"),
        ];
        assert_eq!(unknown(loop_steps), [3]);
        let cond = s("c", "if_condition").with("condition", "{{later.message}} == 1");
        assert_eq!(unknown(vec![cond, s("e", "endif"), log("later", "x")]), [0]);
    }

    #[test]
    fn run_inputs_must_be_provided_except_in_conditions() {
        let w = wf(vec![
            s("c", "if_condition").with("condition", "{{vars.maybe}} exists"),
            s("l", "log").with("message", "{{vars.name}} {{vars.name.length}}").indent(1),
            s("e", "endif"),
        ]);
        let issues = check_run_inputs(&w, &Catalogue::builtin(), &serde_json::Map::new()).unwrap_err();
        assert_eq!(issues.len(), 2);
        assert_eq!(
            (issues[0].step_id.as_str(), issues[0].input.as_deref(), issues[0].code),
            ("l", Some("message"), "missing_variable")
        );
        let mut given = serde_json::Map::new();
        given.insert("name".into(), json!("x"));
        assert_eq!(check_run_inputs(&w, &Catalogue::builtin(), &given), Ok(()));
    }

    #[test]
    fn variables_set_by_earlier_steps_count_as_given() {
        let w = wf(vec![
            s("l0", "log").with("message", "{{vars.greeting}}"),
            s("v", "set_variable").with("name", "greeting").with("value", "hi"),
            s("l", "log").with("message", "{{vars.greeting}}"),
        ]);
        let issues = check_run_inputs(&w, &Catalogue::builtin(), &serde_json::Map::new()).unwrap_err();
        assert_eq!(issues.len(), 1, "only the use before the variable is set: {issues:?}");
        assert_eq!(issues[0].step_id, "l0");
    }

    #[test]
    fn issues_serialise_camel_case() {
        let issues = validate(&wf(vec![s("a", "nope")]), &Catalogue::builtin()).unwrap_err();
        let v = serde_json::to_value(&issues[0]).unwrap();
        assert_eq!(v["stepId"], json!("a"));
        assert_eq!(v["stepIndex"], json!(0));
        assert_eq!(v["code"], json!("unknown_module"));
    }
}
