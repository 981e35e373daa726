//! Synchronous data modules: math, text, regex, JSON, random, date/time.

use std::fmt::Write as _;

use chrono::{DateTime, Datelike, Timelike, Utc};
use rand::Rng;
use regex::Regex;
use serde_json::{Map, Value};

use super::plan::Inputs;
use crate::expr::{Expression, compile_regex};
use crate::template::{Scope, now_ms};
use crate::value::{PathSeg, number, to_number, to_text, walk};

type Outputs = Result<Map<String, Value>, String>;

fn one(key: &str, value: Value) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert(key.to_owned(), value);
    m
}

/// `math`: an expression, or `operator` applied to `a` and `b`.
pub(crate) fn math<S: Scope + ?Sized>(expr: Option<&Expression>, inputs: &Inputs<'_>, scope: &S) -> Outputs {
    let x = match expr {
        Some(e) => {
            let v = e.eval(scope).map_err(|e| e.0)?;
            to_number(&v).ok_or_else(|| format!("expression result `{}` is not a number", to_text(&v)))?
        }
        None => {
            let (a, b) = (inputs.required_number("a")?, inputs.required_number("b")?);
            match inputs.text("operator").as_ref() {
                "add" | "+" | "" => a + b,
                "subtract" | "-" => a - b,
                "multiply" | "*" => a * b,
                "divide" | "/" if b == 0.0 => return Err("division by zero".into()),
                "divide" | "/" => a / b,
                "modulo" | "%" if b == 0.0 => return Err("division by zero".into()),
                "modulo" | "%" => a % b,
                "power" | "^" => a.powf(b),
                "min" => a.min(b),
                "max" => a.max(b),
                other => return Err(format!("unknown operator `{other}`")),
            }
        }
    };
    if !x.is_finite() {
        return Err("result is not a finite number".into());
    }
    Ok(one("result", number(x)))
}

/// `text`: concat, upper, lower, trim, replace, split, length, substring. A result that
/// would grow past `limit` bytes is refused before it is built.
pub(crate) fn text(inputs: &Inputs<'_>, limit: usize) -> Outputs {
    let s = inputs.text("text");
    let result = match inputs.required_text("operation")?.as_ref() {
        "concat" => Value::String(format!("{s}{}", inputs.text("other"))),
        "upper" => Value::String(s.to_uppercase()),
        "lower" => Value::String(s.to_lowercase()),
        "trim" => Value::String(s.trim().to_owned()),
        "replace" => {
            let find = inputs.required_text("find")?;
            let replacement = inputs.text("replacement");
            let grows_by = replacement.len().saturating_sub(find.len());
            let size = s.len().saturating_add(s.matches(find.as_ref()).count().saturating_mul(grows_by));
            if size > limit {
                return Err(result_too_large(size, limit));
            }
            Value::String(s.replace(find.as_ref(), &replacement))
        }
        "split" => {
            let sep = inputs.text("separator");
            let parts: Vec<Value> = if sep.is_empty() {
                s.chars().map(|c| Value::String(c.to_string())).collect()
            } else {
                s.split(sep.as_ref()).map(|p| Value::String(p.to_owned())).collect()
            };
            Value::Array(parts)
        }
        "length" => Value::from(s.chars().count()),
        "substring" => {
            let len = s.chars().count();
            let start = inputs.number("start")?.unwrap_or(0.0).max(0.0) as usize;
            let end = inputs.number("end")?.map_or(len, |e| e.max(0.0) as usize).min(len);
            Value::String(s.chars().skip(start).take(end.saturating_sub(start)).collect())
        }
        other => return Err(format!("unknown text operation `{other}`")),
    };
    Ok(one("result", result))
}

fn result_too_large(size: usize, limit: usize) -> String {
    format!("the result would be {size} bytes, over the cap of {limit} bytes per value")
}

