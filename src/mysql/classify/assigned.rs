//! The variables a statement assigns (`SET @a = …, b = …`, `SELECT @a := …`,
//! `SELECT … INTO @a`), so that their values can be read back from the server that ran it and
//! given to the session's other connections as literals.

use super::lexer::{Tok, Tokens};

/// A variable a statement assigns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AssignedVar {
    /// A user variable `@name` (name without the `@`, unquoted).
    User(Vec<u8>),
    /// A session system variable (name without scope).
    Session(Vec<u8>),
}

impl AssignedVar {
    /// The expression reading the variable back.
    pub fn expr(&self) -> String {
        match self {
            AssignedVar::User(n) => format!("@`{}`", quote_ident(n)),
            AssignedVar::Session(n) => format!("@@session.`{}`", quote_ident(n)),
        }
    }
}

fn quote_ident(name: &[u8]) -> String {
    String::from_utf8_lossy(name).replace('`', "``")
}

fn push(vars: &mut Vec<AssignedVar>, v: AssignedVar) {
    if !vars.contains(&v) {
        vars.push(v);
    }
}

/// The variables `sql` assigns, in order of first assignment; `None` when it assigns something
/// that cannot be read back as a value (`SET NAMES`, `SET TRANSACTION`, global variables, a
/// name that is not a plain identifier).
pub fn assigned_vars(sql: &[u8]) -> Option<Vec<AssignedVar>> {
    let mut t = Tokens::new(sql);
    let first = t.peek()?;
    let vars = if first.is(b"SET") {
        t.next();
        set_targets(&mut t)?
    } else {
        query_targets(&mut t)
    };
    (!t.error()).then_some(vars)
}

/// The targets of `SET a = …, @b := …`.
fn set_targets(t: &mut Tokens) -> Option<Vec<AssignedVar>> {
    let mut vars = Vec::new();
    loop {
        let mut tok = t.next()?;
        if tok.is(b"SESSION") || tok.is(b"LOCAL") {
            tok = t.next()?;
        }
        let var = match tok.kind {
            Tok::UserVar => AssignedVar::User(tok.text.to_vec()),
            Tok::SysVar => {
                let n = tok.text;
                match n.iter().position(|&b| b == b'.') {
                    Some(dot) => {
                        let scope = &n[..dot];
                        if !(scope.eq_ignore_ascii_case(b"session")
                            || scope.eq_ignore_ascii_case(b"local"))
                        {
                            return None;
                        }
                        AssignedVar::Session(n[dot + 1..].to_ascii_lowercase())
                    }
                    None => AssignedVar::Session(n.to_ascii_lowercase()),
                }
            }
            Tok::Word
                if !(tok.is(b"NAMES")
                    || tok.is(b"CHARSET")
                    || tok.is(b"CHARACTER")
                    || tok.is(b"TRANSACTION")
                    || tok.is(b"GLOBAL")
                    || tok.is(b"PERSIST")
                    || tok.is(b"PERSIST_ONLY")
                    || tok.is(b"STATEMENT")
                    || tok.is(b"PASSWORD")
                    || tok.is(b"ROLE")
                    || tok.is(b"DEFAULT")) =>
            {
                AssignedVar::Session(tok.text.to_ascii_lowercase())
            }
            Tok::Quoted => AssignedVar::Session(tok.text.to_ascii_lowercase()),
            _ => return None,
        };
        push(&mut vars, var);
        if !(t.eat_punct(b'=') || t.peek().is_some_and(|n| n.kind == Tok::Assign)) {
            return None;
        }
        // Skip the value up to the next top-level comma.
        let mut depth = 0i32;
        let mut more = false;
        while let Some(v) = t.next() {
            match v.kind {
                Tok::Punct(b'(') => depth += 1,
                Tok::Punct(b')') => depth -= 1,
                Tok::Punct(b',') if depth == 0 => {
                    more = true;
                    break;
                }
                Tok::Punct(b';') if depth == 0 => break,
                _ => {}
            }
        }
        if !more {
            return Some(vars);
        }
    }
}

/// `@a := …` anywhere, and the `@a, @b` after `INTO`.
fn query_targets(t: &mut Tokens) -> Vec<AssignedVar> {
    let mut vars = Vec::new();
    let mut into = false;
    while let Some(tok) = t.next() {
        match tok.kind {
            Tok::UserVar if into || t.peek().is_some_and(|n| n.kind == Tok::Assign) => {
                push(&mut vars, AssignedVar::User(tok.text.to_vec()));
                continue;
            }
            Tok::Word if tok.is(b"INTO") => {
                into = true;
                continue;
            }
            Tok::Punct(b',') if into => continue,
            _ => {}
        }
        into = false;
    }
    vars
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(n: &str) -> AssignedVar {
        AssignedVar::User(n.as_bytes().to_vec())
    }

    fn session(n: &str) -> AssignedVar {
        AssignedVar::Session(n.as_bytes().to_vec())
    }

    #[test]
    fn set_targets() {
        assert_eq!(assigned_vars(b"SET @x = f()"), Some(vec![user("x")]));
        assert_eq!(
            assigned_vars(b"SET @a = f(1, 2), @`b c` := 3, SESSION sql_mode = g(), @@x = 1"),
            Some(vec![
                user("a"),
                user("b c"),
                session("sql_mode"),
                session("x")
            ])
        );
        assert_eq!(
            assigned_vars(b"set @@session.Time_Zone = f()"),
            Some(vec![session("time_zone")])
        );
        assert_eq!(assigned_vars(b"SET @@global.x = f()"), None);
        assert_eq!(assigned_vars(b"SET GLOBAL x = f()"), None);
        assert_eq!(assigned_vars(b"SET NAMES utf8"), None);
        assert_eq!(assigned_vars(b"SET TRANSACTION READ ONLY"), None);
        assert_eq!(assigned_vars(b"SET @x"), None);
        assert_eq!(assigned_vars(b"SET @x = 'unterminated"), None);
    }

    #[test]
    fn query_targets() {
        assert_eq!(
            assigned_vars(b"SELECT @r := @r + 1, a FROM t"),
            Some(vec![user("r")])
        );
        assert_eq!(
            assigned_vars(b"SELECT a, b INTO @a, @b FROM t"),
            Some(vec![user("a"), user("b")])
        );
        assert_eq!(assigned_vars(b"SELECT a FROM t WHERE b = @c"), Some(vec![]));
        assert_eq!(user("a`b").expr(), "@`a``b`");
        assert_eq!(session("x").expr(), "@@session.`x`");
    }
}
