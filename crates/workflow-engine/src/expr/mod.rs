//! A small, safe expression language for conditions and `math`.
//!
//! Operands: `{{…}}`/`[[…]]` references, `"strings"`/`'strings'`, numbers, `true`, `false`,
//! `null`. Operators by increasing precedence: `||`/`or`; `&&`/`and`; comparisons `==`,
//! `!=`, `<`, `<=`, `>`, `>=`, `contains`, `not_contains`/`!contains`, `starts_with`,
//! `ends_with`, `matches` (regex); `+`, `-`; `*`, `/`, `%`; prefix `!`/`not`, `-`;
//! parentheses. Parsed once into a tree; evaluation never runs code and never re-parses data.

mod eval;
mod lexer;
mod parser;

use std::fmt;

use regex::{Regex, RegexBuilder};
use serde_json::Value;

pub use lexer::BinOp;

use crate::template::{Ref, Scope, StepNames};
use crate::value::truthy;

/// Longest expression accepted, in bytes.
pub const MAX_EXPRESSION_LEN: usize = 4096;

/// Compiled-size limit for regular expressions from workflows.
pub(crate) const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// A syntax error with its position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at column {column}: {message}")]
pub struct ExprError {
    /// 1-based character column in the source.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

impl ExprError {
    fn new(src: &str, byte_at: usize, message: impl Into<String>) -> Self {
        let column = src.get(..byte_at).map_or(byte_at, |s| s.chars().count()) + 1;
        Self { column, message: message.into() }
    }
}

/// A run-time evaluation error (type mismatch, division by zero, bad dynamic regex).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct EvalError(pub String);

/// A parsed expression.
pub struct Expression {
    source: String,
    root: Node,
}

impl fmt::Debug for Expression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Expression").field(&self.source).finish()
    }
}

#[derive(Debug)]
pub(crate) enum Node {
    Lit(Value),
    Ref(Ref),
    Not(Box<Node>),
    Neg(Box<Node>),
    And(Box<Node>, Box<Node>),
    Or(Box<Node>, Box<Node>),
    Bin(BinOp, Box<Node>, Box<Node>),
    Matches(Box<Node>, Pattern),
}

#[derive(Debug)]
pub(crate) enum Pattern {
    Static(Box<Regex>),
    Dynamic(Box<Node>),
}

pub(crate) fn compile_regex(pattern: &str) -> Result<Regex, String> {
    RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| format!("invalid regular expression: {e}"))
}

impl Expression {
    /// Parses `src`; step ids in `names` become step references.
    pub fn parse(src: &str, names: &StepNames<'_>) -> Result<Self, ExprError> {
        if src.len() > MAX_EXPRESSION_LEN {
            return Err(ExprError { column: 1, message: format!("expression longer than {MAX_EXPRESSION_LEN} bytes") });
        }
        let tokens = lexer::tokenize(src, names)?;
        let root = parser::Parser::new(src, tokens).parse_all()?;
        Ok(Self { source: src.to_owned(), root })
    }

    /// The source text.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Evaluates to a value.
    pub fn eval<S: Scope + ?Sized>(&self, scope: &S) -> Result<Value, EvalError> {
        eval::eval(&self.root, scope).map(std::borrow::Cow::into_owned)
    }

    /// Evaluates and applies truthiness.
    pub fn eval_bool<S: Scope + ?Sized>(&self, scope: &S) -> Result<bool, EvalError> {
        eval::eval(&self.root, scope).map(|v| truthy(&v))
    }

    /// Every reference in the expression.
    pub fn refs(&self) -> Vec<&Ref> {
        let mut out = Vec::new();
        collect(&self.root, &mut out);
        out
    }
}

