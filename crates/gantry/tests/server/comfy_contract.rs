//! One contract suite, two backends: what Gantry promises about driving ComfyUI, checked
//! against comfy-sim and against the real ComfyUI (CPU, model-free graphs), so the fake
//! cannot drift from the real thing. Each scenario runs once per flavor.

use crate::common::comfy::{Comfy, Flavor, quick_graph, slow_graph, slow_graph_of_side, turn};
use crate::common::process::GantryProcess;
use crate::common::{ADMIN_PASSWORD, LiveSocket, TestApp, eventually, fleet_config};
use futures_util::StreamExt;
use gantry_store::Backend;
use serde_json::{Value, json};
use std::time::Duration;

/// A fleet of `instances` with quick health checks: an instance that stops answering is
/// lost after about a second.
async fn fleet(app: &TestApp, admin: &str, instances: &[&Comfy], prefetch: u32, task_timeout_ms: u64) {
    let servers: Vec<Value> = instances
        .iter()
        .enumerate()
        .map(
            |(i, c)| json!({"id": format!("c{i}"), "name": format!("comfy {i}"), "ip": "127.0.0.1", "ports": [c.port]}),
        )
        .collect();
    let config = json!({
        "servers": servers,
        "healthCheck": {"interval": 500, "timeout": 1000, "failureThreshold": 2},
        "dispatch": {"prefetch": prefetch, "maxAttempts": 3, "taskTimeout": task_timeout_ms, "maxQueue": 1000}
    });
    let (status, body) = app.call("PUT", "/api/config", Some(admin), Some(config)).await;
    assert_eq!(status, 200, "{body}");
    eventually(60, "instances alive", || async {
        let (_, body) = app.call("GET", "/api/instances", Some(admin), None).await;
        let alive = body["data"].as_array()?.iter().filter(|i| i["alive"] == true).count();
        (alive == instances.len()).then_some(())
    })
    .await;
}

/// One instance of `flavor`, and a Gantry driving it; returns them and an admin's token.
async fn with_one(flavor: Flavor, prefetch: u32, task_timeout_ms: u64) -> (Comfy, TestApp, String) {
    let comfy = Comfy::start(flavor).await;
    let app = TestApp::start(Backend::Sqlite).await;
    let admin = app.admin_token().await;
    fleet(&app, &admin, &[&comfy], prefetch, task_timeout_ms).await;
    (comfy, app, admin)
}

/// The image a task produced, once it completed.
async fn image_of(app: &TestApp, token: &str, id: &str) -> image::RgbImage {
    let done = app.finished(token, id).await;
    assert_eq!(done["status"], "completed", "{done}");
    let url = done["result"]["files"][0].as_str().unwrap().to_owned();
    let bytes = app.http.get(&url).bearer_auth(token).send().await.unwrap().bytes().await.unwrap();
    image::load_from_memory(&bytes).expect("an image").to_rgb8()
}

fn instance_id(comfy: &Comfy) -> Value {
    json!(format!("127.0.0.1:{}", comfy.port))
}

/// The socket's messages about `task_id` until one of type `last` (at most `secs`).
async fn messages_until(ws: &mut LiveSocket, task_id: &str, last: &str, secs: u64) -> Vec<Value> {
    let read = async {
        let mut seen = Vec::new();
        while let Some(Ok(message)) = ws.next().await {
            let tokio_tungstenite::tungstenite::Message::Text(text) = message else { continue };
            let value: Value = serde_json::from_str(&text).expect("JSON message");
            if value["data"]["taskId"] != task_id {
                continue;
            }
            let done = value["type"] == last;
            seen.push(value);
            if done {
                return seen;
            }
        }
        panic!("the socket closed before {last}");
    };
    tokio::time::timeout(Duration::from_secs(secs), read).await.unwrap_or_else(|_| panic!("no {last} for {task_id}"))
}

/// Waits until an instance holds nothing: its queue and its history empty.
async fn drained(comfy: &Comfy, what: &str) {
    eventually(60, what, || async { (comfy.queue().await == (0, 0) && comfy.history_len().await == 0).then_some(()) })
        .await;
}

