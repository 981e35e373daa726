//! OpenIDCS's own clients: its whole `HSConfig` and `VMConfig` bodies round-trip (what Gantry
//! does not use is kept, named in `no_effect`, passwords dropped), and its web console's route
//! names, login, current user and logout work — on SQLite and PostgreSQL.

use crate::common::compute::{Reaper, compute_config, guest_dir, guest_vm, host_body, port_range};
use crate::common::{ADMIN_PASSWORD, TestApp};
use gantry_store::Backend;
use serde_json::{Value, json};

fn names(list: &Value) -> Vec<&str> {
    list.as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect()
}

async fn full_bodies_round_trip(backend: Backend) {
    let storage = tempfile::tempdir().unwrap();
    let _reaper = Reaper(storage.path().to_path_buf());
    let app = TestApp::start_with(backend, |c| compute_config(c, storage.path())).await;
    let admin = app.admin_token().await;
    let ports = port_range();

    // A host as OpenIDCS's HSConfig has it, passwords and router settings included.
    let host = json!({
        "hs_name": "lab1", "server_name": "Lab one", "server_type": "QEMUServer", "server_addr": "127.0.0.1",
        "server_user": "root", "server_pass": "ssh-secret", "server_port": 22, "filter_name": "",
        "images_path": guest_dir(), "backup_path": "", "extern_path": "", "launch_path": "",
        "network_nat": "nat0", "network_pub": "", "i_kuai_addr": "10.0.0.1", "i_kuai_user": "admin",
        "i_kuai_pass": "router-secret", "ports_start": ports.0, "ports_close": ports.1, "remote_port": 6090,
        "system_maps": {"Debian 12": ["debian12.qcow2", 8]}, "public_addr": ["203.0.113.7"],
        "extend_data": {"rack": "b4"}, "ipaddr_maps": {"lan": {"vers": "ipv4", "type": "nat", "from": "10.1.0.10", "nums": 50}},
        "ipaddr_dnss": ["119.29.29.29", "223.5.5.5"],
    });
    let (status, answer) = app.call("POST", "/api/server/create", Some(&admin), Some(host)).await;
    assert_eq!(status, 200, "{answer}");
    let created = &answer["data"];
    let no_effect = names(&created["no_effect"]);
    for field in ["server_name", "server_pass", "i_kuai_pass", "network_nat", "remote_port", "ipaddr_maps"] {
        assert!(no_effect.contains(&field), "{field} not named in {no_effect:?}");
    }
    assert!(!no_effect.contains(&"public_addr") && !no_effect.contains(&"images_path"), "{no_effect:?}");
    let msg = answer["msg"].as_str().unwrap();
    assert!(msg.contains("no effect") && msg.contains("server_user"), "{msg}");

    let detail = app.ok("GET", "/api/server/detail/lab1", &admin, None).await;
    assert_eq!(detail["server_name"], "Lab one");
    assert_eq!(detail["system_maps"]["Debian 12"][0], "debian12.qcow2");
    assert_eq!(detail["ipaddr_dnss"][1], "223.5.5.5");
    assert_eq!(detail["extend_data"]["rack"], "b4");
    assert_eq!(detail["public_addr"][0], "203.0.113.7");
    assert!(detail.get("server_pass").is_none() && detail.get("i_kuai_pass").is_none(), "passwords are not stored");
    assert!(!names(&detail["no_effect"]).contains(&"server_pass"), "{detail}");

    // A field of neither model is refused by name, and nothing is written.
    let mut typo = host_body("lab2", ports);
    typo["server_nmae"] = json!("x");
    let msg = app.fails(400, "POST", "/api/server/create", Some(&admin), Some(typo)).await;
    assert!(msg.contains("server_nmae") && msg.contains("server_name"), "{msg}");
    app.fails(404, "GET", "/api/server/detail/lab2", Some(&admin), None).await;
    app.fails(400, "PUT", "/api/server/update/lab1", Some(&admin), Some(json!({"bogus": 1}))).await;

    // The form of OpenIDCS's web console: the HSConfig under `config`, name and type beside it.
    let (lo, hi) = port_range();
    let console_form = json!({"name": "lab3", "type": "QEMUServer", "server_pass": "ssh-secret",
        "config": {"images_path": guest_dir(), "ports_start": lo, "ports_close": hi, "server_user": "root", "server_area": "eu"}});
    let made = app.ok("POST", "/api/server/create", &admin, Some(console_form)).await;
    assert_eq!((made["hs_name"].as_str(), made["server_user"].as_str()), (Some("lab3"), Some("root")), "{made}");
    assert!(names(&made["no_effect"]).contains(&"server_pass"), "{made}");
    let edited = json!({"config": {"server_type": "QEMUServer", "server_name": "Three"}});
    assert_eq!(app.ok("PUT", "/api/server/update/lab3", &admin, Some(edited)).await["server_name"], "Three");
    let msg = app
        .fails(
            400,
            "PUT",
            "/api/server/update/lab3",
            Some(&admin),
            Some(json!({"config": {"server_type": "LxContainer"}})),
        )
        .await;
    assert!(msg.contains("server_type cannot change"), "{msg}");
    app.ok("DELETE", "/api/server/delete/lab3", &admin, None).await;

    // An update changes kept fields; null removes one.
    let updated = app
        .ok("PUT", "/api/server/update/lab1", &admin, Some(json!({"server_name": "Lab 1", "network_nat": null})))
        .await;
    assert_eq!(updated["server_name"], "Lab 1");
    assert!(updated.get("network_nat").is_none(), "{updated}");

    // A VM as OpenIDCS's VMConfig has it, NICs with their NCConfig fields.
    let mut vm = guest_vm("full");
    for (k, v) in [
        ("vm_uuid", json!("full-1")),
        ("os_pass", json!("guest-secret")),
        ("vc_port", json!(15900)),
        ("vc_pass", json!("vnc-secret")),
        ("cpu_per", json!(50)),
        ("gpu_num", json!(0)),
        ("gpu_mem", json!(0)),
        ("speed_u", json!(100)),
        ("speed_d", json!(100)),
        ("flu_num", json!(102400)),
        ("nat_num", json!(10)),
        ("web_num", json!(5)),
        ("hdd_all", json!({})),
        ("iso_all", json!({})),
        ("backups", json!([])),
        ("own_all", json!(["admin"])),
        (
            "nic_all",
            json!({"ethernet0": {"nic_type": "nat", "ip4_addr": "", "nic_devs": "", "ip6_addr": "", "dns_addr": ["1.1.1.1"]}}),
        ),
    ] {
        vm[k] = v;
    }
    let (status, answer) = app.call("POST", "/api/client/create/lab1", Some(&admin), Some(vm)).await;
    assert_eq!(status, 200, "{answer}");
    let no_effect = names(&answer["data"]["vm"]["no_effect"]);
    for field in ["vc_pass", "os_pass", "speed_u", "own_all", "nic_all.ethernet0.dns_addr"] {
        assert!(no_effect.contains(&field), "{field} not named in {no_effect:?}");
    }
    let detail = app.ok("GET", "/api/client/detail/lab1/full-1", &admin, None).await;
    assert_eq!((detail["flu_num"].as_u64(), detail["own_all"][0].as_str()), (Some(102400), Some("admin")));
    assert_eq!(detail["nic_all"]["ethernet0"]["dns_addr"][0], "1.1.1.1");
    assert!(detail.get("vc_pass").is_none() && detail.get("os_pass").is_none(), "passwords are not stored");
    assert_eq!(detail["mem_num"], 256, "Gantry's own fields still act");

    let mut typo = guest_vm("typo");
    typo["nic_all"] = json!({"nic0": {"ip7_addr": "x"}});
    let msg = app.fails(400, "POST", "/api/client/create/lab1", Some(&admin), Some(typo)).await;
    assert!(msg.contains("ip7_addr"), "{msg}");
    let changed =
        app.ok("PUT", "/api/client/update/lab1/full-1", &admin, Some(json!({"speed_u": 50, "mem_num": 320}))).await;
    assert_eq!((changed["vm"]["speed_u"].as_u64(), changed["vm"]["mem_num"].as_u64()), (Some(50), Some(320)));
    assert_eq!(app.ok("GET", "/api/client/listup/lab1", &admin, None).await.as_array().unwrap().len(), 1);
    app.stop().await;
}

