//! Writes the translated sections as TOML text, in the order and style of the shipped example
//! config (one key per line, servers as inline tables, a comment naming the source section).

use std::collections::HashSet;
use std::fmt::Write;
use std::net::SocketAddr;

use super::Warnings;

/// One backend server of a `[[tcp]]` or `[[galera]]` section.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ServerOut {
    pub addr: String,
    pub name: String,
    pub backup: bool,
    pub priority: i32,
}

/// The TOML being built, section by section.
#[derive(Debug, Default)]
pub(crate) struct Toml {
    text: String,
    names: HashSet<String>,
    listens: HashSet<SocketAddr>,
    workers: Option<(usize, String)>,
}

impl Toml {
    /// Starts `[header]` (or `[[header]]`) with a comment saying where it came from.
    pub(crate) fn section(&mut self, header: &str, origin: &str) {
        if !self.text.is_empty() {
            self.text.push('\n');
        }
        let _ = writeln!(self.text, "# {origin}\n{header}");
    }

    /// Reserves a listen address; false (and a warning) when an earlier section has it.
    pub(crate) fn claim_listen(&mut self, addr: &str, line: usize, w: &mut Warnings) -> bool {
        let Ok(a) = addr.parse::<SocketAddr>() else {
            return true;
        };
        if self.listens.insert(a) {
            return true;
        }
        w.add(
            line,
            format!("{addr} is already the listen address of an earlier section; skipped"),
        );
        false
    }

    /// Reserves the admin API's default address when no `[admin]` section was written.
    pub(crate) fn reserve_default_admin(&mut self) {
        self.listens
            .insert(SocketAddr::from(([127, 0, 0, 1], 9090)));
    }

    /// Reserves a unique section name: `name`, else `name-2`, `name-3`, ...
    pub(crate) fn unique_name(&mut self, name: &str) -> String {
        let name = if name.is_empty() { "unnamed" } else { name };
        let mut candidate = name.to_string();
        let mut n = 2;
        while !self.names.insert(candidate.clone()) {
            candidate = format!("{name}-{n}");
            n += 1;
        }
        candidate
    }

    pub(crate) fn str(&mut self, key: &str, value: &str) {
        let _ = writeln!(self.text, "{key} = {}", quote(value));
    }

    pub(crate) fn raw(&mut self, key: &str, value: impl std::fmt::Display) {
        let _ = writeln!(self.text, "{key} = {value}");
    }

    pub(crate) fn servers(&mut self, servers: &[ServerOut]) {
        self.text.push_str("servers = [\n");
        for s in servers {
            let _ = write!(self.text, "  {{ addr = {}", quote(&s.addr));
            if s.name != s.addr {
                let _ = write!(self.text, ", name = {}", quote(&s.name));
            }
            if s.backup {
                self.text.push_str(", backup = true");
            }
            if s.priority != 0 {
                let _ = write!(self.text, ", priority = {}", s.priority);
            }
            self.text.push_str(" },\n");
        }
        self.text.push_str("]\n");
    }

    /// The finished file.
    pub(crate) fn finish(self, header: &str) -> String {
        match self.workers {
            Some((n, origin)) => format!(
                "{header}\n# {origin}\n[global]\nworkers = {n}\n\n{}",
                self.text
            ),
            None => format!("{header}\n{}", self.text),
        }
    }

    /// Sets `[global] workers` (the last setting wins, as in the source files).
    pub(crate) fn workers(&mut self, n: usize, origin: &str) {
        self.workers = Some((n, origin.to_string()));
    }
}

/// A TOML basic string.
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_round_trips() {
        let v: toml::Table = toml::from_str(&format!("k = {}", quote("a\"b\\c\u{1}é"))).unwrap();
        assert_eq!(v["k"].as_str(), Some("a\"b\\c\u{1}é"));
    }

    #[test]
    fn names_are_made_unique() {
        let mut t = Toml::default();
        assert_eq!(t.unique_name("a"), "a");
        assert_eq!(t.unique_name("a"), "a-2");
        assert_eq!(t.unique_name("a"), "a-3");
    }
}
