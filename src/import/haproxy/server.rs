//! `server`, `default-server` and `bind` lines, HAProxy durations and addresses.

use std::net::SocketAddr;
use std::time::Duration;

use super::Line;
use crate::import::{Warnings, normalize_addr};

/// Server keywords that take one argument and have no datagate equivalent.
const ONE_ARG: &[&str] = &[
    "weight",
    "maxconn",
    "maxqueue",
    "minconn",
    "fastinter",
    "downinter",
    "slowstart",
    "addr",
    "on-marked-up",
    "on-error",
    "resolvers",
    "init-addr",
    "cookie",
    "agent-port",
    "agent-inter",
    "agent-send",
    "agent-addr",
    "verify",
    "ca-file",
    "crt",
    "sni",
    "observe",
    "error-limit",
    "id",
    "track",
    "source",
    "proto",
    "alpn",
    "check-alpn",
    "pool-max-conn",
    "pool-purge-delay",
    "resolve-prefer",
    "resolve-net",
    "namespace",
    "ciphers",
    "check-sni",
    "redir",
    "usesrc",
    "max-reuse",
    "pool-low-conn",
    "set-proxy-v2-tlv-fmt",
    "proxy-v2-options",
    "ws",
    "shard",
    "hash-key",
    "guid",
];

/// Bind keywords that take one argument.
const BIND_ONE_ARG: &[&str] = &[
    "name",
    "id",
    "interface",
    "process",
    "thread",
    "maxconn",
    "backlog",
    "mss",
    "crt",
    "ca-file",
    "alpn",
    "npn",
    "verify",
    "ciphers",
    "ciphersuites",
    "curves",
    "ecdhe",
    "level",
    "mode",
    "user",
    "group",
    "uid",
    "gid",
    "nice",
    "namespace",
    "tcp-ut",
    "accept-netscaler-cip",
    "crt-list",
    "ssl-min-ver",
    "ssl-max-ver",
    "severity-output",
    "proto",
    "guid-prefix",
];

/// Per-server settings that `default-server` can preset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct ServerOpts {
    pub check: bool,
    pub backup: bool,
    pub send_proxy: Option<&'static str>,
    pub inter: Option<Duration>,
    pub rise: Option<u32>,
    pub fall: Option<u32>,
    pub shutdown_sessions: bool,
    pub check_port: Option<String>,
}

/// A `server` line.
#[derive(Debug, Clone)]
pub(super) struct Server {
    pub name: String,
    pub host: String,
    pub port: Option<String>,
    pub opts: ServerOpts,
    pub line: usize,
}

/// A `bind` line reduced to what datagate can listen on.
#[derive(Debug, Clone)]
pub(super) struct Bind {
    pub addr: String,
    pub accept_proxy: bool,
    pub line: usize,
}

/// Applies server keywords (`words` after the address) over `opts`.
pub(super) fn options(words: &[String], opts: &mut ServerOpts, no: usize, w: &mut Warnings) {
    let mut it = words.iter();
    while let Some(k) = it.next() {
        match k.as_str() {
            "check" => opts.check = true,
            "no-check" => opts.check = false,
            "backup" => opts.backup = true,
            "no-backup" => opts.backup = false,
            "send-proxy" => opts.send_proxy = Some("v1"),
            "send-proxy-v2" => opts.send_proxy = Some("v2"),
            "no-send-proxy" | "no-send-proxy-v2" => opts.send_proxy = None,
            "inter" | "rise" | "fall" | "port" | "on-marked-down" => {
                let Some(v) = it.next() else {
                    w.add(no, format!("`{k}` without a value; ignored"));
                    continue;
                };
                let ok = match k.as_str() {
                    "inter" => duration(v)
                        .filter(|d| !d.is_zero())
                        .map(|d| opts.inter = Some(d))
                        .is_some(),
                    "rise" => positive(v).map(|n| opts.rise = Some(n)).is_some(),
                    "fall" => positive(v).map(|n| opts.fall = Some(n)).is_some(),
                    "port" => {
                        opts.check_port = Some(v.clone());
                        true
                    }
                    _ => {
                        opts.shutdown_sessions = v == "shutdown-sessions";
                        opts.shutdown_sessions
                    }
                };
                if !ok {
                    w.add(no, format!("`{k} {v}` is not understood; ignored"));
                }
            }
            k if ONE_ARG.contains(&k) => {
                let v = it.next().map_or("", String::as_str);
                w.add(
                    no,
                    format!("server option `{k} {v}` has no datagate equivalent; ignored"),
                );
            }
            k => w.add(
                no,
                format!("server option `{k}` has no datagate equivalent; ignored"),
            ),
        }
    }
}

