use super::*;
use std::net::{Ipv4Addr, Ipv6Addr};

const SRC4: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 214, 0, 11));
const MCAST4: IpAddr = IpAddr::V4(Ipv4Addr::new(224, 0, 0, 18));
const VIP4: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 214, 0, 200));

/// keepalived 2.2.7, `vrrp_version 3`, vrid 51, priority 150, advert_int 1, VIP 10.214.0.200.
const KEEPALIVED_V3_V4: [u8; 12] = [
    0x31, 0x33, 0x96, 0x01, 0x00, 0x64, 0x41, 0x59, 0x0a, 0xd6, 0x00, 0xc8,
];
/// keepalived 2.2.7, `vrrp_version 2`, same instance (auth type 0, 8 zero bytes of auth data).
const KEEPALIVED_V2_V4: [u8; 20] = [
    0x21, 0x33, 0x96, 0x01, 0x00, 0x01, 0x3d, 0x2c, 0x0a, 0xd6, 0x00, 0xc8, 0, 0, 0, 0, 0, 0, 0, 0,
];
/// keepalived 2.2.7, VRRPv3 over IPv6 from fe80::9465:3ff:fe2b:f65, VIP fd00::200.
const KEEPALIVED_V3_V6: [u8; 24] = [
    0x31, 0x33, 0x96, 0x01, 0x00, 0x64, 0x95, 0x52, 0xfd, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0x02, 0x00,
];

fn v6(s: &str) -> IpAddr {
    IpAddr::V6(s.parse::<Ipv6Addr>().unwrap())
}

fn advert(version: Version, interval_cs: u16, addrs: Vec<IpAddr>) -> Advert {
    Advert {
        version,
        vrid: 51,
        priority: 150,
        interval_cs,
        addrs,
    }
}

#[test]
fn keepalived_v3_ipv4_golden() {
    let (a, form) = Advert::decode(&KEEPALIVED_V3_V4, SRC4, MCAST4).unwrap();
    assert_eq!(a, advert(Version::V3, 100, vec![VIP4]));
    assert_eq!(form, ChecksumForm::Standard);
    assert_eq!(a.encode(SRC4, MCAST4).unwrap(), KEEPALIVED_V3_V4);
}

#[test]
fn keepalived_v2_ipv4_golden() {
    let (a, form) = Advert::decode(&KEEPALIVED_V2_V4, SRC4, MCAST4).unwrap();
    assert_eq!(a, advert(Version::V2, 100, vec![VIP4]));
    assert_eq!(form, ChecksumForm::Standard);
    assert_eq!(a.encode(SRC4, MCAST4).unwrap(), KEEPALIVED_V2_V4);
}

#[test]
fn keepalived_v3_ipv6_golden() {
    let (src, dst) = (v6("fe80::9465:3ff:fe2b:f65"), v6("ff02::12"));
    let (a, _) = Advert::decode(&KEEPALIVED_V3_V6, src, dst).unwrap();
    assert_eq!(a, advert(Version::V3, 100, vec![v6("fd00::200")]));
    assert_eq!(a.encode(src, dst).unwrap(), KEEPALIVED_V3_V6);
}

#[test]
fn v3_ipv4_without_pseudo_header_is_accepted() {
    let mut msg = KEEPALIVED_V3_V4;
    msg[6..8].copy_from_slice(&[0, 0]);
    let sum = checksum(&msg, None);
    msg[6..8].copy_from_slice(&sum.to_be_bytes());
    let (a, form) = Advert::decode(&msg, SRC4, MCAST4).unwrap();
    assert_eq!(a.priority, 150);
    assert_eq!(form, ChecksumForm::NoPseudoHeader);
}

#[test]
fn v2_without_auth_data_is_accepted() {
    let mut msg = KEEPALIVED_V2_V4[..12].to_vec();
    // The auth bytes are zero, so dropping them keeps the checksum valid.
    let (a, _) = Advert::decode(&msg, SRC4, MCAST4).unwrap();
    assert_eq!(a.interval_cs, 100);
    msg.push(0);
    assert!(matches!(
        Advert::decode(&msg, SRC4, MCAST4),
        Err(PacketError::BadLength { got: 13, .. })
    ));
}

#[test]
fn round_trip_many_addresses_and_intervals() {
    let addrs: Vec<IpAddr> = (1..=20)
        .map(|i| IpAddr::V4(Ipv4Addr::new(10, 0, 0, i)))
        .collect();
    let a = advert(Version::V3, 0x0fff, addrs);
    let bytes = a.encode(SRC4, MCAST4).unwrap();
    assert_eq!(bytes.len(), 8 + 20 * 4);
    assert_eq!(Advert::decode(&bytes, SRC4, MCAST4).unwrap().0, a);
    let six = advert(Version::V3, 10, vec![v6("fd00::1"), v6("fd00::2")]);
    let (s, d) = (v6("fe80::1"), v6("ff02::12"));
    let bytes = six.encode(s, d).unwrap();
    assert_eq!(Advert::decode(&bytes, s, d).unwrap().0, six);
}

