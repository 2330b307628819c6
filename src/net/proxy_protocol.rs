//! PROXY protocol v1/v2: headers sent to backends (`send_proxy`) and read from clients
//! (`accept_proxy`). Parsing is done by the `ppp` crate; this module frames it on a stream.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use ppp::{HeaderResult, PartialResult, v1, v2};
use tokio::net::TcpStream;

use crate::config::ProxyVersion;

/// Longest header accepted: v2 fixed part (16) + the largest address block with TLVs we allow.
pub const MAX_HEADER: usize = 16 + 512;

/// Why a client's PROXY header was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProxyHeaderError {
    #[error("PROXY header is malformed")]
    Malformed,
    #[error("PROXY header is longer than {MAX_HEADER} bytes")]
    TooLong,
    #[error("connection closed before a complete PROXY header")]
    Truncated,
    #[error("no PROXY header within the timeout")]
    Timeout,
}

/// The addresses a PROXY header carried; `None` for `LOCAL`/`UNKNOWN` (keep the socket's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxiedAddrs {
    pub source: SocketAddr,
    pub destination: SocketAddr,
}

/// Outcome of parsing a buffer that may hold the start of a header.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// More bytes are needed.
    Incomplete,
    /// A complete header of `len` bytes.
    Header {
        len: usize,
        addrs: Option<ProxiedAddrs>,
    },
}

/// Parses a v1 or v2 header at the start of `buf` (pure; fuzzed).
pub fn parse(buf: &[u8]) -> Result<Parsed, ProxyHeaderError> {
    if buf.is_empty() {
        return Ok(Parsed::Incomplete);
    }
    let res = HeaderResult::parse(buf);
    if res.is_incomplete() {
        return if buf.len() >= MAX_HEADER {
            Err(ProxyHeaderError::TooLong)
        } else {
            Ok(Parsed::Incomplete)
        };
    }
    match res {
        HeaderResult::V1(Ok(h)) => {
            let addrs = match h.addresses {
                v1::Addresses::Tcp4(a) => Some(ProxiedAddrs {
                    source: (a.source_address, a.source_port).into(),
                    destination: (a.destination_address, a.destination_port).into(),
                }),
                v1::Addresses::Tcp6(a) => Some(ProxiedAddrs {
                    source: (a.source_address, a.source_port).into(),
                    destination: (a.destination_address, a.destination_port).into(),
                }),
                v1::Addresses::Unknown => None,
            };
            Ok(Parsed::Header {
                len: h.header.len(),
                addrs,
            })
        }
        HeaderResult::V2(Ok(h)) => {
            let addrs = match (h.command, h.addresses) {
                (v2::Command::Proxy, v2::Addresses::IPv4(a)) => Some(ProxiedAddrs {
                    source: (a.source_address, a.source_port).into(),
                    destination: (a.destination_address, a.destination_port).into(),
                }),
                (v2::Command::Proxy, v2::Addresses::IPv6(a)) => Some(ProxiedAddrs {
                    source: (a.source_address, a.source_port).into(),
                    destination: (a.destination_address, a.destination_port).into(),
                }),
                _ => None,
            };
            if h.len() > MAX_HEADER {
                return Err(ProxyHeaderError::TooLong);
            }
            Ok(Parsed::Header {
                len: h.len(),
                addrs,
            })
        }
        _ => Err(ProxyHeaderError::Malformed),
    }
}

