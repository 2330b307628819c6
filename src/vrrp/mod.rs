//! VRRP virtual-IP holder: RFC 9568 (v3) and RFC 3768 (v2), interoperable with keepalived.

pub mod fsm;
pub mod packet;
