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
    assert!(served.banner_field("ComfyUI").starts_with(&format!("{url}comfy ")), "{banner}");
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

/// With a collector configured, each request's span reaches it over OTLP/HTTP in JSON, with
/// the service's name and the request's route and id.
#[tokio::test]
async fn request_spans_are_exported_to_an_otlp_collector() {
    let (posted, mut bodies) = tokio::sync::mpsc::unbounded_channel::<(String, String)>();
    let collector = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let kind = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
            let _ = posted.send((kind, body));
            async { "{}" }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, collector).await });

    let dir = tempfile::tempdir().unwrap();
    let env = [("GANTRY_OTLP_ENDPOINT", OsStr::new(&endpoint)), ("OTEL_BSP_SCHEDULE_DELAY", OsStr::new("100"))];
    let served = Served::start(dir.path(), &[], &env);
    let answer =
        reqwest::Client::new().get(format!("{}api/health", served.url)).header("x-request-id", "otlp-77").send().await;
    assert_eq!(answer.unwrap().status(), 200);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    let (kind, body) = loop {
        let next = tokio::time::timeout_at(deadline, bodies.recv()).await;
        let (kind, body) = next.expect("the span reached the collector").expect("collector running");
        if body.contains("otlp-77") {
            break (kind, body);
        }
    };
    assert!(kind.starts_with("application/json"), "{kind}");
    let body: Value = serde_json::from_str(&body).unwrap();
    let resource = &body["resourceSpans"][0];
    let attribute = |attributes: &Value, key: &str| {
        attributes.as_array().unwrap().iter().find(|a| a["key"] == key).map(|a| a["value"]["stringValue"].clone())
    };
    assert_eq!(attribute(&resource["resource"]["attributes"], "service.name"), Some(json!("gantry")), "{body}");
    let spans = resource["scopeSpans"].as_array().unwrap().iter().flat_map(|s| s["spans"].as_array().unwrap().iter());
    let request = spans
        .filter(|s| s["name"] == "request")
        .find(|s| attribute(&s["attributes"], "request_id") == Some(json!("otlp-77")))
        .unwrap_or_else(|| panic!("no request span in {body}"));
    assert_eq!(attribute(&request["attributes"], "path"), Some(json!("/api/health")), "{request}");
}

/// SQLite takes one server: a second `gantry serve` on the same database stops at once,
/// naming the first and PostgreSQL; once the first is gone, a server starts there again.
#[test]
fn a_second_server_on_one_sqlite_database_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let first = Served::start(dir.path(), &[], &[]);
    let mut second = gantry()
        .args(["serve", "--listen", "127.0.0.1:0"])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let status = loop {
        if let Some(status) = second.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = second.kill();
            panic!("a second server on the same SQLite database kept running");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let mut said = String::new();
    std::io::Read::read_to_string(&mut second.stderr.take().unwrap(), &mut said).unwrap();
    assert!(!status.success());
    assert!(said.contains(&format!("pid {}", first.pid())) && said.contains("PostgreSQL"), "{said}");
    drop(first);
    let again = Served::start(dir.path(), &[], &[]);
    assert!(again.url.starts_with("http://"));
}

/// `gantry user token-add|tokens|token-revoke` beside a running server: the token printed
/// works, is listed by id, and stops working once revoked.
#[tokio::test]
async fn personal_tokens_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let served = Served::start(dir.path(), &[], &[]);
    let run = |args: &[&str]| {
        let out = gantry().arg("user").args(args).current_dir(dir.path()).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let said = run(&["token-add", "admin", "--label", "ci runner"]);
    let secret = said.split_whitespace().last().unwrap().to_owned();
    let id = said.split_whitespace().nth(1).unwrap().to_owned();
    let profile = |token: String| {
        let url = format!("{}api/v1/users/profile", served.url);
        async move { reqwest::Client::new().get(url).bearer_auth(token).send().await.unwrap() }
    };
    let answer: Value = profile(secret.clone()).await.json().await.unwrap();
    assert_eq!(answer["data"]["username"], "admin", "{answer}");
    let listed = run(&["tokens", "admin"]);
    assert!(listed.contains(&id) && listed.contains("ci runner") && !listed.contains(&secret), "{listed}");
    run(&["token-revoke", "admin", &id]);
    assert_eq!(profile(secret).await.status(), 401);
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
    for optional in
        ["database_url", "otlp_endpoint", "public_url", "jwt_secret", "storage_root", "probe_guest_dir", "url"]
    {
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
