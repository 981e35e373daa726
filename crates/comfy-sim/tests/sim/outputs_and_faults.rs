//! Output files (uploads, upscaling, animated WebP), the catalogue, and failure injection.

use std::io::Cursor;
use std::time::Duration;

use crate::common::*;
use comfy_sim::{Control, SimConfig};
use image::AnimationDecoder;
use serde_json::{Value, json};

fn png(width: u32, height: u32, rgb: [u8; 3]) -> Vec<u8> {
    let img = image::RgbImage::from_pixel(width, height, image::Rgb(rgb));
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

async fn upload(sim: &comfy_sim::SimHandle, name: &str, bytes: Vec<u8>) -> Value {
    let form = reqwest::multipart::Form::new()
        .part("image", reqwest::multipart::Part::bytes(bytes).file_name(name.to_owned()))
        .text("type", "input");
    let response = http().post(format!("{}/upload/image", sim.base_url())).multipart(form).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    response.json().await.unwrap()
}

#[tokio::test]
async fn an_uploaded_image_round_trips_through_load_image_and_an_upscaler() {
    let sim = start().await;
    let stored = upload(&sim, "source.png", png(40, 30, [10, 200, 30])).await;
    assert_eq!(stored, json!({"name": "source.png", "subfolder": "", "type": "input"}));
    let renamed = upload(&sim, "source.png", png(2, 2, [0, 0, 0])).await;
    assert_eq!(renamed["name"], "source (1).png");

    let graph = json!({
        "1": {"class_type": "LoadImage", "inputs": {"image": "source.png", "upload": "image"}},
        "2": {"class_type": "UpscaleModelLoader", "inputs": {"model_name": "RealESRGAN_x2plus.pth"}},
        "3": {"class_type": "ImageUpscaleWithModel", "inputs": {"upscale_model": ["2", 0], "image": ["1", 0]}},
        "4": {"class_type": "SaveImage", "inputs": {"images": ["3", 0], "filename_prefix": "up/x"}}
    });
    let mut ws = Ws::connect(&sim, "u").await;
    let id = queue(&sim, graph, "u").await;
    let ev = events(&ws.until_done(&id).await);
    assert_eq!(ev.iter().filter(|e| e["type"] == "progress").count(), 1, "one 512px tile");
    let entry = history_entry(&sim, &id).await;
    let item = &entry["outputs"]["4"]["images"][0];
    assert_eq!(item["subfolder"], "up");
    let (status, _, bytes) = view(&sim, item).await;
    assert_eq!(status, 200);
    let out = image::load_from_memory(&bytes).unwrap().to_rgb8();
    assert_eq!(out.dimensions(), (80, 60));
    assert_eq!(out.get_pixel(40, 30).0, [10, 200, 30]);

    // The uploaded file is served back from the input folder.
    let input = json!({"filename": "source.png", "subfolder": "", "type": "input"});
    assert_eq!(view(&sim, &input).await.0, 200);
    sim.shutdown().await;
}

#[tokio::test]
async fn view_refuses_traversal_and_unknown_types() {
    let sim = start().await;
    let get = |query: &'static [(&'static str, &'static str)]| {
        let url = format!("{}/view", sim.base_url());
        async move { http().get(url).query(query).send().await.unwrap().status().as_u16() }
    };
    assert_eq!(get(&[("filename", "../secret.png")]).await, 400);
    assert_eq!(get(&[("filename", "/etc/passwd")]).await, 400);
    assert_eq!(get(&[("filename", "a.png"), ("type", "models")]).await, 400);
    assert_eq!(get(&[("filename", "a.png"), ("subfolder", "../../etc")]).await, 403);
    assert_eq!(get(&[("filename", "a.png")]).await, 404);
    assert_eq!(get(&[]).await, 404);
    sim.shutdown().await;
}

#[tokio::test]
async fn uploads_over_the_limit_get_413() {
    let config = SimConfig { max_upload_size_mb: 0.01, ..SimConfig::default() };
    let sim = comfy_sim::spawn(config).await.unwrap();
    let form = reqwest::multipart::Form::new()
        .part("image", reqwest::multipart::Part::bytes(vec![0u8; 64 * 1024]).file_name("big.png"));
    let response = http().post(format!("{}/upload/image", sim.base_url())).multipart(form).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 413);
    sim.shutdown().await;
}

