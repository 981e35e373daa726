//! The six generators' requests: every parameter, default and range of the star-graph
//! spec, validated into a [`Plan`] — the template bindings, the input images to fetch,
//! the billing units and the parameters to remember.
//!
//! Requests are plain Rust values ([`GenerationRequest`]); a `None` takes the spec's
//! default. Reading them from a wire format is the dialects' business. Error messages
//! name the parameters as the star-graph API spells them (`batchSize`, `cfgScale`, …),
//! since that is what users of the API see.

use crate::{GenerationError, Kind};
use serde_json::{Map, Value, json};

/// A generation request: one generator and its parameters.
#[derive(Debug, Clone, PartialEq)]
pub enum GenerationRequest {
    Text2Img(Text2Img),
    Img2Img(Img2Img),
    Upscale(Upscale),
    Pose(Pose),
    Text2Video(Text2Video),
    Img2Video(Img2Video),
}

impl GenerationRequest {
    /// The generator it asks for.
    pub fn kind(&self) -> Kind {
        match self {
            Self::Text2Img(_) => Kind::Text2Img,
            Self::Img2Img(_) => Kind::Img2Img,
            Self::Upscale(_) => Kind::Upscale,
            Self::Pose(_) => Kind::Pose,
            Self::Text2Video(_) => Kind::Text2Video,
            Self::Img2Video(_) => Kind::Img2Video,
        }
    }
}

macro_rules! into_request {
    ($($name:ident),*) => {$(
        impl From<$name> for GenerationRequest {
            fn from(r: $name) -> Self {
                Self::$name(r)
            }
        }
    )*};
}
into_request!(Text2Img, Img2Img, Upscale, Pose, Text2Video, Img2Video);

/// Text to image. Defaults: model `stable-diffusion-xl-base-1.0`, 1024×1024, 30 steps,
/// cfg 7.5, random seed, sampler `euler`, scheduler `normal`, denoise 1.0, batch of 1.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Text2Img {
    /// Required (not blank), at most 2000 characters.
    pub prompt: String,
    pub negative_prompt: Option<String>,
    pub model_name: Option<String>,
    /// Multiple of 8, 64–2048.
    pub width: Option<i64>,
    /// Multiple of 8, 64–2048.
    pub height: Option<i64>,
    /// 1–150.
    pub steps: Option<i64>,
    /// 1–30.
    pub cfg_scale: Option<f64>,
    /// `-1` for random, else 0–2^53-1.
    pub seed: Option<i64>,
    pub sampler: Option<String>,
    pub scheduler: Option<String>,
    /// 0–1.
    pub denoise: Option<f64>,
    /// 1–8 images.
    pub batch_size: Option<i64>,
}

/// Image to image: exactly one of `image_base64` and `image_url`. Defaults: model
/// `stable-diffusion-v1-5`, 512×512, 20 steps, cfg 7.0, strength 0.7, random seed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Img2Img {
    pub prompt: String,
    pub negative_prompt: Option<String>,
    /// `data:image/…;base64,…` or bare base64.
    pub image_base64: Option<String>,
    pub image_url: Option<String>,
    /// 0–1.
    pub strength: Option<f64>,
    pub model_name: Option<String>,
    pub width: Option<i64>,
    pub height: Option<i64>,
    pub steps: Option<i64>,
    pub cfg_scale: Option<f64>,
    pub seed: Option<i64>,
}

/// Upscale: exactly one of `image_base64` and `image_url`; factor 2 (default) or 4;
/// model `RealESRGAN` (the only one).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Upscale {
    pub image_base64: Option<String>,
    pub image_url: Option<String>,
    pub scale_factor: Option<i64>,
    pub model: Option<String>,
}