/// Reads exactly one PROXY header from `stream`, consuming nothing after it.
///
/// Peeks first and then reads only the header's bytes, so the client's first payload bytes
/// stay in the socket for the relay.
pub async fn read_header(
    stream: &TcpStream,
    timeout: Duration,
) -> Result<Option<ProxiedAddrs>, ProxyHeaderError> {
    let fut = async {
        let mut buf = vec![0u8; MAX_HEADER];
        loop {
            let n = stream
                .peek(&mut buf)
                .await
                .map_err(|_| ProxyHeaderError::Truncated)?;
            if n == 0 {
                return Err(ProxyHeaderError::Truncated);
            }
            match parse(&buf[..n])? {
                Parsed::Header { len, addrs } => {
                    let mut consumed = 0;
                    while consumed < len {
                        stream
                            .readable()
                            .await
                            .map_err(|_| ProxyHeaderError::Truncated)?;
                        match stream.try_read(&mut buf[consumed..len]) {
                            Ok(0) => return Err(ProxyHeaderError::Truncated),
                            Ok(k) => consumed += k,
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                            Err(_) => return Err(ProxyHeaderError::Truncated),
                        }
                    }
                    return Ok(addrs);
                }
                Parsed::Incomplete => {
                    // Wait for more bytes than we have peeked so far.
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            }
        }
    };
    tokio::time::timeout(timeout, fut)
        .await
        .map_err(|_| ProxyHeaderError::Timeout)?
}

/// Builds the header to send to a backend for a client `source` that reached us at `destination`.
pub fn encode(
    version: ProxyVersion,
    source: SocketAddr,
    destination: SocketAddr,
) -> Option<Vec<u8>> {
    match version {
        ProxyVersion::Off => None,
        ProxyVersion::V1 => Some(encode_v1(source, destination).into_bytes()),
        ProxyVersion::V2 => Some(encode_v2(source, destination)),
    }
}

fn encode_v1(source: SocketAddr, destination: SocketAddr) -> String {
    // Mixed families cannot be expressed in v1; map both to IPv6 when they differ.
    let (s, d) = (unify(source, destination), unify(destination, source));
    let family = if s.is_ipv4() { "TCP4" } else { "TCP6" };
    format!(
        "PROXY {family} {} {} {} {}\r\n",
        s.ip(),
        d.ip(),
        s.port(),
        d.port()
    )
}

fn encode_v2(source: SocketAddr, destination: SocketAddr) -> Vec<u8> {
    let (s, d) = (unify(source, destination), unify(destination, source));
    v2::Builder::with_addresses(
        v2::Version::Two | v2::Command::Proxy,
        v2::Protocol::Stream,
        (s, d),
    )
    .build()
    .unwrap_or_default()
}

/// `a` expressed in the family of `other` when they differ (IPv4 becomes IPv4-mapped IPv6).
fn unify(a: SocketAddr, other: SocketAddr) -> SocketAddr {
    match (a, other) {
        (SocketAddr::V4(v4), SocketAddr::V6(_)) => {
            SocketAddr::new(v4.ip().to_ipv6_mapped().into(), v4.port())
        }
        _ => a,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn v1_round_trip() {
        let h = encode(ProxyVersion::V1, sa("10.1.2.3:4000"), sa("10.0.0.1:5672")).unwrap();
        assert_eq!(h, b"PROXY TCP4 10.1.2.3 10.0.0.1 4000 5672\r\n");
        let mut buf = h.clone();
        buf.extend_from_slice(b"payload");
        assert_eq!(
            parse(&buf),
            Ok(Parsed::Header {
                len: h.len(),
                addrs: Some(ProxiedAddrs {
                    source: sa("10.1.2.3:4000"),
                    destination: sa("10.0.0.1:5672")
                })
            })
        );
    }

    #[test]
    fn v2_round_trip_ipv6_and_mixed() {
        let h = encode(
            ProxyVersion::V2,
            sa("[2001:db8::1]:4000"),
            sa("[2001:db8::2]:80"),
        )
        .unwrap();
        assert_eq!(&h[..12], b"\r\n\r\n\0\r\nQUIT\n");
        match parse(&h).unwrap() {
            Parsed::Header { len, addrs } => {
                assert_eq!(len, h.len());
                assert_eq!(addrs.unwrap().source, sa("[2001:db8::1]:4000"));
            }
            p => panic!("{p:?}"),
        }
        let mixed = encode(ProxyVersion::V2, sa("10.0.0.9:1"), sa("[::1]:2")).unwrap();
        assert!(matches!(parse(&mixed), Ok(Parsed::Header { .. })));
    }

    #[test]
    fn rejects_and_waits() {
        assert_eq!(parse(b""), Ok(Parsed::Incomplete));
        assert_eq!(parse(b"PROXY TCP4 1.2.3.4"), Ok(Parsed::Incomplete));
        assert_eq!(
            parse(b"GET / HTTP/1.1\r\n"),
            Err(ProxyHeaderError::Malformed)
        );
        assert_eq!(
            parse(b"PROXY TCP4 1.2.3.4 5.6.7.8 99999 1\r\n"),
            Err(ProxyHeaderError::Malformed)
        );
        assert_eq!(
            parse(b"PROXY UNKNOWN\r\n"),
            Ok(Parsed::Header {
                len: 15,
                addrs: None
            })
        );
        let long = vec![b'P'; MAX_HEADER + 10];
        assert!(parse(&long).is_err());
        // v2 signature with a truncated body is incomplete, not an error.
        let h = encode(ProxyVersion::V2, sa("10.0.0.9:1"), sa("10.0.0.1:2")).unwrap();
        assert_eq!(parse(&h[..20]), Ok(Parsed::Incomplete));
    }

    #[test]
    fn off_sends_nothing() {
        assert_eq!(
            encode(ProxyVersion::Off, sa("1.1.1.1:1"), sa("2.2.2.2:2")),
            None
        );
    }
}
