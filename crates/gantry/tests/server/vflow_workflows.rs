//! vflow workflows and folders over HTTP: CRUD, validation codes, duplicates, batch,
//! magic variables, folder trees, and one user never seeing another's data.

use crate::common::TestApp;
use crate::common::vflow::step;
use gantry_store::Backend;
use serde_json::{Value, json};

fn code(body: &Value) -> i64 {
    body["code"].as_i64().unwrap_or(-1)
}

async fn crud_round_trip(engine: Backend) {
    let app = TestApp::start(engine).await;
    let (_, user) = app.admin_and_user("alice").await;
    let t = Some(user.as_str());

    let (status, body) = app.call("POST", "/api/v1/folders", t, Some(json!({"name": "Ops"}))).await;
    assert_eq!(status, 201, "{body}");
    let folder = body["data"]["id"].as_str().unwrap().to_owned();
    let create = json!({
        "name": "Nightly", "description": "does things", "folderId": folder, "tags": ["ops", "night"],
        "maxExecutionTime": 60, "triggerConfig": {"type": "manual"}, "metadata": {"author": "alice", "vFlowLevel": 2},
        "steps": [step("s1", "log", 0, json!({"message": {"type": "string", "value": "hi"}}))]
    });
    let (status, body) = app.call("POST", "/api/v1/workflows", t, Some(create.clone())).await;
    assert_eq!((status, code(&body)), (201, 0), "{body}");
    let id = body["data"]["id"].as_str().unwrap().to_owned();
    // Created disabled (no isEnabled given), and the answer says how to run it.
    assert_eq!(body["data"]["isEnabled"], false, "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(message.contains(&format!("POST /api/v1/workflows/{id}/enable")), "{message}");
    assert!(body["data"]["createdAt"].as_i64().is_some());

    let (status, body) = app.call("GET", &format!("/api/v1/workflows/{id}"), t, None).await;
    assert_eq!(status, 200);
    let d = &body["data"];
    assert_eq!((d["name"].as_str(), d["folderId"].as_str()), (Some("Nightly"), Some(folder.as_str())));
    assert_eq!(d["isEnabled"], false, "created disabled by default");
    assert_eq!(d["steps"][0]["parameters"]["message"], json!({"type": "string", "value": "hi"}));
    assert_eq!(d["tags"], json!(["ops", "night"]));
    assert_eq!(d["metadata"]["author"], "alice");
    assert_eq!(d["maxExecutionTime"], 60);

    // Duplicate names in one folder: 409/1004; the same name elsewhere is fine.
    let (status, body) = app.call("POST", "/api/v1/workflows", t, Some(create)).await;
    assert_eq!((status, code(&body)), (409, 1004), "{body}");
    let (status, _) = app.call("POST", "/api/v1/workflows", t, Some(json!({"name": "Nightly"}))).await;
    assert_eq!(status, 201);

    // Update really saves.
    let (status, body) = app
        .call(
            "PUT",
            &format!("/api/v1/workflows/{id}"),
            t,
            Some(json!({"name": "Nightly 2", "isFavorite": true, "tags": ["x"]})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, body) = app.call("GET", &format!("/api/v1/workflows/{id}"), t, None).await;
    assert_eq!((body["data"]["name"].as_str(), body["data"]["isFavorite"].as_bool()), (Some("Nightly 2"), Some(true)));
    assert_eq!(body["data"]["steps"].as_array().unwrap().len(), 1, "unset fields stay");

    // List with filters.
    let (_, body) = app.call("GET", &format!("/api/v1/workflows?folderId={folder}"), t, None).await;
    assert_eq!(body["data"]["total"], 1);
    assert_eq!(body["data"]["workflows"][0]["stepCount"], 1);
    let (_, body) = app.call("GET", "/api/v1/workflows?tags=x,y", t, None).await;
    assert_eq!(body["data"]["total"], 1);
    let (_, body) = app.call("GET", "/api/v1/workflows?search=nightly&sortBy=name&order=desc", t, None).await;
    assert_eq!(body["data"]["total"], 2);
    assert_eq!(body["data"]["workflows"][0]["name"], "Nightly 2");
    let (_, body) = app.call("GET", "/api/v1/workflows?includeDisabled=false", t, None).await;
    assert_eq!(body["data"]["total"], 0);

    // Enable / disable.
    let (status, body) = app.call("POST", &format!("/api/v1/workflows/{id}/enable"), t, None).await;
    assert_eq!((status, body["data"]["isEnabled"].as_bool()), (200, Some(true)), "{body}");
    let (_, body) = app.call("GET", "/api/v1/workflows?includeDisabled=false", t, None).await;
    assert_eq!(body["data"]["total"], 1);
    // It runs, and its execution and logs are stored (on both engines).
    let data = app.run_sync(&user, &id, json!({})).await;
    assert_eq!(
        (data["status"].as_str(), data["outputs"]["s1"]["message"]["value"].as_str()),
        (Some("completed"), Some("hi"))
    );
    let exec = data["executionId"].as_str().unwrap();
    let (_, body) = app.call("GET", &format!("/api/v1/executions/{exec}/logs"), t, None).await;
    assert!(body["data"]["total"].as_i64().unwrap() >= 3, "{body}");
    let (_, body) = app.call("GET", &format!("/api/v1/executions?workflowId={id}"), t, None).await;
    assert_eq!(body["data"]["executions"][0]["status"], "completed");
    let (_, body) = app.call("POST", &format!("/api/v1/workflows/{id}/disable"), t, None).await;
    assert_eq!(body["data"]["isEnabled"], false);

    // Duplicate: disabled copy with a free name.
    let (status, body) = app.call("POST", &format!("/api/v1/workflows/{id}/duplicate"), t, None).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["data"]["name"], "Nightly 2 (copy)");
    let copy = body["data"]["newWorkflowId"].as_str().unwrap().to_owned();
    let (_, body) = app.call("GET", &format!("/api/v1/workflows/{copy}"), t, None).await;
    assert_eq!(body["data"]["steps"][0]["id"], "s1");
    let (status, body) = app
        .call("POST", &format!("/api/v1/workflows/{id}/duplicate"), t, Some(json!({"newName": "Nightly 2 (copy)"})))
        .await;
    assert_eq!((status, code(&body)), (409, 1004));

    // Delete.
    let (status, body) = app.call("DELETE", &format!("/api/v1/workflows/{copy}"), t, None).await;
    assert_eq!((status, body["data"]["deleted"].as_bool()), (200, Some(true)));
    let (status, body) = app.call("GET", &format!("/api/v1/workflows/{copy}"), t, None).await;
    assert_eq!((status, code(&body), body["details"]["workflowId"].as_str()), (404, 1001, Some(copy.as_str())));
    app.stop().await;
}

async fn validation_errors_name_the_step_and_input(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (_, user) = app.admin_and_user("bob").await;
    let t = Some(user.as_str());
    let create = |steps: Value| json!({"name": "v", "steps": steps});

    // Unbalanced blocks: 1002.
    let (status, body) = app
        .call("POST", "/api/v1/workflows", t, Some(create(json!([step("l", "loop", 0, json!({"count": 2}))]))))
        .await;
    assert_eq!((status, code(&body), body["details"]["stepId"].as_str()), (400, 1002, Some("l")), "{body}");
    // Indentation that does not match the blocks: 1002.
    let steps = json!([
        step("l", "loop", 0, json!({"count": 2})),
        step("x", "stop", 0, json!({})),
        step("e", "endloop", 0, json!({}))
    ]);
    let (status, body) = app.call("POST", "/api/v1/workflows", t, Some(create(steps))).await;
    assert_eq!((status, code(&body), body["details"]["stepId"].as_str()), (400, 1002, Some("x")), "{body}");
    // Unknown module: 2001.
    let (status, body) =
        app.call("POST", "/api/v1/workflows", t, Some(create(json!([step("a", "nope", 0, json!({}))])))).await;
    assert_eq!((status, code(&body), body["details"]["stepId"].as_str()), (400, 2001, Some("a")), "{body}");
    // Missing required input and constraint: 2002 naming the input.
    let (status, body) =
        app.call("POST", "/api/v1/workflows", t, Some(create(json!([step("a", "log", 0, json!({}))])))).await;
    assert_eq!((status, code(&body), body["details"]["input"].as_str()), (400, 2002, Some("message")), "{body}");
    let bad_delay = json!([step("a", "delay", 0, json!({"duration": -5}))]);
    let (status, body) = app.call("POST", "/api/v1/workflows", t, Some(create(bad_delay))).await;
    assert_eq!((status, code(&body), body["details"]["input"].as_str()), (400, 2002, Some("duration")), "{body}");
    // A reference to a later step: 1002 naming the step and input.
    let refs =
        json!([step("a", "log", 0, json!({"message": "{{b.message}}"})), step("b", "log", 0, json!({"message": "x"}))]);
    let (status, body) = app.call("POST", "/api/v1/workflows", t, Some(create(refs))).await;
    assert_eq!((status, code(&body)), (400, 1002), "{body}");
    assert_eq!((body["details"]["stepId"].as_str(), body["details"]["input"].as_str()), (Some("a"), Some("message")));
    assert_eq!(body["details"]["issues"][0]["code"], "unknown_reference");
    // Bad JSON and wrong types are refused in the envelope; nothing was stored.
    let (status, body) = app.call("POST", "/api/v1/workflows", t, Some(json!({"name": 5}))).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = app.call("POST", "/api/v1/workflows", t, Some(json!({"name": ""}))).await;
    assert_eq!((status, code(&body)), (400, 1002));
    let (_, body) = app.call("GET", "/api/v1/workflows", t, None).await;
    assert_eq!(body["data"]["total"], 0, "bad input loses nothing and stores nothing");
    // An update that would break the workflow is refused and changes nothing.
    let id = app.workflow(&user, "ok", json!([step("a", "log", 0, json!({"message": "x"}))])).await;
    let (status, _) = app
        .call(
            "PUT",
            &format!("/api/v1/workflows/{id}"),
            t,
            Some(json!({"name": "renamed", "steps": [step("a", "log", 0, json!({}))]})),
        )
        .await;
    assert_eq!(status, 400);
    let (_, body) = app.call("GET", &format!("/api/v1/workflows/{id}"), t, None).await;
    assert_eq!(body["data"]["name"], "ok");
    // Unknown folder: 404/3001 naming it.
    let (status, body) = app.call("POST", "/api/v1/workflows", t, Some(json!({"name": "f", "folderId": "nope"}))).await;
    assert_eq!((status, code(&body), body["details"]["folderId"].as_str()), (404, 3001, Some("nope")));
    app.stop().await;
}

async fn batch_operations_really_act(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (_, user) = app.admin_and_user("carol").await;
    let t = Some(user.as_str());
    let a = app.workflow(&user, "a", json!([])).await;
    let b = app.workflow(&user, "b", json!([])).await;
    let (_, body) = app.call("POST", "/api/v1/folders", t, Some(json!({"name": "F"}))).await;
    let folder = body["data"]["id"].as_str().unwrap().to_owned();

    let (status, body) = app
        .call("POST", "/api/v1/workflows/batch", t, Some(json!({"action": "disable", "workflowIds": [a, "ghost", a]})))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["succeeded"], json!([a]));
    assert_eq!(body["data"]["failed"][0]["workflowId"], "ghost");
    assert_eq!(body["data"]["skipped"][0]["workflowId"], a.as_str());
    let (_, body) = app.call("GET", &format!("/api/v1/workflows/{a}"), t, None).await;
    assert_eq!(body["data"]["isEnabled"], false);
    let (_, body) =
        app.call("POST", "/api/v1/workflows/batch", t, Some(json!({"action": "disable", "workflowIds": [a]}))).await;
    assert_eq!(body["data"]["skipped"][0]["reason"], "already disabled");

    let (_, body) = app
        .call(
            "POST",
            "/api/v1/workflows/batch",
            t,
            Some(json!({"action": "move", "workflowIds": [a, b], "targetFolderId": folder})),
        )
        .await;
    assert_eq!(body["data"]["succeeded"], json!([a, b]));
    let (_, body) = app.call("GET", &format!("/api/v1/folders/{folder}"), t, None).await;
    assert_eq!(body["data"]["workflowCount"], 2);
    let (status, body) = app
        .call(
            "POST",
            "/api/v1/workflows/batch",
            t,
            Some(json!({"action": "move", "workflowIds": [a], "targetFolderId": "nope"})),
        )
        .await;
    assert_eq!((status, code(&body)), (404, 3001));
    let (status, _) =
        app.call("POST", "/api/v1/workflows/batch", t, Some(json!({"action": "explode", "workflowIds": [a]}))).await;
    assert_eq!(status, 400);

    let (_, body) =
        app.call("POST", "/api/v1/workflows/batch", t, Some(json!({"action": "delete", "workflowIds": [a, b]}))).await;
    assert_eq!(body["data"]["succeeded"], json!([a, b]));
    let (_, body) = app.call("GET", "/api/v1/workflows", t, None).await;
    assert_eq!(body["data"]["total"], 0);
    app.stop().await;
}

