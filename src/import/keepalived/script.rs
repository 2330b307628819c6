//! keepalived's health tracking as `[[vrrp.track_script]]`s: the `vrrp_script`s an instance
//! tracks (with `track_script` weight overrides), and `track_interface` as a carrier check.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use super::{Node, command, int, secs, syntax};
use crate::import::emit::Toml;
use crate::import::{ImportError, Warnings};

/// One `[[vrrp.track_script]]` to write.
#[derive(Debug, Default)]
pub(super) struct Script {
    pub origin: String,
    pub name: String,
    pub script: String,
    pub interval: Option<Duration>,
    pub timeout: Option<Duration>,
    pub weight: i32,
    pub reverse: bool,
    pub rise: u32,
    pub fall: u32,
}

/// One `track_script { NAME [weight W [reverse]] }` entry of an instance.
#[derive(Debug)]
pub(super) struct TrackEntry {
    pub name: String,
    /// The instance's weight and `reverse`, overriding the script's.
    pub weight: Option<(i32, bool)>,
    pub line: usize,
}

/// `track_interface { IF [weight N] }`: a script that reads the interface's carrier.
pub(super) fn track_interfaces(
    d: &Node,
    out: &mut Toml,
    w: &mut Warnings,
) -> Result<Vec<Script>, ImportError> {
    let mut scripts = Vec::new();
    for e in d.children() {
        let ifname = e.word(0);
        if ifname.is_empty() || ifname.contains(['/', '\'', '"', ' ']) {
            return Err(syntax(
                e.line,
                format!("`{ifname}` is not an interface name"),
            ));
        }
        let weight = match e.word(1) {
            "weight" => int(e, 2, -254, 254)? as i32,
            _ => 0,
        };
        w.add(e.line, format!("track_interface {ifname}: checked by a track script reading /sys/class/net/{ifname}/carrier every second"));
        scripts.push(Script {
            origin: format!("track_interface {ifname} (line {})", e.line),
            name: out.unique_name(&format!("interface_{ifname}")),
            script: format!("test \"$(cat /sys/class/net/{ifname}/carrier 2>/dev/null)\" = 1"),
            interval: None,
            timeout: None,
            weight,
            reverse: false,
            rise: 1,
            fall: 1,
        });
    }
    Ok(scripts)
}

/// The `vrrp_script`s named by `track_script`, with their weight overrides; the others are
/// reported.
pub(super) fn tracked_scripts(
    tracked: &[TrackEntry],
    scripts: &[&Node],
    out: &mut Toml,
    w: &mut Warnings,
) -> Result<Vec<Script>, ImportError> {
    let by_name: HashMap<&str, &Node> = scripts.iter().map(|s| (s.word(1), *s)).collect();
    let mut done = Vec::new();
    let mut seen = HashSet::new();
    for TrackEntry { name, weight, line } in tracked {
        let Some(node) = by_name.get(name.as_str()) else {
            w.add(
                *line,
                format!("track_script {name}: no vrrp_script {name}; skipped"),
            );
            continue;
        };
        if !seen.insert(name.as_str()) {
            w.add(
                *line,
                format!("track_script {name} is tracked twice; the first entry counts"),
            );
            continue;
        }
        let mut s = script(node, w)?;
        s.name = out.unique_name(name);
        if let Some((wt, reverse)) = weight {
            (s.weight, s.reverse) = (*wt, *reverse);
        }
        done.push(s);
    }
    for s in scripts {
        if !tracked.iter().any(|t| t.name == s.word(1)) {
            w.add(
                s.line,
                format!(
                    "vrrp_script {} is not tracked by the translated instance; skipped",
                    s.word(1)
                ),
            );
        }
    }
    Ok(done)
}

/// A `vrrp_script NAME { script ..., interval, timeout, weight, rise, fall }` block.
fn script(n: &Node, w: &mut Warnings) -> Result<Script, ImportError> {
    let mut s = Script {
        origin: format!("vrrp_script {} (line {})", n.word(1), n.line),
        rise: 1,
        fall: 1,
        ..Script::default()
    };
    for d in n.children() {
        match d.word(0) {
            "script" => s.script = command(d)?,
            "interval" => s.interval = Some(positive(d)?),
            "timeout" => s.timeout = Some(positive(d)?),
            "weight" => {
                s.weight = int(d, 1, -254, 254)? as i32;
                s.reverse = reverse(d, 2)?;
            }
            "rise" => s.rise = int(d, 1, 1, 1_000_000)? as u32,
            "fall" => s.fall = int(d, 1, 1, 1_000_000)? as u32,
            "user" => w.add(d.line, format!("vrrp_script {}: `{}`: datagate runs scripts as its own user; ignored", n.word(1), d.text())),
            "init_fail" => w.add(d.line, format!("vrrp_script {}: `init_fail`: the first result counts at once, as without it; ignored", n.word(1))),
            _ => w.add(d.line, format!("vrrp_script {}: `{}` has no datagate equivalent; ignored", n.word(1), d.text())),
        }
    }
    if s.script.is_empty() {
        return Err(syntax(
            n.line,
            format!("vrrp_script {} has no `script`", n.word(1)),
        ));
    }
    Ok(s)
}

/// The optional `reverse` after a weight (word `at`).
pub(super) fn reverse(d: &Node, at: usize) -> Result<bool, ImportError> {
    match d.word(at) {
        "" => Ok(false),
        "reverse" => Ok(true),
        other => Err(syntax(
            d.line,
            format!("`{other}` after the weight: only `reverse` may follow it"),
        )),
    }
}

fn positive(d: &Node) -> Result<Duration, ImportError> {
    let t = secs(d)?;
    if t.is_zero() {
        return Err(syntax(d.line, format!("`{}` must be above 0", d.word(0))));
    }
    Ok(t)
}
