//! Connecting, tuning and migrating the database.

use crate::{StoreError, StoreResult};
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Executor, Row};
use std::path::Path;
use std::time::Duration;

/// Pages (4 KiB each) the SQLite write-ahead log may hold before a checkpoint starts it
/// over (see [`Db::checkpoint`]).
const WAL_RESTART_PAGES: i64 = 4096;
/// The size the SQLite write-ahead log file is cut back to when it starts over: the space
/// stays allocated for the next writes below it.
const WAL_FILE_LIMIT_BYTES: i64 = 64 << 20;

/// The database backend behind a [`Db`]. Queries are portable; this only matters for the few
/// backend-specific paths (e.g. queue claims) and for tuning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A pooled connection to Gantry's database.
#[derive(Debug, Clone)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
    /// The URL connected to (dedicated connections, such as a LISTEN, open their own).
    url: std::sync::Arc<str>,
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

impl Db {
    /// Connects to `url` (`sqlite://path` creates the file and its directory; `postgres://…`).
    pub async fn connect(url: &str) -> StoreResult<Self> {
        install_default_drivers();
        let (backend, url) = if let Some(path) = url.strip_prefix("sqlite://") {
            let path = path.split('?').next().unwrap_or(path);
            if let Some(dir) = Path::new(path).parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| StoreError::Database(sqlx::Error::Io(e)))?;
            }
            let sep = if url.contains('?') { '&' } else { '?' };
            (Backend::Sqlite, format!("{url}{sep}mode=rwc"))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (Backend::Postgres, url.to_owned())
        } else {
            return Err(StoreError::UnsupportedUrl(url.to_owned()));
        };

        let options = AnyPoolOptions::new().acquire_timeout(Duration::from_secs(10));
        let options = match backend {
            Backend::Sqlite => options.max_connections(8).after_connect(|conn, _| {
                Box::pin(async move {
                    let pragmas = format!(
                        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000; \
                         PRAGMA foreign_keys = ON; PRAGMA wal_autocheckpoint = 0; \
                         PRAGMA journal_size_limit = {WAL_FILE_LIMIT_BYTES};"
                    );
                    conn.execute(pragmas.as_str()).await?;
                    Ok(())
                })
            }),
            Backend::Postgres => options.max_connections(16),
        };
        let pool = options.connect(&url).await?;
        Ok(Self { pool, backend, url: url.into() })
    }

    /// Applies every pending migration.
    pub async fn migrate(&self) -> StoreResult<()> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    /// SQLite: copies the write-ahead log into the database file (a passive checkpoint,
    /// which waits for no reader or writer). Connections do not checkpoint on commit, where
    /// the fsync would land on a request's latency: the server calls this every second.
    ///
    /// A passive checkpoint never starts the log over while some reader is using it, and
    /// under steady load one always is: the log then grows without bound (gigabytes within
    /// minutes). Once it holds more than [`WAL_RESTART_PAGES`], the checkpoint also waits
    /// for the readers of the log to finish (new writers wait meanwhile, readers do not), so
    /// the next write starts it over; `journal_size_limit` then cuts the file back.
    pub async fn checkpoint(&self) -> StoreResult<()> {
        if self.backend == Backend::Sqlite {
            let row = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").fetch_one(&self.pool).await?;
            let log_pages: i64 = row.try_get(1)?;
            if log_pages > WAL_RESTART_PAGES {
                sqlx::query("PRAGMA wal_checkpoint(RESTART)").execute(&self.pool).await?;
            }
        }
        Ok(())
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// The connection pool, for repositories.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Which database backend this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The URL connected to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Begins a transaction that will write. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`), so a transaction that reads first cannot fail with "database is
    /// locked" when another connection wrote in between (the busy timeout then applies).
    pub async fn begin_write(&self) -> StoreResult<sqlx::Transaction<'static, sqlx::Any>> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }

    /// The rows of `sql` for every id in `ids`: `sql` has `{ids}` where its `IN (…)` list
    /// goes, and runs once per [`crate::IDS_PER_QUERY`] ids.
    pub async fn fetch_for_ids(&self, sql: &str, ids: &[String]) -> StoreResult<Vec<sqlx::any::AnyRow>> {
        let mut rows = Vec::new();
        for chunk in ids.chunks(crate::IDS_PER_QUERY) {
            let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = sql.replace("{ids}", &marks.join(", "));
            let mut query = sqlx::query(&sql);
            for id in chunk {
                query = query.bind(id);
            }
            rows.extend(query.fetch_all(&self.pool).await?);
        }
        Ok(rows)
    }

    /// Closes every connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}
