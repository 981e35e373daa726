//! Personal API tokens: a user makes one for a tool that cannot log in; it acts as them in
//! every dialect until revoked; nobody else sees or revokes it — on SQLite and PostgreSQL.

use crate::common::TestApp;
use gantry_store::Backend;
use serde_json::json;

async fn tokens_act_as_their_owner_until_revoked(backend: Backend) {
    let app = TestApp::start(backend).await;
    let admin = app.admin_token().await;
    app.create_user(&admin, "bob", "bob-password-123").await;
    app.create_user(&admin, "carol", "carol-password-123").await;
    let (bob, _) = app.star_login("bob", "bob-password-123").await;
    let (carol, _) = app.star_login("carol", "carol-password-123").await;

    let (status, made) = app.call("POST", "/api/v1/users/tokens", Some(&bob), Some(json!({"label": "laptop"}))).await;
    assert_eq!(status, 201, "{made}");
    let secret = made["data"]["secret"].as_str().unwrap().to_owned();
    let id = made["data"]["id"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("gat_") && secret.len() > 40, "{secret}");

    // Listed without the secret; only to its owner.
    let (_, listed) = app.call("GET", "/api/v1/users/tokens", Some(&bob), None).await;
    let first = &listed["data"][0];
    assert_eq!((first["id"].as_str(), first["label"].as_str()), (Some(id.as_str()), Some("laptop")));
    assert!(first.get("secret").is_none() && !listed.to_string().contains(&secret), "{listed}");
    assert_eq!(first["hint"].as_str().unwrap().trim_end_matches('…'), &secret[..8]);
    let (_, theirs) = app.call("GET", "/api/v1/users/tokens", Some(&carol), None).await;
    assert_eq!(theirs["data"].as_array().unwrap().len(), 0, "{theirs}");
    let (status, _) = app.call("DELETE", &format!("/api/v1/users/tokens/{id}"), Some(&carol), None).await;
    assert_eq!(status, 404, "another user's token is not found");

    // It acts as bob in every dialect, with bob's rights only.
    let (_, profile) = app.call("GET", "/api/v1/users/profile", Some(&secret), None).await;
    assert_eq!(profile["data"]["username"], "bob", "{profile}");
    assert_eq!(app.call("GET", "/api/tasks", Some(&secret), None).await.0, 200);
    assert_eq!(app.call("GET", "/api/v1/workflows", Some(&secret), None).await.0, 200);
    assert_eq!(app.call("GET", "/api/server/listup", Some(&secret), None).await.0, 403);
    let (_, used) = app.call("GET", "/api/v1/users/tokens", Some(&bob), None).await;
    assert!(used["data"][0]["lastUsedAt"].is_i64(), "{used}");

    // Bad labels and the cap.
    for label in [json!(""), json!("x".repeat(65))] {
        let (status, _) = app.call("POST", "/api/v1/users/tokens", Some(&carol), Some(json!({"label": label}))).await;
        assert_eq!(status, 400);
    }
    for n in 0..20 {
        let (status, _) =
            app.call("POST", "/api/v1/users/tokens", Some(&carol), Some(json!({"label": format!("t{n}")}))).await;
        assert_eq!(status, 201);
    }
    let (status, full) =
        app.call("POST", "/api/v1/users/tokens", Some(&carol), Some(json!({"label": "one more"}))).await;
    assert_eq!(status, 400, "{full}");
    assert!(full["message"].as_str().unwrap().contains("at most 20"), "{full}");

    // Revoked: refused at once, everywhere.
    assert_eq!(app.call("DELETE", &format!("/api/v1/users/tokens/{id}"), Some(&bob), None).await.0, 200);
    assert_eq!(app.call("GET", "/api/v1/users/profile", Some(&secret), None).await.0, 401);
    assert_eq!(app.call("GET", "/api/tasks", Some(&secret), None).await.0, 401);
    assert_eq!(app.call("DELETE", &format!("/api/v1/users/tokens/{id}"), Some(&bob), None).await.0, 404);
    assert_eq!(app.call("GET", "/api/v1/users/tokens", None, None).await.0, 401);
    app.stop().await;
}

gantry_testkit::on_each_backend!(tokens_act_as_their_owner_until_revoked);
