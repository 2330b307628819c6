//! The `[[mysql]]` listener against the real 3-node Galera lab: the `mariadb` CLI, `mariadb-dump`,
//! sysbench (prepared statements), a 20 MiB BLOB, handshake limits, and a master kill under writes.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use datagate::mysql::auth::scramble_reply;
use datagate::mysql::client::{ClientError, ConnectOptions, Connection};
use mysql_common::constants::Command as Cmd;
use support::{
    APP_DB, APP_PASSWORD, APP_USER, Datagate, GaleraLab, free_port, galera, mysql, mysql_db,
    run_cmd,
};

/// A daemon with a `[[galera]]` monitor and a `[[mysql]]` listener (`extra` lines added to it).
fn proxy(g: &GaleraLab, extra: &str) -> (Datagate, u16) {
    let (port, admin) = (free_port(), free_port());
    let cfg = format!(
        "[admin]\nlisten = \"127.0.0.1:{admin}\"\n{}\
         [[mysql]]\nname = \"rw\"\nlisten = \"127.0.0.1:{port}\"\ncluster = \"g\"\n{extra}\n",
        g.config_section("g")
    );
    (support::datagate(&cfg), port)
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn connect_opts(port: u16) -> ConnectOptions {
    support::app_connect_opts(port)
}

/// The master's port, asked through datagate (a locking read goes to the master).
fn master_port(g: &GaleraLab, port: u16) -> u16 {
    let p: u16 = mysql(port, APP_USER, APP_PASSWORD, "SELECT @@port FOR UPDATE")
        .expect("query through datagate")
        .parse()
        .expect("a port");
    assert!(g.ports().contains(&p), "{p}");
    p
}

/// Queries, `USE`, errors with code and SQLSTATE, wrong password, an account of another plugin,
/// an account without a password, LOAD DATA LOCAL INFILE and `mariadb-dump`.
#[test]
fn cli_through_datagate() {
    let g = galera();
    g.wait_all_serving(Duration::from_secs(60));
    let (dg, port) = proxy(g, "");
    master_port(g, port);
    let out = mysql_db(
        port,
        APP_USER,
        APP_PASSWORD,
        APP_DB,
        "SELECT DATABASE(); USE sbtest; SELECT DATABASE(), 1+1",
    )
    .expect("queries");
    assert_eq!(out, "appdb\nsbtest\t2");
    let e = mysql_db(
        port,
        APP_USER,
        APP_PASSWORD,
        APP_DB,
        "SELECT * FROM no_such_table",
    )
    .unwrap_err();
    assert!(e.contains("ERROR 1146 (42S02)"), "{e}");
    let e = mysql(port, APP_USER, "wrong", "SELECT 1").unwrap_err();
    assert!(
        e.contains("ERROR 1045 (28000)") && e.contains("using password: YES"),
        "{e}"
    );
    let e = mysql(port, "nobody", "x", "SELECT 1").unwrap_err();
    assert!(e.contains("ERROR 1045 (28000)"), "{e}");

    // Accounts created now are found after the (rate-limited) reload a failed login triggers.
    g.root_sql(
        1,
        "CREATE USER IF NOT EXISTS 'dg_sock'@'%' IDENTIFIED VIA unix_socket; \
         CREATE USER IF NOT EXISTS 'dg_nopw'@'%'; GRANT SELECT ON appdb.* TO 'dg_nopw'@'%'",
    )
    .expect("create accounts");
    std::thread::sleep(Duration::from_millis(1100));
    let e = mysql(port, "dg_sock", "x", "SELECT 1").unwrap_err();
    assert!(
        e.contains("unix_socket") && e.contains("1251"),
        "a clear error naming the plugin: {e}"
    );
    let out = mysql(port, "dg_nopw", "", "SELECT CURRENT_USER()");
    assert_eq!(
        out.as_deref(),
        Ok("dg_nopw@%"),
        "an account without a password"
    );

    // LOAD DATA LOCAL INFILE.
    let dir = support::scratch_dir("mysql-infile");
    let csv = dir.join("rows.csv");
    std::fs::write(&csv, "1,one\n2,two\n3,three\n").expect("write csv");
    let sql = format!(
        "DROP TABLE IF EXISTS li; CREATE TABLE li (id INT PRIMARY KEY, s VARCHAR(10)); \
         LOAD DATA LOCAL INFILE '{}' INTO TABLE li FIELDS TERMINATED BY ','; \
         SELECT COUNT(*) FROM li FOR UPDATE",
        csv.display()
    );
    let out = run_cmd(
        Command::new("mariadb").args([
            "--no-defaults",
            "-h127.0.0.1",
            &format!("-P{port}"),
            "-uapp",
            "-papp",
            "--local-infile=1",
            "-N",
            "-B",
            APP_DB,
            "-e",
            &sql,
        ]),
        Duration::from_secs(30),
    );
    assert_eq!(out.as_deref(), Ok("3"), "{}", dg.log_tail(20));

    let dump = run_cmd(
        Command::new("mariadb-dump").args([
            "--no-defaults",
            "-h127.0.0.1",
            &format!("-P{port}"),
            "-uapp",
            "-papp",
            "--single-transaction",
            APP_DB,
        ]),
        Duration::from_secs(60),
    )
    .expect("mariadb-dump through datagate");
    assert!(
        dump.contains("CREATE TABLE `li`") && dump.contains("-- Dump completed"),
        "{dump}"
    );
    let rejected = dg.metric("datagate_listener_rejected_total{listener=\"rw\",reason=\"auth\"}");
    assert!(rejected.unwrap_or(0.0) >= 3.0, "{rejected:?}");
    let queries = dg.metric("datagate_mysql_queries_total{listener=\"rw\",route=\"master\"}");
    assert!(queries.unwrap_or(0.0) > 5.0, "{queries:?}");
}

/// sysbench oltp_point_select and oltp_read_write (prepared statements) with zero errors.
#[test]
fn sysbench_through_datagate() {
    let g = galera();
    g.wait_all_serving(Duration::from_secs(60));
    let (dg, port) = proxy(g, "");
    g.lab.must("sysbench.sh", &["prepare"]);
    let out = g
        .lab
        .must("sysbench.sh", &["run", &port.to_string(), "3", "4"]);
    let results: Vec<&str> = out.lines().filter(|l| l.starts_with("RESULT")).collect();
    assert_eq!(results.len(), 2, "{out}\n{}", dg.log_tail(30));
    for r in results {
        assert!(r.contains("ignored_errors=0"), "{r}");
        assert!(!r.contains("qps=0.00"), "{r}");
    }
    // The sessions ran on the io_uring engine wherever the kernel allows it.
    let engine = if io_uring::IoUring::new(2).is_ok() {
        "relay_engine=\"io_uring\""
    } else {
        "relay_engine=\"epoll\""
    };
    assert!(dg.log().contains(engine), "{engine}:\n{}", dg.log_tail(30));
}

/// A 20 MiB BLOB goes in (a split client packet) and out (a split row); a packet above the
/// listener's `max_allowed_packet` gets ERR 1153 and the connection closes.
#[test]
fn big_packets() {
    let g = galera();
    g.wait_all_serving(Duration::from_secs(60));
    for n in 1..=3 {
        g.root_sql(n, "SET GLOBAL max_allowed_packet = 67108864")
            .expect("max_allowed_packet");
    }
    let (_dg, port) = proxy(g, "");
    let (_small, small_port) = proxy(g, "max_allowed_packet = 1048576");
    rt().block_on(async {
        let mut c = Connection::connect(&connect_opts(port))
            .await
            .expect("login");
        c.query("CREATE TABLE IF NOT EXISTS blobs (id INT PRIMARY KEY, b LONGBLOB)")
            .await
            .expect("create");
        let blob: String = (0..20 << 20)
            .map(|i| char::from(b'a' + (i % 26) as u8))
            .collect();
        c.query(&format!("REPLACE INTO blobs VALUES (1, '{blob}')"))
            .await
            .expect("insert 20 MiB");
        // From the master (a read right after a write may not be applied on a reader yet),
        // then from a reader once Galera has applied it there.
        let rows = c
            .query("SELECT b FROM blobs WHERE id = 1 -- maxscale route to master")
            .await
            .expect("select");
        assert_eq!(rows[0][0].as_ref().map(String::len), Some(20 << 20));
        assert!(
            rows[0][0].as_deref() == Some(blob.as_str()),
            "same bytes back"
        );
        let mut on_reader = None;
        for _ in 0..100 {
            let rows = c
                .query("SELECT b FROM blobs WHERE id = 1")
                .await
                .expect("select on a reader");
            if rows.first().and_then(|r| r[0].as_deref()) == Some(blob.as_str()) {
                on_reader = Some(());
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(on_reader.is_some(), "the same bytes from a reader");

        let mut c = Connection::connect(&connect_opts(small_port))
            .await
            .expect("login");
        let big = format!("SELECT '{}'", "x".repeat(2 << 20));
        match c.query(&big).await {
            Err(ClientError::Server(e)) => assert_eq!(e.code, 1153, "{e:?}"),
            other => panic!("expected ERR 1153, got {other:?}"),
        }
        assert!(c.query("SELECT 1").await.is_err(), "closed after the error");
    });
}

/// A client that never finishes the handshake is dropped after `handshake_timeout` while
/// others are served; garbage and an SSL request get an ERR and are counted.
#[test]
fn handshake_limits() {
    let g = galera();
    g.wait_all_serving(Duration::from_secs(60));
    let (dg, port) = proxy(g, "handshake_timeout = \"1s\"");
    let mut silent = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let mut greeting = [0u8; 4];
    silent.read_exact(&mut greeting).expect("greeting");
    let t0 = Instant::now();
    assert!(mysql(port, APP_USER, APP_PASSWORD, "SELECT 1").is_ok());
    silent
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut rest = Vec::new();
    let _ = silent.read_to_end(&mut rest);
    let waited = t0.elapsed();
    assert!(
        waited < Duration::from_secs(3),
        "dropped after ~1 s, took {waited:?}"
    );

    // Garbage where the login belongs: a 3-byte payload.
    let mut bad = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    bad.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    bad.read_exact(&mut greeting).expect("greeting");
    let len = usize::from(greeting[0]) | usize::from(greeting[1]) << 8;
    let mut hs = vec![0u8; len];
    bad.read_exact(&mut hs).unwrap();
    bad.write_all(&[3, 0, 0, 1, 0xde, 0xad, 0xbe]).unwrap();
    let mut reply = Vec::new();
    let _ = bad.read_to_end(&mut reply);
    assert_eq!(reply.get(4), Some(&0xFF), "an ERR, then close: {reply:?}");

    // SSL request without TLS configured.
    let mut ssl = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    ssl.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    ssl.read_exact(&mut greeting).unwrap();
    let len = usize::from(greeting[0]) | usize::from(greeting[1]) << 8;
    ssl.read_exact(&mut vec![0u8; len]).unwrap();
    let caps: u32 = 0x0000_0200 | 0x0000_0800 | 0x0000_8000; // PROTOCOL_41 | SSL | SECURE_CONNECTION
    let mut p = vec![32, 0, 0, 1];
    p.extend_from_slice(&caps.to_le_bytes());
    p.extend_from_slice(&(1u32 << 24).to_le_bytes());
    p.push(45);
    p.extend_from_slice(&[0; 23]);
    ssl.write_all(&p).unwrap();
    let mut reply = Vec::new();
    let _ = ssl.read_to_end(&mut reply);
    let text = String::from_utf8_lossy(&reply);
    assert!(
        text.contains("SSL is not configured on this listener"),
        "{text}"
    );

    for reason in ["handshake_timeout", "bad_handshake", "ssl_not_configured"] {
        let m = dg.metric(&format!(
            "datagate_listener_rejected_total{{listener=\"rw\",reason=\"{reason}\"}}"
        ));
        assert_eq!(m, Some(1.0), "{reason}");
    }
}

/// Autocommit inserts every 10 ms until `end`: (failed writes, longest time between two
/// successful ones).
async fn write_loop(c: &mut Connection, end: Instant) -> (u32, Duration) {
    let (mut errors, mut gap, mut last_ok) = (0u32, Duration::ZERO, Instant::now());
    while Instant::now() < end {
        match c
            .query("INSERT INTO failover (at) VALUES (UNIX_TIMESTAMP())")
            .await
        {
            Ok(_) => {
                gap = gap.max(last_ok.elapsed());
                last_ok = Instant::now();
            }
            Err(e) => {
                errors += 1;
                eprintln!("write error: {e}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    (errors, gap)
}

/// SIGKILL the master under a loop of autocommit writes on one session: the session moves to
/// the new master and continues. Prints the write gap.
#[test]
fn master_kill_session_follows() {
    let _serial = support::serial();
    let g = galera();
    let _heal = g.heal_on_drop();
    g.wait_all_serving(Duration::from_secs(60));
    // Without transaction replay (tests/rw_split.rs has it): a transaction across the kill fails.
    let (dg, port) = proxy(g, "transaction_replay = false");
    let first = master_port(g, port);
    let victim = g.ports().iter().position(|p| *p == first).expect("a node") + 1;
    let (errors, gap, last) = rt().block_on(async {
        let mut c = Connection::connect(&connect_opts(port))
            .await
            .expect("login");
        c.query(
            "CREATE TABLE IF NOT EXISTS failover (id INT PRIMARY KEY AUTO_INCREMENT, at BIGINT)",
        )
        .await
        .expect("create");
        c.query("SET @dg_marker = 42").await.expect("set");
        let mut tx = Connection::connect(&connect_opts(port))
            .await
            .expect("login");
        tx.query("BEGIN").await.expect("begin");
        tx.query("INSERT INTO failover (at) VALUES (0)")
            .await
            .expect("insert in transaction");
        let killer = tokio::task::spawn_blocking(move || {
            std::thread::sleep(Duration::from_secs(2));
            galera().kill(victim);
        });
        // The floor: the same writes straight to a node that survives.
        let survivor = if victim == 1 { 2 } else { 1 };
        let mut direct = Connection::connect(&connect_opts(g.port(survivor)))
            .await
            .expect("login to a survivor");
        let end = Instant::now() + Duration::from_secs(12);
        let ((errors, gap), (direct_errors, direct_gap)) =
            tokio::join!(write_loop(&mut c, end), write_loop(&mut direct, end));
        eprintln!(
            "direct to a survivor: {direct_errors} failed writes, longest gap {} ms",
            direct_gap.as_millis()
        );
        killer.await.expect("kill");
        match tx.query("INSERT INTO failover (at) VALUES (1)").await {
            Err(ClientError::Server(e)) => {
                assert_eq!((e.code, e.sqlstate.as_str()), (1927, "08S01"), "{e:?}")
            }
            other => panic!("a transaction across a master change fails: {other:?}"),
        }
        tx.query("SELECT 1")
            .await
            .expect("then the session continues");
        let rows = c
            .query("SELECT @@port, @dg_marker -- maxscale route to master")
            .await
            .expect("same session");
        (errors, gap, rows[0].clone())
    });
    eprintln!(
        "master kill: {errors} failed writes, longest gap between writes {} ms",
        gap.as_millis()
    );
    assert_ne!(
        last[0].as_deref(),
        Some(first.to_string().as_str()),
        "moved off the killed master"
    );
    assert_eq!(
        last[1].as_deref(),
        Some("42"),
        "SET history replayed on the new master"
    );
    assert!(errors <= 3, "{errors} errors\n{}", dg.log_tail(30));
    let replays = dg.metric("datagate_mysql_session_replays_total{listener=\"rw\"}");
    assert!(replays.unwrap_or(0.0) >= 1.0, "{replays:?}");
}

/// COM_CHANGE_USER is checked against the accounts and logs in to the master again.
#[test]
fn change_user() {
    let g = galera();
    g.wait_all_serving(Duration::from_secs(60));
    let (_dg, port) = proxy(g, "");
    rt().block_on(async {
        let mut c = Connection::connect(&connect_opts(port))
            .await
            .expect("login");
        c.query("SET @gone = 1").await.expect("set");
        let change = |password: &str, scramble: &[u8]| {
            let mut arg = b"app\0".to_vec();
            let reply = scramble_reply(&scramble[..20], password.as_bytes());
            arg.push(reply.len() as u8);
            arg.extend_from_slice(&reply);
            arg.extend_from_slice(b"sbtest\0");
            arg.extend_from_slice(&[45, 0]);
            arg.extend_from_slice(b"mysql_native_password\0");
            arg
        };
        let scramble = c.handshake().scramble.clone();
        c.send_command(Cmd::COM_CHANGE_USER, &change("wrong", &scramble))
            .await
            .expect("send");
        let p = c.read_packet().await.expect("reply");
        assert_eq!(p.payload.first(), Some(&0xFF), "wrong password refused");
        c.send_command(Cmd::COM_CHANGE_USER, &change(APP_PASSWORD, &scramble))
            .await
            .expect("send");
        let p = c.read_packet().await.expect("reply");
        assert_eq!(p.payload.first(), Some(&0x00), "{:?}", p.payload);
        let rows = c
            .query("SELECT DATABASE(), CURRENT_USER(), @gone IS NULL")
            .await
            .expect("query");
        assert_eq!(
            rows[0],
            vec![
                Some("sbtest".into()),
                Some("app@127.0.0.1".into()),
                Some("1".into())
            ]
        );
    });
}

/// With `tls`, clients that ask for SSL get it; others still log in in clear.
#[test]
fn tls_clients() {
    let g = galera();
    g.wait_all_serving(Duration::from_secs(60));
    let dir = support::scratch_dir("mysql-tls");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    run_cmd(
        Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            ])
            .args(["-subj", "/CN=localhost", "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&cert),
        Duration::from_secs(30),
    )
    .expect("openssl");
    let extra = format!(
        "tls = {{ cert = \"{}\", key = \"{}\" }}",
        cert.display(),
        key.display()
    );
    let (_dg, port) = proxy(g, &extra);
    let status = run_cmd(
        Command::new("mariadb").args([
            "--no-defaults",
            "-h127.0.0.1",
            &format!("-P{port}"),
            "-uapp",
            "-papp",
            "--ssl",
            "--ssl-verify-server-cert=0",
            "-e",
            "status",
        ]),
        Duration::from_secs(30),
    )
    .expect("TLS login");
    assert!(status.contains("Cipher in use is TLS"), "{status}");
    assert_eq!(
        mysql(port, APP_USER, APP_PASSWORD, "SELECT 1").as_deref(),
        Ok("1")
    );
}
