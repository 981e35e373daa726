//! `{{step-id.output[.prop…]}}` and `[[name[.prop…]]]` references, and parameter templates
//! compiled once and resolved against a run's state.
//!
//! An exact single reference yields the referenced value with its type; any other text
//! interpolates references as strings. Unresolvable references stay as written. Resolved
//! values are never scanned again, so data cannot inject further references.

use std::borrow::Cow;

use serde_json::{Map, Value};

use crate::value::{PathSeg, footprint, number, to_text, walk};

/// What a reference's first segment names.
#[derive(Debug, Clone, PartialEq)]
pub enum RefRoot {
    /// `{{trigger.data…}}` / `{{trigger.<field>}}`: the data the run was started with.
    Trigger,
    /// `{{current_time}}`: now, in ms since the epoch.
    CurrentTime,
    /// `{{device_info}}`: what the host reports about itself.
    DeviceInfo,
    /// `{{vars.name}}`: a workflow variable (run inputs, or set by `set_variable`).
    Var(String),
    /// `{{name}}` or `[[name]]`: a named variable set by an earlier step (same store as `vars`).
    Named(String),
    /// `{{step-id.output}}`: a step's output, by step index.
    Step(usize),
}

/// A parsed reference.
#[derive(Debug, Clone, PartialEq)]
pub struct Ref {
    /// The reference as written, braces included; what an unresolved reference renders as.
    pub raw: String,
    /// What it starts from.
    pub root: RefRoot,
    /// The rest of the path; for a step, the first segment is the output id.
    pub path: Vec<PathSeg>,
}

/// Step ids by index, for compiling references.
#[derive(Debug, Default)]
pub struct StepNames<'a> {
    ids: crate::FastMap<&'a str, usize>,
}

impl<'a> StepNames<'a> {
    /// Indexes `ids` (the first occurrence wins for duplicates).
    pub fn new(ids: impl IntoIterator<Item = &'a str>) -> Self {
        let ids = ids.into_iter();
        let mut map = crate::FastMap::with_capacity_and_hasher(ids.size_hint().0, Default::default());
        for (i, id) in ids.enumerate() {
            map.entry(id).or_insert(i);
        }
        Self { ids: map }
    }

    /// The index of a step id.
    pub fn get(&self, id: &str) -> Option<usize> {
        self.ids.get(id).copied()
    }
}

/// What a reference reads from during a run.
pub trait Scope {
    /// Outputs stored for a step, if it has run.
    fn step_outputs(&self, index: usize) -> Option<&Map<String, Value>>;
    /// A workflow or named variable.
    fn var(&self, name: &str) -> Option<&Value>;
    /// Trigger data.
    fn trigger(&self) -> &Value;
    /// Host description for `{{device_info}}`.
    fn device_info(&self) -> &Value;
    /// Bytes past which resolving stops building a value (the run's value cap): the result
    /// is then over the cap and refused by its caller, and memory stays bounded whatever
    /// a template repeats.
    fn value_limit(&self) -> usize {
        usize::MAX
    }
}

impl Ref {
    /// Parses a whole reference, `{{…}}` or `[[…]]`, braces included.
    pub fn parse(raw: &str, names: &StepNames<'_>) -> Option<Self> {
        let square = raw.starts_with("[[");
        let inner = raw.get(2..raw.len().checked_sub(2)?)?.trim();
        let valid_seg = |s: &str| !s.is_empty() && !s.chars().any(|c| c.is_whitespace() || "{}[]\"'".contains(c));
        let mut segs = inner.split('.');
        let first = segs.next().filter(|s| valid_seg(s))?;
        let rest: Vec<&str> = segs.collect();
        if !rest.iter().all(|s| valid_seg(s)) {
            return None;
        }
        let raw = raw.to_owned();
        let mut path: Vec<PathSeg> = rest.iter().map(|s| PathSeg::new(s)).collect();
        let root = if square {
            RefRoot::Named(first.to_owned())
        } else if first == "trigger" {
            RefRoot::Trigger
        } else if first == "vars" && !path.is_empty() {
            RefRoot::Var(path.remove(0).name)
        } else if first == "current_time" {
            RefRoot::CurrentTime
        } else if first == "device_info" {
            RefRoot::DeviceInfo
        } else if let Some(i) = names.get(first) {
            RefRoot::Step(i)
        } else {
            RefRoot::Named(first.to_owned())
        };
        Some(Self { raw, root, path })
    }

