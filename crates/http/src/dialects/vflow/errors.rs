//! How the automation context's errors read in vflow: the spec's codes, with `details`
//! naming the id, step or input concerned.

use crate::envelope::Failure;
use crate::error::{ApiError, ErrorKind};
use gantry_automation::AutomationError;
use serde_json::json;

/// Issue codes about a step's parameters (vflow 2002) rather than the workflow's shape.
const PARAMETER_ISSUES: [&str; 4] = ["missing_input", "bad_type", "constraint", "bad_cron"];

impl From<AutomationError> for ApiError {
    fn from(err: AutomationError) -> Self {
        let message = err.to_string();
        let (kind, code, details) = match &err {
            AutomationError::WorkflowNotFound(id) => (ErrorKind::NotFound, 1001, json!({ "workflowId": id })),
            AutomationError::FolderNotFound(id) => (ErrorKind::NotFound, 3001, json!({ "folderId": id })),
            AutomationError::ExecutionNotFound(id) => (ErrorKind::NotFound, 5001, json!({ "executionId": id })),
            AutomationError::Invalid(reason) => (ErrorKind::BadRequest, 1002, json!({ "reason": reason })),
            AutomationError::Validation { issues, on_save } => {
                let first = issues.first();
                let code = match first.map(|i| i.code) {
                    _ if !on_save => 1002,
                    Some("unknown_module") => 2001,
                    Some(c) if PARAMETER_ISSUES.contains(&c) => 2002,
                    _ => 1002,
                };
                let kind = if *on_save { ErrorKind::BadRequest } else { ErrorKind::Unprocessable };
                let details = json!({
                    "stepId": first.map(|i| i.step_id.clone()),
                    "stepIndex": first.map(|i| i.step_index),
                    "input": first.and_then(|i| i.input.clone()),
                    "issues": issues,
                });
                (kind, code, details)
            }
            AutomationError::WorkflowNameTaken(name) => (ErrorKind::Conflict, 1004, json!({ "name": name })),
            AutomationError::FolderNameTaken(name) => (ErrorKind::Conflict, 1004, json!({ "name": name })),
            AutomationError::FolderNotEmpty(id) => (ErrorKind::BadRequest, 3002, json!({ "folderId": id })),
            AutomationError::Disabled(id) => {
                (ErrorKind::Conflict, 1003, json!({ "workflowId": id, "isEnabled": false }))
            }
            AutomationError::TooManyRuns { workflow_id, limit } => {
                (ErrorKind::Conflict, 1003, json!({ "workflowId": workflow_id, "limit": limit }))
            }
            AutomationError::AlreadyStopped(id) => (ErrorKind::Conflict, 5002, json!({ "executionId": id })),
            AutomationError::BadFormat(reason) => (ErrorKind::BadRequest, 8001, json!({ "reason": reason })),
            AutomationError::TooLarge(reason) => (ErrorKind::PayloadTooLarge, 8002, json!({ "reason": reason })),
            AutomationError::Store(cause) => return Self::internal(cause),
            AutomationError::Context(cause) => return Self::internal(cause),
        };
        Self::new(kind, message).with_code(code).with_details(details)
    }
}

impl<D> From<AutomationError> for Failure<D> {
    fn from(err: AutomationError) -> Self {
        Self::new(err.into())
    }
}
