//! HTTP client for one ComfyUI instance (0.3.64 routes), plus the event WebSocket.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use reqwest::{Method, RequestBuilder, StatusCode, Url};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::ComfyError;
use crate::events::{EventStream, SocketOptions};
use crate::graph::Graph;
use crate::history::{HistoryEntry, OutputFile};

/// Timeouts and limits of a [`ComfyClient`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// Deadline for opening the event WebSocket. HTTP connects fall under the request
    /// deadlines (set `connect_timeout` on the `reqwest::Client` for a tighter one).
    pub connect_timeout: Duration,
    /// Deadline for an ordinary request, start to end. For `/view`: the deadline for the
    /// response headers and the longest pause between two body chunks.
    pub request_timeout: Duration,
    /// Deadline for `POST /prompt` (validation lists model folders and can take seconds).
    pub submit_timeout: Duration,
    /// Deadline for `POST /upload/image`.
    pub upload_timeout: Duration,
    /// Largest `/view` body accepted.
    pub max_download_bytes: u64,
    /// How often the event WebSocket pings the server, keeping idle proxies open.
    pub ws_ping_interval: Duration,
    /// The event stream reports the instance unreachable after this long without any
    /// frame (ComfyUI answers pings, so this only fires on a dead connection).
    pub ws_idle_timeout: Duration,
    /// Largest WebSocket message and frame accepted (full-size images can arrive this way).
    pub ws_max_message_bytes: usize,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(10),
            submit_timeout: Duration::from_secs(30),
            upload_timeout: Duration::from_secs(120),
            max_download_bytes: 4 << 30,
            ws_ping_interval: Duration::from_secs(20),
            ws_idle_timeout: Duration::from_secs(60),
            ws_max_message_bytes: 512 << 20,
        }
    }
}

/// A `reqwest::Client` suited to ComfyUI: connect timeout from `config`, no proxy
/// surprises beyond reqwest's defaults.
pub fn default_http_client(config: &ClientConfig) -> Result<reqwest::Client, ComfyError> {
    reqwest::Client::builder()
        .connect_timeout(config.connect_timeout)
        .tcp_nodelay(true)
        .build()
        .map_err(ComfyError::from)
}

/// Client for one ComfyUI instance. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ComfyClient {
    http: reqwest::Client,
    inner: Arc<Inner>,
}

#[derive(Debug, Clone)]
struct Inner {
    base_url: String,
    /// `None` when `base_url` does not parse; every call then fails as unreachable.
    base: Option<Url>,
    config: ClientConfig,
}

/// The body of `POST /prompt`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PromptRequest {
    pub prompt: Graph,
    /// Routes the prompt's WebSocket events to the socket with this client id.
    pub client_id: String,
    /// Honoured since mid-2025; always use the id from [`PromptAccepted`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extra_data: Option<Value>,
}

impl PromptRequest {
    /// A request with no prompt id and no extra data.
    pub fn new(prompt: Graph, client_id: impl Into<String>) -> Self {
        Self { prompt, client_id: client_id.into(), prompt_id: None, extra_data: None }
    }
}

/// ComfyUI queued the prompt.
#[derive(Debug, Clone, PartialEq)]
pub struct PromptAccepted {
    pub prompt_id: String,
    /// Queue priority; lower runs first.
    pub number: f64,
}

/// Prompt ids on the instance's queue.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QueueState {
    pub running: Vec<String>,
    /// Sorted by queue number, i.e. in the order they will run.
    pub pending: Vec<String>,
}

impl QueueState {
    /// True when the prompt is running or pending.
    pub fn contains(&self, prompt_id: &str) -> bool {
        self.running.iter().chain(&self.pending).any(|id| id == prompt_id)
    }
}

/// Where `POST /upload/image` stored a file. Use `subfolder/name` as a LoadImage `image`
/// (see [`UploadedImage::image_value`]).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct UploadedImage {
    pub name: String,
    #[serde(default)]
    pub subfolder: String,
    #[serde(rename = "type", default = "input_kind")]
    pub kind: String,
}

fn input_kind() -> String {
    "input".to_owned()
}

