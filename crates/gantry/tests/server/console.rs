//! VM consoles through a real Gantry: a real guest booted with the QEMU engine, a ticket
//! issued from the server's own `Tickets`, and the RFB stream read over `/console/ws`.
//! Needs QEMU and the guest of `scripts/guest-image target/guest` (a missing one fails).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use gantry_core::Clock as _;
use gantry_store::Backend;
use gantry_testkit::ScratchDb;
use gantry_vm_engine::{KernelBoot, PowerAction, QemuConfig, QemuEngine, VmEngine, VmSpec};
use serde_json::Value;
use tokio_tungstenite::tungstenite::{self, Message, client::IntoClientRequest};

fn guest_dir() -> PathBuf {
    let dir = std::env::var_os("GANTRY_GUEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/guest"));
    assert!(
        dir.join("vmlinuz").is_file() && dir.join("initramfs.cpio.gz").is_file(),
        "test guest missing in {}: run `scripts/guest-image target/guest`",
        dir.display()
    );
    dir
}

/// Kills the QEMU of every VM under the storage directory when dropped.
struct Reaper(PathBuf);

impl Drop for Reaper {
    fn drop(&mut self) {
        let Ok(entries) = std::fs::read_dir(&self.0) else { return };
        for entry in entries.flatten() {
            let dir = entry.path();
            if let Some(pid) = gantry_vm_engine::procfs::read_pid_file(&dir.join("pid"))
                && gantry_vm_engine::procfs::alive_with(pid, &dir.to_string_lossy())
            {
                gantry_vm_engine::procfs::signal(pid, 9);
            }
        }
    }
}

/// A running guest on its own engine (TCG: the console needs no speed).
async fn boot(storage: &Path, uuid: &str) -> QemuEngine {
    let guest = guest_dir();
    let mut cfg = QemuConfig::new(storage);
    cfg.accel = gantry_vm_engine::AccelPolicy::Tcg;
    let engine = QemuEngine::new(cfg).unwrap();
    let mut spec = VmSpec::new(uuid, uuid, 1, 128);
    spec.boot = Some(KernelBoot {
        kernel: guest.join("vmlinuz"),
        initrd: Some(guest.join("initramfs.cpio.gz")),
        cmdline: "console=ttyS0 quiet panic=-1".into(),
    });
    engine.create(spec).await.unwrap();
    engine.power(uuid, PowerAction::Start).await.unwrap();
    engine
}

async fn start(backend: Backend, ttl_secs: u64) -> (gantry::Running, tempfile::TempDir, ScratchDb) {
    let dir = tempfile::tempdir().unwrap();
    let db = ScratchDb::new(backend).await;
    let mut config = gantry_core::config::Config {
        listen: "127.0.0.1:0".into(),
        data_dir: dir.path().to_path_buf(),
        database_url: Some(db.url.clone()),
        ..Default::default()
    };
    config.compute.console_ticket_ttl_secs = ttl_secs;
    (gantry::start(config, Some("admin-password-for-tests".into())).await.unwrap(), dir, db)
}

fn ws_url(addr: SocketAddr, ticket: &str) -> String {
    format!("ws://{addr}{}", gantry_http::console::ws_path(ticket))
}

/// Connects expecting a refusal; returns its status and openidcs envelope.
async fn refused(url: &str) -> (u16, Value) {
    match tokio_tungstenite::connect_async(url).await {
        Err(tungstenite::Error::Http(response)) => {
            let body = response.body().clone().unwrap_or_default();
            (response.status().as_u16(), serde_json::from_slice(&body).unwrap())
        }
        other => panic!("expected a refusal, got {:?}", other.map(|(_, r)| r.status())),
    }
}

