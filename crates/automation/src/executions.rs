//! Executing workflows (sync or async), stopping runs, and reading, listing and deleting
//! executions and their logs.

use std::time::Duration;

use crate::repo::executions::{self as repo, ExecutionFilter, LogFilter};
use gantry_core::events::Event;
use gantry_workflow_engine::{RunRequest, check_run_inputs, validate};
use serde_json::{Map, Value};

use crate::runs::Start;
use crate::{Automation, AutomationError, AutomationResult, Owner};

pub use crate::repo::executions::{ExecutionRecord, LogRecord};

/// Execution states.
pub const STATUSES: [&str; 5] = ["running", "completed", "failed", "cancelled", "timeout"];
/// Log levels.
pub const LEVELS: [&str; 3] = ["info", "warning", "error"];

/// An API execution request.
#[derive(Debug, Clone, Default)]
pub struct Execute {
    /// `{name: value}` or `{name: {type, value}}`, readable as `{{vars.name}}`.
    pub input_variables: Map<String, Value>,
    /// Answer at once (true) or when the run ends.
    pub asynchronous: bool,
    /// Seconds; with `maxExecutionTime` the smaller budget wins.
    pub timeout_secs: Option<u64>,
}

/// History filter.
#[derive(Debug, Clone, Default)]
pub struct History {
    pub workflow_id: Option<String>,
    pub status: Option<String>,
    pub start_date: Option<i64>,
    pub end_date: Option<i64>,
    pub limit: i64,
    pub offset: i64,
}

/// Which executions to delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deletion {
    One(String),
    OfWorkflow(String),
    OlderThan(i64),
}

impl Automation {
    /// Runs one of the owner's enabled workflows. Validates first, including that every
    /// `{{vars.x}}` an input uses is given (run-time issues are [`AutomationError::Validation`]
    /// with `on_save: false`). Asynchronous runs return the
    /// running record; synchronous ones the finished record.
    pub async fn execute(&self, owner: Owner, workflow_id: &str, req: Execute) -> AutomationResult<ExecutionRecord> {
        let w = self.inner.load(owner, workflow_id).await?.workflow;
        if !w.is_enabled {
            return Err(AutomationError::Disabled(workflow_id.to_owned()));
        }
        validate(&w, &self.inner.catalogue)
            .and_then(|()| check_run_inputs(&w, &self.inner.catalogue, &req.input_variables))
            .map_err(|issues| AutomationError::Validation { issues, on_save: false })?;
        let mut request = RunRequest::default().trigger(Value::Object(Map::new())).variables(&req.input_variables);
        let budget =
            [req.timeout_secs.filter(|s| *s > 0), w.max_execution_time.filter(|s| *s > 0)].into_iter().flatten().min();
        if let Some(secs) = budget {
            request = request.timeout(Duration::from_secs(secs));
        }
        let (started, done) = self.inner.launch(owner, w, Start { triggered_by: "manual", request }).await?;
        if req.asynchronous {
            return Ok(started);
        }
        match done.await {
            Ok(finished) => Ok(finished),
            Err(_) => self.execution(owner, &started.id).await,
        }
    }

    /// One of the owner's executions.
    pub async fn execution(&self, owner: Owner, id: &str) -> AutomationResult<ExecutionRecord> {
        repo::get(&self.inner.db, owner.user_id, id)
            .await?
            .ok_or_else(|| AutomationError::ExecutionNotFound(id.to_owned()))
    }

    /// Stops a running execution (it ends `cancelled`).
    pub async fn stop(&self, owner: Owner, id: &str) -> AutomationResult<ExecutionRecord> {
        let record = self.execution(owner, id).await?;
        if record.status != repo::status::RUNNING {
            return Err(AutomationError::AlreadyStopped(id.to_owned()));
        }
        let end = repo::Finish {
            status: repo::status::CANCELLED,
            error: Some("stopped by the user"),
            outputs: None,
            variables: None,
            completed_at: self.now(),
        };
        if !repo::finish(&self.inner.db, owner.user_id, id, &end).await? {
            return Err(AutomationError::AlreadyStopped(id.to_owned()));
        }
        self.inner.runs.cancel(id);
        let event = Event::ExecutionFinished {
            execution_id: id.to_owned(),
            workflow_id: record.workflow_id.clone(),
            user_id: owner.user_id,
            status: repo::status::CANCELLED.to_owned(),
        };
        self.inner.events.publish(self.now(), event);
        self.execution(owner, id).await
    }

    /// The owner's executions, newest first, with the total before paging.
    pub async fn history(&self, owner: Owner, query: History) -> AutomationResult<(Vec<ExecutionRecord>, i64)> {
        if let Some(status) = &query.status
            && !STATUSES.contains(&status.as_str())
        {
            return Err(AutomationError::Invalid(format!("status must be one of {}", STATUSES.join(", "))));
        }
        let filter = ExecutionFilter {
            workflow_id: query.workflow_id,
            status: query.status,
            start_date: query.start_date,
            end_date: query.end_date,
            limit: query.limit,
            offset: query.offset,
        };
        Ok(repo::list(&self.inner.db, owner.user_id, &filter).await?)
    }

    /// Log lines of an execution, oldest first, with the total before paging.
    pub async fn logs(
        &self,
        owner: Owner,
        id: &str,
        level: Option<String>,
        step_index: Option<i64>,
        limit: i64,
        offset: i64,
    ) -> AutomationResult<(Vec<LogRecord>, i64)> {
        self.execution(owner, id).await?;
        if let Some(level) = &level
            && !LEVELS.contains(&level.as_str())
        {
            return Err(AutomationError::Invalid(format!("level must be one of {}", LEVELS.join(", "))));
        }
        let filter = LogFilter { level, step_index, limit, offset };
        Ok(repo::logs(&self.inner.db, owner.user_id, id, &filter).await?)
    }

    /// Deletes ended executions (a running one must be stopped first); returns how many.
    pub async fn delete_executions(&self, owner: Owner, which: Deletion) -> AutomationResult<u64> {
        let db = &self.inner.db;
        Ok(match which {
            Deletion::One(id) => {
                let record = self.execution(owner, &id).await?;
                if record.status == repo::status::RUNNING {
                    return Err(AutomationError::Invalid(format!("execution {id} is running: stop it first")));
                }
                repo::delete(db, owner.user_id, &id).await?
            }
            Deletion::OfWorkflow(workflow_id) => repo::delete_for_workflow(db, owner.user_id, &workflow_id).await?,
            Deletion::OlderThan(ms) => repo::delete_older_than(db, owner.user_id, ms).await?,
        })
    }
}
