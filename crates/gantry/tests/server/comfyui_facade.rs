//! The virtual ComfyUI at `/comfy`: ComfyUI's own protocol over the whole fleet, each
//! prompt a task of its caller (stored, placed, paid for), one user never seeing another's.

use crate::common::comfy::{Comfy, Flavor, quick_graph, slow_graph_of_side, turn};
use crate::common::process::GantryProcess;
use crate::common::sim::Sim;
use crate::common::{ADMIN_PASSWORD, TestApp, eventually, fleet_config, node_script, t2i_graph};
use base64::Engine as _;
use futures_util::StreamExt;
use gantry_store::Backend;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const SD15: &str = "v1-5-pruned-emaonly.safetensors";

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The facade's WebSocket as `clientId`, with `Authorization: Bearer token`.
async fn socket(app: &TestApp, token: &str, client_id: &str) -> Socket {
    let url = format!("ws://{}/comfy/ws?clientId={client_id}", app.base.trim_start_matches("http://"));
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert("Authorization", format!("Bearer {token}").parse().unwrap());
    tokio_tungstenite::connect_async(request).await.expect("facade socket").0
}

/// Every text message up to and including the one `last` accepts (at most 60 s).
async fn messages_until(ws: &mut Socket, last: impl Fn(&Value) -> bool) -> Vec<Value> {
    let read = async {
        let mut seen = Vec::new();
        while let Some(Ok(message)) = ws.next().await {
            if let Message::Text(text) = message {
                let value: Value = serde_json::from_str(&text).expect("JSON message");
                let done = last(&value);
                seen.push(value);
                if done {
                    return seen;
                }
            }
        }
        panic!("socket closed: {seen:?}");
    };
    tokio::time::timeout(std::time::Duration::from_secs(60), read).await.expect("the awaited message came")
}

fn graph(seed: u64) -> Value {
    let mut graph = t2i_graph(SD15, 4, seed);
    graph["6"]["inputs"]["text"] = json!("a lighthouse");
    graph
}

/// A GET with Basic credentials; status and body.
async fn basic_get(app: &TestApp, path: &str, user: &str, password: &str) -> (u16, Value) {
    let response = app.http.get(app.url(path)).basic_auth(user, Some(password)).send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
}

async fn a_prompt_runs_on_the_fleet_and_stays_its_owners(backend: Backend) {
    let (a, b) = (Sim::spawn(&["--step-ms", "20"]), Sim::spawn(&["--step-ms", "20"]));
    let app = TestApp::start(backend).await;
    let admin = app.admin_token().await;
    app.use_fleet(&admin, fleet_config(&[a.port, b.port], 0)).await;
    let alice = app.paying_user(&admin, "alice").await;
    let bob = app.paying_user(&admin, "bob").await;

    let mut ws = socket(&app, &alice, "alice-tab").await;
    let hello = messages_until(&mut ws, |m| m["type"] == "status").await;
    assert_eq!(hello[0]["data"]["sid"], "alice-tab", "{hello:?}");
    assert_eq!(hello[0]["data"]["status"]["exec_info"]["queue_remaining"], 0);

    let (status, queued) = app
        .call("POST", "/comfy/prompt", Some(&alice), Some(json!({"prompt": graph(1), "client_id": "alice-tab"})))
        .await;
    assert_eq!(status, 200, "{queued}");
    let id = queued["prompt_id"].as_str().unwrap().to_owned();
    assert!(queued["number"].is_number() && queued["node_errors"] == json!({}), "{queued}");

    // ComfyUI's messages, in ComfyUI's order, for this prompt.
    let seen = messages_until(&mut ws, |m| m["type"] == "executing" && m["data"]["node"].is_null()).await;
    let kinds: Vec<&str> = seen.iter().filter(|m| m["type"] != "status").map(|m| m["type"].as_str().unwrap()).collect();
    let position = |kind: &str| kinds.iter().position(|k| *k == kind).unwrap_or_else(|| panic!("{kind}: {kinds:?}"));
    assert!(position("execution_start") < position("executing"), "{kinds:?}");
    assert!(position("progress") < position("executed"), "{kinds:?}");
    assert!(position("executed") < position("execution_success"), "{kinds:?}");
    assert_eq!(kinds.last(), Some(&"executing"));
    assert!(seen.iter().filter(|m| m["type"] != "status").all(|m| m["data"]["prompt_id"] == id.as_str()), "{seen:?}");
    let progress = seen.iter().find(|m| m["type"] == "progress").unwrap();
    assert_eq!((progress["data"]["node"].as_str(), progress["data"]["max"].as_u64()), (Some("3"), Some(4)));
    let executed = seen.iter().find(|m| m["type"] == "executed").unwrap();
    assert_eq!(executed["data"]["node"], "9", "{executed}");
    let image = executed["data"]["output"]["images"][0].clone();
    let done = messages_until(&mut ws, |m| m["type"] == "status").await;
    assert_eq!(done.last().unwrap()["data"]["status"]["exec_info"]["queue_remaining"], 0, "{done:?}");

    // The history, from Gantry's store, and the file through /view.
    let (_, history) = app.call("GET", &format!("/comfy/history/{id}"), Some(&alice), None).await;
    let entry = &history[id.as_str()];
    assert_eq!(entry["status"]["status_str"], "success", "{history}");
    assert_eq!(entry["status"]["completed"], true);
    assert_eq!(entry["outputs"]["9"]["images"][0], image, "{history}");
    assert_eq!(entry["prompt"][1], id.as_str());
    assert_eq!(entry["prompt"][2]["3"]["class_type"], "KSampler");
    let view = format!(
        "/comfy/view?filename={}&subfolder={}&type=output",
        image["filename"].as_str().unwrap(),
        image["subfolder"].as_str().unwrap()
    );
    let png = app.http.get(app.url(&view)).bearer_auth(&alice).send().await.unwrap();
    assert_eq!(png.status(), 200);
    assert!(png.bytes().await.unwrap().starts_with(b"\x89PNG"), "an image");
    let (_, all) = app.call("GET", "/comfy/history", Some(&alice), None).await;
    assert_eq!(all.as_object().unwrap().keys().collect::<Vec<_>>(), vec![&id], "{all}");

    // The prompt is a task like any other: comfy-manager lists it.
    let (_, tasks) = app.call("GET", "/api/tasks", Some(&alice), None).await;
    assert_eq!(tasks["data"]["items"][0]["id"], id.as_str());
    assert_eq!(tasks["data"]["items"][0]["kind"], "comfyui");

    // Another user sees nothing of it.
    let (status, theirs) = app.call("GET", &format!("/comfy/history/{id}"), Some(&bob), None).await;
    assert_eq!((status, theirs), (200, json!({})));
    let (_, theirs) = app.call("GET", "/comfy/history", Some(&bob), None).await;
    assert_eq!(theirs, json!({}));
    let response = app.http.get(app.url(&view)).bearer_auth(&bob).send().await.unwrap();
    assert_eq!(response.status(), 404, "another user's file");
    let (_, queue) = app.call("GET", "/comfy/queue", Some(&bob), None).await;
    assert_eq!(queue, json!({"queue_running": [], "queue_pending": []}));
    app.stop().await;
}

