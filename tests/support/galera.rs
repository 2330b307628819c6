//! The shared Galera cluster of the test lab.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::thread;
use std::time::Duration;

use super::{Lab, MONITOR_PASSWORD, MONITOR_USER, mysql, run_cmd, toml_list, wait_until};

/// The shared 3-node Galera cluster, started (or healed) on first use in this test binary.
/// Panics with the lab script's output when it cannot start.
pub fn galera() -> &'static GaleraLab {
    static LAB: OnceLock<Result<GaleraLab, String>> = OnceLock::new();
    let lab = LAB.get_or_init(|| {
        let lab = GaleraLab {
            lab: Lab::from_env(),
        };
        lab.lab.run("galera.sh", &["heal"]).map(|_| lab)
    });
    match lab {
        Ok(l) => l,
        Err(e) => panic!("the Galera test lab did not start: {e}"),
    }
}

/// A node's wsrep status, as the monitor account reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsrepState {
    /// `wsrep_local_state_comment`: `Synced`, `Donor/Desynced`, `Joining`, ...
    pub state: String,
    pub cluster_size: u32,
    /// `wsrep_cluster_status`: `Primary`, `non-Primary`, `Disconnected`.
    pub cluster_status: String,
    pub local_index: i64,
    pub ready: bool,
    pub desync: bool,
}

impl WsrepState {
    /// Synced, in a Primary component, not desynced: the node may serve.
    pub fn serving(&self) -> bool {
        self.state == "Synced" && self.cluster_status == "Primary" && self.ready && !self.desync
    }
}

/// Handle on the Galera part of the test lab. Nodes are numbered 1, 2, 3.
#[derive(Debug)]
pub struct GaleraLab {
    pub lab: Lab,
}

impl GaleraLab {
    /// MySQL port of node `n` (1..=3).
    pub fn port(&self, n: usize) -> u16 {
        assert!((1..=3).contains(&n), "Galera nodes are 1, 2, 3 (got {n})");
        13305 + n as u16 + self.lab.port_offset
    }

    pub fn ports(&self) -> [u16; 3] {
        [self.port(1), self.port(2), self.port(3)]
    }

    /// `127.0.0.1:PORT` of node `n`.
    pub fn addr(&self, n: usize) -> String {
        format!("127.0.0.1:{}", self.port(n))
    }

    /// The node list as a TOML array, for `servers = ...` in a datagate config.
    pub fn servers_toml(&self) -> String {
        toml_list((1..=3).map(|n| self.addr(n)))
    }

    /// A `[[galera]]` section named `name` for this cluster (monitor account, 250 ms interval).
    pub fn config_section(&self, name: &str) -> String {
        format!(
            "[[galera]]\nname = \"{name}\"\nservers = {}\nuser = \"{MONITOR_USER}\"\n\
             password = \"{MONITOR_PASSWORD}\"\ninterval = \"250ms\"\n",
            self.servers_toml()
        )
    }

    /// The unix socket of node `n` (root logs in there).
    pub fn socket(&self, n: usize) -> PathBuf {
        self.lab.dir.join(format!("galera/n{n}/mysqld.sock"))
    }

    /// SIGKILL node `n` (returns once the process is gone).
    pub fn kill(&self, n: usize) {
        self.lab.must("galera.sh", &["kill", &n.to_string()]);
    }

    /// SIGSTOP node `n`: a hung host (the kernel still accepts connections and acknowledges
    /// data; the server answers nothing). [`GaleraLab::heal`] thaws it.
    pub fn freeze(&self, n: usize) {
        self.lab.must("galera.sh", &["freeze", &n.to_string()]);
    }

    /// SIGCONT node `n`.
    pub fn thaw(&self, n: usize) {
        self.lab.must("galera.sh", &["thaw", &n.to_string()]);
    }

    /// (Re)start node `n` and wait until it is Synced.
    pub fn restart(&self, n: usize) {
        self.lab.must("galera.sh", &["restart", &n.to_string()]);
    }

    /// `SET GLOBAL wsrep_desync=ON` on node `n` (state `Donor/Desynced`).
    pub fn desync(&self, n: usize) {
        self.lab.must("galera.sh", &["desync", &n.to_string()]);
    }

    /// `SET GLOBAL wsrep_desync=OFF` on node `n`.
    pub fn resync(&self, n: usize) {
        self.lab.must("galera.sh", &["resync", &n.to_string()]);
    }

    /// Start what is missing, clear every desync, wait for 3 serving nodes.
    pub fn heal(&self) {
        self.lab.must("galera.sh", &["heal"]);
    }

