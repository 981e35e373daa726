//! The one error type of this crate and its mapping from transport errors.

use serde_json::Value;
use tokio_tungstenite::tungstenite;

/// Longest response body kept in an error, in bytes.
const MAX_ERROR_BODY: usize = 4096;

/// What went wrong talking to a ComfyUI instance.
#[derive(Debug, thiserror::Error)]
pub enum ComfyError {
    /// The instance could not be reached: connect error, timeout, connection reset,
    /// or an unusable base URL. Treat the instance as down.
    #[error("ComfyUI unreachable: {0}")]
    Unreachable(String),
    /// The instance answered with a status this client did not expect.
    #[error("ComfyUI answered HTTP {status}: {body}")]
    Http { status: u16, body: String },
    /// ComfyUI rejected the prompt: a 400 from `POST /prompt`, or a 200 whose
    /// `node_errors` is not empty (some outputs were dropped).
    #[error("ComfyUI rejected the prompt: {message}")]
    Invalid { message: String, error: Value, node_errors: Value },
    /// A response or event this client could not understand.
    #[error("ComfyUI protocol error: {0}")]
    Protocol(String),
}

impl ComfyError {
    /// True when the instance itself looks down (as opposed to rejecting a request).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, Self::Unreachable(_))
    }

    /// An [`ComfyError::Http`] with the body cut to a loggable length.
    pub(crate) fn http(status: u16, body: &[u8]) -> Self {
        Self::Http { status, body: truncated(body) }
    }

    /// A [`ComfyError::Protocol`] naming what was expected and quoting the body.
    pub(crate) fn unexpected_body(what: &str, body: &[u8]) -> Self {
        Self::Protocol(format!("{what}; body: {}", truncated(body)))
    }
}

/// The body as lossy UTF-8, cut at [`MAX_ERROR_BODY`] bytes on a char boundary.
fn truncated(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    if text.len() <= MAX_ERROR_BODY {
        return text.into_owned();
    }
    let mut end = MAX_ERROR_BODY;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

impl From<reqwest::Error> for ComfyError {
    fn from(err: reqwest::Error) -> Self {
        // reqwest's Display hides the cause ("error sending request"); append it.
        let detail = match std::error::Error::source(&err) {
            Some(source) => format!("{err}: {source}"),
            None => err.to_string(),
        };
        if err.is_decode() || err.is_redirect() {
            Self::Protocol(detail)
        } else if let Some(status) = err.status() {
            Self::Http { status: status.as_u16(), body: String::new() }
        } else {
            // Connect, timeout, reset while sending or reading, bad URL.
            Self::Unreachable(detail)
        }
    }
}

impl From<tungstenite::Error> for ComfyError {
    fn from(err: tungstenite::Error) -> Self {
        use tungstenite::Error as E;
        use tungstenite::error::ProtocolError;
        match err {
            E::Http(response) => {
                let status = response.status().as_u16();
                let body = response.body().as_deref().unwrap_or_default();
                Self::http(status, body)
            }
            E::Protocol(ProtocolError::ResetWithoutClosingHandshake) => {
                Self::Unreachable("WebSocket connection reset".to_owned())
            }
            E::Capacity(_) | E::Utf8(_) | E::Protocol(_) | E::AttackAttempt => {
                Self::Protocol(format!("WebSocket: {err}"))
            }
            other => Self::Unreachable(format!("WebSocket: {other}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncates_long_bodies_on_char_boundary() {
        let body = "é".repeat(MAX_ERROR_BODY);
        let cut = truncated(body.as_bytes());
        assert!(cut.len() <= MAX_ERROR_BODY + '…'.len_utf8());
        assert!(cut.ends_with('…'));
        assert_eq!(truncated(b"short"), "short");
    }

    #[test]
    fn only_unreachable_is_unreachable() {
        assert!(ComfyError::Unreachable("x".into()).is_unreachable());
        assert!(!ComfyError::Protocol("x".into()).is_unreachable());
        assert!(!ComfyError::http(500, b"boom").is_unreachable());
    }
}
