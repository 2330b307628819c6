//! Adding and removing the VIPs on the interface with rtnetlink (`ip addr add/del`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use netlink_packet_route::address::AddressHeaderFlags;
use rtnetlink::{AddressMessageBuilder, Handle};
use tokio::task::JoinHandle;

use super::VrrpError;

const EEXIST: i32 = 17;
const EPERM: i32 = 1;
const EADDRNOTAVAIL: i32 = 99;
const ENODEV: i32 = 19;

/// A netlink connection that adds and removes one set of VIPs on one interface.
pub struct VipSet {
    handle: Handle,
    conn: JoinHandle<()>,
    ifindex: u32,
    vips: Vec<IpNet>,
}

fn errno(e: &rtnetlink::Error) -> i32 {
    match e {
        rtnetlink::Error::NetlinkError(m) => m.raw_code().abs(),
        _ => 0,
    }
}

fn netlink_error(what: &str, vip: &IpNet, e: rtnetlink::Error) -> VrrpError {
    if errno(&e) == EPERM {
        VrrpError::Permission(std::io::Error::from_raw_os_error(EPERM))
    } else {
        VrrpError::Netlink(format!("{what} {vip}: {e}"))
    }
}

impl VipSet {
    /// Opens a netlink connection (run on the current tokio runtime).
    pub fn new(ifindex: u32, vips: Vec<IpNet>) -> Result<VipSet, VrrpError> {
        let (conn, handle, _) = rtnetlink::new_connection()?;
        Ok(VipSet {
            handle,
            conn: tokio::spawn(conn),
            ifindex,
            vips,
        })
    }

    /// The configured VIPs.
    pub fn vips(&self) -> &[IpNet] {
        &self.vips
    }

    /// Adds every VIP (already present is fine). IPv6 VIPs skip duplicate address detection.
    pub async fn add_all(&self) -> Result<(), VrrpError> {
        for vip in &self.vips {
            let mut req = self
                .handle
                .address()
                .add(self.ifindex, vip.addr(), vip.prefix_len());
            if vip.addr().is_ipv6() {
                req.message_mut().header.flags |= AddressHeaderFlags::Nodad;
            }
            match req.execute().await {
                Ok(()) => {}
                Err(e) if errno(&e) == EEXIST => {}
                Err(e) => return Err(netlink_error("adding", vip, e)),
            }
        }
        Ok(())
    }

    /// Removes every VIP (absent is fine; so is a vanished interface).
    pub async fn remove_all(&self) -> Result<(), VrrpError> {
        for vip in &self.vips {
            let msg = match vip.addr() {
                IpAddr::V4(a) => AddressMessageBuilder::<Ipv4Addr>::new()
                    .index(self.ifindex)
                    .address(a, vip.prefix_len())
                    .build(),
                IpAddr::V6(a) => AddressMessageBuilder::<Ipv6Addr>::new()
                    .index(self.ifindex)
                    .address(a, vip.prefix_len())
                    .build(),
            };
            match self.handle.address().del(msg).execute().await {
                Ok(()) => {}
                Err(e) if matches!(errno(&e), EADDRNOTAVAIL | ENODEV) => {}
                Err(e) => return Err(netlink_error("removing", vip, e)),
            }
        }
        Ok(())
    }
}

impl Drop for VipSet {
    fn drop(&mut self) {
        self.conn.abort();
    }
}
