//! Failover safety against the real 3-node Galera lab, with the faults that happen in
//! production: replies lost after the statement ran (a relay in front of every node drops the
//! server's answer and resets the connection, or goes silent), and a frozen master (SIGSTOP:
//! the kernel still accepts and acknowledges, the server answers nothing). Nothing may run
//! twice, nothing may hang, and state that cannot follow the session is reported.

mod support;

use std::time::{Duration, Instant};

use mysql_async::Conn;
use mysql_async::prelude::Queryable;
use support::fault::{AfterLoss, Faults};
use support::rw::{code, opts, rt};
use support::{APP_DB, APP_PASSWORD, APP_USER, Datagate, GaleraLab, free_port, galera, mysql_db};

/// A daemon whose `[[galera]]` servers are relays in front of the lab's nodes.
fn relayed(g: &GaleraLab, extra: &str) -> (Datagate, u16, Faults) {
    let faults = Faults::start(&(1..=3).map(|n| g.addr(n)).collect::<Vec<_>>());
    let (port, admin) = (free_port(), free_port());
    let cfg = format!(
        "[admin]\nlisten = \"127.0.0.1:{admin}\"\n\
         [[galera]]\nname = \"g\"\nservers = {}\nuser = \"monitor\"\npassword = \"monitor\"\n\
         interval = \"250ms\"\n\
         [[mysql]]\nname = \"rw\"\nlisten = \"127.0.0.1:{port}\"\ncluster = \"g\"\n{extra}\n",
        faults.servers_toml()
    );
    let dg = support::datagate(&cfg);
    (dg, port, faults)
}

/// The node (1..=3) behind the master relay.
fn master_of(dg: &Datagate, faults: &Faults) -> usize {
    let (_, body) = dg.get("/api/v1/servers").expect("GET /api/v1/servers");
    let v: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    let addr = v["galera"]["g"]["master"].as_str().expect("a master");
    faults.index_of(addr).expect("a relay") + 1
}

async fn connect(port: u16) -> Conn {
    Conn::new(opts(port))
        .await
        .expect("connect through datagate")
}

/// Rows of `fs_rows` with `tag`, counted on node `n` directly.
fn rows_on(g: &GaleraLab, n: usize, tag: &str) -> usize {
    let sql = format!("SELECT COUNT(*) FROM fs_rows WHERE tag = '{tag}'");
    let out = mysql_db(g.port(n), APP_USER, APP_PASSWORD, APP_DB, &sql).expect("count rows");
    out.trim().parse().expect("a count")
}

fn schema(g: &GaleraLab) {
    g.root_sql(
        1,
        "CREATE OR REPLACE TABLE appdb.fs_rows (id INT AUTO_INCREMENT PRIMARY KEY, \
           tag VARCHAR(64), KEY (tag)) ENGINE=InnoDB;\n\
         CREATE OR REPLACE TABLE appdb.fs_ids (id BIGINT PRIMARY KEY, tag VARCHAR(64)) ENGINE=InnoDB;\n\
         DELIMITER //\n\
         CREATE OR REPLACE FUNCTION appdb.fs_ins(t VARCHAR(64)) RETURNS INT MODIFIES SQL DATA \
           BEGIN INSERT INTO appdb.fs_rows (tag) VALUES (t); RETURN LAST_INSERT_ID(); END//\n\
         DELIMITER ;",
    )
    .expect("schema");
}

/// What a case must end with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    /// The statement whose reply was lost succeeds (retried or replayed behind the scenes).
    Ok,
    /// It fails with this code.
    Err(u16),
}

/// One lost-reply case: statements run before (not lost), the statement whose reply is lost,
/// what the client must get, and how many `fs_rows` rows with the tag must exist at the end
/// (after a final `COMMIT` when `commit` is set).
struct Case {
    name: &'static str,
    before: Vec<String>,
    lost: String,
    want: Want,
    commit: bool,
    rows: usize,
}

