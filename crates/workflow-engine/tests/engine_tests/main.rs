//! The workflow engine, a module per area.

mod engine;
mod io;