/// Tasks spread over two instances; two tasks with identical graphs each get their own
/// files; the instances keep no history of what Gantry collected.
async fn dispatch_over_two_instances(flavor: Flavor) {
    let Some(_turn) = turn(flavor).await else { return };
    let (a, b) = tokio::join!(Comfy::start(flavor), Comfy::start(flavor));
    let app = TestApp::start(Backend::Sqlite).await;
    let admin = app.admin_token().await;
    fleet(&app, &admin, &[&a, &b], 0, 120_000).await;
    let mut ids = Vec::new();
    for color in [0x102030, 0x102030, 0x405060, 0x708090] {
        ids.push(app.submit(&admin, quick_graph(color, 64), json!({})).await);
    }
    let mut files = Vec::new();
    let mut used = std::collections::HashSet::new();
    for id in &ids {
        let done = app.finished(&admin, id).await;
        assert_eq!(done["status"], "completed", "{done}");
        assert_eq!(done["attempts"], 1);
        used.insert(done["instanceId"].as_str().unwrap().to_owned());
        let these = done["result"]["files"].as_array().unwrap().clone();
        assert_eq!(these.len(), 1, "one image each: {done}");
        files.extend(these);
        assert_eq!(a.outputs_of(id) + b.outputs_of(id), 1, "ran exactly once");
    }
    assert_eq!(used.len(), 2, "both instances worked: {used:?}");
    let distinct: std::collections::HashSet<String> = files.iter().map(|f| f.to_string()).collect();
    assert_eq!(distinct.len(), 4, "identical graphs get files of their own: {files:?}");
    drained(&a, "the first instance's history emptied").await;
    drained(&b, "the second instance's history emptied").await;
    app.stop().await;
}

/// An uploaded image reaches LoadImage on the instance; the result is that image inverted.
async fn uploads_feed_load_image(flavor: Flavor) {
    let Some(_turn) = turn(flavor).await else { return };
    let (_comfy, app, admin) = with_one(flavor, 0, 120_000).await;
    let mut png = Vec::new();
    let red = image::RgbImage::from_pixel(8, 8, image::Rgb([255, 0, 0]));
    red.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).unwrap();
    let form = reqwest::multipart::Form::new().part("file", reqwest::multipart::Part::bytes(png).file_name("red.png"));
    let upload = app.http.post(app.url("/api/files/upload")).bearer_auth(&admin).multipart(form).send().await.unwrap();
    let file_id = upload.json::<Value>().await.unwrap()["data"]["fileId"].as_str().unwrap().to_owned();
    let graph = json!({
        "1": {"class_type": "LoadImage", "inputs": {"image": format!("gantry-file:{file_id}")}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "inverted"}}
    });
    let id = app.submit(&admin, graph, json!({})).await;
    let image = image_of(&app, &admin, &id).await;
    assert_eq!((image.width(), image.height()), (8, 8));
    assert_eq!(image.get_pixel(3, 3).0, [0, 255, 255], "red inverted is cyan");
    app.stop().await;
}

/// Params fill the graph: placeholders keep their JSON type, `node.input` keys set inputs.
async fn params_fill_the_graph(flavor: Flavor) {
    let Some(_turn) = turn(flavor).await else { return };
    let (_comfy, app, admin) = with_one(flavor, 0, 120_000).await;
    let mut graph = quick_graph(0, 64);
    graph["1"]["inputs"]["color"] = json!("{{color}}");
    let id = app.submit(&admin, graph, json!({"color": 0x00ff00, "1.width": 16})).await;
    let image = image_of(&app, &admin, &id).await;
    assert_eq!((image.width(), image.height()), (16, 64));
    assert_eq!(image.get_pixel(0, 0).0, [255, 0, 255], "green inverted is magenta");
    app.stop().await;
}

