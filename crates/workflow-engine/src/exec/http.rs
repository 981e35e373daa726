//! `http_request`: reqwest with a timeout, a body cap and the SSRF guard.

use std::error::Error;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use reqwest::redirect::{Attempt, Policy};
use reqwest::{Client, Method, Url};
use serde_json::{Map, Value};

use super::host::HttpPolicy;
use super::net_guard::{GuardedResolver, Refused, is_internal, literal_ip};
use super::plan::Inputs;
use crate::value::{number, to_text};

/// Clients per (allow_internal, max_redirects), built on first use and reused.
#[derive(Default)]
pub(crate) struct HttpClients {
    built: Mutex<Vec<((bool, usize), Client)>>,
}

impl HttpClients {
    fn get(&self, policy: &HttpPolicy) -> Result<Client, String> {
        let key = (policy.allow_internal, policy.max_redirects);
        let mut built = self.built.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, c)) = built.iter().find(|(k, _)| *k == key) {
            return Ok(c.clone());
        }
        let (allow, max) = key;
        let redirect = Policy::custom(move |attempt: Attempt<'_>| {
            if attempt.previous().len() > max {
                return attempt.error(format!("more than {max} redirects"));
            }
            match check_url(attempt.url(), allow) {
                Ok(()) => attempt.follow(),
                Err(e) => attempt.error(e),
            }
        });
        let mut builder = Client::builder()
            .redirect(redirect)
            .user_agent(concat!("gantry-workflow-engine/", env!("CARGO_PKG_VERSION")));
        if !allow {
            builder = builder.dns_resolver(Arc::new(GuardedResolver));
        }
        let client = builder.build().map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        built.push((key, client.clone()));
        Ok(client)
    }
}

/// Scheme must be http(s); a literal internal IP is refused unless allowed.
fn check_url(url: &Url, allow_internal: bool) -> Result<(), String> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("unsupported scheme `{}`", url.scheme()));
    }
    let host = url.host_str().ok_or("URL has no host")?;
    if !allow_internal && literal_ip(host).is_some_and(is_internal) {
        return Err(Refused(host.to_owned()).to_string());
    }
    Ok(())
}

struct Request {
    url: Url,
    method: Method,
    headers: HeaderMap,
    body: Option<(String, bool)>,
    timeout: Duration,
}

fn build_request(inputs: &Inputs<'_>, policy: &HttpPolicy) -> Result<Request, String> {
    let url_text = inputs.required_text("url")?;
    let url = Url::parse(url_text.trim()).map_err(|e| format!("invalid URL `{url_text}`: {e}"))?;
    check_url(&url, policy.allow_internal)?;
    let method_text = inputs.text("method").to_ascii_uppercase();
    let method = match method_text.as_str() {
        "" | "GET" => Method::GET,
        "POST" => Method::POST,
        "PUT" => Method::PUT,
        "DELETE" => Method::DELETE,
        "PATCH" => Method::PATCH,
        "HEAD" => Method::HEAD,
        other => return Err(format!("unsupported method `{other}`")),
    };
    let mut headers = HeaderMap::new();
    match inputs.get("headers") {
        None => {}
        Some(Value::Object(map)) => {
            for (k, v) in map {
                let name = HeaderName::from_bytes(k.as_bytes()).map_err(|_| format!("invalid header name `{k}`"))?;
                let value =
                    HeaderValue::from_str(&to_text(v)).map_err(|_| format!("invalid value for header `{k}`"))?;
                headers.insert(name, value);
            }
        }
        Some(other) => return Err(format!("`headers` must be a dictionary, got `{}`", to_text(other))),
    }
    let body = match inputs.get("body") {
        None => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) => {
            let t = s.trim_start();
            Some((s.clone(), t.starts_with('{') || t.starts_with('[')))
        }
        Some(other) => Some((other.to_string(), true)),
    };
    let secs = inputs.number("timeout")?.unwrap_or(30.0);
    // Any number, however large (`1e300`), infinite or negative, ends up within (0, max].
    let timeout =
        Duration::try_from_secs_f64(secs.max(0.001)).map_or(policy.max_timeout, |t| t.min(policy.max_timeout));
    Ok(Request { url, method, headers, body, timeout })
}

/// Sends the request; outputs `statusCode`, `body`, `headers`.
pub(crate) async fn http_request(
    clients: &HttpClients,
    policy: HttpPolicy,
    inputs: &Inputs<'_>,
) -> Result<Map<String, Value>, String> {
    let req = build_request(inputs, &policy)?;
    let client = clients.get(&policy)?;
    let url_text = req.url.to_string();
    let mut builder = client.request(req.method, req.url).headers(req.headers.clone()).timeout(req.timeout);
    if let Some((body, looks_json)) = req.body {
        if looks_json && !req.headers.contains_key(CONTENT_TYPE) {
            builder = builder.header(CONTENT_TYPE, "application/json");
        }
        builder = builder.body(body);
    }
    let mut resp = builder.send().await.map_err(|e| format!("request to {url_text} failed: {}", chain(&e)))?;
    let status = resp.status().as_u16();
    let mut headers = Map::new();
    for (name, value) in resp.headers() {
        let v = String::from_utf8_lossy(value.as_bytes()).into_owned();
        match headers.get_mut(name.as_str()) {
            Some(Value::String(prev)) => {
                prev.push_str(", ");
                prev.push_str(&v);
            }
            _ => {
                headers.insert(name.as_str().to_owned(), Value::String(v));
            }
        }
    }
    let cap = policy.max_response_bytes;
    if resp.content_length().is_some_and(|n| n > cap as u64) {
        return Err(format!("response body exceeds {cap} bytes"));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| format!("reading the response failed: {}", chain(&e)))? {
        if body.len() + chunk.len() > cap {
            return Err(format!("response body exceeds {cap} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    let mut out = Map::new();
    out.insert("statusCode".into(), number(f64::from(status)));
    out.insert("body".into(), Value::String(String::from_utf8_lossy(&body).into_owned()));
    out.insert("headers".into(), Value::Object(headers));
    Ok(out)
}

/// An error with its sources, `a: b: c`, so guard refusals inside reqwest errors show.
fn chain(e: &dyn Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(src) = cur {
        let text = src.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        cur = src.source();
    }
    s
}
