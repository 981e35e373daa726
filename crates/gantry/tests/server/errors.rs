//! Bad input in every dialect: unknown routes, wrong methods, bad JSON, wrong types,
//! oversize bodies — always the dialect's envelope and the right status, never a panic
//! or an HTML page.

use crate::common::TestApp;
use gantry_store::Backend;
use serde_json::{Value, json};

async fn raw(app: &TestApp, method: &str, path: &str, content_type: Option<&str>, body: Vec<u8>) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = app.http.request(method, app.url(path)).body(body);
    if let Some(ct) = content_type {
        request = request.header("content-type", ct);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or_else(|_| panic!("{path}: not JSON: {text}")))
}

/// Asserts `body` is `dialect`'s error envelope with `code`.
fn assert_envelope(dialect: &str, body: &Value, code: Value) {
    match dialect {
        "comfy" => assert!(body["message"].is_string() && body.get("msg").is_none(), "{body}"),
        "star" => assert!(
            body["message"].is_string() && body["timestamp"].is_i64() && body["requestId"].is_string(),
            "{body}"
        ),
        "openidcs" => assert!(body["msg"].is_string() && body.get("data").is_some(), "{body}"),
        "vflow" => {
            assert!(body["message"].is_string() && body.get("details").is_some() && body["data"].is_null(), "{body}")
        }
        _ => unreachable!(),
    }
    assert_eq!(body["code"], code, "{dialect}: {body}");
}

async fn unknown_routes_and_methods_answer_in_the_owning_dialect(backend: Backend) {
    let app = TestApp::start(backend).await;
    for (dialect, path, code) in [
        ("comfy", "/api/nothing-here", Value::from(404)),
        ("comfy", "/", Value::from(404)),
        ("star", "/api/v1/nothing-here", Value::from(404)),
        ("openidcs", "/api/system/nothing", Value::from(404)),
        ("openidcs", "/api/client/nothing/h/v", Value::from(404)),
        ("vflow", "/api/v1/workflows/unknown/whatever", Value::from(404)),
    ] {
        let (status, body) = raw(&app, "GET", path, None, vec![]).await;
        assert_eq!(status, 404, "{path}");
        assert_envelope(dialect, &body, code);
    }
    let (status, body) = raw(&app, "DELETE", "/api/health", None, vec![]).await;
    assert_eq!(status, 405);
    assert_envelope("comfy", &body, Value::from(405));
    let (status, body) = raw(&app, "GET", "/api/v1/auth/login", None, vec![]).await;
    assert_eq!(status, 405);
    assert_envelope("star", &body, Value::from(405));
    let (status, body) = raw(&app, "GET", "/api/v1/auth/token", None, vec![]).await;
    assert_eq!(status, 405);
    assert_envelope("vflow", &body, Value::from(405));
    app.stop().await;
}

