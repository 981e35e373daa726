//! The in-process HTTP reverse proxy (OpenIDCS `pxyadd` entries), in front of Gantry's own
//! routes.
//!
//! Every request's host (`:authority`, else `Host`) and path are looked up in the
//! [`ProxyTable`]; a request that resolves is forwarded to its backend over HTTP/1.1 with
//! hyper's pooled client, bodies streamed both ways, hop-by-hop headers dropped and
//! `X-Forwarded-For/Proto/Host` added. The original `Host` is kept, so the backend sees the
//! name the client asked for. Upgrades (WebSockets) are forwarded and, once both sides
//! answered `101`, the two connections are spliced with `tokio::io::copy_bidirectional` until
//! either closes or Gantry shuts down. A backend that cannot be reached answers `502`, one
//! that does not send its response head in time `504`, both as plain text (the backend's
//! client is not speaking one of Gantry's dialects). Requests that do not resolve go on to
//! Gantry's routes untouched.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use axum::http::{StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use gantry_core::Supervisor;
use gantry_vm_engine::ProxyTable;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};

/// How long connecting to a backend may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a backend may take to send its response head (bodies then stream without limit).
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(60);

/// Headers that describe one hop, not the message (RFC 9110 §7.6.1), never forwarded.
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

const X_FORWARDED_FOR: &str = "x-forwarded-for";
const X_FORWARDED_PROTO: &str = "x-forwarded-proto";
const X_FORWARDED_HOST: &str = "x-forwarded-host";

/// The proxy: the route table and a pooled HTTP/1.1 client. Cheap to clone.
#[derive(Clone)]
pub struct ReverseProxy {
    table: Arc<ProxyTable>,
    client: Client<HttpConnector, Body>,
    supervisor: Supervisor,
}

impl ReverseProxy {
    /// A proxy over `table`; spliced upgraded connections run under `supervisor` and end
    /// when it shuts down.
    pub fn new(table: Arc<ProxyTable>, supervisor: Supervisor) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new()).build(connector);
        Self { table, client, supervisor }
    }

    fn target(&self, request: &Request) -> Option<SocketAddr> {
        let host = request_host(request)?;
        self.table.resolve(host, request.uri().path())
    }

    async fn forward(&self, target: SocketAddr, mut request: Request) -> Response {
        let upgrade = upgrade_protocol(request.headers());
        let client_upgrade = upgrade.is_some().then(|| hyper::upgrade::on(&mut request));
        let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
        let request_id = request.extensions().get::<crate::request_id::RequestId>().map(|r| r.0.clone());
        let host = request_host(&request).map(str::to_owned);
        let scheme = request.uri().scheme_str().unwrap_or("http").to_owned();
        let method = request.method().clone();
        let path = request.uri().path().to_owned();

        let (mut parts, body) = request.into_parts();
        let path_and_query = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        parts.uri = match Uri::try_from(format!("http://{target}{path_and_query}")) {
            Ok(uri) => uri,
            Err(e) => return plain(StatusCode::BAD_REQUEST, &format!("bad request target: {e}")),
        };
        parts.version = axum::http::Version::HTTP_11;
        let headers = &mut parts.headers;
        strip_hop_by_hop(headers);
        if let Some(protocol) = &upgrade {
            headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
            headers.insert(header::UPGRADE, protocol.clone());
        }
        if let Some(value) = host.as_deref().and_then(|h| HeaderValue::from_str(h).ok()) {
            headers.insert(X_FORWARDED_HOST, value.clone());
            headers.entry(header::HOST).or_insert(value);
        }
        headers.insert(X_FORWARDED_PROTO, HeaderValue::from_str(&scheme).unwrap_or(HeaderValue::from_static("http")));
        if let Some(ip) = peer {
            let chain = match headers.get(X_FORWARDED_FOR).and_then(|v| v.to_str().ok()) {
                Some(previous) => format!("{previous}, {ip}"),
                None => ip.to_string(),
            };
            if let Ok(value) = HeaderValue::from_str(&chain) {
                headers.insert(X_FORWARDED_FOR, value);
            }
        }
        if let Some(id) = request_id.and_then(|id| HeaderValue::from_str(&id).ok()) {
            headers.entry(crate::request_id::HEADER).or_insert(id);
        }

        let sent = tokio::time::timeout(RESPONSE_TIMEOUT, self.client.request(Request::from_parts(parts, body))).await;
        let mut response = match sent {
            Ok(Ok(response)) => response,
            Ok(Err(e)) => {
                tracing::warn!(%target, %method, path, error = %e, "proxy backend unreachable");
                return plain(StatusCode::BAD_GATEWAY, "bad gateway: the backend could not be reached");
            }
            Err(_) => {
                tracing::warn!(%target, %method, path, "proxy backend timed out");
                return plain(StatusCode::GATEWAY_TIMEOUT, "gateway timeout: the backend did not answer in time");
            }
        };
        tracing::debug!(%target, %method, path, status = response.status().as_u16(), "proxied");

        if response.status() == StatusCode::SWITCHING_PROTOCOLS {
            let Some(client_upgrade) = client_upgrade else {
                return plain(StatusCode::BAD_GATEWAY, "bad gateway: the backend switched protocols unasked");
            };
            let backend_upgrade = hyper::upgrade::on(&mut response);
            let supervisor = self.supervisor.clone();
            self.supervisor.spawn(async move {
                let (client, backend) = match tokio::try_join!(client_upgrade, backend_upgrade) {
                    Ok(pair) => pair,
                    Err(e) => {
                        tracing::debug!(%target, error = %e, "proxied upgrade failed");
                        return;
                    }
                };
                let (mut client, mut backend) = (TokioIo::new(client), TokioIo::new(backend));
                tokio::select! {
                    copied = tokio::io::copy_bidirectional(&mut client, &mut backend) => {
                        if let Err(e) = copied {
                            tracing::debug!(%target, error = %e, "proxied upgraded connection ended");
                        }
                    }
                    () = supervisor.stopping() => {}
                }
            });
            let (mut parts, _) = response.into_parts();
            strip_hop_by_hop(&mut parts.headers);
            if let Some(protocol) = upgrade {
                parts.headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
                parts.headers.insert(header::UPGRADE, protocol);
            }
            return Response::from_parts(parts, Body::empty());
        }
        let (mut parts, body) = response.into_parts();
        strip_hop_by_hop(&mut parts.headers);
        Response::from_parts(parts, Body::new(body))
    }
}