/// `kill -9` of Gantry with prompts running and waiting inside ComfyUI: after a restart
/// every task completes, and each ran exactly once on the instances.
async fn killed_gantry_completes_every_task_once(flavor: Flavor) {
    let Some(_turn) = turn(flavor).await else { return };
    let (a, b) = tokio::join!(Comfy::start(flavor), Comfy::start(flavor));
    let data = tempfile::tempdir().unwrap();
    let db = gantry_testkit::ScratchDb::new(Backend::Sqlite).await;
    let mut gantry = GantryProcess::start(data.path(), &db.url, None);
    let login = json!({"username": "admin", "password": ADMIN_PASSWORD});
    let token =
        gantry.call("POST", "/api/auth/login", None, Some(login)).await["data"]["token"].as_str().unwrap().to_owned();
    let mut config = fleet_config(&[a.port, b.port], 1);
    config["dispatch"]["taskTimeout"] = json!(300_000);
    gantry.call("PUT", "/api/config", Some(&token), Some(config)).await;
    eventually(60, "instances alive", || async {
        let list = gantry.call("GET", "/api/instances", Some(&token), None).await;
        (list["data"].as_array()?.iter().filter(|i| i["alive"] == true).count() == 2).then_some(())
    })
    .await;
    let mut ids = Vec::new();
    // The slow ones large enough to be still running when the test looks.
    let slow = |color| slow_graph_of_side(color, 4096);
    for graph in [slow(0x0a0a0a), slow(0x0b0b0b), quick_graph(0x0c0c0c, 32), quick_graph(0x0d0d0d, 32)] {
        let answer = gantry.call("POST", "/api/tasks", Some(&token), Some(json!({"workflow": graph}))).await;
        ids.push(answer["data"]["id"].as_str().unwrap().to_owned());
    }
    // Killed only once every prompt is inside an instance: one killed mid-post is
    // unknown there after the restart and is handed out again (a second attempt).
    eventually(120, "two prompts running and two waiting inside the instances", || async {
        let running = gantry.call("GET", "/api/tasks?status=running", Some(&token), None).await;
        let ((ra, pa), (rb, pb)) = tokio::join!(a.queue(), b.queue());
        (running["data"]["total"].as_i64()? == 2 && (ra + rb, pa + pb) == (2, 2)).then_some(())
    })
    .await;
    gantry.kill9();
    let gantry = GantryProcess::start(data.path(), &db.url, None);
    for id in &ids {
        let task = eventually(180, "task to finish after the restart", || async {
            let task = gantry.call("GET", &format!("/api/tasks/{id}"), Some(&token), None).await;
            matches!(task["data"]["status"].as_str()?, "completed" | "failed" | "cancelled")
                .then(|| task["data"].clone())
        })
        .await;
        assert_eq!(task["status"], "completed", "{task}");
        assert_eq!(task["attempts"], 1, "{task}");
        assert_eq!(a.outputs_of(id) + b.outputs_of(id), 1, "ran exactly once: {task}");
    }
}

/// Progress a user sees only grows, across nodes with progress bars of their own, and
/// reaches 100 only on completion.
async fn progress_only_grows(flavor: Flavor) {
    let Some(_turn) = turn(flavor).await else { return };
    let (_comfy, app, admin) = with_one(flavor, 0, 300_000).await;
    let mut ws = app.live_socket(&admin).await;
    let id = app.submit(&admin, slow_graph(0x123456), json!({})).await;
    let messages = messages_until(&mut ws, &id, "task_completed", 180).await;
    let percents: Vec<i64> = messages
        .iter()
        .filter(|m| m["type"] == "task_progress")
        .map(|m| m["data"]["progress"].as_i64().unwrap())
        .collect();
    assert!(percents.len() >= 10, "progress along the way: {percents:?}");
    assert!(percents.windows(2).all(|w| w[0] < w[1]), "progress never goes back: {percents:?}");
    assert!(percents.iter().all(|p| *p < 100), "100 only on completion: {percents:?}");
    assert!(percents.len() <= 99, "one message per percent at most, not one per tick: {}", percents.len());
    assert_eq!(app.finished(&admin, &id).await["progress"], 100);
    app.stop().await;
}

