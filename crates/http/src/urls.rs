//! Absolute URLs for what Gantry serves (file links in answers and WebSocket messages).

use crate::state::AppState;
use axum::http::{HeaderMap, header};
use gantry_files::FileRecord;

/// The base URL clients reach Gantry at: `http.public_url`, else `http://<Host>`.
pub fn public_base(state: &AppState, headers: &HeaderMap) -> String {
    if let Some(url) = &state.config.http.public_url {
        return url.trim_end_matches('/').to_owned();
    }
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
    format!("http://{host}")
}

/// The absolute URL of a stored file.
pub fn file_url(base: &str, file: &FileRecord) -> String {
    format!("{base}{}", gantry_files::url_path(file))
}
