//! What each node class does in the simulation: how long it works and what it produces.
//!
//! Values flowing between nodes are cheap stand-ins: models and conditionings are opaque tokens,
//! images and latents are [`Frames`] whose pixels are rendered only when an output node writes
//! a file. Classes without special behaviour produce opaque values of their declared types.

use std::path::Path;
use std::sync::Arc;

use serde_json::{Value, json};

use crate::outputs::{SaveTarget, temp_suffix, write_png};
use crate::pixels::{Frames, Pixels, mix};
use crate::pyfmt::{self, Num};
use crate::state::Sim;
use crate::webp::encode_animated;

/// ImageUpscaleWithModel's tile size and overlap, which set its progress step count.
const UPSCALE_TILE: u32 = 512;
const UPSCALE_OVERLAP: u32 = 32;

/// A value on a node output.
#[derive(Debug, Clone)]
pub(crate) enum SimValue {
    Opaque { kind: String, token: u64 },
    Frames(Frames),
    UpscaleModel { scale: u32 },
}

impl SimValue {
    /// How a Python error report would print this input (`format_value`).
    pub(crate) fn describe(&self) -> String {
        match self {
            Self::Opaque { kind, token } => {
                format!("<{kind} object at 0x7f{:010x}>", token & 0xff_ffff_ffff)
            }
            Self::Frames(f) => format!("tensor of shape [{}, {}, {}, 3]", f.count, f.height, f.width),
            Self::UpscaleModel { scale } => format!("<ImageModelDescriptor scale={scale}>"),
        }
    }
}

/// A node's resolved input.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    Literal(Value),
    Linked(SimValue),
}

/// A node's inputs by name.
#[derive(Debug, Clone, Default)]
pub(crate) struct Args(pub Vec<(String, Arg)>);

impl Args {
    fn get(&self, name: &str) -> Option<&Arg> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    fn literal(&self, name: &str) -> Option<&Value> {
        match self.get(name)? {
            Arg::Literal(v) => Some(v),
            Arg::Linked(_) => None,
        }
    }

    fn int(&self, name: &str, default: i64) -> i64 {
        self.literal(name).and_then(|v| pyfmt::to_int(v).ok()).map_or(default, |n| match n {
            Num::Int(i) => i64::try_from(i).unwrap_or(i64::MAX),
            Num::Float(f) => f as i64,
        })
    }

    fn dim(&self, name: &str, default: u32) -> u32 {
        u32::try_from(self.int(name, i64::from(default)).max(0)).unwrap_or(u32::MAX)
    }

    fn float(&self, name: &str, default: f64) -> f64 {
        self.literal(name).and_then(|v| pyfmt::to_float(v).ok()).map_or(default, Num::as_f64)
    }

    fn text(&self, name: &str, default: &str) -> String {
        self.literal(name).map_or_else(|| default.to_owned(), pyfmt::str)
    }

    fn frames(&self, name: &str) -> Option<&Frames> {
        match self.get(name)? {
            Arg::Linked(SimValue::Frames(f)) => Some(f),
            _ => None,
        }
    }

    fn first_frames(&self) -> Option<&Frames> {
        self.0.iter().find_map(|(_, a)| match a {
            Arg::Linked(SimValue::Frames(f)) => Some(f),
            _ => None,
        })
    }

    /// `current_inputs` of an error report.
    pub(crate) fn describe(&self) -> Value {
        let map = self
            .0
            .iter()
            .map(|(k, a)| {
                let shown = match a {
                    Arg::Literal(v) => v.clone(),
                    Arg::Linked(v) => Value::String(v.describe()),
                };
                (k.clone(), Value::Array(vec![shown]))
            })
            .collect();
        Value::Object(map)
    }
}

/// What a node produced: its output values and its UI output (what `executed` carries).
#[derive(Debug, Clone, Default)]
pub(crate) struct NodeOutput {
    pub values: Vec<SimValue>,
    pub ui: Option<Value>,
}

