//! VRRP advertisements on the wire: v3 (RFC 9568 §5) for IPv4 and IPv6, v2 (RFC 3768 §5) for IPv4.
//!
//! Pure encode/decode of the VRRP message (the IP payload); the IP header is the socket's business.

use std::net::IpAddr;
use thiserror::Error;

/// IP protocol number of VRRP (RFC 9568 §5.2.4).
pub const IPPROTO_VRRP: u8 = 112;
/// The only VRRP packet type (RFC 9568 §5.2.2).
const TYPE_ADVERTISEMENT: u8 = 1;
/// v2 authentication data trailing the addresses (RFC 3768 §5.3.10), zero-filled here.
const V2_AUTH_LEN: usize = 8;

/// VRRP protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// RFC 3768, IPv4 only, whole-second intervals, checksum without pseudo-header.
    V2,
    /// RFC 9568, centisecond intervals, checksum with pseudo-header.
    V3,
}

impl Version {
    /// The version from its config number (2 or 3).
    pub fn from_number(n: u8) -> Option<Version> {
        match n {
            2 => Some(Version::V2),
            3 => Some(Version::V3),
            _ => None,
        }
    }

    fn number(self) -> u8 {
        match self {
            Version::V2 => 2,
            Version::V3 => 3,
        }
    }
}

/// Which checksum form a received v3 packet carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumForm {
    /// Standard: the IP pseudo-header is included (v3), or v2 which never has one.
    Standard,
    /// v3 over IPv4 without the pseudo-header, as some keepalived builds send in v2-compat mode.
    NoPseudoHeader,
}

/// One VRRP advertisement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advert {
    pub version: Version,
    pub vrid: u8,
    /// 0 = the master is leaving, 255 = address owner.
    pub priority: u8,
    /// Advertisement interval in centiseconds (v2 carries whole seconds, scaled here).
    pub interval_cs: u16,
    pub addrs: Vec<IpAddr>,
}

/// Why a packet was rejected or cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PacketError {
    #[error("packet of {0} bytes is shorter than the 8-byte VRRP header")]
    TooShort(usize),
    #[error("unsupported VRRP version {0}")]
    BadVersion(u8),
    #[error("unknown VRRP packet type {0}")]
    BadType(u8),
    #[error("address count {0} is invalid")]
    BadAddressCount(u8),
    #[error("length {got} does not match {count} addresses (expected {expected})")]
    BadLength {
        got: usize,
        expected: usize,
        count: u8,
    },
    #[error("bad checksum")]
    BadChecksum,
    #[error("advertisement interval 0 is invalid")]
    BadInterval,
    #[error("VRRPv2 authentication type {0} is not supported")]
    UnsupportedAuth(u8),
    #[error("VRRPv2 exists for IPv4 only")]
    V2NotIpv4,
    #[error("address {0} is not of the packet's IP family")]
    FamilyMismatch(IpAddr),
    #[error("interval {0}cs cannot be encoded in this version")]
    IntervalRange(u16),
}

/// One's-complement sum of 16-bit big-endian words (RFC 1071), not yet folded.
fn sum16(data: &[u8], mut acc: u32) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        acc += u32::from(*last) << 8;
    }
    acc
}

fn fold(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

/// Sum of the IP pseudo-header (RFC 9568 §5.2.8: "including the pseudo-header").
fn pseudo_sum(src: IpAddr, dst: IpAddr, len: usize) -> u32 {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let acc = sum16(&s.octets(), 0);
            let acc = sum16(&d.octets(), acc);
            acc + u32::from(IPPROTO_VRRP) + len as u32
        }
        _ => {
            let o = |a: IpAddr| match a {
                IpAddr::V6(a) => a.octets(),
                IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
            };
            let acc = sum16(&o(src), 0);
            let acc = sum16(&o(dst), acc);
            acc + u32::from(IPPROTO_VRRP) + len as u32
        }
    }
}

/// Checksum of `msg` (its checksum field zero or not: a valid packet sums to 0).
fn checksum(msg: &[u8], pseudo: Option<(IpAddr, IpAddr)>) -> u16 {
    let acc = pseudo.map_or(0, |(s, d)| pseudo_sum(s, d, msg.len()));
    fold(sum16(msg, acc))
}

