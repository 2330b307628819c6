//! Self-test of the test lab (`tests/support`): both labs start, are healthy, and a Galera node
//! that is killed and restarted brings the cluster back to 3 Synced nodes.

mod support;

use std::time::Duration;

use support::{APP_DB, APP_PASSWORD, APP_USER, galera, mysql, mysql_db, redis, redis_cli};

#[test]
fn galera_lab_is_three_synced_nodes() {
    let _serial = support::serial();
    let g = galera();
    g.wait_all_serving(Duration::from_secs(30));
    let mut indexes = Vec::new();
    for n in 1..=3 {
        let s = g.state(n).expect("node answers");
        assert_eq!(s.state, "Synced", "n{n}: {s:?}");
        assert_eq!(s.cluster_status, "Primary", "n{n}: {s:?}");
        assert_eq!(s.cluster_size, 3, "n{n}: {s:?}");
        assert!(!s.desync, "n{n}: {s:?}");
        indexes.push(s.local_index);
        // The application account works over TCP on every node and sees its own port.
        let port = mysql_db(g.port(n), APP_USER, APP_PASSWORD, APP_DB, "SELECT @@port").unwrap();
        assert_eq!(port, g.port(n).to_string());
    }
    indexes.sort();
    assert_eq!(indexes, vec![0, 1, 2]);
    // A write on one node is visible on the others (synchronous replication).
    let token = format!("{}", std::process::id());
    mysql_db(
        g.port(1),
        APP_USER,
        APP_PASSWORD,
        APP_DB,
        &format!(
            "CREATE TABLE IF NOT EXISTS lab_selftest (id INT PRIMARY KEY, v VARCHAR(32)); \
             REPLACE INTO lab_selftest VALUES (1, '{token}')"
        ),
    )
    .unwrap();
    for n in 2..=3 {
        let v = mysql_db(
            g.port(n),
            APP_USER,
            APP_PASSWORD,
            APP_DB,
            "SELECT v FROM lab_selftest WHERE id = 1",
        )
        .unwrap();
        assert_eq!(v, token, "n{n}");
    }
    // The monitor account reads mysql.user (what datagate needs to authenticate clients).
    let users = mysql(
        g.port(2),
        support::MONITOR_USER,
        support::MONITOR_PASSWORD,
        "SELECT COUNT(*) FROM mysql.user",
    )
    .unwrap();
    assert!(users.parse::<u32>().unwrap() >= 6, "{users}");
}

#[test]
fn galera_node_killed_and_restarted_rejoins() {
    let _serial = support::serial();
    let g = galera();
    let _heal = g.heal_on_drop();
    g.wait_all_serving(Duration::from_secs(30));
    g.kill(3);
    assert!(g.state(3).is_none(), "n3 still answers after kill");
    // The survivors evict n3 quickly with the test lab's short EVS timeouts, and keep a Primary component.
    let evicted = support::wait_until(Duration::from_secs(15), || {
        [1, 2].iter().all(|&n| {
            g.state(n)
                .is_some_and(|s| s.serving() && s.cluster_size == 2)
        })
    });
    assert!(
        evicted,
        "survivors did not settle on a Primary component of 2:\n{}",
        g.status()
    );
    g.restart(3);
    g.wait_all_serving(Duration::from_secs(30));
}

#[test]
fn galera_desync_and_resync() {
    let _serial = support::serial();
    let g = galera();
    let _heal = g.heal_on_drop();
    g.desync(2);
    let s = g.state(2).unwrap();
    assert!(s.desync && !s.serving(), "{s:?}");
    assert_eq!(s.state, "Donor/Desynced");
    g.resync(2);
    assert!(support::wait_until(Duration::from_secs(10), || g
        .state(2)
        .is_some_and(|s| s.serving())));
}

