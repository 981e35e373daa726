//! The six generators' requests: every parameter, default and range of the star-graph
//! spec, validated into a [`Plan`] — the template bindings, the input images to fetch,
//! the billing units and the parameters to remember.

use crate::{GenerationError, Kind};
use serde::Deserialize;
use serde_json::{Map, Value, json};

/// A validated request.
#[derive(Debug, Clone)]
pub struct Plan {
    pub kind: Kind,
    /// Values for the template's `{{binding}}`s (model names still public names).
    pub bindings: Map<String, Value>,
    /// Input images: (binding, source).
    pub images: Vec<(String, ImageSource)>,
    /// Images in the batch, or seconds of video: what the price multiplies.
    pub units: i64,
    /// Public model name to resolve to a checkpoint, and the binding it goes to.
    pub models: Vec<(String, String)>,
    pub prompt: Option<String>,
    pub negative_prompt: Option<String>,
    /// Parameters shown back in task details (with the seed actually used).
    pub parameters: Map<String, Value>,
}

/// Where an input image comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum ImageSource {
    /// `data:image/png;base64,…` or bare base64.
    Base64(String),
    Url(String),
}

fn invalid(message: impl Into<String>) -> GenerationError {
    GenerationError::Invalid(message.into())
}

fn size(name: &str, value: i64) -> Result<i64, GenerationError> {
    if !(64..=2048).contains(&value) || value % 8 != 0 {
        return Err(invalid(format!("{name} must be a multiple of 8 between 64 and 2048")));
    }
    Ok(value)
}

fn within<T: PartialOrd + std::fmt::Display + Copy>(
    name: &str,
    value: T,
    min: T,
    max: T,
) -> Result<T, GenerationError> {
    if value < min || value > max {
        return Err(invalid(format!("{name} must be between {min} and {max}")));
    }
    Ok(value)
}

fn prompt(value: &str, required: bool) -> Result<String, GenerationError> {
    let trimmed = value.trim();
    if required && trimmed.is_empty() {
        return Err(invalid("prompt is required"));
    }
    if trimmed.chars().count() > 2000 {
        return Err(invalid("prompts are limited to 2000 characters"));
    }
    Ok(trimmed.to_owned())
}

/// `-1` means random; the seed used is recorded.
fn seed(value: i64) -> Result<i64, GenerationError> {
    match value {
        -1 => Ok(i64::from(rand::random::<u32>())),
        0..=9_007_199_254_740_991 => Ok(value),
        _ => Err(invalid("seed must be -1 (random) or between 0 and 2^53-1")),
    }
}

fn one_image(base64: Option<String>, url: Option<String>, field: &str) -> Result<ImageSource, GenerationError> {
    match (base64.filter(|s| !s.is_empty()), url.filter(|s| !s.is_empty())) {
        (Some(data), None) => Ok(ImageSource::Base64(data)),
        (None, Some(url)) => Ok(ImageSource::Url(url)),
        (Some(_), Some(_)) => Err(invalid(format!("give either {field}Base64 or {field}Url, not both"))),
        (None, None) => Err(invalid(format!("{field}Base64 or {field}Url is required"))),
    }
}

