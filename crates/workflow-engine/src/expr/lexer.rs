//! Tokens of the condition language.

use crate::template::{Ref, StepNames};

use super::ExprError;

/// A token with its byte offset in the source.
#[derive(Debug, Clone)]
pub(super) struct Token {
    pub kind: Tok,
    pub at: usize,
}

#[derive(Debug, Clone)]
pub(super) enum Tok {
    Ref(Ref),
    Num(f64),
    Str(String),
    Bool(bool),
    Null,
    Bin(BinOp),
    And,
    Or,
    Not,
    Minus,
    LParen,
    RParen,
}

/// Binary operators other than `&&`/`||`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `contains`
    Contains,
    /// `not_contains`, `!contains`
    NotContains,
    /// `starts_with`
    StartsWith,
    /// `ends_with`
    EndsWith,
    /// `matches` (regular expression)
    Matches,
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Rem,
}

impl BinOp {
    /// Left and right binding power.
    pub(super) fn power(self) -> (u8, u8) {
        match self {
            Self::Add | Self::Sub => (7, 8),
            Self::Mul | Self::Div | Self::Rem => (9, 10),
            _ => (5, 6),
        }
    }
}

pub(super) fn tokenize(src: &str, names: &StepNames<'_>) -> Result<Vec<Token>, ExprError> {
    let bytes = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let at = i;
        let kind = match c {
            b' ' | b'\t' | b'\n' | b'\r' => {
                i += 1;
                continue;
            }
            b'{' | b'[' if bytes.get(i + 1) == Some(&c) => {
                let square = c == b'[';
                let close = if square { "]]" } else { "}}" };
                let end = src[i + 2..].find(close).ok_or_else(|| ExprError::new(src, at, "unclosed reference"))?;
                let raw = &src[i..i + end + 4];
                let r = Ref::parse(raw, names)
                    .ok_or_else(|| ExprError::new(src, at, format!("invalid reference `{raw}`")))?;
                i += end + 4;
                Tok::Ref(r)
            }
            b'"' | b'\'' => {
                let (s, next) = string(src, i)?;
                i = next;
                Tok::Str(s)
            }
            b'0'..=b'9' | b'.' => {
                let start = i;
                while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'.') {
                    i += 1;
                }
                let text = &src[start..i];
                Tok::Num(text.parse().map_err(|_| ExprError::new(src, start, format!("bad number `{text}`")))?)
            }
            b'(' => {
                i += 1;
                Tok::LParen
            }
            b')' => {
                i += 1;
                Tok::RParen
            }
            b'-' => {
                i += 1;
                Tok::Minus
            }
            b'+' | b'*' | b'/' | b'%' => {
                i += 1;
                Tok::Bin(match c {
                    b'+' => BinOp::Add,
                    b'*' => BinOp::Mul,
                    b'/' => BinOp::Div,
                    _ => BinOp::Rem,
                })
            }
            b'&' | b'|' => {
                if bytes.get(i + 1) != Some(&c) {
                    return Err(ExprError::new(src, at, format!("expected `{0}{0}`", c as char)));
                }
                i += 2;
                if c == b'&' { Tok::And } else { Tok::Or }
            }
            b'=' | b'!' | b'<' | b'>' => {
                let eq = bytes.get(i + 1) == Some(&b'=');
                i += if eq { 2 } else { 1 };
                match (c, eq) {
                    (b'=', true) => Tok::Bin(BinOp::Eq),
                    (b'=', false) => return Err(ExprError::new(src, at, "use `==` to compare")),
                    (b'!', true) => Tok::Bin(BinOp::Ne),
                    (b'!', false) if word_at(src, i) == "contains" => {
                        i += "contains".len();
                        Tok::Bin(BinOp::NotContains)
                    }
                    (b'!', false) => Tok::Not,
                    (b'<', true) => Tok::Bin(BinOp::Le),
                    (b'<', false) => Tok::Bin(BinOp::Lt),
                    (b'>', true) => Tok::Bin(BinOp::Ge),
                    _ => Tok::Bin(BinOp::Gt),
                }
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let word = word_at(src, i);
                i += word.len();
                match word {
                    "true" => Tok::Bool(true),
                    "false" => Tok::Bool(false),
                    "null" => Tok::Null,
                    "and" | "AND" => Tok::And,
                    "or" | "OR" => Tok::Or,
                    "not" | "NOT" => Tok::Not,
                    "contains" => Tok::Bin(BinOp::Contains),
                    "not_contains" => Tok::Bin(BinOp::NotContains),
                    "starts_with" => Tok::Bin(BinOp::StartsWith),
                    "ends_with" => Tok::Bin(BinOp::EndsWith),
                    "matches" => Tok::Bin(BinOp::Matches),
                    other => {
                        return Err(ExprError::new(
                            src,
                            at,
                            format!("unknown word `{other}` (quote text, or write {{{{{other}}}}} for a variable)"),
                        ));
                    }
                }
            }
            _ => {
                let ch = src[i..].chars().next().unwrap_or('?');
                return Err(ExprError::new(src, at, format!("unexpected character `{ch}`")));
            }
        };
        out.push(Token { kind, at });
    }
    Ok(out)
}

fn word_at(src: &str, start: usize) -> &str {
    let end = src[start..].find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).map_or(src.len(), |n| start + n);
    &src[start..end]
}

fn string(src: &str, start: usize) -> Result<(String, usize), ExprError> {
    let quote = src[start..].chars().next().unwrap_or('"');
    let mut out = String::new();
    let mut chars = src[start + 1..].char_indices();
    while let Some((off, c)) = chars.next() {
        match c {
            c if c == quote => return Ok((out, start + 1 + off + c.len_utf8())),
            '\\' => match chars.next() {
                Some((_, 'n')) => out.push('\n'),
                Some((_, 't')) => out.push('\t'),
                Some((_, 'r')) => out.push('\r'),
                Some((_, other)) => out.push(other),
                None => break,
            },
            c => out.push(c),
        }
    }
    Err(ExprError::new(src, start, "unterminated string"))
}
