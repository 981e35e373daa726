//! `kill -9` of the gantry process with a VM running: the VM keeps running, and the restarted
//! gantry re-attaches it through its QMP socket (same pid, running, forwards working), and can
//! stop it.

use crate::common::ADMIN_PASSWORD;
use crate::common::compute::{Reaper, guest_dir, guest_page, guest_vm, host_body, port_range};
use crate::common::process::GantryProcess;
use gantry_store::Backend;
use gantry_testkit::ScratchDb;
use serde_json::{Value, json};

/// The answer's `data`, after checking it succeeded.
async fn ok(gantry: &GantryProcess, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> Value {
    let answer = gantry.call(method, path, token, body).await;
    assert_eq!(answer["code"], 200, "{method} {path}: {answer}");
    answer["data"].clone()
}

async fn a_killed_gantry_reattaches_its_running_vms(backend: Backend) {
    let data = tempfile::tempdir().unwrap();
    let db = ScratchDb::new(backend).await;
    let storage = data.path().join("vms");
    let _reaper = Reaper(storage.clone());
    let config = data.path().join("gantry.toml");
    std::fs::write(
        &config,
        format!("[compute]\naccel = \"tcg\"\nnat_bind = \"127.0.0.1\"\nprobe_guest_dir = {:?}\n", guest_dir()),
    )
    .unwrap();
    let ports = port_range();
    let mut gantry = GantryProcess::start(data.path(), &db.url, Some(&config));
    let login =
        ok(&gantry, "POST", "/api/auth/login", None, Some(json!({"username": "admin", "password": ADMIN_PASSWORD})))
            .await;
    let token = login["token"].as_str().unwrap().to_owned();
    ok(&gantry, "POST", "/api/server/create", Some(&token), Some(host_body("local", ports))).await;
    let vm = ok(&gantry, "POST", "/api/client/create/local", Some(&token), Some(guest_vm("survivor"))).await["vm"]["vm_uuid"]
        .as_str()
        .unwrap()
        .to_owned();
    ok(
        &gantry,
        "POST",
        &format!("/api/client/natadd/local/{vm}"),
        Some(&token),
        Some(json!({"wan_port": ports.0, "lan_port": 80})),
    )
    .await;
    ok(&gantry, "POST", &format!("/api/client/powers/local/{vm}"), Some(&token), Some(json!({"action": "start"})))
        .await;
    let before = ok(&gantry, "GET", &format!("/api/client/status/local/{vm}"), Some(&token), None).await;
    let pid = before["pid"].as_u64().unwrap();
    guest_page(ports.0, "guest").await;

    gantry.kill9();
    assert!(gantry_vm_engine::procfs::alive(pid as u32), "the VM outlives gantry");
    let gantry = GantryProcess::start(data.path(), &db.url, Some(&config));
    let after = ok(&gantry, "GET", &format!("/api/client/status/local/{vm}"), Some(&token), None).await;
    assert_eq!((after["power"].as_str(), after["qemu_status"].as_str()), (Some("STARTED"), Some("running")), "{after}");
    assert_eq!(after["pid"].as_u64(), Some(pid));
    let listed = ok(&gantry, "GET", "/api/client/listup/local", Some(&token), None).await;
    assert_eq!(listed[0]["power"], "STARTED");
    guest_page(ports.0, "guest").await;

    let stopped =
        ok(&gantry, "POST", &format!("/api/client/powers/local/{vm}"), Some(&token), Some(json!({"action": "stop"})))
            .await;
    assert_eq!(stopped["status"]["power"], "STOPPED", "{stopped}");
    assert!(!gantry_vm_engine::procfs::alive(pid as u32));

    // Host-wide actions reach every VM of the host.
    let all = ok(&gantry, "POST", "/api/server/powers/local", Some(&token), Some(json!({"action": "start_all"}))).await;
    assert_eq!(
        (all["results"][0]["vm_uuid"].as_str(), all["results"][0]["success"].as_bool()),
        (Some(vm.as_str()), Some(true)),
        "{all}"
    );
    guest_page(ports.0, "guest").await;
    let all = ok(&gantry, "POST", "/api/server/powers/local", Some(&token), Some(json!({"action": "stop_all"}))).await;
    assert_eq!(all["results"][0]["success"], true, "{all}");
    let after = ok(&gantry, "GET", &format!("/api/client/status/local/{vm}"), Some(&token), None).await;
    assert_eq!((after["power"].as_str(), after["pid"].as_u64()), (Some("STOPPED"), None));
    ok(&gantry, "DELETE", &format!("/api/client/delete/local/{vm}"), Some(&token), None).await;
    assert!(!storage.join("local").join(&vm).exists());
}

gantry_testkit::on_each_backend!(a_killed_gantry_reattaches_its_running_vms);