async fn folders_nest_without_cycles_and_delete_as_told(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (_, user) = app.admin_and_user("dave").await;
    let t = Some(user.as_str());
    let mk = |name: &str, parent: Option<&str>| json!({"name": name, "parentId": parent});
    let (_, body) = app.call("POST", "/api/v1/folders", t, Some(mk("top", None))).await;
    let top = body["data"]["id"].as_str().unwrap().to_owned();
    let (status, body) = app.call("POST", "/api/v1/folders", t, Some(mk("child", Some(&top)))).await;
    assert_eq!(status, 201, "{body}");
    let child = body["data"]["id"].as_str().unwrap().to_owned();
    let (status, body) = app.call("POST", "/api/v1/folders", t, Some(mk("child", Some(&top)))).await;
    assert_eq!((status, code(&body)), (409, 1004), "sibling names are unique");
    let (status, body) = app.call("POST", "/api/v1/folders", t, Some(mk("x", Some("ghost")))).await;
    assert_eq!((status, code(&body), body["details"]["folderId"].as_str()), (404, 3001, Some("ghost")));

    // No cycles.
    let (status, body) = app.call("PUT", &format!("/api/v1/folders/{top}"), t, Some(json!({"parentId": child}))).await;
    assert_eq!((status, code(&body)), (400, 1002), "{body}");
    let (status, _) =
        app.call("PUT", &format!("/api/v1/folders/{child}"), t, Some(json!({"name": "kid", "order": 3}))).await;
    assert_eq!(status, 200);

    let wf = json!({"name": "in child", "folderId": child});
    let (_, body) = app.call("POST", "/api/v1/workflows", t, Some(wf)).await;
    let wf_id = body["data"]["id"].as_str().unwrap().to_owned();

    let (_, body) = app.call("GET", "/api/v1/folders?parentId=", t, None).await;
    assert_eq!(body["data"]["total"], 1, "root folders only");
    let (_, body) = app.call("GET", &format!("/api/v1/folders?parentId={top}"), t, None).await;
    assert_eq!(body["data"]["folders"][0]["name"], "kid");
    let (_, body) = app.call("GET", &format!("/api/v1/folders/{child}"), t, None).await;
    assert_eq!(body["data"]["workflows"][0]["id"], wf_id.as_str());
    let (_, body) = app.call("GET", &format!("/api/v1/folders/{top}"), t, None).await;
    assert_eq!(
        (body["data"]["subfolderCount"].as_i64(), body["data"]["subfolders"][0]["name"].as_str()),
        (Some(1), Some("kid"))
    );

    // Non-empty without an action: 400/3002; moving contents to the root works.
    let (status, body) = app.call("DELETE", &format!("/api/v1/folders/{child}"), t, None).await;
    assert_eq!((status, code(&body)), (400, 3002), "{body}");
    let (status, body) = app.call("DELETE", &format!("/api/v1/folders/{child}?moveWorkflowsTo=root"), t, None).await;
    assert_eq!((status, body["data"]["workflowsMoved"].as_i64()), (200, Some(1)), "{body}");
    let (_, body) = app.call("GET", &format!("/api/v1/workflows/{wf_id}"), t, None).await;
    assert_eq!(body["data"]["folderId"], Value::Null);
    // deleteWorkflows removes them.
    app.call("PUT", &format!("/api/v1/workflows/{wf_id}"), t, Some(json!({"folderId": top}))).await;
    let (_, body) = app.call("DELETE", &format!("/api/v1/folders/{top}?deleteWorkflows=true"), t, None).await;
    assert_eq!(body["data"]["workflowsDeleted"], 1, "{body}");
    let (status, _) = app.call("GET", &format!("/api/v1/workflows/{wf_id}"), t, None).await;
    assert_eq!(status, 404);
    let (status, body) = app.call("GET", &format!("/api/v1/folders/{top}"), t, None).await;
    assert_eq!((status, code(&body)), (404, 3001));
    app.stop().await;
}