    /// The referenced value, or `None` when it does not (yet) exist.
    pub fn resolve<'a, S: Scope + ?Sized>(&self, scope: &'a S) -> Option<Cow<'a, Value>> {
        match &self.root {
            RefRoot::Step(i) => {
                let outputs = scope.step_outputs(*i)?;
                match self.path.split_first() {
                    Some((output, rest)) => walk(Cow::Borrowed(outputs.get(&output.name)?), rest),
                    None => Some(Cow::Owned(Value::Object(outputs.clone()))),
                }
            }
            RefRoot::Var(name) | RefRoot::Named(name) => walk(Cow::Borrowed(scope.var(name)?), &self.path),
            RefRoot::Trigger => {
                let path = match self.path.first() {
                    Some(seg) if seg.name == "data" => &self.path[1..],
                    _ => &self.path[..],
                };
                walk(Cow::Borrowed(scope.trigger()), path)
            }
            RefRoot::CurrentTime => walk(Cow::Owned(number(now_ms() as f64)), &self.path),
            RefRoot::DeviceInfo => walk(Cow::Borrowed(scope.device_info()), &self.path),
        }
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A piece of interpolated text.
#[derive(Debug, Clone, PartialEq)]
pub enum Piece {
    /// Literal text.
    Text(String),
    /// A reference rendered as text.
    Ref(Ref),
}

/// A parameter value compiled for repeated resolution.
#[derive(Debug, Clone, PartialEq)]
pub enum Template {
    /// No references anywhere: used as is.
    Literal(Value),
    /// Exactly one reference: yields the typed value.
    Ref(Ref),
    /// Text mixing literals and references: yields a string.
    Text(Vec<Piece>),
    /// A list containing references.
    List(Vec<Template>),
    /// A dictionary containing references in its values.
    Dict(Vec<(String, Template)>),
}

impl Template {
    /// Compiles a parameter value.
    pub fn compile(value: &Value, names: &StepNames<'_>) -> Self {
        match value {
            Value::String(s) => {
                let mut pieces = scan(s, names);
                match pieces.len() {
                    0 => Self::Literal(value.clone()),
                    1 if matches!(pieces[0], Piece::Ref(_)) => match pieces.remove(0) {
                        Piece::Ref(r) => Self::Ref(r),
                        Piece::Text(_) => Self::Literal(value.clone()),
                    },
                    _ if pieces.iter().all(|p| matches!(p, Piece::Text(_))) => Self::Literal(value.clone()),
                    _ => Self::Text(pieces),
                }
            }
            Value::Array(items) => {
                let parts: Vec<Template> = items.iter().map(|v| Self::compile(v, names)).collect();
                if parts.iter().all(|t| matches!(t, Self::Literal(_))) {
                    Self::Literal(value.clone())
                } else {
                    Self::List(parts)
                }
            }
            Value::Object(map) => {
                let parts: Vec<(String, Template)> =
                    map.iter().map(|(k, v)| (k.clone(), Self::compile(v, names))).collect();
                if parts.iter().all(|(_, t)| matches!(t, Self::Literal(_))) {
                    Self::Literal(value.clone())
                } else {
                    Self::Dict(parts)
                }
            }
            other => Self::Literal(other.clone()),
        }
    }

    /// Resolves against `scope`; borrows when it can.
    pub fn resolve<'a, S: Scope + ?Sized>(&'a self, scope: &'a S) -> Cow<'a, Value> {
        match self {
            Self::Literal(v) => Cow::Borrowed(v),
            Self::Ref(r) => r.resolve(scope).unwrap_or_else(|| Cow::Owned(Value::String(r.raw.clone()))),
            Self::Text(pieces) => Cow::Owned(Value::String(render(pieces, scope))),
            Self::List(items) => {
                let mut budget = Budget::new(scope.value_limit());
                let items = items.iter().map(|t| t.resolve(scope).into_owned());
                Cow::Owned(Value::Array(items.take_while(|v| budget.take(footprint(v))).collect()))
            }
            Self::Dict(entries) => {
                let mut budget = Budget::new(scope.value_limit());
                let entries = entries.iter().map(|(k, t)| (k.clone(), t.resolve(scope).into_owned()));
                Cow::Owned(Value::Object(entries.take_while(|(k, v)| budget.take(k.len() + footprint(v))).collect()))
            }
        }
    }

    /// Every reference in the template.
    pub fn refs(&self) -> Vec<&Ref> {
        let mut out = Vec::new();
        self.collect_refs(&mut out);
        out
    }

    fn collect_refs<'a>(&'a self, out: &mut Vec<&'a Ref>) {
        match self {
            Self::Literal(_) => {}
            Self::Ref(r) => out.push(r),
            Self::Text(pieces) => out.extend(pieces.iter().filter_map(|p| match p {
                Piece::Ref(r) => Some(r),
                Piece::Text(_) => None,
            })),
            Self::List(items) => items.iter().for_each(|t| t.collect_refs(out)),
            Self::Dict(entries) => entries.iter().for_each(|(_, t)| t.collect_refs(out)),
        }
    }

    /// Whether the value contains any reference.
    pub fn has_refs(&self) -> bool {
        !matches!(self, Self::Literal(_))
    }
}

/// Bytes a container being resolved may still take; the item that overdraws it is the
/// last one kept, so the result shows as over the cap.
struct Budget {
    left: usize,
    spent: bool,
}

impl Budget {
    fn new(limit: usize) -> Self {
        Self { left: limit, spent: false }
    }

    /// Whether to keep an item of `bytes`.
    fn take(&mut self, bytes: usize) -> bool {
        if self.spent {
            return false;
        }
        match self.left.checked_sub(bytes) {
            Some(left) => self.left = left,
            None => self.spent = true,
        }
        true
    }
}

