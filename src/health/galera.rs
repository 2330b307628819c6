//! Health of a Galera cluster (DESIGN "Health of a Galera node", the union of MaxScale's
//! galeramon and ProxySQL): what one node reports, and the pure evaluation of a polling round
//! into a [`ClusterSnapshot`] (serving set, roles, master without fail-back).
//!
//! The monitor task and the one-shot checks are in [`monitor`].

use serde::Serialize;

use crate::config::{Galera, MasterSelect};

pub mod monitor;
pub use monitor::{GaleraError, STATE_QUERY, check_galera_node, check_mysql, run_monitor};

/// `wsrep_local_state` of a node that is in sync with the cluster.
pub const SYNCED: u32 = 4;
/// `wsrep_local_state` of a donor (or of a node with `wsrep_desync = ON`).
pub const DONOR: u32 = 2;

/// What one node says about itself, read by [`STATE_QUERY`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct GaleraNodeState {
    /// `wsrep_cluster_status`: `Primary`, `non-Primary` or `Disconnected`.
    pub cluster_status: String,
    pub ready: bool,
    /// `wsrep_local_state`: 1 Joining, 2 Donor/Desynced, 3 Joined, 4 Synced.
    pub local_state: u32,
    pub local_state_comment: String,
    pub desync: bool,
    /// `wsrep_reject_queries`: `NONE`, `ALL` or `ALL_KILL`.
    pub reject_queries: String,
    /// `wsrep_local_index`; `None` outside a primary component (the server reports -1).
    pub local_index: Option<u32>,
    pub cluster_state_uuid: String,
    pub cluster_size: u32,
    pub read_only: bool,
    pub version: String,
    /// When the server started (Unix seconds, `UNIX_TIMESTAMP() - Uptime` computed by the node
    /// in one statement: the same for every reader).
    pub start_time: Option<u64>,
    /// What the node's handshake offers (capabilities, version, charset), for the greeting
    /// datagate sends clients before any backend connection exists.
    #[serde(skip)]
    pub handshake: Option<crate::mysql::packets::Handshake>,
}

fn on(v: &str) -> bool {
    matches!(v.to_ascii_uppercase().as_str(), "ON" | "1" | "TRUE" | "YES")
}

impl GaleraNodeState {
    /// Builds the state from `(name, value)` rows of [`STATE_QUERY`] (names case-insensitive).
    pub fn from_rows(rows: &[Vec<Option<String>>]) -> Result<GaleraNodeState, GaleraError> {
        let mut s = GaleraNodeState::default();
        let mut seen_status = false;
        for row in rows {
            let (Some(Some(name)), Some(value)) = (row.first(), row.get(1)) else {
                continue;
            };
            let v = value.as_deref().unwrap_or("");
            let num = || {
                v.parse::<u64>().map_err(|_| GaleraError::BadValue {
                    name: name.clone(),
                    value: v.to_string(),
                })
            };
            match name.to_ascii_uppercase().as_str() {
                "WSREP_CLUSTER_STATUS" => {
                    seen_status = true;
                    s.cluster_status = v.to_string();
                }
                "WSREP_READY" => s.ready = on(v),
                "WSREP_LOCAL_STATE" => s.local_state = num()?.try_into().unwrap_or(0),
                "WSREP_LOCAL_STATE_COMMENT" => s.local_state_comment = v.to_string(),
                "WSREP_DESYNC" => s.desync = on(v),
                "WSREP_REJECT_QUERIES" => s.reject_queries = v.to_ascii_uppercase(),
                "WSREP_LOCAL_INDEX" => s.local_index = num()?.try_into().ok(),
                "WSREP_CLUSTER_STATE_UUID" => s.cluster_state_uuid = v.to_string(),
                "WSREP_CLUSTER_SIZE" => s.cluster_size = num()?.try_into().unwrap_or(u32::MAX),
                "READ_ONLY" => s.read_only = on(v),
                "VERSION" => s.version = v.to_string(),
                "START_TIME" => s.start_time = v.parse().ok(),
                _ => {}
            }
        }
        if !seen_status {
            return Err(GaleraError::NotGalera);
        }
        Ok(s)
    }