async fn malformed_bodies_get_a_clear_error(backend: Backend) {
    let app = TestApp::start(backend).await;
    let json = Some("application/json");
    for (dialect, path, code_400, code_415) in [
        ("comfy", "/api/auth/login", Value::from(400), Value::from(415)),
        ("star", "/api/v1/auth/login", Value::from(400), Value::from(415)),
        ("vflow", "/api/v1/auth/token", Value::from(400), Value::from(8001)),
    ] {
        let (status, body) = raw(&app, "POST", path, json, b"{not json".to_vec()).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_envelope(dialect, &body, code_400.clone());
        let (status, body) =
            raw(&app, "POST", path, json, br#"{"username": 5, "password": [], "deviceId": 1}"#.to_vec()).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_envelope(dialect, &body, code_400);
        let (status, body) = raw(&app, "POST", path, Some("text/plain"), b"{}".to_vec()).await;
        assert_eq!(status, 415, "{path}: {body}");
        assert_envelope(dialect, &body, code_415);
    }
    let admin = app.admin_token().await;
    let response = app
        .http
        .post(app.url("/api/system/tsetup"))
        .bearer_auth(&admin)
        .header("content-type", "application/json")
        .body("[1,2")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    assert_envelope("openidcs", &response.json().await.unwrap(), Value::from(400));
    app.stop().await;
}

async fn oversize_bodies_are_refused_with_413(backend: Backend) {
    let app = TestApp::start_with(backend, |c| c.http.max_body_bytes = 1024).await;
    let big = format!(r#"{{"username":"{}","password":"x"}}"#, "a".repeat(4096)).into_bytes();
    for (dialect, path, code) in [
        ("comfy", "/api/auth/login", Value::from(413)),
        ("star", "/api/v1/auth/login", Value::from(413)),
        ("vflow", "/api/v1/auth/token", Value::from(8002)),
    ] {
        let (status, body) = raw(&app, "POST", path, Some("application/json"), big.clone()).await;
        assert_eq!(status, 413, "{path}");
        assert_envelope(dialect, &body, code);
    }
    app.stop().await;
}

async fn request_ids_are_honoured_or_generated(backend: Backend) {
    let app = TestApp::start(backend).await;
    let response = app.http.get(app.url("/api/v1/none")).header("x-request-id", "trace-abc-123").send().await.unwrap();
    assert_eq!(response.headers()["x-request-id"], "trace-abc-123");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["requestId"], "trace-abc-123");
    let response = app.http.get(app.url("/api/health")).header("x-request-id", "x".repeat(500)).send().await.unwrap();
    let generated = response.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(generated.len(), 36, "an unreasonable id is replaced by a UUID");
    app.stop().await;
}

async fn health_endpoints_report_their_dialect_shapes(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (status, body) = raw(&app, "GET", "/api/health", None, vec![]).await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["status"], "ok");
    assert_eq!(body["data"]["database"], "ok");
    assert_eq!(body["data"]["redis"], "disabled");
    let (status, body) = raw(&app, "GET", "/api/v1/system/health", None, vec![]).await;
    assert_eq!((status, body["code"].as_i64(), body["message"].as_str()), (200, Some(0), Some("healthy")));
    assert_eq!(body["data"]["status"], "healthy");
    assert!(body["data"]["uptime"].as_i64().unwrap() >= 0 && body["data"]["timestamp"].as_i64().unwrap() > 0);
    app.stop().await;
}

async fn openapi_lists_every_route(backend: Backend) {
    let app = TestApp::start(backend).await;
    let doc: Value = app.http.get(app.url("/openapi.json")).send().await.unwrap().json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for (path, method) in [
        ("/api/auth/login", "post"),
        ("/api/auth/me", "get"),
        ("/api/health", "get"),
        ("/api/v1/auth/login", "post"),
        ("/api/v1/auth/refresh", "post"),
        ("/api/v1/auth/logout", "post"),
        ("/api/v1/users/profile", "get"),
        ("/api/v1/users/profile", "put"),
        ("/api/v1/admin/users", "get"),
        ("/api/v1/admin/users", "post"),
        ("/api/v1/admin/users/{userId}", "get"),
        ("/api/v1/admin/users/{userId}/role", "put"),
        ("/api/system/treset", "post"),
        ("/api/system/tsetup", "post"),
        ("/api/system/tquery", "get"),
        ("/api/v1/auth/token", "post"),
        ("/api/v1/auth/verify", "get"),
        ("/api/v1/auth/revoke", "post"),
        ("/api/v1/auth/pairing-codes", "post"),
        ("/api/v1/system/health", "get"),
        ("/api/instances", "get"),
        ("/api/instances/{instanceId}", "put"),
        ("/api/tasks", "post"),
        ("/api/tasks/{taskId}", "delete"),
        ("/api/files/upload", "post"),
        ("/api/config", "put"),
        ("/api/monitor/overview", "get"),
        ("/ws", "get"),
        ("/ws/info", "get"),
        ("/ws/{server}/{session}/xhr_send", "post"),
        ("/api/v1/users/balance", "get"),
        ("/api/v1/users/fund-records", "get"),
        ("/api/v1/generate/text2img", "post"),
        ("/api/v1/generate/img2video", "post"),
        ("/api/v1/tasks/{taskId}/retry", "post"),
        ("/api/v1/admin/users/{userId}/credits", "post"),
        ("/openapi.json", "get"),
    ] {
        assert!(paths.get(path).and_then(|p| p.get(method)).is_some(), "{method} {path} missing from /openapi.json");
    }
    // And every documented operation really answers (not the unknown-route fallback).
    for (path, item) in paths {
        for method in item.as_object().unwrap().keys() {
            let concrete = path.replace("{userId}", "1001");
            let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let response = app.http.request(m, app.url(&concrete)).send().await.unwrap();
            let status = response.status().as_u16();
            // Only a 404 body matters here (streaming transports never end their bodies).
            let text = if status == 404 { response.text().await.unwrap() } else { String::new() };
            assert!(
                !(status == 404 && text.contains("no route for")) && status != 405,
                "{method} {path} is documented but not routed ({status})"
            );
        }
    }
    app.stop().await;
}

