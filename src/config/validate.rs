//! Cross-field checks that serde cannot express: references between sections, duplicate
//! names and listen addresses, ranges. Each error carries the byte span it is about.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::ops::Range;

use ipnet::IpNet;
use serde_spanned::Spanned;

use super::schema::{Config, Vrrp};
use super::types::Check;

/// One validation failure, located in the source text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub span: Range<usize>,
    pub message: String,
}

fn invalid<T>(at: &Spanned<T>, message: impl Into<String>) -> Invalid {
    Invalid {
        span: at.span(),
        message: message.into(),
    }
}

/// Returns every problem found, in file order.
pub fn validate(cfg: &Config) -> Vec<Invalid> {
    let mut errs = Vec::new();
    let mut names: HashMap<String, &'static str> = HashMap::new();
    let mut listens: HashMap<SocketAddr, String> = HashMap::new();

    let admin = cfg.admin.listen.get_ref();
    match admin.parse::<SocketAddr>() {
        Ok(a) => {
            listens.insert(a, "[admin]".into());
        }
        Err(_) => errs.push(invalid(
            &cfg.admin.listen,
            format!("admin listen {admin:?} is not ip:port"),
        )),
    }

    let mut unique_name = |errs: &mut Vec<Invalid>, name: &Spanned<String>, kind: &'static str| {
        if name.get_ref().is_empty() {
            errs.push(invalid(name, format!("{kind} name must not be empty")));
        } else if let Some(prev) = names.insert(name.get_ref().clone(), kind) {
            errs.push(invalid(
                name,
                format!(
                    "duplicate name {:?} (already used by a [[{prev}]])",
                    name.get_ref()
                ),
            ));
        }
    };
    let mut listen_once =
        |errs: &mut Vec<Invalid>, listen: &Spanned<String>, owner: &str| match listen
            .get_ref()
            .parse::<SocketAddr>(
        ) {
            Err(_) => errs.push(invalid(
                listen,
                format!("listen {:?} is not ip:port", listen.get_ref()),
            )),
            Ok(a) => {
                if let Some(prev) = listens.get(&a) {
                    errs.push(invalid(
                        listen,
                        format!("listen address {a} is already used by {prev}"),
                    ));
                } else {
                    listens.insert(a, owner.to_string());
                }
            }
        };

    for g in &cfg.galera {
        unique_name(&mut errs, &g.name, "galera");
        if g.servers.get_ref().is_empty() {
            errs.push(invalid(
                &g.servers,
                "a galera cluster needs at least one server",
            ));
        }
        if g.password.is_some() && g.password_file.is_some() {
            errs.push(invalid(&g.name, "set password or password_file, not both"));
        }
        if g.interval.0.is_zero() {
            errs.push(invalid(&g.name, "interval must be greater than 0"));
        }
    }
    for m in &cfg.mysql {
        unique_name(&mut errs, &m.name, "mysql");
        listen_once(
            &mut errs,
            &m.listen,
            &format!("[[mysql]] {:?}", m.name.get_ref()),
        );
        if !cfg
            .galera
            .iter()
            .any(|g| g.name.get_ref() == m.cluster.get_ref())
        {
            errs.push(invalid(
                &m.cluster,
                format!(
                    "cluster {:?} is not defined by any [[galera]]",
                    m.cluster.get_ref()
                ),
            ));
        }
    }
    for r in &cfg.redis {
        unique_name(&mut errs, &r.name, "redis");
        listen_once(
            &mut errs,
            &r.listen,
            &format!("[[redis]] {:?}", r.name.get_ref()),
        );
        if r.sentinels.get_ref().is_empty() {
            errs.push(invalid(&r.sentinels, "at least one sentinel is needed"));
        }
        for s in r.sentinels.get_ref() {
            if let Err(e) = super::types::check_host_port(s) {
                errs.push(invalid(&r.sentinels, e));
            }
        }
        if r.master_name.is_empty() {
            errs.push(invalid(&r.name, "master_name must not be empty"));
        }
    }
    for t in &cfg.tcp {
        unique_name(&mut errs, &t.name, "tcp");
        listen_once(
            &mut errs,
            &t.listen,
            &format!("[[tcp]] {:?}", t.name.get_ref()),
        );
        if t.servers.get_ref().is_empty() {
            errs.push(invalid(
                &t.servers,
                "a [[tcp]] listener needs at least one server",
            ));
        }
        if t.rise == 0 || t.fall == 0 {
            errs.push(invalid(&t.name, "rise and fall must be at least 1"));
        }
        if *t.check.get_ref() != Check::None && t.check_interval.0.is_zero() {
            errs.push(invalid(&t.check, "check_interval must be greater than 0"));
        }
        if *t.check.get_ref() == Check::Galera && t.check_user.is_none() {
            errs.push(invalid(
                &t.check,
                "check = \"galera\" needs check_user (and check_password)",
            ));
        }
        let mut seen = HashMap::new();
        for s in t.servers.get_ref() {
            if seen.insert(s.name.clone(), ()).is_some() {
                errs.push(invalid(
                    &t.servers,
                    format!("duplicate server name {:?}", s.name),
                ));
            }
        }
    }
    if let Some(v) = &cfg.vrrp {
        validate_vrrp(cfg, v, &mut errs);
    }
    errs.sort_by_key(|e| e.span.start);
    errs
}

