//! The VM lifecycle over HTTP with a real QEMU guest: create host → create VM → start →
//! running (QMP) → NAT → the guest's httpd through the host port → reverse proxy by Host
//! header → console ticket (RFB login with the one-time password; reused and expired tickets refused) → agent report →
//! shutdown → delete leaves no process and no file.

use std::time::Duration;

use crate::common::compute::{Reaper, compute_config, guest_page, guest_vm, host_body, port_range};
use crate::common::vflow::step;
use crate::common::{TestApp, eventually, next_message};
use des::cipher::{BlockEncrypt, KeyInit};
use futures_util::{SinkExt, StreamExt};
use gantry_store::Backend;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

/// The console ticket lifetime of this test's server.
const TICKET_TTL_SECS: u64 = 5;

async fn a_vm_lives_and_dies_through_the_api(backend: Backend) {
    let storage = tempfile::tempdir().unwrap();
    let _reaper = Reaper(storage.path().to_path_buf());
    let app = TestApp::start_with(backend, |c| {
        compute_config(c, storage.path());
        c.compute.console_ticket_ttl_secs = TICKET_TTL_SECS;
    })
    .await;
    let admin = app.admin_token().await;
    let mut events = app.events();
    let ports = port_range();
    app.ok("POST", "/api/server/create", &admin, Some(host_body("local", ports))).await;

    let mut body = guest_vm("web");
    body["nic_all"] = json!({"nic0": {"ip4_addr": "10.0.2.20", "nic_mask": "255.255.255.0"}});
    let created = app.ok("POST", "/api/client/create/local", &admin, Some(body)).await;
    let vm = created["vm"]["vm_uuid"].as_str().unwrap().to_owned();
    let secret = created["agent_secret"].as_str().unwrap().to_owned();
    let vm_dir = storage.path().join("local").join(&vm);
    let record = std::fs::read_to_string(vm_dir.join("vm.json")).unwrap();
    assert!(record.contains(&format!("gantry.agent={secret}")), "the guest gets its agent secret on its command line");

    // Start; QMP says running, and the console's live socket hears it.
    let mut live = app.live_socket(&admin).await;
    let started =
        app.ok("POST", &format!("/api/client/powers/local/{vm}"), &admin, Some(json!({"action": "start"}))).await;
    assert_eq!(started["status"]["power"], "STARTED", "{started}");
    let status = app.ok("GET", &format!("/api/client/status/local/{vm}"), &admin, None).await;
    assert_eq!(
        (status["power"].as_str(), status["qemu_status"].as_str()),
        (Some("STARTED"), Some("running")),
        "{status}"
    );
    assert_eq!(status["accel"], "tcg");
    let pid = status["pid"].as_u64().unwrap() as u32;
    eventually(30, "a VmStateChanged STARTED event", || {
        let seen = events.saw(|e| e["event"] == "vm_state_changed" && e["power"] == "STARTED");
        async move { seen.then_some(()) }
    })
    .await;
    let heard = next_message(&mut live, "vm_status", |m| m["data"]["vmUuid"] == vm.as_str()).await;
    assert_eq!((heard["data"]["host"].as_str(), heard["data"]["power"].as_str()), (Some("local"), Some("STARTED")));
    drop(live);

    // NAT: the guest's httpd through the host port (its page names the VM).
    let wan = ports.0 + 3;
    app.ok("POST", &format!("/api/client/natadd/local/{vm}"), &admin, Some(json!({"wan_port": wan, "lan_port": 80})))
        .await;
    let page = guest_page(wan, "guest").await;
    assert!(page.contains("web") && page.contains("10.0.2.20"), "the guest got its name and address: {page}");

    // Reverse proxy by Host header through Gantry's own port; it reuses the forward.
    let route =
        app.ok("POST", &format!("/api/client/pxyadd/local/{vm}"), &admin, Some(json!({"web_addr": "web.test"}))).await;
    assert_eq!((route["wan_port"].as_u64(), route["nat_auto"].as_bool()), (Some(wan.into()), Some(false)), "{route}");
    let gantry_port = app.base.rsplit(':').next().unwrap().parse().unwrap();
    let proxied = guest_page(gantry_port, "web.test").await;
    assert!(proxied.contains("gantry-guest"), "{proxied}");

    // Console: one ticket opens the VNC WebSocket once; an expired one is refused.
    let console = app.ok("GET", &format!("/api/client/vncons/local/{vm}"), &admin, None).await;
    let ws_url = console["ws_url"].as_str().unwrap().to_owned();
    assert!(ws_url.starts_with("ws://") && console["expires_at"].is_i64(), "{console}");
    let password = console["password"].as_str().unwrap().to_owned();
    let (socket, _) = tokio_tungstenite::connect_async(ws_url.as_str()).await.unwrap();
    let mut rfb = Rfb { socket, buffered: Vec::new() };
    assert_eq!(rfb.read(12).await, b"RFB 003.008\n", "the RFB greeting");
    let (width, height) = rfb.log_in(&password).await;
    assert!(width > 0 && height > 0, "the framebuffer is {width}x{height}");
    drop(rfb);
    assert!(tokio_tungstenite::connect_async(ws_url.as_str()).await.is_err(), "a used ticket is refused");
    let stale = app.ok("GET", &format!("/api/client/vncons/local/{vm}"), &admin, None).await;
    tokio::time::sleep(Duration::from_secs(TICKET_TTL_SECS + 1)).await;
    assert!(
        tokio_tungstenite::connect_async(stale["ws_url"].as_str().unwrap()).await.is_err(),
        "an expired ticket is refused"
    );
    // A person who opens a console link with a used or an expired ticket reads which, as a page.
    let ticket_of = |url: &str| url.split("ticket=").nth(1).unwrap().to_owned();
    for (url, says, dit) in [
        (&ws_url, "This console link was already used", "控制台链接已被使用"),
        (&stale["ws_url"].as_str().unwrap().to_owned(), "This console link has expired", "控制台链接已过期"),
    ] {
        for (language, title) in [("en-GB,en;q=0.9", says), ("zh-CN,zh;q=0.9", dit)] {
            let page = app
                .http
                .get(app.url(&format!("/console/?ticket={}", ticket_of(url))))
                .header("accept", "text/html,application/xhtml+xml")
                .header("accept-language", language)
                .send()
                .await
                .unwrap();
            assert_eq!(page.status(), 403);
            assert!(page.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
            let html = page.text().await.unwrap();
            assert!(html.contains(&format!("<h1>{title}</h1>")), "{html}");
        }
    }

    // Pause, resume and a hard reset keep the same process.
    let power = format!("/api/client/powers/local/{vm}");
    let paused = app.ok("POST", &power, &admin, Some(json!({"action": "pause"}))).await;
    assert_eq!(
        (paused["status"]["power"].as_str(), paused["status"]["qemu_status"].as_str()),
        (Some("SUSPEND"), Some("paused"))
    );
    let msg = app.fails(400, "POST", &power, Some(&admin), Some(json!({"action": "shutdown"}))).await;
    assert!(msg.contains("paused"), "{msg}");
    app.fails(400, "POST", &power, Some(&admin), Some(json!({"action": "start"}))).await;
    assert_eq!(app.ok("POST", &power, &admin, Some(json!({"action": "resume"}))).await["status"]["power"], "STARTED");
    let reset = app.ok("POST", &power, &admin, Some(json!({"action": "hard_reset"}))).await;
    assert_eq!((reset["action"].as_str(), reset["status"]["pid"].as_u64()), (Some("reset"), Some(pid.into())));
    guest_page(wan, "guest").await;

    // The agent reports with the VM's secret.
    let answer = app
        .http
        .post(app.url("/api/client/upload"))
        .header("X-Agent-Secret", &secret)
        .json(&json!({"cpu_usage": 3}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);

    // Workflows drive the same VM: a status step reads it, an event trigger sees it stop.
    let status = app
        .workflow(&admin, "vm status", json!([step("s", "gantry_vm_status", 0, json!({"host": "local", "vmId": vm}))]))
        .await;
    let run = app.run_sync(&admin, &status, json!({})).await;
    assert_eq!(run["outputs"]["s"]["state"]["value"], "STARTED", "{run}");
    let on_change = app
        .workflow(
            &admin,
            "on vm change",
            json!([
                step("t", "trigger_event", 0, json!({"event": "vm_state_changed"})),
                step("l", "log", 0, json!({"message": "{{t.subject}} is {{t.payload.power}}"})),
            ]),
        )
        .await;

    // ACPI shutdown: the guest powers itself off.
    let down = app
        .ok(
            "POST",
            &format!("/api/client/powers/local/{vm}"),
            &admin,
            Some(json!({"action": "shutdown", "timeout": 30})),
        )
        .await;
    assert_eq!((down["status"]["power"].as_str(), down["forced"].as_bool()), (Some("STOPPED"), Some(false)), "{down}");
    assert!(!gantry_vm_engine::procfs::alive(pid), "qemu pid {pid} is gone");
    eventually(30, "a VmStateChanged STOPPED event", || {
        let seen = events.saw(|e| e["event"] == "vm_state_changed" && e["power"] == "STOPPED");
        async move { seen.then_some(()) }
    })
    .await;
    let expected = format!("{vm} is STOPPED");
    eventually(30, "the vm_state_changed trigger", || async {
        let (_, body) =
            app.call("GET", &format!("/api/v1/executions?workflowId={on_change}"), Some(&admin), None).await;
        let runs = body["data"]["executions"].as_array().cloned().unwrap_or_default();
        let mut messages = Vec::new();
        for r in runs.iter().filter(|r| r["triggeredBy"] == "event") {
            let done = app.ended(&admin, r["executionId"].as_str().unwrap()).await;
            messages.push(done["outputs"]["l"]["message"]["value"].as_str().unwrap_or_default().to_owned());
        }
        messages.contains(&expected).then_some(())
    })
    .await;
    let statis = app.ok("GET", "/api/system/statis", &admin, None).await;
    assert_eq!(statis["running_vm_count"], 0);
    let tasks = app.ok("GET", &format!("/api/system/tasget?vm_uuid={vm}"), &admin, None).await;
    let kinds: Vec<(&str, &str)> = tasks
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["kind"].as_str().unwrap(), t["status"].as_str().unwrap()))
        .collect();
    let expected = [
        ("shutdown", "succeeded"),
        ("reset", "succeeded"),
        ("resume", "succeeded"),
        ("start", "failed"),
        ("shutdown", "failed"),
        ("pause", "succeeded"),
        ("start", "succeeded"),
        ("create", "succeeded"),
    ];
    assert_eq!(kinds, expected);

    // Delete: no process, no file, no route.
    app.ok("DELETE", &format!("/api/client/delete/local/{vm}"), &admin, None).await;
    assert!(!vm_dir.exists(), "{} removed", vm_dir.display());
    assert!(std::fs::read_dir(storage.path().join("local")).unwrap().next().is_none());
    let unrouted = crate::common::compute::http_get(gantry_port, "web.test").await.unwrap_or_default();
    assert!(!unrouted.contains("gantry-guest"), "the route went with the VM: {unrouted}");
    eventually(30, "a ComputeChanged vm.delete event", || {
        let seen = events.saw(|e| e["event"] == "compute_changed" && e["action"] == "vm.delete");
        async move { seen.then_some(()) }
    })
    .await;
    let log = app.ok("GET", &format!("/api/system/logget?vm_uuid={vm}&limit=100"), &admin, None).await;
    let actions: Vec<&str> = log.as_array().unwrap().iter().map(|e| e["actions"].as_str().unwrap()).collect();
    for action in ["vm.create", "vm.start", "nat.add", "proxy.add", "vm.console", "vm.shutdown", "vm.delete"] {
        assert!(actions.contains(&action), "{action} in {actions:?}");
    }
    app.stop().await;
}

