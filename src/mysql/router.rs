//! Picks the server for a read from the cluster snapshot (no I/O): the serving reader with the
//! fewest statements of this listener running on it right now, as MaxScale's readwritesplit
//! does by default (`slave_selection_criteria = LEAST_CURRENT_OPERATIONS`); ties go round-robin.
//! The master counts as a reader only with `master_accept_reads`; with no reader at all the
//! caller sends the read to the master.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::health::galera::{ClusterSnapshot, Role, ServerSnapshot};

/// Whether `s` may take reads.
pub fn is_reader(s: &ServerSnapshot, master_accept_reads: bool) -> bool {
    match s.role {
        Role::Reader => true,
        Role::Master => master_accept_reads,
        _ => false,
    }
}

/// Whether the server at `addr` may take reads now.
pub fn reader_usable(snap: &ClusterSnapshot, addr: &str, master_accept_reads: bool) -> bool {
    snap.servers
        .iter()
        .any(|s| s.address == addr && is_reader(s, master_accept_reads))
}

/// Whether the server at `addr` is Synced and serving (as master or reader).
pub fn still_synced(snap: &ClusterSnapshot, addr: &str) -> bool {
    snap.servers
        .iter()
        .any(|s| s.address == addr && s.serving() && matches!(s.role, Role::Master | Role::Reader))
}

/// The server a `route to server NAME` hint names (by name or address).
pub fn find_server<'s>(snap: &'s ClusterSnapshot, name: &str) -> Option<&'s ServerSnapshot> {
    snap.servers
        .iter()
        .find(|s| s.name == name || s.address == name)
}

/// Statements of one listener running on each server now.
#[derive(Debug, Default)]
pub struct ServerLoad {
    ops: Mutex<HashMap<String, Arc<AtomicUsize>>>,
    /// Rotates the choice among equally loaded servers.
    turn: AtomicUsize,
}

/// Counts one statement on a server while it lives.
#[derive(Debug)]
pub struct Busy(Arc<AtomicUsize>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl ServerLoad {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<AtomicUsize>>> {
        self.ops.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The counter of `addr` (a connection keeps it, so that counting costs no lookup).
    pub fn counter(&self, addr: &str) -> Arc<AtomicUsize> {
        self.lock().entry(addr.to_string()).or_default().clone()
    }

    /// Statements running on `addr`.
    pub fn ops(&self, addr: &str) -> usize {
        self.lock()
            .get(addr)
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }

    /// The reader with the fewest statements running, not in `exclude`; among equals, the
    /// next one in turn.
    pub fn pick(
        &self,
        snap: &ClusterSnapshot,
        master_accept_reads: bool,
        exclude: &[&str],
    ) -> Option<String> {
        let ops = self.lock();
        let running =
            |s: &ServerSnapshot| ops.get(&s.address).map_or(0, |c| c.load(Ordering::Relaxed));
        let candidates = || {
            snap.servers
                .iter()
                .filter(|s| is_reader(s, master_accept_reads))
                .filter(|s| !exclude.contains(&s.address.as_str()))
        };
        // Each candidate's load is read once, starting from the next one in turn: the first
        // of the least loaded wins, so equals take turns.
        let n = candidates().count();
        let start = self.turn.fetch_add(1, Ordering::Relaxed) % n.max(1);
        let mut best: Option<(&ServerSnapshot, usize)> = None;
        for s in candidates().cycle().skip(start).take(n) {
            let r = running(s);
            if best.is_none_or(|(_, b)| r < b) {
                best = Some((s, r));
            }
        }
        best.map(|(s, _)| s.address.clone())
    }
}

/// Counts a statement on the server of `counter` until the guard is dropped.
pub fn busy(counter: &Arc<AtomicUsize>) -> Busy {
    counter.fetch_add(1, Ordering::Relaxed);
    Busy(counter.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::galera::ServerState;

    fn snap(roles: &[Role]) -> ClusterSnapshot {
        ClusterSnapshot {
            name: "g".into(),
            servers: roles
                .iter()
                .enumerate()
                .map(|(i, r)| ServerSnapshot {
                    name: format!("n{}", i + 1),
                    address: format!("10.0.0.{}:3306", i + 1),
                    state: if matches!(r, Role::Master | Role::Reader) {
                        ServerState::Up
                    } else {
                        ServerState::Down
                    },
                    role: *r,
                    ..ServerSnapshot::default()
                })
                .collect(),
            master: None,
        }
    }

    #[test]
    fn least_current_operations_then_round_robin() {
        let s = snap(&[Role::Master, Role::Reader, Role::Reader]);
        let load = ServerLoad::default();
        let a = load.pick(&s, false, &[]).unwrap();
        let b = load.pick(&s, false, &[]).unwrap();
        assert_ne!(a, b, "equal loads take turns");
        let c2 = load.counter("10.0.0.2:3306");
        let busy2 = busy(&c2);
        assert_eq!(load.ops("10.0.0.2:3306"), 1);
        for _ in 0..4 {
            assert_eq!(load.pick(&s, false, &[]).unwrap(), "10.0.0.3:3306");
        }
        let _b3 = busy(&load.counter("10.0.0.3:3306"));
        let _b3b = busy(&load.counter("10.0.0.3:3306"));
        assert_eq!(load.pick(&s, false, &[]).unwrap(), "10.0.0.2:3306");
        drop(busy2);
        assert_eq!(load.ops("10.0.0.2:3306"), 0);
    }

    #[test]
    fn master_only_with_master_accept_reads() {
        let s = snap(&[Role::Master, Role::Donor, Role::Desynced]);
        let load = ServerLoad::default();
        assert!(load.pick(&s, false, &[]).is_none());
        assert_eq!(load.pick(&s, true, &[]).unwrap(), "10.0.0.1:3306");
        assert!(reader_usable(&s, "10.0.0.1:3306", true));
        assert!(!reader_usable(&s, "10.0.0.1:3306", false));
        assert!(!reader_usable(&s, "10.0.0.2:3306", true));
    }

    #[test]
    fn exclusion_and_lookup() {
        let s = snap(&[Role::Reader, Role::Master, Role::Reader, Role::Down]);
        let load = ServerLoad::default();
        assert_eq!(
            load.pick(&s, false, &["10.0.0.1:3306"]).unwrap(),
            "10.0.0.3:3306"
        );
        assert!(
            load.pick(&s, false, &["10.0.0.1:3306", "10.0.0.3:3306"])
                .is_none()
        );
        assert_eq!(find_server(&s, "n3").unwrap().address, "10.0.0.3:3306");
        assert_eq!(find_server(&s, "10.0.0.4:3306").unwrap().name, "n4");
        assert!(find_server(&s, "n9").is_none());
    }
}