async fn the_console_route_names_work(backend: Backend) {
    let storage = tempfile::tempdir().unwrap();
    let _reaper = Reaper(storage.path().to_path_buf());
    let app = TestApp::start_with(backend, |c| compute_config(c, storage.path())).await;

    // Its login: a username and password, or a token.
    let login = json!({"login_type": "user", "username": "admin", "password": ADMIN_PASSWORD});
    let (status, answer) = app.call("POST", "/api/login", None, Some(login)).await;
    assert_eq!((status, answer["code"].as_u64()), (200, Some(200)), "{answer}");
    let token = answer["data"]["token"].as_str().unwrap().to_owned();
    assert_eq!(
        (answer["data"]["user_info"]["is_admin"].as_bool(), answer["data"]["redirect"].as_str()),
        (Some(true), Some("/dashboard"))
    );
    let wrong = json!({"username": "admin", "password": "not-it"});
    assert_eq!(app.call("POST", "/api/login", None, Some(wrong)).await.1["code"], 401);
    assert_eq!(app.call("POST", "/api/login", None, Some(json!({"login_type": "user"}))).await.0, 400);
    let by_token = app.call("POST", "/api/login", None, Some(json!({"login_type": "token", "token": token}))).await.1;
    assert_eq!(by_token["data"]["is_token"], true, "{by_token}");
    assert_eq!(app.ok("GET", "/api/users/current", &token, None).await["username"], "admin");
    let admin = token;

    let ports = port_range();
    app.ok("POST", "/api/server/create", &admin, Some(host_body("h1", ports))).await;
    let vm = app.ok("POST", "/api/client/create/h1", &admin, Some(guest_vm("vm1"))).await["vm"]["vm_uuid"]
        .as_str()
        .unwrap()
        .to_owned();

    // Hosts and VMs keyed as the console reads them.
    let hosts = app.ok("GET", "/api/server/detail", &admin, None).await;
    assert_eq!((hosts["h1"]["hs_name"].as_str(), hosts["h1"]["config"]["hs_name"].as_str()), (Some("h1"), Some("h1")));
    assert_eq!(hosts["h1"]["enable_host"], true, "{hosts}");
    let vms = app.ok("GET", "/api/client/detail/h1", &admin, None).await;
    assert_eq!((vms[&vm]["vm_name"].as_str(), vms[&vm]["config"]["cpu_num"].as_u64()), (Some("vm1"), Some(1)), "{vms}");
    app.fails(404, "GET", "/api/client/detail/nope", Some(&admin), None).await;

    // Aliases answer as their seed routes.
    for (alias, seed) in [
        ("/api/token/current", "/api/system/tquery"),
        ("/api/system/stats", "/api/system/statis"),
        ("/api/system/logger/detail?limit=1", "/api/system/logget?limit=1"),
    ] {
        assert_eq!(app.ok("GET", alias, &admin, None).await, app.ok("GET", seed, &admin, None).await, "{alias}");
    }
    assert_eq!(app.ok("GET", "/api/system/logger/detail?limit=1", &admin, None).await.as_array().unwrap().len(), 1);
    let ips = format!("/api/hosts/h1/vms/{vm}/ip_addresses");
    app.ok("POST", &ips, &admin, Some(json!({"address": "10.0.3.20", "gateway": "10.0.3.1"}))).await;
    assert_eq!(app.ok("GET", &ips, &admin, None).await[0]["address"], "10.0.3.20");
    app.fails(404, "DELETE", &format!("{ips}/nic9"), Some(&admin), None).await;
    app.ok("DELETE", &format!("{ips}/nic0"), &admin, None).await;
    assert!(app.ok("GET", &format!("/api/client/iplist/h1/{vm}"), &admin, None).await.as_array().unwrap().is_empty());
    let proxy = json!({"domain": "app.test", "backend_port": 8080, "ssl_enabled": false, "description": "app"});
    app.ok("POST", &format!("/api/client/proxys/create/h1/{vm}"), &admin, Some(proxy)).await;
    let routes = app.ok("GET", &format!("/api/client/proxys/detail/h1/{vm}"), &admin, None).await;
    assert_eq!((routes[0]["web_addr"].as_str(), routes[0]["lan_port"].as_u64()), (Some("app.test"), Some(8080)));
    app.ok("DELETE", &format!("/api/client/proxys/delete/h1/{vm}/0"), &admin, None).await;
    assert!(app.ok("GET", &format!("/api/client/pxyget/h1/{vm}"), &admin, None).await.as_array().unwrap().is_empty());
    // Its power actions are VMPowers names: H_CLOSE on a stopped VM is a hard stop that has
    // nothing to stop, S_PAUSE a pause that needs a running VM.
    let power = format!("/api/client/powers/h1/{vm}");
    assert_eq!(app.ok("POST", &power, &admin, Some(json!({"action": "H_CLOSE"}))).await["action"], "stop");
    let msg = app.fails(400, "POST", &power, Some(&admin), Some(json!({"action": "S_PAUSE"}))).await;
    assert!(!msg.contains("unknown action"), "{msg}");
    let msg = app.fails(400, "GET", &format!("/api/client/remote/h1/{vm}"), Some(&admin), None).await;
    assert_eq!(msg, app.fails(400, "GET", &format!("/api/client/vncons/h1/{vm}"), Some(&admin), None).await);

    // Every alias is in the document, and the rules hold on them: admins only.
    let doc: Value = app.http.get(app.url("/openapi.json")).send().await.unwrap().json().await.unwrap();
    for (method, path) in [
        ("get", "/api/token/current"),
        ("post", "/api/token/reset"),
        ("get", "/api/client/remote/{hs_name}/{vm_uuid}"),
        ("delete", "/api/hosts/{hs_name}/vms/{vm_uuid}/ip_addresses/{nic}"),
        ("post", "/api/login"),
        ("get", "/api/server/detail"),
    ] {
        assert!(doc["paths"][path][method].is_object(), "{method} {path} missing from the document");
    }
    app.create_user(&admin, "bob", "bob-password-123").await;
    let bob =
        app.call("POST", "/api/login", None, Some(json!({"username": "bob", "password": "bob-password-123"}))).await.1;
    assert_eq!(
        (bob["data"]["user_info"]["is_admin"].as_bool(), bob["data"]["redirect"].as_str()),
        (Some(false), Some("/user/dashboard"))
    );
    let bob = bob["data"]["token"].as_str().unwrap().to_owned();
    app.fails(403, "GET", "/api/server/detail", Some(&bob), None).await;
    app.fails(403, "GET", "/api/token/current", Some(&bob), None).await;
    app.fails(401, "GET", "/api/system/stats", None, None).await;

    // Logout ends the session.
    app.ok("GET", "/api/logout", &admin, None).await;
    app.fails(401, "GET", "/api/users/current", Some(&admin), None).await;
    app.stop().await;
}

gantry_testkit::on_each_backend!(full_bodies_round_trip, the_console_route_names_work);