fn validate_vrrp(cfg: &Config, v: &Spanned<Vrrp>, errs: &mut Vec<Invalid>) {
    let vr = v.get_ref();
    if vr.interface.is_empty() {
        errs.push(invalid(v, "vrrp interface must be set"));
    }
    if !(1..=255).contains(vr.vrid.get_ref()) {
        errs.push(invalid(
            &vr.vrid,
            format!("vrid {} is out of range 1..255", vr.vrid.get_ref()),
        ));
    }
    if !(1..=255).contains(vr.priority.get_ref()) {
        errs.push(invalid(
            &vr.priority,
            format!(
                "priority {} is out of range 1..255 (255 = address owner)",
                vr.priority.get_ref()
            ),
        ));
    }
    if !matches!(vr.version.get_ref(), 2 | 3) {
        errs.push(invalid(&vr.version, "version must be 2 or 3"));
    }
    let adv = vr.advert_interval.get_ref().0;
    let cs = adv.as_millis() / 10;
    if !adv.as_millis().is_multiple_of(10) || cs == 0 || cs > 4095 {
        errs.push(invalid(
            &vr.advert_interval,
            "advert_interval must be a multiple of 10ms between 10ms and 40.95s",
        ));
    }
    if *vr.version.get_ref() == 2 && !adv.as_millis().is_multiple_of(1000) {
        errs.push(invalid(
            &vr.advert_interval,
            "VRRPv2 advert_interval must be whole seconds",
        ));
    }
    if vr.vips.is_empty() {
        errs.push(invalid(v, "vrrp needs at least one entry in vips"));
    }
    let mut family = None;
    for vip in &vr.vips {
        match vip.get_ref().parse::<IpNet>() {
            Err(_) => errs.push(invalid(
                vip,
                format!(
                    "{:?} is not a CIDR address like 10.0.0.100/24",
                    vip.get_ref()
                ),
            )),
            Ok(net) => {
                let v4 = net.addr().is_ipv4();
                if *family.get_or_insert(v4) != v4 {
                    errs.push(invalid(
                        vip,
                        "one VRRP instance carries IPv4 or IPv6 addresses, not both",
                    ));
                }
            }
        }
    }
    for p in &vr.unicast_peers {
        if p.get_ref().parse::<IpAddr>().is_err() {
            errs.push(invalid(
                p,
                format!("unicast peer {:?} is not an IP address", p.get_ref()),
            ));
        }
    }
    for t in &vr.track {
        let tr = t.get_ref();
        let set = [tr.galera.is_some(), tr.redis.is_some(), tr.tcp.is_some()];
        if set.iter().filter(|b| **b).count() != 1 {
            errs.push(invalid(
                t,
                "a track entry names exactly one of galera, redis, tcp",
            ));
            continue;
        }
        let found = match (&tr.galera, &tr.redis, &tr.tcp) {
            (Some(g), _, _) => cfg.galera.iter().any(|x| x.name.get_ref() == g),
            (_, Some(r), _) => cfg.redis.iter().any(|x| x.name.get_ref() == r),
            (_, _, Some(n)) => cfg.tcp.iter().any(|x| x.name.get_ref() == n),
            _ => false,
        };
        if !found {
            errs.push(invalid(t, "track names a group that is not defined"));
        }
        if !(-254..=254).contains(&tr.weight) {
            errs.push(invalid(t, "track weight must be within -254..254"));
        }
    }
    let mut names = HashSet::new();
    for t in &vr.track_script {
        let ts = t.get_ref();
        if ts.name.is_empty() || !names.insert(ts.name.as_str()) {
            errs.push(invalid(
                t,
                format!("track_script name {:?} is empty or used twice", ts.name),
            ));
        }
        if ts.script.trim().is_empty() {
            errs.push(invalid(t, "track_script needs a script to run"));
        }
        if ts.interval.0.is_zero() || ts.run_timeout().is_zero() {
            errs.push(invalid(
                t,
                "track_script interval and timeout must be above 0",
            ));
        }
        if !(-254..=254).contains(&ts.weight) {
            errs.push(invalid(t, "track_script weight must be within -254..254"));
        }
        if ts.rise == 0 || ts.fall == 0 {
            errs.push(invalid(t, "track_script rise and fall must be at least 1"));
        }
    }
}
