//! The accounts clients log in with, loaded from the cluster (MaxScale-style): the proxy checks
//! a client's mysql_native_password reply against the stored SHA1(SHA1(password)) and never
//! holds a password.
//!
//! Accounts come from `mysql.global_priv` (MariaDB 10.4+, JSON privileges) or, failing that,
//! `mysql.user`, read with the `[[galera]]` monitor account. Database grants are left to the
//! backend: it refuses a login to a database the account may not use, and that error reaches
//! the client as is.

use std::cmp::Reverse;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use tokio::sync::{Mutex, watch};

use super::auth::{NATIVE_PASSWORD, Sha1Hash, parse_password_hash};
use super::client::{ClientError, ConnectOptions, Connection, Password};
use crate::config::Galera;
use crate::health::galera::ClusterSnapshot;

/// Accounts from `mysql.global_priv`; `auth_or` alternatives are not considered.
const GLOBAL_PRIV_QUERY: &str = "SELECT User, Host, \
     IFNULL(JSON_VALUE(Priv, '$.plugin'), 'mysql_native_password'), \
     IFNULL(JSON_VALUE(Priv, '$.authentication_string'), ''), \
     IFNULL(JSON_VALUE(Priv, '$.account_locked'), 'false') FROM mysql.global_priv";
/// Accounts from `mysql.user` (servers before MariaDB 10.4).
const USER_QUERY: &str = "SELECT User, Host, IF(plugin = '', 'mysql_native_password', plugin), \
     IF(authentication_string = '', Password, authentication_string), 'false' FROM mysql.user";
/// Fewest time between two reloads caused by failed logins.
const MIN_RELOAD_INTERVAL: Duration = Duration::from_secs(1);

/// How an account proves its identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// mysql_native_password with this SHA1(SHA1(password)).
    Native(Sha1Hash),
    /// mysql_native_password without a password.
    NoPassword,
    /// mysql_native_password with an unusable hash (e.g. `invalid`): nobody logs in.
    Invalid,
    /// Another plugin (ed25519, gssapi, unix_socket, ...), which the proxy cannot relay.
    Plugin(String),
}

/// One `'user'@'host'` account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub user: String,
    pub host: String,
    pub credential: Credential,
    pub locked: bool,
}

impl Account {
    /// Builds an account from one row (user, host, plugin, authentication string, locked).
    pub fn from_row(row: &[Option<String>]) -> Option<Account> {
        let col = |i: usize| row.get(i).cloned().flatten().unwrap_or_default();
        if row.len() < 5 {
            return None;
        }
        let (plugin, auth) = (col(2), col(3));
        let credential = if plugin != NATIVE_PASSWORD && !plugin.is_empty() {
            Credential::Plugin(plugin)
        } else if auth.is_empty() {
            Credential::NoPassword
        } else {
            parse_password_hash(&auth).map_or(Credential::Invalid, Credential::Native)
        };
        Some(Account {
            user: col(0),
            host: col(1),
            credential,
            locked: matches!(col(4).as_str(), "true" | "1" | "Y"),
        })
    }
}

