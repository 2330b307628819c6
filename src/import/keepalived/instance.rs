//! One `vrrp_instance`, with the `vrrp_script`s it tracks, as `[vrrp]` and
//! `[[vrrp.track_script]]` sections.

use std::net::IpAddr;
use std::time::Duration;

use ipnet::IpNet;

use super::script::{self, Script, TrackEntry};
use super::{Node, command, int, secs, syntax};
use crate::import::emit::{Toml, quote};
use crate::import::{ImportError, Warnings, duration_str};

/// What the instance block says, before defaults and cross-checks.
#[derive(Debug, Default)]
struct Instance {
    interface: Option<String>,
    vrid: Option<i64>,
    priority: Option<i64>,
    master_state: bool,
    advert: Option<(Duration, usize)>,
    version: Option<(u8, usize)>,
    nopreempt: bool,
    preempt_delay: Option<Duration>,
    /// Each VIP with its line and `dev`, if any.
    vips: Vec<(IpNet, usize, Option<String>)>,
    src: Option<String>,
    peers: Vec<String>,
    /// `track_script` entries: name, weight (and `reverse`) override, line.
    tracked: Vec<TrackEntry>,
    interface_scripts: Vec<Script>,
    notify: Vec<(&'static str, String)>,
    accept: Option<bool>,
    garp_count: Option<i64>,
    garp_refresh: Option<Duration>,
    garp_interval: Option<Duration>,
    auth_line: Option<usize>,
}

/// Writes the `[vrrp]` section for `inst` and the scripts it tracks.
pub(super) fn translate(
    inst: &Node,
    scripts: &[&Node],
    global_version: Option<(u8, usize)>,
    out: &mut Toml,
    w: &mut Warnings,
) -> Result<(), ImportError> {
    let name = inst.word(1);
    let mut v = Instance::default();
    for d in inst.children() {
        directive(d, &mut v, out, w)?;
    }
    let interface = v.interface.clone().ok_or_else(|| {
        syntax(
            inst.line,
            format!("vrrp_instance {name} has no `interface`"),
        )
    })?;
    let vrid = v.vrid.ok_or_else(|| {
        syntax(
            inst.line,
            format!("vrrp_instance {name} has no `virtual_router_id`"),
        )
    })?;
    let priority = match v.priority {
        Some(p) => p,
        None if v.master_state => {
            w.add(inst.line, "no `priority` with `state MASTER`: keepalived then uses 255 (address owner), and so does this translation; set a priority below 255 unless this node owns the VIPs");
            255
        }
        None => 100,
    };
    let vips = family_vips(&v, &interface, w);
    let first = vips.first().ok_or_else(|| {
        syntax(
            inst.line,
            format!("vrrp_instance {name} has no usable `virtual_ipaddress`"),
        )
    })?;
    let v6 = first.addr().is_ipv6();
    let version = version(&v, global_version, v6, w);
    let advert = advert(v.advert, version, w);
    if let Some(line) = v.auth_line {
        w.add(line, if version == 3 {
            "`authentication`: VRRPv3 has none (RFC 9568; keepalived ignores it with version 3 too); ignored"
        } else {
            "`authentication`: datagate does not implement VRRPv2 authentication; remove it from the keepalived peers, or they drop datagate's adverts; ignored"
        });
    }
    let scripts = script::tracked_scripts(&v.tracked, scripts, out, w)?;

    out.section(
        "[vrrp]",
        &format!("vrrp_instance {name} (line {})", inst.line),
    );
    out.str("name", name);
    out.str("interface", &interface);
    out.raw("vrid", vrid);
    out.raw("priority", priority);
    out.str("advert_interval", &duration_str(advert));
    out.raw("version", version);
    if v.nopreempt {
        out.raw("preempt", false);
    }
    if let Some(d) = v.preempt_delay.filter(|d| !d.is_zero()) {
        out.str("preempt_delay", &duration_str(d));
    }
    if let Some(src) = &v.src {
        out.str("unicast_src", src);
    }
    if !v.peers.is_empty() {
        out.raw("unicast_peers", list(&v.peers));
    }
    let vips: Vec<String> = vips.iter().map(IpNet::to_string).collect();
    out.raw("vips", list(&vips));
    if let Some(n) = v.garp_count {
        out.raw("garp_count", n);
    }
    if let Some(d) = v.garp_interval {
        out.str("garp_interval", &duration_str(d));
    }
    if let Some(d) = v.garp_refresh {
        out.str("garp_refresh", &duration_str(d));
    }
    if let Some(a) = v.accept {
        out.raw("accept_mode", a);
    }
    for (key, cmd) in &v.notify {
        out.str(key, cmd);
    }
    for s in scripts.iter().chain(&v.interface_scripts) {
        out.section("[[vrrp.track_script]]", &s.origin);
        out.str("name", &s.name);
        out.str("script", &s.script);
        if let Some(d) = s.interval {
            out.str("interval", &duration_str(d));
        }
        if let Some(d) = s.timeout {
            out.str("timeout", &duration_str(d));
        }
        out.raw("weight", s.weight);
        if s.reverse {
            out.raw("reverse", true);
        }
        if s.rise != 1 {
            out.raw("rise", s.rise);
        }
        if s.fall != 1 {
            out.raw("fall", s.fall);
        }
    }
    Ok(())
}

fn list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| quote(s)).collect();
    format!("[{}]", quoted.join(", "))
}

