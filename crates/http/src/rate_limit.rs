//! vflow's rate limits: fixed windows per (class, caller). Token issuance (`auth`) and
//! webhooks are counted per client IP whatever `Authorization` says; `execute` (runs and
//! webhooks), `query` (GET) and `modify` (everything else) per bearer token, or per IP
//! without one. Each class has its own
//! window, so one kind of request never uses up another's allowance. Every vflow answer
//! carries `X-RateLimit-Limit/Remaining/Reset` (reset in Unix ms); over the limit the
//! answer is 429 with code 7001 and `details {limit, remaining, resetAt}`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, Method};
use axum::middleware::Next;
use axum::response::Response;
use gantry_core::config::RateLimits;
use gantry_core::limits::{FixedWindows, Tally, WindowStart};
use gantry_core::{Clock, Dialect};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::envelope::{Envelope, Vflow};
use crate::error::{ApiError, ErrorKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Class {
    Auth,
    Execute,
    Query,
    Modify,
}

/// The shared counters, in windows aligned to multiples of the window length and counting
/// only allowed requests. Cheap to clone.
#[derive(Clone)]
pub struct Limiter {
    limits: RateLimits,
    clock: Arc<dyn Clock>,
    windows: Arc<FixedWindows<(Class, String)>>,
}

impl Limiter {
    /// Counters for `limits`, windows timed by `clock`.
    pub fn new(limits: RateLimits, clock: Arc<dyn Clock>) -> Self {
        let window = Duration::from_secs(limits.window_secs.max(1));
        Self { limits, clock, windows: Arc::new(FixedWindows::new(window, WindowStart::Aligned)) }
    }

    fn limit(&self, class: Class) -> u32 {
        match class {
            Class::Auth => self.limits.auth,
            Class::Execute => self.limits.execute,
            Class::Query => self.limits.query,
            Class::Modify => self.limits.modify,
        }
    }

    fn count(&self, class: Class, key: String, now_ms: i64) -> Tally {
        self.windows.take((class, key), now_ms, self.limit(class))
    }
}

fn classify(method: &Method, path: &str) -> Class {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (method, segments.as_slice()) {
        (&Method::POST, ["api", "v1", "auth", "token"]) => Class::Auth,
        (&Method::POST, ["api", "v1", "workflows", _, "execute"]) | (_, ["api", "v1", "webhooks", ..]) => {
            Class::Execute
        }
        (&Method::GET | &Method::HEAD, _) => Class::Query,
        _ => Class::Modify,
    }
}

fn client_ip(request: &Request) -> String {
    let resolved = request.extensions().get::<crate::client_addr::ClientAddr>().map(|c| c.0);
    let peer = || request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    resolved.or_else(peer).map_or_else(|| "unknown".to_owned(), |ip| ip.to_string())
}

/// Whether requests for `path` are counted (vflow's routes are).
pub fn limits(path: &str) -> bool {
    crate::dialects::dialect_for_path(path) == Dialect::Vflow
}

/// Counts vflow requests and answers 429 past the limit; other dialects pass through.
pub async fn enforce(State(limiter): State<Limiter>, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    if !limits(&path) {
        return next.run(request).await;
    }
    let class = classify(request.method(), &path);
    // Routes that take no token (token issuance, webhooks) count per client address, so a
    // new made-up `Authorization` header per request does not buy a new window.
    let tokenless = class == Class::Auth || path.starts_with("/api/v1/webhooks/");
    let key = match crate::extract::bearer(request.headers()) {
        Some(token) if !tokenless => format!("token:{}", hex::encode(Sha256::digest(token.as_bytes()))),
        _ => format!("ip:{}", client_ip(&request)),
    };
    let verdict = limiter.count(class, key, limiter.clock.now_ms());
    let mut response = if verdict.allowed {
        next.run(request).await
    } else {
        let error = ApiError::new(ErrorKind::RateLimited, "Rate limit exceeded").with_details(json!({
            "limit": verdict.limit, "remaining": 0, "resetAt": verdict.reset_at_ms,
        }));
        Vflow::render_error(&error)
    };
    let headers = response.headers_mut();
    for (name, value) in [
        ("x-ratelimit-limit", i64::from(verdict.limit)),
        ("x-ratelimit-remaining", i64::from(verdict.remaining)),
        ("x-ratelimit-reset", verdict.reset_at_ms),
    ] {
        headers.insert(name, HeaderValue::from(value));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_have_their_own_windows_per_caller() {
        let limits = RateLimits { window_secs: 60, auth: 1, execute: 2, query: 3, modify: 1 };
        let limiter = Limiter::new(limits, Arc::new(gantry_core::SystemClock));
        let t = 120_000;
        assert!(limiter.count(Class::Query, "a".into(), t).allowed);
        assert!(limiter.count(Class::Modify, "a".into(), t).allowed, "a query does not use up modify");
        assert!(!limiter.count(Class::Modify, "a".into(), t + 1).allowed);
        assert!(limiter.count(Class::Modify, "b".into(), t + 1).allowed, "another caller has its own window");
        let v = limiter.count(Class::Modify, "a".into(), t + 60_000);
        assert!(v.allowed, "a new window starts afresh");
        assert_eq!(v.reset_at_ms, 240_000);
        assert_eq!(classify(&Method::POST, "/api/v1/workflows/x/execute"), Class::Execute);
        assert_eq!(classify(&Method::POST, "/api/v1/auth/token"), Class::Auth);
        assert_eq!(classify(&Method::GET, "/api/v1/workflows"), Class::Query);
        assert_eq!(classify(&Method::DELETE, "/api/v1/workflows/x"), Class::Modify);
    }
}