/// A Python exception raised inside a node.
#[derive(Debug, Clone)]
pub(crate) struct NodeError {
    pub exception_type: String,
    pub message: String,
}

impl NodeError {
    fn new(exception_type: &str, message: impl Into<String>) -> Self {
        Self { exception_type: exception_type.to_owned(), message: message.into() }
    }
}

/// The time-consuming part of a node, which the executor plays out before `compute`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Work {
    Instant,
    /// Load a checkpoint (slow unless it is the loaded one).
    LoadCheckpoint(String),
    /// Sampler steps; the preview size is the latent's (pixel size / 8).
    Sample {
        steps: u32,
        width: u32,
        height: u32,
    },
    /// Progress ticks of a node with a progress bar (upscaler or tiled VAE tiles); the
    /// sim waits a step's time once every `per_wait` ticks.
    Tiles {
        ticks: u32,
        per_wait: u32,
    },
}

/// `VAELoader`'s built-in VAE that works on pixels (no model file).
pub(crate) const PIXEL_SPACE: &str = "pixel_space";
/// Progress ticks of a tiled VAE node per step's wait: a 2048² image in 64-pixel tiles
/// (3,072 ticks) waits 8 times, and the time grows with the area, as on ComfyUI.
const TILED_VAE_TICKS_PER_WAIT: u32 = 384;

/// Whether the class's outputs are expensive enough to be where an injected failure fires.
pub(crate) fn is_heavy(class_type: &str) -> bool {
    matches!(
        class_type,
        "KSampler"
            | "KSamplerAdvanced"
            | "ImageUpscaleWithModel"
            | "VAEDecode"
            | "VAEEncode"
            | "VAEDecodeTiled"
            | "VAEEncodeTiled"
    )
}

/// Whether `compute` touches the disk (and should run off the async threads).
pub(crate) fn does_io(class_type: &str) -> bool {
    matches!(class_type, "SaveImage" | "PreviewImage" | "SaveAnimatedWEBP" | "LoadImage")
}

/// The slow part of running `class_type` with `args`.
pub(crate) fn work(class_type: &str, args: &Args) -> Work {
    match class_type {
        "CheckpointLoaderSimple" | "ImageOnlyCheckpointLoader" => Work::LoadCheckpoint(args.text("ckpt_name", "")),
        "KSampler" | "KSamplerAdvanced" => {
            let steps = args.int("steps", 20).max(0);
            let steps = if class_type == "KSampler" {
                if args.float("denoise", 1.0) <= 0.0 { 0 } else { steps }
            } else {
                let end = args.int("end_at_step", 10_000).min(steps);
                (end - args.int("start_at_step", 0)).max(0)
            };
            let (width, height) = args.frames("latent_image").map_or((64, 64), |f| (f.width / 8, f.height / 8));
            Work::Sample { steps: u32::try_from(steps).unwrap_or(u32::MAX), width: width.max(1), height: height.max(1) }
        }
        "ImageUpscaleWithModel" => {
            let tiles = args.frames("image").map_or(1, |f| {
                let stride = UPSCALE_TILE - UPSCALE_OVERLAP;
                f.count * f.height.div_ceil(stride) * f.width.div_ceil(stride)
            });
            Work::Tiles { ticks: tiles, per_wait: 1 }
        }
        "VAEEncodeTiled" | "VAEDecodeTiled" => {
            // ComfyUI's tiled_scale makes three passes with differently shaped tiles.
            let input = if class_type == "VAEEncodeTiled" { "pixels" } else { "samples" };
            let tile = u32::try_from(args.int("tile_size", 512).max(64)).unwrap_or(64);
            let ticks =
                args.frames(input).map_or(3, |f| 3 * f.count * f.height.div_ceil(tile) * f.width.div_ceil(tile));
            Work::Tiles { ticks, per_wait: TILED_VAE_TICKS_PER_WAIT }
        }
        _ => Work::Instant,
    }
}

