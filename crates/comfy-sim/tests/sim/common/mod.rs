//! Helpers shared by the integration tests: start a sim, talk HTTP and WebSocket to it.

#![allow(dead_code)]

use std::time::Duration;

use comfy_sim::{SimConfig, SimHandle};
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

pub const WAIT: Duration = Duration::from_secs(10);

/// A sim with fast steps.
pub async fn start() -> SimHandle {
    let mut config = SimConfig::default();
    config.knobs.step_ms = 1;
    comfy_sim::spawn(config).await.expect("sim starts")
}

pub fn http() -> reqwest::Client {
    reqwest::Client::new()
}

/// POST /prompt; returns (status, body).
pub async fn post_prompt(sim: &SimHandle, body: Value) -> (u16, Value) {
    let response = http().post(format!("{}/prompt", sim.base_url())).json(&body).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Queues a prompt that must be accepted; returns its id.
pub async fn queue(sim: &SimHandle, graph: Value, client_id: &str) -> String {
    let (status, body) = post_prompt(sim, json!({"prompt": graph, "client_id": client_id})).await;
    assert_eq!(status, 200, "{body}");
    body["prompt_id"].as_str().unwrap().to_owned()
}

/// Queues a graph given as JSON text (order kept); returns its id.
pub async fn queue_text(sim: &SimHandle, graph: &str, client_id: &str) -> String {
    let (status, body) = post_raw(sim, format!(r#"{{"prompt": {graph}, "client_id": "{client_id}"}}"#)).await;
    assert_eq!(status, 200, "{body}");
    body["prompt_id"].as_str().unwrap().to_owned()
}

pub async fn get_json(sim: &SimHandle, path: &str) -> Value {
    http().get(format!("{}{path}", sim.base_url())).send().await.unwrap().json().await.unwrap()
}

pub async fn post_json(sim: &SimHandle, path: &str, body: Value) -> u16 {
    http().post(format!("{}{path}", sim.base_url())).json(&body).send().await.unwrap().status().as_u16()
}

/// The standard text-to-image graph of the protocol notes (§2.1), as JSON text in document order
/// (node and input order decide ComfyUI's execution order; `serde_json::Value` would sort them).
pub fn text2img_text(seed: u64, steps: u32, width: u32, height: u32, prefix: &str) -> String {
    format!(
        r#"{{
  "4": {{"class_type": "CheckpointLoaderSimple", "inputs": {{"ckpt_name": "v1-5-pruned-emaonly.safetensors"}}}},
  "6": {{"class_type": "CLIPTextEncode", "inputs": {{"text": "a castle at dawn", "clip": ["4", 1]}}}},
  "7": {{"class_type": "CLIPTextEncode", "inputs": {{"text": "blurry, text", "clip": ["4", 1]}}}},
  "5": {{"class_type": "EmptyLatentImage", "inputs": {{"width": {width}, "height": {height}, "batch_size": 1}}}},
  "3": {{"class_type": "KSampler", "inputs": {{"model": ["4", 0], "positive": ["6", 0], "negative": ["7", 0],
        "latent_image": ["5", 0], "seed": {seed}, "steps": {steps}, "cfg": 8.0, "sampler_name": "euler",
        "scheduler": "normal", "denoise": 1.0}}}},
  "8": {{"class_type": "VAEDecode", "inputs": {{"samples": ["3", 0], "vae": ["4", 2]}}}},
  "9": {{"class_type": "SaveImage", "inputs": {{"images": ["8", 0], "filename_prefix": "{prefix}"}}}}
}}"#
    )
}

/// [`text2img_text`] as a value (keys sorted), for tests that edit the graph.
pub fn text2img(seed: u64, steps: u32, width: u32, height: u32, prefix: &str) -> Value {
    serde_json::from_str(&text2img_text(seed, steps, width, height, prefix)).unwrap()
}

/// POST /prompt with a raw JSON body; returns (status, body).
pub async fn post_raw(sim: &SimHandle, body: String) -> (u16, Value) {
    let response = http()
        .post(format!("{}/prompt", sim.base_url()))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

pub struct Ws {
    stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

/// A WebSocket frame as the tests see it.
#[derive(Debug)]
pub enum Frame {
    Json(Value),
    Binary(Vec<u8>),
    Closed,
}

impl Ws {
    pub async fn connect(sim: &SimHandle, client_id: &str) -> Self {
        let (stream, _) = connect_async(sim.ws_url(client_id)).await.unwrap();
        let mut ws = Self { stream };
        let hello = ws.next_json().await;
        assert_eq!(hello["type"], "status");
        assert_eq!(hello["data"]["sid"], client_id);
        ws
    }

    pub async fn next(&mut self) -> Frame {
        loop {
            let message = tokio::time::timeout(WAIT, self.stream.next()).await.expect("websocket message in time");
            match message {
                Some(Ok(Message::Text(text))) => {
                    return Frame::Json(serde_json::from_str(text.as_str()).unwrap());
                }
                Some(Ok(Message::Binary(bytes))) => return Frame::Binary(bytes.to_vec()),
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return Frame::Closed,
                Some(Ok(_)) => {}
            }
        }
    }

    pub async fn next_json(&mut self) -> Value {
        loop {
            match self.next().await {
                Frame::Json(v) => return v,
                Frame::Binary(_) => {}
                Frame::Closed => panic!("websocket closed"),
            }
        }
    }

    /// Every frame up to and including `executing {node: null}` for `prompt_id`.
    pub async fn until_done(&mut self, prompt_id: &str) -> Vec<Frame> {
        let mut frames = Vec::new();
        loop {
            let frame = self.next().await;
            let done = matches!(&frame, Frame::Json(v) if v["type"] == "executing"
                && v["data"]["node"].is_null() && v["data"]["prompt_id"] == prompt_id);
            let closed = matches!(frame, Frame::Closed);
            frames.push(frame);
            if done || closed {
                return frames;
            }
        }
    }

    pub async fn send_text(&mut self, text: &str) {
        use futures_util::SinkExt;
        self.stream.send(Message::Text(text.into())).await.unwrap();
    }

    /// Waits up to `within` for a frame; `None` if nothing arrived.
    pub async fn try_next(&mut self, within: Duration) -> Option<Frame> {
        tokio::time::timeout(within, self.next()).await.ok()
    }
}

/// JSON messages of these frames, without `status` and `progress_state`.
pub fn events(frames: &[Frame]) -> Vec<Value> {
    frames
        .iter()
        .filter_map(|f| match f {
            Frame::Json(v) if v["type"] != "status" && v["type"] != "progress_state" => Some(v.clone()),
            _ => None,
        })
        .collect()
}

/// `type` of each message, with the node for `executing`.
pub fn labels(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| {
            let kind = e["type"].as_str().unwrap_or_default();
            match kind {
                "executing" => {
                    format!("executing:{}", e["data"]["node"].as_str().unwrap_or("null"))
                }
                "executed" => format!("executed:{}", e["data"]["node"].as_str().unwrap_or("?")),
                other => other.to_owned(),
            }
        })
        .collect()
}

/// Polls `/history/{id}` until the entry exists.
pub async fn history_entry(sim: &SimHandle, prompt_id: &str) -> Value {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let body = get_json(sim, &format!("/history/{prompt_id}")).await;
        if let Some(entry) = body.get(prompt_id) {
            return entry.clone();
        }
        assert!(tokio::time::Instant::now() < deadline, "history entry never appeared");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// GET /view bytes and content type.
pub async fn view(sim: &SimHandle, item: &Value) -> (u16, String, Vec<u8>) {
    let response = http()
        .get(format!("{}/view", sim.base_url()))
        .query(&[
            ("filename", item["filename"].as_str().unwrap()),
            ("subfolder", item["subfolder"].as_str().unwrap()),
            ("type", item["type"].as_str().unwrap()),
        ])
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let kind = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    (status, kind, response.bytes().await.unwrap().to_vec())
}
