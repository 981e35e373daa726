//! A prompt's life: events, routing, history and output files.

use std::time::Duration;

use crate::common::*;
use serde_json::{Value, json};

#[tokio::test]
async fn text2img_emits_the_comfyui_event_sequence_to_its_client_only() {
    let sim = start().await;
    let mut mine = Ws::connect(&sim, "client-a").await;
    let mut other = Ws::connect(&sim, "client-b").await;

    let graph = text2img_text(42, 3, 64, 48, "gantry/job1/img");
    let (status, body) = post_raw(&sim, format!(r#"{{"prompt": {graph}, "client_id": "client-a"}}"#)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["number"], 0);
    assert_eq!(body["node_errors"], json!({}));
    let id = body["prompt_id"].as_str().unwrap().to_owned();
    let frames = mine.until_done(&id).await;
    let ev = events(&frames);
    assert_eq!(
        labels(&ev),
        [
            "execution_start",
            "execution_cached",
            "executing:4",
            "executing:5",
            "executing:7",
            "executing:6",
            "executing:3",
            "progress",
            "progress",
            "progress",
            "executing:8",
            "executing:9",
            "executed:9",
            "execution_success",
            "executing:null",
        ]
    );
    assert_eq!(ev[1]["data"]["nodes"], json!([]));
    for (i, progress) in ev[7..10].iter().enumerate() {
        assert_eq!(progress["data"], json!({"value": i + 1, "max": 3, "prompt_id": id, "node": "3"}));
    }
    assert!(ev.iter().all(|e| e["data"]["prompt_id"] == id.as_str()));
    assert_eq!(ev[4]["data"], json!({"node": "7", "display_node": "7", "prompt_id": id}));
    let image = json!({"filename": "img_00001_.png", "subfolder": "gantry/job1", "type": "output"});
    assert_eq!(ev[12]["data"]["output"], json!({"images": [image]}));
    assert!(ev[0]["data"]["timestamp"].is_u64());

    // The last status (history written, queue empty) comes right before `executing: null`.
    let last_status = frames
        .iter()
        .rev()
        .find_map(|f| match f {
            Frame::Json(v) if v["type"] == "status" => Some(v.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(last_status["data"]["status"]["exec_info"]["queue_remaining"], 0);
    let states: Vec<&Value> = frames
        .iter()
        .filter_map(|f| match f {
            Frame::Json(v) if v["type"] == "progress_state" => Some(v),
            _ => None,
        })
        .collect();
    assert!(!states.is_empty());
    assert_eq!(states.last().unwrap()["data"]["nodes"]["9"]["state"], "finished");

    // The other client sees queue status broadcasts only.
    while let Some(frame) = other.try_next(Duration::from_millis(100)).await {
        match frame {
            Frame::Json(v) => assert_eq!(v["type"], "status", "{v}"),
            other => panic!("unexpected {other:?}"),
        }
    }

    let entry = history_entry(&sim, &id).await;
    assert_eq!(entry["status"]["status_str"], "success");
    assert_eq!(entry["status"]["completed"], true);
    let kinds: Vec<&Value> = entry["status"]["messages"].as_array().unwrap().iter().map(|m| &m[0]).collect();
    assert_eq!(kinds, ["execution_start", "execution_cached", "execution_success"]);
    assert_eq!(entry["prompt"][1], id.as_str());
    assert_eq!(entry["prompt"][2]["9"]["class_type"], "SaveImage");
    assert_eq!(entry["prompt"][3]["client_id"], "client-a");
    assert_eq!(entry["prompt"][4], json!(["9"]));
    assert_eq!(entry["outputs"]["9"]["images"][0], image);
    assert_eq!(entry["meta"]["9"]["display_node"], "9");
    assert_eq!(get_json(&sim, &format!("/api/history/{id}")).await[&id], entry);

    let (status, kind, bytes) = view(&sim, &image).await;
    assert_eq!((status, kind.as_str()), (200, "image/png"));
    let decoded = image::load_from_memory(&bytes).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (64, 48));
    assert!(sim.output_dir().join("gantry/job1/img_00001_.png").is_file());
    sim.shutdown().await;
}

#[tokio::test]
async fn history_is_empty_until_the_prompt_has_run() {
    let sim = start().await;
    sim.control(comfy_sim::Control { step_ms: Some(20), ..Default::default() });
    let mut ws = Ws::connect(&sim, "c").await;
    let first = queue(&sim, text2img(1, 10, 32, 32, "a"), "c").await;
    while ws.next_json().await["type"] != "execution_start" {}
    let second = queue(&sim, text2img(2, 1, 32, 32, "b"), "c").await;

    assert_eq!(get_json(&sim, &format!("/history/{second}")).await, json!({}));
    assert_eq!(get_json(&sim, "/history/unknown-id").await, json!({}));
    let q = get_json(&sim, "/queue").await;
    assert_eq!(q["queue_running"][0][1], first.as_str());
    let pending = &q["queue_pending"][0];
    assert_eq!(pending.as_array().unwrap().len(), 5);
    assert_eq!(pending[1], second.as_str());
    assert_eq!(get_json(&sim, "/prompt").await["exec_info"]["queue_remaining"], 2);

    ws.until_done(&first).await;
    ws.until_done(&second).await;
    let all = get_json(&sim, "/history").await;
    let ids: Vec<&String> = all.as_object().unwrap().keys().collect();
    assert_eq!(ids.len(), 2);
    let last = get_json(&sim, "/history?max_items=1").await;
    assert!(last.get(&second).is_some() && last.get(&first).is_none());

    assert_eq!(post_json(&sim, "/history", json!({"delete": [first]})).await, 200);
    assert_eq!(get_json(&sim, &format!("/history/{first}")).await, json!({}));
    let timeline = sim.timeline();
    assert_eq!(timeline.len(), 2);
    assert!(timeline.iter().all(|t| t.outcome.as_deref() == Some("success")), "{timeline:?}");
    assert!(timeline[0].finished_at <= timeline[1].started_at);
    let over_http = get_json(&sim, "/sim/timeline").await;
    assert_eq!(over_http[1]["prompt_id"], second.as_str());
    sim.shutdown().await;
}

#[tokio::test]
async fn prompts_without_client_id_broadcast_progress_but_not_execution_events() {
    let sim = start().await;
    let mut ws = Ws::connect(&sim, "watcher").await;
    let (status, body) = post_prompt(&sim, json!({"prompt": text2img(5, 2, 16, 16, "anon")})).await;
    assert_eq!(status, 200);
    let id = body["prompt_id"].as_str().unwrap().to_owned();
    history_entry(&sim, &id).await;
    let mut seen = Vec::new();
    while let Some(Frame::Json(v)) = ws.try_next(Duration::from_millis(100)).await {
        if v["type"] != "status" && v["type"] != "progress_state" {
            seen.push(v["type"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(seen, ["progress", "progress"]);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_second_socket_with_the_same_client_id_takes_over_and_is_silenced_when_the_first_closes() {
    let sim = start().await;
    let mut first = Ws::connect(&sim, "dup").await;
    let mut second = Ws::connect(&sim, "dup").await;
    let id = queue(&sim, text2img(3, 1, 16, 16, "dup"), "dup").await;
    second.until_done(&id).await;
    assert!(first.try_next(Duration::from_millis(100)).await.is_none());

    drop(first);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let id = queue(&sim, text2img(4, 1, 16, 16, "dup"), "dup").await;
    history_entry(&sim, &id).await;
    assert!(second.try_next(Duration::from_millis(100)).await.is_none());
    sim.shutdown().await;
}

#[tokio::test]
async fn previews_are_binary_frames_after_each_progress() {
    let sim = start().await;
    sim.control(comfy_sim::Control { preview: Some(true), ..Default::default() });
    let mut ws = Ws::connect(&sim, "p").await;
    let id = queue(&sim, text2img(9, 2, 64, 64, "prev"), "p").await;
    let frames = ws.until_done(&id).await;
    let previews: Vec<&Vec<u8>> = frames
        .iter()
        .filter_map(|f| match f {
            Frame::Binary(b) => Some(b),
            _ => None,
        })
        .collect();
    assert_eq!(previews.len(), 2);
    assert_eq!(&previews[0][..8], &[0, 0, 0, 1, 0, 0, 0, 1]);
    let preview = image::load_from_memory(&previews[0][8..]).unwrap();
    assert_eq!((preview.width(), preview.height()), (8, 8));

    // After the feature-flag handshake the metadata variant (type 4) is sent instead.
    let mut modern = Ws::connect(&sim, "m").await;
    modern.send_text(r#"{"type":"feature_flags","data":{"supports_preview_metadata":true}}"#).await;
    let reply = modern.next_json().await;
    assert_eq!(reply["type"], "feature_flags");
    assert_eq!(reply["data"]["supports_preview_metadata"], true);
    let id = queue(&sim, text2img(10, 1, 64, 64, "prev"), "m").await;
    let frames = modern.until_done(&id).await;
    let binary: Vec<&Vec<u8>> = frames
        .iter()
        .filter_map(|f| match f {
            Frame::Binary(b) => Some(b),
            _ => None,
        })
        .collect();
    assert_eq!(binary.len(), 1);
    assert_eq!(&binary[0][..4], &[0, 0, 0, 4]);
    let meta_len = u32::from_be_bytes(binary[0][4..8].try_into().unwrap()) as usize;
    let meta: Value = serde_json::from_slice(&binary[0][8..8 + meta_len]).unwrap();
    assert_eq!(meta["prompt_id"], id.as_str());
    assert_eq!(meta["image_type"], "image/jpeg");
    sim.shutdown().await;
}
