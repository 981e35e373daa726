//! star-graph's generator bodies: the camelCase JSON of `/generate/*` and STOMP
//! `/app/generate`, read into the generation context's typed requests. Unknown fields
//! are refused; ranges and defaults are the context's.

use gantry_generation::{GenerationError, GenerationRequest, Kind, request};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

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
    /// Accepted and ignored (star-graph clients send it).
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

impl From<Text2Img> for request::Text2Img {
    fn from(b: Text2Img) -> Self {
        Self {
            prompt: b.prompt,
            negative_prompt: Some(b.negative_prompt),
            model_name: b.model_name,
            width: b.width,
            height: b.height,
            steps: b.steps,
            cfg_scale: b.cfg_scale,
            seed: b.seed,
            sampler: b.sampler,
            scheduler: b.scheduler,
            denoise: b.denoise,
            batch_size: b.batch_size,
        }
    }
}

impl From<Img2Img> for request::Img2Img {
    fn from(b: Img2Img) -> Self {
        Self {
            prompt: b.prompt,
            negative_prompt: Some(b.negative_prompt),
            image_base64: b.image_base64,
            image_url: b.image_url,
            strength: b.strength,
            model_name: b.model_name,
            width: b.width,
            height: b.height,
            steps: b.steps,
            cfg_scale: b.cfg_scale,
            seed: b.seed,
        }
    }
}

impl From<Upscale> for request::Upscale {
    fn from(b: Upscale) -> Self {
        Self { image_base64: b.image_base64, image_url: b.image_url, scale_factor: b.scale_factor, model: b.model }
    }
}

impl From<Pose> for request::Pose {
    fn from(b: Pose) -> Self {
        Self {
            prompt: b.prompt,
            negative_prompt: Some(b.negative_prompt),
            pose_image_base64: b.pose_image_base64,
            pose_image_url: b.pose_image_url,
            control_type: b.control_type,
            control_strength: b.control_strength,
            model_name: b.model_name,
            width: b.width,
            height: b.height,
            steps: b.steps,
            cfg_scale: b.cfg_scale,
            seed: b.seed,
        }
    }
}

impl From<Text2Video> for request::Text2Video {
    fn from(b: Text2Video) -> Self {
        Self {
            prompt: b.prompt,
            negative_prompt: Some(b.negative_prompt),
            model_name: b.model_name,
            width: b.width,
            height: b.height,
            duration: b.duration,
            fps: b.fps,
            motion_bucket_id: b.motion_bucket_id,
            cfg_scale: b.cfg_scale,
            steps: b.steps,
            seed: b.seed,
        }
    }
}

impl From<Img2Video> for request::Img2Video {
    fn from(b: Img2Video) -> Self {
        Self {
            image_base64: b.image_base64,
            image_url: b.image_url,
            prompt: Some(b.prompt),
            model_name: b.model_name,
            width: b.width,
            height: b.height,
            duration: b.duration,
            fps: b.fps,
            motion_bucket_id: b.motion_bucket_id,
            augmentation_level: b.augmentation_level,
            cfg_scale: b.cfg_scale,
            steps: b.steps,
            seed: b.seed,
            video_loop: b.video_loop,
        }
    }
}

/// Reads `body` as `T`, then as the context's request `R`; a malformed body is an
/// invalid request.
fn read<T, R>(body: Value) -> Result<GenerationRequest, GenerationError>
where
    T: DeserializeOwned + Into<R>,
    R: Into<GenerationRequest>,
{
    let body: T =
        serde_json::from_value(body).map_err(|e| GenerationError::Invalid(format!("invalid request: {e}")))?;
    Ok(body.into().into())
}