#[test]
fn rejects_short_packets() {
    for n in 0..8 {
        assert_eq!(
            Advert::decode(&KEEPALIVED_V3_V4[..n], SRC4, MCAST4),
            Err(PacketError::TooShort(n))
        );
    }
}

#[test]
fn rejects_bad_version_and_type() {
    let mut m = KEEPALIVED_V3_V4;
    m[0] = 0x41;
    assert_eq!(
        Advert::decode(&m, SRC4, MCAST4),
        Err(PacketError::BadVersion(4))
    );
    m[0] = 0x32;
    assert_eq!(
        Advert::decode(&m, SRC4, MCAST4),
        Err(PacketError::BadType(2))
    );
}

#[test]
fn rejects_bad_counts_and_lengths() {
    let mut m = KEEPALIVED_V3_V4;
    m[3] = 0;
    assert_eq!(
        Advert::decode(&m, SRC4, MCAST4),
        Err(PacketError::BadAddressCount(0))
    );
    m[3] = 2;
    assert_eq!(
        Advert::decode(&m, SRC4, MCAST4),
        Err(PacketError::BadLength {
            got: 12,
            expected: 16,
            count: 2
        })
    );
    let mut long = KEEPALIVED_V3_V4.to_vec();
    long.extend_from_slice(&[0, 0, 0, 0]);
    assert!(matches!(
        Advert::decode(&long, SRC4, MCAST4),
        Err(PacketError::BadLength { .. })
    ));
}

#[test]
fn rejects_bad_checksums() {
    let mut m = KEEPALIVED_V3_V4;
    m[7] ^= 1;
    assert_eq!(
        Advert::decode(&m, SRC4, MCAST4),
        Err(PacketError::BadChecksum)
    );
    // Right bytes, wrong source: the pseudo-header no longer matches.
    let other = IpAddr::V4(Ipv4Addr::new(10, 214, 0, 12));
    assert_eq!(
        Advert::decode(&KEEPALIVED_V3_V4, other, MCAST4),
        Err(PacketError::BadChecksum)
    );
    let mut m2 = KEEPALIVED_V2_V4;
    m2[2] = 151;
    assert_eq!(
        Advert::decode(&m2, SRC4, MCAST4),
        Err(PacketError::BadChecksum)
    );
}

#[test]
fn rejects_v2_auth_ipv6_and_zero_interval() {
    let mut m = KEEPALIVED_V2_V4;
    m[4] = 1;
    m[6..8].copy_from_slice(&[0, 0]);
    let sum = checksum(&m, None);
    m[6..8].copy_from_slice(&sum.to_be_bytes());
    assert_eq!(
        Advert::decode(&m, SRC4, MCAST4),
        Err(PacketError::UnsupportedAuth(1))
    );
    assert_eq!(
        Advert::decode(&KEEPALIVED_V2_V4, v6("fe80::1"), v6("ff02::12")),
        Err(PacketError::V2NotIpv4)
    );
    let zero = advert(Version::V3, 0, vec![VIP4]);
    assert_eq!(
        zero.encode(SRC4, MCAST4),
        Err(PacketError::IntervalRange(0))
    );
    let mut z = KEEPALIVED_V3_V4;
    z[4..6].copy_from_slice(&[0xf0, 0]);
    z[6..8].copy_from_slice(&[0, 0]);
    let sum = checksum(&z, Some((SRC4, MCAST4)));
    z[6..8].copy_from_slice(&sum.to_be_bytes());
    assert_eq!(
        Advert::decode(&z, SRC4, MCAST4),
        Err(PacketError::BadInterval)
    );
}

#[test]
fn encode_rejects_what_cannot_be_sent() {
    let v2 = advert(Version::V2, 150, vec![VIP4]);
    assert_eq!(
        v2.encode(SRC4, MCAST4),
        Err(PacketError::IntervalRange(150))
    );
    let mixed = advert(Version::V3, 100, vec![v6("fd00::1")]);
    assert!(matches!(
        mixed.encode(SRC4, MCAST4),
        Err(PacketError::FamilyMismatch(_))
    ));
    let none = advert(Version::V3, 100, vec![]);
    assert_eq!(
        none.encode(SRC4, MCAST4),
        Err(PacketError::BadAddressCount(0))
    );
}
