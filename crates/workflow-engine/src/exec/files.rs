//! File modules confined to the host's sandbox directory.
//!
//! Paths must be relative and free of `..`; every existing part is canonicalised and must
//! stay inside the sandbox, so symlinks cannot lead out of it.

use std::path::{Component, Path, PathBuf};

use serde_json::{Map, Value, json};
use tokio::io::AsyncWriteExt;

use super::plan::Inputs;

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
pub(crate) async fn read(root: &Path, inputs: &Inputs<'_>) -> Result<Map<String, Value>, String> {
    let rel = inputs.required_text("path")?;
    let path = existing(root, &rel).await?;
    let meta = tokio::fs::metadata(&path).await.map_err(|e| format!("`{rel}`: {e}"))?;
    if !meta.is_file() {
        return Err(format!("`{rel}` is not a file"));
    }
    if meta.len() > MAX_READ_BYTES {
        return Err(format!("`{rel}` is larger than {MAX_READ_BYTES} bytes"));
    }
    let bytes = tokio::fs::read(&path).await.map_err(|e| format!("`{rel}`: {e}"))?;
    let mut out = Map::new();
    out.insert("size".into(), Value::from(bytes.len()));
    out.insert("content".into(), Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    Ok(out)
}

/// `file_write`: writes or appends `content`; outputs `path` and the new `size`.
pub(crate) async fn write(root: &Path, inputs: &Inputs<'_>) -> Result<Map<String, Value>, String> {
    let rel = inputs.required_text("path")?.into_owned();
    let content = inputs.text("content").into_owned();
    let append = inputs.flag("append", false);
    let path = writable(root, &rel).await?;
    let mut file = tokio::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .append(append)
        .truncate(!append)
        .open(&path)
        .await
        .map_err(|e| format!("`{rel}`: {e}"))?;
    file.write_all(content.as_bytes()).await.map_err(|e| format!("`{rel}`: {e}"))?;
    file.flush().await.map_err(|e| format!("`{rel}`: {e}"))?;
    let size = file.metadata().await.map_err(|e| format!("`{rel}`: {e}"))?.len();
    let mut out = Map::new();
    out.insert("path".into(), Value::String(rel));
    out.insert("size".into(), Value::from(size));
    Ok(out)
}

/// `file_list`: `files` as `{name, isDir, size}` sorted by name, and `count`.
pub(crate) async fn list(root: &Path, inputs: &Inputs<'_>) -> Result<Map<String, Value>, String> {
    let rel = inputs.text("path");
    let rel = if rel.is_empty() { "." } else { rel.as_ref() };
    let dir = existing(root, rel).await?;
    let mut entries = tokio::fs::read_dir(&dir).await.map_err(|e| format!("`{rel}`: {e}"))?;
    let mut files = Vec::new();
    while let Some(entry) = entries.next_entry().await.map_err(|e| format!("`{rel}`: {e}"))? {
        if files.len() >= MAX_LIST_ENTRIES {
            break;
        }
        let meta = entry.metadata().await.ok();
        files.push(json!({
            "name": entry.file_name().to_string_lossy(),
            "isDir": meta.as_ref().is_some_and(|m| m.is_dir()),
            "size": meta.as_ref().map_or(0, |m| m.len()),
        }));
    }
    files.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    let mut out = Map::new();
    out.insert("count".into(), Value::from(files.len()));
    out.insert("files".into(), Value::Array(files));
    Ok(out)
}
