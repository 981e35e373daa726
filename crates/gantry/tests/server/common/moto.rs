//! moto's S3-compatible server, for the file store's tests: the `moto_server` named by
//! `GANTRY_TEST_MOTO` (`scripts/test` installs it and sets it). Without it the tests using it
//! are skipped with a note, except under `CI=true`, where that is a failure.

use super::eventually;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// A dummy secret that no error message may show.
pub const SECRET: &str = "moto-secret-that-must-not-be-logged";

/// A `moto_server` on a free port; killed when dropped.
pub struct Moto {
    child: Child,
    pub base: String,
}

impl Moto {
    /// Starts moto's server, or `None` (a skip) where it is not installed outside CI.
    pub async fn start() -> Option<Self> {
        let Some(exe) = std::env::var_os("GANTRY_TEST_MOTO").map(PathBuf::from).filter(|p| p.is_file()) else {
            let ci = std::env::var("CI").is_ok_and(|v| v == "true");
            assert!(!ci, "CI=true but GANTRY_TEST_MOTO names no moto_server (scripts/test installs it)");
            eprintln!("skipped: set GANTRY_TEST_MOTO to moto's `moto_server` (scripts/test installs it)");
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(exe)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server starts");
        let moto = Self { child, base: format!("http://127.0.0.1:{port}") };
        eventually(60, "moto_server to answer", || async {
            reqwest::get(&moto.base).await.ok()?.status().is_success().then_some(())
        })
        .await;
        Some(moto)
    }

    /// Creates a bucket (moto takes an unsigned `PUT /bucket`).
    pub async fn create_bucket(&self, name: &str) {
        let answer = reqwest::Client::new().put(format!("{}/{name}", self.base)).send().await.unwrap();
        assert!(answer.status().is_success(), "create bucket: {}", answer.text().await.unwrap());
    }

    /// Every key in `bucket`, sorted.
    pub async fn keys(&self, bucket: &str) -> Vec<String> {
        let url = format!("{}/{bucket}?list-type=2", self.base);
        let xml = reqwest::get(url).await.unwrap().text().await.unwrap();
        let mut keys: Vec<String> = xml
            .split("<Key>")
            .skip(1)
            .filter_map(|rest| rest.split_once("</Key>").map(|(key, _)| key.to_owned()))
            .collect();
        keys.sort();
        keys
    }

    /// Gantry's environment for the file store at `url` on this server.
    pub fn env(&self, url: &str) -> Vec<(&'static str, String)> {
        vec![
            ("GANTRY_FILES_URL", url.to_owned()),
            ("AWS_ENDPOINT_URL", self.base.clone()),
            ("AWS_ALLOW_HTTP", "true".to_owned()),
            ("AWS_ACCESS_KEY_ID", "moto-access-key".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", SECRET.to_owned()),
            ("AWS_REGION", "us-east-1".to_owned()),
        ]
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
