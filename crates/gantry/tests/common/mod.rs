//! A real Gantry on a random port, over a scratch database, driven with reqwest.
#![allow(dead_code)]

use gantry_core::config::Config;
use gantry_store::Engine;
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
    _dir: tempfile::TempDir,
}

impl TestApp {
    pub async fn start(engine: Engine) -> Self {
        Self::start_with(engine, |_| {}).await
    }

    pub async fn start_with(engine: Engine, tweak: impl FnOnce(&mut Config)) -> Self {
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
        let running = gantry::start(config, Some(ADMIN_PASSWORD.into()))
            .await
            .expect("gantry starts");
        let base = format!("http://{}", running.addr());
        Self {
            base,
            http: reqwest::Client::new(),
            running: Some(running),
            _db: db,
            _dir: dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends a request and returns status and JSON body.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
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
        let json = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("non-JSON answer {status}: {text}"));
        (status, json)
    }

    /// Logs in through star-graph; returns (access token, refresh token).
    pub async fn star_login(&self, username: &str, password: &str) -> (String, String) {
        let (status, body) = self
            .call(
                "POST",
                "/api/v1/auth/login",
                None,
                Some(json!({"username": username, "password": password})),
            )
            .await;
        assert_eq!(status, 200, "login {username}: {body}");
        (
            body["data"]["token"].as_str().unwrap().to_owned(),
            body["data"]["refreshToken"].as_str().unwrap().to_owned(),
        )
    }

    pub async fn admin_token(&self) -> String {
        self.star_login("admin", ADMIN_PASSWORD).await.0
    }

    /// Creates a user through the admin API and returns their id.
    pub async fn create_user(&self, admin: &str, username: &str, password: &str) -> i64 {
        let (status, body) = self
            .call(
                "POST",
                "/api/v1/admin/users",
                Some(admin),
                Some(json!({"username": username, "password": password})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body["data"]["id"].as_i64().unwrap()
    }

    pub async fn stop(mut self) {
        if let Some(running) = self.running.take() {
            running.stop().await.expect("clean stop");
        }
    }
}
