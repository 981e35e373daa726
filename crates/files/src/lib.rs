//! The files context: uploads and generation outputs. Bytes live in an object store
//! (`files.url`: a local directory, by default `<data_dir>/files`, or an S3 bucket) under
//! `<prefix>/<id[..2]>/<id>`; metadata (owner, name, type, size, digest, image size) lives in
//! the database. Ids are random UUIDv4s, so a file URL (`/files/<id>/<name>`) is an
//! unguessable capability that works in an `<img>` tag.

pub mod repo;
mod sniff;

pub use crate::repo::files::FileRecord;
pub use object_store;
pub use sniff::sniff_content_type;

use bytes::Bytes;
use gantry_core::{Clock, IdSource, UserId};
use gantry_store::{Db, StoreError};
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt as _, PutPayload};
use repo::files;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;

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
    objects: Arc<dyn ObjectStore>,
    /// Where the files sit inside `objects` (empty for a local directory).
    prefix: ObjectPath,
    /// The directory of a `file://` store.
    local_root: Option<std::path::PathBuf>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdSource>,
}

/// A named area of a [`FileStore`]: a directory for a `file://` store, or a prefix in its
/// object store.
pub enum Area {
    Local(std::path::PathBuf),
    Objects(Arc<dyn ObjectStore>, ObjectPath),
}

/// How long the start-up probe of the store may take (the S3 client retries a store it
/// cannot reach for minutes).
const PROBE_TIMEOUT: Duration = Duration::from_secs(30);

impl FileStore {
    /// A store at `url`: `file:///abs/path` (created when missing) or `s3://bucket/prefix`,
    /// whose endpoint and credentials come from the standard `AWS_*` variables. It writes and
    /// deletes a probe object first, so an unusable store (no such bucket, wrong credentials,
    /// a read-only directory) fails here, naming `url`, not at the first upload.
    pub async fn open(db: Db, url: &str, clock: Arc<dyn Clock>, ids: Arc<dyn IdSource>) -> std::io::Result<Self> {
        let unusable = |why: &dyn std::fmt::Display| std::io::Error::other(format!("{url}: {why}"));
        let local_root = url.strip_prefix("file://").map(std::path::PathBuf::from);
        let (objects, prefix, hint): (Arc<dyn ObjectStore>, _, _) = if let Some(root) = url.strip_prefix("file://") {
            if !root.starts_with('/') {
                return Err(unusable(&"expected file:///absolute/path"));
            }
            tokio::fs::create_dir_all(root).await.map_err(|e| unusable(&e))?;
            let local = LocalFileSystem::new_with_prefix(root).map_err(|e| unusable(&e))?;
            (Arc::new(local), ObjectPath::default(), String::new())
        } else if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(unusable(&"expected s3://bucket/prefix"));
            }
            let prefix = ObjectPath::parse(prefix.trim_end_matches('/')).map_err(|e| unusable(&e))?;
            let s3 = AmazonS3Builder::from_env().with_bucket_name(bucket).build().map_err(|e| unusable(&e))?;
            let hint = format!(
                " (does the bucket `{bucket}` exist, and do AWS_ENDPOINT_URL and the AWS credentials reach it?)"
            );
            (Arc::new(s3), prefix, hint)
        } else {
            return Err(unusable(&"expected file:///absolute/path or s3://bucket/prefix"));
        };
        let store = Self { db, objects, prefix, local_root, clock, ids };
        match tokio::time::timeout(PROBE_TIMEOUT, store.probe()).await {
            Ok(Ok(())) => Ok(store),
            Ok(Err(e)) => Err(unusable(&format!("cannot write and delete a probe object{hint}: {e}"))),
            Err(_) => Err(unusable(&format!("no answer within {} s{hint}", PROBE_TIMEOUT.as_secs()))),
        }
    }

    /// A named area of the store beside the files (e.g. the workflow file modules' sandboxes),
    /// for bytes that are not file records.
    pub fn area(&self, name: &str) -> Area {
        match &self.local_root {
            Some(root) => Area::Local(root.join(name)),
            None => Area::Objects(self.objects.clone(), self.prefix.clone().join(name)),
        }
    }

    /// Writes and deletes a small object beside the files.
    async fn probe(&self) -> object_store::Result<()> {
        let key = self.prefix.clone().join(format!(".probe-{}", self.ids.random().simple()));
        self.objects.put(&key, PutPayload::from_static(b"gantry")).await?;
        self.objects.delete(&key).await
    }

    /// The key of file `id`: `<prefix>/<id[..2]>/<id>`, as the local layout always was.
    fn key_of(&self, id: &str) -> ObjectPath {
        self.prefix.clone().join(id.get(..2).unwrap_or("00")).join(id)
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
        // One put is atomic on every store: readers see the whole object or none.
        let key = self.key_of(&record.id);
        self.objects.put(&key, PutPayload::from_bytes(new.bytes)).await.map_err(storage)?;
        if let Err(e) = files::insert(&self.db, &record).await {
            let _ = self.objects.delete(&key).await;
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
        let object = self.objects.get(&self.key_of(&record.id)).await.map_err(storage)?;
        object.bytes().await.map_err(storage)
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
        match self.objects.delete(&self.key_of(id)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(storage(e)),
        }
    }
}

