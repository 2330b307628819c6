//! `[[tcp]]` checks and the `[[galera]]` monitor against the real lab: a 3-node Galera cluster
//! and Redis with Sentinel.

mod support;

use std::time::Duration;

use support::{
    APP_DB, APP_PASSWORD, APP_USER, MONITOR_PASSWORD, MONITOR_USER, free_port, galera, mysql_db,
    redis, redis_cli, wait_until,
};

fn port_through(port: u16) -> Option<String> {
    mysql_db(port, APP_USER, APP_PASSWORD, APP_DB, "SELECT @@port").ok()
}

/// HAProxy-style Galera front: one writer (`first`), two backups, `check = "galera"`.
/// A desynced node leaves rotation; it returns after resync.
#[test]
fn galera_check_follows_desync_and_monitor_reports_the_cluster() {
    let _serial = support::serial();
    let g = galera();
    let _heal = g.heal_on_drop();
    g.wait_all_serving(Duration::from_secs(60));
    let (port, admin) = (free_port(), free_port());
    let cfg = format!(
        "[admin]\nlisten = \"127.0.0.1:{admin}\"\n\
         [[galera]]\nname = \"g\"\nservers = [\"{a1}\", \"{a2}\", \"{a3}\"]\nuser = \"{MONITOR_USER}\"\npassword = \"{MONITOR_PASSWORD}\"\ninterval = \"300ms\"\n\
         [[tcp]]\nname = \"mysql\"\nlisten = \"127.0.0.1:{port}\"\nbalance = \"first\"\n\
         servers = [\"{a1}\", {{ addr = \"{a2}\", backup = true }}, {{ addr = \"{a3}\", backup = true }}]\n\
         check = \"galera\"\ncheck_user = \"{MONITOR_USER}\"\ncheck_password = \"{MONITOR_PASSWORD}\"\n\
         check_interval = \"300ms\"\nrise = 1\nfall = 1\n",
        a1 = g.addr(1),
        a2 = g.addr(2),
        a3 = g.addr(3),
    );
    // /readyz answers 200 only once the monitor found a master.
    let dg = support::datagate(&cfg);
    assert_eq!(port_through(port), Some(g.port(1).to_string()));

    let (_, servers) = dg.get("/api/v1/servers").unwrap();
    let v: serde_json::Value = serde_json::from_str(&servers).unwrap();
    let nodes = v["galera"]["g"]["servers"]
        .as_array()
        .expect("galera servers")
        .clone();
    assert_eq!(nodes.len(), 3, "{servers}");
    assert!(v["galera"]["g"]["master"].is_string(), "{servers}");
    let masters = nodes.iter().filter(|n| n["role"] == "master").count();
    assert_eq!(masters, 1, "{servers}");
    assert_eq!(
        dg.metric(&format!(
            "datagate_backend_up{{group=\"mysql\",server=\"{}\"}}",
            g.addr(1)
        )),
        Some(1.0)
    );

    g.desync(1);
    assert!(
        wait_until(Duration::from_secs(3), || port_through(port)
            == Some(g.port(2).to_string())),
        "a desynced node leaves rotation within a few check intervals\n{}",
        dg.log_tail(30)
    );
    let (_, servers) = dg.get("/api/v1/servers").unwrap();
    assert!(servers.contains("\"state\": \"down\""), "{servers}");
    assert!(
        servers.contains("desync"),
        "the last check error says why: {servers}"
    );

    g.resync(1);
    assert!(
        wait_until(Duration::from_secs(5), || port_through(port)
            == Some(g.port(1).to_string())),
        "back in rotation after resync\n{}",
        dg.log_tail(30)
    );
}

/// `check = "mysql"` with and without login.
#[test]
fn mysql_check_with_login() {
    let g = galera();
    let (port, admin) = (free_port(), free_port());
    let cfg = format!(
        "[admin]\nlisten = \"127.0.0.1:{admin}\"\n\
         [[tcp]]\nname = \"m\"\nlisten = \"127.0.0.1:{port}\"\nservers = [\"{}\"]\ncheck = \"mysql\"\n\
         check_user = \"{MONITOR_USER}\"\ncheck_password = \"wrong\"\ncheck_interval = \"200ms\"\nrise = 1\nfall = 1\n",
        g.addr(1)
    );
    let dg = support::datagate_alive(&cfg);
    assert!(
        wait_until(Duration::from_secs(5), || {
            dg.get("/api/v1/servers")
                .is_ok_and(|(_, b)| b.contains("\"state\": \"down\"") && b.contains("1045"))
        }),
        "a wrong check password marks the server down with the server's error"
    );
    dg.write_config(&cfg.replace("\"wrong\"", &format!("\"{MONITOR_PASSWORD}\"")));
    dg.reload();
    assert!(
        wait_until(Duration::from_secs(5), || port_through(port)
            == Some(g.port(1).to_string())),
        "{}",
        dg.log_tail(30)
    );
}

/// `check = "redis_master"`: only the master is up; writes through the listener never hit a replica.
#[test]
fn redis_master_check_sends_only_to_the_master() {
    let r = redis();
    let master = r.master().expect("lab has a master");
    let (port, admin) = (free_port(), free_port());
    let servers: Vec<String> = r
        .node_ports()
        .iter()
        .map(|p| format!("\"127.0.0.1:{p}\""))
        .collect();
    let cfg = format!(
        "[admin]\nlisten = \"127.0.0.1:{admin}\"\n\
         [[tcp]]\nname = \"r\"\nlisten = \"127.0.0.1:{port}\"\nservers = [{}]\ncheck = \"redis_master\"\n\
         check_interval = \"200ms\"\nrise = 1\nfall = 1\n",
        servers.join(", ")
    );
    let dg = support::datagate_alive(&cfg);
    assert!(
        wait_until(Duration::from_secs(5), || {
            r.node_ports().iter().filter(|p| **p != master).all(|p| {
                dg.metric(&format!(
                    "datagate_backend_up{{group=\"r\",server=\"127.0.0.1:{p}\"}}"
                )) == Some(0.0)
            })
        }),
        "replicas marked down\n{}",
        dg.log_tail(30)
    );
    for i in 0..20 {
        let out = redis_cli(port, &["SET", &format!("health-lab-{i}"), "v"]).unwrap();
        assert_eq!(out.trim(), "OK", "write {i} through the listener");
    }
    let (_, servers) = dg.get("/api/v1/servers").unwrap();
    assert!(servers.contains("role is slave"), "{servers}");
}
