//! star-graph over real HTTP against comfy-sim: the six generators with real outputs and
//! thumbnails, credits and fund records, every business error code, cancel with refund,
//! retry, isolation, and the ledger invariant under concurrent use.

use crate::common::sim::Sim;
use crate::common::{TestApp, eventually, fleet_config};
use base64::Engine as _;
use gantry_store::Backend;
use serde_json::{Value, json};

/// A PNG of noise (so it does not compress away), as a data URL.
fn png_base64(width: u32, height: u32) -> String {
    let mut png = Vec::new();
    let mut state = 0x2545_f491_u32;
    image::RgbImage::from_fn(width, height, |_, _| {
        state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        let [a, b, c, _] = state.to_le_bytes();
        image::Rgb([a, b, c])
    })
    .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
    .unwrap();
    format!("data:image/png;base64,{}", base64::engine::general_purpose::STANDARD.encode(png))
}

struct Star {
    app: TestApp,
    admin: String,
    _sims: Vec<Sim>,
}

impl Star {
    async fn start(backend: Backend, tweak: impl FnOnce(&mut gantry_core::config::Config)) -> Self {
        let sims = vec![Sim::spawn(&["--step-ms", "2"]), Sim::spawn(&["--step-ms", "2"])];
        let app = TestApp::start_with(backend, tweak).await;
        let admin = app.admin_token().await;
        app.use_fleet(&admin, fleet_config(&[sims[0].port, sims[1].port], 1)).await;
        Self { app, admin, _sims: sims }
    }

    /// Creates a user with `credits`; returns (id, token).
    async fn user(&self, name: &str, credits: i64) -> (i64, String) {
        let id = self.app.create_user(&self.admin, name, "a-good-password").await;
        if credits > 0 {
            let (status, body) = self
                .app
                .call(
                    "POST",
                    &format!("/api/v1/admin/users/{id}/credits"),
                    Some(&self.admin),
                    Some(json!({"amount": credits})),
                )
                .await;
            assert_eq!(status, 200, "{body}");
        }
        (id, self.app.star_login(name, "a-good-password").await.0)
    }

    async fn generate(&self, token: &str, kind: &str, body: Value) -> (u16, Value) {
        self.app.call("POST", &format!("/api/v1/generate/{kind}"), Some(token), Some(body)).await
    }

    async fn done(&self, token: &str, task: &str) -> Value {
        eventually(60, "task to finish", || async {
            let (_, body) = self.app.call("GET", &format!("/api/v1/tasks/{task}"), Some(token), None).await;
            matches!(body["data"]["status"].as_str()?, "COMPLETED" | "FAILED" | "CANCELLED")
                .then(|| body["data"].clone())
        })
        .await
    }

    async fn balance(&self, token: &str) -> Value {
        self.app.call("GET", "/api/v1/users/balance", Some(token), None).await.1["data"].clone()
    }
}

async fn fetch_image(app: &TestApp, url: &str) -> image::DynamicImage {
    let bytes = app.http.get(url).send().await.unwrap().bytes().await.unwrap();
    image::load_from_memory(&bytes).expect("a real image")
}