fn cases(tag: &dyn Fn(&str) -> String) -> Vec<(String, Case)> {
    let ins = |t: &str| format!("INSERT INTO fs_rows (tag) VALUES ('{t}')");
    let mut out = Vec::new();
    let mut add =
        |name: &'static str, make: &dyn Fn(&str) -> (Vec<String>, String), want, commit, rows| {
            let t = tag(name);
            let (before, lost) = make(&t);
            out.push((
                t,
                Case {
                    name,
                    before,
                    lost,
                    want,
                    commit,
                    rows,
                },
            ));
        };
    // Autocommit: a write whose reply is lost is never run again.
    add("insert", &|t| (vec![], ins(t)), Want::Err(1927), false, 1);
    add(
        "multi",
        &|t| (vec![], format!("SELECT 1; {}", ins(t))),
        Want::Err(1927),
        false,
        1,
    );
    add(
        "stored_function",
        &|t| (vec![], format!("SELECT fs_ins('{t}')")),
        Want::Err(1927),
        false,
        1,
    );
    add(
        "set_function",
        &|t| (vec![], format!("SET @v = fs_ins('{t}')")),
        Want::Err(1927),
        false,
        1,
    );
    // A read is retried transparently.
    add(
        "read",
        &|t| {
            (
                vec![ins(t)],
                format!("SELECT COUNT(*) FROM fs_rows WHERE tag = '{t}'"),
            )
        },
        Want::Ok,
        false,
        1,
    );
    // In a transaction: the statement is replayed with the transaction, unless it commits.
    // (Explicit ids: a replay must give the client the insert ids it saw.)
    add(
        "trx_insert",
        &|t| {
            (
                vec![
                    "BEGIN".into(),
                    format!("INSERT INTO fs_rows (id, tag) VALUES (1000000, '{t}x')"),
                ],
                ins(t),
            )
        },
        Want::Ok,
        true,
        1,
    );
    add(
        "commit",
        &|t| (vec!["BEGIN".into(), ins(t)], "COMMIT".into()),
        Want::Err(1927),
        false,
        1,
    );
    add(
        "ddl_commits",
        &|t| {
            (
                vec!["BEGIN".into(), ins(t)],
                "CREATE OR REPLACE TABLE fs_ddl (a INT)".into(),
            )
        },
        Want::Err(1927),
        false,
        1,
    );
    add(
        "begin_commits",
        &|t| (vec!["BEGIN".into(), ins(t)], "BEGIN".into()),
        Want::Err(1927),
        false,
        1,
    );
    add(
        "autocommit_on",
        &|t| {
            (
                vec!["SET autocommit = 0".into(), ins(t)],
                "SET autocommit = 1".into(),
            )
        },
        Want::Err(1927),
        false,
        1,
    );
    add(
        "rollback",
        &|t| (vec!["BEGIN".into(), ins(t)], "ROLLBACK".into()),
        Want::Ok,
        false,
        0,
    );
    out
}

/// Ten kinds of lost replies, each through its own session: the client gets the documented
/// answer and every row exists exactly as often as the client was told.
#[test]
fn lost_replies_never_apply_twice() {
    let _serial = support::serial();
    let g = galera();
    g.wait_all_serving(Duration::from_secs(60));
    schema(g);
    let (dg, port, faults) = relayed(g, "");
    let master = master_of(&dg, &faults);
    let stamp = std::process::id();
    let tag = |name: &str| format!("fs{stamp}{name}");
    let mut bad = Vec::new();
    rt().block_on(async {
        for (t, case) in cases(&tag) {
            let mut c = connect(port).await;
            for sql in &case.before {
                c.query_drop(sql)
                    .await
                    .unwrap_or_else(|e| panic!("{}: {sql}: {e}", case.name));
            }
            let before = faults.lost();
            // Reads lose their reply on whichever reader they reach; the rest on the master
            // (a session command also goes to the reader, whose loss only drops the reader).
            if case.name == "read" {
                faults.lose_reply(&t, AfterLoss::Reset);
            } else {
                faults.lose_reply_at(master - 1, &t, AfterLoss::Reset);
            }
            // The tag is in the statement (or in the transaction it belongs to): mark it.
            let lost = if case.lost.contains(&t) {
                case.lost.clone()
            } else {
                format!("{} /* {t} */", case.lost)
            };
            let got = c.query_drop(&lost).await;
            if faults.lost() != before + 1 {
                bad.push(format!("{}: no reply was lost", case.name));
            }
            match (&got, case.want) {
                (Ok(()), Want::Ok) => {}
                (Err(e), Want::Err(want)) if code(e) == want => {
                    let m = e.to_string();
                    if !m.contains("unknown") {
                        bad.push(format!(
                            "{}: the error does not state the outcome: {m}",
                            case.name
                        ));
                    }
                }
                (got, want) => bad.push(format!("{}: want {want:?}, got {got:?}", case.name)),
            }
            if case.commit {
                c.query_drop("COMMIT")
                    .await
                    .unwrap_or_else(|e| panic!("{}: COMMIT: {e}", case.name));
            }
            let _ = c.disconnect().await;
            let rows = rows_on(g, master, &t);
            if rows != case.rows {
                bad.push(format!(
                    "{}: {rows} rows with its tag, want {}",
                    case.name, case.rows
                ));
            }
        }
    });
    assert!(bad.is_empty(), "{}\n{}", bad.join("\n"), dg.log_tail(30));
}