async fn users_never_see_each_others_data_and_routes_need_a_token(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (admin, alice) = app.admin_and_user("alice").await;
    app.create_user(&admin, "mallory", "user-password-1").await;
    let (mallory, _) = app.star_login("mallory", "user-password-1").await;
    let id = app.workflow(&alice, "secret", json!([step("a", "log", 0, json!({"message": "x"}))])).await;
    let (_, body) = app.call("POST", "/api/v1/folders", Some(&alice), Some(json!({"name": "private"}))).await;
    let folder = body["data"]["id"].as_str().unwrap().to_owned();
    let exec = app.run_sync(&alice, &id, json!({})).await["executionId"].as_str().unwrap().to_owned();

    let m = Some(mallory.as_str());
    for (method, path, want) in [
        ("GET", format!("/api/v1/workflows/{id}"), 1001),
        ("PUT", format!("/api/v1/workflows/{id}"), 1001),
        ("DELETE", format!("/api/v1/workflows/{id}"), 1001),
        ("POST", format!("/api/v1/workflows/{id}/execute"), 1001),
        ("GET", format!("/api/v1/workflows/{id}/export"), 1001),
        ("GET", format!("/api/v1/folders/{folder}"), 3001),
        ("GET", format!("/api/v1/executions/{exec}"), 5001),
        ("GET", format!("/api/v1/executions/{exec}/logs"), 5001),
        ("POST", format!("/api/v1/executions/{exec}/stop"), 5001),
    ] {
        let (status, body) = app.call(method, &path, m, Some(json!({}))).await;
        assert_eq!((status, code(&body)), (404, want), "{method} {path}: {body}");
    }
    let (_, body) = app.call("GET", "/api/v1/workflows", m, None).await;
    assert_eq!(body["data"]["total"], 0);
    let (_, body) = app.call("GET", "/api/v1/executions", m, None).await;
    assert_eq!(body["data"]["total"], 0);
    let (_, body) =
        app.call("POST", "/api/v1/workflows/batch", m, Some(json!({"action": "delete", "workflowIds": [id]}))).await;
    assert_eq!(body["data"]["failed"][0]["workflowId"], id.as_str(), "another user's ids are unknown");
    // Even the admin sees only their own workflows through vflow.
    let (status, _) = app.call("GET", &format!("/api/v1/workflows/{id}"), Some(&admin), None).await;
    assert_eq!(status, 404);
    let (status, body) = app.call("POST", "/api/v1/auth/pairing-codes", m, Some(json!({}))).await;
    assert_eq!((status, code(&body)), (403, 6003), "admin-only vflow routes refuse users: {body}");

    for path in
        ["/api/v1/workflows", "/api/v1/folders", "/api/v1/executions", "/api/v1/system/info", "/api/v1/system/stats"]
    {
        let (status, body) = app.call("GET", path, None, None).await;
        assert_eq!((status, code(&body)), (401, 6001), "{path}");
        let (status, body) = app.call("GET", path, Some("not-a-token"), None).await;
        assert_eq!((status, code(&body)), (401, 6001), "{path}");
    }
    app.stop().await;
}

