//! `KILL [HARD | SOFT] [CONNECTION | QUERY] id`: the ids clients know are datagate's session
//! ids (the greeting's connection id), so these statements are answered by the proxy.

use super::lexer::{Tok, Tokens};

/// A `KILL` naming a connection id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kill {
    /// `KILL [CONNECTION] id` (`query_only` false) or `KILL QUERY id`.
    Session { id: u64, query_only: bool },
    /// `KILL QUERY ID query_id`: by query id, which datagate does not know.
    ByQueryId,
}

/// The `KILL` of `sql`, if it names a connection or query id (`KILL USER name` is not one).
pub fn kill_target(sql: &[u8]) -> Option<Kill> {
    let mut t = Tokens::new(sql);
    if !t.eat(b"KILL") {
        return None;
    }
    if !t.eat(b"HARD") {
        t.eat(b"SOFT");
    }
    let query_only = if t.eat(b"QUERY") {
        if t.eat(b"ID") {
            return Some(Kill::ByQueryId);
        }
        true
    } else {
        t.eat(b"CONNECTION");
        false
    };
    let id = t.next().filter(|n| n.kind == Tok::Word)?;
    let id = std::str::from_utf8(id.text).ok()?.parse().ok()?;
    while t.eat_punct(b';') {}
    if t.next().is_some() || t.error() {
        return None;
    }
    Some(Kill::Session { id, query_only })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let k = |id, query_only| Some(Kill::Session { id, query_only });
        assert_eq!(kill_target(b"KILL 12"), k(12, false));
        assert_eq!(kill_target(b"kill connection 12;"), k(12, false));
        assert_eq!(kill_target(b"KILL HARD QUERY 7"), k(7, true));
        assert_eq!(kill_target(b"KILL SOFT 7"), k(7, false));
        assert_eq!(kill_target(b"/* x */ KILL QUERY 9"), k(9, true));
        assert_eq!(kill_target(b"KILL QUERY ID 9"), Some(Kill::ByQueryId));
        assert_eq!(kill_target(b"KILL USER app"), None);
        assert_eq!(kill_target(b"KILL 12, 13"), None);
        assert_eq!(kill_target(b"KILL -1"), None);
        assert_eq!(kill_target(b"KILL 99999999999999999999999"), None);
        assert_eq!(kill_target(b"SELECT 1"), None);
        assert_eq!(kill_target(b"KILL"), None);
    }
}