/// A prepared INSERT (binary protocol) whose reply is lost is not executed again either; and a
/// transaction whose replay would hand out another insert id than the client saw fails.
#[test]
fn lost_replies_of_prepared_statements_and_insert_ids() {
    let _serial = support::serial();
    let g = galera();
    g.wait_all_serving(Duration::from_secs(60));
    schema(g);
    let (dg, port, faults) = relayed(g, "");
    let master = master_of(&dg, &faults);
    let t = format!("fs{}prep", std::process::id());
    let t2 = format!("{t}id");
    rt().block_on(async {
        let mut c = connect(port).await;
        let stmt = c
            .prep("INSERT INTO fs_rows (tag) VALUES (?)")
            .await
            .expect("prepare");
        faults.lose_reply(&t, AfterLoss::Reset);
        let e = c.exec_drop(&stmt, (t.as_str(),)).await.expect_err("lost");
        assert_eq!(code(&e), 1927, "{e}");
        assert_eq!(rows_on(g, master, &t), 1, "the execute ran once");
        // Insert ids: the replay on a new connection gets the next auto-increment value.
        let mut c = connect(port).await;
        c.query_drop("BEGIN").await.unwrap();
        c.query_drop(format!("INSERT INTO fs_rows (tag) VALUES ('{t2}')"))
            .await
            .unwrap();
        let seen = c.last_insert_id().expect("an insert id");
        faults.lose_reply(&t2, AfterLoss::Reset);
        let e = c
            .query_drop(format!("SELECT 1 /* {t2} */"))
            .await
            .expect_err("the replay gives another id");
        assert_eq!(code(&e), 1927, "{e}");
        assert!(e.to_string().contains("rolled back"), "{e}");
        assert_eq!(
            rows_on(g, master, &t2),
            0,
            "id {seen} was rolled back, no other row either"
        );
    });
    let failed =
        dg.metric("datagate_mysql_transaction_replays_total{listener=\"rw\",result=\"failed\"}");
    assert!(failed >= Some(1.0), "{failed:?}");
}

