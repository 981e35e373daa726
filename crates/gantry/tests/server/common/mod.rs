//! A real Gantry on a random port, over a scratch database, driven with reqwest.
#![allow(dead_code)]

pub mod binary;
pub mod comfy;
pub mod compute;
pub mod moto;
pub mod process;
pub mod sim;
pub mod vflow;

use gantry_core::config::Config;
use gantry_store::Backend;
use gantry_testkit::ScratchDb;
use serde_json::{Value, json};

/// The admin password test servers start with.
pub const ADMIN_PASSWORD: &str = "admin-password-for-tests";
/// The JWT secret test servers use, so tests can forge tokens.
pub const JWT_SECRET: &str = "test-secret-test-secret-test-secret-0123";

pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    running: Option<gantry::Running>,
    _db: ScratchDb,
    dir: tempfile::TempDir,
}

impl TestApp {
    pub async fn start(engine: Backend) -> Self {
        Self::start_with(engine, |_| {}).await
    }

    pub async fn start_with(engine: Backend, tweak: impl FnOnce(&mut Config)) -> Self {
        let db = ScratchDb::new(engine).await;
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = Config {
            listen: "127.0.0.1:0".into(),
            data_dir: dir.path().to_path_buf(),
            database_url: Some(db.url.clone()),
            ..Config::default()
        };
        config.auth.jwt_secret = Some(JWT_SECRET.into());
        tweak(&mut config);
        let running = gantry::start(config, Some(ADMIN_PASSWORD.into())).await.expect("gantry starts");
        let base = format!("http://{}", running.addr());
        Self { base, http: reqwest::Client::new(), running: Some(running), _db: db, dir }
    }

    /// The base URL of the virtual ComfyUI at the root of its own address, when
    /// `http.comfyui_listen` is set.
    pub fn comfyui_root(&self) -> Option<String> {
        Some(format!("http://{}", self.running.as_ref()?.comfyui_addr()?))
    }

    /// The server's data directory.
    pub fn data_dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends a request and returns status and JSON body.
    pub async fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self.http.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request sent");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body read");
        let json = serde_json::from_str(&text).unwrap_or_else(|_| panic!("non-JSON answer {status}: {text}"));
        (status, json)
    }

    /// Logs in through star-graph; returns (access token, refresh token).
    pub async fn star_login(&self, username: &str, password: &str) -> (String, String) {
        let (status, body) = self
            .call("POST", "/api/v1/auth/login", None, Some(json!({"username": username, "password": password})))
            .await;
        assert_eq!(status, 200, "login {username}: {body}");
        (body["data"]["token"].as_str().unwrap().to_owned(), body["data"]["refreshToken"].as_str().unwrap().to_owned())
    }

    pub async fn admin_token(&self) -> String {
        self.star_login("admin", ADMIN_PASSWORD).await.0
    }

    /// Creates a user through the admin API and returns their id.
    pub async fn create_user(&self, admin: &str, username: &str, password: &str) -> i64 {
        let (status, body) = self
            .call("POST", "/api/v1/admin/users", Some(admin), Some(json!({"username": username, "password": password})))
            .await;
        assert_eq!(status, 201, "{body}");
        body["data"]["id"].as_i64().unwrap()
    }

    /// Gives a user credits (admin only), e.g. to pay for the graphs it submits.
    pub async fn grant_credits(&self, admin: &str, user_id: i64, amount: i64) {
        let path = format!("/api/v1/admin/users/{user_id}/credits");
        let (status, body) = self.call("POST", &path, Some(admin), Some(json!({"amount": amount}))).await;
        assert_eq!(status, 200, "{body}");
    }

    /// Creates a user with 10 000 credits and logs it in on star-graph; its token.
    pub async fn paying_user(&self, admin: &str, username: &str) -> String {
        let id = self.create_user(admin, username, "user-password-1").await;
        self.grant_credits(admin, id, 10_000).await;
        self.star_login(username, "user-password-1").await.0
    }

    /// Stops this server and starts a new one on the same database and data directory
    /// (what a restart of the process does), with `tweak` applied to the configuration.
    pub async fn restart_with(&mut self, tweak: impl FnOnce(&mut Config)) {
        if let Some(running) = self.running.take() {
            running.stop().await.expect("clean stop");
        }
        let mut config = Config {
            listen: "127.0.0.1:0".into(),
            data_dir: self.dir.path().to_path_buf(),
            database_url: Some(self._db.url.clone()),
            ..Config::default()
        };
        config.auth.jwt_secret = Some(JWT_SECRET.into());
        tweak(&mut config);
        let running = gantry::start(config, Some(ADMIN_PASSWORD.into())).await.expect("gantry restarts");
        self.base = format!("http://{}", running.addr());
        self.running = Some(running);
    }

    pub async fn stop(mut self) {
        if let Some(running) = self.running.take() {
            running.stop().await.expect("clean stop");
        }
    }
}

/// A client of comfy-manager's JSON WebSocket.
pub type LiveSocket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

impl TestApp {
    /// comfy-manager's JSON WebSocket, signed in with `token`.
    pub async fn live_socket(&self, token: &str) -> LiveSocket {
        let url = format!("ws://{}/ws?token={token}", self.base.trim_start_matches("http://"));
        tokio_tungstenite::connect_async(url).await.expect("websocket connects").0
    }
}

