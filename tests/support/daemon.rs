//! The daemon under test: `datagate run -c FILE`, its admin API and its log.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::wait_until;

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
    /// Spawn the daemon without waiting for it. Log level: the config's `[log]`, or `RUST_LOG` when set.
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
