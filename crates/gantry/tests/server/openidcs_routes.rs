//! Every openidcs route over HTTP, without booting a VM: hosts, VM records, NAT, IPs, proxies,
//! the agent's upload, scan-and-adopt, system routes, bad input and authorization — on SQLite
//! and PostgreSQL.

use crate::common::TestApp;
use crate::common::compute::{Reaper, compute_config, guest_vm, host_body, port_range};
use gantry_store::Backend;
use gantry_vm_engine::{QemuConfig, QemuEngine, VmSpec};
use serde_json::{Value, json};

async fn upload(app: &TestApp, secret: Option<&str>) -> (u16, Value) {
    let mut request = app.http.post(app.url("/api/client/upload")).json(&json!({"cpu_usage": 7, "mem_usage": 64}));
    if let Some(secret) = secret {
        request = request.header("X-Agent-Secret", secret);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

async fn every_route_answers(engine: Backend) {
    let storage = tempfile::tempdir().unwrap();
    let _reaper = Reaper(storage.path().to_path_buf());
    let app = TestApp::start_with(engine, |c| {
        compute_config(c, storage.path());
        c.compute.agent_reports_per_minute = 3;
    })
    .await;
    let admin = app.admin_token().await;
    let ports = port_range();

    // Authorization: a token on every route, an admin for all of them.
    app.fails(401, "GET", "/api/server/listup", None, None).await;
    app.fails(401, "GET", "/api/system/statis", Some("not-a-token"), None).await;
    app.create_user(&admin, "bob", "bob-password-123").await;
    let (bob, _) = app.star_login("bob", "bob-password-123").await;
    app.fails(403, "GET", "/api/server/listup", Some(&bob), None).await;
    app.fails(403, "POST", "/api/server/create", Some(&bob), Some(host_body("h1", ports))).await;
    app.fails(403, "GET", "/api/client/natget/h1/x", Some(&bob), None).await;

    // Hosts.
    let host = app.ok("POST", "/api/server/create", &admin, Some(host_body("h1", ports))).await;
    assert_eq!((host["hs_name"].as_str(), host["server_type"].as_str()), (Some("h1"), Some("QEMUServer")));
    assert_eq!(
        (host["ports_start"].as_u64(), host["ports_close"].as_u64()),
        (Some(ports.0.into()), Some(ports.1.into()))
    );
    app.fails(400, "POST", "/api/server/create", Some(&admin), Some(host_body("h1", ports))).await;
    app.fails(400, "POST", "/api/server/create", Some(&admin), Some(json!({"hs_name": "../x"}))).await;
    app.fails(
        400,
        "POST",
        "/api/server/create",
        Some(&admin),
        Some(json!({"hs_name": "r", "server_addr": "10.9.9.9"})),
    )
    .await;
    app.fails(
        400,
        "POST",
        "/api/server/create",
        Some(&admin),
        Some(json!({"hs_name": "p", "ports_start": 9, "ports_close": 2})),
    )
    .await;
    assert_eq!(app.ok("GET", "/api/server/listup", &admin, None).await.as_array().unwrap().len(), 1);
    assert_eq!(app.ok("GET", "/api/server/detail/h1", &admin, None).await["vm_count"], 0);
    app.fails(404, "GET", "/api/server/detail/nope", Some(&admin), None).await;
    let updated = app.ok("PUT", "/api/server/update/h1", &admin, Some(json!({"filter_name": "adopt-"}))).await;
    assert_eq!(updated["filter_name"], "adopt-");
    app.fails(400, "PUT", "/api/server/update/h1", Some(&admin), Some(json!({"bogus": 1}))).await;
    let status = app.ok("GET", "/api/server/status/h1", &admin, None).await;
    assert!(status["cpu_total"].as_u64().unwrap() >= 1 && status["mem_total"].as_u64().unwrap() > 0, "{status}");
    assert_eq!(status["engine"], "QEMUServer");
    assert!(status["engine_version"].is_string(), "{status}");
    let mem_total = status["mem_total"].as_u64().unwrap();
    let on = app.ok("POST", "/api/server/powers/h1", &admin, Some(json!({"action": "maintenance_on"}))).await;
    assert_eq!(on["maintenance"], true);
    let msg = app.fails(400, "POST", "/api/client/create/h1", Some(&admin), Some(guest_vm("early"))).await;
    assert!(msg.contains("maintenance"), "{msg}");
    app.ok("POST", "/api/server/powers/h1", &admin, Some(json!({"enable": true}))).await;
    app.fails(400, "POST", "/api/server/powers/h1", Some(&admin), Some(json!({"action": "explode"}))).await;

    // VM records (files made, nothing booted).
    app.fails(404, "POST", "/api/client/create/nope", Some(&admin), Some(guest_vm("x"))).await;
    let mut too_big = guest_vm("big");
    too_big["mem_num"] = json!(mem_total + 1024);
    let msg = app.fails(400, "POST", "/api/client/create/h1", Some(&admin), Some(too_big)).await;
    assert!(msg.contains("beyond"), "{msg}");
    let mut outside = guest_vm("outside");
    outside["kernel"] = json!("../../etc/passwd");
    app.fails(400, "POST", "/api/client/create/h1", Some(&admin), Some(outside)).await;
    let bootless = json!({"vm_name": "bootless", "cpu_num": 1, "mem_num": 256, "hdd_num": 64});
    let msg = app.fails(400, "POST", "/api/client/create/h1", Some(&admin), Some(bootless)).await;
    assert!(msg.contains("nothing to boot"), "{msg}");
    let mut first = guest_vm("vm1");
    first["nic_all"] = json!({"nic0": {"ip4_addr": "10.0.2.15"}});
    let created = app.ok("POST", "/api/client/create/h1", &admin, Some(first)).await;
    let vm1 = created["vm"]["vm_uuid"].as_str().unwrap().to_owned();
    let secret1 = created["agent_secret"].as_str().unwrap().to_owned();
    assert_eq!(created["vm"]["power"], "STOPPED");
    let vm1_dir = storage.path().join("h1").join(&vm1);
    assert!(vm1_dir.join("disk.qcow2").is_file(), "qemu-img made the disk");
    let msg = app.fails(400, "POST", "/api/client/create/h1", Some(&admin), Some(guest_vm("vm1"))).await;
    assert!(msg.contains("already exists"), "{msg}");
    let vm2 = app.ok("POST", "/api/client/create/h1", &admin, Some(guest_vm("vm2"))).await["vm"]["vm_uuid"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(app.ok("GET", "/api/client/listup/h1", &admin, None).await.as_array().unwrap().len(), 2);
    assert_eq!(app.ok("GET", &format!("/api/client/detail/h1/{vm1}"), &admin, None).await["vm_name"], "vm1");
    app.fails(404, "GET", "/api/client/detail/h1/nope", Some(&admin), None).await;
    let changed = app
        .ok("PUT", &format!("/api/client/update/h1/{vm2}"), &admin, Some(json!({"mem_num": 320, "hdd_num": 96})))
        .await;
    assert_eq!(changed["vm"]["mem_num"], 320);
    app.fails(400, "PUT", &format!("/api/client/update/h1/{vm2}"), Some(&admin), Some(json!({"vm_name": "vm1"}))).await;
    app.fails(400, "PUT", &format!("/api/client/update/h1/{vm2}"), Some(&admin), Some(json!({"hdd_num": 1}))).await;
    let st = app.ok("GET", &format!("/api/client/status/h1/{vm1}"), &admin, None).await;
    assert_eq!((st["power"].as_str(), st["pid"].as_u64()), (Some("STOPPED"), None));
    app.fails(400, "POST", &format!("/api/client/powers/h1/{vm1}"), Some(&admin), Some(json!({"action": "fly"}))).await;
    app.fails(400, "POST", &format!("/api/client/powers/h1/{vm1}"), Some(&admin), Some(json!({"action": "pause"})))
        .await;
    app.fails(400, "GET", &format!("/api/client/vncons/h1/{vm1}"), Some(&admin), None).await;

    // NAT: range, conflicts across VMs, ports taken on the host, allocation, index delete.
    let rule = app
        .ok("POST", &format!("/api/client/natadd/h1/{vm1}"), &admin, Some(json!({"wan_port": ports.0, "lan_port": 80})))
        .await;
    assert_eq!((rule["wan_port"].as_u64(), rule["lan_addr"].as_str()), (Some(ports.0.into()), Some("10.0.2.15")));
    let nat2 = format!("/api/client/natadd/h1/{vm2}");
    let msg = app.fails(400, "POST", &nat2, Some(&admin), Some(json!({"wan_port": ports.0, "lan_port": 80}))).await;
    assert!(msg.contains("already forwarded"), "{msg}");
    let msg = app.fails(400, "POST", &nat2, Some(&admin), Some(json!({"wan_port": ports.1 + 1, "lan_port": 80}))).await;
    assert!(msg.contains("outside"), "{msg}");
    let squatter = std::net::TcpListener::bind(("127.0.0.1", ports.0 + 1)).unwrap();
    let msg = app.fails(400, "POST", &nat2, Some(&admin), Some(json!({"wan_port": ports.0 + 1, "lan_port": 80}))).await;
    assert!(msg.contains("in use"), "{msg}");
    drop(squatter);
    app.fails(400, "POST", &nat2, Some(&admin), Some(json!({"wan_port": ports.0 + 2, "lan_port": 0}))).await;
    app.fails(400, "POST", &nat2, Some(&admin), Some(json!({"protocol": "icmp", "lan_port": 22}))).await;
    let any = app
        .ok("POST", &nat2, &admin, Some(json!({"internal_port": 22, "protocol": "udp", "description": "dns"})))
        .await;
    assert_eq!((any["lan_port"].as_u64(), any["nat_tips"].as_str()), (Some(22), Some("dns")), "seed field names work");
    let port = any["wan_port"].as_u64().unwrap();
    assert!((u64::from(ports.0)..=u64::from(ports.1)).contains(&port), "{any}");
    assert_eq!(app.ok("GET", &format!("/api/client/natget/h1/{vm2}"), &admin, None).await.as_array().unwrap().len(), 1);
    app.ok("DELETE", &format!("/api/client/natdel/h1/{vm2}/0"), &admin, None).await;
    app.fails(404, "DELETE", &format!("/api/client/natdel/h1/{vm2}/0"), Some(&admin), None).await;
    app.fails(400, "DELETE", &format!("/api/client/natdel/h1/{vm2}/x"), Some(&admin), None).await;

    // IPs: validated, unique across VMs, by index.
    let ips = app.ok("GET", &format!("/api/client/iplist/h1/{vm1}"), &admin, None).await;
    assert_eq!(ips[0]["address"], "10.0.2.15");
    let ipadd = format!("/api/client/ipadd_/h1/{vm2}");
    app.fails(400, "POST", &ipadd, Some(&admin), Some(json!({"address": "10.0.2.300"}))).await;
    app.fails(400, "POST", &ipadd, Some(&admin), Some(json!({"address": "10.0.3.0"}))).await;
    app.fails(400, "POST", &ipadd, Some(&admin), Some(json!({"address": "10.0.3.9", "gateway": "10.7.7.1"}))).await;
    let msg = app.fails(400, "POST", &ipadd, Some(&admin), Some(json!({"address": "10.0.2.15"}))).await;
    assert!(msg.contains("in use"), "{msg}");
    let added = app
        .ok(
            "POST",
            &ipadd,
            &admin,
            Some(json!({"address": "10.0.3.20", "netmask": "255.255.255.0", "gateway": "10.0.3.1"})),
        )
        .await;
    assert_eq!((added["ips"][0]["address"].as_str(), added["pending"].as_bool()), (Some("10.0.3.20"), Some(false)));
    app.fails(
        400,
        "POST",
        &format!("/api/client/ipadd_/h1/{vm1}"),
        Some(&admin),
        Some(json!({"address": "10.0.2.16", "nic": "nic0"})),
    )
    .await;
    app.ok("DELETE", &format!("/api/client/ipdel_/h1/{vm2}/0"), &admin, None).await;
    assert!(app.ok("GET", &format!("/api/client/iplist/h1/{vm2}"), &admin, None).await.as_array().unwrap().is_empty());
    app.fails(404, "DELETE", &format!("/api/client/ipdel_/h1/{vm2}/0"), Some(&admin), None).await;

    // Reverse proxies: a forward is made for the route and goes with it.
    let pxy = format!("/api/client/pxyadd/h1/{vm2}");
    let route = app.ok("POST", &pxy, &admin, Some(json!({"web_addr": "App.Test", "web_path": "/"}))).await;
    assert_eq!((route["web_addr"].as_str(), route["nat_auto"].as_bool()), (Some("app.test"), Some(true)));
    assert_eq!(
        app.ok("GET", &format!("/api/client/natget/h1/{vm2}"), &admin, None).await[0]["wan_port"],
        route["wan_port"]
    );
    app.fails(
        400,
        "POST",
        &format!("/api/client/pxyadd/h1/{vm1}"),
        Some(&admin),
        Some(json!({"web_addr": "app.test"})),
    )
    .await;
    app.fails(400, "POST", &pxy, Some(&admin), Some(json!({"web_addr": "bad domain"}))).await;
    app.fails(400, "POST", &pxy, Some(&admin), Some(json!({"web_addr": "s.test", "is_https": true}))).await;
    app.fails(400, "DELETE", &format!("/api/client/natdel/h1/{vm2}/0"), Some(&admin), None).await;
    assert_eq!(app.ok("GET", &format!("/api/client/pxyget/h1/{vm2}"), &admin, None).await.as_array().unwrap().len(), 1);
    app.ok("DELETE", &format!("/api/client/pxydel/h1/{vm2}/0"), &admin, None).await;
    assert!(app.ok("GET", &format!("/api/client/natget/h1/{vm2}"), &admin, None).await.as_array().unwrap().is_empty());
    app.fails(404, "DELETE", &format!("/api/client/pxydel/h1/{vm2}/0"), Some(&admin), None).await;

    // The agent's upload: its own secret, no bearer token.
    assert_eq!(upload(&app, None).await.0, 401);
    assert_eq!(upload(&app, Some("wrong")).await.0, 401);
    let (status, ack) = upload(&app, Some(&secret1)).await;
    assert_eq!(status, 200, "{ack}");
    assert_eq!(ack["data"]["vm_uuid"], vm1.as_str());
    let st = app.ok("GET", &format!("/api/client/status/h1/{vm1}"), &admin, None).await;
    assert_eq!(st["agent_report"]["cpu_usage"], 7);
    assert_eq!(upload(&app, Some(&secret1)).await.0, 200);
    assert_eq!(upload(&app, Some(&secret1)).await.0, 200);
    assert_eq!(upload(&app, Some(&secret1)).await.0, 429, "at most 3 reports a minute per VM here");

    // Scan: a VM on the host's disk that Gantry does not know is adopted; the filter applies.
    let other = QemuEngine::new(QemuConfig::new(storage.path().join("h1"))).unwrap();
    other.create(VmSpec::new("adopt-1", "found one", 1, 128)).await.unwrap();
    other.create(VmSpec::new("other-1", "not mine", 1, 128)).await.unwrap();
    let scan = app.ok("POST", "/api/client/scaner/h1", &admin, None).await;
    let adopted: Vec<&str> =
        scan["adopted"].as_array().unwrap().iter().map(|a| a["vm"]["vm_uuid"].as_str().unwrap()).collect();
    assert_eq!(adopted, ["adopt-1"], "{scan}");
    assert!(scan["adopted"][0]["agent_secret"].is_string());
    assert_eq!(scan["skipped"][0]["vm_uuid"], "other-1");
    assert_eq!(app.ok("GET", "/api/client/detail/h1/adopt-1", &admin, None).await["vm_name"], "found one");
    assert!(app.ok("POST", "/api/client/scaner/h1", &admin, None).await["adopted"].as_array().unwrap().is_empty());

    // Wrong secrets from one address are cut off after ten a minute; a right one still
    // gets through (every user-network guest reports from the same loopback address).
    for _ in 2..10 {
        assert_eq!(upload(&app, Some("guess")).await.0, 401);
    }
    assert_eq!(upload(&app, Some("guess")).await.0, 429);
    let adopted_secret = scan["adopted"][0]["agent_secret"].as_str().unwrap();
    assert_eq!(upload(&app, Some(adopted_secret)).await.0, 200);

    // System routes.
    let statis = app.ok("GET", "/api/system/statis", &admin, None).await;
    assert_eq!((statis["host_count"].as_u64(), statis["vm_count"].as_u64()), (Some(1), Some(3)), "{statis}");
    assert_eq!((statis["running_vm_count"].as_u64(), statis["nat_rule_count"].as_u64()), (Some(0), Some(1)));
    let engines = app.ok("GET", "/api/system/engine", &admin, None).await;
    assert_eq!(
        (engines[0]["key"].as_str(), engines[0]["accel"].as_str()),
        (Some("QEMUServer"), Some("tcg")),
        "{engines}"
    );
    assert!(engines[0]["version"].is_string());
    let log = app.ok("GET", &format!("/api/system/logget?vm_uuid={vm1}&action=vm.create"), &admin, None).await;
    assert_eq!((log[0]["actor"].as_str(), log[0]["success"].as_bool()), (Some("admin"), Some(true)), "{log}");
    let failed = app.ok("GET", "/api/system/logget?action=nat.add&limit=50", &admin, None).await;
    assert!(failed.as_array().unwrap().iter().any(|e| e["success"] == false), "{failed}");
    assert_eq!(app.ok("GET", "/api/system/logget?limit=2", &admin, None).await.as_array().unwrap().len(), 2);
    app.fails(400, "GET", "/api/system/logget?nope=1", Some(&admin), None).await;
    let tasks = app.ok("GET", "/api/system/tasget?hs_name=h1&action=create&status=succeeded", &admin, None).await;
    assert_eq!(tasks.as_array().unwrap().len(), 2, "{tasks}");
    assert!(tasks[0]["finished_at"].is_i64() && tasks[0]["duration_ms"].is_i64());
    assert_eq!(app.ok("GET", "/api/system/tasget?action=scan", &admin, None).await.as_array().unwrap().len(), 2);

    // Inventory round trip; a bad import writes nothing.
    let inventory = app.ok("POST", "/api/system/saving", &admin, None).await;
    assert_eq!(inventory["hosts"][0]["vms"].as_array().unwrap().len(), 3);
    let loaded = app.ok("POST", "/api/system/loader", &admin, Some(inventory.clone())).await;
    assert_eq!((loaded["hosts"].as_u64(), loaded["vms"].as_u64()), (Some(1), Some(3)));
    let mut bad = inventory.clone();
    bad["hosts"][0]["config"]["hs_name"] = json!("h2");
    bad["hosts"][0]["config"]["system_path"] = json!(storage.path().join("h2"));
    bad["hosts"][0]["vms"][1]["config"]["nic_all"]["nic0"]["ip4_addr"] = json!("10.0.2.15");
    let msg = app.fails(400, "POST", "/api/system/loader", Some(&admin), Some(bad)).await;
    assert!(msg.contains("10.0.2.15"), "{msg}");
    app.fails(400, "POST", "/api/system/loader", Some(&admin), Some(json!({"version": 2, "hosts": []}))).await;
    assert_eq!(app.ok("GET", "/api/system/statis", &admin, None).await["host_count"], 1);
    assert_eq!(app.ok("POST", "/api/system/saving", &admin, None).await, inventory);

    // Deletes: a host with VMs only when forced; VM files go with the VM.
    let msg = app.fails(400, "DELETE", "/api/server/delete/h1", Some(&admin), None).await;
    assert!(msg.contains("VMs"), "{msg}");
    app.ok("DELETE", &format!("/api/client/delete/h1/{vm2}"), &admin, None).await;
    assert!(!storage.path().join("h1").join(&vm2).exists());
    app.fails(404, "DELETE", &format!("/api/client/delete/h1/{vm2}"), Some(&admin), None).await;
    app.ok("DELETE", "/api/server/delete/h1?force=true", &admin, None).await;
    assert!(!vm1_dir.exists());
    assert!(app.ok("GET", "/api/server/listup", &admin, None).await.as_array().unwrap().is_empty());
    app.fails(404, "GET", "/api/client/listup/h1", Some(&admin), None).await;
    app.stop().await;
}

/// The spec's 35 routes, as the OpenAPI document names them.
const SPEC_ROUTES: [(&str, &str); 35] = [
    ("post", "/api/system/treset"),
    ("post", "/api/system/tsetup"),
    ("get", "/api/system/tquery"),
    ("post", "/api/system/saving"),
    ("post", "/api/system/loader"),
    ("get", "/api/system/statis"),
    ("get", "/api/system/engine"),
    ("get", "/api/system/logget"),
    ("get", "/api/system/tasget"),
    ("get", "/api/server/listup"),
    ("get", "/api/server/detail/{hs_name}"),
    ("post", "/api/server/create"),
    ("put", "/api/server/update/{hs_name}"),
    ("delete", "/api/server/delete/{hs_name}"),
    ("post", "/api/server/powers/{hs_name}"),
    ("get", "/api/server/status/{hs_name}"),
    ("get", "/api/client/listup/{hs_name}"),
    ("get", "/api/client/detail/{hs_name}/{vm_uuid}"),
    ("post", "/api/client/create/{hs_name}"),
    ("put", "/api/client/update/{hs_name}/{vm_uuid}"),
    ("delete", "/api/client/delete/{hs_name}/{vm_uuid}"),
    ("post", "/api/client/powers/{hs_name}/{vm_uuid}"),
    ("get", "/api/client/status/{hs_name}/{vm_uuid}"),
    ("get", "/api/client/vncons/{hs_name}/{vm_uuid}"),
    ("post", "/api/client/scaner/{hs_name}"),
    ("post", "/api/client/upload"),
    ("get", "/api/client/natget/{hs_name}/{vm_uuid}"),
    ("post", "/api/client/natadd/{hs_name}/{vm_uuid}"),
    ("delete", "/api/client/natdel/{hs_name}/{vm_uuid}/{rule_index}"),
    ("get", "/api/client/iplist/{hs_name}/{vm_uuid}"),
    ("post", "/api/client/ipadd_/{hs_name}/{vm_uuid}"),
    ("delete", "/api/client/ipdel_/{hs_name}/{vm_uuid}/{ip_index}"),
    ("get", "/api/client/pxyget/{hs_name}/{vm_uuid}"),
    ("post", "/api/client/pxyadd/{hs_name}/{vm_uuid}"),
    ("delete", "/api/client/pxydel/{hs_name}/{vm_uuid}/{proxy_index}"),
];

async fn the_openapi_document_has_every_route_with_its_bodies(backend: Backend) {
    let app = TestApp::start(backend).await;
    let doc: Value = app.http.get(app.url("/openapi.json")).send().await.unwrap().json().await.unwrap();
    for (method, path) in SPEC_ROUTES {
        let op = &doc["paths"][path][method];
        assert!(op.is_object(), "{method} {path} missing from the OpenAPI document");
        if method == "post" || method == "put" {
            let documented = op["requestBody"].is_object() || !op["responses"]["200"]["content"].is_null();
            assert!(documented, "{method} {path} documents no body");
        }
    }
    for schema in
        ["HostConfig", "VmConfig", "PortData", "WebProxy", "IpAdd", "PowerRequest", "Inventory", "VmStatusView"]
    {
        assert!(doc["components"]["schemas"][schema].is_object(), "schema {schema}");
    }
    app.stop().await;
}

gantry_testkit::on_each_backend!(the_openapi_document_has_every_route_with_its_bodies, every_route_answers);
