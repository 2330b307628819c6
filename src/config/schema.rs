//! The TOML schema: one struct per section, `deny_unknown_fields` everywhere.
//!
//! Only shape and per-field parsing live here; cross-references are checked in `validate.rs`.

use serde::Deserialize;
use serde_spanned::Spanned;
use std::path::PathBuf;

use super::types::{Balance, Check, Dur, ProxyVersion, ServerSpec};

/// The whole configuration file.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub global: Global,
    #[serde(default)]
    pub admin: Admin,
    #[serde(default)]
    pub log: Log,
    #[serde(default)]
    pub galera: Vec<Galera>,
    #[serde(default)]
    pub mysql: Vec<Mysql>,
    #[serde(default)]
    pub redis: Vec<Redis>,
    #[serde(default)]
    pub tcp: Vec<Tcp>,
    pub vrrp: Option<Spanned<Vrrp>>,
}

/// `[global]`: process-wide settings.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Global {
    /// How long a graceful stop waits for open sessions.
    pub shutdown_timeout: Dur,
    /// Data-plane worker threads (0 = one per CPU; 1, the default: one event loop without
    /// cross-thread wakeups, which measured fastest on a node that shares its cores with the
    /// databases, see README "Performance notes").
    pub workers: usize,
    /// Backend sockets: TCP keepalive probes after this much idle time, and a connection whose
    /// sent data stays unacknowledged this long is dropped (`TCP_USER_TIMEOUT`): a host that
    /// lost power is noticed without waiting for the kernel's 15 minutes; 0 = kernel defaults.
    pub backend_tcp_timeout: Dur,
    /// systemd watchdog ping period is derived from `WATCHDOG_USEC`; this is only a floor.
    pub watchdog_floor: Dur,
    /// The data plane's I/O engine: every `[[mysql]]` session's socket I/O and every
    /// `[[tcp]]`/`[[redis]]` relay (read at start only).
    pub relay_engine: RelayEngine,
}

/// `[global] relay_engine`.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum RelayEngine {
    /// `io_uring` when the kernel allows it, else `epoll` (logged at start).
    #[default]
    Auto,
    /// One ring thread for MySQL sessions and for L4 sessions once connected; failing to set
    /// it up is a start error.
    IoUring,
    /// The async runtime's readiness loop.
    Epoll,
}

impl Default for Global {
    fn default() -> Self {
        Global {
            shutdown_timeout: Dur::secs(30),
            workers: 1,
            backend_tcp_timeout: Dur::secs(10),
            watchdog_floor: Dur::millis(500),
            relay_engine: RelayEngine::Auto,
        }
    }
}

/// `[admin]`: the HTTP admin plane.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Admin {
    pub listen: Spanned<String>,
    /// File holding the bearer token for mutating calls.
    pub token_file: Option<PathBuf>,
    /// The token inline (discouraged outside tests and demos).
    pub token: Option<String>,
}

impl Default for Admin {
    fn default() -> Self {
        Admin {
            listen: Spanned::new(0..0, "127.0.0.1:9090".to_string()),
            token_file: None,
            token: None,
        }
    }
}

/// `[log]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Log {
    pub level: String,
    pub format: LogFormat,
}

