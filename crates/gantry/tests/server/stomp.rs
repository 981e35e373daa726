//! star-graph's STOMP endpoint driven by the real npm clients its spec uses
//! (`@stomp/stompjs` over a plain WebSocket, and over `sockjs-client` with its WebSocket
//! and XHR transports), and by `stompjs` 2.x (STOMP 1.0/1.1 only), installed by the test
//! command into `tests/node`.

use crate::common::sim::Sim;
use crate::common::{TestApp, fleet_config, node_script};
use gantry_store::Backend;
use serde_json::{Value, json};

async fn node(args: &[&str]) -> Value {
    node_script("stomp-client.mjs", args).await
}

async fn npm_stomp_clients_generate_and_receive_progress_and_results(backend: Backend) {
    let sim = Sim::spawn(&["--step-ms", "20"]);
    let app = TestApp::start(backend).await;
    let admin = app.admin_token().await;
    app.use_fleet(&admin, fleet_config(&[sim.port], 1)).await;
    let token = app.paying_user(&admin, "streamer").await;

    let transports = [
        ("ws", Value::Null),
        ("websocket", json!("websocket")),
        ("xhr-streaming", json!("xhr-streaming")),
        ("xhr-polling", json!("xhr-polling")),
    ];
    for (transport, used) in transports {
        let outcome = node(&[transport, &app.base, &token]).await;
        assert_eq!(outcome["sockjsTransport"], used, "{outcome}");
        assert_eq!(
            (outcome["connected"].as_bool(), outcome["user"].as_str()),
            (Some(true), Some("streamer")),
            "{outcome}"
        );
        let generated = &outcome["replies"][0];
        assert_eq!(generated["type"], "generate", "{outcome}");
        let task_id = generated["taskId"].as_str().unwrap();
        assert!(task_id.starts_with("t2i_"));
        assert_eq!(generated["cost"], 10);
        let status = &outcome["replies"][1];
        assert_eq!((status["type"].as_str(), status["taskId"].as_str()), (Some("status"), Some(task_id)), "{outcome}");
        let progress = outcome["progress"].as_array().unwrap();
        assert!(!progress.is_empty(), "{transport}: no progress: {outcome}");
        let last = progress.last().unwrap();
        assert_eq!((last["type"].as_str(), last["taskId"].as_str()), (Some("progress"), Some(task_id)));
        assert!(last["currentStep"].as_u64().unwrap() <= last["totalSteps"].as_u64().unwrap());
        let result = &outcome["results"][0];
        assert_eq!(
            (result["type"].as_str(), result["status"].as_str()),
            (Some("result"), Some("COMPLETED")),
            "{outcome}"
        );
        assert!(result["results"][0]["url"].as_str().unwrap().contains("/files/"));
        assert!(result["results"][0]["thumbnailUrl"].as_str().unwrap().contains("/files/"));
    }

    for transport in ["ws", "websocket", "xhr-polling"] {
        let outcome = node(&[transport, &app.base, "not-a-token", "bad-token"]).await;
        assert_eq!(outcome["connected"], false);
        assert!(outcome["errors"][0].as_str().unwrap().contains("authentication failed"), "{outcome}");
    }
    app.stop().await;
}

/// A STOMP 1.0/1.1-only client (npm `stompjs` 2.x) negotiates 1.1 and gets the same
/// replies, progress and result.
async fn a_stomp_1_1_client_generates_and_receives_progress_and_results(backend: Backend) {
    let sim = Sim::spawn(&["--step-ms", "20"]);
    let app = TestApp::start(backend).await;
    let admin = app.admin_token().await;
    app.use_fleet(&admin, fleet_config(&[sim.port], 1)).await;
    let token = app.paying_user(&admin, "legacy").await;
    let outcome = node_script("stomp-legacy-client.mjs", &[&app.base, &token]).await;
    assert_eq!(
        (outcome["version"].as_str(), outcome["protocol"].as_str(), outcome["user"].as_str()),
        (Some("1.1"), Some("v11.stomp"), Some("legacy")),
        "{outcome}"
    );
    let task_id = outcome["replies"][0]["taskId"].as_str().unwrap_or_else(|| panic!("{outcome}"));
    assert!(task_id.starts_with("t2i_"), "{outcome}");
    assert!(!outcome["progress"].as_array().unwrap().is_empty(), "{outcome}");
    let result = &outcome["results"][0];
    assert_eq!((result["taskId"].as_str(), result["status"].as_str()), (Some(task_id), Some("COMPLETED")), "{outcome}");
    app.stop().await;
}

