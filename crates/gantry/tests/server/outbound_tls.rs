//! Outbound HTTPS: an `imageUrl` and an `http_request` step reach an `https://` server whose
//! certificate a test CA signed, trusted through `SSL_CERT_FILE` like any CA the operator
//! adds; a certificate nobody vouches for is refused.

use crate::common::binary::Served;
use crate::common::vflow::step;
use serde_json::{Value, json};
use std::ffi::OsStr;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// A CA, and a certificate for `localhost` it signed (with its key).
struct Certs {
    ca_pem: String,
    leaf: CertificateDer<'static>,
    leaf_key: Vec<u8>,
}

fn certs() -> Certs {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name.push(rcgen::DnType::CommonName, "Gantry test CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf =
        rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap().signed_by(&leaf_key, &issuer).unwrap();
    Certs { ca_pem: ca_cert.pem(), leaf: leaf.der().clone(), leaf_key: leaf_key.serialize_der() }
}

/// A one-route HTTPS server answering every request with `body` as a PNG; its port.
async fn https_server(cert: CertificateDer<'static>, key: Vec<u8>, body: Vec<u8>) -> u16 {
    // ring is the one crypto provider built in (reqwest's), so it is the default.
    let config = tokio_rustls::rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![cert], PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key)))
        .unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, body) = (acceptor.clone(), body.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && tls.read(&mut byte).await.unwrap_or(0) == 1 {
                    head.push(byte[0]);
                }
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = tls.write_all(answer.as_bytes()).await;
                let _ = tls.write_all(&body).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    port
}

fn png() -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    image::RgbImage::new(8, 8).write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// The real binary on a fresh data dir, trusting `ca_file`, with private image URLs and
/// internal HTTP steps allowed (the test servers are local).
fn start(dir: &std::path::Path, ca_file: &std::path::Path) -> Served {
    let config = dir.join("gantry.toml");
    std::fs::write(
        &config,
        "[generation]\nallow_private_image_urls = true\n\n[automation]\nallow_internal_http = true\n",
    )
    .unwrap();
    let env = [("SSL_CERT_FILE", ca_file.as_os_str()), ("RUST_LOG", OsStr::new("error"))];
    Served::start(dir, &[OsStr::new("--config"), config.as_os_str()], &env)
}

async fn call(http: &reqwest::Client, method: reqwest::Method, url: String, token: &str, body: Value) -> Value {
    http.request(method, url).bearer_auth(token).json(&body).send().await.unwrap().json().await.unwrap()
}

#[tokio::test]
async fn image_urls_and_http_steps_reach_https_servers_a_trusted_ca_signed() {
    let certs = certs();
    let trusted = https_server(certs.leaf, certs.leaf_key, png()).await;
    let stranger_key = rcgen::KeyPair::generate().unwrap();
    let stranger =
        rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap().self_signed(&stranger_key).unwrap();
    let untrusted = https_server(stranger.der().clone(), stranger_key.serialize_der(), png()).await;

    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("test-ca.pem");
    std::fs::write(&ca_file, &certs.ca_pem).unwrap();
    let served = start(dir.path(), &ca_file);
    let (base, password) = (&served.url, &served.password);
    let http = reqwest::Client::new();
    let login = json!({"username": "admin", "password": password});
    let login: Value =
        http.post(format!("{base}api/v1/auth/login")).json(&login).send().await.unwrap().json().await.unwrap();
    let token = login["data"]["token"].as_str().unwrap_or_else(|| panic!("{login}")).to_owned();
    let grant = format!("{base}api/v1/admin/users/{}/credits", login["data"]["user"]["id"]);
    let grant = call(&http, reqwest::Method::POST, grant, &token, json!({"amount": 100})).await;
    assert_eq!(grant["code"], 200, "{grant}");

    // The image is fetched over TLS and recognised; with no GPU configured the task then
    // waits for none (E007) — past the image checks.
    let generate = |port: u16| {
        let body = json!({"prompt": "x", "imageUrl": format!("https://localhost:{port}/in.png")});
        call(&http, reqwest::Method::POST, format!("{base}api/v1/generate/img2img"), &token, body)
    };
    let answer = generate(trusted).await;
    assert_eq!(answer["code"], "E007", "fetched over HTTPS: {answer}");
    let answer = generate(untrusted).await;
    assert_eq!(answer["code"], 400, "{answer}");
    assert!(answer["message"].as_str().unwrap().contains("could not be fetched"), "{answer}");

    // A workflow's http_request step.
    let steps = json!([step(
        "h",
        "http_request",
        0,
        json!({"url": format!("https://localhost:{trusted}/x"), "method": "GET"})
    )]);
    let created = call(
        &http,
        reqwest::Method::POST,
        format!("{base}api/v1/workflows"),
        &token,
        json!({"name": "tls", "steps": steps, "isEnabled": true}),
    )
    .await;
    let id = created["data"]["id"].as_str().unwrap_or_else(|| panic!("{created}"));
    let run = call(
        &http,
        reqwest::Method::POST,
        format!("{base}api/v1/workflows/{id}/execute"),
        &token,
        json!({"async": false}),
    )
    .await;
    assert_eq!(run["data"]["status"], "completed", "{run}");
    assert_eq!(run["data"]["outputs"]["h"]["statusCode"]["value"], 200, "{run}");
}
