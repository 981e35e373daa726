//! Connections are bounded: idle and slow connections are closed, and past the connection
//! cap a new one gets a clear 503.

use crate::common::{ADMIN_PASSWORD, TestApp};
use gantry_store::Backend;
use serde_json::{Value, json};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Reads until the server closes the connection (or a generous minute passes); what it sent.
async fn read_until_closed(stream: &mut TcpStream) -> Option<String> {
    let mut received = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(60), stream.read_to_end(&mut received)).await;
    read.ok().map(|_| String::from_utf8_lossy(&received).into_owned())
}

const HEALTH: &[u8] = b"GET /api/health HTTP/1.1\r\nHost: gantry.test\r\n\r\n";

async fn idle_and_slow_connections_are_closed(backend: Backend) {
    let app = TestApp::start_with(backend, |c| c.http.header_read_timeout_secs = 1).await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    // Sends nothing at all.
    let mut silent = TcpStream::connect(&addr).await.unwrap();
    assert!(read_until_closed(&mut silent).await.is_some(), "a silent connection stayed open");
    // Sends half a request and stalls (slowloris).
    let mut slow = TcpStream::connect(&addr).await.unwrap();
    slow.write_all(b"GET /api/health HTTP/1.1\r\nHost: gan").await.unwrap();
    assert!(read_until_closed(&mut slow).await.is_some(), "a stalled request stayed open");
    // Gets an answer, then idles on the kept-alive connection.
    let mut idle = TcpStream::connect(&addr).await.unwrap();
    idle.write_all(HEALTH).await.unwrap();
    let answered = read_until_closed(&mut idle).await.expect("an idle keep-alive connection stayed open");
    assert!(answered.starts_with("HTTP/1.1 200"), "{answered}");
    app.stop().await;
}

async fn past_the_connection_cap_a_new_connection_gets_503(backend: Backend) {
    let app = TestApp::start_with(backend, |c| c.http.max_connections = 3).await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    // Logged in on a connection that closes after it, so that no pooled one takes a place.
    let login = json!({"username": "admin", "password": ADMIN_PASSWORD});
    let request = reqwest::Client::new().post(app.url("/api/auth/login")).header("connection", "close").json(&login);
    let answer: Value = request.send().await.unwrap().json().await.unwrap();
    let admin = answer["data"]["token"].as_str().unwrap().to_owned();
    // An open WebSocket keeps its place after the upgrade.
    let (socket, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws?token={admin}")).await.unwrap();
    let mut held = Vec::new();
    for _ in 0..2 {
        held.push(TcpStream::connect(&addr).await.unwrap());
    }
    let mut extra = TcpStream::connect(&addr).await.unwrap();
    extra.write_all(HEALTH).await.unwrap();
    let answer = read_until_closed(&mut extra).await.unwrap_or_default();
    assert!(answer.starts_with("HTTP/1.1 503") && answer.contains("connection limit"), "{answer}");
    // Once connections close, new ones are served again.
    drop((socket, held));
    let mut answered = false;
    for _ in 0..50 {
        let mut again = TcpStream::connect(&addr).await.unwrap();
        again.write_all(b"GET /api/health HTTP/1.1\r\nHost: gantry.test\r\nConnection: close\r\n\r\n").await.unwrap();
        if read_until_closed(&mut again).await.unwrap_or_default().starts_with("HTTP/1.1 200") {
            answered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(answered, "connections were not served again after the held ones closed");
    app.stop().await;
}

gantry_testkit::on_each_backend!(
    idle_and_slow_connections_are_closed,
    past_the_connection_cap_a_new_connection_gets_503
);