/// Cancelling a running task interrupts it, a waiting one leaves the instance's queue;
/// the socket says so, the progress reached stays, nothing is kept on the instance.
async fn cancel_running_and_waiting(flavor: Flavor) {
    let Some(_turn) = turn(flavor).await else { return };
    let (comfy, app, admin) = with_one(flavor, 1, 300_000).await;
    let mut ws = app.live_socket(&admin).await;
    // Large enough to be still running when the cancels arrive, on a fast CPU too.
    let a = app.submit(&admin, slow_graph_of_side(0x010101, 4096), json!({})).await;
    let b = app.submit(&admin, slow_graph_of_side(0x020202, 4096), json!({})).await;
    // Both are posted at once: whichever reached the instance first runs, the other waits.
    let (running, waiting) = eventually(180, "one of the tasks running", || async {
        let (ta, tb) = tokio::join!(app.task(&admin, &a), app.task(&admin, &b));
        match (ta["status"].as_str()?, tb["status"].as_str()?) {
            ("running", _) => Some((a.clone(), b.clone())),
            (_, "running") => Some((b.clone(), a.clone())),
            _ => None,
        }
    })
    .await;
    eventually(60, "the running task past 10%", || async {
        (app.task(&admin, &running).await["progress"].as_i64()? > 10).then_some(())
    })
    .await;
    eventually(60, "the other task waiting inside ComfyUI", || async {
        app.task(&admin, &waiting).await["instanceId"].is_string().then_some(())
    })
    .await;
    for id in [&waiting, &running] {
        let (status, body) = app.call("DELETE", &format!("/api/tasks/{id}"), Some(&admin), None).await;
        let which = if *id == running { "the running task" } else { "the waiting task" };
        assert_eq!((status, body["data"]["status"].as_str()), (200, Some("cancelled")), "{which}: {body}");
    }
    let failed = messages_until(&mut ws, &running, "task_failed", 30).await;
    assert_eq!(failed.last().unwrap()["data"]["code"], "CANCELLED", "{failed:?}");
    let cancelled = app.task(&admin, &running).await;
    assert!(cancelled["progress"].as_i64().unwrap() > 10, "the progress reached stays: {cancelled}");
    drained(&comfy, "the instance dropped both prompts and their history").await;
    assert_eq!(comfy.outputs_of(&running) + comfy.outputs_of(&waiting), 0, "neither ran to the end");
    // The instance is free again.
    let next = app.submit(&admin, quick_graph(0x030303, 32), json!({})).await;
    assert_eq!(app.finished(&admin, &next).await["status"], "completed");
    app.stop().await;
}

/// A task over its time limit is interrupted and fails with TIMEOUT; it leaves nothing behind.
async fn timeout_interrupts(flavor: Flavor) {
    let Some(_turn) = turn(flavor).await else { return };
    let (comfy, app, admin) = with_one(flavor, 0, 1_000).await;
    // Several times the timeout on a fast CPU (a 2048² one can end within it there).
    let id = app.submit(&admin, slow_graph_of_side(0x040404, 4096), json!({})).await;
    let done = app.finished(&admin, &id).await;
    assert_eq!((done["status"].as_str(), done["errorCode"].as_str()), (Some("failed"), Some("TIMEOUT")), "{done}");
    drained(&comfy, "the timed-out prompt interrupted and forgotten").await;
    assert_eq!(comfy.outputs_of(&id), 0);
    app.stop().await;
}

/// Two instances and a slow task running on one of them; returns the pair and the index
/// of the one running it.
async fn slow_task_on_one_of_two(
    flavor: Flavor,
    app: &TestApp,
    admin: &str,
    color: u32,
) -> ([Comfy; 2], usize, String) {
    let (a, b) = tokio::join!(Comfy::start(flavor), Comfy::start(flavor));
    let pair = [a, b];
    fleet(app, admin, &[&pair[0], &pair[1]], 0, 300_000).await;
    let id = app.submit(admin, slow_graph(color), json!({})).await;
    let started = app.running(admin, &id).await;
    let on = usize::from(started["instanceId"] != instance_id(&pair[0]));
    (pair, on, id)
}