    /// Checks the per-node rules (everything but the cluster-UUID majority); the error is the
    /// first reason the node may not serve.
    pub fn may_serve(&self, available_when_donor: bool) -> Result<(), String> {
        if self.cluster_status != "Primary" {
            return Err(format!("wsrep_cluster_status is {}", self.cluster_status));
        }
        if !self.ready {
            return Err("wsrep_ready is OFF".into());
        }
        if self.desync {
            return Err("wsrep_desync is ON".into());
        }
        match self.local_state {
            SYNCED => {}
            DONOR if available_when_donor => {}
            n => {
                return Err(format!(
                    "wsrep_local_state is {n} ({})",
                    self.local_state_comment
                ));
            }
        }
        if !self.reject_queries.is_empty() && self.reject_queries != "NONE" {
            return Err(format!("wsrep_reject_queries is {}", self.reject_queries));
        }
        Ok(())
    }
}

/// Health as shown by the admin API.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ServerState {
    Up,
    #[default]
    Down,
}

/// Role of a node in the cluster.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Receives writes.
    Master,
    /// Serving, receives reads.
    Reader,
    /// Donating a state transfer (not serving unless `available_when_donor`).
    Donor,
    /// `wsrep_desync = ON`.
    Desynced,
    /// Unreachable or not allowed to serve.
    #[default]
    Down,
}

impl Role {
    /// Every role, for the `backend_role` metric.
    pub const ALL: [Role; 5] = [
        Role::Master,
        Role::Reader,
        Role::Donor,
        Role::Desynced,
        Role::Down,
    ];

    /// The name used in metrics and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Master => "master",
            Role::Reader => "reader",
            Role::Donor => "donor",
            Role::Desynced => "desynced",
            Role::Down => "down",
        }
    }
}

/// One node in a [`ClusterSnapshot`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ServerSnapshot {
    pub name: String,
    pub address: String,
    /// `up` when the node serves (master or reader).
    pub state: ServerState,
    pub role: Role,
    /// Why the node does not serve (unreachable, or the rule it breaks).
    pub last_error: Option<String>,
    /// What the node reported in the last round, if it answered.
    pub wsrep: Option<GaleraNodeState>,
}

impl ServerSnapshot {
    /// True for the master and readers.
    pub fn serving(&self) -> bool {
        self.state == ServerState::Up
    }
}

/// The state of a cluster after one polling round; written by the monitor task only.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ClusterSnapshot {
    pub name: String,
    /// In configuration order.
    pub servers: Vec<ServerSnapshot>,
    /// Address of the master, if any node may take writes.
    pub master: Option<String>,
}

impl ClusterSnapshot {
    /// The master's entry.
    pub fn master_server(&self) -> Option<&ServerSnapshot> {
        self.servers.iter().find(|s| s.role == Role::Master)
    }

    /// Serving nodes (master and readers).
    pub fn serving(&self) -> impl Iterator<Item = &ServerSnapshot> {
        self.servers.iter().filter(|s| s.serving())
    }

    /// Serving nodes other than the master.
    pub fn readers(&self) -> impl Iterator<Item = &ServerSnapshot> {
        self.servers.iter().filter(|s| s.role == Role::Reader)
    }
}

/// The cluster state UUID most candidates agree on; on a tie, the previous master's, else none
/// (two primary components of equal size are a split brain: serve nobody rather than guess).
fn majority_uuid<'a>(
    candidates: &[&'a GaleraNodeState],
    prev_master_uuid: Option<&str>,
) -> Option<&'a str> {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for c in candidates {
        match counts.iter_mut().find(|(u, _)| *u == c.cluster_state_uuid) {
            Some((_, n)) => *n += 1,
            None => counts.push((&c.cluster_state_uuid, 1)),
        }
    }
    let best = counts.iter().map(|(_, n)| *n).max()?;
    let top: Vec<&str> = counts
        .iter()
        .filter(|(_, n)| *n == best)
        .map(|(u, _)| *u)
        .collect();
    match top.as_slice() {
        [one] => Some(one),
        many => many.iter().copied().find(|u| Some(*u) == prev_master_uuid),
    }
}

