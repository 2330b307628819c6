//! datagate: one daemon for a datanode's MySQL (Galera) read/write split, Redis master via
//! Sentinel, generic L4 balancing, health checks, VRRP virtual IP and admin plane.
// The one exception is the io_uring ring (`net::uring::ring`): the kernel reads and writes
// buffers the submissions point to, which the compiler cannot check.
#![deny(unsafe_code)]

pub mod admin;
pub mod app;
pub mod config;
pub mod health;
pub mod import;
pub mod mysql;
pub mod net;
pub mod redis;
pub mod vrrp;
