//! vflow's module catalogue over HTTP, in vflow's envelope and codes.

use crate::common::TestApp;
use gantry_store::Backend;

async fn the_module_catalogue_answers_in_the_spec_shapes(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (admin, _) = app.star_login("admin", crate::common::ADMIN_PASSWORD).await;

    let (status, body) = app.call("GET", "/api/v1/modules/categories", Some(&admin), None).await;
    assert_eq!((status, body["code"].as_i64()), (200, Some(0)), "{body}");
    let ids: Vec<&str> =
        body["data"]["categories"].as_array().unwrap().iter().filter_map(|c| c["id"].as_str()).collect();
    for id in ["trigger", "logic", "data", "file", "network", "system"] {
        assert!(ids.contains(&id), "{id} in {ids:?}");
    }
    assert!(!ids.contains(&"shizuku") && !ids.contains(&"ui_interaction"), "Android-only categories are not offered");

    let (_, body) = app.call("GET", "/api/v1/modules?category=logic", Some(&admin), None).await;
    let modules = body["data"]["modules"].as_array().unwrap();
    let if_module = modules.iter().find(|m| m["id"] == "if_condition").expect("if_condition is a logic module");
    assert_eq!(if_module["blockBehavior"]["blockType"], "if");
    assert_eq!(if_module["blockBehavior"]["endBlockId"], "endif");
    assert!(modules.iter().all(|m| m["metadata"]["category"] == "logic"));
    let (_, body) = app.call("GET", "/api/v1/modules?search=http", Some(&admin), None).await;
    assert!(body["data"]["modules"].as_array().unwrap().iter().any(|m| m["id"] == "http_request"));

    let (status, body) = app.call("GET", "/api/v1/modules/http_request", Some(&admin), None).await;
    assert_eq!(status, 200);
    let inputs: Vec<&str> =
        body["data"]["inputs"].as_array().unwrap().iter().filter_map(|i| i["id"].as_str()).collect();
    for id in ["url", "method", "headers", "body", "timeout"] {
        assert!(inputs.contains(&id), "input {id}: {inputs:?}");
    }
    let outputs: Vec<&str> =
        body["data"]["outputs"].as_array().unwrap().iter().filter_map(|o| o["id"].as_str()).collect();
    assert_eq!(outputs, ["statusCode", "body", "headers"]);
    let (_, delay) = app.call("GET", "/api/v1/modules/delay", Some(&admin), None).await;
    assert!(delay["data"]["inputs"].as_array().unwrap().iter().any(|i| i["id"] == "duration"));

    let (status, body) = app.call("GET", "/api/v1/modules/delay/input-schema", Some(&admin), None).await;
    assert_eq!(status, 200);
    let duration = &body["data"]["schema"][0];
    assert_eq!((duration["label"].as_str(), duration["labelEn"].as_str()), (Some("时长(毫秒)"), Some("Duration (ms)")));
    let (status, body) = app.call("GET", "/api/v1/modules/http_request/input-schema", Some(&admin), None).await;
    assert_eq!(status, 200);
    assert!(body["data"]["schema"].as_array().unwrap().iter().any(|f| f["key"] == "url"), "{body}");

    let (status, body) = app.call("GET", "/api/v1/modules/nope", Some(&admin), None).await;
    assert_eq!(
        (status, body["code"].as_i64(), body["details"]["moduleId"].as_str()),
        (404, Some(2001), Some("nope")),
        "{body}"
    );
    let (status, body) = app.call("GET", "/api/v1/modules", None, None).await;
    assert_eq!((status, body["code"].as_i64()), (401, Some(6001)));
    app.stop().await;
}

gantry_testkit::on_each_backend!(the_module_catalogue_answers_in_the_spec_shapes);
