//! Configuration values with their defaults. Loading (flags > env > file > defaults)
//! lives in the binary; this module only says what the settings are.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Everything `gantry serve` can be told.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Socket address the HTTP server binds.
    pub listen: String,
    /// Directory for the SQLite database, uploads and outputs.
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; empty means `sqlite://<data_dir>/gantry.db`.
    pub database_url: Option<String>,
    /// Log output: `text` or `json`.
    pub log_format: LogFormat,
    /// OTLP/HTTP collector base URL (`http://host:4318`): each request's span is exported to
    /// `<url>/v1/traces` as JSON. None: no export.
    pub otlp_endpoint: Option<String>,
    pub http: HttpConfig,
    pub auth: AuthConfig,
    pub files: FilesConfig,
    pub generation: GenerationConfig,
    pub automation: AutomationConfig,
    pub compute: ComputeConfig,
    pub cluster: ClusterConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: "0.0.0.0:3000".into(),
            data_dir: PathBuf::from("./data"),
            database_url: None,
            log_format: LogFormat::Text,
            otlp_endpoint: None,
            http: HttpConfig::default(),
            auth: AuthConfig::default(),
            files: FilesConfig::default(),
            generation: GenerationConfig::default(),
            automation: AutomationConfig::default(),
            compute: ComputeConfig::default(),
            cluster: ClusterConfig::default(),
        }
    }
}

impl Config {
    /// The database URL in force: the configured one, or the SQLite file in the data dir.
    pub fn effective_database_url(&self) -> String {
        match &self.database_url {
            Some(url) if !url.trim().is_empty() => url.clone(),
            _ => format!("sqlite://{}", self.data_dir.join("gantry.db").display()),
        }
    }

    /// The file store URL in force: the configured one, or `file://<data_dir>/files`.
    pub fn effective_files_url(&self) -> String {
        match &self.files.url {
            Some(url) if !url.trim().is_empty() => url.clone(),
            _ => format!("file://{}", self.data_dir.join("files").display()),
        }
    }
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// HTTP server settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Largest accepted request body for JSON routes, in bytes.
    pub max_body_bytes: usize,
    /// Origins allowed by CORS; empty disables CORS headers, `*` allows any origin.
    pub cors_origins: Vec<String>,
    /// Base of the absolute URLs Gantry hands out (e.g. `https://gantry.example.com`);
    /// when absent, taken from each request's `Host` header.
    pub public_url: Option<String>,
    /// Seconds a connection has to send a request's headers, counted from when it opens or
    /// its previous response ended: slow senders and idle keep-alive connections are closed
    /// after that long.
    pub header_read_timeout_secs: u64,
    /// Open connections at once (WebSockets included); a connection past that is answered
    /// 503 and closed.
    pub max_connections: usize,
    /// Serve `/metrics` to anyone who can reach the port (for a Prometheus on a private
    /// network); off: an admin's bearer token (an API token will do) is required.
    pub metrics_public: bool,
    /// A second address serving the virtual ComfyUI at its root (`/prompt`, `/ws`, …), for
    /// clients that only reach a ComfyUI at a server's root; none: only `/comfy` on `listen`.
    pub comfyui_listen: Option<String>,
    /// The `static` directory of the PyPI package `comfyui-frontend-package`: ComfyUI's web
    /// front end, served at `/comfy/`; none: not served.
    pub comfyui_frontend_dir: Option<std::path::PathBuf>,
    /// Load balancers and proxies (addresses or networks, `10.0.0.0/8`) whose
    /// `X-Forwarded-For` names the client; login and rate limits count by that client.
    pub trusted_proxies: Vec<String>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 2 * 1024 * 1024,
            cors_origins: Vec::new(),
            public_url: None,
            header_read_timeout_secs: 30,
            max_connections: 1024,
            metrics_public: false,
            comfyui_listen: None,
            comfyui_frontend_dir: None,
            trusted_proxies: Vec::new(),
        }
    }
}

/// Uploaded files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FilesConfig {
    /// Largest accepted upload, in bytes.
    pub max_upload_bytes: usize,
    /// Where file bytes live: `file:///abs/path` or `s3://bucket/prefix` (endpoint and
    /// credentials from the standard `AWS_*` variables); empty means `file://<data_dir>/files`.
    pub url: Option<String>,
}

