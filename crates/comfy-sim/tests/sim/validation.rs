//! `POST /prompt` validation: ComfyUI's error types and shapes.

use crate::common::*;
use serde_json::{Value, json};

async fn rejected(graph: Value) -> Value {
    let sim = start().await;
    let (status, body) = post_prompt(&sim, json!({"prompt": graph})).await;
    assert_eq!(status, 400, "{body}");
    body
}

#[tokio::test]
async fn unknown_class_is_an_invalid_prompt() {
    let mut graph = text2img(1, 1, 64, 64, "x");
    graph["3"]["class_type"] = json!("FancySampler");
    let body = rejected(graph).await;
    assert_eq!(body["error"]["type"], "invalid_prompt");
    assert_eq!(body["error"]["message"], "Cannot execute because node FancySampler does not exist.");
    assert_eq!(body["error"]["details"], "Node ID '#3'");
    assert_eq!(body["node_errors"], json!({}));
}

#[tokio::test]
async fn missing_required_input_fails_the_output() {
    let mut graph = text2img(1, 1, 64, 64, "x");
    graph["3"]["inputs"].as_object_mut().unwrap().remove("steps");
    let body = rejected(graph).await;
    assert_eq!(body["error"]["type"], "prompt_outputs_failed_validation");
    assert_eq!(body["error"]["message"], "Prompt outputs failed validation");
    let node = &body["node_errors"]["3"];
    assert_eq!(node["class_type"], "KSampler");
    assert_eq!(node["dependent_outputs"], json!(["9"]));
    assert_eq!(
        node["errors"][0],
        json!({"type": "required_input_missing", "message": "Required input is missing", "details": "steps", "extra_info": {"input_name": "steps"}})
    );
    assert!(body["node_errors"].get("9").is_none(), "downstream nodes are not listed");
}

#[tokio::test]
async fn malformed_and_dangling_links_are_reported() {
    let mut graph = text2img(1, 1, 64, 64, "x");
    graph["8"]["inputs"]["samples"] = json!(["3", 0, 1]);
    let body = rejected(graph).await;
    assert_eq!(body["node_errors"]["8"]["errors"][0]["type"], "bad_linked_input");

    let mut graph = text2img(1, 1, 64, 64, "x");
    graph["8"]["inputs"]["samples"] = json!(["99", 0]);
    let body = rejected(graph).await;
    let error = &body["node_errors"]["8"]["errors"][0];
    assert_eq!(error["type"], "exception_during_inner_validation");
    assert_eq!(error["details"], "'99'");

    let mut graph = text2img(1, 1, 64, 64, "x");
    graph["3"]["inputs"]["latent_image"] = json!(["6", 0]);
    let body = rejected(graph).await;
    let error = &body["node_errors"]["3"]["errors"][0];
    assert_eq!(error["type"], "return_type_mismatch");
    assert_eq!(error["details"], "latent_image, received_type(CONDITIONING) mismatch input_type(LATENT)");
}

#[tokio::test]
async fn a_graph_without_output_nodes_is_rejected() {
    let mut graph = text2img(1, 1, 64, 64, "x");
    graph.as_object_mut().unwrap().remove("9");
    let body = rejected(graph).await;
    assert_eq!(
        body["error"],
        json!({"type": "prompt_no_outputs", "message": "Prompt has no outputs", "details": "", "extra_info": {}})
    );
}

#[tokio::test]
async fn values_out_of_range_or_not_in_the_list_are_rejected() {
    let mut graph = text2img(1, 1, 64, 64, "x");
    graph["5"]["inputs"]["width"] = json!(99999);
    graph["4"]["inputs"]["ckpt_name"] = json!("missing.safetensors");
    let body = rejected(graph).await;
    let latent = &body["node_errors"]["5"]["errors"][0];
    assert_eq!(latent["type"], "value_bigger_than_max");
    assert_eq!(latent["message"], "Value 99999 bigger than max of 16384");
    let ckpt = &body["node_errors"]["4"]["errors"][0];
    assert_eq!(ckpt["type"], "value_not_in_list");
    assert_eq!(
        ckpt["details"],
        "ckpt_name: 'missing.safetensors' not in ['sd_xl_base_1.0.safetensors', 'svd.safetensors', 'svd_xt.safetensors', 'v1-5-pruned-emaonly.safetensors']"
    );
    assert_eq!(ckpt["extra_info"]["received_value"], "missing.safetensors");

    let mut graph = text2img(1, 1, 64, 64, "x");
    graph["3"]["inputs"]["steps"] = json!("many");
    let body = rejected(graph).await;
    let error = &body["node_errors"]["3"]["errors"][0];
    assert_eq!(error["type"], "invalid_input_type");
    assert_eq!(error["details"], "steps, many, invalid literal for int() with base 10: 'many'");
}

#[tokio::test]
async fn missing_prompt_non_json_and_partial_failures() {
    let sim = start().await;
    let (status, body) = post_prompt(&sim, json!({"client_id": "x"})).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["type"], "no_prompt");
    assert_eq!(body["node_errors"], json!({}));

    let response = http().post(format!("{}/prompt", sim.base_url())).body("not json").send().await.unwrap();
    assert_eq!(response.status().as_u16(), 500);

    // One valid output is enough: 200, with the failing output's errors attached.
    let mut graph = text2img(1, 1, 16, 16, "ok");
    graph["10"] = json!({"class_type": "SaveImage", "inputs": {"images": ["11", 0]}});
    graph["11"] = json!({"class_type": "EmptyImage", "inputs": {"width": 0, "height": 8, "batch_size": 1, "color": 0}});
    let (status, body) = post_prompt(&sim, json!({"prompt": graph, "number": 7})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["number"], 7.0);
    assert_eq!(body["node_errors"]["11"]["errors"][0]["type"], "value_smaller_than_min");
    assert_eq!(body["node_errors"]["10"]["errors"][0]["type"], "required_input_missing");
    let entry = history_entry(&sim, body["prompt_id"].as_str().unwrap()).await;
    assert_eq!(entry["prompt"][4], json!(["9"]));

    // Coercion happens in place: "2" becomes 2 in the queued prompt.
    let mut graph = text2img(1, 1, 16, 16, "coerced");
    graph["3"]["inputs"]["steps"] = json!("2");
    let (status, body) = post_prompt(&sim, json!({"prompt": graph})).await;
    assert_eq!(status, 200);
    let entry = history_entry(&sim, body["prompt_id"].as_str().unwrap()).await;
    assert_eq!(entry["prompt"][2]["3"]["inputs"]["steps"], 2);
    sim.shutdown().await;
}

#[tokio::test]
async fn load_image_of_a_missing_file_fails_custom_validation() {
    let graph = json!({
        "1": {"class_type": "LoadImage", "inputs": {"image": "nothere.png"}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "x"}}
    });
    let body = rejected(graph).await;
    assert_eq!(
        body["node_errors"]["1"]["errors"][0],
        json!({"type": "custom_validation_failed", "message": "Custom validation failed for node",
               "details": "image - Invalid image file: nothere.png", "extra_info": {"input_name": "image"}})
    );
}
