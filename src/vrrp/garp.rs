//! Gratuitous ARP (IPv4) and unsolicited Neighbor Advertisements (IPv6) for the VIPs, sent as
//! whole Ethernet frames on an `AF_PACKET` socket bound to the VRRP interface.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::AsRawFd;

use etherparse::icmpv6::NeighborAdvertisementHeader;
use etherparse::{ArpHardwareId, ArpOperation, ArpPacket, EtherType, Icmpv6Type, PacketBuilder};
use socket2::{Domain, Socket, Type};

use super::VrrpError;

const BROADCAST: [u8; 6] = [0xff; 6];
/// Ethernet address of ff02::1 (all nodes).
const ALL_NODES_MAC: [u8; 6] = [0x33, 0x33, 0, 0, 0, 1];
const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// Builds a gratuitous ARP request: sender = target = `vip` (RFC 5227 §3 "ARP Announcement").
pub fn garp_frame(mac: [u8; 6], vip: Ipv4Addr) -> Vec<u8> {
    let ip = vip.octets();
    let arp = ArpPacket::new(
        ArpHardwareId::ETHERNET,
        EtherType::IPV4,
        ArpOperation::REQUEST,
        &mac,
        &ip,
        &BROADCAST,
        &ip,
    );
    let mut out = Vec::with_capacity(42);
    if let Ok(arp) = arp {
        let b = PacketBuilder::ethernet2(mac, BROADCAST).arp(arp);
        // Writing into a Vec cannot fail; an error leaves an empty frame that is not sent.
        let _ = b.write(&mut out);
    }
    out
}

/// Builds an unsolicited Neighbor Advertisement for `vip` to all nodes, Override set
/// (RFC 4861 §7.2.6), with the Target Link-Layer Address option.
pub fn na_frame(mac: [u8; 6], vip: Ipv6Addr) -> Vec<u8> {
    let na = Icmpv6Type::NeighborAdvertisement(NeighborAdvertisementHeader {
        router: true,
        solicited: false,
        r#override: true,
    });
    let mut payload = Vec::with_capacity(24);
    payload.extend_from_slice(&vip.octets());
    payload.extend_from_slice(&[2, 1]);
    payload.extend_from_slice(&mac);
    let b = PacketBuilder::ethernet2(mac, ALL_NODES_MAC)
        .ipv6(vip.octets(), ALL_NODES.octets(), 255)
        .icmpv6(na);
    let mut out = Vec::with_capacity(b.size(payload.len()));
    if b.write(&mut out, &payload).is_err() {
        out.clear();
    }
    out
}

/// A packet socket bound to the VRRP interface, for announcements only (it receives nothing).
pub struct Announcer {
    sock: Socket,
    mac: [u8; 6],
}

impl Announcer {
    /// Binds to `ifname`; needs CAP_NET_RAW.
    pub fn open(ifname: &str) -> Result<Announcer, VrrpError> {
        // Protocol 0: bound for sending, never handed any received frame.
        let sock = Socket::new(Domain::PACKET, Type::RAW, None).map_err(|e| {
            if e.kind() == io::ErrorKind::PermissionDenied {
                VrrpError::Permission(e)
            } else {
                VrrpError::Io(e)
            }
        })?;
        let addrs = nix::ifaddrs::getifaddrs().map_err(io::Error::from)?;
        let link = addrs
            .filter(|a| a.interface_name == ifname)
            .find_map(|a| a.address.and_then(|s| s.as_link_addr().copied()))
            .ok_or_else(|| VrrpError::Interface(ifname.into(), "no link-layer address".into()))?;
        nix::sys::socket::bind(sock.as_raw_fd(), &link).map_err(io::Error::from)?;
        let mac = link.addr().unwrap_or_default();
        Ok(Announcer { sock, mac })
    }

    /// Announces `vip` once (gratuitous ARP or unsolicited NA).
    pub fn announce(&self, vip: IpAddr) -> io::Result<()> {
        let frame = match vip {
            IpAddr::V4(a) => garp_frame(self.mac, a),
            IpAddr::V6(a) => na_frame(self.mac, a),
        };
        self.sock.send(&frame).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: [u8; 6] = [0x96, 0x65, 0x03, 0x2b, 0x0f, 0x65];

    #[test]
    fn garp_is_a_broadcast_request_with_sender_equal_target() {
        let f = garp_frame(MAC, Ipv4Addr::new(10, 213, 0, 200));
        assert_eq!(f.len(), 42);
        assert_eq!(&f[0..6], &BROADCAST);
        assert_eq!(&f[6..12], &MAC);
        assert_eq!(&f[12..14], &[0x08, 0x06]);
        // htype 1, ptype 0x0800, hlen 6, plen 4, op 1 (request)
        assert_eq!(&f[14..22], &[0, 1, 8, 0, 6, 4, 0, 1]);
        assert_eq!(&f[22..28], &MAC);
        assert_eq!(&f[28..32], &[10, 213, 0, 200]);
        assert_eq!(&f[38..42], &[10, 213, 0, 200]);
    }

    #[test]
    fn na_targets_the_vip_with_override() {
        let vip: Ipv6Addr = "fd00::200".parse().unwrap();
        let f = na_frame(MAC, vip);
        assert_eq!(f.len(), 14 + 40 + 8 + 16 + 8);
        assert_eq!(&f[0..6], &ALL_NODES_MAC);
        assert_eq!(&f[12..14], &[0x86, 0xdd]);
        assert_eq!(f[14 + 7], 255, "hop limit");
        let icmp = &f[54..];
        assert_eq!(icmp[0], 136);
        assert_eq!(icmp[4] & 0x20, 0x20, "override flag");
        assert_eq!(&icmp[8..24], &vip.octets());
        assert_eq!(&icmp[24..32], &[2, 1, 0x96, 0x65, 0x03, 0x2b, 0x0f, 0x65]);
    }
}
