//! Helpers of the read/write split tests (`tests/rw_*.rs`): a daemon with a `[[mysql]]`
//! listener, mysql_async sessions through it, and where statements ran according to the nodes'
//! general query logs (each statement carries a unique tag in a comment).

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU32, Ordering};

use mysql_async::{Conn, OptsBuilder};

use super::{APP_DB, APP_PASSWORD, APP_USER, Datagate, GaleraLab, free_port};

/// A daemon over the lab's cluster with a `[[mysql]]` listener (`extra` lines added to it).
pub fn proxy(g: &GaleraLab, extra: &str) -> (Datagate, u16) {
    let (port, admin) = (free_port(), free_port());
    let cfg = format!(
        "[admin]\nlisten = \"127.0.0.1:{admin}\"\n{}\
         [[mysql]]\nname = \"rw\"\nlisten = \"127.0.0.1:{port}\"\ncluster = \"g\"\n{extra}\n",
        g.config_section("g")
    );
    (super::datagate(&cfg), port)
}

pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

pub fn opts(port: u16) -> OptsBuilder {
    OptsBuilder::default()
        .ip_or_hostname("127.0.0.1")
        .tcp_port(port)
        .prefer_socket(false)
        .user(Some(APP_USER))
        .pass(Some(APP_PASSWORD))
        .db_name(Some(APP_DB))
}

pub async fn connect(port: u16) -> Conn {
    Conn::new(opts(port))
        .await
        .expect("connect through datagate")
}

/// One session that reads once and leaves (the monitor has run, the pool has a connection),
/// then `settle` for datagate to give its connections back.
pub fn one_session(port: u16, settle: std::time::Duration) {
    rt().block_on(async {
        let mut c = connect(port).await;
        let _: Option<i64> = mysql_async::prelude::Queryable::query_first(&mut c, "SELECT 1")
            .await
            .unwrap();
        c.disconnect().await.unwrap();
    });
    std::thread::sleep(settle);
}

/// The master's node number, as datagate's monitor sees it.
pub fn master_node(g: &GaleraLab, dg: &Datagate) -> usize {
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
pub struct Tags {
    pub prefix: String,
    n: AtomicU32,
}

impl Tags {
    pub fn new(what: &str) -> Tags {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        Tags {
            prefix: format!("dg{what}{}x{nanos}", std::process::id()),
            n: AtomicU32::new(0),
        }
    }

    pub fn next(&self) -> String {
        format!(
            "{}q{}z",
            self.prefix,
            self.n.fetch_add(1, Ordering::Relaxed)
        )
    }

    /// For each node, the tags its general log holds (with `command_type` filter if given).
    pub fn ran(&self, g: &GaleraLab, command_type: Option<&str>) -> [Vec<String>; 3] {
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
pub enum Where {
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
pub fn nodes_of(ran: &[Vec<String>; 3], tag: &str) -> BTreeSet<usize> {
    (0..3)
        .filter(|i| ran[*i].iter().any(|t| t == tag))
        .map(|i| i + 1)
        .collect()
}

/// Checks every `(tag, where, what)` against the logs; all mismatches in one panic.
pub fn check_routes(ran: &[Vec<String>; 3], master: usize, rows: &[(String, Where, String)]) {
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

/// The server error code of a failed statement, 0 for any other failure.
pub fn code(e: &mysql_async::Error) -> u16 {
    match e {
        mysql_async::Error::Server(s) => s.code,
        _ => 0,
    }
}
