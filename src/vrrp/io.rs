//! The VRRP raw socket (IP protocol 112) and what the kernel tells about the interface.
//!
//! IPv4: the IP header is built here (`IP_HDRINCL`) so that TTL 255, TOS and the source the
//! checksum covers are exactly what goes out. IPv6: the source is pinned with `IPV6_PKTINFO`.

use std::io::{self, IoSlice, IoSliceMut};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};
use std::os::fd::AsRawFd;

use etherparse::{IpDscp, IpNumber, Ipv4Header, Ipv4HeaderSlice};
use nix::libc;
use nix::net::if_::InterfaceFlags;
use nix::sys::socket::{
    self, ControlMessage, ControlMessageOwned, MsgFlags, SockaddrIn6, SockaddrStorage, sockopt,
};
use socket2::{Domain, InterfaceIndexOrAddress, Protocol, Socket, Type};
use tokio::io::Interest;
use tokio::net::UdpSocket;

use super::VrrpError;
use super::packet::IPPROTO_VRRP;

/// VRRP's IPv4 multicast group (RFC 9568 §5.1.1.2).
pub const GROUP_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
/// VRRP's IPv6 multicast group (RFC 9568 §5.1.2.2).
pub const GROUP_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);
/// RFC 9568 §5.1.1.3: TTL / Hop Limit MUST be 255, and received packets with another are dropped.
pub const VRRP_TTL: u8 = 255;

/// What the kernel says about the VRRP interface right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkInfo {
    pub index: u32,
    pub mac: [u8; 6],
    /// Administratively up and carrier present.
    pub up: bool,
    /// IPv4 addresses in kernel order (the first is the primary).
    pub v4: Vec<Ipv4Addr>,
    /// IPv6 link-local addresses.
    pub link_local: Vec<Ipv6Addr>,
}

/// Reads the interface `name` (index, MAC, flags, addresses) from `getifaddrs`.
pub fn link_info(name: &str) -> Result<LinkInfo, VrrpError> {
    let addrs = nix::ifaddrs::getifaddrs().map_err(io::Error::from)?;
    let mut info: Option<LinkInfo> = None;
    let (mut v4, mut link_local) = (Vec::new(), Vec::new());
    for a in addrs.filter(|a| a.interface_name == name) {
        let Some(addr) = a.address else { continue };
        if let Some(ll) = addr.as_link_addr() {
            let up = a.flags.contains(InterfaceFlags::IFF_UP)
                && a.flags.contains(InterfaceFlags::IFF_RUNNING);
            info = Some(LinkInfo {
                index: ll.ifindex() as u32,
                mac: ll.addr().unwrap_or_default(),
                up,
                v4: Vec::new(),
                link_local: Vec::new(),
            });
        } else if let Some(s) = addr.as_sockaddr_in() {
            v4.push(s.ip());
        } else if let Some(s) = addr.as_sockaddr_in6()
            && s.ip().is_unicast_link_local()
        {
            link_local.push(s.ip());
        }
    }
    let mut info =
        info.ok_or_else(|| VrrpError::Interface(name.into(), "no such interface".into()))?;
    info.v4 = v4;
    info.link_local = link_local;
    Ok(info)
}

/// One received VRRP message and where it came from.
#[derive(Debug, Clone)]
pub struct Received {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// TTL / hop limit as received (must be 255).
    pub ttl: u8,
    pub payload: Vec<u8>,
}

/// The raw protocol-112 socket of one virtual router.
///
/// Held as a tokio `UdpSocket`, which is only a registered datagram fd (`recv`, `send_to`):
/// the safe way to put a raw socket on the reactor.
pub struct VrrpSocket {
    fd: UdpSocket,
    ifindex: u32,
    src: IpAddr,
}

fn open_raw(domain: Domain) -> Result<Socket, VrrpError> {
    Socket::new(
        domain,
        Type::RAW,
        Some(Protocol::from(i32::from(IPPROTO_VRRP))),
    )
    .map_err(|e| {
        if e.kind() == io::ErrorKind::PermissionDenied {
            VrrpError::Permission(e)
        } else {
            VrrpError::Io(e)
        }
    })
}

impl VrrpSocket {
    /// Opens the socket on interface `ifname`, sending from `src`; joins the group unless unicast.
    pub fn open(ifname: &str, ifindex: u32, src: IpAddr, unicast: bool) -> Result<Self, VrrpError> {
        let sock = match src {
            IpAddr::V4(a) => {
                let s = open_raw(Domain::IPV4)?;
                s.set_header_included_v4(true)?;
                s.set_multicast_loop_v4(false)?;
                s.set_multicast_if_v4(&a)?;
                s.set_multicast_ttl_v4(u32::from(VRRP_TTL))?;
                if !unicast {
                    s.join_multicast_v4_n(&GROUP_V4, &InterfaceIndexOrAddress::Index(ifindex))?;
                }
                s
            }
            IpAddr::V6(_) => {
                let s = open_raw(Domain::IPV6)?;
                s.set_multicast_loop_v6(false)?;
                s.set_multicast_if_v6(ifindex)?;
                s.set_multicast_hops_v6(u32::from(VRRP_TTL))?;
                s.set_unicast_hops_v6(u32::from(VRRP_TTL))?;
                // Internetwork control, as for IPv4.
                s.set_tclass_v6(0xc0)?;
                socket::setsockopt(&s, sockopt::Ipv6RecvHopLimit, &true)
                    .map_err(io::Error::from)?;
                // The destination is part of the checksum's pseudo-header (unicast peers).
                socket::setsockopt(&s, sockopt::Ipv6RecvPacketInfo, &true)
                    .map_err(io::Error::from)?;
                if !unicast {
                    s.join_multicast_v6(&GROUP_V6, ifindex)?;
                }
                s
            }
        };
        sock.bind_device(Some(ifname.as_bytes()))?;
        sock.set_nonblocking(true)?;
        Ok(VrrpSocket {
            fd: UdpSocket::from_std(std::net::UdpSocket::from(sock))?,
            ifindex,
            src,
        })
    }

