//! Redis master via Sentinel: a RESP client for sentinels and nodes, the majority rule that
//! decides the master, the monitor task and the L4 listener that relays to the verified master.
//!
//! - [`resp`], [`reply`]: RESP2 framing (via `redis-protocol`) and typed replies.
//! - [`agree`]: the pure decision (majority of the configured sentinels, `ROLE` verification,
//!   fencing of an old master during a failover).
//! - [`sentinel`], [`subscribe`]: polling (the truth) and pub/sub events (hints).
//! - [`proxy`]: the listener; sessions bound to a master close as soon as it stops being the one.
//!
//! The sentinels are the configured ones: there is no discovery through `SENTINEL sentinels`,
//! because the majority is counted over the configured set and a discovered sentinel must not be
//! able to add a vote.

pub mod agree;
pub mod client;
pub mod proxy;
pub mod reply;
pub mod resp;
pub mod sentinel;
pub mod subscribe;

pub use proxy::serve;

/// What one `[[redis]]` listener knows now (admin API).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RedisStatus {
    /// The verified master new sessions go to; `None` while clients are held.
    pub master: Option<String>,
    /// Why (majority, kept without majority, failover in progress, ...).
    pub reason: String,
    /// Sentinels that must agree before a switch.
    pub quorum: usize,
    /// Master changes followed since start.
    pub master_changes: u64,
    /// Every configured sentinel, in configuration order.
    pub sentinels: Vec<SentinelView>,
    /// Nodes checked with `ROLE` in the last round.
    pub nodes: Vec<NodeView>,
}

/// One sentinel as seen in the last round.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct SentinelView {
    /// `host:port` from the config.
    pub addr: String,
    /// Answered the last query.
    pub reachable: bool,
    /// The master it reported (`None` if unreachable or the name is unknown to it).
    pub master: Option<String>,
    /// Why the last query failed.
    pub last_error: Option<String>,
}

/// One Redis node checked with `ROLE`.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct NodeView {
    /// `host:port`.
    pub addr: String,
    /// `master`, `replica`, `other` or `down`.
    pub role: String,
    /// Why the check failed or the role is unusable.
    pub last_error: Option<String>,
}
