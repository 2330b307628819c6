//! Read/write splitting against the real 3-node Galera lab. Where a statement ran is read from
//! each node's general query log (every statement carries a unique tag in a comment), never
//! from datagate's own logs: the routing rules table, prepared statements, read-only
//! transactions, session state on readers, temporary tables, hints, causal reads, reader
//! selection and failure, session command disagreement, and `master_failure_mode`.

mod support;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder, Row, Value};
use support::{APP_DB, APP_PASSWORD, APP_USER, Datagate, GaleraLab, free_port, galera, wait_until};

/// A daemon over the lab's cluster with a `[[mysql]]` listener (`extra` lines added to it).
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

fn opts(port: u16) -> OptsBuilder {
    OptsBuilder::default()
        .ip_or_hostname("127.0.0.1")
        .tcp_port(port)
        .prefer_socket(false)
        .user(Some(APP_USER))
        .pass(Some(APP_PASSWORD))
        .db_name(Some(APP_DB))
}

async fn connect(port: u16) -> Conn {
    Conn::new(opts(port))
        .await
        .expect("connect through datagate")
}

/// The master's node number, as datagate's monitor sees it.
fn master_node(g: &GaleraLab, dg: &Datagate) -> usize {
    let (_, body) = dg.get("/api/v1/servers").expect("GET /api/v1/servers");
    let v: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    let addr = v["galera"]["g"]["master"]
        .as_str()
        .unwrap_or_else(|| panic!("no master in {body}"));
    let port: u16 = addr
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port");
    g.node_of_port(port)
}

/// Unique tags for statements: `PREFIX` + `q<N>z`.
struct Tags {
    prefix: String,
    n: AtomicU32,
}

impl Tags {
    fn new(what: &str) -> Tags {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        Tags {
            prefix: format!("dg{what}{}x{nanos}", std::process::id()),
            n: AtomicU32::new(0),
        }
    }

    fn next(&self) -> String {
        format!(
            "{}q{}z",
            self.prefix,
            self.n.fetch_add(1, Ordering::Relaxed)
        )
    }

    /// For each node, the tags its general log holds (with `command_type` filter if given).
    fn ran(&self, g: &GaleraLab, command_type: Option<&str>) -> [Vec<String>; 3] {
        let mut out: [Vec<String>; 3] = Default::default();
        for (i, seen) in out.iter_mut().enumerate() {
            for (ct, arg) in g.logged(i + 1, &self.prefix) {
                if command_type.is_some_and(|want| want != ct) {
                    continue;
                }
                let mut rest = arg.as_str();
                while let Some(at) = rest.find(&self.prefix) {
                    let tail = &rest[at..];
                    let end = tail.find('z').map(|e| e + 1).unwrap_or(tail.len());
                    seen.push(tail[..end].to_string());
                    rest = &tail[end..];
                }
            }
        }
        out
    }
}

/// Where a statement must have run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Where {
    /// Only on the master.
    Master,
    /// On exactly one node, not the master.
    Reader,
    /// On the master and on the session's reader.
    Both,
    /// On this node only.
    Node(usize),
}

/// Nodes whose log holds `tag`.
fn nodes_of(ran: &[Vec<String>; 3], tag: &str) -> BTreeSet<usize> {
    (0..3)
        .filter(|i| ran[*i].iter().any(|t| t == tag))
        .map(|i| i + 1)
        .collect()
}

/// Checks every `(tag, where, what)` against the logs; all mismatches in one panic.
fn check_routes(ran: &[Vec<String>; 3], master: usize, rows: &[(String, Where, String)]) {
    let mut bad = Vec::new();
    for (tag, want, what) in rows {
        let nodes = nodes_of(ran, tag);
        let ok = match want {
            Where::Master => nodes == BTreeSet::from([master]),
            Where::Reader => nodes.len() == 1 && !nodes.contains(&master),
            Where::Both => nodes.len() == 2 && nodes.contains(&master),
            Where::Node(n) => nodes == BTreeSet::from([*n]),
        };
        if !ok {
            bad.push(format!(
                "{what}: expected {want:?} (master n{master}), ran on {nodes:?}"
            ));
        }
    }
    assert!(bad.is_empty(), "routing mismatches:\n{}", bad.join("\n"));
}

