//! Shared support for datagate's end-to-end tests (`mod support;` in each `tests/*.rs`).
//!
//! - [`galera()`] / [`redis()`]: a real 3-node MariaDB Galera cluster and a Redis master + 2 replicas
//!   + 3 Sentinels, started once per test binary with the scripts in `lab/` and shared by every test
//!   (and every test binary: starting is idempotent and serialised by a file lock).
//! - [`datagate()`]: the daemon under test, spawned with a config, killed on drop.
//! - [`mysql()`], [`redis_cli()`], [`free_port()`]: small client helpers.
//!
//! The test lab lives in `/tmp/datagate-test-lab` with every port shifted by 500 (Galera 13806-13808,
//! Redis 16879-16881, Sentinels 26879-26881), so it runs beside a lab on the default ports. Override
//! with `DATAGATE_TEST_LAB_DIR` and `DATAGATE_TEST_PORT_OFFSET`. The lab keeps running after the tests
//! (the next run reuses it in about a second); `scripts/test.sh` stops it, or by hand:
//! `sudo LAB_DIR=/tmp/datagate-test-lab LAB_PORT_OFFSET=500 lab/all.sh stop`.
//!
//! The lab needs root and installs its Debian packages with apt-get when they are missing. When it
//! cannot start, the test fails with the script's output: a missing server is a failure, never a skip.
//!
//! Tests that break the lab (kill, desync, failover) should hold [`serial()`] and put things back
//! with [`GaleraLab::heal`] / [`RedisLab::start`] (or a [`GaleraLab::heal_on_drop`] guard), so that
//! the next test finds a healthy lab.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use nix::fcntl::{Flock, FlockArg};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// Default state directory of the test lab.
pub const TEST_LAB_DIR: &str = "/tmp/datagate-test-lab";
/// Default port offset of the test lab (a demo lab can keep the default ports).
pub const TEST_PORT_OFFSET: u16 = 500;
/// Galera failure detection for tests: a dead node is evicted in ~2 s instead of ~6 s.
/// `join_retrans_period` must stay well below `suspect_timeout`, or the survivors suspect each other
/// while they agree on a new view and the cluster falls apart into non-Primary singletons.
pub const GALERA_TEST_PROVIDER_OPTIONS: &str = "evs.suspect_timeout=PT1S; evs.inactive_timeout=PT2S; \
     evs.keepalive_period=PT0.2S; evs.join_retrans_period=PT0.2S";
/// MariaDB application account of the lab (ALL on `appdb.*` and `sbtest.*`).
pub const APP_USER: &str = "app";
pub const APP_PASSWORD: &str = "app";
pub const APP_DB: &str = "appdb";
/// MariaDB monitor account of the lab (wsrep status, `mysql.user`).
pub const MONITOR_USER: &str = "monitor";
pub const MONITOR_PASSWORD: &str = "monitor";
/// Sentinel master name of the lab.
pub const REDIS_MASTER_NAME: &str = "dn";

// ---------------------------------------------------------------------------------------------
// The lab scripts
// ---------------------------------------------------------------------------------------------

/// Where the test lab lives and how its ports are shifted.
#[derive(Debug, Clone)]
pub struct Lab {
    pub dir: PathBuf,
    pub port_offset: u16,
}

