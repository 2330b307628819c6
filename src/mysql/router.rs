//! Picks the server for a read from the cluster snapshot (no I/O): the serving reader with the
//! fewest sessions of this listener connected to it, as MaxScale's readwritesplit does with
//! `slave_selection_criteria = LEAST_GLOBAL_CONNECTIONS`. The master counts as a reader only with
//! `master_accept_reads`; with no reader at all the caller sends the read to the master.

use std::collections::HashMap;
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

/// How many sessions of one listener hold a connection to each server.
#[derive(Debug, Default)]
pub struct ReaderLoad {
    counts: Mutex<HashMap<String, usize>>,
}

/// One session's claim on a server; released when dropped.
#[derive(Debug)]
pub struct LoadClaim {
    load: Arc<ReaderLoad>,
    addr: String,
}

impl Drop for LoadClaim {
    fn drop(&mut self) {
        let mut counts = self.load.lock();
        if let Some(n) = counts.get_mut(&self.addr) {
            *n = n.saturating_sub(1);
        }
    }
}

impl ReaderLoad {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, usize>> {
        self.counts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sessions connected to `addr`.
    pub fn count(&self, addr: &str) -> usize {
        self.lock().get(addr).copied().unwrap_or(0)
    }

    /// Picks the least loaded reader not in `exclude` (ties: configuration order) and claims
    /// it, both under one lock so that sessions starting together spread out.
    pub fn pick(
        self: &Arc<Self>,
        snap: &ClusterSnapshot,
        master_accept_reads: bool,
        exclude: &[&str],
    ) -> Option<(String, LoadClaim)> {
        let mut counts = self.lock();
        let best = snap
            .servers
            .iter()
            .filter(|s| is_reader(s, master_accept_reads))
            .filter(|s| !exclude.contains(&s.address.as_str()))
            .min_by_key(|s| counts.get(&s.address).copied().unwrap_or(0))?;
        *counts.entry(best.address.clone()).or_default() += 1;
        let addr = best.address.clone();
        Some((
            addr.clone(),
            LoadClaim {
                load: self.clone(),
                addr,
            },
        ))
    }

    /// Claims `addr` (a hinted server) whatever its load.
    pub fn claim(self: &Arc<Self>, addr: &str) -> LoadClaim {
        *self.lock().entry(addr.to_string()).or_default() += 1;
        LoadClaim {
            load: self.clone(),
            addr: addr.to_string(),
        }
    }
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
    fn least_loaded_reader_and_release() {
        let s = snap(&[Role::Master, Role::Reader, Role::Reader]);
        let load = Arc::new(ReaderLoad::default());
        let (a, ca) = load.pick(&s, false, &[]).unwrap();
        let (b, cb) = load.pick(&s, false, &[]).unwrap();
        assert_eq!(a, "10.0.0.2:3306");
        assert_eq!(b, "10.0.0.3:3306");
        let (c, _cc) = load.pick(&s, false, &[]).unwrap();
        assert_eq!(c, "10.0.0.2:3306");
        drop(cb);
        assert_eq!(load.count("10.0.0.3:3306"), 0);
        let (d, _cd) = load.pick(&s, false, &[]).unwrap();
        assert_eq!(d, "10.0.0.3:3306");
        drop(ca);
        assert_eq!(load.count("10.0.0.2:3306"), 1);
    }

    #[test]
    fn master_only_with_master_accept_reads() {
        let s = snap(&[Role::Master, Role::Donor, Role::Desynced]);
        let load = Arc::new(ReaderLoad::default());
        assert!(load.pick(&s, false, &[]).is_none());
        let (m, _c) = load.pick(&s, true, &[]).unwrap();
        assert_eq!(m, "10.0.0.1:3306");
        assert!(reader_usable(&s, "10.0.0.1:3306", true));
        assert!(!reader_usable(&s, "10.0.0.1:3306", false));
        assert!(!reader_usable(&s, "10.0.0.2:3306", true));
    }

    #[test]
    fn exclusion_and_lookup() {
        let s = snap(&[Role::Reader, Role::Master, Role::Reader, Role::Down]);
        let load = Arc::new(ReaderLoad::default());
        let (a, _c) = load.pick(&s, false, &["10.0.0.1:3306"]).unwrap();
        assert_eq!(a, "10.0.0.3:3306");
        assert!(
            load.pick(&s, false, &["10.0.0.1:3306", "10.0.0.3:3306"])
                .is_none()
        );
        assert_eq!(find_server(&s, "n3").unwrap().address, "10.0.0.3:3306");
        assert_eq!(find_server(&s, "10.0.0.4:3306").unwrap().name, "n4");
        assert!(find_server(&s, "n9").is_none());
        let _claim = load.claim("10.0.0.4:3306");
        assert_eq!(load.count("10.0.0.4:3306"), 1);
    }
}
