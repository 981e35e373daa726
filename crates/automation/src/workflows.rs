//! Workflow CRUD, duplicate, enable/disable and batch operations. Every save validates
//! the steps with [`gantry_workflow_engine::validate`] and the legacy trigger.

use crate::repo::folders::Refusal;
use crate::repo::workflows::{self as repo, BatchAction, WorkflowChange, WorkflowFilter, WorkflowRecord};
use gantry_workflow_engine::{MagicVariables, Step, Workflow, magic_variables, validate};
use serde_json::{Map, Value};

use crate::error::name_conflict;
use crate::record::{Columns, TriggerSpec};
use crate::{Automation, AutomationError, AutomationResult, Inner, Owner, StoredWorkflow};

pub use crate::repo::workflows::{BatchOutcome, WorkflowSort};

/// Longest workflow or folder name, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// Most workflows one batch may name.
pub const MAX_BATCH: usize = 500;

/// Workflow fields to set; `None` keeps (update) or defaults (create) a field.
#[derive(Debug, Clone, Default)]
pub struct Draft {
    pub name: Option<String>,
    pub description: Option<String>,
    /// `Some(None)`: the root.
    pub folder_id: Option<Option<String>>,
    pub is_enabled: Option<bool>,
    pub is_favorite: Option<bool>,
    pub order: Option<i64>,
    pub steps: Option<Vec<Step>>,
    pub trigger_config: Option<Option<Value>>,
    /// Seconds; 0 clears.
    pub max_execution_time: Option<u64>,
    pub tags: Option<Vec<String>>,
    pub version: Option<String>,
    pub metadata: Option<Map<String, Value>>,
}

impl Draft {
    /// Applies the draft's fields to `w`.
    fn apply(self, w: &mut Workflow) {
        let Draft {
            name,
            description,
            folder_id,
            is_enabled,
            is_favorite,
            order,
            steps,
            trigger_config,
            max_execution_time,
            tags,
            version,
            metadata,
        } = self;
        set(&mut w.name, name.map(|n| n.trim().to_owned()));
        set(&mut w.description, description);
        set(&mut w.folder_id, folder_id);
        set(&mut w.is_enabled, is_enabled);
        set(&mut w.is_favorite, is_favorite);
        set(&mut w.order, order);
        set(&mut w.steps, steps);
        set(&mut w.trigger_config, trigger_config);
        set(&mut w.max_execution_time, max_execution_time.map(|s| (s > 0).then_some(s)));
        set(&mut w.tags, tags.map(|t| t.into_iter().map(|t| t.trim().to_owned()).filter(|t| !t.is_empty()).collect()));
        set(&mut w.version, version);
        if metadata.is_some() {
            w.metadata = metadata;
        }
    }
}

fn set<T>(field: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *field = v;
    }
}

/// What to list.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub folder_id: Option<String>,
    pub include_disabled: bool,
    pub sort: WorkflowSort,
    pub descending: bool,
    pub limit: i64,
    pub offset: i64,
    pub search: Option<String>,
    pub tags: Vec<String>,
}

/// A batch action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Batch {
    Delete,
    Enable,
    Disable,
    /// To this folder (`None`: the root).
    Move(Option<String>),
}

impl Inner {
    /// Save-time checks: name, steps, trigger.
    pub(crate) fn check(&self, w: &Workflow) -> AutomationResult<()> {
        let chars = w.name.chars().count();
        if chars == 0 || chars > MAX_NAME_CHARS {
            return Err(AutomationError::Invalid(format!("name must be 1-{MAX_NAME_CHARS} characters")));
        }
        gantry_core::text::check_name("name", &w.name).map_err(AutomationError::Invalid)?;
        gantry_core::text::check_text("description", &w.description).map_err(AutomationError::Invalid)?;
        validate(w, &self.catalogue).map_err(|issues| AutomationError::Validation { issues, on_save: true })?;
        TriggerSpec::of(w).check()
    }