impl Default for FilesConfig {
    fn default() -> Self {
        Self { max_upload_bytes: 20 * 1024 * 1024, url: None }
    }
}

/// Token lifetimes and secrets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Lifetime of access tokens (JWT), in seconds.
    pub access_ttl_secs: i64,
    /// Lifetime of refresh tokens, in seconds.
    pub refresh_ttl_secs: i64,
    /// HMAC secret for access tokens. When absent a random one is generated once and
    /// kept in the database, so every node sharing the database agrees on it.
    pub jwt_secret: Option<String>,
    /// Wrong passwords allowed for one username from one address per window; then logins
    /// from there are refused (429) until the window ends.
    pub max_failed_logins: u32,
    /// Wrong passwords allowed from one address per window, whatever the usernames
    /// (password spraying); then logins from there are refused (429) until the window ends.
    pub max_failed_logins_per_address: u32,
    /// Those windows, in seconds.
    pub failed_login_window_secs: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            access_ttl_secs: 3600,
            refresh_ttl_secs: 30 * 24 * 3600,
            jwt_secret: None,
            max_failed_logins: 5,
            max_failed_logins_per_address: 20,
            failed_login_window_secs: 60,
        }
    }
}

/// Several gateways on one PostgreSQL database.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterConfig {
    /// How long a gateway's hold on a ComfyUI instance lasts without a heartbeat: a gateway
    /// that dies loses its instances (and their tasks go on elsewhere) within this time.
    pub lease_secs: u64,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self { lease_secs: 6 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_database_is_sqlite_inside_the_data_dir() {
        let config = Config { data_dir: "/tmp/x".into(), ..Config::default() };
        assert_eq!(config.effective_database_url(), "sqlite:///tmp/x/gantry.db");
        let config = Config { database_url: Some("postgres://h/db".into()), ..config };
        assert_eq!(config.effective_database_url(), "postgres://h/db");
    }

    #[test]
    fn default_file_store_is_the_files_directory_inside_the_data_dir() {
        let mut config = Config { data_dir: "/tmp/x".into(), ..Config::default() };
        assert_eq!(config.effective_files_url(), "file:///tmp/x/files");
        config.files.url = Some("s3://bucket/prefix".into());
        assert_eq!(config.effective_files_url(), "s3://bucket/prefix");
    }
}

/// What star-graph's generators cost and may use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GenerationConfig {
    /// Public model names (`modelName`) → checkpoint files the instances have.
    pub models: std::collections::BTreeMap<String, String>,
    /// Image model text-to-video uses for its first frame.
    pub video_first_frame_model: String,
    /// Price per generator type (`TEXT2IMG`, …): `base + per_unit × units`, where a unit
    /// is an image of the batch (images) or a second (videos).
    pub pricing: std::collections::BTreeMap<String, Price>,
    /// Prompts containing any of these (case-insensitive) are refused (E006).
    pub sensitive_words: Vec<String>,
    /// Largest input image, bytes (E005 beyond).
    pub max_image_bytes: usize,
    /// Allow `imageUrl`s that resolve to loopback or private addresses (off: SSRF guard).
    pub allow_private_image_urls: bool,
    /// Tasks one user may have waiting or running at once (E003 beyond).
    pub max_active_tasks_per_user: u64,
}

/// A generator's price.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    pub base: i64,
    pub per_unit: i64,
}

impl Default for GenerationConfig {
    fn default() -> Self {
        let models = [
            ("stable-diffusion-xl-base-1.0", "sd_xl_base_1.0.safetensors"),
            ("stable-diffusion-v1-5", "v1-5-pruned-emaonly.safetensors"),
            ("stable-video-diffusion", "svd.safetensors"),
            ("stable-video-diffusion-img2vid", "svd_xt.safetensors"),
        ];
        let pricing = [
            ("TEXT2IMG", Price { base: 0, per_unit: 10 }),
            ("IMG2IMG", Price { base: 0, per_unit: 10 }),
            ("UPSCALE", Price { base: 5, per_unit: 0 }),
            ("POSE", Price { base: 0, per_unit: 15 }),
            ("TEXT2VIDEO", Price { base: 10, per_unit: 5 }),
            ("IMG2VIDEO", Price { base: 8, per_unit: 4 }),
        ];
        Self {
            models: models.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
            video_first_frame_model: "stable-diffusion-v1-5".into(),
            pricing: pricing.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect(),
            sensitive_words: Vec::new(),
            max_image_bytes: 10 * 1024 * 1024,
            allow_private_image_urls: false,
            max_active_tasks_per_user: 100,
        }
    }
}

