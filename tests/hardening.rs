//! What bad or idle clients cost, against the real Galera lab: nothing reaches a server before a
//! client has logged in, per-session state is capped in bytes and commands with clear errors,
//! idle clients are dropped after `client_timeout`, `KILL` takes datagate's session ids, and
//! the admin API drops clients that send their request too slowly.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use support::rw::{code, connect, proxy, rt};
use support::{GaleraLab, galera};

/// Connections on every node that are not the monitor's or the lab's own.
fn client_connections(g: &GaleraLab) -> usize {
    (1..=3)
        .map(|n| {
            let out = g
                .root_sql(
                    n,
                    "SELECT COUNT(*) FROM information_schema.PROCESSLIST \
                     WHERE USER NOT IN ('monitor', 'root', 'system user', 'event_scheduler')",
                )
                .expect("processlist");
            out.trim().parse::<usize>().expect("a count")
        })
        .sum()
}

/// Reads the greeting; its connection id.
fn greeting(s: &mut TcpStream) -> u32 {
    let mut head = [0u8; 4];
    s.read_exact(&mut head).expect("greeting header");
    let len = usize::from(head[0]) | usize::from(head[1]) << 8 | usize::from(head[2]) << 16;
    let mut p = vec![0u8; len];
    s.read_exact(&mut p).expect("greeting");
    let nul = p[1..].iter().position(|b| *b == 0).expect("version") + 2;
    u32::from_le_bytes(p[nul..nul + 4].try_into().unwrap())
}

/// Clients that connect and then idle, send garbage or send a huge login get their greeting
/// (each with its own connection id) or an error, and no server sees a connection for them.
#[test]
fn nothing_reaches_a_server_before_login() {
    let g = galera();
    g.wait_all_serving(Duration::from_secs(60));
    let (dg, port) = proxy(g, "handshake_timeout = \"30s\"");
    // A first session makes sure the monitor has run; it leaves before counting, its
    // connections stay in the shared pool.
    support::rw::one_session(port, Duration::from_millis(300));
    let base = client_connections(g);
    assert!(
        (1..=2).contains(&base),
        "the first session's master and reader connections, shared now: {base}"
    );
    let mut idle = Vec::new();
    let mut ids = std::collections::BTreeSet::new();
    for _ in 0..30 {
        let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        ids.insert(greeting(&mut s));
        idle.push(s);
    }
    assert_eq!(ids.len(), 30, "every session has its own connection id");
    assert!(!ids.contains(&0));
    // A login packet larger than any login (20 KiB) is refused without being buffered whole.
    let mut big = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    big.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    greeting(&mut big);
    let len: u32 = 20 * 1024;
    let mut p = len.to_le_bytes()[..3].to_vec();
    p.push(1);
    p.extend(std::iter::repeat_n(b'x', 1024));
    big.write_all(&p).unwrap();
    let mut reply = Vec::new();
    let _ = big.read_to_end(&mut reply);
    assert_eq!(reply.get(4), Some(&0xFF), "an ERR: {reply:?}");
    assert_eq!(
        client_connections(g),
        base,
        "no backend connection for clients not logged in"
    );
    drop(idle);
    // Counted once datagate has closed its side (after a short linger).
    let series = "datagate_listener_rejected_total{listener=\"rw\",reason=\"max_allowed_packet\"}";
    assert!(
        support::wait_until(Duration::from_secs(5), || dg.metric(series) == Some(1.0)),
        "{:?}",
        dg.metric(series)
    );
}

/// Past `max_session_memory` bytes or `max_session_history` commands of kept state, commands
/// that would add to it are refused with ERR 1290 and do not run; the session goes on.
#[test]
fn session_state_is_capped() {
    let g = galera();
    g.wait_all_serving(Duration::from_secs(60));
    let (_dg, port) = proxy(g, "max_session_memory = 4096\nmax_session_history = 3");
    rt().block_on(async {
        let mut c = connect(port).await;
        c.query_drop("SET @a = 1").await.unwrap();
        let big = format!("SET @big = '{}'", "x".repeat(5000));
        let e = c.query_drop(&big).await.expect_err("too big to keep");
        assert_eq!(code(&e), 1290, "{e}");
        assert!(e.to_string().contains("max_session_memory"), "{e}");
        let v: Option<Option<String>> = c.query_first("SELECT @big").await.unwrap();
        assert_eq!(v, Some(None), "the refused SET did not run");
        c.query_drop("SET @b = 2").await.unwrap();
        c.query_drop("SET @c = 3").await.unwrap();
        let e = c
            .query_drop("SET @d = 4")
            .await
            .expect_err("a fourth command");
        assert_eq!(code(&e), 1290, "{e}");
        assert!(e.to_string().contains("max_session_history"), "{e}");
        c.query_drop("SET @a = 5")
            .await
            .expect("superseding SET @a fits");
        let e = c
            .prep(format!("SELECT '{}'", "y".repeat(5000)))
            .await
            .expect_err("a prepared statement too big to keep");
        assert_eq!(code(&e), 1290, "{e}");
        let sum: Option<i64> = c.query_first("SELECT @a + @b + @c").await.unwrap();
        assert_eq!(sum, Some(10), "the session goes on");
    });
}

