//! The `[[mysql]]` listener: accepts clients, logs them in (see `frontend`) and runs one
//! session per client (see `session`), which splits reads from writes over the Galera cluster.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::pool::Pool;
use super::router::ServerLoad;
use super::sessions::Registry;
use super::shared::{RouteMetrics, Shared};
use super::users::UserStore;
use crate::admin::metrics::metrics;
use crate::config::{Galera, Mysql};
use crate::health::galera::ClusterSnapshot;
use crate::net::listener::{self, ListenerCtx};

/// How often the accounts are reloaded even without failed logins.
const USERS_REFRESH: Duration = Duration::from_secs(60);

/// Runs one `[[mysql]]` listener until `ctx.accept_stop` is cancelled.
pub async fn serve(
    cfg: Arc<Mysql>,
    galera: Galera,
    cluster: watch::Receiver<Arc<ClusterSnapshot>>,
    socket: Arc<TcpListener>,
    ctx: ListenerCtx,
) {
    let tls = match cfg.tls.as_ref().map(super::tls::acceptor) {
        None => None,
        Some(Ok(a)) => Some(a),
        Some(Err(e)) => {
            // Checked when the config was loaded; a file changed since: refuse to serve in clear.
            tracing::error!(listener = %ctx.name, error = %e, "cannot load the TLS certificate; listener not started");
            return;
        }
    };
    let users = Arc::new(UserStore::new(galera, cluster.clone()));
    let refresh_stop = CancellationToken::new();
    tokio::spawn(
        users
            .clone()
            .run_refresh(USERS_REFRESH, refresh_stop.clone()),
    );
    let max = if cfg.multiplex {
        cfg.max_backend_connections
    } else {
        0
    };
    let pool = Arc::new(Pool::new(max));
    tokio::spawn(super::reaper::run(
        pool.clone(),
        cluster.clone(),
        cfg.pool_idle_timeout.0,
        ctx.name.clone(),
        refresh_stop.clone(),
    ));
    let m = metrics();
    let name: &str = &ctx.name;
    let shared = Arc::new(Shared {
        load: Arc::new(ServerLoad::default()),
        pool: pool.clone(),
        to_master: RouteMetrics::new(name, "master"),
        to_reader: RouteMetrics::new(name, "reader"),
        to_all: RouteMetrics::new(name, "all"),
        replays: m.mysql_session_replays_total.with_label_values(&[name]),
        trx_replayed: m
            .mysql_transaction_replays_total
            .with_label_values(&[name, "ok"]),
        trx_replay_failed: m
            .mysql_transaction_replays_total
            .with_label_values(&[name, "failed"]),
        cfg,
        tls,
        sessions: Arc::new(Registry::default()),
        ctx: ctx.clone(),
        cluster,
        users,
    });
    listener::serve(socket, ctx, listener::RunOn::Ring, move |stream, peer| {
        let shared = shared.clone();
        async move { super::session::run(shared, stream, peer).await }
    })
    .await;
    refresh_stop.cancel();
}