impl Default for Log {
    fn default() -> Self {
        Log {
            level: "info".into(),
            format: LogFormat::Text,
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// `[[galera]]`: a monitored Galera cluster.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Galera {
    pub name: Spanned<String>,
    pub servers: Spanned<Vec<ServerSpec>>,
    pub user: String,
    pub password: Option<String>,
    pub password_file: Option<PathBuf>,
    #[serde(default = "Dur::one_sec")]
    pub interval: Dur,
    #[serde(default = "Dur::three_secs")]
    pub connect_timeout: Dur,
    /// One node's poll must answer within this, or the node is marked down (a frozen or
    /// unreachable host); default: the smallest of `interval`, `connect_timeout` and 1s.
    pub check_timeout: Option<Dur>,
    #[serde(default)]
    pub available_when_donor: bool,
    #[serde(default)]
    pub master: MasterSelect,
    #[serde(default)]
    pub failback: bool,
}

/// How a Galera cluster's master is chosen among serving nodes.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum MasterSelect {
    #[default]
    LowestIndex,
    Priority,
}

/// `[[mysql]]`: a read/write-splitting MySQL listener.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Mysql {
    pub name: Spanned<String>,
    pub listen: Spanned<String>,
    pub cluster: Spanned<String>,
    #[serde(default)]
    pub master_accept_reads: bool,
    #[serde(default)]
    pub causal_reads: bool,
    #[serde(default)]
    pub master_failure_mode: MasterFailureMode,
    #[serde(default = "yes")]
    pub transaction_replay: bool,
    #[serde(default = "default_history")]
    pub max_session_history: usize,
    #[serde(default = "Dur::three_secs")]
    pub connect_timeout: Dur,
    #[serde(default = "Dur::ten_secs")]
    pub handshake_timeout: Dur,
    pub tls: Option<Tls>,
    #[serde(default)]
    pub proxy_protocol: bool,
    #[serde(default = "default_max_conn")]
    pub max_connections: usize,
    /// Largest client packet accepted, in bytes (MySQL's `max_allowed_packet`).
    #[serde(default = "default_max_packet")]
    pub max_allowed_packet: usize,
    /// Read/write split on (`true`) or every statement to the master (`false`).
    #[serde(default = "yes")]
    pub read_write_split: bool,
    /// A client silent this long between commands is disconnected (HAProxy `timeout client`,
    /// MariaDB `wait_timeout`); 0 = never.
    #[serde(default = "Dur::zero")]
    pub client_timeout: Dur,
    /// A server silent this long while a reply is due counts as lost (HAProxy `timeout
    /// server`); 0 = wait as long as the server works (the monitor still ends waits on a node
    /// it marks down).
    #[serde(default = "Dur::zero")]
    pub server_timeout: Dur,
    /// Bytes of session state kept for replay (history, prepared statement texts, the open
    /// transaction); past it, commands that would add to it are refused.
    #[serde(default = "default_session_memory")]
    pub max_session_memory: usize,
    /// Sessions share backend connections: a session holds one only while it has state that
    /// needs it (a transaction, locks, temporary tables, a cursor) and gives it back otherwise.
    #[serde(default = "yes")]
    pub multiplex: bool,
    /// Connections to each server at most (with `multiplex`; 0 = no cap): sessions wait up to
    /// `connect_timeout` for one to come back at the cap.
    #[serde(default = "default_max_backend")]
    pub max_backend_connections: usize,
    /// A session keeps its connections this long after a command, for the next one (with
    /// `multiplex`; not while other sessions wait for a connection).
    #[serde(default = "default_linger")]
    pub multiplex_linger: Dur,
    /// Shared connections unused this long are closed.
    #[serde(default = "default_pool_idle")]
    pub pool_idle_timeout: Dur,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum MasterFailureMode {
    #[default]
    FailInstantly,
    FailOnWrite,
    ErrorOnWrite,
}

/// TLS material for a client-facing listener.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// `[[redis]]`: the Redis master as decided by Sentinel.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Redis {
    pub name: Spanned<String>,
    pub listen: Spanned<String>,
    pub master_name: String,
    pub sentinels: Spanned<Vec<String>>,
    /// Password of the Redis nodes (for `ROLE` verification).
    pub password: Option<String>,
    /// Password of the sentinels, if they require one.
    pub sentinel_password: Option<String>,
    #[serde(default = "Dur::three_secs")]
    pub connect_timeout: Dur,
    /// Polling period of the sentinels (the source of truth; pub/sub is a hint).
    #[serde(default = "Dur::one_sec")]
    pub check_interval: Dur,
    /// Timeout of one sentinel query or `ROLE` check (default: the smaller of
    /// `check_interval` and 1s).
    pub check_timeout: Option<Dur>,
    #[serde(default = "default_max_conn")]
    pub max_connections: usize,
    /// Close a session whose client sent nothing for this long; 0 = never (subscribers of
    /// pub/sub send nothing for hours).
    #[serde(default = "Dur::zero")]
    pub client_timeout: Dur,
    /// Close a session whose server sent nothing for this long; 0 = never.
    #[serde(default = "Dur::zero")]
    pub server_timeout: Dur,
}

/// `[[tcp]]`: a generic L4 listener.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Tcp {
    pub name: Spanned<String>,
    pub listen: Spanned<String>,
    pub servers: Spanned<Vec<ServerSpec>>,
    #[serde(default)]
    pub balance: Balance,
    #[serde(default = "default_check")]
    pub check: Spanned<Check>,
    #[serde(default = "Dur::two_secs")]
    pub check_interval: Dur,
    /// Per-check timeout (default: the smaller of `check_interval` and 2s).
    pub check_timeout: Option<Dur>,
    /// Login used by `check = "mysql"` and `"galera"`; without it `mysql` checks the handshake only.
    pub check_user: Option<String>,
    pub check_password: Option<String>,
    #[serde(default = "default_rise")]
    pub rise: u32,
    #[serde(default = "default_fall")]
    pub fall: u32,
    #[serde(default)]
    pub send_proxy: ProxyVersion,
    #[serde(default)]
    pub accept_proxy: bool,
    #[serde(default = "Dur::three_secs")]
    pub connect_timeout: Dur,
    /// Extra servers tried when a connect fails (HAProxy `retries` with `redispatch`).
    #[serde(default = "default_retries")]
    pub retries: u32,
    #[serde(default = "default_max_conn")]
    pub max_connections: usize,
    /// Close a server's sessions when its check marks it down (HAProxy `on-marked-down shutdown-sessions`).
    #[serde(default)]
    pub shutdown_sessions_on_down: bool,
    /// Close a session whose client sent nothing for this long (HAProxy `timeout client`); 0 = never.
    #[serde(default = "Dur::zero")]
    pub client_timeout: Dur,
    /// Close a session whose server sent nothing for this long (HAProxy `timeout server`); 0 = never.
    #[serde(default = "Dur::zero")]
    pub server_timeout: Dur,
}

