//! MaxScale objects sorted by `type`: `[maxscale]`, servers, galeramon monitors (written as
//! `[[galera]]` right away), services and listeners (kept for `services.rs`), filters.

use std::collections::HashMap;

use super::{Entry, Obj, boolean, duration, list};
use crate::import::emit::{ServerOut, Toml};
use crate::import::{Warnings, duration_str, normalize_addr};

/// A `type=server` object.
#[derive(Debug, Clone)]
pub(super) struct ServerDef {
    pub addr: String,
    pub priority: Option<Entry>,
}

/// A galeramon monitor and the `[[galera]]` written for it.
#[derive(Debug, Clone)]
pub(super) struct Monitor {
    pub name: String,
    pub cluster: String,
    pub servers: Vec<String>,
    pub user: String,
    pub password: String,
}

/// Everything the services need.
#[derive(Debug, Default)]
pub(super) struct Model {
    pub servers: HashMap<String, ServerDef>,
    pub monitors: Vec<Monitor>,
    pub services: Vec<Obj>,
    pub listeners: Vec<Obj>,
}

impl Model {
    pub(super) fn build(objs: Vec<Obj>, out: &mut Toml, w: &mut Warnings) -> Model {
        let mut m = Model::default();
        let mut monitors = Vec::new();
        for mut o in objs {
            if o.name == "maxscale" {
                global(o, out, w);
                continue;
            }
            let ty = o.take("type").map(|e| e.value).unwrap_or_default();
            match ty.as_str() {
                "server" => m.server(o, w),
                "monitor" => monitors.push(o),
                "service" => m.services.push(o),
                "listener" => m.listeners.push(o),
                "filter" => {
                    let module = o.peek("module").unwrap_or("?");
                    w.add(
                        o.line,
                        format!(
                            "filter {} (module {module}): filters are not supported; skipped",
                            o.name
                        ),
                    );
                }
                "" => w.add(o.line, format!("[{}] has no type; skipped", o.name)),
                t => w.add(
                    o.line,
                    format!(
                        "[{}]: objects of type {t} are not translated; skipped",
                        o.name
                    ),
                ),
            }
        }
        for o in monitors {
            m.monitor(o, out, w);
        }
        m
    }

    fn server(&mut self, mut o: Obj, w: &mut Warnings) {
        if let Some(s) = o.take("socket") {
            w.add(
                s.line,
                format!(
                    "server {}: unix sockets are not supported; server skipped",
                    o.name
                ),
            );
            return;
        }
        let port = o.take("port").map_or("3306".to_string(), |e| e.value);
        let Some(address) = o.take("address") else {
            w.add(o.line, format!("server {} has no address; skipped", o.name));
            return;
        };
        if let Some(p) = o.take("protocol")
            && !p.value.eq_ignore_ascii_case("mariadbbackend")
            && !p.value.eq_ignore_ascii_case("mysqlbackend")
        {
            w.add(
                p.line,
                format!(
                    "server protocol {} is not MariaDB; kept as a MariaDB server",
                    p.value
                ),
            );
        }
        let priority = o.take("priority");
        o.leftovers("server", w);
        let addr = normalize_addr(&address.value, &port);
        if crate::config::check_host_port(&addr).is_err() {
            w.add(
                address.line,
                format!("server {}: {addr:?} is not host:port; skipped", o.name),
            );
            return;
        }
        self.servers
            .insert(o.name.clone(), ServerDef { addr, priority });
    }