/// The workflow engine behind the vflow dialect (`[automation]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AutomationConfig {
    /// Let `http_request` steps reach loopback and private addresses (an admin decision:
    /// off by default, against SSRF).
    pub allow_internal_http: bool,
    /// Runs of one workflow at once; further runs are refused (409) until one ends.
    pub max_running_per_workflow: usize,
    /// Largest import upload (JSON or ZIP), and largest inflated total of a ZIP, in bytes.
    pub max_import_bytes: usize,
    /// Most entries an imported ZIP may hold.
    pub max_zip_entries: usize,
    /// Largest inflated size of one ZIP entry, in bytes.
    pub max_zip_entry_bytes: usize,
    /// Largest single value a run may make (a step input or output, a variable), in JSON
    /// bytes; the step that would make a larger one fails.
    pub max_value_bytes: usize,
    /// Most JSON bytes a run may hold at once (every step's last outputs, its variables and
    /// trigger data); the step that would hold more fails.
    pub max_run_bytes: usize,
    /// vflow's request limits per window.
    pub rate_limits: RateLimits,
}

impl Default for AutomationConfig {
    fn default() -> Self {
        Self {
            allow_internal_http: false,
            max_running_per_workflow: 4,
            max_import_bytes: 10 * 1024 * 1024,
            max_zip_entries: 200,
            max_zip_entry_bytes: 2 * 1024 * 1024,
            max_value_bytes: 1024 * 1024,
            max_run_bytes: 16 * 1024 * 1024,
            rate_limits: RateLimits::default(),
        }
    }
}

/// Requests per fixed window, by class (vflow's table): `auth` per client IP, the others
/// per token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimits {
    pub window_secs: u64,
    pub auth: u32,
    pub execute: u32,
    pub query: u32,
    pub modify: u32,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self { window_secs: 60, auth: 5, execute: 10, query: 100, modify: 60 }
    }
}

/// Hypervisor hosts and their VMs (the OpenIDCS API). No host exists until an admin creates
/// one (`POST /api/server/create`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ComputeConfig {
    /// Where hosts keep their VMs when they name no `system_path`: `<storage_root>/<host>`;
    /// `None` means `<data_dir>/vms`.
    pub storage_root: Option<PathBuf>,
    /// Accelerator: `auto` (probe KVM with a short timed boot, fall back to TCG), `kvm`, `tcg`.
    pub accel: String,
    /// A kernel + initramfs (`vmlinuz`, `initramfs.cpio.gz`) the KVM probe boots; without
    /// one the probe only runs the firmware.
    pub probe_guest_dir: Option<PathBuf>,
    /// Seconds an ACPI shutdown may take before the VM is powered off hard.
    pub shutdown_timeout_secs: u64,
    /// NAT host-port range of hosts created without `ports_start`/`ports_close`.
    pub default_ports_start: u16,
    pub default_ports_close: u16,
    /// Host address NAT forwards listen on, for hosts that name none.
    pub nat_bind: String,
    /// Agent reports (`/api/client/upload`) accepted per VM per minute.
    pub agent_reports_per_minute: u32,
    /// Seconds a console ticket may wait to be redeemed (single use; see `gantry_http::console`).
    pub console_ticket_ttl_secs: u64,
}

impl Default for ComputeConfig {
    fn default() -> Self {
        Self {
            storage_root: None,
            accel: "auto".into(),
            probe_guest_dir: None,
            shutdown_timeout_secs: 60,
            default_ports_start: 20000,
            default_ports_close: 29999,
            nat_bind: "0.0.0.0".into(),
            agent_reports_per_minute: 12,
            console_ticket_ttl_secs: 30,
        }
    }
}
