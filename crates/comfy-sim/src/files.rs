//! `GET /view` and `POST /upload/image`.

use std::collections::HashMap;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::{Multipart, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use image::ImageFormat;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::outputs::normalize;
use crate::routes::{empty, json_response, server_error};
use crate::state::{Sim, lock, split_annotation};

/// Content type by extension, as Python's `mimetypes` would guess it; active content is
/// forced to `application/octet-stream`.
fn content_type(name: &str) -> &'static str {
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    match ext.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "gif" => "image/gif",
        "bmp" => "image/bmp",
        "tif" | "tiff" => "image/tiff",
        "mp4" => "video/mp4",
        "webm" => "video/webm",
        "mov" => "video/quicktime",
        "wav" => "audio/x-wav",
        "mp3" => "audio/mpeg",
        "flac" => "audio/flac",
        "json" => "application/json",
        "txt" => "text/plain",
        _ => "application/octet-stream",
    }
}

fn with_headers(body: Vec<u8>, kind: &str, filename: &str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(kind) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    let escaped = filename.replace('\\', "\\\\").replace('"', "\\\"");
    if let Ok(v) = HeaderValue::from_str(&format!("filename=\"{escaped}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    response
}

/// `GET /view?filename=&subfolder=&type=[&preview=jpeg;90][&channel=rgb|a]`.
pub(crate) async fn view(State(sim): State<Arc<Sim>>, Query(query): Query<HashMap<String, String>>) -> Response {
    if lock(&sim.knobs).fail_view {
        return server_error();
    }
    let Some(requested) = query.get("filename") else {
        return empty(StatusCode::NOT_FOUND);
    };
    let (filename, annotated) = split_annotation(requested);
    if filename.is_empty() {
        return empty(StatusCode::BAD_REQUEST);
    }
    if filename.starts_with('/') || filename.contains("..") {
        return empty(StatusCode::BAD_REQUEST);
    }
    let kind = annotated.unwrap_or_else(|| query.get("type").map_or("output", String::as_str));
    let Some(root) = sim.dir_by_type(kind) else {
        return empty(StatusCode::BAD_REQUEST);
    };
    let mut dir = root.to_path_buf();
    if let Some(subfolder) = query.get("subfolder") {
        let full = normalize(&root.join(subfolder));
        if !full.starts_with(root) {
            return empty(StatusCode::FORBIDDEN);
        }
        dir = full;
    }
    let Some(base) = Path::new(filename).file_name().map(|b| b.to_string_lossy().into_owned()) else {
        return empty(StatusCode::NOT_FOUND);
    };
    let file = dir.join(&base);
    let Ok(bytes) = tokio::fs::read(&file).await else {
        return empty(StatusCode::NOT_FOUND);
    };
    let channel = query.get("channel").map(String::as_str);
    if let Some(preview) = query.get("preview") {
        return reencode_preview(bytes, preview, channel, &base);
    }
    match channel {
        Some("rgb") | Some("a") => reencode_channel(bytes, channel == Some("a"), &base),
        _ => with_headers(bytes, content_type(&base), &base),
    }
}

/// `preview=webp;90` / `jpeg;85`: a re-encoded copy (WebP is lossless here).
fn reencode_preview(bytes: Vec<u8>, spec: &str, channel: Option<&str>, name: &str) -> Response {
    let Ok(img) = image::load_from_memory(&bytes) else {
        return server_error();
    };
    let mut parts = spec.split(';');
    let wanted = parts.next().unwrap_or("");
    let quality = parts.next_back().and_then(|q| q.parse::<u8>().ok()).unwrap_or(90);
    let jpeg = wanted == "jpeg" && !channel.unwrap_or("").contains('a');
    let mut out = Cursor::new(Vec::new());
    let encoded = if jpeg {
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality).encode_image(&img.to_rgb8())
    } else {
        img.to_rgba8().write_to(&mut out, ImageFormat::WebP)
    };
    if encoded.is_err() {
        return server_error();
    }
    let kind = if jpeg { "image/jpeg" } else { "image/webp" };
    with_headers(out.into_inner(), kind, name)
}

/// `channel=rgb` (alpha dropped) or `channel=a` (alpha only), as PNG.
fn reencode_channel(bytes: Vec<u8>, alpha_only: bool, name: &str) -> Response {
    let Ok(img) = image::load_from_memory(&bytes) else {
        return server_error();
    };
    let out_img = if alpha_only {
        let rgba = img.to_rgba8();
        let alpha = image::RgbaImage::from_fn(rgba.width(), rgba.height(), |x, y| {
            image::Rgba([0, 0, 0, rgba.get_pixel(x, y)[3]])
        });
        image::DynamicImage::ImageRgba8(alpha)
    } else {
        image::DynamicImage::ImageRgb8(img.to_rgb8())
    };
    let mut out = Cursor::new(Vec::new());
    if out_img.write_to(&mut out, ImageFormat::Png).is_err() {
        return server_error();
    }
    with_headers(out.into_inner(), "image/png", name)
}

/// Python's `os.path.splitext`.
fn split_ext(name: &str) -> (&str, &str) {
    match name.rfind('.') {
        Some(i) if name[..i].chars().any(|c| c != '.') => name.split_at(i),
        _ => (name, ""),
    }
}

/// The upload's fields.
#[derive(Default)]
struct UploadForm {
    image: Option<(String, Vec<u8>)>,
    overwrite: Option<String>,
    subfolder: String,
    kind: Option<String>,
}

async fn read_form(mut multipart: Multipart) -> Result<UploadForm, StatusCode> {
    let mut form = UploadForm::default();
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(e) => return Err(e.status()),
        };
        let name = field.name().unwrap_or("").to_owned();
        let filename = field.file_name().map(str::to_owned);
        let data = field.bytes().await.map_err(|e| e.status())?;
        let text = || String::from_utf8_lossy(&data).into_owned();
        match name.as_str() {
            "image" => form.image = filename.map(|f| (f, data.to_vec())),
            "overwrite" => form.overwrite = Some(text()),
            "subfolder" => form.subfolder = text(),
            "type" => form.kind = Some(text()),
            _ => {}
        }
    }
    Ok(form)
}