impl Lab {
    /// The test lab: `DATAGATE_TEST_LAB_DIR` / `DATAGATE_TEST_PORT_OFFSET`, else the defaults.
    pub fn from_env() -> Lab {
        let dir = std::env::var_os("DATAGATE_TEST_LAB_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(TEST_LAB_DIR));
        let port_offset = match std::env::var("DATAGATE_TEST_PORT_OFFSET") {
            Ok(v) => v
                .parse()
                .unwrap_or_else(|_| panic!("DATAGATE_TEST_PORT_OFFSET={v:?} is not a number")),
            Err(_) => TEST_PORT_OFFSET,
        };
        Lab { dir, port_offset }
    }

    /// `lab/NAME` in this repository.
    pub fn script(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("lab").join(name)
    }

    /// Run `lab/SCRIPT ARGS...` with this lab's `LAB_DIR`/`LAB_PORT_OFFSET`, holding the file lock
    /// `LAB_DIR/.lock-SCRIPT` so that two test binaries never drive the same part at once.
    /// Returns the script's output (stdout and stderr, interleaved), or it with the exit status.
    pub fn run(&self, script: &str, args: &[&str]) -> Result<String, String> {
        fs::create_dir_all(&self.dir)
            .map_err(|e| format!("cannot create {}: {e}", self.dir.display()))?;
        let lock_path = self
            .dir
            .join(format!(".lock-{}", script.trim_end_matches(".sh")));
        let lock_file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| format!("cannot open {}: {e}", lock_path.display()))?;
        // std opens files with O_CLOEXEC: the servers the script starts do not inherit the lock.
        let _lock = Flock::lock(lock_file, FlockArg::LockExclusive)
            .map_err(|(_, e)| format!("flock {}: {e}", lock_path.display()))?;
        let path = Lab::script(script);
        let (r, w) = std::io::pipe().map_err(|e| format!("pipe: {e}"))?;
        let w2 = w.try_clone().map_err(|e| format!("pipe: {e}"))?;
        let mut cmd = Command::new(&path);
        cmd.args(args)
            .env("LAB_DIR", &self.dir)
            .env("LAB_PORT_OFFSET", self.port_offset.to_string())
            .env(
                "GALERA_EXTRA_PROVIDER_OPTIONS",
                GALERA_TEST_PROVIDER_OPTIONS,
            )
            .env("PATH", path_with_sbin())
            .stdin(Stdio::null())
            .stdout(w)
            .stderr(w2);
        let t0 = Instant::now();
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", path.display()))?;
        drop(cmd); // closes our copies of the pipe's write end
        let mut out = String::new();
        let mut r = r;
        let _ = r.read_to_string(&mut out);
        let status = child
            .wait()
            .map_err(|e| format!("wait {}: {e}", path.display()))?;
        let what = format!(
            "LAB_DIR={} LAB_PORT_OFFSET={} {} {}",
            self.dir.display(),
            self.port_offset,
            path.display(),
            args.join(" ")
        );
        if status.success() {
            eprintln!("[support] {what}: ok in {:.1}s", t0.elapsed().as_secs_f64());
            Ok(out)
        } else {
            Err(format!(
                "`{what}` failed ({status}) after {:.1}s. Its output:\n{out}\n\
                 (the lab needs root and its Debian packages; see lab/README.md)",
                t0.elapsed().as_secs_f64()
            ))
        }
    }

    /// [`Lab::run`], panicking with the script's output on failure.
    pub fn must(&self, script: &str, args: &[&str]) -> String {
        self.run(script, args).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Stop every part of this lab (`lab/all.sh stop`).
    pub fn stop_all(&self) {
        self.must("all.sh", &["stop"]);
    }
}

fn path_with_sbin() -> String {
    let mut p = std::env::var("PATH").unwrap_or_default();
    for d in [
        "/usr/local/sbin",
        "/usr/local/bin",
        "/usr/sbin",
        "/usr/bin",
        "/sbin",
        "/bin",
    ] {
        if !p.split(':').any(|x| x == d) {
            if !p.is_empty() {
                p.push(':');
            }
            p.push_str(d);
        }
    }
    p
}

/// Tests that change the shared lab (kill, desync, failover) hold this guard for their whole run,
/// so that no other test of the same binary sees the damage. Survives a panicking holder.
pub fn serial() -> MutexGuard<'static, ()> {
    static M: Mutex<()> = Mutex::new(());
    M.lock().unwrap_or_else(|e| e.into_inner())
}

// ---------------------------------------------------------------------------------------------
// Galera
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// Redis + Sentinel
// ---------------------------------------------------------------------------------------------

/// The shared Redis master + 2 replicas + 3 Sentinels, started on first use in this test binary
/// (nodes that a previous test killed come back as replicas). Panics with the script's output.
pub fn redis() -> &'static RedisLab {
    static LAB: OnceLock<Result<RedisLab, String>> = OnceLock::new();
    let lab = LAB.get_or_init(|| {
        let lab = RedisLab {
            lab: Lab::from_env(),
        };
        lab.lab.run("redis.sh", &["start"]).map(|_| lab)
    });
    match lab {
        Ok(l) => l,
        Err(e) => panic!("the Redis test lab did not start: {e}"),
    }
}