/// True if `pattern` (`%` = any run, `_` = one character, case-insensitive) matches `s`.
///
/// Greedy with one backtrack point (the last `%`): O(|pattern| × |s|) at worst, never the
/// exponential time of naive recursion on patterns like `%a%a%a…b` (host patterns come from
/// `mysql.user`, which any account with the right grant can fill).
pub fn like(pattern: &str, s: &str) -> bool {
    let (p, s) = (pattern.as_bytes(), s.as_bytes());
    let (mut pi, mut si) = (0, 0);
    // After the last `%` seen: where the pattern resumes, and where in `s` that `%` ended.
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        match p.get(pi) {
            Some(b'%') => {
                pi += 1;
                star = Some((pi, si));
            }
            Some(&c) if c == b'_' || c.eq_ignore_ascii_case(&s[si]) => {
                pi += 1;
                si += 1;
            }
            _ => match star {
                // Let the last `%` take one more character and try again from there.
                Some((sp, ss)) => {
                    pi = sp;
                    si = ss + 1;
                    star = Some((sp, ss + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == b'%')
}

/// True if the host part of an account matches a TCP client at `ip` (names are not resolved,
/// as with `skip-name-resolve`; `localhost` means the unix socket only, so never a TCP client).
pub fn host_matches(pattern: &str, ip: IpAddr) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    if pattern.eq_ignore_ascii_case("localhost") {
        return false;
    }
    if let Some((net, mask)) = pattern.split_once('/') {
        // `192.168.1.0/255.255.255.0`
        return match (net.parse::<IpAddr>(), mask.parse::<IpAddr>(), ip) {
            (Ok(IpAddr::V4(n)), Ok(IpAddr::V4(m)), IpAddr::V4(a)) => {
                u32::from(a) & u32::from(m) == u32::from(n)
            }
            _ => false,
        };
    }
    if let Ok(p) = pattern.parse::<IpAddr>() {
        return p == ip;
    }
    like(pattern, &ip.to_string())
}

/// MariaDB's ordering key for a host or user pattern: exact values first, then patterns with
/// the longest literal prefix, `%` last.
fn specificity(pattern: &str) -> (u8, usize) {
    match pattern.find(['%', '_']) {
        None if pattern.is_empty() => (0, 0),
        None => (2, pattern.len()),
        Some(i) => (1, i),
    }
}

/// Every account, most specific first.
#[derive(Debug, Clone, Default)]
pub struct UserTable {
    accounts: Vec<Account>,
}

impl UserTable {
    /// Sorts `accounts` like the server does (host specificity, then user: named before anonymous).
    pub fn new(mut accounts: Vec<Account>) -> UserTable {
        accounts.sort_by_key(|a| (Reverse(specificity(&a.host)), Reverse(!a.user.is_empty())));
        UserTable { accounts }
    }

    /// The account a TCP client `user` from `ip` logs in as: the first match in server order.
    pub fn find(&self, user: &str, ip: IpAddr) -> Option<&Account> {
        self.accounts
            .iter()
            .find(|a| (a.user.is_empty() || a.user == user) && host_matches(&a.host, ip))
    }

    /// Number of accounts.
    pub fn len(&self) -> usize {
        self.accounts.len()
    }

    /// True when no account was loaded.
    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty()
    }
}

/// Why accounts could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum UsersError {
    #[error("no reachable server to load accounts from")]
    NoServer,
    #[error("loading accounts: {0}")]
    Client(#[from] ClientError),
}

/// The accounts of one cluster, reloaded periodically and (rate-limited) after a failed login.
pub struct UserStore {
    table: ArcSwap<UserTable>,
    cfg: Galera,
    password: String,
    cluster: watch::Receiver<Arc<ClusterSnapshot>>,
    last_load: Mutex<Option<Instant>>,
}

impl UserStore {
    /// A store reading accounts with the monitor account of `cfg` from the nodes of `cluster`.
    pub fn new(cfg: Galera, cluster: watch::Receiver<Arc<ClusterSnapshot>>) -> UserStore {
        let password = cfg.resolved_password().unwrap_or_default();
        UserStore {
            table: ArcSwap::from_pointee(UserTable::default()),
            cfg,
            password,
            cluster,
            last_load: Mutex::new(None),
        }
    }

    /// The current table.
    pub fn table(&self) -> Arc<UserTable> {
        self.table.load_full()
    }

    /// Reloads unless a load happened less than a second ago (a failed login triggers this).
    pub async fn reload_if_stale(&self) {
        let mut last = self.last_load.lock().await;
        if last.is_some_and(|t| t.elapsed() < MIN_RELOAD_INTERVAL) {
            return;
        }
        match self.load().await {
            Ok(t) => {
                tracing::debug!(cluster = %self.cfg.name.get_ref(), accounts = t.len(), "accounts loaded");
                self.table.store(Arc::new(t));
            }
            Err(e) => {
                tracing::warn!(cluster = %self.cfg.name.get_ref(), error = %e, "cannot load accounts")
            }
        }
        *last = Some(Instant::now());
    }

    /// Reads the accounts from the master, else from any serving node, else any configured node.
    async fn load(&self) -> Result<UserTable, UsersError> {
        let snap = self.cluster.borrow().clone();
        let mut addrs: Vec<String> = snap.master.iter().cloned().collect();
        addrs.extend(snap.serving().map(|s| s.address.clone()));
        addrs.extend(self.cfg.servers.get_ref().iter().map(|s| s.addr.clone()));
        addrs.dedup();
        let mut last = UsersError::NoServer;
        for addr in addrs {
            let opts = ConnectOptions {
                addr,
                user: self.cfg.user.clone(),
                password: Password::Cleartext(self.password.clone()),
                database: None,
                connect_timeout: self.cfg.connect_timeout.0,
                proxy_header: None,
            };
            let mut conn = match Connection::connect(&opts).await {
                Ok(c) => c,
                Err(e) => {
                    last = e.into();
                    continue;
                }
            };
            let rows = match conn.query(GLOBAL_PRIV_QUERY).await {
                Ok(r) => r,
                Err(ClientError::Server(_)) => conn.query(USER_QUERY).await?,
                Err(e) => {
                    last = e.into();
                    continue;
                }
            };
            conn.quit().await;
            return Ok(UserTable::new(
                rows.iter().filter_map(|r| Account::from_row(r)).collect(),
            ));
        }
        Err(last)
    }

    /// Reloads every `period` until `stop` is cancelled.
    pub async fn run_refresh(
        self: Arc<Self>,
        period: Duration,
        stop: tokio_util::sync::CancellationToken,
    ) {
        loop {
            self.reload_if_stale().await;
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(period) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acc(user: &str, host: &str) -> Account {
        Account {
            user: user.into(),
            host: host.into(),
            credential: Credential::NoPassword,
            locked: false,
        }
    }

    #[test]
    fn like_patterns() {
        assert!(like("%", ""));
        assert!(like("%", "10.0.0.1"));
        assert!(like("10.0.0.%", "10.0.0.17"));
        assert!(!like("10.0.0.%", "10.0.1.17"));
        assert!(like("10.0.0._", "10.0.0.7"));
        assert!(!like("10.0.0._", "10.0.0.17"));
        assert!(like("%.0.%", "10.0.3.4"));
        assert!(like("ABC", "abc"));
        assert!(like("%%", "x"));
        assert!(like("1%1", "1.2.3.1"));
        assert!(!like("1%1", "1.2.3.4"));
        assert!(!like("_", ""));
        assert!(like("a%", "a"));
        assert!(!like("", "a"));
        assert!(like("", ""));
    }

    #[test]
    fn like_is_not_exponential() {
        // Naive recursion takes ~|s|^40 steps on this; the matcher takes |p| x |s|.
        let pattern = format!("{}b", "%1".repeat(40));
        let s = "1".repeat(45);
        let t0 = std::time::Instant::now();
        assert!(!like(&pattern, &s));
        assert!(like(&format!("{pattern}%"), &format!("{s}b")));
        assert!(t0.elapsed() < std::time::Duration::from_secs(1));
    }

    #[test]
    fn hosts() {
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(
            !host_matches("localhost", ip),
            "localhost is the unix socket only"
        );
        assert!(host_matches("127.0.0.1", ip));
        assert!(host_matches("%", ip));
        assert!(host_matches("127.%", ip));
        assert!(!host_matches("10.%", ip));
        assert!(host_matches("127.0.0.0/255.0.0.0", ip));
        assert!(!host_matches("10.0.0.0/255.0.0.0", ip));
        assert!(!host_matches("10.0.0.0/garbage", ip));
        assert!(!host_matches("db.example.com", ip));
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        assert!(host_matches("127.0.0.1", mapped));
        assert!(host_matches("::1", "::1".parse().unwrap()));
    }

    #[test]
    fn most_specific_wins() {
        let mut exact = acc("app", "127.0.0.1");
        exact.credential = Credential::Invalid;
        let t = UserTable::new(vec![
            acc("app", "%"),
            acc("", "127.0.0.1"),
            acc("app", "127.0.%"),
            exact.clone(),
            acc("app", "localhost"),
        ]);
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(t.find("app", ip), Some(&exact));
        assert_eq!(
            t.find("app", "127.0.5.5".parse().unwrap()).unwrap().host,
            "127.0.%"
        );
        assert_eq!(
            t.find("app", "10.1.1.1".parse().unwrap()).unwrap().host,
            "%"
        );
        // The anonymous account on the exact host beats 'app'@'%' for other users only.
        assert_eq!(t.find("bob", ip).unwrap().user, "");
        assert!(t.find("bob", "10.1.1.1".parse().unwrap()).is_none());
    }

    #[test]
    fn rows() {
        let row = |p: &str, a: &str, l: &str| {
            vec![
                Some("u".to_string()),
                Some("%".to_string()),
                Some(p.to_string()),
                Some(a.to_string()),
                Some(l.to_string()),
            ]
        };
        let native = Account::from_row(&row(
            "mysql_native_password",
            "*5BCB3E6AC345B435C7C2E6B7949A04CE6F6563D3",
            "false",
        ))
        .unwrap();
        assert!(matches!(native.credential, Credential::Native(_)));
        assert!(!native.locked);
        let none = Account::from_row(&row("mysql_native_password", "", "true")).unwrap();
        assert_eq!(none.credential, Credential::NoPassword);
        assert!(none.locked);
        let bad = Account::from_row(&row("mysql_native_password", "invalid", "false")).unwrap();
        assert_eq!(bad.credential, Credential::Invalid);
        let ed = Account::from_row(&row("ed25519", "xyz", "false")).unwrap();
        assert_eq!(ed.credential, Credential::Plugin("ed25519".into()));
        assert!(Account::from_row(&[None, None]).is_none());
    }
}
