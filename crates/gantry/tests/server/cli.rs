//! The `gantry` command line as an operator meets it: the first start's banner, and
//! commands that refuse to invent a database in the wrong directory.

use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

fn gantry() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_gantry"));
    for var in ["GANTRY_ADMIN_PASSWORD", "GANTRY_DATABASE_URL", "GANTRY_CONFIG", "GANTRY_DATA_DIR"] {
        command.env_remove(var);
    }
    command
}

#[tokio::test]
async fn the_first_start_prints_a_plain_banner_whatever_the_log_level() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = gantry()
        .args(["serve", "--listen", "127.0.0.1:0"])
        .current_dir(dir.path())
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let banner = tokio::task::spawn_blocking(move || {
        let mut banner = String::new();
        for line in BufReader::new(stderr).lines() {
            let line = line.unwrap();
            banner.push_str(&line);
            banner.push('\n');
            if line.trim_start().starts_with("Database") {
                break;
            }
        }
        banner
    })
    .await
    .unwrap();
    assert!(!banner.contains('\u{1b}'), "no ANSI codes off a terminal: {banner:?}");
    let field = |name: &str| {
        let line = banner.lines().find(|l| l.trim_start().starts_with(name)).unwrap_or_else(|| panic!("{banner}"));
        line.trim_start()[name.len()..].trim().to_owned()
    };
    let url = field("Open");
    let password = field("Sign in").strip_prefix("admin / ").unwrap_or_else(|| panic!("{banner}")).to_owned();
    let data = dir.path().join("data").canonicalize().unwrap();
    assert_eq!(field("Data"), data.display().to_string(), "{banner}");
    // The password on the banner is the admin's.
    let login = json!({"username": "admin", "password": password});
    let answer: Value = reqwest::Client::new()
        .post(format!("{url}api/auth/login"))
        .json(&login)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = answer["data"]["token"].as_str().unwrap_or_else(|| panic!("{answer}")).to_owned();
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
    let _ = child.kill();
    let _ = child.wait();
}

#[tokio::test]
async fn every_request_is_logged_at_info_with_its_route_status_time_id_and_user() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = gantry()
        .args(["serve", "--listen", "127.0.0.1:0"])
        .current_dir(dir.path())
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The banner on stderr, the log on stdout: both read as lines.
    let (lines_tx, mut lines) = tokio::sync::mpsc::unbounded_channel();
    let outputs: [Box<dyn std::io::Read + Send>; 2] =
        [Box::new(child.stderr.take().unwrap()), Box::new(child.stdout.take().unwrap())];
    for output in outputs {
        let lines_tx = lines_tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(output).lines().map_while(Result::ok) {
                let _ = lines_tx.send(line);
            }
        });
    }
    let mut field = |name: &str| loop {
        let line = lines.try_recv();
        match line {
            Ok(line) if line.trim_start().starts_with(name) => {
                return line.trim_start()[name.len()..].trim().to_owned();
            }
            Ok(_) => {}
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(20)),
        }
    };
    let url = field("Open");
    let password = field("Sign in").strip_prefix("admin / ").unwrap().to_owned();
    let http = reqwest::Client::new();
    let login: Value = http
        .post(format!("{url}api/auth/login"))
        .json(&json!({"username": "admin", "password": password}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["data"]["token"].as_str().unwrap();
    let answer = http
        .get(format!("{url}api/tasks/no-such-task"))
        .bearer_auth(token)
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 404);
    let mut seen = Vec::new();
    let logged = loop {
        let line = tokio::time::timeout(std::time::Duration::from_secs(10), lines.recv()).await;
        let line = line.ok().flatten().unwrap_or_else(|| panic!("no line for the request in {seen:#?}"));
        if line.contains("trace-me-42") && line.contains("status=") {
            break line;
        }
        seen.push(line);
    };
    for part in ["INFO", "method=GET", r#"path="/api/tasks/{taskId}""#, "user_id=1", "status=404", "latency="] {
        assert!(logged.contains(part), "`{part}` missing in {logged:?}");
    }
    let _ = child.kill();
    let _ = child.wait();
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

    let mut child = gantry()
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&example)
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let url = tokio::task::spawn_blocking(move || {
        BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .find_map(|line| line.trim_start().strip_prefix("Open").map(|url| url.trim().to_owned()))
    })
    .await
    .unwrap()
    .expect("the banner names the URL");
    let health = reqwest::get(format!("{url}api/health")).await.unwrap();
    assert_eq!(health.status(), 200);
    let _ = child.kill();
    let _ = child.wait();
}
