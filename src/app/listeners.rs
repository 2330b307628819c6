//! Building and swapping the running listeners: parse → validate → build → swap.
//!
//! Building binds every new socket first, so a failure (address in use, permission) changes
//! nothing. Swapping stops accepting on removed or changed listeners (their open sessions run
//! on until they end or the process stops) and starts the new ones.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{Config, Tcp};
use crate::health::group::Group;
use crate::health::monitor::{self, CheckPlan};
use crate::net::listener::ListenerCtx;

/// The section a listener was built from.
#[derive(Clone, PartialEq)]
pub enum ListenerSpec {
    Tcp(Tcp),
    Redis(crate::config::Redis),
    /// A `[[mysql]]` listener with its `[[galera]]` cluster (a changed cluster restarts it).
    Mysql(Box<crate::config::Mysql>, Box<crate::config::Galera>),
}

impl ListenerSpec {
    fn listen(&self) -> &str {
        match self {
            ListenerSpec::Tcp(t) => t.listen.get_ref(),
            ListenerSpec::Redis(r) => r.listen.get_ref(),
            ListenerSpec::Mysql(m, _) => m.listen.get_ref(),
        }
    }
}

/// One running listener.
pub struct Running {
    pub spec: ListenerSpec,
    pub addr: SocketAddr,
    pub socket: Arc<TcpListener>,
    /// Stops accepting and the listener's checks.
    pub stop: CancellationToken,
    pub active: Arc<AtomicUsize>,
    pub group: Option<Arc<Group>>,
    /// Live status for the admin API (Redis listeners).
    pub status: Option<Arc<super::state::StatusSource>>,
}

/// Every listener section of a config, by name.
pub fn specs(cfg: &Config) -> Vec<(String, ListenerSpec)> {
    let mut v: Vec<(String, ListenerSpec)> = cfg
        .tcp
        .iter()
        .map(|t| (t.name.get_ref().clone(), ListenerSpec::Tcp(t.clone())))
        .collect();
    v.extend(
        cfg.redis
            .iter()
            .map(|r| (r.name.get_ref().clone(), ListenerSpec::Redis(r.clone()))),
    );
    for m in &cfg.mysql {
        // Validation guarantees the cluster exists.
        if let Some(g) = cfg
            .galera
            .iter()
            .find(|g| g.name.get_ref() == m.cluster.get_ref())
        {
            v.push((
                m.name.get_ref().clone(),
                ListenerSpec::Mysql(Box::new(m.clone()), Box::new(g.clone())),
            ));
        }
    }
    v
}

/// Binds a listening socket with SO_REUSEADDR and a deep backlog.
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let sock = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    sock.set_reuseaddr(true)?;
    sock.bind(addr)?;
    sock.listen(4096)
}

/// Sockets for the new config: reused from `old` when the address is the same, else bound now.
pub fn bind_all(
    new: &[(String, ListenerSpec)],
    old: &HashMap<String, Running>,
) -> Result<HashMap<String, (SocketAddr, Arc<TcpListener>)>, String> {
    let mut out = HashMap::new();
    for (name, spec) in new {
        let addr: SocketAddr = spec
            .listen()
            .parse()
            .map_err(|_| format!("listener {name:?}: bad address {:?}", spec.listen()))?;
        let socket = match old.values().find(|r| r.addr == addr) {
            Some(r) => r.socket.clone(),
            None => Arc::new(
                bind(addr)
                    .map_err(|e| format!("listener {name:?}: cannot listen on {addr}: {e}"))?,
            ),
        };
        out.insert(name.clone(), (addr, socket));
    }
    Ok(out)
}

/// Common pieces every listener task gets.
pub struct Spawner {
    pub tracker: TaskTracker,
    pub shutdown: CancellationToken,
}

impl Spawner {
    /// Starts the listener `name`, inheriting server state and session counts from `previous`.
    pub fn start(
        &self,
        name: &str,
        spec: ListenerSpec,
        addr: SocketAddr,
        socket: Arc<TcpListener>,
        previous: Option<&Running>,
        galera: &HashMap<String, super::wiring::RunningGalera>,
    ) -> Running {
        let stop = CancellationToken::new();
        let active = previous.map_or_else(|| Arc::new(AtomicUsize::new(0)), |p| p.active.clone());
        let ctx = ListenerCtx {
            name: Arc::from(name),
            max_connections: 0,
            accept_stop: stop.clone(),
            shutdown: self.shutdown.clone(),
            tracker: self.tracker.clone(),
            active: active.clone(),
        };
        let mut group = None;
        let mut status = None;
        match &spec {
            ListenerSpec::Tcp(t) => {
                let g = Arc::new(Group::new(
                    name,
                    t.servers.get_ref(),
                    previous.and_then(|p| p.group.as_deref()),
                ));
                tokio::spawn(monitor::run(
                    g.clone(),
                    CheckPlan::from_tcp(t),
                    stop.clone(),
                ));
                let ctx = ListenerCtx {
                    max_connections: t.max_connections,
                    ..ctx
                };
                tokio::spawn(crate::net::tcp::serve(
                    Arc::new(t.clone()),
                    g.clone(),
                    socket.clone(),
                    ctx,
                ));
                group = Some(g);
            }
            ListenerSpec::Redis(r) => {
                let ctx = ListenerCtx {
                    max_connections: r.max_connections,
                    ..ctx
                };
                status = Some(super::wiring::start_redis(r, socket.clone(), ctx));
            }
            ListenerSpec::Mysql(m, g) => {
                let ctx = ListenerCtx {
                    max_connections: m.max_connections,
                    ..ctx
                };
                match galera.get(g.name.get_ref()) {
                    Some(running) => super::wiring::start_mysql(
                        m,
                        g,
                        running.snapshots.clone(),
                        socket.clone(),
                        ctx,
                    ),
                    None => {
                        tracing::error!(listener = name, "[[mysql]] without its [[galera]] monitor")
                    }
                }
            }
        }
        tracing::info!(listener = name, %addr, "listening");
        Running {
            spec,
            addr,
            socket,
            stop,
            active,
            group,
            status,
        }
    }
}
