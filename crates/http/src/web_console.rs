//! Serves the web console: its hashed assets (cached for good), the offline API browser
//! at `/docs/`, and `index.html` for any other page a browser asks for, so deep links and
//! reloads work. Files come from the binary, or from `GANTRY_WEB_DIR` when set (a console
//! being developed, rebuilt without rebuilding the server).

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::OnceLock;

/// Paths that belong to the APIs: never answered with the console's page.
const API_PREFIXES: &[&str] = &["/api/", "/ws", "/files/", "/console/", "/metrics", "/openapi.json", "/comfy"];

const PAGE_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
    img-src 'self' data: blob: http: https:; media-src 'self' data: blob: http: https:; connect-src 'self' ws: wss:; \
    frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

fn dev_dir() -> Option<&'static PathBuf> {
    static DIR: OnceLock<Option<PathBuf>> = OnceLock::new();
    DIR.get_or_init(|| std::env::var_os("GANTRY_WEB_DIR").map(PathBuf::from)).as_ref()
}

/// A console file's bytes and their gzip copy, when there is one.
struct Loaded {
    body: Cow<'static, [u8]>,
    gzip: Option<Cow<'static, [u8]>>,
}

/// The console file at `path`.
fn load(path: &str) -> Option<Loaded> {
    if path.split('/').any(|part| part == ".." || part.is_empty()) {
        return None;
    }
    match dev_dir() {
        Some(dir) => {
            let body = std::fs::read(dir.join(path)).ok()?;
            Some(Loaded { body: Cow::Owned(body), gzip: None })
        }
        None => {
            gantry_web::asset(path).map(|a| Loaded { body: Cow::Borrowed(a.body), gzip: a.gzip.map(Cow::Borrowed) })
        }
    }
}

fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers.get_all(header::ACCEPT_ENCODING).iter().any(|v| v.to_str().is_ok_and(|v| v.contains("gzip")))
}

/// Answers a console file, or `None` when there is none at `path`.
fn file(path: &str, headers: &HeaderMap, cache: &'static str) -> Option<Response> {
    let Loaded { body, gzip } = load(path)?;
    let mut response = match gzip.filter(|_| accepts_gzip(headers)) {
        Some(gzip) => {
            let mut response = Body::from(gzip).into_response();
            response.headers_mut().insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            response
        }
        None => Body::from(body).into_response(),
    };
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(gantry_web::content_type(path)));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if path.ends_with(".html") {
        h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(PAGE_POLICY));
        h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    }
    Some(response)
}

/// The console's answer to a request no API route took, or `None` to let the API's
/// 404/405 stand: GET/HEAD only, outside the API paths.
pub fn answer(method: &Method, path: &str, headers: &HeaderMap) -> Option<Response> {
    if method != Method::GET && method != Method::HEAD {
        return None;
    }
    if API_PREFIXES.iter().any(|prefix| path.starts_with(prefix)) {
        return None;
    }
    if let Some(asset) = path.strip_prefix("/assets/") {
        let found = file(&format!("assets/{asset}"), headers, "public, max-age=31536000, immutable");
        return Some(found.unwrap_or_else(|| StatusCode::NOT_FOUND.into_response()));
    }
    if path == "/docs" {
        return Some(Redirect::permanent("/docs/").into_response());
    }
    if let Some(rest) = path.strip_prefix("/docs/") {
        let name = if rest.is_empty() { "index.html" } else { rest };
        let found = file(&format!("docs/{name}"), headers, "no-cache");
        return Some(found.unwrap_or_else(|| StatusCode::NOT_FOUND.into_response()));
    }
    // Any other page, for a browser (its navigations ask for text/html): the console's entry,
    // whose router shows the page (or its own 404). API clients (`*/*`, JSON, no Accept)
    // keep the dialect's JSON 404.
    let wants_page =
        headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|accept| accept.contains("text/html"));
    if !wants_page {
        return None;
    }
    file("index.html", headers, "no-cache")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn html() -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, HeaderValue::from_static("text/html,application/xhtml+xml"));
        headers
    }

    #[test]
    fn pages_get_the_console_and_api_paths_do_not() {
        let page = answer(&Method::GET, "/machines/host1", &html()).map(|r| r.status());
        assert_eq!(page, Some(StatusCode::OK));
        assert!(answer(&Method::GET, "/api/nothing", &html()).is_none());
        assert!(answer(&Method::POST, "/studio", &html()).is_none());
        let mut json = HeaderMap::new();
        json.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
        assert!(answer(&Method::GET, "/studio", &json).is_none(), "a JSON client keeps the JSON 404");
        let mut any = HeaderMap::new();
        any.insert(header::ACCEPT, HeaderValue::from_static("*/*"));
        assert!(answer(&Method::GET, "/", &any).is_none(), "so does curl");
        assert!(answer(&Method::GET, "/", &HeaderMap::new()).is_none());
        let missing = answer(&Method::GET, "/assets/../index.html", &html()).map(|r| r.status());
        assert_eq!(missing, Some(StatusCode::NOT_FOUND));
    }
}
