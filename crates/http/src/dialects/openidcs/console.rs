//! VM consoles in the browser: single-use console tickets and the noVNC-compatible WebSocket
//! bridge to a VM's VNC (RFB) stream.
//!
//! A route that may open a console (openidcs `vncons`) calls [`Tickets::issue`] and hands out
//! [`ws_path`] (for any RFB-over-WebSocket client) or [`page_path`] (noVNC's page, when the
//! Debian package `novnc` is installed). Routes:
//!
//! - `GET /console/ws?ticket=…` — redeems the ticket and bridges binary WebSocket frames to
//!   the engine's [`gantry_vm_engine::VmEngine::console_open`] stream; the `binary` subprotocol is
//!   echoed when a client offers it (old noVNC), none otherwise (noVNC ≥ 1.0);
//! - `GET /console/?ticket=…` — redirects to noVNC's `vnc.html` pointed at that socket; a
//!   browser whose ticket is expired, used or unknown gets a page saying which, in its language;
//! - `GET /console/novnc/…` — noVNC's static files from `/usr/share/novnc`.
//!
//! Tickets are 256 random bits, kept only as SHA-256 digests (so the lookup compares digests,
//! never the secret itself), redeemed at most once, atomically, before the upgrade, and expire
//! after `compute.console_ticket_ttl_secs`; a redeemed ticket's digest is remembered for ten
//! minutes, so a second use is told apart from an unknown ticket. They stay in memory: they live about a minute, so
//! losing them on a restart costs the user one click, and a database round trip would only
//! add latency to every console open.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade, rejection::WebSocketUpgradeRejection};
use axum::extract::{Query, Request, State, rejection::QueryRejection};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use futures_util::{SinkExt, StreamExt};
use gantry_core::Clock;
use gantry_vm_engine::{ConsoleStream, EngineError, VmEngine};
use rand::RngCore;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::ServiceExt;
use tower_http::services::ServeDir;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::envelope::{Envelope, Openidcs};
use crate::error::{ApiError, ErrorKind};
use crate::state::AppState;

/// Where the Debian package `novnc` puts its files.
pub const NOVNC_DIR: &str = "/usr/share/novnc";

/// How long a used or expired ticket is remembered as such (then it reads as unknown).
const GONE_MEMORY_MS: i64 = 10 * 60 * 1000;

/// Largest chunk read from the VNC stream per WebSocket frame.
const FRAME_BYTES: usize = 64 * 1024;

/// A ticket just issued: the secret (shown once) and when it stops being accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsoleTicket {
    /// 64 hex digits; put it in [`ws_path`] or [`page_path`].
    pub ticket: String,
    /// Unix ms after which the ticket is refused.
    pub expires_at_ms: i64,
}

struct Pending {
    engine: Arc<dyn VmEngine>,
    vm_uuid: String,
    expires_at_ms: i64,
}

/// Tickets waiting to be redeemed, and the digests of used and expired ones (why, and when
/// to forget them).
#[derive(Default)]
struct Book {
    pending: HashMap<[u8; 32], Pending>,
    gone: HashMap<[u8; 32], (Refusal, i64)>,
}

impl Book {
    /// Moves expired tickets to `gone` and forgets what was gone long enough.
    fn tidy(&mut self, now: i64) {
        let expired: Vec<[u8; 32]> =
            self.pending.iter().filter(|(_, p)| p.expires_at_ms <= now).map(|(digest, _)| *digest).collect();
        for digest in expired {
            self.pending.remove(&digest);
            self.gone.insert(digest, (Refusal::Expired, now.saturating_add(GONE_MEMORY_MS)));
        }
        self.gone.retain(|_, (_, forget_at_ms)| *forget_at_ms > now);
    }

    /// Why a ticket is refused, or `None` when it is pending and valid.
    fn refusal(&self, digest: &[u8; 32]) -> Option<Refusal> {
        match (self.pending.contains_key(digest), self.gone.get(digest)) {
            (true, _) => None,
            (false, Some((why, _))) => Some(*why),
            (false, None) => Some(Refusal::Unknown),
        }
    }
}