/// A busy instance can finish a prompt before its messages arrive, and Gantry learns the
/// end from its history first: the prompt's socket still hears it start before it ends,
/// and its history entry says it started.
#[tokio::test]
async fn a_prompt_an_instance_reports_late_still_starts_before_it_ends() {
    let sim = Sim::spawn(&["--step-ms", "5"]);
    let app = TestApp::start(Backend::Sqlite).await;
    let admin = app.admin_token().await;
    app.use_fleet(&admin, fleet_config(&[sim.port], 0)).await;
    let alice = app.paying_user(&admin, "alice").await;
    // Every frame of the instance arrives 1.5 s late; Gantry asks it every 0.5 s.
    let lag = app.http.post(format!("{}/sim/control", sim.base())).json(&json!({"ws_lag_ms": 1500}));
    assert!(lag.send().await.unwrap().status().is_success());
    let mut ws = socket(&app, &alice, "tab").await;
    let (status, queued) =
        app.call("POST", "/comfy/prompt", Some(&alice), Some(json!({"prompt": graph(3), "client_id": "tab"}))).await;
    assert_eq!(status, 200, "{queued}");
    let id = queued["prompt_id"].as_str().unwrap().to_owned();
    let seen = messages_until(&mut ws, |m| m["type"] == "executing" && m["data"]["node"].is_null()).await;
    let kinds: Vec<&str> = seen.iter().filter(|m| m["type"] != "status").map(|m| m["type"].as_str().unwrap()).collect();
    assert_eq!(kinds.first(), Some(&"execution_start"), "{kinds:?}");
    assert!(kinds.contains(&"executed") && kinds.contains(&"execution_success"), "{kinds:?}");
    let (_, history) = app.call("GET", &format!("/comfy/history/{id}"), Some(&alice), None).await;
    let messages = &history[id.as_str()]["status"]["messages"];
    assert_eq!(
        (messages[0][0].as_str(), messages[1][0].as_str()),
        (Some("execution_start"), Some("execution_success"))
    );
    app.stop().await;
}

