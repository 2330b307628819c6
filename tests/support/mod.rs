//! Shared support for datagate's end-to-end tests (`mod support;` in each `tests/*.rs`).
//!
//! - [`galera()`] / [`redis()`]: a real 3-node MariaDB Galera cluster and a Redis master with 2
//!   replicas and 3 Sentinels, started once per test binary with the scripts in `lab/` and shared
//!   by every test (and every test binary: starting is idempotent and serialised by a file lock).
//! - [`datagate()`]: the daemon under test, spawned with a config, killed on drop.
//! - [`mysql()`], [`redis_cli()`], [`free_port()`]: small client helpers.
//!
//! The test lab lives in `/tmp/datagate-test-lab` with every port shifted by 500 (Galera 13806-13808,
//! Redis 16879-16881, Sentinels 26879-26881), so it runs beside a lab on the default ports. Override
//! with `DATAGATE_TEST_LAB_DIR` and `DATAGATE_TEST_PORT_OFFSET` (and the Galera timeouts with
//! `DATAGATE_TEST_GALERA_PROVIDER_OPTIONS`). The lab keeps running after the tests
//! (the next run reuses it in a few seconds); `scripts/test.sh` stops it, or by hand:
//! `sudo LAB_DIR=/tmp/datagate-test-lab LAB_PORT_OFFSET=500 lab/all.sh stop`.
//!
//! The lab needs root and installs its Debian packages with apt-get when they are missing. When it
//! cannot start, the test fails with the script's output: a missing server is a failure, never a skip.
//!
//! Tests that break the lab (kill, desync, failover) should hold [`serial()`] and put things back
//! with [`GaleraLab::heal`] / [`RedisLab::start`] (or a [`GaleraLab::heal_on_drop`] guard), so that
//! the next test finds a healthy lab.
#![allow(dead_code)]

mod client;
mod daemon;
pub mod fault;
mod galera;
mod haproxy;
mod redis;
pub mod rw;

#[allow(unused_imports)]
pub use client::*;
#[allow(unused_imports)]
pub use daemon::*;
#[allow(unused_imports)]
pub use galera::*;
#[allow(unused_imports)]
pub use haproxy::*;
#[allow(unused_imports)]
pub use redis::*;

use std::fs::{self, OpenOptions};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use nix::fcntl::{Flock, FlockArg};

/// Default state directory of the test lab.
pub const TEST_LAB_DIR: &str = "/tmp/datagate-test-lab";
/// Default port offset of the test lab (a demo lab can keep the default ports).
pub const TEST_PORT_OFFSET: u16 = 500;
/// Galera failure detection for tests: a dead node is evicted in ~2 s instead of ~6 s.
/// `join_retrans_period` must stay well below `suspect_timeout`, or the survivors suspect each other
/// while they agree on a new view and the cluster falls apart into non-Primary singletons.
pub const GALERA_TEST_PROVIDER_OPTIONS: &str = "evs.suspect_timeout=PT1S; evs.inactive_timeout=PT2S; \
     evs.keepalive_period=PT0.2S; evs.join_retrans_period=PT0.2S";
/// [`GALERA_TEST_PROVIDER_OPTIONS`], or `DATAGATE_TEST_GALERA_PROVIDER_OPTIONS` when set (empty: the
/// Galera defaults, e.g. to measure failover with production timeouts). Applies to nodes (re)started.
pub fn galera_provider_options() -> String {
    std::env::var("DATAGATE_TEST_GALERA_PROVIDER_OPTIONS")
        .unwrap_or_else(|_| GALERA_TEST_PROVIDER_OPTIONS.to_string())
}
/// MariaDB application account of the lab (ALL on `appdb.*` and `sbtest.*`).
pub const APP_USER: &str = "app";
pub const APP_PASSWORD: &str = "app";
pub const APP_DB: &str = "appdb";
/// MariaDB monitor account of the lab (wsrep status, `mysql.user`).
pub const MONITOR_USER: &str = "monitor";
pub const MONITOR_PASSWORD: &str = "monitor";
/// Sentinel master name of the lab.
pub const REDIS_MASTER_NAME: &str = "dn";

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
            .env("GALERA_EXTRA_PROVIDER_OPTIONS", galera_provider_options())
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