/// Pose-controlled image: exactly one of `pose_image_base64` and `pose_image_url`.
/// Defaults: control `openpose` (or `canny`, `depth`) at strength 1.0 (0–2), model
/// `stable-diffusion-v1-5`, 512×768, 20 steps, cfg 7.0, random seed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Pose {
    pub prompt: String,
    pub negative_prompt: Option<String>,
    pub pose_image_base64: Option<String>,
    pub pose_image_url: Option<String>,
    pub control_type: Option<String>,
    pub control_strength: Option<f64>,
    pub model_name: Option<String>,
    pub width: Option<i64>,
    pub height: Option<i64>,
    pub steps: Option<i64>,
    pub cfg_scale: Option<f64>,
    pub seed: Option<i64>,
}

/// Text to video. Defaults: model `stable-video-diffusion`, 512×512, 4 s (1–10) at 8 fps
/// (1–30), motion bucket 127 (1–255), cfg 7.5, 25 steps, random seed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Text2Video {
    pub prompt: String,
    pub negative_prompt: Option<String>,
    pub model_name: Option<String>,
    pub width: Option<i64>,
    pub height: Option<i64>,
    /// Seconds.
    pub duration: Option<i64>,
    pub fps: Option<i64>,
    pub motion_bucket_id: Option<i64>,
    pub cfg_scale: Option<f64>,
    pub steps: Option<i64>,
    pub seed: Option<i64>,
}

/// Image to video: exactly one of `image_base64` and `image_url`; the prompt is optional.
/// Defaults: model `stable-video-diffusion-img2vid`, 512×512, 4 s at 8 fps, motion bucket
/// 127, augmentation 0.0 (0–1), cfg 2.5, 25 steps, random seed, no loop.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Img2Video {
    pub image_base64: Option<String>,
    pub image_url: Option<String>,
    pub prompt: Option<String>,
    pub model_name: Option<String>,
    pub width: Option<i64>,
    pub height: Option<i64>,
    pub duration: Option<i64>,
    pub fps: Option<i64>,
    pub motion_bucket_id: Option<i64>,
    pub augmentation_level: Option<f64>,
    pub cfg_scale: Option<f64>,
    pub steps: Option<i64>,
    pub seed: Option<i64>,
    pub video_loop: Option<bool>,
}

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

/// An integer parameter's bounds: `min..=max`, a multiple of `multiple_of`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IntRange {
    pub min: i64,
    pub max: i64,
    pub multiple_of: i64,
}

/// A decimal parameter's bounds: `min..=max`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FloatRange {
    pub min: f64,
    pub max: f64,
}

const SIZE: IntRange = IntRange { min: 64, max: 2048, multiple_of: 8 };
const STEPS: IntRange = IntRange { min: 1, max: 150, multiple_of: 1 };
const BATCH: IntRange = IntRange { min: 1, max: 8, multiple_of: 1 };
const DURATION: IntRange = IntRange { min: 1, max: 10, multiple_of: 1 };
const FPS: IntRange = IntRange { min: 1, max: 30, multiple_of: 1 };
const MOTION: IntRange = IntRange { min: 1, max: 255, multiple_of: 1 };
/// `-1` asks for a random seed.
const SEED: IntRange = IntRange { min: -1, max: 9_007_199_254_740_991, multiple_of: 1 };
const CFG: FloatRange = FloatRange { min: 1.0, max: 30.0 };
const FRACTION: FloatRange = FloatRange { min: 0.0, max: 1.0 };
const CONTROL_STRENGTH: FloatRange = FloatRange { min: 0.0, max: 2.0 };
/// Characters of a prompt.
pub const PROMPT_MAX_CHARS: usize = 2000;

const SAMPLERS: [&str; 8] = ["euler", "euler_ancestral", "heun", "dpm_2", "lms", "dpmpp_2m", "dpmpp_sde", "ddim"];
const SCHEDULERS: [&str; 5] = ["normal", "karras", "exponential", "simple", "sgm_uniform"];
const CONTROL_TYPES: [&str; 3] = ["openpose", "canny", "depth"];
const SCALE_FACTORS: [i64; 2] = [2, 4];
const UPSCALE_MODELS: [&str; 1] = ["RealESRGAN"];