async fn clients_authenticate_as_they_can(backend: Backend) {
    let sim = Sim::spawn(&["--step-ms", "2"]);
    let app = TestApp::start(backend).await;
    let admin = app.admin_token().await;
    app.use_fleet(&admin, fleet_config(&[sim.port], 0)).await;
    let alice = app.paying_user(&admin, "alice").await;
    let (_, made) = app.call("POST", "/api/v1/users/tokens", Some(&alice), Some(json!({"label": "comfy"}))).await;
    let api_token = made["data"]["secret"].as_str().unwrap().to_owned();
    let (_, queued) = app.call("POST", "/comfy/prompt", Some(&alice), Some(json!({"prompt": graph(2)}))).await;
    let id = queued["prompt_id"].as_str().unwrap().to_owned();
    let history = format!("/comfy/history/{id}");
    eventually(60, "the prompt in its history", || async {
        let (_, body) = app.call("GET", &history, Some(&alice), None).await;
        body.get(&id).map(|_| ())
    })
    .await;

    // HTTP Basic: the password, or an API token as the password.
    for password in ["user-password-1", api_token.as_str()] {
        let (status, body) = basic_get(&app, &history, "alice", password).await;
        assert_eq!(status, 200, "{body}");
        assert!(body.get(&id).is_some(), "{body}");
    }
    let (status, _) = basic_get(&app, &history, "bob", &api_token).await;
    assert_eq!(status, 401, "a token is its owner's only");
    // The token in the URL, for clients that set no header; /api/ spellings too.
    for path in [format!("/comfy/k/{api_token}/history/{id}"), format!("/comfy/k/{api_token}/api/history/{id}")] {
        let (status, body) = app.call("GET", &path, None, None).await;
        assert_eq!(status, 200, "{path}: {body}");
        assert!(body.get(&id).is_some(), "{body}");
    }
    let (status, body) = app.call("GET", &format!("/comfy/api/history/{id}"), Some(&alice), None).await;
    assert!(status == 200 && body.get(&id).is_some(), "{body}");

    // Without a credential: 401 in ComfyUI's error shape, asking for Basic.
    let response = app.http.get(app.url("/comfy/queue")).send().await.unwrap();
    assert_eq!(response.status(), 401);
    let challenge = response.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(challenge.starts_with("Basic"), "{challenge}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["type"], "unauthorized", "{body}");
    let (status, _) = app.call("GET", "/comfy/k/gat_not-a-token/queue", None, None).await;
    assert_eq!(status, 401);

    // Bad prompts get ComfyUI's 400 shape, whatever the content type.
    let raw = app.http.post(app.url("/comfy/prompt")).bearer_auth(&alice).body(r#"{"client_id": "x"}"#).send();
    let response = raw.await.unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["type"], "no_prompt", "{body}");
    assert_eq!(body["node_errors"], json!({}));
    let (status, body) = app.call("POST", "/comfy/prompt", Some(&alice), Some(json!({"prompt": [1, 2]}))).await;
    assert_eq!((status, body["error"]["type"].as_str()), (400, Some("invalid_prompt")), "{body}");
    let mut unknown_model = graph(3);
    unknown_model["4"]["inputs"]["ckpt_name"] = json!("nope.safetensors");
    let (status, body) = app.call("POST", "/comfy/prompt", Some(&alice), Some(json!({"prompt": unknown_model}))).await;
    assert_eq!((status, body["error"]["type"].as_str()), (400, Some("invalid_prompt")), "{body}");
    app.stop().await;
}

/// comfy-api-simplified (PyPI), unmodified, against the virtual ComfyUI at the root of its
/// own address (the client only reaches a server's root): upload, queue, WebSocket wait,
/// history, download, an interrupt, with Basic credentials, on two instances; another user
/// gets nothing of it. `scripts/test` installs it and names its interpreter in
/// `GANTRY_COMFY_API_PY`.
async fn comfy_api_simplified_runs_workflows_unmodified(backend: Backend) {
    let python = std::env::var("GANTRY_COMFY_API_PY")
        .expect("GANTRY_COMFY_API_PY: comfy-api-simplified's python (scripts/test sets it)");
    // Slow enough that the tiled graph is still running when the client interrupts it.
    let (a, b) = (Sim::spawn(&["--step-ms", "150"]), Sim::spawn(&["--step-ms", "150"]));
    let app = TestApp::start_with(backend, |c| c.http.comfyui_listen = Some("127.0.0.1:0".into())).await;
    let admin = app.admin_token().await;
    app.use_fleet(&admin, fleet_config(&[a.port, b.port], 0)).await;
    app.paying_user(&admin, "alice").await;
    let bob = app.paying_user(&admin, "bob").await;
    let (_, made) = app.call("POST", "/api/v1/users/tokens", Some(&bob), Some(json!({"label": "py"}))).await;
    let bob_token = made["data"]["secret"].as_str().unwrap().to_owned();
    let root = app.comfyui_root().expect("the virtual ComfyUI's own address");

    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/python/comfy_api_simplified_client.py");
    let output = tokio::process::Command::new(python)
        .arg(script)
        .args([root.as_str(), "alice", "user-password-1", "bob", bob_token.as_str()])
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let outcome: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|_| panic!("no outcome: {stdout}\n{}", String::from_utf8_lossy(&output.stderr)));
    assert!(output.status.success(), "{outcome}");
    assert_eq!(outcome["uploaded"]["type"], "input", "{outcome}");
    let images = outcome["images"].as_object().unwrap();
    assert_eq!(images.len(), 1, "{outcome}");
    let png =
        base64::engine::general_purpose::STANDARD.decode(images.values().next().unwrap().as_str().unwrap()).unwrap();
    let image = image::load_from_memory(&png).unwrap().to_rgb8();
    assert_eq!((image.width(), image.height()), (8, 8));
    assert_eq!(image.get_pixel(3, 3).0, [0, 255, 255], "the uploaded red, inverted");
    assert_eq!(outcome["status"], "success", "{outcome}");
    assert_eq!(outcome["queue"], json!({"queue_running": [], "queue_pending": []}), "{outcome}");
    assert_eq!(outcome["devices"], 2, "both instances' devices: {outcome}");
    assert_eq!(outcome["interrupted"], "execution_interrupted", "{outcome}");
    assert_eq!(outcome["other_history"], json!({}), "{outcome}");
    assert!(outcome["other_image"].as_str().unwrap().contains("404"), "{outcome}");

    // The three prompts are alice's tasks; none is bob's.
    let (_, tasks) = app.call("GET", "/api/tasks?limit=10", Some(&admin), None).await;
    let owners: Vec<i64> =
        tasks["data"]["items"].as_array().unwrap().iter().map(|t| t["userId"].as_i64().unwrap()).collect();
    assert_eq!(owners.len(), 3, "{tasks}");
    assert!(owners.iter().all(|o| *o == owners[0]), "{tasks}");
    let prompt = outcome["prompt_id"].as_str().unwrap();
    let (_, bobs) = app.call("GET", &format!("/comfy/history/{prompt}"), Some(&bob), None).await;
    assert_eq!(bobs, json!({}));
    app.stop().await;
}

