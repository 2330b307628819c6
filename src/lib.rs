//! datagate: one daemon for a datanode's MySQL (Galera) read/write split, Redis master via
//! Sentinel, generic L4 balancing, health checks, VRRP virtual IP and admin plane.
#![forbid(unsafe_code)]

pub mod admin;
pub mod app;
pub mod config;
pub mod health;
pub mod import;
pub mod mysql;
pub mod net;
pub mod redis;
pub mod vrrp;
