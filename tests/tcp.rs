//! Generic L4 `[[tcp]]` listeners against local servers: balancing, backups, retries, limits,
//! PROXY protocol, admin API, reload under traffic and graceful stop.

mod support;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use support::{Datagate, free_port, wait_until};

/// A line-echo server that prefixes every reply with its name, and records the first bytes
/// of each connection (to inspect PROXY headers).
struct Echo {
    port: u16,
    first_bytes: Arc<Mutex<Vec<Vec<u8>>>>,
    stop: Arc<AtomicBool>,
}

impl Echo {
    fn start(name: &'static str) -> Echo {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let first_bytes = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (fb, st) = (first_bytes.clone(), stop.clone());
        l.set_nonblocking(true).unwrap();
        thread::spawn(move || {
            while !st.load(Ordering::Relaxed) {
                match l.accept() {
                    Ok((mut s, _)) => {
                        let fb = fb.clone();
                        s.set_nonblocking(false).unwrap();
                        thread::spawn(move || {
                            let mut buf = [0u8; 4096];
                            let mut first = true;
                            loop {
                                let n = match s.read(&mut buf) {
                                    Ok(0) | Err(_) => return,
                                    Ok(n) => n,
                                };
                                if first {
                                    fb.lock().unwrap().push(buf[..n].to_vec());
                                    first = false;
                                }
                                let mut reply = format!("{name}:").into_bytes();
                                reply.extend_from_slice(&buf[..n]);
                                if s.write_all(&reply).is_err() {
                                    return;
                                }
                            }
                        });
                    }
                    Err(_) => thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Echo {
            port,
            first_bytes,
            stop,
        }
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn config(listen: u16, admin: u16, servers: &str, extra: &str) -> String {
    format!(
        "[global]\nshutdown_timeout = \"3s\"\n[admin]\nlisten = \"127.0.0.1:{admin}\"\ntoken = \"t0ken\"\n\
         [[tcp]]\nname = \"svc\"\nlisten = \"127.0.0.1:{listen}\"\nservers = [{servers}]\n\
         check_interval = \"100ms\"\nrise = 1\nfall = 1\n{extra}\n"
    )
}

/// Sends `msg` on a new connection and returns the reply ("name:msg"), or None if closed.
fn ask(port: u16, msg: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
    s.write_all(msg.as_bytes()).ok()?;
    let mut buf = [0u8; 256];
    let n = s.read(&mut buf).ok()?;
    (n > 0).then(|| String::from_utf8_lossy(&buf[..n]).into_owned())
}

fn who(port: u16) -> Option<String> {
    ask(port, "x").map(|r| r.trim_end_matches(":x").to_string())
}

#[test]
fn roundrobin_backup_and_health() {
    let (a, b, bk) = (Echo::start("a"), Echo::start("b"), Echo::start("backup"));
    let (port, admin) = (free_port(), free_port());
    let servers = format!(
        "\"127.0.0.1:{}\", \"127.0.0.1:{}\", {{ addr = \"127.0.0.1:{}\", backup = true }}",
        a.port, b.port, bk.port
    );
    let dg = support::datagate(&config(port, admin, &servers, ""));
    let mut seen: Vec<String> = (0..4).filter_map(|_| who(port)).collect();
    seen.sort();
    assert_eq!(
        seen,
        ["a", "a", "b", "b"],
        "round robin over both actives, backup unused"
    );
    drop(a);
    drop(b);
    // Health checks mark both actives down; the backup takes over.
    assert!(
        wait_until(Duration::from_secs(5), || who(port).as_deref()
            == Some("backup")),
        "{}",
        dg.log_tail(30)
    );
    // The backup may first answer through connect-failure retries, before the
    // health checks have run; the API must then catch up with both down.
    let both_down = |s: &str| s.matches("\"state\": \"down\"").count() == 2;
    assert!(
        wait_until(Duration::from_secs(5), || dg
            .get("/api/v1/servers")
            .is_ok_and(|(_, s)| both_down(&s))),
        "{}",
        dg.get("/api/v1/servers")
            .map(|(_, s)| s)
            .unwrap_or_default()
    );
}

#[test]
fn connect_failure_retries_next_server_and_unreachable_is_counted() {
    let good = Echo::start("good");
    let dead = free_port();
    let (port, admin) = (free_port(), free_port());
    let servers = format!("\"127.0.0.1:{dead}\", \"127.0.0.1:{}\"", good.port);
    let dg = support::datagate(&config(
        port,
        admin,
        &servers,
        "check = \"none\"\nbalance = \"first\"",
    ));
    for _ in 0..3 {
        assert_eq!(
            who(port).as_deref(),
            Some("good"),
            "retry on the next server"
        );
    }
    drop(dg);

    let (port, admin) = (free_port(), free_port());
    let dg = support::datagate(&config(
        port,
        admin,
        &format!("\"127.0.0.1:{dead}\""),
        "check = \"none\"",
    ));
    let t0 = Instant::now();
    assert_eq!(ask(port, "x"), None, "closed when no server answers");
    assert!(t0.elapsed() < Duration::from_secs(2), "closed promptly");
    assert!(wait_until(Duration::from_secs(2), || {
        dg.metric("datagate_listener_rejected_total{listener=\"svc\",reason=\"connect_failed\"}")
            >= Some(1.0)
    }));
}

#[test]
fn max_connections_refuses_and_counts() {
    let e = Echo::start("e");
    let (port, admin) = (free_port(), free_port());
    let dg = support::datagate(&config(
        port,
        admin,
        &format!("\"127.0.0.1:{}\"", e.port),
        "max_connections = 3",
    ));
    let held: Vec<TcpStream> = (0..3)
        .map(|_| {
            let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
            s.write_all(b"hi").unwrap();
            let mut b = [0u8; 16];
            let _ = s.read(&mut b).unwrap();
            s
        })
        .collect();
    assert_eq!(ask(port, "x"), None, "fourth connection is refused");
    assert!(
        dg.metric("datagate_listener_rejected_total{listener=\"svc\",reason=\"max_connections\"}")
            >= Some(1.0)
    );
    drop(held);
    assert!(
        wait_until(Duration::from_secs(3), || who(port).as_deref() == Some("e")),
        "accepts again once below the limit"
    );
}

/// `client_timeout` (HAProxy `timeout client`) closes a session whose client stays silent; a
/// client that keeps talking stays, and the close is counted.
#[test]
fn idle_sessions_close_after_client_timeout() {
    let e = Echo::start("e");
    let (port, admin) = (free_port(), free_port());
    let dg = support::datagate(&config(
        port,
        admin,
        &format!("\"127.0.0.1:{}\"", e.port),
        "client_timeout = \"1s\"",
    ));
    let open = |msg: &[u8]| {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(msg).unwrap();
        let mut b = [0u8; 16];
        assert!(s.read(&mut b).unwrap() > 0);
        s
    };
    let mut idle = open(b"a");
    let mut busy = open(b"b");
    let t0 = Instant::now();
    for _ in 0..5 {
        thread::sleep(Duration::from_millis(400));
        busy.write_all(b"b").unwrap();
        let mut b = [0u8; 16];
        assert!(busy.read(&mut b).unwrap() > 0, "a talking client stays");
    }
    let mut b = [0u8; 16];
    assert_eq!(
        idle.read(&mut b).unwrap_or(0),
        0,
        "the silent client was closed"
    );
    assert!(t0.elapsed() >= Duration::from_secs(1));
    assert_eq!(
        dg.metric("datagate_listener_rejected_total{listener=\"svc\",reason=\"idle_timeout\"}"),
        Some(1.0)
    );
}

#[test]
fn proxy_protocol_send_v1_and_accept_v2() {
    let e = Echo::start("e");
    let (port, admin) = (free_port(), free_port());
    let cfg = config(
        port,
        admin,
        &format!("\"127.0.0.1:{}\"", e.port),
        "send_proxy = \"v1\"\naccept_proxy = true",
    );
    let _dg = support::datagate(&cfg);
    // Client sends a v1 header claiming 192.0.2.7:4242; the backend must see it forwarded.
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    s.write_all(b"PROXY TCP4 192.0.2.7 127.0.0.1 4242 80\r\nhello")
        .unwrap();
    let mut buf = [0u8; 256];
    let n = s.read(&mut buf).unwrap();
    let reply = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(reply.contains("hello"), "{reply}");
    let first = e.first_bytes.lock().unwrap()[0].clone();
    let first = String::from_utf8_lossy(&first).into_owned();
    assert!(
        first.starts_with("PROXY TCP4 192.0.2.7 127.0.0.1 4242 80\r\n"),
        "{first:?}"
    );
    // A client without a header is refused (accept_proxy is on).
    assert_eq!(ask(port, "GET / HTTP/1.0\r\n\r\n"), None);
}

#[test]
fn admin_api_token_drain_and_maint() {
    let (a, b) = (Echo::start("a"), Echo::start("b"));
    let (port, admin) = (free_port(), free_port());
    let servers = format!("\"127.0.0.1:{}\", \"127.0.0.1:{}\"", a.port, b.port);
    let dg = support::datagate(&config(port, admin, &servers, "balance = \"first\""));
    let path = format!("/api/v1/servers/svc/127.0.0.1:{}/state", a.port);
    let (code, _) = dg
        .request("POST", &path, None, Some("{\"state\":\"drain\"}"))
        .unwrap();
    assert_eq!(code, 401);
    let (code, _) = dg
        .request("POST", &path, Some("wrong"), Some("{\"state\":\"drain\"}"))
        .unwrap();
    assert_eq!(code, 401);
    let (code, _) = dg.request("POST", "/api/v1/reload", None, None).unwrap();
    assert_eq!(code, 401);

    // A session on "a" survives drain but not maint.
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    s.write_all(b"1").unwrap();
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"a:1");
    let (code, body) = dg
        .request("POST", &path, Some("t0ken"), Some("{\"state\":\"drain\"}"))
        .unwrap();
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        who(port).as_deref(),
        Some("b"),
        "drained server takes no new session"
    );
    s.write_all(b"2").unwrap();
    let n = s.read(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"a:2", "drain keeps the open session");
    let (code, _) = dg
        .request("POST", &path, Some("t0ken"), Some("{\"state\":\"maint\"}"))
        .unwrap();
    assert_eq!(code, 200);
    let closed = matches!(s.read(&mut buf), Ok(0) | Err(_));
    assert!(closed, "maint closes the open session");
    let (code, _) = dg
        .request("POST", &path, Some("t0ken"), Some("{\"state\":\"bogus\"}"))
        .unwrap();
    assert_eq!(code, 400);
    let (code, _) = dg
        .request(
            "POST",
            "/api/v1/servers/svc/nope:1/state",
            Some("t0ken"),
            Some("{\"state\":\"ready\"}"),
        )
        .unwrap();
    assert_eq!(code, 404);
    let (code, _) = dg
        .request("POST", &path, Some("t0ken"), Some("{\"state\":\"ready\"}"))
        .unwrap();
    assert_eq!(code, 200);
    assert_eq!(who(port).as_deref(), Some("a"));
}

/// Reloads under a steady stream of new and long-lived connections: none fails.
#[test]
fn reload_under_traffic_loses_nothing() {
    let (a, b) = (Echo::start("a"), Echo::start("b"));
    let (port, admin, port2) = (free_port(), free_port(), free_port());
    let cfg_a = config(port, admin, &format!("\"127.0.0.1:{}\"", a.port), "");
    let cfg_b = config(port, admin, &format!("\"127.0.0.1:{}\"", b.port), "")
        + &format!(
            "[[tcp]]\nname = \"extra\"\nlisten = \"127.0.0.1:{port2}\"\nservers = [\"127.0.0.1:{}\"]\n",
            a.port
        );
    let dg = support::datagate(&cfg_a);

    // A long-lived session opened before the reloads.
    let mut long = TcpStream::connect(("127.0.0.1", port)).unwrap();
    long.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    long.write_all(b"before").unwrap();
    let mut buf = [0u8; 64];
    let n = long.read(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"a:before");

    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (stop, ok, failed) = (stop.clone(), ok.clone(), failed.clone());
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match ask(port, "p") {
                        Some(r) if r.ends_with(":p") => ok.fetch_add(1, Ordering::Relaxed),
                        _ => failed.fetch_add(1, Ordering::Relaxed),
                    };
                }
            })
        })
        .collect();
    for i in 0..10 {
        dg.write_config(if i % 2 == 0 { &cfg_b } else { &cfg_a });
        dg.reload();
        thread::sleep(Duration::from_millis(150));
    }
    // End on cfg_b: the new server list applies to new sessions, the extra listener exists.
    dg.write_config(&cfg_b);
    dg.reload();
    assert!(wait_until(Duration::from_secs(3), || who(port).as_deref() == Some("b")));
    assert_eq!(who(port2).as_deref(), Some("a"), "listener added by reload");
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    let (ok, failed) = (ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    eprintln!("reload under traffic: {ok} sessions ok, {failed} failed, 11 reloads");
    assert!(ok > 100, "too little traffic to mean anything: {ok}");
    assert_eq!(failed, 0, "sessions lost during reloads");
    long.write_all(b"still").unwrap();
    let n = long.read(&mut buf).unwrap();
    assert_eq!(
        &buf[..n],
        b"a:still",
        "the session opened before the reloads is untouched"
    );
    assert!(dg.metric("datagate_config_reloads_total{result=\"ok\"}") >= Some(11.0));

    // A broken file changes nothing and is counted.
    dg.write_config("[[tcp]]\nname = \"svc\"\nbogus = 1\n");
    dg.reload();
    assert!(wait_until(Duration::from_secs(3), || dg
        .metric("datagate_config_reloads_total{result=\"error\"}")
        == Some(1.0)));
    assert_eq!(
        who(port).as_deref(),
        Some("b"),
        "still serving after a bad reload"
    );
    let (code, body) = dg
        .request("POST", "/api/v1/reload", Some("t0ken"), None)
        .unwrap();
    assert_eq!(code, 400);
    assert!(
        body.contains("datagate.toml:3:1"),
        "API returns the located error: {body}"
    );
    // Removing a listener stops accepting on it.
    dg.write_config(&cfg_a);
    let (code, _) = dg
        .request("POST", "/api/v1/reload", Some("t0ken"), None)
        .unwrap();
    assert_eq!(code, 200);
    assert!(TcpStream::connect(("127.0.0.1", port2)).is_err() || ask(port2, "x").is_none());
}

/// SIGTERM: stop accepting, let the open session finish, exit 0.
#[test]
fn graceful_stop_drains_then_exits_zero() {
    let e = Echo::start("e");
    let (port, admin) = (free_port(), free_port());
    let mut dg: Datagate = support::datagate(&config(
        port,
        admin,
        &format!("\"127.0.0.1:{}\"", e.port),
        "",
    ));
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"1").unwrap();
    let mut buf = [0u8; 16];
    let _ = s.read(&mut buf).unwrap();
    dg.signal(nix::sys::signal::Signal::SIGTERM);
    thread::sleep(Duration::from_millis(300));
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "no longer accepting"
    );
    s.write_all(b"2").unwrap();
    let n = s.read(&mut buf).unwrap();
    assert_eq!(
        &buf[..n],
        b"e:2",
        "open session still served while draining"
    );
    s.shutdown(Shutdown::Both).unwrap();
    let st = dg.stop_within(Duration::from_secs(5)).expect("exit status");
    assert_eq!(st.code(), Some(0));
}