/// The socket's next message of type `kind` that `wanted` accepts (at most 30 s).
pub async fn next_message(ws: &mut LiveSocket, kind: &str, wanted: impl Fn(&Value) -> bool) -> Value {
    use futures_util::StreamExt;
    let wait = async {
        while let Some(message) = ws.next().await {
            if let Ok(tokio_tungstenite::tungstenite::Message::Text(text)) = message {
                let value: Value = serde_json::from_str(&text).expect("JSON message");
                if value["type"] == kind && wanted(&value) {
                    return value;
                }
            }
        }
        panic!("socket closed before a {kind} message");
    };
    tokio::time::timeout(std::time::Duration::from_secs(30), wait).await.unwrap_or_else(|_| panic!("no {kind} message"))
}

/// Runs one of `tests/node`'s scripts; the JSON outcome it printed last.
pub async fn node_script(script: &str, args: &[&str]) -> Value {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/node");
    assert!(dir.join("node_modules/stompjs").exists(), "run `npm ci` in tests/node (scripts/test does)");
    let output = tokio::process::Command::new("node")
        .arg(dir.join(script))
        .args(args)
        .current_dir(&dir)
        .output()
        .await
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    let outcome: Value = serde_json::from_str(line)
        .unwrap_or_else(|_| panic!("node printed no outcome: {stdout}\n{}", String::from_utf8_lossy(&output.stderr)));
    assert!(output.status.success(), "node client failed: {outcome}");
    outcome
}

/// Polls `check` until it returns `Some`, for at most `secs` seconds (a bound on waiting,
/// not a timing assertion).
pub async fn eventually<T, F, Fut>(secs: u64, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(std::time::Instant::now() < deadline, "gave up waiting for {what}");
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
}

/// A small text-to-image graph for comfy-sim: `steps` sampler steps at 64×64.
pub fn t2i_graph(checkpoint: &str, steps: u64, seed: u64) -> Value {
    json!({
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": checkpoint}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 48, "batch_size": 1}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "{{prompt}}", "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["4", 1]}},
        "3": {"class_type": "KSampler", "inputs": {
            "seed": seed, "steps": steps, "cfg": 7.0, "sampler_name": "euler", "scheduler": "normal", "denoise": 1.0,
            "model": ["4", 0], "positive": ["6", 0], "negative": ["7", 0], "latent_image": ["5", 0]}},
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "ComfyUI", "images": ["8", 0]}}
    })
}

/// A fleet configuration with one server per sim (ports of 127.0.0.1).
pub fn fleet_config(ports: &[u16], prefetch: u32) -> Value {
    let servers: Vec<Value> = ports
        .iter()
        .enumerate()
        .map(|(i, p)| json!({"id": format!("server-{i}"), "name": format!("sim {i}"), "ip": "127.0.0.1", "ports": [p]}))
        .collect();
    json!({
        "servers": servers,
        "healthCheck": {"interval": 500, "timeout": 1000, "failureThreshold": 2},
        "dispatch": {"prefetch": prefetch, "maxAttempts": 3, "taskTimeout": 60000, "maxQueue": 1000}
    })
}

impl TestApp {
    /// Installs a fleet configuration and waits until every instance is alive.
    pub async fn use_fleet(&self, admin: &str, config: Value) {
        let (status, body) = self.call("PUT", "/api/config", Some(admin), Some(config.clone())).await;
        assert_eq!(status, 200, "{body}");
        let expected = config["servers"]
            .as_array()
            .map(|s| s.iter().map(|s| s["ports"].as_array().unwrap().len()).sum::<usize>())
            .unwrap_or(0);
        eventually(20, "instances alive", || async {
            let (_, body) = self.call("GET", "/api/instances", Some(admin), None).await;
            let list = body["data"].as_array()?.clone();
            let alive =
                list.iter().filter(|i| i["alive"] == true && !i["models"].as_array().unwrap().is_empty()).count();
            (alive == expected).then_some(())
        })
        .await;
    }

    /// Submits a workflow task; returns its id.
    pub async fn submit(&self, token: &str, workflow: Value, params: Value) -> String {
        let (status, body) =
            self.call("POST", "/api/tasks", Some(token), Some(json!({"workflow": workflow, "params": params}))).await;
        assert_eq!(status, 200, "{body}");
        body["data"]["id"].as_str().unwrap().to_owned()
    }

    /// A task as comfy-manager shows it.
    pub async fn task(&self, token: &str, id: &str) -> Value {
        self.call("GET", &format!("/api/tasks/{id}"), Some(token), None).await.1["data"].clone()
    }

    /// Waits (up to three minutes: real ComfyUI runs are slow on CPU) until a task reaches
    /// a final state; returns it.
    pub async fn finished(&self, token: &str, id: &str) -> Value {
        eventually(180, &format!("task {id} to finish"), || async {
            let task = self.task(token, id).await;
            matches!(task["status"].as_str()?, "completed" | "failed" | "cancelled").then_some(task)
        })
        .await
    }

    /// Waits until a task is running on an instance; returns it.
    pub async fn running(&self, token: &str, id: &str) -> Value {
        eventually(180, &format!("task {id} running"), || async {
            let task = self.task(token, id).await;
            (task["status"] == "running").then_some(task)
        })
        .await
    }
}
