//! The compute context's storage: one repository per aggregate, over the shared database handle.

pub mod compute_log;
pub mod hosts;
pub mod vms;