struct Inner {
    ttl_ms: i64,
    clock: Arc<dyn Clock>,
    book: Mutex<Book>,
}

/// The console tickets of this process. Cheap to clone (shared).
#[derive(Clone)]
pub struct Tickets {
    inner: Arc<Inner>,
}

/// Why a ticket was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    Unknown,
    Used,
    Expired,
}

impl Tickets {
    /// Tickets valid for `ttl` after issue, timed by `clock`.
    pub fn new(ttl: Duration, clock: Arc<dyn Clock>) -> Self {
        let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        Self { inner: Arc::new(Inner { ttl_ms, clock, book: Mutex::default() }) }
    }

    /// How long a ticket may wait to be redeemed.
    pub fn ttl(&self) -> Duration {
        Duration::from_millis(u64::try_from(self.inner.ttl_ms).unwrap_or(0))
    }

    /// A new single-use ticket for the console of `vm_uuid` on `engine`.
    pub fn issue(&self, engine: Arc<dyn VmEngine>, vm_uuid: String) -> ConsoleTicket {
        let mut secret = [0u8; 32];
        rand::rng().fill_bytes(&mut secret);
        let ticket = hex::encode(secret);
        let now = self.inner.clock.now_ms();
        let expires_at_ms = now.saturating_add(self.inner.ttl_ms);
        tracing::info!(vm = %vm_uuid, expires_at_ms, "console ticket issued");
        let mut book = self.lock();
        book.tidy(now);
        book.pending.insert(digest(&ticket), Pending { engine, vm_uuid, expires_at_ms });
        ConsoleTicket { ticket, expires_at_ms }
    }

    /// Takes a ticket out (it can never be used again) if it is known and unexpired.
    fn redeem(&self, ticket: &str) -> Result<Pending, Refusal> {
        let now = self.inner.clock.now_ms();
        let digest = digest(ticket);
        let mut book = self.lock();
        book.tidy(now);
        if let Some(why) = book.refusal(&digest) {
            return Err(why);
        }
        book.gone.insert(digest, (Refusal::Used, now.saturating_add(GONE_MEMORY_MS)));
        book.pending.remove(&digest).ok_or(Refusal::Unknown)
    }

