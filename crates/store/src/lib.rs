//! Gantry persistence. One migration folder and one set of queries serve SQLite (the
//! embedded default) and PostgreSQL (for several gateway nodes), through sqlx's `Any`
//! driver. Each module is the repository of one aggregate.

pub mod cluster;
pub mod db;
pub mod settings;

pub use db::{Backend, Db};

/// What can go wrong in storage.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule would be broken (e.g. a taken username).
    #[error("already exists: {0}")]
    Conflict(String),
    /// The database URL is not one Gantry can use.
    #[error("unsupported database url `{0}` (expected sqlite://… or postgres://…)")]
    UnsupportedUrl(String),
    /// Migrations failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Any other database failure.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

impl StoreError {
    /// Maps a unique-constraint violation to [`StoreError::Conflict`], anything else to `Database`.
    pub fn on_unique(err: sqlx::Error, what: &str) -> Self {
        match &err {
            sqlx::Error::Database(db) if db.is_unique_violation() => Self::Conflict(what.to_owned()),
            _ => Self::Database(err),
        }
    }
}

/// Ids bound in one `IN (…)` list: both engines cap a statement's parameters, so longer
/// lists are queried in chunks of this many (see [`Db::fetch_for_ids`]).
pub const IDS_PER_QUERY: usize = 500;

/// Result alias for storage calls.
pub type StoreResult<T> = Result<T, StoreError>;
