//! The Sentinel monitor: polls every sentinel, verifies candidates with `ROLE`, decides with
//! [`Agreement`] and publishes the verified master on a `watch` channel.
//!
//! Polling every `check_interval` is the source of truth. A subscription to `+switch-master`,
//! `+selected-slave`, `+promoted-slave`, `-failover-abort-*`, `+sdown` and `-sdown` on every
//! sentinel is a hint that triggers an immediate poll; while the picture is unsettled (no master,
//! sentinels disagree) polls repeat every [`FAST_POLL`] for a while, so a switch is seen within
//! milliseconds of the majority. `+selected-slave` also fences the old master right away (see
//! [`Agreement::failover_announced`]): its sessions close before the replica is promoted.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use futures_util::future::join_all;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::agree::{Agreement, Decision, Reason, Report, Seen, quorum};
use super::client::Conn;
use super::reply::{self, Hint, Role};
use super::resp::RespError;
use super::{NodeView, RedisStatus, SentinelView};
use crate::admin::metrics::metrics;
use crate::config::Redis;

/// Poll period while a failover is in progress or no master is verified.
pub const FAST_POLL: Duration = Duration::from_millis(25);
/// How long fast polling lasts after a hint or a change.
const FAST_WINDOW: Duration = Duration::from_secs(15);
/// How long an address from a hint keeps being checked with `ROLE`.
const HINT_TTL: Duration = Duration::from_secs(30);
/// How long an announced failover fences the old master without the promotion confirmed.
const ANNOUNCE_TTL: Duration = Duration::from_secs(5);

/// The verified master as sessions see it: `None` while there is none.
pub type MasterRx = watch::Receiver<Option<Arc<str>>>;

/// A connection kept between rounds; dropped on any error and re-opened on demand.
struct Pooled {
    conn: Option<Conn>,
}

impl Pooled {
    /// Runs `args` on the pooled connection, or on a fresh one (retried once if a reused
    /// connection turned out to be stale).
    async fn run(
        &mut self,
        addr: &str,
        password: Option<&str>,
        timeout: Duration,
        args: &[&[u8]],
    ) -> Result<redis_protocol::resp2::types::OwnedFrame, RespError> {
        if let Some(mut c) = self.conn.take() {
            match c.command(args).await {
                Ok(f) => {
                    self.conn = Some(c);
                    return Ok(f);
                }
                Err(RespError::Closed | RespError::Io(_)) => {}
                Err(e @ RespError::Server(_)) => {
                    // An error reply leaves the connection in sync: keep it.
                    self.conn = Some(c);
                    return Err(e);
                }
                Err(e) => return Err(e),
            }
        }
        let mut c = Conn::connect(addr, timeout).await?;
        if let Some(p) = password {
            c.auth(p).await?;
        }
        let r = c.command(args).await;
        if matches!(r, Ok(_) | Err(RespError::Server(_))) {
            self.conn = Some(c);
        }
        r
    }
}

/// Starts the monitor and its subscribers; they stop when `stop` is cancelled.
pub fn spawn(
    cfg: Arc<Redis>,
    listener: Arc<str>,
    status: Arc<ArcSwap<RedisStatus>>,
    stop: CancellationToken,
) -> MasterRx {
    let (tx, rx) = watch::channel(None);
    let (hint_tx, hint_rx) = mpsc::channel(64);
    for addr in cfg.sentinels.get_ref() {
        tokio::spawn(super::subscribe::run(
            cfg.clone(),
            addr.clone(),
            hint_tx.clone(),
            stop.clone(),
        ));
    }
    let monitor = Monitor {
        order: (0..cfg.sentinels.get_ref().len()).collect(),
        sentinels: cfg
            .sentinels
            .get_ref()
            .iter()
            .map(|_| Pooled { conn: None })
            .collect(),
        views: cfg
            .sentinels
            .get_ref()
            .iter()
            .map(|a| SentinelView {
                addr: a.clone(),
                ..SentinelView::default()
            })
            .collect(),
        nodes: HashMap::new(),
        agreement: Agreement::default(),
        hinted: Vec::new(),
        changes: 0,
        last_master: None,
        cfg,
        listener,
        status,
        tx,
    };
    tokio::spawn(monitor.run(hint_rx, stop));
    rx
}

