//! Named locks a statement takes or releases (`GET_LOCK`, `RELEASE_LOCK`,
//! `RELEASE_ALL_LOCKS`): they live on one server connection and die with it, so a session
//! that holds one cannot move to another connection silently.

use super::lexer::{Tok, Tokens};

/// One call of a named-lock function.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LockCall {
    /// `GET_LOCK('name', …)`: the name (as written, compared ignoring case by the caller).
    Get(Vec<u8>),
    /// `GET_LOCK(expr, …)` with a name that is not a string literal.
    GetUnnamed,
    /// `RELEASE_LOCK('name')`.
    Release(Vec<u8>),
    /// `RELEASE_ALL_LOCKS()`.
    ReleaseAll,
}

/// The named-lock calls of `sql`, in order.
pub fn lock_calls(sql: &[u8]) -> Vec<LockCall> {
    let mut t = Tokens::new(sql);
    let mut calls = Vec::new();
    while let Some(tok) = t.next() {
        if tok.kind != Tok::Word {
            continue;
        }
        let get = tok.is(b"GET_LOCK");
        let release = tok.is(b"RELEASE_LOCK");
        let all = tok.is(b"RELEASE_ALL_LOCKS");
        if !(get || release || all) || !t.eat_punct(b'(') {
            continue;
        }
        if all {
            calls.push(LockCall::ReleaseAll);
            continue;
        }
        let name = t.peek().filter(|a| a.kind == Tok::Str).map(|a| a.text);
        let literal = name.is_some() && {
            t.next();
            t.peek()
                .is_some_and(|n| n.is_punct(b',') || n.is_punct(b')'))
        };
        match (get, name.filter(|_| literal)) {
            (true, Some(n)) => calls.push(LockCall::Get(n.to_vec())),
            (true, None) => calls.push(LockCall::GetUnnamed),
            (false, Some(n)) => calls.push(LockCall::Release(n.to_vec())),
            // Releasing a lock whose name is computed: it may or may not be one we hold.
            (false, None) => {}
        }
    }
    // A statement the lexer cannot read is a syntax error on the server too: it takes nothing.
    if t.error() {
        return Vec::new();
    }
    calls
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_in_order() {
        assert_eq!(
            lock_calls(b"SELECT GET_LOCK('a', 10), RELEASE_LOCK(\"b\"), release_all_locks()"),
            vec![
                LockCall::Get(b"a".to_vec()),
                LockCall::Release(b"b".to_vec()),
                LockCall::ReleaseAll
            ]
        );
        assert_eq!(
            lock_calls(b"SET @x = GET_LOCK(CONCAT('a', @n), 1)"),
            vec![LockCall::GetUnnamed]
        );
        assert_eq!(
            lock_calls(b"SELECT GET_LOCK('a' 'b', 1)"),
            vec![LockCall::GetUnnamed]
        );
        assert_eq!(lock_calls(b"SELECT RELEASE_LOCK(@n)"), vec![]);
        assert_eq!(lock_calls(b"SELECT 'GET_LOCK(1)', get_lock"), vec![]);
        assert_eq!(lock_calls(b"SELECT GET_LOCK('unterminated"), vec![]);
    }
}
