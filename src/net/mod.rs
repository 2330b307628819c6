//! Network plumbing shared by every listener kind: accept loop, relay, PROXY protocol, L4 proxy.

pub mod deadline;
pub mod listener;
pub mod proxy_protocol;
pub mod relay;
pub mod sockopt;
pub mod tcp;
pub mod uring;
