//! Identity across the four dialects, over real HTTP: logins, refresh rotation,
//! logout/revoke, bad and forged tokens, and isolation between users.

use crate::common::{ADMIN_PASSWORD, JWT_SECRET, TestApp};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gantry_accounts::jwt::{Claims, JwtKeys};
use gantry_core::{Dialect, Role};
use gantry_store::Backend;
use gantry_testkit::BACKENDS;
use serde_json::{Value, json};

fn md5_hex(s: &str) -> String {
    // What the star-graph client sends instead of the password.
    use md5::Digest;
    hex::encode(md5::Md5::digest(s.as_bytes()))
}

#[tokio::test]
async fn every_dialect_logs_in_on_one_identity() {
    for engine in BACKENDS {
        let app = TestApp::start(engine).await;

        // comfy-manager
        let (status, body) = app
            .call("POST", "/api/auth/login", None, Some(json!({"username": "admin", "password": ADMIN_PASSWORD})))
            .await;
        assert_eq!((status, body["code"].as_i64()), (200, Some(200)), "{engine:?}: {body}");
        assert_eq!(body["data"]["user"]["username"], "admin");
        let comfy_token = body["data"]["token"].as_str().unwrap().to_owned();
        let (status, me) = app.call("GET", "/api/auth/me", Some(&comfy_token), None).await;
        assert_eq!((status, me["data"]["role"].as_str()), (200, Some("admin")));

        // star-graph, with the MD5 form the spec's client sends
        let (status, body) = app
            .call(
                "POST",
                "/api/v1/auth/login",
                None,
                Some(json!({"username": "admin", "password": md5_hex(ADMIN_PASSWORD)})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["code"], 200);
        assert_eq!(body["data"]["user"]["role"], "ADMIN");
        assert_eq!(body["data"]["expiresIn"], 3600);
        assert!(body["timestamp"].as_i64().unwrap() > 0 && body["requestId"].as_str().is_some());
        let star_token = body["data"]["token"].as_str().unwrap().to_owned();

        // the same identity works across dialects
        let (status, profile) = app.call("GET", "/api/v1/users/profile", Some(&comfy_token), None).await;
        assert_eq!((status, profile["data"]["username"].as_str()), (200, Some("admin")));

        // vflow: a device token from a logged-in session
        let device =
            json!({"deviceId": "550e8400-e29b-41d4-a716-446655440000", "deviceName": "My MacBook Pro", "timestamp": 1});
        let (status, body) = app.call("POST", "/api/v1/auth/token", Some(&star_token), Some(device.clone())).await;
        assert_eq!((status, body["code"].as_i64()), (200, Some(0)), "{body}");
        assert_eq!(body["data"]["tokenType"], "Bearer");
        let vflow_token = body["data"]["token"].as_str().unwrap().to_owned();
        let (status, verified) = app.call("GET", "/api/v1/auth/verify", Some(&vflow_token), None).await;
        assert_eq!((status, verified["data"]["valid"].as_bool()), (200, Some(true)));
        assert_eq!(verified["data"]["deviceInfo"]["deviceName"], "My MacBook Pro");

        // openidcs: the system token is an admin credential, stored hashed, shown once
        let (status, body) = app.call("POST", "/api/system/treset", Some(&star_token), None).await;
        assert_eq!((status, body["code"].as_i64(), body["msg"].is_string()), (200, Some(200), true), "{body}");
        let api_token = body["data"]["token"].as_str().unwrap().to_owned();
        let (status, info) = app.call("GET", "/api/system/tquery", Some(&api_token), None).await;
        assert_eq!(status, 200, "{info}");
        assert_eq!(info["data"]["configured"], true);
        assert_ne!(info["data"]["hint"], json!(api_token), "tquery must not reveal the token");
        let (status, _) = app.call("GET", "/api/v1/users/profile", Some(&api_token), None).await;
        assert_eq!(status, 200, "the system token works on every dialect");

        // tsetup replaces it; the old one stops working
        let chosen = "chosen-token-of-at-least-24-chars";
        let (status, _) =
            app.call("POST", "/api/system/tsetup", Some(&api_token), Some(json!({"token": chosen}))).await;
        assert_eq!(status, 200);
        let (status, body) = app.call("GET", "/api/system/tquery", Some(&api_token), None).await;
        assert_eq!((status, body["code"].as_i64()), (401, Some(401)), "{body}");
        let (status, _) = app.call("GET", "/api/system/tquery", Some(chosen), None).await;
        assert_eq!(status, 200);
        let (status, body) =
            app.call("POST", "/api/system/tsetup", Some(chosen), Some(json!({"token": "short"}))).await;
        assert_eq!((status, body["code"].as_i64()), (400, Some(400)), "{body}");

        // wrong password: each dialect's own error
        let bad = json!({"username": "admin", "password": "wrong-password"});
        let (status, body) = app.call("POST", "/api/auth/login", None, Some(bad.clone())).await;
        assert_eq!((status, body["code"].as_i64(), body["message"].is_string()), (401, Some(401), true));
        let (status, body) = app.call("POST", "/api/v1/auth/login", None, Some(bad)).await;
        assert_eq!((status, body["code"].as_i64(), body["data"].is_null()), (401, Some(401), true));
        app.stop().await;
    }
}

#[tokio::test]
async fn refresh_tokens_rotate_and_answer_in_the_issuers_dialect() {
    for engine in BACKENDS {
        let app = TestApp::start(engine).await;
        let (_, refresh) = app.star_login("admin", ADMIN_PASSWORD).await;

        let (status, body) = app.call("POST", "/api/v1/auth/refresh", Some(&refresh), None).await;
        assert_eq!((status, body["code"].as_i64()), (200, Some(200)), "{engine:?}: {body}");
        assert!(body["requestId"].is_string(), "star-graph envelope: {body}");
        let next = body["data"]["refreshToken"].as_str().unwrap().to_owned();
        let new_access = body["data"]["token"].as_str().unwrap().to_owned();
        let (status, _) = app.call("GET", "/api/v1/users/profile", Some(&new_access), None).await;
        assert_eq!(status, 200);

        // the used token is refused…
        let (status, body) = app.call("POST", "/api/v1/auth/refresh", Some(&refresh), None).await;
        assert_eq!((status, body["code"].as_i64()), (401, Some(401)), "{body}");
        // …and its replay ended the session, so the successor and the access token die too
        let (status, _) = app.call("POST", "/api/v1/auth/refresh", Some(&next), None).await;
        assert_eq!(status, 401);
        let (status, _) = app.call("GET", "/api/v1/users/profile", Some(&new_access), None).await;
        assert_eq!(status, 401);

        // vflow-issued refresh tokens answer in vflow's envelope, also in a JSON body
        let admin = app.admin_token().await;
        let device = json!({"deviceId": "d1", "deviceName": "phone"});
        let (_, body) = app.call("POST", "/api/v1/auth/token", Some(&admin), Some(device)).await;
        let vflow_refresh = body["data"]["refreshToken"].as_str().unwrap().to_owned();
        let (status, body) =
            app.call("POST", "/api/v1/auth/refresh", None, Some(json!({"refreshToken": vflow_refresh}))).await;
        assert_eq!((status, body["code"].as_i64()), (200, Some(0)), "{body}");
        let (status, body) = app.call("POST", "/api/v1/auth/refresh", Some(&vflow_refresh), None).await;
        assert_eq!((status, body["code"].as_i64()), (401, Some(6001)), "{body}");
        app.stop().await;
    }
}

async fn logout_and_revoke_end_access_tokens_at_once(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (access, refresh) = app.star_login("admin", ADMIN_PASSWORD).await;
    let (status, body) = app.call("POST", "/api/v1/auth/logout", Some(&access), None).await;
    assert_eq!((status, body["code"].as_i64()), (200, Some(200)), "{body}");
    let (status, body) = app.call("GET", "/api/v1/users/profile", Some(&access), None).await;
    assert_eq!((status, body["code"].as_i64()), (401, Some(401)), "{body}");
    let (status, _) = app.call("POST", "/api/v1/auth/refresh", Some(&refresh), None).await;
    assert_eq!(status, 401, "logout ends the refresh token too");

    let admin = app.admin_token().await;
    let (_, body) =
        app.call("POST", "/api/v1/auth/token", Some(&admin), Some(json!({"deviceId": "d", "deviceName": "n"}))).await;
    let device_token = body["data"]["token"].as_str().unwrap().to_owned();
    let (status, body) = app.call("POST", "/api/v1/auth/revoke", Some(&device_token), None).await;
    assert_eq!(
        (status, body["code"].as_i64(), body["message"].as_str()),
        (200, Some(0), Some("Token revoked successfully"))
    );
    let (status, body) = app.call("GET", "/api/v1/auth/verify", Some(&device_token), None).await;
    assert_eq!((status, body["code"].as_i64()), (401, Some(6001)), "{body}");
    let (status, _) = app.call("GET", "/api/v1/users/profile", Some(&admin), None).await;
    assert_eq!(status, 200, "revoking one device leaves other sessions alone");
    app.stop().await;
}

async fn a_new_device_token_revokes_the_devices_previous_one(backend: Backend) {
    let app = TestApp::start(backend).await;
    let admin = app.admin_token().await;
    let device = json!({"deviceId": "same-device", "deviceName": "tablet"});
    let (_, first) = app.call("POST", "/api/v1/auth/token", Some(&admin), Some(device.clone())).await;
    let (_, second) = app.call("POST", "/api/v1/auth/token", Some(&admin), Some(device)).await;
    let first = first["data"]["token"].as_str().unwrap();
    let second = second["data"]["token"].as_str().unwrap();
    let (status, refused) = app.call("GET", "/api/v1/auth/verify", Some(first), None).await;
    assert_eq!((status, refused["code"].as_i64()), (401, Some(6001)), "{refused}");
    let why = refused["message"].as_str().unwrap();
    assert!(why.contains("newer token") && why.contains("same-device"), "the old token says why: {why}");
    assert_eq!(app.call("GET", "/api/v1/auth/verify", Some(second), None).await.0, 200);
    // A token ended otherwise (logout) is only revoked.
    let (_, body) = app.call("POST", "/api/v1/auth/revoke", Some(second), None).await;
    assert_eq!(body["code"], 0, "{body}");
    let (_, refused) = app.call("GET", "/api/v1/auth/verify", Some(second), None).await;
    assert_eq!(refused["message"], "invalid or revoked token", "{refused}");
    app.stop().await;
}

/// A token signed with the server's secret but the given claims and header.
fn forge(claims: &Claims) -> String {
    JwtKeys::new(JWT_SECRET.as_bytes()).sign(claims.clone()).unwrap()
}

fn claims_of(token: &str) -> Claims {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

async fn expired_tampered_and_unsigned_tokens_are_refused_in_each_dialect(backend: Backend) {
    let app = TestApp::start(backend).await;
    let admin = app.admin_token().await;
    let real = claims_of(&admin);
    let now = real.iat;

    let expired = forge(&Claims { iat: now - 7200, exp: now - 3600, ..real.clone() });
    let (status, body) = app.call("GET", "/api/v1/auth/verify", Some(&expired), None).await;
    assert_eq!((status, body["code"].as_i64()), (401, Some(6002)), "vflow says expired: {body}");
    assert_eq!(body["data"], Value::Null);
    let (status, body) = app.call("GET", "/api/v1/users/profile", Some(&expired), None).await;
    assert_eq!((status, body["code"].as_i64()), (401, Some(401)), "{body}");

    // Tampered: same header and signature, payload claims another user.
    let mut parts: Vec<String> = admin.split('.').map(str::to_owned).collect();
    let other = Claims { sub: "1002".into(), role: Role::Admin, ..real.clone() };
    parts[1] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&other).unwrap());
    let tampered = parts.join(".");
    // alg: none with no signature.
    let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let unsigned = format!("{none_header}.{}.", admin.split('.').nth(1).unwrap());
    // Signed right but for a session that does not exist.
    let ghost = forge(&Claims { sid: "no-such-session".into(), ..real.clone() });

    for bad in [tampered, unsigned, ghost, "garbage".to_owned()] {
        let (status, body) = app.call("GET", "/api/auth/me", Some(&bad), None).await;
        assert_eq!(
            (status, body["code"].as_i64(), body["message"].is_string()),
            (401, Some(401), true),
            "comfy: {body}"
        );
        let (status, body) = app.call("GET", "/api/v1/users/profile", Some(&bad), None).await;
        assert_eq!(
            (status, body["code"].as_i64(), body["requestId"].is_string()),
            (401, Some(401), true),
            "star: {body}"
        );
        let (status, body) = app.call("GET", "/api/system/tquery", Some(&bad), None).await;
        assert_eq!(
            (status, body["code"].as_i64(), body["msg"].is_string()),
            (401, Some(401), true),
            "openidcs: {body}"
        );
        let (status, body) = app.call("GET", "/api/v1/auth/verify", Some(&bad), None).await;
        assert_eq!((status, body["code"].as_i64()), (401, Some(6001)), "vflow: {body}");
    }
    // No token at all.
    let (status, body) = app.call("GET", "/api/v1/auth/verify", None, None).await;
    assert_eq!((status, body["code"].as_i64()), (401, Some(6001)), "{body}");
    let (status, body) = app.call("POST", "/api/system/treset", None, None).await;
    assert_eq!((status, body["code"].as_i64()), (401, Some(401)), "{body}");
    app.stop().await;
}

