//! The `[[tcp]]` (or `[admin]`) written from a frontend and its backend.

use std::time::Duration;

use super::Line;
use super::proxy::{CheckType, Proxy};
use super::server::Server;
use crate::import::emit::{ServerOut, Toml};
use crate::import::{Warnings, duration_str, normalize_addr};

/// Maps a stats / prometheus-exporter frontend to `[admin]` (the first one only).
pub(super) fn stats(p: &Proxy, done: &mut bool, out: &mut Toml, w: &mut Warnings) {
    let Some(bind) = p.binds.first().filter(|_| !*done) else {
        w.add(
            p.line,
            format!(
                "{} {}: stats page not translated (no usable bind, or [admin] already set)",
                p.kind, p.name
            ),
        );
        return;
    };
    if !out.claim_listen(&bind.addr, bind.line, w) {
        return;
    }
    *done = true;
    out.section(
        "[admin]",
        &format!("{} {} (line {})", p.kind, p.name, p.line),
    );
    out.str("listen", &bind.addr);
    w.add(p.line, format!("stats/prometheus-exporter {} {} mapped to [admin] listen = {:?}: datagate serves Prometheus metrics at /metrics and a JSON API, no HTML stats page; set token_file for POST calls", p.kind, p.name, bind.addr));
}

/// Writes the `[[tcp]]` for frontend (or listen) `fe` with backend `be`.
pub(super) fn tcp(fe: &Proxy, be: &Proxy, out: &mut Toml, w: &mut Warnings) {
    if fe.http || be.http {
        if !fe.http {
            w.add(
                fe.line,
                format!(
                    "frontend {} uses backend {} in mode http; skipped",
                    fe.name, be.name
                ),
            );
        }
        return;
    }
    let Some(bind) = fe.binds.first() else {
        w.add(
            fe.line,
            format!("{} {} has no usable bind; skipped", fe.kind, fe.name),
        );
        return;
    };
    for extra in &fe.binds[1..] {
        w.add(
            extra.line,
            "only the first bind of a section is translated (one listen address per [[tcp]])",
        );
    }
    let servers: Vec<ServerOut> = be
        .servers
        .iter()
        .map(|s| {
            let port = s.port.clone().unwrap_or_else(|| {
                w.add(
                    s.line,
                    format!("server {} has no port: the listen port is used", s.name),
                );
                bind.addr.rsplit(':').next().unwrap_or_default().to_string()
            });
            ServerOut {
                addr: normalize_addr(&s.host, &port),
                name: s.name.clone(),
                backup: s.opts.backup,
                priority: 0,
            }
        })
        .collect();
    if servers.is_empty() {
        w.add(
            be.line,
            format!("{} {} has no usable server; skipped", be.kind, be.name),
        );
        return;
    }
    if !out.claim_listen(&bind.addr, bind.line, w) {
        return;
    }
    let name = out.unique_name(&fe.name);
    let origin = if fe.kind == "listen" {
        format!("listen {} (line {})", fe.name, fe.line)
    } else {
        format!(
            "frontend {} (line {}) + backend {} (line {})",
            fe.name, fe.line, be.name, be.line
        )
    };
    out.section("[[tcp]]", &origin);
    out.str("name", &name);
    out.str("listen", &bind.addr);
    out.servers(&servers);
    out.str("balance", be.s.balance.unwrap_or("roundrobin"));
    let checked: Vec<&Server> = be.servers.iter().filter(|s| s.opts.check).collect();
    if checked.is_empty() {
        out.str("check", "none");
    } else {
        check(be, &checked, out, w);
    }
    if let Some(d) = be.s.connect_timeout {
        out.str("connect_timeout", &duration_str(d));
    }
    out.raw("retries", be.s.retries.unwrap_or(3));
    let all = |f: &dyn Fn(&Server) -> bool| be.servers.iter().all(f);
    let any = |f: &dyn Fn(&Server) -> bool| be.servers.iter().any(f);
    let first = &be.servers[0];
    if let Some(v) = first.opts.send_proxy {
        out.str("send_proxy", v);
    }
    if !all(&|s| s.opts.send_proxy == first.opts.send_proxy) {
        w.add(
            be.line,
            format!(
                "servers of {} differ in send-proxy: datagate sets it per listener; {} used",
                be.name,
                first.opts.send_proxy.unwrap_or("none")
            ),
        );
    }
    if bind.accept_proxy {
        out.raw("accept_proxy", true);
    }
    if let Some(n) = fe.s.maxconn {
        out.raw("max_connections", n);
    }
    // In TCP mode `timeout tunnel` replaces both idle timeouts once connected.
    let idle = |own: Option<std::time::Duration>| be.s.tunnel_timeout.or(own);
    if let Some(d) = idle(fe.s.client_timeout) {
        out.str("client_timeout", &duration_str(d));
    }
    if let Some(d) = idle(be.s.server_timeout) {
        out.str("server_timeout", &duration_str(d));
    }
    if any(&|s| s.opts.shutdown_sessions) {
        out.raw("shutdown_sessions_on_down", true);
        if !all(&|s| s.opts.shutdown_sessions) {
            w.add(be.line, format!("on-marked-down shutdown-sessions is set on some servers of {} only: datagate applies it to all", be.name));
        }
    }
}

