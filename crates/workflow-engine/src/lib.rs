//! Gantry's workflow engine core: dialect-free, no HTTP routes, no database.
//!
//! - [`model`]: [`Workflow`], [`Step`], [`Param`], per-step [`ErrorPolicy`].
//! - [`modules`]: the [`Catalogue`] of [`ModuleDef`]s and the module API's JSON shapes.
//! - [`validate()`]: save-time checks ([`ValidationIssue`]); [`magic_variables`] for editors.
//! - [`template`] and [`expr`]: `{{step.output.prop}}` references and the condition language.
//! - [`WorkflowEngine`]: runs a workflow against a [`Host`], reporting to a [`RunObserver`].
//! - [`next_fire`] / [`validate_cron`]: `trigger_schedule` helpers.

pub mod blocks;
mod exec;
pub mod expr;
mod magic;
pub mod model;
pub mod modules;
pub mod template;
mod triggers;
mod validate;
pub mod value;

pub use exec::files::{LocalSandbox, Sandbox, SandboxEntry};
pub use exec::{
    BoxFuture, DefaultHost, EngineConfig, Host, HostCall, HttpPolicy, LogEntry, LogLevel, NoopObserver, Outcome,
    RunObserver, RunReport, RunRequest, WorkflowEngine, is_internal,
};
pub use expr::{EvalError, ExprError, Expression};
pub use magic::{MagicVariable, MagicVariables, SystemVariable, magic_variables};
pub use model::{ErrorPolicy, Param, Step, Workflow};
pub use modules::{Catalogue, ModuleDef};
pub use triggers::{next_fire, validate_cron};
pub use validate::{ValidationIssue, check_run_inputs, validate};
pub use value::TypedValue;

/// Hash map with a fast, per-process-seeded hasher for ids and names.
pub(crate) type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
