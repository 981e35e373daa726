//! The accounts repositories (users, sessions, API tokens, pairing codes) against both engines: the same migrations and queries must behave
//! the same on SQLite and PostgreSQL.

use gantry_accounts::repo::sessions::{NewSession, RefreshLookup};
use gantry_accounts::repo::users::{NewUser, ProfileChange};
use gantry_accounts::repo::{api_tokens, pairing, sessions, users};
use gantry_core::{Dialect, Role};
use gantry_store::{Db, StoreError};
use gantry_testkit::{BACKENDS, ScratchDb};

async fn add_user(db: &Db, name: &str, role: Role) -> users::UserRecord {
    let new = NewUser { username: name, nickname: name, role, password_hash: "h", now_ms: 10 };
    users::insert(db, &new).await.expect("insert user")
}

#[tokio::test]
async fn users_get_sequential_ids_and_unique_names() {
    for engine in BACKENDS {
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
    for engine in BACKENDS {
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
    for engine in BACKENDS {
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
    for engine in BACKENDS {
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
    for engine in BACKENDS {
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
    for engine in BACKENDS {
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