fn directive(
    d: &Node,
    v: &mut Instance,
    out: &mut Toml,
    w: &mut Warnings,
) -> Result<(), ImportError> {
    let hint = match d.word(0) {
        "state" => match d.word(1).to_ascii_uppercase().as_str() {
            "MASTER" => {
                v.master_state = true;
                "datagate starts every instance below priority 255 as backup and lets the priority elect the master (keepalived's MASTER only skips the first wait)"
            }
            "BACKUP" => return Ok(()),
            _ => "not MASTER or BACKUP",
        },
        "interface" => {
            v.interface = Some(d.word(1).to_string()).filter(|s| !s.is_empty());
            return Ok(());
        }
        "virtual_router_id" => {
            v.vrid = Some(int(d, 1, 1, 255)?);
            return Ok(());
        }
        "priority" => {
            v.priority = Some(int(d, 1, 1, 255)?);
            return Ok(());
        }
        "advert_int" => {
            v.advert = Some((secs(d)?, d.line));
            return Ok(());
        }
        "version" => {
            v.version = Some((int(d, 1, 2, 3)? as u8, d.line));
            return Ok(());
        }
        "nopreempt" => {
            v.nopreempt = true;
            return Ok(());
        }
        "preempt" => {
            v.nopreempt = false;
            return Ok(());
        }
        "preempt_delay" => {
            v.preempt_delay = Some(secs(d)?);
            return Ok(());
        }
        "virtual_ipaddress" => return vips(d, v, w),
        "unicast_src_ip" | "mcast_src_ip" => {
            let ip: IpAddr = d
                .word(1)
                .parse()
                .map_err(|_| syntax(d.line, format!("`{}` is not an IP address", d.word(1))))?;
            v.src = Some(ip.to_string());
            return Ok(());
        }
        "unicast_peer" => return peers(d, v, w),
        "track_script" => return track_scripts(d, v),
        "track_interface" => {
            v.interface_scripts
                .extend(script::track_interfaces(d, out, w)?);
            return Ok(());
        }
        key @ ("notify_master" | "notify_backup" | "notify_fault" | "notify") => {
            let cmd = command(d)?;
            let key = key_name(key);
            // The last one counts, as in keepalived.
            v.notify.retain(|(k, _)| *k != key);
            v.notify.push((key, cmd));
            return Ok(());
        }
        "accept" | "no_accept" => {
            v.accept = Some(d.word(0) == "accept");
            return Ok(());
        }
        "garp_master_repeat" => {
            v.garp_count = Some(int(d, 1, 1, 255)?);
            return Ok(());
        }
        "garp_master_refresh" => {
            v.garp_refresh = Some(secs(d)?);
            return Ok(());
        }
        "garp_interval" => {
            v.garp_interval = Some(secs(d)?);
            return Ok(());
        }
        "authentication" => {
            v.auth_line = Some(d.line);
            return Ok(());
        }
        "virtual_ipaddress_excluded" => {
            "datagate has no excluded addresses: add them to vips if every peer is datagate"
        }
        "notify_stop" => "use notify, which datagate runs with STOP on shutdown",
        "use_vmac" | "vmac_xmit_base" => {
            "no virtual MAC: the interface MAC is used (keepalived's default)"
        }
        "native_ipv6" => "datagate picks IPv6 from the vips",
        "dont_track_primary" => "datagate faults while its interface is down",
        "track_file" | "track_process" | "track_bfd" => {
            "rewrite it as a vrrp_script (datagate [[vrrp.track_script]])"
        }
        "smtp_alert" => "datagate sends no mail: use notify hooks",
        "garp_master_delay"
        | "garp_master_refresh_repeat"
        | "garp_lower_prio_delay"
        | "garp_lower_prio_repeat" => {
            "datagate sends garp_count announcements at once and then one every garp_refresh"
        }
        _ => "no datagate equivalent",
    };
    w.add(d.line, format!("`{}`: {hint}; ignored", d.text()));
    Ok(())
}

fn key_name(key: &str) -> &'static str {
    match key {
        "notify_master" => "notify_master",
        "notify_backup" => "notify_backup",
        "notify_fault" => "notify_fault",
        _ => "notify",
    }
}

