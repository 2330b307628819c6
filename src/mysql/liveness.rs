//! Ends the wait for a server's reply when the server can no longer give one: the monitor
//! marked it down (a frozen process or an unreachable host answers nothing, and TCP alone may
//! never say so), or it stayed silent for `server_timeout`. HAProxy's `on-marked-down
//! shutdown-sessions` and `timeout server`, for statements in flight.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::backend::BackendError;
use crate::health::galera::{ClusterSnapshot, Role};

/// Watches the cluster for one connection's server.
#[derive(Debug, Clone)]
pub struct Liveness {
    cluster: watch::Receiver<Arc<ClusterSnapshot>>,
    server_timeout: Option<Duration>,
}

/// Whether the server at `addr` can no longer answer: the monitor marks it down, or it left
/// the configuration. Desynced and donor nodes still answer: what runs there finishes.
pub fn marked_down(snap: &ClusterSnapshot, addr: &str) -> bool {
    snap.servers
        .iter()
        .find(|s| s.address == addr)
        .is_none_or(|s| s.role == Role::Down)
}

impl Liveness {
    pub fn new(
        cluster: watch::Receiver<Arc<ClusterSnapshot>>,
        server_timeout: Duration,
    ) -> Liveness {
        Liveness {
            cluster,
            server_timeout: (!server_timeout.is_zero()).then_some(server_timeout),
        }
    }

    /// Resolves when a reply from `addr` can no longer be expected; the error says why.
    /// Cancel-safe: dropped as soon as the server's bytes arrive.
    pub async fn lost(&mut self, addr: &str) -> BackendError {
        let down = async {
            loop {
                // A monitor that is gone (listener reloaded away) ends no wait.
                if self.cluster.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
                if marked_down(&self.cluster.borrow_and_update(), addr) {
                    return BackendError::MarkedDown(addr.to_string());
                }
            }
        };
        match self.server_timeout {
            None => down.await,
            Some(after) => tokio::select! {
                e = down => e,
                () = tokio::time::sleep(after) => BackendError::NoReply {
                    addr: addr.to_string(),
                    after,
                },
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::galera::{ServerSnapshot, ServerState};

    fn snap(role: Role) -> Arc<ClusterSnapshot> {
        Arc::new(ClusterSnapshot {
            name: "g".into(),
            servers: vec![ServerSnapshot {
                name: "n1".into(),
                address: "10.0.0.1:3306".into(),
                state: ServerState::Up,
                role,
                ..ServerSnapshot::default()
            }],
            master: None,
        })
    }

    #[test]
    fn down_means_unreachable_or_gone() {
        assert!(!marked_down(&snap(Role::Master), "10.0.0.1:3306"));
        assert!(!marked_down(&snap(Role::Desynced), "10.0.0.1:3306"));
        assert!(!marked_down(&snap(Role::Donor), "10.0.0.1:3306"));
        assert!(marked_down(&snap(Role::Down), "10.0.0.1:3306"));
        assert!(marked_down(&snap(Role::Reader), "10.0.0.2:3306"));
    }

    #[tokio::test(start_paused = true)]
    async fn ends_on_mark_down_or_silence() {
        let (tx, rx) = watch::channel(snap(Role::Master));
        let mut l = Liveness::new(rx.clone(), Duration::ZERO);
        let addr = "10.0.0.1:3306";
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            tx.send_replace(snap(Role::Reader));
            tokio::time::sleep(Duration::from_secs(1)).await;
            tx.send_replace(snap(Role::Down));
            tokio::time::sleep(Duration::from_secs(60)).await;
        });
        let t0 = tokio::time::Instant::now();
        assert!(matches!(l.lost(addr).await, BackendError::MarkedDown(_)));
        assert_eq!(t0.elapsed(), Duration::from_secs(2));
        let (_keep, rx) = watch::channel(snap(Role::Master));
        let mut t = Liveness::new(rx, Duration::from_millis(500));
        let t0 = tokio::time::Instant::now();
        assert!(matches!(t.lost(addr).await, BackendError::NoReply { .. }));
        assert_eq!(t0.elapsed(), Duration::from_millis(500));
    }
}
