//! One `listen`/`frontend`/`backend` (or `defaults`) section: its directives interpreted, and
//! the settings a `[[tcp]]` is written from.

use std::time::Duration;

use super::Line;
use super::server::{self, Bind, Server, ServerOpts};
use crate::import::Warnings;

/// A health check chosen by an `option`; the last one in a section wins, as in HAProxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum CheckType {
    Http(String),
    Mysql(Option<String>),
    TcpCheck,
    /// A protocol check datagate does only as a TCP connect (`redis-check`, `pgsql-check`, ...).
    Approx(String),
}

/// What a `defaults` section hands down, and what a proxy sets for itself.
#[derive(Debug, Clone, Default)]
pub(super) struct Settings {
    pub http: bool,
    pub balance: Option<&'static str>,
    pub connect_timeout: Option<Duration>,
    pub check_timeout: Option<Duration>,
    pub client_timeout: Option<Duration>,
    pub server_timeout: Option<Duration>,
    /// `timeout tunnel`: replaces both once a TCP session is established.
    pub tunnel_timeout: Option<Duration>,
    pub maxconn: Option<u64>,
    pub retries: Option<u32>,
    pub server: ServerOpts,
    pub check: Option<(usize, CheckType)>,
    pub tcp_checks: Vec<Line>,
    pub http_path: Option<String>,
}

/// A proxy section after interpretation.
#[derive(Debug, Clone)]
pub(super) struct Proxy {
    pub kind: String,
    pub name: String,
    pub line: usize,
    pub s: Settings,
    pub binds: Vec<Bind>,
    pub servers: Vec<Server>,
    /// `default_backend`, or `use_backend` without a condition (which wins).
    pub backend: Option<(String, usize)>,
    unconditional: bool,
    pub stats: bool,
    pub http: bool,
}

fn is_stats(l: &Line) -> bool {
    (l.word(0) == "stats" && matches!(l.word(1), "enable" | "uri"))
        || (l.word(0) == "http-request" && l.words.iter().any(|x| x == "prometheus-exporter"))
}

impl Proxy {
    /// Interprets a `defaults` section.
    pub(super) fn defaults(body: &[Line], w: &mut Warnings) -> Settings {
        Proxy::new("defaults", "", 0, &Settings::default(), body, w).s
    }

    /// Interprets a proxy section on top of the defaults before it.
    pub(super) fn new(
        kind: &str,
        name: &str,
        line: usize,
        defaults: &Settings,
        body: &[Line],
        w: &mut Warnings,
    ) -> Proxy {
        let mut p = Proxy {
            kind: kind.to_string(),
            name: name.to_string(),
            line,
            s: defaults.clone(),
            binds: Vec::new(),
            servers: Vec::new(),
            backend: None,
            unconditional: false,
            stats: kind != "backend" && kind != "defaults" && body.iter().any(is_stats),
            http: defaults.http,
        };
        for l in body.iter().filter(|l| l.word(0) == "mode") {
            p.http = l.word(1) == "http";
        }
        p.s.http = p.http;
        if p.stats {
            for l in body {
                match l.word(0) {
                    "bind" => p.binds.extend(server::bind(l, w)),
                    "mode" | "stats" => {}
                    _ if is_stats(l) => {}
                    _ => w.add(
                        l.no,
                        format!("`{}` in the stats section is ignored", l.text()),
                    ),
                }
            }
        } else if p.http && kind != "defaults" {
            w.add(
                line,
                format!(
                    "{kind} {name} is in mode http: HTTP proxying is not supported; section skipped"
                ),
            );
        } else {
            for l in body {
                p.apply(l, w);
            }
        }
        p
    }

