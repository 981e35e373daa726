//! A workflow compiled once per run: jump table, templates, expressions, cached regexes.

use std::borrow::Cow;

use regex::Regex;
use serde_json::{Map, Value};

use crate::blocks::{self, Blocks, Link, Marker};
use crate::expr::{Expression, compile_regex};
use crate::model::{ErrorPolicy, Step, Workflow};
use crate::modules::{BlockType, Catalogue, ModuleDef};
use crate::template::{Scope, StepNames, Template};
use crate::value::{footprint, to_number, to_text, truthy};

/// What the interpreter does for a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    Trigger,
    If,
    Else,
    Endif,
    Loop,
    Foreach,
    While,
    LoopEnd,
    Break,
    Continue,
    Stop,
    SetVariable,
    Math,
    Text,
    Regex,
    JsonParse,
    JsonPath,
    Random,
    DateTime,
    Http,
    FileRead,
    FileWrite,
    FileList,
    Delay,
    Log,
    Host,
    Unknown,
}

impl Action {
    fn of(step: &Step, def: Option<&ModuleDef>) -> Self {
        let Some(def) = def else { return Self::Unknown };
        match def.block_behavior.block_type {
            BlockType::If => return Self::If,
            BlockType::Else => return Self::Else,
            BlockType::Endif => return Self::Endif,
            BlockType::Loop => return Self::Loop,
            BlockType::Foreach => return Self::Foreach,
            BlockType::While => return Self::While,
            BlockType::Endloop | BlockType::Endforeach | BlockType::Endwhile => return Self::LoopEnd,
            BlockType::None => {}
        }
        if def.is_trigger() {
            return Self::Trigger;
        }
        if def.is_host_module() {
            return Self::Host;
        }
        match step.module_id.as_str() {
            "break" => Self::Break,
            "continue" => Self::Continue,
            "stop" => Self::Stop,
            "set_variable" => Self::SetVariable,
            "math" => Self::Math,
            "text" => Self::Text,
            "regex" => Self::Regex,
            "json_parse" => Self::JsonParse,
            "json_path" => Self::JsonPath,
            "random" => Self::Random,
            "datetime" => Self::DateTime,
            "http_request" => Self::Http,
            "file_read" => Self::FileRead,
            "file_write" => Self::FileWrite,
            "file_list" => Self::FileList,
            "delay" => Self::Delay,
            "log" => Self::Log,
            _ => Self::Unknown,
        }
    }

    /// Control-flow markers: no inputs to log, never retried.
    pub fn is_control(self) -> bool {
        matches!(
            self,
            Self::If
                | Self::Else
                | Self::Endif
                | Self::Loop
                | Self::Foreach
                | Self::While
                | Self::LoopEnd
                | Self::Break
                | Self::Continue
                | Self::Stop
        )
    }
}

/// One compiled step.
pub(crate) struct Planned<'w> {
    pub step: &'w Step,
    pub def: Option<&'w ModuleDef>,
    pub action: Action,
    pub link: Link,
    pub policy: ErrorPolicy,
    /// Inputs (defaults applied) as templates, in definition order, then extra parameters.
    pub params: Vec<(&'w str, Template)>,
    /// The step's expression input (`condition`, `math.expression`), parsed.
    pub expr: Option<Expression>,
    /// The `regex` module's pattern, compiled when it is a literal.
    pub regex: Option<Regex>,
}

/// A compiled workflow.
pub(crate) struct Plan<'w> {
    pub steps: Vec<Planned<'w>>,
}

/// Why a workflow cannot run: the step and the reason.
#[derive(Debug)]
pub(crate) struct PlanError {
    pub index: usize,
    pub message: String,
}