/// An RFB (VNC) client over the console WebSocket, as far as a viewer's login goes.
struct Rfb {
    socket: tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    buffered: Vec<u8>,
}

impl Rfb {
    /// The next `n` bytes of the stream, however the server split them into frames.
    async fn read(&mut self, n: usize) -> Vec<u8> {
        while self.buffered.len() < n {
            let frame =
                tokio::time::timeout(Duration::from_secs(10), self.socket.next()).await.unwrap().unwrap().unwrap();
            let Message::Binary(bytes) = frame else { panic!("expected RFB bytes, got {frame:?}") };
            self.buffered.extend_from_slice(&bytes);
        }
        self.buffered.drain(..n).collect()
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.socket.send(Message::Binary(bytes.to_vec().into())).await.unwrap();
    }

    /// RFB 3.8 with VNC authentication, then ClientInit; returns the framebuffer size.
    async fn log_in(&mut self, password: &str) -> (u16, u16) {
        self.send(b"RFB 003.008\n").await;
        let count = self.read(1).await[0];
        let types = self.read(usize::from(count)).await;
        assert!(types.contains(&2), "VNC authentication is offered: {types:?}");
        self.send(&[2]).await;
        let challenge = self.read(16).await;
        // VNC's DES key is the password, zero-padded to 8 bytes, each byte's bits reversed.
        let mut key = [0u8; 8];
        for (k, b) in key.iter_mut().zip(password.bytes()) {
            *k = b.reverse_bits();
        }
        let cipher = des::Des::new(&key.into());
        let mut response = challenge.clone();
        for block in response.chunks_mut(8) {
            cipher.encrypt_block(block.into());
        }
        self.send(&response).await;
        assert_eq!(self.read(4).await, [0, 0, 0, 0], "the console password is accepted");
        self.send(&[1]).await;
        let init = self.read(4).await;
        (u16::from_be_bytes([init[0], init[1]]), u16::from_be_bytes([init[2], init[3]]))
    }
}

gantry_testkit::on_each_backend!(a_vm_lives_and_dies_through_the_api);