    /// Heals the cluster when dropped, also when the test panics.
    pub fn heal_on_drop(&self) -> HealGuard<'_> {
        HealGuard(self)
    }

    /// `galera.sh status` output.
    pub fn status(&self) -> String {
        self.lab.must("galera.sh", &["status"])
    }

    /// Stop every node (the data is kept; [`GaleraLab::heal`] brings the cluster back).
    pub fn stop(&self) {
        self.lab.must("galera.sh", &["stop"]);
    }

    /// Node `n`'s wsrep status over TCP with the monitor account; `None` if it does not answer.
    pub fn state(&self, n: usize) -> Option<WsrepState> {
        let q = "SELECT \
            (SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME='WSREP_LOCAL_STATE_COMMENT'), \
            (SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME='WSREP_CLUSTER_SIZE'), \
            (SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME='WSREP_CLUSTER_STATUS'), \
            (SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME='WSREP_LOCAL_INDEX'), \
            (SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME='WSREP_READY'), \
            @@wsrep_desync";
        let out = mysql(self.port(n), MONITOR_USER, MONITOR_PASSWORD, q).ok()?;
        let f: Vec<&str> = out.trim().split('\t').collect();
        if f.len() != 6 {
            return None;
        }
        Some(WsrepState {
            state: f[0].to_string(),
            cluster_size: f[1].parse().unwrap_or(0),
            cluster_status: f[2].to_string(),
            local_index: f[3].parse().unwrap_or(-1),
            ready: f[4] == "ON",
            desync: f[5] == "1" || f[5].eq_ignore_ascii_case("ON"),
        })
    }

    /// Wait until every node serves in one Primary component of 3; panics with the status after `timeout`.
    pub fn wait_all_serving(&self, timeout: Duration) {
        let ok = wait_until(timeout, || {
            (1..=3).all(|n| {
                self.state(n)
                    .is_some_and(|s| s.serving() && s.cluster_size == 3)
            })
        });
        if !ok {
            panic!(
                "Galera lab: not 3 serving nodes after {timeout:?}:\n{}",
                self.status()
            );
        }
    }

    /// Turns on every node's general query log into `mysql.general_log` (not replicated: each
    /// node logs what its own clients sent). Lost when a node restarts.
    pub fn general_log_on(&self) {
        for n in 1..=3 {
            self.root_sql(
                n,
                "SET GLOBAL log_output = 'TABLE'; SET GLOBAL general_log = ON",
            )
            .unwrap_or_else(|e| panic!("general log on node {n}: {e}"));
        }
    }

    /// `(command_type, argument)` of the general log entries of node `n` whose text contains
    /// `needle` (the lookup itself is not logged).
    pub fn logged(&self, n: usize, needle: &str) -> Vec<(String, String)> {
        let sql = format!(
            "SET SESSION sql_log_off = 1; SELECT command_type, \
             REPLACE(REPLACE(argument, CHAR(10), ' '), CHAR(9), ' ') FROM mysql.general_log \
             WHERE argument LIKE '%{needle}%'"
        );
        let out = self
            .root_sql(n, &sql)
            .unwrap_or_else(|e| panic!("general log of node {n}: {e}"));
        out.lines()
            .filter_map(|l| l.split_once('\t'))
            .map(|(c, a)| (c.to_string(), a.to_string()))
            .collect()
    }

    /// The node (1..=3) listening on `port`.
    pub fn node_of_port(&self, port: u16) -> usize {
        self.ports()
            .iter()
            .position(|p| *p == port)
            .map(|i| i + 1)
            .unwrap_or_else(|| panic!("port {port} is not a Galera node"))
    }

    /// Run SQL as root over node `n`'s unix socket (for what the monitor account may not do).
    pub fn root_sql(&self, n: usize, sql: &str) -> Result<String, String> {
        let sock = self.socket(n);
        run_cmd(
            Command::new("mariadb")
                .arg("--no-defaults")
                .arg(format!("--socket={}", sock.display()))
                .args(["-uroot", "-N", "-B", "-e", sql]),
            Duration::from_secs(30),
        )
    }
}

/// See [`GaleraLab::heal_on_drop`].
pub struct HealGuard<'a>(&'a GaleraLab);

impl Drop for HealGuard<'_> {
    fn drop(&mut self) {
        if let Err(e) = self.0.lab.run("galera.sh", &["heal"]) {
            if thread::panicking() {
                eprintln!("[support] healing the Galera lab failed too: {e}");
            } else {
                panic!("healing the Galera lab failed: {e}");
            }
        }
    }
}
