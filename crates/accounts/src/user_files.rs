//! Each user's own text documents for the clients they use: the ComfyUI front end keeps its
//! settings (`comfy.settings.json`), saved workflows (`workflows/…`) and styles (`user.css`)
//! here, as it would in one ComfyUI's user directory. Paths are relative and `/`-separated,
//! without empty, `.` or `..` segments; a user holds at most [`MAX_USER_FILES`] documents of
//! at most [`MAX_USER_FILE_BYTES`] each.

pub use crate::repo::user_files::UserFileInfo;
use crate::repo::user_files::{self, PutOutcome};
use crate::{Accounts, AccountsError, AccountsResult};
use gantry_core::UserId;
use gantry_store::StoreError;

/// Documents one user may keep.
pub const MAX_USER_FILES: i64 = 1000;
/// The largest document.
pub const MAX_USER_FILE_BYTES: usize = 2 * 1024 * 1024;
/// The longest path.
const MAX_PATH_CHARS: usize = 512;

/// Refuses a path that is not a plain relative one.
fn check_path(path: &str) -> AccountsResult<()> {
    let plain = !path.is_empty()
        && path.chars().count() <= MAX_PATH_CHARS
        && !path.contains('\\')
        && !path.chars().any(char::is_control)
        && path.split('/').all(|part| !part.is_empty() && part != "." && part != "..");
    if plain { Ok(()) } else { Err(AccountsError::Invalid(format!("invalid file path `{path}`"))) }
}

impl Accounts {
    /// One of the user's documents.
    pub async fn user_file(&self, user_id: UserId, path: &str) -> AccountsResult<Option<String>> {
        check_path(path)?;
        Ok(user_files::get(&self.db, user_id, path).await?)
    }

    /// Writes one of the user's documents; an existing one is replaced only if `overwrite`.
    pub async fn put_user_file(
        &self,
        user_id: UserId,
        path: &str,
        content: &str,
        overwrite: bool,
    ) -> AccountsResult<()> {
        self.write_user_file(user_id, path, |old| (old.is_none() || overwrite).then(|| content.to_owned())).await
    }

    /// Rewrites one of the user's documents from what it holds now (`None` when there is
    /// none), with no other write to the user's documents in between: two changes at once
    /// both land.
    pub async fn rewrite_user_file(
        &self,
        user_id: UserId,
        path: &str,
        change: impl FnOnce(Option<&str>) -> String,
    ) -> AccountsResult<()> {
        self.write_user_file(user_id, path, |old| Some(change(old))).await
    }

    /// Writes a document through [`user_files::rewrite`] (`None` from `change`: it exists).
    async fn write_user_file(
        &self,
        user_id: UserId,
        path: &str,
        change: impl FnOnce(Option<&str>) -> Option<String>,
    ) -> AccountsResult<()> {
        check_path(path)?;
        let now = self.clock.now_ms();
        let outcome =
            user_files::rewrite(&self.db, user_id, path, MAX_USER_FILES, MAX_USER_FILE_BYTES, now, change).await?;
        match outcome {
            PutOutcome::Written => Ok(()),
            PutOutcome::Exists => Err(AccountsError::Conflict(format!("`{path}` exists"))),
            PutOutcome::TooMany => Err(AccountsError::Invalid(format!("a user keeps at most {MAX_USER_FILES} files"))),
            PutOutcome::TooLarge => {
                Err(AccountsError::Invalid(format!("a file holds at most {MAX_USER_FILE_BYTES} bytes")))
            }
        }
    }

    /// The user's documents under `dir` (all of them for an empty one), by path.
    pub async fn user_files(&self, user_id: UserId, dir: &str) -> AccountsResult<Vec<UserFileInfo>> {
        let dir = dir.trim_end_matches('/');
        if dir.is_empty() {
            return Ok(user_files::list(&self.db, user_id, "").await?);
        }
        check_path(dir)?;
        Ok(user_files::list(&self.db, user_id, &format!("{dir}/")).await?)
    }

    /// Deletes one of the user's documents; whether there was one.
    pub async fn delete_user_file(&self, user_id: UserId, path: &str) -> AccountsResult<bool> {
        check_path(path)?;
        Ok(user_files::delete(&self.db, user_id, path).await?)
    }

    /// Renames one of the user's documents (replacing one at `to` only if `overwrite`);
    /// whether there was one at `from`.
    pub async fn move_user_file(&self, user_id: UserId, from: &str, to: &str, overwrite: bool) -> AccountsResult<bool> {
        check_path(from)?;
        check_path(to)?;
        let now = self.clock.now_ms();
        user_files::rename(&self.db, user_id, from, to, overwrite, now).await.map_err(|e| match e {
            StoreError::Conflict(_) => AccountsError::Conflict(format!("`{to}` exists")),
            other => other.into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::check_path;

    #[test]
    fn only_plain_relative_paths_are_taken() {
        for good in ["comfy.settings.json", "workflows/a b.json", "subgraphs/x/y.json"] {
            assert!(check_path(good).is_ok(), "{good}");
        }
        for bad in ["", "/etc/passwd", "a/../b", "./a", "a//b", "a\\b", "a/", "x\u{0}y"] {
            assert!(check_path(bad).is_err(), "{bad:?}");
        }
    }
}