/// `redis().kill_master()`.
pub fn redis_kill_master() -> u16 {
    redis().kill_master()
}

/// `redis().failover()`.
pub fn redis_failover() -> u16 {
    redis().failover()
}

/// `redis().restart_all()`.
pub fn redis_restart_all() {
    redis().restart_all()
}

/// Handle on the Redis part of the test lab. Nodes and sentinels are numbered 1, 2, 3.
#[derive(Debug)]
pub struct RedisLab {
    pub lab: Lab,
}

impl RedisLab {
    /// Port of Redis node `n` (1..=3); node 1 is master after a fresh start.
    pub fn node_port(&self, n: usize) -> u16 {
        assert!((1..=3).contains(&n), "Redis nodes are 1, 2, 3 (got {n})");
        16378 + n as u16 + self.lab.port_offset
    }

    pub fn node_ports(&self) -> [u16; 3] {
        [self.node_port(1), self.node_port(2), self.node_port(3)]
    }

    /// Port of Sentinel `n` (1..=3).
    pub fn sentinel_port(&self, n: usize) -> u16 {
        assert!((1..=3).contains(&n), "Sentinels are 1, 2, 3 (got {n})");
        26378 + n as u16 + self.lab.port_offset
    }

    pub fn sentinel_ports(&self) -> [u16; 3] {
        [
            self.sentinel_port(1),
            self.sentinel_port(2),
            self.sentinel_port(3),
        ]
    }

    /// The sentinels as a TOML array, for `sentinels = ...` in a datagate config.
    pub fn sentinels_toml(&self) -> String {
        toml_list(
            self.sentinel_ports()
                .iter()
                .map(|p| format!("127.0.0.1:{p}")),
        )
    }

    /// Sentinel master name (`dn`).
    pub fn master_name(&self) -> &'static str {
        REDIS_MASTER_NAME
    }

    /// The master port each sentinel reports (`None` for a sentinel that does not answer).
    pub fn sentinel_masters(&self) -> Vec<Option<u16>> {
        self.sentinel_ports()
            .iter()
            .map(|&s| {
                let out = redis_cli(
                    s,
                    &["SENTINEL", "get-master-addr-by-name", REDIS_MASTER_NAME],
                )
                .ok()?;
                out.lines().nth(1)?.trim().parse().ok()
            })
            .collect()
    }

    /// The master port a majority of the sentinels agree on, if any.
    pub fn master(&self) -> Option<u16> {
        let mut votes: BTreeMap<u16, usize> = BTreeMap::new();
        for p in self.sentinel_masters().into_iter().flatten() {
            *votes.entry(p).or_default() += 1;
        }
        votes.into_iter().find(|&(_, v)| v >= 2).map(|(p, _)| p)
    }

    /// First line of `ROLE` on `port` (`master`, `slave`), `None` if it does not answer.
    pub fn role(&self, port: u16) -> Option<String> {
        let out = redis_cli(port, &["ROLE"]).ok()?;
        out.lines().next().map(|s| s.trim().to_string())
    }

    /// SIGKILL the master; returns once all sentinels agree on a new one (its port). The killed
    /// node stays down until [`RedisLab::start`].
    pub fn kill_master(&self) -> u16 {
        self.lab.must("redis.sh", &["kill-master"]);
        self.master()
            .expect("no master agreed after redis.sh kill-master")
    }

    /// `SENTINEL FAILOVER`; returns once all sentinels agree on the new master (its port). The old
    /// master may still say `role:master` for a few seconds.
    pub fn failover(&self) -> u16 {
        self.lab.must("redis.sh", &["failover"]);
        self.master()
            .expect("no master agreed after redis.sh failover")
    }

    /// Start whatever is not running (a node that comes back joins as a replica).
    pub fn start(&self) {
        self.lab.must("redis.sh", &["start"]);
    }

    /// Stop everything and start afresh: node 1 master, sentinels without history.
    pub fn restart_all(&self) {
        self.lab.must("redis.sh", &["restart"]);
    }

    /// `redis.sh status` output.
    pub fn status(&self) -> String {
        self.lab.must("redis.sh", &["status"])
    }
}