async fn every_generator_produces_real_results_with_thumbnails(backend: Backend) {
    let star = Star::start(backend, |_| {}).await;
    let (_, token) = star.user("painter", 1000).await;
    let image = png_base64(96, 64);
    let cases = [
        (
            "text2img",
            json!({"prompt": "一只可爱的猫咪", "width": 128, "height": 96, "steps": 2, "batchSize": 2}),
            "t2i_",
            (128, 96),
            "PNG",
            20,
        ),
        (
            "img2img",
            json!({"prompt": "oil painting", "imageBase64": image, "width": 64, "height": 64, "steps": 2}),
            "i2i_",
            (64, 64),
            "PNG",
            10,
        ),
        ("upscale", json!({"imageBase64": image, "scaleFactor": 4}), "ups_", (384, 256), "PNG", 5),
        (
            "pose",
            json!({"prompt": "a girl", "poseImageBase64": image, "width": 64, "height": 96, "steps": 2, "controlStrength": 1.5}),
            "pose_",
            (64, 96),
            "PNG",
            15,
        ),
        (
            "text2video",
            json!({"prompt": "cat running", "width": 64, "height": 64, "duration": 1, "fps": 3, "steps": 2}),
            "t2v_",
            (64, 64),
            "WEBP",
            15,
        ),
        (
            "img2video",
            json!({"imageBase64": image, "width": 64, "height": 64, "duration": 1, "fps": 2, "steps": 2}),
            "i2v_",
            (64, 64),
            "WEBP",
            12,
        ),
    ];
    for (kind, body, prefix, (width, height), format, cost) in cases {
        let (status, answer) = star.generate(&token, kind, body).await;
        assert_eq!(status, 200, "{kind}: {answer}");
        let data = &answer["data"];
        let id = data["taskId"].as_str().unwrap();
        assert!(id.starts_with(prefix), "{kind}: {id}");
        assert_eq!(data["cost"], cost, "{kind}");
        assert!(data["queuePosition"].is_u64() && data["estimatedTime"].as_i64().unwrap() > 0);
        if kind.ends_with("video") {
            assert!(data["totalFrames"].is_i64() && data["fps"].is_i64() && data["duration"].is_i64(), "{answer}");
        }
        let task = star.done(&token, id).await;
        assert_eq!(task["status"], "COMPLETED", "{kind}: {task}");
        assert_eq!(task["type"], json!(kind.to_uppercase()));
        assert_eq!(task["cost"], cost);
        let result = &task["results"][0];
        assert_eq!(
            (result["width"].as_i64(), result["height"].as_i64()),
            (Some(width), Some(height)),
            "{kind}: {task}"
        );
        assert_eq!(result["format"], format, "{kind}");
        assert!(result["size"].as_i64().unwrap() > 0);
        let output = fetch_image(&star.app, result["url"].as_str().unwrap()).await;
        assert_eq!((output.width() as i64, output.height() as i64), (width, height), "{kind}");
        let thumbnail_url = eventually(20, "thumbnail", || async {
            let (_, body) = star.app.call("GET", &format!("/api/v1/tasks/{id}"), Some(&token), None).await;
            body["data"]["results"][0]["thumbnailUrl"].as_str().map(str::to_owned)
        })
        .await;
        let thumb = fetch_image(&star.app, &thumbnail_url).await;
        assert!(thumb.width() <= 256 && thumb.height() <= 256);
        assert!(task["processTime"].is_i64() && task["startTime"].is_string() && task["completeTime"].is_string());
    }
    // Two text2img outputs for batchSize 2; parameters record the seed used.
    let (_, list) = star.app.call("GET", "/api/v1/tasks?type=TEXT2IMG&status=COMPLETED", Some(&token), None).await;
    assert_eq!(list["data"]["totalElements"], 1);
    assert_eq!(list["data"]["content"][0]["results"].as_array().unwrap().len(), 2);
    let id = list["data"]["content"][0]["id"].as_str().unwrap();
    let (_, detail) = star.app.call("GET", &format!("/api/v1/tasks/{id}"), Some(&token), None).await;
    assert!(detail["data"]["parameters"]["seed"].as_i64().unwrap() >= 0, "-1 is replaced by the seed used");
    assert_eq!(detail["data"]["prompt"], "一只可爱的猫咪");

    let spent = 20 + 10 + 5 + 15 + 15 + 12;
    let balance = eventually(20, "all charges settled", || async {
        let b = star.balance(&token).await;
        (b["freezed"] == 0).then_some(b)
    })
    .await;
    assert_eq!((balance["balance"].as_i64(), balance["available"].as_i64()), (Some(1000 - spent), Some(1000 - spent)));
    assert_eq!((balance["todayUsed"].as_i64(), balance["monthUsed"].as_i64()), (Some(spent), Some(spent)));
    let (_, records) =
        star.app.call("GET", "/api/v1/users/fund-records?page=1&pageSize=5&type=DEDUCT", Some(&token), None).await;
    assert_eq!(records["data"]["totalElements"], 6);
    assert_eq!((records["data"]["totalPages"].as_i64(), records["data"]["pageSize"].as_i64()), (Some(2), Some(5)));
    let record = &records["data"]["content"][0];
    assert!(
        record["id"].is_i64()
            && record["amount"].as_i64().unwrap() < 0
            && record["taskId"].is_string()
            && record["createTime"].is_string()
    );
    let (_, profile) = star.app.call("GET", "/api/v1/users/profile", Some(&token), None).await;
    assert_eq!(profile["data"]["balance"], 1000 - spent);
    star.app.stop().await;
}