#[test]
fn redis_lab_is_one_master_two_replicas_three_sentinels() {
    let _serial = support::serial();
    let r = redis();
    r.start();
    let master = r.master().expect("the sentinels agree on a master");
    // Every sentinel reports the same master.
    assert_eq!(
        r.sentinel_masters(),
        vec![Some(master); 3],
        "{}",
        r.status()
    );
    assert_eq!(r.role(master).as_deref(), Some("master"));
    let replicas: Vec<u16> = r
        .node_ports()
        .into_iter()
        .filter(|&p| p != master)
        .collect();
    assert_eq!(replicas.len(), 2);
    for &p in &replicas {
        assert_eq!(r.role(p).as_deref(), Some("slave"), "{p}");
    }
    let info = redis_cli(master, &["INFO", "replication"]).unwrap();
    assert!(info.contains("connected_slaves:2"), "{info}");
    // Writes go to the master and reach the replicas; replicas refuse writes.
    redis_cli(master, &["SET", "lab:selftest", "1"]).unwrap();
    for &p in &replicas {
        assert!(support::wait_until(Duration::from_secs(5), || {
            redis_cli(p, &["GET", "lab:selftest"]).is_ok_and(|v| v == "1")
        }));
        let err = redis_cli(p, &["SET", "lab:selftest", "2"]).unwrap_err();
        assert!(err.starts_with("READONLY"), "{err}");
    }
    // Sentinels know the replicas and each other.
    let m = redis_cli(r.sentinel_port(1), &["SENTINEL", "master", r.master_name()]).unwrap();
    let fields: Vec<&str> = m.lines().collect();
    let field = |k: &str| fields.iter().position(|l| *l == k).map(|i| fields[i + 1]);
    assert_eq!(field("num-slaves"), Some("2"), "{m}");
    assert_eq!(field("num-other-sentinels"), Some("2"), "{m}");
}

#[test]
fn redis_kill_master_promotes_a_replica() {
    let _serial = support::serial();
    let r = redis();
    r.start();
    let old = r.master().unwrap();
    let new = r.kill_master();
    assert_ne!(old, new);
    assert_eq!(r.role(new).as_deref(), Some("master"));
    assert!(r.role(old).is_none(), "the killed master still answers");
    // start brings the old master back, as a replica of the new one.
    r.start();
    assert_eq!(r.master(), Some(new));
    assert!(support::wait_until(Duration::from_secs(10), || r
        .role(old)
        .as_deref()
        == Some("slave")));
    // restart_all gives the fresh topology back: node 1 is master.
    r.restart_all();
    assert_eq!(r.master(), Some(r.node_port(1)));
}

#[test]
fn datagate_spawner_runs_the_daemon_in_front_of_the_lab() {
    let g = galera();
    let admin = support::free_port();
    let listen = support::free_port();
    let config = format!(
        r#"
[global]
shutdown_timeout = "2s"

[admin]
listen = "127.0.0.1:{admin}"

[[tcp]]
name = "mysql"
listen = "127.0.0.1:{listen}"
servers = {servers}
balance = "first"
check = "tcp"
check_interval = "250ms"
rise = 1
fall = 1
"#,
        servers = g.servers_toml(),
    );
    let (ok, out) = support::datagate_check(&config);
    assert!(ok, "datagate check refused a valid config: {out}");
    let (ok, out) = support::datagate_check("[admin]\nlisten = \"127.0.0.1:1\"\nnot_a_key = 1\n");
    assert!(!ok, "datagate check accepted an unknown key: {out}");
    assert!(out.contains("datagate.toml:"), "no FILE:LINE:COL in: {out}");

    let mut d = support::datagate(&config);
    assert_eq!(d.get("/healthz").unwrap().0, 200);
    let through = support::wait_until(Duration::from_secs(10), || {
        mysql_db(listen, APP_USER, APP_PASSWORD, APP_DB, "SELECT @@port")
            .is_ok_and(|p| p == g.port(1).to_string())
    });
    assert!(
        through,
        "no query through datagate reached n1\n{}",
        d.log_tail(40)
    );
    let metrics = d.metrics();
    assert!(
        metrics.contains("datagate_listener_connections_total"),
        "{metrics}"
    );
    let status = d.stop().expect("datagate was running");
    assert!(
        status.success(),
        "datagate did not exit 0 on SIGTERM: {status}\n{}",
        d.log_tail(40)
    );
}