impl Advert {
    /// Decodes the VRRP message `msg` received from `src` to `dst`.
    pub fn decode(
        msg: &[u8],
        src: IpAddr,
        dst: IpAddr,
    ) -> Result<(Advert, ChecksumForm), PacketError> {
        if msg.len() < 8 {
            return Err(PacketError::TooShort(msg.len()));
        }
        let version = match msg[0] >> 4 {
            2 => Version::V2,
            3 => Version::V3,
            v => return Err(PacketError::BadVersion(v)),
        };
        if msg[0] & 0x0f != TYPE_ADVERTISEMENT {
            return Err(PacketError::BadType(msg[0] & 0x0f));
        }
        let v4 = src.is_ipv4();
        if version == Version::V2 && !v4 {
            return Err(PacketError::V2NotIpv4);
        }
        let (vrid, priority, count) = (msg[1], msg[2], msg[3]);
        // RFC 9568 §5.2.5: at least one address (a count of 0 cannot name any VIP).
        if count == 0 {
            return Err(PacketError::BadAddressCount(count));
        }
        let alen = if v4 { 4 } else { 16 };
        let base = 8 + usize::from(count) * alen;
        // v2: authentication data is optional in practice; v3 has none.
        let ok_len = match version {
            Version::V3 => msg.len() == base,
            Version::V2 => msg.len() == base || msg.len() == base + V2_AUTH_LEN,
        };
        if !ok_len {
            return Err(PacketError::BadLength {
                got: msg.len(),
                expected: base,
                count,
            });
        }
        let form = match version {
            // RFC 3768 §5.3.8: checksum of the VRRP message only.
            Version::V2 if checksum(msg, None) == 0 => ChecksumForm::Standard,
            Version::V3 if checksum(msg, Some((src, dst))) == 0 => ChecksumForm::Standard,
            Version::V3 if v4 && checksum(msg, None) == 0 => ChecksumForm::NoPseudoHeader,
            _ => return Err(PacketError::BadChecksum),
        };
        let interval_cs = match version {
            Version::V2 => {
                if msg[4] != 0 {
                    return Err(PacketError::UnsupportedAuth(msg[4]));
                }
                u16::from(msg[5]) * 100
            }
            // RFC 9568 §5.2.7: 12-bit Max Adver Int in centiseconds, 4 reserved bits.
            Version::V3 => u16::from_be_bytes([msg[4], msg[5]]) & 0x0fff,
        };
        if interval_cs == 0 {
            return Err(PacketError::BadInterval);
        }
        let addrs = msg[8..base]
            .chunks_exact(alen)
            .map(|c| match <[u8; 4]>::try_from(c) {
                Ok(a) => IpAddr::from(a),
                Err(_) => {
                    let mut a = [0u8; 16];
                    a.copy_from_slice(c);
                    IpAddr::from(a)
                }
            })
            .collect();
        let advert = Advert {
            version,
            vrid,
            priority,
            interval_cs,
            addrs,
        };
        Ok((advert, form))
    }

    /// Encodes the message sent from `src` to `dst` (both needed for the v3 pseudo-header).
    pub fn encode(&self, src: IpAddr, dst: IpAddr) -> Result<Vec<u8>, PacketError> {
        let v4 = src.is_ipv4();
        if self.version == Version::V2 && !v4 {
            return Err(PacketError::V2NotIpv4);
        }
        if dst.is_ipv4() != v4 {
            return Err(PacketError::FamilyMismatch(dst));
        }
        let count = u8::try_from(self.addrs.len())
            .ok()
            .filter(|c| *c > 0)
            .ok_or(PacketError::BadAddressCount(0))?;
        let mut out = Vec::with_capacity(8 + self.addrs.len() * 16 + V2_AUTH_LEN);
        out.push(self.version.number() << 4 | TYPE_ADVERTISEMENT);
        out.extend_from_slice(&[self.vrid, self.priority, count]);
        match self.version {
            Version::V2 => {
                let secs = self.interval_cs / 100;
                if !self.interval_cs.is_multiple_of(100) || secs == 0 || secs > 255 {
                    return Err(PacketError::IntervalRange(self.interval_cs));
                }
                out.extend_from_slice(&[0, secs as u8]);
            }
            Version::V3 => {
                if self.interval_cs == 0 || self.interval_cs > 0x0fff {
                    return Err(PacketError::IntervalRange(self.interval_cs));
                }
                out.extend_from_slice(&self.interval_cs.to_be_bytes());
            }
        }
        out.extend_from_slice(&[0, 0]);
        for a in &self.addrs {
            match (a, v4) {
                (IpAddr::V4(a), true) => out.extend_from_slice(&a.octets()),
                (IpAddr::V6(a), false) => out.extend_from_slice(&a.octets()),
                _ => return Err(PacketError::FamilyMismatch(*a)),
            }
        }
        let pseudo = match self.version {
            Version::V2 => {
                out.extend_from_slice(&[0; V2_AUTH_LEN]);
                None
            }
            Version::V3 => Some((src, dst)),
        };
        let sum = checksum(&out, pseudo);
        out[6..8].copy_from_slice(&sum.to_be_bytes());
        Ok(out)
    }
}

#[cfg(test)]
#[path = "packet_tests.rs"]
mod tests;
