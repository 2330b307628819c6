//! Services with their listeners: readwritesplit → `[[mysql]]`, readconnroute → `[[tcp]]`.

use std::collections::HashSet;

use super::objects::{Model, Monitor};
use super::{Obj, boolean, list};
use crate::import::emit::{ServerOut, Toml};
use crate::import::{Warnings, normalize_addr};

/// A listener reduced to its address and TLS files.
struct Listen {
    name: String,
    line: usize,
    addr: String,
    tls: Option<(String, String)>,
}

pub(super) fn translate(m: &Model, out: &mut Toml, w: &mut Warnings) {
    out.reserve_default_admin();
    let mut used = HashSet::new();
    for svc in &m.services {
        let listens: Vec<Listen> = m
            .listeners
            .iter()
            .filter(|l| l.peek("service") == Some(svc.name.as_str()))
            .filter_map(|l| listener(l.clone(), w))
            .collect();
        for l in m
            .listeners
            .iter()
            .filter(|l| l.peek("service") == Some(svc.name.as_str()))
        {
            used.insert(l.name.clone());
        }
        let mut svc = svc.clone();
        let router = svc.take("router").map(|e| e.value).unwrap_or_default();
        if listens.is_empty() {
            w.add(
                svc.line,
                format!("service {} has no usable listener; skipped", svc.name),
            );
            continue;
        }
        match router.as_str() {
            "readwritesplit" => readwritesplit(m, svc, &listens, out, w),
            "readconnroute" => readconnroute(m, svc, &listens, out, w),
            r => w.add(svc.line, format!("service {}: router {r:?} is not translated (readwritesplit and readconnroute are); skipped", svc.name)),
        }
    }
    for l in m.listeners.iter().filter(|l| !used.contains(&l.name)) {
        w.add(
            l.line,
            format!("listener {} names no defined service; skipped", l.name),
        );
    }
}

fn listener(mut o: Obj, w: &mut Warnings) -> Option<Listen> {
    o.take("service");
    if let Some(s) = o.take("socket") {
        w.add(
            s.line,
            format!(
                "listener {}: unix sockets are not supported; skipped",
                o.name
            ),
        );
        return None;
    }
    let Some(port) = o.take("port") else {
        w.add(o.line, format!("listener {} has no port; skipped", o.name));
        return None;
    };
    let host = o.take("address").map_or("0.0.0.0".into(), |e| e.value);
    let addr = normalize_addr(&host, &port.value);
    if addr.parse::<std::net::SocketAddr>().is_err() {
        w.add(
            port.line,
            format!("listener {}: {addr:?} is not ip:port; skipped", o.name),
        );
        return None;
    }
    if let Some(p) = o.take("protocol") {
        let v = p.value.to_ascii_lowercase();
        if v != "mariadbclient" && v != "mysqlclient" && v != "mariadbprotocol" {
            w.add(
                p.line,
                format!(
                    "listener protocol {} is not MariaDB; treated as MariaDB",
                    p.value
                ),
            );
        }
    }
    let ssl = o.take("ssl");
    let (cert, key) = (o.take("ssl_cert"), o.take("ssl_key"));
    let tls = match (ssl.as_ref().and_then(|e| boolean(e, w)), cert, key) {
        (Some(true), Some(c), Some(k)) => Some((c.value, k.value)),
        (Some(true), _, _) => {
            w.add(
                o.line,
                format!(
                    "listener {}: ssl without ssl_cert and ssl_key; TLS not translated",
                    o.name
                ),
            );
            None
        }
        _ => None,
    };
    let name = o.name.clone();
    o.leftovers("listener", w);
    Some(Listen {
        name,
        line: o.line,
        addr,
        tls,
    })
}

/// The monitor watching the service's servers: `cluster=NAME`, else the one whose servers
/// include all of them (an exact match preferred).
fn cluster<'m>(
    m: &'m Model,
    svc: &mut Obj,
    w: &mut Warnings,
) -> Option<(&'m Monitor, Vec<String>)> {
    if let Some(c) = svc.take("cluster") {
        let found = m.monitors.iter().find(|x| x.name == c.value);
        if found.is_none() {
            w.add(
                c.line,
                format!(
                    "service {}: cluster {} is not a translated galeramon monitor",
                    svc.name, c.value
                ),
            );
        }
        return found.map(|x| (x, x.servers.clone()));
    }
    let servers = svc
        .take("servers")
        .or_else(|| svc.take("targets"))
        .map(|e| list(&e.value))
        .unwrap_or_default();
    let covers =
        |x: &&Monitor| servers.iter().all(|s| x.servers.contains(s)) && !servers.is_empty();
    let exact = m
        .monitors
        .iter()
        .filter(covers)
        .find(|x| x.servers.len() == servers.len());
    let found = exact.or_else(|| m.monitors.iter().find(covers));
    match found {
        None => w.add(
            svc.line,
            format!(
                "service {}: no galeramon monitor watches all of its servers; skipped",
                svc.name
            ),
        ),
        Some(x) if exact.is_none() => w.add(
            svc.line,
            format!(
                "service {} uses some servers of monitor {} only: datagate uses the whole cluster",
                svc.name, x.name
            ),
        ),
        Some(_) => {}
    }
    found.map(|x| (x, servers))
}

