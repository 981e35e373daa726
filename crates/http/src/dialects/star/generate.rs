//! star-graph `/generate/*`: the six generators. Each answers `taskId`, `queuePosition`,
//! `estimatedTime` (seconds) and `cost`; video generators add `duration`, `fps` and
//! `totalFrames`. Business errors carry the spec's codes E001–E007.

use crate::envelope::{ApiResult, Reply, StarGraph};
use crate::extract::{Auth, Body};
use crate::state::AppState;
use axum::extract::State;
use gantry_generation::{Kind, Submitted};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(text2img))
        .routes(routes!(img2img))
        .routes(routes!(upscale))
        .routes(routes!(pose))
        .routes(routes!(text2video))
        .routes(routes!(img2video))
}

/// What a generator answers.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct Accepted {
    task_id: String,
    queue_position: usize,
    estimated_time: i64,
    cost: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    duration: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fps: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    total_frames: Option<Value>,
}

impl From<Submitted> for Accepted {
    fn from(s: Submitted) -> Self {
        let video = |key: &str| s.kind.is_video().then(|| s.parameters.get(key).cloned()).flatten();
        Self {
            duration: video("duration"),
            fps: video("fps"),
            total_frames: video("totalFrames"),
            task_id: s.task_id,
            queue_position: s.queue_position,
            estimated_time: s.estimated_time,
            cost: s.cost,
        }
    }
}

/// Runs a generator for the caller.
pub(super) async fn generate(
    state: &AppState,
    user_id: i64,
    kind: Kind,
    body: Value,
) -> ApiResult<StarGraph, Accepted> {
    let request = super::generate_body::parse(kind, body)?;
    let submitted = state.generation.generate(user_id, request).await?;
    let message = if kind.is_video() { "video task submitted" } else { "task created" };
    Ok(Reply::with_message(message, submitted.into()))
}

macro_rules! generator {
    ($name:ident, $kind:expr, $path:literal, $doc:literal, $body:literal) => {
        #[doc = $doc]
        #[utoipa::path(post, path = $path, tag = "star-graph", security(("bearer" = [])),
            request_body(content = Object, description = $body),
            responses((status = 200, body = Accepted),
                (status = 400, description = "invalid parameter, E001 model unavailable, E006 sensitive word"),
                (status = 402, description = "E002 balance too low"), (status = 413, description = "E005 image over 10 MB"),
                (status = 415, description = "E004 image not JPG/PNG/WebP"), (status = 503, description = "E003 queue full, E007 no GPU")))]
        async fn $name(
            State(state): State<AppState>,
            Auth(caller, ..): Auth<StarGraph>,
            Body(body, ..): Body<StarGraph, Value>,
        ) -> ApiResult<StarGraph, Accepted> {
            generate(&state, caller.user_id, $kind, body).await
        }
    };
}

generator!(
    text2img,
    Kind::Text2Img,
    "/api/v1/generate/text2img",
    "Text to image.",
    "prompt (required), negativePrompt, modelName, width/height (multiples of 8, 64-2048, default 1024), steps (1-150, 30), cfgScale (1-30, 7.5), seed (-1 random), sampler, scheduler, denoise (0-1), batchSize (1-8)"
);
generator!(
    img2img,
    Kind::Img2Img,
    "/api/v1/generate/img2img",
    "Image to image.",
    "prompt, negativePrompt, imageBase64 or imageUrl, strength (0-1, 0.7), modelName, width/height (512), steps (20), cfgScale (7), seed"
);
generator!(
    upscale,
    Kind::Upscale,
    "/api/v1/generate/upscale",
    "Upscale an image.",
    "imageBase64 or imageUrl, scaleFactor (2 or 4), model (RealESRGAN)"
);
generator!(
    pose,
    Kind::Pose,
    "/api/v1/generate/pose",
    "Pose-controlled image.",
    "prompt, poseImageBase64 or poseImageUrl, controlType (openpose|canny|depth), controlStrength (0-2, 1.0), modelName, width/height"
);
generator!(
    text2video,
    Kind::Text2Video,
    "/api/v1/generate/text2video",
    "Text to video (animated WebP).",
    "prompt, negativePrompt, modelName, width/height (512), duration (1-10 s, 4), fps (1-30, 8), motionBucketId (1-255, 127), cfgScale, steps, seed"
);
generator!(
    img2video,
    Kind::Img2Video,
    "/api/v1/generate/img2video",
    "Image to video (animated WebP).",
    "imageBase64 or imageUrl, prompt, modelName, duration, fps, motionBucketId, augmentationLevel (0-1), cfgScale (2.5), steps, seed, videoLoop"
);
