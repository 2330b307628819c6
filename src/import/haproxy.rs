//! `haproxy.cfg` → `[[tcp]]` listeners: `listen` sections and `frontend` + `backend` pairs in
//! `mode tcp`, with what `global` and `defaults` give them.
//!
//! Parsing follows HAProxy's own rules where they matter here: a section starts with its
//! keyword, `#` starts a comment, words may be quoted, a `defaults` section resets what the
//! proxies after it inherit, and the default mode is `tcp`.

mod proxy;
mod server;
mod tcp;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};

use super::emit::Toml;
use super::{ImportError, Imported, Warnings, finish};
use proxy::{Proxy, Settings};

/// Section keywords HAProxy knows; only the first five are translated.
const SECTIONS: &[&str] = &[
    "global",
    "defaults",
    "listen",
    "frontend",
    "backend",
    "userlist",
    "peers",
    "resolvers",
    "mailers",
    "program",
    "http-errors",
    "ring",
    "cache",
    "log-forward",
    "fcgi-app",
    "crt-store",
    "traces",
    "acme",
];

/// One directive: its 1-based line and its words, quotes and escapes resolved.
#[derive(Debug, Clone)]
pub(super) struct Line {
    pub no: usize,
    pub words: Vec<String>,
}

impl Line {
    pub(super) fn word(&self, i: usize) -> &str {
        self.words.get(i).map_or("", String::as_str)
    }
    pub(super) fn text(&self) -> String {
        self.words.join(" ")
    }
}

#[derive(Debug)]
struct Section {
    kind: String,
    name: String,
    line: usize,
    body: Vec<Line>,
}

/// Translates an HAProxy configuration.
pub fn haproxy(src: &str) -> Result<Imported, ImportError> {
    let sections = parse(src)?;
    if sections.is_empty() {
        return Err(ImportError::Empty("HAProxy"));
    }
    let mut w = Warnings::default();
    let mut out = Toml::default();
    let mut defaults = Settings::default();
    let mut proxies: Vec<Proxy> = Vec::new();
    for s in &sections {
        match s.kind.as_str() {
            "global" => global(s, &mut out, &mut w),
            "defaults" => {
                if !s.name.is_empty() || s.body.iter().any(|l| l.word(0) == "from") {
                    w.add(s.line, "named defaults sections and `from` are not followed: every proxy inherits the defaults section before it");
                }
                defaults = Proxy::defaults(&s.body, &mut w);
            }
            "listen" | "frontend" | "backend" => {
                proxies.push(Proxy::new(
                    &s.kind, &s.name, s.line, &defaults, &s.body, &mut w,
                ));
            }
            other => w.add(
                s.line,
                format!("`{other}` sections have no datagate equivalent; skipped"),
            ),
        }
    }
    translate(&proxies, &mut out, &mut w);
    let toml =
        out.finish("# Translated from an HAProxy configuration by `datagate import haproxy`.");
    finish(toml, w)
}

/// `global`: only `nbthread` has an equivalent (`[global] workers`).
fn global(s: &Section, out: &mut Toml, w: &mut Warnings) {
    for l in &s.body {
        let hint = match l.word(0) {
            "nbthread" => match l.word(1).parse::<usize>() {
                Ok(n) => {
                    out.workers(n, &format!("global `nbthread` (line {})", l.no));
                    continue;
                }
                Err(_) => "not a number",
            },
            "log" | "log-send-hostname" | "log-tag" => {
                "datagate logs to stderr (the journal); set [log] level and format"
            }
            "stats" => "use the admin API and `datagate ctl` instead of the stats socket",
            "daemon" | "user" | "group" | "uid" | "gid" | "chroot" | "pidfile"
            | "master-worker" => "the systemd unit handles this",
            "maxconn" => "no process-wide limit: set max_connections per listener",
            _ => "no datagate equivalent",
        };
        w.add(l.no, format!("global `{}`: {hint}; ignored", l.text()));
    }
}

/// Pairs frontends with their backend and writes one `[[tcp]]` per listen/frontend.
fn translate(proxies: &[Proxy], out: &mut Toml, w: &mut Warnings) {
    let backends: HashMap<&str, &Proxy> = proxies
        .iter()
        .filter(|p| p.kind == "backend")
        .map(|p| (p.name.as_str(), p))
        .collect();
    let mut used = HashSet::new();
    let mut admin_done = false;
    for p in proxies.iter().filter(|p| p.stats) {
        tcp::stats(p, &mut admin_done, out, w);
    }
    if !admin_done {
        out.reserve_default_admin();
    }
    for p in proxies
        .iter()
        .filter(|p| p.kind != "backend" && !p.stats && !p.http)
    {
        let be = if p.kind == "listen" {
            Some(p)
        } else {
            match &p.backend {
                None => {
                    w.add(p.line, format!("frontend {} has no default_backend (or use_backend without a condition); skipped", p.name));
                    None
                }
                Some((name, line)) => {
                    used.insert(name.as_str());
                    let found = backends.get(name.as_str()).copied();
                    if found.is_none() {
                        w.add(
                            *line,
                            format!("backend {name} is not defined; frontend {} skipped", p.name),
                        );
                    }
                    found
                }
            }
        };
        if let Some(be) = be {
            tcp::tcp(p, be, out, w);
        }
    }
    for b in backends.values() {
        if !used.contains(b.name.as_str()) && !b.http {
            w.add(
                b.line,
                format!(
                    "backend {} is not used by any translated frontend; skipped",
                    b.name
                ),
            );
        }
    }
}

/// Splits the file into sections of tokenized lines.
fn parse(src: &str) -> Result<Vec<Section>, ImportError> {
    let mut sections: Vec<Section> = Vec::new();
    for (i, raw) in src.lines().enumerate() {
        let no = i + 1;
        let words = tokenize(raw).map_err(|message| ImportError::Syntax { line: no, message })?;
        let Some(first) = words.first() else { continue };
        if SECTIONS.contains(&first.as_str()) {
            sections.push(Section {
                kind: first.clone(),
                name: words.get(1).cloned().unwrap_or_default(),
                line: no,
                body: Vec::new(),
            });
        } else if let Some(s) = sections.last_mut() {
            s.body.push(Line { no, words });
        } else {
            return Err(ImportError::Syntax {
                line: no,
                message: format!(
                    "`{}` is outside any section (expected global, defaults, listen, frontend or backend); is this an HAProxy configuration?",
                    raw.trim()
                ),
            });
        }
    }
    Ok(sections)
}

/// HAProxy word splitting: blanks separate words, `#` starts a comment, `"..."` and `'...'`
/// quote, a backslash escapes the next character (`\r`, `\n`, `\t` keep their meaning).
fn tokenize(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('\''), c) => cur.push(c),
            (_, '\\') => {
                in_word = true;
                match chars.next() {
                    Some('r') => cur.push('\r'),
                    Some('n') => cur.push('\n'),
                    Some('t') => cur.push('\t'),
                    Some(c) => cur.push(c),
                    None => return Err("a line ends with a backslash".into()),
                }
            }
            (Some(_), c) => cur.push(c),
            (None, '"' | '\'') => {
                in_word = true;
                quote = Some(c);
            }
            (None, '#') => break,
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, c) => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if quote.is_some() {
        return Err("unterminated quote".into());
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}