impl<'w> Plan<'w> {
    pub fn compile(workflow: &'w Workflow, catalogue: &'w Catalogue) -> Result<Self, PlanError> {
        let steps = &workflow.steps;
        let names = StepNames::new(steps.iter().map(|s| s.id.as_str()));
        let markers: Vec<Marker> = steps.iter().map(|s| Marker::of(s, catalogue)).collect();
        let (Blocks { links, .. }, issues) = blocks::analyze(&markers);
        if let Some(issue) = issues.into_iter().next() {
            return Err(PlanError { index: issue.step_index, message: issue.message });
        }
        let mut planned = Vec::with_capacity(steps.len());
        for (index, (step, link)) in steps.iter().zip(links).enumerate() {
            let fail = |message: String| PlanError { index, message };
            let def = catalogue.get(&step.module_id);
            let action = Action::of(step, def);
            let policy = step.error_policy().map_err(fail)?;
            let mut params = Vec::new();
            let mut expr = None;
            if let Some(def) = def {
                for input in &def.inputs {
                    let value = step.param(&input.id).filter(|v| !v.is_null());
                    if input.expression {
                        if let Some(src) = value.map(to_text).filter(|s| !s.trim().is_empty()) {
                            let parsed =
                                Expression::parse(&src, &names).map_err(|e| fail(format!("`{}` {e}", input.id)))?;
                            expr = Some(parsed);
                        }
                        continue;
                    }
                    match value {
                        Some(v) => params.push((input.id.as_str(), Template::compile(v, &names))),
                        None if !input.default_value.is_null() => {
                            params.push((input.id.as_str(), Template::Literal(input.default_value.clone())));
                        }
                        None => {}
                    }
                }
            }
            for (name, p) in &step.parameters {
                if !name.starts_with("__") && def.is_none_or(|d| d.input(name).is_none()) {
                    params.push((name.as_str(), Template::compile(&p.value, &names)));
                }
            }
            let regex = match (action, params.iter().find(|(k, _)| *k == "pattern")) {
                (Action::Regex, Some((_, Template::Literal(Value::String(p))))) => {
                    Some(compile_regex(p).map_err(fail)?)
                }
                _ => None,
            };
            planned.push(Planned { step, def, action, link, policy, params, expr, regex });
        }
        Ok(Self { steps: planned })
    }
}

/// A step's inputs resolved against the run state.
pub(crate) struct Inputs<'a> {
    items: Vec<(&'a str, Cow<'a, Value>)>,
}

impl<'a> Inputs<'a> {
    pub fn resolve<S: Scope + ?Sized>(params: &'a [(&'a str, Template)], scope: &'a S) -> Self {
        Self { items: params.iter().map(|(k, t)| (*k, t.resolve(scope))).collect() }
    }

    /// An input that is present and not `null`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.items.iter().find(|(k, _)| *k == key).map(|(_, v)| v.as_ref()).filter(|v| !v.is_null())
    }

    /// Text of an input; empty when absent.
    pub fn text(&self, key: &str) -> Cow<'_, str> {
        self.get(key).map_or(Cow::Borrowed(""), to_text)
    }

    /// A required, non-empty text input.
    pub fn required_text(&self, key: &str) -> Result<Cow<'_, str>, String> {
        let t = self.text(key);
        if t.is_empty() { Err(format!("`{key}` is required")) } else { Ok(t) }
    }

    /// A numeric input; `Ok(None)` when absent or empty, an error when not a number.
    pub fn number(&self, key: &str) -> Result<Option<f64>, String> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(v) => to_number(v).map(Some).ok_or_else(|| format!("`{key}` must be a number, got `{}`", to_text(v))),
        }
    }

    /// A required numeric input.
    pub fn required_number(&self, key: &str) -> Result<f64, String> {
        self.number(key)?.ok_or_else(|| format!("`{key}` is required"))
    }

    /// A boolean input (truthiness); `default` when absent.
    pub fn flag(&self, key: &str, default: bool) -> bool {
        self.get(key).map_or(default, truthy)
    }

    /// The first input built for this step (not a stored value passed through) that is
    /// larger than `limit` bytes, with its size.
    pub fn oversized(&self, limit: usize) -> Option<(&'a str, usize)> {
        self.items.iter().find_map(|(k, v)| match v {
            Cow::Owned(v) => Some((*k, footprint(v))).filter(|(_, size)| *size > limit),
            Cow::Borrowed(_) => None,
        })
    }

    /// All inputs as a dictionary (for logs and host calls).
    pub fn to_map(&self) -> Map<String, Value> {
        self.items.iter().map(|(k, v)| ((*k).to_owned(), v.as_ref().clone())).collect()
    }
}