/// What values a parameter takes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Accepts {
    /// Text of at most [`PROMPT_MAX_CHARS`] characters.
    Prompt,
    /// A model's public name (`GET /models` lists them).
    Model,
    Integer(IntRange),
    Decimal(FloatRange),
    Text(&'static [&'static str]),
    Whole(&'static [i64]),
    Boolean,
    /// An input image: `<name>Base64` (a data URL) or `<name>Url`, exactly one.
    Image,
}

/// One parameter of a generator, as its requests spell it, and the values validation accepts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Parameter {
    pub name: &'static str,
    pub required: bool,
    pub accepts: Accepts,
}

const fn param(name: &'static str, accepts: Accepts) -> Parameter {
    Parameter { name, required: false, accepts }
}

const fn required(name: &'static str, accepts: Accepts) -> Parameter {
    Parameter { name, required: true, accepts }
}

/// Every parameter a generator takes, in the order a form shows them.
pub fn parameters(kind: Kind) -> Vec<Parameter> {
    use Accepts::{Boolean, Decimal, Image, Integer, Model, Prompt, Text, Whole};
    let image = [param("modelName", Model), param("width", Integer(SIZE)), param("height", Integer(SIZE))];
    let sampling = [param("steps", Integer(STEPS)), param("cfgScale", Decimal(CFG)), param("seed", Integer(SEED))];
    let prompts = [required("prompt", Prompt), param("negativePrompt", Prompt)];
    let motion =
        [param("duration", Integer(DURATION)), param("fps", Integer(FPS)), param("motionBucketId", Integer(MOTION))];
    match kind {
        Kind::Text2Img => [
            &prompts[..],
            &image,
            &sampling,
            &[
                param("sampler", Text(&SAMPLERS)),
                param("scheduler", Text(&SCHEDULERS)),
                param("denoise", Decimal(FRACTION)),
                param("batchSize", Integer(BATCH)),
            ],
        ]
        .concat(),
        Kind::Img2Img => {
            [&prompts[..], &[required("image", Image), param("strength", Decimal(FRACTION))], &image, &sampling]
                .concat()
        }
        Kind::Upscale => vec![
            required("image", Image),
            param("scaleFactor", Whole(&SCALE_FACTORS)),
            param("model", Text(&UPSCALE_MODELS)),
        ],
        Kind::Pose => [
            &prompts[..],
            &[
                required("poseImage", Image),
                param("controlType", Text(&CONTROL_TYPES)),
                param("controlStrength", Decimal(CONTROL_STRENGTH)),
            ],
            &image,
            &sampling,
        ]
        .concat(),
        Kind::Text2Video => [&prompts[..], &image, &motion, &sampling].concat(),
        Kind::Img2Video => [
            &[required("image", Image), param("prompt", Prompt)],
            &image[..],
            &motion,
            &[param("augmentationLevel", Decimal(FRACTION))],
            &sampling,
            &[param("videoLoop", Boolean)],
        ]
        .concat(),
    }
}

fn invalid(message: impl Into<String>) -> GenerationError {
    GenerationError::Invalid(message.into())
}

impl IntRange {
    fn check(self, name: &str, value: i64) -> Result<i64, GenerationError> {
        let (min, max, step) = (self.min, self.max, self.multiple_of);
        match (value < min || value > max, step > 1) {
            (false, _) if value % step == 0 => Ok(value),
            (_, true) => Err(invalid(format!("{name} must be a multiple of {step} between {min} and {max}"))),
            _ => Err(invalid(format!("{name} must be between {min} and {max}"))),
        }
    }
}

impl FloatRange {
    fn check(self, name: &str, value: f64) -> Result<f64, GenerationError> {
        let (min, max) = (self.min, self.max);
        if !(min..=max).contains(&value) {
            return Err(invalid(format!("{name} must be between {min} and {max}")));
        }
        Ok(value)
    }
}