/// `regex`: match (first match and groups), find_all, replace (stopped once the result
/// passes `limit` bytes).
pub(crate) fn regex(cached: Option<&Regex>, inputs: &Inputs<'_>, limit: usize) -> Outputs {
    let compiled;
    let re = match cached {
        Some(re) => re,
        None => {
            compiled = compile_regex(&inputs.required_text("pattern")?)?;
            &compiled
        }
    };
    let text = inputs.text("text");
    let mut out = Map::new();
    match inputs.text("operation").as_ref() {
        "match" | "" => {
            let caps = re.captures(&text);
            let groups: Vec<Value> = caps.as_ref().map_or_else(Vec::new, |c| {
                c.iter().skip(1).map(|g| g.map_or(Value::Null, |m| Value::from(m.as_str()))).collect()
            });
            out.insert("matched".into(), Value::Bool(caps.is_some()));
            let whole = caps.as_ref().and_then(|c| c.get(0)).map_or(Value::Null, |m| Value::from(m.as_str()));
            out.insert("result".into(), whole);
            out.insert("groups".into(), Value::Array(groups));
            out.insert("count".into(), Value::from(usize::from(caps.is_some())));
        }
        "find_all" => {
            let all: Vec<Value> = re.find_iter(&text).map(|m| Value::from(m.as_str())).collect();
            out.insert("matched".into(), Value::Bool(!all.is_empty()));
            out.insert("count".into(), Value::from(all.len()));
            out.insert("result".into(), Value::Array(all));
            out.insert("groups".into(), Value::Array(Vec::new()));
        }
        "replace" => {
            let replacement = inputs.text("replacement");
            let (mut replaced, mut count, mut last) = (String::new(), 0, 0);
            for caps in re.captures_iter(&text) {
                let Some(whole) = caps.get(0) else { continue };
                replaced.push_str(&text[last..whole.start()]);
                caps.expand(&replacement, &mut replaced);
                (count, last) = (count + 1, whole.end());
                if replaced.len() > limit {
                    return Err(result_too_large(replaced.len() + text.len() - last, limit));
                }
            }
            replaced.push_str(&text[last..]);
            out.insert("matched".into(), Value::Bool(count > 0));
            out.insert("count".into(), Value::from(count));
            out.insert("result".into(), Value::String(replaced));
            out.insert("groups".into(), Value::Array(Vec::new()));
        }
        other => return Err(format!("unknown regex operation `{other}`")),
    }
    Ok(out)
}

/// `json_parse`: text to data (data passes through).
pub(crate) fn json_parse(inputs: &Inputs<'_>) -> Outputs {
    let parsed = match inputs.get("text") {
        Some(Value::String(s)) => serde_json::from_str(s).map_err(|e| format!("invalid JSON: {e}"))?,
        Some(other) => other.clone(),
        None => return Err("`text` is required".into()),
    };
    Ok(one("result", parsed))
}

/// `json_path`: `$.a.b[0]["c d"]` (the `$` is optional; properties such as `count` work too).
pub(crate) fn json_path(inputs: &Inputs<'_>) -> Outputs {
    let data = match inputs.get("data") {
        Some(Value::String(s)) => serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.clone())),
        Some(v) => v.clone(),
        None => return Err("`data` is required".into()),
    };
    let path = parse_path(&inputs.required_text("path")?)?;
    let found = walk(std::borrow::Cow::Owned(data), &path).map(std::borrow::Cow::into_owned);
    let mut out = Map::new();
    out.insert("found".into(), Value::Bool(found.is_some()));
    out.insert("result".into(), found.unwrap_or(Value::Null));
    Ok(out)
}

fn parse_path(path: &str) -> Result<Vec<PathSeg>, String> {
    let mut rest = path.trim();
    rest = rest.strip_prefix('$').unwrap_or(rest);
    let mut segs = Vec::new();
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            rest = r;
            continue;
        }
        if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']').ok_or_else(|| format!("unclosed `[` in path `{path}`"))?;
            let inner = r[..end].trim();
            let key = inner.trim_matches(|c| c == '"' || c == '\'');
            segs.push(PathSeg::new(key));
            rest = &r[end + 1..];
            continue;
        }
        let end = rest.find(['.', '[']).unwrap_or(rest.len());
        segs.push(PathSeg::new(&rest[..end]));
        rest = &rest[end..];
    }
    Ok(segs)
}