async fn every_business_error_code_is_reachable(backend: Backend) {
    let star = Star::start(backend, |c| {
        c.generation.sensitive_words = vec!["forbidden".into()];
        c.generation.max_image_bytes = 2048;
        c.generation.max_active_tasks_per_user = 1;
    })
    .await;
    let (_, token) = star.user("tester", 100).await;
    let small = json!({"prompt": "x", "width": 64, "height": 64, "steps": 2});
    let gif = format!(
        "data:image/gif;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(b"GIF89a\x01\x00\x01\x00")
    );
    let huge = png_base64(200, 200);
    for (kind, body, status, code) in [
        ("text2img", json!({"prompt": "x", "modelName": "no-such-model"}), 400, "E001"),
        (
            "pose",
            json!({"prompt": "x", "poseImageBase64": png_base64(8, 8), "controlType": "depth", "width": 64, "height": 64}),
            400,
            "E001",
        ),
        ("img2img", json!({"prompt": "x", "imageBase64": gif}), 415, "E004"),
        ("img2img", json!({"prompt": "x", "imageBase64": huge}), 413, "E005"),
        ("text2img", json!({"prompt": "something FORBIDDEN here"}), 400, "E006"),
    ] {
        let (got, answer) = star.generate(&token, kind, body).await;
        assert_eq!((got, answer["code"].as_str()), (status, Some(code)), "{answer}");
        assert!(answer["requestId"].is_string() && answer["data"].is_null());
    }
    let (_, poor) = star.user("poor", 5).await;
    let (got, answer) = star.generate(&poor, "text2img", small.clone()).await;
    assert_eq!((got, answer["code"].as_str()), (402, Some("E002")), "{answer}");
    assert_eq!(star.balance(&poor).await["available"], 5, "nothing charged");

    // E003: one active task per user in this configuration.
    let slow = json!({"prompt": "x", "width": 64, "height": 64, "steps": 150});
    let (got, first) = star.generate(&token, "text2img", slow).await;
    assert_eq!(got, 200, "{first}");
    let (got, answer) = star.generate(&token, "text2img", small.clone()).await;
    assert_eq!((got, answer["code"].as_str()), (503, Some("E003")), "{answer}");
    let first = first["data"]["taskId"].as_str().unwrap().to_owned();
    let (status, cancelled) = star.app.call("DELETE", &format!("/api/v1/tasks/{first}"), Some(&token), None).await;
    assert_eq!((status, cancelled["data"]["refund"].as_i64()), (200, Some(10)), "{cancelled}");

    // E007: no live instance.
    let (status, _) =
        star.app.call("PUT", "/api/config?dropAllServers=true", Some(&star.admin), Some(json!({"servers": []}))).await;
    assert_eq!(status, 200);
    let (got, answer) = star.generate(&token, "text2img", small).await;
    assert_eq!((got, answer["code"].as_str()), (503, Some("E007")), "{answer}");
    // A request that is wrong in itself says so even with no instance up (and stores nothing).
    let not_an_image = json!({"imageBase64": "bm90IGFuIGltYWdl", "scaleFactor": 2});
    let (got, answer) = star.generate(&token, "upscale", not_an_image).await;
    assert_eq!((got, answer["code"].as_str()), (415, Some("E004")), "{answer}");
    star.app.stop().await;
}

async fn timeouts_fail_with_e008_and_refund(backend: Backend) {
    let sim = Sim::spawn(&["--step-ms", "100"]);
    let app = TestApp::start(backend).await;
    let admin = app.admin_token().await;
    let mut config = fleet_config(&[sim.port], 0);
    config["dispatch"]["taskTimeout"] = json!(1000);
    app.use_fleet(&admin, config).await;
    let star = Star { app, admin, _sims: vec![] };
    let (_, token) = star.user("waiter", 50).await;
    let (_, answer) =
        star.generate(&token, "text2img", json!({"prompt": "x", "width": 64, "height": 64, "steps": 100})).await;
    let task = star.done(&token, answer["data"]["taskId"].as_str().unwrap()).await;
    assert_eq!((task["status"].as_str(), task["errorCode"].as_str()), (Some("FAILED"), Some("E008")), "{task}");
    let balance = eventually(20, "refund", || async {
        let b = star.balance(&token).await;
        (b["freezed"] == 0).then_some(b)
    })
    .await;
    assert_eq!(balance["available"], 50);
    star.app.stop().await;
    drop(sim);
}