/// An object store error as the context's: a missing object is [`FilesError::NotFound`], the
/// rest storage errors (which callers retry).
fn storage(e: object_store::Error) -> FilesError {
    match e {
        object_store::Error::NotFound { .. } => FilesError::NotFound,
        e => FilesError::Io(std::io::Error::other(e)),
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

    async fn local_store(url: &str) -> (gantry_testkit::ScratchDb, Db, std::io::Result<FileStore>) {
        let (scratch, db) = gantry_testkit::ScratchDb::migrated(gantry_testkit::Backend::Sqlite).await;
        let store =
            FileStore::open(db.clone(), url, Arc::new(gantry_core::SystemClock), Arc::new(gantry_core::SystemIds))
                .await;
        (scratch, db, store)
    }

    fn png() -> NewFile {
        let mut bytes = Vec::new();
        image::RgbImage::new(4, 3).write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Png).unwrap();
        NewFile { user_id: 1, kind: FileKind::Upload, filename: "a.png".into(), bytes: bytes.into(), task_id: None }
    }

    /// Every file under `dir`, relative to it.
    fn tree(dir: &std::path::Path) -> Vec<String> {
        let mut found = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(at) = stack.pop() {
            for entry in std::fs::read_dir(at).unwrap().map(Result::unwrap) {
                if entry.file_type().unwrap().is_dir() {
                    stack.push(entry.path());
                } else {
                    found.push(entry.path().strip_prefix(dir).unwrap().display().to_string());
                }
            }
        }
        found
    }

    #[tokio::test]
    async fn a_file_url_keeps_files_in_the_local_layout() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("files");
        let (_scratch, _db, store) = local_store(&format!("file://{}", root.display())).await;
        let store = store.unwrap();
        let new = png();
        let record = store.put_media(new.clone(), 1 << 20).await.unwrap();
        assert_eq!((record.width, record.height), (Some(4), Some(3)));
        let path = format!("{}/{}", &record.id[..2], record.id);
        assert_eq!(tree(&root), std::slice::from_ref(&path), "the file alone, where the local store always kept it");
        assert_eq!(std::fs::read(root.join(&path)).unwrap(), new.bytes);
        assert_eq!(store.read(&record).await.unwrap(), new.bytes);

        store.delete(&record.id, 1, false).await.unwrap();
        assert!(tree(&root).is_empty());
        assert!(matches!(store.read(&record).await, Err(FilesError::NotFound)));
        assert!(matches!(store.get(&record.id).await, Err(FilesError::NotFound)));

        // Bytes already gone: the delete still succeeds.
        let record = store.put_media(png(), 1 << 20).await.unwrap();
        std::fs::remove_file(root.join(&record.id[..2]).join(&record.id)).unwrap();
        assert!(matches!(store.read(&record).await, Err(FilesError::NotFound)));
        store.delete(&record.id, 1, false).await.unwrap();
    }

    #[tokio::test]
    async fn a_file_whose_record_cannot_be_kept_leaves_no_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let (_scratch, db, store) = local_store(&format!("file://{}", dir.path().display())).await;
        let store = store.unwrap();
        sqlx::query("DROP TABLE files").execute(db.pool()).await.unwrap();
        assert!(matches!(store.put_media(png(), 1 << 20).await, Err(FilesError::Store(_))));
        assert!(tree(dir.path()).is_empty(), "{:?}", tree(dir.path()));
    }

    #[tokio::test]
    async fn an_unusable_url_is_refused_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("plain");
        std::fs::write(&plain, b"not a directory").unwrap();
        let not_a_dir = format!("file://{}", plain.display());
        for url in ["ftp://host/files", "file://relative/files", "s3:///no-bucket", not_a_dir.as_str()] {
            let (_scratch, _db, store) = local_store(url).await;
            let error = store.err().unwrap_or_else(|| panic!("{url} was accepted")).to_string();
            assert!(error.contains(url), "{url}: {error}");
        }
    }
}