/// Writes `check` and its timing from the backend's check option and its checked servers.
fn check(be: &Proxy, checked: &[&Server], out: &mut Toml, w: &mut Warnings) {
    if checked.len() < be.servers.len() {
        w.add(
            be.line,
            format!(
                "only some servers of {} have `check`: datagate checks every server of a group",
                be.name
            ),
        );
    }
    let port = checked
        .iter()
        .find_map(|s| s.opts.check_port.as_ref().map(|p| (s.line, p)));
    if let Some((line, p)) = port {
        w.add(line, format!("check port {p}: datagate checks the server's own address; a clustercheck on another port is better replaced by check = \"galera\" with check_user"));
    }
    let mut user = None;
    let kind = match &be.s.check {
        None => "tcp".to_string(),
        // An HTTP check on another port (clustercheck) must not probe the service port.
        Some((_, CheckType::Http(_))) if port.is_some() => "tcp".to_string(),
        Some((_, CheckType::Http(path))) => {
            format!("http:{}", be.s.http_path.as_deref().unwrap_or(path))
        }
        Some((_, CheckType::Mysql(u))) => {
            user = u.clone();
            "mysql".to_string()
        }
        Some((line, CheckType::TcpCheck)) => tcp_check(*line, &be.s.tcp_checks, w),
        Some((line, CheckType::Approx(name))) => {
            w.add(
                *line,
                format!("option {name} approximated by a TCP connect check"),
            );
            "tcp".to_string()
        }
    };
    if !be.s.tcp_checks.is_empty() && !matches!(be.s.check, Some((_, CheckType::TcpCheck))) {
        w.add(
            be.s.tcp_checks[0].no,
            "tcp-check rules without `option tcp-check` are ignored",
        );
    }
    out.str("check", &kind);
    if let Some(u) = user {
        out.str("check_user", &u);
    }
    let first = &checked[0].opts;
    if checked
        .iter()
        .any(|s| (s.opts.inter, s.opts.rise, s.opts.fall) != (first.inter, first.rise, first.fall))
    {
        w.add(be.line, format!("servers of {} differ in inter/rise/fall: datagate sets them per listener; those of server {} used", be.name, checked[0].name));
    }
    out.str(
        "check_interval",
        &duration_str(first.inter.unwrap_or(Duration::from_secs(2))),
    );
    if let Some(d) = be.s.check_timeout {
        out.str("check_timeout", &duration_str(d));
    }
    out.raw("rise", first.rise.unwrap_or(2));
    out.raw("fall", first.fall.unwrap_or(3));
}

/// A `tcp-check` sequence: `expect ... role:master` is the Redis master check; a bare
/// `connect` is a TCP check; anything else is approximated by one.
fn tcp_check(option_line: usize, rules: &[Line], w: &mut Warnings) -> String {
    let role = rules
        .iter()
        .find(|l| l.word(1) == "expect" && l.words.iter().any(|x| x.contains("role:master")));
    if let Some(r) = role {
        let last = rules.last().map_or(r.no, |l| l.no);
        w.add(option_line, format!("tcp-check sequence (lines {option_line}-{last}) mapped to check = \"redis_master\": datagate sends ROLE and requires master; a [[redis]] listener following Sentinel is the better replacement"));
        if let Some(a) = rules.iter().find(|l| {
            l.words
                .iter()
                .any(|x| x.to_ascii_uppercase().contains("AUTH"))
        }) {
            w.add(a.no, "the redis_master check does not authenticate: a server that requires AUTH fails it");
        }
        return "redis_master".into();
    }
    if let Some(l) = rules
        .iter()
        .find(|l| !(l.word(1) == "connect" && l.words.len() == 2))
    {
        w.add(
            l.no,
            format!("`{}` approximated by a TCP connect check", l.text()),
        );
    }
    "tcp".into()
}
