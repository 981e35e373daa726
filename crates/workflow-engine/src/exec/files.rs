//! File modules confined to the host's sandbox: a local directory ([`LocalSandbox`]) or any
//! store the host provides through [`Sandbox`].
//!
//! Paths must be relative and free of `..`; in a local directory every existing part is
//! canonicalised and must stay inside the sandbox, so symlinks cannot lead out of it.

use std::path::{Component, Path, PathBuf};

use serde_json::{Map, Value, json};
use tokio::io::AsyncWriteExt;

use super::host::BoxFuture;
use super::plan::Inputs;

/// One entry of a sandbox directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxEntry {
    pub name: String,
    pub is_dir: bool,
    pub size: u64,
}

/// Where the file modules keep a user's files. The paths it is given are relative, without
/// `..` (checked before); errors are messages for the run's log.
pub trait Sandbox: Send + Sync {
    /// A file's bytes; refused when it is larger than `max` bytes.
    fn read<'a>(&'a self, rel: &'a str, max: u64) -> BoxFuture<'a, Result<Vec<u8>, String>>;
    /// Writes `content` to a file (after what it holds, with `append`); its new size.
    fn write<'a>(&'a self, rel: &'a str, content: &'a [u8], append: bool) -> BoxFuture<'a, Result<u64, String>>;
    /// The entries of a directory (`.`: the top), at most `max` of them.
    fn list<'a>(&'a self, rel: &'a str, max: usize) -> BoxFuture<'a, Result<Vec<SandboxEntry>, String>>;
}

/// A sandbox in a local directory (created when missing).
#[derive(Debug, Clone)]
pub struct LocalSandbox(pub PathBuf);

impl Sandbox for LocalSandbox {
    fn read<'a>(&'a self, rel: &'a str, max: u64) -> BoxFuture<'a, Result<Vec<u8>, String>> {
        Box::pin(async move {
            let path = existing(&self.0, rel).await?;
            let meta = tokio::fs::metadata(&path).await.map_err(|e| format!("`{rel}`: {e}"))?;
            if !meta.is_file() {
                return Err(format!("`{rel}` is not a file"));
            }
            if meta.len() > max {
                return Err(format!("`{rel}` is larger than {max} bytes"));
            }
            tokio::fs::read(&path).await.map_err(|e| format!("`{rel}`: {e}"))
        })
    }

    fn write<'a>(&'a self, rel: &'a str, content: &'a [u8], append: bool) -> BoxFuture<'a, Result<u64, String>> {
        Box::pin(async move {
            let path = writable(&self.0, rel).await?;
            let mut file = tokio::fs::OpenOptions::new()
                .create(true)
                .write(true)
                .append(append)
                .truncate(!append)
                .open(&path)
                .await
                .map_err(|e| format!("`{rel}`: {e}"))?;
            file.write_all(content).await.map_err(|e| format!("`{rel}`: {e}"))?;
            file.flush().await.map_err(|e| format!("`{rel}`: {e}"))?;
            Ok(file.metadata().await.map_err(|e| format!("`{rel}`: {e}"))?.len())
        })
    }

    fn list<'a>(&'a self, rel: &'a str, max: usize) -> BoxFuture<'a, Result<Vec<SandboxEntry>, String>> {
        Box::pin(async move {
            let dir = existing(&self.0, rel).await?;
            let mut entries = tokio::fs::read_dir(&dir).await.map_err(|e| format!("`{rel}`: {e}"))?;
            let mut found = Vec::new();
            while let Some(entry) = entries.next_entry().await.map_err(|e| format!("`{rel}`: {e}"))? {
                if found.len() >= max {
                    break;
                }
                let meta = entry.metadata().await.ok();
                found.push(SandboxEntry {
                    name: entry.file_name().to_string_lossy().into_owned(),
                    is_dir: meta.as_ref().is_some_and(std::fs::Metadata::is_dir),
                    size: meta.as_ref().map_or(0, std::fs::Metadata::len),
                });
            }
            Ok(found)
        })
    }
}

/// Largest file `file_read` returns, and most entries `file_list` returns.
pub(crate) const MAX_READ_BYTES: u64 = 10 << 20;
const MAX_LIST_ENTRIES: usize = 10_000;

