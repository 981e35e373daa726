//! Python semantics for JSON values: `str()`, `repr()`, truthiness, `==`, and the scalar
//! conversions ComfyUI applies to widget inputs. Error texts quote these, so they must match.

use std::cmp::Ordering;

use serde_json::{Number, Value};

/// Python's `repr()` of a JSON-decoded value.
pub(crate) fn repr(value: &Value) -> String {
    match value {
        Value::String(s) => repr_str(s),
        Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(repr).collect();
            format!("[{}]", inner.join(", "))
        }
        Value::Object(map) => {
            let inner: Vec<String> = map.iter().map(|(k, v)| format!("{}: {}", repr_str(k), repr(v))).collect();
            format!("{{{}}}", inner.join(", "))
        }
        scalar => str(scalar),
    }
}

/// Python's `str()` of a JSON-decoded value.
pub(crate) fn str(value: &Value) -> String {
    match value {
        Value::Null => "None".to_owned(),
        Value::Bool(true) => "True".to_owned(),
        Value::Bool(false) => "False".to_owned(),
        Value::Number(n) => number_repr(n),
        Value::String(s) => s.clone(),
        other => repr(other),
    }
}

fn repr_str(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') { '"' } else { '\'' };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

fn number_repr(n: &Number) -> String {
    if n.is_f64() { n.as_f64().map(float_repr).unwrap_or_default() } else { n.to_string() }
}

/// Python's `repr(float)`.
pub(crate) fn float_repr(f: f64) -> String {
    if f.is_nan() {
        return "nan".to_owned();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf" } else { "-inf" }.to_owned();
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-4..1e16).contains(&abs) {
        // Python: mantissa, then 'e', a sign, and at least two exponent digits.
        let text = format!("{f:e}");
        let (mantissa, exp) = text.split_once('e').unwrap_or((&text, "0"));
        let (sign, digits) = match exp.strip_prefix('-') {
            Some(d) => ('-', d),
            None => ('+', exp),
        };
        return format!("{mantissa}e{sign}{digits:0>2}");
    }
    format!("{f:?}")
}

/// Python truthiness.
pub(crate) fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// A Python number: ints are arbitrary precision there, i128 covers the u64 seeds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Num {
    Int(i128),
    Float(f64),
}

impl Num {
    pub(crate) fn of(value: &Value) -> Option<Self> {
        match value {
            Value::Bool(b) => Some(Self::Int(i128::from(*b))),
            Value::Number(n) => Some(match (n.as_i64(), n.as_u64()) {
                (Some(i), _) => Self::Int(i128::from(i)),
                (None, Some(u)) => Self::Int(i128::from(u)),
                _ => Self::Float(n.as_f64().unwrap_or(f64::NAN)),
            }),
            _ => None,
        }
    }

    pub(crate) fn as_f64(self) -> f64 {
        match self {
            Self::Int(i) => i as f64,
            Self::Float(f) => f,
        }
    }

    pub(crate) fn to_value(self) -> Value {
        match self {
            Self::Int(i) => i64::try_from(i)
                .map(Value::from)
                .or_else(|_| u64::try_from(i).map(Value::from))
                .unwrap_or_else(|_| Value::from(i as f64)),
            Self::Float(f) => Number::from_f64(f).map_or(Value::Null, Value::Number),
        }
    }
}

impl PartialOrd for Num {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        match (self, other) {
            (Self::Int(a), Self::Int(b)) => a.partial_cmp(b),
            (a, b) => a.as_f64().partial_cmp(&b.as_f64()),
        }
    }
}

