//! comfy-sim's tests against the real server on a random port, a module per area.

mod common;
mod execution;
mod outputs_and_faults;
mod queue_and_cache;
mod validation;
