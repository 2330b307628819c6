//! `maxscale.cnf` → `[[galera]]` (galeramon), `[[mysql]]` (readwritesplit + listener) and
//! `[[tcp]]` (readconnroute + listener).
//!
//! The file is INI as MaxScale reads it: `[name]` starts an object, `key=value` lines follow,
//! `#`/`;` start a comment line and an indented line continues the previous value.

mod objects;
mod services;
#[cfg(test)]
mod tests;

use std::time::Duration;

use super::emit::Toml;
use super::{ImportError, Imported, Warnings, finish};

/// One `key=value` line.
#[derive(Debug, Clone)]
pub(super) struct Entry {
    pub key: String,
    pub value: String,
    pub line: usize,
}

/// One `[name]` section with the entries not consumed yet.
#[derive(Debug, Clone)]
pub(super) struct Obj {
    pub name: String,
    pub line: usize,
    entries: Vec<Entry>,
}

impl Obj {
    /// Removes and returns the entry for `key` (the last one when repeated).
    pub(super) fn take(&mut self, key: &str) -> Option<Entry> {
        let i = self.entries.iter().rposition(|e| e.key == key)?;
        let e = self.entries.remove(i);
        self.entries.retain(|x| x.key != key);
        Some(e)
    }

    /// The value of `key` without consuming it.
    pub(super) fn peek(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .rev()
            .find(|e| e.key == key)
            .map(|e| e.value.as_str())
    }

    /// Warns about every entry nobody consumed.
    pub(super) fn leftovers(&self, what: &str, w: &mut Warnings) {
        for e in &self.entries {
            w.add(
                e.line,
                format!(
                    "{what} {}: `{}={}` has no datagate equivalent; ignored",
                    self.name, e.key, e.value
                ),
            );
        }
    }
}

/// Translates a MaxScale configuration.
pub fn maxscale(src: &str) -> Result<Imported, ImportError> {
    let objs = parse(src)?;
    if objs.is_empty() {
        return Err(ImportError::Empty("MaxScale"));
    }
    let mut w = Warnings::default();
    let mut out = Toml::default();
    let model = objects::Model::build(objs, &mut out, &mut w);
    services::translate(&model, &mut out, &mut w);
    let toml =
        out.finish("# Translated from a MaxScale configuration by `datagate import maxscale`.");
    finish(toml, w)
}

fn parse(src: &str) -> Result<Vec<Obj>, ImportError> {
    let mut objs: Vec<Obj> = Vec::new();
    for (i, raw) in src.lines().enumerate() {
        let no = i + 1;
        let t = raw.trim();
        if t.is_empty() || t.starts_with('#') || t.starts_with(';') {
            continue;
        }
        if let Some(name) = t.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            objs.push(Obj {
                name: name.trim().to_string(),
                line: no,
                entries: Vec::new(),
            });
            continue;
        }
        let syntax = |message: String| ImportError::Syntax { line: no, message };
        let Some(obj) = objs.last_mut() else {
            return Err(syntax(format!(
                "`{t}` is outside any [section]; is this a MaxScale configuration?"
            )));
        };
        let continues = raw.starts_with([' ', '\t']) && !t.contains('=');
        match (t.split_once('='), obj.entries.last_mut()) {
            (_, Some(prev)) if continues => prev.value.push_str(t),
            (Some((k, v)), _) if !k.trim().is_empty() => obj.entries.push(Entry {
                key: k.trim().to_string(),
                value: v.trim().to_string(),
                line: no,
            }),
            _ => {
                return Err(syntax(format!(
                    "expected `key=value` or `[section]`, found `{t}`"
                )));
            }
        }
    }
    Ok(objs)
}

/// A MaxScale boolean (`true/false`, `yes/no`, `on/off`, `1/0`).
pub(super) fn boolean(e: &Entry, w: &mut Warnings) -> Option<bool> {
    match e.value.to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Some(true),
        "false" | "no" | "off" | "0" => Some(false),
        _ => {
            w.add(
                e.line,
                format!("`{}={}` is not a boolean; ignored", e.key, e.value),
            );
            None
        }
    }
}

/// A MaxScale duration: `h`, `m`, `s` or `ms` suffix, or a bare number in `bare_unit_ms`.
pub(super) fn duration(e: &Entry, bare_unit_ms: u64, w: &mut Warnings) -> Option<Duration> {
    let v = e.value.to_ascii_lowercase();
    let split = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let n: u64 = v[..split]
        .parse()
        .ok()
        .filter(|_| split > 0)
        .unwrap_or(u64::MAX);
    let ms = match &v[split..] {
        _ if n == u64::MAX => None,
        "" => n.checked_mul(bare_unit_ms),
        "ms" => Some(n),
        "s" => n.checked_mul(1000),
        "m" | "min" => n.checked_mul(60_000),
        "h" => n.checked_mul(3_600_000),
        _ => None,
    }
    .map(Duration::from_millis)
    .filter(|d| *d <= super::MAX_DURATION);
    if ms.is_none() {
        w.add(
            e.line,
            format!("`{}={}` is not a duration; ignored", e.key, e.value),
        );
    }
    ms
}

/// A comma-separated list (`servers=a, b,c`).
pub(super) fn list(v: &str) -> Vec<String> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}