/// Upscale factor from a model file name: `x4`/`4x` → 4, `x2`/`2x` → 2, otherwise 4.
pub(crate) fn upscale_factor(model_name: &str) -> u32 {
    let name = model_name.to_ascii_lowercase();
    let bytes = name.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if !b.is_ascii_digit() || b == b'0' {
            continue;
        }
        let before = i.checked_sub(1).map(|j| bytes[j]);
        let after = bytes.get(i + 1).copied();
        let isolated = |c: Option<u8>| c.is_none_or(|c| !c.is_ascii_digit());
        if (before == Some(b'x') && isolated(after)) || (after == Some(b'x') && isolated(before)) {
            return u32::from(b - b'0');
        }
    }
    4
}

/// Everything `compute` needs besides the inputs.
pub(crate) struct ComputeCtx {
    pub sim: Arc<Sim>,
    /// Hash of the node's cache signature: deterministic per graph and seed.
    pub token: u64,
    pub output_types: Vec<String>,
    /// PNG text chunks: `prompt` and the `extra_pnginfo` keys, already JSON-encoded.
    pub png_texts: Arc<Vec<(String, String)>>,
}

impl ComputeCtx {
    fn opaque(&self, slot: usize) -> SimValue {
        let kind = self.output_types.get(slot).cloned().unwrap_or_default();
        SimValue::Opaque { kind, token: mix(self.token ^ slot as u64) }
    }

    fn opaque_outputs(&self) -> Vec<SimValue> {
        (0..self.output_types.len()).map(|i| self.opaque(i)).collect()
    }
}