#[tokio::test]
async fn svd_graph_writes_an_animated_webp_with_every_frame() {
    let sim = start().await;
    upload(&sim, "init.png", png(16, 16, [200, 10, 10])).await;
    let graph = json!({
        "15": {"class_type": "ImageOnlyCheckpointLoader", "inputs": {"ckpt_name": "svd.safetensors"}},
        "23": {"class_type": "LoadImage", "inputs": {"image": "init.png"}},
        "12": {"class_type": "SVD_img2vid_Conditioning", "inputs": {"clip_vision": ["15", 1], "init_image": ["23", 0],
               "vae": ["15", 2], "width": 64, "height": 32, "video_frames": 5, "motion_bucket_id": 127, "fps": 6,
               "augmentation_level": 0.0}},
        "14": {"class_type": "VideoLinearCFGGuidance", "inputs": {"model": ["15", 0], "min_cfg": 1.0}},
        "3": {"class_type": "KSampler", "inputs": {"model": ["14", 0], "positive": ["12", 0], "negative": ["12", 1],
              "latent_image": ["12", 2], "seed": 1, "steps": 2, "cfg": 2.5, "sampler_name": "euler",
              "scheduler": "karras", "denoise": 1.0}},
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["15", 2]}},
        "10": {"class_type": "SaveAnimatedWEBP", "inputs": {"images": ["8", 0], "filename_prefix": "vid/clip",
               "fps": 10.0, "lossless": false, "quality": 85, "method": "default"}}
    });
    let mut ws = Ws::connect(&sim, "v").await;
    let id = queue(&sim, graph, "v").await;
    ws.until_done(&id).await;
    let entry = history_entry(&sim, &id).await;
    assert_eq!(entry["outputs"]["10"]["animated"], json!([true]));
    let item = &entry["outputs"]["10"]["images"][0];
    assert_eq!(item["filename"], "clip_00001_.webp");
    let (status, kind, bytes) = view(&sim, item).await;
    assert_eq!((status, kind.as_str()), (200, "image/webp"));
    let decoder = image::codecs::webp::WebPDecoder::new(Cursor::new(bytes)).unwrap();
    let frames = decoder.into_frames().collect_frames().unwrap();
    assert_eq!(frames.len(), 5);
    assert_eq!(frames[0].buffer().dimensions(), (64, 32));
    assert_eq!(frames[0].delay().numer_denom_ms(), (100, 1));
    sim.shutdown().await;
}