/// `POST /upload/image` (multipart `image`, `overwrite`, `subfolder`, `type`).
pub(crate) async fn upload_image(State(sim): State<Arc<Sim>>, multipart: Multipart) -> Response {
    let form = match read_form(multipart).await {
        Ok(form) => form,
        Err(status) => return empty(status),
    };
    let kind = form.kind.clone().unwrap_or_else(|| "input".to_owned());
    let Some(root) = sim.dir_by_type(&kind).map(Path::to_path_buf) else {
        // ComfyUI hits an unbound local for an unknown type.
        return server_error();
    };
    let Some((original, data)) = form.image else {
        return empty(StatusCode::BAD_REQUEST);
    };
    if original.is_empty() {
        return empty(StatusCode::BAD_REQUEST);
    }
    let folder = normalize(&root.join(normalize(Path::new(&form.subfolder))));
    let mut path = normalize(&folder.join(&original));
    if !path.starts_with(&root) {
        return empty(StatusCode::BAD_REQUEST);
    }
    let saved = tokio::task::spawn_blocking(move || {
        store_upload(&folder, &mut path, &original, &data, form.overwrite.as_deref())
    })
    .await;
    match saved {
        Ok(Ok(name)) => {
            json_response(StatusCode::OK, &json!({"name": name, "subfolder": form.subfolder, "type": kind}))
        }
        _ => server_error(),
    }
}

/// Writes the upload, renaming to `name (n).ext` when a different file already has the name
/// (identical content reuses the existing name). Returns the stored name.
fn store_upload(
    folder: &Path,
    path: &mut PathBuf,
    original: &str,
    data: &[u8],
    overwrite: Option<&str>,
) -> std::io::Result<String> {
    std::fs::create_dir_all(path.parent().unwrap_or(folder))?;
    let mut name = original.to_owned();
    let mut duplicate = false;
    if !matches!(overwrite, Some("true") | Some("1")) {
        let (stem, ext) = split_ext(&name);
        let (stem, ext) = (stem.to_owned(), ext.to_owned());
        let incoming = Sha256::digest(data);
        let mut i = 1;
        while path.exists() {
            if std::fs::read(&*path).is_ok_and(|existing| Sha256::digest(existing) == incoming) {
                duplicate = true;
                break;
            }
            name = format!("{stem} ({i}){ext}");
            *path = folder.join(&name);
            i += 1;
        }
    }
    if !duplicate {
        std::fs::write(&*path, data)?;
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_extensions_like_python() {
        assert_eq!(split_ext("a.tar.gz"), ("a.tar", ".gz"));
        assert_eq!(split_ext(".bashrc"), (".bashrc", ""));
        assert_eq!(split_ext("noext"), ("noext", ""));
    }

    #[test]
    fn renames_different_content_and_reuses_identical() {
        let dir = tempfile::tempdir().unwrap();
        let mut path = dir.path().join("a.png");
        assert_eq!(store_upload(dir.path(), &mut path, "a.png", b"one", None).unwrap(), "a.png");
        let mut path = dir.path().join("a.png");
        assert_eq!(store_upload(dir.path(), &mut path, "a.png", b"one", None).unwrap(), "a.png");
        let mut path = dir.path().join("a.png");
        assert_eq!(store_upload(dir.path(), &mut path, "a.png", b"two", None).unwrap(), "a (1).png");
        let mut path = dir.path().join("a.png");
        assert_eq!(store_upload(dir.path(), &mut path, "a.png", b"three", Some("true")).unwrap(), "a.png");
    }
}
