//! The Galera monitor task (the only writer of a cluster's snapshot) and the one-shot
//! `mysql` / `galera` checks of `[[tcp]]` groups.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::{ClusterSnapshot, GaleraNodeState, Role, evaluate};
use crate::admin::metrics::metrics;
use crate::config::Galera;
use crate::mysql::client::{ClientError, ConnectOptions, Connection, Password};

/// One round trip reading everything [`GaleraNodeState`] needs. Reading
/// `information_schema.GLOBAL_STATUS` and system variables is allowed on a node that is not
/// ready, so a non-Primary node still says why.
pub const STATE_QUERY: &str = "SELECT VARIABLE_NAME, VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS \
WHERE VARIABLE_NAME IN ('WSREP_CLUSTER_STATUS', 'WSREP_READY', 'WSREP_LOCAL_STATE', \
'WSREP_LOCAL_STATE_COMMENT', 'WSREP_LOCAL_INDEX', 'WSREP_CLUSTER_STATE_UUID', 'WSREP_CLUSTER_SIZE') \
UNION ALL SELECT 'READ_ONLY', @@read_only \
UNION ALL SELECT 'WSREP_DESYNC', @@wsrep_desync \
UNION ALL SELECT 'WSREP_REJECT_QUERIES', @@wsrep_reject_queries \
UNION ALL SELECT 'VERSION', @@version \
UNION ALL SELECT 'START_TIME', UNIX_TIMESTAMP() - VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS \
WHERE VARIABLE_NAME = 'UPTIME'";

/// Why a node's state could not be read.
#[derive(Debug, thiserror::Error)]
pub enum GaleraError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("timed out")]
    Timeout,
    /// The server has no `wsrep_cluster_status` (not a Galera node).
    #[error("not a Galera node (no wsrep_cluster_status)")]
    NotGalera,
    #[error("{name} has an unexpected value {value:?}")]
    BadValue { name: String, value: String },
}

async fn read_state(conn: &mut Connection) -> Result<GaleraNodeState, GaleraError> {
    GaleraNodeState::from_rows(&conn.query(STATE_QUERY).await?)
}

/// Connects to `addr` as `user`, reads its Galera state and disconnects, within `timeout`.
pub async fn check_galera_node(
    addr: &str,
    user: &str,
    password: &str,
    timeout: Duration,
) -> Result<GaleraNodeState, GaleraError> {
    let work = async {
        let mut conn = Connection::connect(&options(addr, user, password, timeout)).await?;
        let state = read_state(&mut conn).await;
        conn.quit().await;
        state
    };
    tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| GaleraError::Timeout)?
}

/// `check = "mysql"`: the server sends a handshake (not an ERR such as "too many connections"),
/// and with credentials the login succeeds.
pub async fn check_mysql(
    addr: &str,
    credentials: Option<(&str, &str)>,
    timeout: Duration,
) -> Result<(), ClientError> {
    let work = async {
        let mut conn = Connection::open(addr, None).await?;
        if let Some((user, password)) = credentials {
            conn.login(user, &Password::Cleartext(password.to_string()), None)
                .await?;
            conn.quit().await;
        }
        Ok(())
    };
    tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| ClientError::Timeout)?
}

fn options(addr: &str, user: &str, password: &str, timeout: Duration) -> ConnectOptions {
    ConnectOptions {
        addr: addr.to_string(),
        user: user.to_string(),
        password: Password::Cleartext(password.to_string()),
        database: None,
        connect_timeout: timeout,
        proxy_header: None,
    }
}

/// How long one node's poll may take before the node counts as down: `check_timeout`, else
/// the smallest of `interval`, `connect_timeout` and 1s.
pub fn check_timeout(cfg: &Galera) -> Duration {
    let t = match cfg.check_timeout {
        Some(t) => t.0,
        None => cfg
            .interval
            .0
            .min(cfg.connect_timeout.0)
            .min(Duration::from_secs(1)),
    };
    t.max(Duration::from_millis(10))
}

