//! Value helpers shared by templates, conditions and modules: type names, text and number
//! coercion, truthiness, and the property registry (`length`, `count`, `first`, `keys`…).

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value};

/// A value with its type name, the `{type, value}` shape the API uses for outputs and variables.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TypedValue {
    /// `string`, `number`, `boolean`, `list`, `dictionary`, `null` or a declared type name.
    #[serde(rename = "type")]
    pub ty: Cow<'static, str>,
    /// The value itself.
    pub value: Value,
}

impl TypedValue {
    /// Wraps `value` with the type name inferred from it.
    pub fn infer(value: Value) -> Self {
        Self { ty: Cow::Borrowed(type_name(&value)), value }
    }
}

/// The API type name of a JSON value.
pub fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "dictionary",
    }
}

/// A JSON number from `f64`: integral values become integers so `5` never prints as `5.0`.
/// Non-finite values become `null`.
pub fn number(x: f64) -> Value {
    if x.fract() == 0.0 && x.abs() < 9.0e15 {
        Value::Number(Number::from(x as i64))
    } else {
        Number::from_f64(x).map_or(Value::Null, Value::Number)
    }
}

/// The text form used for interpolation: strings as they are, `null` as empty, integers
/// without a fraction, lists and dictionaries as compact JSON.
pub fn to_text(value: &Value) -> Cow<'_, str> {
    match value {
        Value::String(s) => Cow::Borrowed(s),
        Value::Null => Cow::Borrowed(""),
        Value::Bool(b) => Cow::Borrowed(if *b { "true" } else { "false" }),
        Value::Number(n) => Cow::Owned(n.to_string()),
        other => Cow::Owned(other.to_string()),
    }
}

/// The number a value stands for: numbers, numeric strings (trimmed) and booleans (1/0).
pub fn to_number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok().filter(|x| x.is_finite()),
        Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        _ => None,
    }
}

/// Truthiness for conditions: `false`, `null`, `0`, `""`, `"false"`, `"0"`, empty lists and
/// empty dictionaries are false; everything else is true.
pub fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|x| x != 0.0),
        Value::String(s) => {
            let s = s.trim();
            !(s.is_empty() || s == "0" || s.eq_ignore_ascii_case("false"))
        }
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// One step of a property path, e.g. `body`, `0` or `length`.
#[derive(Debug, Clone, PartialEq)]
pub struct PathSeg {
    /// The segment as written.
    pub name: String,
    /// The segment as a list index, when it is a non-negative integer.
    pub index: Option<usize>,
}

impl PathSeg {
    /// A segment from its text.
    pub fn new(name: &str) -> Self {
        Self { name: name.to_owned(), index: name.parse().ok() }
    }
}

/// Walks `path` from `value`: dictionary keys and list indices first, then the type's
/// properties. `None` when a segment does not apply.
pub fn walk<'a>(value: Cow<'a, Value>, path: &[PathSeg]) -> Option<Cow<'a, Value>> {
    let mut current = value;
    for seg in path {
        current = match current {
            Cow::Borrowed(v) => match child(v, seg) {
                Some(c) => Cow::Borrowed(c),
                None => Cow::Owned(property(v, &seg.name)?),
            },
            Cow::Owned(v) => match child(&v, seg) {
                Some(c) => Cow::Owned(c.clone()),
                None => Cow::Owned(property(&v, &seg.name)?),
            },
        };
    }
    Some(current)
}

fn child<'a>(value: &'a Value, seg: &PathSeg) -> Option<&'a Value> {
    match value {
        Value::Object(map) => map.get(&seg.name),
        Value::Array(list) => list.get(seg.index?),
        _ => None,
    }
}

