//! A JSON client of the gantry under test, for the benchmarks that drive its HTTP API.

use anyhow::{Context, bail};
use serde_json::{Value, json};
use std::time::Instant;

/// One user's session on a gantry.
#[derive(Clone)]
pub struct Api {
    pub http: reqwest::Client,
    pub base: String,
    pub token: String,
}

impl Api {
    /// Logs `username` in (star-graph login) on the gantry at `addr`.
    pub async fn login(http: &reqwest::Client, addr: &str, username: &str, password: &str) -> anyhow::Result<Api> {
        let base = format!("http://{addr}");
        let body = json!({"username": username, "password": password});
        let login: Value = http.post(format!("{base}/api/v1/auth/login")).json(&body).send().await?.json().await?;
        let token = login["data"]["token"].as_str().with_context(|| format!("login {username}: {login}"))?.to_owned();
        Ok(Api { http: http.clone(), base, token })
    }

    /// A call that must succeed; its JSON answer.
    pub async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let mut request = self.http.request(method, format!("{}{path}", self.base)).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status();
        let answer: Value = response.json().await.with_context(|| format!("{path}: non-JSON answer ({status})"))?;
        if !status.is_success() {
            bail!("{path}: {status} {answer}");
        }
        Ok(answer)
    }

    /// Milliseconds of one GET of `path`, which must succeed; the body is read.
    pub async fn timed_get(&self, path: &str) -> anyhow::Result<f64> {
        let t = Instant::now();
        let response = self.http.get(format!("{}{path}", self.base)).bearer_auth(&self.token).send().await?;
        let status = response.status();
        response.bytes().await?;
        if !status.is_success() {
            bail!("{path}: {status}");
        }
        Ok(t.elapsed().as_secs_f64() * 1000.0)
    }
}
