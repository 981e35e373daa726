//! The workflow file modules' sandboxes: one per user, in the file store's `workflow-files`
//! area, so a workflow reads what another wrote whichever gateway runs it (a directory for a
//! `file://` store, a prefix of the bucket for an S3 one).

use gantry_core::UserId;
use gantry_files::Area;
use gantry_files::object_store::path::Path as ObjectPath;
use gantry_files::object_store::{self, ObjectStore, ObjectStoreExt as _, PutPayload};
use gantry_workflow_engine::{BoxFuture, LocalSandbox, Sandbox, SandboxEntry};
use std::path::Path;
use std::sync::Arc;

/// The name of the area in the file store.
pub(crate) const AREA: &str = "workflow-files";

/// `user`'s sandbox in `area`.
pub(crate) fn of_user(area: &Area, user: UserId) -> Arc<dyn Sandbox> {
    match area {
        Area::Local(root) => Arc::new(LocalSandbox(root.join(user.to_string()))),
        Area::Objects(store, prefix) => {
            Arc::new(ObjectSandbox { store: store.clone(), root: prefix.clone().join(user.to_string()) })
        }
    }
}

/// Moves the sandboxes of a data directory from before the file store held them
/// (`<data_dir>/workflow-files`) into the store's local area, once.
pub(crate) fn adopt_old_sandboxes(data_dir: &Path, area: &Area) {
    let old = data_dir.join(AREA);
    let Area::Local(new) = area else { return };
    if old == *new || !old.is_dir() || new.exists() {
        return;
    }
    match new.parent().map(std::fs::create_dir_all).transpose().and_then(|_| std::fs::rename(&old, new)) {
        Ok(()) => {
            tracing::info!(from = %old.display(), to = %new.display(), "workflow files moved into the file store")
        }
        Err(e) => tracing::warn!(
            from = %old.display(), to = %new.display(), error = %e,
            "cannot move the workflow files into the file store; move them by hand"
        ),
    }
}

/// A sandbox under a prefix of an object store. Directories are key prefixes, as S3 has them.
struct ObjectSandbox {
    store: Arc<dyn ObjectStore>,
    root: ObjectPath,
}

impl ObjectSandbox {
    /// The key of a checked relative path (`.` parts dropped).
    fn key(&self, rel: &str) -> ObjectPath {
        rel.split('/')
            .filter(|part| !part.is_empty() && *part != ".")
            .fold(self.root.clone(), |key, part| key.join(part))
    }

    async fn bytes(&self, rel: &str, key: &ObjectPath) -> Result<Option<bytes::Bytes>, String> {
        match self.store.get(key).await {
            Ok(found) => found.bytes().await.map(Some).map_err(|e| format!("`{rel}`: {e}")),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(format!("`{rel}`: {e}")),
        }
    }
}

impl Sandbox for ObjectSandbox {
    fn read<'a>(&'a self, rel: &'a str, max: u64) -> BoxFuture<'a, Result<Vec<u8>, String>> {
        Box::pin(async move {
            let key = self.key(rel);
            match self.store.head(&key).await {
                Ok(meta) if meta.size > max => return Err(format!("`{rel}` is larger than {max} bytes")),
                Ok(_) => {}
                Err(object_store::Error::NotFound { .. }) => return Err(format!("`{rel}`: no such file")),
                Err(e) => return Err(format!("`{rel}`: {e}")),
            }
            let bytes = self.bytes(rel, &key).await?.ok_or_else(|| format!("`{rel}`: no such file"))?;
            Ok(bytes.to_vec())
        })
    }

    fn write<'a>(&'a self, rel: &'a str, content: &'a [u8], append: bool) -> BoxFuture<'a, Result<u64, String>> {
        Box::pin(async move {
            let key = self.key(rel);
            let mut whole =
                if append { self.bytes(rel, &key).await?.map(|b| b.to_vec()).unwrap_or_default() } else { Vec::new() };
            whole.extend_from_slice(content);
            let size = whole.len() as u64;
            self.store.put(&key, PutPayload::from(whole)).await.map_err(|e| format!("`{rel}`: {e}"))?;
            Ok(size)
        })
    }

    fn list<'a>(&'a self, rel: &'a str, max: usize) -> BoxFuture<'a, Result<Vec<SandboxEntry>, String>> {
        Box::pin(async move {
            let dir = self.key(rel);
            let listed = self.store.list_with_delimiter(Some(&dir)).await.map_err(|e| format!("`{rel}`: {e}"))?;
            let dirs = listed.common_prefixes.iter().map(|p| SandboxEntry {
                name: p.filename().unwrap_or_default().to_owned(),
                is_dir: true,
                size: 0,
            });
            let files = listed.objects.iter().map(|o| SandboxEntry {
                name: o.location.filename().unwrap_or_default().to_owned(),
                is_dir: false,
                size: o.size,
            });
            let found: Vec<SandboxEntry> = dirs.chain(files).take(max).collect();
            if found.is_empty() && rel != "." {
                return Err(format!("`{rel}`: no such directory"));
            }
            Ok(found)
        })
    }
}
