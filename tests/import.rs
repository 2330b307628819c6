//! `datagate import`: real files in, TOML out that `datagate check` accepts, warnings located.

use std::path::Path;
use std::process::{Command, Output};

const HAPROXY: &str = "\
global
    nbthread 1
    log stderr format raw local0 notice

defaults
    mode tcp
    maxconn 4000
    timeout connect 3s
    timeout client 1h
    default-server inter 1s fall 2 rise 2 on-marked-down shutdown-sessions

listen mysql
    bind 127.0.0.1:14306
    balance first
    server n1 127.0.0.1:14501 check
    server n2 127.0.0.1:14502 check backup
    server n3 127.0.0.1:14503 check backup

listen redis
    bind 127.0.0.1:16400
    balance first
    option tcp-check
    tcp-check connect
    tcp-check send PING\\r\\n
    tcp-check expect string +PONG
    tcp-check send info\\ replication\\r\\n
    tcp-check expect string role:master
    tcp-check send QUIT\\r\\n
    tcp-check expect string +OK
    server r1 127.0.0.1:16501 check
    server r2 127.0.0.1:16502 check

frontend stats
    bind 127.0.0.1:18404
    mode http
    http-request use-service prometheus-exporter if { path /metrics }
    stats enable
";

const MAXSCALE: &str = "\
[maxscale]
threads=2

[db1]
type=server
address=10.0.0.1
port=3306

[db2]
type=server
address=10.0.0.2
port=3306

[Galera-Monitor]
type=monitor
module=galeramon
servers=db1,db2
user=maxmon
password=secret
monitor_interval=2s

[RW]
type=service
router=readwritesplit
servers=db1,db2
user=maxmon
password=secret
transaction_replay=true

[RW-Listener]
type=listener
service=RW
address=0.0.0.0
port=4006
";

const KEEPALIVED: &str = "\
! keepalived.conf of db1
global_defs {
    router_id db1
}

vrrp_script chk_haproxy {
    script \"/usr/bin/killall -0 haproxy\"
    interval 2
    weight -60
    fall 2
    rise 2
}

vrrp_instance VI_DB {
    state MASTER
    interface eth0
    virtual_router_id 51
    priority 150
    advert_int 1
    unicast_src_ip 10.0.0.1
    unicast_peer {
        10.0.0.2
    }
    authentication {
        auth_type PASS
        auth_pass secret
    }
    virtual_ipaddress {
        10.0.0.100/24 dev eth0
    }
    track_script {
        chk_haproxy
    }
    notify_master \"/etc/keepalived/to-master.sh\"
    notify \"/etc/keepalived/notify.sh\"
}

vrrp_instance VI_REDIS {
    interface eth0
    virtual_router_id 52
    virtual_ipaddress {
        10.0.0.101/24
    }
}
";

fn datagate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_datagate"))
        .args(args)
        .output()
        .expect("run datagate")
}

