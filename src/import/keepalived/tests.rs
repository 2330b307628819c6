use std::time::Duration;

use super::{Node, keepalived, parse};
use crate::import::ImportError;
use crate::import::tests::{assert_warned, load};

/// A two-node database VIP as keepalived setups write it.
const DB: &str = r#"! Configuration File for keepalived
global_defs {
   router_id db1
   vrrp_version 3
}

vrrp_script chk_haproxy {
    script "/usr/bin/killall -0 haproxy"
    interval 2
    timeout 1
    weight -30
    fall 3
    rise 2
}

vrrp_script chk_mysql {
    script "/usr/local/bin/check_mysql.sh --quiet"
    interval 5
}

vrrp_instance VI_DB {
    state BACKUP
    interface eth0
    virtual_router_id 51
    priority 150
    advert_int 0.5
    nopreempt
    preempt_delay 10
    unicast_src_ip 10.0.0.1
    unicast_peer {
        10.0.0.2
    }
    virtual_ipaddress {
        10.0.0.100/24 dev eth0
        10.0.0.101
    }
    track_script {
        chk_haproxy
        chk_mysql weight 0
    }
    notify_master "/etc/keepalived/notify.sh master"
    notify_backup /etc/keepalived/notify.sh backup
    notify_fault "/etc/keepalived/notify.sh fault"
    notify /etc/keepalived/notify-all.sh
}
"#;

/// The error of a rejected input: (line, message).
fn rejected(src: &str) -> (usize, String) {
    match keepalived(src) {
        Err(e) => (e.line(), e.to_string()),
        Ok(out) => panic!("accepted:\n{}", out.toml),
    }
}

const MIN: &str = "vrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 7\n  virtual_ipaddress {\n    192.168.1.10/24\n  }\n}\n";

#[test]
fn database_vip() {
    let out = keepalived(DB).unwrap();
    assert!(
        out.warnings.iter().all(|w| w.line == 3),
        "{:#?}",
        out.warnings
    );
    let v = load(&out).vrrp.unwrap().into_inner();
    assert_eq!(v.name, "VI_DB");
    assert_eq!(v.interface, "eth0");
    assert_eq!((*v.vrid.get_ref(), *v.priority.get_ref()), (51, 150));
    assert_eq!(*v.version.get_ref(), 3, "global_defs vrrp_version");
    assert_eq!(v.advert_interval.get_ref().0, Duration::from_millis(500));
    assert!(!v.preempt);
    assert_eq!(v.preempt_delay.0, Duration::from_secs(10));
    assert_eq!(v.unicast_src.as_deref(), Some("10.0.0.1"));
    let strs = |v: &[serde_spanned::Spanned<String>]| {
        v.iter().map(|s| s.get_ref().clone()).collect::<Vec<_>>()
    };
    assert_eq!(strs(&v.unicast_peers), ["10.0.0.2"]);
    assert_eq!(strs(&v.vips), ["10.0.0.100/24", "10.0.0.101/32"]);
    assert_eq!(
        v.notify_master.as_deref(),
        Some("/etc/keepalived/notify.sh master")
    );
    assert_eq!(
        v.notify_backup.as_deref(),
        Some("/etc/keepalived/notify.sh backup")
    );
    assert_eq!(
        v.notify_fault.as_deref(),
        Some("/etc/keepalived/notify.sh fault")
    );
    assert_eq!(v.notify.as_deref(), Some("/etc/keepalived/notify-all.sh"));
    let s: Vec<_> = v.track_script.iter().map(|s| s.get_ref()).collect();
    assert_eq!(s.len(), 2);
    assert_eq!(s[0].name, "chk_haproxy");
    assert_eq!(s[0].script, "/usr/bin/killall -0 haproxy");
    assert_eq!(
        (s[0].interval.0, s[0].run_timeout()),
        (Duration::from_secs(2), Duration::from_secs(1))
    );
    assert_eq!((s[0].weight, s[0].rise, s[0].fall), (-30, 2, 3));
    assert_eq!(s[1].script, "/usr/local/bin/check_mysql.sh --quiet");
    assert_eq!((s[1].weight, s[1].interval.0), (0, Duration::from_secs(5)));
}

#[test]
fn keepalived_defaults() {
    let v = load(&keepalived(MIN).unwrap()).vrrp.unwrap().into_inner();
    assert_eq!(*v.priority.get_ref(), 100);
    assert_eq!(*v.version.get_ref(), 2, "keepalived's default version");
    assert_eq!(v.advert_interval.get_ref().0, Duration::from_secs(1));
    assert!(v.preempt);
    assert!(v.track_script.is_empty());
    // state MASTER without a priority is the address owner in keepalived.
    let out = keepalived(&MIN.replace("interface eth0", "state MASTER\n  interface eth0")).unwrap();
    assert_eq!(*load(&out).vrrp.unwrap().get_ref().priority.get_ref(), 255);
    assert_warned(&out, 1, "255");
    assert_warned(&out, 2, "priority elect the master");
}