/// Python's stomp.py (its WebSocket connection, STOMP 1.2, no subprotocol offered) gets
/// the same replies, progress and result. `scripts/test` installs it and names its
/// interpreter in `GANTRY_STOMP_PY`.
async fn stomp_py_over_a_plain_websocket_generates_and_receives_progress_and_results(backend: Backend) {
    let python = std::env::var("GANTRY_STOMP_PY").expect("GANTRY_STOMP_PY: stomp.py's python (scripts/test sets it)");
    let sim = Sim::spawn(&["--step-ms", "20"]);
    let app = TestApp::start(backend).await;
    let admin = app.admin_token().await;
    app.use_fleet(&admin, fleet_config(&[sim.port], 1)).await;
    let token = app.paying_user(&admin, "pythonist").await;
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/python/stomp_py_client.py");
    let output = tokio::process::Command::new(python).arg(script).arg(&app.base).arg(&token).output().await.unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let outcome: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|_| panic!("no outcome: {stdout}\n{}", String::from_utf8_lossy(&output.stderr)));
    assert!(output.status.success(), "{outcome}");
    assert_eq!((outcome["version"].as_str(), outcome["user"].as_str()), (Some("1.2"), Some("pythonist")), "{outcome}");
    let task_id = outcome["replies"][0]["taskId"].as_str().unwrap_or_else(|| panic!("{outcome}"));
    assert!(!outcome["progress"].as_array().unwrap().is_empty(), "{outcome}");
    let result = &outcome["results"][0];
    assert_eq!((result["taskId"].as_str(), result["status"].as_str()), (Some(task_id), Some("COMPLETED")), "{outcome}");
    app.stop().await;
}

/// A minimal STOMP client over tokio-tungstenite, to watch what one user's socket gets.
mod raw {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    pub type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

    pub async fn connect(base: &str, token: &str) -> Socket {
        let mut request = format!("{}/ws", base.replace("http://", "ws://")).into_client_request().unwrap();
        request.headers_mut().insert("Sec-WebSocket-Protocol", "v12.stomp".parse().unwrap());
        let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
        socket
            .send(Message::text(format!(
                "CONNECT\naccept-version:1.2\nheart-beat:0,0\nAuthorization:Bearer {token}\n\n\0"
            )))
            .await
            .unwrap();
        let connected = next(&mut socket).await.unwrap();
        assert!(connected.starts_with("CONNECTED"), "{connected}");
        for (id, destination) in
            [("1", "/user/queue/reply"), ("2", "/user/topic/progress"), ("3", "/user/topic/result")]
        {
            socket.send(Message::text(format!("SUBSCRIBE\nid:{id}\ndestination:{destination}\n\n\0"))).await.unwrap();
        }
        socket
    }

    pub async fn send(socket: &mut Socket, destination: &str, body: &str) {
        socket
            .send(Message::text(format!("SEND\ndestination:{destination}\ncontent-type:application/json\n\n{body}\0")))
            .await
            .unwrap();
    }

    /// The next frame's text (heart-beats skipped), or `None` after `ms` of silence.
    pub async fn next_within(socket: &mut Socket, ms: u64) -> Option<String> {
        let wait = async {
            while let Some(Ok(message)) = socket.next().await {
                if let Message::Text(text) = message {
                    if text.trim().is_empty() {
                        continue;
                    }
                    return Some(text.to_string());
                }
            }
            None
        };
        tokio::time::timeout(std::time::Duration::from_millis(ms), wait).await.ok().flatten()
    }