/// Imports `src` as `kind`, checks the output with `datagate check`, returns (toml, stderr).
fn import_and_check(dir: &Path, kind: &str, src: &str) -> (String, String) {
    let input = dir.join(format!("{kind}.conf"));
    std::fs::write(&input, src).unwrap();
    let out = datagate(&["import", kind, input.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "import {kind}: {stderr}");
    let toml = String::from_utf8(out.stdout).unwrap();
    let cfg = dir.join(format!("{kind}.toml"));
    std::fs::write(&cfg, &toml).unwrap();
    let check = datagate(&["check", "-c", cfg.to_str().unwrap()]);
    assert!(
        check.status.success(),
        "check: {}\n---\n{toml}",
        String::from_utf8_lossy(&check.stderr)
    );
    (toml, stderr.replace(input.to_str().unwrap(), "FILE"))
}

#[test]
fn haproxy_config_translates_and_checks() {
    let dir = tempfile::tempdir().unwrap();
    let (toml, stderr) = import_and_check(dir.path(), "haproxy", HAPROXY);
    assert!(toml.contains("[[tcp]]\nname = \"mysql\"\nlisten = \"127.0.0.1:14306\""));
    assert!(toml.contains("{ addr = \"127.0.0.1:14502\", name = \"n2\", backup = true }"));
    assert!(toml.contains("check = \"redis_master\""));
    assert!(toml.contains("[admin]\nlisten = \"127.0.0.1:18404\""));
    assert!(toml.contains("max_connections = 4000"));
    assert!(stderr.contains("FILE:3: warning: global `log"), "{stderr}");
    assert!(toml.contains("client_timeout = \"60m\""), "{toml}");
    assert!(!stderr.contains("timeout client"), "{stderr}");
    assert!(
        stderr.contains("FILE:22: warning: tcp-check sequence"),
        "{stderr}"
    );
    assert!(
        stderr.contains("FILE:33: warning: stats/prometheus-exporter"),
        "{stderr}"
    );
}

#[test]
fn maxscale_config_translates_and_checks() {
    let dir = tempfile::tempdir().unwrap();
    let (toml, stderr) = import_and_check(dir.path(), "maxscale", MAXSCALE);
    assert!(toml.contains("[[galera]]\nname = \"Galera-Monitor\""));
    assert!(toml.contains("{ addr = \"10.0.0.1:3306\", name = \"db1\" }"));
    assert!(toml.contains("interval = \"2s\""));
    assert!(toml.contains("failback = true"));
    assert!(toml.contains(
        "[[mysql]]\nname = \"RW\"\nlisten = \"0.0.0.0:4006\"\ncluster = \"Galera-Monitor\""
    ));
    assert!(toml.contains("transaction_replay = true"));
    assert_eq!(
        stderr.trim(),
        "FILE:19: warning: monitor Galera-Monitor: the password is copied inline; prefer password_file"
    );
}

#[test]
fn keepalived_config_translates_and_checks() {
    let dir = tempfile::tempdir().unwrap();
    let (toml, stderr) = import_and_check(dir.path(), "keepalived", KEEPALIVED);
    assert!(
        toml.contains(
            "[vrrp]\nname = \"VI_DB\"\ninterface = \"eth0\"\nvrid = 51\npriority = 150\n"
        ),
        "{toml}"
    );
    assert!(
        toml.contains("version = 2\n"),
        "keepalived's default: {toml}"
    );
    assert!(toml.contains("unicast_peers = [\"10.0.0.2\"]\n"), "{toml}");
    assert!(toml.contains("vips = [\"10.0.0.100/24\"]\n"), "{toml}");
    assert!(
        toml.contains("notify = \"/etc/keepalived/notify.sh\"\n"),
        "{toml}"
    );
    assert!(
        toml.contains("[[vrrp.track_script]]\nname = \"chk_haproxy\"\nscript = \"/usr/bin/killall -0 haproxy\"\ninterval = \"2s\"\nweight = -60\nrise = 2\nfall = 2\n"),
        "{toml}"
    );
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 4, "{stderr}");
    assert!(
        lines[0].starts_with("FILE:3: warning: global_defs `router_id db1`"),
        "{stderr}"
    );
    assert!(
        lines[1].starts_with("FILE:15: warning: `state MASTER`"),
        "{stderr}"
    );
    assert!(
        lines[2].starts_with("FILE:24: warning: `authentication`"),
        "{stderr}"
    );
    assert!(
        lines[3].starts_with(
            "FILE:38: warning: vrrp_instance VI_REDIS: datagate runs one VRRP instance"
        ),
        "{stderr}"
    );

    let bad = dir.path().join("bad.conf");
    std::fs::write(
        &bad,
        KEEPALIVED.replace("virtual_router_id 51", "virtual_router_id 256"),
    )
    .unwrap();
    let out = datagate(&["import", "keepalived", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.trim(),
        format!(
            "{}:17: error: `virtual_router_id` needs a whole number within 1..255, not `256`",
            bad.display()
        )
    );
}

#[test]
fn bad_input_exits_1_with_a_located_message() {
    let dir = tempfile::tempdir().unwrap();
    let cnf = dir.path().join("maxscale.cnf");
    std::fs::write(&cnf, MAXSCALE).unwrap();
    let cnf = cnf.to_str().unwrap();
    let out = datagate(&["import", "haproxy", cnf]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with(&format!(
            "{cnf}:1: error: `[maxscale]` is outside any section"
        )),
        "{err}"
    );

    let missing = dir.path().join("missing.cfg");
    let out = datagate(&["import", "maxscale", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("missing.cfg: error: cannot read"), "{err}");
}
