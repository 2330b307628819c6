use super::maxscale;
use crate::config::{Balance, Check, MasterFailureMode, MasterSelect};
use crate::import::ImportError;
use crate::import::tests::{assert_warned, load};

/// A typical Galera setup: three servers, galeramon, readwritesplit with a listener.
const TYPICAL: &str = "\
[maxscale]
threads=4

[dbserv1]
type=server
address=10.0.0.1
port=3306
protocol=MariaDBBackend

[dbserv2]
type=server
address=10.0.0.2
port=3306
protocol=MariaDBBackend

[dbserv3]
type=server
address=10.0.0.3
protocol=MariaDBBackend

[Galera-Monitor]
type=monitor
module=galeramon
servers=dbserv1, dbserv2,
    dbserv3
user=maxmon
password=secret
monitor_interval=2000ms
available_when_donor=true
disable_master_failback=true

[Splitter-Service]
type=service
router=readwritesplit
servers=dbserv1,dbserv2,dbserv3
user=maxscale
password=secret2
master_accept_reads=true
causal_reads=local
master_failure_mode=fail_on_write
transaction_replay=true
max_sescmd_history=100
max_connections=500

[Splitter-Listener]
type=listener
service=Splitter-Service
protocol=MariaDBClient
address=127.0.0.1
port=4006
";

#[test]
fn typical_config() {
    let out = maxscale(TYPICAL).unwrap();
    let cfg = load(&out);
    assert_eq!(cfg.global.workers, 4);
    let g = &cfg.galera[0];
    assert_eq!(g.name.get_ref(), "Galera-Monitor");
    let servers: Vec<_> = g
        .servers
        .get_ref()
        .iter()
        .map(|s| (s.addr.as_str(), s.name.as_str()))
        .collect();
    assert_eq!(
        servers,
        [
            ("10.0.0.1:3306", "dbserv1"),
            ("10.0.0.2:3306", "dbserv2"),
            ("10.0.0.3:3306", "dbserv3")
        ]
    );
    assert_eq!(g.user, "maxmon");
    assert_eq!(g.password.as_deref(), Some("secret"));
    assert_eq!(g.interval.0.as_millis(), 2000);
    assert!(g.available_when_donor);
    assert!(!g.failback);
    let m = &cfg.mysql[0];
    assert_eq!(m.name.get_ref(), "Splitter-Service");
    assert_eq!(m.listen.get_ref(), "127.0.0.1:4006");
    assert_eq!(m.cluster.get_ref(), "Galera-Monitor");
    assert!(m.master_accept_reads && m.causal_reads && m.transaction_replay);
    assert_eq!(m.master_failure_mode, MasterFailureMode::FailOnWrite);
    assert_eq!(m.max_session_history, 100);
    assert_eq!(m.max_connections, 500);
    assert_warned(&out, 27, "password_file");
    assert_warned(
        &out,
        36,
        "loads the accounts with the monitor's user (maxmon)",
    );
    assert_eq!(out.warnings.len(), 2, "{:#?}", out.warnings);
}

#[test]
fn defaults_follow_maxscale() {
    let src = "[a]\ntype=server\naddress=::1\n[m]\ntype=monitor\nmodule=galeramon\nservers=a\nuser=u\nmonitor_interval=1500\nbackend_connect_timeout=5\n\
[s]\ntype=service\nrouter=readwritesplit\ncluster=m\nuser=u\n[l]\ntype=listener\nservice=s\nport=3306\nssl=true\nssl_cert=/c.pem\nssl_key=/k.pem\n";
    let out = maxscale(src).unwrap();
    let cfg = load(&out);
    let g = &cfg.galera[0];
    assert_eq!(g.servers.get_ref()[0].addr, "[::1]:3306");
    assert_eq!(g.interval.0.as_millis(), 1500);
    assert_eq!(g.connect_timeout.0.as_secs(), 5);
    assert!(g.failback, "galeramon fails back by default");
    assert_eq!(g.password, None);
    let m = &cfg.mysql[0];
    assert_eq!(m.listen.get_ref(), "0.0.0.0:3306");
    assert!(!m.transaction_replay && !m.causal_reads && !m.master_accept_reads);
    assert_eq!(
        m.tls.as_ref().map(|t| t.cert.display().to_string()),
        Some("/c.pem".into())
    );
    assert!(out.warnings.is_empty(), "{:#?}", out.warnings);
}

