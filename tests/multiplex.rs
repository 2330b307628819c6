//! Connection multiplexing against the real Galera lab: thousands of idle sessions hold no
//! backend connection and little memory, user variables, transactions and LAST_INSERT_ID stay
//! each session's own, and a session keeps its connection while it has state only that
//! connection holds (others wait at `max_backend_connections`).

mod support;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use support::rw::{code, connect, proxy, rt};
use support::{APP_DB, APP_PASSWORD, APP_USER, GaleraLab, galera};

const SESSIONS: usize = 3000;

/// Client connections of the app account on node `n`.
fn app_connections(g: &GaleraLab, n: usize) -> usize {
    let sql =
        format!("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = '{APP_USER}'");
    g.root_sql(n, &sql).unwrap().trim().parse().unwrap()
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn thousands_of_idle_sessions_on_a_small_cluster() {
    let g = galera();
    let _serial = support::serial();
    g.wait_all_serving(Duration::from_secs(60));
    for n in 1..=3 {
        let max = g.root_sql(n, "SELECT @@max_connections").unwrap();
        assert_eq!(max.trim(), "500", "node {n}");
    }
    g.root_sql(
        1,
        &format!(
            "DROP TABLE IF EXISTS {APP_DB}.mux, {APP_DB}.mux_ai; \
             CREATE TABLE {APP_DB}.mux (id INT PRIMARY KEY, v INT NOT NULL); \
             CREATE TABLE {APP_DB}.mux_ai (id INT AUTO_INCREMENT PRIMARY KEY, session INT)"
        ),
    )
    .unwrap();
    let (dg, port) = proxy(g, "");
    support::rw::one_session(port, Duration::from_millis(500));
    let before = rss_kib(dg.pid());

    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/multiplex_sessions.py");
    let mut py = Command::new("/usr/bin/python3")
        .arg(&script)
        .args([&port.to_string(), APP_USER, APP_PASSWORD, APP_DB])
        .args([&SESSIONS.to_string(), "32"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 with PyMySQL (python3-pymysql)");
    let mut out = BufReader::new(py.stdout.take().unwrap());
    let mut line = String::new();
    let t0 = Instant::now();
    out.read_line(&mut line).unwrap();
    let opened_in = t0.elapsed();
    assert_eq!(
        line.trim(),
        format!("idle {SESSIONS}"),
        "every session opened"
    );

    // Idle: no connection held by a session, few open on the nodes.
    let in_use = "datagate_mysql_backend_connections{listener=\"rw\",state=\"in_use\"}";
    assert!(
        support::wait_until(Duration::from_secs(5), || dg.metric(in_use) == Some(0.0)),
        "{:?}",
        dg.metric(in_use)
    );
    let on_nodes: Vec<usize> = (1..=3).map(|n| app_connections(g, n)).collect();
    assert!(on_nodes.iter().all(|&c| c <= 200), "{on_nodes:?}");
    let after = rss_kib(dg.pid());
    let per_session = (after.saturating_sub(before) * 1024) / SESSIONS as u64;
    eprintln!(
        "{SESSIONS} sessions opened in {opened_in:?}; backend connections per node {on_nodes:?}; \
         datagate RSS {before} KiB -> {after} KiB: {per_session} bytes per idle session"
    );
    assert!(
        per_session <= 16 * 1024,
        "{per_session} bytes per idle session"
    );

    py.stdin.take().unwrap().write_all(b"go\n").unwrap();
    line.clear();
    out.read_line(&mut line).unwrap();
    assert!(py.wait().unwrap().success());
    eprintln!("{}", line.trim());
    for key in ["vars", "trx", "insert_id"] {
        let want = format!("\"{key}\": {SESSIONS}");
        assert!(line.contains(&want), "{key}: {line}");
    }
    let sum = g
        .root_sql(1, &format!("SELECT COUNT(*), SUM(v) FROM {APP_DB}.mux"))
        .unwrap();
    let committed = (0..SESSIONS).filter(|i| i % 10 != 0).count();
    let want_sum: usize = (0..SESSIONS).sum::<usize>() + 1000 * committed;
    assert_eq!(
        sum.split_whitespace().collect::<Vec<_>>(),
        [SESSIONS.to_string(), want_sum.to_string()]
    );
}

/// With one connection per server: a session in a transaction or with a temporary table keeps
/// its connection (another session waits, then gets an error naming the cap); once it has
/// nothing left there, the other session gets the connection, and each session's variables
/// are its own.
#[test]
fn pinned_while_state_needs_it() {
    let g = galera();
    let _serial = support::serial();
    g.wait_all_serving(Duration::from_secs(60));
    let (_dg, port) = proxy(g, "max_backend_connections = 1\nconnect_timeout = \"1s\"");
    rt().block_on(async {
        let mut a = connect(port).await;
        let mut b = connect(port).await;
        a.query_drop("SET @who = 'a'").await.unwrap();
        b.query_drop("SET @who = 'b'").await.unwrap();
        a.query_drop("BEGIN").await.unwrap();
        a.query_drop("DO 0").await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let e = b.query_drop("DO 1").await.unwrap_err();
        assert_eq!(code(&e), 1040, "{e}");
        assert!(e.to_string().contains("max_backend_connections"), "{e}");
        a.query_drop("COMMIT").await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let who: Option<String> = b.query_first("SELECT @who").await.unwrap();
        assert_eq!(who.as_deref(), Some("b"));
        a.query_drop("CREATE TEMPORARY TABLE tmp_mux (x INT)")
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let e = b.query_drop("DO 2").await.unwrap_err();
        assert_eq!(code(&e), 1040, "{e}");
        let who: Option<String> = a.query_first("SELECT @who").await.unwrap();
        assert_eq!(who.as_deref(), Some("a"));
        a.query_drop("DROP TEMPORARY TABLE tmp_mux").await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        b.query_drop("DO 3").await.unwrap();
        let who: Option<String> = a.query_first("SELECT @who").await.unwrap();
        assert_eq!(who.as_deref(), Some("a"));
    });
}

/// `autocommit = 0` is session state like any other: after the session's connection served
/// another session (reset, other history), the next write still opens a transaction that only
/// the session sees and that its ROLLBACK undoes.
#[test]
fn autocommit_off_survives_sharing() {
    let g = galera();
    let _serial = support::serial();
    g.wait_all_serving(Duration::from_secs(60));
    g.root_sql(
        1,
        &format!(
            "DROP TABLE IF EXISTS {APP_DB}.mux_ac; \
             CREATE TABLE {APP_DB}.mux_ac (id INT PRIMARY KEY)"
        ),
    )
    .unwrap();
    let (_dg, port) = proxy(g, "max_backend_connections = 1");
    rt().block_on(async {
        let mut a = connect(port).await;
        let mut b = connect(port).await;
        a.query_drop("SET autocommit = 0").await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        // b takes the only master connection, in its own state.
        b.query_drop("SET @b = 1").await.unwrap();
        b.query_drop("DO @b").await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        a.query_drop("INSERT INTO mux_ac VALUES (1)").await.unwrap();
        let mine: Option<i64> = a.query_first("SELECT COUNT(*) FROM mux_ac").await.unwrap();
        assert_eq!(mine, Some(1), "the session sees its own insert");
        a.query_drop("ROLLBACK").await.unwrap();
        let after: Option<i64> = a.query_first("SELECT COUNT(*) FROM mux_ac").await.unwrap();
        assert_eq!(
            after,
            Some(0),
            "the insert was in a transaction, rolled back"
        );
        let ac: Option<i64> = a.query_first("SELECT @@autocommit").await.unwrap();
        assert_eq!(ac, Some(0));
        a.query_drop("COMMIT").await.unwrap();
    });
    let n = g
        .root_sql(1, &format!("SELECT COUNT(*) FROM {APP_DB}.mux_ac"))
        .unwrap();
    assert_eq!(n.trim(), "0");
}