/// The request a generator's JSON body asks for.
pub(crate) fn parse(kind: Kind, body: Value) -> Result<GenerationRequest, GenerationError> {
    match kind {
        Kind::Text2Img => read::<Text2Img, request::Text2Img>(body),
        Kind::Img2Img => read::<Img2Img, request::Img2Img>(body),
        Kind::Upscale => read::<Upscale, request::Upscale>(body),
        Kind::Pose => read::<Pose, request::Pose>(body),
        Kind::Text2Video => read::<Text2Video, request::Text2Video>(body),
        Kind::Img2Video => read::<Img2Video, request::Img2Video>(body),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn invalid(kind: Kind, body: Value) -> String {
        match parse(kind, body) {
            Err(GenerationError::Invalid(message)) => message,
            other => panic!("expected an invalid request, got {other:?}"),
        }
    }

    #[test]
    fn absent_fields_are_left_to_the_contexts_defaults() {
        let GenerationRequest::Text2Img(r) = parse(Kind::Text2Img, json!({"prompt": "cat"})).unwrap() else {
            panic!("not text2img")
        };
        let expected = request::Text2Img {
            prompt: "cat".into(),
            negative_prompt: Some(String::new()),
            ..request::Text2Img::default()
        };
        assert_eq!(r, expected);
        let GenerationRequest::Img2Video(r) = parse(Kind::Img2Video, json!({"imageUrl": "http://x"})).unwrap() else {
            panic!("not img2video")
        };
        assert_eq!((r.prompt.as_deref(), r.image_url.as_deref(), r.video_loop), (Some(""), Some("http://x"), None));
    }

    #[test]
    fn camel_case_names_reach_their_fields() {
        let body = json!({"prompt": "cat", "negativePrompt": "dog", "modelName": "m", "cfgScale": 3.5,
            "batchSize": 2, "clientId": "c1", "width": 64});
        let GenerationRequest::Text2Img(r) = parse(Kind::Text2Img, body).unwrap() else { panic!("not text2img") };
        assert_eq!(r.negative_prompt.as_deref(), Some("dog"));
        assert_eq!(
            (r.model_name.as_deref(), r.cfg_scale, r.batch_size, r.width),
            (Some("m"), Some(3.5), Some(2), Some(64))
        );
        let body = json!({"prompt": "p", "poseImageBase64": "AAAA", "controlType": "canny", "controlStrength": 0.5});
        let GenerationRequest::Pose(r) = parse(Kind::Pose, body).unwrap() else { panic!("not pose") };
        assert_eq!((r.pose_image_base64.as_deref(), r.control_type.as_deref()), (Some("AAAA"), Some("canny")));
        assert_eq!(r.control_strength, Some(0.5));
        let body = json!({"imageUrl": "u", "motionBucketId": 9, "augmentationLevel": 0.2, "videoLoop": true});
        let GenerationRequest::Img2Video(r) = parse(Kind::Img2Video, body).unwrap() else { panic!("not img2video") };
        assert_eq!((r.motion_bucket_id, r.augmentation_level, r.video_loop), (Some(9), Some(0.2), Some(true)));
        let body = json!({"imageBase64": "AAAA", "scaleFactor": 4});
        assert_eq!(parse(Kind::Upscale, body).unwrap().kind(), Kind::Upscale);
    }

    #[test]
    fn unknown_fields_and_wrong_types_are_invalid_requests() {
        let message = invalid(Kind::Text2Img, json!({"prompt": "x", "bogus": 1}));
        assert!(message.starts_with("invalid request: unknown field `bogus`"), "{message}");
        // snake_case spellings are not the wire's.
        let message = invalid(Kind::Text2Img, json!({"prompt": "x", "batch_size": 2}));
        assert!(message.starts_with("invalid request: unknown field `batch_size`"), "{message}");
        let message = invalid(Kind::Upscale, json!({"imageUrl": "u", "prompt": "x"}));
        assert!(message.starts_with("invalid request: unknown field `prompt`"), "{message}");
        assert_eq!(invalid(Kind::Text2Img, json!({})), "invalid request: missing field `prompt`");
        let message = invalid(Kind::Text2Img, json!({"prompt": "x", "width": "512"}));
        assert!(message.starts_with("invalid request: invalid type: string \"512\""), "{message}");
        let message = invalid(Kind::Img2Img, Value::Null);
        assert!(message.starts_with("invalid request: invalid type: null"), "{message}");
    }

    #[test]
    fn range_errors_still_name_the_wire_fields() {
        let request = parse(Kind::Text2Img, json!({"prompt": "x", "batchSize": 9})).unwrap();
        let message = request::plan(request, "m").unwrap_err().to_string();
        assert_eq!(message, "batchSize must be between 1 and 8");
        let request = parse(Kind::Img2Img, json!({"prompt": "x"})).unwrap();
        let message = request::plan(request, "m").unwrap_err().to_string();
        assert_eq!(message, "imageBase64 or imageUrl is required");
    }
}