impl UploadedImage {
    /// The value a LoadImage node's `image` input takes for this file.
    pub fn image_value(&self) -> String {
        if self.subfolder.is_empty() { self.name.clone() } else { format!("{}/{}", self.subfolder, self.name) }
    }
}

/// A `/view` response body being received; see [`ComfyClient::view_stream`].
#[derive(Debug)]
pub struct Download {
    response: reqwest::Response,
    idle_timeout: Duration,
    max_bytes: u64,
    received: u64,
}

impl Download {
    /// The size the server announced, if any.
    pub fn content_length(&self) -> Option<u64> {
        self.response.content_length()
    }

    /// The next piece of the body; `None` at the end.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, ComfyError> {
        let chunk = tokio::time::timeout(self.idle_timeout, self.response.chunk())
            .await
            .map_err(|_| ComfyError::Unreachable(format!("download stalled for {:?}", self.idle_timeout)))??;
        if let Some(chunk) = &chunk {
            self.received += chunk.len() as u64;
            if self.received > self.max_bytes {
                return Err(ComfyError::Protocol(format!("download exceeds the limit of {} bytes", self.max_bytes)));
            }
        }
        Ok(chunk)
    }

    /// The whole body.
    pub async fn bytes(mut self) -> Result<Bytes, ComfyError> {
        let capacity = self.content_length().unwrap_or(0).min(64 << 20);
        let mut body = BytesMut::with_capacity(usize::try_from(capacity).unwrap_or(0));
        while let Some(chunk) = self.chunk().await? {
            body.extend_from_slice(&chunk);
        }
        Ok(body.freeze())
    }
}

impl ComfyClient {
    /// A client for the instance at `base_url` (e.g. `http://127.0.0.1:8188`, optionally
    /// with a path prefix) with the default [`ClientConfig`].
    pub fn new(base_url: &str, http: reqwest::Client) -> Self {
        let base_url = base_url.trim_end_matches('/').to_owned();
        let base = match Url::parse(&base_url) {
            Ok(url) if !url.cannot_be_a_base() => Some(url),
            Ok(_) => {
                tracing::warn!(base_url, "ComfyUI base URL cannot be a base");
                None
            }
            Err(err) => {
                tracing::warn!(base_url, %err, "invalid ComfyUI base URL");
                None
            }
        };
        Self { http, inner: Arc::new(Inner { base_url, base, config: ClientConfig::default() }) }
    }

    /// Replaces all timeouts and limits.
    pub fn with_config(mut self, config: ClientConfig) -> Self {
        Arc::make_mut(&mut self.inner).config = config;
        self
    }

