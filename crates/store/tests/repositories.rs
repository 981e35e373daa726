//! Every repository against both engines: the same migrations and queries must behave
//! the same on SQLite and PostgreSQL.

use gantry_core::{Dialect, Role};
use gantry_store::sessions::{NewSession, RefreshLookup};
use gantry_store::users::{NewUser, ProfileChange};
use gantry_store::{Db, StoreError, api_tokens, pairing, sessions, settings, users};
use gantry_testkit::{ENGINES, ScratchDb};

async fn add_user(db: &Db, name: &str, role: Role) -> users::UserRecord {
    let new = NewUser { username: name, nickname: name, role, password_hash: "h", now_ms: 10 };
    users::insert(db, &new).await.expect("insert user")
}

#[tokio::test]
async fn users_get_sequential_ids_and_unique_names() {
    for engine in ENGINES {
        let (_scratch, db) = ScratchDb::migrated(engine).await;
        let alice = add_user(&db, "alice", Role::User).await;
        let bob = add_user(&db, "bob", Role::Admin).await;
        assert_eq!((alice.id, bob.id), (1001, 1002), "{engine:?}");
        assert_eq!(bob.role, Role::Admin);
        let dup = NewUser { username: "alice", nickname: "x", role: Role::User, password_hash: "h", now_ms: 1 };
        assert!(matches!(users::insert(&db, &dup).await, Err(StoreError::Conflict(_))), "{engine:?}");
        assert!(users::admin_exists(&db).await.unwrap());
        let (page, total) = users::list(&db, 1, 1).await.unwrap();
        assert_eq!((page.len(), page[0].username.as_str(), total), (1, "bob", 2));
    }
}

#[tokio::test]
async fn profile_change_touches_only_given_fields() {
    for engine in ENGINES {
        let (_scratch, db) = ScratchDb::migrated(engine).await;
        let alice = add_user(&db, "alice", Role::User).await;
        let change = ProfileChange { email: Some("a@example.com".into()), ..ProfileChange::default() };
        assert!(users::update_profile(&db, alice.id, &change, 20).await.unwrap());
        let stored = users::by_id(&db, alice.id).await.unwrap().unwrap();
        assert_eq!(stored.email.as_deref(), Some("a@example.com"));
        assert_eq!(stored.nickname, "alice");
        assert_eq!(stored.phone, None);
        assert_eq!(stored.updated_at, 20);
        assert!(!users::update_profile(&db, 9999, &change, 20).await.unwrap(), "{engine:?}");
    }
}

#[tokio::test]
async fn refresh_tokens_rotate_once_and_replay_revokes_the_session() {
    for engine in ENGINES {
        let (_scratch, db) = ScratchDb::migrated(engine).await;
        let alice = add_user(&db, "alice", Role::User).await;
        let new = NewSession {
            id: "s1",
            user_id: alice.id,
            dialect: Dialect::StarGraph,
            device_id: None,
            device_name: None,
            now_ms: 100,
            expires_at: 1_000,
            refresh_hash: "r1",
        };
        sessions::create(&db, &new).await.unwrap();
        let first = sessions::rotate_refresh(&db, "r1", "r2", 200, 2_000).await.unwrap();
        let RefreshLookup::Consumed(session) = first else { panic!("{engine:?}: {first:?}") };
        assert_eq!((session.dialect, session.expires_at), (Dialect::StarGraph, 2_000));
        let replay = sessions::rotate_refresh(&db, "r1", "r3", 300, 3_000).await.unwrap();
        assert_eq!(replay, RefreshLookup::Reused { session_id: "s1".into(), user_id: alice.id });
        let stored = sessions::by_id(&db, "s1").await.unwrap().unwrap();
        assert!(!stored.is_live(300), "{engine:?}: replay must revoke the session");
        // The successor token dies with its session.
        let after = sessions::rotate_refresh(&db, "r2", "r4", 400, 4_000).await.unwrap();
        assert_eq!(after, RefreshLookup::Unknown, "{engine:?}");
        assert_eq!(sessions::rotate_refresh(&db, "nope", "x", 1, 2).await.unwrap(), RefreshLookup::Unknown);
    }
}

