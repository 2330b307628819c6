//! `SET` in its many forms: session variables, `autocommit`, transaction access mode,
//! global variables (a write) and MariaDB's `SET STATEMENT … FOR stmt`.

use super::super::functions::{FuncClass, function_class, sysvar_class};
use super::super::lexer::{Tok, Token};
use super::super::{Flags, StatementKind, TransactionScope};
use super::Parser;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Scope {
    Unstated,
    Session,
    Global,
}

fn bool_value(tok: &Token, default: bool) -> Option<bool> {
    if !matches!(tok.kind, Tok::Word | Tok::Str) {
        return None;
    }
    let v = tok.text;
    let is = |s: &[u8]| v.eq_ignore_ascii_case(s);
    if is(b"1") || is(b"ON") || is(b"TRUE") {
        Some(true)
    } else if is(b"0") || is(b"OFF") || is(b"FALSE") {
        Some(false)
    } else if tok.kind == Tok::Word && is(b"DEFAULT") {
        Some(default)
    } else {
        None
    }
}

impl<'a> Parser<'a> {
    pub(super) fn set(&mut self) -> StatementKind {
        if self.t.eat(b"STATEMENT") {
            return self.set_statement();
        }
        let mut global = false;
        let mut write = false;
        let mut autocommit = None;
        let mut trx = None;
        let mut assignments = 0;
        while let Some(mut tok) = self.t.next() {
            assignments += 1;
            let mut scope = Scope::Unstated;
            if tok.is(b"GLOBAL") || tok.is(b"PERSIST") || tok.is(b"PERSIST_ONLY") {
                scope = Scope::Global;
            } else if tok.is(b"SESSION") || tok.is(b"LOCAL") {
                scope = Scope::Session;
            }
            if scope != Scope::Unstated {
                match self.t.next() {
                    Some(next) => tok = next,
                    None => return StatementKind::Unknown,
                }
            }
            let mut name: &[u8] = b"";
            match tok.kind {
                Tok::Word if tok.is(b"TRANSACTION") => {
                    let read_only = self.transaction_characteristics();
                    match (scope, read_only) {
                        (Scope::Global, _) => global = true,
                        (_, None) => {}
                        (Scope::Session, Some(ro)) => trx = Some((ro, TransactionScope::Session)),
                        (Scope::Unstated, Some(ro)) => trx = Some((ro, TransactionScope::Next)),
                    }
                    break;
                }
                Tok::Word if tok.is(b"PASSWORD") || tok.is(b"DEFAULT") => {
                    write = true;
                    if tok.is(b"PASSWORD") {
                        self.flags |= Flags::IMPLICIT_COMMIT;
                    }
                }
                Tok::Word | Tok::Quoted => name = tok.text,
                Tok::SysVar => {
                    name = tok.text;
                    if let Some(dot) = name.iter().position(|&b| b == b'.') {
                        let prefix = &name[..dot];
                        if prefix.eq_ignore_ascii_case(b"global")
                            || prefix.eq_ignore_ascii_case(b"persist")
                            || prefix.eq_ignore_ascii_case(b"persist_only")
                        {
                            scope = Scope::Global;
                        }
                        name = &name[dot + 1..];
                    }
                }
                Tok::UserVar => {}
                _ => return StatementKind::Unknown,
            }
            if scope == Scope::Global {
                global = true;
            }
            let is = |s: &[u8]| name.eq_ignore_ascii_case(s);
            let assigned =
                self.t.eat_punct(b'=') || self.t.peek().is_some_and(|t| t.kind == Tok::Assign);
            if assigned && self.t.peek().is_some_and(|t| t.kind == Tok::Assign) {
                self.t.next();
            }
            let value = self.value();
            if assigned && is(b"autocommit") {
                autocommit = value.and_then(|v| bool_value(&v, true));
            } else if assigned && (is(b"transaction_read_only") || is(b"tx_read_only")) {
                trx = value
                    .and_then(|v| bool_value(&v, false))
                    .map(|ro| (ro, TransactionScope::Session));
            }
            if !self.t.eat_punct(b',') {
                break;
            }
        }
        if assignments == 0 {
            StatementKind::Unknown
        } else if global || write {
            StatementKind::Write
        } else if let Some(on) = autocommit {
            StatementKind::SetAutocommit(on)
        } else if let Some((read_only, scope)) = trx {
            StatementKind::SetTransactionReadOnly { read_only, scope }
        } else {
            StatementKind::SessionCommand
        }
    }

