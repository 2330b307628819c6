//! Configuration: TOML schema, validation with source locations, loading.
//!
//! Loading is parse → validate; building runtime objects from a valid config is `app`'s job,
//! so a bad file never touches running state.

mod schema;
mod types;
mod validate;

pub use schema::*;
pub use types::{Balance, Check, Dur, ProxyVersion, ServerSpec, check_host_port};

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// A config error located as `FILE:LINE:COL: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    /// 1-based line and column; 0:0 when the error has no location (e.g. unreadable file).
    pub line: usize,
    pub col: usize,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file.display(),
            self.line,
            self.col,
            self.message
        )
    }
}

/// All the errors of one file (never empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// 1-based (line, column) of a byte offset; columns count characters.
fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(src.len());
    let before = &src[..src.floor_char_boundary(offset)];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

fn located(file: &Path, src: &str, span: Option<Range<usize>>, message: String) -> ConfigError {
    let (line, col) = span.map_or((0, 0), |s| line_col(src, s.start));
    ConfigError {
        file: file.to_path_buf(),
        line,
        col,
        message,
    }
}

/// Parses and validates `src`, naming `file` in errors.
pub fn parse(file: &Path, src: &str) -> Result<Config, ConfigErrors> {
    let cfg: Config = toml::from_str(src).map_err(|e| {
        let msg = e.message().trim().replace('\n', " ");
        ConfigErrors(vec![located(file, src, e.span(), msg)])
    })?;
    let errs = validate::validate(&cfg);
    if errs.is_empty() {
        Ok(cfg)
    } else {
        Err(ConfigErrors(
            errs.into_iter()
                .map(|e| located(file, src, Some(e.span), e.message))
                .collect(),
        ))
    }
}

/// Reads, parses and validates the file at `path`.
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    let src = std::fs::read_to_string(path).map_err(|e| {
        ConfigErrors(vec![ConfigError {
            file: path.to_path_buf(),
            line: 0,
            col: 0,
            message: format!("cannot read: {e}"),
        }])
    })?;
    parse(path, &src)
}

impl Galera {
    /// The monitor password, read from `password_file` when set.
    pub fn resolved_password(&self) -> std::io::Result<String> {
        match (&self.password, &self.password_file) {
            (Some(p), _) => Ok(p.clone()),
            (None, Some(f)) => Ok(std::fs::read_to_string(f)?.trim_end().to_string()),
            (None, None) => Ok(String::new()),
        }
    }
}

impl Redis {
    /// Timeout of one sentinel query or `ROLE` check: `check_timeout`, else the smaller of
    /// `check_interval` and 1s.
    pub fn check_timeout(&self) -> std::time::Duration {
        self.check_timeout
            .map(|d| d.0)
            .unwrap_or_else(|| self.check_interval.0.min(std::time::Duration::from_secs(1)))
            .max(std::time::Duration::from_millis(10))
    }
}

#[cfg(test)]
mod tests;