/// @saintno/comfyui-sdk (npm), unmodified, against `/comfy`: upload, a run with progress and
/// outputs, the download, an interrupt; another user gets nothing. It calls a prompt
/// "missing" if it is in neither the queue nor the history, so a prompt still in Gantry's
/// own queue must show as pending.
async fn comfyui_sdk_runs_and_interrupts_prompts(backend: Backend) {
    // Slow enough that the tiled graph is still running when the client interrupts it.
    let sim = Sim::spawn(&["--step-ms", "150"]);
    let app = TestApp::start(backend).await;
    let admin = app.admin_token().await;
    app.use_fleet(&admin, fleet_config(&[sim.port], 0)).await;
    let alice = app.paying_user(&admin, "alice").await;
    let bob = app.paying_user(&admin, "bob").await;
    let base = app.url("/comfy");

    let outcome = node_script("comfyui-sdk-client.mjs", &[&base, &alice, &bob]).await;
    assert!(outcome["errors"].as_array().unwrap().is_empty(), "{outcome}");
    assert_eq!(outcome["uploaded"]["type"], "input", "{outcome}");
    let done = &outcome["results"][0];
    assert_eq!(done["output"]["saved"]["images"][0]["type"], "output", "{outcome}");
    let png = base64::engine::general_purpose::STANDARD.decode(outcome["image"].as_str().unwrap()).unwrap();
    let image = image::load_from_memory(&png).unwrap().to_rgb8();
    assert_eq!(image.get_pixel(3, 3).0, [0, 255, 255], "the uploaded red, inverted");
    assert_eq!(outcome["history"], "success", "{outcome}");
    let stopped = &outcome["results"][1];
    assert_eq!(stopped["error"], "ExecutionInterruptedError", "{outcome}");
    let stopped_id = stopped["id"].as_str().unwrap();
    assert!(outcome["progress"].as_array().unwrap().iter().any(|p| p["id"] == stopped_id), "{outcome}");
    assert_eq!(outcome["otherHistory"], Value::Null, "{outcome}");
    assert_eq!(outcome["otherView"], 404, "{outcome}");

    // The interrupted prompt is a cancelled task, refunded; the other one was charged.
    let (_, task) = app.call("GET", &format!("/api/tasks/{stopped_id}"), Some(&alice), None).await;
    assert_eq!(task["data"]["status"], "cancelled", "{task}");
    let balance = eventually(20, "the charges to settle", || async {
        let (_, b) = app.call("GET", "/api/v1/users/balance", Some(&alice), None).await;
        (b["data"]["freezed"] == 0).then_some(b["data"]["balance"].as_i64()?)
    })
    .await;
    assert!(balance < 10_000, "the completed prompt was paid for: {balance}");
    app.stop().await;
}

/// The ids in a `/queue` list.
fn ids_in(list: &Value) -> Vec<String> {
    list.as_array().unwrap().iter().map(|item| item[1].as_str().unwrap().to_owned()).collect()
}

/// A prompt for `/comfy/prompt`: a slow graph, still running when the test acts on it.
fn slow(color: u32) -> Value {
    json!({"prompt": slow_graph_of_side(color, 4096)})
}

async fn the_queue_and_history_are_the_callers_to_change(backend: Backend) {
    let sim = Sim::spawn(&["--step-ms", "150"]);
    let app = TestApp::start(backend).await;
    let admin = app.admin_token().await;
    app.use_fleet(&admin, fleet_config(&[sim.port], 0)).await;
    let alice = app.paying_user(&admin, "alice").await;
    let bob = app.paying_user(&admin, "bob").await;
    let mut ids = Vec::new();
    for color in [1, 2, 3] {
        let (status, queued) = app.call("POST", "/comfy/prompt", Some(&alice), Some(slow(color))).await;
        assert_eq!(status, 200, "{queued}");
        ids.push(queued["prompt_id"].as_str().unwrap().to_owned());
    }
    // One runs; the others wait, one of them still in Gantry's own queue (prefetch 0).
    let queue = eventually(60, "the first prompt running", || async {
        let (_, queue) = app.call("GET", "/comfy/queue", Some(&alice), None).await;
        (ids_in(&queue["queue_running"]) == ids[..1]).then_some(queue)
    })
    .await;
    assert_eq!(ids_in(&queue["queue_pending"]), ids[1..], "{queue}");
    let item = &queue["queue_pending"][0];
    assert_eq!(item[2]["1"]["class_type"], "EmptyImage", "the prompt as queued: {item}");
    assert!(item[0].as_i64().unwrap() < queue["queue_pending"][1][0].as_i64().unwrap(), "numbers in order");
    let (_, remaining) = app.call("GET", "/comfy/prompt", Some(&alice), None).await;
    assert_eq!(remaining["exec_info"]["queue_remaining"], 3);

    // Another user clearing and interrupting touches none of it.
    for (path, body) in [
        ("/comfy/queue", json!({"clear": true})),
        ("/comfy/interrupt", json!({})),
        ("/comfy/history", json!({"clear": true})),
    ] {
        let response = app.http.post(app.url(path)).bearer_auth(&bob).json(&body).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
    }
    let (_, queue) = app.call("GET", "/comfy/queue", Some(&alice), None).await;
    assert_eq!(
        (ids_in(&queue["queue_running"]), ids_in(&queue["queue_pending"])),
        (ids[..1].to_vec(), ids[1..].to_vec())
    );

    // The owner removes a waiting prompt, then interrupts the running one.
    let remove = json!({"delete": [ids[2]]});
    let response = app.http.post(app.url("/comfy/queue")).bearer_auth(&alice).json(&remove).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let interrupt = json!({"prompt_id": ids[0]});
    let response =
        app.http.post(app.url("/comfy/interrupt")).bearer_auth(&alice).json(&interrupt).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let history = eventually(120, "the second prompt done", || async {
        let (_, history) = app.call("GET", "/comfy/history", Some(&alice), None).await;
        (history.as_object()?.len() == 2).then_some(history)
    })
    .await;
    let mut keys: Vec<&String> = history.as_object().unwrap().keys().collect();
    keys.sort_by_key(|id| history[id.as_str()]["prompt"][0].as_i64());
    assert_eq!(keys, vec![&ids[0], &ids[1]], "numbered in order, no entry for the removed one: {history}");
    // A page counts entries: the newest is the second prompt's, not the removed one's.
    let (_, newest) = app.call("GET", "/comfy/history?max_items=1", Some(&alice), None).await;
    assert_eq!(newest.as_object().unwrap().keys().collect::<Vec<_>>(), vec![&ids[1]], "{newest}");
    let interrupted = &history[ids[0].as_str()]["status"];
    assert_eq!(interrupted["status_str"], "error", "{history}");
    assert_eq!(interrupted["messages"][1][0], "execution_interrupted", "{history}");
    assert_eq!(history[ids[1].as_str()]["status"]["status_str"], "success", "{history}");
    assert_eq!(app.task(&alice, &ids[2]).await["status"], "cancelled");

    // Deleting a history entry leaves the task (and its files) where they were.
    let delete = json!({"delete": [ids[1]]});
    let response = app.http.post(app.url("/comfy/history")).bearer_auth(&alice).json(&delete).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let (_, history) = app.call("GET", "/comfy/history", Some(&alice), None).await;
    assert_eq!(history.as_object().unwrap().keys().collect::<Vec<_>>(), vec![&ids[0]], "{history}");
    let (_, entry) = app.call("GET", &format!("/comfy/history/{}", ids[1]), Some(&alice), None).await;
    assert_eq!(entry, json!({}));
    assert_eq!(app.task(&alice, &ids[1]).await["status"], "completed");
    app.stop().await;
}

