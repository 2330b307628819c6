//! Closes the shared connections of a `[[mysql]]` listener that sat unused past
//! `pool_idle_timeout` or lead to a server that no longer serves, and publishes the pool's
//! size (`mysql_backend_connections`). Stops (closing every idle connection) with the listener.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::conn::Conn;
use super::pool::Pool;
use crate::admin::metrics::metrics;
use crate::health::galera::ClusterSnapshot;

/// How often the pool is looked over.
const EVERY: Duration = Duration::from_secs(1);

pub async fn run(
    pool: Arc<Pool<Conn>>,
    cluster: watch::Receiver<Arc<ClusterSnapshot>>,
    idle_timeout: Duration,
    listener: Arc<str>,
    stop: CancellationToken,
) {
    let m = metrics();
    let idle = m
        .mysql_backend_connections
        .with_label_values(&[&listener, "idle"]);
    let in_use = m
        .mysql_backend_connections
        .with_label_values(&[&listener, "in_use"]);
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = stop.cancelled() => break,
        }
        let snap = cluster.borrow().clone();
        let gone = pool.reap(|key, c| {
            let serving = snap
                .servers
                .iter()
                .any(|s| s.address == key.addr && s.serving());
            !serving || (!idle_timeout.is_zero() && c.idle_for() >= idle_timeout)
        });
        if !gone.is_empty() {
            tracing::debug!(listener = %listener, closed = gone.len(), "closing unused shared connections");
        }
        for c in gone {
            crate::net::uring::spawn(c.quit());
        }
        let (open, n_idle) = pool.counts();
        idle.set(n_idle as i64);
        in_use.set(open.saturating_sub(n_idle) as i64);
    }
    for c in pool.reap(|_, _| true) {
        crate::net::uring::spawn(c.quit());
    }
    idle.set(0);
    in_use.set(0);
}