    fn apply(&mut self, l: &Line, w: &mut Warnings) {
        let (k, v) = (l.word(0), l.word(1));
        let defaults = self.kind == "defaults";
        let is_fe = self.kind != "backend";
        let is_be = self.kind != "frontend";
        let warn =
            |w: &mut Warnings, why: &str| w.add(l.no, format!("`{}`: {why}; ignored", l.text()));
        let backend_only = matches!(
            k,
            "balance" | "default-server" | "retries" | "tcp-check" | "http-check"
        ) || (k == "timeout"
            && matches!(v, "connect" | "check" | "server" | "tunnel"))
            || (k == "option" && (v.ends_with("chk") || v.ends_with("-check")));
        if self.kind == "frontend" && backend_only {
            return warn(
                w,
                "a backend setting in a frontend has no effect (as in HAProxy)",
            );
        }
        match k {
            "mode" if v == "tcp" || v == "http" => {}
            "bind" if !defaults && is_fe => self.binds.extend(server::bind(l, w)),
            "server" if !defaults && is_be => match server::server(l, &self.s.server, w) {
                Some(s) if self.servers.iter().any(|x| x.name == s.name) => {
                    warn(w, "a server of that name is already defined")
                }
                Some(s) => self.servers.push(s),
                None => {}
            },
            "default-server" => server::options(&l.words[1..], &mut self.s.server, l.no, w),
            "balance" => {
                self.s.balance = Some(match v {
                    "roundrobin" => "roundrobin",
                    "leastconn" => "leastconn",
                    "first" => "first",
                    "source" => "source",
                    "static-rr" => {
                        w.add(l.no, "balance static-rr approximated by roundrobin");
                        "roundrobin"
                    }
                    other => {
                        w.add(
                            l.no,
                            format!("balance {other} is not supported; roundrobin used"),
                        );
                        "roundrobin"
                    }
                })
            }
            "timeout" | "contimeout" => {
                let (what, val) = if k == "contimeout" {
                    ("connect", v)
                } else {
                    (v, l.word(2))
                };
                match (what, server::duration(val)) {
                    ("connect", Some(d)) => self.s.connect_timeout = Some(d),
                    ("check", Some(d)) => self.s.check_timeout = Some(d),
                    ("client", Some(d)) if is_fe => self.s.client_timeout = Some(d),
                    ("server", Some(d)) => self.s.server_timeout = Some(d),
                    ("tunnel", Some(d)) => self.s.tunnel_timeout = Some(d),
                    ("connect" | "check" | "client" | "server" | "tunnel", None) => {
                        warn(w, "not a duration")
                    }
                    ("client-fin" | "server-fin", _) => warn(
                        w,
                        "half-closed sessions wait for both sides as long as they like",
                    ),
                    _ => warn(w, "no datagate equivalent"),
                }
            }
            "maxconn" if is_fe => match v.parse() {
                Ok(n) => self.s.maxconn = Some(n),
                Err(_) => warn(w, "not a number"),
            },
            "retries" => match v.parse() {
                Ok(n) => self.s.retries = Some(n),
                Err(_) => warn(w, "not a number"),
            },
            "option" => self.option(l, w),
            "no" if l.word(1) == "option" && l.word(2) == "redispatch" => warn(
                w,
                "datagate always tries another server after a failed connect",
            ),
            "tcp-check" => self.s.tcp_checks.push(l.clone()),
            "http-check" => match (v, l.words.iter().position(|x| x == "uri")) {
                ("send", Some(i)) if l.word(i + 1).starts_with('/') => {
                    self.s.http_path = Some(l.word(i + 1).to_string())
                }
                ("expect", _) => warn(w, "datagate's http check accepts any 2xx/3xx status"),
                _ => warn(w, "no datagate equivalent"),
            },
            "default_backend" if !defaults && is_fe && !self.unconditional => {
                self.backend = Some((v.to_string(), l.no))
            }
            "use_backend" if !defaults && is_fe && l.words.len() == 2 => {
                self.backend = Some((v.to_string(), l.no));
                self.unconditional = true;
            }
            "use_backend" | "acl" | "tcp-request" | "tcp-response" | "use-server"
            | "http-request" | "http-response" => {
                warn(w, "ACLs and content rules are not supported")
            }
            "log" => warn(w, "datagate logs to stderr (the journal); see [log]"),
            _ => warn(w, "no datagate equivalent"),
        }
    }

    fn option(&mut self, l: &Line, w: &mut Warnings) {
        let check = match l.word(1) {
            "redispatch" => return,
            "httpchk" => {
                let path = match l.words.len() {
                    2 => "/",
                    3 => l.word(2),
                    _ => l.word(3),
                };
                if l.words.len() > 3 && !matches!(l.word(2), "GET" | "HEAD" | "OPTIONS") {
                    w.add(
                        l.no,
                        format!("httpchk method {} approximated by GET", l.word(2)),
                    );
                }
                if !path.starts_with('/') {
                    w.add(
                        l.no,
                        format!("httpchk URI {path:?} does not start with /; / used"),
                    );
                    return self.s.check = Some((l.no, CheckType::Http("/".into())));
                }
                CheckType::Http(path.to_string())
            }
            "mysql-check" => {
                let user = l
                    .words
                    .iter()
                    .position(|x| x == "user")
                    .map(|i| l.word(i + 1).to_string());
                CheckType::Mysql(user)
            }
            "tcp-check" => CheckType::TcpCheck,
            name @ ("redis-check" | "pgsql-check" | "ldap-check" | "smtpchk" | "ssl-hello-chk"
            | "external-check" | "spop-check") => CheckType::Approx(name.to_string()),
            "tcplog" | "dontlognull" | "httplog" | "log-health-checks" | "dontlog-normal" => {
                w.add(
                    l.no,
                    format!("`{}`: logging is configured in [log]; ignored", l.text()),
                );
                return;
            }
            "allbackups" => {
                w.add(l.no, "option allbackups is not supported: datagate uses the first usable backup only");
                return;
            }
            _ => {
                w.add(
                    l.no,
                    format!("`{}` has no datagate equivalent; ignored", l.text()),
                );
                return;
            }
        };
        self.s.check = Some((l.no, check));
    }
}
