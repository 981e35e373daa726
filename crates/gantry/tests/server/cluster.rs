//! Three `gantry serve` processes on one PostgreSQL database and one file store, in front of
//! two comfy-sims: any gateway answers any route the same, a gateway `kill -9`ed mid-run
//! loses nothing (its instances and their tasks go on under another gateway, each task
//! running once), and every gateway's clients hear every event.

use crate::common::compute::host_body;
use crate::common::moto::Moto;
use crate::common::process::GantryProcess;
use crate::common::sim::Sim;
use crate::common::vflow::step;
use crate::common::{ADMIN_PASSWORD, eventually, fleet_config, next_message, node_script, t2i_graph};
use gantry_store::Backend;
use gantry_testkit::ScratchDb;
use serde_json::{Value, json};
use std::path::Path;

const SD15: &str = "v1-5-pruned-emaonly.safetensors";

/// One gateway of the cluster: its own data directory, the shared database and file store
/// (`env` names it).
fn gateway(data: &Path, db: &str, config: &Path, env: &[(&'static str, String)]) -> GantryProcess {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    GantryProcess::start_with_env(data, db, Some(config), &env)
}

async fn login(gateway: &GantryProcess, username: &str, password: &str) -> String {
    let answer = gateway
        .call("POST", "/api/v1/auth/login", None, Some(json!({"username": username, "password": password})))
        .await;
    answer["data"]["token"].as_str().unwrap_or_else(|| panic!("login {username}: {answer}")).to_owned()
}

/// The instances a gateway shows that are alive with their models known.
async fn alive_instances(gateway: &GantryProcess, token: &str) -> usize {
    let list = gateway.call("GET", "/api/instances", Some(token), None).await;
    list["data"].as_array().map_or(0, |l| {
        l.iter().filter(|i| i["alive"] == true && !i["models"].as_array().is_none_or(Vec::is_empty)).count()
    })
}

/// The ids of the gateways that drive instances.
async fn drivers(db: &ScratchDb) -> Vec<String> {
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    let driving = sqlx::query_scalar("SELECT gateway_id FROM instance_leases").fetch_all(&pool).await.unwrap();
    pool.close().await;
    driving
}

/// A gateway's id, from its health route.
async fn id_of(gateway: &GantryProcess) -> String {
    let health = gateway.call("GET", "/api/health", None, None).await;
    health["data"]["gateway"].as_str().unwrap_or_else(|| panic!("{health}")).to_owned()
}

/// Three gateways on a scratch PostgreSQL database, with `config` (TOML) added to
/// `lease_secs = 2`, sharing the file store `env` names (a shared directory without it).
struct Cluster {
    db: ScratchDb,
    _scratch: tempfile::TempDir,
    dirs: Vec<tempfile::TempDir>,
    config: std::path::PathBuf,
    env: Vec<(&'static str, String)>,
    gateways: Vec<GantryProcess>,
}

impl Cluster {
    async fn start(config: &str, mut env: Vec<(&'static str, String)>) -> Self {
        let db = ScratchDb::new(Backend::Postgres).await;
        let scratch = tempfile::tempdir().unwrap();
        if env.is_empty() {
            env.push(("GANTRY_FILES_URL", format!("file://{}", scratch.path().join("files").display())));
        }
        let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
        let path = scratch.path().join("gantry.toml");
        std::fs::write(&path, format!("{config}\n[cluster]\nlease_secs = 2\n")).unwrap();
        let gateways = dirs.iter().map(|d| gateway(d.path(), &db.url, &path, &env)).collect();
        Self { db, _scratch: scratch, dirs, config: path, env, gateways }
    }

    /// Kills gateway `i` with SIGKILL and starts a new process in its place.
    fn kill_and_restart(&mut self, i: usize) {
        self.gateways[i].kill9();
        self.gateways[i] = gateway(self.dirs[i].path(), &self.db.url, &self.config, &self.env);
    }

    /// Configures the fleet through the first gateway and waits until every gateway shows
    /// `instances` instances alive.
    async fn use_fleet(&self, admin: &str, ports: &[u16], prefetch: u32) {
        let answer =
            self.gateways[0].call("PUT", "/api/config", Some(admin), Some(fleet_config(ports, prefetch))).await;
        assert_eq!(answer["code"], 200, "{answer}");
        for g in &self.gateways {
            eventually(20, "every gateway to see every instance alive", || async {
                (alive_instances(g, admin).await == ports.len()).then_some(())
            })
            .await;
        }
    }

    /// A user with 10 000 credits, created through the second gateway; its token.
    async fn paying_user(&self, admin: &str, username: &str) -> String {
        let body = json!({"username": username, "password": "user-password-1"});
        let created = self.gateways[1].call("POST", "/api/v1/admin/users", Some(admin), Some(body)).await;
        let id = created["data"]["id"].as_i64().unwrap_or_else(|| panic!("{created}"));
        let path = format!("/api/v1/admin/users/{id}/credits");
        self.gateways[2].call("POST", &path, Some(admin), Some(json!({"amount": 10_000}))).await;
        login(&self.gateways[2], username, "user-password-1").await
    }
}

#[tokio::test]
async fn three_gateways_share_one_postgres_and_survive_a_killed_one() {
    let sims = [Sim::spawn(&["--step-ms", "60"]), Sim::spawn(&["--step-ms", "60"])];
    // The file store is an S3 bucket (moto's server) where moto is installed, as under CI.
    let moto = Moto::start().await;
    let env = match &moto {
        Some(moto) => {
            moto.create_bucket("cluster").await;
            moto.env("s3://cluster/files")
        }
        None => Vec::new(),
    };
    let mut cluster = Cluster::start("", env).await;
    let http = reqwest::Client::new();

    // A token from one gateway works on all; the fleet configured through the first is
    // live on the others.
    let admin = login(&cluster.gateways[0], "admin", ADMIN_PASSWORD).await;
    cluster.use_fleet(&admin, &[sims[0].port, sims[1].port], 1).await;

    // A user.
    let ada = cluster.paying_user(&admin, "ada").await;
    let gateways = &cluster.gateways;
    // The gateway to kill drives an instance; the socket listens on another one.
    let driving = drivers(&cluster.db).await;
    let mut victim = None;
    for (i, g) in gateways.iter().enumerate() {
        if driving.contains(&id_of(g).await) {
            victim = Some(i);
        }
    }
    let victim = victim.expect("some gateway drives an instance");
    let survivor = (victim + 1) % 3;
    let ws_url = format!("{}/ws?token={admin}", gateways[survivor].base.replace("http://", "ws://"));
    let mut socket = tokio_tungstenite::connect_async(ws_url).await.expect("websocket connects").0;

    // An event trigger (one run per completed task for the whole cluster) and a cron
    // schedule (one run per tick for the whole cluster).
    let on_done = json!([
        step("t", "trigger_event", 0, json!({"event": "task_completed"})),
        step("l", "log", 0, json!({"message": "{{t.subject}}"})),
    ]);
    let every_minute = json!([
        step("t", "trigger_schedule", 0, json!({"cron": "* * * * *"})),
        step("l", "log", 0, json!({"message": "tick"})),
    ]);
    let mut workflows = Vec::new();
    for (name, steps) in [("on done", on_done), ("every minute", every_minute)] {
        let body = json!({"name": name, "steps": steps, "isEnabled": true});
        let created = gateways[0].call("POST", "/api/v1/workflows", Some(&ada), Some(body)).await;
        workflows.push(created["data"]["id"].as_str().unwrap_or_else(|| panic!("{created}")).to_owned());
    }

    // Tasks submitted round-robin; once some run, a gateway that drives an instance dies.
    let mut ids = Vec::new();
    for i in 0..12u64 {
        let body = json!({"workflow": t2i_graph(SD15, 20, i), "params": {"prompt": "cluster"}});
        let answer = gateways[i as usize % 3].call("POST", "/api/tasks", Some(&ada), Some(body)).await;
        ids.push(answer["data"]["id"].as_str().unwrap_or_else(|| panic!("{answer}")).to_owned());
    }
    eventually(30, "two tasks running", || async {
        let running = gateways[0].call("GET", "/api/tasks?status=running", Some(&admin), None).await;
        (running["data"]["total"].as_i64()? == 2).then_some(())
    })
    .await;
    // A gateway that drives no instance shows the running tasks' progress as it grows.
    let mut idle = None;
    for g in gateways {
        if !driving.contains(&id_of(g).await) {
            idle = Some(g);
        }
    }
    let idle = idle.expect("two instances leave one of three gateways idle");
    eventually(30, "progress on a gateway that runs nothing", || async {
        let running = idle.call("GET", "/api/tasks?status=running", Some(&admin), None).await;
        let tasks = running["data"]["items"].as_array()?.clone();
        tasks.iter().any(|t| t["progress"].as_i64().is_some_and(|p| p > 0 && p < 100)).then_some(())
    })
    .await;
    cluster.kill_and_restart(victim);
    let gateways = &cluster.gateways;

    // Every task completes once, and every gateway shows it and serves its output.
    for id in &ids {
        let task = eventually(90, "task to finish", || async {
            let task = gateways[survivor].call("GET", &format!("/api/tasks/{id}"), Some(&ada), None).await;
            matches!(task["data"]["status"].as_str()?, "completed" | "failed" | "cancelled")
                .then(|| task["data"].clone())
        })
        .await;
        assert_eq!(task["status"], "completed", "{task}");
        for g in gateways {
            let seen = g.call("GET", &format!("/api/tasks/{id}"), Some(&ada), None).await;
            assert_eq!(seen["data"]["status"], "completed", "{seen}");
            let url = seen["data"]["result"]["files"][0].as_str().unwrap_or_else(|| panic!("{seen}"));
            let file = &url[url.find("/files/").unwrap_or_else(|| panic!("{url}"))..];
            assert_eq!(seen["data"]["queuePosition"], Value::Null, "{seen}");
            let download = http.get(format!("{}{file}", g.base)).bearer_auth(&ada).send().await.unwrap();
            assert_eq!(download.status(), 200, "{} serves {file}", g.base);
            assert!(download.bytes().await.unwrap().starts_with(b"\x89PNG"));
        }
    }
    if let Some(moto) = &moto {
        let outputs = moto.keys("cluster").await.into_iter().filter(|k| k.starts_with("files/")).count();
        assert_eq!(outputs, ids.len(), "every output in the bucket");
    }
    let mut executed = 0;
    for sim in &sims {
        executed += sim.prompts_started().await;
    }
    assert_eq!(executed, ids.len(), "each task ran exactly once on the instances");

    // The socket on a surviving gateway heard every completion, whichever gateway ran it.
    let mut heard = std::collections::HashSet::new();
    while heard.len() < ids.len() {
        let message = next_message(&mut socket, "task_completed", |_| true).await;
        heard.insert(message["data"]["taskId"].as_str().unwrap_or_default().to_owned());
    }
    assert!(ids.iter().all(|id| heard.contains(id)), "heard {heard:?}");

    // The event trigger ran once per task.
    let runs = |workflow: String, gateway: usize| {
        let ada = &ada;
        async move {
            let list = gateways[gateway]
                .call("GET", &format!("/api/v1/executions?workflowId={workflow}&pageSize=100"), Some(ada), None)
                .await;
            list["data"]["executions"].as_array().cloned().unwrap_or_default()
        }
    };
    eventually(30, "one event run per task", || async {
        (runs(workflows[0].clone(), 1).await.len() >= ids.len()).then_some(())
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    assert_eq!(runs(workflows[0].clone(), 2).await.len(), ids.len(), "once per event across the cluster");

    // A STOMP client on a gateway that drives no instance gets its result from the gateway
    // that ran the task.
    let driving = drivers(&cluster.db).await;
    let mut idle = None;
    for g in gateways {
        if !driving.contains(&id_of(g).await) {
            idle = Some(g.base.clone());
        }
    }
    let idle = idle.expect("two instances leave one of three gateways idle");
    let outcome = node_script("stomp-client.mjs", &["ws", &idle, &ada]).await;
    assert_eq!(outcome["results"][0]["status"], "COMPLETED", "{outcome}");

    // A workflow's files are in the shared store: written through one gateway, appended to
    // and listed through others.
    let steps = [
        json!([step("w", "file_write", 0, json!({"path": "notes/a.txt", "content": "hello"}))]),
        json!([step("w", "file_write", 0, json!({"path": "notes/a.txt", "content": " world", "append": true}))]),
        json!([
            step("r", "file_read", 0, json!({"path": "notes/a.txt"})),
            step("ls", "file_list", 0, json!({"path": "notes"})),
        ]),
    ];
    let mut last = Value::Null;
    for (i, steps) in steps.into_iter().enumerate() {
        let body = json!({"name": format!("files {i}"), "steps": steps, "isEnabled": true});
        let created = gateways[i].call("POST", "/api/v1/workflows", Some(&ada), Some(body)).await;
        let id = created["data"]["id"].as_str().unwrap_or_else(|| panic!("{created}")).to_owned();
        let run = json!({"async": false});
        last = gateways[i].call("POST", &format!("/api/v1/workflows/{id}/execute"), Some(&ada), Some(run)).await;
        assert_eq!(last["data"]["status"], "completed", "{last}");
    }
    assert_eq!(last["data"]["outputs"]["r"]["content"]["value"], "hello world", "{last}");
    assert_eq!(last["data"]["outputs"]["ls"]["files"]["value"][0]["name"], "a.txt", "{last}");
    if let Some(moto) = &moto {
        assert!(
            moto.keys("cluster")
                .await
                .iter()
                .any(|k| k.starts_with("files/workflow-files/") && k.ends_with("notes/a.txt"))
        );
    }

    // Disabling an instance through one gateway is live on the others.
    let instance = format!("127.0.0.1:{}", sims[0].port);
    let answer = gateways[2]
        .call("PUT", &format!("/api/instances/{instance}"), Some(&admin), Some(json!({"enabled": false})))
        .await;
    assert_eq!(answer["code"], 200, "{answer}");
    eventually(10, "the switch to reach the first gateway", || async {
        let seen = gateways[0].call("GET", &format!("/api/instances/{instance}"), Some(&admin), None).await;
        (seen["data"]["enabled"] == false).then_some(())
    })
    .await;

    // The schedule fired once for its minute, not once per gateway.
    let fired = eventually(75, "the schedule to fire", || async {
        let list = runs(workflows[1].clone(), 0).await;
        (!list.is_empty()).then_some(list)
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let list = runs(workflows[1].clone(), 1).await;
    assert_eq!(list.len(), fired.len().max(1), "one run per tick: {list:?}");
}

/// The per-user limit of unfinished generations holds however many gateways a user's
/// requests go through at once, and two users' tasks take turns on the one instance
/// whichever gateways they were submitted to.
#[tokio::test]
async fn limits_and_fairness_hold_across_gateways() {
    let sim = Sim::spawn(&["--step-ms", "40"]);
    let cluster = Cluster::start("[generation]\nmax_active_tasks_per_user = 3", Vec::new()).await;
    let admin = login(&cluster.gateways[0], "admin", ADMIN_PASSWORD).await;
    cluster.use_fleet(&admin, &[sim.port], 0).await;
    let ada = cluster.paying_user(&admin, "ada").await;
    let body = json!({"prompt": "x", "width": 64, "height": 64, "steps": 40});
    let answers =
        futures_util::future::join_all((0..12).map(|i| {
            cluster.gateways[i % 3].call("POST", "/api/v1/generate/text2img", Some(&ada), Some(body.clone()))
        }))
        .await;
    let accepted = answers.iter().filter(|a| a["code"] == 200).count();
    let refused = answers.iter().filter(|a| a["code"] == "E003").count();
    assert_eq!((accepted, refused), (3, 9), "{answers:?}");

    // Wrong passwords count the same through every gateway: five spread over three, then
    // even the right one is refused everywhere.
    for attempt in 0..5 {
        let body = json!({"username": "ada", "password": format!("guess-{attempt}")});
        let answer = cluster.gateways[attempt % 3].call("POST", "/api/auth/login", None, Some(body)).await;
        assert_eq!(answer["code"], 401, "attempt {attempt}: {answer}");
    }
    for g in &cluster.gateways {
        let body = json!({"username": "ada", "password": "user-password-1"});
        let answer = g.call("POST", "/api/auth/login", None, Some(body)).await;
        assert_eq!(answer["code"], 429, "{answer}");
    }

    // A QEMU host belongs to the machine of the gateway that created it: the others refuse
    // requests for its VMs, naming where it runs; every gateway lists it.
    let host = host_body("h1", (31000, 31099));
    let created = cluster.gateways[0].call("POST", "/api/server/create", Some(&admin), Some(host)).await;
    assert_eq!(created["code"], 200, "{created}");
    let here = cluster.gateways[0].call("GET", "/api/server/status/h1", Some(&admin), None).await;
    assert_eq!(here["code"], 200, "{here}");
    let there = cluster.gateways[1].call("GET", "/api/server/status/h1", Some(&admin), None).await;
    let msg = there["msg"].as_str().unwrap_or_default();
    let owner = cluster.gateways[0].base.trim_start_matches("http://");
    assert!(there["code"] != 200 && msg.contains("another machine") && msg.contains(owner), "{there}");
    let listed = cluster.gateways[2].call("GET", "/api/server/detail/h1", Some(&admin), None).await;
    assert_eq!(listed["code"], 200, "{listed}");

    // Alice fills the queue through the first gateway, then Bob submits through the second:
    // his tasks run between hers, not after them.
    let alice = cluster.paying_user(&admin, "alice").await;
    let bob = cluster.paying_user(&admin, "bob").await;
    let submit = |gateway: usize, token: &str, seed: u64| {
        let body = json!({"workflow": t2i_graph(SD15, 10, seed), "params": {"prompt": "fair"}});
        let (g, token) = (&cluster.gateways[gateway], token.to_owned());
        async move {
            let answer = g.call("POST", "/api/tasks", Some(&token), Some(body)).await;
            answer["data"]["id"].as_str().unwrap_or_else(|| panic!("{answer}")).to_owned()
        }
    };
    let mut hers = Vec::new();
    for seed in 0..6 {
        hers.push(submit(0, &alice, seed).await);
    }
    let his = [submit(1, &bob, 10).await, submit(1, &bob, 11).await];
    let mut prompts = std::collections::HashMap::new();
    for id in hers.iter().chain(&his) {
        let task = eventually(90, "task to finish", || async {
            let task = cluster.gateways[2].call("GET", &format!("/api/tasks/{id}"), Some(&admin), None).await;
            (task["data"]["status"] == "completed").then(|| task["data"].clone())
        })
        .await;
        prompts.insert(task["promptId"].as_str().unwrap_or_default().to_owned(), his.contains(id));
    }
    let timeline: Value = reqwest::get(format!("{}/sim/timeline", sim.base())).await.unwrap().json().await.unwrap();
    let mut started: Vec<(u64, bool)> = timeline
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| Some((p["started_at"].as_u64()?, *prompts.get(p["prompt_id"].as_str()?)?)))
        .collect();
    started.sort();
    let order: Vec<&str> = started.iter().map(|(_, bobs)| if *bobs { "bob" } else { "alice" }).collect();
    assert_eq!(order.len(), 8, "{order:?}");
    let last_of_his = order.iter().rposition(|who| *who == "bob").unwrap();
    assert!(last_of_his <= 4, "Bob's tasks took turns with Alice's: {order:?}");
}
