//! The fleet configuration comfy-manager's `/api/config` reads and writes: the servers
//! (each an IP with ComfyUI ports, expanding to instances `ip:port`), health checks and
//! dispatch settings. Times are milliseconds, as in the spec (`interval: 30000`).

use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::net::IpAddr;

/// One machine running ComfyUI instances.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServerConfig {
    /// Derived from the name (or the IP) when left out.
    #[serde(default)]
    pub id: String,
    pub name: String,
    /// IP address or host name.
    pub ip: String,
    /// One ComfyUI per port.
    pub ports: Vec<u16>,
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
}

fn enabled_by_default() -> bool {
    true
}

/// Health checks of every instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct HealthCheckConfig {
    /// Time between checks of a connected instance, ms.
    pub interval: u64,
    /// Time a check may take, ms.
    pub timeout: u64,
    /// Consecutive failed checks (or reconnects) before an instance counts as down.
    pub failure_threshold: u32,
}

impl Default for HealthCheckConfig {
    fn default() -> Self {
        Self { interval: 30_000, timeout: 5_000, failure_threshold: 3 }
    }
}

/// How tasks are dispatched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct DispatchConfig {
    /// Prompts waiting inside each ComfyUI beside the running one, so the GPU never waits for Gantry.
    pub prefetch: u32,
    /// Runs a task may start before it fails for lost instances.
    pub max_attempts: u32,
    /// Longest a task may run, ms; then it is interrupted and fails (`TIMEOUT`).
    pub task_timeout: u64,
    /// Most tasks waiting in Gantry's queue; more are refused (E003).
    pub max_queue: u64,
}

impl Default for DispatchConfig {
    fn default() -> Self {
        Self { prefetch: 1, max_attempts: 3, task_timeout: 30 * 60 * 1000, max_queue: 100_000 }
    }
}

/// The whole fleet configuration.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct FleetConfig {
    pub servers: Vec<ServerConfig>,
    pub health_check: HealthCheckConfig,
    pub dispatch: DispatchConfig,
}

/// One ComfyUI instance a configuration names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceSpec {
    /// `ip:port`.
    pub id: String,
    pub server_id: String,
    pub server_name: String,
    pub ip: String,
    pub port: u16,
    /// False when its server is disabled.
    pub server_enabled: bool,
}

impl InstanceSpec {
    /// The instance's HTTP base URL.
    pub fn base_url(&self) -> String {
        match self.ip.parse::<IpAddr>() {
            Ok(IpAddr::V6(v6)) => format!("http://[{v6}]:{}", self.port),
            _ => format!("http://{}:{}", self.ip, self.port),
        }
    }
}

