//! Scratch databases for tests: a temporary SQLite file, or a fresh database on the
//! PostgreSQL server named by `GANTRY_TEST_POSTGRES_URL`
//! (default `postgres://postgres@127.0.0.1:5432/postgres`). PostgreSQL is required:
//! the test command starts it, and a missing server fails the test instead of skipping it.

pub use gantry_store::Backend;
use gantry_store::Db;
use sqlx::Connection;

/// Both engines, for tests that must pass on each.
pub const BACKENDS: [Backend; 2] = [Backend::Sqlite, Backend::Postgres];

/// Declares, for each named `async fn NAME(backend: Backend)` of the calling module, one test
/// per backend: `sqlite::NAME` and `postgres::NAME` (run in parallel like any two tests).
#[macro_export]
macro_rules! on_each_backend {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $( #[tokio::test] async fn $name() { super::$name($crate::Backend::Sqlite).await } )+
        }
        mod postgres {
            $( #[tokio::test] async fn $name() { super::$name($crate::Backend::Postgres).await } )+
        }
    };
}

/// A database that exists for one test.
pub struct ScratchDb {
    /// URL to connect to it.
    pub url: String,
    /// Keeps the SQLite file's directory alive.
    _dir: Option<tempfile::TempDir>,
}

fn admin_url() -> String {
    std::env::var("GANTRY_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

impl ScratchDb {
    /// Creates an empty database on `engine`.
    pub async fn new(engine: Backend) -> Self {
        match engine {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", dir.path().join("gantry.db").display());
                Self { url, _dir: Some(dir) }
            }
            Backend::Postgres => {
                let admin = admin_url();
                let name = format!("gantry_t_{}", uuid::Uuid::new_v4().simple());
                let mut conn = sqlx::PgConnection::connect(&admin)
                    .await
                    .unwrap_or_else(|e| panic!("PostgreSQL is required for the storage tests ({admin}): {e}"));
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .await
                    .expect("create scratch database");
                let base = admin.rsplit_once('/').map(|(base, _)| base).unwrap_or(&admin);
                Self { url: format!("{base}/{name}"), _dir: None }
            }
        }
    }

    /// Connects to the scratch database and applies Gantry's migrations.
    pub async fn migrated(engine: Backend) -> (Self, Db) {
        let scratch = Self::new(engine).await;
        let db = Db::connect(&scratch.url).await.expect("connect scratch database");
        db.migrate().await.expect("migrate scratch database");
        (scratch, db)
    }
}
