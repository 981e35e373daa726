//! The web console's files, built from `web/` and embedded at compile time (see build.rs).

/// One file of the console, with its gzip-compressed copy when it is text.
#[derive(Debug)]
pub struct Asset {
    /// Path under the console's root, such as `index.html` or `assets/main-3F2A.js`.
    pub path: &'static str,
    pub body: &'static [u8],
    pub gzip: Option<&'static [u8]>,
}

include!(concat!(env!("OUT_DIR"), "/assets.rs"));

/// The embedded file at `path` (no leading slash).
pub fn asset(path: &str) -> Option<&'static Asset> {
    ASSETS.binary_search_by(|a| a.path.cmp(path)).ok().map(|i| &ASSETS[i])
}

/// The media type of a console file, from its extension.
pub fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("woff2") => "font/woff2",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_console_is_embedded_with_its_entry_page_and_api_browser() {
        let index = asset("index.html").map(|a| String::from_utf8_lossy(a.body).into_owned()).unwrap_or_default();
        assert!(index.contains("<script type=\"module\" src=\"/assets/main-"), "index.html: {index}");
        assert!(asset("docs/index.html").is_some() && asset("docs/swagger-ui-bundle.js").is_some());
        assert!(ASSETS.windows(2).all(|w| w[0].path < w[1].path), "sorted for the lookup");
        assert!(asset("index.html").and_then(|a| a.gzip).is_some(), "text assets carry a gzip copy");
    }
}