/// An instance killed mid-task: the task runs on the other one.
async fn killed_instance_mid_task(flavor: Flavor) {
    let Some(_turn) = turn(flavor).await else { return };
    let app = TestApp::start(Backend::Sqlite).await;
    let admin = app.admin_token().await;
    let (mut pair, on, id) = slow_task_on_one_of_two(flavor, &app, &admin, 0x050505).await;
    pair[on].kill();
    let done = app.finished(&admin, &id).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["instanceId"], instance_id(&pair[1 - on]));
    assert_eq!(done["attempts"], 2);
    assert_eq!(pair[1 - on].outputs_of(&id), 1);
    app.stop().await;
}

/// An instance that hangs (SIGSTOP) mid-task loses it to the other one; when it comes back
/// (SIGCONT) its old prompt is interrupted and forgotten, not run a second time.
async fn hung_instance_does_not_run_the_task_twice(flavor: Flavor) {
    let Some(_turn) = turn(flavor).await else { return };
    let app = TestApp::start(Backend::Sqlite).await;
    let admin = app.admin_token().await;
    let (pair, on, id) = slow_task_on_one_of_two(flavor, &app, &admin, 0x060606).await;
    let (hung, healthy) = (&pair[on], &pair[1 - on]);
    hung.signal("-STOP");
    let done = app.finished(&admin, &id).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["instanceId"], instance_id(healthy));
    hung.signal("-CONT");
    eventually(60, "the hung instance back in the fleet", || async {
        let (_, body) = app.call("GET", &format!("/api/instances/127.0.0.1:{}", hung.port), Some(&admin), None).await;
        (body["data"]["alive"] == true).then_some(())
    })
    .await;
    drained(hung, "the hung instance's old prompt interrupted and forgotten").await;
    assert_eq!(hung.outputs_of(&id), 0, "the task did not run a second time");
    assert_eq!(healthy.outputs_of(&id), 1);
    app.stop().await;
}

/// A task submitted right after an idle instance crashed runs on the healthy one, and the
/// refused connection does not count against it.
async fn crash_then_submit(flavor: Flavor) {
    let Some(_turn) = turn(flavor).await else { return };
    let (a, b) = tokio::join!(Comfy::start(flavor), Comfy::start(flavor));
    let mut pair = [a, b];
    let app = TestApp::start(Backend::Sqlite).await;
    let admin = app.admin_token().await;
    fleet(&app, &admin, &[&pair[0], &pair[1]], 0, 300_000).await;
    // Placement prefers the least recently used instance: crash the one next in line.
    let probe = app.submit(&admin, quick_graph(0x070707, 32), json!({})).await;
    let used = app.finished(&admin, &probe).await["instanceId"].clone();
    let next = usize::from(used == instance_id(&pair[0]));
    pair[next].kill();
    let id = app.submit(&admin, quick_graph(0x080808, 32), json!({})).await;
    let done = app.finished(&admin, &id).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["instanceId"], instance_id(&pair[1 - next]));
    assert_eq!(done["attempts"], 1, "the refused connection counts against the instance: {done}");
    app.stop().await;
}

/// A partly invalid graph fails, and the valid part ComfyUI queued anyway does not run
/// (or is interrupted) and leaves no history.
async fn partly_invalid_graph_does_not_run(flavor: Flavor) {
    let Some(_turn) = turn(flavor).await else { return };
    let (comfy, app, admin) = with_one(flavor, 0, 300_000).await;
    let mut graph = slow_graph(0x090909);
    graph["6"] = json!({"class_type": "ImageBlur", "inputs": {"image": ["1", 0], "blur_radius": 999, "sigma": 1.0}});
    graph["7"] = json!({"class_type": "SaveImage", "inputs": {"images": ["6", 0], "filename_prefix": "bad"}});
    let id = app.submit(&admin, graph, json!({})).await;
    let done = app.finished(&admin, &id).await;
    assert_eq!(
        (done["status"].as_str(), done["errorCode"].as_str()),
        (Some("failed"), Some("INVALID_WORKFLOW")),
        "{done}"
    );
    assert!(done["error"].as_str().unwrap().contains("blur_radius"), "{done}");
    drained(&comfy, "the queued part withdrawn and forgotten").await;
    assert_eq!(comfy.outputs_of(&id), 0, "nothing of it ran to the end");
    app.stop().await;
}