    /// Sets the connect and ordinary request timeouts.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        let config = &mut Arc::make_mut(&mut self.inner).config;
        config.connect_timeout = timeout;
        config.request_timeout = timeout;
        self
    }

    /// The base URL without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.inner.base_url
    }

    /// The timeouts and limits in use.
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// `GET /system_stats`: versions, RAM and devices. The cheapest health probe.
    pub async fn system_stats(&self) -> Result<Value, ComfyError> {
        let url = self.url(&["system_stats"])?;
        self.expect_json(self.http.get(url), self.config().request_timeout).await
    }

    /// `GET /object_info`: every node class the server knows, with its inputs and outputs.
    pub async fn object_info(&self) -> Result<Value, ComfyError> {
        let url = self.url(&["object_info"])?;
        self.expect_json(self.http.get(url), self.config().request_timeout).await
    }

    /// `GET /models/{folder}`: the model files in a folder; an unknown folder (404) is empty.
    pub async fn models(&self, folder: &str) -> Result<Vec<String>, ComfyError> {
        let url = self.url(&["models", folder])?;
        let (status, body) = self.send(self.http.get(url), self.config().request_timeout).await?;
        match status {
            StatusCode::OK => parse(&body, "a list of model names"),
            StatusCode::NOT_FOUND => Ok(Vec::new()),
            other => Err(ComfyError::http(other.as_u16(), &body)),
        }
    }

    /// `GET /features`: server capabilities; `None` on servers older than 2025-07.
    pub async fn features(&self) -> Result<Option<Value>, ComfyError> {
        let url = self.url(&["features"])?;
        let (status, body) = self.send(self.http.get(url), self.config().request_timeout).await?;
        match status {
            StatusCode::OK => parse(&body, "a features object").map(Some),
            StatusCode::NOT_FOUND => Ok(None),
            other => Err(ComfyError::http(other.as_u16(), &body)),
        }
    }

    /// `POST /prompt`. A 400, or a 200 whose `node_errors` is not empty, is
    /// [`ComfyError::Invalid`]. In the second case ComfyUI queued the prompt without its
    /// failing outputs; this client deletes it from the pending queue (best effort) and
    /// puts its id in `error.prompt_id`.
    pub async fn submit(&self, req: &PromptRequest) -> Result<PromptAccepted, ComfyError> {
        let url = self.url(&["prompt"])?;
        let (status, body) = self.send(self.http.post(url).json(req), self.config().submit_timeout).await?;
        match status {
            StatusCode::OK => {}
            StatusCode::BAD_REQUEST => return Err(rejection(&body)),
            other => return Err(ComfyError::http(other.as_u16(), &body)),
        }
        #[derive(Deserialize)]
        struct Accepted {
            prompt_id: String,
            number: f64,
            #[serde(default)]
            node_errors: Value,
        }
        let accepted: Accepted = parse(&body, "{prompt_id, number, node_errors}")?;
        if !is_empty(&accepted.node_errors) {
            tracing::warn!(prompt_id = accepted.prompt_id, "prompt queued with node errors; deleting it");
            if let Err(err) = self.delete_pending(std::slice::from_ref(&accepted.prompt_id)).await {
                tracing::warn!(prompt_id = accepted.prompt_id, %err, "could not delete the partially valid prompt");
            }
            return Err(ComfyError::Invalid {
                message: format!("some outputs failed validation: {}", describe_node_errors(&accepted.node_errors)),
                error: json!({
                    "type": "prompt_outputs_partially_failed_validation",
                    "message": "Some outputs failed validation",
                    "prompt_id": accepted.prompt_id,
                    "number": accepted.number,
                }),
                node_errors: accepted.node_errors,
            });
        }
        tracing::debug!(prompt_id = accepted.prompt_id, number = accepted.number, "prompt queued");
        Ok(PromptAccepted { prompt_id: accepted.prompt_id, number: accepted.number })
    }

    /// `GET /queue`: running and pending prompt ids.
    pub async fn queue(&self) -> Result<QueueState, ComfyError> {
        let url = self.url(&["queue"])?;
        let raw: Value = self.expect_json(self.http.get(url), self.config().request_timeout).await?;
        let items = |key: &str| -> Result<Vec<(f64, String)>, ComfyError> {
            let Some(items) = raw.get(key).and_then(Value::as_array) else {
                return Err(ComfyError::Protocol(format!("/queue answer without {key}")));
            };
            items
                .iter()
                .map(|item| {
                    let number = item.get(0).and_then(Value::as_f64);
                    let prompt_id = item.get(1).and_then(Value::as_str);
                    match (number, prompt_id) {
                        (Some(number), Some(id)) => Ok((number, id.to_owned())),
                        _ => Err(ComfyError::Protocol(format!(
                            "/queue item is not [number, prompt_id, …]: {:.200}",
                            item.to_string()
                        ))),
                    }
                })
                .collect()
        };
        let running = items("queue_running")?;
        let mut pending = items("queue_pending")?;
        // The pending list comes in heap order.
        pending.sort_by(|a, b| a.0.total_cmp(&b.0));
        Ok(QueueState {
            running: running.into_iter().map(|(_, id)| id).collect(),
            pending: pending.into_iter().map(|(_, id)| id).collect(),
        })
    }

    /// `POST /queue {"delete": [...]}`: removes pending prompts. Running or unknown ids are
    /// silently ignored by ComfyUI; check with [`ComfyClient::queue`].
    pub async fn delete_pending(&self, prompt_ids: &[String]) -> Result<(), ComfyError> {
        if prompt_ids.is_empty() {
            return Ok(());
        }
        self.post_ok(&["queue"], &json!({ "delete": prompt_ids })).await
    }

    /// `POST /interrupt`. With a prompt id, stops that prompt only if it is running
    /// (ComfyUI ≥ 0.3.57); without one, stops whatever is running.
    pub async fn interrupt(&self, prompt_id: Option<&str>) -> Result<(), ComfyError> {
        let body = match prompt_id {
            Some(id) => json!({ "prompt_id": id }),
            None => json!({}),
        };
        self.post_ok(&["interrupt"], &body).await
    }

    /// `POST /free`: unload models and/or free memory between prompts.
    pub async fn free(&self, unload_models: bool, free_memory: bool) -> Result<(), ComfyError> {
        let body = json!({ "unload_models": unload_models, "free_memory": free_memory });
        self.post_ok(&["free"], &body).await
    }

    /// `GET /history/{prompt_id}`. `None` (ComfyUI's `{}`) means queued, running, unknown,
    /// evicted or lost in a restart; combine it with [`ComfyClient::queue`].
    pub async fn history(&self, prompt_id: &str) -> Result<Option<HistoryEntry>, ComfyError> {
        let url = self.url(&["history", prompt_id])?;
        let raw: Value = self.expect_json(self.http.get(url), self.config().request_timeout).await?;
        let Value::Object(mut entries) = raw else {
            return Err(ComfyError::Protocol(format!("history for {prompt_id} is not an object")));
        };
        if entries.is_empty() {
            return Ok(None);
        }
        let Some(entry) = entries.remove(prompt_id) else {
            return Err(ComfyError::Protocol(format!("history answer has no entry for {prompt_id}")));
        };
        HistoryEntry::from_json(prompt_id, entry).map(Some)
    }

    /// `POST /history {"delete": [...]}`: forgets finished prompts (their files stay).
    pub async fn delete_history(&self, prompt_ids: &[String]) -> Result<(), ComfyError> {
        if prompt_ids.is_empty() {
            return Ok(());
        }
        self.post_ok(&["history"], &json!({ "delete": prompt_ids })).await
    }

    /// `GET /view`: the whole file in memory. Use [`ComfyClient::view_stream`] to write big
    /// files to disk as they arrive.
    pub async fn view(&self, file: &OutputFile) -> Result<Bytes, ComfyError> {
        self.view_stream(file).await?.bytes().await
    }

    /// `GET /view`, returning once the headers arrived. A missing file is `Http { 404 }`.
    /// Downloads have no overall deadline, only the idle one; a total timeout set on the
    /// `reqwest::Client` itself would still apply.
    pub async fn view_stream(&self, file: &OutputFile) -> Result<Download, ComfyError> {
        let mut url = self.url(&["view"])?;
        url.query_pairs_mut()
            .append_pair("filename", &file.filename)
            .append_pair("subfolder", &file.subfolder)
            .append_pair("type", &file.kind);
        let config = self.config();
        let sending = self.http.get(url.clone()).send();
        let response = tokio::time::timeout(config.request_timeout, sending).await.map_err(|_| {
            ComfyError::Unreachable(format!("GET {url} timed out after {:?}", config.request_timeout))
        })??;
        let status = response.status();
        if status != StatusCode::OK {
            let body = tokio::time::timeout(config.request_timeout, response.bytes())
                .await
                .ok()
                .and_then(Result::ok)
                .unwrap_or_default();
            return Err(ComfyError::http(status.as_u16(), &body));
        }
        if let Some(len) = response.content_length()
            && len > config.max_download_bytes
        {
            return Err(ComfyError::Protocol(format!(
                "{} is {len} bytes, above the limit of {}",
                file.filename, config.max_download_bytes
            )));
        }
        Ok(Download {
            response,
            idle_timeout: config.request_timeout,
            max_bytes: config.max_download_bytes,
            received: 0,
        })
    }

    /// `POST /upload/image` with `overwrite=true` into the input directory. Always use
    /// the returned name.
    pub async fn upload_image(
        &self,
        filename: &str,
        bytes: Vec<u8>,
        subfolder: Option<&str>,
    ) -> Result<UploadedImage, ComfyError> {
        let url = self.url(&["upload", "image"])?;
        let part = reqwest::multipart::Part::bytes(bytes).file_name(filename.to_owned());
        let mut form =
            reqwest::multipart::Form::new().part("image", part).text("overwrite", "true").text("type", "input");
        if let Some(subfolder) = subfolder {
            form = form.text("subfolder", subfolder.to_owned());
        }
        self.expect_json(self.http.post(url).multipart(form), self.config().upload_timeout).await
    }

    /// Opens `WS /ws?clientId=…`. Submit prompts with the same `client_id` to receive
    /// their events, and close an old stream before reusing its id.
    pub async fn events(&self, client_id: &str) -> Result<EventStream, ComfyError> {
        let mut url = self.url(&["ws"])?;
        let scheme = if url.scheme() == "https" { "wss" } else { "ws" };
        url.set_scheme(scheme).map_err(|()| ComfyError::Unreachable(format!("cannot use {url} for a WebSocket")))?;
        url.query_pairs_mut().append_pair("clientId", client_id);
        let config = self.config();
        let options = SocketOptions {
            connect_timeout: config.connect_timeout,
            ping_interval: config.ws_ping_interval,
            idle_timeout: config.ws_idle_timeout,
            max_message_bytes: config.ws_max_message_bytes,
        };
        EventStream::connect(url.as_str(), options).await
    }

    /// `base/segment/segment…`, each segment percent-encoded.
    fn url(&self, segments: &[&str]) -> Result<Url, ComfyError> {
        let mut url = self
            .inner
            .base
            .clone()
            .ok_or_else(|| ComfyError::Unreachable(format!("invalid base URL {:?}", self.inner.base_url)))?;
        url.path_segments_mut()
            .map_err(|()| ComfyError::Unreachable(format!("invalid base URL {:?}", self.inner.base_url)))?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    /// Sends with a deadline and reads the whole body.
    async fn send(&self, request: RequestBuilder, timeout: Duration) -> Result<(StatusCode, Bytes), ComfyError> {
        let request = request.timeout(timeout).build()?;
        let (method, url) = (request.method().clone(), request.url().clone());
        let result = async {
            let response = self.http.execute(request).await?;
            let status = response.status();
            Ok::<_, reqwest::Error>((status, response.bytes().await?))
        }
        .await;
        match &result {
            Ok((status, body)) => {
                tracing::debug!(%method, %url, status = status.as_u16(), len = body.len(), "ComfyUI answered");
            }
            Err(err) => tracing::debug!(%method, %url, %err, "ComfyUI request failed"),
        }
        result.map_err(|err| log_unreachable(&method, &url, err))
    }

    /// Sends and parses a 200 JSON body; any other status is [`ComfyError::Http`].
    async fn expect_json<T: serde::de::DeserializeOwned>(
        &self,
        request: RequestBuilder,
        timeout: Duration,
    ) -> Result<T, ComfyError> {
        let (status, body) = self.send(request, timeout).await?;
        if status != StatusCode::OK {
            return Err(ComfyError::http(status.as_u16(), &body));
        }
        parse(&body, "the documented JSON")
    }

    /// POSTs a JSON body to a route that answers a bare 200.
    async fn post_ok(&self, segments: &[&str], body: &Value) -> Result<(), ComfyError> {
        let url = self.url(segments)?;
        let request = self.http.request(Method::POST, url).json(body);
        let (status, body) = self.send(request, self.config().request_timeout).await?;
        if status == StatusCode::OK { Ok(()) } else { Err(ComfyError::http(status.as_u16(), &body)) }
    }
}