async fn retry_is_a_new_charge_and_users_are_isolated(backend: Backend) {
    let star = Star::start(backend, |_| {}).await;
    let (_, alice) = star.user("alice", 100).await;
    let (_, bob) = star.user("bob", 100).await;
    let (_, answer) =
        star.generate(&alice, "text2img", json!({"prompt": "x", "width": 64, "height": 64, "steps": 2})).await;
    let id = answer["data"]["taskId"].as_str().unwrap().to_owned();
    star.done(&alice, &id).await;

    let (status, retried) = star.app.call("POST", &format!("/api/v1/tasks/{id}/retry"), Some(&alice), None).await;
    assert_eq!(status, 200, "{retried}");
    let new_id = retried["data"]["newTaskId"].as_str().unwrap().to_owned();
    assert_ne!(new_id, id);
    assert_eq!(retried["data"]["cost"], 10, "the answer says the retry is charged again: {retried}");
    assert_eq!(star.done(&alice, &new_id).await["status"], "COMPLETED");
    eventually(20, "both charges settled", || async { (star.balance(&alice).await["available"] == 80).then_some(()) })
        .await;

    for (method, path) in [
        ("GET", format!("/api/v1/tasks/{id}")),
        ("DELETE", format!("/api/v1/tasks/{id}")),
        ("POST", format!("/api/v1/tasks/{id}/retry")),
    ] {
        let (status, body) = star.app.call(method, &path, Some(&bob), None).await;
        assert_eq!(status, 404, "{method} {path}: {body}");
    }
    let (_, list) = star.app.call("GET", "/api/v1/tasks", Some(&bob), None).await;
    assert_eq!(list["data"]["totalElements"], 0);
    assert_eq!(star.balance(&bob).await["available"], 100);
    let (_, records) = star.app.call("GET", "/api/v1/users/fund-records", Some(&bob), None).await;
    assert_eq!(records["data"]["totalElements"], 1, "only bob's own recharge");
    let (status, _) =
        star.app.call("POST", "/api/v1/admin/users/1001/credits", Some(&bob), Some(json!({"amount": 1000}))).await;
    assert_eq!(status, 403);
    star.app.stop().await;
}

