//! vflow system info and statistics, rate limits (429/7001 with details and headers,
//! separate windows per class and per token), and the routes in `/openapi.json`.

use crate::common::TestApp;
use crate::common::vflow::step;
use gantry_store::Backend;
use serde_json::{Value, json};

async fn system_info_and_stats_describe_this_server_and_the_callers_work(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (_, user) = app.admin_and_user("alice").await;
    let t = Some(user.as_str());
    let (status, body) = app.call("GET", "/api/v1/system/info", t, None).await;
    assert_eq!(status, 200, "{body}");
    let d = &body["data"];
    assert_eq!((d["device"]["brand"].as_str(), d["device"]["manufacturer"].as_str()), (Some("Gantry"), Some("Gantry")));
    assert!(d["device"]["androidVersion"].as_str().is_some_and(|v| !v.is_empty()), "OS/kernel: {d}");
    assert!(d["device"]["cpuCount"].as_u64().unwrap() >= 1);
    assert!(d["capabilities"]["supportedFeatures"].as_array().unwrap().iter().any(|f| f == "webhook_triggers"));
    assert!(d["server"]["startTime"].as_i64().is_some() && d["server"]["uptime"].as_i64().unwrap() >= 0);
    assert_eq!(
        d["permissions"][0],
        json!({"name": "ADMIN", "granted": false, "description": "Manage instances, users and compute"})
    );

    let ok = app.workflow(&user, "ok", json!([step("l", "log", 0, json!({"message": "x"}))])).await;
    let bad = app.workflow(&user, "bad", json!([step("p", "json_parse", 0, json!({"text": "{"}))])).await;
    app.call("POST", "/api/v1/folders", t, Some(json!({"name": "f"}))).await;
    app.run_sync(&user, &ok, json!({})).await;
    app.run_sync(&user, &ok, json!({})).await;
    app.run_sync(&user, &bad, json!({})).await;
    app.call("POST", &format!("/api/v1/workflows/{bad}/disable"), t, None).await;

    let (status, body) = app.call("GET", "/api/v1/system/stats?period=all", t, None).await;
    assert_eq!(status, 200, "{body}");
    let s = &body["data"];
    assert_eq!(
        (s["workflowCount"].as_i64(), s["enabledWorkflowCount"].as_i64(), s["folderCount"].as_i64()),
        (Some(2), Some(1), Some(1))
    );
    assert_eq!(
        (s["totalExecutions"].as_i64(), s["successfulExecutions"].as_i64(), s["failedExecutions"].as_i64()),
        (Some(3), Some(2), Some(1))
    );
    assert!((s["successRate"].as_f64().unwrap() - 2.0 / 3.0).abs() < 1e-9);
    assert_eq!(s["todayExecutions"], 3);
    assert_eq!(s["topWorkflows"][0], json!({"workflowId": ok, "name": "ok", "executionCount": 2}));
    assert!(
        s["storageUsage"]["totalBytes"].as_u64().unwrap() > 0 && s["memoryUsage"]["usedBytes"].as_u64().unwrap() > 0
    );
    let (status, _) = app.call("GET", "/api/v1/system/stats?period=year", t, None).await;
    assert_eq!(status, 400);
    // Another user's statistics are their own.
    let admin = app.admin_token().await;
    let (_, body) = app.call("GET", "/api/v1/system/stats", Some(&admin), None).await;
    assert_eq!((body["data"]["workflowCount"].as_i64(), body["data"]["totalExecutions"].as_i64()), (Some(0), Some(0)));
    app.stop().await;
}

async fn raw(app: &TestApp, method: &str, path: &str, token: &str) -> reqwest::Response {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    app.http.request(method, app.url(path)).bearer_auth(token).json(&json!({})).send().await.unwrap()
}

fn header(r: &reqwest::Response, name: &str) -> i64 {
    r.headers().get(name).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok()).unwrap_or(-1)
}