async fn magic_variables_list_earlier_outputs(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (_, user) = app.admin_and_user("erin").await;
    let steps = json!([
        step("d", "delay", 0, json!({"duration": 1})),
        step("h", "http_request", 0, json!({"url": "https://example.test", "method": "GET"})),
    ]);
    let id = app.workflow(&user, "m", steps).await;
    let (status, body) = app.call("GET", &format!("/api/v1/workflows/{id}/magic-variables"), Some(&user), None).await;
    assert_eq!(status, 200, "{body}");
    let keys: Vec<&str> =
        body["data"]["magicVariables"].as_array().unwrap().iter().filter_map(|v| v["key"].as_str()).collect();
    assert!(keys.contains(&"{{d.actualDuration}}") && keys.contains(&"{{h.body}}"), "{keys:?}");
    assert!(body["data"]["systemVariables"].as_array().unwrap().iter().any(|v| v["key"] == "{{trigger.data}}"));
    let (status, body) = app.call("GET", "/api/v1/workflows/nope/magic-variables", Some(&user), None).await;
    assert_eq!((status, code(&body)), (404, 1001));
    app.stop().await;
}

async fn control_characters_in_names_are_refused_alike_on_both_engines(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (admin, user) = app.admin_and_user("ctrl").await;
    let trigger = json!([step("t", "trigger_manual", 0, json!({}))]);
    for (path, body) in [
        ("/api/v1/folders", json!({"name": "nul\u{0}folder"})),
        ("/api/v1/folders", json!({"name": "red\u{1b}[31mfolder"})),
        ("/api/v1/workflows", json!({"name": "nul\u{0}flow", "steps": trigger})),
        ("/api/v1/workflows", json!({"name": "fine", "description": "nul\u{0}", "steps": trigger})),
    ] {
        let (status, answer) = app.call("POST", path, Some(&user), Some(body.clone())).await;
        assert_eq!((status, answer["code"].as_i64()), (400, Some(1002)), "{backend:?} {path} {body}: {answer}");
    }
    for path in ["/api/v1/folders", "/api/v1/workflows"] {
        let (_, listed) = app.call("GET", path, Some(&user), None).await;
        assert!(!listed.to_string().contains("nul"), "nothing was stored: {listed}");
    }
    let (_, me) = app.call("GET", "/api/v1/users/profile", Some(&user), None).await;
    let id = me["data"]["id"].as_i64().unwrap();
    let (status, answer) = app
        .call(
            "POST",
            &format!("/api/v1/admin/users/{id}/credits"),
            Some(&admin),
            Some(json!({"amount": 5, "reason": "a\u{0}b"})),
        )
        .await;
    assert_eq!(status, 400, "{backend:?}: {answer}");
    app.stop().await;
}

gantry_testkit::on_each_backend!(
    control_characters_in_names_are_refused_alike_on_both_engines,
    crud_round_trip,
    validation_errors_name_the_step_and_input,
    batch_operations_really_act,
    folders_nest_without_cycles_and_delete_as_told,
    users_never_see_each_others_data_and_routes_need_a_token,
    magic_variables_list_earlier_outputs
);
