//! The automation context's one error type; each dialect maps it to its own codes.

use gantry_store::StoreError;
use gantry_workflow_engine::ValidationIssue;

/// What can go wrong in the automation context.
#[derive(Debug, thiserror::Error)]
pub enum AutomationError {
    /// No such workflow (for this user).
    #[error("Workflow not found: {0}")]
    WorkflowNotFound(String),
    /// No such folder (for this user).
    #[error("Folder not found: {0}")]
    FolderNotFound(String),
    /// No such execution (for this user).
    #[error("Execution not found: {0}")]
    ExecutionNotFound(String),
    /// Malformed workflow or folder data (names, shapes, cycles, batch actions…).
    #[error("{0}")]
    Invalid(String),
    /// The workflow's steps do not validate; `on_save` tells save-time from run-time checks.
    #[error("Invalid workflow: {}", .issues.first().map_or("", |i| i.message.as_str()))]
    Validation { issues: Vec<ValidationIssue>, on_save: bool },
    /// Another workflow of the user in that folder has the name.
    #[error("Workflow already exists: {0}")]
    WorkflowNameTaken(String),
    /// Another folder with that name has the same parent.
    #[error("Folder already exists: {0}")]
    FolderNameTaken(String),
    /// The folder holds workflows or subfolders and no action was given for them.
    #[error("Folder not empty: {0}")]
    FolderNotEmpty(String),
    /// The workflow is disabled and cannot be executed.
    #[error("Workflow {0} is disabled: enable it before executing it")]
    Disabled(String),
    /// The workflow already has as many runs as allowed.
    #[error("Workflow {workflow_id} already has {limit} running executions")]
    TooManyRuns { workflow_id: String, limit: usize },
    /// The execution has already ended.
    #[error("Execution already stopped: {0}")]
    AlreadyStopped(String),
    /// An import file is neither a workflow JSON nor a ZIP of them.
    #[error("Invalid file format: {0}")]
    BadFormat(String),
    /// An import file (or what it inflates to) is over a limit.
    #[error("File size exceeded: {0}")]
    TooLarge(String),
    /// Storage failed.
    #[error("storage error: {0}")]
    Store(#[from] StoreError),
    /// Another context failed on a call made for a workflow.
    #[error("{0}")]
    Context(String),
}

/// Result alias for the automation context.
pub type AutomationResult<T> = Result<T, AutomationError>;

/// Maps a storage refusal about a folder reference to the folder it names.
pub(crate) fn name_conflict(err: StoreError, name: &str, folder: bool) -> AutomationError {
    match err {
        StoreError::Conflict(_) if folder => AutomationError::FolderNameTaken(name.to_owned()),
        StoreError::Conflict(_) => AutomationError::WorkflowNameTaken(name.to_owned()),
        other => AutomationError::Store(other),
    }
}
