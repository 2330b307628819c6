//! Network-namespace lab for VRRP tests: a bridge namespace and hosts `<p>1..<p>3` plus a client
//! `<p>c`, each with `eth0` on the bridge (10.77.0.11-13 and .100). Needs root.
//!
//! Everything is torn down on drop (processes first, then namespaces), also when a test panics.

#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// The lab subnet (a /24).
pub const SUBNET: &str = "10.77.0";
/// The VIP every IPv4 test moves around.
pub const VIP: &str = "10.77.0.200";
/// The VIP of IPv6 labs ([`Lab::up_v6`]); hosts have fd00:77::11-13 and ::100.
pub const VIP6: &str = "fd00:77::200";

/// Runs `cmd`, panicking with its output on failure.
pub fn sh(cmd: &str) -> String {
    let out = Command::new("sh").arg("-c").arg(cmd).output().expect("sh");
    assert!(
        out.status.success(),
        "`{cmd}` failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Panics with a clear message when a tool the tests need is missing or we are not root.
pub fn require_tools() {
    assert!(
        nix::unistd::Uid::effective().is_root(),
        "VRRP tests need root (network namespaces, raw sockets)"
    );
    for tool in ["ip", "keepalived", "tcpdump", "ping"] {
        let found = Command::new("sh")
            .arg("-c")
            .arg(format!("command -v {tool}"))
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            found,
            "`{tool}` is required by the VRRP tests (Debian: apt-get install iproute2 keepalived tcpdump iputils-ping)"
        );
    }
}

/// Looks at VIP holders of a lab from any thread.
pub struct Probe {
    prefix: String,
    vip: String,
}

impl Probe {
    pub fn new(prefix: &str, vip: &str) -> Probe {
        Probe {
            prefix: prefix.to_string(),
            vip: vip.to_string(),
        }
    }

    /// Which of hosts 1..3 hold the VIP now.
    pub fn holders(&self) -> Vec<String> {
        ["1", "2", "3"]
            .into_iter()
            .filter(|h| {
                let ns = format!("{}{h}", self.prefix);
                Command::new("ip")
                    .args(["-n", &ns, "-o", "addr", "show", "dev", "eth0"])
                    .output()
                    .is_ok_and(|o| {
                        String::from_utf8_lossy(&o.stdout).contains(&format!(" {}/", self.vip))
                    })
            })
            .map(String::from)
            .collect()
    }
}

/// A daemon running in a namespace.
pub struct Proc {
    pub name: String,
    pub child: Child,
    /// keepalived's VRRP child pid file (to freeze it too on a simulated crash).
    pub vrrp_pid_file: Option<PathBuf>,
    pub log: PathBuf,
}

impl Proc {
    pub fn pid(&self) -> Pid {
        Pid::from_raw(self.child.id() as i32)
    }

    fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

/// One lab: namespaces, the daemons started in them, a scratch directory.
pub struct Lab {
    pub prefix: String,
    /// The VIP address and the same with its prefix length.
    pub vip: String,
    pub vip_cidr: String,
    pub dir: tempfile::TempDir,
    procs: Vec<Proc>,
}

impl Lab {
    /// Creates namespaces `<prefix>br`, `<prefix>1..3`, `<prefix>c` (prefix: 2-6 chars).
    pub fn up(prefix: &str) -> Lab {
        Lab::build(prefix, false)
    }

    /// Same with IPv6 on (no DAD) and the VIP [`VIP6`].
    pub fn up_v6(prefix: &str) -> Lab {
        Lab::build(prefix, true)
    }

    fn build(prefix: &str, v6: bool) -> Lab {
        require_tools();
        let (vip, len) = if v6 { (VIP6, 64) } else { (VIP, 24) };
        let lab = Lab {
            vip: vip.to_string(),
            vip_cidr: format!("{vip}/{len}"),
            prefix: prefix.to_string(),
            dir: tempfile::tempdir().expect("tempdir"),
            procs: Vec::new(),
        };
        lab.delete_namespaces();
        let br = format!("{prefix}br");
        sh(&format!(
            "ip netns add {br} && ip -n {br} link set lo up && \
             ip -n {br} link add br0 type bridge stp_state 0 forward_delay 0 mcast_snooping 0 && \
             ip -n {br} link set br0 up"
        ));
        for (h, addr) in [("1", 11), ("2", 12), ("3", 13), ("c", 100)] {
            let ns = format!("{prefix}{h}");
            let (sysctl, addr6) = if v6 {
                (
                    "net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0",
                    format!(" && ip -n {ns} addr add fd00:77::{addr}/64 dev eth0 nodad"),
                )
            } else {
                (
                    "net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1",
                    String::new(),
                )
            };
            sh(&format!(
                "ip netns add {ns} && \
                 ip netns exec {ns} sysctl -qw {sysctl} && \
                 ip -n {ns} link set lo up && \
                 ip -n {br} link add to-{ns} type veth peer name eth0 netns {ns} && \
                 ip -n {br} link set to-{ns} master br0 up && \
                 ip -n {ns} link set eth0 multicast on up && \
                 ip -n {ns} addr add {SUBNET}.{addr}/24 dev eth0{addr6}"
            ));
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        for h in ["1", "2", "3"] {
            let target = format!("{SUBNET}.1{h}");
            while Command::new("ip")
                .args(["netns", "exec", &lab.ns("c"), "ping", "-c1", "-W1", &target])
                .stdout(Stdio::null())
                .status()
                .map_or(true, |s| !s.success())
            {
                assert!(
                    Instant::now() < deadline,
                    "lab {prefix}: cannot ping {target}"
                );
                thread::sleep(Duration::from_millis(50));
            }
        }
        lab
    }

    /// Full namespace name of host `h` ("1", "2", "3", "c").
    pub fn ns(&self, h: &str) -> String {
        format!("{}{h}", self.prefix)
    }

    fn delete_namespaces(&self) {
        for h in ["1", "2", "3", "c", "br"] {
            let _ = Command::new("ip")
                .args(["netns", "del", &self.ns(h)])
                .stderr(Stdio::null())
                .status();
        }
    }

    /// Which of hosts 1..3 hold the VIP now.
    pub fn holders(&self) -> Vec<String> {
        Probe::new(&self.prefix, &self.vip).holders()
    }

    /// Waits until exactly host `h` holds the VIP; returns how long it took.
    pub fn wait_holder(&self, h: &str, within: Duration) -> Duration {
        let t0 = Instant::now();
        loop {
            let now = self.holders();
            if now == [h] {
                return t0.elapsed();
            }
            assert!(
                t0.elapsed() < within,
                "host {h} did not become the only VIP holder within {within:?} (holders: {now:?})\n{}",
                self.logs()
            );
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// Starts datagate's VRRP in host `h` with the given `[vrrp]` body (interface/vips added).
    pub fn datagate(&mut self, h: &str, vrrp_toml: &str) -> usize {
        let config = format!(
            "[vrrp]\ninterface = \"eth0\"\nvips = [\"{}\"]\n{vrrp_toml}\n",
            self.vip_cidr
        );
        self.datagate_config(h, &config)
    }

    /// Starts datagate in host `h` with a whole config file.
    pub fn datagate_config(&mut self, h: &str, config: &str) -> usize {
        let name = format!("datagate-{h}");
        let conf = self
            .dir
            .path()
            .join(format!("{name}-{}.toml", self.procs.len()));
        fs::write(&conf, config).expect("write config");
        let (bin, args) = datagate_command(&conf);
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.ns(h)]).arg(bin).args(args);
        self.spawn(name, cmd, None)
    }

    /// Starts keepalived in host `h` with the given `vrrp_instance` body lines.
    pub fn keepalived(&mut self, h: &str, version: u8, instance: &str) -> usize {
        let name = format!("keepalived-{h}");
        let n = self.procs.len();
        let d = self.dir.path();
        let conf = d.join(format!("{name}-{n}.conf"));
        let pid = d.join(format!("{name}-{n}.pid"));
        let vpid = d.join(format!("{name}-{n}.vrrp.pid"));
        let cpid = d.join(format!("{name}-{n}.checkers.pid"));
        fs::write(
            &conf,
            format!(
                "global_defs {{\n  router_id {name}\n  vrrp_version {version}\n}}\n\
                 vrrp_instance DG {{\n  state BACKUP\n  interface eth0\n  virtual_router_id 51\n{instance}\n\
                 virtual_ipaddress {{\n    {} dev eth0\n  }}\n}}\n",
                self.vip_cidr
            ),
        )
        .expect("write keepalived.conf");
        let mut cmd = Command::new("ip");
        cmd.args([
            "netns",
            "exec",
            &self.ns(h),
            "keepalived",
            "-n",
            "-l",
            "-D",
            "-P",
            "-f",
        ])
        .arg(&conf)
        .arg("-p")
        .arg(&pid)
        .arg("-r")
        .arg(&vpid)
        .arg("-c")
        .arg(&cpid);
        let i = self.spawn(name, cmd, Some(vpid.clone()));
        let t0 = Instant::now();
        while fs::read_to_string(&vpid).map_or(true, |s| s.trim().is_empty()) {
            assert!(
                t0.elapsed() < Duration::from_secs(5),
                "keepalived did not start\n{}",
                self.logs()
            );
            thread::sleep(Duration::from_millis(20));
        }
        i
    }

    fn spawn(&mut self, name: String, mut cmd: Command, vrrp_pid_file: Option<PathBuf>) -> usize {
        let log = self
            .dir
            .path()
            .join(format!("{name}-{}.log", self.procs.len()));
        let f = fs::File::create(&log).expect("log file");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(f.try_clone().expect("dup log"))
            .stderr(f)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        self.procs.push(Proc {
            name,
            child,
            vrrp_pid_file,
            log,
        });
        self.procs.len() - 1
    }

    /// SIGTERM and wait for exit (graceful stop).
    pub fn stop(&mut self, i: usize) {
        let p = &mut self.procs[i];
        let _ = kill(p.pid(), Signal::SIGTERM);
        let t0 = Instant::now();
        while p.alive() {
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "{} ignored SIGTERM",
                p.name
            );
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// Sends SIGTERM without waiting.
    pub fn term(&mut self, i: usize) {
        let _ = kill(self.procs[i].pid(), Signal::SIGTERM);
    }

    /// Sends a signal.
    pub fn signal(&mut self, i: usize, sig: Signal) {
        let _ = kill(self.procs[i].pid(), sig);
    }

    /// A dead host: freeze (no adverts, no cleanup), drop the VIP as a powered-off host would
    /// lose it, then SIGKILL.
    pub fn crash(&mut self, i: usize, h: &str) {
        let ns = self.ns(h);
        let vip_cidr = self.vip_cidr.clone();
        let p = &mut self.procs[i];
        let child = p
            .vrrp_pid_file
            .as_ref()
            .and_then(|f| fs::read_to_string(f).ok())
            .and_then(|s| s.trim().parse::<i32>().ok())
            .map(Pid::from_raw);
        let _ = kill(p.pid(), Signal::SIGSTOP);
        if let Some(c) = child {
            let _ = kill(c, Signal::SIGSTOP);
        }
        let _ = Command::new("ip")
            .args(["-n", &ns, "addr", "del", &vip_cidr, "dev", "eth0"])
            .stderr(Stdio::null())
            .status();
        if let Some(c) = child {
            let _ = kill(c, Signal::SIGKILL);
        }
        let _ = p.child.kill();
        let _ = p.child.wait();
    }

    /// Every daemon's log, for failure messages.
    pub fn logs(&self) -> String {
        let mut s = String::new();
        for p in &self.procs {
            let text = fs::read_to_string(&p.log).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(25).collect();
            s.push_str(&format!("--- {} ({})\n", p.name, p.log.display()));
            for l in tail.into_iter().rev() {
                s.push_str(l);
                s.push('\n');
            }
        }
        s
    }

    /// GET `path` from an admin API listening on `127.0.0.1:port` inside host `h` (curl).
    pub fn admin_get(&self, h: &str, port: u16, path: &str) -> Option<String> {
        let out = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.ns(h),
                "curl",
                "-fsS",
                "--max-time",
                "2",
            ])
            .arg(format!("http://127.0.0.1:{port}{path}"))
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    pub fn log_of(&self, i: usize) -> String {
        fs::read_to_string(&self.procs[i].log).unwrap_or_default()
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for p in &mut self.procs {
            if p.alive() {
                let _ = kill(p.pid(), Signal::SIGTERM);
            }
        }
        for p in &mut self.procs {
            let t0 = Instant::now();
            while p.alive() && t0.elapsed() < Duration::from_secs(3) {
                thread::sleep(Duration::from_millis(10));
            }
            let _ = p.child.kill();
            let _ = p.child.wait();
        }
        self.delete_namespaces();
    }
}

/// The program and arguments that run datagate's VRRP from a config file: `datagate run -c`.
///
/// `DATAGATE_VRRP_CMD` overrides it (e.g. `target/debug/examples/vrrp -c`, VRRP alone).
fn datagate_command(conf: &Path) -> (PathBuf, Vec<String>) {
    let conf = conf.display().to_string();
    if let Ok(cmd) = std::env::var("DATAGATE_VRRP_CMD") {
        let mut parts = cmd.split_whitespace().map(String::from);
        let bin = PathBuf::from(parts.next().unwrap_or_default());
        let mut args: Vec<String> = parts.collect();
        args.push(conf);
        return (bin, args);
    }
    (
        PathBuf::from(env!("CARGO_BIN_EXE_datagate")),
        vec!["run".into(), "-c".into(), conf],
    )
}

/// `ping` of the VIP every 10 ms from the client namespace, for measuring failover gaps.
pub struct PingProbe {
    child: Child,
    out: PathBuf,
}

/// What a [`PingProbe`] saw.
#[derive(Debug, Clone, Copy)]
pub struct PingReport {
    pub sent: u32,
    pub received: u32,
    /// Longest time between two replies.
    pub longest_gap: Duration,
}

impl PingProbe {
    /// Starts pinging for `secs` seconds.
    pub fn start(lab: &Lab, secs: u32) -> PingProbe {
        let out = lab
            .dir()
            .join(format!("ping-{}.txt", Instant::now().elapsed().as_nanos()));
        let f = fs::File::create(&out).expect("ping output");
        let child = Command::new("ip")
            .args([
                "netns",
                "exec",
                &lab.ns("c"),
                "ping",
                "-D",
                "-n",
                "-i",
                "0.01",
                "-W",
                "0.1",
            ])
            .args(["-w", &secs.to_string(), &lab.vip])
            .stdout(f)
            .stderr(Stdio::null())
            .spawn()
            .expect("ping");
        PingProbe { child, out }
    }

    /// Waits for the end of the run and summarises it.
    pub fn finish(mut self) -> PingReport {
        let _ = self.child.wait();
        let text = fs::read_to_string(&self.out).unwrap_or_default();
        let mut last: Option<f64> = None;
        let mut gap = 0f64;
        let (mut received, mut sent) = (0, 0);
        for line in text.lines() {
            if line.contains("bytes from") {
                let t = line
                    .trim_start_matches('[')
                    .split(']')
                    .next()
                    .and_then(|t| t.parse::<f64>().ok());
                if let Some(t) = t {
                    if let Some(l) = last {
                        gap = gap.max(t - l);
                    }
                    last = Some(t);
                    received += 1;
                }
            } else if line.contains("packets transmitted") {
                sent = line
                    .split_whitespace()
                    .next()
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0);
            }
        }
        PingReport {
            sent,
            received,
            longest_gap: Duration::from_secs_f64(gap),
        }
    }
}

impl Drop for PingProbe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