/// Python `==` between JSON-decoded values (`1 == 1.0 == True`).
pub(crate) fn eq(a: &Value, b: &Value) -> bool {
    match (Num::of(a), Num::of(b)) {
        (Some(x), Some(y)) => x == y || (x.as_f64() == y.as_f64() && x.as_f64().is_finite()),
        _ => a == b,
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

/// Python's `int(value)`.
pub(crate) fn to_int(value: &Value) -> Result<Num, String> {
    match value {
        Value::String(s) => {
            let cleaned = s.trim().replace('_', "");
            cleaned
                .parse::<i128>()
                .map(Num::Int)
                .map_err(|_| format!("invalid literal for int() with base 10: {}", repr_str(s)))
        }
        Value::Number(_) | Value::Bool(_) => match Num::of(value) {
            Some(Num::Float(f)) if !f.is_finite() => Err("cannot convert float infinity to integer".to_owned()),
            Some(Num::Float(f)) => Ok(Num::Int(f.trunc() as i128)),
            Some(n) => Ok(n),
            None => Err("int() argument must be a real number".to_owned()),
        },
        other => Err(format!(
            "int() argument must be a string, a bytes-like object or a real number, not '{}'",
            type_name(other)
        )),
    }
}

/// Python's `float(value)`.
pub(crate) fn to_float(value: &Value) -> Result<Num, String> {
    match value {
        Value::String(s) => {
            let t = s.trim().to_ascii_lowercase();
            let parsed = match t.as_str() {
                "inf" | "+inf" | "infinity" | "+infinity" => Some(f64::INFINITY),
                "-inf" | "-infinity" => Some(f64::NEG_INFINITY),
                "nan" | "+nan" | "-nan" => Some(f64::NAN),
                _ => t.replace('_', "").parse::<f64>().ok(),
            };
            parsed.map(Num::Float).ok_or_else(|| format!("could not convert string to float: {}", repr_str(s)))
        }
        Value::Number(_) | Value::Bool(_) => Num::of(value)
            .map(|n| Num::Float(n.as_f64()))
            .ok_or_else(|| "float() argument must be a real number".to_owned()),
        other => Err(format!("float() argument must be a string or a real number, not '{}'", type_name(other))),
    }
}

/// Python's `json.dumps(value)`: `", "` and `": "` separators, ASCII-only output, Python float text.
pub(crate) fn json_dumps<T: serde::Serialize + ?Sized>(value: &T) -> String {
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut out, PyFormatter);
    if value.serialize(&mut ser).is_err() {
        return String::new();
    }
    String::from_utf8(out).unwrap_or_default()
}

struct PyFormatter;

impl serde_json::ser::Formatter for PyFormatter {
    fn begin_array_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W, first: bool) -> std::io::Result<()> {
        if first { Ok(()) } else { w.write_all(b", ") }
    }

    fn begin_object_key<W: ?Sized + std::io::Write>(&mut self, w: &mut W, first: bool) -> std::io::Result<()> {
        if first { Ok(()) } else { w.write_all(b", ") }
    }

    fn begin_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        w.write_all(b": ")
    }

    fn write_f64<W: ?Sized + std::io::Write>(&mut self, w: &mut W, value: f64) -> std::io::Result<()> {
        let text = match float_repr(value).as_str() {
            "inf" => "Infinity".to_owned(),
            "-inf" => "-Infinity".to_owned(),
            "nan" => "NaN".to_owned(),
            other => other.to_owned(),
        };
        w.write_all(text.as_bytes())
    }

    fn write_string_fragment<W: ?Sized + std::io::Write>(&mut self, w: &mut W, fragment: &str) -> std::io::Result<()> {
        for c in fragment.chars() {
            if c.is_ascii() {
                w.write_all(&[c as u8])?;
            } else {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    write!(w, "\\u{unit:04x}")?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn formats_like_python() {
        assert_eq!(repr(&json!(["a", "b'c"])), r#"['a', "b'c"]"#);
        assert_eq!(str(&json!(null)), "None");
        assert_eq!(str(&json!(1.0)), "1.0");
        assert_eq!(str(&json!(20)), "20");
        assert_eq!(float_repr(1e16), "1e+16");
        assert_eq!(float_repr(1e-5), "1e-05");
        assert_eq!(float_repr(0.5), "0.5");
        assert_eq!(json_dumps(&json!({"a": [1, 2.0], "b": "é"})), r#"{"a": [1, 2.0], "b": "\u00e9"}"#);
    }

    #[test]
    fn converts_like_python() {
        assert_eq!(to_int(&json!("20")), Ok(Num::Int(20)));
        assert_eq!(to_int(&json!(7.9)), Ok(Num::Int(7)));
        assert_eq!(to_int(&json!("x")), Err("invalid literal for int() with base 10: 'x'".to_owned()));
        assert_eq!(to_float(&json!("2.5")), Ok(Num::Float(2.5)));
        assert!(eq(&json!(1), &json!(1.0)));
        assert!(Num::Int(u64::MAX as i128 + 1) > Num::Int(u64::MAX as i128));
    }
}