/// An upload is its owner's: another user's prompt naming it is refused, and only the
/// owner can view it.
async fn uploads_are_their_owners(backend: Backend) {
    let sim = Sim::spawn(&["--step-ms", "2"]);
    let app = TestApp::start(backend).await;
    let admin = app.admin_token().await;
    app.use_fleet(&admin, fleet_config(&[sim.port], 0)).await;
    let alice = app.paying_user(&admin, "alice").await;
    let bob = app.paying_user(&admin, "bob").await;
    let mut png = Vec::new();
    let red = image::RgbImage::from_pixel(4, 4, image::Rgb([255, 0, 0]));
    red.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).unwrap();
    let form = reqwest::multipart::Form::new()
        .part("image", reqwest::multipart::Part::bytes(png.clone()).file_name("red.png"))
        .text("subfolder", "pasted");
    let response =
        app.http.post(app.url("/comfy/upload/image")).bearer_auth(&alice).multipart(form).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let uploaded: Value = response.json().await.unwrap();
    assert_eq!(
        (uploaded["subfolder"].as_str(), uploaded["type"].as_str()),
        (Some("pasted"), Some("input")),
        "{uploaded}"
    );
    let name = uploaded["name"].as_str().unwrap().to_owned();
    assert!(name.ends_with("_red.png"), "{name}");

    let view = format!("/comfy/view?filename={name}&subfolder=pasted&type=input");
    let mine = app.http.get(app.url(&view)).bearer_auth(&alice).send().await.unwrap();
    assert_eq!(mine.status(), 200);
    assert_eq!(mine.bytes().await.unwrap().as_ref(), png.as_slice());
    let theirs = app.http.get(app.url(&view)).bearer_auth(&bob).send().await.unwrap();
    assert_eq!(theirs.status(), 404);

    let graph = |image: String| {
        json!({"prompt": {
            "1": {"class_type": "LoadImage", "inputs": {"image": image}},
            "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "again"}}
        }})
    };
    let (status, body) = app.call("POST", "/comfy/prompt", Some(&bob), Some(graph(name.clone()))).await;
    assert_eq!((status, body["error"]["type"].as_str()), (400, Some("invalid_prompt")), "{body}");
    // The front end's spelling: subfolder and the [input] mark.
    let (status, queued) =
        app.call("POST", "/comfy/prompt", Some(&alice), Some(graph(format!("pasted/{name} [input]")))).await;
    assert_eq!(status, 200, "{queued}");
    let id = queued["prompt_id"].as_str().unwrap();
    assert_eq!(app.finished(&alice, id).await["status"], "completed");
    let (_, tasks) = app.call("GET", "/api/tasks", Some(&bob), None).await;
    assert_eq!(tasks["data"]["total"], 0, "bob's refused prompt left nothing: {tasks}");
    app.stop().await;
}