async fn the_ledger_stays_balanced_under_concurrent_submits_cancels_and_failures(backend: Backend) {
    let star = Star::start(backend, |_| {}).await;
    let (user_id, token) = star.user("busy", 150).await;
    // While the burst runs, the instances keep failing prompts (each sim fails its next
    // prompt; re-armed every 20 ms until every accepted task has started).
    let sim_urls: Vec<String> = star._sims.iter().map(|sim| format!("{}/sim/control", sim.base())).collect();
    let arming = {
        let http = star.app.http.clone();
        tokio::spawn(async move {
            loop {
                for url in &sim_urls {
                    let _ = http.post(url).json(&json!({"fail_next": true})).send().await;
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        })
    };
    let token = std::sync::Arc::new(token);
    let mut handles = Vec::new();
    for i in 0..24 {
        let (http, base, token) = (star.app.http.clone(), star.app.base.clone(), token.clone());
        handles.push(tokio::spawn(async move {
            let body =
                json!({"prompt": format!("p{i}"), "width": 64, "height": 64, "steps": if i % 4 == 0 { 60 } else { 2 }});
            let answer: Value = http
                .post(format!("{base}/api/v1/generate/text2img"))
                .bearer_auth(token.as_str())
                .json(&body)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if let (Some(id), true) = (answer["data"]["taskId"].as_str(), i % 4 == 0) {
                http.delete(format!("{base}/api/v1/tasks/{id}")).bearer_auth(token.as_str()).send().await.unwrap();
            }
            answer["code"].clone()
        }));
    }
    let mut accepted = 0;
    for h in handles {
        let code = h.await.unwrap();
        assert!(code == 200 || code == "E002", "only success or E002: {code}");
        accepted += i64::from(code == 200);
    }
    assert!(accepted >= 1, "some submissions were accepted");
    eventually(60, "no task waiting", || async {
        let (_, pending) = star.app.call("GET", "/api/v1/tasks?status=PENDING", Some(&token), None).await;
        (pending["data"]["totalElements"] == 0).then_some(())
    })
    .await;
    arming.abort();
    let balance = eventually(60, "every task settled", || async {
        let b = star.balance(&token).await;
        let (_, active) = star.app.call("GET", "/api/v1/tasks?status=PENDING", Some(&token), None).await;
        let (_, running) = star.app.call("GET", "/api/v1/tasks?status=PROCESSING", Some(&token), None).await;
        let idle = active["data"]["totalElements"] == 0 && running["data"]["totalElements"] == 0;
        (idle && b["freezed"] == 0).then_some(b)
    })
    .await;
    let (_, deducts) =
        star.app.call("GET", "/api/v1/users/fund-records?type=DEDUCT&pageSize=100", Some(&token), None).await;
    let deducted: i64 =
        deducts["data"]["content"].as_array().unwrap().iter().map(|r| -r["amount"].as_i64().unwrap()).sum();
    let available = balance["available"].as_i64().unwrap();
    assert!(available >= 0);
    assert_eq!(available + balance["freezed"].as_i64().unwrap() + deducted, 150, "{balance} deducted {deducted}");
    let (_, completed) = star.app.call("GET", "/api/v1/tasks?status=COMPLETED&pageSize=100", Some(&token), None).await;
    assert_eq!(
        deducted,
        10 * completed["data"]["totalElements"].as_i64().unwrap(),
        "exactly the completed tasks were paid for"
    );
    let (_, failed) = star.app.call("GET", "/api/v1/tasks?status=FAILED", Some(&token), None).await;
    assert!(failed["data"]["totalElements"].as_i64().unwrap() >= 1, "injected failures happened and were refunded");

    // A retry is one more charge; then the fund records add up: each record's amount is
    // the change of the balance and its `frozen` the change of the frozen credits.
    let failed_id = failed["data"]["content"][0]["id"].as_str().unwrap();
    let (status, retried) =
        star.app.call("POST", &format!("/api/v1/tasks/{failed_id}/retry"), Some(&token), None).await;
    assert_eq!(status, 200, "{retried}");
    let balance = eventually(60, "the retry settled", || async {
        let b = star.balance(&token).await;
        (b["freezed"] == 0).then_some(b)
    })
    .await;
    let (_, records) = star.app.call("GET", "/api/v1/users/fund-records?pageSize=100", Some(&token), None).await;
    let records = records["data"]["content"].as_array().unwrap().clone();
    let (mut total, mut frozen) = (0, 0);
    for record in records.iter().rev() {
        total += record["amount"].as_i64().unwrap();
        frozen += record["frozen"].as_i64().unwrap();
        assert_eq!(record["balance"].as_i64(), Some(total), "each record's balance is the running sum: {record}");
        assert!(frozen >= 0, "{record}");
    }
    assert_eq!((total, frozen), (balance["balance"].as_i64().unwrap(), 0), "{balance}");
    let _ = user_id;
    star.app.stop().await;
}

async fn image_urls_are_fetched_but_internal_ones_only_when_allowed(backend: Backend) {
    let star = Star::start(backend, |c| c.generation.allow_private_image_urls = true).await;
    let (_, token) = star.user("linker", 100).await;
    // Any local HTTP server will do: a sim serves uploaded images at /view.
    let png = base64::engine::general_purpose::STANDARD.decode(png_base64(48, 32).split_once(',').unwrap().1).unwrap();
    let sim = Sim::spawn(&[]);
    let form = reqwest::multipart::Form::new().part("image", reqwest::multipart::Part::bytes(png).file_name("in.png"));
    let uploaded: Value = star
        .app
        .http
        .post(format!("{}/upload/image", sim.base()))
        .multipart(form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let url = format!("{}/view?filename={}&type=input", sim.base(), uploaded["name"].as_str().unwrap());
    let (status, answer) = star.generate(&token, "upscale", json!({"imageUrl": url, "scaleFactor": 2})).await;
    assert_eq!(status, 200, "{answer}");
    let task = star.done(&token, answer["data"]["taskId"].as_str().unwrap()).await;
    assert_eq!(
        (task["results"][0]["width"].as_i64(), task["results"][0]["height"].as_i64()),
        (Some(96), Some(64)),
        "{task}"
    );
    star.app.stop().await;

    let guarded = Star::start(backend, |_| {}).await;
    let (_, token) = guarded.user("linker", 100).await;
    let (status, answer) = guarded.generate(&token, "upscale", json!({"imageUrl": url})).await;
    assert_eq!(status, 400, "{answer}");
    assert!(answer["message"].as_str().unwrap().contains("internal address"));
    assert_eq!(guarded.balance(&token).await["available"], 100);
    guarded.app.stop().await;
}

async fn avatars_may_be_uploaded_and_admins_see_all_tasks(backend: Backend) {
    let star = Star::start(backend, |_| {}).await;
    let (_, alice) = star.user("alice", 100).await;
    let (status, body) =
        star.app.call("PUT", "/api/v1/users/profile", Some(&alice), Some(json!({"avatar": png_base64(16, 16)}))).await;
    assert_eq!(status, 200, "{body}");
    let avatar = body["data"]["avatar"].as_str().unwrap().to_owned();
    assert!(avatar.contains("/files/"), "{avatar}");
    assert_eq!(fetch_image(&star.app, &avatar).await.width(), 16);
    let gif = format!(
        "data:image/gif;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(b"GIF89a\x01\x00\x01\x00")
    );
    let (status, _) = star
        .app
        .call("PUT", "/api/v1/users/profile", Some(&alice), Some(json!({"avatar": "data:image/png;base64,@@@"})))
        .await;
    assert_eq!(status, 400);
    let (status, _) = star.app.call("PUT", "/api/v1/users/profile", Some(&alice), Some(json!({"avatar": gif}))).await;
    assert_eq!(status, 200, "GIF avatars are images too");

    let (_, answer) =
        star.generate(&alice, "text2img", json!({"prompt": "x", "width": 64, "height": 64, "steps": 1})).await;
    let id = answer["data"]["taskId"].as_str().unwrap().to_owned();
    let (status, all) = star.app.call("GET", "/api/v1/admin/tasks", Some(&star.admin), None).await;
    assert_eq!((status, all["data"]["content"][0]["id"].as_str()), (200, Some(id.as_str())), "{all}");
    let (status, _) = star.app.call("GET", "/api/v1/admin/tasks", Some(&alice), None).await;
    assert_eq!(status, 403);
    let (_, own) = star.app.call("GET", "/api/v1/tasks", Some(&star.admin), None).await;
    assert_eq!(own["data"]["totalElements"], 0, "/tasks is the caller's own list, even for admins");
    star.app.stop().await;
}

async fn concurrent_submits_never_pass_the_active_task_limit(backend: Backend) {
    let sims = [Sim::spawn(&["--step-ms", "500"]), Sim::spawn(&["--step-ms", "500"])];
    let app = TestApp::start_with(backend, |c| c.generation.max_active_tasks_per_user = 5).await;
    let admin = app.admin_token().await;
    app.use_fleet(&admin, fleet_config(&[sims[0].port, sims[1].port], 1)).await;
    let id = app.create_user(&admin, "eager", "eager-password").await;
    let grant = json!({"amount": 10_000});
    let (status, _) = app.call("POST", &format!("/api/v1/admin/users/{id}/credits"), Some(&admin), Some(grant)).await;
    assert_eq!(status, 200);
    let (token, _) = app.star_login("eager", "eager-password").await;
    let body = json!({"prompt": "many at once", "width": 64, "height": 64, "steps": 20});
    let answers = futures_util::future::join_all(
        (0..30).map(|_| app.call("POST", "/api/v1/generate/text2img", Some(&token), Some(body.clone()))),
    )
    .await;
    let accepted = answers.iter().filter(|(status, _)| *status == 200).count();
    let refused = answers.iter().filter(|(status, a)| *status == 503 && a["code"] == "E003").count();
    assert_eq!((accepted, refused), (5, 25), "{backend:?}: {answers:?}");
    app.stop().await;
}

/// A creator can learn what to ask for: the models, each generator's price and defaults,
/// and a refused model name says which would do.
async fn the_model_list_says_what_requests_may_name_and_cost(backend: Backend) {
    let star = Star::start(backend, |_| {}).await;
    let (_, token) = star.user("creator", 100).await;
    let (status, _) = star.app.call("GET", "/api/v1/models", None, None).await;
    assert_eq!(status, 401);
    let (status, answer) = star.app.call("GET", "/api/v1/models", Some(&token), None).await;
    assert_eq!(status, 200, "{answer}");
    let data = &answer["data"];
    let names: Vec<&str> = data["models"].as_array().unwrap().iter().map(|m| m["name"].as_str().unwrap()).collect();
    let configured = gantry_core::config::GenerationConfig::default().models;
    assert_eq!(names, configured.keys().map(String::as_str).collect::<Vec<_>>(), "{answer}");
    let generator = |kind: &str| {
        data["generators"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["type"] == kind)
            .cloned()
            .unwrap_or_else(|| panic!("{kind}: {answer}"))
    };
    let text2img = generator("TEXT2IMG");
    assert_eq!(text2img["price"], json!({"base": 0, "perUnit": 10, "unit": "image"}));
    assert_eq!(text2img["defaults"]["modelName"], "stable-diffusion-xl-base-1.0");
    assert_eq!((text2img["defaults"]["width"].as_i64(), text2img["defaults"]["seed"].as_i64()), (Some(1024), Some(-1)));
    assert_eq!(generator("TEXT2VIDEO")["price"]["unit"], "second");
    for g in data["generators"].as_array().unwrap() {
        if let Some(model) = g["defaults"]["modelName"].as_str() {
            let listed = data["models"].as_array().unwrap().iter().find(|m| m["name"] == model).unwrap();
            assert!(listed["defaultFor"].as_array().unwrap().contains(&g["type"]), "{answer}");
        }
    }
    // Each generator lists its parameters with the values validation accepts, and the
    // bounds listed are the bounds enforced.
    let param = |kind: &str, name: &str| {
        generator(kind)["params"].as_array().unwrap().iter().find(|p| p["name"] == name).cloned().unwrap_or(json!(null))
    };
    let width = param("TEXT2IMG", "width");
    assert_eq!(
        width,
        json!({"name": "width", "type": "integer", "required": false, "min": 64.0, "max": 2048.0, "multipleOf": 8})
    );
    assert_eq!(param("TEXT2IMG", "prompt")["required"], true);
    assert!(param("TEXT2IMG", "sampler")["options"].as_array().unwrap().contains(&json!("euler")), "{answer}");
    assert_eq!(param("UPSCALE", "scaleFactor")["options"], json!([2, 4]));
    assert_eq!(param("POSE", "poseImage")["type"], "image");
    for g in data["generators"].as_array().unwrap() {
        let params = g["params"].as_array().unwrap();
        for name in g["defaults"].as_object().unwrap().keys().filter(|k| *k != "totalFrames") {
            assert!(params.iter().any(|p| p["name"] == name.as_str()), "{} lists no {name}: {g}", g["type"]);
        }
    }
    let too_wide = json!({"prompt": "x", "width": 2056, "height": 64});
    let (status, refused) = star.generate(&token, "text2img", too_wide).await;
    assert_eq!((status, refused["code"].as_i64()), (400, Some(400)), "{refused}");
    assert!(
        refused["message"].as_str().unwrap().contains("width must be a multiple of 8 between 64 and 2048"),
        "{refused}"
    );
    // What the list says is what a request gets: defaults and price.
    let (status, made) =
        star.generate(&token, "text2img", json!({"prompt": "x", "width": 64, "height": 64, "steps": 2})).await;
    assert_eq!(status, 200, "{made}");
    assert_eq!(star.balance(&token).await["freezed"], 10);
    let (status, refused) = star.generate(&token, "text2img", json!({"prompt": "x", "modelName": "sdxl-turbo"})).await;
    assert_eq!((status, refused["code"].as_str()), (400, Some("E001")), "{refused}");
    let message = refused["message"].as_str().unwrap();
    assert!(message.contains("sdxl-turbo") && names.iter().all(|n| message.contains(n)), "{message}");
    star.app.stop().await;
}

gantry_testkit::on_each_backend!(
    the_model_list_says_what_requests_may_name_and_cost,
    concurrent_submits_never_pass_the_active_task_limit,
    every_generator_produces_real_results_with_thumbnails,
    every_business_error_code_is_reachable,
    timeouts_fail_with_e008_and_refund,
    retry_is_a_new_charge_and_users_are_isolated,
    the_ledger_stays_balanced_under_concurrent_submits_cancels_and_failures,
    image_urls_are_fetched_but_internal_ones_only_when_allowed,
    avatars_may_be_uploaded_and_admins_see_all_tasks
);
