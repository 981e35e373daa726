//! The automation context's storage: one repository per aggregate, over the shared database handle.

pub mod executions;
pub mod folders;
pub mod schedule_fires;
pub mod workflows;