#[test]
fn ipv6_vips_run_version_3() {
    let src = MIN.replace("192.168.1.10/24", "fd00::10/64 dev eth0\n    fd00::11");
    let out = keepalived(&src).unwrap();
    let v = load(&out).vrrp.unwrap().into_inner();
    assert_eq!(*v.version.get_ref(), 3);
    let vips: Vec<_> = v.vips.iter().map(|s| s.get_ref().as_str()).collect();
    assert_eq!(vips, ["fd00::10/64", "fd00::11/128"]);
    let v2 = src.replace("interface eth0", "interface eth0\n  version 2");
    assert_warned(&keepalived(&v2).unwrap(), 3, "VRRPv2 carries no IPv6");
}

#[test]
fn what_datagate_cannot_carry_is_warned_with_its_line() {
    let src = "\
global_defs {
  notification_email { ops@example.com }
  vrrp_strict
}
include /etc/keepalived/other.conf
vrrp_sync_group G { group { VI_1 } }
vrrp_script orphan { script true }
vrrp_instance VI_1 {
  interface eth0
  virtual_router_id 7
  advert_int 0.25
  authentication {
    auth_type PASS
    auth_pass secret
  }
  virtual_ipaddress {
    192.168.1.10/24 dev eth0 label eth0:1 brd 192.168.1.255
    192.168.2.10/24 dev eth1
    fd00::1/64
  }
  virtual_ipaddress_excluded { 192.168.1.11 }
  unicast_peer { 192.168.1.2 min_ttl 255 }
  track_script { missing }
  track_interface { eth1 weight -20 }
  use_vmac
  notify_stop /bin/true
  garp_master_delay 5
}
vrrp_instance VI_2 {
  interface eth0
}
virtual_server 10.0.0.1 80 { }
";
    let out = keepalived(src).unwrap();
    let v = load(&out).vrrp.unwrap().into_inner();
    assert_warned(&out, 2, "sends no mail");
    assert_warned(&out, 3, "vrrp_strict");
    assert_warned(&out, 5, "not followed");
    assert_warned(&out, 6, "vrrp_sync_group");
    assert_warned(&out, 7, "orphan is not tracked");
    assert_warned(&out, 11, "not possible with VRRPv2; 1s is used");
    assert_eq!(v.advert_interval.get_ref().0, Duration::from_secs(1));
    assert_warned(&out, 12, "VRRPv2 authentication");
    assert_warned(&out, 17, "label eth0:1 brd 192.168.1.255");
    assert_warned(&out, 18, "dev eth1");
    assert_warned(&out, 19, "IPv4 or IPv6");
    assert_eq!(v.vips.len(), 1);
    assert_warned(&out, 21, "excluded");
    assert_warned(&out, 22, "min_ttl 255");
    assert_warned(&out, 23, "no vrrp_script missing");
    assert_warned(&out, 24, "carrier");
    let t = v.track_script[0].get_ref();
    assert_eq!((t.name.as_str(), t.weight), ("interface_eth1", -20));
    assert!(
        t.script.contains("/sys/class/net/eth1/carrier"),
        "{}",
        t.script
    );
    assert_warned(&out, 25, "virtual MAC");
    assert_warned(&out, 26, "STOP");
    assert_warned(&out, 27, "garp_master_delay");
    assert_warned(&out, 29, "only VI_1 is translated");
    assert_warned(&out, 32, "LVS");
}

#[test]
fn v3_advert_interval_rounds_to_centiseconds() {
    let src = MIN.replace(
        "interface eth0",
        "interface eth0\n  version 3\n  advert_int 0.105",
    );
    let out = keepalived(&src).unwrap();
    let v = load(&out).vrrp.unwrap().into_inner();
    assert_eq!(v.advert_interval.get_ref().0, Duration::from_millis(110));
    assert_warned(&out, 4, "110ms");
}

#[test]
fn track_script_weight_override_and_reverse() {
    let src = "\
vrrp_script chk { script \"pidof haproxy\"
  weight 10 reverse
  user nobody
}
vrrp_instance VI_1 { interface eth0
  virtual_router_id 7
  virtual_ipaddress { 10.0.0.1/24 }
  track_script { chk weight -40 }
}
";
    let out = keepalived(src).unwrap();
    let v = load(&out).vrrp.unwrap().into_inner();
    let t = v.track_script[0].get_ref();
    assert_eq!(
        (t.weight, t.reverse),
        (-40, false),
        "the override wins, reverse included"
    );
    assert_warned(&out, 3, "own user");
    let out = keepalived(&src.replace("chk weight -40", "chk")).unwrap();
    let t = load(&out).vrrp.unwrap().into_inner().track_script[0].clone();
    assert_eq!((t.get_ref().weight, t.get_ref().reverse), (10, true));
    let out = keepalived(&src.replace("chk weight -40", "chk weight 5 reverse")).unwrap();
    let t = load(&out).vrrp.unwrap().into_inner().track_script[0].clone();
    assert_eq!((t.get_ref().weight, t.get_ref().reverse), (5, true));
}

