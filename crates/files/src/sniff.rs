//! Content types from magic bytes. Names and client-declared types are not trusted.

/// The media type of `bytes`, for the formats Gantry accepts.
pub fn sniff_content_type(bytes: &[u8]) -> Option<&'static str> {
    match bytes {
        [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, ..] => Some("image/png"),
        [0xFF, 0xD8, 0xFF, ..] => Some("image/jpeg"),
        [b'R', b'I', b'F', b'F', _, _, _, _, b'W', b'E', b'B', b'P', ..] => Some("image/webp"),
        [b'G', b'I', b'F', b'8', b'7' | b'9', b'a', ..] => Some("image/gif"),
        [_, _, _, _, b'f', b't', b'y', b'p', ..] => Some("video/mp4"),
        [0x1A, 0x45, 0xDF, 0xA3, ..] => Some("video/webm"),
        _ => None,
    }
}

/// The usual extension of a content type.
pub fn extension_for(content_type: &str) -> &'static str {
    match content_type {
        "image/png" => "png",
        "image/jpeg" => "jpg",
        "image/webp" => "webp",
        "image/gif" => "gif",
        "video/mp4" => "mp4",
        "video/webm" => "webm",
        _ => "bin",
    }
}

/// Whether `ext` is an acceptable extension for `content_type`.
pub fn extension_matches(ext: &str, content_type: &str) -> bool {
    let ext = ext.to_ascii_lowercase();
    ext == extension_for(content_type) || (content_type == "image/jpeg" && ext == "jpeg")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_accepted_formats_by_content() {
        assert_eq!(sniff_content_type(b"\x89PNG\r\n\x1a\n...."), Some("image/png"));
        assert_eq!(sniff_content_type(b"\xff\xd8\xff\xe0"), Some("image/jpeg"));
        assert_eq!(sniff_content_type(b"RIFF\0\0\0\0WEBPVP8L"), Some("image/webp"));
        assert_eq!(sniff_content_type(b"GIF89a"), Some("image/gif"));
        assert_eq!(sniff_content_type(b"\0\0\0\x18ftypmp42"), Some("video/mp4"));
        assert_eq!(sniff_content_type(b"<html>"), None);
        assert_eq!(sniff_content_type(b"RIFF\0\0\0\0WAVE"), None);
    }
}
