//! Configuration loading: flags > environment > TOML file > defaults. Clap resolves
//! flags and environment variables; this module lays them over the file and defaults.

use anyhow::Context as _;
use clap::Args;
use gantry_core::config::{Config, LogFormat};
use std::path::{Path, PathBuf};

/// Where the database lives; shared by every subcommand.
#[derive(Debug, Clone, Default, Args)]
pub struct StorageArgs {
    /// TOML configuration file (every key, with its default: gantry.example.toml).
    #[arg(long, env = "GANTRY_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Directory for the SQLite database, uploads and outputs [default: ./data].
    #[arg(long, env = "GANTRY_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// Database URL, `sqlite://…` or `postgres://…` [default: sqlite://<data-dir>/gantry.db].
    #[arg(long, env = "GANTRY_DATABASE_URL", global = true, hide_env_values = true)]
    pub database_url: Option<String>,
}

/// Settings of `gantry serve`.
#[derive(Debug, Clone, Default, Args)]
pub struct ServeArgs {
    /// Address to listen on [default: 0.0.0.0:3000].
    #[arg(long, env = "GANTRY_LISTEN")]
    pub listen: Option<String>,
    /// Log format: text or json [default: text]. Log levels come from RUST_LOG.
    #[arg(long, env = "GANTRY_LOG_FORMAT", value_parser = ["text", "json"])]
    pub log_format: Option<String>,
    /// OTLP/HTTP collector to export request spans to, e.g. http://127.0.0.1:4318 [default: none].
    #[arg(long, env = "GANTRY_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<String>,
    /// A second address serving the virtual ComfyUI at its root, e.g. 0.0.0.0:8188 [default: none].
    #[arg(long, env = "GANTRY_COMFYUI_LISTEN")]
    pub comfyui_listen: Option<String>,
    /// The static directory of the PyPI package comfyui-frontend-package, served at /comfy/ [default: none].
    #[arg(long, env = "GANTRY_COMFYUI_FRONTEND_DIR")]
    pub comfyui_frontend_dir: Option<PathBuf>,
    /// Where file bytes live: file:///abs/path or s3://bucket/prefix (endpoint and credentials
    /// from the AWS_* variables) [default: file://<data-dir>/files].
    #[arg(long, env = "GANTRY_FILES_URL")]
    pub files_url: Option<String>,
    /// Largest JSON request body, in bytes [default: 2097152].
    #[arg(long, env = "GANTRY_MAX_BODY_BYTES")]
    pub max_body_bytes: Option<usize>,
    /// Origin allowed by CORS; repeat or comma-separate, `*` for any [default: none].
    #[arg(long = "cors-origin", env = "GANTRY_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Option<Vec<String>>,
    /// Access token lifetime in seconds [default: 3600].
    #[arg(long, env = "GANTRY_ACCESS_TTL_SECS")]
    pub access_ttl_secs: Option<i64>,
    /// Refresh token lifetime in seconds [default: 2592000].
    #[arg(long, env = "GANTRY_REFRESH_TTL_SECS")]
    pub refresh_ttl_secs: Option<i64>,
    /// HMAC secret for access tokens, ≥ 32 characters [default: generated once, kept in the database].
    #[arg(long, env = "GANTRY_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// Password for the `admin` user created on first start; without it a random one is logged once.
    #[arg(long, env = "GANTRY_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<String>,
}

/// Reads the TOML file if one is named, or the defaults.
fn base(file: Option<&Path>) -> anyhow::Result<Config> {
    file.map_or_else(|| Ok(Config::default()), from_file)
}