#[tokio::test]
async fn fail_next_ends_the_next_prompt_with_an_out_of_memory_error() {
    let sim = start().await;
    let state: Value = http()
        .post(format!("{}/sim/control", sim.base_url()))
        .json(&json!({"fail_next": true}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(state["fail_next"]["exception_type"], "torch.OutOfMemoryError");
    let mut ws = Ws::connect(&sim, "f").await;
    let id = queue(&sim, text2img(1, 2, 16, 16, "oom"), "f").await;
    let ev = events(&ws.until_done(&id).await);
    let error = ev.iter().find(|e| e["type"] == "execution_error").unwrap();
    assert_eq!(error["data"]["node_id"], "3");
    assert_eq!(error["data"]["node_type"], "KSampler");
    assert_eq!(error["data"]["exception_type"], "torch.OutOfMemoryError");
    assert!(error["data"]["exception_message"].as_str().unwrap().contains("ran out of memory"));
    assert!(error["data"]["traceback"].is_array());
    assert!(ev.iter().all(|e| e["type"] != "execution_success"));
    let entry = history_entry(&sim, &id).await;
    assert_eq!(entry["status"]["status_str"], "error");
    assert_eq!(entry["status"]["messages"][2][0], "execution_error");

    let again = queue(&sim, text2img(1, 2, 16, 16, "oom"), "f").await;
    ws.until_done(&again).await;
    assert_eq!(history_entry(&sim, &again).await["status"]["status_str"], "success");
    sim.shutdown().await;
}

#[tokio::test]
async fn object_info_and_model_lists_follow_the_configuration() {
    let mut config = SimConfig::default();
    config.models.insert("checkpoints".into(), vec!["only.safetensors".into()]);
    let sim = comfy_sim::spawn(config).await.unwrap();
    let info = get_json(&sim, "/object_info").await;
    for class in [
        "CheckpointLoaderSimple",
        "CLIPTextEncode",
        "EmptyLatentImage",
        "KSampler",
        "KSamplerAdvanced",
        "VAEDecode",
        "VAEEncode",
        "SaveImage",
        "PreviewImage",
        "LoadImage",
        "ImageScale",
        "UpscaleModelLoader",
        "ImageUpscaleWithModel",
        "ControlNetLoader",
        "ControlNetApplyAdvanced",
        "ImageOnlyCheckpointLoader",
        "SVD_img2vid_Conditioning",
        "VideoLinearCFGGuidance",
        "SaveAnimatedWEBP",
        "EmptyImage",
        "ImageInvert",
        "ImageBlur",
    ] {
        assert!(info.get(class).is_some(), "{class} missing");
    }
    let ckpt = get_json(&sim, "/api/object_info/CheckpointLoaderSimple").await;
    assert_eq!(ckpt["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"][0], json!(["only.safetensors"]));
    assert_eq!(get_json(&sim, "/object_info/Nope").await, json!({}));
    assert_eq!(get_json(&sim, "/models/checkpoints").await, json!(["only.safetensors"]));
    assert!(get_json(&sim, "/models").await.as_array().unwrap().contains(&json!("upscale_models")));
    let missing = http().get(format!("{}/models/nope", sim.base_url())).send().await.unwrap();
    assert_eq!(missing.status().as_u16(), 404);
    assert_eq!(get_json(&sim, "/embeddings").await, json!(["easynegative"]));
    let stats = get_json(&sim, "/system_stats").await;
    assert_eq!(stats["system"]["comfyui_version"], "0.3.64");
    assert_eq!(stats["devices"][0]["type"], "cuda");

    sim.control(Control {
        models: Some([("checkpoints".to_owned(), vec!["new.safetensors".to_owned()])].into()),
        ..Default::default()
    });
    assert_eq!(get_json(&sim, "/models/checkpoints").await, json!(["new.safetensors"]));
    sim.shutdown().await;
}

#[tokio::test]
async fn die_after_steps_drops_everything_and_the_port_can_be_reused() {
    let sim = start().await;
    sim.control(Control { die_after_steps: Some(2), ..Default::default() });
    let mut ws = Ws::connect(&sim, "d").await;
    let id = queue(&sim, text2img(1, 10, 16, 16, "die"), "d").await;
    let frames = ws.until_done(&id).await;
    assert!(matches!(frames.last(), Some(Frame::Closed)));
    assert_eq!(events(&frames).iter().filter(|e| e["type"] == "progress").count(), 2);
    sim.stopped().await;
    assert!(sim.is_dead());
    assert!(reqwest::Client::new().get(format!("{}/prompt", sim.base_url())).send().await.is_err());

    let port = sim.addr().port();
    let revived = comfy_sim::spawn(SimConfig { port, ..SimConfig::default() }).await.unwrap();
    assert_eq!(get_json(&revived, &format!("/history/{id}")).await, json!({}));
    revived.shutdown().await;
}

#[tokio::test]
async fn refuse_closes_the_port_and_drop_ws_only_drops_sockets() {
    let sim = start().await;
    let mut ws = Ws::connect(&sim, "r").await;
    sim.control(Control { drop_ws: true, ..Default::default() });
    assert!(matches!(ws.next().await, Frame::Closed));
    assert_eq!(get_json(&sim, "/prompt").await["exec_info"]["queue_remaining"], 0);
    Ws::connect(&sim, "r").await;

    sim.control(Control { refuse: Some(true), ..Default::default() });
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(reqwest::Client::new().get(format!("{}/prompt", sim.base_url())).send().await.is_err());
    sim.control(Control { refuse: Some(false), ..Default::default() });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let ok = reqwest::Client::new().get(format!("{}/prompt", sim.base_url())).send().await.unwrap();
    assert_eq!(ok.status().as_u16(), 200);

    sim.control(Control { slow_ms: Some(150), ..Default::default() });
    let started = std::time::Instant::now();
    get_json(&sim, "/prompt").await;
    assert!(started.elapsed() >= Duration::from_millis(150));
    sim.shutdown().await;
}