async fn console_streams_rfb_once_per_ticket_and_closes_on_shutdown(backend: Backend) {
    let vms = tempfile::tempdir().unwrap();
    let _reaper = Reaper(vms.path().to_path_buf());
    let engine = boot(vms.path(), "console-1").await;
    let (gantry, _dir, _db) = start(backend, 60).await;
    let addr = gantry.addr();
    let tickets = &gantry.state().consoles;
    let shared: Arc<dyn VmEngine> = Arc::new(engine.clone());
    let ticket = tickets.issue(shared.clone(), "console-1".into()).ticket;
    let http = reqwest::Client::new();

    // No ticket: 401. A plain GET is refused without spending the ticket.
    let answer = http.get(format!("http://{addr}/console/ws")).send().await.unwrap();
    assert_eq!(answer.status(), 401);
    assert_eq!(answer.json::<Value>().await.unwrap()["code"], 401);
    let answer = http.get(format!("http://{addr}/console/ws?ticket={ticket}")).send().await.unwrap();
    assert_eq!(answer.status(), 400);

    // noVNC's page: only when the Debian package is installed.
    let page = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("http://{addr}/console/?ticket={ticket}"))
        .send()
        .await
        .unwrap();
    match gantry_http::console::page_path(&ticket) {
        Some(path) => {
            assert_eq!(path, format!("/console/?ticket={ticket}"));
            assert_eq!(page.status(), 303);
        }
        None => {
            assert_eq!(page.status(), 404);
            let body: Value = page.json().await.unwrap();
            assert_eq!(body["code"], 404, "{body}");
        }
    }

    // The ticket opens the console once, echoing the `binary` subprotocol old noVNC offers.
    let mut request = ws_url(addr, &ticket).into_client_request().unwrap();
    request.headers_mut().insert("sec-websocket-protocol", "binary".parse().unwrap());
    let (mut socket, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(response.headers().get("sec-websocket-protocol").unwrap(), "binary");
    let first = tokio::time::timeout(Duration::from_secs(30), socket.next()).await.unwrap().unwrap().unwrap();
    let Message::Binary(greeting) = first else { panic!("expected binary RFB bytes, got {first:?}") };
    assert!(greeting.starts_with(b"RFB 003.0"), "{greeting:?}");

    let (status, body) = refused(&ws_url(addr, &ticket)).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["code"], 403, "{body}");
    let (status, _) = refused(&ws_url(addr, "0123456789abcdef")).await;
    assert_eq!(status, 403);

    // A second ticket without a subprotocol (noVNC ≥ 1.0).
    let ticket = tickets.issue(shared, "console-1".into()).ticket;
    let (mut second, response) = tokio_tungstenite::connect_async(ws_url(addr, &ticket)).await.unwrap();
    assert!(response.headers().get("sec-websocket-protocol").is_none());
    let Some(Ok(Message::Binary(greeting))) = second.next().await else { panic!("no RFB greeting") };
    assert!(greeting.starts_with(b"RFB 003.0"));

    // Shutdown ends open consoles.
    gantry.stop().await.unwrap();
    let end = tokio::time::timeout(Duration::from_secs(30), socket.next()).await.unwrap();
    assert!(!matches!(end, Some(Ok(Message::Binary(_) | Message::Text(_)))), "{end:?}");
    engine.power("console-1", PowerAction::Stop).await.unwrap();
}

async fn expired_tickets_are_refused(backend: Backend) {
    let vms = tempfile::tempdir().unwrap();
    let _reaper = Reaper(vms.path().to_path_buf());
    let engine = boot(vms.path(), "console-2").await;
    let (gantry, _dir, _db) = start(backend, 1).await;
    let ticket = gantry.state().consoles.issue(Arc::new(engine.clone()), "console-2".into());
    // Wait (bounded) until the ticket's expiry has passed.
    while gantry_core::SystemClock.now_ms() <= ticket.expires_at_ms {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, body) = refused(&ws_url(gantry.addr(), &ticket.ticket)).await;
    assert_eq!(status, 403, "{body}");
    assert!(body["msg"].as_str().unwrap().contains("expired"), "{body}");
    gantry.stop().await.unwrap();
    engine.power("console-2", PowerAction::Stop).await.unwrap();
}

gantry_testkit::on_each_backend!(
    console_streams_rfb_once_per_ticket_and_closes_on_shutdown,
    expired_tickets_are_refused
);
