//! Gantry's shared domain vocabulary. Nothing in this crate performs I/O.

pub mod clock;
pub mod config;
pub mod events;
pub mod health;
pub mod identity;
pub mod ids;
pub mod limits;
pub mod netguard;
pub mod supervisor;
pub mod text;

pub use clock::{Clock, SystemClock};
pub use identity::{Dialect, Role, UserId};
pub use ids::{IdSource, SystemIds};
pub use supervisor::Supervisor;