async fn rate_limits_count_per_class_and_token(backend: Backend) {
    let app = TestApp::start_with(backend, |c| {
        c.automation.rate_limits.query = 3;
        c.automation.rate_limits.modify = 2;
        c.automation.rate_limits.execute = 1;
    })
    .await;
    let (admin, user) = app.admin_and_user("bob").await;
    let wf = app.workflow(&user, "w", json!([])).await; // modify 1 of 2

    let first = raw(&app, "GET", "/api/v1/workflows", &user).await;
    assert_eq!((header(&first, "x-ratelimit-limit"), header(&first, "x-ratelimit-remaining")), (3, 2));
    assert!(header(&first, "x-ratelimit-reset") > 0);
    raw(&app, "GET", "/api/v1/folders", &user).await;
    raw(&app, "GET", "/api/v1/executions", &user).await;
    let limited = raw(&app, "GET", "/api/v1/workflows", &user).await;
    assert_eq!(limited.status(), 429);
    assert_eq!(header(&limited, "x-ratelimit-remaining"), 0);
    let reset = header(&limited, "x-ratelimit-reset");
    let body: Value = limited.json().await.unwrap();
    assert_eq!(body["code"], 7001, "{body}");
    assert_eq!((body["details"]["limit"].as_i64(), body["details"]["remaining"].as_i64()), (Some(3), Some(0)));
    assert_eq!(body["details"]["resetAt"].as_i64(), Some(reset));

    // Other classes and other tokens have their own windows.
    let ran = raw(&app, "POST", &format!("/api/v1/workflows/{wf}/execute"), &user).await;
    assert_eq!((ran.status().as_u16(), header(&ran, "x-ratelimit-limit")), (202, 1));
    assert_eq!(raw(&app, "POST", &format!("/api/v1/workflows/{wf}/execute"), &user).await.status(), 429);
    assert_eq!(
        raw(&app, "POST", &format!("/api/v1/workflows/{wf}/disable"), &user).await.status(),
        200,
        "modify 2 of 2"
    );
    assert_eq!(raw(&app, "POST", &format!("/api/v1/workflows/{wf}/enable"), &user).await.status(), 429);
    assert_eq!(
        raw(&app, "GET", "/api/v1/workflows", &admin).await.status(),
        200,
        "the admin's token has its own window"
    );
    // Errors carry the headers too; other dialects are not limited by vflow's table.
    let missing = raw(&app, "GET", "/api/v1/workflows/ghost", &admin).await;
    assert_eq!((missing.status().as_u16(), header(&missing, "x-ratelimit-limit")), (404, 3));
    let star = raw(&app, "GET", "/api/v1/users/profile", &user).await;
    assert_eq!((star.status().as_u16(), header(&star, "x-ratelimit-limit")), (200, -1));
    app.stop().await;
}

async fn token_issuance_is_limited_per_client_address(backend: Backend) {
    let app = TestApp::start_with(backend, |c| c.automation.rate_limits.auth = 2).await;
    let admin = app.admin_token().await;
    let device = |n: u32| json!({"deviceId": format!("d{n}"), "deviceName": "n"});
    for n in 0..2 {
        let (status, body) = app.call("POST", "/api/v1/auth/token", Some(&admin), Some(device(n))).await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, body) = app.call("POST", "/api/v1/auth/token", None, Some(device(9))).await;
    assert_eq!((status, body["code"].as_i64()), (429, Some(7001)), "per address, with or without a token: {body}");
    app.stop().await;
}

async fn every_vflow_route_is_in_the_openapi_document(backend: Backend) {
    let app = TestApp::start(backend).await;
    let doc: Value = app.http.get(app.url("/openapi.json")).send().await.unwrap().json().await.unwrap();
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/api/v1/workflows",
        "/api/v1/workflows/{workflowId}",
        "/api/v1/workflows/{workflowId}/duplicate",
        "/api/v1/workflows/{workflowId}/enable",
        "/api/v1/workflows/{workflowId}/disable",
        "/api/v1/workflows/batch",
        "/api/v1/workflows/{workflowId}/magic-variables",
        "/api/v1/workflows/{workflowId}/execute",
        "/api/v1/workflows/{workflowId}/export",
        "/api/v1/workflows/import",
        "/api/v1/workflows/export-batch",
        "/api/v1/workflows/import-batch",
        "/api/v1/folders",
        "/api/v1/folders/{folderId}",
        "/api/v1/executions",
        "/api/v1/executions/{executionId}",
        "/api/v1/executions/{executionId}/stop",
        "/api/v1/executions/{executionId}/logs",
        "/api/v1/system/info",
        "/api/v1/system/stats",
        "/api/v1/webhooks/{secret}",
    ] {
        assert!(paths.contains_key(path), "{path} missing from /openapi.json");
    }
    assert!(doc["components"]["schemas"].get("WorkflowBody").is_some(), "request schemas are registered");
    app.stop().await;
}

async fn webhooks_are_limited_per_address_whatever_the_token(backend: Backend) {
    let app = TestApp::start_with(backend, |c| c.automation.rate_limits.execute = 2).await;
    let unknown = format!("/api/v1/webhooks/{}", "0".repeat(64));
    let mut statuses = Vec::new();
    for i in 0..4 {
        // A made-up token per request must not open a new window.
        statuses.push(raw(&app, "POST", &unknown, &format!("junk-{i}")).await.status().as_u16());
    }
    assert_eq!(statuses, [404, 404, 429, 429], "{backend:?}");
    app.stop().await;
}

gantry_testkit::on_each_backend!(
    webhooks_are_limited_per_address_whatever_the_token,
    system_info_and_stats_describe_this_server_and_the_callers_work,
    rate_limits_count_per_class_and_token,
    token_issuance_is_limited_per_client_address,
    every_vflow_route_is_in_the_openapi_document
);
