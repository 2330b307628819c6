//! A backend group of a `[[tcp]]` listener: its servers, their health and admin state.
//!
//! Health (`up`) has one writer, the group's check task; admin state has one writer, the admin
//! API. Sessions only read, lock-free.

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use prometheus::IntGauge;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::admin::metrics::metrics;
use crate::config::ServerSpec;

/// Operator-set state of a server (`POST /api/v1/servers/{group}/{addr}/state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AdminState {
    /// Normal service.
    Ready = 0,
    /// No new sessions; open ones continue.
    Drain = 1,
    /// No new sessions and open ones are closed.
    Maint = 2,
}

impl AdminState {
    fn from_u8(v: u8) -> AdminState {
        match v {
            1 => AdminState::Drain,
            2 => AdminState::Maint,
            _ => AdminState::Ready,
        }
    }

    /// Parses the API's `ready|drain|maint`.
    pub fn parse(s: &str) -> Option<AdminState> {
        match s {
            "ready" => Some(AdminState::Ready),
            "drain" => Some(AdminState::Drain),
            "maint" => Some(AdminState::Maint),
            _ => None,
        }
    }
}

/// One backend server and its live state.
pub struct Server {
    pub spec: ServerSpec,
    up: AtomicBool,
    admin: AtomicU8,
    /// Proxied sessions open to this server now.
    pub active: AtomicUsize,
    last_error: Mutex<Option<String>>,
    /// Cancelled to close this server's sessions (maint, or marked down with shutdown_sessions_on_down).
    kick: Mutex<CancellationToken>,
    up_gauge: IntGauge,
    conn_gauge: IntGauge,
}

impl Server {
    /// A server starts up: HAProxy also assumes a server is up until its first checks fail.
    pub fn new(group: &str, spec: ServerSpec) -> Server {
        let m = metrics();
        let up_gauge = m.backend_up.with_label_values(&[group, &spec.name]);
        up_gauge.set(1);
        Server {
            conn_gauge: m
                .backend_connections_active
                .with_label_values(&[group, &spec.name]),
            up_gauge,
            spec,
            up: AtomicBool::new(true),
            admin: AtomicU8::new(AdminState::Ready as u8),
            active: AtomicUsize::new(0),
            last_error: Mutex::new(None),
            kick: Mutex::new(CancellationToken::new()),
        }
    }

    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    pub fn admin(&self) -> AdminState {
        AdminState::from_u8(self.admin.load(Ordering::Relaxed))
    }

    /// Up and not drained or in maintenance: may take new sessions.
    pub fn usable(&self) -> bool {
        self.is_up() && self.admin() == AdminState::Ready
    }

    /// Called by the check task only.
    pub fn set_health(&self, up: bool, error: Option<String>) {
        let was = self.up.swap(up, Ordering::Relaxed);
        self.up_gauge.set(up as i64);
        if let Ok(mut e) = self.last_error.lock() {
            *e = error;
        }
        if was != up {
            tracing::info!(server = %self.spec.name, addr = %self.spec.addr, up, "health changed");
        }
    }

    /// Called by the admin API only.
    pub fn set_admin(&self, state: AdminState) {
        self.admin.store(state as u8, Ordering::Relaxed);
        if state == AdminState::Maint {
            self.kick_sessions();
        }
    }

    /// Closes every open session to this server.
    pub fn kick_sessions(&self) {
        if let Ok(mut k) = self.kick.lock() {
            k.cancel();
            *k = CancellationToken::new();
        }
    }

    /// Token a new session watches; cancelled by [`Server::kick_sessions`].
    pub fn session_token(&self) -> CancellationToken {
        self.kick.lock().map(|k| k.clone()).unwrap_or_default()
    }

    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().ok().and_then(|e| e.clone())
    }

    /// Marks a session open; the returned guard marks it closed.
    pub fn open_session(self: &Arc<Self>) -> ActiveGuard {
        self.active.fetch_add(1, Ordering::Relaxed);
        self.conn_gauge.inc();
        ActiveGuard(self.clone())
    }

    /// Carries health and admin state over from the same server of a previous config.
    pub fn inherit(&self, old: &Server) {
        self.up.store(old.is_up(), Ordering::Relaxed);
        self.up_gauge.set(old.is_up() as i64);
        self.admin.store(old.admin() as u8, Ordering::Relaxed);
    }
}

/// Decrements a server's active count on drop.
pub struct ActiveGuard(Arc<Server>);

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::Relaxed);
        self.0.conn_gauge.dec();
    }
}

/// The servers of one group, immutable once built (a reload builds a new one).
pub struct Group {
    pub name: String,
    pub servers: Vec<Arc<Server>>,
    /// Round-robin cursor.
    pub cursor: AtomicUsize,
}

impl Group {
    /// Builds a group, inheriting state from `previous` for servers with the same address.
    pub fn new(name: &str, specs: &[ServerSpec], previous: Option<&Group>) -> Group {
        let servers = specs
            .iter()
            .map(|s| {
                let server = Server::new(name, s.clone());
                if let Some(old) = previous.and_then(|p| p.find(&s.addr)) {
                    server.inherit(old);
                }
                Arc::new(server)
            })
            .collect();
        Group {
            name: name.to_string(),
            servers,
            cursor: AtomicUsize::new(0),
        }
    }

    /// A server by address or name.
    pub fn find(&self, key: &str) -> Option<&Arc<Server>> {
        self.servers
            .iter()
            .find(|s| s.spec.addr == key || s.spec.name == key)
    }

    /// JSON view for `GET /api/v1/servers`.
    pub fn status(&self) -> Vec<ServerStatus> {
        self.servers
            .iter()
            .map(|s| ServerStatus {
                name: s.spec.name.clone(),
                address: s.spec.addr.clone(),
                state: match (s.admin(), s.is_up()) {
                    (AdminState::Maint, _) => "maint",
                    (AdminState::Drain, _) => "drain",
                    (AdminState::Ready, true) => "up",
                    (AdminState::Ready, false) => "down",
                },
                role: if s.spec.backup { "backup" } else { "active" },
                backup: s.spec.backup,
                active_connections: s.active.load(Ordering::Relaxed),
                last_error: s.last_error(),
            })
            .collect()
    }
}

/// One server in `GET /api/v1/servers`.
#[derive(Debug, Clone, Serialize)]
pub struct ServerStatus {
    pub name: String,
    pub address: String,
    pub state: &'static str,
    pub role: &'static str,
    pub backup: bool,
    pub active_connections: usize,
    pub last_error: Option<String>,
}