fn toml_list(items: impl Iterator<Item = String>) -> String {
    let v: Vec<String> = items.map(|s| format!("\"{s}\"")).collect();
    format!("[{}]", v.join(", "))
}

// ---------------------------------------------------------------------------------------------
// Clients
// ---------------------------------------------------------------------------------------------

/// Run `mariadb --no-defaults -h127.0.0.1 -P PORT -u USER -p PASS -N -B -e SQL`; the output
/// (tab-separated, no headers, trailing newline removed) or the error text. 30 s at most.
pub fn mysql(port: u16, user: &str, pass: &str, sql: &str) -> Result<String, String> {
    mysql_db(port, user, pass, "", sql)
}

/// [`mysql`] with a default database (`""` for none).
pub fn mysql_db(port: u16, user: &str, pass: &str, db: &str, sql: &str) -> Result<String, String> {
    let mut cmd = Command::new("mariadb");
    cmd.arg("--no-defaults")
        .arg("-h127.0.0.1")
        .arg(format!("-P{port}"))
        .arg(format!("-u{user}"))
        .arg(format!("-p{pass}"))
        .args(["--connect-timeout=5", "-N", "-B"]);
    if !db.is_empty() {
        cmd.arg(db);
    }
    cmd.args(["-e", sql]);
    run_cmd(&mut cmd, Duration::from_secs(30))
}

/// Run `redis-cli -h 127.0.0.1 -p PORT ARGS...`; the reply as text, or the error (a failed connection
/// or an error reply). 10 s at most.
pub fn redis_cli(port: u16, args: &[&str]) -> Result<String, String> {
    let out = run_cmd(
        Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &port.to_string()])
            .args(args),
        Duration::from_secs(10),
    )?;
    // redis-cli without a terminal prints an error reply as "ERR ..." / "READONLY ..." and exits 0.
    const ERROR_CODES: &[&str] = &[
        "ERR",
        "WRONGTYPE",
        "READONLY",
        "NOAUTH",
        "WRONGPASS",
        "LOADING",
        "BUSY",
        "NOSCRIPT",
        "MASTERDOWN",
        "MOVED",
        "ASK",
        "TRYAGAIN",
        "CLUSTERDOWN",
        "NOREPLICAS",
        "EXECABORT",
        "NOPERM",
        "NOPROTO",
        "UNKILLABLE",
        "DATAGATE",
    ];
    let out = out.trim_end().to_string();
    let first = out.lines().next().unwrap_or("");
    let code = first.split(' ').next().unwrap_or("");
    let is_error = first.starts_with("(error)")
        || first.starts_with("Could not connect")
        || (first.contains(' ') && ERROR_CODES.contains(&code));
    if is_error { Err(out) } else { Ok(out) }
}

/// Run a command with a time limit; stdout (trailing newline removed) on success, else an error
/// naming the command with its stderr and stdout.
pub fn run_cmd(cmd: &mut Command, timeout: Duration) -> Result<String, String> {
    let desc = format!("{cmd:?}");
    let mut child = cmd
        .env("PATH", path_with_sbin())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {desc}: {e} (is the package installed?)"))?;
    let mut so = child.stdout.take().expect("piped stdout");
    let mut se = child.stderr.take().expect("piped stderr");
    let t_out = thread::spawn(move || {
        let mut s = String::new();
        let _ = so.read_to_string(&mut s);
        s
    });
    let t_err = thread::spawn(move || {
        let mut s = String::new();
        let _ = se.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break Some(st),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => thread::sleep(Duration::from_millis(10)),
            Err(e) => return Err(format!("wait {desc}: {e}")),
        }
    };
    let out = t_out.join().unwrap_or_default();
    let err = t_err.join().unwrap_or_default();
    match status {
        Some(st) if st.success() => Ok(out.trim_end_matches('\n').to_string()),
        Some(st) => {
            let msg = format!("{} {}", err.trim(), out.trim()).trim().to_string();
            Err(if msg.is_empty() {
                format!("{desc}: {st}")
            } else {
                msg
            })
        }
        None => Err(format!(
            "{desc}: no answer after {timeout:?}; {}",
            err.trim()
        )),
    }
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}

