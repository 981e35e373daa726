//! The ComfyUI fleet and dispatcher through comfy-manager's API, against real comfy-sim
//! processes: routes, WebSocket messages, placement, fairness, failover, cancel, live
//! configuration and bad input.

use crate::common::sim::Sim;
use crate::common::{TestApp, eventually, fleet_config, next_message, t2i_graph};
use gantry_store::Backend;
use serde_json::{Value, json};

const SD15: &str = "v1-5-pruned-emaonly.safetensors";

async fn routes_and_websocket_messages_follow_the_spec(backend: Backend) {
    let sims = [Sim::spawn(&["--step-ms", "10"]), Sim::spawn(&["--step-ms", "10"])];
    let app = TestApp::start(backend).await;
    let admin = app.admin_token().await;
    let config = json!({
        "servers": [{"id": "server-1", "name": "主服务器", "ip": "127.0.0.1", "ports": [sims[0].port, sims[1].port]}],
        "healthCheck": {"interval": 500, "timeout": 1000, "failureThreshold": 2}
    });
    app.use_fleet(&admin, config).await;

    let (status, body) = app.call("GET", "/api/config", Some(&admin), None).await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["healthCheck"]["interval"], 500);
    assert_eq!(body["data"]["dispatch"]["prefetch"], 1, "defaults fill omitted sections: {body}");

    let (_, body) = app.call("GET", "/api/instances", Some(&admin), None).await;
    let first = &body["data"][0];
    let id = format!("127.0.0.1:{}", sims[0].port);
    assert_eq!(first["id"], json!(id));
    assert_eq!((first["serverId"].as_str(), first["serverName"].as_str()), (Some("server-1"), Some("主服务器")));
    assert_eq!((first["ip"].as_str(), first["port"].as_u64()), (Some("127.0.0.1"), Some(u64::from(sims[0].port))));
    assert_eq!(
        (first["enabled"].as_bool(), first["alive"].as_bool(), first["busy"].as_bool()),
        (Some(true), Some(true), Some(false))
    );
    assert!(first["lastHeartbeat"].as_str().unwrap().ends_with('Z'));

    let (status, one) = app.call("GET", &format!("/api/instances/{id}"), Some(&admin), None).await;
    assert_eq!((status, one["data"]["id"].as_str()), (200, Some(id.as_str())));

    let mut ws = app.live_socket(&admin).await;
    let global = next_message(&mut ws, "global_status", |_| true).await;
    assert_eq!(global["data"]["totalInstances"], 2);
    assert!(global["timestamp"].as_i64().unwrap() > 0);

    let (status, body) =
        app.call("PUT", &format!("/api/instances/{id}"), Some(&admin), Some(json!({"enabled": false}))).await;
    assert_eq!((status, body["data"]["enabled"].as_bool()), (200, Some(false)));
    let changed = next_message(&mut ws, "instance_status", |_| true).await;
    assert_eq!(changed["data"]["instanceId"], json!(id));
    assert!(changed["data"]["alive"].is_boolean() && changed["data"]["busy"].is_boolean());
    let task = app.submit(&admin, t2i_graph(SD15, 6, 1), json!({"prompt": "a cat"})).await;
    let progress = next_message(&mut ws, "task_progress", |_| true).await;
    assert_eq!(progress["data"]["taskId"], json!(task));
    assert!(progress["data"]["progress"].as_u64().unwrap() <= 100);
    let done = next_message(&mut ws, "task_completed", |_| true).await;
    assert_eq!(done["data"]["taskId"], json!(task));
    let url = done["data"]["result"]["files"][0].as_str().unwrap().to_owned();

    let finished = app.finished(&admin, &task).await;
    assert_eq!(finished["status"], "completed");
    assert_eq!(finished["progress"], 100);
    assert_eq!(finished["instanceId"], json!(format!("127.0.0.1:{}", sims[1].port)), "disabled instance got work");
    assert_eq!(finished["result"]["files"][0], json!(url));
    assert!(finished["createdAt"].as_str().unwrap().ends_with('Z') && finished["updatedAt"].is_string());

    let png = app.http.get(&url).send().await.unwrap();
    assert_eq!(png.headers()["content-type"], "image/png");
    let image = image::load_from_memory(&png.bytes().await.unwrap()).expect("a real PNG");
    assert_eq!((image.width(), image.height()), (64, 48));

    let (_, listed) = app.call("GET", "/api/tasks?status=completed&limit=5&offset=0", Some(&admin), None).await;
    assert_eq!(listed["data"]["total"], 1);
    assert_eq!(listed["data"]["items"][0]["id"], json!(task));
    let (_, listed) = app.call("GET", "/api/tasks?status=pending", Some(&admin), None).await;
    assert_eq!(listed["data"]["total"], 0);

    let (_, overview) = app.call("GET", "/api/monitor/overview", Some(&admin), None).await;
    for key in ["totalInstances", "aliveInstances", "busyInstances", "pendingTasks", "runningTasks", "completedTasks"] {
        assert!(overview["data"][key].is_number(), "{key} in {overview}");
    }
    assert_eq!(
        (overview["data"]["totalInstances"].as_u64(), overview["data"]["completedTasks"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(overview["data"]["completedLastHour"], 1, "the throughput counts the task just done: {overview}");
    let (_, health) = app.call("GET", "/api/health", None, None).await;
    assert_eq!(
        (health["data"]["instances"]["total"].as_u64(), health["data"]["instances"]["alive"].as_u64()),
        (Some(2), Some(2))
    );

    // A failure reaches the socket too.
    let (status, _) = app
        .http
        .post(format!("{}/sim/control", sims[1].base()))
        // As ComfyUI reports `RuntimeError("boom")`: "{ex}\n{tips}", no tips.
        .json(&json!({"fail_next": {"exception_type": "RuntimeError", "exception_message": "boom\n"}}))
        .send()
        .await
        .map(|r| (r.status(), ()))
        .unwrap();
    assert!(status.is_success());
    let failing = app.submit(&admin, t2i_graph(SD15, 2, 2), json!({"prompt": "x"})).await;
    let failed = next_message(&mut ws, "task_failed", |_| true).await;
    assert_eq!(failed["data"]["taskId"], json!(failing));
    let failed = app.finished(&admin, &failing).await;
    assert_eq!(failed["errorCode"], "EXECUTION_ERROR");
    assert_eq!(failed["error"], "RuntimeError: boom", "one line, without ComfyUI's trailing newline");
    ws.close(None).await.ok();
    app.stop().await;
}

async fn each_user_sees_only_their_own_tasks_and_messages(backend: Backend) {
    let sim = Sim::spawn(&["--step-ms", "5"]);
    let app = TestApp::start(backend).await;
    let admin = app.admin_token().await;
    app.use_fleet(&admin, fleet_config(&[sim.port], 1)).await;
    let alice = app.paying_user(&admin, "alice").await;
    let bob = app.paying_user(&admin, "bob").await;
    let mut bob_ws = app.live_socket(&bob).await;
    next_message(&mut bob_ws, "global_status", |_| true).await;

    let alices = app.submit(&alice, t2i_graph(SD15, 2, 3), json!({"prompt": "alice"})).await;
    app.finished(&alice, &alices).await;
    let bobs = app.submit(&bob, t2i_graph(SD15, 2, 4), json!({"prompt": "bob"})).await;
    let done = next_message(&mut bob_ws, "task_completed", |_| true).await;
    assert_eq!(done["data"]["taskId"], json!(bobs), "bob's socket never carries alice's task");

    let (status, _) = app.call("GET", &format!("/api/tasks/{alices}"), Some(&bob), None).await;
    assert_eq!(status, 404);
    let (status, body) = app
        .call(
            "POST",
            "/api/tasks",
            Some(&bob),
            Some(json!({"workflow": t2i_graph(SD15, 1, 5), "params": {"prompt": "x"}, "priority": 5})),
        )
        .await;
    assert_eq!((status, body["code"].as_i64()), (403, Some(403)), "only admins jump the queue: {body}");
    let (status, _) = app.call("DELETE", &format!("/api/tasks/{alices}"), Some(&bob), None).await;
    assert_eq!(status, 404);
    let (_, listed) = app.call("GET", "/api/tasks", Some(&bob), None).await;
    assert_eq!(
        (listed["data"]["total"].as_i64(), listed["data"]["items"][0]["id"].as_str()),
        (Some(1), Some(bobs.as_str()))
    );
    let (_, listed) = app.call("GET", "/api/tasks", Some(&admin), None).await;
    assert_eq!(listed["data"]["total"], 2, "admins see every task");
    for (method, path) in [
        ("GET", "/api/config"),
        ("PUT", "/api/config"),
        ("PATCH", "/api/config"),
        ("POST", "/api/config/servers"),
        ("DELETE", "/api/config/servers/server-1"),
    ] {
        let body =
            if path.contains("servers") { json!({"name": "mine", "ip": "127.0.0.1", "ports": [1]}) } else { json!({}) };
        let (status, _) = app.call(method, path, Some(&bob), Some(body)).await;
        assert_eq!(status, 403, "{method} {path}");
    }
    let (status, _) = app
        .call("PUT", &format!("/api/instances/127.0.0.1:{}", sim.port), Some(&bob), Some(json!({"enabled": false})))
        .await;
    assert_eq!(status, 403);
    app.stop().await;
}

async fn tasks_go_to_idle_instances_that_have_their_model(backend: Backend) {
    let sims = [
        Sim::spawn(&["--step-ms", "40", "--checkpoints", "a.safetensors,common.safetensors"]),
        Sim::spawn(&["--step-ms", "40", "--checkpoints", "b.safetensors,common.safetensors"]),
    ];
    let app = TestApp::start(backend).await;
    let admin = app.admin_token().await;
    app.use_fleet(&admin, fleet_config(&[sims[0].port, sims[1].port], 1)).await;

    let only_b = app.submit(&admin, t2i_graph("b.safetensors", 2, 1), json!({"prompt": "b"})).await;
    let only_a = app.submit(&admin, t2i_graph("a.safetensors", 2, 2), json!({"prompt": "a"})).await;
    assert_eq!(app.finished(&admin, &only_b).await["instanceId"], json!(format!("127.0.0.1:{}", sims[1].port)));
    assert_eq!(app.finished(&admin, &only_a).await["instanceId"], json!(format!("127.0.0.1:{}", sims[0].port)));

    // Two long tasks at once on two idle instances: one each (idle beats prefetch).
    let one = app.submit(&admin, t2i_graph("common.safetensors", 10, 3), json!({"prompt": "1"})).await;
    let two = app.submit(&admin, t2i_graph("common.safetensors", 10, 4), json!({"prompt": "2"})).await;
    let (one, two) = (app.finished(&admin, &one).await, app.finished(&admin, &two).await);
    assert_ne!(one["instanceId"], two["instanceId"], "both GPUs were used");

    let (status, body) = app
        .call(
            "POST",
            "/api/tasks",
            Some(&admin),
            Some(json!({"workflow": t2i_graph("nowhere.safetensors", 2, 5), "params": {"prompt": "x"}})),
        )
        .await;
    assert_eq!((status, body["code"].as_i64()), (400, Some(400)), "{body}");
    assert!(body["message"].as_str().unwrap().contains("nowhere.safetensors"));
    app.stop().await;
}

async fn one_users_batch_does_not_starve_another_users_task(backend: Backend) {
    let sim = Sim::spawn(&["--step-ms", "10"]);
    let app = TestApp::start(backend).await;
    let admin = app.admin_token().await;
    app.use_fleet(&admin, fleet_config(&[sim.port], 0)).await;
    let batch = app.paying_user(&admin, "batch").await;
    let single = app.paying_user(&admin, "single").await;

    let mut batch_ids = Vec::new();
    for i in 0..12 {
        batch_ids.push(app.submit(&batch, t2i_graph(SD15, 3, 100 + i), json!({"prompt": "batch"})).await);
    }
    let lone = app.submit(&single, t2i_graph(SD15, 3, 7), json!({"prompt": "single"})).await;
    let lone_done = app.finished(&single, &lone).await;
    assert_eq!(lone_done["status"], "completed");
    // Batch tasks that finished while the single task waited (between its submission and its
    // completion); ones that finished before it was even submitted do not count.
    let (waited_from, waited_until) = (lone_done["createdAt"].as_str(), lone_done["updatedAt"].as_str());
    let mut finished_before = 0;
    for id in &batch_ids {
        let (_, body) = app.call("GET", &format!("/api/tasks/{id}"), Some(&batch), None).await;
        let finished_at = body["data"]["updatedAt"].as_str();
        if body["data"]["status"] == "completed" && waited_from <= finished_at && finished_at <= waited_until {
            finished_before += 1;
        }
    }
    assert!(finished_before <= 3, "the single task waited behind {finished_before} batch tasks");
    for id in &batch_ids {
        assert_eq!(app.finished(&batch, id).await["status"], "completed");
    }
    app.stop().await;
}

async fn a_task_whose_instance_dies_runs_elsewhere(backend: Backend) {
    let mut dying = Sim::spawn(&["--step-ms", "30", "--die-after-steps", "3", "--checkpoints", "x.safetensors"]);
    let app = TestApp::start(backend).await;
    let admin = app.admin_token().await;
    app.use_fleet(&admin, fleet_config(&[dying.port], 0)).await;
    let task = app.submit(&admin, t2i_graph("x.safetensors", 8, 1), json!({"prompt": "survive"})).await;
    dying.exited(30).await;

    let survivor = Sim::spawn(&["--step-ms", "5", "--checkpoints", "x.safetensors"]);
    let admin_config = fleet_config(&[dying.port, survivor.port], 0);
    let (status, _) = app.call("PUT", "/api/config", Some(&admin), Some(admin_config)).await;
    assert_eq!(status, 200);
    let done = app.finished(&admin, &task).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["instanceId"], json!(format!("127.0.0.1:{}", survivor.port)));
    assert_eq!(done["attempts"], 2);
    let (_, dead) = app.call("GET", &format!("/api/instances/127.0.0.1:{}", dying.port), Some(&admin), None).await;
    assert_eq!(dead["data"]["alive"], false);
    app.stop().await;
}

async fn cancel_removes_pending_and_interrupts_running_tasks(backend: Backend) {
    let sim = Sim::spawn(&["--step-ms", "100"]);
    let app = TestApp::start(backend).await;
    let admin = app.admin_token().await;
    app.use_fleet(&admin, fleet_config(&[sim.port], 1)).await;
    let running = app.submit(&admin, t2i_graph(SD15, 50, 1), json!({"prompt": "1"})).await;
    app.running(&admin, &running).await;
    let waiting_in_comfy = app.submit(&admin, t2i_graph(SD15, 50, 2), json!({"prompt": "2"})).await;
    eventually(20, "second task handed to the instance", || async {
        let (_, body) = app.call("GET", &format!("/api/tasks/{waiting_in_comfy}"), Some(&admin), None).await;
        body["data"]["instanceId"].is_string().then_some(())
    })
    .await;
    let pending = app.submit(&admin, t2i_graph(SD15, 50, 3), json!({"prompt": "3"})).await;
    let (_, body) = app.call("GET", &format!("/api/tasks/{pending}"), Some(&admin), None).await;
    assert_eq!((body["data"]["status"].as_str(), body["data"]["queuePosition"].as_u64()), (Some("pending"), Some(1)));
    // star-graph's view of the same tasks says where each stands too.
    let (_, body) = app.call("GET", &format!("/api/v1/tasks/{pending}"), Some(&admin), None).await;
    assert_eq!(body["data"]["queuePosition"], 1, "{body}");
    let (_, body) = app.call("GET", &format!("/api/v1/tasks/{running}"), Some(&admin), None).await;
    assert_eq!(
        (body["data"]["queuePosition"].clone(), body["data"]["estimatedTime"].clone()),
        (Value::Null, Value::Null)
    );

    for id in [&pending, &waiting_in_comfy, &running] {
        let (status, body) = app.call("DELETE", &format!("/api/tasks/{id}"), Some(&admin), None).await;
        assert_eq!((status, body["data"]["status"].as_str()), (200, Some("cancelled")), "{body}");
    }
    let sim_queue = || async {
        let queue: Value = app.http.get(format!("{}/queue", sim.base())).send().await.ok()?.json().await.ok()?;
        let empty = queue["queue_running"].as_array()?.is_empty() && queue["queue_pending"].as_array()?.is_empty();
        empty.then_some(())
    };
    eventually(20, "the instance to drop both prompts", sim_queue).await;
    let (status, body) = app.call("DELETE", &format!("/api/tasks/{running}"), Some(&admin), None).await;
    assert_eq!((status, body["code"].as_i64()), (409, Some(409)), "already cancelled: {body}");
    for id in [&pending, &waiting_in_comfy, &running] {
        assert_eq!(app.finished(&admin, id).await["status"], "cancelled");
    }
    // The instance is free again.
    let next = app.submit(&admin, t2i_graph(SD15, 1, 9), json!({"prompt": "next"})).await;
    assert_eq!(app.finished(&admin, &next).await["status"], "completed");
    app.stop().await;
}

async fn configuration_changes_apply_live_without_dropping_running_tasks(backend: Backend) {
    let old = Sim::spawn(&["--step-ms", "60"]);
    let new = Sim::spawn(&["--step-ms", "5"]);
    let app = TestApp::start(backend).await;
    let admin = app.admin_token().await;
    app.use_fleet(&admin, fleet_config(&[old.port], 0)).await;
    let long = app.submit(&admin, t2i_graph(SD15, 30, 1), json!({"prompt": "long"})).await;
    app.running(&admin, &long).await;

    // Replace the old server by the new one while the long task runs there.
    app.use_fleet(&admin, fleet_config(&[new.port], 0)).await;
    let quick = app.submit(&admin, t2i_graph(SD15, 1, 2), json!({"prompt": "quick"})).await;
    assert_eq!(app.finished(&admin, &quick).await["instanceId"], json!(format!("127.0.0.1:{}", new.port)));
    let long_done = app.finished(&admin, &long).await;
    assert_eq!((long_done["status"].as_str(), long_done["attempts"].as_u64()), (Some("completed"), Some(1)));
    assert_eq!(long_done["instanceId"], json!(format!("127.0.0.1:{}", old.port)));
    eventually(20, "the removed instance to leave", || async {
        let (_, body) = app.call("GET", "/api/instances", Some(&admin), None).await;
        (body["data"].as_array()?.len() == 1).then_some(())
    })
    .await;

    let (_, stored) = app.call("GET", "/api/config", Some(&admin), None).await;
    assert_eq!(stored["data"]["servers"][0]["ports"][0], json!(new.port));
    app.stop().await;
}

async fn bad_input_gets_comfy_manager_errors(backend: Backend) {
    let sim = Sim::spawn(&["--step-ms", "5"]);
    let app = TestApp::start_with(backend, |c| c.files.max_upload_bytes = 4096).await;
    let admin = app.admin_token().await;
    app.use_fleet(&admin, fleet_config(&[sim.port], 1)).await;

    for (body, needle) in [
        (json!({"workflow": [], "params": {}}), "invalid JSON body"),
        (json!({"workflow": {}, "params": {}}), "invalid workflow"),
        (json!({"workflow": {"1": {"inputs": {}}}}), "invalid workflow"),
        (json!({"workflow": {"1": {"class_type": "SaveImage", "inputs": {"images": ["9", 0]}}}}), "invalid workflow"),
        (json!({"workflow": t2i_graph(SD15, 2, 1), "params": {"typo": 1}}), "invalid params"),
        (json!({"workflow": t2i_graph(SD15, 2, 1), "params": {"99.seed": 1}}), "invalid params"),
        (json!({"workflow": t2i_graph(SD15, 2, 1), "params": {"prompt": "x"}, "extra": 1}), "invalid JSON body"),
    ] {
        let (status, answer) = app.call("POST", "/api/tasks", Some(&admin), Some(body.clone())).await;
        assert_eq!((status, answer["code"].as_i64()), (400, Some(400)), "{body}: {answer}");
        assert!(answer["message"].as_str().unwrap().contains(needle), "{needle}: {answer}");
    }
    // A graph ComfyUI refuses fails at once, without retries.
    let mut graph = t2i_graph(SD15, 2, 1);
    graph["3"]["inputs"]["sampler_name"] = json!("no-such-sampler");
    let task = app.submit(&admin, graph, json!({"prompt": "x"})).await;
    let failed = app.finished(&admin, &task).await;
    assert_eq!(
        (failed["status"].as_str(), failed["errorCode"].as_str(), failed["attempts"].as_u64()),
        (Some("failed"), Some("INVALID_WORKFLOW"), Some(1))
    );
    assert!(failed["error"].as_str().unwrap().contains("sampler_name"), "{failed}");

    let (status, body) = app.call("GET", "/api/instances/10.9.9.9:1", Some(&admin), None).await;
    assert_eq!((status, body["code"].as_i64()), (404, Some(404)));
    let (status, _) = app.call("PUT", "/api/instances/10.9.9.9:1", Some(&admin), Some(json!({"enabled": true}))).await;
    assert_eq!(status, 404);
    let (status, _) = app.call("GET", "/api/tasks/nope", Some(&admin), None).await;
    assert_eq!(status, 404);
    let (status, body) = app.call("GET", "/api/tasks?status=weird", Some(&admin), None).await;
    assert_eq!((status, body["code"].as_i64()), (400, Some(400)));
    let (status, body) = app
        .call(
            "PUT",
            "/api/config",
            Some(&admin),
            Some(json!({"servers": [{"id": "s", "name": "s", "ip": "127.0.0.1", "ports": [0]}]})),
        )
        .await;
    assert_eq!((status, body["code"].as_i64()), (400, Some(400)), "{body}");

    let upload = |bytes: Vec<u8>, name: &'static str| {
        let form = reqwest::multipart::Form::new().part("file", reqwest::multipart::Part::bytes(bytes).file_name(name));
        app.http.post(app.url("/api/files/upload")).bearer_auth(&admin).multipart(form).send()
    };
    let big_png = [b"\x89PNG\r\n\x1a\n".to_vec(), vec![0; 8192]].concat();
    let response = upload(big_png, "big.png").await.unwrap();
    assert_eq!(response.status(), 413);
    assert_eq!(response.json::<Value>().await.unwrap()["code"], 413);
    let response = upload(b"<html>not an image</html>".to_vec(), "evil.png").await.unwrap();
    assert_eq!(response.status(), 415);
    let mut png = Vec::new();
    image::RgbImage::new(8, 8).write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).unwrap();
    let response = upload(png, "../../tiny.png").await.unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        (body["data"]["filename"].as_str(), body["data"]["width"].as_i64()),
        (Some("tiny.png"), Some(8)),
        "{body}"
    );
    let file_id = body["data"]["fileId"].as_str().unwrap().to_owned();
    let (_, files) = app.call("GET", "/api/files", Some(&admin), None).await;
    assert_eq!(files["data"]["total"], 1);

    // An uploaded file as a LoadImage input is pushed to the instance.
    let img2img = json!({
        "1": {"class_type": "LoadImage", "inputs": {"image": format!("gantry-file:{file_id}")}},
        "2": {"class_type": "SaveImage", "inputs": {"filename_prefix": "x", "images": ["1", 0]}}
    });
    let task = app.submit(&admin, img2img, json!({})).await;
    assert_eq!(app.finished(&admin, &task).await["status"], "completed");
    let (status, _) = app.call("DELETE", &format!("/api/files/{file_id}"), Some(&admin), None).await;
    assert_eq!(status, 200);
    let (status, body) = app
        .call(
            "POST",
            "/api/tasks",
            Some(&admin),
            Some(json!({"workflow": {
            "1": {"class_type": "LoadImage", "inputs": {"image": format!("gantry-file:{file_id}")}},
            "2": {"class_type": "SaveImage", "inputs": {"filename_prefix": "x", "images": ["1", 0]}}}})),
        )
        .await;
    assert_eq!(status, 400, "a deleted file cannot be used: {body}");
    app.stop().await;
}