struct Monitor {
    cfg: Arc<Redis>,
    listener: Arc<str>,
    status: Arc<ArcSwap<RedisStatus>>,
    tx: watch::Sender<Option<Arc<str>>>,
    /// Query order: the sentinel that answered first last time goes first.
    order: Vec<usize>,
    sentinels: Vec<Pooled>,
    views: Vec<SentinelView>,
    nodes: HashMap<String, Pooled>,
    agreement: Agreement,
    hinted: Vec<(String, Instant)>,
    /// Master changes followed (status).
    changes: u64,
    /// The last master published (holds in between do not count as changes).
    last_master: Option<String>,
}

impl Monitor {
    async fn run(mut self, mut hints: mpsc::Receiver<Hint>, stop: CancellationToken) {
        let mut fast_until = Instant::now() + FAST_WINDOW;
        loop {
            let settled = self.round().await;
            let now = Instant::now();
            let wait = if !settled && now < fast_until {
                FAST_POLL.min(self.cfg.check_interval.0)
            } else {
                self.cfg.check_interval.0
            };
            let hint = tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(wait) => None,
                h = hints.recv() => h,
            };
            if let Some(h) = hint {
                fast_until = Instant::now() + FAST_WINDOW;
                self.note_hint(h);
                while let Ok(h) = hints.try_recv() {
                    self.note_hint(h);
                }
            }
            if !settled && self.views.iter().all(|v| !v.reachable) {
                // Every sentinel down: do not spin faster than the configured period.
                fast_until = fast_until.min(Instant::now());
            }
        }
    }

    fn note_hint(&mut self, h: Hint) {
        tracing::debug!(listener = %self.listener, hint = ?h, "sentinel event");
        let addr = match h {
            Hint::SwitchMaster(a) | Hint::Promoted(a) => a,
            Hint::FailoverStarted { master, replica } => {
                self.agreement
                    .failover_announced(&master, &replica, Instant::now() + ANNOUNCE_TTL);
                let current = self.tx.borrow().clone();
                if current.as_deref() == Some(master.as_str()) {
                    // Close the old master's sessions now, before the promotion; the next
                    // round confirms.
                    let d = Decision {
                        master: None,
                        reason: Reason::TwoMasters {
                            fenced: master,
                            rival: replica.clone(),
                        },
                    };
                    self.publish(&d, current.as_deref());
                }
                replica
            }
            Hint::FailoverAborted => {
                self.agreement.failover_aborted();
                return;
            }
            Hint::Changed => return,
        };
        self.hinted.retain(|(x, _)| *x != addr);
        self.hinted.push((addr, Instant::now() + HINT_TTL));
    }

    /// One poll: sentinels, then `ROLE` checks, then the decision. Returns whether it is settled.
    async fn round(&mut self) -> bool {
        let reports = self.ask_sentinels().await;
        let now = Instant::now();
        self.hinted.retain(|(_, t)| *t > now);
        let hinted: Vec<String> = self.hinted.iter().map(|(a, _)| a.clone()).collect();
        let current = self.tx.borrow().clone();
        let to_check = self
            .agreement
            .to_check(&reports, current.as_deref(), &hinted);
        let roles = self.check_roles(&to_check).await;
        let seen: HashMap<String, Seen> = roles
            .iter()
            .map(|(a, r)| {
                let s = match r {
                    Ok(Role::Master { replicas }) => Seen::Master(replicas.clone()),
                    Ok(_) => Seen::NotMaster,
                    Err(_) => Seen::Unreachable,
                };
                (a.clone(), s)
            })
            .collect();
        let configured = self.views.len();
        let d = self.agreement.decide(
            configured,
            &reports,
            current.as_deref(),
            &seen,
            Instant::now(),
        );
        self.publish(&d, current.as_deref());
        self.update_status(&d, &roles);
        let unanimous = reports.iter().all(|r| match (r, &d.master) {
            (Report::Master(a), Some(m)) => a == m,
            _ => false,
        });
        d.master.is_some() && unanimous && d.reason != Reason::MissedOneCheck
    }

    async fn ask_sentinels(&mut self) -> Vec<Report> {
        let timeout = self.cfg.check_timeout();
        let password = self.cfg.sentinel_password.as_deref();
        let name = self.cfg.master_name.as_bytes();
        let args: [&[u8]; 3] = [b"SENTINEL", b"get-master-addr-by-name", name];
        let mut slots: Vec<Option<&mut Pooled>> = self.sentinels.iter_mut().map(Some).collect();
        let mut queries = Vec::new();
        for &i in &self.order {
            let addr = self.views[i].addr.clone();
            if let Some(p) = slots[i].take() {
                queries.push(async move {
                    let r = p.run(&addr, password, timeout, &args).await;
                    (i, r.and_then(|f| reply::master_addr(&f)))
                });
            }
        }
        let results = join_all(queries).await;
        let mut reports = vec![Report::Unreachable; self.views.len()];
        for (i, r) in results {
            let v = &mut self.views[i];
            match r {
                Ok(m) => {
                    v.reachable = true;
                    v.last_error = None;
                    v.master.clone_from(&m);
                    reports[i] = m.map_or(Report::Unknown, Report::Master);
                }
                Err(e) => {
                    v.reachable = false;
                    v.master = None;
                    v.last_error = Some(e.to_string());
                }
            }
        }
        if let Some(pos) = self.order.iter().position(|&i| self.views[i].reachable) {
            self.order[..=pos].rotate_right(1);
        }
        reports
    }

    async fn check_roles(&mut self, addrs: &[String]) -> Vec<(String, Result<Role, RespError>)> {
        self.nodes.retain(|a, _| addrs.contains(a));
        for a in addrs {
            self.nodes.entry(a.clone()).or_insert(Pooled { conn: None });
        }
        let timeout = self.cfg.check_timeout();
        let password = self.cfg.password.as_deref();
        let checks = self.nodes.iter_mut().map(|(addr, p)| async move {
            let r = p.run(addr, password, timeout, &[b"ROLE"]).await;
            (addr.clone(), r.and_then(|f| reply::role(&f)))
        });
        join_all(checks).await
    }

    fn publish(&mut self, d: &Decision, current: Option<&str>) {
        if d.master.as_deref() == current {
            return;
        }
        match &d.master {
            Some(m) => {
                // A hold that ends on the same master is not a change.
                if self.last_master.as_deref() != Some(m.as_str()) {
                    self.changes += 1;
                    metrics()
                        .redis_master_changes_total
                        .with_label_values(&[&self.listener])
                        .inc();
                    self.last_master = Some(m.clone());
                }
                tracing::warn!(listener = %self.listener, master = %m, previous = ?current,
                    reason = %d.reason, "redis master verified");
            }
            None => tracing::warn!(listener = %self.listener, previous = ?current,
                reason = %d.reason, "no verified redis master; holding new clients"),
        }
        self.tx.send_replace(d.master.as_deref().map(Arc::from));
    }

    fn update_status(&self, d: &Decision, roles: &[(String, Result<Role, RespError>)]) {
        let m = metrics();
        let mut nodes = Vec::new();
        for (addr, r) in roles {
            let (up, role, error) = match r {
                Ok(Role::Master { .. }) => (1, "master", None),
                Ok(Role::Replica { .. }) => (1, "replica", None),
                Ok(Role::Other(o)) => (1, "other", Some(format!("ROLE says {o}"))),
                Err(e) => (0, "down", Some(e.to_string())),
            };
            m.backend_up
                .with_label_values(&[&*self.listener, addr.as_str()])
                .set(up);
            for r in ["master", "replica"] {
                m.backend_role
                    .with_label_values(&[&*self.listener, addr.as_str(), r])
                    .set(i64::from(r == role));
            }
            nodes.push(NodeView {
                addr: addr.clone(),
                role: role.to_string(),
                last_error: error,
            });
        }
        nodes.sort_by(|a, b| a.addr.cmp(&b.addr));
        self.status.store(Arc::new(RedisStatus {
            master: d.master.clone(),
            reason: d.reason.to_string(),
            quorum: quorum(self.views.len()),
            master_changes: self.changes,
            sentinels: self.views.clone(),
            nodes,
        }));
    }
}

#[cfg(test)]
#[path = "sentinel_tests.rs"]
pub(crate) mod tests;
