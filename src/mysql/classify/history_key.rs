//! What a session command changes, so that session history can drop the statements a later one
//! supersedes (`SET @a = 1` then `SET @a = 2`; `PREPARE s …` then `DEALLOCATE PREPARE s`).

use super::lexer::{Tok, Tokens};

/// The session state a session command sets, as far as history pruning is concerned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HistoryKey {
    /// `SET` of these variables (lower case; user variables with their `@`; `names` for
    /// `SET NAMES` / `SET CHARACTER SET`). A later `SET` of all of them supersedes it.
    Vars(Vec<Vec<u8>>),
    /// `PREPARE name FROM …` (name in lower case).
    Prepare(Vec<u8>),
    /// `DEALLOCATE PREPARE name` / `DROP PREPARE name`: removes the `PREPARE`, kept itself
    /// only if there was none.
    Deallocate(Vec<u8>),
    /// Anything else: kept as is.
    Other,
}

fn lower(b: &[u8]) -> Vec<u8> {
    b.to_ascii_lowercase()
}

/// The [`HistoryKey`] of a session command's SQL text.
pub fn history_key(sql: &[u8]) -> HistoryKey {
    let mut t = Tokens::new(sql);
    let key = match t.next() {
        Some(tok) if tok.is(b"SET") => set_vars(&mut t).map(HistoryKey::Vars),
        Some(tok) if tok.is(b"PREPARE") => t
            .next()
            .filter(|n| matches!(n.kind, Tok::Word | Tok::Quoted))
            .map(|n| HistoryKey::Prepare(lower(n.text))),
        Some(tok) if tok.is(b"DEALLOCATE") || tok.is(b"DROP") => {
            if t.eat(b"PREPARE") {
                t.next()
                    .filter(|n| matches!(n.kind, Tok::Word | Tok::Quoted))
                    .filter(|_| t.next().is_none_or(|e| e.is_punct(b';')))
                    .map(|n| HistoryKey::Deallocate(lower(n.text)))
            } else {
                None
            }
        }
        _ => None,
    };
    if t.error() {
        return HistoryKey::Other;
    }
    key.unwrap_or(HistoryKey::Other)
}

/// The variables of `SET a = …, @b = …`; `None` for forms that are not plain assignments.
fn set_vars(t: &mut Tokens) -> Option<Vec<Vec<u8>>> {
    let mut names = Vec::new();
    loop {
        let mut tok = t.next()?;
        if tok.is(b"SESSION") || tok.is(b"LOCAL") {
            tok = t.next()?;
        }
        let name = match tok.kind {
            Tok::Word if tok.is(b"NAMES") || tok.is(b"CHARSET") => b"names".to_vec(),
            Tok::Word if tok.is(b"CHARACTER") => {
                if !t.eat(b"SET") {
                    return None;
                }
                b"names".to_vec()
            }
            Tok::Word if tok.is(b"TRANSACTION") || tok.is(b"GLOBAL") || tok.is(b"STATEMENT") => {
                return None;
            }
            Tok::Word | Tok::Quoted => lower(tok.text),
            Tok::SysVar => {
                let n = tok.text;
                let n = match n.iter().position(|&b| b == b'.') {
                    Some(dot) => {
                        let scope = &n[..dot];
                        if !(scope.eq_ignore_ascii_case(b"session")
                            || scope.eq_ignore_ascii_case(b"local"))
                        {
                            return None;
                        }
                        &n[dot + 1..]
                    }
                    None => n,
                };
                lower(n)
            }
            Tok::UserVar => {
                let mut v = b"@".to_vec();
                v.extend_from_slice(&lower(tok.text));
                v
            }
            _ => return None,
        };
        names.push(name);
        // Skip the value: up to a `,` outside parentheses, or the end.
        let mut depth = 0i32;
        loop {
            match t.next() {
                None => return Some(names),
                Some(x) if x.is_punct(b';') && depth == 0 => {
                    return t.next().is_none().then_some(names);
                }
                Some(x) if x.is_punct(b'(') => depth += 1,
                Some(x) if x.is_punct(b')') => depth -= 1,
                Some(x) if x.is_punct(b',') && depth == 0 => break,
                Some(_) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::HistoryKey::{Deallocate, Other, Prepare, Vars};
    use super::*;

    fn vars(names: &[&str]) -> HistoryKey {
        Vars(names.iter().map(|n| n.as_bytes().to_vec()).collect())
    }

    #[test]
    fn keys() {
        let cases: &[(&str, HistoryKey)] = &[
            ("SET @a = 1", vars(&["@a"])),
            ("set @A := 1, @b = (1, 2)", vars(&["@a", "@b"])),
            ("SET SESSION sql_mode = 'ANSI,STRICT'", vars(&["sql_mode"])),
            ("SET @@session.Time_Zone = '+00:00'", vars(&["time_zone"])),
            ("SET @@wait_timeout = 10;", vars(&["wait_timeout"])),
            ("SET NAMES utf8mb4 COLLATE utf8mb4_bin", vars(&["names"])),
            ("SET CHARACTER SET latin1", vars(&["names"])),
            (
                "SET autocommit=0, `x` = f(1, 2)",
                vars(&["autocommit", "x"]),
            ),
            ("SET /* c */ @a = 'x,y'", vars(&["@a"])),
            ("SET @@global.x = 1", Other),
            ("SET GLOBAL x = 1", Other),
            ("SET SESSION TRANSACTION READ ONLY", Other),
            ("SET @a = 1; SET @b = 2", Other),
            ("SET @a = 'unterminated", Other),
            ("PREPARE s1 FROM 'SELECT 1'", Prepare(b"s1".to_vec())),
            ("prepare `S 2` from @q", Prepare(b"s 2".to_vec())),
            ("DEALLOCATE PREPARE S1", Deallocate(b"s1".to_vec())),
            ("DROP PREPARE s1;", Deallocate(b"s1".to_vec())),
            ("DROP PREPARE s1 s2", Other),
            ("DROP TABLE t", Other),
            ("USE db", Other),
            ("", Other),
        ];
        for (sql, want) in cases {
            assert_eq!(&history_key(sql.as_bytes()), want, "{sql:?}");
        }
    }
}