impl FleetConfig {
    /// Checks the configuration, naming the first problem.
    pub fn validate(&self) -> Result<(), String> {
        let mut server_ids = HashSet::new();
        let mut instances = HashSet::new();
        for (i, server) in self.servers.iter().enumerate() {
            let at = format!("servers[{i}]");
            if server.id.trim().is_empty() || server.id.len() > 64 {
                return Err(format!("{at}.id must be 1-64 characters"));
            }
            if !server_ids.insert(server.id.as_str()) {
                return Err(format!("{at}.id `{}` is used twice", server.id));
            }
            if server.name.chars().count() > 64 {
                return Err(format!("{at}.name must be at most 64 characters"));
            }
            let host_ok = server.ip.parse::<IpAddr>().is_ok()
                || (!server.ip.is_empty()
                    && server.ip.len() <= 253
                    && server.ip.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.'));
            if !host_ok {
                return Err(format!("{at}.ip `{}` is not an IP address or host name", server.ip));
            }
            if server.ports.is_empty() || server.ports.len() > 64 {
                return Err(format!("{at}.ports must list 1-64 ports"));
            }
            for port in &server.ports {
                if *port == 0 {
                    return Err(format!("{at}.ports: 0 is not a port"));
                }
                if !instances.insert((server.ip.clone(), *port)) {
                    return Err(format!("{at}: instance {}:{port} is configured twice", server.ip));
                }
            }
        }
        let hc = &self.health_check;
        if !(100..=3_600_000).contains(&hc.interval) {
            return Err("healthCheck.interval must be 100-3600000 ms".into());
        }
        if !(100..=600_000).contains(&hc.timeout) {
            return Err("healthCheck.timeout must be 100-600000 ms".into());
        }
        if !(1..=100).contains(&hc.failure_threshold) {
            return Err("healthCheck.failureThreshold must be 1-100".into());
        }
        let d = &self.dispatch;
        if d.prefetch > 8 {
            return Err("dispatch.prefetch must be 0-8".into());
        }
        if !(1..=20).contains(&d.max_attempts) {
            return Err("dispatch.maxAttempts must be 1-20".into());
        }
        if d.task_timeout < 1_000 {
            return Err("dispatch.taskTimeout must be at least 1000 ms".into());
        }
        if d.max_queue == 0 {
            return Err("dispatch.maxQueue must be at least 1".into());
        }
        Ok(())
    }

    /// Every instance the servers expand to, in configuration order.
    pub fn instances(&self) -> Vec<InstanceSpec> {
        self.servers
            .iter()
            .flat_map(|s| {
                s.ports.iter().map(move |port| InstanceSpec {
                    id: format!("{}:{port}", s.ip),
                    server_id: s.id.clone(),
                    server_name: s.name.clone(),
                    ip: s.ip.clone(),
                    port: *port,
                    server_enabled: s.enabled,
                })
            })
            .collect()
    }
}

/// One change to the fleet configuration.
#[derive(Debug, Clone)]
pub enum ConfigChange {
    /// The whole configuration (`PUT`); omitted sections take their defaults.
    Replace(FleetConfig),
    /// An RFC 7396 merge patch of the configuration as `GET` shows it (`PATCH`): objects
    /// merge, anything else (the server list included) replaces, `null` removes.
    Merge(serde_json::Value),
    /// A new server.
    AddServer(ServerConfig),
    /// A server replaced, keeping its id.
    UpdateServer(String, ServerConfig),
    RemoveServer(String),
}

impl FleetConfig {
    /// The configuration `change` makes of this one (not yet validated). `Err` names why it
    /// cannot apply; `Ok(None)` when it names an unknown server.
    pub fn changed(&self, change: ConfigChange) -> Result<Option<FleetConfig>, String> {
        let mut next = self.clone();
        match change {
            ConfigChange::Replace(config) => next = config,
            ConfigChange::Merge(patch) => {
                if !patch.is_object() {
                    return Err("a configuration patch is a JSON object".into());
                }
                let mut doc = serde_json::to_value(self).map_err(|e| e.to_string())?;
                json_patch::merge(&mut doc, &patch);
                next = serde_json::from_value(doc).map_err(|e| e.to_string())?;
            }
            ConfigChange::AddServer(server) => {
                let id = if server.id.is_empty() { next.derived_id(&server) } else { server.id.clone() };
                if next.servers.iter().any(|s| s.id == id) {
                    return Err(format!("a server with id `{id}` exists already"));
                }
                next.servers.push(ServerConfig { id, ..server });
            }
            ConfigChange::UpdateServer(id, server) => {
                if !server.id.is_empty() && server.id != id {
                    return Err(format!("the body's id `{}` is not the server's id `{id}`", server.id));
                }
                let Some(slot) = next.servers.iter_mut().find(|s| s.id == id) else { return Ok(None) };
                *slot = ServerConfig { id, ..server };
            }
            ConfigChange::RemoveServer(id) => {
                let before = next.servers.len();
                next.servers.retain(|s| s.id != id);
                if next.servers.len() == before {
                    return Ok(None);
                }
            }
        }
        let mut taken: HashSet<String> = next.servers.iter().map(|s| s.id.clone()).collect();
        for i in 0..next.servers.len() {
            if next.servers[i].id.is_empty() {
                let id = unique(slug(&next.servers[i]), &taken);
                taken.insert(id.clone());
                next.servers[i].id = id;
            }
        }
        Ok(Some(next))
    }

    /// An id for `server` not used by another server here.
    fn derived_id(&self, server: &ServerConfig) -> String {
        unique(slug(server), &self.servers.iter().map(|s| s.id.clone()).collect())
    }