#[tokio::test]
async fn one_user_cannot_read_or_change_another() {
    for engine in BACKENDS {
        let app = TestApp::start(engine).await;
        let admin = app.admin_token().await;
        let alice_id = app.create_user(&admin, "alice", "alice-password").await;
        let bob_id = app.create_user(&admin, "bob", "bob-password-1").await;
        let (alice, _) = app.star_login("alice", "alice-password").await;

        let (status, body) = app
            .call(
                "PUT",
                "/api/v1/users/profile",
                Some(&alice),
                Some(json!({"nickname": "Alice A", "email": "a@example.com"})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!((body["data"]["id"].as_i64(), body["data"]["nickname"].as_str()), (Some(alice_id), Some("Alice A")));

        let (bob, _) = app.star_login("bob", "bob-password-1").await;
        let (_, bob_profile) = app.call("GET", "/api/v1/users/profile", Some(&bob), None).await;
        assert_eq!(
            (bob_profile["data"]["nickname"].as_str(), bob_profile["data"]["email"].clone()),
            (Some("bob"), Value::Null)
        );

        for (method, path, body) in [
            ("GET", format!("/api/v1/admin/users/{bob_id}"), None),
            ("PUT", format!("/api/v1/admin/users/{bob_id}/role"), Some(json!({"role": "USER"}))),
            ("PUT", format!("/api/v1/admin/users/{alice_id}/role"), Some(json!({"role": "ADMIN"}))),
            ("GET", "/api/v1/admin/users".to_owned(), None),
            (
                "POST",
                "/api/v1/admin/users".to_owned(),
                Some(json!({"username": "mallory", "password": "mallory-pass"})),
            ),
            ("POST", "/api/system/treset".to_owned(), None),
            ("POST", "/api/v1/auth/pairing-codes".to_owned(), Some(json!({"userId": bob_id}))),
        ] {
            let (status, answer) = app.call(method, &path, Some(&alice), body).await;
            assert_eq!(status, 403, "{engine:?} {method} {path}: {answer}");
        }
        let (status, own) = app.call("GET", &format!("/api/v1/admin/users/{alice_id}"), Some(&alice), None).await;
        assert_eq!(status, 200, "a user may read themselves: {own}");
        let (status, listed) = app.call("GET", "/api/v1/admin/users?page=1&pageSize=2", Some(&admin), None).await;
        assert_eq!(status, 200);
        assert_eq!(
            (listed["data"]["totalElements"].as_i64(), listed["data"]["totalPages"].as_i64()),
            (Some(3), Some(2))
        );
        let (status, promoted) = app
            .call("PUT", &format!("/api/v1/admin/users/{bob_id}/role"), Some(&admin), Some(json!({"role": "ADMIN"})))
            .await;
        assert_eq!((status, promoted["data"]["role"].as_str()), (200, Some("ADMIN")));
        app.stop().await;
    }
}

async fn the_last_admin_cannot_demote_itself(backend: Backend) {
    let app = TestApp::start(backend).await;
    let admin = app.admin_token().await;
    let (_, me) = app.call("GET", "/api/v1/users/profile", Some(&admin), None).await;
    let admin_id = me["data"]["id"].as_i64().unwrap();
    let demote = |id: i64| format!("/api/v1/admin/users/{id}/role");

    let (status, body) = app.call("PUT", &demote(admin_id), Some(&admin), Some(json!({"role": "USER"}))).await;
    assert_eq!((status, body["code"].as_i64()), (400, Some(400)), "{backend:?}: {body}");
    assert!(body["message"].as_str().unwrap_or_default().contains("last admin"), "{body}");
    let (_, me) = app.call("GET", "/api/v1/users/profile", Some(&admin), None).await;
    assert_eq!(me["data"]["role"], "ADMIN", "nothing changed");

    // With a second admin, either may step down, but not both.
    let second = app.create_user(&admin, "second", "second-password").await;
    let (status, _) = app.call("PUT", &demote(second), Some(&admin), Some(json!({"role": "ADMIN"}))).await;
    assert_eq!(status, 200);
    let (status, body) = app.call("PUT", &demote(admin_id), Some(&admin), Some(json!({"role": "USER"}))).await;
    assert_eq!(status, 200, "{body}");
    let (second_token, _) = app.star_login("second", "second-password").await;
    let (status, body) = app.call("PUT", &demote(second), Some(&second_token), Some(json!({"role": "USER"}))).await;
    assert_eq!(status, 400, "{body}");
    app.stop().await;
}

async fn pairing_codes_admit_a_device_exactly_once(backend: Backend) {
    let app = TestApp::start(backend).await;
    let admin = app.admin_token().await;
    let carol = app.create_user(&admin, "carol", "carol-password").await;

    let device = json!({"deviceId": "kiosk-1", "deviceName": "kiosk"});
    let (status, body) = app.call("POST", "/api/v1/auth/token", None, Some(device.clone())).await;
    assert_eq!((status, body["code"].as_i64()), (401, Some(6001)), "no anonymous tokens: {body}");
    let how = body["message"].as_str().unwrap();
    assert!(how.contains("POST /api/v1/auth/login") && how.contains("pairing-codes"), "the way in is named: {how}");

    let (status, body) =
        app.call("POST", "/api/v1/auth/pairing-codes", Some(&admin), Some(json!({"userId": carol}))).await;
    assert_eq!(status, 201, "{body}");
    let code = body["data"]["code"].as_str().unwrap().to_owned();

    let mut with_code = device.clone();
    with_code["pairingCode"] = json!(code.to_lowercase());
    let (status, body) = app.call("POST", "/api/v1/auth/token", None, Some(with_code.clone())).await;
    assert_eq!(status, 200, "{body}");
    let token = body["data"]["token"].as_str().unwrap().to_owned();
    let (_, profile) = app.call("GET", "/api/v1/users/profile", Some(&token), None).await;
    assert_eq!(profile["data"]["username"], "carol");

    let (status, body) = app.call("POST", "/api/v1/auth/token", None, Some(with_code)).await;
    assert_eq!((status, body["code"].as_i64()), (401, Some(6001)), "a code works once: {body}");
    let (status, body) =
        app.call("POST", "/api/v1/auth/token", Some(&admin), Some(json!({"deviceId": "", "deviceName": "x"}))).await;
    assert_eq!((status, body["code"].as_i64()), (400, Some(400)), "{body}");
    app.stop().await;
}

async fn tokens_remember_their_dialect(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (status, body) =
        app.call("POST", "/api/auth/login", None, Some(json!({"username": "admin", "password": ADMIN_PASSWORD}))).await;
    assert_eq!(status, 200);
    let claims = claims_of(body["data"]["token"].as_str().unwrap());
    assert_eq!(claims.dia, Dialect::ComfyManager);
    assert!(claims.exp - claims.iat == 3600);
    app.stop().await;
}

async fn repeated_wrong_passwords_lock_that_login_out_for_a_while(backend: Backend) {
    let app = TestApp::start(backend).await;
    let admin = app.admin_token().await;
    app.create_user(&admin, "mallory-target", "right-password-1").await;
    let wrong = |password: &str| json!({"username": "mallory-target", "password": password});
    for attempt in 0..5 {
        let (status, body) = app.call("POST", "/api/auth/login", None, Some(wrong(&format!("guess-{attempt}")))).await;
        assert_eq!(status, 401, "attempt {attempt}: {body}");
    }
    // Now even the right password is refused, in each dialect's envelope, without a check.
    let (status, body) = app.call("POST", "/api/auth/login", None, Some(wrong("right-password-1"))).await;
    assert_eq!((status, body["code"].as_i64()), (429, Some(429)), "{body}");
    assert!(body["details"]["resetAt"].is_i64(), "{body}");
    let star = json!({"username": "mallory-target", "password": md5_hex("right-password-1")});
    let (status, body) = app.call("POST", "/api/v1/auth/login", None, Some(star)).await;
    assert_eq!((status, body["code"].as_i64(), body["data"].is_null()), (429, Some(429), true), "{body}");
    // Other users log in as usual.
    let (status, _) =
        app.call("POST", "/api/auth/login", None, Some(json!({"username": "admin", "password": ADMIN_PASSWORD}))).await;
    assert_eq!(status, 200);
    app.stop().await;

    // The window is configurable; once it has passed, the right password works again.
    let app = TestApp::start_with(backend, |c| c.auth.failed_login_window_secs = 1).await;
    let admin = app.admin_token().await;
    app.create_user(&admin, "mallory-target", "right-password-1").await;
    for attempt in 0..5 {
        app.call("POST", "/api/auth/login", None, Some(wrong(&format!("guess-{attempt}")))).await;
    }
    let (status, _) = app.call("POST", "/api/auth/login", None, Some(wrong("right-password-1"))).await;
    assert_eq!(status, 429);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (status, body) = app.call("POST", "/api/auth/login", None, Some(wrong("right-password-1"))).await;
    assert_eq!(status, 200, "{body}");
    app.stop().await;
}

async fn one_address_spraying_many_usernames_is_refused(backend: Backend) {
    let app = TestApp::start_with(backend, |c| c.auth.max_failed_logins_per_address = 10).await;
    for i in 0..10 {
        let body = json!({"username": format!("sprayed-{i}"), "password": "Winter2026!"});
        let (status, body) = app.call("POST", "/api/auth/login", None, Some(body)).await;
        assert_eq!(status, 401, "username {i}: {body}");
    }
    // An eleventh username from the same address, in either dialect, and even the admin.
    let (status, body) =
        app.call("POST", "/api/auth/login", None, Some(json!({"username": "sprayed-10", "password": "x"}))).await;
    assert_eq!((status, body["code"].as_i64()), (429, Some(429)), "{body}");
    let star = json!({"username": "sprayed-11", "password": md5_hex("x")});
    let (status, body) = app.call("POST", "/api/v1/auth/login", None, Some(star)).await;
    assert_eq!(status, 429, "{body}");
    let admin = json!({"username": "admin", "password": ADMIN_PASSWORD});
    assert_eq!(app.call("POST", "/api/auth/login", None, Some(admin)).await.0, 429);
    app.stop().await;
}

/// Behind a trusted load balancer, the limits count the client it names, not the balancer:
/// one client's spraying does not lock out the others; an untrusted peer's header is ignored.
async fn behind_a_trusted_proxy_each_client_counts_apart(backend: Backend) {
    let app = TestApp::start_with(backend, |c| {
        c.auth.max_failed_logins_per_address = 3;
        c.http.trusted_proxies = vec!["127.0.0.0/8".into()];
    })
    .await;
    spray(&app, "198.51.100.7").await;
    assert_eq!(login_from(&app, "198.51.100.7", "sprayed-3").await, 429, "the spraying client is refused");
    assert_eq!(login_from(&app, "203.0.113.8", "sprayed-3").await, 401, "another client behind the same proxy is not");
    app.stop().await;

    // Without the proxy trusted, the header counts for nothing: every request is the peer's.
    let app = TestApp::start_with(backend, |c| c.auth.max_failed_logins_per_address = 3).await;
    spray(&app, "198.51.100.7").await;
    assert_eq!(login_from(&app, "203.0.113.8", "sprayed-3").await, 429, "a claimed address changes nothing");
    app.stop().await;
}

/// A wrong login for `username` sent with `X-Forwarded-For: from`; the status.
async fn login_from(app: &TestApp, from: &str, username: &str) -> u16 {
    let body = json!({"username": username, "password": "Winter2026!"});
    let request = app.http.post(app.url("/api/auth/login")).header("x-forwarded-for", from).json(&body);
    request.send().await.unwrap().status().as_u16()
}

/// Three wrong logins for three usernames, said to come from `from`.
async fn spray(app: &TestApp, from: &str) {
    for i in 0..3 {
        assert_eq!(login_from(app, from, &format!("sprayed-{i}")).await, 401);
    }
}

async fn a_login_flood_is_refused_not_hashed_without_bound(backend: Backend) {
    let app = TestApp::start(backend).await;
    let logins = (0..150).map(|i| {
        let body = json!({"username": format!("nobody-{i}"), "password": format!("guess-{i}")});
        app.call("POST", "/api/auth/login", None, Some(body))
    });
    let answers = futures_util::future::join_all(logins).await;
    let count = |code: u16| answers.iter().filter(|(status, _)| *status == code).count();
    let (unauthorized, limited, busy) = (count(401), count(429), count(503));
    assert_eq!(unauthorized + limited + busy, 150, "{answers:?}");
    // Only what got a hashing worker or a place in its queue was checked: the per-address
    // limit (20) plus what was already queued when it was reached (a queue of 8 per core).
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    assert!(unauthorized <= 20 + 9 * cores, "{unauthorized} passwords checked");
    assert!(limited + busy >= 150 - 20 - 9 * cores);
    let (status, body) = app.call("GET", "/api/health", None, None).await;
    assert_eq!(status, 200, "{body}");
    app.stop().await;
}

gantry_testkit::on_each_backend!(
    one_address_spraying_many_usernames_is_refused,
    behind_a_trusted_proxy_each_client_counts_apart,
    a_login_flood_is_refused_not_hashed_without_bound,
    the_last_admin_cannot_demote_itself,
    logout_and_revoke_end_access_tokens_at_once,
    a_new_device_token_revokes_the_devices_previous_one,
    expired_tampered_and_unsigned_tokens_are_refused_in_each_dialect,
    pairing_codes_admit_a_device_exactly_once,
    tokens_remember_their_dialect,
    repeated_wrong_passwords_lock_that_login_out_for_a_while
);