/// `random`: a number in `[min, max]`, an integer unless `integer` is false.
pub(crate) fn random(inputs: &Inputs<'_>) -> Outputs {
    let min = inputs.number("min")?.unwrap_or(0.0);
    let max = inputs.number("max")?.unwrap_or(100.0);
    if min > max {
        return Err(format!("min {min} is greater than max {max}"));
    }
    let mut rng = rand::rng();
    let x = if inputs.flag("integer", true) {
        let (lo, hi) = (min.ceil() as i64, max.floor() as i64);
        if lo > hi {
            return Err(format!("no integer between {min} and {max}"));
        }
        rng.random_range(lo..=hi) as f64
    } else if min == max {
        min
    } else {
        rng.random_range(min..max)
    };
    Ok(one("result", number(x)))
}

/// `datetime`: formats now (or `timestamp` in ms) in UTC with a strftime `format`.
pub(crate) fn datetime(inputs: &Inputs<'_>) -> Outputs {
    let ms = match inputs.number("timestamp")? {
        Some(ms) => ms as i64,
        None => now_ms(),
    };
    let t: DateTime<Utc> =
        DateTime::from_timestamp_millis(ms).ok_or_else(|| format!("timestamp {ms} is out of range"))?;
    let format = inputs.text("format");
    let format = if format.is_empty() { "%Y-%m-%d %H:%M:%S".into() } else { format };
    let mut text = String::new();
    write!(text, "{}", t.format(&format)).map_err(|_| format!("invalid date format `{format}`"))?;
    let mut out = Map::new();
    out.insert("text".into(), Value::String(text));
    out.insert("timestamp".into(), Value::from(ms));
    out.insert("iso".into(), Value::String(t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)));
    out.insert("year".into(), Value::from(t.year()));
    out.insert("month".into(), Value::from(t.month()));
    out.insert("day".into(), Value::from(t.day()));
    out.insert("hour".into(), Value::from(t.hour()));
    out.insert("minute".into(), Value::from(t.minute()));
    out.insert("second".into(), Value::from(t.second()));
    out.insert("weekday".into(), Value::from(t.weekday().number_from_monday()));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::template::{StepNames, Template};

    struct Empty;
    impl Scope for Empty {
        fn step_outputs(&self, _: usize) -> Option<&Map<String, Value>> {
            None
        }
        fn var(&self, _: &str) -> Option<&Value> {
            None
        }
        fn trigger(&self) -> &Value {
            &Value::Null
        }
        fn device_info(&self) -> &Value {
            &Value::Null
        }
    }

    fn run(f: impl Fn(&Inputs<'_>) -> Outputs, params: Value) -> Result<Value, String> {
        let names = StepNames::default();
        let compiled: Vec<(&str, Template)> =
            params.as_object().unwrap().iter().map(|(k, v)| (k.as_str(), Template::compile(v, &names))).collect();
        let inputs = Inputs::resolve(&compiled, &Empty);
        f(&inputs).map(Value::Object)
    }

    #[test]
    fn math_operator_mode() {
        let m = |p| run(|i| math(None, i, &Empty), p);
        assert_eq!(m(json!({"operator": "multiply", "a": 6, "b": "7"})).unwrap()["result"], 42);
        assert_eq!(m(json!({"operator": "power", "a": 2, "b": 10})).unwrap()["result"], 1024);
        assert!(m(json!({"operator": "divide", "a": 1, "b": 0})).is_err());
        assert!(m(json!({"operator": "add", "a": "x", "b": 1})).is_err());
    }

    #[test]
    fn text_operations() {
        let t = |p| run(|i| text(i, 1 << 20), p).unwrap()["result"].clone();
        assert_eq!(t(json!({"operation": "concat", "text": "a", "other": "b"})), "ab");
        assert_eq!(t(json!({"operation": "upper", "text": "ab"})), "AB");
        assert_eq!(t(json!({"operation": "replace", "text": "a-b-c", "find": "-", "replacement": "+"})), "a+b+c");
        assert_eq!(t(json!({"operation": "split", "text": "a,b", "separator": ","})), json!(["a", "b"]));
        assert_eq!(t(json!({"operation": "length", "text": "héllo"})), 5);
        assert_eq!(t(json!({"operation": "substring", "text": "héllo", "start": 1, "end": 3})), "él");
        assert!(run(|i| text(i, 1 << 20), json!({"operation": "shout"})).is_err());
    }

    #[test]
    fn replacing_refuses_a_result_past_the_cap_before_building_it() {
        let grow = json!({"operation": "replace", "text": "aaaa", "find": "a", "replacement": "bbbbbbbb"});
        assert!(run(|i| text(i, 1000), grow.clone()).is_ok());
        assert!(run(|i| text(i, 20), grow).unwrap_err().contains("over the cap of 20 bytes"));
        let regex_grow = json!({"pattern": "a", "text": "aaaa", "operation": "replace", "replacement": "$0$0$0$0$0$0"});
        assert_eq!(run(|i| regex(None, i, 1000), regex_grow.clone()).unwrap()["result"].as_str().unwrap().len(), 24);
        assert!(run(|i| regex(None, i, 20), regex_grow).unwrap_err().contains("over the cap"));
    }

    #[test]
    fn regex_operations() {
        let r = |p| run(|i| regex(None, i, 1 << 20), p).unwrap();
        let m = r(json!({"pattern": r"(\d+)-(\d+)", "text": "a 12-34 b", "operation": "match"}));
        assert_eq!(
            (m["matched"].clone(), m["result"].clone(), m["groups"].clone()),
            (json!(true), json!("12-34"), json!(["12", "34"]))
        );
        let all = r(json!({"pattern": r"\d", "text": "a1b2", "operation": "find_all"}));
        assert_eq!((all["result"].clone(), all["count"].clone()), (json!(["1", "2"]), json!(2)));
        let rep = r(json!({"pattern": r"(\w+)@", "text": "bob@x", "operation": "replace", "replacement": "[$1]@"}));
        assert_eq!(rep["result"], "[bob]@x");
        assert!(run(|i| regex(None, i, 1 << 20), json!({"pattern": "(", "text": ""})).is_err());
    }

    #[test]
    fn json_modules() {
        let parsed = run(json_parse, json!({"text": r#"{"a": [1, {"b": "x"}]}"#})).unwrap();
        assert_eq!(parsed["result"]["a"][1]["b"], "x");
        assert!(run(json_parse, json!({"text": "{"})).is_err());
        let p = |path: &str| run(json_path, json!({"data": r#"{"a": [1, {"b c": "x"}]}"#, "path": path})).unwrap();
        assert_eq!(p(r#"$.a[1]["b c"]"#)["result"], "x");
        assert_eq!(p("a.count")["result"], 2);
        assert_eq!(p("$.a[5]")["found"], false);
    }

    #[test]
    fn random_and_datetime() {
        for _ in 0..20 {
            let v = run(random, json!({"min": 1, "max": 3})).unwrap()["result"].as_i64().unwrap();
            assert!((1..=3).contains(&v));
        }
        let d = run(datetime, json!({"timestamp": 1_704_067_200_000_i64, "format": "%Y/%m/%d %H"})).unwrap();
        assert_eq!(d["text"], "2024/01/01 00");
        assert_eq!(d["weekday"], 1);
        assert_eq!(d["iso"], "2024-01-01T00:00:00.000Z");
        assert!(run(datetime, json!({"format": "%Q"})).is_err());
    }
}