/// A client idle past `client_timeout` is disconnected, with ERR 4031 and a counted reason.
#[test]
fn idle_clients_are_dropped_after_client_timeout() {
    let g = galera();
    g.wait_all_serving(Duration::from_secs(60));
    let (dg, port) = proxy(g, "client_timeout = \"1s\"");
    rt().block_on(async {
        let mut c = connect(port).await;
        let _: Option<i64> = c.query_first("SELECT 1").await.unwrap();
        tokio::time::sleep(Duration::from_millis(1600)).await;
        assert!(c.query_drop("SELECT 1").await.is_err(), "closed while idle");
        let mut busy = connect(port).await;
        for _ in 0..4 {
            tokio::time::sleep(Duration::from_millis(400)).await;
            let _: Option<i64> = busy
                .query_first("SELECT 1")
                .await
                .expect("an active client stays");
        }
    });
    let m =
        dg.metric("datagate_listener_rejected_total{listener=\"rw\",reason=\"client_timeout\"}");
    assert_eq!(m, Some(1.0));
}

/// `KILL QUERY id` and `KILL id` take the connection id the client got in the greeting;
/// unknown ids are refused, not sent to a server where they name someone else's thread.
#[test]
fn kill_takes_session_ids() {
    let g = galera();
    g.wait_all_serving(Duration::from_secs(60));
    let (_dg, port) = proxy(g, "");
    rt().block_on(async {
        let mut victim = connect(port).await;
        let id = victim.id();
        let mut killer = connect(port).await;
        let sleeper = tokio::spawn(async move {
            let t0 = Instant::now();
            let r: Result<Option<i64>, _> = victim.query_first("SELECT SLEEP(20)").await;
            (victim, r, t0.elapsed())
        });
        tokio::time::sleep(Duration::from_millis(500)).await;
        killer
            .query_drop(format!("KILL QUERY {id}"))
            .await
            .expect("KILL QUERY");
        let (mut victim, r, took) = sleeper.await.unwrap();
        assert!(
            took < Duration::from_secs(5),
            "the query was killed: {r:?} after {took:?}"
        );
        let one: Option<i64> = victim
            .query_first("SELECT 1")
            .await
            .expect("the session lives on");
        assert_eq!(one, Some(1));
        killer.query_drop(format!("KILL {id}")).await.expect("KILL");
        assert!(
            victim.query_drop("SELECT 1").await.is_err(),
            "the session was killed"
        );
        let e = killer
            .query_drop("KILL 4000000000")
            .await
            .expect_err("unknown id");
        assert_eq!(code(&e), 1094, "{e}");
        let e = killer
            .query_drop("KILL QUERY ID 5")
            .await
            .expect_err("by query id");
        assert_eq!(code(&e), 1235, "{e}");
    });
}

/// An admin client that never finishes its request headers is dropped after a few seconds;
/// the API keeps answering meanwhile.
#[test]
fn admin_drops_slow_requests() {
    let admin = support::free_port();
    let dg = support::datagate(&format!("[admin]\nlisten = \"127.0.0.1:{admin}\"\n"));
    let mut slow = TcpStream::connect(("127.0.0.1", admin)).expect("connect");
    slow.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let t0 = Instant::now();
    let (status, _) = dg.get("/healthz").expect("healthz");
    assert_eq!(status, 200);
    let mut rest = Vec::new();
    let _ = slow.read_to_end(&mut rest);
    let took = t0.elapsed();
    assert!(took < Duration::from_secs(10), "dropped after {took:?}");
    assert!(
        took >= Duration::from_secs(4),
        "not before the header timeout: {took:?}"
    );
}
