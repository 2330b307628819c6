//! The accept loop shared by every listener kind: connection limit, metrics, drain tracking.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::admin::metrics::metrics;

/// What a listener task needs from the daemon.
#[derive(Clone)]
pub struct ListenerCtx {
    /// The listener's name (the `name` key of its section), used as the metric label.
    pub name: Arc<str>,
    pub max_connections: usize,
    /// Cancelled to stop accepting (reload removed or replaced the listener, or shutdown).
    pub accept_stop: CancellationToken,
    /// Cancelled when open sessions must close (end of the drain period).
    pub shutdown: CancellationToken,
    /// Every session runs on this tracker so a stop can wait for them.
    pub tracker: TaskTracker,
    /// Sessions open now on this listener (shared across reloads of the same listener).
    pub active: Arc<AtomicUsize>,
}

impl ListenerCtx {
    /// Counts a refused or early-closed client connection.
    pub fn reject(&self, reason: &str) {
        metrics()
            .listener_rejected_total
            .with_label_values(&[&self.name, reason])
            .inc();
    }
}

/// Decrements the active-session count and gauge when a session ends.
pub struct SessionGuard {
    ctx: ListenerCtx,
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        self.ctx.active.fetch_sub(1, Ordering::Relaxed);
        metrics()
            .listener_active_connections
            .with_label_values(&[&self.ctx.name])
            .dec();
    }
}

/// Where a listener's sessions run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunOn {
    /// The async runtime (L4 sessions: they hand their sockets to the relay after connecting).
    Runtime,
    /// The `io_uring` thread when the engine is installed, else the runtime (MySQL sessions).
    Ring,
}

/// Accepts until `ctx.accept_stop` is cancelled, running `handler` for each client on the tracker.
///
/// Connections beyond `max_connections` are closed at once and counted as
/// `listener_rejected_total{reason="max_connections"}`; accept errors such as EMFILE back off
/// briefly instead of spinning.
pub async fn serve<F, Fut>(listener: Arc<TcpListener>, ctx: ListenerCtx, on: RunOn, handler: F)
where
    F: Fn(TcpStream, SocketAddr) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let m = metrics();
    let accepted = m.listener_connections_total.with_label_values(&[&ctx.name]);
    let active_gauge = m
        .listener_active_connections
        .with_label_values(&[&ctx.name]);
    loop {
        let (stream, peer) = tokio::select! {
            biased;
            _ = ctx.accept_stop.cancelled() => return,
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(listener = %ctx.name, error = %e, "accept failed; backing off");
                    ctx.reject("accept_error");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        accepted.inc();
        if ctx.active.load(Ordering::Relaxed) >= ctx.max_connections {
            ctx.reject("max_connections");
            tracing::debug!(listener = %ctx.name, %peer, "max_connections reached, closing");
            drop(stream);
            continue;
        }
        let _ = stream.set_nodelay(true);
        ctx.active.fetch_add(1, Ordering::Relaxed);
        active_gauge.inc();
        let guard = SessionGuard { ctx: ctx.clone() };
        let fut = handler(stream, peer);
        let shutdown = ctx.shutdown.clone();
        let session = ctx.tracker.track_future(async move {
            let _guard = guard;
            tokio::select! {
                _ = fut => {}
                _ = shutdown.cancelled() => {}
            }
        });
        match on {
            RunOn::Runtime => drop(tokio::spawn(session)),
            RunOn::Ring => crate::net::uring::spawn(session),
        }
    }
}
