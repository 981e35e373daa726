//! Nested folders: names unique among siblings, no cycles, and deletes that say what
//! happens to the contents.

use crate::repo::folders::{self as repo, DeleteMode, FolderChange, FolderScope, NewFolder, Refusal};
use crate::repo::workflows::{self as wf_repo, WorkflowFilter};

use crate::error::name_conflict;
use crate::workflows::MAX_NAME_CHARS;
use crate::{Automation, AutomationError, AutomationResult, Owner};

pub use crate::repo::folders::{FolderDeletion, FolderRecord, FolderSummary};
pub use crate::repo::workflows::WorkflowRecord;

/// Which folders to list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parent {
    /// Every folder.
    Any,
    /// Root folders.
    Root,
    /// Children of this folder.
    Of(String),
}

/// A folder with its direct contents.
#[derive(Debug, Clone)]
pub struct FolderDetail {
    pub summary: FolderSummary,
    pub workflows: Vec<WorkflowRecord>,
    pub subfolders: Vec<FolderSummary>,
}

/// What to do with a non-empty folder's contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Contents {
    /// Refuse with [`AutomationError::FolderNotEmpty`].
    Keep,
    /// Delete them (subfolders and their workflows too).
    Delete,
    /// Move workflows and subfolders to this folder (`None`: the root).
    MoveTo(Option<String>),
}

fn check_name(name: &str) -> AutomationResult<String> {
    let name = name.trim();
    let chars = name.chars().count();
    if chars == 0 || chars > MAX_NAME_CHARS {
        return Err(AutomationError::Invalid(format!("name must be 1-{MAX_NAME_CHARS} characters")));
    }
    gantry_core::text::check_name("name", name).map_err(AutomationError::Invalid)?;
    Ok(name.to_owned())
}

impl Automation {
    /// The owner's folders under `parent`.
    pub async fn list_folders(&self, owner: Owner, parent: Parent) -> AutomationResult<Vec<FolderSummary>> {
        let scope = match parent {
            Parent::Any => FolderScope::All,
            Parent::Root => FolderScope::Root,
            Parent::Of(id) => {
                self.folder(owner, &id).await?;
                FolderScope::Children(id)
            }
        };
        Ok(repo::list(&self.inner.db, owner.user_id, &scope).await?)
    }

    /// One folder with its counts.
    pub async fn folder(&self, owner: Owner, id: &str) -> AutomationResult<FolderSummary> {
        repo::get(&self.inner.db, owner.user_id, id)
            .await?
            .ok_or_else(|| AutomationError::FolderNotFound(id.to_owned()))
    }

    /// One folder with its workflows and subfolders.
    pub async fn folder_detail(&self, owner: Owner, id: &str) -> AutomationResult<FolderDetail> {
        let summary = self.folder(owner, id).await?;
        let filter = WorkflowFilter { folder_id: Some(id.to_owned()), ..WorkflowFilter::default() };
        let (workflows, _) = wf_repo::list(&self.inner.db, owner.user_id, &filter).await?;
        let subfolders = repo::list(&self.inner.db, owner.user_id, &FolderScope::Children(id.to_owned())).await?;
        Ok(FolderDetail { summary, workflows, subfolders })
    }

    /// Creates a folder.
    pub async fn create_folder(
        &self,
        owner: Owner,
        name: &str,
        parent_id: Option<&str>,
        order: i64,
    ) -> AutomationResult<FolderRecord> {
        let name = check_name(name)?;
        let id = self.inner.ids.random().to_string();
        let new =
            NewFolder { id: &id, user_id: owner.user_id, name: &name, parent_id, position: order, now_ms: self.now() };
        match repo::create(&self.inner.db, &new).await.map_err(|e| name_conflict(e, &name, true))? {
            Ok(folder) => Ok(folder),
            Err(_) => Err(AutomationError::FolderNotFound(parent_id.unwrap_or_default().to_owned())),
        }
    }

    /// Renames, moves (`parent_id: Some(None)`: to the root) or reorders a folder.
    pub async fn update_folder(
        &self,
        owner: Owner,
        id: &str,
        name: Option<&str>,
        parent_id: Option<Option<String>>,
        order: Option<i64>,
    ) -> AutomationResult<FolderRecord> {
        let name = name.map(check_name).transpose()?;
        let label = name.clone().unwrap_or_default();
        let target = parent_id.clone().flatten().unwrap_or_default();
        let change = FolderChange { name, parent_id, position: order };
        match repo::update(&self.inner.db, owner.user_id, id, &change, self.now())
            .await
            .map_err(|e| name_conflict(e, &label, true))?
        {
            Ok(folder) => Ok(folder),
            Err(Refusal::FolderMissing) => Err(AutomationError::FolderNotFound(target)),
            Err(Refusal::Cycle) => {
                Err(AutomationError::Invalid("a folder cannot move under itself or its subfolders".into()))
            }
            Err(_) => Err(AutomationError::FolderNotFound(id.to_owned())),
        }
    }

    /// Deletes a folder, handling its contents as `contents` says (one transaction).
    pub async fn delete_folder(&self, owner: Owner, id: &str, contents: Contents) -> AutomationResult<FolderDeletion> {
        let mode = match contents {
            Contents::Keep => DeleteMode::RefuseIfNotEmpty,
            Contents::Delete => DeleteMode::DeleteContents,
            Contents::MoveTo(target) => DeleteMode::MoveContentsTo(target),
        };
        let target = match &mode {
            DeleteMode::MoveContentsTo(Some(t)) => t.clone(),
            _ => id.to_owned(),
        };
        match repo::delete(&self.inner.db, owner.user_id, id, &mode, self.now())
            .await
            .map_err(|e| name_conflict(e, "a moved workflow or folder", false))?
        {
            Ok(done) => Ok(done),
            Err(Refusal::NotEmpty) => Err(AutomationError::FolderNotEmpty(id.to_owned())),
            Err(Refusal::FolderMissing) => Err(AutomationError::FolderNotFound(target)),
            Err(Refusal::Cycle) => {
                Err(AutomationError::Invalid("contents cannot move into the folder being deleted or below it".into()))
            }
            Err(Refusal::Missing) => Err(AutomationError::FolderNotFound(id.to_owned())),
        }
    }
}