/// ComfyUI's refusals reach the user as one readable line.
async fn refusals_read_well(flavor: Flavor) {
    let Some(_turn) = turn(flavor).await else { return };
    let (_comfy, app, admin) = with_one(flavor, 0, 300_000).await;
    let graph = json!({"1": {"class_type": "NoSuchNode", "inputs": {}}});
    let id = app.submit(&admin, graph, json!({})).await;
    let done = app.finished(&admin, &id).await;
    assert_eq!(done["errorCode"], "INVALID_WORKFLOW", "{done}");
    assert_eq!(done["error"], "Cannot execute because node NoSuchNode does not exist: Node ID '#1'");
    app.stop().await;
}

/// An `/object_info` entry with its combo lists left out (they list each server's files).
fn without_lists(mut info: Value) -> Value {
    for group in info["input"].as_object_mut().into_iter().flat_map(|g| g.values_mut()) {
        for spec in group.as_object_mut().into_iter().flat_map(|g| g.values_mut()) {
            if spec[0].is_array() {
                spec[0] = json!("<list>");
            } else if spec[0] == "COMBO" {
                spec[1]["options"] = json!("<list>");
            }
        }
    }
    info
}

/// comfy-sim answers as the real ComfyUI does where clients look: `/object_info` of every
/// class it knows (model lists aside), `/features`, a CPU device in `/system_stats`, and
/// `/prompt`'s answers with their running number.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn comfy_sim_answers_like_the_real_comfyui() {
    let Some(_turn) = turn(Flavor::Real).await else { return };
    let (real, sim) = tokio::join!(Comfy::start(Flavor::Real), Comfy::start(Flavor::Sim));
    let http = reqwest::Client::new();
    let get = |comfy: &Comfy, path: &str| {
        let request = http.get(format!("{}{path}", comfy.base()));
        async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let real_info = get(&real, "/object_info").await;
    let sim_info = get(&sim, "/object_info").await;
    for (class, info) in sim_info.as_object().unwrap() {
        let actual = real_info.get(class).unwrap_or_else(|| panic!("the real ComfyUI has no {class}"));
        assert_eq!(without_lists(info.clone()), without_lists(actual.clone()), "/object_info of {class}");
    }
    assert_eq!(get(&sim, "/features").await, get(&real, "/features").await);
    let (real_stats, sim_stats) = (get(&real, "/system_stats").await, get(&sim, "/system_stats").await);
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&sim_stats["system"]), keys(&real_stats["system"]));
    assert_eq!(keys(&sim_stats["devices"][0]), keys(&real_stats["devices"][0]));
    for stats in [&sim_stats, &real_stats] {
        assert_eq!(
            (stats["devices"][0]["type"].as_str(), stats["devices"][0]["index"].as_null()),
            (Some("cpu"), Some(()))
        );
    }
    for comfy in [&real, &sim] {
        for number in 0..2u32 {
            let prompt = json!({"prompt": quick_graph(0x0e0e00 + number, 8), "client_id": "fidelity"});
            let answer: Value =
                http.post(format!("{}/prompt", comfy.base())).json(&prompt).send().await.unwrap().json().await.unwrap();
            assert_eq!(answer["number"], number, "{answer}");
            assert_eq!(answer["node_errors"], json!({}));
            assert!(answer["prompt_id"].is_string());
        }
    }
}

/// Each scenario against comfy-sim and against the real ComfyUI.
macro_rules! on_each_flavor {
    ($($scenario:ident),* $(,)?) => {
        mod sim {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario(super::Flavor::Sim).await;
                }
            )*
        }
        mod real_comfyui {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario(super::Flavor::Real).await;
                }
            )*
        }
    };
}

on_each_flavor!(
    dispatch_over_two_instances,
    uploads_feed_load_image,
    params_fill_the_graph,
    killed_gantry_completes_every_task_once,
    progress_only_grows,
    cancel_running_and_waiting,
    timeout_interrupts,
    killed_instance_mid_task,
    hung_instance_does_not_run_the_task_twice,
    crash_then_submit,
    partly_invalid_graph_does_not_run,
    refusals_read_well,
);
