//! No GPU work without the paying rule: a raw ComfyUI graph is charged to a non-admin
//! through the ledger (frozen at submission, deducted on completion) on every entry point
//! that takes one, and refused without enough credits; admins run graphs uncharged.

use crate::common::sim::Sim;
use crate::common::vflow::step;
use crate::common::{TestApp, eventually, fleet_config, t2i_graph};
use gantry_store::Backend;
use serde_json::{Value, json};

const SD15: &str = "v1-5-pruned-emaonly.safetensors";
/// `generation.pricing.GRAPH` by default: 5 + 2 per ten sampler steps on a 512² image.
const TWENTY_STEPS_COST: i64 = 5 + 2 * 2;

async fn balance(app: &TestApp, token: &str) -> Value {
    app.call("GET", "/api/v1/users/balance", Some(token), None).await.1["data"].clone()
}

fn graph(steps: u64, seed: u64) -> Value {
    let mut graph = t2i_graph(SD15, steps, seed);
    graph["6"]["inputs"]["text"] = json!("a lighthouse");
    graph
}

async fn graphs_without_credits_are_refused_on_every_entry_point(backend: Backend) {
    let sim = Sim::spawn(&["--step-ms", "2"]);
    let app = TestApp::start(backend).await;
    let admin = app.admin_token().await;
    app.use_fleet(&admin, fleet_config(&[sim.port], 1)).await;
    app.create_user(&admin, "broke", "user-password-1").await;
    let (broke, _) = app.star_login("broke", "user-password-1").await;

    // comfy-manager: 402 in its envelope, nothing queued.
    let (status, body) = app.call("POST", "/api/tasks", Some(&broke), Some(json!({"workflow": graph(20, 1)}))).await;
    assert_eq!((status, body["code"].as_i64()), (402, Some(402)), "{body}");
    assert!(body["message"].as_str().unwrap_or_default().contains("insufficient balance"), "{body}");
    // vflow: the submitting step fails with the same reason.
    let submit = step("s", "gantry_submit_task", 0, json!({"workflow": graph(20, 2), "timeout": 30}));
    let submitter = app.workflow(&broke, "free ride", json!([submit])).await;
    let data = app.run_sync(&broke, &submitter, json!({})).await;
    assert_eq!(data["status"], "failed", "{data}");
    assert!(data["error"].as_str().unwrap_or_default().contains("insufficient balance"), "{data}");
    // star-graph: its own generators were already charged.
    let (status, body) =
        app.call("POST", "/api/v1/generate/text2img", Some(&broke), Some(json!({"prompt": "a cat"}))).await;
    assert_eq!((status, body["code"].as_str()), (402, Some("E002")), "{body}");

    let (_, listed) = app.call("GET", "/api/tasks", Some(&admin), None).await;
    assert_eq!(listed["data"]["total"], 0, "no work was queued: {listed}");
    app.stop().await;
}

async fn a_paid_graph_is_charged_when_it_completes_and_admins_run_free(backend: Backend) {
    let sim = Sim::spawn(&["--step-ms", "2"]);
    let app = TestApp::start(backend).await;
    let admin = app.admin_token().await;
    app.use_fleet(&admin, fleet_config(&[sim.port], 1)).await;
    let id = app.create_user(&admin, "payer", "user-password-1").await;
    app.grant_credits(&admin, id, 100).await;
    let (payer, _) = app.star_login("payer", "user-password-1").await;

    let task = app.submit(&payer, graph(20, 3), json!({})).await;
    assert_eq!(app.finished(&payer, &task).await["status"], "completed");
    let settled = eventually(20, "the charge to be deducted", || async {
        let b = balance(&app, &payer).await;
        (b["freezed"] == 0).then_some(b)
    })
    .await;
    assert_eq!(settled["balance"].as_i64(), Some(100 - TWENTY_STEPS_COST), "{settled}");

    // Through a workflow step, the same price.
    let submit = step("s", "gantry_submit_task", 0, json!({"workflow": graph(20, 4), "timeout": 30}));
    let submitter = app.workflow(&payer, "paid ride", json!([submit])).await;
    assert_eq!(app.run_sync(&payer, &submitter, json!({})).await["status"], "completed");
    let settled = eventually(20, "the second charge", || async {
        let b = balance(&app, &payer).await;
        (b["freezed"] == 0 && b["balance"].as_i64()? < 100 - TWENTY_STEPS_COST).then_some(b)
    })
    .await;
    assert_eq!(settled["balance"].as_i64(), Some(100 - 2 * TWENTY_STEPS_COST), "{settled}");

    // Admins hold the privilege: their graphs run without credits.
    let admins = app.submit(&admin, graph(20, 5), json!({})).await;
    assert_eq!(app.finished(&admin, &admins).await["status"], "completed");
    app.stop().await;
}

gantry_testkit::on_each_backend!(
    graphs_without_credits_are_refused_on_every_entry_point,
    a_paid_graph_is_charged_when_it_completes_and_admins_run_free
);