/// Every row of the routing rules table (text protocol), one session.
#[test]
fn routing_rules_by_where_statements_ran() {
    let _serial = support::serial();
    let g = galera();
    g.wait_all_serving(Duration::from_secs(60));
    g.general_log_on();
    g.root_sql(
        1,
        "CREATE TABLE IF NOT EXISTS appdb.rw_t (id INT AUTO_INCREMENT PRIMARY KEY, v INT) ENGINE=InnoDB; \
         CREATE SEQUENCE IF NOT EXISTS appdb.rw_seq INCREMENT BY 0; \
         CREATE OR REPLACE PROCEDURE appdb.rw_p() SELECT 1; \
         GRANT EXECUTE ON appdb.* TO 'app'@'%'",
    )
    .expect("schema");
    let (dg, port) = proxy(g, "");
    let master = master_node(g, &dg);
    let t = Tags::new("rules");
    let other = |n: usize| {
        (1..=3)
            .find(|x| *x != master && *x != n)
            .expect("a third node")
    };
    let mut rows: Vec<(String, Where, String)> = Vec::new();
    rt().block_on(async {
        let mut c = connect(port).await;
        c.query_drop("SELECT 1")
            .await
            .expect("warm up: opens the reader");
        macro_rules! run {
            ($want:expr, $fmt:literal) => {{
                let tag = t.next();
                let sql = format!($fmt, T = tag);
                let r: Result<Vec<Row>, _> = c.query(&sql).await;
                rows.push((tag, $want, sql.clone()));
                r
            }};
        }
        use Where::*;
        run!(Reader, "SELECT /*{T}*/ 1").unwrap();
        run!(Reader, "SHOW /*{T}*/ TABLES").unwrap();
        run!(Reader, "DESCRIBE /*{T}*/ rw_t").unwrap();
        run!(Reader, "EXPLAIN /*{T}*/ SELECT * FROM rw_t").unwrap();
        run!(Reader, "WITH /*{T}*/ x AS (SELECT 1 a) SELECT a FROM x").unwrap();
        run!(Master, "INSERT /*{T}*/ INTO rw_t (v) VALUES (1)").unwrap();
        run!(Master, "UPDATE /*{T}*/ rw_t SET v = v + 1 WHERE id > 0").unwrap();
        run!(Master, "DELETE /*{T}*/ FROM rw_t WHERE v > 1000000").unwrap();
        run!(Master, "NO SUCH STATEMENT /*{T}*/").unwrap_err();
        run!(
            Master,
            "INSERT /*{T}*/ INTO rw_t (v) VALUES (2) -- maxscale route to slave"
        )
        .unwrap();
        // Transactions.
        c.query_drop("BEGIN").await.unwrap();
        run!(Master, "SELECT /*{T}*/ COUNT(*) FROM rw_t").unwrap();
        run!(Master, "SELECT /*{T}*/ 1 -- maxscale route to slave").unwrap();
        c.query_drop("COMMIT").await.unwrap();
        c.query_drop("SET autocommit = 0").await.unwrap();
        run!(Master, "SELECT /*{T}*/ 2").unwrap();
        c.query_drop("COMMIT").await.unwrap();
        c.query_drop("SET autocommit = 1").await.unwrap();
        run!(Reader, "SELECT /*{T}*/ 3").unwrap();
        // A read-only transaction: one reader for all of it.
        c.query_drop("START TRANSACTION READ ONLY").await.unwrap();
        let ro1 = t.next();
        let ro2 = t.next();
        let p1: Option<u16> = c
            .query_first(format!("SELECT /*{ro1}*/ @@port"))
            .await
            .unwrap();
        let p2: Option<u16> = c
            .query_first(format!("SELECT /*{ro2}*/ @@port"))
            .await
            .unwrap();
        c.query_drop("COMMIT").await.unwrap();
        let ro_node = g.node_of_port(p1.unwrap());
        assert_eq!(p1, p2, "a read-only transaction stays on one reader");
        assert_ne!(ro_node, master, "a read-only transaction runs on a reader");
        rows.push((ro1, Node(ro_node), "read-only transaction, 1st".into()));
        rows.push((ro2, Node(ro_node), "read-only transaction, 2nd".into()));
        // Reads that must see the master.
        run!(
            Master,
            "SELECT /*{T}*/ v FROM rw_t ORDER BY id LIMIT 1 FOR UPDATE"
        )
        .unwrap();
        run!(
            Master,
            "SELECT /*{T}*/ v FROM rw_t ORDER BY id LIMIT 1 LOCK IN SHARE MODE"
        )
        .unwrap();
        run!(Master, "SELECT /*{T}*/ 1 INTO @into").unwrap();
        run!(Master, "SELECT /*{T}*/ LAST_INSERT_ID()").unwrap();
        run!(Master, "SELECT /*{T}*/ GET_LOCK('rw', 0)").unwrap();
        run!(Master, "SELECT /*{T}*/ RELEASE_LOCK('rw')").unwrap();
        run!(Master, "SELECT /*{T}*/ NEXTVAL(rw_seq)").unwrap();
        run!(Master, "SELECT /*{T}*/ @assigned := 5").unwrap();
        run!(Master, "INSERT /*{T}*/ INTO rw_t (v) VALUES (3)").unwrap();
        run!(Master, "SELECT /*{T}*/ ROW_COUNT()").unwrap();
        run!(Master, "SELECT /*{T}*/ FOUND_ROWS()").unwrap();
        // Temporary tables.
        run!(Master, "CREATE TEMPORARY TABLE /*{T}*/ rw_tmp (a INT)").unwrap();
        run!(Master, "INSERT /*{T}*/ INTO rw_tmp VALUES (1)").unwrap();
        run!(Master, "SELECT /*{T}*/ a FROM rw_tmp").unwrap();
        run!(
            Master,
            "SELECT /*{T}*/ x.a FROM rw_t JOIN rw_tmp x ON x.a = rw_t.v"
        )
        .unwrap();
        run!(Reader, "SELECT /*{T}*/ COUNT(*) FROM rw_t").unwrap();
        run!(Master, "DROP TEMPORARY TABLE /*{T}*/ rw_tmp").unwrap();
        run!(Reader, "SELECT /*{T}*/ 4").unwrap();
        // Multi-statements, CALL.
        {
            let tag = t.next();
            let sql = format!("SELECT /*{tag}*/ 1; SELECT 2");
            let mut r = c.query_iter(&sql).await.unwrap();
            while !r.is_empty() {
                let _: Vec<Row> = r.collect().await.unwrap();
            }
            drop(r);
            rows.push((tag, Master, sql));
        }
        run!(Master, "CALL /*{T}*/ rw_p()").unwrap();
        // Session commands go everywhere; readers see the session's state.
        run!(Both, "SET /*{T}*/ @v = 42").unwrap();
        let v: Option<i64> = c
            .query_first(format!("SELECT /*{}*/ @v", t.next()))
            .await
            .unwrap();
        assert_eq!(
            v,
            Some(42),
            "a user variable set in the session is visible on the reader"
        );
        run!(Both, "SET /*{T}*/ SESSION sql_mode = 'ANSI_QUOTES'").unwrap();
        let m: Option<String> = c.query_first("SELECT @@sql_mode").await.unwrap();
        assert_eq!(m.as_deref(), Some("ANSI_QUOTES"));
        c.query_drop("SET SESSION sql_mode = DEFAULT")
            .await
            .unwrap();
        c.query_drop("USE sbtest").await.unwrap();
        let db: Option<String> = c.query_first("SELECT DATABASE()").await.unwrap();
        assert_eq!(db.as_deref(), Some("sbtest"), "USE reaches the reader");
        c.query_drop("USE appdb").await.unwrap();
        run!(Both, "PREPARE /*{T}*/ s1 FROM 'SELECT 1'").unwrap();
        run!(Master, "EXECUTE /*{T}*/ s1").unwrap();
        run!(Both, "DEALLOCATE /*{T}*/ PREPARE s1").unwrap();
        // Diagnostics go where the previous statement ran.
        let warn_tag = t.next();
        let _: Vec<Row> = c
            .query(format!("SELECT /*{warn_tag}*/ CAST('x' AS INT) + @@port"))
            .await
            .unwrap();
        rows.push((warn_tag, Reader, "read with a warning".into()));
        let warnings: Vec<Row> = c
            .query(format!("SHOW /*{}*/ WARNINGS", t.next()))
            .await
            .unwrap();
        assert_eq!(
            warnings.len(),
            1,
            "SHOW WARNINGS reaches the backend that warned"
        );
        // Hints.
        run!(Master, "SELECT /*{T}*/ 5 -- maxscale route to master").unwrap();
        run!(Master, "SELECT /*{T}*/ 6 /* datagate route to master */").unwrap();
        let n = other(master);
        let hinted = g.addr(n);
        let tag = t.next();
        let _: Vec<Row> = c
            .query(format!(
                "SELECT /*{tag}*/ 7 /* maxscale route to server {hinted} */"
            ))
            .await
            .unwrap();
        rows.push((tag, Node(n), format!("hint to server {hinted}")));
        let tag = t.next();
        let _: Vec<Row> = c
            .query(format!(
                "SELECT /*{tag}*/ 8 -- maxscale route to server {}",
                g.addr(master)
            ))
            .await
            .unwrap();
        rows.push((tag, Master, "hint to the master by name".into()));
        run!(
            Reader,
            "SELECT /*{T}*/ 9 -- maxscale route to server no-such-server"
        )
        .unwrap();
        run!(Reader, "SELECT /*{T}*/ 10 -- maxscale route to slave").unwrap();
        c.disconnect().await.unwrap();
    });
    let ran = t.ran(g, None);
    check_routes(&ran, master, &rows);
    assert!(
        dg.log()
            .contains("routing hint names a server that cannot be used"),
        "an unknown hinted server is logged"
    );
    let m = dg.metrics();
    for route in ["master", "reader", "all"] {
        let series = format!("datagate_mysql_queries_total{{listener=\"rw\",route=\"{route}\"}}");
        assert!(
            support::metric_value(&m, &series).unwrap_or(0.0) > 0.0,
            "{series} counted"
        );
    }
}

