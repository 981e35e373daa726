//! The reverse-proxy route table: which backend (`ip:port`) serves a `(Host, path)` pair.
//!
//! Pure and thread-safe; the HTTP layer consults it on every request, so [`ProxyTable::resolve`]
//! takes a read lock, does one hash lookup by the lower-cased host and scans that domain's few
//! routes, which are kept sorted longest prefix first.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{PoisonError, RwLock};

/// One reverse-proxy entry (OpenIDCS `pxyadd`): requests for `domain` whose path starts with
/// `path_prefix` go to `target`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyRoute {
    /// Stable id, unique in the table.
    pub id: String,
    /// Host name, matched case-insensitively and without a port.
    pub domain: String,
    /// Path prefix, matched on segment boundaries (`/app` matches `/app` and `/app/x`, not
    /// `/apple`); `""` or `"/"` matches every path.
    pub path_prefix: String,
    /// Where matching requests are forwarded.
    pub target: SocketAddr,
}

/// A route as stored: its prefix normalised (no trailing `/`; `""` = everything).
#[derive(Debug)]
struct Entry {
    prefix: String,
    target: SocketAddr,
    route: ProxyRoute,
}

#[derive(Debug, Default)]
struct Routes {
    /// Lower-cased domain → its routes, longest prefix first.
    by_domain: HashMap<String, Vec<Entry>>,
    /// Route id → its lower-cased domain.
    by_id: HashMap<String, String>,
}

impl Routes {
    fn insert(&mut self, route: ProxyRoute) {
        self.remove(&route.id);
        let domain = normalize_host(&route.domain);
        let prefix = normalize_prefix(&route.path_prefix);
        self.by_id.insert(route.id.clone(), domain.clone());
        let list = self.by_domain.entry(domain).or_default();
        list.push(Entry { prefix, target: route.target, route });
        list.sort_by_key(|e| std::cmp::Reverse(e.prefix.len()));
    }

    fn remove(&mut self, id: &str) -> bool {
        let Some(domain) = self.by_id.remove(id) else { return false };
        if let Some(list) = self.by_domain.get_mut(&domain) {
            list.retain(|e| e.route.id != id);
            if list.is_empty() {
                self.by_domain.remove(&domain);
            }
        }
        true
    }
}

/// The route table. Cheap reads, serialised writes.
#[derive(Debug, Default)]
pub struct ProxyTable {
    routes: RwLock<Routes>,
}

impl ProxyTable {
    /// Adds a route, or replaces the one with the same id.
    pub fn upsert(&self, route: ProxyRoute) {
        self.routes.write().unwrap_or_else(PoisonError::into_inner).insert(route);
    }

    /// Removes a route by id; false if there was none.
    pub fn remove(&self, id: &str) -> bool {
        self.routes.write().unwrap_or_else(PoisonError::into_inner).remove(id)
    }

    /// Replaces the whole table (e.g. after loading every VM's routes at startup).
    pub fn replace_all(&self, routes: Vec<ProxyRoute>) {
        let mut fresh = Routes::default();
        for route in routes {
            fresh.insert(route);
        }
        *self.routes.write().unwrap_or_else(PoisonError::into_inner) = fresh;
    }

    /// The backend for a request: `host` may carry a port and any case; the longest prefix of
    /// `path` (on segment boundaries) among the host's routes wins.
    pub fn resolve(&self, host: &str, path: &str) -> Option<SocketAddr> {
        let host = strip_port(host).trim_end_matches('.');
        let routes = self.routes.read().unwrap_or_else(PoisonError::into_inner);
        if routes.by_domain.is_empty() {
            return None;
        }
        let list = if host.bytes().any(|b| b.is_ascii_uppercase()) {
            routes.by_domain.get(&host.to_ascii_lowercase())
        } else {
            routes.by_domain.get(host)
        }?;
        list.iter().find(|e| prefix_matches(&e.prefix, path)).map(|e| e.target)
    }

    /// Every route, ordered by id.
    pub fn list(&self) -> Vec<ProxyRoute> {
        let routes = self.routes.read().unwrap_or_else(PoisonError::into_inner);
        let mut out: Vec<ProxyRoute> = routes.by_domain.values().flatten().map(|e| e.route.clone()).collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out
    }
}

/// `Example.COM:8080` → `example.com`; `[::1]:80` → `[::1]`.
fn normalize_host(host: &str) -> String {
    strip_port(host.trim()).trim_end_matches('.').to_ascii_lowercase()
}

fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.find(']').map_or(host, |end| &host[..=end]);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

/// `/app/` → `/app`, `app` → `/app`, `/` and `""` → `""`.
fn normalize_prefix(prefix: &str) -> String {
    let trimmed = prefix.trim().trim_end_matches('/');
    if trimmed.is_empty() {
        String::new()
    } else if trimmed.starts_with('/') {
        trimmed.to_owned()
    } else {
        format!("/{trimmed}")
    }
}

fn prefix_matches(prefix: &str, path: &str) -> bool {
    match path.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.starts_with('/') || rest.starts_with('?'),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(id: &str, domain: &str, prefix: &str, port: u16) -> ProxyRoute {
        ProxyRoute {
            id: id.into(),
            domain: domain.into(),
            path_prefix: prefix.into(),
            target: SocketAddr::from(([127, 0, 0, 1], port)),
        }
    }

    fn port(table: &ProxyTable, host: &str, path: &str) -> Option<u16> {
        table.resolve(host, path).map(|a| a.port())
    }

    #[test]
    fn hosts_match_without_case_or_port() {
        let t = ProxyTable::default();
        assert_eq!(port(&t, "app.example.test", "/"), None);
        t.upsert(route("a", "App.Example.Test", "", 1));
        assert_eq!(port(&t, "app.example.test", "/"), Some(1));
        assert_eq!(port(&t, "APP.example.test:8443", "/x/y"), Some(1));
        assert_eq!(port(&t, "other.example.test", "/"), None);
        assert_eq!(port(&t, "example.test", "/"), None);
    }

    #[test]
    fn longest_prefix_on_segment_boundaries_wins() {
        let t = ProxyTable::default();
        t.upsert(route("root", "h", "/", 1));
        t.upsert(route("app", "h", "/app/", 2));
        t.upsert(route("deep", "h", "app/api", 3));
        assert_eq!(port(&t, "h", "/"), Some(1));
        assert_eq!(port(&t, "h", "/apple"), Some(1));
        assert_eq!(port(&t, "h", "/app"), Some(2));
        assert_eq!(port(&t, "h", "/app/index.html"), Some(2));
        assert_eq!(port(&t, "h", "/app/api"), Some(3));
        assert_eq!(port(&t, "h", "/app/api/v1"), Some(3));
        assert_eq!(port(&t, "h", "/app/apis"), Some(2));
        t.remove("root");
        assert_eq!(port(&t, "h", "/apple"), None);
    }

    #[test]
    fn upsert_replaces_remove_and_replace_all() {
        let t = ProxyTable::default();
        t.upsert(route("a", "one", "", 1));
        t.upsert(route("a", "two", "/x", 2));
        assert_eq!(port(&t, "one", "/"), None);
        assert_eq!(port(&t, "two", "/x/1"), Some(2));
        assert_eq!(t.list(), vec![route("a", "two", "/x", 2)]);
        assert!(t.remove("a"));
        assert!(!t.remove("a"));
        assert!(t.list().is_empty());
        t.upsert(route("old", "old", "", 9));
        t.replace_all(vec![route("b", "b", "", 3), route("c", "c", "", 4)]);
        assert_eq!(port(&t, "old", "/"), None);
        assert_eq!(port(&t, "c", "/"), Some(4));
        assert_eq!(t.list().iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["b", "c"]);
    }

    #[test]
    fn strips_ports_of_names_and_ipv6_literals() {
        assert_eq!(strip_port("a.b:80"), "a.b");
        assert_eq!(strip_port("a.b"), "a.b");
        assert_eq!(strip_port("[::1]:80"), "[::1]");
        assert_eq!(strip_port("[::1]"), "[::1]");
        assert_eq!(normalize_host(" Example.COM.:3000 "), "example.com");
    }

    #[test]
    fn concurrent_reads_and_writes() {
        let t = std::sync::Arc::new(ProxyTable::default());
        let writers: Vec<_> = (0..4u16)
            .map(|i| {
                let t = t.clone();
                std::thread::spawn(move || {
                    for j in 0..200u16 {
                        t.upsert(route(&format!("{i}-{j}"), &format!("h{i}"), &format!("/p{j}"), j + 1));
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        assert_eq!(t.list().len(), 800);
        assert_eq!(port(&t, "h2", "/p17/x"), Some(18));
    }
}