    /// Consumes an expression up to `,` or `;` outside parentheses; returns its token if it
    /// is a single one. A call of anything but a pure built-in sets
    /// [`Flags::SET_CALLS_FUNCTION`].
    fn value(&mut self) -> Option<Token<'a>> {
        let mut depth = 0i32;
        let mut first = None;
        let mut count = 0;
        let mut after_dot = false;
        while let Some(tok) = self.t.peek() {
            if tok.is_punct(b';') || depth == 0 && tok.is_punct(b',') {
                break;
            }
            self.t.next();
            if tok.is_punct(b'(') {
                depth += 1;
            } else if tok.is_punct(b')') {
                depth -= 1;
            }
            let call = self.t.peek().is_some_and(|t| t.is_punct(b'('));
            let mut buf = [0; 32];
            let class = match tok.kind {
                Tok::Word if call && !after_dot => tok
                    .upper(&mut buf)
                    .map_or(FuncClass::Stored, function_class),
                Tok::Word | Tok::Quoted if call => FuncClass::Stored,
                Tok::Word if tok.is(b"NEXT") || tok.is(b"PREVIOUS") => {
                    if self.t.eat(b"VALUE") {
                        FuncClass::SideEffect
                    } else {
                        FuncClass::Pure
                    }
                }
                Tok::SysVar => sysvar_class(tok.text),
                _ => FuncClass::Pure,
            };
            if class != FuncClass::Pure {
                self.flags |= Flags::SET_CALLS_FUNCTION;
            }
            after_dot = tok.is_punct(b'.');
            count += 1;
            first.get_or_insert(tok);
        }
        if count == 1 { first } else { None }
    }

    /// `ISOLATION LEVEL …`, `READ ONLY`, `READ WRITE`, comma-separated; returns the access mode.
    fn transaction_characteristics(&mut self) -> Option<bool> {
        let mut read_only = None;
        loop {
            if self.t.eat(b"ISOLATION") {
                self.t.eat(b"LEVEL");
                if self.t.eat(b"READ") {
                    if !self.t.eat(b"COMMITTED") {
                        self.t.eat(b"UNCOMMITTED");
                    }
                } else if self.t.eat(b"REPEATABLE") {
                    self.t.eat(b"READ");
                } else {
                    self.t.eat(b"SERIALIZABLE");
                }
            } else if self.t.eat(b"READ") {
                if self.t.eat(b"ONLY") {
                    read_only = Some(true);
                } else if self.t.eat(b"WRITE") {
                    read_only = Some(false);
                }
            } else {
                return read_only;
            }
            if !self.t.eat_punct(b',') {
                return read_only;
            }
        }
    }

    /// `SET STATEMENT var = value [, …] FOR stmt`: the kind of `stmt`.
    fn set_statement(&mut self) -> StatementKind {
        let mut depth = 0i32;
        while let Some(tok) = self.t.peek() {
            if tok.is_punct(b';') {
                break;
            }
            self.t.next();
            if tok.is_punct(b'(') {
                depth += 1;
            } else if tok.is_punct(b')') {
                depth -= 1;
            } else if depth == 0 && tok.is(b"FOR") {
                if self.nested {
                    return StatementKind::Unknown;
                }
                self.nested = true;
                return self.statement();
            }
        }
        StatementKind::Unknown
    }
}