fn render<S: Scope + ?Sized>(pieces: &[Piece], scope: &S) -> String {
    let limit = scope.value_limit();
    let mut out = String::new();
    for piece in pieces {
        match piece {
            Piece::Text(t) => out.push_str(t),
            Piece::Ref(r) => match r.resolve(scope) {
                Some(v) => out.push_str(&to_text(&v)),
                None => out.push_str(&r.raw),
            },
        }
        if out.len() > limit {
            break;
        }
    }
    out
}

/// Splits text into literal pieces and references; empty when the text has no reference.
pub fn scan(s: &str, names: &StepNames<'_>) -> Vec<Piece> {
    let mut pieces = Vec::new();
    let mut rest = s;
    let mut text = String::new();
    let mut found = false;
    while let Some(open) = find_open(rest) {
        let square = rest[open..].starts_with("[[");
        let close_pat = if square { "]]" } else { "}}" };
        let body_start = open + 2;
        let Some(close_rel) = rest[body_start..].find(close_pat) else { break };
        let close = body_start + close_rel;
        text.push_str(&rest[..open]);
        match Ref::parse(&rest[open..close + 2], names) {
            Some(r) => {
                if !text.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut text)));
                }
                pieces.push(Piece::Ref(r));
                found = true;
            }
            None => text.push_str(&rest[open..close + 2]),
        }
        rest = &rest[close + 2..];
    }
    if !found {
        return Vec::new();
    }
    text.push_str(rest);
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
    pieces
}

/// The first `{{` or `[[`, in one pass (searching for each separately rescans the rest of
/// the text for every reference: quadratic in a long template).
fn find_open(s: &str) -> Option<usize> {
    s.as_bytes().windows(2).position(|w| matches!(w, b"{{" | b"[["))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    struct TestScope {
        outputs: Vec<Option<Map<String, Value>>>,
        vars: Map<String, Value>,
        trigger: Value,
        device: Value,
    }

    impl Scope for TestScope {
        fn step_outputs(&self, index: usize) -> Option<&Map<String, Value>> {
            self.outputs.get(index)?.as_ref()
        }
        fn var(&self, name: &str) -> Option<&Value> {
            self.vars.get(name)
        }
        fn trigger(&self) -> &Value {
            &self.trigger
        }
        fn device_info(&self) -> &Value {
            &self.device
        }
    }

    fn scope() -> TestScope {
        let step0 = json!({"statusCode": 200, "body": "hello", "list": [1, 2]});
        TestScope {
            outputs: vec![step0.as_object().cloned(), None],
            vars: json!({"counter": 5, "name": "Ann"}).as_object().cloned().unwrap_or_default(),
            trigger: json!({"user": {"id": 7}}),
            device: json!({"os": "linux"}),
        }
    }

    fn resolve(text: &str) -> Value {
        let names = StepNames::new(["step-001", "step-002"]);
        let s = scope();
        Template::compile(&json!(text), &names).resolve(&s).into_owned()
    }

    #[test]
    fn exact_reference_keeps_its_type() {
        assert_eq!(resolve("{{step-001.statusCode}}"), json!(200));
        assert_eq!(resolve("{{ step-001.list }}"), json!([1, 2]));
        assert_eq!(resolve("{{step-001.list.count}}"), json!(2));
        assert_eq!(resolve("{{vars.counter}}"), json!(5));
        assert_eq!(resolve("[[counter]]"), json!(5));
        assert_eq!(resolve("{{counter}}"), json!(5));
        assert_eq!(resolve("{{trigger.data.user.id}}"), json!(7));
        assert_eq!(resolve("{{trigger.user}}"), json!({"id": 7}));
        assert_eq!(resolve("{{device_info.os}}"), json!("linux"));
        assert!(resolve("{{current_time}}").as_i64().is_some_and(|t| t > 1_600_000_000_000));
    }

    #[test]
    fn mixed_text_interpolates() {
        assert_eq!(resolve("code={{step-001.statusCode}}, {{name.uppercase}}!"), json!("code=200, ANN!"));
        assert_eq!(resolve("no refs {{ not a ref }}"), json!("no refs {{ not a ref }}"));
    }

    #[test]
    fn unresolved_references_stay_as_text() {
        assert_eq!(resolve("{{step-002.body}}"), json!("{{step-002.body}}"));
        assert_eq!(resolve("x {{nope.deep}} y"), json!("x {{nope.deep}} y"));
        assert_eq!(resolve("{{step-001.missing}}"), json!("{{step-001.missing}}"));
    }

    #[test]
    fn nested_values_resolve_and_data_is_not_reexpanded() {
        let names = StepNames::new(["a"]);
        let mut s = scope();
        s.vars.insert("evil".into(), json!("{{counter}}"));
        let t = Template::compile(&json!({"h": ["{{evil}}", "[[name]]"], "k": 1}), &names);
        assert_eq!(t.resolve(&s).into_owned(), json!({"h": ["{{counter}}", "Ann"], "k": 1}));
        assert_eq!(t.refs().len(), 2);
    }
}