/// Poll `f` every 50 ms until it returns true (true) or `timeout` passes (false).
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(50));
    }
}

// ---------------------------------------------------------------------------------------------
// The daemon under test
// ---------------------------------------------------------------------------------------------

/// How long [`datagate`] waits for the daemon to answer.
pub const DATAGATE_START_TIMEOUT: Duration = Duration::from_secs(30);

/// Start `datagate run -c FILE` with `config_toml` and wait until `/readyz` answers 200.
/// The daemon is stopped when the handle drops; its log tail is printed if the test failed.
pub fn datagate(config_toml: &str) -> Datagate {
    let mut d = Datagate::spawn(config_toml);
    d.wait_http_ok("/readyz", DATAGATE_START_TIMEOUT);
    d
}

/// Like [`datagate`], but only waits for `/healthz` (the process runs; a cluster may lack a master).
pub fn datagate_alive(config_toml: &str) -> Datagate {
    let mut d = Datagate::spawn(config_toml);
    d.wait_http_ok("/healthz", DATAGATE_START_TIMEOUT);
    d
}

/// Run `datagate check -c FILE` on `config_toml`: (exit status success, stdout + stderr).
pub fn datagate_check(config_toml: &str) -> (bool, String) {
    let dir = scratch_dir("check");
    let cfg = dir.join("datagate.toml");
    fs::write(&cfg, config_toml).expect("write config");
    let out = Command::new(env!("CARGO_BIN_EXE_datagate"))
        .arg("check")
        .arg("-c")
        .arg(&cfg)
        .output()
        .expect("run datagate check");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// A fresh directory under the test target's tmp dir (kept after the test, for post-mortems).
pub fn scratch_dir(what: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "datagate-{what}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).expect("create scratch dir");
    d
}

/// A running `datagate run -c FILE`.
pub struct Datagate {
    child: Option<Child>,
    /// Where the admin API listens (from `[admin] listen`, default 127.0.0.1:9090).
    pub admin: SocketAddr,
    /// The config file; rewrite it with [`Datagate::write_config`] and call [`Datagate::reload`].
    pub config_path: PathBuf,
    /// stdout and stderr of the daemon.
    pub log_path: PathBuf,
}

impl Datagate {
    /// Spawn the daemon without waiting for it.
    pub fn spawn(config_toml: &str) -> Datagate {
        let admin = admin_addr(config_toml);
        let dir = scratch_dir("run");
        let config_path = dir.join("datagate.toml");
        fs::write(&config_path, config_toml).expect("write config");
        let log_path = dir.join("datagate.log");
        let log = File::create(&log_path).expect("create log");
        let log2 = log.try_clone().expect("clone log");
        let child = Command::new(env!("CARGO_BIN_EXE_datagate"))
            .arg("run")
            .arg("-c")
            .arg(&config_path)
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "debug".into()),
            )
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .expect("spawn datagate");
        eprintln!(
            "[support] datagate pid {} (config {}, log {}, admin {admin})",
            child.id(),
            config_path.display(),
            log_path.display()
        );
        Datagate {
            child: Some(child),
            admin,
            config_path,
            log_path,
        }
    }

    /// `http://ADMIN`.
    pub fn admin_url(&self) -> String {
        format!("http://{}", self.admin)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// Wait until `GET path` answers 200; panics (with the log tail) if the daemon exits or `timeout` passes.
    pub fn wait_http_ok(&mut self, path: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(st) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!(
                    "datagate exited ({st}) before {path} answered 200\n{}",
                    self.log_tail(60)
                );
            }
            let last = match self.get(path) {
                Ok((200, _)) => return,
                Ok((code, body)) => format!("{code}: {}", body.trim()),
                Err(e) => e.to_string(),
            };
            if Instant::now() >= deadline {
                panic!(
                    "datagate: {path} did not answer 200 within {timeout:?} (last: {last})\n{}",
                    self.log_tail(60)
                );
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// `GET path` on the admin API: (status, body).
    pub fn get(&self, path: &str) -> std::io::Result<(u16, String)> {
        http_request(self.admin, "GET", path, None, None)
    }

    /// Any request on the admin API, with an optional bearer token and body.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> std::io::Result<(u16, String)> {
        http_request(self.admin, method, path, token, body)
    }

    /// The `/metrics` text.
    pub fn metrics(&self) -> String {
        match self.get("/metrics") {
            Ok((200, body)) => body,
            other => panic!("GET /metrics: {other:?}\n{}", self.log_tail(30)),
        }
    }

    /// Value of the sample `series` (exact text before the value, e.g.
    /// `datagate_backend_up{group="galera",server="127.0.0.1:13806"}`), if present.
    pub fn metric(&self, series: &str) -> Option<f64> {
        metric_value(&self.metrics(), series)
    }

    /// Replace the config file (then [`Datagate::reload`]).
    pub fn write_config(&self, config_toml: &str) {
        fs::write(&self.config_path, config_toml).expect("write config");
    }

    /// SIGHUP: reload the config.
    pub fn reload(&self) {
        self.signal(Signal::SIGHUP);
    }

    /// Send a signal to the daemon.
    pub fn signal(&self, sig: Signal) {
        if let Some(c) = &self.child {
            let _ = kill(Pid::from_raw(c.id() as i32), sig);
        }
    }

    /// The whole log so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// The last `n` lines of the log, with a header naming the file.
    pub fn log_tail(&self, n: usize) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        let start = lines.len().saturating_sub(n);
        format!(
            "---- datagate log {} (last {} of {} lines) ----\n{}\n----",
            self.log_path.display(),
            lines.len() - start,
            lines.len(),
            lines[start..].join("\n")
        )
    }

    /// Wait until the log contains `needle`.
    pub fn wait_log(&self, needle: &str, timeout: Duration) -> bool {
        wait_until(timeout, || self.log().contains(needle))
    }

    /// Whether the process still runs.
    pub fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// SIGTERM, wait up to `timeout`, then SIGKILL. Returns the exit status.
    pub fn stop_within(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(st)) = child.try_wait() {
                return Some(st);
            }
            if Instant::now() >= deadline {
                eprintln!("[support] datagate did not stop within {timeout:?}: SIGKILL");
                let _ = child.kill();
                return child.wait().ok();
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Graceful stop (SIGTERM, SIGKILL after 10 s). Returns the exit status.
    pub fn stop(&mut self) -> Option<ExitStatus> {
        self.stop_within(Duration::from_secs(10))
    }

    /// SIGKILL at once.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Datagate {
    fn drop(&mut self) {
        if thread::panicking() {
            eprintln!("{}", self.log_tail(80));
        }
        self.stop_within(Duration::from_secs(5));
    }
}