#[tokio::test]
async fn expired_refresh_tokens_are_unknown() {
    for engine in ENGINES {
        let (_scratch, db) = ScratchDb::migrated(engine).await;
        let alice = add_user(&db, "alice", Role::User).await;
        let new = NewSession {
            id: "s1",
            user_id: alice.id,
            dialect: Dialect::Vflow,
            device_id: Some("dev"),
            device_name: Some("laptop"),
            now_ms: 100,
            expires_at: 150,
            refresh_hash: "r1",
        };
        sessions::create(&db, &new).await.unwrap();
        assert_eq!(sessions::rotate_refresh(&db, "r1", "r2", 151, 999).await.unwrap(), RefreshLookup::Unknown);
        assert_eq!(sessions::revoke_device(&db, alice.id, "dev", 160).await.unwrap(), 1, "{engine:?}");
        assert!(!sessions::revoke(&db, "s1", 170).await.unwrap(), "already revoked");
    }
}

#[tokio::test]
async fn api_tokens_store_hashes_and_replace_by_name() {
    for engine in ENGINES {
        let (_scratch, db) = ScratchDb::migrated(engine).await;
        let admin = add_user(&db, "root", Role::Admin).await;
        api_tokens::put(&db, "openidcs", "hash-a", "gat_ab…", admin.id, 5).await.unwrap();
        assert_eq!(api_tokens::authenticate(&db, "hash-a", 6).await.unwrap(), Some(admin.id));
        api_tokens::put(&db, "openidcs", "hash-b", "gat_cd…", admin.id, 7).await.unwrap();
        assert_eq!(api_tokens::authenticate(&db, "hash-a", 8).await.unwrap(), None, "{engine:?}");
        let record = api_tokens::by_name(&db, "openidcs").await.unwrap().unwrap();
        assert_eq!((record.hint.as_str(), record.created_at), ("gat_cd…", 7));
    }
}

#[tokio::test]
async fn pairing_codes_work_once_before_expiry() {
    for engine in ENGINES {
        let (_scratch, db) = ScratchDb::migrated(engine).await;
        let admin = add_user(&db, "root", Role::Admin).await;
        let user = add_user(&db, "dev", Role::User).await;
        pairing::insert(&db, "c1", user.id, admin.id, 10, 100).await.unwrap();
        pairing::insert(&db, "c2", user.id, admin.id, 10, 100).await.unwrap();
        assert_eq!(pairing::redeem(&db, "c1", 50).await.unwrap(), Some(user.id));
        assert_eq!(pairing::redeem(&db, "c1", 51).await.unwrap(), None, "{engine:?}: single use");
        assert_eq!(pairing::redeem(&db, "c2", 100).await.unwrap(), None, "{engine:?}: expired");
    }
}

#[tokio::test]
async fn settings_keep_the_first_value() {
    for engine in ENGINES {
        let (_scratch, db) = ScratchDb::migrated(engine).await;
        assert_eq!(settings::get_or_insert(&db, "k", "one").await.unwrap(), "one");
        assert_eq!(settings::get_or_insert(&db, "k", "two").await.unwrap(), "one", "{engine:?}");
    }
}

#[tokio::test]
async fn migrations_are_idempotent() {
    for engine in ENGINES {
        let (_scratch, db) = ScratchDb::migrated(engine).await;
        db.migrate().await.expect("second migrate is a no-op");
        db.ping().await.unwrap();
    }
}

fn task(id: &str, user: i64, seq: i64) -> gantry_store::tasks::TaskRecord {
    gantry_store::tasks::TaskRecord {
        id: id.into(),
        user_id: user,
        kind: "workflow".into(),
        status: "pending".into(),
        priority: 0,
        seq,
        graph: "{}".into(),
        params: "{}".into(),
        inputs: "[]".into(),
        models: "[]".into(),
        total_steps: 20,
        instance_id: None,
        prompt_id: None,
        attempts: 0,
        progress: 0,
        error: None,
        error_code: None,
        result: None,
        created_at: seq,
        updated_at: seq,
        started_at: None,
        finished_at: None,
        meta: None,
    }
}

