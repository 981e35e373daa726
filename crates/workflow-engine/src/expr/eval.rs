//! Tree-walking evaluation.

use std::borrow::Cow;
use std::cmp::Ordering;

use serde_json::Value;

use super::lexer::BinOp;
use super::{EvalError, Node, Pattern, compile_regex};
use crate::template::Scope;
use crate::value::{loose_eq, number, to_number, to_text, truthy};

pub(super) fn eval<'a, S: Scope + ?Sized>(node: &'a Node, scope: &'a S) -> Result<Cow<'a, Value>, EvalError> {
    Ok(match node {
        Node::Lit(v) => Cow::Borrowed(v),
        Node::Ref(r) => r.resolve(scope).unwrap_or_else(|| Cow::Owned(Value::String(r.raw.clone()))),
        Node::Not(inner) => Cow::Owned(Value::Bool(!truthy(&*eval(inner, scope)?))),
        Node::Neg(inner) => {
            let v = eval(inner, scope)?;
            let x = to_number(&v).ok_or_else(|| EvalError(format!("cannot negate `{}`", to_text(&v))))?;
            Cow::Owned(number(-x))
        }
        Node::And(a, b) => Cow::Owned(Value::Bool(truthy(&*eval(a, scope)?) && truthy(&*eval(b, scope)?))),
        Node::Or(a, b) => Cow::Owned(Value::Bool(truthy(&*eval(a, scope)?) || truthy(&*eval(b, scope)?))),
        Node::Matches(subject, pattern) => {
            let subject = eval(subject, scope)?;
            let text = to_text(&subject);
            let matched = match pattern {
                Pattern::Static(re) => re.is_match(&text),
                Pattern::Dynamic(p) => {
                    let p = eval(p, scope)?;
                    compile_regex(&to_text(&p)).map_err(EvalError)?.is_match(&text)
                }
            };
            Cow::Owned(Value::Bool(matched))
        }
        Node::Bin(op, a, b) => Cow::Owned(binary(*op, &*eval(a, scope)?, &*eval(b, scope)?)?),
    })
}

fn binary(op: BinOp, a: &Value, b: &Value) -> Result<Value, EvalError> {
    use BinOp::*;
    Ok(match op {
        Eq => Value::Bool(loose_eq(a, b)),
        Ne => Value::Bool(!loose_eq(a, b)),
        Lt | Le | Gt | Ge => {
            let ord = compare(a, b);
            Value::Bool(match op {
                Lt => ord == Some(Ordering::Less),
                Le => matches!(ord, Some(Ordering::Less | Ordering::Equal)),
                Gt => ord == Some(Ordering::Greater),
                _ => matches!(ord, Some(Ordering::Greater | Ordering::Equal)),
            })
        }
        Contains => Value::Bool(contains(a, b)),
        NotContains => Value::Bool(!contains(a, b)),
        StartsWith => Value::Bool(to_text(a).starts_with(to_text(b).as_ref())),
        EndsWith => Value::Bool(to_text(a).ends_with(to_text(b).as_ref())),
        Matches => {
            let re = compile_regex(&to_text(b)).map_err(EvalError)?;
            Value::Bool(re.is_match(&to_text(a)))
        }
        Add if matches!(a, Value::String(_)) || matches!(b, Value::String(_)) => {
            Value::String(format!("{}{}", to_text(a), to_text(b)))
        }
        Add => {
            let (x, y) = numbers(op, a, b)?;
            number(x + y)
        }
        Sub | Mul | Div | Rem => {
            let (x, y) = numbers(op, a, b)?;
            if matches!(op, Div | Rem) && y == 0.0 {
                return Err(EvalError("division by zero".into()));
            }
            number(match op {
                Sub => x - y,
                Mul => x * y,
                Div => x / y,
                _ => x % y,
            })
        }
    })
}

fn numbers(op: BinOp, a: &Value, b: &Value) -> Result<(f64, f64), EvalError> {
    match (to_number(a), to_number(b)) {
        (Some(x), Some(y)) => Ok((x, y)),
        _ => Err(EvalError(format!("operator {op:?} needs numbers, got `{}` and `{}`", to_text(a), to_text(b)))),
    }
}

fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (to_number(a), to_number(b)) {
        (Some(x), Some(y)) => x.partial_cmp(&y),
        _ => Some(to_text(a).cmp(&to_text(b))),
    }
}

fn contains(haystack: &Value, needle: &Value) -> bool {
    match haystack {
        Value::Array(items) => items.iter().any(|item| loose_eq(item, needle)),
        Value::Object(map) => map.contains_key(to_text(needle).as_ref()),
        other => to_text(other).contains(to_text(needle).as_ref()),
    }
}