    /// Whether a ticket would be accepted now, without using it.
    fn check(&self, ticket: &str) -> Result<(), Refusal> {
        let now = self.inner.clock.now_ms();
        let mut book = self.lock();
        book.tidy(now);
        book.refusal(&digest(ticket)).map_or(Ok(()), Err)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Book> {
        self.inner.book.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn digest(ticket: &str) -> [u8; 32] {
    Sha256::digest(ticket.as_bytes()).into()
}

/// The WebSocket path of a ticket's console (relative to Gantry's base URL).
pub fn ws_path(ticket: &str) -> String {
    format!("/console/ws?ticket={ticket}")
}

/// The noVNC page of a ticket's console, when noVNC is installed (`/usr/share/novnc`).
pub fn page_path(ticket: &str) -> Option<String> {
    novnc_installed().then(|| format!("/console/?ticket={ticket}"))
}

fn novnc_installed() -> bool {
    std::path::Path::new(NOVNC_DIR).join("vnc.html").is_file()
}

/// The console routes (openidcs envelope for every refusal).
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(console_ws))
        .routes(routes!(console_page))
        .route("/console/novnc/{*file}", get(novnc_file))
}

/// The query of the console routes.
#[derive(Deserialize, IntoParams)]
struct TicketQuery {
    /// A ticket from `vncons`.
    ticket: Option<String>,
}

fn refuse(kind: ErrorKind, message: &str) -> Response {
    Openidcs::render_error(&ApiError::new(kind, message))
}

/// The ticket of a query, or why there is none.
fn ticket_of(query: Result<Query<TicketQuery>, QueryRejection>) -> Result<String, ApiError> {
    match query {
        Ok(Query(TicketQuery { ticket: Some(t) })) if !t.is_empty() => Ok(t),
        Ok(_) => Err(ApiError::new(ErrorKind::Unauthenticated, "missing console ticket")),
        Err(e) => Err(ApiError::bad_request(e.body_text())),
    }
}

fn refusal(r: Refusal) -> Response {
    match r {
        Refusal::Unknown => refuse(ErrorKind::Forbidden, "unknown console ticket"),
        Refusal::Used => refuse(ErrorKind::Forbidden, "console ticket already used"),
        Refusal::Expired => refuse(ErrorKind::Forbidden, "console ticket expired"),
    }
}

/// A refused ticket explained to a person (a browser that opened a console link), in
/// Chinese when the browser prefers it.
fn refusal_page(r: Refusal, headers: &HeaderMap, ttl: Duration) -> Response {
    let chinese = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .is_some_and(|first| first.trim().to_ascii_lowercase().starts_with("zh"));
    let secs = ttl.as_secs();
    let (title, body, again) = match (r, chinese) {
        (Refusal::Expired, false) => (
            "This console link has expired".to_owned(),
            format!("A console link works for {secs} seconds after it is made, and this one is older."),
            "Open the console again from the machine's page for a fresh link.",
        ),
        (Refusal::Expired, true) => (
            "控制台链接已过期".to_owned(),
            format!("控制台链接生成后 {secs} 秒内有效，这个链接已超时。"),
            "请回到虚拟机页面重新打开控制台，获取新的链接。",
        ),
        (Refusal::Used, false) => (
            "This console link was already used".to_owned(),
            "Each console link opens one session, and this one has been opened before.".to_owned(),
            "Open the console again from the machine's page for a fresh link.",
        ),
        (Refusal::Used, true) => (
            "控制台链接已被使用".to_owned(),
            "每个控制台链接只能打开一次会话，这个链接已经用过了。".to_owned(),
            "请回到虚拟机页面重新打开控制台，获取新的链接。",
        ),
        (Refusal::Unknown, false) => (
            "This console link is not valid".to_owned(),
            "Gantry does not know this link: it may be mistyped, or the server restarted since it was made.".to_owned(),
            "Open the console from the machine's page.",
        ),
        (Refusal::Unknown, true) => (
            "控制台链接无效".to_owned(),
            "Gantry 无法识别这个链接：可能输入有误，或服务器在生成链接后重启过。".to_owned(),
            "请从虚拟机页面打开控制台。",
        ),
    };
    let (lang, back) = if chinese { ("zh-CN", "返回虚拟机") } else { ("en", "Back to the machines") };
    let html = format!(
        "<!doctype html><html lang=\"{lang}\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" \
         content=\"width=device-width, initial-scale=1\"><title>{title}</title><style>body{{font-family:system-ui,sans-serif;\
         max-width:36rem;margin:4rem auto;padding:0 1rem;line-height:1.5}}</style></head><body><h1>{title}</h1>\
         <p>{body}</p><p>{again}</p><p><a href=\"/machines\">{back}</a></p></body></html>"
    );
    let mut response = (StatusCode::FORBIDDEN, Html(html)).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn wants_html(headers: &HeaderMap) -> bool {
    headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|accept| accept.contains("text/html"))
}

fn console_error(vm: &str, e: EngineError) -> Response {
    let kind = match &e {
        EngineError::NotFound(_) => ErrorKind::NotFound,
        EngineError::Conflict(_) => ErrorKind::Conflict,
        _ => {
            tracing::warn!(vm, error = %e, "console open failed");
            ErrorKind::Unavailable
        }
    };
    refuse(kind, &e.to_string())
}

/// The VM's console as RFB over a WebSocket (binary frames). The ticket is redeemed before
/// the upgrade; a bad, used or expired one is refused with 401/403.
#[utoipa::path(get, path = "/console/ws", tag = "openidcs", params(TicketQuery),
    responses((status = 101, description = "RFB stream in binary frames"), (status = 401, description = "no ticket"),
        (status = 403, description = "unknown, used or expired ticket"), (status = 409, description = "VM not running")))]
