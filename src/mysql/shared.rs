//! What every session of one `[[mysql]]` listener shares: its config, the cluster snapshot,
//! the accounts, server load, shared connections, metrics and the session registry; and opening server
//! connections as that listener (to the master, waiting for one; to a named server).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use prometheus::{Histogram, IntCounter};
use tokio::sync::watch;
use tokio::time::{Instant, timeout_at};

use super::backend::{Backend, BackendError};
use super::conn::Conn;
use super::frontend::greeting_template;
use super::packets::Handshake;
use super::pool::{Pool, Slot};
use super::router::ServerLoad;
use super::sessions::Registry;
use super::users::UserStore;
use crate::admin::metrics::metrics;
use crate::config::{Mysql, ProxyVersion};
use crate::health::galera::{ClusterSnapshot, ServerSnapshot};
use crate::net::listener::ListenerCtx;

/// Per-route statement metrics.
pub struct RouteMetrics {
    pub queries: IntCounter,
    pub duration: Histogram,
}

impl RouteMetrics {
    pub fn new(listener: &str, route: &str) -> RouteMetrics {
        let m = metrics();
        RouteMetrics {
            queries: m.mysql_queries_total.with_label_values(&[listener, route]),
            duration: m
                .mysql_query_duration_seconds
                .with_label_values(&[listener, route]),
        }
    }

    /// Counts one statement that took `elapsed`.
    pub fn observe(&self, elapsed: Duration) {
        self.queries.inc();
        self.duration.observe(elapsed.as_secs_f64());
    }
}

/// What every session of one listener shares.
pub struct Shared {
    pub cfg: Arc<Mysql>,
    pub ctx: ListenerCtx,
    pub cluster: watch::Receiver<Arc<ClusterSnapshot>>,
    pub users: Arc<UserStore>,
    /// Statements running on each server, for reader selection.
    pub load: Arc<ServerLoad>,
    /// Backend connections shared by the sessions (`multiplex`).
    pub pool: Arc<Pool<Conn>>,
    pub to_master: RouteMetrics,
    pub to_reader: RouteMetrics,
    pub to_all: RouteMetrics,
    /// Sessions that moved to another master with their history.
    pub replays: IntCounter,
    /// Transactions replayed on a new master, by result.
    pub trx_replayed: IntCounter,
    pub trx_replay_failed: IntCounter,
    /// Offered to clients (`CLIENT_SSL`) when `tls` is configured.
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    /// The live sessions, by the connection id their clients were given.
    pub sessions: Arc<Registry>,
}

impl Shared {
    /// The PROXY v2 header for a client, when `proxy_protocol` is on.
    pub fn proxy_header(&self, local: Option<SocketAddr>, peer: SocketAddr) -> Option<Vec<u8>> {
        if !self.cfg.proxy_protocol {
            return None;
        }
        let local = local?;
        crate::net::proxy_protocol::encode(ProxyVersion::V2, peer, local)
    }

    /// Opens a connection to the current master (handshake read, not logged in), waiting up to
    /// `connect_timeout` for a master to exist and to answer; a master that refuses is retried
    /// after the next monitor round (it may just have died).
    pub async fn open_master(&self, header: Option<&[u8]>) -> Result<Backend, BackendError> {
        let limit = self.cfg.connect_timeout.0;
        let deadline = Instant::now() + limit;
        let mut rx = self.cluster.clone();
        let mut last = BackendError::Timeout("the master (no master known)".into());
        loop {
            let master = rx.borrow_and_update().master.clone();
            if let Some(addr) = master {
                let left = deadline.saturating_duration_since(Instant::now());
                let open = Backend::open(&addr, header, left.max(Duration::from_millis(1)));
                // A master that does not answer (frozen) is given up as soon as the monitor
                // names another one.
                let moved = async {
                    while rx.changed().await.is_ok() {
                        if rx.borrow_and_update().master.as_deref() != Some(&addr) {
                            return;
                        }
                    }
                    std::future::pending::<()>().await;
                };
                tokio::select! {
                    r = open => match r {
                        Ok(b) => return Ok(b),
                        Err(e) => last = e,
                    },
                    () = moved => {
                        last = BackendError::Timeout(addr);
                        continue;
                    }
                }
            }
            if Instant::now() >= deadline {
                return Err(last);
            }
            // The next monitor round; none before the deadline (or no monitor any more): give up.
            if !matches!(timeout_at(deadline, rx.changed()).await, Ok(Ok(()))) {
                return Err(last);
            }
        }
    }

    /// Opens a connection to the server at `addr` (handshake read, not logged in).
    pub async fn open_server(
        &self,
        addr: &str,
        header: Option<&[u8]>,
    ) -> Result<Backend, BackendError> {
        Backend::open(addr, header, self.cfg.connect_timeout.0).await
    }

    /// What ends a session connection's wait for a reply that cannot come.
    pub fn liveness(&self) -> super::liveness::Liveness {
        super::liveness::Liveness::new(self.cluster.clone(), self.cfg.server_timeout.0)
    }

    /// A connection of this listener over `b`, counted in `slot`: its statements count in its
    /// server's load.
    pub fn conn(&self, b: Backend, slot: Option<Slot>) -> Conn {
        let ops = self.load.counter(&b.addr);
        let mut c = Conn::new(b, Some(ops), self.liveness());
        c.slot = slot;
        c
    }

    /// What the greeting offers: the handshakes the monitor saw (see
    /// [`super::frontend::greeting_template`]); waits up to `connect_timeout` for a first
    /// monitor round. No server is contacted for a client that has not logged in.
    pub async fn greeting_template(&self) -> Option<Handshake> {
        let deadline = Instant::now() + self.cfg.connect_timeout.0;
        let mut rx = self.cluster.clone();
        loop {
            let t = {
                let snap = rx.borrow_and_update();
                fn hs(s: &ServerSnapshot) -> Option<&Handshake> {
                    s.wsrep.as_ref()?.handshake.as_ref()
                }
                let master = snap.master_server().and_then(hs);
                greeting_template(master, snap.servers.iter().filter_map(hs))
            };
            if t.is_some() {
                return t;
            }
            if !matches!(timeout_at(deadline, rx.changed()).await, Ok(Ok(()))) {
                return None;
            }
        }
    }

    /// The cluster's current state.
    pub fn snapshot(&self) -> Arc<ClusterSnapshot> {
        self.cluster.borrow().clone()
    }

    /// Whether the cluster has a master now.
    pub fn has_master(&self) -> bool {
        self.cluster.borrow().master.is_some()
    }

    /// True if `addr` is the current master.
    pub fn is_master(&self, addr: &str) -> bool {
        self.cluster.borrow().master.as_deref() == Some(addr)
    }
}