async fn a_task_over_its_time_limit_is_interrupted_and_fails(backend: Backend) {
    let sim = Sim::spawn(&["--step-ms", "100"]);
    let app = TestApp::start(backend).await;
    let admin = app.admin_token().await;
    let mut config = fleet_config(&[sim.port], 0);
    config["dispatch"]["taskTimeout"] = json!(1000);
    app.use_fleet(&admin, config).await;
    let task = app.submit(&admin, t2i_graph(SD15, 100, 1), json!({"prompt": "slow"})).await;
    let failed = app.finished(&admin, &task).await;
    // comfy-manager names the reason itself; star-graph's E008 is that dialect's word for it.
    assert_eq!(
        (failed["status"].as_str(), failed["errorCode"].as_str()),
        (Some("failed"), Some("TIMEOUT")),
        "{failed}"
    );
    eventually(20, "the instance to stop the prompt", || async {
        let timeline: Value =
            app.http.get(format!("{}/sim/timeline", sim.base())).send().await.ok()?.json().await.ok()?;
        (timeline[0]["outcome"] == "interrupted").then_some(())
    })
    .await;
    app.stop().await;
}

/// An operator changes one setting or one server without retyping the fleet, cannot drop
/// every server by accident, and the audit log says who changed what.
async fn the_fleet_changes_one_part_at_a_time_and_says_who_changed_it(backend: Backend) {
    let sims = [Sim::spawn(&["--step-ms", "10"]), Sim::spawn(&["--step-ms", "10"])];
    let app = TestApp::start(backend).await;
    let admin = app.admin_token().await;
    let first = json!({"id": "server-1", "name": "one", "ip": "127.0.0.1", "ports": [sims[0].port]});
    app.use_fleet(&admin, json!({"servers": [first]})).await;
    let servers = |body: &Value| body["data"]["servers"].as_array().unwrap().len();

    let (status, body) =
        app.call("PATCH", "/api/config", Some(&admin), Some(json!({"dispatch": {"prefetch": 2}}))).await;
    assert_eq!((status, servers(&body), body["data"]["dispatch"]["prefetch"].as_i64()), (200, 1, Some(2)), "{body}");
    // The report's PUT: refused, nothing changed.
    let (status, body) = app.call("PUT", "/api/config", Some(&admin), Some(json!({"dispatch": {"prefetch": 2}}))).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["message"].as_str().unwrap().contains("dropAllServers=true"), "{body}");
    let (_, body) = app.call("GET", "/api/config", Some(&admin), None).await;
    assert_eq!(servers(&body), 1);
    let (status, body) = app.call("PATCH", "/api/config", Some(&admin), Some(json!({"dispatch": {"nope": 1}}))).await;
    assert_eq!((status, body["code"].as_i64()), (400, Some(400)), "{body}");

    // One server added (its id derived from its name), changed, removed.
    let second = json!({"name": "Lab 2", "ip": "127.0.0.1", "ports": [sims[1].port]});
    let (status, body) = app.call("POST", "/api/config/servers", Some(&admin), Some(second.clone())).await;
    assert_eq!((status, body["data"]["servers"][1]["id"].as_str()), (200, Some("lab-2")), "{body}");
    let instance = format!("127.0.0.1:{}", sims[1].port);
    eventually(20, "the new instance is alive", || async {
        let (_, body) = app.call("GET", &format!("/api/instances/{instance}"), Some(&admin), None).await;
        (body["data"]["alive"] == true).then_some(())
    })
    .await;
    let (status, _) = app.call("POST", "/api/config/servers", Some(&admin), Some(second.clone())).await;
    assert_eq!(status, 400, "the same ip:port twice");
    let mut disabled = second.clone();
    disabled["enabled"] = json!(false);
    let (status, body) = app.call("PUT", "/api/config/servers/lab-2", Some(&admin), Some(disabled.clone())).await;
    assert_eq!((status, body["data"]["servers"][1]["enabled"].as_bool()), (200, Some(false)), "{body}");
    let (status, _) = app.call("PUT", "/api/config/servers/ghost", Some(&admin), Some(disabled)).await;
    assert_eq!(status, 404);
    let (status, body) = app.call("DELETE", "/api/config/servers/lab-2", Some(&admin), None).await;
    assert_eq!((status, servers(&body)), (200, 1), "{body}");
    let (status, _) = app.call("DELETE", "/api/config/servers/lab-2", Some(&admin), None).await;
    assert_eq!(status, 404);

    let (_, log) = app.call("GET", "/api/system/logget?action=fleet.config&limit=50", Some(&admin), None).await;
    let entries = log["data"].as_array().unwrap_or_else(|| panic!("{log}"));
    let said = |part: &str| entries.iter().any(|e| e["actor"] == "admin" && e.to_string().contains(part));
    for part in ["dispatch.prefetch: 1 → 2", "servers: +lab-2", "servers: ~lab-2", "servers: -lab-2"] {
        assert!(said(part), "`{part}` in the audit log: {log}");
    }
    app.stop().await;
}