const SAMPLERS: [&str; 8] = ["euler", "euler_ancestral", "heun", "dpm_2", "lms", "dpmpp_2m", "dpmpp_sde", "ddim"];
const SCHEDULERS: [&str; 5] = ["normal", "karras", "exponential", "simple", "sgm_uniform"];

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Text2Img {
    prompt: String,
    #[serde(default)]
    negative_prompt: String,
    model_name: Option<String>,
    width: Option<i64>,
    height: Option<i64>,
    steps: Option<i64>,
    cfg_scale: Option<f64>,
    seed: Option<i64>,
    sampler: Option<String>,
    scheduler: Option<String>,
    denoise: Option<f64>,
    batch_size: Option<i64>,
    #[allow(dead_code)]
    client_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Img2Img {
    prompt: String,
    #[serde(default)]
    negative_prompt: String,
    image_base64: Option<String>,
    image_url: Option<String>,
    strength: Option<f64>,
    model_name: Option<String>,
    width: Option<i64>,
    height: Option<i64>,
    steps: Option<i64>,
    cfg_scale: Option<f64>,
    seed: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Upscale {
    image_base64: Option<String>,
    image_url: Option<String>,
    scale_factor: Option<i64>,
    model: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Pose {
    prompt: String,
    #[serde(default)]
    negative_prompt: String,
    pose_image_base64: Option<String>,
    pose_image_url: Option<String>,
    control_type: Option<String>,
    control_strength: Option<f64>,
    model_name: Option<String>,
    width: Option<i64>,
    height: Option<i64>,
    steps: Option<i64>,
    cfg_scale: Option<f64>,
    seed: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Text2Video {
    prompt: String,
    #[serde(default)]
    negative_prompt: String,
    model_name: Option<String>,
    width: Option<i64>,
    height: Option<i64>,
    duration: Option<i64>,
    fps: Option<i64>,
    motion_bucket_id: Option<i64>,
    cfg_scale: Option<f64>,
    steps: Option<i64>,
    seed: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Img2Video {
    image_base64: Option<String>,
    image_url: Option<String>,
    #[serde(default)]
    prompt: String,
    model_name: Option<String>,
    width: Option<i64>,
    height: Option<i64>,
    duration: Option<i64>,
    fps: Option<i64>,
    motion_bucket_id: Option<i64>,
    augmentation_level: Option<f64>,
    cfg_scale: Option<f64>,
    steps: Option<i64>,
    seed: Option<i64>,
    video_loop: Option<bool>,
}

fn parse<T: serde::de::DeserializeOwned>(body: Value) -> Result<T, GenerationError> {
    serde_json::from_value(body).map_err(|e| invalid(format!("invalid request: {e}")))
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// Validates a generator request body into a plan.
/// `first_frame_model` is the image model text-to-video draws its first frame with.
pub fn plan(kind: Kind, body: Value, first_frame_model: &str) -> Result<Plan, GenerationError> {
    match kind {
        Kind::Text2Img => {
            let r: Text2Img = parse(body)?;
            let model = r.model_name.unwrap_or_else(|| "stable-diffusion-xl-base-1.0".into());
            let sampler = r.sampler.unwrap_or_else(|| "euler".into());
            let scheduler = r.scheduler.unwrap_or_else(|| "normal".into());
            if !SAMPLERS.contains(&sampler.as_str()) {
                return Err(invalid(format!("sampler must be one of {}", SAMPLERS.join(", "))));
            }
            if !SCHEDULERS.contains(&scheduler.as_str()) {
                return Err(invalid(format!("scheduler must be one of {}", SCHEDULERS.join(", "))));
            }
            let batch = within("batchSize", r.batch_size.unwrap_or(1), 1, 8)?;
            let (width, height) = (size("width", r.width.unwrap_or(1024))?, size("height", r.height.unwrap_or(1024))?);
            let steps = within("steps", r.steps.unwrap_or(30), 1, 150)?;
            let cfg = within("cfgScale", r.cfg_scale.unwrap_or(7.5), 1.0, 30.0)?;
            let denoise = within("denoise", r.denoise.unwrap_or(1.0), 0.0, 1.0)?;
            let seed = seed(r.seed.unwrap_or(-1))?;
            let p = prompt(&r.prompt, true)?;
            let n = prompt(&r.negative_prompt, false)?;
            let bindings = json!({"prompt": p, "negativePrompt": n, "width": width, "height": height, "batchSize": batch,
                "steps": steps, "cfgScale": cfg, "seed": seed, "sampler": sampler, "scheduler": scheduler, "denoise": denoise});
            let parameters = json!({"modelName": model, "width": width, "height": height, "steps": steps, "cfgScale": cfg,
                "seed": seed, "sampler": sampler, "scheduler": scheduler, "denoise": denoise, "batchSize": batch});
            Ok(Plan {
                kind,
                bindings: object(bindings),
                images: vec![],
                units: batch,
                models: vec![(model, "checkpoint".into())],
                prompt: Some(p),
                negative_prompt: Some(n),
                parameters: object(parameters),
            })
        }
        Kind::Img2Img => {
            let r: Img2Img = parse(body)?;
            let image = one_image(r.image_base64, r.image_url, "image")?;
            let model = r.model_name.unwrap_or_else(|| "stable-diffusion-v1-5".into());
            let (width, height) = (size("width", r.width.unwrap_or(512))?, size("height", r.height.unwrap_or(512))?);
            let steps = within("steps", r.steps.unwrap_or(20), 1, 150)?;
            let cfg = within("cfgScale", r.cfg_scale.unwrap_or(7.0), 1.0, 30.0)?;
            let strength = within("strength", r.strength.unwrap_or(0.7), 0.0, 1.0)?;
            let seed = seed(r.seed.unwrap_or(-1))?;
            let p = prompt(&r.prompt, true)?;
            let n = prompt(&r.negative_prompt, false)?;
            let bindings = json!({"prompt": p, "negativePrompt": n, "width": width, "height": height, "steps": steps,
                "cfgScale": cfg, "seed": seed, "strength": strength});
            let parameters = json!({"modelName": model, "width": width, "height": height, "steps": steps, "cfgScale": cfg,
                "seed": seed, "strength": strength});
            Ok(Plan {
                kind,
                bindings: object(bindings),
                images: vec![("image".into(), image)],
                units: 1,
                models: vec![(model, "checkpoint".into())],
                prompt: Some(p),
                negative_prompt: Some(n),
                parameters: object(parameters),
            })
        }
        Kind::Upscale => {
            let r: Upscale = parse(body)?;
            let image = one_image(r.image_base64, r.image_url, "image")?;
            let factor = r.scale_factor.unwrap_or(2);
            if factor != 2 && factor != 4 {
                return Err(invalid("scaleFactor must be 2 or 4"));
            }
            let model = r.model.unwrap_or_else(|| "RealESRGAN".into());
            if model != "RealESRGAN" {
                return Err(GenerationError::ModelUnavailable(format!(
                    "upscale model `{model}` (available: RealESRGAN)"
                )));
            }
            let file = format!("RealESRGAN_x{factor}plus.pth");
            Ok(Plan {
                kind,
                bindings: object(json!({"upscaleModel": file})),
                images: vec![("image".into(), image)],
                units: 1,
                models: vec![],
                prompt: None,
                negative_prompt: None,
                parameters: object(json!({"scaleFactor": factor, "model": model})),
            })
        }
        Kind::Pose => {
            let r: Pose = parse(body)?;
            let image = one_image(r.pose_image_base64, r.pose_image_url, "poseImage")?;
            let control = r.control_type.unwrap_or_else(|| "openpose".into());
            let control_file = match control.as_str() {
                "openpose" => "control_v11p_sd15_openpose.pth",
                "canny" => "control_v11p_sd15_canny.pth",
                "depth" => "control_v11f1p_sd15_depth.pth",
                _ => return Err(invalid("controlType must be openpose, canny or depth")),
            };
            let strength = within("controlStrength", r.control_strength.unwrap_or(1.0), 0.0, 2.0)?;
            let model = r.model_name.unwrap_or_else(|| "stable-diffusion-v1-5".into());
            let (width, height) = (size("width", r.width.unwrap_or(512))?, size("height", r.height.unwrap_or(768))?);
            let steps = within("steps", r.steps.unwrap_or(20), 1, 150)?;
            let cfg = within("cfgScale", r.cfg_scale.unwrap_or(7.0), 1.0, 30.0)?;
            let seed = seed(r.seed.unwrap_or(-1))?;
            let p = prompt(&r.prompt, true)?;
            let n = prompt(&r.negative_prompt, false)?;
            let bindings = json!({"prompt": p, "negativePrompt": n, "controlNet": control_file, "controlStrength": strength,
                "width": width, "height": height, "steps": steps, "cfgScale": cfg, "seed": seed});
            let parameters = json!({"modelName": model, "controlType": control, "controlStrength": strength, "width": width,
                "height": height, "steps": steps, "cfgScale": cfg, "seed": seed});
            Ok(Plan {
                kind,
                bindings: object(bindings),
                images: vec![("poseImage".into(), image)],
                units: 1,
                models: vec![(model, "checkpoint".into())],
                prompt: Some(p),
                negative_prompt: Some(n),
                parameters: object(parameters),
            })
        }
        Kind::Text2Video | Kind::Img2Video => plan_video(kind, body, first_frame_model),
    }
}

fn plan_video(kind: Kind, body: Value, first_frame_model: &str) -> Result<Plan, GenerationError> {
    let (
        image,
        prompt_text,
        negative,
        model,
        width,
        height,
        duration,
        fps,
        motion,
        augmentation,
        cfg,
        steps,
        seed_in,
        looped,
    ) = if kind == Kind::Text2Video {
        let r: Text2Video = parse(body)?;
        let model = r.model_name.unwrap_or_else(|| "stable-video-diffusion".into());
        (
            None,
            prompt(&r.prompt, true)?,
            Some(prompt(&r.negative_prompt, false)?),
            model,
            r.width,
            r.height,
            r.duration,
            r.fps,
            r.motion_bucket_id,
            None,
            r.cfg_scale.unwrap_or(7.5),
            r.steps,
            r.seed,
            None,
        )
    } else {
        let r: Img2Video = parse(body)?;
        let model = r.model_name.unwrap_or_else(|| "stable-video-diffusion-img2vid".into());
        let image = one_image(r.image_base64, r.image_url, "image")?;
        (
            Some(image),
            prompt(&r.prompt, false)?,
            None,
            model,
            r.width,
            r.height,
            r.duration,
            r.fps,
            r.motion_bucket_id,
            Some(within("augmentationLevel", r.augmentation_level.unwrap_or(0.0), 0.0, 1.0)?),
            r.cfg_scale.unwrap_or(2.5),
            r.steps,
            r.seed,
            Some(r.video_loop.unwrap_or(false)),
        )
    };
    let (width, height) = (size("width", width.unwrap_or(512))?, size("height", height.unwrap_or(512))?);
    let duration = within("duration", duration.unwrap_or(4), 1, 10)?;
    let fps = within("fps", fps.unwrap_or(8), 1, 30)?;
    let motion = within("motionBucketId", motion.unwrap_or(127), 1, 255)?;
    let cfg = within("cfgScale", cfg, 1.0, 30.0)?;
    let steps = within("steps", steps.unwrap_or(25), 1, 150)?;
    let seed = seed(seed_in.unwrap_or(-1))?;
    let frames = duration * fps;
    let mut bindings = json!({"width": width, "height": height, "totalFrames": frames, "motionBucketId": motion, "fps": fps,
        "cfgScale": cfg, "steps": steps, "seed": seed});
    let mut parameters = json!({"modelName": model, "width": width, "height": height, "duration": duration, "fps": fps,
        "totalFrames": frames, "motionBucketId": motion, "cfgScale": cfg, "steps": steps, "seed": seed});
    let mut models = vec![(model, "videoCheckpoint".to_owned())];
    let mut images = vec![];
    match image {
        None => {
            bindings["prompt"] = json!(prompt_text);
            bindings["negativePrompt"] = json!(negative.clone().unwrap_or_default());
            models.push((first_frame_model.to_owned(), "checkpoint".into()));
        }
        Some(image) => {
            images.push(("image".to_owned(), image));
            bindings["augmentationLevel"] = json!(augmentation.unwrap_or(0.0));
            parameters["augmentationLevel"] = json!(augmentation.unwrap_or(0.0));
            parameters["videoLoop"] = json!(looped.unwrap_or(false));
        }
    }
    Ok(Plan {
        kind,
        bindings: object(bindings),
        images,
        units: duration,
        models,
        prompt: Some(prompt_text).filter(|p| !p.is_empty()),
        negative_prompt: negative,
        parameters: object(parameters),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_spec_and_seeds_are_recorded() {
        let p = plan(Kind::Text2Img, json!({"prompt": "一只可爱的猫咪"}), "m").unwrap();
        assert_eq!(p.parameters["width"], 1024);
        assert_eq!(p.parameters["steps"], 30);
        assert_eq!(p.parameters["cfgScale"], 7.5);
        assert_eq!(p.parameters["modelName"], "stable-diffusion-xl-base-1.0");
        assert!(p.parameters["seed"].as_i64().unwrap() >= 0, "-1 became a real seed");
        assert_eq!(p.bindings["seed"], p.parameters["seed"]);
        let v = plan(Kind::Text2Video, json!({"prompt": "cat"}), "m").unwrap();
        assert_eq!((v.parameters["totalFrames"].as_i64(), v.units), (Some(32), 4));
    }

    #[test]
    fn out_of_range_values_are_refused_with_the_field_name() {
        for (kind, body, field) in [
            (Kind::Text2Img, json!({"prompt": "x", "width": 1001}), "width"),
            (Kind::Text2Img, json!({"prompt": "x", "steps": 0}), "steps"),
            (Kind::Text2Img, json!({"prompt": "x", "cfgScale": 99}), "cfgScale"),
            (Kind::Text2Img, json!({"prompt": "x", "batchSize": 9}), "batchSize"),
            (Kind::Text2Img, json!({"prompt": "x", "seed": -2}), "seed"),
            (Kind::Text2Img, json!({"prompt": "x", "sampler": "magic"}), "sampler"),
            (Kind::Text2Img, json!({"prompt": " "}), "prompt"),
            (Kind::Text2Img, json!({"prompt": "x", "bogus": 1}), "bogus"),
            (Kind::Img2Img, json!({"prompt": "x", "imageUrl": "http://x", "strength": 1.5}), "strength"),
            (Kind::Img2Img, json!({"prompt": "x"}), "imageBase64"),
            (Kind::Upscale, json!({"imageUrl": "http://x", "scaleFactor": 3}), "scaleFactor"),
            (Kind::Pose, json!({"prompt": "x", "poseImageUrl": "http://x", "controlType": "sketch"}), "controlType"),
            (Kind::Pose, json!({"prompt": "x", "poseImageUrl": "http://x", "controlStrength": 2.5}), "controlStrength"),
            (Kind::Text2Video, json!({"prompt": "x", "motionBucketId": 0}), "motionBucketId"),
            (Kind::Img2Video, json!({"imageUrl": "http://x", "augmentationLevel": 2}), "augmentationLevel"),
            (Kind::Img2Video, json!({"imageUrl": "http://x", "fps": 0}), "fps"),
        ] {
            let err = plan(kind, body.clone(), "m").unwrap_err().to_string();
            assert!(err.contains(field), "{body}: {err}");
        }
    }
}
