//! Input images: from a base64 data URL or fetched from a URL (size limit, timeout, no
//! redirects, and a guard against internal addresses), accepted only when their content
//! is JPEG, PNG or WebP.

use crate::GenerationError;
use crate::request::ImageSource;
use bytes::Bytes;
use std::time::Duration;

/// Limits on input images.
#[derive(Debug, Clone, Copy)]
pub struct ImageLimits {
    pub max_bytes: usize,
    pub allow_private: bool,
}

const ACCEPTED: [&str; 3] = ["image/jpeg", "image/png", "image/webp"];
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// The bytes and a file name of the input image `field` (`image`, `poseImage`: errors name
/// `<field>Base64` or `<field>Url`).
pub async fn load(field: &str, source: &ImageSource, limits: ImageLimits) -> Result<(Bytes, String), GenerationError> {
    let (bytes, name) = match source {
        ImageSource::Base64(data) => {
            (decode_base64(&format!("{field}Base64"), data, limits.max_bytes)?, "input".to_owned())
        }
        ImageSource::Url(url) => fetch(&format!("{field}Url"), url, limits).await?,
    };
    match gantry_files::sniff_content_type(&bytes) {
        Some(kind) if ACCEPTED.contains(&kind) => Ok((bytes, name)),
        _ => Err(GenerationError::ImageFormat),
    }
}

fn decode_base64(field: &str, data: &str, max: usize) -> Result<Bytes, GenerationError> {
    gantry_files::decode_data_url(data, max).map_err(|e| match e {
        gantry_files::FilesError::TooLarge { limit } => GenerationError::ImageTooLarge(limit),
        other => GenerationError::Invalid(format!("{field}: {other}")),
    })
}

async fn fetch(field: &str, raw: &str, limits: ImageLimits) -> Result<(Bytes, String), GenerationError> {
    let url = reqwest::Url::parse(raw).map_err(|e| GenerationError::Invalid(format!("{field} is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(GenerationError::Invalid(format!("{field} must be http or https")));
    }
    let host = url.host_str().ok_or_else(|| GenerationError::Invalid(format!("{field} has no host")))?.to_owned();
    let port = url.port_or_known_default().unwrap_or(80);
    let addrs: Vec<_> = tokio::time::timeout(FETCH_TIMEOUT, tokio::net::lookup_host((host.as_str(), port)))
        .await
        .map_err(|_| GenerationError::Invalid(format!("{field}: name lookup timed out")))?
        .map_err(|e| GenerationError::Invalid(format!("{field}: cannot resolve {host}: {e}")))?
        .collect();
    let Some(first) = addrs.first().copied() else {
        return Err(GenerationError::Invalid(format!("{field}: {host} has no address")));
    };
    if !limits.allow_private && addrs.iter().any(|a| !gantry_core::netguard::is_public(a.ip())) {
        return Err(GenerationError::Invalid(format!("{field} points to an internal address")));
    }
    // Pin the checked address so a second lookup cannot rebind the name elsewhere.
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(FETCH_TIMEOUT)
        .resolve(&host, first)
        .build()
        .map_err(|e| GenerationError::Internal(e.to_string()))?;
    let mut response = client
        .get(url.clone())
        .send()
        .await
        .map_err(|e| GenerationError::Invalid(format!("{field} could not be fetched: {e}")))?;
    if !response.status().is_success() {
        return Err(GenerationError::Invalid(format!("{field} answered {}", response.status())));
    }
    if response.content_length().is_some_and(|n| n as usize > limits.max_bytes) {
        return Err(GenerationError::ImageTooLarge(limits.max_bytes));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| GenerationError::Invalid(format!("{field}: {e}")))? {
        if body.len() + chunk.len() > limits.max_bytes {
            return Err(GenerationError::ImageTooLarge(limits.max_bytes));
        }
        body.extend_from_slice(&chunk);
    }
    let name =
        url.path_segments().and_then(|mut s| s.next_back()).filter(|s| !s.is_empty()).unwrap_or("input").to_owned();
    Ok((body.into(), name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    const PNG_1X1: &str =
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";

    #[tokio::test]
    async fn data_urls_decode_and_formats_are_judged_by_content() {
        let limits = ImageLimits { max_bytes: 1024, allow_private: false };
        let (bytes, _) =
            load("image", &ImageSource::Base64(format!("data:image/png;base64,{PNG_1X1}")), limits).await.unwrap();
        assert!(bytes.starts_with(b"\x89PNG"));
        let gif = base64::engine::general_purpose::STANDARD.encode(b"GIF89a....");
        assert!(matches!(load("image", &ImageSource::Base64(gif), limits).await, Err(GenerationError::ImageFormat)));
        let big = base64::engine::general_purpose::STANDARD.encode(vec![0u8; 4096]);
        assert!(matches!(
            load("image", &ImageSource::Base64(big), limits).await,
            Err(GenerationError::ImageTooLarge(1024))
        ));
        assert!(matches!(
            load("image", &ImageSource::Base64("***".into()), limits).await,
            Err(GenerationError::Invalid(_))
        ));
    }

    #[tokio::test]
    async fn internal_urls_are_refused() {
        let limits = ImageLimits { max_bytes: 1024, allow_private: false };
        for url in
            ["http://127.0.0.1:9/x.png", "http://[::1]/x.png", "http://169.254.169.254/latest", "ftp://example.com/x"]
        {
            assert!(
                matches!(load("image", &ImageSource::Url(url.into()), limits).await, Err(GenerationError::Invalid(_))),
                "{url}"
            );
        }
        // The error names the field the caller sent.
        let refused = load("poseImage", &ImageSource::Url("http://127.0.0.1:9/x.png".into()), limits).await;
        assert!(
            matches!(&refused, Err(GenerationError::Invalid(m)) if m == "poseImageUrl points to an internal address"),
            "{refused:?}"
        );
    }
}
