//! The MySQL protocol: framing, packets, authentication and a backend client.

pub mod auth;
pub mod classify;
pub mod client;
pub mod codec;
pub mod packets;
pub mod resultset;