fn readwritesplit(m: &Model, mut svc: Obj, listens: &[Listen], out: &mut Toml, w: &mut Warnings) {
    let Some((mon, _)) = cluster(m, &mut svc, w) else {
        return;
    };
    if let Some(u) = svc.take("user").filter(|u| u.value != mon.user) {
        w.add(u.line, format!("service {}: datagate loads the accounts with the monitor's user ({}), not {}; give it SELECT on mysql.*", svc.name, mon.user, u.value));
    }
    svc.take("password");
    let bool_of =
        |svc: &mut Obj, k: &str, w: &mut Warnings| svc.take(k).and_then(|e| boolean(&e, w));
    let accept_reads = bool_of(&mut svc, "master_accept_reads", w).unwrap_or(false);
    let replay = bool_of(&mut svc, "transaction_replay", w).unwrap_or(false);
    let causal = svc.take("causal_reads").is_some_and(|e| {
        let v = e.value.to_ascii_lowercase();
        let on = !matches!(v.as_str(), "false" | "none" | "off" | "no" | "0");
        if on && !matches!(v.as_str(), "true" | "local" | "on" | "yes" | "1") {
            w.add(e.line, format!("causal_reads={} approximated by causal_reads = true (reads after a write in the same session wait for it with wsrep_sync_wait)", e.value));
        }
        on
    });
    let failure_mode = svc
        .take("master_failure_mode")
        .and_then(|e| match e.value.as_str() {
            v @ ("fail_instantly" | "fail_on_write" | "error_on_write") => Some(v.to_string()),
            v => {
                w.add(
                    e.line,
                    format!("master_failure_mode={v} is not known; default used"),
                );
                None
            }
        });
    let history = svc
        .take("max_sescmd_history")
        .and_then(|e| e.value.parse::<usize>().ok());
    let max_conn = svc
        .take("max_connections")
        .and_then(|e| e.value.parse::<usize>().ok().filter(|n| *n > 0));
    if let Some(e) = svc.take("connection_timeout") {
        w.add(e.line, format!("connection_timeout={} closes idle client sessions in MaxScale; datagate has no idle timeout; ignored", e.value));
    }
    filters(&mut svc, w);
    svc.leftovers("service", w);
    for l in listens {
        if !out.claim_listen(&l.addr, l.line, w) {
            continue;
        }
        let name = out.unique_name(if listens.len() == 1 {
            &svc.name
        } else {
            &l.name
        });
        out.section(
            "[[mysql]]",
            &format!(
                "service {} (line {}) + listener {} (line {})",
                svc.name, svc.line, l.name, l.line
            ),
        );
        out.str("name", &name);
        out.str("listen", &l.addr);
        out.str("cluster", &mon.cluster);
        out.raw("master_accept_reads", accept_reads);
        out.raw("causal_reads", causal);
        out.str(
            "master_failure_mode",
            failure_mode.as_deref().unwrap_or("fail_instantly"),
        );
        out.raw("transaction_replay", replay);
        out.raw("max_session_history", history.unwrap_or(50));
        if let Some(n) = max_conn {
            out.raw("max_connections", n);
        }
        if let Some((cert, key)) = &l.tls {
            out.raw(
                "tls",
                format!(
                    "{{ cert = {}, key = {} }}",
                    crate::import::emit::quote(cert),
                    crate::import::emit::quote(key)
                ),
            );
        }
    }
}

fn readconnroute(m: &Model, mut svc: Obj, listens: &[Listen], out: &mut Toml, w: &mut Warnings) {
    let Some((mon, names)) = cluster(m, &mut svc, w) else {
        return;
    };
    let opts = svc
        .take("router_options")
        .map(|e| (list(&e.value.replace('|', ",")), e.line));
    let (opts, line) = opts.unwrap_or((vec!["running".into()], svc.line));
    let master = opts.iter().any(|o| o == "master");
    let (balance, check) = if master {
        ("first", "galera")
    } else if opts.iter().any(|o| o == "running") {
        ("leastconn", "mysql")
    } else {
        ("leastconn", "galera")
    };
    w.add(line, format!(
        "readconnroute router_options={} approximated by a [[tcp]] with balance = {balance:?} and check = {check:?}{}",
        opts.join(","),
        if master { ": the first healthy server in the listed order, not galeramon's master; a [[mysql]] listener with read_write_split = false follows the real master" } else { "" }
    ));
    svc.take("user");
    svc.take("password");
    filters(&mut svc, w);
    svc.leftovers("service", w);
    let servers: Vec<ServerOut> = names
        .iter()
        .filter_map(|n| {
            m.servers.get(n).map(|s| ServerOut {
                addr: s.addr.clone(),
                name: n.clone(),
                ..ServerOut::default()
            })
        })
        .collect();
    for l in listens {
        if l.tls.is_some() {
            w.add(
                l.line,
                format!(
                    "listener {}: TLS is not available on [[tcp]] listeners; not translated",
                    l.name
                ),
            );
        }
        if !out.claim_listen(&l.addr, l.line, w) {
            continue;
        }
        let name = out.unique_name(if listens.len() == 1 {
            &svc.name
        } else {
            &l.name
        });
        out.section(
            "[[tcp]]",
            &format!(
                "service {} (line {}) + listener {} (line {})",
                svc.name, svc.line, l.name, l.line
            ),
        );
        out.str("name", &name);
        out.str("listen", &l.addr);
        out.servers(&servers);
        out.str("balance", balance);
        out.str("check", check);
        out.str("check_user", &mon.user);
        if !mon.password.is_empty() {
            out.str("check_password", &mon.password);
        }
    }
}

fn filters(svc: &mut Obj, w: &mut Warnings) {
    if let Some(f) = svc.take("filters") {
        w.add(
            f.line,
            format!(
                "service {}: filters {} are not supported; ignored",
                svc.name, f.value
            ),
        );
    }
}