    /// What changed from `self` to `next`, in words (`servers: +lab2 -lab1 ~gpu; dispatch.prefetch: 1 → 2`).
    pub fn describe_change(&self, next: &FleetConfig) -> String {
        let mut parts = Vec::new();
        let mut servers = Vec::new();
        for s in &next.servers {
            match self.servers.iter().find(|o| o.id == s.id) {
                None => servers.push(format!("+{}", s.id)),
                Some(old) if old != s => servers.push(format!("~{}", s.id)),
                Some(_) => {}
            }
        }
        servers.extend(
            self.servers.iter().filter(|o| next.servers.iter().all(|s| s.id != o.id)).map(|o| format!("-{}", o.id)),
        );
        if !servers.is_empty() {
            parts.push(format!("servers: {}", servers.join(" ")));
        }
        let (old, new) =
            (serde_json::to_value(self).unwrap_or_default(), serde_json::to_value(next).unwrap_or_default());
        for section in ["healthCheck", "dispatch"] {
            let (Some(a), Some(b)) = (old[section].as_object(), new[section].as_object()) else { continue };
            for (key, value) in b {
                if a.get(key) != Some(value) {
                    parts.push(format!("{section}.{key}: {} → {value}", a.get(key).cloned().unwrap_or_default()));
                }
            }
        }
        if parts.is_empty() { "no change".into() } else { parts.join("; ") }
    }
}

/// A server id made of its name (or IP): lower-case letters, digits and dashes.
fn slug(server: &ServerConfig) -> String {
    let source = if server.name.trim().is_empty() { &server.ip } else { &server.name };
    let slug: String = source
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect::<String>()
        .split('-')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    let slug: String = slug.chars().take(56).collect();
    if slug.is_empty() { "server".into() } else { slug }
}

/// `base`, or `base-2`, `base-3`… whichever is not taken.
fn unique(base: String, taken: &HashSet<String>) -> String {
    if !taken.contains(&base) {
        return base;
    }
    (2..).map(|n| format!("{base}-{n}")).find(|id| !taken.contains(id)).unwrap_or(base)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(id: &str, ip: &str, ports: &[u16]) -> ServerConfig {
        ServerConfig { id: id.into(), name: id.into(), ip: ip.into(), ports: ports.to_vec(), enabled: true }
    }

    #[test]
    fn server_changes_derive_ids_and_name_what_changed() {
        let mut config = FleetConfig { servers: vec![server("lab-1", "10.0.0.1", &[8188])], ..FleetConfig::default() };
        let unnamed = ServerConfig { id: String::new(), name: "Lab 1".into(), ..server("", "10.0.0.2", &[8188]) };
        let next = config.changed(ConfigChange::AddServer(unnamed)).unwrap().unwrap();
        assert_eq!(next.servers[1].id, "lab-1-2", "derived from the name, made unique");
        let patch = serde_json::json!({"dispatch": {"prefetch": 2}});
        let patched = next.changed(ConfigChange::Merge(patch)).unwrap().unwrap();
        assert_eq!((patched.servers.len(), patched.dispatch.prefetch), (2, 2), "a patch keeps the servers");
        assert_eq!(config.describe_change(&patched), "servers: +lab-1-2; dispatch.prefetch: 1 → 2");
        config = patched.changed(ConfigChange::RemoveServer("lab-1".into())).unwrap().unwrap();
        assert_eq!(config.servers.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(), ["lab-1-2"]);
        assert!(config.changed(ConfigChange::RemoveServer("ghost".into())).unwrap().is_none());
        assert!(config.changed(ConfigChange::Merge(serde_json::json!({"dispatch": {"nope": 1}}))).is_err());
    }

    #[test]
    fn servers_expand_to_ip_port_instances() {
        let config = FleetConfig {
            servers: vec![server("s1", "127.0.0.1", &[8001, 8002]), server("s2", "::1", &[9000])],
            ..FleetConfig::default()
        };
        config.validate().unwrap();
        let ids: Vec<_> = config.instances().iter().map(|i| (i.id.clone(), i.base_url())).collect();
        assert_eq!(
            ids,
            vec![
                ("127.0.0.1:8001".into(), "http://127.0.0.1:8001".into()),
                ("127.0.0.1:8002".into(), "http://127.0.0.1:8002".into()),
                ("::1:9000".into(), "http://[::1]:9000".into()),
            ]
        );
    }

    #[test]
    fn invalid_configurations_name_their_problem() {
        let dup = FleetConfig {
            servers: vec![server("a", "10.0.0.1", &[1]), server("a", "10.0.0.2", &[1])],
            ..FleetConfig::default()
        };
        assert!(dup.validate().unwrap_err().contains("used twice"));
        let twice = FleetConfig { servers: vec![server("a", "10.0.0.1", &[1, 1])], ..FleetConfig::default() };
        assert!(twice.validate().unwrap_err().contains("configured twice"));
        let bad_ip = FleetConfig { servers: vec![server("a", "not an ip!", &[1])], ..FleetConfig::default() };
        assert!(bad_ip.validate().unwrap_err().contains("ip"));
        let mut slow = FleetConfig::default();
        slow.health_check.interval = 5;
        assert!(slow.validate().unwrap_err().contains("interval"));
        let parsed: Result<FleetConfig, _> =
            serde_json::from_str(r#"{"servers": [], "healthCheck": {"interval": 1000, "bogus": 1}}"#);
        assert!(parsed.is_err(), "unknown keys are refused");
        let parsed: FleetConfig = serde_json::from_str(r#"{"healthCheck": {"interval": 1000}}"#).unwrap();
        assert_eq!((parsed.health_check.interval, parsed.health_check.timeout), (1000, 5000));
    }
}