/// Produces a node's outputs (after its `work` has been played out).
pub(crate) fn compute(ctx: &ComputeCtx, class_type: &str, args: &Args) -> Result<NodeOutput, NodeError> {
    let frames = |f: Frames| NodeOutput { values: vec![SimValue::Frames(f)], ui: None };
    let missing = |name: &str| NodeError::new("KeyError", format!("'{name}'"));
    Ok(match class_type {
        "EmptyLatentImage" => frames(Frames::new(
            args.dim("width", 512),
            args.dim("height", 512),
            args.dim("batch_size", 1),
            Pixels::Solid([0, 0, 0]),
        )),
        "KSampler" | "KSamplerAdvanced" => {
            let latent = args.frames("latent_image").ok_or_else(|| missing("latent_image"))?;
            let denoise = if class_type == "KSampler" { args.float("denoise", 1.0) } else { 1.0 };
            let sampled = Pixels::Pattern(ctx.token);
            let pixels = if denoise >= 1.0 {
                sampled
            } else {
                Pixels::Blend { base: Arc::clone(&latent.pixels), top: Arc::new(sampled), amount: denoise as f32 }
            };
            frames(Frames::new(latent.width, latent.height, latent.count, pixels))
        }
        "VAEDecode" | "VAEDecodeTiled" => frames(args.frames("samples").ok_or_else(|| missing("samples"))?.clone()),
        "VAEEncodeTiled" => frames(args.frames("pixels").ok_or_else(|| missing("pixels"))?.clone()),
        "VAEEncode" => {
            let image = args.frames("pixels").ok_or_else(|| missing("pixels"))?;
            frames(image.resized((image.width / 8 * 8).max(8), (image.height / 8 * 8).max(8)))
        }
        "LatentUpscale" | "ImageScale" => {
            let input = if class_type == "LatentUpscale" { "samples" } else { "image" };
            let source = args.frames(input).ok_or_else(|| missing(input))?;
            let (w, h) = scaled_size(source, args.dim("width", 0), args.dim("height", 0));
            let (w, h) = if class_type == "LatentUpscale" { (w / 8 * 8, h / 8 * 8) } else { (w, h) };
            frames(source.resized(w, h))
        }
        "ImageScaleBy" => {
            let source = args.frames("image").ok_or_else(|| missing("image"))?;
            let by = args.float("scale_by", 1.0);
            let scale = |v: u32| (f64::from(v) * by).round() as u32;
            frames(source.resized(scale(source.width), scale(source.height)))
        }
        "UpscaleModelLoader" => NodeOutput {
            values: vec![SimValue::UpscaleModel { scale: upscale_factor(&args.text("model_name", "")) }],
            ui: None,
        },
        "ImageUpscaleWithModel" => {
            let image = args.frames("image").ok_or_else(|| missing("image"))?;
            let scale = match args.get("upscale_model") {
                Some(Arg::Linked(SimValue::UpscaleModel { scale })) => *scale,
                _ => 4,
            };
            frames(image.resized(image.width * scale, image.height * scale))
        }
        "EmptyImage" => {
            let color = u32::try_from(args.int("color", 0).clamp(0, 0xFF_FFFF)).unwrap_or(0);
            let rgb = [(color >> 16) as u8, (color >> 8) as u8, color as u8];
            frames(Frames::new(
                args.dim("width", 512),
                args.dim("height", 512),
                args.dim("batch_size", 1),
                Pixels::Solid(rgb),
            ))
        }
        "ImageInvert" => {
            let image = args.frames("image").ok_or_else(|| missing("image"))?;
            let pixels = Pixels::Invert(Arc::clone(&image.pixels));
            frames(Frames::new(image.width, image.height, image.count, pixels))
        }
        "ImageBlur" => {
            let image = args.frames("image").ok_or_else(|| missing("image"))?;
            let pixels = Pixels::Blur(Arc::clone(&image.pixels), args.float("sigma", 1.0) as f32);
            frames(Frames::new(image.width, image.height, image.count, pixels))
        }
        "SVD_img2vid_Conditioning" => {
            let latent = Frames::new(
                args.dim("width", 1024),
                args.dim("height", 576),
                args.dim("video_frames", 14),
                Pixels::Solid([0, 0, 0]),
            );
            NodeOutput { values: vec![ctx.opaque(0), ctx.opaque(1), SimValue::Frames(latent)], ui: None }
        }
        "LoadImage" => load_image(ctx, args)?,
        "SaveImage" => save_images(ctx, args, false)?,
        "PreviewImage" => save_images(ctx, args, true)?,
        "SaveAnimatedWEBP" => save_animated_webp(ctx, args)?,
        _ => NodeOutput {
            values: ctx
                .output_types
                .iter()
                .enumerate()
                .map(|(slot, kind)| match kind.as_str() {
                    "IMAGE" | "LATENT" => SimValue::Frames(
                        args.first_frames()
                            .cloned()
                            .unwrap_or_else(|| Frames::new(512, 512, 1, Pixels::Pattern(ctx.token))),
                    ),
                    _ => ctx.opaque(slot),
                })
                .collect(),
            ui: None,
        },
    })
    .map(|mut out| {
        if out.values.is_empty() && !ctx.output_types.is_empty() {
            out.values = ctx.opaque_outputs();
        }
        out
    })
}

/// ImageScale / LatentUpscale sizing: a 0 dimension keeps the aspect ratio.
fn scaled_size(source: &Frames, width: u32, height: u32) -> (u32, u32) {
    let aspect = |a: u32, b: u32, c: u32| ((f64::from(a) * f64::from(b)) / f64::from(c.max(1))).round() as u32;
    match (width, height) {
        (0, 0) => (source.width, source.height),
        (0, h) => (aspect(source.width, h, source.height).max(1), h),
        (w, 0) => (w, aspect(source.height, w, source.width).max(1)),
        (w, h) => (w, h),
    }
}

