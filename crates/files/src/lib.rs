//! The files context: uploads and generation outputs. Bytes live under
//! `<data_dir>/files/<id[..2]>/<id>`; metadata (owner, name, type, size, digest, image
//! size) lives in the database. Ids are random UUIDv4s, so a file URL
//! (`/files/<id>/<name>`) is an unguessable capability that works in an `<img>` tag.

pub mod repo;
mod sniff;

pub use crate::repo::files::FileRecord;
pub use sniff::sniff_content_type;

use bytes::Bytes;
use gantry_core::{Clock, IdSource, UserId};
use gantry_store::{Db, StoreError};
use repo::files;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What a stored file is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Upload,
    Output,
    Thumbnail,
}

impl FileKind {
    /// Storage form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Upload => "upload",
            Self::Output => "output",
            Self::Thumbnail => "thumbnail",
        }
    }
}

/// Errors of the files context.
#[derive(Debug, thiserror::Error)]
pub enum FilesError {
    #[error("file not found")]
    NotFound,
    #[error("file is larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("unsupported file type; allowed: PNG, JPEG, WebP, GIF, MP4, WebM")]
    UnsupportedType,
    #[error("file is empty")]
    Empty,
    #[error("not valid base64: {0}")]
    BadEncoding(String),
    #[error("storage error: {0}")]
    Io(#[from] std::io::Error),
    #[error("storage error: {0}")]
    Store(#[from] StoreError),
}

/// A file to store.
#[derive(Debug, Clone)]
pub struct NewFile {
    pub user_id: UserId,
    pub kind: FileKind,
    /// The client's name for it (sanitised before use).
    pub filename: String,
    pub bytes: Bytes,
    pub task_id: Option<String>,
}

/// The file store.
#[derive(Clone)]
pub struct FileStore {
    db: Db,
    root: PathBuf,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdSource>,
}

impl FileStore {
    /// A store rooted at `<data_dir>/files`.
    pub fn open(db: Db, data_dir: &Path, clock: Arc<dyn Clock>, ids: Arc<dyn IdSource>) -> std::io::Result<Self> {
        let root = data_dir.join("files");
        std::fs::create_dir_all(&root)?;
        Ok(Self { db, root, clock, ids })
    }

    fn path_of(&self, id: &str) -> PathBuf {
        self.root.join(id.get(..2).unwrap_or("00")).join(id)
    }

    /// Stores a media file (PNG, JPEG, WebP, GIF, MP4, WebM, judged by content, not by
    /// name) of at most `limit` bytes. The write is atomic: a file is either fully
    /// there with its record, or not at all.
    pub async fn put_media(&self, new: NewFile, limit: usize) -> Result<FileRecord, FilesError> {
        if new.bytes.is_empty() {
            return Err(FilesError::Empty);
        }
        if new.bytes.len() > limit {
            return Err(FilesError::TooLarge { limit });
        }
        let content_type = sniff_content_type(&new.bytes).ok_or(FilesError::UnsupportedType)?;
        let (width, height) = image_size(&new.bytes).unzip();
        let id = self.ids.random().simple().to_string();
        let record = FileRecord {
            filename: sanitize_filename(&new.filename, content_type),
            id,
            user_id: new.user_id,
            kind: new.kind.as_str().to_owned(),
            content_type: content_type.to_owned(),
            size: new.bytes.len() as i64,
            sha256: hex::encode(Sha256::digest(&new.bytes)),
            width,
            height,
            task_id: new.task_id,
            created_at: self.clock.now_ms(),
        };
        let path = self.path_of(&record.id);
        if let Some(dir) = path.parent() {
            tokio::fs::create_dir_all(dir).await?;
        }
        let partial = path.with_extension("part");
        tokio::fs::write(&partial, &new.bytes).await?;
        tokio::fs::rename(&partial, &path).await?;
        if let Err(e) = files::insert(&self.db, &record).await {
            let _ = tokio::fs::remove_file(&path).await;
            return Err(e.into());
        }
        Ok(record)
    }

    /// Stores an image sent as a base64 data URL (PNG, JPEG, WebP or GIF, at most `limit`
    /// bytes), e.g. an avatar.
    pub async fn put_image_data_url(
        &self,
        user_id: UserId,
        name: &str,
        data_url: &str,
        limit: usize,
    ) -> Result<FileRecord, FilesError> {
        let bytes = decode_data_url(data_url, limit)?;
        if !sniff_content_type(&bytes).is_some_and(|t| t.starts_with("image/")) {
            return Err(FilesError::UnsupportedType);
        }
        self.put_media(
            NewFile { user_id, kind: FileKind::Upload, filename: name.to_owned(), bytes, task_id: None },
            limit,
        )
        .await
    }

    /// A file's metadata.
    pub async fn get(&self, id: &str) -> Result<FileRecord, FilesError> {
        files::by_id(&self.db, id).await?.ok_or(FilesError::NotFound)
    }

    /// A file's bytes.
    pub async fn read(&self, record: &FileRecord) -> Result<Bytes, FilesError> {
        match tokio::fs::read(self.path_of(&record.id)).await {
            Ok(bytes) => Ok(bytes.into()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(FilesError::NotFound),
            Err(e) => Err(e.into()),
        }
    }

    /// A user's files of one kind, newest first, with the total.
    pub async fn list(
        &self,
        user_id: UserId,
        kind: FileKind,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<FileRecord>, i64), FilesError> {
        Ok(files::list_for_user(&self.db, user_id, kind.as_str(), limit.clamp(1, 1000), offset.max(0)).await?)
    }

    /// The files a task produced.
    pub async fn for_task(&self, task_id: &str) -> Result<Vec<FileRecord>, FilesError> {
        Ok(files::for_task(&self.db, task_id).await?)
    }

    /// The files several tasks produced, in one query per few hundred tasks.
    pub async fn for_tasks(&self, task_ids: &[String]) -> Result<Vec<FileRecord>, FilesError> {
        Ok(files::for_tasks(&self.db, task_ids).await?)
    }

    /// Deletes a file owned by `owner` (any file when `any_owner`). Someone else's file is
    /// reported as not found, so ids cannot be probed.
    pub async fn delete(&self, id: &str, owner: UserId, any_owner: bool) -> Result<(), FilesError> {
        let record = self.get(id).await?;
        if record.user_id != owner && !any_owner {
            return Err(FilesError::NotFound);
        }
        files::delete(&self.db, id).await?;
        match tokio::fs::remove_file(self.path_of(id)).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// Decodes a `data:<type>;base64,<payload>` URL (or bare base64) of at most `max`
/// decoded bytes, refusing oversize input before decoding it.
pub fn decode_data_url(data: &str, max: usize) -> Result<Bytes, FilesError> {
    use base64::Engine as _;
    let payload = match data.split_once(',') {
        Some((header, payload)) if header.starts_with("data:") => payload,
        _ => data,
    };
    let payload: String = payload.chars().filter(|c| !c.is_whitespace()).collect();
    if payload.len() / 4 * 3 > max + 3 {
        return Err(FilesError::TooLarge { limit: max });
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(payload.as_bytes())
        .map_err(|e| FilesError::BadEncoding(e.to_string()))?;
    if bytes.len() > max {
        return Err(FilesError::TooLarge { limit: max });
    }
    Ok(bytes.into())
}

/// The public path of a file.
pub fn url_path(record: &FileRecord) -> String {
    path_of(&record.id, &record.filename)
}

/// The public path of the file `id` named `filename`.
pub fn path_of(id: &str, filename: &str) -> String {
    format!("/files/{id}/{filename}")
}

fn image_size(bytes: &[u8]) -> Option<(i64, i64)> {
    let reader = image::ImageReader::new(std::io::Cursor::new(bytes)).with_guessed_format().ok()?;
    let (w, h) = reader.into_dimensions().ok()?;
    Some((i64::from(w), i64::from(h)))
}

/// A safe display name: the last path component, no control or reserved characters,
/// at most 100 characters, with an extension matching the content.
pub fn sanitize_filename(name: &str, content_type: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = base
        .chars()
        .filter(|c| !c.is_control() && !matches!(c, '"' | '<' | '>' | '|' | ':' | '*' | '?' | '%' | '#'))
        .take(100)
        .collect();
    let cleaned = cleaned.trim().trim_start_matches('.').to_owned();
    let ext = sniff::extension_for(content_type);
    let stem = if cleaned.is_empty() { "file".to_owned() } else { cleaned };
    let has_ext = stem.rsplit_once('.').is_some_and(|(_, e)| sniff::extension_matches(e, content_type));
    if has_ext { stem } else { format!("{stem}.{ext}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filenames_are_made_safe() {
        assert_eq!(sanitize_filename("../../etc/passwd", "image/png"), "passwd.png");
        assert_eq!(sanitize_filename("C:\\x\\cat.PNG", "image/png"), "cat.PNG");
        assert_eq!(sanitize_filename("", "image/jpeg"), "file.jpg");
        assert_eq!(sanitize_filename(".hidden", "image/webp"), "hidden.webp");
        assert_eq!(sanitize_filename("a<b>?.png", "image/png"), "ab.png");
        assert_eq!(sanitize_filename("cat.png", "image/jpeg"), "cat.png.jpg");
    }
}