    /// Our source address (primary IPv4 address or IPv6 link-local).
    pub fn src(&self) -> IpAddr {
        self.src
    }

    /// Sends one VRRP `payload` to `dst`.
    pub fn send(&self, dst: IpAddr, payload: &[u8]) -> io::Result<()> {
        let sock = &self.fd;
        match (self.src, dst) {
            (IpAddr::V4(src), IpAddr::V4(d)) => {
                let mut h = Ipv4Header::new(
                    payload.len() as u16,
                    VRRP_TTL,
                    IpNumber(IPPROTO_VRRP),
                    src.octets(),
                    d.octets(),
                )
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
                // Internetwork control (CS6), as keepalived sends.
                h.dscp = IpDscp::try_new(48).unwrap_or(IpDscp::ZERO);
                let mut buf = Vec::with_capacity(20 + payload.len());
                h.write(&mut buf)?;
                buf.extend_from_slice(payload);
                sock.try_send_to(&buf, SocketAddrV4::new(d, 0).into())?;
            }
            (IpAddr::V6(src), IpAddr::V6(d)) => {
                let info = libc::in6_pktinfo {
                    ipi6_addr: libc::in6_addr {
                        s6_addr: src.octets(),
                    },
                    ipi6_ifindex: self.ifindex,
                };
                let to = SockaddrIn6::from(SocketAddrV6::new(d, 0, 0, self.ifindex));
                let cmsg = [ControlMessage::Ipv6PacketInfo(&info)];
                socket::sendmsg(
                    sock.as_raw_fd(),
                    &[IoSlice::new(payload)],
                    &cmsg,
                    MsgFlags::empty(),
                    Some(&to),
                )?;
            }
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "address family mismatch",
                ));
            }
        }
        Ok(())
    }

    /// Waits for the next VRRP packet.
    pub async fn recv(&self) -> io::Result<Received> {
        loop {
            if let Some(r) = self
                .fd
                .async_io(Interest::READABLE, || {
                    recv_one(&self.fd, self.src.is_ipv6())
                })
                .await?
            {
                return Ok(r);
            }
        }
    }
}

/// Reads one datagram; `None` for one that is not a well-formed IP/VRRP datagram.
fn recv_one(sock: &UdpSocket, v6: bool) -> io::Result<Option<Received>> {
    let mut buf = [0u8; 1500];
    if !v6 {
        let n = sock.try_recv(&mut buf)?;
        return Ok(parse_ipv4(&buf[..n]));
    }
    let mut cmsg = nix::cmsg_space!(libc::c_int, libc::in6_pktinfo);
    let mut iov = [IoSliceMut::new(&mut buf)];
    let msg = socket::recvmsg::<SockaddrStorage>(
        sock.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::empty(),
    )?;
    let (mut ttl, mut dst) = (0u8, GROUP_V6);
    for c in msg.cmsgs()? {
        match c {
            ControlMessageOwned::Ipv6HopLimit(h) => ttl = u8::try_from(h).unwrap_or(0),
            ControlMessageOwned::Ipv6PacketInfo(i) => dst = Ipv6Addr::from(i.ipi6_addr.s6_addr),
            _ => {}
        }
    }
    let Some(src) = msg
        .address
        .as_ref()
        .and_then(|a| a.as_sockaddr_in6())
        .map(|a| a.ip())
    else {
        return Ok(None);
    };
    let n = msg.bytes;
    Ok(Some(Received {
        src: IpAddr::V6(src),
        dst: IpAddr::V6(dst),
        ttl,
        payload: buf[..n].to_vec(),
    }))
}

/// Splits a raw IPv4 datagram into header fields and VRRP payload.
pub fn parse_ipv4(pkt: &[u8]) -> Option<Received> {
    let h = Ipv4HeaderSlice::from_slice(pkt).ok()?;
    if h.protocol() != IpNumber(IPPROTO_VRRP) {
        return None;
    }
    let hl = h.slice().len();
    let total = usize::from(h.total_len()).min(pkt.len());
    Some(Received {
        src: IpAddr::V4(h.source_addr()),
        dst: IpAddr::V4(h.destination_addr()),
        ttl: h.ttl(),
        payload: pkt.get(hl..total)?.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_keepalived_ipv4_datagram() {
        // Captured: 10.214.0.11 > 224.0.0.18, VRRPv3 vrid 51 prio 150.
        let pkt = [
            0x45, 0xc0, 0x00, 0x20, 0x00, 0x01, 0x00, 0x00, 0xff, 0x70, 0xcf, 0xb9, 0x0a, 0xd6,
            0x00, 0x0b, 0xe0, 0x00, 0x00, 0x12, 0x31, 0x33, 0x96, 0x01, 0x00, 0x64, 0x41, 0x59,
            0x0a, 0xd6, 0x00, 0xc8,
        ];
        let r = parse_ipv4(&pkt).unwrap();
        assert_eq!(r.src, IpAddr::V4(Ipv4Addr::new(10, 214, 0, 11)));
        assert_eq!(r.dst, IpAddr::V4(GROUP_V4));
        assert_eq!(r.ttl, 255);
        assert_eq!(r.payload.len(), 12);
        assert!(parse_ipv4(&pkt[..10]).is_none());
    }
}
