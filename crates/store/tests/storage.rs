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