/// `virtual_ipaddress { ADDR[/PREFIX] [dev IF] [label L] ... }`.
fn vips(d: &Node, v: &mut Instance, w: &mut Warnings) -> Result<(), ImportError> {
    for e in d.children() {
        let a = e.word(0);
        let net = match a.split_once('/') {
            Some(_) => a.parse::<IpNet>().ok(),
            None => a.parse::<IpAddr>().ok().map(IpNet::from),
        }
        .ok_or_else(|| {
            syntax(
                e.line,
                format!("virtual_ipaddress `{a}` is not an address like 10.0.0.100/24"),
            )
        })?;
        let mut dev = None;
        let mut ignored = Vec::new();
        let mut i = 1;
        while i < e.words.len() {
            let (key, value) = (e.word(i), e.word(i + 1));
            match key {
                "dev" => dev = Some(value.to_string()),
                "brd" | "broadcast" | "label" | "scope" | "preferred_lft" | "track_group" => {
                    ignored.push(format!("{key} {value}"))
                }
                flag => {
                    ignored.push(flag.to_string());
                    i += 1;
                    continue;
                }
            }
            i += 2;
        }
        if !ignored.is_empty() {
            w.add(
                e.line,
                format!("virtual_ipaddress {a}: `{}` ignored", ignored.join(" ")),
            );
        }
        v.vips.push((net, e.line, dev));
    }
    Ok(())
}

/// The VIPs datagate can carry: on the instance's interface, of the first VIP's family.
fn family_vips(v: &Instance, interface: &str, w: &mut Warnings) -> Vec<IpNet> {
    let mut out: Vec<IpNet> = Vec::new();
    for (net, line, dev) in &v.vips {
        if let Some(dev) = dev.as_deref().filter(|d| *d != interface) {
            w.add(*line, format!("virtual_ipaddress {net} is on `dev {dev}`: datagate adds VIPs on its interface ({interface}) only; skipped"));
            continue;
        }
        if out
            .first()
            .is_some_and(|f| f.addr().is_ipv4() != net.addr().is_ipv4())
        {
            w.add(*line, format!("virtual_ipaddress {net}: one VRRP instance carries IPv4 or IPv6 addresses, not both; skipped"));
            continue;
        }
        out.push(*net);
    }
    out
}

/// `unicast_peer { ADDR [min_ttl N] ... }`.
fn peers(d: &Node, v: &mut Instance, w: &mut Warnings) -> Result<(), ImportError> {
    for e in d.children() {
        let ip: IpAddr = e.word(0).parse().map_err(|_| {
            syntax(
                e.line,
                format!("unicast_peer `{}` is not an IP address", e.word(0)),
            )
        })?;
        if e.words.len() > 1 {
            w.add(
                e.line,
                format!("unicast_peer {ip}: `{}` ignored", e.words[1..].join(" ")),
            );
        }
        v.peers.push(ip.to_string());
    }
    Ok(())
}

/// `track_script { NAME [weight N [reverse]] }`.
fn track_scripts(d: &Node, v: &mut Instance) -> Result<(), ImportError> {
    for e in d.children() {
        let weight = match e.word(1) {
            "weight" => Some((int(e, 2, -254, 254)? as i32, script::reverse(e, 3)?)),
            _ => None,
        };
        v.tracked.push(TrackEntry {
            name: e.word(0).to_string(),
            weight,
            line: e.line,
        });
    }
    Ok(())
}

/// The version keepalived would run: the instance's, else `global_defs`', else 2 (3 for IPv6).
fn version(v: &Instance, global: Option<(u8, usize)>, v6: bool, w: &mut Warnings) -> u8 {
    let (n, line) = match v.version.or(global) {
        Some(x) => x,
        None => return if v6 { 3 } else { 2 },
    };
    if v6 && n == 2 {
        w.add(
            line,
            "VRRPv2 carries no IPv6: version 3 is used, as keepalived does",
        );
        return 3;
    }
    n
}

/// `advert_int` (default 1s) in what the version allows: whole seconds up to 255 for v2,
/// multiples of 10 ms up to 40.95 s for v3.
fn advert(given: Option<(Duration, usize)>, version: u8, w: &mut Warnings) -> Duration {
    let Some((d, line)) = given else {
        return Duration::from_secs(1);
    };
    let ms = d.as_millis() as u64;
    let fixed = if version == 2 {
        (ms.div_ceil(1000) * 1000).clamp(1000, 255_000)
    } else {
        (ms.div_ceil(10) * 10).clamp(10, 40_950)
    };
    if fixed != ms {
        w.add(
            line,
            format!(
                "advert_int {}s is not possible with VRRPv{version}; {} is used",
                d.as_secs_f64(),
                duration_str(Duration::from_millis(fixed))
            ),
        );
    }
    Duration::from_millis(fixed)
}
