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
    Conn::new(opts(port)).await.expect("connect through datagate")
}

/// The master's node number, as datagate's monitor sees it.
fn master_node(g: &GaleraLab, dg: &Datagate) -> usize {
    let (_, body) = dg.get("/api/v1/servers").expect("GET /api/v1/servers");
    let v: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    let addr = v["galera"]["g"]["master"]
        .as_str()
        .unwrap_or_else(|| panic!("no master in {body}"));
    let port: u16 = addr.rsplit(':').next().and_then(|p| p.parse().ok()).expect("port");
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
        format!("{}q{}z", self.prefix, self.n.fetch_add(1, Ordering::Relaxed))
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
            bad.push(format!("{what}: expected {want:?} (master n{master}), ran on {nodes:?}"));
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
    let other = |n: usize| (1..=3).find(|x| *x != master && *x != n).expect("a third node");
    let mut rows: Vec<(String, Where, String)> = Vec::new();
    rt().block_on(async {
        let mut c = connect(port).await;
        c.query_drop("SELECT 1").await.expect("warm up: opens the reader");
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
        run!(Master, "INSERT /*{T}*/ INTO rw_t (v) VALUES (2) -- maxscale route to slave").unwrap();
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
        let p1: Option<u16> = c.query_first(format!("SELECT /*{ro1}*/ @@port")).await.unwrap();
        let p2: Option<u16> = c.query_first(format!("SELECT /*{ro2}*/ @@port")).await.unwrap();
        c.query_drop("COMMIT").await.unwrap();
        let ro_node = g.node_of_port(p1.unwrap());
        assert_eq!(p1, p2, "a read-only transaction stays on one reader");
        assert_ne!(ro_node, master, "a read-only transaction runs on a reader");
        rows.push((ro1, Node(ro_node), "read-only transaction, 1st".into()));
        rows.push((ro2, Node(ro_node), "read-only transaction, 2nd".into()));
        // Reads that must see the master.
        run!(Master, "SELECT /*{T}*/ v FROM rw_t ORDER BY id LIMIT 1 FOR UPDATE").unwrap();
        run!(Master, "SELECT /*{T}*/ v FROM rw_t ORDER BY id LIMIT 1 LOCK IN SHARE MODE").unwrap();
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
        run!(Master, "SELECT /*{T}*/ x.a FROM rw_t JOIN rw_tmp x ON x.a = rw_t.v").unwrap();
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
        let v: Option<i64> = c.query_first(format!("SELECT /*{}*/ @v", t.next())).await.unwrap();
        assert_eq!(v, Some(42), "a user variable set in the session is visible on the reader");
        run!(Both, "SET /*{T}*/ SESSION sql_mode = 'ANSI_QUOTES'").unwrap();
        let m: Option<String> = c.query_first("SELECT @@sql_mode").await.unwrap();
        assert_eq!(m.as_deref(), Some("ANSI_QUOTES"));
        c.query_drop("SET SESSION sql_mode = DEFAULT").await.unwrap();
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
        let warnings: Vec<Row> = c.query(format!("SHOW /*{}*/ WARNINGS", t.next())).await.unwrap();
        assert_eq!(warnings.len(), 1, "SHOW WARNINGS reaches the backend that warned");
        // Hints.
        run!(Master, "SELECT /*{T}*/ 5 -- maxscale route to master").unwrap();
        run!(Master, "SELECT /*{T}*/ 6 /* datagate route to master */").unwrap();
        let n = other(master);
        let hinted = g.addr(n);
        let tag = t.next();
        let _: Vec<Row> = c
            .query(format!("SELECT /*{tag}*/ 7 /* maxscale route to server {hinted} */"))
            .await
            .unwrap();
        rows.push((tag, Node(n), format!("hint to server {hinted}")));
        let tag = t.next();
        let _: Vec<Row> = c
            .query(format!("SELECT /*{tag}*/ 8 -- maxscale route to server {}", g.addr(master)))
            .await
            .unwrap();
        rows.push((tag, Master, "hint to the master by name".into()));
        run!(Reader, "SELECT /*{T}*/ 9 -- maxscale route to server no-such-server").unwrap();
        run!(Reader, "SELECT /*{T}*/ 10 -- maxscale route to slave").unwrap();
        c.disconnect().await.unwrap();
    });
    let ran = t.ran(g, None);
    check_routes(&ran, master, &rows);
    assert!(
        dg.log().contains("routing hint names a server that cannot be used"),
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
