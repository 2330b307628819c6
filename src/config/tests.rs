use super::*;

fn errs(src: &str) -> Vec<String> {
    match parse(Path::new("t.toml"), src) {
        Ok(_) => vec![],
        Err(e) => e.0.iter().map(|e| e.to_string()).collect(),
    }
}

const GOOD: &str = r#"
[admin]
listen = "127.0.0.1:19090"

[[galera]]
name = "galera"
servers = ["127.0.0.1:13306", { addr = "127.0.0.1:13307", priority = 2 }]
user = "monitor"
password = "monitor"

[[mysql]]
name = "rw"
listen = "127.0.0.1:3306"
cluster = "galera"

[[tcp]]
name = "rabbit"
listen = "127.0.0.1:5672"
servers = ["10.0.0.1:5672", { addr = "10.0.0.2:5672", backup = true }]
balance = "leastconn"
check = "http:/health"
check_interval = "250ms"
"#;

#[test]
fn good_config_parses() {
    let cfg = parse(Path::new("t.toml"), GOOD).expect("valid");
    assert_eq!(cfg.tcp[0].balance, Balance::Leastconn);
    assert_eq!(cfg.tcp[0].check_interval, Dur::millis(250));
    assert!(cfg.tcp[0].servers.get_ref()[1].backup);
    assert_eq!(cfg.galera[0].servers.get_ref()[1].priority, 2);
}

#[test]
fn unknown_key_is_located() {
    let e = errs("[global]\nshutdown_timeout = \"1s\"\nbogus = 1\n");
    assert_eq!(e.len(), 1);
    assert!(e[0].starts_with("t.toml:3:1: "), "{e:?}");
    assert!(e[0].contains("bogus"), "{e:?}");
}

#[test]
fn bad_duration_is_located() {
    let e = errs("[global]\nshutdown_timeout = \"soon\"\n");
    assert!(e[0].starts_with("t.toml:2:20: "), "{e:?}");
    assert!(e[0].contains("invalid duration"), "{e:?}");
}

#[test]
fn missing_cluster_reference() {
    let src = GOOD.replace("cluster = \"galera\"", "cluster = \"nope\"");
    let e = errs(&src);
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].contains("cluster \"nope\" is not defined"), "{e:?}");
    assert!(e[0].starts_with("t.toml:14:11: "), "{e:?}");
}

#[test]
fn duplicate_listen_address() {
    let src = GOOD.replace("127.0.0.1:5672\"\nservers", "127.0.0.1:3306\"\nservers");
    let e = errs(&src);
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].contains("already used by [[mysql]] \"rw\""), "{e:?}");
}

#[test]
fn duplicate_names() {
    let src = GOOD.replace("name = \"rabbit\"", "name = \"rw\"");
    assert!(errs(&src)[0].contains("duplicate name \"rw\""));
}

#[test]
fn bad_server_address() {
    let e = errs(&GOOD.replace("10.0.0.1:5672", "10.0.0.1"));
    assert!(
        e[0].contains("is not host:port") || e[0].contains("a server is"),
        "{e:?}"
    );
}

#[test]
fn bad_check_and_balance() {
    assert!(errs(&GOOD.replace("http:/health", "ping"))[0].contains("unknown check"));
    assert!(errs(&GOOD.replace("leastconn", "random"))[0].contains("unknown variant"));
}

const VRRP: &str = r#"
[vrrp]
interface = "eth0"
vrid = 51
priority = 150
advert_interval = "100ms"
vips = ["10.0.0.100/24"]
track = [ { galera = "galera", weight = -100 } ]
"#;

#[test]
fn vrrp_ranges() {
    let base = format!("{GOOD}{VRRP}");
    assert!(parse(Path::new("t.toml"), &base).is_ok());
    let e = errs(&base.replace("priority = 150", "priority = 300"));
    assert!(e[0].contains("priority 300 is out of range"), "{e:?}");
    let e = errs(&base.replace("10.0.0.100/24", "10.0.0.300/24"));
    assert!(e[0].contains("not a CIDR"), "{e:?}");
    let e = errs(&base.replace("\"100ms\"", "\"105ms\""));
    assert!(e[0].contains("multiple of 10ms"), "{e:?}");
    let e = errs(&base.replace("galera = \"galera\"", "galera = \"other\""));
    assert!(e[0].contains("track names a group"), "{e:?}");
    let e = errs(&base.replace("vrid = 51", "vrid = 0"));
    assert!(e[0].contains("vrid 0"), "{e:?}");
}

#[test]
fn syntax_error_is_located() {
    let e = errs("[global\n");
    assert!(e[0].starts_with("t.toml:1:"), "{e:?}");
}

#[test]
fn line_col_counts_chars() {
    assert_eq!(line_col("ab\ncé\nx", 7), (3, 1));
    assert_eq!(line_col("ab\ncé\nx", 3), (2, 1));
    assert_eq!(line_col("", 5), (1, 1));
}

#[test]
fn vrrp_track_scripts() {
    let base = format!(
        "{GOOD}{VRRP}notify = \"/usr/local/bin/vrrp-notify\"\n\
         [[vrrp.track_script]]\nname = \"chk_mysql\"\nscript = \"test -e /run/ok\"\n\
         interval = \"2s\"\nweight = -50\nfall = 3\nrise = 2\n"
    );
    let cfg = parse(Path::new("t.toml"), &base).expect("valid");
    let v = cfg.vrrp.unwrap().into_inner();
    assert_eq!(v.name, "datagate");
    assert_eq!(v.notify.as_deref(), Some("/usr/local/bin/vrrp-notify"));
    let t = v.track_script[0].get_ref();
    assert_eq!((t.weight, t.rise, t.fall), (-50, 2, 3));
    assert_eq!(
        t.run_timeout(),
        std::time::Duration::from_secs(2),
        "defaults to interval"
    );
    let e = errs(&base.replace("weight = -50", "weight = 300"));
    assert!(e[0].contains("track_script weight"), "{e:?}");
    let header = base
        .lines()
        .position(|l| l == "[[vrrp.track_script]]")
        .unwrap()
        + 1;
    assert!(e[0].starts_with(&format!("t.toml:{header}:1: ")), "{e:?}");
    let e = errs(&base.replace("rise = 2", "rise = 0"));
    assert!(e[0].contains("rise and fall"), "{e:?}");
    let e = errs(&base.replace("\"2s\"", "\"0s\""));
    assert!(e[0].contains("above 0"), "{e:?}");
    let twice = format!("{base}[[vrrp.track_script]]\nname = \"chk_mysql\"\nscript = \"true\"\n");
    assert!(errs(&twice)[0].contains("used twice"));
    let e = errs(&base.replace("interval = \"2s\"", "interval = \"2s\"\nbogus = 1"));
    assert!(e[0].contains("bogus"), "{e:?}");
}