/// Polls one node on its kept connection (opened on first use, dropped on any failure other
/// than a server error, so the next round reconnects).
async fn poll(
    slot: &mut Option<Connection>,
    opts: &ConnectOptions,
    timeout: Duration,
) -> Result<GaleraNodeState, String> {
    let work = async {
        let conn = match slot {
            Some(c) => c,
            None => slot.insert(Connection::connect(opts).await?),
        };
        let mut state = read_state(conn).await?;
        state.handshake = Some(conn.handshake().clone());
        Ok(state)
    };
    let r = tokio::time::timeout(timeout, work)
        .await
        .unwrap_or(Err(GaleraError::Timeout));
    if matches!(&r, Err(e) if !matches!(e, GaleraError::Client(ClientError::Server(_)))) {
        *slot = None;
    }
    r.map_err(|e| e.to_string())
}

/// Polls every server of `cfg` each `interval` (concurrently, each within
/// min(`interval`, `connect_timeout`)), publishes one [`ClusterSnapshot`] per round on `tx` and
/// keeps the metrics; returns when `shutdown` is cancelled.
pub async fn run_monitor(
    cfg: Galera,
    tx: watch::Sender<Arc<ClusterSnapshot>>,
    shutdown: CancellationToken,
) {
    let cluster = cfg.name.get_ref().clone();
    let password = cfg.resolved_password().unwrap_or_else(|e| {
        tracing::error!(cluster = %cluster, error = %e, "cannot read the monitor password_file");
        String::new()
    });
    let timeout = check_timeout(&cfg);
    let specs = cfg.servers.get_ref().clone();
    let opts: Vec<ConnectOptions> = specs
        .iter()
        .map(|s| options(&s.addr, &cfg.user, &password, timeout))
        .collect();
    let mut conns: Vec<Option<Connection>> = specs.iter().map(|_| None).collect();
    let mut ticker = tokio::time::interval(cfg.interval.0.max(Duration::from_millis(10)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_master: Option<String> = None;
    let m = metrics();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = ticker.tick() => {}
        }
        let round = conns
            .iter_mut()
            .zip(&opts)
            .enumerate()
            .map(|(i, (slot, o))| {
                let (cluster, server) = (&cluster, &specs[i].name);
                async move {
                    let start = Instant::now();
                    let r = poll(slot, o, timeout).await;
                    m.backend_check_duration_seconds
                        .with_label_values(&[cluster.as_str(), server.as_str()])
                        .observe(start.elapsed().as_secs_f64());
                    r
                }
            });
        let results = tokio::select! {
            _ = shutdown.cancelled() => break,
            r = futures_util::future::join_all(round) => r,
        };
        let previous = tx.borrow().clone();
        let snap = evaluate(&results, &previous, &cfg);
        report(&cluster, &previous, &snap, &mut last_master);
        tx.send_replace(Arc::new(snap));
    }
    for c in conns.into_iter().flatten() {
        c.quit().await;
    }
}

/// Metrics and logs for one round.
fn report(
    cluster: &str,
    previous: &ClusterSnapshot,
    snap: &ClusterSnapshot,
    last_master: &mut Option<String>,
) {
    let m = metrics();
    for s in &snap.servers {
        m.backend_up
            .with_label_values(&[cluster, s.name.as_str()])
            .set(i64::from(s.serving()));
        for r in Role::ALL {
            m.backend_role
                .with_label_values(&[cluster, s.name.as_str(), r.as_str()])
                .set(i64::from(r == s.role));
        }
        let before = previous.servers.iter().find(|p| p.address == s.address);
        if before.map(|p| p.role) != Some(s.role) {
            tracing::info!(cluster, server = %s.name, role = s.role.as_str(),
                reason = s.last_error.as_deref().unwrap_or(""), "galera node role");
        }
    }
    match (&snap.master, &previous.master) {
        (Some(new), old) if old.as_ref() != Some(new) => {
            match last_master.as_deref() {
                Some(l) if l != new => {
                    m.mysql_master_changes_total
                        .with_label_values(&[cluster])
                        .inc();
                    tracing::warn!(cluster, master = %new, previous = l, "galera master changed");
                }
                _ => tracing::info!(cluster, master = %new, "galera master"),
            }
            *last_master = Some(new.clone());
        }
        (None, Some(old)) => {
            tracing::error!(cluster, previous = %old, "galera cluster has no master")
        }
        _ => {}
    }
}