/// Reads a TOML configuration file: unknown keys and values of the wrong type are errors
/// naming the line.
pub fn from_file(path: &Path) -> anyhow::Result<Config> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// The settings (dotted keys) `config` sets to something other than the default.
pub fn differences(config: &Config) -> Vec<String> {
    fn walk(prefix: &str, a: Option<&toml::Value>, b: Option<&toml::Value>, out: &mut Vec<String>) {
        match (a, b) {
            (Some(toml::Value::Table(a)), Some(toml::Value::Table(b))) => {
                let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
                for key in keys {
                    let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
                    walk(&path, a.get(key), b.get(key), out);
                }
            }
            (a, b) if a != b => out.push(prefix.to_owned()),
            _ => {}
        }
    }
    let (defaults, given) = (toml::Value::try_from(Config::default()).ok(), toml::Value::try_from(config).ok());
    let mut out = Vec::new();
    walk("", defaults.as_ref(), given.as_ref(), &mut out);
    out
}

/// The configuration for commands that only need storage.
pub fn storage_config(storage: &StorageArgs) -> anyhow::Result<Config> {
    let mut config = base(storage.config.as_deref())?;
    if let Some(dir) = &storage.data_dir {
        config.data_dir = dir.clone();
    }
    if let Some(url) = &storage.database_url {
        config.database_url = Some(url.clone());
    }
    Ok(config)
}

/// The configuration for `gantry serve`.
pub fn serve_config(storage: &StorageArgs, serve: &ServeArgs) -> anyhow::Result<Config> {
    let mut config = storage_config(storage)?;
    if let Some(listen) = &serve.listen {
        config.listen = listen.clone();
    }
    if let Some(format) = &serve.log_format {
        config.log_format = if format == "json" { LogFormat::Json } else { LogFormat::Text };
    }
    if let Some(endpoint) = &serve.otlp_endpoint {
        config.otlp_endpoint = Some(endpoint.clone());
    }
    if let Some(listen) = &serve.comfyui_listen {
        config.http.comfyui_listen = Some(listen.clone());
    }
    if let Some(dir) = &serve.comfyui_frontend_dir {
        config.http.comfyui_frontend_dir = Some(dir.clone());
    }
    if let Some(url) = &serve.files_url {
        config.files.url = Some(url.clone());
    }
    if let Some(bytes) = serve.max_body_bytes {
        config.http.max_body_bytes = bytes;
    }
    if let Some(origins) = &serve.cors_origins {
        config.http.cors_origins = origins.iter().map(|o| o.trim().to_owned()).filter(|o| !o.is_empty()).collect();
    }
    if let Some(ttl) = serve.access_ttl_secs {
        config.auth.access_ttl_secs = ttl;
    }
    if let Some(ttl) = serve.refresh_ttl_secs {
        config.auth.refresh_ttl_secs = ttl;
    }
    if let Some(secret) = &serve.jwt_secret {
        config.auth.jwt_secret = Some(secret.clone());
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_the_file_which_overrides_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("gantry.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:4000\"\ndata_dir = \"/srv/gantry\"\n[auth]\naccess_ttl_secs = 60\n",
        )
        .unwrap();
        let storage = StorageArgs { config: Some(file), ..StorageArgs::default() };
        let serve = ServeArgs {
            listen: Some("127.0.0.1:5000".into()),
            files_url: Some("s3://bucket/prefix".into()),
            ..ServeArgs::default()
        };
        let config = serve_config(&storage, &serve).unwrap();
        assert_eq!(config.listen, "127.0.0.1:5000");
        assert_eq!(config.files.url.as_deref(), Some("s3://bucket/prefix"));
        assert_eq!(config.data_dir, PathBuf::from("/srv/gantry"));
        assert_eq!(config.auth.access_ttl_secs, 60);
        assert_eq!(config.auth.refresh_ttl_secs, Config::default().auth.refresh_ttl_secs);
    }

    #[test]
    fn unknown_keys_in_the_file_are_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("gantry.toml");
        std::fs::write(&file, "lisen = \"typo\"\n").unwrap();
        let storage = StorageArgs { config: Some(file), ..StorageArgs::default() };
        assert!(storage_config(&storage).is_err());
    }
}
