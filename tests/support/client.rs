//! Small client helpers: the `mariadb` and `redis-cli` command-line clients, ports, polling.

use std::io::Read;
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::path_with_sbin;

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
    // Lossy: a dump may hold bytes that are not UTF-8.
    let t_out = thread::spawn(move || {
        let mut b = Vec::new();
        let _ = so.read_to_end(&mut b);
        String::from_utf8_lossy(&b).into_owned()
    });
    let t_err = thread::spawn(move || {
        let mut b = Vec::new();
        let _ = se.read_to_end(&mut b);
        String::from_utf8_lossy(&b).into_owned()
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

/// `["a", "b"]`: a TOML array of strings.
pub fn toml_list(items: impl Iterator<Item = String>) -> String {
    let v: Vec<String> = items.map(|s| format!("\"{s}\"")).collect();
    format!("[{}]", v.join(", "))
}

/// Options for datagate's own MySQL client: the app account on `127.0.0.1:port`.
pub fn app_connect_opts(port: u16) -> datagate::mysql::client::ConnectOptions {
    datagate::mysql::client::ConnectOptions {
        addr: format!("127.0.0.1:{port}"),
        user: super::APP_USER.into(),
        password: datagate::mysql::client::Password::Cleartext(super::APP_PASSWORD.into()),
        database: Some(super::APP_DB.into()),
        connect_timeout: Duration::from_secs(5),
        proxy_header: None,
    }
}