/// `SET @x = f()` with a writing function runs once, on the master; the session's reader gets
/// the value as a literal, and so does a variable assigned in a query.
#[test]
fn set_with_a_writing_function_runs_once() {
    let _serial = support::serial();
    let g = galera();
    g.wait_all_serving(Duration::from_secs(60));
    schema(g);
    let (dg, port) = support::rw::proxy(g, "");
    let master = support::rw::master_node(g, &dg);
    let t = format!("fs{}set", std::process::id());
    rt().block_on(async {
        let mut c = connect(port).await;
        // A reader first, so that a session command would go to both.
        let _: Option<i64> = c.query_first("SELECT 1").await.unwrap();
        c.query_drop(format!(
            "SET @id = fs_ins('{t}'), @s = CONCAT('é', fs_ins('{t}'))"
        ))
        .await
        .expect("SET");
        // Reads go to the reader: it has the values the master computed.
        let (id, s, cs): (i64, String, String) = c
            .query_first("SELECT @id, @s, CHARSET(@s)")
            .await
            .unwrap()
            .unwrap();
        let on_master: (i64, String) = c
            .query_first("SELECT @id, @s /* maxscale route to master */")
            .await
            .unwrap()
            .unwrap();
        assert_eq!((id, s.clone()), on_master, "reader and master agree");
        assert!(s.starts_with('é'), "{s}");
        assert_eq!(cs, "utf8mb4");
        c.query_drop("SELECT @n := 41 + 1").await.unwrap();
        let n: Option<i64> = c.query_first("SELECT @n").await.unwrap();
        assert_eq!(
            n,
            Some(42),
            "a variable assigned in a query reaches the reader"
        );
    });
    // Two calls of fs_ins, once each: two rows, on every node.
    for n in 1..=3 {
        assert!(
            support::wait_until(Duration::from_secs(5), || rows_on(g, n, &t) == 2),
            "node {n}: {} rows (master n{master})",
            rows_on(g, n, &t)
        );
    }
}

/// State only the master connection has is never dropped silently: a session with a
/// temporary table, a named lock or table locks whose master connection breaks gets an error
/// naming what was lost, and is closed.
#[test]
fn lost_session_state_is_reported() {
    let _serial = support::serial();
    let g = galera();
    g.wait_all_serving(Duration::from_secs(60));
    schema(g);
    let (dg, port, faults) = relayed(g, "");
    let stamp = std::process::id();
    let cases = [
        (
            "temp",
            "CREATE TEMPORARY TABLE fs_tmp (a INT)",
            "temporary tables fs_tmp",
        ),
        (
            "lock",
            "SELECT GET_LOCK('fs_lock', 1)",
            "named locks 'fs_lock'",
        ),
        ("tables", "LOCK TABLES fs_rows WRITE", "table locks"),
    ];
    rt().block_on(async {
        for (name, hold, named) in cases {
            let mut c = connect(port).await;
            c.query_drop(hold)
                .await
                .unwrap_or_else(|e| panic!("{hold}: {e}"));
            let t = format!("fs{stamp}{name}");
            faults.lose_reply(&t, AfterLoss::Reset);
            // Goes to the master: under LOCK TABLES and with temporary tables everything does;
            // FOR UPDATE takes the lock case there.
            let e = c
                .query_drop(format!(
                    "SELECT COUNT(*) FROM fs_rows WHERE tag = '{t}' FOR UPDATE"
                ))
                .await
                .expect_err("the master connection broke");
            assert_eq!(code(&e), 1927, "{name}: {e}");
            assert!(e.to_string().contains(named), "{name}: {e}");
            assert!(
                c.query_drop("SELECT 1").await.is_err(),
                "{name}: the session is closed"
            );
        }
    });
    drop(dg);
}

/// `server_timeout` ends a wait for a reply that does not come (a silent network path): the
/// client gets an error stating the outcome, and the statement ran once.
#[test]
fn server_timeout_ends_a_silent_wait() {
    let _serial = support::serial();
    let g = galera();
    g.wait_all_serving(Duration::from_secs(60));
    schema(g);
    let (dg, port, faults) = relayed(g, "server_timeout = \"1s\"");
    let master = master_of(&dg, &faults);
    let t = format!("fs{}silent", std::process::id());
    rt().block_on(async {
        let mut c = connect(port).await;
        faults.lose_reply(&t, AfterLoss::Silence);
        let t0 = Instant::now();
        let e = c
            .query_drop(format!("INSERT INTO fs_rows (tag) VALUES ('{t}')"))
            .await
            .expect_err("no reply");
        let waited = t0.elapsed();
        assert_eq!(code(&e), 1927, "{e}");
        assert!(e.to_string().contains("server_timeout"), "{e}");
        assert!(waited < Duration::from_secs(3), "waited {waited:?}");
        let n: Option<i64> = c.query_first("SELECT 1").await.unwrap();
        assert_eq!(n, Some(1), "the session goes on");
    });
    assert_eq!(rows_on(g, master, &t), 1);
}

