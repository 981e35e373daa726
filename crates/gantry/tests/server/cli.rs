//! The `gantry` command line as an operator meets it: the first start's banner, and
//! commands that refuse to invent a database in the wrong directory.

use crate::common::binary::{Served, command as gantry};
use serde_json::{Value, json};
use std::ffi::OsStr;

#[tokio::test]
async fn the_first_start_prints_a_plain_banner_whatever_the_log_level() {
    let dir = tempfile::tempdir().unwrap();
    let served = Served::start(dir.path(), &[], &[("RUST_LOG", OsStr::new("error"))]);
    let banner = &served.banner;
    assert!(!banner.contains('\u{1b}'), "no ANSI codes off a terminal: {banner:?}");
    let url = &served.url;
    let data = dir.path().join("data").canonicalize().unwrap();
    assert_eq!(served.banner_field("Data"), data.display().to_string(), "{banner}");
    // The password on the banner is the admin's.
    let token = served.admin_token().await;
    // With the default, relative data dir, a host's files still get an absolute home.
    let host: Value = reqwest::Client::new()
        .post(format!("{url}api/server/create"))
        .bearer_auth(&token)
        .json(&json!({"hs_name": "lab1"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(host["code"], 200, "{host}");
    assert_eq!(host["data"]["system_path"], data.join("vms/lab1").display().to_string(), "{host}");
}

#[tokio::test]
async fn every_request_is_logged_at_info_with_its_route_status_time_id_and_user() {
    let dir = tempfile::tempdir().unwrap();
    let served = Served::start(dir.path(), &[], &[("RUST_LOG", OsStr::new("info"))]);
    let url = &served.url;
    let http = reqwest::Client::new();
    let token = &served.admin_token().await;
    let answer = http
        .get(format!("{url}api/tasks/no-such-task"))
        .bearer_auth(token)
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 404);
    let logged = served.line_with(&["trace-me-42", "status="]);
    for part in ["INFO", "method=GET", r#"path="/api/tasks/{taskId}""#, "user_id=1", "status=404", "latency="] {
        assert!(logged.contains(part), "`{part}` missing in {logged:?}");
    }
}

#[test]
fn user_commands_refuse_to_create_a_database_where_there_is_none() {
    let dir = tempfile::tempdir().unwrap();
    let out = gantry().args(["user", "list"]).current_dir(dir.path()).output().unwrap();
    assert!(!out.status.success());
    let error = String::from_utf8_lossy(&out.stderr);
    let expected = std::path::absolute(dir.path().join("data/gantry.db")).unwrap();
    assert!(error.contains(&format!("no database at {}", expected.display())), "{error}");
    assert!(!dir.path().join("data").exists(), "nothing was created");
}

/// The example configuration: every setting at its default, each documented, accepted by
/// `gantry config check`, and a server starts with it.
#[tokio::test]
async fn the_example_configuration_holds_every_default_and_starts_the_server() {
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../gantry.example.toml");
    let text = std::fs::read_to_string(&example).unwrap();
    let parsed: gantry_core::config::Config = toml::from_str(&text).unwrap();
    assert_eq!(parsed, gantry_core::config::Config::default(), "the example states the defaults");
    // Every key the defaults have is written out; those without a default are shown commented.
    fn keys(prefix: &str, value: &toml::Value, out: &mut Vec<String>) {
        if let toml::Value::Table(table) = value {
            for (key, value) in table {
                let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
                out.push(path.clone());
                if !prefix.ends_with("models") && !prefix.ends_with("pricing") {
                    keys(&path, value, out);
                }
            }
        }
    }
    let (mut wanted, mut written) = (Vec::new(), Vec::new());
    keys("", &toml::Value::try_from(gantry_core::config::Config::default()).unwrap(), &mut wanted);
    keys("", &text.parse::<toml::Table>().map(toml::Value::Table).unwrap(), &mut written);
    let missing: Vec<&String> = wanted.iter().filter(|k| !written.contains(k)).collect();
    assert!(missing.is_empty(), "not in the example: {missing:?}");
    for optional in ["database_url", "public_url", "jwt_secret", "storage_root", "probe_guest_dir"] {
        assert!(text.contains(&format!("# {optional} = ")), "{optional} shown commented out");
    }

    let out = gantry().args(["config", "check"]).arg(&example).output().unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && said.contains(": ok") && said.contains("every setting at its default"), "{said}");
    let dir = tempfile::tempdir().unwrap();
    let changed = dir.path().join("changed.toml");
    std::fs::write(&changed, "[http]\nmax_connections = 10\n").unwrap();
    let out = gantry().args(["config", "check"]).arg(&changed).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("not at their defaults: http.max_connections"));
    let typo = dir.path().join("typo.toml");
    std::fs::write(&typo, "[http]\nmax_conections = 10\n").unwrap();
    let out = gantry().args(["config", "check"]).arg(&typo).output().unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && said.contains("max_conections") && said.contains("line 2"), "{said}");

    let served = Served::start(dir.path(), &[OsStr::new("--config"), example.as_os_str()], &[]);
    let url = &served.url;
    let health = reqwest::get(format!("{url}api/health")).await.unwrap();
    assert_eq!(health.status(), 200);
}
