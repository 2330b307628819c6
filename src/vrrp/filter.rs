//! RFC 9568 §7.1 receive checks on a datagram from the raw socket: pure, so each rule is tested.

use std::net::IpAddr;
use std::time::Duration;

use thiserror::Error;

use super::io::{Received, VRRP_TTL};
use super::packet::{Advert, PacketError, Version};

/// What a router accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecvFilter {
    pub vrid: u8,
    pub version: Version,
    /// Our own source address (our adverts are not for us).
    pub own: IpAddr,
    /// Unicast mode: only these senders count; empty = multicast, anyone on the link.
    pub peers: Vec<IpAddr>,
    /// Our advertisement interval (v2 requires the same).
    pub interval: Duration,
}

/// Why a datagram was dropped.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Dropped {
    #[error("TTL/hop limit {0} is not 255")]
    Ttl(u8),
    #[error("our own advert")]
    Own,
    #[error("sender is not a unicast peer")]
    NotPeer,
    #[error(transparent)]
    Malformed(#[from] PacketError),
    #[error("advert for vrid {0}")]
    OtherVrid(u8),
    #[error("advert of version {0:?}")]
    OtherVersion(Version),
    #[error("VRRPv2 advert interval {0:?} differs from ours")]
    Interval(Duration),
}

impl RecvFilter {
    /// The advert in `r` and its interval, or why it is dropped.
    pub fn check(&self, r: &Received) -> Result<(Advert, Duration), Dropped> {
        // §7.1: "MUST verify that the IPv4 TTL / IPv6 Hop Limit is 255".
        if r.ttl != VRRP_TTL {
            return Err(Dropped::Ttl(r.ttl));
        }
        if r.src == self.own {
            return Err(Dropped::Own);
        }
        if !self.peers.is_empty() && !self.peers.contains(&r.src) {
            return Err(Dropped::NotPeer);
        }
        // §7.1: version, checksum, length and address count are checked by the decoder.
        let (advert, _) = Advert::decode(&r.payload, r.src, r.dst)?;
        // §7.1: "MUST verify that the VRID is configured on the receiving interface".
        if advert.vrid != self.vrid {
            return Err(Dropped::OtherVrid(advert.vrid));
        }
        if advert.version != self.version {
            return Err(Dropped::OtherVersion(advert.version));
        }
        let interval = Duration::from_millis(u64::from(advert.interval_cs) * 10);
        // RFC 3768 §7.1: a v2 router MUST discard adverts whose interval differs from its own.
        if self.version == Version::V2 && interval != self.interval {
            return Err(Dropped::Interval(interval));
        }
        Ok((advert, interval))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const PEER: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 214, 0, 11));
    const ME: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 214, 0, 12));
    const GROUP: IpAddr = IpAddr::V4(Ipv4Addr::new(224, 0, 0, 18));

    fn filter() -> RecvFilter {
        RecvFilter {
            vrid: 51,
            version: Version::V3,
            own: ME,
            peers: vec![],
            interval: Duration::from_secs(1),
        }
    }

    fn received(version: Version, vrid: u8, ttl: u8) -> Received {
        let a = Advert {
            version,
            vrid,
            priority: 150,
            interval_cs: 100,
            addrs: vec![IpAddr::V4(Ipv4Addr::new(10, 214, 0, 200))],
        };
        Received {
            src: PEER,
            dst: GROUP,
            ttl,
            payload: a.encode(PEER, GROUP).unwrap(),
        }
    }

    #[test]
    fn accepts_a_valid_advert() {
        let (a, interval) = filter().check(&received(Version::V3, 51, 255)).unwrap();
        assert_eq!((a.priority, interval), (150, Duration::from_secs(1)));
    }

    #[test]
    fn drops_ttl_below_255() {
        let r = received(Version::V3, 51, 254);
        assert_eq!(filter().check(&r), Err(Dropped::Ttl(254)));
    }

    #[test]
    fn drops_own_and_non_peer_senders() {
        let mut r = received(Version::V3, 51, 255);
        r.src = ME;
        assert_eq!(filter().check(&r), Err(Dropped::Own));
        let mut f = filter();
        f.peers = vec![IpAddr::V4(Ipv4Addr::new(10, 214, 0, 13))];
        assert_eq!(
            f.check(&received(Version::V3, 51, 255)),
            Err(Dropped::NotPeer)
        );
    }

    #[test]
    fn drops_other_vrid_version_and_malformed() {
        let f = filter();
        assert_eq!(
            f.check(&received(Version::V3, 52, 255)),
            Err(Dropped::OtherVrid(52))
        );
        assert_eq!(
            f.check(&received(Version::V2, 51, 255)),
            Err(Dropped::OtherVersion(Version::V2))
        );
        let mut r = received(Version::V3, 51, 255);
        r.payload[7] ^= 0xff;
        assert_eq!(
            f.check(&r),
            Err(Dropped::Malformed(PacketError::BadChecksum))
        );
    }

    #[test]
    fn v2_requires_the_same_interval() {
        let mut f = filter();
        f.version = Version::V2;
        assert!(f.check(&received(Version::V2, 51, 255)).is_ok());
        f.interval = Duration::from_secs(2);
        assert_eq!(
            f.check(&received(Version::V2, 51, 255)),
            Err(Dropped::Interval(Duration::from_secs(1)))
        );
    }
}
