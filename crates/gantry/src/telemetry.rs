//! Logs on stdout, and — when a collector is configured — every span (one per request, with
//! its method, route, request id and user) exported over OTLP/HTTP in JSON.

use std::time::Duration;

use anyhow::Context as _;
use axum::http::{Request, Response};
use bytes::Bytes;
use gantry_core::config::LogFormat;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_http::{HttpClient, HttpError};
use opentelemetry_otlp::{Protocol, WithExportConfig as _, WithHttpConfig as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _};

/// What must be flushed before the process ends.
pub struct Telemetry {
    traces: Option<SdkTracerProvider>,
}

/// Sets up logging (levels from `RUST_LOG`) and, with `otlp_endpoint`, span export to
/// `<otlp_endpoint>/v1/traces` in batches.
pub fn init(format: LogFormat, otlp_endpoint: Option<&str>) -> anyhow::Result<Telemetry> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=info"));
    // Colours only on a terminal: a log written to a file or a pipe stays plain.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let fmt = tracing_subscriber::fmt::layer().with_ansi(ansi);
    let fmt = match format {
        LogFormat::Json => fmt.json().boxed(),
        LogFormat::Text => fmt.boxed(),
    };
    let traces = otlp_endpoint.map(tracer_provider).transpose()?;
    let otel = traces.as_ref().map(|p| tracing_opentelemetry::layer().with_tracer(p.tracer("gantry")));
    // A second call (tests starting servers in one process) keeps the first subscriber.
    let _ = tracing_subscriber::registry().with(filter).with(fmt).with(otel).try_init();
    Ok(Telemetry { traces })
}

fn tracer_provider(endpoint: &str) -> anyhow::Result<SdkTracerProvider> {
    let url = format!("{}/v1/traces", endpoint.trim_end_matches('/'));
    let client = RuntimeClient {
        client: reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?,
        runtime: tokio::runtime::Handle::current(),
    };
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(client)
        .with_protocol(Protocol::HttpJson)
        .with_endpoint(&url)
        .build()
        .with_context(|| format!("OTLP exporter for {url}"))?;
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(Resource::builder().with_service_name("gantry").build())
        .build())
}

/// The exporter's HTTP client: reqwest, run on the server's runtime (the SDK exports from a
/// thread of its own, outside it). opentelemetry-otlp's own reqwest client would bring a
/// second reqwest version into the build.
#[derive(Debug)]
struct RuntimeClient {
    client: reqwest::Client,
    runtime: tokio::runtime::Handle,
}

#[async_trait::async_trait]
impl HttpClient for RuntimeClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let request = reqwest::Request::try_from(request)?;
        let client = self.client.clone();
        let (status, headers, body) = self
            .runtime
            .spawn(async move {
                let response = client.execute(request).await?;
                let (status, headers) = (response.status(), response.headers().clone());
                Ok::<_, reqwest::Error>((status, headers, response.bytes().await?))
            })
            .await??;
        let mut response = Response::new(body);
        *response.status_mut() = status;
        *response.headers_mut() = headers;
        Ok(response)
    }
}

impl Telemetry {
    /// Exports the spans still waiting.
    pub async fn shutdown(self) {
        if let Some(provider) = self.traces {
            let _ = tokio::task::spawn_blocking(move || {
                if let Err(e) = provider.shutdown() {
                    eprintln!("OTLP export at shutdown failed: {e}");
                }
            })
            .await;
        }
    }
}
