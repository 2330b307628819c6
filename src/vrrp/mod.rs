//! VRRP virtual-IP holder: RFC 9568 (v3) and RFC 3768 (v2), interoperable with keepalived.
//!
//! `packet` and `fsm` are pure; `io`, `garp`, `netlink` talk to the kernel; `task` wires them.

pub mod filter;
pub mod fsm;
pub mod garp;
pub mod io;
pub mod netlink;
pub mod packet;
pub mod script;
mod task;
pub mod track;

use std::sync::Arc;

use arc_swap::ArcSwap;
use serde::Serialize;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// What the admin API shows about the virtual router.
#[derive(Debug, Clone, Serialize, Default, PartialEq, Eq)]
pub struct VrrpStatus {
    /// `init`, `backup`, `master` or `fault`.
    pub state: String,
    /// Configured priority.
    pub priority: u8,
    /// Priority after tracking penalties (what is advertised).
    pub effective_priority: u8,
    /// Address of the current master, when known (ourselves when master).
    pub master: Option<String>,
    pub vips: Vec<String>,
    pub interface: String,
    pub vrid: u8,
    pub version: u8,
    /// State transitions since start.
    pub transitions: u64,
    /// Each `[[vrrp.track_script]]`, in config order.
    pub track_scripts: Vec<TrackScriptStatus>,
}

/// One track script as the admin API shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct TrackScriptStatus {
    pub name: String,
    /// `weight` and `reverse`.
    #[serde(flatten)]
    pub weight: track::Weight,
    /// `init` (no result yet), `ok` or `failing`.
    pub health: track::Health,
}

/// Why VRRP could not run.
#[derive(Debug, thiserror::Error)]
pub enum VrrpError {
    #[error(
        "permission denied: VRRP needs CAP_NET_RAW (raw and packet sockets) and CAP_NET_ADMIN (adding the VIPs): {0}"
    )]
    Permission(std::io::Error),
    #[error("interface {0}: {1}")]
    Interface(String, String),
    #[error("vrrp config: {0}")]
    Config(String),
    #[error("netlink: {0}")]
    Netlink(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Runs VRRP until `shutdown` is cancelled; then sends priority 0 and removes the VIPs.
///
/// `penalty` is the sum of the weights of failing tracked groups; the `track_script`s of the
/// config run inside, and the advertised priority is [`track::tracked`]'s.
pub async fn run(
    cfg: crate::config::Vrrp,
    penalty: watch::Receiver<i32>,
    status: Arc<ArcSwap<VrrpStatus>>,
    shutdown: CancellationToken,
) -> Result<(), VrrpError> {
    task::run(cfg, penalty, status, shutdown).await
}

/// Effective priority: `base + penalty` kept in 1..=254; the owner (255) is never lowered.
pub fn effective_priority(base: u8, penalty: i32) -> u8 {
    if base == fsm::OWNER_PRIORITY {
        return base;
    }
    (i32::from(base) + penalty).clamp(1, 254) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn effective_priority_clamps_and_spares_the_owner() {
        assert_eq!(effective_priority(150, 0), 150);
        assert_eq!(effective_priority(150, -100), 50);
        assert_eq!(effective_priority(150, -500), 1);
        assert_eq!(effective_priority(254, 10), 254);
        assert_eq!(effective_priority(255, -100), 255);
    }
}
