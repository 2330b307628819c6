//! Starting the parts that live in their own modules (Redis, Galera, VRRP) and exposing their
//! status to the admin plane.

use std::sync::Arc;

use tokio::net::TcpListener;

use super::state::StatusSource;
use crate::net::listener::ListenerCtx;

/// Starts a `[[redis]]` listener.
pub fn start_redis(
    cfg: &crate::config::Redis,
    socket: Arc<TcpListener>,
    ctx: ListenerCtx,
) -> Arc<StatusSource> {
    let status = Arc::new(arc_swap::ArcSwap::from_pointee(
        crate::redis::RedisStatus::default(),
    ));
    tokio::spawn(crate::redis::serve(
        Arc::new(cfg.clone()),
        socket,
        ctx,
        status.clone(),
    ));
    let view = status.clone();
    Arc::new(StatusSource {
        view: Box::new(move || serde_json::to_value(&**view.load()).unwrap_or_default()),
        has_master: Box::new(move || status.load().master.is_some()),
    })
}

/// A running `[[galera]]` monitor.
pub struct RunningGalera {
    pub cfg: crate::config::Galera,
    pub stop: tokio_util::sync::CancellationToken,
    pub status: Arc<StatusSource>,
    /// The cluster's snapshots, for `[[mysql]]` listeners.
    pub snapshots: GaleraRx,
}

/// Receiver of a Galera cluster's snapshots.
pub type GaleraRx = tokio::sync::watch::Receiver<Arc<crate::health::galera::ClusterSnapshot>>;

/// Starts a `[[mysql]]` listener on the snapshots of its `[[galera]]` cluster.
pub fn start_mysql(
    cfg: &crate::config::Mysql,
    galera: &crate::config::Galera,
    snapshots: GaleraRx,
    socket: Arc<TcpListener>,
    ctx: ListenerCtx,
) {
    tokio::spawn(crate::mysql::proxy::serve(
        Arc::new(cfg.clone()),
        galera.clone(),
        snapshots,
        socket,
        ctx,
    ));
}

/// Starts the monitor of a `[[galera]]` cluster.
pub fn start_galera(cfg: &crate::config::Galera) -> RunningGalera {
    let first = crate::health::galera::ClusterSnapshot {
        name: cfg.name.get_ref().clone(),
        ..Default::default()
    };
    let (tx, rx) = tokio::sync::watch::channel(Arc::new(first));
    let stop = tokio_util::sync::CancellationToken::new();
    tokio::spawn(crate::health::galera::run_monitor(
        cfg.clone(),
        tx,
        stop.clone(),
    ));
    let (view, master) = (rx.clone(), rx.clone());
    RunningGalera {
        cfg: cfg.clone(),
        stop,
        snapshots: rx,
        status: Arc::new(StatusSource {
            view: Box::new(move || serde_json::to_value(&**view.borrow()).unwrap_or_default()),
            has_master: Box::new(move || master.borrow().master.is_some()),
        }),
    }
}
