//! `ComfyClient` against a tiny in-process server answering the documented ComfyUI shapes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use gantry_comfy::{ClientConfig, ComfyClient, ComfyError, ComfyEvent, MediaKind, Outcome, OutputFile, PromptRequest};
use serde_json::{Value, json};

/// Requests the fake received: (route, JSON body).
type Calls = Arc<Mutex<Vec<(String, Value)>>>;

/// Size of the big `/view` file and of the big WebSocket preview (above tungstenite's
/// 16 MiB default frame limit).
const BIG: usize = 17 << 20;

fn record(calls: &Calls, route: &str, body: Value) {
    calls.lock().expect("lock").push((route.to_owned(), body));
}

fn recorded(calls: &Calls, route: &str) -> Vec<Value> {
    let calls = calls.lock().expect("lock");
    calls.iter().filter(|(r, _)| r == route).map(|(_, body)| body.clone()).collect()
}

async fn system_stats() -> Json<Value> {
    Json(json!({"system": {"comfyui_version": "0.3.64", "ram_total": 1}, "devices": []}))
}

async fn models(Path(folder): Path<String>) -> Response {
    match folder.as_str() {
        "checkpoints" => Json(json!(["sd15.safetensors", "sub\\xl.safetensors"])).into_response(),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn submit(State(calls): State<Calls>, Json(body): Json<Value>) -> Response {
    record(&calls, "POST /prompt", body.clone());
    let prompt = &body["prompt"];
    if prompt.get("missing_model").is_some() {
        let error = json!({"type": "value_not_in_list", "message": "Value not in list",
                           "details": "ckpt_name: 'x.safetensors' not in []", "extra_info": {}});
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({
                "error": {"type": "prompt_outputs_failed_validation", "message": "Prompt outputs failed validation",
                          "details": "", "extra_info": {}},
                "node_errors": {"4": {"errors": [error], "dependent_outputs": ["9"], "class_type": "CheckpointLoaderSimple"}}
            })),
        )
            .into_response();
    }
    let node_errors = if prompt.get("partial").is_some() {
        json!({"partial": {"errors": [{"type": "required_input_missing", "message": "Required input is missing",
                                       "details": "images"}], "dependent_outputs": ["partial"], "class_type": "SaveImage"}})
    } else {
        json!({})
    };
    let prompt_id = body.get("prompt_id").and_then(Value::as_str).unwrap_or("generated-id");
    Json(json!({"prompt_id": prompt_id, "number": 7, "node_errors": node_errors})).into_response()
}

async fn queue() -> Json<Value> {
    Json(json!({
        "queue_running": [[1, "running-id", {}, {"client_id": "c"}, ["9"]]],
        "queue_pending": [[5, "fifth", {}, {}, ["9"]], [-2.5, "front", {}, {}, ["9"]], [3, "third", {}, {}, ["9"]]]
    }))
}

/// `POST /queue`, `/interrupt`, `/history`, `/free`: a bare 200.
async fn post_recorded(State(calls): State<Calls>, uri: Uri, body: Bytes) -> StatusCode {
    let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
    record(&calls, &format!("POST {}", uri.path()), body);
    StatusCode::OK
}

async fn history(Path(prompt_id): Path<String>) -> Json<Value> {
    if prompt_id != "done" {
        return Json(json!({}));
    }
    Json(json!({"done": {
        "prompt": [7, "done", {}, {"client_id": "c"}, ["9"]],
        "outputs": {
            "9": {"images": [{"filename": "out_00001_.png", "subfolder": "gantry/t1", "type": "output"}]},
            "10": {"images": [{"filename": "anim_00001_.webp", "subfolder": "gantry/t1", "type": "output"}], "animated": [true]}
        },
        "status": {"status_str": "success", "completed": true,
                   "messages": [["execution_start", {"prompt_id": "done", "timestamp": 1}],
                                ["execution_success", {"prompt_id": "done", "timestamp": 2}]]},
        "meta": {"9": {"node_id": "9", "display_node": "9", "parent_node": null, "real_node_id": "9"}}
    }}))
}

