//! The MySQL protocol: framing, packets, authentication and a backend client.

pub mod auth;
pub mod backend;
pub mod classify;
pub mod client;
pub mod codec;
pub mod conn;
pub mod frontend;
pub mod liveness;
pub mod packets;
pub mod pool;
pub mod proxy;
pub mod reaper;
pub mod reply;
pub mod resultset;
pub mod router;
pub mod session;
pub mod sessions;
pub mod shared;
pub mod tls;
pub mod users;
