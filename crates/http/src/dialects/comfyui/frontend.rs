//! ComfyUI's own web front end at `/comfy/`, from the PyPI package
//! `comfyui-frontend-package` when `http.comfyui_frontend_dir` names its `static` directory
//! (the package is GPL-3.0: installed next to Gantry, never part of it). Its page and
//! assets are public files; everything it calls is a virtual ComfyUI route and needs the
//! caller's credentials (a browser asks for them: the routes answer 401 with a Basic
//! challenge). Workflow templates (the `comfyui-workflow-templates` package) are not
//! served: `templates/index.json` is an empty list.

use crate::state::AppState;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::path::Path;

/// The front end's progress favicons, which it asks for at the root.
const FAVICON_FRAMES: &str = "assets/images/favicon_progress_16x16/";

/// The answer to `path` (under `/comfy/`, or one of [`FAVICON_FRAMES`]) from the front end's files, if it names one.
pub async fn answer(state: &AppState, method: &Method, path: &str) -> Option<Response> {
    if method != Method::GET && method != Method::HEAD {
        return None;
    }
    let dir = state.config.http.comfyui_frontend_dir.as_deref();
    if path == super::PREFIX && dir.is_some() {
        // The page's links are relative to its directory.
        return Some(axum::response::Redirect::permanent("/comfy/").into_response());
    }
    // The page animates its favicon from an absolute path, as if served at the root.
    let relative = match path.strip_prefix('/') {
        Some(rooted) if rooted.starts_with(FAVICON_FRAMES) => rooted,
        _ => path.strip_prefix(super::PREFIX)?.strip_prefix('/')?,
    };
    if relative == "templates/index.json" {
        return Some(([(header::CONTENT_TYPE, "application/json")], "[]").into_response());
    }
    let dir = dir?;
    let relative = if relative.is_empty() { "index.html" } else { relative };
    if relative.split('/').any(|part| part.is_empty() || part == "." || part == ".." || part.contains('\\')) {
        return None;
    }
    let file = Path::new(dir).join(relative);
    let bytes = tokio::fs::read(&file).await.ok()?;
    let kind = mime_guess::from_path(&file).first_or_octet_stream();
    let mut response = (StatusCode::OK, bytes).into_response();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(kind.as_ref()) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    // The page names its hashed assets: the page is checked each time, the rest kept.
    let cache = if relative == "index.html" { "no-cache" } else { "public, max-age=86400" };
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    Some(response)
}
