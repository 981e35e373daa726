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

/// SQLite's write-ahead log does not keep growing: after a burst of writes larger than its
/// limit, the periodic checkpoint starts it over and the file is cut back.
#[tokio::test]
async fn checkpoints_keep_the_sqlite_log_small() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wal.db");
    let db = gantry_store::Db::connect(&format!("sqlite://{}", path.display())).await.unwrap();
    sqlx::query("CREATE TABLE blobs (id INTEGER PRIMARY KEY, body TEXT NOT NULL)").execute(db.pool()).await.unwrap();
    let body = "x".repeat(64 * 1024);
    let insert = || sqlx::query("INSERT INTO blobs (body) VALUES ($1)").bind(&body).execute(db.pool());
    for _ in 0..1400 {
        insert().await.unwrap();
    }
    let wal = dir.path().join("wal.db-wal");
    let size = || std::fs::metadata(&wal).map_or(0, |m| m.len());
    assert!(size() > 80 << 20, "the burst is in the log: {} bytes", size());
    // A reader still in the log (under load there always is one): the checkpoint waits
    // for it, or the next write would only add to the log.
    let mut reader = db.pool().begin().await.unwrap();
    sqlx::query("SELECT COUNT(*) FROM blobs").fetch_one(&mut *reader).await.unwrap();
    let reading = tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        reader.commit().await.unwrap();
    });
    db.checkpoint().await.unwrap();
    insert().await.unwrap();
    assert!(size() <= 64 << 20, "the log is {} bytes after the checkpoint", size());
    reading.await.unwrap();
}