fn log_unreachable(method: &Method, url: &Url, err: reqwest::Error) -> ComfyError {
    match ComfyError::from(err) {
        ComfyError::Unreachable(detail) => ComfyError::Unreachable(format!("{method} {url}: {detail}")),
        other => other,
    }
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8], expected: &str) -> Result<T, ComfyError> {
    serde_json::from_slice(body)
        .map_err(|err| ComfyError::unexpected_body(&format!("expected {expected} ({err})"), body))
}

/// `{}`, `[]` and `null` count as no node errors.
fn is_empty(node_errors: &Value) -> bool {
    match node_errors {
        Value::Null => true,
        Value::Object(map) => map.is_empty(),
        Value::Array(list) => list.is_empty(),
        _ => false,
    }
}

/// The 400 from `POST /prompt`: `{"error": {type, message, details, …} | "text", "node_errors"}`.
fn rejection(body: &[u8]) -> ComfyError {
    let Ok(Value::Object(mut answer)) = serde_json::from_slice::<Value>(body) else {
        return ComfyError::http(400, body);
    };
    let error = answer.remove("error").unwrap_or(Value::Null);
    let node_errors = answer.remove("node_errors").unwrap_or(Value::Null);
    let mut message = match &error {
        Value::String(text) => text.clone(),
        Value::Object(fields) => ["message", "type"]
            .iter()
            .find_map(|key| fields.get(*key).and_then(Value::as_str))
            .unwrap_or("invalid prompt")
            .to_owned(),
        _ => "invalid prompt".to_owned(),
    };
    let details = error.get("details").and_then(Value::as_str).unwrap_or_default();
    if !details.is_empty() {
        // "Cannot execute because node X does not exist." + "Node ID '#1'"
        message = format!("{}: {details}", message.trim_end_matches('.'));
    } else if !is_empty(&node_errors) {
        message = format!("{message}: {}", describe_node_errors(&node_errors));
    }
    ComfyError::Invalid { message, error, node_errors }
}

