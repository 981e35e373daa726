//! The in-process reverse proxy through a real Gantry: routes registered in its proxy table
//! send requests for `app.example.test` to a tiny backend; every other request still reaches
//! Gantry's own API.

use std::net::SocketAddr;

use axum::Router;
use axum::extract::Request;
use axum::extract::ws::{Message, WebSocketUpgrade};
use axum::http::StatusCode;
use axum::routing::{any, get};
use futures_util::{SinkExt, StreamExt};
use gantry_store::Backend;
use gantry_testkit::ScratchDb;
use gantry_vm_engine::ProxyRoute;
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest};

const HOST: &str = "app.example.test";

async fn start(backend: Backend) -> (gantry::Running, tempfile::TempDir, ScratchDb) {
    let dir = tempfile::tempdir().unwrap();
    let db = ScratchDb::new(backend).await;
    let config = gantry_core::config::Config {
        listen: "127.0.0.1:0".into(),
        data_dir: dir.path().to_path_buf(),
        database_url: Some(db.url.clone()),
        ..Default::default()
    };
    (gantry::start(config, Some("admin-password-for-tests".into())).await.unwrap(), dir, db)
}

/// A backend answering `<name> <method> <uri> <body>` with 201, and a WebSocket echo at `/ws`.
async fn upstream(name: &'static str) -> SocketAddr {
    let app = Router::new()
        .route(
            "/app/ws",
            get(|ws: WebSocketUpgrade| async move {
                ws.on_upgrade(|mut socket| async move {
                    while let Some(Ok(message)) = socket.recv().await {
                        if let Message::Text(t) = message
                            && socket.send(Message::Text(format!("echo {}", t.as_str()).into())).await.is_err()
                        {
                            return;
                        }
                    }
                })
            }),
        )
        .fallback(any(move |request: Request| async move {
            let line = format!("{name} {} {}", request.method(), request.uri());
            let body = axum::body::to_bytes(request.into_body(), 1 << 20).await.unwrap();
            (StatusCode::CREATED, format!("{line} {}", String::from_utf8_lossy(&body)))
        }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

fn route(id: &str, prefix: &str, target: SocketAddr) -> ProxyRoute {
    ProxyRoute { id: id.into(), domain: HOST.into(), path_prefix: prefix.into(), target }
}

async fn get_text(gantry: SocketAddr, host: &str, path: &str) -> (u16, String) {
    let response =
        reqwest::Client::new().get(format!("http://{gantry}{path}")).header("host", host).send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

async fn proxied_hosts_reach_their_backends_and_others_reach_gantry(backend: Backend) {
    let (gantry, _dir, _db) = start(backend).await;
    let addr = gantry.addr();
    let app = upstream("app").await;
    let admin = upstream("admin").await;
    let proxies = &gantry.state().proxies;
    proxies.upsert(route("app", "/app", app));
    proxies.upsert(route("admin", "/app/admin", admin));

    let response = reqwest::Client::new()
        .post(format!("http://{addr}/app/items?x=1"))
        .header("host", HOST)
        .body("payload")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(response.text().await.unwrap(), "app POST /app/items?x=1 payload");
    assert_eq!(
        get_text(addr, "APP.example.test:80", "/app/admin/users").await,
        (201, "admin GET /app/admin/users ".into())
    );

    // Unknown hosts, and paths of a proxied host that no route covers, are Gantry's.
    for host in ["gantry.example.test", HOST] {
        let (status, body) = get_text(addr, host, "/openapi.json").await;
        assert_eq!(status, 200, "{host}: {body}");
        assert!(body.contains("\"openapi\""), "{host}: {body}");
    }
    let (status, body) = get_text(addr, "gantry.example.test", "/app/items").await;
    assert_eq!(status, 404, "{body}");

    // Removing the route gives the path back to Gantry.
    assert!(proxies.remove("app"));
    assert_eq!(get_text(addr, HOST, "/app/items").await.0, 404);
    gantry.stop().await.unwrap();
}

async fn websockets_are_proxied(backend: Backend) {
    let (gantry, _dir, _db) = start(backend).await;
    let app = upstream("app").await;
    gantry.state().proxies.upsert(route("app", "", app));
    let mut request = format!("ws://{}/app/ws", gantry.addr()).into_client_request().unwrap();
    request.headers_mut().insert("host", HOST.parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    for text in ["one", "two"] {
        socket.send(tungstenite::Message::text(text)).await.unwrap();
        assert_eq!(socket.next().await.unwrap().unwrap(), tungstenite::Message::text(format!("echo {text}")));
    }
    socket.close(None).await.unwrap();
    gantry.stop().await.unwrap();
}

async fn a_dead_backend_gives_502(backend: Backend) {
    let (gantry, _dir, _db) = start(backend).await;
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    gantry.state().proxies.upsert(route("dead", "/", dead));
    let (status, body) = get_text(gantry.addr(), HOST, "/anything").await;
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("bad gateway"), "{body}");
    gantry.stop().await.unwrap();
}

gantry_testkit::on_each_backend!(
    proxied_hosts_reach_their_backends_and_others_reach_gantry,
    websockets_are_proxied,
    a_dead_backend_gives_502
);