    pub(crate) async fn load(&self, owner: Owner, id: &str) -> AutomationResult<StoredWorkflow> {
        let record = repo::get(&self.db, owner.user_id, id).await?;
        record.map(|r| self.to_stored(r)).ok_or_else(|| AutomationError::WorkflowNotFound(id.to_owned()))
    }

    /// Stores a new workflow (validated) for `owner`.
    pub(crate) async fn insert(&self, owner: Owner, w: &Workflow) -> AutomationResult<StoredWorkflow> {
        self.check(w)?;
        let cols = Columns::of(self, w)?;
        let now = self.clock.now_ms();
        let record = WorkflowRecord {
            id: w.id.clone(),
            user_id: owner.user_id,
            folder_id: w.folder_id.clone(),
            name: w.name.clone(),
            description: w.description.clone(),
            is_enabled: w.is_enabled,
            is_favorite: w.is_favorite,
            position: w.order,
            tags: w.tags.clone(),
            version: 1,
            steps: cols.steps,
            trigger_config: cols.trigger_config,
            trigger_type: Some(cols.trigger_type),
            max_execution_time: w.max_execution_time.unwrap_or(0) as i64,
            metadata: cols.metadata,
            webhook_secret_hash: cols.webhook_hash,
            created_at: now,
            modified_at: now,
        };
        match repo::create(&self.db, &record).await.map_err(|e| name_conflict(e, &w.name, false))? {
            Ok(stored) => Ok(self.to_stored(stored)),
            Err(_) => Err(AutomationError::FolderNotFound(w.folder_id.clone().unwrap_or_default())),
        }
    }

    /// Replaces a stored workflow's content with `w` (validated).
    pub(crate) async fn replace(&self, owner: Owner, w: &Workflow) -> AutomationResult<StoredWorkflow> {
        self.check(w)?;
        let cols = Columns::of(self, w)?;
        let change = WorkflowChange {
            folder_id: Some(w.folder_id.clone()),
            name: Some(w.name.clone()),
            description: Some(w.description.clone()),
            is_enabled: Some(w.is_enabled),
            is_favorite: Some(w.is_favorite),
            position: Some(w.order),
            tags: Some(w.tags.clone()),
            steps: Some(cols.steps),
            trigger: Some((cols.trigger_config, Some(cols.trigger_type))),
            max_execution_time: Some(w.max_execution_time.unwrap_or(0) as i64),
            metadata: Some(cols.metadata),
            webhook_secret_hash: Some(cols.webhook_hash),
        };
        let now = self.clock.now_ms();
        match repo::update(&self.db, owner.user_id, &w.id, &change, now)
            .await
            .map_err(|e| name_conflict(e, &w.name, false))?
        {
            Ok(stored) => Ok(self.to_stored(stored)),
            Err(Refusal::FolderMissing) => {
                Err(AutomationError::FolderNotFound(w.folder_id.clone().unwrap_or_default()))
            }
            Err(_) => Err(AutomationError::WorkflowNotFound(w.id.clone())),
        }
    }
}

impl Automation {
    /// Creates a workflow from a draft (disabled unless the draft enables it).
    pub async fn create_workflow(&self, owner: Owner, draft: Draft) -> AutomationResult<StoredWorkflow> {
        let mut w = Workflow { id: self.inner.ids.random().to_string(), ..Workflow::default() };
        draft.apply(&mut w);
        self.inner.insert(owner, &w).await
    }

    /// One of the owner's workflows.
    pub async fn workflow(&self, owner: Owner, id: &str) -> AutomationResult<StoredWorkflow> {
        self.inner.load(owner, id).await
    }

    /// The owner's workflows matching `query`, with the total before paging.
    pub async fn list_workflows(&self, owner: Owner, query: ListQuery) -> AutomationResult<(Vec<StoredWorkflow>, i64)> {
        let filter = WorkflowFilter {
            folder_id: query.folder_id,
            enabled_only: !query.include_disabled,
            search: query.search,
            tags: query.tags,
            sort: query.sort,
            descending: query.descending,
            limit: query.limit,
            offset: query.offset,
        };
        let (rows, total) = repo::list(&self.inner.db, owner.user_id, &filter).await?;
        Ok((rows.into_iter().map(|r| self.inner.to_stored(r)).collect(), total))
    }