const TYPES_TABLE: &str = "CREATE OR REPLACE TABLE appdb.rw_types (id INT PRIMARY KEY, \
    c_tiny TINYINT, c_small SMALLINT, c_medium MEDIUMINT, c_int INT, c_big BIGINT, \
    c_ubig BIGINT UNSIGNED, c_float FLOAT, c_double DOUBLE, c_dec DECIMAL(30,10), c_bit BIT(12), \
    c_bool BOOLEAN, c_date DATE, c_dt DATETIME(6), c_ts TIMESTAMP(6) NULL, c_time TIME(6), \
    c_year YEAR, c_char CHAR(10), c_varchar VARCHAR(100), c_binary BINARY(4), \
    c_varbinary VARBINARY(10), c_tinyblob TINYBLOB, c_blob BLOB, c_mediumblob MEDIUMBLOB, \
    c_longblob LONGBLOB, c_text TEXT, c_enum ENUM('a','b','c'), c_set SET('x','y','z'), \
    c_json JSON, c_null INT, c_inet6 INET6, c_uuid UUID) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4";

const TYPE_COLUMNS: &str = "id, c_tiny, c_small, c_medium, c_int, c_big, c_ubig, c_float, \
    c_double, c_dec, c_bit, c_bool, c_date, c_dt, c_ts, c_time, c_year, c_char, c_varchar, \
    c_binary, c_varbinary, c_tinyblob, c_blob, c_mediumblob, c_longblob, c_text, c_enum, c_set, \
    c_json, c_null, c_inet6, c_uuid";

