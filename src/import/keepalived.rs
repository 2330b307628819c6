//! `keepalived.conf` → `[vrrp]`: the first `vrrp_instance` with the `vrrp_script`s it tracks.
//!
//! Parsing follows keepalived's own rules where they matter here: blanks separate words, `#`
//! and `!` start a comment, `"..."` quotes, `{ ... }` opens a block (on the same line or the
//! next), and blocks may be written on one line (`unicast_peer { 10.0.0.2 }`).

mod instance;
mod script;
#[cfg(test)]
mod tests;

use std::time::Duration;

use super::emit::Toml;
use super::{ImportError, Imported, MAX_DURATION, Warnings, finish};

/// One statement: its 1-based line, its words, and the block it opens, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Node {
    pub line: usize,
    pub words: Vec<String>,
    pub block: Option<Vec<Node>>,
}

impl Node {
    pub(super) fn word(&self, i: usize) -> &str {
        self.words.get(i).map_or("", String::as_str)
    }
    pub(super) fn text(&self) -> String {
        self.words.join(" ")
    }
    pub(super) fn children(&self) -> &[Node] {
        self.block.as_deref().unwrap_or(&[])
    }
}

pub(super) fn syntax(line: usize, message: impl Into<String>) -> ImportError {
    ImportError::Syntax {
        line,
        message: message.into(),
    }
}

/// The number after the keyword, within `lo..=hi`.
pub(super) fn int(n: &Node, i: usize, lo: i64, hi: i64) -> Result<i64, ImportError> {
    n.word(i)
        .parse::<i64>()
        .ok()
        .filter(|v| (lo..=hi).contains(v))
        .ok_or_else(|| {
            syntax(
                n.line,
                format!(
                    "`{}` needs a whole number within {lo}..{hi}, not `{}`",
                    n.word(0),
                    n.word(i)
                ),
            )
        })
}

/// keepalived times are seconds, with decimals (`advert_int 0.1`).
pub(super) fn secs(n: &Node) -> Result<Duration, ImportError> {
    n.word(1)
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0 && *s <= MAX_DURATION.as_secs_f64())
        .map(|s| Duration::from_millis((s * 1000.0).round() as u64))
        .ok_or_else(|| {
            syntax(
                n.line,
                format!("`{}` needs seconds, not `{}`", n.word(0), n.word(1)),
            )
        })
}

/// The rest of the line as one command (keepalived quotes it or not).
pub(super) fn command(n: &Node) -> Result<String, ImportError> {
    let cmd = n.words[1..].join(" ");
    if cmd.trim().is_empty() {
        return Err(syntax(n.line, format!("`{}` needs a command", n.word(0))));
    }
    Ok(cmd)
}

/// Translates a keepalived configuration.
pub fn keepalived(src: &str) -> Result<Imported, ImportError> {
    let nodes = parse(src)?;
    let mut w = Warnings::default();
    let mut version = None;
    let mut scripts = Vec::new();
    let mut instances = Vec::new();
    for n in &nodes {
        match n.word(0) {
            "global_defs" => global_defs(n, &mut version, &mut w),
            "vrrp_script" => scripts.push(n),
            "vrrp_instance" => instances.push(n),
            "include" => w.add(
                n.line,
                format!(
                    "`include {}` is not followed: translate the included file too, or paste it here",
                    n.word(1)
                ),
            ),
            "vrrp_sync_group" => w.add(
                n.line,
                "vrrp_sync_group: datagate runs one VRRP instance, so there is nothing to group; ignored",
            ),
            "virtual_server" | "virtual_server_group" => w.add(
                n.line,
                format!(
                    "`{}` (LVS) has no datagate equivalent: use [[tcp]] listeners; skipped",
                    n.word(0)
                ),
            ),
            w0 if w0.starts_with('$') || w0.starts_with('@') => w.add(
                n.line,
                "keepalived variables and conditional lines are not expanded; skipped",
            ),
            other => w.add(
                n.line,
                format!("`{other}` has no datagate equivalent; skipped"),
            ),
        }
    }
    let Some((first, rest)) = instances.split_first() else {
        return Err(ImportError::Empty("keepalived vrrp_instance"));
    };
    for skipped in rest {
        w.add(
            skipped.line,
            format!(
                "vrrp_instance {}: datagate runs one VRRP instance per process; only {} is translated, put this one in a second datagate config",
                skipped.word(1),
                first.word(1)
            ),
        );
    }
    let mut out = Toml::default();
    instance::translate(first, &scripts, version, &mut out, &mut w)?;
    let toml =
        out.finish("# Translated from a keepalived configuration by `datagate import keepalived`.");
    finish(toml, w)
}