    /// Changes the fields a draft sets; the result is validated like a new workflow.
    pub async fn update_workflow(&self, owner: Owner, id: &str, draft: Draft) -> AutomationResult<StoredWorkflow> {
        let mut w = self.inner.load(owner, id).await?.workflow;
        draft.apply(&mut w);
        self.inner.replace(owner, &w).await
    }

    /// Deletes a workflow (its execution history stays).
    pub async fn delete_workflow(&self, owner: Owner, id: &str) -> AutomationResult<()> {
        if repo::delete(&self.inner.db, owner.user_id, id).await? {
            Ok(())
        } else {
            Err(AutomationError::WorkflowNotFound(id.to_owned()))
        }
    }

    /// Copies a workflow (disabled) as `new_name`, or as "<name> (copy)" with the first
    /// free number, into `target_folder` (default: the original's folder).
    pub async fn duplicate_workflow(
        &self,
        owner: Owner,
        id: &str,
        new_name: Option<String>,
        target_folder: Option<Option<String>>,
    ) -> AutomationResult<StoredWorkflow> {
        let original = self.inner.load(owner, id).await?.workflow;
        let mut copy = Workflow { id: self.inner.ids.random().to_string(), is_enabled: false, ..original.clone() };
        if let Some(folder) = target_folder {
            copy.folder_id = folder;
        }
        if let Some(name) = new_name {
            copy.name = name.trim().to_owned();
            return self.inner.insert(owner, &copy).await;
        }
        for n in 1..=100 {
            copy.name =
                if n == 1 { format!("{} (copy)", original.name) } else { format!("{} (copy {n})", original.name) };
            match self.inner.insert(owner, &copy).await {
                Err(AutomationError::WorkflowNameTaken(_)) => continue,
                other => return other,
            }
        }
        Err(AutomationError::WorkflowNameTaken(copy.name))
    }

    /// Enables or disables a workflow; returns it.
    pub async fn set_enabled(&self, owner: Owner, id: &str, enabled: bool) -> AutomationResult<StoredWorkflow> {
        if !repo::set_enabled(&self.inner.db, owner.user_id, id, enabled, self.now()).await? {
            return Err(AutomationError::WorkflowNotFound(id.to_owned()));
        }
        self.inner.load(owner, id).await
    }

    /// Applies one action to many workflows in one transaction: unknown ids fail, ids
    /// already in the wanted state (or repeated) are skipped.
    pub async fn batch(&self, owner: Owner, action: Batch, ids: &[String]) -> AutomationResult<BatchOutcome> {
        if ids.is_empty() || ids.len() > MAX_BATCH {
            return Err(AutomationError::Invalid(format!("workflowIds must hold 1-{MAX_BATCH} ids")));
        }
        let action = match action {
            Batch::Delete => BatchAction::Delete,
            Batch::Enable => BatchAction::SetEnabled(true),
            Batch::Disable => BatchAction::SetEnabled(false),
            Batch::Move(folder) => BatchAction::Move(folder),
        };
        match repo::batch(&self.inner.db, owner.user_id, ids, &action, self.now()).await? {
            Ok(outcome) => Ok(outcome),
            Err(_) => match action {
                BatchAction::Move(folder) => Err(AutomationError::FolderNotFound(folder.unwrap_or_default())),
                _ => Err(AutomationError::Invalid("batch refused".into())),
            },
        }
    }

    /// What the steps of a workflow can reference.
    pub async fn magic_variables(&self, owner: Owner, id: &str) -> AutomationResult<MagicVariables> {
        let w = self.inner.load(owner, id).await?.workflow;
        Ok(magic_variables(&w, &self.inner.catalogue, None))
    }
}