#[test]
fn rejected_inputs_are_located() {
    let cases: &[(&str, usize, &str)] = &[
        (
            "vrrp_instance VI_1 {\n  interface eth0\n",
            1,
            "never closed",
        ),
        ("}\n", 1, "closes no block"),
        (
            "vrrp_instance VI_1 {\n  notify \"/bin/x\n}\n",
            2,
            "unterminated quote",
        ),
        ("{\n}\n", 1, "without a name"),
        (
            &MIN.replace("virtual_router_id 7", "virtual_router_id 300"),
            3,
            "virtual_router_id` needs a whole number within 1..255, not `300`",
        ),
        (
            &MIN.replace("virtual_router_id 7", "priority 10"),
            1,
            "no `virtual_router_id`",
        ),
        (
            &MIN.replace("interface eth0", "priority high"),
            2,
            "`priority` needs a whole number",
        ),
        (
            &MIN.replace("  interface eth0\n", ""),
            1,
            "has no `interface`",
        ),
        (
            &MIN.replace("192.168.1.10/24", "192.168.1.300/24"),
            5,
            "not an address",
        ),
        (
            &MIN.replace("192.168.1.10/24", "192.168.2.1/24 dev eth9"),
            1,
            "no usable `virtual_ipaddress`",
        ),
        (
            &MIN.replace("interface eth0", "interface eth0\n  advert_int soon"),
            3,
            "needs seconds",
        ),
        (
            &MIN.replace(
                "interface eth0",
                "interface eth0\n  unicast_peer {\n    peer1\n  }",
            ),
            4,
            "not an IP address",
        ),
        (
            &MIN.replace("interface eth0", "interface eth0\n  unicast_src_ip ::x"),
            3,
            "not an IP address",
        ),
        (
            &MIN.replace("interface eth0", "interface eth0\n  version 4"),
            3,
            "within 2..3",
        ),
        (
            &MIN.replace("interface eth0", "interface eth0\n  notify_master"),
            3,
            "needs a command",
        ),
        (
            &format!(
                "vrrp_script c {{\n  interval 2\n}}\n{}",
                MIN.replace("interface eth0", "interface eth0\n  track_script { c }")
            ),
            1,
            "has no `script`",
        ),
        (
            &format!(
                "vrrp_script c {{\n  script true\n  interval 0\n}}\n{}",
                MIN.replace("interface eth0", "interface eth0\n  track_script { c }")
            ),
            3,
            "above 0",
        ),
        (
            &format!(
                "vrrp_script c {{\n  script true\n  weight 999\n}}\n{}",
                MIN.replace("interface eth0", "interface eth0\n  track_script { c }")
            ),
            3,
            "within -254..254",
        ),
        (
            &format!(
                "vrrp_script c {{\n  script true\n  weight 10 backwards\n}}\n{}",
                MIN.replace("interface eth0", "interface eth0\n  track_script { c }")
            ),
            3,
            "only `reverse` may follow",
        ),
        (
            &MIN.replace(
                "interface eth0",
                "interface eth0\n  track_interface { eth1 weight x }",
            ),
            3,
            "whole number",
        ),
    ];
    for (src, line, needle) in cases {
        let (l, msg) = rejected(src);
        assert_eq!(
            (l, msg.contains(needle)),
            (*line, true),
            "{msg:?} for\n{src}"
        );
    }
    assert_eq!(
        keepalived("global_defs {\n}\n"),
        Err(ImportError::Empty("keepalived vrrp_instance"))
    );
}

#[test]
fn blocks_on_one_line_or_the_next() {
    let nodes = parse("a\n{\n  b { c d }\n}  # x\n! comment\ne \"f g\" #h\n").unwrap();
    let leaf = |line, words: &[&str]| Node {
        line,
        words: words.iter().map(|w| w.to_string()).collect(),
        block: None,
    };
    assert_eq!(
        nodes,
        [
            Node {
                line: 1,
                words: vec!["a".into()],
                block: Some(vec![Node {
                    line: 3,
                    words: vec!["b".into()],
                    block: Some(vec![leaf(3, &["c", "d"])]),
                }]),
            },
            leaf(6, &["e", "f g"]),
        ]
    );
}
