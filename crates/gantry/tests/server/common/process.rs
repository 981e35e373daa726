//! The real `gantry` binary as a child process, for tests that `kill -9` it.

use super::{ADMIN_PASSWORD, JWT_SECRET};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// A running `gantry serve` on a random port; killed (SIGKILL) when dropped.
pub struct GantryProcess {
    child: Child,
    pub base: String,
    http: reqwest::Client,
}

impl GantryProcess {
    /// Starts the binary on `data_dir` and the database at `database_url`, with an optional
    /// TOML config file.
    pub fn start(data_dir: &Path, database_url: &str, config: Option<&Path>) -> Self {
        Self::start_with_env(data_dir, database_url, config, &[])
    }

    /// [`Self::start`] with extra environment variables; the caller's `GANTRY_FILES_URL` and
    /// `AWS_*` are dropped, so only `env` can point the file store elsewhere.
    pub fn start_with_env(data_dir: &Path, database_url: &str, config: Option<&Path>, env: &[(&str, &str)]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_gantry"));
        command.env_remove("GANTRY_FILES_URL");
        for (name, _) in std::env::vars_os() {
            if name.to_str().is_some_and(|n| n.starts_with("AWS_")) {
                command.env_remove(name);
            }
        }
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
            .envs(env.iter().copied())
            .env("GANTRY_DATA_DIR", data_dir)
            .env("GANTRY_DATABASE_URL", database_url)
            .env("GANTRY_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("GANTRY_JWT_SECRET", JWT_SECRET)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if let Some(config) = config {
            command.env("GANTRY_CONFIG", config);
        }
        let mut child = command.spawn().expect("gantry starts");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let addr = loop {
            let line = lines.next().expect("gantry logs its address").expect("log line");
            let entry: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
            if let Some(addr) = entry["fields"]["addr"].as_str() {
                break addr.to_owned();
            }
        };
        // Keep draining the log so the process never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Self { child, base: format!("http://{addr}"), http: reqwest::Client::new() }
    }

    /// Kills the process with SIGKILL: no shutdown code runs.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends a request; returns the whole JSON answer.
    pub async fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> Value {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.expect("request").json().await.expect("JSON")
    }
}

impl Drop for GantryProcess {
    fn drop(&mut self) {
        self.kill9();
    }
}
