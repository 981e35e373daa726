//! ComfyUI's own web front end at `/comfy/`, from the PyPI package
//! `comfyui-frontend-package` when `http.comfyui_frontend_dir` names its `static` directory
//! (the package is GPL-3.0: installed next to Gantry, never part of it). Its page and
//! assets are public files; everything it calls is a virtual ComfyUI route and needs the
//! caller's credentials (a browser asks for them: the routes answer 401 with a Basic
//! challenge). Workflow templates (the `comfyui-workflow-templates` package) are not
//! served: `templates/index.json` is an empty list.

use crate::state::AppState;
use axum::body::Body;
use axum::http::{HeaderValue, Method, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tower::ServiceExt;
use tower_http::services::ServeDir;

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
    // tower-http's ServeDir: types, HEAD, ranges, and no way out of the directory.
    let request = Request::builder().method(method.clone()).uri(format!("/{relative}")).body(Body::empty()).ok()?;
    let mut response = ServeDir::new(dir?).oneshot(request).await.ok()?;
    if response.status() == StatusCode::NOT_FOUND {
        return None;
    }
    let headers = response.headers_mut();
    // The page names its hashed assets: the page is checked each time, the rest kept.
    let page = relative.is_empty() || relative == "index.html";
    let cache = if page { "no-cache" } else { "public, max-age=86400" };
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    Some(response.map(Body::new))
}