fn prompt(value: &str, required: bool) -> Result<String, GenerationError> {
    let trimmed = value.trim();
    if required && trimmed.is_empty() {
        return Err(invalid("prompt is required"));
    }
    if trimmed.chars().count() > PROMPT_MAX_CHARS {
        return Err(invalid(format!("prompts are limited to {PROMPT_MAX_CHARS} characters")));
    }
    Ok(trimmed.to_owned())
}

/// `-1` means random; the seed used is recorded.
fn seed(value: i64) -> Result<i64, GenerationError> {
    match value {
        -1 => Ok(i64::from(rand::random::<u32>())),
        0.. if value <= SEED.max => Ok(value),
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

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// Validates a request into a plan.
/// `first_frame_model` is the image model text-to-video draws its first frame with.
pub fn plan(request: GenerationRequest, first_frame_model: &str) -> Result<Plan, GenerationError> {
    match request {
        GenerationRequest::Text2Img(r) => plan_text2img(r),
        GenerationRequest::Img2Img(r) => plan_img2img(r),
        GenerationRequest::Upscale(r) => plan_upscale(r),
        GenerationRequest::Pose(r) => plan_pose(r),
        GenerationRequest::Text2Video(r) => plan_video(Video::try_from(r)?, first_frame_model),
        GenerationRequest::Img2Video(r) => plan_video(Video::try_from(r)?, first_frame_model),
    }
}

fn plan_text2img(r: Text2Img) -> Result<Plan, GenerationError> {
    let model = r.model_name.unwrap_or_else(|| "stable-diffusion-xl-base-1.0".into());
    let sampler = r.sampler.unwrap_or_else(|| "euler".into());
    let scheduler = r.scheduler.unwrap_or_else(|| "normal".into());
    if !SAMPLERS.contains(&sampler.as_str()) {
        return Err(invalid(format!("sampler must be one of {}", SAMPLERS.join(", "))));
    }
    if !SCHEDULERS.contains(&scheduler.as_str()) {
        return Err(invalid(format!("scheduler must be one of {}", SCHEDULERS.join(", "))));
    }
    let batch = BATCH.check("batchSize", r.batch_size.unwrap_or(1))?;
    let (width, height) =
        (SIZE.check("width", r.width.unwrap_or(1024))?, SIZE.check("height", r.height.unwrap_or(1024))?);
    let steps = STEPS.check("steps", r.steps.unwrap_or(30))?;
    let cfg = CFG.check("cfgScale", r.cfg_scale.unwrap_or(7.5))?;
    let denoise = FRACTION.check("denoise", r.denoise.unwrap_or(1.0))?;
    let seed = seed(r.seed.unwrap_or(-1))?;
    let p = prompt(&r.prompt, true)?;
    let n = prompt(r.negative_prompt.as_deref().unwrap_or_default(), false)?;
    let bindings = json!({"prompt": p, "negativePrompt": n, "width": width, "height": height, "batchSize": batch,
        "steps": steps, "cfgScale": cfg, "seed": seed, "sampler": sampler, "scheduler": scheduler, "denoise": denoise});
    let parameters = json!({"modelName": model, "width": width, "height": height, "steps": steps, "cfgScale": cfg,
        "seed": seed, "sampler": sampler, "scheduler": scheduler, "denoise": denoise, "batchSize": batch});
    Ok(Plan {
        kind: Kind::Text2Img,
        bindings: object(bindings),
        images: vec![],
        units: batch,
        models: vec![(model, "checkpoint".into())],
        prompt: Some(p),
        negative_prompt: Some(n),
        parameters: object(parameters),
    })
}

fn plan_img2img(r: Img2Img) -> Result<Plan, GenerationError> {
    let image = one_image(r.image_base64, r.image_url, "image")?;
    let model = r.model_name.unwrap_or_else(|| "stable-diffusion-v1-5".into());
    let (width, height) =
        (SIZE.check("width", r.width.unwrap_or(512))?, SIZE.check("height", r.height.unwrap_or(512))?);
    let steps = STEPS.check("steps", r.steps.unwrap_or(20))?;
    let cfg = CFG.check("cfgScale", r.cfg_scale.unwrap_or(7.0))?;
    let strength = FRACTION.check("strength", r.strength.unwrap_or(0.7))?;
    let seed = seed(r.seed.unwrap_or(-1))?;
    let p = prompt(&r.prompt, true)?;
    let n = prompt(r.negative_prompt.as_deref().unwrap_or_default(), false)?;
    let bindings = json!({"prompt": p, "negativePrompt": n, "width": width, "height": height, "steps": steps,
        "cfgScale": cfg, "seed": seed, "strength": strength});
    let parameters = json!({"modelName": model, "width": width, "height": height, "steps": steps, "cfgScale": cfg,
        "seed": seed, "strength": strength});
    Ok(Plan {
        kind: Kind::Img2Img,
        bindings: object(bindings),
        images: vec![("image".into(), image)],
        units: 1,
        models: vec![(model, "checkpoint".into())],
        prompt: Some(p),
        negative_prompt: Some(n),
        parameters: object(parameters),
    })
}

fn plan_upscale(r: Upscale) -> Result<Plan, GenerationError> {
    let image = one_image(r.image_base64, r.image_url, "image")?;
    let factor = r.scale_factor.unwrap_or(2);
    if !SCALE_FACTORS.contains(&factor) {
        return Err(invalid("scaleFactor must be 2 or 4"));
    }
    let model = r.model.unwrap_or_else(|| UPSCALE_MODELS[0].into());
    if !UPSCALE_MODELS.contains(&model.as_str()) {
        return Err(GenerationError::ModelUnavailable(format!("upscale model `{model}` (available: RealESRGAN)")));
    }
    let file = format!("RealESRGAN_x{factor}plus.pth");
    Ok(Plan {
        kind: Kind::Upscale,
        bindings: object(json!({"upscaleModel": file})),
        images: vec![("image".into(), image)],
        units: 1,
        models: vec![],
        prompt: None,
        negative_prompt: None,
        parameters: object(json!({"scaleFactor": factor, "model": model})),
    })
}

fn plan_pose(r: Pose) -> Result<Plan, GenerationError> {
    let image = one_image(r.pose_image_base64, r.pose_image_url, "poseImage")?;
    let control = r.control_type.unwrap_or_else(|| "openpose".into());
    let control_file = match control.as_str() {
        "openpose" => "control_v11p_sd15_openpose.pth",
        "canny" => "control_v11p_sd15_canny.pth",
        "depth" => "control_v11f1p_sd15_depth.pth",
        _ => return Err(invalid(format!("controlType must be one of {}", CONTROL_TYPES.join(", ")))),
    };
    let strength = CONTROL_STRENGTH.check("controlStrength", r.control_strength.unwrap_or(1.0))?;
    let model = r.model_name.unwrap_or_else(|| "stable-diffusion-v1-5".into());
    let (width, height) =
        (SIZE.check("width", r.width.unwrap_or(512))?, SIZE.check("height", r.height.unwrap_or(768))?);
    let steps = STEPS.check("steps", r.steps.unwrap_or(20))?;
    let cfg = CFG.check("cfgScale", r.cfg_scale.unwrap_or(7.0))?;
    let seed = seed(r.seed.unwrap_or(-1))?;
    let p = prompt(&r.prompt, true)?;
    let n = prompt(r.negative_prompt.as_deref().unwrap_or_default(), false)?;
    let bindings = json!({"prompt": p, "negativePrompt": n, "controlNet": control_file, "controlStrength": strength,
        "width": width, "height": height, "steps": steps, "cfgScale": cfg, "seed": seed});
    let parameters = json!({"modelName": model, "controlType": control, "controlStrength": strength, "width": width,
        "height": height, "steps": steps, "cfgScale": cfg, "seed": seed});
    Ok(Plan {
        kind: Kind::Pose,
        bindings: object(bindings),
        images: vec![("poseImage".into(), image)],
        units: 1,
        models: vec![(model, "checkpoint".into())],
        prompt: Some(p),
        negative_prompt: Some(n),
        parameters: object(parameters),
    })
}

/// What the two video generators share, with their own parts checked and defaulted.
struct Video {
    kind: Kind,
    /// Image to video only.
    from_image: Option<FromImage>,
    /// Checked and trimmed.
    prompt: String,
    /// Text to video only; checked and trimmed.
    negative_prompt: Option<String>,
    model: String,
    width: Option<i64>,
    height: Option<i64>,
    duration: Option<i64>,
    fps: Option<i64>,
    motion_bucket_id: Option<i64>,
    cfg_scale: f64,
    steps: Option<i64>,
    seed: Option<i64>,
}

/// Image to video's own parts.
struct FromImage {
    image: ImageSource,
    augmentation: f64,
    looped: bool,
}

impl TryFrom<Text2Video> for Video {
    type Error = GenerationError;

    fn try_from(r: Text2Video) -> Result<Self, GenerationError> {
        let model = r.model_name.unwrap_or_else(|| "stable-video-diffusion".into());
        Ok(Self {
            kind: Kind::Text2Video,
            from_image: None,
            prompt: prompt(&r.prompt, true)?,
            negative_prompt: Some(prompt(r.negative_prompt.as_deref().unwrap_or_default(), false)?),
            model,
            width: r.width,
            height: r.height,
            duration: r.duration,
            fps: r.fps,
            motion_bucket_id: r.motion_bucket_id,
            cfg_scale: r.cfg_scale.unwrap_or(7.5),
            steps: r.steps,
            seed: r.seed,
        })
    }
}

impl TryFrom<Img2Video> for Video {
    type Error = GenerationError;

    fn try_from(r: Img2Video) -> Result<Self, GenerationError> {
        let model = r.model_name.unwrap_or_else(|| "stable-video-diffusion-img2vid".into());
        let image = one_image(r.image_base64, r.image_url, "image")?;
        let prompt = prompt(r.prompt.as_deref().unwrap_or_default(), false)?;
        let augmentation = FRACTION.check("augmentationLevel", r.augmentation_level.unwrap_or(0.0))?;
        Ok(Self {
            kind: Kind::Img2Video,
            from_image: Some(FromImage { image, augmentation, looped: r.video_loop.unwrap_or(false) }),
            prompt,
            negative_prompt: None,
            model,
            width: r.width,
            height: r.height,
            duration: r.duration,
            fps: r.fps,
            motion_bucket_id: r.motion_bucket_id,
            cfg_scale: r.cfg_scale.unwrap_or(2.5),
            steps: r.steps,
            seed: r.seed,
        })
    }
}

fn plan_video(r: Video, first_frame_model: &str) -> Result<Plan, GenerationError> {
    let (prompt_text, negative) = (r.prompt, r.negative_prompt);
    let (width, height) =
        (SIZE.check("width", r.width.unwrap_or(512))?, SIZE.check("height", r.height.unwrap_or(512))?);
    let duration = DURATION.check("duration", r.duration.unwrap_or(4))?;
    let fps = FPS.check("fps", r.fps.unwrap_or(8))?;
    let motion = MOTION.check("motionBucketId", r.motion_bucket_id.unwrap_or(127))?;
    let cfg = CFG.check("cfgScale", r.cfg_scale)?;
    let steps = STEPS.check("steps", r.steps.unwrap_or(25))?;
    let seed = seed(r.seed.unwrap_or(-1))?;
    let frames = duration * fps;
    let mut bindings = json!({"width": width, "height": height, "totalFrames": frames, "motionBucketId": motion, "fps": fps,
        "cfgScale": cfg, "steps": steps, "seed": seed});
    let mut parameters = json!({"modelName": r.model, "width": width, "height": height, "duration": duration, "fps": fps,
        "totalFrames": frames, "motionBucketId": motion, "cfgScale": cfg, "steps": steps, "seed": seed});
    let mut models = vec![(r.model, "videoCheckpoint".to_owned())];
    let mut images = vec![];
    match r.from_image {
        None => {
            bindings["prompt"] = json!(prompt_text);
            bindings["negativePrompt"] = json!(negative.clone().unwrap_or_default());
            models.push((first_frame_model.to_owned(), "checkpoint".into()));
        }
        Some(FromImage { image, augmentation, looped }) => {
            images.push(("image".to_owned(), image));
            bindings["augmentationLevel"] = json!(augmentation);
            parameters["augmentationLevel"] = json!(augmentation);
            parameters["videoLoop"] = json!(looped);
        }
    }
    Ok(Plan {
        kind: r.kind,
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

    fn text2img(prompt: &str) -> Text2Img {
        Text2Img { prompt: prompt.into(), ..Text2Img::default() }
    }

    fn error(request: impl Into<GenerationRequest>) -> String {
        plan(request.into(), "m").unwrap_err().to_string()
    }

    #[test]
    fn defaults_follow_the_spec_and_seeds_are_recorded() {
        let p = plan(text2img("一只可爱的猫咪").into(), "m").unwrap();
        assert_eq!(p.kind, Kind::Text2Img);
        assert_eq!(p.parameters["width"], 1024);
        assert_eq!(p.parameters["steps"], 30);
        assert_eq!(p.parameters["cfgScale"], 7.5);
        assert_eq!(p.parameters["modelName"], "stable-diffusion-xl-base-1.0");
        assert_eq!(p.negative_prompt.as_deref(), Some(""));
        assert!(p.parameters["seed"].as_i64().unwrap() >= 0, "-1 became a real seed");
        assert_eq!(p.bindings["seed"], p.parameters["seed"]);
        let v = plan(Text2Video { prompt: "cat".into(), ..Text2Video::default() }.into(), "m").unwrap();
        assert_eq!((v.parameters["totalFrames"].as_i64(), v.units), (Some(32), 4));
        assert!(v.models.contains(&("m".to_owned(), "checkpoint".to_owned())), "first frame model: {:?}", v.models);
        let i = Img2Video { image_url: Some("http://x".into()), ..Img2Video::default() };
        let i = plan(i.into(), "m").unwrap();
        assert_eq!((i.kind, i.prompt.as_deref()), (Kind::Img2Video, None));
        assert_eq!((i.parameters["cfgScale"].as_f64(), i.parameters["videoLoop"].as_bool()), (Some(2.5), Some(false)));
        assert_eq!(i.images, vec![("image".to_owned(), ImageSource::Url("http://x".into()))]);
    }

    #[test]
    fn given_values_are_used_and_prompts_trimmed() {
        let r = Text2Img {
            prompt: "  a cat ".into(),
            negative_prompt: Some(" dogs".into()),
            width: Some(64),
            seed: Some(7),
            batch_size: Some(3),
            sampler: Some("ddim".into()),
            ..Text2Img::default()
        };
        let p = plan(r.into(), "m").unwrap();
        assert_eq!((p.prompt.as_deref(), p.negative_prompt.as_deref()), (Some("a cat"), Some("dogs")));
        assert_eq!((p.parameters["width"].as_i64(), p.parameters["seed"].as_i64(), p.units), (Some(64), Some(7), 3));
        assert_eq!(p.bindings["sampler"], "ddim");
        let u = plan(
            Upscale { image_base64: Some("AAAA".into()), scale_factor: Some(4), ..Upscale::default() }.into(),
            "m",
        )
        .unwrap();
        assert_eq!(u.bindings["upscaleModel"], "RealESRGAN_x4plus.pth");
        assert_eq!(u.images, vec![("image".to_owned(), ImageSource::Base64("AAAA".into()))]);
    }

    #[test]
    fn out_of_range_values_are_refused_with_the_field_name() {
        let img2img = |strength| Img2Img {
            prompt: "x".into(),
            image_url: Some("http://x".into()),
            strength,
            ..Img2Img::default()
        };
        let pose = |control_type: Option<&str>, control_strength| Pose {
            prompt: "x".into(),
            pose_image_url: Some("http://x".into()),
            control_type: control_type.map(Into::into),
            control_strength,
            ..Pose::default()
        };
        let img2video = || Img2Video { image_url: Some("http://x".into()), ..Img2Video::default() };
        let cases: Vec<(GenerationRequest, &str)> = vec![
            (
                Text2Img { width: Some(1001), ..text2img("x") }.into(),
                "width must be a multiple of 8 between 64 and 2048",
            ),
            (Text2Img { steps: Some(0), ..text2img("x") }.into(), "steps must be between 1 and 150"),
            (Text2Img { cfg_scale: Some(99.0), ..text2img("x") }.into(), "cfgScale must be between 1 and 30"),
            (Text2Img { batch_size: Some(9), ..text2img("x") }.into(), "batchSize must be between 1 and 8"),
            (Text2Img { seed: Some(-2), ..text2img("x") }.into(), "seed must be -1 (random) or between 0 and 2^53-1"),
            (Text2Img { sampler: Some("magic".into()), ..text2img("x") }.into(), "sampler must be one of"),
            (text2img(" ").into(), "prompt is required"),
            (Text2Img { negative_prompt: Some("n".repeat(2001)), ..text2img("x") }.into(), "prompts are limited"),
            (img2img(Some(1.5)).into(), "strength must be between 0 and 1"),
            (Img2Img { prompt: "x".into(), ..Img2Img::default() }.into(), "imageBase64 or imageUrl is required"),
            (
                Img2Img { image_base64: Some("AAAA".into()), ..img2img(None) }.into(),
                "give either imageBase64 or imageUrl, not both",
            ),
            (
                Upscale { image_url: Some("http://x".into()), scale_factor: Some(3), ..Upscale::default() }.into(),
                "scaleFactor must be 2 or 4",
            ),
            (
                Upscale { image_url: Some("http://x".into()), model: Some("Other".into()), ..Upscale::default() }
                    .into(),
                "model unavailable: upscale model `Other`",
            ),
            (pose(Some("sketch"), None).into(), "controlType must be one of openpose, canny, depth"),
            (pose(None, Some(2.5)).into(), "controlStrength must be between 0 and 2"),
            (
                Pose { pose_image_url: None, pose_image_base64: Some(String::new()), ..pose(None, None) }.into(),
                "poseImageBase64 or poseImageUrl is required",
            ),
            (
                Text2Video { prompt: "x".into(), motion_bucket_id: Some(0), ..Text2Video::default() }.into(),
                "motionBucketId must be between 1 and 255",
            ),
            (Text2Video::default().into(), "prompt is required"),
            (
                Img2Video { augmentation_level: Some(2.0), ..img2video() }.into(),
                "augmentationLevel must be between 0 and 1",
            ),
            (Img2Video { fps: Some(0), ..img2video() }.into(), "fps must be between 1 and 30"),
            (Img2Video { duration: Some(11), ..img2video() }.into(), "duration must be between 1 and 10"),
        ];
        for (request, message) in cases {
            let err = error(request.clone());
            assert!(err.starts_with(message), "{request:?}: {err}");
        }
    }

    #[test]
    fn a_request_knows_its_generator() {
        let requests: [GenerationRequest; 6] = [
            Text2Img::default().into(),
            Img2Img::default().into(),
            Upscale::default().into(),
            Pose::default().into(),
            Text2Video::default().into(),
            Img2Video::default().into(),
        ];
        assert_eq!(requests.map(|r| r.kind()), Kind::ALL);
    }
}
