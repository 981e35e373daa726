//! The shared storage helpers (settings, migrations) against both engines: the same migrations and queries must behave
//! the same on SQLite and PostgreSQL.

use gantry_store::settings;
use gantry_testkit::{BACKENDS, ScratchDb};

#[tokio::test]
async fn settings_keep_the_first_value() {
    for engine in BACKENDS {
        let (_scratch, db) = ScratchDb::migrated(engine).await;
        assert_eq!(settings::get_or_insert(&db, "k", "one").await.unwrap(), "one");
        assert_eq!(settings::get_or_insert(&db, "k", "two").await.unwrap(), "one", "{engine:?}");
    }
}

#[tokio::test]
async fn migrations_are_idempotent() {
    for engine in BACKENDS {
        let (_scratch, db) = ScratchDb::migrated(engine).await;
        db.migrate().await.expect("second migrate is a no-op");
        db.ping().await.unwrap();
    }
}

/// SQLite's write-ahead log does not keep what was checkpointed: after a burst of writes,
/// the periodic checkpoint leaves it empty rather than as large as the burst.
#[tokio::test]
async fn checkpoints_keep_the_sqlite_log_small() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wal.db");
    let db = gantry_store::Db::connect(&format!("sqlite://{}", path.display())).await.unwrap();
    sqlx::query("CREATE TABLE blobs (id INTEGER PRIMARY KEY, body TEXT NOT NULL)").execute(db.pool()).await.unwrap();
    let body = "x".repeat(64 * 1024);
    for _ in 0..400 {
        sqlx::query("INSERT INTO blobs (body) VALUES ($1)").bind(&body).execute(db.pool()).await.unwrap();
    }
    let wal = dir.path().join("wal.db-wal");
    let size = || std::fs::metadata(&wal).map_or(0, |m| m.len());
    assert!(size() > 20 << 20, "the burst is in the log: {} bytes", size());
    db.checkpoint().await.unwrap();
    assert!(size() < 1 << 20, "the log is {} bytes after the checkpoint", size());
}