async fn view(Query(query): Query<HashMap<String, String>>) -> Response {
    let param = |key: &str| query.get(key).cloned().unwrap_or_default();
    match (param("filename").as_str(), param("subfolder").as_str(), param("type").as_str()) {
        ("out_00001_.png", "gantry/t1", "output") => b"\x89PNG-bytes".to_vec().into_response(),
        ("big.bin", "", "temp") => big_payload().into_response(),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

fn big_payload() -> Vec<u8> {
    (0..BIG).map(|i| (i % 251) as u8).collect()
}

async fn upload(State(calls): State<Calls>, mut form: Multipart) -> Json<Value> {
    let mut fields = serde_json::Map::new();
    while let Some(field) = form.next_field().await.expect("multipart") {
        let name = field.name().unwrap_or_default().to_owned();
        if name == "image" {
            fields.insert("filename".into(), json!(field.file_name().unwrap_or_default()));
            fields.insert("len".into(), json!(field.bytes().await.expect("bytes").len()));
        } else {
            fields.insert(name, json!(field.text().await.expect("text")));
        }
    }
    let fields = Value::Object(fields);
    record(&calls, "POST /upload/image", fields.clone());
    Json(
        json!({"name": fields["filename"], "subfolder": fields.get("subfolder").unwrap_or(&json!("")), "type": "input"}),
    )
}

async fn ws(upgrade: WebSocketUpgrade, Query(query): Query<HashMap<String, String>>) -> Response {
    let client_id = query.get("clientId").cloned().unwrap_or_default();
    upgrade.on_upgrade(move |socket| run_prompt_events(socket, client_id))
}

/// One successful prompt, then checks the client pings and answers pings.
async fn run_prompt_events(mut socket: WebSocket, client_id: String) {
    let text = |value: Value| Message::Text(value.to_string().into());
    let mut preview = vec![0, 0, 0, 1, 0, 0, 0, 2];
    preview.extend(std::iter::repeat_n(7u8, BIG));
    let messages = [
        text(json!({"type": "status", "data": {"status": {"exec_info": {"queue_remaining": 0}}, "sid": client_id}})),
        text(json!({"type": "execution_start", "data": {"prompt_id": "p1", "timestamp": 1}})),
        text(json!({"type": "execution_cached", "data": {"nodes": [], "prompt_id": "p1", "timestamp": 1}})),
        text(json!({"type": "executing", "data": {"node": "3", "display_node": "3", "prompt_id": "p1"}})),
        text(json!({"type": "progress", "data": {"value": 1, "max": 20, "prompt_id": "p1", "node": "3"}})),
        Message::Binary(preview.into()),
        text(json!({"type": "executed", "data": {"node": "9", "display_node": "9", "prompt_id": "p1",
                    "output": {"images": [{"filename": "a.png", "subfolder": "", "type": "output"}]}}})),
        text(json!({"type": "execution_success", "data": {"prompt_id": "p1", "timestamp": 2}})),
        text(json!({"type": "executing", "data": {"node": null, "prompt_id": "p1"}})),
        Message::Ping(Bytes::from_static(b"server")),
    ];
    for message in messages {
        if socket.send(message).await.is_err() {
            return;
        }
    }
    let (mut got_pong, mut got_ping) = (false, false);
    while let Some(Ok(message)) = socket.recv().await {
        match message {
            Message::Pong(payload) if payload.as_ref() == b"server" => got_pong = true,
            Message::Ping(_) => got_ping = true,
            Message::Close(_) => return,
            _ => {}
        }
        if got_pong && got_ping {
            let done = text(json!({"type": "heartbeat_ok", "data": {}}));
            if socket.send(done).await.is_err() {
                return;
            }
            got_ping = false;
        }
    }
}

/// Accepts the upgrade, then never reads: pongs are never sent.
async fn ws_silent(upgrade: WebSocketUpgrade) -> Response {
    upgrade.on_upgrade(|socket| async move {
        tokio::time::sleep(Duration::from_secs(30)).await;
        drop(socket);
    })
}

async fn slow() -> Json<Value> {
    tokio::time::sleep(Duration::from_secs(5)).await;
    Json(json!({}))
}

async fn broken() -> (StatusCode, &'static str) {
    (StatusCode::INTERNAL_SERVER_ERROR, "500 Internal Server Error")
}

/// Starts the fake on a random port; returns its base URL and the request log.
async fn spawn_fake() -> (String, Calls) {
    let calls = Calls::default();
    let app = Router::new()
        .route("/system_stats", get(system_stats))
        .route("/models/{folder}", get(models))
        .route("/prompt", post(submit))
        .route("/queue", get(queue).post(post_recorded))
        .route("/interrupt", post(post_recorded))
        .route("/history", post(post_recorded))
        .route("/free", post(post_recorded))
        .route("/history/{prompt_id}", get(history))
        .route("/view", get(view))
        .route("/upload/image", post(upload))
        .route("/ws", get(ws))
        .route("/silent/ws", get(ws_silent))
        .route("/slow/system_stats", get(slow))
        .route("/broken/queue", get(broken))
        .with_state(calls.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    (format!("http://{addr}"), calls)
}

fn client(base: &str) -> ComfyClient {
    ComfyClient::new(base, reqwest::Client::new())
}

fn graph(value: Value) -> gantry_comfy::Graph {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

#[tokio::test]
async fn system_stats_and_models() {
    let (base, _) = spawn_fake().await;
    let comfy = client(&format!("{base}/"));
    assert_eq!(comfy.base_url(), base);
    let stats = comfy.system_stats().await.expect("stats");
    assert_eq!(stats["system"]["comfyui_version"], "0.3.64");
    assert_eq!(comfy.models("checkpoints").await.expect("models"), ["sd15.safetensors", "sub\\xl.safetensors"]);
    assert!(comfy.models("no_such_folder").await.expect("404 is empty").is_empty());
}

#[tokio::test]
async fn submit_accepted_and_rejected() {
    let (base, calls) = spawn_fake().await;
    let comfy = client(&base);
    let node = json!({"class_type": "SaveImage", "inputs": {}});

    let mut request = PromptRequest::new(graph(json!({"9": node})), "client-1");
    let accepted = comfy.submit(&request).await.expect("accepted");
    assert_eq!((accepted.prompt_id.as_str(), accepted.number), ("generated-id", 7.0));
    request.prompt_id = Some("my-id".into());
    request.extra_data = Some(json!({"note": 1}));
    assert_eq!(comfy.submit(&request).await.expect("accepted").prompt_id, "my-id");
    let bodies = recorded(&calls, "POST /prompt");
    assert_eq!(bodies[0]["client_id"], "client-1");
    assert!(bodies[0].get("prompt_id").is_none() && bodies[0].get("extra_data").is_none());
    assert_eq!(bodies[1]["extra_data"], json!({"note": 1}));

    let invalid = PromptRequest::new(graph(json!({"missing_model": node})), "client-1");
    match comfy.submit(&invalid).await {
        Err(ComfyError::Invalid { message, error, node_errors }) => {
            assert!(message.contains("ckpt_name: 'x.safetensors' not in []"), "{message}");
            assert_eq!(error["type"], "prompt_outputs_failed_validation");
            assert_eq!(node_errors["4"]["class_type"], "CheckpointLoaderSimple");
        }
        other => panic!("expected Invalid, got {other:?}"),
    }

    let partial = PromptRequest {
        prompt_id: Some("partial-id".into()),
        ..PromptRequest::new(graph(json!({"9": node, "partial": node})), "client-1")
    };
    match comfy.submit(&partial).await {
        Err(ComfyError::Invalid { message, error, node_errors }) => {
            assert!(message.contains("node partial (SaveImage): Required input is missing"), "{message}");
            assert_eq!(error["prompt_id"], "partial-id");
            assert!(node_errors.get("partial").is_some());
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
    // The partially valid prompt was taken off the queue again.
    assert_eq!(recorded(&calls, "POST /queue"), [json!({"delete": ["partial-id"]})]);
}

#[tokio::test]
async fn queue_interrupt_and_deletes() {
    let (base, calls) = spawn_fake().await;
    let comfy = client(&base);
    let queue = comfy.queue().await.expect("queue");
    assert_eq!(queue.running, ["running-id"]);
    assert_eq!(queue.pending, ["front", "third", "fifth"]);
    assert!(queue.contains("third") && !queue.contains("gone"));

    comfy.delete_pending(&["a".into(), "b".into()]).await.expect("delete");
    comfy.delete_pending(&[]).await.expect("no-op");
    comfy.interrupt(Some("running-id")).await.expect("interrupt one");
    comfy.interrupt(None).await.expect("interrupt any");
    comfy.delete_history(&["done".into()]).await.expect("delete history");
    comfy.free(true, false).await.expect("free");
    assert_eq!(recorded(&calls, "POST /queue"), [json!({"delete": ["a", "b"]})]);
    assert_eq!(recorded(&calls, "POST /interrupt"), [json!({"prompt_id": "running-id"}), json!({})]);
    assert_eq!(recorded(&calls, "POST /history"), [json!({"delete": ["done"]})]);
    assert_eq!(recorded(&calls, "POST /free"), [json!({"unload_models": true, "free_memory": false})]);
}

#[tokio::test]
async fn history_and_view() {
    let (base, _) = spawn_fake().await;
    let comfy = client(&base);
    assert_eq!(comfy.history("unknown").await.expect("history"), None);

    let entry = comfy.history("done").await.expect("history").expect("entry");
    assert_eq!(entry.prompt_id, "done");
    assert_eq!(entry.outcome, Outcome::Success);
    assert_eq!(entry.raw["prompt"][1], "done");
    let image = entry.outputs.iter().find(|f| f.node_id == "9").expect("image output");
    assert_eq!(image.media, MediaKind::Image);
    let animation = entry.outputs.iter().find(|f| f.node_id == "10").expect("webp output");
    assert_eq!(animation.media, MediaKind::Video);

    assert_eq!(comfy.view(image).await.expect("view").as_ref(), b"\x89PNG-bytes");
    let missing = OutputFile { filename: "gone.png".into(), ..image.clone() };
    assert!(matches!(comfy.view(&missing).await, Err(ComfyError::Http { status: 404, .. })));

    let big = OutputFile {
        node_id: "1".into(),
        filename: "big.bin".into(),
        subfolder: String::new(),
        kind: "temp".into(),
        media: MediaKind::Other,
    };
    let body = comfy.view(&big).await.expect("big view");
    assert_eq!(body.len(), BIG);
    assert!(body == big_payload());

    let limited = comfy.clone().with_config(ClientConfig { max_download_bytes: 1 << 20, ..ClientConfig::default() });
    assert!(matches!(limited.view(&big).await, Err(ComfyError::Protocol(_))));
}

#[tokio::test]
async fn upload_image_overwrites() {
    let (base, calls) = spawn_fake().await;
    let comfy = client(&base);
    let uploaded = comfy.upload_image("src.png", vec![1, 2, 3], Some("gantry/t1")).await.expect("upload");
    assert_eq!(uploaded.name, "src.png");
    assert_eq!(uploaded.subfolder, "gantry/t1");
    assert_eq!(uploaded.kind, "input");
    assert_eq!(uploaded.image_value(), "gantry/t1/src.png");
    assert_eq!(
        recorded(&calls, "POST /upload/image"),
        [json!({"filename": "src.png", "len": 3, "overwrite": "true", "type": "input", "subfolder": "gantry/t1"})]
    );
}

#[tokio::test]
async fn event_stream_decodes_a_prompt_and_keeps_alive() {
    let (base, _) = spawn_fake().await;
    let comfy = client(&base)
        .with_config(ClientConfig { ws_ping_interval: Duration::from_millis(50), ..ClientConfig::default() });
    let mut events = comfy.events("client-1").await.expect("connect");
    let mut next = async || {
        tokio::time::timeout(Duration::from_secs(10), events.next())
            .await
            .expect("event in time")
            .expect("stream open")
            .expect("decodes")
    };
    let p1 = || "p1".to_owned();
    assert_eq!(next().await, ComfyEvent::Status { queue_remaining: 0, sid: Some("client-1".into()) });
    assert_eq!(next().await, ComfyEvent::ExecutionStart { prompt_id: p1() });
    assert_eq!(next().await, ComfyEvent::ExecutionCached { prompt_id: p1(), nodes: vec![] });
    assert_eq!(next().await, ComfyEvent::Executing { prompt_id: Some(p1()), node: Some("3".into()) });
    assert_eq!(next().await, ComfyEvent::Progress { prompt_id: Some(p1()), node: Some("3".into()), value: 1, max: 20 });
    match next().await {
        ComfyEvent::Preview { image } => {
            assert_eq!(image.len(), BIG);
            assert!(image.iter().all(|b| *b == 7));
        }
        other => panic!("expected a preview, got {other:?}"),
    }
    match next().await {
        ComfyEvent::Executed { prompt_id, node, output } => {
            assert_eq!((prompt_id.as_str(), node.as_str()), ("p1", "9"));
            assert_eq!(output["images"][0]["filename"], "a.png");
        }
        other => panic!("expected executed, got {other:?}"),
    }
    assert_eq!(next().await, ComfyEvent::ExecutionSuccess { prompt_id: p1() });
    let finished = next().await;
    assert_eq!(finished, ComfyEvent::Executing { prompt_id: Some(p1()), node: None });
    assert_eq!(finished.prompt_id(), Some("p1"));
    // The server pinged us and saw our pong and our own ping.
    assert!(matches!(next().await, ComfyEvent::Other { kind, .. } if kind == "heartbeat_ok"));
    events.close().await.expect("close");
    assert!(events.next().await.is_none());
}

#[tokio::test]
async fn silent_socket_is_reported_unreachable() {
    let (base, _) = spawn_fake().await;
    let comfy = client(&format!("{base}/silent")).with_config(ClientConfig {
        ws_ping_interval: Duration::from_millis(50),
        ws_idle_timeout: Duration::from_millis(200),
        ..ClientConfig::default()
    });
    let mut events = comfy.events("c").await.expect("connect");
    let item =
        tokio::time::timeout(Duration::from_secs(5), events.next()).await.expect("gives up in time").expect("an item");
    assert!(matches!(item, Err(ref err) if err.is_unreachable()), "{item:?}");
    assert!(events.next().await.is_none());
}

#[tokio::test]
async fn failures_are_classified() {
    let (base, _) = spawn_fake().await;

    let slow = client(&format!("{base}/slow")).with_timeout(Duration::from_millis(200));
    let err = slow.system_stats().await.expect_err("times out");
    assert!(err.is_unreachable(), "{err:?}");

    let broken = client(&format!("{base}/broken"));
    match broken.queue().await {
        Err(ComfyError::Http { status: 500, body }) => {
            assert!(body.contains("Internal Server Error"))
        }
        other => panic!("expected Http 500, got {other:?}"),
    }

    let missing_route = client(&format!("{base}/nothing-here"));
    assert!(matches!(missing_route.events("c").await, Err(ComfyError::Http { status: 404, .. })));

    // A port nobody listens on.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let dead = format!("http://{}", listener.local_addr().expect("addr"));
    drop(listener);
    let dead = client(&dead);
    assert!(dead.system_stats().await.expect_err("down").is_unreachable());
    assert!(dead.events("c").await.expect_err("down").is_unreachable());
    assert!(client("not a url").queue().await.expect_err("bad url").is_unreachable());
}
