#![no_main]
use datagate::vrrp::packet::Advert;
use libfuzzer_sys::fuzz_target;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

fuzz_target!(|data: &[u8]| {
    let v4 = (
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
        IpAddr::V4(Ipv4Addr::new(224, 0, 0, 18)),
    );
    let v6 = (
        IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1)),
        IpAddr::V6(Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12)),
    );
    for (src, dst) in [v4, v6] {
        if let Ok((advert, _)) = Advert::decode(data, src, dst) {
            // Whatever decodes must re-encode.
            let _ = advert.encode(src, dst);
        }
    }
});
