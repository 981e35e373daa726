//! Animated WebP writing.
//!
//! The `image` crate only encodes single lossless frames, so each frame is encoded alone and its
//! `VP8L` chunk is wrapped in an `ANMF` chunk of an extended (`VP8X`) container with an `ANIM`
//! header, as the WebP container specification describes.

use image::codecs::webp::WebPEncoder;
use image::{ExtendedColorType, ImageError, RgbImage};

/// Why an animation could not be written.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WebpError {
    #[error("no frames to encode")]
    Empty,
    #[error("frames differ in size")]
    MixedSizes,
    #[error("frame too large for WebP")]
    TooLarge,
    #[error("encoding a frame failed: {0}")]
    Encode(#[from] ImageError),
    #[error("encoder produced no VP8L chunk")]
    MissingBitstream,
}

/// Encodes `frames` as a looping animated WebP, each frame shown for `duration_ms`.
pub(crate) fn encode_animated(frames: &[RgbImage], duration_ms: u32) -> Result<Vec<u8>, WebpError> {
    let first = frames.first().ok_or(WebpError::Empty)?;
    let (width, height) = first.dimensions();
    if frames.iter().any(|f| f.dimensions() != (width, height)) {
        return Err(WebpError::MixedSizes);
    }
    if width > 1 << 24 || height > 1 << 24 || width == 0 || height == 0 {
        return Err(WebpError::TooLarge);
    }

    let mut body = Vec::new();
    let mut vp8x = vec![0x02, 0, 0, 0]; // flags: animation
    vp8x.extend_from_slice(&u24(width - 1));
    vp8x.extend_from_slice(&u24(height - 1));
    push_chunk(&mut body, b"VP8X", &vp8x);

    let mut anim = vec![0xFF, 0xFF, 0xFF, 0xFF]; // background colour (BGRA)
    anim.extend_from_slice(&0u16.to_le_bytes()); // loop forever
    push_chunk(&mut body, b"ANIM", &anim);

    let duration = u24(duration_ms.min((1 << 24) - 1));
    for frame in frames {
        let bitstream = lossless_bitstream(frame)?;
        let mut anmf = Vec::with_capacity(bitstream.len() + 24);
        anmf.extend_from_slice(&u24(0)); // x offset / 2
        anmf.extend_from_slice(&u24(0)); // y offset / 2
        anmf.extend_from_slice(&u24(width - 1));
        anmf.extend_from_slice(&u24(height - 1));
        anmf.extend_from_slice(&duration);
        anmf.push(0x02); // do not blend, no disposal
        push_chunk(&mut anmf, b"VP8L", &bitstream);
        push_chunk(&mut body, b"ANMF", &anmf);
    }

    let mut out = Vec::with_capacity(body.len() + 12);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&((body.len() + 4) as u32).to_le_bytes());
    out.extend_from_slice(b"WEBP");
    out.extend_from_slice(&body);
    Ok(out)
}

/// The `VP8L` payload of a single-frame lossless encode.
fn lossless_bitstream(frame: &RgbImage) -> Result<Vec<u8>, WebpError> {
    let mut file = Vec::new();
    WebPEncoder::new_lossless(&mut file).encode(
        frame.as_raw(),
        frame.width(),
        frame.height(),
        ExtendedColorType::Rgb8,
    )?;
    let mut pos = 12; // "RIFF" size "WEBP"
    while pos + 8 <= file.len() {
        let id = &file[pos..pos + 4];
        let size = u32::from_le_bytes([file[pos + 4], file[pos + 5], file[pos + 6], file[pos + 7]]) as usize;
        let start = pos + 8;
        let end = start.saturating_add(size).min(file.len());
        if id == b"VP8L" {
            return Ok(file[start..end].to_vec());
        }
        pos = end + (size & 1);
    }
    Err(WebpError::MissingBitstream)
}

fn push_chunk(out: &mut Vec<u8>, id: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(id);
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(data);
    if data.len() % 2 == 1 {
        out.push(0);
    }
}

fn u24(v: u32) -> [u8; 3] {
    let b = v.to_le_bytes();
    [b[0], b[1], b[2]]
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::AnimationDecoder;
    use image::codecs::webp::WebPDecoder;
    use std::io::Cursor;

    #[test]
    fn animation_decodes_with_every_frame() {
        let frames: Vec<RgbImage> =
            (0..3u8).map(|i| RgbImage::from_pixel(5, 3, image::Rgb([i * 80, 10, 200]))).collect();
        let bytes = encode_animated(&frames, 100).unwrap();
        let decoder = WebPDecoder::new(Cursor::new(bytes)).unwrap();
        assert!(decoder.has_animation());
        let decoded = decoder.into_frames().collect_frames().unwrap();
        assert_eq!(decoded.len(), 3);
        assert_eq!(decoded[2].buffer().dimensions(), (5, 3));
        assert_eq!(decoded[1].buffer().get_pixel(0, 0)[0], 80);
        assert_eq!(decoded[1].delay().numer_denom_ms(), (100, 1));
    }
}