/// No task completes without its files: when Gantry cannot store an output, the task is
/// retried and then fails, and none of its files is left behind.
async fn a_task_whose_output_cannot_be_kept_does_not_complete(backend: Backend) {
    let sim = Sim::spawn(&["--step-ms", "1"]);
    let app = TestApp::start(backend).await;
    let admin = app.admin_token().await;
    app.use_fleet(&admin, fleet_config(&[sim.port], 0)).await;
    // The file store's directory becomes a plain file: every write fails.
    let store = app.data_dir().join("files");
    std::fs::remove_dir_all(&store).unwrap();
    std::fs::write(&store, b"not a directory").unwrap();
    let task = app.submit(&admin, t2i_graph(SD15, 2, 1), json!({"prompt": "lost"})).await;
    let done = app.finished(&admin, &task).await;
    assert_eq!(done["status"], "failed", "{done}");
    assert_eq!(done["attempts"], 3, "retried: {done}");
    assert!(done["error"].as_str().unwrap().contains("cannot keep the output"), "{done}");
    let (_, files) = app.call("GET", "/api/files", Some(&admin), None).await;
    assert_eq!(files["data"]["total"], 0, "nothing half kept: {files}");
    app.stop().await;
}

gantry_testkit::on_each_backend!(
    a_task_whose_output_cannot_be_kept_does_not_complete,
    the_fleet_changes_one_part_at_a_time_and_says_who_changed_it,
    routes_and_websocket_messages_follow_the_spec,
    each_user_sees_only_their_own_tasks_and_messages,
    tasks_go_to_idle_instances_that_have_their_model,
    one_users_batch_does_not_starve_another_users_task,
    a_task_whose_instance_dies_runs_elsewhere,
    cancel_removes_pending_and_interrupts_running_tasks,
    configuration_changes_apply_live_without_dropping_running_tasks,
    bad_input_gets_comfy_manager_errors,
    a_task_over_its_time_limit_is_interrupted_and_fails
);
