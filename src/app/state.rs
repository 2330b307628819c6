//! What the admin plane reads: one snapshot of the running groups, swapped by the app on every
//! (re)load. The app task is its only writer.

use std::collections::BTreeMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use crate::health::group::Group;

/// A live view of a monitored group (a Galera cluster, a Redis listener, the VRRP instance),
/// read from the snapshot its own task publishes.
pub struct StatusSource {
    /// JSON for the admin API.
    pub view: Box<dyn Fn() -> Value + Send + Sync>,
    /// Whether the group currently has a usable master (readiness, VRRP tracking).
    pub has_master: Box<dyn Fn() -> bool + Send + Sync>,
}

/// The running groups, by name.
#[derive(Default, Clone)]
pub struct Snapshot {
    pub tcp: BTreeMap<String, Arc<Group>>,
    pub galera: BTreeMap<String, Arc<StatusSource>>,
    pub redis: BTreeMap<String, Arc<StatusSource>>,
    pub vrrp: Option<Arc<StatusSource>>,
    /// Every listener is bound (set once the first load finished).
    pub listening: bool,
}

/// A reload asked for by the admin API; the reply carries the validation error, if any.
pub type ReloadRequest = oneshot::Sender<Result<(), String>>;

/// Shared between the app task (writer) and the admin plane (reader).
pub struct Shared {
    pub snapshot: ArcSwap<Snapshot>,
    pub reload_tx: mpsc::Sender<ReloadRequest>,
    /// Bearer token for mutating API calls; `None` refuses them all.
    pub token: ArcSwap<Option<String>>,
}

impl Snapshot {
    /// JSON body of `GET /api/v1/servers`.
    pub fn servers_view(&self) -> Value {
        let tcp: serde_json::Map<String, Value> = self
            .tcp
            .iter()
            .map(|(k, g)| {
                (
                    k.clone(),
                    serde_json::to_value(g.status()).unwrap_or(Value::Null),
                )
            })
            .collect();
        let view = |m: &BTreeMap<String, Arc<StatusSource>>| -> serde_json::Map<String, Value> {
            m.iter().map(|(k, s)| (k.clone(), (s.view)())).collect()
        };
        serde_json::json!({ "tcp": tcp, "galera": view(&self.galera), "redis": view(&self.redis) })
    }

    /// `/readyz`: listeners bound, every Galera cluster and Redis listener has a master.
    pub fn ready(&self) -> Result<(), String> {
        if !self.listening {
            return Err("listeners are not bound yet".into());
        }
        for (name, s) in &self.galera {
            if !(s.has_master)() {
                return Err(format!("galera cluster {name:?} has no master"));
            }
        }
        for (name, s) in &self.redis {
            if !(s.has_master)() {
                return Err(format!("redis listener {name:?} has no verified master"));
            }
        }
        Ok(())
    }
}
