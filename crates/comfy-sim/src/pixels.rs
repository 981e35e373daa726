//! Simulated image content: a lazy description of pixels, rendered only when a file is written.
//!
//! Sampled images are a cheap deterministic pattern derived from the sampler's seed; loaded
//! images keep their real pixels, and simple image nodes (scale, invert, blur) transform them.

use std::sync::Arc;

use image::imageops::{self, FilterType};
use image::{Rgb, RgbImage};

/// What an IMAGE or LATENT batch looks like, independent of its size.
#[derive(Debug, Clone)]
pub(crate) enum Pixels {
    /// A seed-derived gradient with moving stripes (the frame index shifts the stripes).
    Pattern(u64),
    Solid([u8; 3]),
    Loaded(Arc<RgbImage>),
    Invert(Arc<Pixels>),
    Blur(Arc<Pixels>, f32),
    Blend {
        base: Arc<Pixels>,
        top: Arc<Pixels>,
        amount: f32,
    },
}

/// A batch of images (or latents, in pixel units): size, count and content.
#[derive(Debug, Clone)]
pub(crate) struct Frames {
    pub width: u32,
    pub height: u32,
    pub count: u32,
    pub pixels: Arc<Pixels>,
}

impl Frames {
    pub(crate) fn new(width: u32, height: u32, count: u32, pixels: Pixels) -> Self {
        Self { width: width.max(1), height: height.max(1), count: count.max(1), pixels: Arc::new(pixels) }
    }

    /// Same content at another size.
    pub(crate) fn resized(&self, width: u32, height: u32) -> Self {
        Self { width: width.max(1), height: height.max(1), ..self.clone() }
    }

    /// Frame `index` of the batch at the batch's size.
    pub(crate) fn render(&self, index: u32) -> RgbImage {
        self.pixels.render(self.width, self.height, index)
    }
}

/// SplitMix64: a tiny, well-mixed PRNG step used to derive colours from seeds.
pub(crate) fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn colour(seed: u64) -> [f32; 3] {
    let bits = mix(seed);
    [0, 8, 16].map(|shift| f32::from((bits >> shift) as u8))
}

impl Pixels {
    pub(crate) fn render(&self, width: u32, height: u32, frame: u32) -> RgbImage {
        match self {
            Self::Pattern(seed) => pattern(*seed, width, height, frame),
            Self::Solid(rgb) => RgbImage::from_pixel(width, height, Rgb(*rgb)),
            Self::Loaded(img) if img.width() == width && img.height() == height => (**img).clone(),
            Self::Loaded(img) => imageops::resize(&**img, width, height, FilterType::Triangle),
            Self::Invert(inner) => {
                let mut img = inner.render(width, height, frame);
                imageops::invert(&mut img);
                img
            }
            Self::Blur(inner, sigma) => imageops::fast_blur(&inner.render(width, height, frame), *sigma),
            Self::Blend { base, top, amount } => {
                let mut a = base.render(width, height, frame);
                let b = top.render(width, height, frame);
                let t = amount.clamp(0.0, 1.0);
                for (pa, pb) in a.pixels_mut().zip(b.pixels()) {
                    for c in 0..3 {
                        let v = f32::from(pa[c]) * (1.0 - t) + f32::from(pb[c]) * t;
                        pa[c] = v.round() as u8;
                    }
                }
                a
            }
        }
    }
}

fn pattern(seed: u64, width: u32, height: u32, frame: u32) -> RgbImage {
    let (from, to) = (colour(seed), colour(seed ^ 0xA5A5_A5A5));
    let angle = (mix(seed ^ 0x5151) % 7 + 2) as f32;
    let shift = frame as f32 * 0.125;
    let (w, h) = (width.max(1) as f32, height.max(1) as f32);
    RgbImage::from_fn(width, height, |x, y| {
        let (u, v) = (x as f32 / w, y as f32 / h);
        let t = (u + v) * 0.5;
        let stripe = ((u * angle + v * 3.0 + shift).fract() < 0.5) as u8 as f32;
        Rgb([0, 1, 2].map(|c| {
            let base = from[c] * (1.0 - t) + to[c] * t;
            (base * 0.8 + stripe * 40.0).min(255.0) as u8
        }))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_are_deterministic_per_seed() {
        let a = Pixels::Pattern(42).render(32, 16, 0);
        assert_eq!(a.dimensions(), (32, 16));
        assert_eq!(a, Pixels::Pattern(42).render(32, 16, 0));
        assert_ne!(a, Pixels::Pattern(43).render(32, 16, 0));
        let inverted = Pixels::Invert(Arc::new(Pixels::Pattern(42))).render(32, 16, 0);
        assert_eq!(inverted.get_pixel(3, 3)[0], 255 - a.get_pixel(3, 3)[0]);
    }
}