fn collect<'a>(node: &'a Node, out: &mut Vec<&'a Ref>) {
    match node {
        Node::Lit(_) => {}
        Node::Ref(r) => out.push(r),
        Node::Not(n) | Node::Neg(n) => collect(n, out),
        Node::And(a, b) | Node::Or(a, b) | Node::Bin(_, a, b) => {
            collect(a, out);
            collect(b, out);
        }
        Node::Matches(a, p) => {
            collect(a, out);
            if let Pattern::Dynamic(b) = p {
                collect(b, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Map, json};

    use super::*;

    struct Vars(Map<String, Value>, Vec<Option<Map<String, Value>>>);

    impl Scope for Vars {
        fn step_outputs(&self, index: usize) -> Option<&Map<String, Value>> {
            self.1.get(index)?.as_ref()
        }
        fn var(&self, name: &str) -> Option<&Value> {
            self.0.get(name)
        }
        fn trigger(&self) -> &Value {
            &Value::Null
        }
        fn device_info(&self) -> &Value {
            &Value::Null
        }
    }

    fn scope() -> Vars {
        let vars = json!({"flag": false, "n": 7, "s": "Hello World", "list": ["a", "b"], "d": {"k": 1}});
        let s1 = json!({"content": "say hello", "statusCode": 204});
        let s2 = json!({"statusCode": 503});
        Vars(vars.as_object().cloned().unwrap_or_default(), vec![s1.as_object().cloned(), s2.as_object().cloned()])
    }

    fn eval(src: &str) -> Value {
        let names = StepNames::new(["step-001", "step-002"]);
        Expression::parse(src, &names).unwrap_or_else(|e| panic!("{src}: {e}")).eval(&scope()).unwrap()
    }

    fn err(src: &str) -> ExprError {
        Expression::parse(src, &StepNames::default()).unwrap_err()
    }

    #[test]
    fn the_spec_example() {
        assert_eq!(
            eval(r#"{{step-001.content}} contains "hello" && ({{step-002.statusCode}} >= 200 || !{{flag}})"#),
            json!(true)
        );
        assert_eq!(eval(r#"{{step-001.content}} contains "bye" && true"#), json!(false));
    }

    #[test]
    fn precedence_and_associativity() {
        assert_eq!(eval("1 + 2 * 3"), json!(7));
        assert_eq!(eval("(1 + 2) * 3"), json!(9));
        assert_eq!(eval("10 - 4 - 3"), json!(3));
        assert_eq!(eval("-2 * -3"), json!(6));
        assert_eq!(eval("7 % 4 + 1 == 4"), json!(true));
        assert_eq!(eval("true || false && false"), json!(true));
        assert_eq!(eval("(true || false) && false"), json!(false));
        assert_eq!(eval("!false && !{{flag}}"), json!(true));
        assert_eq!(eval("not {{flag}} and {{n}} > 5 or false"), json!(true));
        assert_eq!(eval("{{n}} * 2 >= 14"), json!(true));
    }

    #[test]
    fn string_and_collection_operators() {
        assert_eq!(eval(r#"{{s}} starts_with "Hello""#), json!(true));
        assert_eq!(eval(r#"{{s}} ends_with 'World'"#), json!(true));
        assert_eq!(eval(r#"{{s}} !contains "x" && {{s}} not_contains "y""#), json!(true));
        assert_eq!(eval(r#"{{s}} matches "^H\\w+ W""#), json!(true));
        assert_eq!(eval(r#"{{list}} contains "b""#), json!(true));
        assert_eq!(eval(r#"{{d}} contains "k""#), json!(true));
        assert_eq!(eval(r#""a" + {{n}}"#), json!("a7"));
        assert_eq!(eval(r#""b" > "a""#), json!(true));
        assert_eq!(eval(r#"{{n}} == "7""#), json!(true));
        assert_eq!(eval("{{list.count}} == 2"), json!(true));
        assert_eq!(eval("{{missing}} == null"), json!(false));
        assert_eq!(eval(r#"{{s}} matches {{s}}"#), json!(true));
    }

    #[test]
    fn parse_errors_have_positions() {
        assert_eq!(err("1 +").column, 4);
        assert_eq!(err("(1 == 1").message, "unclosed `(`");
        assert_eq!(err("a == 1").column, 1);
        assert!(err("a == 1").message.contains("unknown word `a`"));
        assert_eq!(err("1 = 1").message, "use `==` to compare");
        assert_eq!(err("\"abc").message, "unterminated string");
        assert_eq!(err("1 & 2").column, 3);
        assert_eq!(err("1 2").message, "expected an operator");
        assert_eq!(err("").message, "empty expression");
        assert!(err(r#"{{x}} matches "(""#).message.contains("invalid regular expression"));
        assert!(err(&"(".repeat(100)).message.contains("nested too deeply"));
        assert_eq!(err("\"é\" == #").column, 8);
        assert_eq!(err(")").message, "unexpected `)`");
        assert_eq!(err("== 1").message, "expected a value before the operator");
    }

    #[test]
    fn eval_errors() {
        let names = StepNames::default();
        let e = |src: &str| Expression::parse(src, &names).unwrap().eval(&scope()).unwrap_err();
        assert!(e("1 / 0").0.contains("division by zero"));
        assert!(e(r#""a" - 1"#).0.contains("numbers"));
    }
}