/// `global_defs`: only `vrrp_version` has an equivalent (the default `version`).
fn global_defs(n: &Node, version: &mut Option<(u8, usize)>, w: &mut Warnings) {
    for d in n.children() {
        let hint = match d.word(0) {
            "vrrp_version" => match d.word(1) {
                "2" | "3" => {
                    *version = Some((if d.word(1) == "2" { 2 } else { 3 }, d.line));
                    continue;
                }
                _ => "not 2 or 3",
            },
            "router_id" => "datagate has no router id (the logs name the host)",
            "notification_email"
            | "notification_email_from"
            | "smtp_server"
            | "smtp_connect_timeout"
            | "smtp_alert"
            | "smtp_alert_vrrp" => {
                "datagate sends no mail: use notify hooks or alert on datagate_vrrp_state"
            }
            "enable_script_security" | "script_user" => {
                "datagate runs track scripts and hooks as its own user (the service's)"
            }
            "vrrp_strict" => {
                "datagate always follows RFC 9568 checks on received adverts; no firewall rules"
            }
            _ => "no datagate equivalent",
        };
        w.add(
            d.line,
            format!("global_defs `{}`: {hint}; ignored", d.text()),
        );
    }
}

/// Splits the file into a tree of statements.
fn parse(src: &str) -> Result<Vec<Node>, ImportError> {
    // Open blocks: (line and words of the statement that opened it, statements so far).
    let mut stack: Vec<(usize, Vec<String>, Vec<Node>)> = vec![(0, Vec::new(), Vec::new())];
    for (i, raw) in src.lines().enumerate() {
        let no = i + 1;
        let tokens = tokenize(raw).map_err(|message| ImportError::Syntax { line: no, message })?;
        let mut words: Vec<String> = Vec::new();
        for t in tokens {
            match t {
                Token::Open => {
                    let top = &mut stack.last_mut().expect("root").2;
                    let (line, header) = if !words.is_empty() {
                        (no, std::mem::take(&mut words))
                    } else if top.last().is_some_and(|p| p.block.is_none()) {
                        // `{` on the line after its statement.
                        let prev = top.pop().expect("just seen");
                        (prev.line, prev.words)
                    } else {
                        return Err(ImportError::Syntax {
                            line: no,
                            message: "`{` opens a block without a name".into(),
                        });
                    };
                    stack.push((line, header, Vec::new()));
                }
                Token::Close => {
                    push_statement(&mut stack, no, &mut words);
                    if stack.len() == 1 {
                        return Err(ImportError::Syntax {
                            line: no,
                            message: "`}` closes no block".into(),
                        });
                    }
                    let (line, header, body) = stack.pop().expect("checked");
                    stack.last_mut().expect("root").2.push(Node {
                        line,
                        words: header,
                        block: Some(body),
                    });
                }
                Token::Word(s) => words.push(s),
            }
        }
        push_statement(&mut stack, no, &mut words);
    }
    if stack.len() > 1 {
        let (line, header, _) = stack.pop().expect("checked");
        return Err(ImportError::Syntax {
            line,
            message: format!("the block of `{}` is never closed", header.join(" ")),
        });
    }
    Ok(stack.pop().expect("root").2)
}

fn push_statement(
    stack: &mut [(usize, Vec<String>, Vec<Node>)],
    line: usize,
    words: &mut Vec<String>,
) {
    if !words.is_empty() {
        stack.last_mut().expect("root").2.push(Node {
            line,
            words: std::mem::take(words),
            block: None,
        });
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Token {
    Word(String),
    Open,
    Close,
}

/// keepalived word splitting: blanks separate words, `#` or `!` at the start of a word starts
/// a comment, `"..."` quotes (with `\"` for a quote), `{` and `}` stand alone.
fn tokenize(line: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = line.chars().peekable();
    let flush = |cur: &mut String, in_word: &mut bool, out: &mut Vec<Token>| {
        if *in_word {
            out.push(Token::Word(std::mem::take(cur)));
            *in_word = false;
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        None => return Err("unterminated quote".into()),
                        Some('"') => break,
                        Some('\\') if chars.peek() == Some(&'"') => {
                            cur.push('"');
                            chars.next();
                        }
                        Some(c) => cur.push(c),
                    }
                }
            }
            '#' | '!' if !in_word => break,
            '{' | '}' => {
                flush(&mut cur, &mut in_word, &mut out);
                out.push(if c == '{' { Token::Open } else { Token::Close });
            }
            c if c.is_whitespace() => flush(&mut cur, &mut in_word, &mut out),
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    flush(&mut cur, &mut in_word, &mut out);
    Ok(out)
}