async fn console_ws(
    State(state): State<AppState>,
    query: Result<Query<TicketQuery>, QueryRejection>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let ticket = match ticket_of(query) {
        Ok(t) => t,
        Err(e) => return Openidcs::render_error(&e),
    };
    // Not a WebSocket request: refuse without spending the ticket.
    let upgrade = match upgrade {
        Ok(u) => u,
        Err(e) => return refuse(ErrorKind::BadRequest, &e.body_text()),
    };
    let pending = match state.consoles.redeem(&ticket) {
        Ok(p) => p,
        Err(r) => {
            tracing::info!(reason = ?r, "console ticket refused");
            return refusal(r);
        }
    };
    let vm = pending.vm_uuid;
    let stream = match pending.engine.console_open(&vm).await {
        Ok(s) => s,
        Err(e) => return console_error(&vm, e),
    };
    tracing::info!(vm = %vm, "console opened");
    let supervisor = state.supervisor.clone();
    upgrade
        .protocols(["binary"])
        .on_upgrade(move |socket| async move {
            bridge(socket, stream, supervisor).await;
            tracing::info!(vm = %vm, "console closed");
        })
        .into_response()
}

/// Copies WebSocket binary frames to the VNC stream and the stream's bytes back as binary
/// frames, until either side closes or the server shuts down.
async fn bridge(socket: WebSocket, stream: ConsoleStream, supervisor: gantry_core::Supervisor) {
    let (mut sink, mut source) = socket.split();
    let (mut vnc_read, mut vnc_write) = tokio::io::split(stream);
    let upstream = async {
        while let Some(Ok(message)) = source.next().await {
            match message {
                Message::Binary(bytes) => vnc_write.write_all(&bytes).await?,
                Message::Close(_) => break,
                // RFB is binary; text frames (base64 websockify) and pings need nothing here.
                _ => {}
            }
        }
        Ok::<(), std::io::Error>(())
    };
    let downstream = async {
        let mut buf = vec![0u8; FRAME_BYTES];
        loop {
            let n = vnc_read.read(&mut buf).await?;
            if n == 0 {
                return Ok::<(), std::io::Error>(());
            }
            sink.send(Message::Binary(Bytes::copy_from_slice(&buf[..n]))).await.map_err(std::io::Error::other)?;
        }
    };
    let ended = tokio::select! {
        r = upstream => r,
        r = downstream => r,
        () = supervisor.stopping() => Ok(()),
    };
    if let Err(e) = ended {
        tracing::debug!(error = %e, "console bridge ended");
    }
    let _ = sink.send(Message::Close(None)).await;
}

/// noVNC's page for a ticket: a redirect to `vnc.html` connecting to the ticket's socket (the
/// ticket is only checked here; it is spent when the page connects).
#[utoipa::path(get, path = "/console/", tag = "openidcs", params(TicketQuery),
    responses((status = 303, description = "to noVNC's page"), (status = 401, description = "no ticket"),
        (status = 403, description = "unknown, used or expired ticket"), (status = 404, description = "noVNC is not installed")))]
async fn console_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<TicketQuery>, QueryRejection>,
) -> Response {
    let ticket = match ticket_of(query) {
        Ok(t) => t,
        Err(e) => return Openidcs::render_error(&e),
    };
    if let Err(r) = state.consoles.check(&ticket) {
        return if wants_html(&headers) { refusal_page(r, &headers, state.consoles.ttl()) } else { refusal(r) };
    }
    if !novnc_installed() {
        return refuse(ErrorKind::NotFound, "noVNC is not installed on this server (Debian package novnc)");
    }
    Redirect::to(&novnc_page(&ticket)).into_response()
}

/// noVNC's `vnc.html` connecting to a ticket's socket (noVNC joins `path` to the page's own
/// host and port).
fn novnc_page(ticket: &str) -> String {
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("autoconnect", "true")
        .append_pair("reconnect", "false")
        .append_pair("resize", "scale")
        .append_pair("path", ws_path(ticket).trim_start_matches('/'))
        .finish();
    format!("/console/novnc/vnc.html?{query}")
}

