//! The client's address: the TCP peer, or, when the peer is a trusted proxy (a load balancer
//! in front of several gateways, `http.trusted_proxies`), the address it forwarded in
//! `X-Forwarded-For`. Login limits and rate limits count by it.

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// The networks whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Arc<Vec<IpNet>>);

impl TrustedProxies {
    /// Parses addresses (`10.0.0.5`) and networks (`10.0.0.0/8`); an error names the entry.
    pub fn parse(entries: &[String]) -> Result<Self, String> {
        let nets = entries
            .iter()
            .map(|e| {
                e.parse::<IpNet>()
                    .or_else(|_| e.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("http.trusted_proxies: `{e}` is not an address or a network"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self(Arc::new(nets)))
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client behind `peer`: the nearest address in `forwarded` (a comma-separated
    /// `X-Forwarded-For`, nearest last) that is not itself a trusted proxy.
    fn client(&self, peer: IpAddr, forwarded: Option<&str>) -> IpAddr {
        if !self.trusts(peer) {
            return peer;
        }
        let mut client = peer;
        for hop in forwarded.unwrap_or_default().rsplit(',') {
            match hop.trim().parse::<IpAddr>() {
                Ok(ip) => {
                    client = ip;
                    if !self.trusts(ip) {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
        client
    }
}

/// The client's address as [`resolve`] found it.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub IpAddr);

/// Records each request's [`ClientAddr`].
pub async fn resolve(State(trusted): State<TrustedProxies>, mut request: Request, next: Next) -> Response {
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    if let Some(peer) = peer {
        let forwarded = request.headers().get("x-forwarded-for").and_then(|v| v.to_str().ok());
        let client = trusted.client(peer, forwarded);
        request.extensions_mut().insert(ClientAddr(client));
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn believes_only_trusted_proxies() {
        let trusted = TrustedProxies::parse(&["10.0.0.0/8".into(), "192.168.1.1".into()]).unwrap();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(trusted.client(ip("203.0.113.9"), Some("1.2.3.4")), ip("203.0.113.9"), "an untrusted peer");
        assert_eq!(trusted.client(ip("10.0.0.2"), Some("1.2.3.4")), ip("1.2.3.4"));
        assert_eq!(
            trusted.client(ip("10.0.0.2"), Some("6.6.6.6, 1.2.3.4, 192.168.1.1")),
            ip("1.2.3.4"),
            "the nearest untrusted hop, not what the client claimed"
        );
        assert_eq!(trusted.client(ip("10.0.0.2"), None), ip("10.0.0.2"));
        assert_eq!(trusted.client(ip("10.0.0.2"), Some("garbage")), ip("10.0.0.2"));
        assert!(TrustedProxies::parse(&["nonsense".into()]).unwrap_err().contains("nonsense"));
    }
}