/// Parses `server NAME ADDR [options]` on top of the `default-server` settings.
pub(super) fn server(l: &Line, defaults: &ServerOpts, w: &mut Warnings) -> Option<Server> {
    let (name, addr) = (l.word(1), l.word(2));
    if name.is_empty() || addr.is_empty() {
        w.add(l.no, "`server` needs a name and an address; ignored");
        return None;
    }
    let (host, port) = match split_addr(addr) {
        Ok(hp) => hp,
        Err(why) => {
            w.add(l.no, format!("server {name}: {why}; server skipped"));
            return None;
        }
    };
    let probe = normalize_addr(&host, port.as_deref().unwrap_or("1"));
    if let Err(why) = crate::config::check_host_port(&probe) {
        w.add(l.no, format!("server {name}: {why}; server skipped"));
        return None;
    }
    let mut opts = defaults.clone();
    options(&l.words[3..], &mut opts, l.no, w);
    Some(Server {
        name: name.to_string(),
        host,
        port,
        opts,
        line: l.no,
    })
}

/// Parses `bind ADDR[,ADDR...] [options]`.
pub(super) fn bind(l: &Line, w: &mut Warnings) -> Option<Bind> {
    let mut addrs = l.word(1).split(',');
    let first = addrs.next().unwrap_or("");
    if addrs.next().is_some() {
        w.add(
            l.no,
            "a bind with several addresses: only the first is translated",
        );
    }
    let mut accept_proxy = false;
    let mut it = l.words.iter().skip(2);
    while let Some(k) = it.next() {
        match k.as_str() {
            "accept-proxy" => accept_proxy = true,
            k if BIND_ONE_ARG.contains(&k) => {
                let v = it.next().map_or("", String::as_str);
                w.add(
                    l.no,
                    format!("bind option `{k} {v}` has no datagate equivalent; ignored"),
                );
            }
            k => w.add(
                l.no,
                format!("bind option `{k}` has no datagate equivalent; ignored"),
            ),
        }
    }
    let addr = match split_addr(first) {
        Ok((host, Some(port))) => normalize_addr(&host, &port),
        Ok((_, None)) => {
            w.add(l.no, format!("bind {first:?} has no port; ignored"));
            return None;
        }
        Err(why) => {
            w.add(l.no, format!("bind: {why}; ignored"));
            return None;
        }
    };
    if addr.parse::<SocketAddr>().is_err() {
        w.add(
            l.no,
            format!("bind {first:?}: datagate listens on IP addresses only; ignored"),
        );
        return None;
    }
    Some(Bind {
        addr,
        accept_proxy,
        line: l.no,
    })
}

/// Splits an HAProxy address into host and port (the last colon separates them, as in HAProxy,
/// so `:::3306` is `[::]:3306`).
fn split_addr(addr: &str) -> Result<(String, Option<String>), String> {
    let mut a = addr;
    for p in ["ipv4@", "ipv6@", "tcp@", "tcp4@", "tcp6@"] {
        a = a.strip_prefix(p).unwrap_or(a);
    }
    if a.starts_with('/') || a.contains('@') {
        return Err(format!("{addr:?} is not a TCP address"));
    }
    if a.contains('$') {
        return Err(format!("{addr:?} uses an environment variable"));
    }
    let (host, port) = if let Some(rest) = a.strip_prefix('[') {
        let (h, p) = rest
            .split_once(']')
            .ok_or(format!("{addr:?}: unclosed ["))?;
        (h.to_string(), p.strip_prefix(':').map(str::to_string))
    } else {
        match a.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p.to_string())),
            None => (a.to_string(), None),
        }
    };
    match &port {
        Some(p) if p.parse::<u16>().map_or(true, |n| n == 0) => Err(format!(
            "{addr:?}: port {p:?} (ranges and offsets are not supported)"
        )),
        _ => Ok((host, port)),
    }
}

fn positive(v: &str) -> Option<u32> {
    v.parse().ok().filter(|n| *n > 0)
}

/// HAProxy time: a number with an optional unit (`us`, `ms`, `s`, `m`, `h`, `d`; none = ms).
pub(super) fn duration(s: &str) -> Option<Duration> {
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let n: u64 = s[..split].parse().ok()?;
    let d = match &s[split..] {
        "" | "ms" => Duration::from_millis(n),
        "us" => Duration::from_micros(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.checked_mul(60)?),
        "h" => Duration::from_secs(n.checked_mul(3600)?),
        "d" => Duration::from_secs(n.checked_mul(86400)?),
        _ => return None,
    };
    (d <= crate::import::MAX_DURATION).then_some(d)
}
