//! Read/write splitting against the real 3-node Galera lab. Where a statement ran is read from
//! each node's general query log (every statement carries a unique tag in a comment), never
//! from datagate's own logs: the routing rules table, prepared statements and cursors, session
//! state on readers, temporary tables, hints, causal reads, and a reader that disagrees on a
//! session command. Failover is in `rw_failover.rs`.

mod support;

use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row, Value};
use support::galera;
use support::rw::{Tags, Where, check_routes, connect, master_node, opts, proxy, rt};

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
        // Text EXECUTE goes where its PREPAREd text would.
        run!(Both, "PREPARE /*{T}*/ s1 FROM 'SELECT 1'").unwrap();
        run!(Reader, "EXECUTE /*{T}*/ s1").unwrap();
        run!(
            Both,
            "PREPARE /*{T}*/ s2 FROM 'INSERT INTO rw_t (v) VALUES (?)'"
        )
        .unwrap();
        run!(Master, "EXECUTE /*{T}*/ s2 USING @v").unwrap();
        run!(Both, "SET /*{T}*/ @q = 'SELECT 2'").unwrap();
        run!(Both, "PREPARE /*{T}*/ s3 FROM @q").unwrap();
        run!(Master, "EXECUTE /*{T}*/ s3").unwrap();
        run!(Both, "DEALLOCATE /*{T}*/ PREPARE s1").unwrap();
        run!(Master, "EXECUTE /*{T}*/ s1").unwrap_err();
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

/// A read-only cursor (COM_STMT_EXECUTE with CURSOR_TYPE_READ_ONLY, then COM_STMT_FETCH): the
/// fetches reach the reader that opened the cursor, with a query of the session in between.
#[test]
fn cursor_fetches_stay_on_the_reader() {
    use datagate::mysql::client::Connection;
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
        let mut c = Connection::connect(&support::app_connect_opts(port))
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

/// COM_RESET_CONNECTION reaches the master and the reader: user variables and temporary tables
/// are gone on both, and the history no longer brings them back on a new connection.
#[test]
fn reset_connection_clears_every_backend() {
    let _serial = support::serial();
    let g = galera();
    g.wait_all_serving(Duration::from_secs(60));
    let (_dg, port) = proxy(g, "");
    rt().block_on(async {
        let mut c = connect(port).await;
        c.query_drop("SET @r = 1").await.unwrap();
        c.query_drop("CREATE TEMPORARY TABLE rw_reset_tmp (a INT)")
            .await
            .unwrap();
        let r: Option<i64> = c.query_first("SELECT @r").await.unwrap();
        assert_eq!(r, Some(1));
        assert!(
            c.reset().await.expect("COM_RESET_CONNECTION"),
            "the server supports it"
        );
        for sql in ["SELECT @r", "SELECT @r -- maxscale route to master"] {
            let r: Option<Option<i64>> = c.query_first(sql).await.unwrap();
            assert_eq!(r, Some(None), "{sql}: the variable is gone");
        }
        let e = c
            .query_drop("SELECT * FROM rw_reset_tmp -- maxscale route to master")
            .await
            .expect_err("the temporary table is gone");
        assert!(e.to_string().contains("doesn't exist"), "{e}");
        c.disconnect().await.unwrap();
    });
}