#[test]
fn readconnroute_master_and_priorities() {
    let src = "\
[n1]
type=server
address=10.0.0.1
priority=2
[n2]
type=server
address=10.0.0.2
priority=1
[n3]
type=server
address=10.0.0.3
priority=0
[m]
type=monitor
module=galeramon
servers=n1,n2,n3
user=mon
password=pw
use_priority=true
[rc]
type=service
router=readconnroute
router_options=master
servers=n1,n2,n3
[rcl]
type=listener
service=rc
address=0.0.0.0
port=3307
";
    let out = maxscale(src).unwrap();
    let cfg = load(&out);
    let g = &cfg.galera[0];
    assert_eq!(g.master, MasterSelect::Priority);
    let prio: Vec<i32> = g.servers.get_ref().iter().map(|s| s.priority).collect();
    assert_eq!(
        prio,
        [1, 2, 0],
        "lowest positive galeramon priority is the highest here"
    );
    assert_warned(&out, 12, "not positive");
    let t = &cfg.tcp[0];
    assert_eq!(t.name.get_ref(), "rc");
    assert_eq!(t.listen.get_ref(), "0.0.0.0:3307");
    assert_eq!(t.balance, Balance::First);
    assert_eq!(*t.check.get_ref(), Check::Galera);
    assert_eq!(
        (t.check_user.as_deref(), t.check_password.as_deref()),
        (Some("mon"), Some("pw"))
    );
    assert_eq!(t.servers.get_ref()[2].name, "n3");
    assert_warned(&out, 23, "read_write_split = false");
}

#[test]
fn every_warning_case() {
    let src = "\
[maxscale]
threads=auto
admin_host=0.0.0.0
[s1]
type=server
address=10.0.0.1
ssl=true
[s2]
type=server
socket=/run/mysqld.sock
[s3]
type=server
[mm]
type=monitor
module=mariadbmon
servers=s1
[gm]
type=monitor
module=galeramon
servers=s1,nope
user=u
password=0123456789ABCDEF0123456789ABCDEF
script=/x.sh
[qla]
type=filter
module=qlafilter
[svc]
type=service
router=readwritesplit
servers=s1
causal_reads=global
master_failure_mode=sometimes
connection_timeout=3600
filters=qla
slave_selection_criteria=ADAPTIVE_ROUTING
[l1]
type=listener
service=svc
port=4006
[l2]
type=listener
service=svc
port=4007
authenticator=PAMAuth
[orphan]
type=listener
service=none
port=5000
[sr]
type=service
router=schemarouter
servers=s1
[srl]
type=listener
service=sr
port=4008
[lonely]
type=service
router=readwritesplit
servers=s1
[notype]
x=1
[cli]
type=service
router=readconnroute
router_options=running
servers=s1
[clil]
type=listener
service=cli
socket=/tmp/x
[sock]
type=listener
service=cli
port=abc
[onlyx]
type=service
router=readwritesplit
servers=s9
[onlyxl]
type=listener
service=onlyx
port=4010
";
    let out = maxscale(src).unwrap();
    let cfg = load(&out);
    assert_eq!(cfg.mysql.len(), 2, "one [[mysql]] per listener of svc");
    assert_eq!(cfg.mysql[0].name.get_ref(), "l1");
    assert!(cfg.mysql[0].causal_reads);
    for (line, needle) in [
        (3, "admin_host"),
        (7, "`ssl=true`"),
        (10, "unix sockets"),
        (11, "has no address"),
        (13, "only galeramon"),
        (20, "server nope is not defined"),
        (22, "maxpasswd"),
        (23, "`script=/x.sh`"),
        (24, "filters are not supported"),
        (31, "approximated by causal_reads = true"),
        (32, "master_failure_mode=sometimes"),
        (33, "idle client sessions"),
        (34, "filters qla"),
        (35, "ADAPTIVE_ROUTING"),
        (44, "`authenticator=PAMAuth`"),
        (45, "names no defined service"),
        (49, "router \"schemarouter\""),
        (57, "no usable listener"),
        (61, "has no type"),
        (63, "no usable listener"),
        (71, "unix sockets"),
        (75, "abc"),
        (76, "no galeramon monitor"),
    ] {
        assert_warned(&out, line, needle);
    }
}

#[test]
fn unparseable_input_is_an_error() {
    assert!(matches!(
        maxscale("global\n    nbthread 1\n"),
        Err(ImportError::Syntax { line: 1, .. })
    ));
    assert!(matches!(
        maxscale("[a]\ntype=server\nthis is not ini\n"),
        Err(ImportError::Syntax { line: 3, .. })
    ));
    assert_eq!(
        maxscale("# only\n; comments\n"),
        Err(ImportError::Empty("MaxScale"))
    );
}

#[test]
fn monitor_without_user() {
    let out =
        maxscale("[a]\ntype=server\naddress=h\n[m]\ntype=monitor\nmodule=galeramon\nservers=a\n")
            .unwrap();
    load(&out);
    assert_warned(&out, 4, "has no user");
}