/// Evaluates one round: `nodes[i]` is what server `cfg.servers[i]` answered (or why it did not).
pub fn evaluate(
    nodes: &[Result<GaleraNodeState, String>],
    previous: &ClusterSnapshot,
    cfg: &Galera,
) -> ClusterSnapshot {
    let specs = cfg.servers.get_ref();
    let donor_ok = cfg.available_when_donor;
    let prev_master_uuid = previous
        .master_server()
        .and_then(|m| m.wsrep.as_ref())
        .map(|w| w.cluster_state_uuid.as_str());
    let candidates: Vec<&GaleraNodeState> = nodes
        .iter()
        .filter_map(|n| n.as_ref().ok())
        .filter(|n| n.may_serve(donor_ok).is_ok())
        .collect();
    let uuid = majority_uuid(&candidates, prev_master_uuid);

    let mut servers: Vec<ServerSnapshot> = specs
        .iter()
        .zip(nodes)
        .map(|(spec, node)| {
            let mut s = ServerSnapshot {
                name: spec.name.clone(),
                address: spec.addr.clone(),
                ..ServerSnapshot::default()
            };
            match node {
                Err(e) => s.last_error = Some(e.clone()),
                Ok(n) => {
                    let verdict = n.may_serve(donor_ok).and_then(|()| match uuid {
                        Some(u) if u == n.cluster_state_uuid => Ok(()),
                        _ => Err(format!(
                            "cluster state UUID {} is not the majority's",
                            n.cluster_state_uuid
                        )),
                    });
                    match verdict {
                        Ok(()) => {
                            s.state = ServerState::Up;
                            s.role = Role::Reader;
                        }
                        Err(e) => {
                            s.role = if n.desync {
                                Role::Desynced
                            } else if n.local_state == DONOR && n.cluster_status == "Primary" {
                                Role::Donor
                            } else {
                                Role::Down
                            };
                            s.last_error = Some(e);
                        }
                    }
                    s.wsrep = Some(n.clone());
                }
            }
            s
        })
        .collect();

    // Master candidates: serving and writable. The rule is a pure function of what the nodes
    // report, so that every datagate instance polling the same cluster names the same master
    // (no instance remembers anything another one does not see):
    // - failback = false: the node that has been running the longest (its start time, which
    //   every instance reads alike); a node that restarts never takes the role back;
    // - failback = true: the lowest wsrep_local_index, MaxScale galeramon's rule.
    // `master = "priority"` puts the highest priority first in both.
    let writable =
        |s: &ServerSnapshot| s.serving() && s.wsrep.as_ref().is_some_and(|w| !w.read_only);
    let rank = |i: usize| {
        let w = servers[i].wsrep.as_ref();
        let index = w.and_then(|w| w.local_index).unwrap_or(u32::MAX);
        let started = match cfg.failback {
            false => w.and_then(|w| w.start_time).unwrap_or(u64::MAX),
            true => 0,
        };
        let prio = match cfg.master {
            MasterSelect::Priority => -i64::from(specs[i].priority),
            MasterSelect::LowestIndex => 0,
        };
        (prio, started, index, i)
    };
    let chosen = (0..servers.len())
        .filter(|i| writable(&servers[*i]))
        .min_by_key(|i| rank(*i));
    let master = chosen.map(|i| {
        servers[i].role = Role::Master;
        servers[i].address.clone()
    });
    ClusterSnapshot {
        name: cfg.name.get_ref().clone(),
        servers,
        master,
    }
}

#[cfg(test)]
mod tests;
