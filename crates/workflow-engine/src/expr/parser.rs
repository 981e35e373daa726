//! Precedence-climbing parser producing [`Node`] trees.

use regex::Regex;
use serde_json::Value;

use super::lexer::{BinOp, Tok, Token};
use super::{ExprError, Node, Pattern, compile_regex};
use crate::value::{number, to_text};

/// Deepest nesting of parentheses and prefix operators accepted.
const MAX_DEPTH: usize = 64;

pub(super) struct Parser<'s> {
    src: &'s str,
    tokens: Vec<Token>,
    pos: usize,
    depth: usize,
}

impl<'s> Parser<'s> {
    pub fn new(src: &'s str, tokens: Vec<Token>) -> Self {
        Self { src, tokens, pos: 0, depth: 0 }
    }

    pub fn parse_all(mut self) -> Result<Node, ExprError> {
        if self.tokens.is_empty() {
            return Err(ExprError::new(self.src, 0, "empty expression"));
        }
        let node = self.expr(0)?;
        if let Some(tok) = self.tokens.get(self.pos) {
            return Err(ExprError::new(self.src, tok.at, "unexpected token after the end of the expression"));
        }
        Ok(node)
    }

    fn err_here(&self, msg: &str) -> ExprError {
        let at = self.tokens.get(self.pos).map_or(self.src.len(), |t| t.at);
        ExprError::new(self.src, at, msg)
    }

    fn expr(&mut self, min_power: u8) -> Result<Node, ExprError> {
        let mut left = self.prefix()?;
        while let Some(tok) = self.tokens.get(self.pos) {
            let (op, (lp, rp)) = match &tok.kind {
                Tok::Or => (Infix::Or, (1, 2)),
                Tok::And => (Infix::And, (3, 4)),
                Tok::Minus => (Infix::Bin(BinOp::Sub), BinOp::Sub.power()),
                Tok::Bin(op) => (Infix::Bin(*op), op.power()),
                Tok::RParen => break,
                _ => return Err(self.err_here("expected an operator")),
            };
            if lp < min_power {
                break;
            }
            let at = tok.at;
            self.pos += 1;
            let right = self.expr(rp)?;
            left = match op {
                Infix::Or => Node::Or(Box::new(left), Box::new(right)),
                Infix::And => Node::And(Box::new(left), Box::new(right)),
                Infix::Bin(BinOp::Matches) => Node::Matches(Box::new(left), self.pattern(right, at)?),
                Infix::Bin(op) => Node::Bin(op, Box::new(left), Box::new(right)),
            };
        }
        Ok(left)
    }

    fn pattern(&self, right: Node, at: usize) -> Result<Pattern, ExprError> {
        match right {
            Node::Lit(Value::String(p)) => {
                let re: Regex = compile_regex(&p).map_err(|e| ExprError::new(self.src, at, e))?;
                Ok(Pattern::Static(Box::new(re)))
            }
            Node::Lit(other) => {
                let re = compile_regex(&to_text(&other)).map_err(|e| ExprError::new(self.src, at, e))?;
                Ok(Pattern::Static(Box::new(re)))
            }
            dynamic => Ok(Pattern::Dynamic(Box::new(dynamic))),
        }
    }

    fn prefix(&mut self) -> Result<Node, ExprError> {
        let Some(tok) = self.tokens.get(self.pos).cloned() else {
            return Err(self.err_here("expected a value"));
        };
        self.pos += 1;
        match tok.kind {
            Tok::Ref(r) => Ok(Node::Ref(r)),
            Tok::Num(x) => Ok(Node::Lit(number(x))),
            Tok::Str(s) => Ok(Node::Lit(Value::String(s))),
            Tok::Bool(b) => Ok(Node::Lit(Value::Bool(b))),
            Tok::Null => Ok(Node::Lit(Value::Null)),
            Tok::Not | Tok::Minus => {
                self.enter(tok.at)?;
                let inner = self.expr(11)?;
                self.depth -= 1;
                Ok(match (tok.kind, inner) {
                    (Tok::Minus, Node::Lit(Value::Number(n))) => Node::Lit(number(-n.as_f64().unwrap_or(0.0))),
                    (Tok::Minus, inner) => Node::Neg(Box::new(inner)),
                    (_, inner) => Node::Not(Box::new(inner)),
                })
            }
            Tok::LParen => {
                self.enter(tok.at)?;
                let inner = self.expr(0)?;
                self.depth -= 1;
                match self.tokens.get(self.pos) {
                    Some(Token { kind: Tok::RParen, .. }) => {
                        self.pos += 1;
                        Ok(inner)
                    }
                    _ => Err(ExprError::new(self.src, tok.at, "unclosed `(`")),
                }
            }
            Tok::RParen => Err(ExprError::new(self.src, tok.at, "unexpected `)`")),
            Tok::Bin(_) | Tok::And | Tok::Or => {
                Err(ExprError::new(self.src, tok.at, "expected a value before the operator"))
            }
        }
    }

    fn enter(&mut self, at: usize) -> Result<(), ExprError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ExprError::new(self.src, at, "expression nested too deeply"));
        }
        Ok(())
    }
}

enum Infix {
    Or,
    And,
    Bin(BinOp),
}
