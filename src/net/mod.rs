//! Network plumbing shared by every listener kind: accept loop, relay, PROXY protocol.

pub mod listener;
pub mod proxy_protocol;
pub mod relay;