/// The named property of a value, as the real app's type registry defines them.
///
/// number: `int`, `round`, `abs`; boolean: `not`; string: `length`, `uppercase`,
/// `lowercase`, `trim`, `removeSpaces`, `isempty`, `number`; list: `count`/`length`, `first`,
/// `last`, `isempty`; dictionary: `count`/`length`, `keys`, `values`, `isempty`; any: `type`,
/// `text`.
pub fn property(value: &Value, name: &str) -> Option<Value> {
    match (name, value) {
        ("type", v) => Some(Value::from(type_name(v))),
        ("text", v) => Some(Value::from(to_text(v).into_owned())),
        ("int", v) => to_number(v).map(|x| number(x.trunc())),
        ("round", v) => to_number(v).map(|x| number(x.round())),
        ("abs", v) => to_number(v).map(|x| number(x.abs())),
        ("not", v) => Some(Value::Bool(!truthy(v))),
        ("length", Value::String(s)) => Some(Value::from(s.chars().count())),
        ("uppercase", Value::String(s)) => Some(Value::from(s.to_uppercase())),
        ("lowercase", Value::String(s)) => Some(Value::from(s.to_lowercase())),
        ("trim", Value::String(s)) => Some(Value::from(s.trim())),
        ("removeSpaces", Value::String(s)) => Some(Value::from(s.split_whitespace().collect::<String>())),
        ("number", Value::String(s)) => s.trim().parse::<f64>().ok().map(number),
        ("isempty", v) => Some(Value::Bool(is_empty(v))),
        ("count" | "length", Value::Array(a)) => Some(Value::from(a.len())),
        ("first", Value::Array(a)) => a.first().cloned(),
        ("last", Value::Array(a)) => a.last().cloned(),
        ("count" | "length", Value::Object(o)) => Some(Value::from(o.len())),
        ("keys", Value::Object(o)) => Some(Value::Array(o.keys().cloned().map(Value::String).collect())),
        ("values", Value::Object(o)) => Some(Value::Array(o.values().cloned().collect())),
        _ => None,
    }
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

/// Loose equality used by `==`: numeric when one side is a number and the other converts,
/// booleans against `"true"`/`"false"`, otherwise by text form.
pub fn loose_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Number(_), _) | (_, Value::Number(_)) => match (to_number(a), to_number(b)) {
            (Some(x), Some(y)) => x == y,
            _ => false,
        },
        (Value::Array(_) | Value::Object(_), _) | (_, Value::Array(_) | Value::Object(_)) => a == b,
        _ => to_text(a) == to_text(b),
    }
}

/// Converts a dictionary of raw values into typed values.
pub fn typed_map(map: &Map<String, Value>) -> Map<String, Value> {
    map.iter().map(|(k, v)| (k.clone(), typed_json(v))).collect()
}

/// `{"type": …, "value": …}` for one value.
pub fn typed_json(value: &Value) -> Value {
    let mut m = Map::new();
    m.insert("type".into(), Value::from(type_name(value)));
    m.insert("value".into(), value.clone());
    Value::Object(m)
}

/// Roughly the bytes a value takes as JSON: what the run's value caps count. Cheap on
/// scalars; walks containers.
pub fn footprint(value: &Value) -> usize {
    match value {
        Value::Null | Value::Bool(_) => 5,
        Value::Number(_) => 8,
        Value::String(s) => s.len() + 2,
        Value::Array(items) => items.iter().map(|v| footprint(v) + 1).sum::<usize>() + 2,
        Value::Object(map) => map.iter().map(|(k, v)| k.len() + 4 + footprint(v)).sum::<usize>() + 2,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn path(p: &str) -> Vec<PathSeg> {
        p.split('.').map(PathSeg::new).collect()
    }

    #[test]
    fn numbers_print_without_fraction_when_integral() {
        assert_eq!(number(5.0), json!(5));
        assert_eq!(number(2.5), json!(2.5));
        assert_eq!(number(f64::NAN), Value::Null);
        assert_eq!(to_text(&json!(3)), "3");
    }

    #[test]
    fn walk_uses_keys_indices_then_properties() {
        let v = json!({"items": [1, 2, 3], "name": "Ab c", "m": {"k": 1}});
        let got = |p: &str| walk(Cow::Borrowed(&v), &path(p)).map(Cow::into_owned);
        assert_eq!(got("items.1"), Some(json!(2)));
        assert_eq!(got("items.count"), Some(json!(3)));
        assert_eq!(got("items.last"), Some(json!(3)));
        assert_eq!(got("name.length"), Some(json!(4)));
        assert_eq!(got("name.uppercase"), Some(json!("AB C")));
        assert_eq!(got("name.removeSpaces"), Some(json!("Abc")));
        assert_eq!(got("m.keys"), Some(json!(["k"])));
        assert_eq!(got("m.keys.first.length"), Some(json!(1)));
        assert_eq!(got("missing"), None);
    }

    #[test]
    fn footprint_follows_the_json_size() {
        let v = json!({"a": ["xyz", 1, null], "long": "x".repeat(1000)});
        let json_len = v.to_string().len();
        assert!(footprint(&v) >= json_len && footprint(&v) < json_len + 32, "{} vs {json_len}", footprint(&v));
    }

    #[test]
    fn truthiness_and_equality() {
        assert!(!truthy(&json!("false")));
        assert!(!truthy(&json!(0)));
        assert!(truthy(&json!("x")));
        assert!(loose_eq(&json!(200), &json!("200")));
        assert!(loose_eq(&json!(true), &json!("true")));
        assert!(!loose_eq(&json!("a"), &json!(1)));
    }
}