/// `kill -9` of Gantry with prompts running and waiting: after the restart every prompt
/// completes once, and a client coming back finds them all in its history.
#[tokio::test]
async fn prompts_survive_a_killed_gantry() {
    let (a, b) = tokio::join!(Comfy::start(Flavor::Sim), Comfy::start(Flavor::Sim));
    let data = tempfile::tempdir().unwrap();
    let db = gantry_testkit::ScratchDb::new(Backend::Sqlite).await;
    let mut gantry = GantryProcess::start(data.path(), &db.url, None);
    let login = json!({"username": "admin", "password": ADMIN_PASSWORD});
    let admin =
        gantry.call("POST", "/api/auth/login", None, Some(login)).await["data"]["token"].as_str().unwrap().to_owned();
    gantry.call("PUT", "/api/config", Some(&admin), Some(fleet_config(&[a.port, b.port], 1))).await;
    eventually(60, "instances alive", || async {
        let list = gantry.call("GET", "/api/instances", Some(&admin), None).await;
        (list["data"].as_array()?.iter().filter(|i| i["alive"] == true).count() == 2).then_some(())
    })
    .await;
    let mut ids = Vec::new();
    for prompt in [
        slow_graph_of_side(0x0a, 2048),
        slow_graph_of_side(0x0b, 2048),
        quick_graph(0x0c, 32),
        quick_graph(0x0d, 32),
        quick_graph(0x0e, 32),
    ] {
        let answer = gantry
            .call("POST", "/comfy/prompt", Some(&admin), Some(json!({"prompt": prompt, "client_id": "tab"})))
            .await;
        ids.push(answer["prompt_id"].as_str().unwrap_or_else(|| panic!("{answer}")).to_owned());
    }
    eventually(120, "two prompts running", || async {
        let queue = gantry.call("GET", "/comfy/queue", Some(&admin), None).await;
        (queue["queue_running"].as_array()?.len() == 2).then_some(())
    })
    .await;
    gantry.kill9();
    let gantry = GantryProcess::start(data.path(), &db.url, None);
    let history = eventually(180, "every prompt in the history after the restart", || async {
        let history = gantry.call("GET", "/comfy/history", Some(&admin), None).await;
        (history.as_object()?.len() == ids.len()).then_some(history)
    })
    .await;
    for id in &ids {
        assert_eq!(history[id.as_str()]["status"]["status_str"], "success", "{history}");
        let task = gantry.call("GET", &format!("/api/tasks/{id}"), Some(&admin), None).await;
        assert_eq!(task["data"]["attempts"], 1, "{task}");
        assert_eq!(a.outputs_of(id) + b.outputs_of(id), 1, "ran exactly once: {task}");
    }
}

/// What the instances know, answered as one ComfyUI; a single machine's routes answer
/// without a 404.
async fn the_fleet_answers_as_one_comfyui(backend: Backend) {
    let (a, b) = (Sim::spawn(&["--step-ms", "2"]), Sim::spawn(&["--step-ms", "2"]));
    let app = TestApp::start(backend).await;
    let admin = app.admin_token().await;
    app.use_fleet(&admin, fleet_config(&[a.port, b.port], 0)).await;
    let alice = app.paying_user(&admin, "alice").await;
    let get = |path: &'static str| {
        let app = &app;
        let alice = alice.clone();
        async move {
            let (status, body) = app.call("GET", path, Some(&alice), None).await;
            assert_eq!(status, 200, "{path}: {body}");
            body
        }
    };
    let info = get("/comfy/object_info").await;
    assert!(info["KSampler"]["input"]["required"]["steps"].is_array(), "{}", info["KSampler"]);
    assert!(get("/comfy/object_info/KSampler").await["KSampler"].is_object());
    assert_eq!(get("/comfy/object_info/NoSuchNode").await, json!({}));
    assert_eq!(get("/comfy/system_stats").await["devices"].as_array().unwrap().len(), 2, "both instances' devices");
    let checkpoints = get("/comfy/models/checkpoints").await;
    assert!(checkpoints.as_array().unwrap().contains(&json!(SD15)), "{checkpoints}");
    assert_eq!(get("/comfy/embeddings").await, json!(["easynegative"]));
    let browsed = get("/comfy/experiment/models/checkpoints").await;
    assert!(browsed.as_array().unwrap().contains(&json!({"name": SD15, "pathIndex": 0})), "{browsed}");
    assert!(get("/comfy/experiment/models").await.as_array().unwrap().iter().any(|f| f["name"] == "loras"));
    let (status, _) = app.call("GET", "/comfy/models/nowhere", Some(&alice), None).await;
    assert_eq!(status, 404);
    for (method, path) in [("POST", "/comfy/free"), ("PATCH", "/comfy/internal/logs/subscribe")] {
        let request = app.http.request(method.parse().unwrap(), app.url(path)).bearer_auth(&alice);
        assert_eq!(request.send().await.unwrap().status(), 200, "{path}");
    }
    assert_eq!(get("/comfy/internal/logs/raw").await["entries"], json!([]));
    assert_eq!(get("/comfy/i18n").await, json!({}));
    let features = get("/comfy/features").await;
    assert!(features["max_upload_size"].as_u64().unwrap() > 0, "{features}");
    app.stop().await;
}

