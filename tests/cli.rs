//! The command line: `datagate check` locates config errors; the systemd unit verifies.

mod support;

use std::process::Command;

fn check(cfg: &str) -> (bool, String) {
    support::datagate_check(cfg)
}

#[test]
fn check_accepts_the_shipped_configs() {
    for f in ["config/datagate.toml", "config/demo.toml"] {
        let out = Command::new(env!("CARGO_BIN_EXE_datagate"))
            .args(["check", "-c", f])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("run datagate");
        assert!(
            out.status.success(),
            "{f}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Each broken config exits 1 and names FILE:LINE:COL and the problem.
#[test]
fn check_locates_errors() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "[[mysql]]\nname = \"rw\"\nlisten = \"127.0.0.1:3306\"\ncluster = \"galera\"\n",
            ":4:11: ",
            "cluster \"galera\" is not defined by any [[galera]]",
        ),
        (
            "[[tcp]]\nname = \"a\"\nlisten = \"127.0.0.1:5000\"\nservers = [\"127.0.0.1:1\"]\n\n[[tcp]]\nname = \"b\"\nlisten = \"127.0.0.1:5000\"\nservers = [\"127.0.0.1:2\"]\n",
            ":8:10: ",
            "listen address 127.0.0.1:5000 is already used by [[tcp]] \"a\"",
        ),
        (
            "[vrrp]\ninterface = \"eth0\"\nvrid = 51\npriority = 300\nvips = [\"10.0.0.1/33\"]\n",
            ":4:12: ",
            "priority 300 is out of range",
        ),
        (
            "[vrrp]\ninterface = \"eth0\"\nvrid = 51\npriority = 100\nvips = [\"10.0.0.1/33\"]\n",
            ":5:9: ",
            "is not a CIDR",
        ),
        (
            "[global]\nshutdown_timeout = \"30 parsecs\"\n",
            ":2:20: ",
            "invalid duration",
        ),
        (
            "[admin]\nlisten = \"127.0.0.1:9090\"\ntokn = \"x\"\n",
            ":3:1: ",
            "unknown field `tokn`",
        ),
    ];
    for (cfg, loc, msg) in cases {
        let (ok, out) = check(cfg);
        assert!(!ok, "accepted:\n{cfg}");
        assert!(
            out.contains(loc) && out.contains(msg),
            "expected {loc:?} and {msg:?} in:\n{out}"
        );
        assert!(out.contains("datagate.toml:"), "no file name in: {out}");
    }
}

#[test]
fn run_with_a_broken_config_exits_1_with_the_location() {
    let dir = support::scratch_dir("cli");
    let f = dir.join("bad.toml");
    std::fs::write(&f, "[[tcp]]\nname = \"x\"\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_datagate"))
        .args(["run", "-c"])
        .arg(&f)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.toml:1:1: missing field `listen`"),
        "{err}"
    );
}

#[test]
fn version_prints() {
    let out = Command::new(env!("CARGO_BIN_EXE_datagate"))
        .arg("version")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("datagate "));
}

/// `systemd-analyze verify` on the shipped unit, with ExecStart pointing at the built binary.
#[test]
fn systemd_unit_verifies() {
    let unit = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/systemd/datagate.service"
    ))
    .unwrap();
    for needle in [
        "Type=notify",
        "WatchdogSec=",
        "ExecReload=",
        "AmbientCapabilities=CAP_NET_ADMIN CAP_NET_RAW CAP_NET_BIND_SERVICE",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "User=datagate",
        // Without it the seccomp filter kills the daemon when it sets the io_uring relay up.
        "SystemCallFilter=io_uring_setup io_uring_enter io_uring_register",
    ] {
        assert!(unit.contains(needle), "unit lacks {needle}");
    }
    let dir = support::scratch_dir("systemd");
    let path = dir.join("datagate.service");
    std::fs::write(
        &path,
        unit.replace("/usr/bin/datagate", env!("CARGO_BIN_EXE_datagate")),
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .expect("systemd-analyze is needed (apt-get install systemd)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && text.trim().is_empty(),
        "systemd-analyze verify:\n{text}"
    );
}
