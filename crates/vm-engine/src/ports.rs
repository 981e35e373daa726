//! NAT host-port allocation within a host's `ports_start..=ports_close` range.
//!
//! A port is usable when it lies in the range, is not used by another rule (of any VM of the
//! host, same protocol) and can be bound on the host right now (nobody else listens on it).

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr, TcpListener, UdpSocket};

use serde::{Deserialize, Serialize};

use crate::error::{EngineError, Result};

/// Transport protocol of a forward.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    #[default]
    Tcp,
    Udp,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }

    /// Parses `tcp`/`udp` (case-insensitive).
    pub fn parse(s: &str) -> Result<Protocol> {
        match s.to_ascii_lowercase().as_str() {
            "tcp" => Ok(Protocol::Tcp),
            "udp" => Ok(Protocol::Udp),
            other => Err(EngineError::Invalid(format!("unknown protocol {other:?} (tcp or udp)"))),
        }
    }
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A host's NAT port range, inclusive on both ends (OpenIDCS `ports_start`, `ports_close`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortRange {
    pub start: u16,
    pub end: u16,
}

impl PortRange {
    pub fn new(start: u16, end: u16) -> Result<PortRange> {
        if start == 0 || start > end {
            return Err(EngineError::Invalid(format!("bad port range {start}..={end}")));
        }
        Ok(PortRange { start, end })
    }

    pub fn contains(&self, port: u16) -> bool {
        (self.start..=self.end).contains(&port)
    }

    pub fn len(&self) -> u32 {
        u32::from(self.end) - u32::from(self.start) + 1
    }

    pub fn is_empty(&self) -> bool {
        false
    }
}

/// True if `port` can be bound on `addr` for `proto` right now.
pub fn free_on_host(addr: IpAddr, port: u16, proto: Protocol) -> bool {
    let sa = SocketAddr::new(addr, port);
    match proto {
        Protocol::Tcp => TcpListener::bind(sa).is_ok(),
        Protocol::Udp => UdpSocket::bind(sa).is_ok(),
    }
}

/// Checks that a chosen port is usable: in `range` (when given), not in `used`, bindable on the
/// host. Errors: [`EngineError::Invalid`] (out of range) or [`EngineError::PortInUse`].
pub fn check(range: Option<PortRange>, used: &BTreeSet<u16>, addr: IpAddr, port: u16, proto: Protocol) -> Result<()> {
    if port == 0 {
        return Err(EngineError::Invalid("port 0".into()));
    }
    if let Some(r) = range
        && !r.contains(port)
    {
        return Err(EngineError::Invalid(format!("port {port} is outside the host's NAT range {}-{}", r.start, r.end)));
    }
    if used.contains(&port) {
        return Err(EngineError::PortInUse { port, detail: format!("another {proto} rule uses it") });
    }
    if !free_on_host(addr, port, proto) {
        return Err(EngineError::PortInUse { port, detail: format!("{proto} {addr}:{port} is taken on the host") });
    }
    Ok(())
}

/// Picks a usable port in `range`, starting at a random offset and scanning on (so concurrent
/// allocators rarely collide). [`EngineError::Conflict`] when the range is exhausted.
pub fn allocate(range: PortRange, used: &BTreeSet<u16>, addr: IpAddr, proto: Protocol) -> Result<u16> {
    let n = range.len();
    let offset = (uuid::Uuid::new_v4().as_u128() % u128::from(n)) as u32;
    for i in 0..n {
        let port = (u32::from(range.start) + (offset + i) % n) as u16;
        if !used.contains(&port) && free_on_host(addr, port, proto) {
            return Ok(port);
        }
    }
    Err(EngineError::Conflict(format!("no free {proto} port left in {}-{}", range.start, range.end)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const LO: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

    #[test]
    fn range_checks() {
        assert!(PortRange::new(0, 10).is_err());
        assert!(PortRange::new(20, 10).is_err());
        let r = PortRange::new(10, 20).unwrap();
        assert_eq!(r.len(), 11);
        assert!(r.contains(10) && r.contains(20) && !r.contains(21));
        assert_eq!(Protocol::parse("UDP").unwrap(), Protocol::Udp);
        assert!(Protocol::parse("icmp").is_err());
    }

    #[test]
    fn check_and_allocate() {
        let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let taken = l.local_addr().unwrap().port();
        let used = BTreeSet::new();
        let err = check(None, &used, LO, taken, Protocol::Tcp).unwrap_err();
        assert!(matches!(err, EngineError::PortInUse { port, .. } if port == taken), "{err}");
        // The same port is free for UDP (most likely) — and out of range is Invalid.
        let r = PortRange::new(taken, taken).unwrap();
        assert!(matches!(
            check(Some(r), &used, LO, taken.wrapping_add(1).max(1), Protocol::Tcp),
            Err(EngineError::Invalid(_))
        ));
        assert!(matches!(allocate(r, &used, LO, Protocol::Tcp), Err(EngineError::Conflict(_))));

        // A one-port range whose port is free is handed out. Another process may take an
        // ephemeral port between the probe and the allocation (tests run in parallel), so a
        // few probes are tried; an allocator that never hands out a free port still fails.
        let base = (0..20)
            .find_map(|_| {
                let probe = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
                let base = probe.local_addr().unwrap().port();
                drop(probe);
                let r = PortRange::new(base, base).unwrap();
                matches!(allocate(r, &used, LO, Protocol::Tcp), Ok(p) if p == base).then_some(base)
            })
            .expect("a free port in a one-port range is allocated");
        let r = PortRange::new(base, base).unwrap();
        let used: BTreeSet<u16> = [base].into();
        assert!(matches!(check(Some(r), &used, LO, base, Protocol::Tcp), Err(EngineError::PortInUse { .. })));
        assert!(allocate(r, &used, LO, Protocol::Tcp).is_err());
    }
}
