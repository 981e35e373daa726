//! The web console: served at every page with its assets and the API browser, and driven
//! end to end in Debian's headless Chromium (`tests/node/console/*.mjs`, playwright-core)
//! against a real server with comfy-sim instances and a real QEMU guest. Every journey
//! fails on any console error or failed asset load, and saves its pages' screenshots into
//! `docs/console/` (shown in the README).
//!
//! The journeys run on SQLite: they check what a person sees; what the routes under them do
//! is checked on both databases by the dialects' own tests.

use crate::common::comfy::quick_graph;
use crate::common::compute::{Reaper, compute_config, guest_vm, host_body, port_range};
use crate::common::sim::Sim;
use crate::common::{ADMIN_PASSWORD, TestApp, fleet_config};
use gantry_store::Backend;
use serde_json::json;
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("CHROMIUM").map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    path.is_file().then_some(path)
}

/// One browser at a time: Chromium is heavy on a small machine.
static BROWSER_TURN: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(1);

/// Runs the journey script `tests/node/console/<name>.mjs` against `app` signed in as
/// `user`; panics with what the script printed when it fails. Without Chromium the
/// journey is skipped with a note, except under `CI=true`.
async fn journey(name: &str, app: &TestApp, user: (&str, &str), env: &[(&str, String)]) {
    let Some(chromium) = chromium() else {
        let ci = std::env::var("CI").is_ok_and(|v| v == "true");
        assert!(!ci, "CI=true but Chromium is missing (scripts/test installs Debian's chromium)");
        eprintln!("skipped: no Chromium at /usr/bin/chromium (apt-get install chromium, or run scripts/test)");
        return;
    };
    let node = repo().join("tests/node");
    assert!(node.join("node_modules/playwright-core").exists(), "run `npm ci` in tests/node (scripts/test does)");
    let _turn = BROWSER_TURN.acquire().await.expect("the browser turn");
    let output = tokio::process::Command::new("node")
        .arg(node.join(format!("console/{name}.mjs")))
        .current_dir(&node)
        .env("CHROMIUM", chromium)
        .env("GANTRY_URL", &app.base)
        .env("GANTRY_USER", user.0)
        .env("GANTRY_PASSWORD", user.1)
        .env("GANTRY_SCREENSHOTS", repo().join("docs/console"))
        .envs(env.iter().map(|(k, v)| (*k, v)))
        .output()
        .await
        .expect("node runs");
    assert!(
        output.status.success(),
        "journey {name} failed (its last screen: /tmp/gantry-journey-{name}-failure.png):\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A server whose fleet is `sims`, and a creator with credits.
async fn with_fleet(sims: &[&Sim]) -> (TestApp, String) {
    let app = TestApp::start(Backend::Sqlite).await;
    let admin = app.admin_token().await;
    let ports: Vec<u16> = sims.iter().map(|s| s.port).collect();
    app.use_fleet(&admin, fleet_config(&ports, 1)).await;
    (app, admin)
}

async fn every_page_gets_the_console_and_its_assets(backend: Backend) {
    let app = TestApp::start(backend).await;
    let get = |path: &str, accept: &str| app.http.get(app.url(path)).header("accept", accept).send();
    for path in ["/", "/studio", "/machines/local/0f1e", "/workflows/executions/42"] {
        let page = get(path, "text/html").await.unwrap();
        assert_eq!(page.status(), 200, "{path}");
        assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
        let policy = page.headers()["content-security-policy"].to_str().unwrap().to_owned();
        assert!(policy.contains("script-src 'self'"), "{policy}");
        let html = page.text().await.unwrap();
        assert!(html.contains("<div id=\"app\"></div>"), "{html}");
        let script = html.split("src=\"").nth(1).and_then(|s| s.split('"').next()).unwrap().to_owned();
        let asset = get(&script, "*/*").await.unwrap();
        assert_eq!(asset.status(), 200, "{script}");
        assert_eq!(asset.headers()["content-type"], "text/javascript; charset=utf-8");
        assert!(asset.headers()["cache-control"].to_str().unwrap().contains("immutable"));
        let packed = app.http.get(app.url(&script)).header("accept-encoding", "gzip, br").send().await.unwrap();
        assert_eq!(packed.headers()["content-encoding"], "gzip", "a browser gets the precompressed copy");
        assert!(packed.bytes().await.unwrap().len() < asset.bytes().await.unwrap().len());
    }
    // The APIs keep their own answers: a JSON client gets the dialect's 404, an API path
    // never gets the page, and a missing asset is a plain 404.
    let (status, body) = app.call("GET", "/api/v1/nothing-here", None, None).await;
    assert_eq!((status, body["code"].as_i64()), (404, Some(404)), "{body}");
    assert_eq!(get("/studio", "application/json").await.unwrap().status(), 404);
    assert_eq!(get("/api/tasks/x/y/z", "text/html").await.unwrap().status(), 404);
    assert_eq!(get("/assets/main-missing.js", "*/*").await.unwrap().status(), 404);
    // The API browser, offline: its page, its bundle, and the document it reads.
    let docs = get("/docs/", "text/html").await.unwrap();
    assert_eq!(docs.status(), 200);
    assert!(docs.text().await.unwrap().contains("swagger-ui-bundle.js"));
    assert_eq!(get("/docs/swagger-ui-bundle.js", "*/*").await.unwrap().status(), 200);
    assert_eq!(get("/openapi.json", "application/json").await.unwrap().status(), 200);
}

gantry_testkit::on_each_backend!(every_page_gets_the_console_and_its_assets);

#[tokio::test]
async fn the_console_speaks_the_browsers_language_and_switches() {
    let app = TestApp::start(Backend::Sqlite).await;
    journey("language", &app, ("admin", ADMIN_PASSWORD), &[]).await;
}

#[tokio::test]
async fn a_creator_generates_an_image_and_sees_it_in_the_gallery() {
    let sim = Sim::spawn(&["--step-ms", "20"]);
    let (app, admin) = with_fleet(&[&sim]).await;
    let id = app.create_user(&admin, "creator", "creator-password").await;
    app.grant_credits(&admin, id, 500).await;
    journey("creator", &app, ("creator", "creator-password"), &[]).await;
}

#[tokio::test]
async fn an_operator_sees_the_fleet_come_alive_and_adds_a_server() {
    let (one, two, three) = (Sim::spawn(&[]), Sim::spawn(&[]), Sim::spawn(&[]));
    let (app, admin) = with_fleet(&[&one, &two]).await;
    let new_server = format!("127.0.0.1:{}", three.port);
    let (_, queued) =
        app.call("POST", "/comfy/prompt", Some(&admin), Some(json!({"prompt": quick_graph(5, 16)}))).await;
    let prompt = queued["prompt_id"].as_str().unwrap_or_else(|| panic!("{queued}")).to_owned();
    assert_eq!(app.finished(&admin, &prompt).await["status"], "completed");
    let env = [("GANTRY_NEW_SERVER", new_server), ("GANTRY_COMFY_PROMPT", prompt)];
    journey("operator", &app, ("admin", ADMIN_PASSWORD), &env).await;
}

#[tokio::test]
async fn a_vm_admin_starts_a_vm_and_sees_its_screen_without_a_password() {
    let storage = tempfile::tempdir().unwrap();
    let _reaper = Reaper(storage.path().to_path_buf());
    let app = TestApp::start_with(Backend::Sqlite, |c| compute_config(c, storage.path())).await;
    let admin = app.admin_token().await;
    app.ok("POST", "/api/server/create", &admin, Some(host_body("local", port_range()))).await;
    let created = app.ok("POST", "/api/client/create/local", &admin, Some(guest_vm("console-demo"))).await;
    let vm = created["vm"]["vm_uuid"].as_str().unwrap().to_owned();
    let env = [("GANTRY_HOST", "local".to_owned()), ("GANTRY_VM", vm)];
    journey("vm-admin", &app, ("admin", ADMIN_PASSWORD), &env).await;
}

#[tokio::test]
async fn an_author_builds_a_workflow_with_an_if_and_a_loop_and_reads_its_logs() {
    let app = TestApp::start(Backend::Sqlite).await;
    let admin = app.admin_token().await;
    app.create_user(&admin, "author", "author-password").await;
    journey("author", &app, ("author", "author-password"), &[]).await;
}