/// One value of every column type, bound as parameters of the binary protocol.
fn type_values(id: i64) -> Vec<Value> {
    let bytes = |b: &[u8]| Value::Bytes(b.to_vec());
    let pattern = |n: usize| (0..n).map(|i| (i * 7 % 251) as u8).collect::<Vec<u8>>();
    vec![
        Value::Int(id),
        Value::Int(-128),
        Value::Int(-32768),
        Value::Int(8_388_607),
        Value::Int(i64::from(i32::MIN)),
        Value::Int(i64::MIN),
        Value::UInt(u64::MAX),
        Value::Float(1.5),
        Value::Double(-2.25e100),
        bytes(b"12345678901234567890.0123456789"),
        bytes(&[0x0A, 0xBC]),
        Value::Int(1),
        Value::Date(2026, 12, 1, 0, 0, 0, 0),
        Value::Date(2026, 12, 1, 19, 45, 1, 123_456),
        Value::Date(2030, 1, 19, 3, 14, 7, 999_999),
        Value::Time(true, 1, 2, 3, 4, 567_890),
        Value::Int(2026),
        bytes(b"abc"),
        bytes("h\u{e9}llo \u{2713}".as_bytes()),
        bytes(&[0, 1, 2, 3]),
        bytes(&[255, 0, 255]),
        Value::Bytes(pattern(200)),
        Value::Bytes(pattern(60_000)),
        Value::Bytes(pattern(1 << 20)),
        Value::Bytes(pattern(3 << 20)),
        bytes("text \u{2603}".as_bytes()),
        bytes(b"b"),
        bytes(b"x,z"),
        bytes(br#"{"k": [1, 2]}"#),
        Value::NULL,
        bytes(b"2001:db8::1"),
        bytes(b"123e4567-e89b-12d3-a456-426655440000"),
    ]
}

/// Prepared statements: executes are routed by the statement's text (reads on a reader, writes
/// and hinted reads on the master), and every column type round-trips through the binary
/// protocol exactly as the server sends it directly.
#[test]
fn prepared_statements_route_and_round_trip_every_type() {
    let _serial = support::serial();
    let g = galera();
    g.wait_all_serving(Duration::from_secs(60));
    g.general_log_on();
    g.root_sql(1, TYPES_TABLE).expect("types table");
    let (dg, port) = proxy(g, "");
    let master = master_node(g, &dg);
    let t = Tags::new("ps");
    let id = i64::from(std::process::id()) * 1000 + i64::from(t.prefix.len() as u32);
    let (insert, on_master, on_reader) = (t.next(), t.next(), t.next());
    let placeholders = vec!["?"; 32].join(", ");
    let (via_master, via_reader, direct, text_via, text_direct) = rt().block_on(async {
        let mut c = connect(port).await;
        c.exec_drop(
            format!("INSERT /*{insert}*/ INTO rw_types ({TYPE_COLUMNS}) VALUES ({placeholders})"),
            type_values(id),
        )
        .await
        .expect("insert every type");
        let select = |tag: &str, hint: &str| {
            format!("SELECT /*{tag}*/ {TYPE_COLUMNS} FROM rw_types WHERE id = ? {hint}")
        };
        let via_master: Row = c
            .exec_first(select(&on_master, "-- maxscale route to master"), (id,))
            .await
            .expect("select on the master")
            .expect("the row on the master");
        let stmt = c.prep(select(&on_reader, "")).await.expect("prepare");
        let mut via_reader = None;
        for _ in 0..100 {
            via_reader = c
                .exec_first::<Row, _, _>(&stmt, (id,))
                .await
                .expect("select");
            if via_reader.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let text_via: Row = c
            .query_first(format!(
                "SELECT {TYPE_COLUMNS} FROM rw_types WHERE id = {id}"
            ))
            .await
            .expect("text select")
            .expect("row");
        c.close(stmt).await.expect("COM_STMT_CLOSE");
        // The statement cache holds the others; after a close the session goes on.
        let one: Option<i64> = c.exec_first("SELECT ?", (1,)).await.unwrap();
        assert_eq!(one, Some(1));
        c.disconnect().await.unwrap();
        let mut d = Conn::new(opts(g.port(master))).await.expect("direct");
        let direct: Row = d
            .exec_first(select("direct", ""), (id,))
            .await
            .unwrap()
            .unwrap();
        let text_direct: Row = d
            .query_first(format!(
                "SELECT {TYPE_COLUMNS} FROM rw_types WHERE id = {id}"
            ))
            .await
            .unwrap()
            .unwrap();
        d.disconnect().await.unwrap();
        (
            via_master,
            via_reader.expect("the row on a reader"),
            direct,
            text_via,
            text_direct,
        )
    });
    let values = |r: &Row| r.clone().unwrap();
    assert_eq!(
        values(&via_master),
        values(&direct),
        "binary rows from the master"
    );
    assert_eq!(
        values(&via_reader),
        values(&direct),
        "binary rows from a reader"
    );
    assert_eq!(values(&text_via), values(&text_direct), "text rows");
    let sent = type_values(id);
    let got = values(&direct);
    for i in [
        0, 1, 2, 3, 4, 5, 6, 9, 10, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 29,
    ] {
        let want = match &sent[i] {
            Value::Int(v) if i == 0 => Value::Int(*v),
            v => v.clone(),
        };
        let same = match (&want, &got[i]) {
            (Value::Int(a), Value::UInt(b)) => i128::from(*a) == i128::from(*b),
            (Value::UInt(a), Value::Int(b)) => i128::from(*a) == i128::from(*b),
            (a, b) => a == b,
        };
        assert!(same, "column {i}: sent {want:?}, read back {:?}", got[i]);
    }
    let executed = t.ran(g, Some("Execute"));
    let rows = [
        (insert, Where::Master, "prepared INSERT".to_string()),
        (
            on_master,
            Where::Master,
            "prepared SELECT hinted to the master".to_string(),
        ),
        (on_reader, Where::Reader, "prepared SELECT".to_string()),
    ];
    check_routes(&executed, master, &rows);
}

/// The server error code of a failed statement, 0 for any other failure.
fn code(e: &mysql_async::Error) -> u16 {
    match e {
        mysql_async::Error::Server(s) => s.code,
        _ => 0,
    }
}

/// Transactions in a loop on one session until `end`: `(acknowledged (client, n) commits,
/// errors, longest gap between two commits)`.
async fn trx_loop(
    port: u16,
    client: i64,
    end: std::time::Instant,
) -> (Vec<i64>, Vec<String>, Duration) {
    let mut c = connect(port).await;
    let (mut acked, mut errors) = (Vec::new(), Vec::new());
    let (mut gap, mut last) = (Duration::ZERO, std::time::Instant::now());
    let mut n = 0i64;
    while std::time::Instant::now() < end {
        n += 1;
        let r: Result<(), mysql_async::Error> = async {
            c.query_drop("BEGIN").await?;
            c.exec_drop(
                "INSERT INTO rw_replay (client, n) VALUES (?, ?)",
                (client, n),
            )
            .await?;
            let _: Option<i64> = c
                .exec_first("SELECT COUNT(*) FROM rw_replay WHERE client = ?", (client,))
                .await?;
            c.query_drop("COMMIT").await
        }
        .await;
        match r {
            Ok(()) => {
                acked.push(n);
                gap = gap.max(last.elapsed());
                last = std::time::Instant::now();
            }
            Err(e) => {
                errors.push(format!("client {client} trx {n}: {e}"));
                if matches!(e, mysql_async::Error::Io(_) | mysql_async::Error::Driver(_)) {
                    c = connect(port).await;
                }
                let _ = c.query_drop("ROLLBACK").await;
            }
        }
    }
    (acked, errors, gap)
}

/// SIGKILL the master: a transaction left open across the kill is replayed on the new master
/// and commits; one whose replayed reads differ gets ERR 1927; under a transaction load every
/// acknowledged commit is on the new master exactly once. Prints the commit gap.
#[test]
fn master_kill_replays_open_transactions() {
    let _serial = support::serial();
    let g = galera();
    let _heal = g.heal_on_drop();
    g.wait_all_serving(Duration::from_secs(60));
    g.root_sql(
        1,
        "CREATE OR REPLACE TABLE appdb.rw_replay (id INT AUTO_INCREMENT PRIMARY KEY, \
         client INT, n INT, KEY (client)) ENGINE=InnoDB",
    )
    .expect("table");
    let (dg, port) = proxy(g, "connect_timeout = \"10s\"");
    let master = master_node(g, &dg);
    let r = rt();
    let (mut keep, mut differ) = r.block_on(async {
        let mut keep = connect(port).await;
        keep.query_drop("BEGIN").await.unwrap();
        keep.query_drop("INSERT INTO rw_replay (client, n) VALUES (0, 1)")
            .await
            .unwrap();
        let n: Option<i64> = keep
            .query_first("SELECT COUNT(*) FROM rw_replay WHERE client = 0")
            .await
            .unwrap();
        assert_eq!(n, Some(1));
        let mut differ = connect(port).await;
        differ.query_drop("BEGIN").await.unwrap();
        let n: Option<i64> = differ
            .query_first("SELECT COUNT(*) FROM rw_replay WHERE client = 9")
            .await
            .unwrap();
        assert_eq!(n, Some(0));
        let mut other = connect(port).await;
        other
            .query_drop("INSERT INTO rw_replay (client, n) VALUES (9, 1)")
            .await
            .unwrap();
        other.disconnect().await.unwrap();
        (keep, differ)
    });
    let end = std::time::Instant::now() + Duration::from_secs(9);
    let load: Vec<_> = (1..=3)
        .map(|client| std::thread::spawn(move || rt().block_on(trx_loop(port, client, end))))
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    g.kill(master);
    let results: Vec<_> = load
        .into_iter()
        .map(|h| h.join().expect("load thread"))
        .collect();
    r.block_on(async {
        keep.query_drop("INSERT INTO rw_replay (client, n) VALUES (0, 2)")
            .await
            .expect("the open transaction continues on the new master");
        let n: Option<i64> = keep
            .query_first("SELECT COUNT(*) FROM rw_replay WHERE client = 0")
            .await
            .unwrap();
        assert_eq!(
            n,
            Some(2),
            "the replayed transaction holds its first insert"
        );
        keep.query_drop("COMMIT")
            .await
            .expect("commit after replay");
        let e = differ
            .query_drop("INSERT INTO rw_replay (client, n) VALUES (9, 2)")
            .await
            .expect_err("a replay whose reads differ must fail");
        assert_eq!(code(&e), 1927, "{e}");
        let one: Option<i64> = differ.query_first("SELECT 1").await.unwrap();
        assert_eq!(one, Some(1), "the session goes on after ERR 1927");
    });
    let new_master = master_node(g, &dg);
    assert_ne!(new_master, master);
    let rows = g
        .root_sql(
            new_master,
            "SELECT client, n FROM appdb.rw_replay ORDER BY client, n",
        )
        .expect("rows");
    let rows: Vec<(i64, i64)> = rows
        .lines()
        .filter_map(|l| {
            let (a, b) = l.split_once('\t')?;
            Some((a.parse().ok()?, b.parse().ok()?))
        })
        .collect();
    assert_eq!(rows.iter().filter(|r| r.0 == 0).count(), 2, "{rows:?}");
    let mut errors = Vec::new();
    let mut gap = Duration::ZERO;
    for (client, (acked, errs, g)) in (1..=3).zip(&results) {
        gap = gap.max(*g);
        errors.extend(errs.iter().cloned());
        assert!(
            acked.len() > 10,
            "client {client} committed only {}",
            acked.len()
        );
        for n in acked {
            let copies = rows.iter().filter(|r| **r == (client, *n)).count();
            assert_eq!(
                copies, 1,
                "acknowledged commit ({client}, {n}) is there once"
            );
        }
    }
    eprintln!(
        "master n{master} killed: longest commit gap {} ms, {} failed transactions: {errors:?}",
        gap.as_millis(),
        errors.len()
    );
    // Only a transaction whose COMMIT was in flight at the kill may fail: one per client.
    assert!(errors.len() <= 3, "{errors:?}\n{}", dg.log_tail(40));
    let m = dg.metrics();
    let ok = support::metric_value(
        &m,
        "datagate_mysql_transaction_replays_total{listener=\"rw\",result=\"ok\"}",
    );
    let failed = support::metric_value(
        &m,
        "datagate_mysql_transaction_replays_total{listener=\"rw\",result=\"failed\"}",
    );
    assert!(ok >= Some(1.0), "replays counted: {ok:?}");
    assert!(failed >= Some(1.0), "failed replays counted: {failed:?}");
}

/// Point reads in a loop on one session until `end`: `(reads, errors, ports seen)`.
async fn read_loop(port: u16, end: std::time::Instant) -> (u32, Vec<String>, BTreeSet<u16>) {
    let mut c = connect(port).await;
    let (mut reads, mut errors, mut ports) = (0, Vec::new(), BTreeSet::new());
    while std::time::Instant::now() < end {
        match c.query_first::<u16, _>("SELECT @@port").await {
            Ok(p) => {
                reads += 1;
                ports.extend(p);
            }
            Err(e) => {
                errors.push(e.to_string());
                if matches!(e, mysql_async::Error::Io(_) | mysql_async::Error::Driver(_)) {
                    c = connect(port).await;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    (reads, errors, ports)
}

/// Sessions spread over both readers (least connections); SIGKILL of a reader under reads: the
/// reads move to the other reader without a single error.
#[test]
fn reads_spread_and_survive_a_reader_kill() {
    let _serial = support::serial();
    let g = galera();
    let _heal = g.heal_on_drop();
    g.wait_all_serving(Duration::from_secs(60));
    let (dg, port) = proxy(g, "");
    let master = master_node(g, &dg);
    let end = std::time::Instant::now() + Duration::from_secs(5);
    let load: Vec<_> = (0..4)
        .map(|_| std::thread::spawn(move || rt().block_on(read_loop(port, end))))
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    let victim = (1..=3).find(|n| *n != master).expect("a reader");
    g.kill(victim);
    let results: Vec<_> = load
        .into_iter()
        .map(|h| h.join().expect("reader thread"))
        .collect();
    let mut all_ports = BTreeSet::new();
    for (reads, errors, ports) in &results {
        assert!(
            errors.is_empty(),
            "reads failed: {errors:?}\n{}",
            dg.log_tail(30)
        );
        assert!(*reads > 50, "only {reads} reads");
        all_ports.extend(ports);
    }
    let readers: BTreeSet<u16> = (1..=3)
        .filter(|n| *n != master)
        .map(|n| g.port(n))
        .collect();
    assert_eq!(
        all_ports, readers,
        "4 sessions use both readers and never the master"
    );
}

/// A desynced reader leaves the serving set within one monitor interval and its sessions read
/// elsewhere; it comes back when resynced.
#[test]
fn desynced_reader_leaves_the_rotation() {
    let _serial = support::serial();
    let g = galera();
    let _heal = g.heal_on_drop();
    g.wait_all_serving(Duration::from_secs(60));
    let (dg, port) = proxy(g, "");
    let master = master_node(g, &dg);
    rt().block_on(async {
        let mut c = connect(port).await;
        let p: u16 = c.query_first("SELECT @@port").await.unwrap().unwrap();
        let reader = g.node_of_port(p);
        assert_ne!(reader, master);
        let t0 = std::time::Instant::now();
        g.desync(reader);
        let mut moved = None;
        while t0.elapsed() < Duration::from_secs(5) {
            let q: u16 = c.query_first("SELECT @@port").await.unwrap().unwrap();
            if q != p {
                moved = Some((t0.elapsed(), q));
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let (after, q) = moved.expect("reads leave the desynced node");
        eprintln!(
            "desynced n{reader}: reads moved to port {q} after {} ms",
            after.as_millis()
        );
        // One 250 ms monitor interval, plus the lab script that desyncs, the monitor round
        // itself and the scheduling of this test.
        assert!(after < Duration::from_millis(1000), "{after:?}");
        for _ in 0..20 {
            let q: u16 = c.query_first("SELECT @@port").await.unwrap().unwrap();
            assert_ne!(q, p, "no read on the desynced node");
        }
        g.resync(reader);
        c.disconnect().await.unwrap();
    });
}

/// With `causal_reads`, reads on a reader after the session's first write wait for the cluster
/// (`wsrep_sync_wait`), so the session always reads its own writes; before any write they do not.
#[test]
fn causal_reads_see_the_sessions_writes() {
    let _serial = support::serial();
    let g = galera();
    g.wait_all_serving(Duration::from_secs(60));
    g.general_log_on();
    g.root_sql(
        1,
        "CREATE OR REPLACE TABLE appdb.rw_causal (id INT PRIMARY KEY, v INT) ENGINE=InnoDB",
    )
    .expect("table");
    let (dg, port) = proxy(g, "causal_reads = true");
    let master = master_node(g, &dg);
    let t = Tags::new("causal");
    let (before, after) = (t.next(), t.next());
    rt().block_on(async {
        let mut c = connect(port).await;
        let _: Option<i64> = c
            .query_first(format!("SELECT /*{before}*/ 1"))
            .await
            .unwrap();
        for i in 0..200 {
            c.exec_drop("INSERT INTO rw_causal (id, v) VALUES (?, ?)", (i, i))
                .await
                .unwrap();
            let v: Option<i64> = c
                .query_first(format!("SELECT v FROM rw_causal WHERE id = {i}"))
                .await
                .unwrap();
            assert_eq!(v, Some(i), "read {i} right after its write");
        }
        let p: Option<u16> = c
            .query_first(format!("SELECT /*{after}*/ @@port"))
            .await
            .unwrap();
        assert_ne!(
            g.node_of_port(p.unwrap()),
            master,
            "causal reads still use the reader"
        );
        c.disconnect().await.unwrap();
    });
    let mut seen = Vec::new();
    for n in 1..=3 {
        seen.extend(g.logged(n, &t.prefix).into_iter().map(|(_, a)| a));
    }
    let text = |tag: &str| {
        seen.iter()
            .find(|a| a.contains(tag))
            .cloned()
            .unwrap_or_default()
    };
    assert!(
        !text(&before).contains("wsrep_sync_wait"),
        "{}",
        text(&before)
    );
    assert!(
        text(&after).starts_with("SET STATEMENT wsrep_sync_wait=1 FOR SELECT"),
        "{}",
        text(&after)
    );
}

/// A reader that answers a session command differently from the master (here a table that
/// exists only on the master, as a non-replicated MyISAM table can) leaves the session, and the
/// daemon says so; the session goes on.
#[test]
fn reader_disagreeing_on_a_session_command_is_dropped() {
    let _serial = support::serial();
    let g = galera();
    g.wait_all_serving(Duration::from_secs(60));
    let (dg, port) = proxy(g, "");
    let master = master_node(g, &dg);
    g.root_sql(
        master,
        "SET SESSION wsrep_on = OFF; CREATE OR REPLACE TABLE appdb.rw_local (a INT) ENGINE=MyISAM",
    )
    .expect("a table on the master only");
    rt().block_on(async {
        let mut c = connect(port).await;
        let p: u16 = c.query_first("SELECT @@port").await.unwrap().unwrap();
        assert_ne!(g.node_of_port(p), master);
        c.query_drop("SET @n = (SELECT COUNT(*) FROM appdb.rw_local)")
            .await
            .expect("the master's answer reaches the client");
        let q: u16 = c.query_first("SELECT @@port").await.unwrap().unwrap();
        assert_ne!(
            q, p,
            "the disagreeing reader is no longer used by the session"
        );
        let n: Option<i64> = c.query_first("SELECT @n").await.unwrap();
        assert_eq!(n, Some(0), "reads go where the session history holds");
        c.disconnect().await.unwrap();
    });
    assert!(
        dg.wait_log(
            "answered a session command differently",
            Duration::from_secs(2)
        ),
        "{}",
        dg.log_tail(20)
    );
    for n in 1..=3 {
        let _ = g.root_sql(
            n,
            "SET SESSION wsrep_on = OFF; DROP TABLE IF EXISTS appdb.rw_local",
        );
    }
}

/// Puts `read_only = OFF` back on every node when dropped.
struct Writable<'a>(&'a GaleraLab);

impl Drop for Writable<'_> {
    fn drop(&mut self) {
        for n in 1..=3 {
            let _ = self.0.root_sql(n, "SET GLOBAL read_only = OFF");
        }
    }
}

/// With every node `read_only` the cluster has readers but no master: `error_on_write` refuses
/// writes with ERR 1290 and keeps the session, `fail_on_write` closes it at the first write,
/// `fail_instantly` at the first command that needs the master; reads go on meanwhile and
/// session commands run on the reader (except with `fail_instantly`).
#[test]
fn master_failure_modes_without_a_master() {
    let _serial = support::serial();
    let g = galera();
    g.wait_all_serving(Duration::from_secs(60));
    g.root_sql(
        1,
        "CREATE OR REPLACE TABLE appdb.rw_modes (a INT) ENGINE=InnoDB",
    )
    .expect("table");
    let modes = ["error_on_write", "fail_on_write", "fail_instantly"];
    let daemons: Vec<(Datagate, u16)> = modes
        .iter()
        .map(|m| {
            proxy(
                g,
                &format!("master_failure_mode = \"{m}\"\nconnect_timeout = \"1s\""),
            )
        })
        .collect();
    let r = rt();
    let mut sessions: Vec<Conn> = r.block_on(async {
        let mut v = Vec::new();
        for (_, port) in &daemons {
            let mut c = connect(*port).await;
            c.query_drop("INSERT INTO rw_modes VALUES (1)")
                .await
                .unwrap();
            c.query_drop("SELECT 1").await.unwrap();
            v.push(c);
        }
        v
    });
    let _writable = Writable(g);
    for n in 1..=3 {
        g.root_sql(n, "SET GLOBAL read_only = ON")
            .expect("read_only");
    }
    let no_master = wait_until(Duration::from_secs(5), || {
        daemons.iter().all(|(dg, _)| {
            dg.get("/api/v1/servers")
                .is_ok_and(|(_, b)| b.contains("\"master\": null"))
        })
    });
    assert!(
        no_master,
        "{}",
        daemons[0].0.get("/api/v1/servers").unwrap().1
    );
    r.block_on(async {
        let insert = "INSERT INTO rw_modes VALUES (2)";
        // error_on_write
        let c = &mut sessions[0];
        let e = c.query_drop(insert).await.expect_err("no master");
        assert_eq!(code(&e), 1290, "{e}");
        c.query_drop("SET @m = 7")
            .await
            .expect("a session command on the reader");
        let m: Option<i64> = c.query_first("SELECT @m").await.unwrap();
        assert_eq!(m, Some(7));
        let e = c.query_drop(insert).await.expect_err("still no master");
        assert_eq!(code(&e), 1290, "{e}");
        // fail_on_write
        let c = &mut sessions[1];
        c.query_drop("SET @m = 8")
            .await
            .expect("a session command on the reader");
        let m: Option<i64> = c.query_first("SELECT @m").await.unwrap();
        assert_eq!(m, Some(8));
        c.query_drop(insert).await.expect_err("no master");
        assert!(
            c.query_drop("SELECT 1").await.is_err(),
            "closed after the write"
        );
        // fail_instantly
        let c = &mut sessions[2];
        let _: Option<i64> = c.query_first("SELECT 1").await.expect("reads on a reader");
        c.query_drop("SET @m = 9")
            .await
            .expect_err("needs the master");
        assert!(c.query_drop("SELECT 1").await.is_err(), "closed");
    });
    drop(_writable);
    // A master again: the error_on_write session writes, with its history on the new master.
    let back = wait_until(Duration::from_secs(5), || {
        daemons[0]
            .0
            .get("/api/v1/servers")
            .is_ok_and(|(_, b)| !b.contains("\"master\": null"))
    });
    assert!(back);
    r.block_on(async {
        let c = &mut sessions[0];
        c.query_drop("INSERT INTO rw_modes VALUES (3)")
            .await
            .expect("a master again");
        let m: Option<i64> = c
            .query_first("SELECT @m -- maxscale route to master")
            .await
            .unwrap();
        assert_eq!(m, Some(7), "the master got the session history");
    });
}

/// A read-only cursor (COM_STMT_EXECUTE with CURSOR_TYPE_READ_ONLY, then COM_STMT_FETCH): the
/// fetches reach the reader that opened the cursor, with a query of the session in between.
#[test]
fn cursor_fetches_stay_on_the_reader() {
    use datagate::mysql::client::{ConnectOptions, Connection, Password};
    use mysql_common::constants::Command as Cmd;
    let _serial = support::serial();
    let g = galera();
    g.wait_all_serving(Duration::from_secs(60));
    g.general_log_on();
    g.root_sql(
        1,
        "CREATE OR REPLACE TABLE appdb.rw_cursor (a INT PRIMARY KEY) ENGINE=InnoDB; \
         INSERT INTO appdb.rw_cursor SELECT seq FROM appdb.seq_1_to_10",
    )
    .expect("table");
    let (dg, port) = proxy(g, "");
    let master = master_node(g, &dg);
    let t = Tags::new("cursor");
    let tag = t.next();
    rt().block_on(async {
        let mut c = Connection::connect(&ConnectOptions {
            addr: format!("127.0.0.1:{port}"),
            user: APP_USER.into(),
            password: Password::Cleartext(APP_PASSWORD.into()),
            database: Some(APP_DB.into()),
            connect_timeout: Duration::from_secs(5),
            proxy_header: None,
        })
        .await
        .expect("connect");
        let sql = format!("SELECT /*{tag}*/ a FROM rw_cursor ORDER BY a");
        c.send_command(Cmd::COM_STMT_PREPARE, sql.as_bytes())
            .await
            .unwrap();
        let ok = c.read_packet().await.unwrap().payload;
        assert_eq!(ok[0], 0, "prepare OK: {ok:?}");
        let id = ok[1..5].to_vec();
        let columns = u16::from_le_bytes([ok[5], ok[6]]);
        for _ in 0..columns {
            c.read_packet().await.unwrap();
        }
        let mut exec = id.clone();
        exec.extend_from_slice(&[1, 1, 0, 0, 0]); // CURSOR_TYPE_READ_ONLY, iteration 1
        c.send_command(Cmd::COM_STMT_EXECUTE, &exec).await.unwrap();
        assert_eq!(
            c.read_packet().await.unwrap().payload[..],
            [1],
            "one column"
        );
        c.read_packet().await.unwrap();
        let eof = c.read_packet().await.unwrap().payload;
        assert_eq!(eof[0], 0xFE, "{eof:?}");
        let status = u16::from_le_bytes([eof[3], eof[4]]);
        assert_ne!(status & 0x40, 0, "SERVER_STATUS_CURSOR_EXISTS");
        let mut rows = 0;
        loop {
            let rows_before = rows;
            let mut fetch = id.clone();
            fetch.extend_from_slice(&3u32.to_le_bytes());
            c.send_command(Cmd::COM_STMT_FETCH, &fetch).await.unwrap();
            let last = loop {
                let p = c.read_packet().await.unwrap().payload;
                match p[0] {
                    0x00 => rows += 1,
                    0xFE => break u16::from_le_bytes([p[3], p[4]]) & 0x80 != 0,
                    _ => panic!("fetch failed: {p:?}"),
                }
            };
            assert!(rows > rows_before || last, "a fetch returns rows");
            if last {
                break;
            }
            let one = c.query("SELECT 1").await.expect("a query between fetches");
            assert_eq!(one, vec![vec![Some("1".to_string())]]);
        }
        assert_eq!(rows, 10);
        c.quit().await;
    });
    let executed = t.ran(g, Some("Execute"));
    check_routes(&executed, master, &[(tag, Where::Reader, "cursor".into())]);
}