    fn monitor(&mut self, mut o: Obj, out: &mut Toml, w: &mut Warnings) {
        let module = o.take("module").map(|e| e.value).unwrap_or_default();
        if module != "galeramon" {
            w.add(
                o.line,
                format!(
                    "monitor {} uses module {module:?}: only galeramon is translated; skipped",
                    o.name
                ),
            );
            return;
        }
        let names = o
            .take("servers")
            .map(|e| (list(&e.value), e.line))
            .unwrap_or_default();
        let mut servers: Vec<ServerOut> = Vec::new();
        let mut known = Vec::new();
        for n in names.0 {
            match self.servers.get(&n) {
                Some(s) => {
                    servers.push(ServerOut {
                        addr: s.addr.clone(),
                        name: n.clone(),
                        ..ServerOut::default()
                    });
                    known.push(n);
                }
                None => w.add(
                    names.1,
                    format!(
                        "monitor {}: server {n} is not defined (or was skipped)",
                        o.name
                    ),
                ),
            }
        }
        if servers.is_empty() {
            w.add(
                o.line,
                format!("monitor {} has no usable server; skipped", o.name),
            );
            return;
        }
        let user = o.take("user").map(|e| e.value).unwrap_or_default();
        if user.is_empty() {
            w.add(
                o.line,
                format!(
                    "monitor {} has no user: set user in the [[galera]] section",
                    o.name
                ),
            );
        }
        let password = match o.take("password") {
            Some(p) => {
                let hint = if p.value.len() >= 32 && p.value.chars().all(|c| c.is_ascii_hexdigit())
                {
                    " (it looks encrypted with maxpasswd: put the clear text there)"
                } else {
                    ""
                };
                w.add(
                    p.line,
                    format!(
                        "monitor {}: the password is copied inline; prefer password_file{hint}",
                        o.name
                    ),
                );
                p.value
            }
            None => String::new(),
        };
        let use_priority = o
            .take("use_priority")
            .and_then(|e| boolean(&e, w))
            .unwrap_or(false);
        if use_priority {
            self.priorities(&known, &mut servers, w);
        }
        let cluster = out.unique_name(&o.name);
        out.section(
            "[[galera]]",
            &format!("monitor {} (line {})", o.name, o.line),
        );
        out.str("name", &cluster);
        out.servers(&servers);
        out.str("user", &user);
        if !password.is_empty() {
            out.str("password", &password);
        }
        if let Some(d) = o
            .take("monitor_interval")
            .and_then(|e| duration(&e, 1, w))
            .filter(|d| !d.is_zero())
        {
            out.str("interval", &duration_str(d));
        }
        if let Some(d) = o
            .take("backend_connect_timeout")
            .and_then(|e| duration(&e, 1000, w))
        {
            out.str("connect_timeout", &duration_str(d));
        }
        if let Some(b) = o.take("available_when_donor").and_then(|e| boolean(&e, w)) {
            out.raw("available_when_donor", b);
        }
        if use_priority {
            out.str("master", "priority");
        }
        // galeramon fails back unless told not to; datagate only when asked to.
        let no_failback = o
            .take("disable_master_failback")
            .and_then(|e| boolean(&e, w))
            .unwrap_or(false);
        out.raw("failback", !no_failback);
        o.leftovers("monitor", w);
        self.monitors.push(Monitor {
            name: o.name,
            cluster,
            servers: known,
            user,
            password,
        });
    }

    /// galeramon: the lowest positive `priority` wins; datagate: the highest. Positive values
    /// are ranked and turned around; the others cannot be "never master" in datagate.
    fn priorities(&self, names: &[String], servers: &mut [ServerOut], w: &mut Warnings) {
        let prio = |n: &String| {
            let e = self.servers.get(n)?.priority.as_ref()?;
            Some((e.value.parse::<i64>().ok(), e.line))
        };
        let mut positive: Vec<i64> = names
            .iter()
            .filter_map(|n| prio(n)?.0)
            .filter(|p| *p > 0)
            .collect();
        positive.sort_unstable();
        positive.dedup();
        for (n, s) in names.iter().zip(servers.iter_mut()) {
            match prio(n) {
                Some((Some(p), _)) if p > 0 => {
                    let rank = positive.iter().position(|x| *x == p).unwrap_or(0);
                    s.priority = i32::try_from(positive.len() - rank).unwrap_or(0);
                }
                Some((_, line)) => w.add(line, format!("server {n}: a priority that is not positive (never master) cannot be expressed; it gets the lowest priority (0)")),
                None => {}
            }
        }
    }
}

/// `[maxscale]`: `threads` is `[global] workers`.
fn global(mut o: Obj, out: &mut Toml, w: &mut Warnings) {
    if let Some(t) = o.take("threads") {
        match t.value.parse::<usize>() {
            Ok(n) => out.workers(n, &format!("[maxscale] threads (line {})", t.line)),
            Err(_) if t.value == "auto" => {}
            Err(_) => w.add(
                t.line,
                format!("threads={} is not a number; ignored", t.value),
            ),
        }
    }
    o.leftovers("section", w);
}