/// Writers on a frozen master (SIGSTOP) are not held longer than the cluster's own stall plus
/// a little: statements in flight get an error stating the outcome once the monitor marks the
/// node down, later ones run on the new master; no acknowledged write is lost or doubled.
#[test]
fn frozen_master_does_not_hang_writers() {
    let _serial = support::serial();
    let g = galera();
    let _heal = g.heal_on_drop();
    g.wait_all_serving(Duration::from_secs(60));
    g.root_sql(
        1,
        "CREATE OR REPLACE TABLE appdb.fs_frozen (id BIGINT PRIMARY KEY, w INT) ENGINE=InnoDB",
    )
    .expect("table");
    let (dg, port) = support::rw::proxy(g, "connect_timeout = \"10s\"");
    let master = support::rw::master_node(g, &dg);
    let start = Instant::now();
    let end = start + Duration::from_secs(10);
    let writers: Vec<_> = (1..=3i64)
        .map(|w| {
            std::thread::spawn(move || {
                rt().block_on(async move {
                    let mut c = Conn::new(opts(port)).await.expect("connect");
                    let (mut acked, mut unknown, mut longest) =
                        (Vec::new(), Vec::new(), Duration::ZERO);
                    let mut n = 0i64;
                    while Instant::now() < end {
                        n += 1;
                        let id = w * 1_000_000 + n;
                        let t0 = Instant::now();
                        let insert =
                            c.exec_drop("INSERT INTO fs_frozen (id, w) VALUES (?, ?)", (id, w));
                        // A client gives up after 20 s: the test fails instead of hanging.
                        let r = tokio::time::timeout(Duration::from_secs(20), insert).await;
                        longest = longest.max(t0.elapsed());
                        let Ok(r) = r else {
                            unknown.push((id, "no answer within 20 s".to_string()));
                            break;
                        };
                        match r {
                            Ok(()) => acked.push((id, start.elapsed())),
                            Err(e) => {
                                unknown.push((id, e.to_string()));
                                if code(&e) == 0 {
                                    c = Conn::new(opts(port)).await.expect("reconnect");
                                }
                            }
                        }
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    (acked, unknown, longest)
                })
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(2));
    g.freeze(master);
    let frozen_at = start.elapsed();
    let results: Vec<_> = writers
        .into_iter()
        .map(|h| h.join().expect("writer"))
        .collect();
    let new_master = support::rw::master_node(g, &dg);
    assert_ne!(new_master, master, "a new master after the freeze");
    let ids = g
        .root_sql(new_master, "SELECT id FROM appdb.fs_frozen")
        .expect("rows");
    let ids: Vec<i64> = ids.lines().filter_map(|l| l.trim().parse().ok()).collect();
    let mut longest = Duration::ZERO;
    for (acked, unknown, l) in &results {
        longest = longest.max(*l);
        for (id, _) in acked {
            assert_eq!(
                ids.iter().filter(|x| *x == id).count(),
                1,
                "acknowledged {id} exists once"
            );
        }
        for (id, e) in unknown {
            assert!(
                ids.iter().filter(|x| *x == id).count() <= 1,
                "{id} ({e}) at most once"
            );
        }
        let after = acked
            .iter()
            .filter(|(_, at)| *at > frozen_at + Duration::from_secs(1))
            .count();
        assert!(after > 0, "writes went on after the freeze");
    }
    let errors: Vec<&String> = results
        .iter()
        .flat_map(|r| r.1.iter().map(|u| &u.1))
        .collect();
    eprintln!(
        "master n{master} frozen at {:.1}s: longest write {} ms, errors {errors:?}",
        frozen_at.as_secs_f64(),
        longest.as_millis()
    );
    // The lab's cluster stalls ~2 s (1 s suspect timeout) before it evicts the frozen node.
    assert!(
        longest < Duration::from_secs(6),
        "a write was held {longest:?}\n{}",
        dg.log_tail(30)
    );
    for e in errors {
        assert!(
            e.contains("unknown") || e.contains("1927"),
            "outcome stated: {e}"
        );
    }
}
