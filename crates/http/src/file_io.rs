//! Files over HTTP, for every dialect that takes or serves them: reading a multipart upload
//! (one file part, read up to a size limit, and the form's text fields) and answering with a
//! stored file.

use crate::error::{ApiError, ErrorKind};
use axum::extract::Multipart;
use axum::extract::multipart::{MultipartError, MultipartRejection};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use gantry_files::FileRecord;
use std::collections::HashMap;

/// A read form.
pub struct Form {
    /// The file part's name and bytes, if the form had one.
    pub file: Option<(String, Bytes)>,
    /// The text fields, by name (the first of each).
    pub fields: HashMap<String, String>,
}

/// Reads a multipart form whose file is the part named `file_field`, refusing a file over
/// `limit` bytes as soon as it grows past it.
pub async fn read(
    form: Result<Multipart, MultipartRejection>,
    file_field: &str,
    limit: usize,
) -> Result<Form, ApiError> {
    let mut form = form.map_err(|e| {
        ApiError::new(ErrorKind::UnsupportedMedia, format!("expected multipart/form-data: {}", e.body_text()))
    })?;
    let too_large = || ApiError::new(ErrorKind::PayloadTooLarge, format!("file is larger than {limit} bytes"));
    let bad_form = |e: MultipartError| {
        if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            too_large()
        } else {
            ApiError::bad_request(format!("invalid multipart body: {}", e.body_text()))
        }
    };
    let mut read = Form { file: None, fields: HashMap::new() };
    while let Some(mut field) = form.next_field().await.map_err(bad_form)? {
        let name = field.name().unwrap_or_default().to_owned();
        if name == file_field && read.file.is_none() {
            let filename = field.file_name().unwrap_or("upload").to_owned();
            let mut bytes = Vec::new();
            while let Some(chunk) = field.chunk().await.map_err(bad_form)? {
                if bytes.len() + chunk.len() > limit {
                    return Err(too_large());
                }
                bytes.extend_from_slice(&chunk);
            }
            read.file = Some((filename, bytes.into()));
        } else if field.file_name().is_none() && !read.fields.contains_key(&name) {
            let text = field.text().await.map_err(bad_form)?;
            read.fields.insert(name, text.chars().take(1024).collect());
        }
    }
    Ok(read)
}

/// A stored file's bytes as an answer: its content type, cacheable for good (a file never
/// changes), never sniffed into something else.
pub fn serve(record: &FileRecord, bytes: Bytes) -> Response {
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&record.content_type) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=31536000, immutable"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}