/// `node 3 (KSampler): Value not in list: ckpt_name: 'x' not in [...]; …`
fn describe_node_errors(node_errors: &Value) -> String {
    let Some(nodes) = node_errors.as_object() else {
        return node_errors.to_string();
    };
    let mut lines = Vec::new();
    for (node, entry) in nodes {
        let class = entry.get("class_type").and_then(Value::as_str).unwrap_or("?");
        for error in entry.get("errors").and_then(Value::as_array).into_iter().flatten() {
            let message = error.get("message").and_then(Value::as_str).unwrap_or("error");
            match error.get("details").and_then(Value::as_str) {
                Some(details) if !details.is_empty() => {
                    lines.push(format!("node {node} ({class}): {message}: {details}"));
                }
                _ => lines.push(format!("node {node} ({class}): {message}")),
            }
        }
    }
    lines.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_keep_a_path_prefix_and_encode_segments() {
        let client = ComfyClient::new("http://host:8188/comfy/1/", reqwest::Client::new());
        assert_eq!(client.base_url(), "http://host:8188/comfy/1");
        let url = client.url(&["history", "a b/c"]).expect("url");
        assert_eq!(url.as_str(), "http://host:8188/comfy/1/history/a%20b%2Fc");
        let bare = ComfyClient::new("http://host:8188", reqwest::Client::new());
        assert_eq!(bare.url(&["queue"]).expect("url").as_str(), "http://host:8188/queue");
    }

    #[test]
    fn invalid_base_url_is_unreachable() {
        let client = ComfyClient::new("not a url", reqwest::Client::new());
        assert!(client.url(&["queue"]).expect_err("invalid").is_unreachable());
    }

    #[test]
    fn rejection_reads_old_and_new_error_shapes() {
        let new =
            br#"{"error": {"type": "prompt_outputs_failed_validation", "message": "Prompt outputs failed validation",
            "details": "", "extra_info": {}}, "node_errors": {"4": {"errors": [{"type": "value_not_in_list",
            "message": "Value not in list", "details": "ckpt_name: 'x' not in []"}], "dependent_outputs": ["9"],
            "class_type": "CheckpointLoaderSimple"}}}"#;
        let ComfyError::Invalid { message, error, node_errors } = rejection(new) else {
            panic!("not invalid");
        };
        assert_eq!(
            message,
            "Prompt outputs failed validation: node 4 (CheckpointLoaderSimple): Value not in list: ckpt_name: 'x' not in []"
        );
        assert_eq!(error["type"], "prompt_outputs_failed_validation");
        assert!(node_errors.get("4").is_some());

        let old = br#"{"error": "no prompt", "node_errors": []}"#;
        assert!(matches!(rejection(old), ComfyError::Invalid { message, .. } if message == "no prompt"));
        assert!(matches!(rejection(b"<html>"), ComfyError::Http { status: 400, .. }));
    }

    #[test]
    fn uploaded_image_value() {
        let mut image = UploadedImage { name: "a.png".into(), subfolder: String::new(), kind: "input".into() };
        assert_eq!(image.image_value(), "a.png");
        image.subfolder = "gantry/t1".into();
        assert_eq!(image.image_value(), "gantry/t1/a.png");
    }
}
