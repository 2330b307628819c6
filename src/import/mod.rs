//! `datagate import`: translate an existing `haproxy.cfg`, `maxscale.cnf` or `keepalived.conf`
//! into datagate TOML.
//!
//! Pure text in, text out: the translators never touch the network or the file system. Every
//! directive without a datagate equivalent, or mapped only approximately, becomes a [`Warning`]
//! naming its line, so nothing is dropped silently. The TOML produced is checked with
//! [`crate::config::parse`] before it is returned.

mod emit;
mod haproxy;
mod keepalived;
mod maxscale;
#[cfg(test)]
mod tests;

pub use haproxy::haproxy;
pub use keepalived::keepalived;
pub use maxscale::maxscale;

use std::fmt;
use std::path::Path;

/// The result of a translation: the TOML text and what could not be carried over exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    /// A complete datagate config file.
    pub toml: String,
    /// Everything dropped or approximated, in line order.
    pub warnings: Vec<Warning>,
}

/// One directive of the source file that has no exact datagate equivalent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// 1-based line of the source file.
    pub line: usize,
    /// What was dropped or approximated, and what to do instead when there is something.
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: warning: {}", self.line, self.message)
    }
}

/// Why a file could not be translated at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    /// The file is not in the expected syntax (wrong kind of file, broken quoting, ...) at `line`.
    #[error("{message}")]
    Syntax { line: usize, message: String },
    /// The file parsed but holds no section at all.
    #[error("no {0} section found; is this the right kind of file?")]
    Empty(&'static str),
    /// The translation did not validate: a bug in the translator, reported rather than hidden.
    #[error("the translated config does not validate: {0}")]
    Invalid(String),
}

impl ImportError {
    /// The source line the error is about (0 when it is about the whole file).
    pub fn line(&self) -> usize {
        match self {
            ImportError::Syntax { line, .. } => *line,
            _ => 0,
        }
    }
}

/// Collects warnings while translating.
#[derive(Debug, Default)]
pub(crate) struct Warnings(Vec<Warning>);

impl Warnings {
    pub(crate) fn add(&mut self, line: usize, message: impl Into<String>) {
        self.0.push(Warning {
            line,
            message: message.into(),
        });
    }
}

/// Checks the generated text with the real loader and sorts the warnings by line.
fn finish(toml: String, mut warnings: Warnings) -> Result<Imported, ImportError> {
    if let Err(e) = crate::config::parse(Path::new("imported.toml"), &toml) {
        return Err(ImportError::Invalid(e.to_string()));
    }
    warnings.0.sort_by_key(|w| w.line);
    Ok(Imported {
        toml,
        warnings: warnings.0,
    })
}

/// Longer durations in a source file are treated as typos rather than carried over.
pub(crate) const MAX_DURATION: std::time::Duration = std::time::Duration::from_secs(365 * 86400);

/// Formats a duration the way the config file writes them: `"2s"`, `"1m"`, `"250ms"`.
pub(crate) fn duration_str(d: std::time::Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 && !d.is_zero() {
        return format!("{}us", d.as_micros());
    }
    if ms > 0 && ms.is_multiple_of(60_000) {
        format!("{}m", ms / 60_000)
    } else if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

/// Turns `host:port` (IPv6 with or without brackets) into the `host:port` form datagate reads;
/// `*`, an empty host and `0.0.0.0` mean every IPv4 address, `::` every address.
pub(crate) fn normalize_addr(host: &str, port: &str) -> String {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    match host {
        "" | "*" => format!("0.0.0.0:{port}"),
        h if h.contains(':') => format!("[{h}]:{port}"),
        h => format!("{h}:{port}"),
    }
}