#[tokio::test]
async fn task_states_change_only_along_the_lifecycle() {
    use gantry_store::tasks::{self, TaskFilter, status};
    for engine in ENGINES {
        let (_scratch, db) = ScratchDb::migrated(engine).await;
        for (i, id) in ["a", "b", "c"].iter().enumerate() {
            tasks::insert(&db, &task(id, 1001 + (i as i64 % 2), i as i64)).await.unwrap();
        }
        assert!(tasks::claim(&db, "a", "127.0.0.1:8188", "p-a", 10).await.unwrap());
        assert!(!tasks::claim(&db, "a", "127.0.0.1:8189", "p-x", 11).await.unwrap(), "{engine:?}: claimed twice");
        assert!(tasks::mark_running(&db, "a", 12).await.unwrap());
        tasks::set_progress(&db, "a", 40, 13).await.unwrap();
        assert!(tasks::requeue(&db, "a", 14).await.unwrap());
        let a = tasks::by_id(&db, "a").await.unwrap().unwrap();
        assert_eq!((a.status.as_str(), a.attempts, a.instance_id, a.progress), (status::PENDING, 1, None, 0));

        assert!(tasks::claim(&db, "a", "127.0.0.1:8189", "p-a2", 15).await.unwrap());
        assert!(tasks::complete(&db, "a", r#"{"files":[]}"#, 20).await.unwrap());
        assert!(!tasks::cancel(&db, "a", 21).await.unwrap(), "{engine:?}: completed tasks stay completed");
        assert!(!tasks::fail(&db, "a", "x", "E", 21).await.unwrap());
        let a = tasks::by_id(&db, "a").await.unwrap().unwrap();
        assert_eq!((a.status.as_str(), a.progress, a.attempts, a.started_at), (status::COMPLETED, 100, 2, Some(20)));

        assert!(tasks::cancel(&db, "b", 22).await.unwrap());
        assert!(!tasks::claim(&db, "b", "i", "p", 23).await.unwrap(), "cancelled tasks are never dispatched");
        assert!(tasks::fail(&db, "c", "no instance has model x", "E001", 24).await.unwrap());

        let mine = TaskFilter { user_id: Some(1001), limit: 10, ..TaskFilter::default() };
        let (list, total) = tasks::list(&db, &mine).await.unwrap();
        assert_eq!((total, list[0].id.as_str()), (2, "c"), "{engine:?}: newest first");
        let failed = TaskFilter {
            statuses: vec![status::FAILED, status::CANCELLED],
            limit: 10,
            ascending: true,
            ..TaskFilter::default()
        };
        let (list, total) = tasks::list(&db, &failed).await.unwrap();
        assert_eq!((total, list[0].id.as_str()), (2, "b"));
        let mut counts = tasks::count_by_status(&db).await.unwrap();
        counts.sort();
        assert_eq!(counts, vec![("cancelled".into(), 1), ("completed".into(), 1), ("failed".into(), 1)]);
    }
}

#[tokio::test]
async fn file_records_and_instance_flags_round_trip() {
    use gantry_store::files::{self, FileRecord};
    use gantry_store::instances;
    for engine in ENGINES {
        let (_scratch, db) = ScratchDb::migrated(engine).await;
        let record = FileRecord {
            id: "f1".into(),
            user_id: 1001,
            kind: "upload".into(),
            filename: "cat.png".into(),
            content_type: "image/png".into(),
            size: 10,
            sha256: "ab".into(),
            width: Some(64),
            height: None,
            task_id: None,
            created_at: 5,
        };
        files::insert(&db, &record).await.unwrap();
        assert_eq!(files::by_id(&db, "f1").await.unwrap(), Some(record.clone()), "{engine:?}");
        assert_eq!(files::list_for_user(&db, 1001, "upload", 10, 0).await.unwrap(), (vec![record], 1));
        assert_eq!(files::list_for_user(&db, 1002, "upload", 10, 0).await.unwrap().1, 0);
        assert!(files::delete(&db, "f1").await.unwrap());
        assert!(!files::delete(&db, "f1").await.unwrap());

        instances::set_enabled(&db, "127.0.0.1:8001", false).await.unwrap();
        instances::set_enabled(&db, "127.0.0.1:8001", true).await.unwrap();
        instances::set_enabled(&db, "127.0.0.1:8002", false).await.unwrap();
        let mut flags = instances::flags(&db).await.unwrap();
        flags.sort();
        assert_eq!(flags, vec![("127.0.0.1:8001".into(), true), ("127.0.0.1:8002".into(), false)], "{engine:?}");
        settings::put(&db, "k", "1").await.unwrap();
        settings::put(&db, "k", "2").await.unwrap();
        assert_eq!(settings::get(&db, "k").await.unwrap().as_deref(), Some("2"));
    }
}