fn default_advert_interval() -> Spanned<Dur> {
    Spanned::new(0..0, Dur::one_sec())
}

/// `[vrrp]`: the virtual IP holder.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Vrrp {
    pub interface: String,
    pub vrid: Spanned<u16>,
    pub priority: Spanned<u16>,
    #[serde(default = "default_advert_interval")]
    pub advert_interval: Spanned<Dur>,
    #[serde(default = "default_vrrp_version")]
    pub version: Spanned<u8>,
    #[serde(default = "yes")]
    pub preempt: bool,
    #[serde(default)]
    pub preempt_delay: Dur,
    #[serde(default)]
    pub unicast_peers: Vec<Spanned<String>>,
    /// Source address for adverts (default: the interface's primary address).
    pub unicast_src: Option<String>,
    pub vips: Vec<Spanned<String>>,
    #[serde(default = "default_garp_count")]
    pub garp_count: u32,
    #[serde(default = "Dur::zero")]
    pub garp_interval: Dur,
    #[serde(default)]
    pub garp_refresh: Dur,
    /// Accept packets addressed to the VIPs while master (RFC 9568 Accept_Mode).
    #[serde(default)]
    pub accept_mode: bool,
    #[serde(default)]
    pub track: Vec<Spanned<Track>>,
    /// Commands run periodically whose exit status moves the priority (keepalived `vrrp_script`).
    #[serde(default)]
    pub track_script: Vec<Spanned<TrackScript>>,
    /// The instance name given to `notify` (keepalived's `vrrp_instance` name).
    #[serde(default = "default_vrrp_name")]
    pub name: String,
    pub notify_master: Option<String>,
    pub notify_backup: Option<String>,
    pub notify_fault: Option<String>,
    /// Run on every state change with the arguments `INSTANCE NAME STATE PRIORITY`, as
    /// keepalived's `notify` (STATE is MASTER, BACKUP, FAULT or STOP).
    pub notify: Option<String>,
}

/// One `[[vrrp.track_script]]`: `script` runs with `sh -c` every `interval`; exit status 0 within
/// `timeout` is a success. After `rise` successes (`fall` failures) in a row the script is OK
/// (failing); its first result counts at once. `weight > 0` adds to the priority while OK,
/// `weight < 0` subtracts while failing, `weight = 0` puts the instance in fault while failing;
/// `reverse` negates the adjustment.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TrackScript {
    pub name: String,
    pub script: String,
    #[serde(default = "Dur::one_sec")]
    pub interval: Dur,
    /// Default: `interval`.
    pub timeout: Option<Dur>,
    #[serde(default)]
    pub weight: i32,
    /// keepalived's `weight W reverse`: the adjustment goes the other way.
    #[serde(default)]
    pub reverse: bool,
    #[serde(default = "one")]
    pub rise: u32,
    #[serde(default = "one")]
    pub fall: u32,
}

impl TrackScript {
    /// How long one run may take before it counts as failed (and is killed).
    pub fn run_timeout(&self) -> std::time::Duration {
        self.timeout.unwrap_or(self.interval).0
    }
}

/// One tracked health source of `[vrrp]`: exactly one of `galera`, `redis`, `tcp` is set.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Track {
    pub galera: Option<String>,
    pub redis: Option<String>,
    pub tcp: Option<String>,
    pub weight: i32,
}

fn yes() -> bool {
    true
}
fn one() -> u32 {
    1
}
fn default_vrrp_name() -> String {
    "datagate".into()
}
fn default_history() -> usize {
    50
}
fn default_max_conn() -> usize {
    10_000
}
fn default_max_backend() -> usize {
    200
}
fn default_linger() -> Dur {
    Dur::millis(100)
}
fn default_pool_idle() -> Dur {
    Dur::secs(60)
}
fn default_session_memory() -> usize {
    1 << 20
}
fn default_max_packet() -> usize {
    64 * 1024 * 1024
}
fn default_rise() -> u32 {
    2
}
fn default_fall() -> u32 {
    3
}
fn default_retries() -> u32 {
    2
}
fn default_vrrp_version() -> Spanned<u8> {
    Spanned::new(0..0, 3)
}
fn default_check() -> Spanned<Check> {
    Spanned::new(0..0, Check::Tcp)
}
fn default_garp_count() -> u32 {
    5
}