/// Middleware: forwards requests whose host resolves in the table, passes the rest on.
pub async fn route(State(proxy): State<ReverseProxy>, request: Request, next: Next) -> Response {
    match proxy.target(&request) {
        Some(target) => proxy.forward(target, request).await,
        None => next.run(request).await,
    }
}

/// The host a request is for: the URI authority (HTTP/2, absolute-form), else `Host`.
fn request_host(request: &Request) -> Option<&str> {
    match request.uri().authority() {
        Some(authority) => Some(authority.as_str()),
        None => request.headers().get(header::HOST)?.to_str().ok(),
    }
}

/// The protocol asked for by an upgrade request (`Connection: upgrade` + `Upgrade: x`).
fn upgrade_protocol(headers: &HeaderMap) -> Option<HeaderValue> {
    let asks = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|token| token.trim().eq_ignore_ascii_case("upgrade"));
    if asks { headers.get(header::UPGRADE).cloned() } else { None }
}

/// Removes the hop-by-hop headers, including those the `Connection` header names.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|token| HeaderName::from_bytes(token.trim().as_bytes()).ok())
        .collect();
    for name in &named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

fn plain(status: StatusCode, message: &str) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], format!("{message}\n")).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
    use axum::routing::{any, get};
    use futures_util::{SinkExt, StreamExt};
    use gantry_vm_engine::ProxyRoute;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const HOST: &str = "app.example.test";

    async fn serve(app: Router) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await.unwrap();
        });
        addr
    }

    /// A backend that echoes what it was sent: `name method path?query | headers | body`.
    async fn backend(name: &'static str) -> SocketAddr {
        async fn echo_socket(mut socket: WebSocket) {
            while let Some(Ok(message)) = socket.recv().await {
                let reply = match message {
                    Message::Text(t) => Message::Text(format!("echo {}", t.as_str()).into()),
                    Message::Binary(b) => Message::Binary(b),
                    Message::Close(_) => return,
                    _ => continue,
                };
                if socket.send(reply).await.is_err() {
                    return;
                }
            }
        }
        let app = Router::new()
            .route("/ws", get(|ws: WebSocketUpgrade| async move { ws.on_upgrade(echo_socket) }))
            .fallback(any(move |request: Request| async move {
                let headers = request.headers().clone();
                let line = format!("{name} {} {}", request.method(), request.uri());
                let body = axum::body::to_bytes(request.into_body(), usize::MAX).await.unwrap();
                let seen: Vec<String> =
                    ["host", "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "x-hop", "te"]
                        .iter()
                        .map(|h| format!("{h}={}", headers.get(*h).and_then(|v| v.to_str().ok()).unwrap_or("-")))
                        .collect();
                (
                    StatusCode::IM_A_TEAPOT,
                    [("x-backend", name), ("connection", "x-secret"), ("x-secret", "hop")],
                    format!("{line} | {} | {}", seen.join(" "), String::from_utf8_lossy(&body)),
                )
            }));
        serve(app).await
    }

    /// Gantry stand-in: the proxy layer in front of one route of its own.
    async fn gantry(table: Arc<ProxyTable>, supervisor: Supervisor) -> SocketAddr {
        let proxy = ReverseProxy::new(table, supervisor);
        let app = Router::new()
            .fallback_service(Router::new().route("/api/health", get(|| async { "gantry itself" })))
            .layer(axum::middleware::from_fn_with_state(proxy, route));
        serve(app).await
    }

    fn table(routes: &[(&str, &str, SocketAddr)]) -> Arc<ProxyTable> {
        let table = Arc::new(ProxyTable::default());
        for (id, prefix, target) in routes {
            table.upsert(ProxyRoute {
                id: (*id).into(),
                domain: HOST.into(),
                path_prefix: (*prefix).into(),
                target: *target,
            });
        }
        table
    }

    /// Raw HTTP/1.1 exchange (so the test controls every header), answer read to EOF.
    async fn raw(addr: SocketAddr, request: &str) -> String {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        answer
    }

    #[tokio::test]
    async fn forwards_bodies_statuses_and_headers() {
        let root = backend("root").await;
        let app = backend("app").await;
        let gantry = gantry(table(&[("r", "/", root), ("a", "/app", app)]), Supervisor::new()).await;

        let answer = raw(
            gantry,
            "POST /app/x?q=1 HTTP/1.1\r\nHost: App.Example.Test:3000\r\nConnection: close, x-hop\r\nX-Hop: 1\r\n\
             TE: trailers\r\nX-Forwarded-For: 10.9.8.7\r\nContent-Length: 5\r\n\r\nhello",
        )
        .await;
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 418"), "{answer}");
        assert!(head.to_ascii_lowercase().contains("x-backend: app"), "{head}");
        assert!(!head.to_ascii_lowercase().contains("x-secret"), "hop-by-hop response header leaked: {head}");
        assert!(body.contains("app POST /app/x?q=1 |"), "{body}");
        assert!(body.contains("host=App.Example.Test:3000"), "{body}");
        assert!(body.contains("x-forwarded-for=10.9.8.7, 127.0.0.1"), "{body}");
        assert!(body.contains("x-forwarded-proto=http"), "{body}");
        assert!(body.contains("x-forwarded-host=App.Example.Test:3000"), "{body}");
        assert!(body.contains("x-hop=-") && body.contains("te=-"), "hop-by-hop request header leaked: {body}");
        assert!(body.ends_with("| hello"), "{body}");

        let answer = raw(gantry, &format!("GET /apple HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n")).await;
        assert!(answer.contains("root GET /apple"), "{answer}");
    }

    #[tokio::test]
    async fn unknown_hosts_reach_gantry_and_dead_backends_give_502() {
        let dead = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap()
        };
        let gantry = gantry(table(&[("dead", "", dead)]), Supervisor::new()).await;
        let own = raw(gantry, "GET /api/health HTTP/1.1\r\nHost: gantry.test\r\nConnection: close\r\n\r\n").await;
        assert!(own.starts_with("HTTP/1.1 200") && own.ends_with("gantry itself"), "{own}");
        let down = raw(gantry, &format!("GET /api/health HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n")).await;
        assert!(down.starts_with("HTTP/1.1 502"), "{down}");
        assert!(down.contains("text/plain"), "{down}");
    }

    #[tokio::test]
    async fn websockets_round_trip_and_end_on_shutdown() {
        let app = backend("app").await;
        let supervisor = Supervisor::new();
        let gantry = gantry(table(&[("a", "", app)]), supervisor.clone()).await;
        let mut request =
            tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(format!("ws://{gantry}/ws"))
                .unwrap();
        request.headers_mut().insert("host", HeaderValue::from_static(HOST));
        let (mut socket, response) = tokio_tungstenite::connect_async(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
        use tokio_tungstenite::tungstenite::Message as M;
        socket.send(M::text("ping")).await.unwrap();
        assert_eq!(socket.next().await.unwrap().unwrap(), M::text("echo ping"));
        socket.send(M::binary(vec![0u8, 1, 2, 255])).await.unwrap();
        assert_eq!(socket.next().await.unwrap().unwrap(), M::binary(vec![0u8, 1, 2, 255]));

        supervisor.shutdown(std::time::Duration::from_secs(5)).await;
        let end = tokio::time::timeout(Duration::from_secs(10), socket.next()).await.unwrap();
        assert!(!matches!(end, Some(Ok(M::Text(_) | M::Binary(_)))), "{end:?}");
    }
}