fn relative(rel: &str) -> Result<&Path, String> {
    let path = Path::new(rel);
    if rel.contains('\0') {
        return Err("path contains a NUL byte".into());
    }
    for c in path.components() {
        match c {
            Component::Normal(_) | Component::CurDir => {}
            Component::ParentDir => return Err(format!("`..` is not allowed in `{rel}`")),
            Component::RootDir | Component::Prefix(_) => return Err(format!("`{rel}` must be a relative path")),
        }
    }
    Ok(path)
}

async fn canonical_root(root: &Path) -> Result<PathBuf, String> {
    tokio::fs::create_dir_all(root).await.map_err(|e| format!("sandbox directory unavailable: {e}"))?;
    tokio::fs::canonicalize(root).await.map_err(|e| format!("sandbox directory unavailable: {e}"))
}

async fn inside(root: &Path, path: &Path, rel: &str) -> Result<PathBuf, String> {
    let real = tokio::fs::canonicalize(path).await.map_err(|e| format!("`{rel}`: {e}"))?;
    if real.starts_with(root) { Ok(real) } else { Err(format!("`{rel}` leads outside the sandbox")) }
}

/// An existing path inside the sandbox.
async fn existing(root: &Path, rel: &str) -> Result<PathBuf, String> {
    let root = canonical_root(root).await?;
    let joined = root.join(relative(rel)?);
    inside(&root, &joined, rel).await
}

/// A path to write: existing parts are checked, missing directories created.
async fn writable(root: &Path, rel: &str) -> Result<PathBuf, String> {
    let root = canonical_root(root).await?;
    let rel_path = relative(rel)?;
    if rel_path.file_name().is_none() {
        return Err(format!("`{rel}` does not name a file"));
    }
    let joined = root.join(rel_path);
    if tokio::fs::symlink_metadata(&joined).await.is_ok() {
        return inside(&root, &joined, rel).await;
    }
    let mut ancestor = joined.parent().map(Path::to_path_buf).unwrap_or_else(|| root.clone());
    while tokio::fs::symlink_metadata(&ancestor).await.is_err() {
        match ancestor.parent() {
            Some(p) => ancestor = p.to_path_buf(),
            None => break,
        }
    }
    inside(&root, &ancestor, rel).await?;
    if let Some(parent) = joined.parent() {
        tokio::fs::create_dir_all(parent).await.map_err(|e| format!("`{rel}`: {e}"))?;
        inside(&root, parent, rel).await?;
    }
    Ok(joined)
}

/// `file_read`: `content` (UTF-8, lossy) and `size`.
pub(crate) async fn read(sandbox: &dyn Sandbox, inputs: &Inputs<'_>) -> Result<Map<String, Value>, String> {
    let rel = inputs.required_text("path")?;
    relative(&rel)?;
    let bytes = sandbox.read(&rel, MAX_READ_BYTES).await?;
    let mut out = Map::new();
    out.insert("size".into(), Value::from(bytes.len()));
    out.insert("content".into(), Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    Ok(out)
}

/// `file_write`: writes or appends `content`; outputs `path` and the new `size`.
pub(crate) async fn write(sandbox: &dyn Sandbox, inputs: &Inputs<'_>) -> Result<Map<String, Value>, String> {
    let rel = inputs.required_text("path")?.into_owned();
    if relative(&rel)?.file_name().is_none() {
        return Err(format!("`{rel}` does not name a file"));
    }
    let content = inputs.text("content").into_owned();
    let size = sandbox.write(&rel, content.as_bytes(), inputs.flag("append", false)).await?;
    let mut out = Map::new();
    out.insert("path".into(), Value::String(rel));
    out.insert("size".into(), Value::from(size));
    Ok(out)
}

/// `file_list`: `files` as `{name, isDir, size}` sorted by name, and `count`.
pub(crate) async fn list(sandbox: &dyn Sandbox, inputs: &Inputs<'_>) -> Result<Map<String, Value>, String> {
    let rel = inputs.text("path");
    let rel = if rel.is_empty() { "." } else { rel.as_ref() };
    relative(rel)?;
    let mut entries = sandbox.list(rel, MAX_LIST_ENTRIES).await?;
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    let files: Vec<Value> =
        entries.into_iter().map(|e| json!({"name": e.name, "isDir": e.is_dir, "size": e.size})).collect();
    let mut out = Map::new();
    out.insert("count".into(), Value::from(files.len()));
    out.insert("files".into(), Value::Array(files));
    Ok(out)
}