/// The front end's settings and saved documents are each user's own, kept by Gantry.
async fn settings_and_documents_are_each_users_own(backend: Backend) {
    let app = TestApp::start(backend).await;
    let admin = app.admin_token().await;
    let alice = app.paying_user(&admin, "alice").await;
    let bob = app.paying_user(&admin, "bob").await;
    let send = |method: &str, path: &str, token: &str, body: &str| {
        app.http.request(method.parse().unwrap(), app.url(path)).bearer_auth(token).body(body.to_owned()).send()
    };
    assert_eq!(send("POST", "/comfy/settings/Comfy.Locale", &alice, r#""fr""#).await.unwrap().status(), 200);
    assert_eq!(send("POST", "/comfy/settings", &alice, r#"{"Comfy.Grid": 8}"#).await.unwrap().status(), 200);
    let (_, mine) = app.call("GET", "/comfy/settings", Some(&alice), None).await;
    assert_eq!(mine, json!({"Comfy.Locale": "fr", "Comfy.Grid": 8}));
    let (_, one) = app.call("GET", "/comfy/settings/Comfy.Grid", Some(&alice), None).await;
    assert_eq!(one, json!(8));
    let (_, theirs) = app.call("GET", "/comfy/settings", Some(&bob), None).await;
    assert_eq!(theirs, json!({}));
    // The front end sends several settings at once as it starts: every one stays.
    let at_once = (0..20).map(|i| send("POST", &format!("/comfy/settings/Bob.{i}"), &bob, "true"));
    for sent in futures_util::future::join_all(at_once).await {
        assert_eq!(sent.unwrap().status(), 200);
    }
    let (_, theirs) = app.call("GET", "/comfy/settings", Some(&bob), None).await;
    assert_eq!(theirs.as_object().map(|s| s.len()), Some(20), "{theirs}");

    let workflow = r#"{"nodes": []}"#;
    let written = send("POST", "/comfy/userdata/workflows%2Fa.json?overwrite=false", &alice, workflow).await.unwrap();
    assert_eq!(written.json::<Value>().await.unwrap(), json!("workflows/a.json"));
    let again = send("POST", "/comfy/userdata/workflows%2Fa.json?overwrite=false", &alice, workflow).await.unwrap();
    assert_eq!(again.status(), 409);
    let (_, listed) = app.call("GET", "/comfy/userdata?dir=workflows&full_info=true", Some(&alice), None).await;
    assert_eq!(listed[0]["path"], "a.json", "{listed}");
    assert_eq!(listed[0]["size"], workflow.len());
    let (_, empty) = app.call("GET", "/comfy/userdata?dir=subgraphs%2F&recurse=true", Some(&alice), None).await;
    assert_eq!(empty, json!([]), "an empty directory lists nothing, not 404");
    let read = app.http.get(app.url("/comfy/userdata/workflows%2Fa.json")).bearer_auth(&alice).send().await.unwrap();
    assert_eq!(read.text().await.unwrap(), workflow);
    let (status, _) = app.call("GET", "/comfy/userdata/workflows%2Fa.json", Some(&bob), None).await;
    assert_eq!(status, 404, "another user's document");
    let moved = send("POST", "/comfy/userdata/workflows%2Fa.json/move/workflows%2Fb.json", &alice, "").await.unwrap();
    assert_eq!(moved.json::<Value>().await.unwrap(), json!("workflows/b.json"));
    // A move that cannot happen, even with overwrite, loses nothing.
    for (path, status) in
        [("workflows%2Fb.json/move/workflows%2Fb.json", 200), ("workflows%2Fnone.json/move/workflows%2Fb.json", 404)]
    {
        let moved = send("POST", &format!("/comfy/userdata/{path}?overwrite=true"), &alice, "").await.unwrap();
        assert_eq!(moved.status(), status, "{path}");
        let read =
            app.http.get(app.url("/comfy/userdata/workflows%2Fb.json")).bearer_auth(&alice).send().await.unwrap();
        assert_eq!(read.text().await.unwrap(), workflow, "after {path}");
    }
    assert_eq!(send("DELETE", "/comfy/userdata/workflows%2Fb.json", &alice, "").await.unwrap().status(), 204);
    let (status, _) = app.call("GET", "/comfy/userdata/workflows%2Fb.json", Some(&alice), None).await;
    assert_eq!(status, 404);
    let (status, body) = app.call("POST", "/comfy/userdata/..%2Fescape.json", Some(&alice), Some(json!({}))).await;
    assert_eq!(status, 400, "{body}");
    // What a fresh user has without writing it: no styles, no saved templates.
    let css = app.http.get(app.url("/comfy/user.css")).bearer_auth(&alice).send().await.unwrap();
    assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
    let (status, templates) = app.call("GET", "/comfy/userdata/comfy.templates.json", Some(&alice), None).await;
    assert_eq!((status, templates), (200, json!([])));
    app.stop().await;
}

gantry_testkit::on_each_backend!(
    settings_and_documents_are_each_users_own,
    the_fleet_answers_as_one_comfyui,
    the_queue_and_history_are_the_callers_to_change,
    uploads_are_their_owners,
    comfyui_sdk_runs_and_interrupts_prompts,
    a_prompt_runs_on_the_fleet_and_stays_its_owners,
    clients_authenticate_as_they_can,
    comfy_api_simplified_runs_workflows_unmodified
);

/// The static directory of the PyPI package `comfyui-frontend-package` in the real
/// ComfyUI's virtualenv (`scripts/test` prepares it; `GANTRY_COMFYUI_PYTHON`).
fn frontend_dir() -> Option<std::path::PathBuf> {
    let python = std::env::var_os("GANTRY_COMFYUI_PYTHON")?;
    let output = std::process::Command::new(python)
        .args([
            "-c",
            "import comfyui_frontend_package as p, os; print(os.path.join(os.path.dirname(p.__file__), 'static'))",
        ])
        .output()
        .ok()?;
    let dir = std::path::PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    dir.join("index.html").is_file().then_some(dir)
}

/// ComfyUI's own front end at `/comfy/`, in headless Chromium with HTTP Basic, over a real
/// ComfyUI (the front end needs every node class a real one has): it loads with no console
/// error, queues a prompt on the fleet and shows its image, shows a slow prompt's progress
/// and interrupts it, and sees nothing of another user's; the prompts are the user's tasks, and the user's
/// settings are kept.
#[tokio::test]
async fn comfyuis_own_front_end_runs_a_prompt_on_the_fleet() {
    let Some(_turn) = turn(Flavor::Real).await else { return };
    let dir = frontend_dir().expect("comfyui-frontend-package in ComfyUI's virtualenv (scripts/test installs it)");
    let comfy = Comfy::start(Flavor::Real).await;
    let app = TestApp::start_with(Backend::Sqlite, |c| c.http.comfyui_frontend_dir = Some(dir)).await;
    let admin = app.admin_token().await;
    let (status, body) = app.call("PUT", "/api/config", Some(&admin), Some(fleet_config(&[comfy.port], 0))).await;
    assert_eq!(status, 200, "{body}");
    // A real ComfyUI has no models here, so alive is all it can be.
    eventually(60, "the instance alive", || async {
        let (_, body) = app.call("GET", "/api/instances", Some(&admin), None).await;
        body["data"].as_array()?.iter().any(|i| i["alive"] == true).then_some(())
    })
    .await;
    let alice = app.paying_user(&admin, "alice").await;
    // This front end (1.27.10) throws on a new user's first load, with the real ComfyUI too:
    // its canvas navigation setting's first change handler sets a setting not registered
    // yet, and the page's image previews break. Alice has chosen her navigation mode.
    let navigation = app.http.post(app.url("/comfy/settings/Comfy.Canvas.NavigationMode")).bearer_auth(&alice);
    assert_eq!(navigation.body(r#""custom""#).send().await.unwrap().status(), 200);
    // Bob's finished prompt and its image, which alice's front end must not see.
    let bob = app.paying_user(&admin, "bob").await;
    let (status, queued) =
        app.call("POST", "/comfy/prompt", Some(&bob), Some(json!({"prompt": quick_graph(7, 64)}))).await;
    assert_eq!(status, 200, "{queued}");
    let bobs = queued["prompt_id"].as_str().unwrap().to_owned();
    let entry = eventually(120, "bob's prompt done", || async {
        let (_, history) = app.call("GET", &format!("/comfy/history/{bobs}"), Some(&bob), None).await;
        history.get(&bobs).cloned()
    })
    .await;
    let image = entry["outputs"].as_object().unwrap().values().next().unwrap()["images"][0].clone();
    let view = format!("/comfy/api/view?filename={}&subfolder={}&type=output", image["filename"], image["subfolder"]);
    let view = view.replace('"', "");
    let plan = json!({"slow": slow_graph_of_side(0x123456, 4096), "foreign": {"prompt": bobs, "view": view}});

    // The page itself, no file outside the package, and a 404 for what the package lacks.
    let page = app.http.get(app.url("/comfy/")).send().await.unwrap();
    assert_eq!((page.status().as_u16(), page.headers()["cache-control"].to_str().unwrap()), (200, "no-cache"));
    assert!(page.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    for outside in ["/comfy/..%2F..%2F..%2Fetc%2Fpasswd", "/comfy/../../etc/passwd", "/comfy/no-such-asset.js"] {
        let answer = app.http.get(app.url(outside)).send().await.unwrap();
        assert_eq!(answer.status(), 404, "{outside}");
    }
    let shot = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/console/comfyui-frontend.png");
    let args = [&app.base, "alice", "user-password-1", &plan.to_string(), shot.to_str().unwrap()];
    let outcome = node_script("comfyui-frontend.mjs", &args).await;
    assert!(outcome["errors"].as_array().unwrap().is_empty(), "{outcome}");
    assert!(outcome["nodeClasses"].as_u64().unwrap() > 100, "the real ComfyUI's classes: {outcome}");
    let (shown, interrupted) = (&outcome["results"][0], &outcome["results"][1]);
    assert!(shown["src"].as_str().unwrap().contains("/comfy/api/view?"), "{outcome}");
    assert_eq!((&shown["end"], &shown["width"]), (&json!("execution_success"), &json!(64)), "{outcome}");
    assert_eq!(interrupted["end"], "execution_interrupted", "{outcome}");
    assert!(interrupted["ticks"].as_u64().unwrap() > 0, "its progress was shown: {outcome}");
    // Alice's history lists her two prompts only, and bob's image is not hers to view.
    let mut listed: Vec<&str> = outcome["history"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    listed.sort_unstable();
    let mut own = vec![shown["prompt"].as_str().unwrap(), interrupted["prompt"].as_str().unwrap()];
    own.sort_unstable();
    assert_eq!(listed, own, "{outcome}");
    let mut started: Vec<&str> = outcome["started"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    started.sort_unstable();
    assert_eq!(started, own, "each prompt's start was heard: {outcome}");
    assert_eq!(outcome["foreignView"], 404, "{outcome}");
    // Both are alice's tasks, one completed, one cancelled by the interrupt.
    for (prompt, status) in [(&shown["prompt"], "completed"), (&interrupted["prompt"], "cancelled")] {
        let task = app.task(&alice, prompt.as_str().unwrap()).await;
        assert_eq!((task["kind"].as_str(), task["status"].as_str()), (Some("comfyui"), Some(status)), "{task}");
    }
    // What the front end saved of its settings is alice's, kept by Gantry.
    let (_, settings) = app.call("GET", "/comfy/settings", Some(&alice), None).await;
    assert_eq!(settings["Comfy.Canvas.NavigationMode"], "custom", "{settings}");
    assert!(settings.as_object().unwrap().len() > 1, "the front end stored settings of its own: {settings}");
    app.stop().await;
}
