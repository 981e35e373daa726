//! `files.url = s3://bucket/prefix`: uploads and outputs live in an S3 bucket (moto's
//! S3-compatible server), survive a restart, and a bucket that is not there stops Gantry at
//! start with an error naming it.
//! moto's server: see [`crate::common::moto`].

use crate::common::moto::{Moto, SECRET};
use crate::common::process::GantryProcess;
use crate::common::sim::Sim;
use crate::common::{ADMIN_PASSWORD, binary, eventually, fleet_config};
use gantry_store::Backend;
use gantry_testkit::ScratchDb;
use serde_json::{Value, json};
use std::process::Stdio;
use std::time::Duration;

const BUCKET: &str = "gantry-files";

fn start_gantry(data: &std::path::Path, db: &ScratchDb, env: &[(&'static str, String)]) -> GantryProcess {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    GantryProcess::start_with_env(data, &db.url, None, &env)
}

/// The `/files/<id>/<name>` part of a file URL, and its id.
fn file_path(url: &str) -> (String, String) {
    let path = &url[url.find("/files/").unwrap_or_else(|| panic!("not a file URL: {url}"))..];
    let id = path.split('/').nth(2).unwrap().to_owned();
    (path.to_owned(), id)
}

async fn uploads_and_outputs_live_in_the_bucket_across_restarts(backend: Backend) {
    let Some(moto) = Moto::start().await else { return };
    moto.create_bucket(BUCKET).await;
    let sim = Sim::spawn(&["--step-ms", "1"]);
    let data = tempfile::tempdir().unwrap();
    let db = ScratchDb::new(backend).await;
    let env = moto.env(&format!("s3://{BUCKET}/prod"));
    let mut gantry = start_gantry(data.path(), &db, &env);
    assert!(moto.keys(BUCKET).await.is_empty(), "the start-up probe leaves nothing behind");
    let http = reqwest::Client::new();
    let login = gantry
        .call("POST", "/api/auth/login", None, Some(json!({"username": "admin", "password": ADMIN_PASSWORD})))
        .await;
    let token = login["data"]["token"].as_str().unwrap().to_owned();
    gantry.call("PUT", "/api/config", Some(&token), Some(fleet_config(&[sim.port], 1))).await;
    eventually(20, "the instance alive", || async {
        let list = gantry.call("GET", "/api/instances", Some(&token), None).await;
        (list["data"][0]["alive"] == true).then_some(())
    })
    .await;

    // An upload, then a task that loads it on the instance (Gantry reads it back from the
    // bucket to push it) and saves an output.
    let mut png = Vec::new();
    image::RgbImage::new(8, 8).write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).unwrap();
    let form = reqwest::multipart::Form::new().part("file", reqwest::multipart::Part::bytes(png).file_name("in.png"));
    let upload = http.post(format!("{}/api/files/upload", gantry.base)).bearer_auth(&token).multipart(form);
    let upload: Value = upload.send().await.unwrap().json().await.unwrap();
    let upload_id = upload["data"]["fileId"].as_str().unwrap_or_else(|| panic!("{upload}")).to_owned();
    let graph = json!({
        "1": {"class_type": "LoadImage", "inputs": {"image": format!("gantry-file:{upload_id}")}},
        "2": {"class_type": "SaveImage", "inputs": {"filename_prefix": "s3", "images": ["1", 0]}}
    });
    let submitted = gantry.call("POST", "/api/tasks", Some(&token), Some(json!({"workflow": graph}))).await;
    let task_id = submitted["data"]["id"].as_str().unwrap_or_else(|| panic!("{submitted}")).to_owned();
    let task = eventually(60, "the task to finish", || async {
        let task = gantry.call("GET", &format!("/api/tasks/{task_id}"), Some(&token), None).await;
        matches!(task["data"]["status"].as_str()?, "completed" | "failed" | "cancelled").then(|| task["data"].clone())
    })
    .await;
    assert_eq!(task["status"], "completed", "{task}");
    let (output_path, output_id) = file_path(task["result"]["files"][0].as_str().unwrap());
    let output = http.get(format!("{}{output_path}", gantry.base)).send().await.unwrap();
    assert_eq!(output.headers()["content-type"], "image/png");
    let output = output.bytes().await.unwrap();
    image::load_from_memory(&output).expect("a real PNG");

    let key = |id: &str| format!("prod/{}/{id}", &id[..2]);
    let mut expected = vec![key(&upload_id), key(&output_id)];
    expected.sort();
    assert_eq!(moto.keys(BUCKET).await, expected, "both files sit in the bucket");
    assert!(!data.path().join("files").exists(), "nothing on local disk");

    let deleted = gantry.call("DELETE", &format!("/api/files/{upload_id}"), Some(&token), None).await;
    assert_eq!(deleted["code"], 200, "{deleted}");
    assert_eq!(moto.keys(BUCKET).await, [key(&output_id)], "the deleted file left the bucket");

    gantry.kill9();
    let gantry = start_gantry(data.path(), &db, &env);
    let again = http.get(format!("{}{output_path}", gantry.base)).send().await.unwrap();
    assert_eq!(again.status(), 200);
    assert_eq!(again.bytes().await.unwrap(), output, "the same bytes after a restart");
    let gone = http.get(format!("{}/files/{upload_id}/in.png", gantry.base)).send().await.unwrap();
    assert_eq!(gone.status(), 404);
}

gantry_testkit::on_each_backend!(uploads_and_outputs_live_in_the_bucket_across_restarts);

#[tokio::test]
async fn a_missing_bucket_stops_gantry_at_start_naming_it() {
    let Some(moto) = Moto::start().await else { return };
    let data = tempfile::tempdir().unwrap();
    let mut command = binary::command();
    for (name, _) in std::env::vars_os() {
        if name.to_str().is_some_and(|n| n.starts_with("AWS_")) {
            command.env_remove(name);
        }
    }
    command.args(["serve", "--listen", "127.0.0.1:0"]).env("GANTRY_DATA_DIR", data.path());
    command.envs(moto.env("s3://no-such-bucket/prod")).stdout(Stdio::null());
    let run = tokio::process::Command::from(command).output();
    let output = tokio::time::timeout(Duration::from_secs(60), run).await.expect("gantry stops at start").unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    for part in ["opening the file store", "s3://no-such-bucket/prod", "bucket `no-such-bucket`"] {
        assert!(stderr.contains(part), "`{part}` in: {stderr}");
    }
    assert!(!stderr.contains(SECRET), "no secret in: {stderr}");
}