    pub async fn next(socket: &mut Socket) -> Option<String> {
        next_within(socket, 10_000).await
    }
}

async fn one_users_socket_never_carries_another_users_messages(backend: Backend) {
    let sim = Sim::spawn(&["--step-ms", "20"]);
    let app = TestApp::start(backend).await;
    let admin = app.admin_token().await;
    app.use_fleet(&admin, fleet_config(&[sim.port], 1)).await;
    for name in ["alice", "bob"] {
        let id = app.create_user(&admin, name, "a-good-password").await;
        app.call("POST", &format!("/api/v1/admin/users/{id}/credits"), Some(&admin), Some(json!({"amount": 100})))
            .await;
    }
    let (alice, _) = app.star_login("alice", "a-good-password").await;
    let (bob, _) = app.star_login("bob", "a-good-password").await;
    let mut alice_socket = raw::connect(&app.base, &alice).await;
    let mut bob_socket = raw::connect(&app.base, &bob).await;

    raw::send(
        &mut alice_socket,
        "/app/generate",
        r#"{"type":"TEXT2IMG","prompt":"mine","width":64,"height":64,"steps":6}"#,
    )
    .await;
    let reply = raw::next(&mut alice_socket).await.unwrap();
    assert!(reply.contains("\"type\":\"generate\""), "{reply}");
    let task_id = reply.split("\"taskId\":\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
    let mut alice_saw_result = false;
    while let Some(frame) = raw::next(&mut alice_socket).await {
        if frame.contains("destination:/user/topic/result") {
            alice_saw_result = true;
            break;
        }
    }
    assert!(alice_saw_result, "alice gets her result");
    assert_eq!(raw::next_within(&mut bob_socket, 500).await, None, "bob's socket stayed silent");
    raw::send(&mut bob_socket, "/app/task/status", &format!(r#"{{"taskId":"{task_id}"}}"#)).await;
    let answer = raw::next(&mut bob_socket).await.unwrap();
    assert!(answer.contains("\"code\":404") && answer.contains("task not found"), "{answer}");
    app.stop().await;
}

async fn logout_ends_the_sessions_open_sockets(backend: Backend) {
    use futures_util::StreamExt;
    let app = TestApp::start(backend).await;
    let admin = app.admin_token().await;
    app.create_user(&admin, "leaver", "leaver-password").await;
    let (token, _) = app.star_login("leaver", "leaver-password").await;
    let mut stomp = raw::connect(&app.base, &token).await;
    let comfy_url = format!("{}/ws?token={token}", app.base.replace("http://", "ws://"));
    let (mut comfy, _) = tokio_tungstenite::connect_async(comfy_url).await.unwrap();
    let first = comfy.next().await;
    assert!(matches!(first, Some(Ok(tokio_tungstenite::tungstenite::Message::Text(_)))), "{first:?}");

    let (status, body) = app.call("POST", "/api/v1/auth/logout", Some(&token), None).await;
    assert_eq!(status, 200, "{body}");

    let ended = raw::next(&mut stomp).await.unwrap_or_default();
    assert!(ended.starts_with("ERROR") && ended.contains("session ended"), "{backend:?}: {ended}");
    assert_eq!(raw::next_within(&mut stomp, 1_000).await, None, "the socket is closed after the ERROR frame");
    let closed = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        loop {
            match comfy.next().await {
                Some(Ok(tokio_tungstenite::tungstenite::Message::Close(frame))) => {
                    return frame.map(|f| f.reason.to_string());
                }
                Some(Ok(_)) => continue,
                _ => return None,
            }
        }
    })
    .await
    .expect("the comfy-manager socket closes");
    assert!(closed.unwrap_or_default().contains("session ended"), "{backend:?}");
    app.stop().await;
}

gantry_testkit::on_each_backend!(
    a_stomp_1_1_client_generates_and_receives_progress_and_results,
    stomp_py_over_a_plain_websocket_generates_and_receives_progress_and_results,
    logout_ends_the_sessions_open_sockets,
    npm_stomp_clients_generate_and_receive_progress_and_results,
    one_users_socket_never_carries_another_users_messages
);
