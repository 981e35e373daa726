//! Caching, interrupting, deleting and ordering prompts.

use std::time::Duration;

use crate::common::*;
use comfy_sim::Control;
use serde_json::json;

#[tokio::test]
async fn an_identical_graph_is_served_from_the_cache() {
    let sim = start().await;
    let mut ws = Ws::connect(&sim, "c").await;
    let graph = text2img_text(7, 2, 32, 32, "cached");
    let first = queue_text(&sim, &graph, "c").await;
    let first_events = events(&ws.until_done(&first).await);
    let second = queue_text(&sim, &graph, "c").await;
    let ev = events(&ws.until_done(&second).await);
    assert_eq!(
        labels(&ev),
        ["execution_start", "execution_cached", "executed:9", "execution_success", "executing:null"]
    );
    assert_eq!(ev[1]["data"]["nodes"], json!(["4", "6", "7", "5", "3", "8", "9"]));
    let old_output = &first_events.iter().find(|e| e["type"] == "executed").unwrap()["data"]["output"];
    assert_eq!(&ev[2]["data"]["output"], old_output);
    let entry = history_entry(&sim, &second).await;
    assert_eq!(&entry["outputs"]["9"], old_output);
    let files = std::fs::read_dir(sim.output_dir()).unwrap().count();
    assert_eq!(files, 1);

    // A new seed re-runs the sampler and everything after it, and writes the next file.
    let third = queue_text(&sim, &text2img_text(8, 2, 32, 32, "cached"), "c").await;
    let ev = events(&ws.until_done(&third).await);
    assert_eq!(ev[1]["data"]["nodes"], json!(["4", "6", "7", "5"]));
    assert_eq!(labels(&ev)[2..5], ["executing:3".to_owned(), "progress".to_owned(), "progress".to_owned()]);
    let executed = ev.iter().find(|e| e["type"] == "executed").unwrap();
    assert_eq!(executed["data"]["output"]["images"][0]["filename"], "cached_00002_.png");

    // `free_memory` drops the cache: the same graph runs in full again.
    assert_eq!(post_json(&sim, "/free", json!({"free_memory": true})).await, 200);
    let fourth = queue(&sim, text2img(8, 2, 32, 32, "cached"), "c").await;
    let ev = events(&ws.until_done(&fourth).await);
    assert_eq!(ev[1]["data"]["nodes"], json!([]));
    sim.shutdown().await;
}

#[tokio::test]
async fn interrupting_the_running_prompt_ends_it_with_execution_interrupted() {
    let sim = start().await;
    sim.control(Control { step_ms: Some(10), ..Default::default() });
    let mut ws = Ws::connect(&sim, "c").await;
    let id = queue_text(&sim, &text2img_text(1, 500, 32, 32, "int"), "c").await;
    while ws.next_json().await["type"] != "progress" {}

    // A targeted interrupt for another id does nothing.
    assert_eq!(post_json(&sim, "/interrupt", json!({"prompt_id": "someone-else"})).await, 200);
    assert_eq!(ws.next_json().await["type"].as_str().map(|t| t == "progress" || t == "progress_state"), Some(true));

    assert_eq!(post_json(&sim, "/api/interrupt", json!({"prompt_id": id})).await, 200);
    let ev = events(&ws.until_done(&id).await);
    let last_two = &labels(&ev)[ev.len() - 2..];
    assert_eq!(last_two, ["execution_interrupted", "executing:null"]);
    let interrupted = &ev[ev.len() - 2]["data"];
    assert_eq!(interrupted["node_id"], "3");
    assert_eq!(interrupted["node_type"], "KSampler");
    assert_eq!(interrupted["executed"], json!(["4", "5", "7", "6"]));
    let entry = history_entry(&sim, &id).await;
    assert_eq!(entry["status"]["status_str"], "error");
    assert_eq!(entry["status"]["completed"], false);
    assert_eq!(entry["status"]["messages"][2][0], "execution_interrupted");
    assert_eq!(entry["outputs"], json!({}));
    assert_eq!(sim.timeline()[0].outcome.as_deref(), Some("interrupted"));
    sim.shutdown().await;
}

#[tokio::test]
async fn pending_prompts_can_be_deleted_and_front_jumps_the_queue() {
    let sim = start().await;
    sim.control(Control { step_ms: Some(10), ..Default::default() });
    let mut ws = Ws::connect(&sim, "c").await;
    let running = queue(&sim, text2img(1, 500, 16, 16, "run"), "c").await;
    while ws.next_json().await["type"] != "execution_start" {}
    let doomed = queue(&sim, text2img(2, 1, 16, 16, "doomed"), "c").await;
    let normal = queue(&sim, text2img(3, 1, 16, 16, "normal"), "c").await;
    let (status, body) =
        post_prompt(&sim, json!({"prompt": text2img(4, 1, 16, 16, "urgent"), "client_id": "c", "front": true})).await;
    assert_eq!(status, 200);
    assert_eq!(body["number"], -3);
    let urgent = body["prompt_id"].as_str().unwrap().to_owned();

    // Interrupt does not touch pending prompts; /queue delete does.
    assert_eq!(post_json(&sim, "/interrupt", json!({"prompt_id": doomed})).await, 200);
    assert_eq!(post_json(&sim, "/queue", json!({"delete": [doomed]})).await, 200);
    let q = get_json(&sim, "/queue").await;
    let pending: Vec<&str> = q["queue_pending"].as_array().unwrap().iter().map(|i| i[1].as_str().unwrap()).collect();
    assert_eq!(pending.len(), 2);
    assert!(!pending.contains(&doomed.as_str()));
    assert_eq!(q["queue_running"][0][1], running.as_str());

    assert_eq!(post_json(&sim, "/interrupt", json!({})).await, 200);
    ws.until_done(&running).await;
    ws.until_done(&urgent).await;
    ws.until_done(&normal).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(get_json(&sim, &format!("/history/{doomed}")).await, json!({}));
    let timeline = sim.timeline();
    let find = |id: &str| timeline.iter().find(|t| t.prompt_id == id).unwrap().clone();
    assert_eq!(find(&doomed).outcome.as_deref(), Some("deleted"));
    assert!(find(&doomed).started_at.is_none());
    assert!(find(&urgent).started_at < find(&normal).started_at);

    assert_eq!(post_json(&sim, "/queue", json!({"clear": true})).await, 200);
    assert_eq!(get_json(&sim, "/prompt").await, json!({"exec_info": {"queue_remaining": 0}}));
    sim.shutdown().await;
}