/// `[admin] listen` of a config (default 127.0.0.1:9090), with a wildcard host replaced by loopback.
pub fn admin_addr(config_toml: &str) -> SocketAddr {
    let table: toml::Table = toml::from_str(config_toml)
        .unwrap_or_else(|e| panic!("support::datagate: the config is not TOML: {e}"));
    let listen = table
        .get("admin")
        .and_then(|a| a.get("listen"))
        .and_then(|l| l.as_str())
        .unwrap_or("127.0.0.1:9090")
        .replace("0.0.0.0:", "127.0.0.1:")
        .replace("[::]:", "[::1]:");
    listen
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .unwrap_or_else(|| panic!("support::datagate: bad [admin] listen {listen:?}"))
}

/// The value of the sample whose series text is exactly `series` in a Prometheus exposition.
pub fn metric_value(exposition: &str, series: &str) -> Option<f64> {
    exposition.lines().find_map(|l| {
        let rest = l.strip_prefix(series)?;
        let rest = rest.strip_prefix(' ')?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// A minimal HTTP/1.1 client (one request per connection): (status, body).
pub fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.set_write_timeout(Some(Duration::from_secs(10)))?;
    let body = body.unwrap_or("");
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if !body.is_empty() {
        req.push_str("Content-Type: application/json\r\n");
    }
    if let Some(t) = token {
        req.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes())?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, "malformed HTTP response");
    let (head, rest) = text.split_once("\r\n\r\n").ok_or_else(bad)?;
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(bad)?;
    let chunked = head.lines().any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    let body = if chunked {
        dechunk(rest)
    } else {
        rest.to_string()
    };
    Ok((status, body))
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].strip_prefix("\r\n").unwrap_or(&rest[n..]);
    }
    out
}
