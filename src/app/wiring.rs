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