fn load_image(ctx: &ComputeCtx, args: &Args) -> Result<NodeOutput, NodeError> {
    let name = args.text("image", "");
    let path = ctx
        .sim
        .annotated_path(&name, "input")
        .ok_or_else(|| NodeError::new("FileNotFoundError", format!("[Errno 2] No such file or directory: '{name}'")))?;
    let bytes = std::fs::read(&path).map_err(|_| {
        NodeError::new("FileNotFoundError", format!("[Errno 2] No such file or directory: '{}'", path.display()))
    })?;
    let img = image::load_from_memory(&bytes).map_err(|_| {
        NodeError::new("PIL.UnidentifiedImageError", format!("cannot identify image file '{}'", path.display()))
    })?;
    let rgb = img.to_rgb8();
    let (w, h) = rgb.dimensions();
    let image = Frames::new(w, h, 1, Pixels::Loaded(Arc::new(rgb)));
    Ok(NodeOutput { values: vec![SimValue::Frames(image), ctx.opaque(1)], ui: None })
}

fn save_target(root: &Path, prefix: &str, frames: &Frames) -> Result<SaveTarget, NodeError> {
    SaveTarget::resolve(root, prefix, frames.width, frames.height).map_err(|e| NodeError::new("Exception", e))
}

fn file_entry(name: &str, target: &SaveTarget, kind: &str) -> Value {
    json!({"filename": name, "subfolder": target.subfolder, "type": kind})
}

fn io_error(e: impl std::fmt::Display) -> NodeError {
    NodeError::new("OSError", e.to_string())
}

fn save_images(ctx: &ComputeCtx, args: &Args, preview: bool) -> Result<NodeOutput, NodeError> {
    let images = args.frames("images").ok_or_else(|| NodeError::new("KeyError", "'images'"))?;
    let (root, kind, prefix) = if preview {
        (&ctx.sim.dirs.temp, "temp", format!("ComfyUI{}", temp_suffix()))
    } else {
        (&ctx.sim.dirs.output, "output", args.text("filename_prefix", "ComfyUI"))
    };
    let mut target = save_target(root, &prefix, images)?;
    let mut results = Vec::new();
    for index in 0..images.count {
        let base = target.filename.replace("%batch_num%", &index.to_string());
        let name = format!("{base}_{:05}_.png", target.counter);
        target.counter += 1;
        write_png(&target.folder.join(&name), &images.render(index), &ctx.png_texts).map_err(io_error)?;
        results.push(file_entry(&name, &target, kind));
    }
    Ok(NodeOutput { values: Vec::new(), ui: Some(json!({"images": results})) })
}

fn save_animated_webp(ctx: &ComputeCtx, args: &Args) -> Result<NodeOutput, NodeError> {
    let images = args.frames("images").ok_or_else(|| NodeError::new("KeyError", "'images'"))?;
    let fps = args.float("fps", 6.0).max(0.01);
    let mut target = save_target(&ctx.sim.dirs.output, &args.text("filename_prefix", "ComfyUI"), images)?;
    let frames: Vec<_> = (0..images.count).map(|i| images.render(i)).collect();
    let bytes = encode_animated(&frames, (1000.0 / fps) as u32).map_err(io_error)?;
    let name = target.next_file("webp");
    std::fs::write(target.folder.join(&name), bytes).map_err(io_error)?;
    Ok(NodeOutput {
        values: Vec::new(),
        ui: Some(json!({"images": [file_entry(&name, &target, "output")], "animated": [true]})),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_upscale_factor_from_model_names() {
        assert_eq!(upscale_factor("RealESRGAN_x4plus.pth"), 4);
        assert_eq!(upscale_factor("RealESRGAN_x2plus.pth"), 2);
        assert_eq!(upscale_factor("2x-AnimeSharp.pth"), 2);
        assert_eq!(upscale_factor("4x-UltraSharp.pth"), 4);
        assert_eq!(upscale_factor("model_v10.pth"), 4);
    }

    #[test]
    fn sampler_work_follows_steps_and_latent_size() {
        let latent = SimValue::Frames(Frames::new(512, 256, 1, Pixels::Solid([0; 3])));
        let args = Args(vec![("steps".into(), Arg::Literal(json!(7))), ("latent_image".into(), Arg::Linked(latent))]);
        assert_eq!(work("KSampler", &args), Work::Sample { steps: 7, width: 64, height: 32 });
    }
}
