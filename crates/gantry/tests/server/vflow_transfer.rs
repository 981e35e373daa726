//! vflow import/export: JSON and ZIP round trips keep a workflow's meaning, batch ZIPs
//! report per-file errors, and oversize files, entry floods and ZIP bombs are refused
//! (413/8002) without inflating them.

use crate::common::TestApp;
use crate::common::vflow::step;
use gantry_store::Backend;
use serde_json::{Value, json};
use std::io::{Cursor, Read, Write};
use zip::write::SimpleFileOptions;

fn code(body: &Value) -> i64 {
    body["code"].as_i64().unwrap_or(-1)
}

async fn upload(
    app: &TestApp,
    token: &str,
    path: &str,
    name: &str,
    bytes: Vec<u8>,
    extra: &[(&str, &str)],
) -> (u16, Value) {
    let part = reqwest::multipart::Part::bytes(bytes).file_name(name.to_owned());
    let mut form = reqwest::multipart::Form::new().part("file", part);
    for (k, v) in extra {
        form = form.text(k.to_string(), v.to_string());
    }
    let response = app.http.post(app.url(path)).bearer_auth(token).multipart(form).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// A workflow worth round-tripping: nested blocks, typed parameters, a trigger, tags and metadata.
fn rich() -> Value {
    json!({
        "name": "Rich", "description": "round trip", "tags": ["a", "b"], "maxExecutionTime": 30,
        "triggerConfig": {"type": "manual", "note": "kept"}, "metadata": {"author": "erin", "homepage": "https://x.test", "vFlowLevel": 2},
        "version": "1.2.0",
        "steps": [
            step("t", "trigger_manual", 0, json!({})),
            step("l", "loop", 0, json!({"count": {"type": "number", "value": 2}})),
            step("c", "if_condition", 1, json!({"condition": "{{l.index}} == 2"})),
            step("g", "log", 2, json!({"message": "two", "level": "warning"})),
            step("ce", "endif", 1, json!({})),
            step("le", "endloop", 0, json!({})),
        ]
    })
}

/// The parts of a workflow that carry its meaning.
fn meaning(w: &Value) -> Value {
    json!([
        w["name"],
        w["description"],
        w["steps"],
        w["triggerConfig"],
        w["tags"],
        w["metadata"],
        w["maxExecutionTime"],
        w["version"]
    ])
}

fn zip_of(files: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in files {
        zip.start_file(*name, options).unwrap();
        zip.write_all(data).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

async fn json_and_zip_exports_import_back_with_the_same_meaning(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (_, user) = app.admin_and_user("alice").await;
    let t = Some(user.as_str());
    let (_, body) = app.call("POST", "/api/v1/workflows", t, Some(rich())).await;
    let id = body["data"]["id"].as_str().unwrap().to_owned();
    let (_, original) = app.call("GET", &format!("/api/v1/workflows/{id}"), t, None).await;

    // JSON.
    let (status, body) = app.call("GET", &format!("/api/v1/workflows/{id}/export"), t, None).await;
    assert_eq!((status, body["data"]["format"].as_str()), (200, Some("json")), "{body}");
    assert!(body["data"]["exportedAt"].as_i64().is_some());
    let file = serde_json::to_vec(&body["data"]).unwrap();
    let (_, folder) = app.call("POST", "/api/v1/folders", t, Some(json!({"name": "imports"}))).await;
    let folder = folder["data"]["id"].as_str().unwrap().to_owned();
    let (status, body) =
        upload(&app, &user, "/api/v1/workflows/import", "rich.json", file.clone(), &[("folderId", &folder)]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["total"], 1);
    let imported = body["data"]["imported"][0]["workflowId"].as_str().unwrap().to_owned();
    assert_ne!(imported, id);
    let (_, copy) = app.call("GET", &format!("/api/v1/workflows/{imported}"), t, None).await;
    assert_eq!(meaning(&copy["data"]), meaning(&original["data"]));
    assert_eq!(copy["data"]["folderId"], folder.as_str());

    // Importing again into the same folder: skipped, or replaced with `override`.
    let (_, body) =
        upload(&app, &user, "/api/v1/workflows/import", "rich.json", file.clone(), &[("folderId", &folder)]).await;
    assert_eq!(body["data"]["skipped"][0], json!({"name": "Rich", "reason": "Already exists"}));
    assert_eq!(body["message"], "0 imported, 1 skipped, 0 failed", "an import that did nothing says so: {body}");
    assert_eq!((body["data"]["importedCount"].as_i64(), body["data"]["skippedCount"].as_i64()), (Some(0), Some(1)));
    // Replacing an enabled workflow keeps it enabled (its triggers go on).
    let (status, _) = app.call("POST", &format!("/api/v1/workflows/{imported}/enable"), t, None).await;
    assert_eq!(status, 200);
    let (_, body) = upload(
        &app,
        &user,
        "/api/v1/workflows/import",
        "rich.json",
        file,
        &[("folderId", &folder), ("override", "true")],
    )
    .await;
    assert_eq!(body["data"]["imported"][0]["workflowId"], imported.as_str(), "{body}");
    assert_eq!(body["message"], "Workflow imported successfully");
    let (_, replaced) = app.call("GET", &format!("/api/v1/workflows/{imported}"), t, None).await;
    assert_eq!(replaced["data"]["isEnabled"], true, "{replaced}");

    // ZIP (single and batch).
    let response = app
        .http
        .get(app.url(&format!("/api/v1/workflows/{id}/export?format=zip")))
        .bearer_auth(&user)
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-type"], "application/zip");
    assert!(response.headers()["content-disposition"].to_str().unwrap().contains(".zip"));
    let zip_bytes = response.bytes().await.unwrap().to_vec();
    let mut archive = zip::ZipArchive::new(Cursor::new(zip_bytes.clone())).unwrap();
    assert_eq!(archive.len(), 1);
    let mut text = String::new();
    archive.by_index(0).unwrap().read_to_string(&mut text).unwrap();
    assert_eq!(meaning(&serde_json::from_str::<Value>(&text).unwrap()["workflow"]), meaning(&original["data"]));
    let (_, zipped) = app.call("POST", "/api/v1/folders", t, Some(json!({"name": "zipped"}))).await;
    let zipped = zipped["data"]["id"].as_str().unwrap().to_owned();
    let (status, body) =
        upload(&app, &user, "/api/v1/workflows/import", "rich.zip", zip_bytes, &[("folderId", &zipped)]).await;
    assert_eq!(status, 200, "{body}");
    let from_zip = body["data"]["imported"][0]["workflowId"].as_str().unwrap().to_owned();
    let (_, copy) = app.call("GET", &format!("/api/v1/workflows/{from_zip}"), t, None).await;
    assert_eq!(meaning(&copy["data"]), meaning(&original["data"]));

    let other = app.workflow(&user, "Other", json!([])).await;
    let response = app
        .http
        .post(app.url("/api/v1/workflows/export-batch"))
        .bearer_auth(&user)
        .json(&json!({"workflowIds": [id, other], "format": "zip"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let batch = response.bytes().await.unwrap().to_vec();
    assert_eq!(zip::ZipArchive::new(Cursor::new(batch.clone())).unwrap().len(), 2);
    let (_, f2) = app.call("POST", "/api/v1/folders", t, Some(json!({"name": "batch"}))).await;
    let f2 = f2["data"]["id"].as_str().unwrap().to_owned();
    let (status, body) =
        upload(&app, &user, "/api/v1/workflows/import-batch", "all.zip", batch, &[("folderId", &f2)]).await;
    assert_eq!((status, body["data"]["importedCount"].as_i64()), (200, Some(2)), "{body}");
    let (status, body) =
        app.call("POST", "/api/v1/workflows/export-batch", t, Some(json!({"workflowIds": [id, "ghost"]}))).await;
    assert_eq!((status, code(&body)), (404, 1001));
    app.stop().await;
}

async fn batch_imports_report_each_file(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (_, user) = app.admin_and_user("bob").await;
    app.workflow(&user, "Three", json!([])).await;
    let doc = |name: &str| serde_json::to_vec(&json!({"workflow": {"name": name, "steps": []}})).unwrap();
    let bad_steps =
        serde_json::to_vec(&json!({"workflow": {"name": "Bad", "steps": [step("x", "nope", 0, json!({}))]}})).unwrap();
    let archive = zip_of(&[
        ("one.json", doc("One")),
        ("two.json", doc("Two")),
        ("three.json", doc("Three")),
        ("workflow4.json", b"{not json".to_vec()),
        ("bad.json", bad_steps),
        ("readme.txt", b"hello".to_vec()),
    ]);
    let (status, body) = upload(&app, &user, "/api/v1/workflows/import-batch", "set.zip", archive, &[]).await;
    assert_eq!(status, 200, "{body}");
    let d = &body["data"];
    assert_eq!(
        (d["importedCount"].as_i64(), d["skippedCount"].as_i64(), d["errorCount"].as_i64(), d["total"].as_i64()),
        (Some(2), Some(1), Some(3), Some(6)),
        "{d}"
    );
    assert_eq!(d["skipped"][0], json!({"name": "Three", "reason": "Already exists"}));
    let errors: Vec<&str> = d["errors"].as_array().unwrap().iter().filter_map(|e| e["filename"].as_str()).collect();
    assert_eq!(errors, ["workflow4.json", "bad.json", "readme.txt"]);
    assert!(d["errors"][0]["error"].as_str().unwrap().contains("Invalid JSON format"));
    app.stop().await;
}

async fn bad_files_oversize_uploads_and_zip_bombs_are_refused(backend: Backend) {
    let app = TestApp::start_with(backend, |c| {
        c.automation.max_import_bytes = 4 * 1024 * 1024;
        c.automation.max_zip_entries = 10;
    })
    .await;
    let (_, user) = app.admin_and_user("carol").await;

    let (status, body) = upload(&app, &user, "/api/v1/workflows/import", "x.json", b"hello there".to_vec(), &[]).await;
    assert_eq!((status, code(&body)), (400, 8001), "{body}");
    let (status, body) = upload(&app, &user, "/api/v1/workflows/import", "x.json", b"[1,2]".to_vec(), &[]).await;
    assert_eq!((status, code(&body)), (400, 8001), "{body}");
    let (status, body) =
        upload(&app, &user, "/api/v1/workflows/import", "x.zip", b"PK\x03\x04garbage".to_vec(), &[]).await;
    assert_eq!((status, code(&body)), (400, 8001), "{body}");
    let nested = zip_of(&[("dir/../../evil.json", b"{}".to_vec())]);
    let (status, body) = upload(&app, &user, "/api/v1/workflows/import-batch", "n.zip", nested, &[]).await;
    assert_eq!((status, code(&body)), (400, 8001), "{body}");
    let response =
        app.http.post(app.url("/api/v1/workflows/import")).bearer_auth(&user).json(&json!({})).send().await.unwrap();
    assert_eq!(response.status(), 400, "not multipart");

    // Bigger than the upload limit: refused while streaming.
    let (status, body) =
        upload(&app, &user, "/api/v1/workflows/import", "big.json", vec![b' '; 5 * 1024 * 1024], &[]).await;
    assert_eq!((status, code(&body)), (413, 8002), "{body}");
    // Too many entries.
    let many: Vec<(String, Vec<u8>)> = (0..11).map(|i| (format!("{i}.json"), b"{}".to_vec())).collect();
    let refs: Vec<(&str, Vec<u8>)> = many.iter().map(|(n, d)| (n.as_str(), d.clone())).collect();
    let (status, body) = upload(&app, &user, "/api/v1/workflows/import-batch", "many.zip", zip_of(&refs), &[]).await;
    assert_eq!((status, code(&body)), (413, 8002), "{body}");

    // A ZIP bomb: about 1 MB that inflates to 1 GB, streamed into the archive in chunks.
    let bomb = {
        let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let options =
            SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated).large_file(true);
        zip.start_file("bomb.json", options).unwrap();
        let chunk = vec![b' '; 1 << 20];
        for _ in 0..1024 {
            zip.write_all(&chunk).unwrap();
        }
        zip.finish().unwrap().into_inner()
    };
    assert!(bomb.len() < 4 * 1024 * 1024, "the bomb itself is small: {}", bomb.len());
    let (status, body) = upload(&app, &user, "/api/v1/workflows/import", "bomb.zip", bomb, &[]).await;
    assert_eq!((status, code(&body)), (413, 8002), "{body}");
    let (_, body) = app.call("GET", "/api/v1/workflows", Some(&user), None).await;
    assert_eq!(body["data"]["total"], 0, "nothing was imported");
    app.stop().await;
}

gantry_testkit::on_each_backend!(
    json_and_zip_exports_import_back_with_the_same_meaning,
    batch_imports_report_each_file,
    bad_files_oversize_uploads_and_zip_bombs_are_refused
);