async fn huge_amounts_and_pages_are_refused_and_change_nothing(backend: Backend) {
    let app = TestApp::start(backend).await;
    let admin = app.admin_token().await;
    let id = app.create_user(&admin, "rich", "rich-password").await;
    let (token, _) = app.star_login("rich", "rich-password").await;
    let grant = |amount: i64| json!({"amount": amount, "reason": "test"});
    let credits = format!("/api/v1/admin/users/{id}/credits");

    let (status, body) = app.call("POST", &credits, Some(&admin), Some(grant(i64::MAX))).await;
    assert_eq!((status, body["code"].as_i64()), (400, Some(400)), "{backend:?}: {body}");
    let most = gantry_ledger::MAX_BALANCE;
    let (status, body) = app.call("POST", &credits, Some(&admin), Some(grant(most))).await;
    assert_eq!(status, 200, "{body}");
    for amount in [1, i64::MAX] {
        let (status, body) = app.call("POST", &credits, Some(&admin), Some(grant(amount))).await;
        assert_eq!((status, body["code"].as_i64()), (400, Some(400)), "{backend:?} +{amount}: {body}");
    }
    let (_, balance) = app.call("GET", "/api/v1/users/balance", Some(&token), None).await;
    assert_eq!(balance["data"]["available"].as_i64(), Some(most), "{balance}");
    let (_, records) = app.call("GET", "/api/v1/users/fund-records", Some(&token), None).await;
    assert_eq!(records["data"]["totalElements"].as_i64(), Some(1), "only the accepted grant: {records}");

    for path in
        ["/api/v1/users/fund-records?page=9223372036854775807", "/api/v1/tasks?page=9223372036854775807&pageSize=100"]
    {
        let (status, body) = app.call("GET", path, Some(&token), None).await;
        assert_eq!((status, body["code"].as_i64()), (400, Some(400)), "{backend:?} {path}: {body}");
    }
    let (status, body) = app.call("GET", "/api/v1/admin/users?page=9223372036854775807", Some(&admin), None).await;
    assert_eq!(status, 400, "{body}");
    app.stop().await;
}

async fn sockjs_sends_that_are_not_arrays_of_strings_get_400(backend: Backend) {
    let app = TestApp::start(backend).await;
    let opened = app.http.post(app.url("/ws/000/badsend/xhr")).send().await.unwrap();
    assert_eq!((opened.status().as_u16(), opened.text().await.unwrap()), (200, "o\n".to_owned()));
    for body in ["not json", "[1, 2]", "{\"a\": 1}", "[]", ""] {
        let answer = app.http.post(app.url("/ws/000/badsend/xhr_send")).body(body).send().await.unwrap();
        assert_eq!(answer.status().as_u16(), 400, "{backend:?} {body:?}");
    }
    let fine = app.http.post(app.url("/ws/000/badsend/xhr_send")).body(r#"["\n"]"#).send().await.unwrap();
    assert_eq!(fine.status().as_u16(), 204, "a heartbeat is accepted");
    app.stop().await;
}

gantry_testkit::on_each_backend!(
    sockjs_sends_that_are_not_arrays_of_strings_get_400,
    huge_amounts_and_pages_are_refused_and_change_nothing,
    unknown_routes_and_methods_answer_in_the_owning_dialect,
    malformed_bodies_get_a_clear_error,
    oversize_bodies_are_refused_with_413,
    request_ids_are_honoured_or_generated,
    health_endpoints_report_their_dialect_shapes,
    openapi_lists_every_route
);