/// noVNC's static files (404 in the openidcs envelope when absent).
async fn novnc_file(request: Request) -> Response {
    if !novnc_installed() {
        return refuse(ErrorKind::NotFound, "noVNC is not installed on this server (Debian package novnc)");
    }
    let (mut parts, body) = request.into_parts();
    let inner = parts.uri.path().strip_prefix("/console/novnc").unwrap_or("/").to_owned();
    parts.uri = match Uri::try_from(inner) {
        Ok(uri) => uri,
        Err(_) => return refuse(ErrorKind::BadRequest, "bad file path"),
    };
    match ServeDir::new(NOVNC_DIR).oneshot(Request::from_parts(parts, body)).await {
        Ok(response) if response.status() == StatusCode::NOT_FOUND => refuse(ErrorKind::NotFound, "no such file"),
        Ok(response) => response.into_response(),
        Err(e) => match e {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicI64, Ordering};

    struct FakeClock(AtomicI64);
    impl Clock for FakeClock {
        fn now_ms(&self) -> i64 {
            self.0.load(Ordering::SeqCst)
        }
    }

    fn engine(dir: &tempfile::TempDir) -> Arc<dyn VmEngine> {
        Arc::new(gantry_vm_engine::QemuEngine::new(gantry_vm_engine::QemuConfig::new(dir.path())).unwrap())
    }

    #[test]
    fn tickets_are_single_use_and_expire() {
        let clock = Arc::new(FakeClock(AtomicI64::new(1_000)));
        let tickets = Tickets::new(Duration::from_secs(60), clock.clone());
        let dir = tempfile::tempdir().unwrap();
        let engine = engine(&dir);
        let a = tickets.issue(engine.clone(), "vm-a".into());
        assert_eq!(a.ticket.len(), 64);
        assert_eq!(a.expires_at_ms, 61_000);
        let b = tickets.issue(engine.clone(), "vm-b".into());
        assert_ne!(a.ticket, b.ticket);
        // Only digests are kept.
        assert!(!tickets.lock().pending.keys().any(|k| hex::encode(k) == a.ticket));

        assert_eq!(tickets.check(&a.ticket), Ok(()));
        assert_eq!(tickets.redeem(&a.ticket).map(|p| p.vm_uuid).ok().as_deref(), Some("vm-a"));
        assert_eq!(tickets.redeem(&a.ticket).err(), Some(Refusal::Used), "a second use is told apart");
        assert_eq!(tickets.check(&a.ticket), Err(Refusal::Used));
        assert_eq!(tickets.redeem("nonsense").err(), Some(Refusal::Unknown));

        clock.0.store(61_000, Ordering::SeqCst);
        assert_eq!(tickets.check(&b.ticket), Err(Refusal::Expired));
        assert_eq!(tickets.redeem(&b.ticket).err(), Some(Refusal::Expired));
        assert_eq!(tickets.check(&b.ticket), Err(Refusal::Expired), "a refused expired ticket still reads as expired");
        // Issuing prunes what expired.
        let c = tickets.issue(engine.clone(), "vm-c".into());
        clock.0.store(200_000, Ordering::SeqCst);
        let _d = tickets.issue(engine.clone(), "vm-d".into());
        let sizes = |t: &Tickets| {
            let book = t.lock();
            (book.pending.len(), book.gone.len())
        };
        assert_eq!(sizes(&tickets), (1, 3), "d pending; a used, b and c expired");
        assert_eq!(tickets.redeem(&a.ticket).err(), Some(Refusal::Used), "remembered after the ticket's own expiry");
        assert_eq!(tickets.check(&c.ticket), Err(Refusal::Expired));
        clock.0.store(200_000 + GONE_MEMORY_MS + 1, Ordering::SeqCst);
        let _e = tickets.issue(engine.clone(), "vm-e".into());
        assert_eq!(sizes(&tickets), (1, 1), "a, b and c forgotten ten minutes later; d expired since");
        assert_eq!(tickets.redeem(&c.ticket).err(), Some(Refusal::Unknown));
    }

    #[test]
    fn paths() {
        assert_eq!(ws_path("ab12"), "/console/ws?ticket=ab12");
        assert_eq!(page_path("ab12").is_some(), novnc_installed());
        assert_eq!(
            novnc_page("ab12"),
            "/console/novnc/vnc.html?autoconnect=true&reconnect=false&resize=scale&path=console%2Fws%3Fticket%3Dab12"
        );
    }
}
