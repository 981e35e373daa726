//! `http_request` against a local server (with and without the SSRF guard) and the
//! sandboxed file modules.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::HeaderMap;
use axum::response::Redirect;
use axum::routing::{get, post};
use gantry_workflow_engine::{
    Catalogue, Host, HttpPolicy, LocalSandbox, NoopObserver, Outcome, RunReport, RunRequest, Sandbox, Step, Workflow,
    WorkflowEngine,
};
use serde_json::{Value, json};

struct IoHost {
    policy: HttpPolicy,
    sandbox: Option<PathBuf>,
}

impl Host for IoHost {
    fn http_policy(&self) -> HttpPolicy {
        self.policy
    }
    fn sandbox(&self) -> Option<Arc<dyn Sandbox>> {
        self.sandbox.clone().map(|dir| Arc::new(LocalSandbox(dir)) as Arc<dyn Sandbox>)
    }
}

fn engine(policy: HttpPolicy, sandbox: Option<PathBuf>) -> WorkflowEngine {
    WorkflowEngine::new(Arc::new(Catalogue::builtin()), Arc::new(IoHost { policy, sandbox }))
}

async fn run(engine: &WorkflowEngine, steps: Vec<Step>) -> RunReport {
    let workflow = Workflow { steps, ..Workflow::default() };
    engine.run(&workflow, RunRequest::default(), &NoopObserver).await
}

fn out(report: &RunReport, step: &str, output: &str) -> Value {
    report.outputs.get(step).and_then(|o| o.get(output)).map(|t| t.value.clone()).unwrap_or(Value::Null)
}

fn error(report: &RunReport) -> String {
    match &report.outcome {
        Outcome::Failed { error, .. } => error.clone(),
        other => panic!("expected a failure, got {other:?}"),
    }
}

async fn server() -> u16 {
    let app = Router::new()
        .route("/hello", get(|| async { ([("x-reply", "yes")], r#"{"ok":true}"#) }))
        .route(
            "/echo",
            post(|headers: HeaderMap, body: String| async move {
                let ct = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
                let tag = headers.get("x-tag").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
                format!("{tag}|{ct}|{body}")
            }),
        )
        .route("/redirect", get(|| async { Redirect::temporary("/hello") }))
        .route("/big", get(|| async { "x".repeat(64 * 1024) }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                "late"
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    port
}

fn http(id: &str, url: String) -> Step {
    Step::new(id, "http_request").with("url", url)
}

#[tokio::test]
async fn http_request_against_a_local_server_when_internal_targets_are_allowed() {
    let port = server().await;
    let base = format!("http://127.0.0.1:{port}");
    let open = HttpPolicy { allow_internal: true, max_response_bytes: 16 * 1024, ..HttpPolicy::STRICT };
    let e = engine(open, None);
    let report = run(
        &e,
        vec![
            http("get", format!("{base}/hello")),
            Step::new("parse", "json_parse").with("text", "{{get.body}}"),
            http("post", format!("{base}/echo"))
                .with("method", "POST")
                .with("headers", json!({"X-Tag": "{{get.statusCode}}"}))
                .with("body", r#"{"ok": {{parse.result.ok}}}"#),
            http("redir", format!("{base}/redirect")),
        ],
    )
    .await;
    assert_eq!(report.outcome, Outcome::Completed);
    assert_eq!(out(&report, "get", "statusCode"), json!(200));
    assert_eq!(out(&report, "get", "headers")["x-reply"], json!("yes"));
    assert_eq!(out(&report, "parse", "result"), json!({"ok": true}));
    assert_eq!(out(&report, "post", "body"), json!(r#"200|application/json|{"ok": true}"#));
    assert_eq!(out(&report, "redir", "body"), json!(r#"{"ok":true}"#));

    let too_big = run(&e, vec![http("big", format!("{base}/big"))]).await;
    assert!(error(&too_big).contains("exceeds"), "{}", error(&too_big));

    let slow = run(&e, vec![http("slow", format!("{base}/slow")).with("timeout", 0.2)]).await;
    assert!(error(&slow).contains("failed"), "{}", error(&slow));
}

#[tokio::test]
async fn ssrf_guard_refuses_internal_targets_by_default() {
    let port = server().await;
    let e = engine(HttpPolicy::STRICT, None);
    for url in [
        format!("http://127.0.0.1:{port}/hello"),
        format!("http://[::1]:{port}/hello"),
        format!("http://[::ffff:127.0.0.1]:{port}/hello"),
        format!("http://localhost:{port}/hello"),
        "http://169.254.169.254/latest/meta-data".to_owned(),
        "http://10.0.0.1/".to_owned(),
    ] {
        let report = run(&e, vec![http("x", url.clone())]).await;
        let err = error(&report);
        assert!(err.contains("internal address"), "{url}: {err}");
    }
    let ftp = run(&e, vec![http("x", "ftp://example.com/".into())]).await;
    assert!(error(&ftp).contains("unsupported scheme"));
}

#[tokio::test]
async fn file_modules_stay_in_the_sandbox() {
    let dir = tempfile::tempdir().unwrap();
    let sandbox = dir.path().join("box");
    std::fs::create_dir(&sandbox).unwrap();
    std::fs::write(dir.path().join("secret.txt"), "top secret").unwrap();
    let e = engine(HttpPolicy::STRICT, Some(sandbox.clone()));
    let report = run(
        &e,
        vec![
            Step::new("w", "file_write").with("path", "notes/a.txt").with("content", "hello"),
            Step::new("w2", "file_write").with("path", "notes/a.txt").with("content", " world").with("append", true),
            Step::new("r", "file_read").with("path", "./notes/a.txt"),
            Step::new("ls", "file_list").with("path", "notes"),
            Step::new("root", "file_list"),
        ],
    )
    .await;
    assert_eq!(report.outcome, Outcome::Completed);
    assert_eq!(out(&report, "w2", "size"), json!(11));
    assert_eq!(out(&report, "r", "content"), json!("hello world"));
    assert_eq!(out(&report, "ls", "files"), json!([{"name": "a.txt", "isDir": false, "size": 11}]));
    assert_eq!(out(&report, "root", "count"), json!(1));

    let refused = |path: &str, module: &str| {
        let e = e.clone();
        let step = Step::new("x", module).with("path", path).with("content", "pwned");
        async move { error(&run(&e, vec![step]).await) }
    };
    assert!(refused("../secret.txt", "file_read").await.contains(".."));
    assert!(refused("/etc/passwd", "file_read").await.contains("relative"));
    assert!(refused("../escape.txt", "file_write").await.contains(".."));

    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(dir.path().join("secret.txt"), sandbox.join("link.txt")).unwrap();
        std::os::unix::fs::symlink(dir.path(), sandbox.join("out")).unwrap();
        assert!(refused("link.txt", "file_read").await.contains("outside the sandbox"));
        assert!(refused("link.txt", "file_write").await.contains("outside the sandbox"));
        assert!(refused("out/new.txt", "file_write").await.contains("outside the sandbox"));
        assert!(refused("out/deeper/new.txt", "file_write").await.contains("outside the sandbox"));
        assert!(refused("out", "file_list").await.contains("outside the sandbox"));
        assert!(!dir.path().join("new.txt").exists() && !dir.path().join("deeper").exists());
        assert_eq!(std::fs::read_to_string(dir.path().join("secret.txt")).unwrap(), "top secret");
    }

    let disabled = engine(HttpPolicy::STRICT, None);
    let report = run(&disabled, vec![Step::new("r", "file_read").with("path", "a.txt")]).await;
    assert!(error(&report).contains("disabled"));
}
