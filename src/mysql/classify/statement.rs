//! Statement-level scan: the leading keywords decide the kind, a pass over the remaining
//! tokens collects flags and table names.

mod forms;
mod set;
mod tables;

use super::functions::{FuncClass, function_class, sysvar_class};
use super::lexer::{Tok, Token, Tokens};
use super::{Classification, Flags, StatementKind, Tables};

use StatementKind::{Read, SessionCommand, Unknown, Write};

struct Parser<'a> {
    t: Tokens<'a>,
    flags: Flags,
    tables: Tables<'a>,
    /// Inside `SET STATEMENT … FOR`, which does not nest.
    nested: bool,
}

/// Classifies every statement of `sql`; the first one gives the kind.
pub(super) fn parse(sql: &[u8]) -> Classification<'_> {
    let mut p = Parser {
        t: Tokens::new(sql),
        flags: Flags::empty(),
        tables: Tables::default(),
        nested: false,
    };
    let kind = p.statement();
    loop {
        while p.t.eat_punct(b';') {}
        if p.t.peek().is_none() {
            break;
        }
        p.flags |= Flags::MULTI_STATEMENT;
        let later = p.statement();
        if later != Read {
            p.flags |= Flags::MULTI_WRITE;
        }
        if matches!(
            later,
            StatementKind::Commit
                | StatementKind::Begin { .. }
                | StatementKind::SetAutocommit(true)
                | Unknown
        ) {
            p.flags |= Flags::IMPLICIT_COMMIT;
        }
    }
    if p.t.error() {
        return Classification::unknown();
    }
    Classification {
        kind,
        flags: p.flags,
        hint: p.t.hint(),
        tables: p.tables,
        sql,
    }
}

impl<'a> Parser<'a> {
    /// Classifies one statement and consumes it up to (not including) its `;`.
    fn statement(&mut self) -> StatementKind {
        while self.t.eat_punct(b'(') {}
        let Some(tok) = self.t.peek() else {
            return Unknown;
        };
        if tok.kind != Tok::Word {
            self.scan(Unknown, false);
            return Unknown;
        }
        self.t.next();
        let with = tok.is(b"WITH");
        let kind = if with { Unknown } else { self.leading(tok) };
        self.scan(kind, with)
    }

    /// Decides the kind from the first keyword, consuming the words that matter.
    fn leading(&mut self, tok: Token<'a>) -> StatementKind {
        let mut buf = [0; 32];
        let Some(kw) = tok.upper(&mut buf) else {
            return Unknown;
        };
        match kw {
            b"SELECT" | b"VALUES" | b"HELP" => Read,
            b"TABLE" => {
                self.table_list();
                Read
            }
            b"SHOW" => self.show(),
            b"DESCRIBE" | b"DESC" | b"EXPLAIN" => self.explain(),
            b"ANALYZE" => self.analyze(),
            b"SET" => self.set(),
            b"USE" | b"PREPARE" | b"DEALLOCATE" => SessionCommand,
            b"BEGIN" => {
                if self.t.eat(b"NOT") {
                    Write
                } else {
                    self.t.eat(b"WORK");
                    StatementKind::Begin { read_only: None }
                }
            }
            b"START" => self.start(),
            b"COMMIT" => StatementKind::Commit,
            b"ROLLBACK" => {
                self.t.eat(b"WORK");
                if self.t.peek().is_some_and(|t| t.is(b"TO")) {
                    Write
                } else {
                    StatementKind::Rollback
                }
            }
            b"CREATE" => self.create(),
            b"DROP" => self.drop(),
            b"INSERT" | b"REPLACE" => {
                for m in [
                    &b"LOW_PRIORITY"[..],
                    b"DELAYED",
                    b"HIGH_PRIORITY",
                    b"IGNORE",
                ] {
                    self.t.eat(m);
                }
                self.t.eat(b"INTO");
                self.table_list();
                Write
            }
            b"UPDATE" => {
                self.t.eat(b"LOW_PRIORITY");
                self.t.eat(b"IGNORE");
                self.table_list();
                Write
            }
            b"ALTER" | b"TRUNCATE" | b"RENAME" | b"OPTIMIZE" | b"REPAIR" | b"CHECK"
            | b"CHECKSUM" => {
                if kw != b"CHECKSUM" {
                    self.flags |= Flags::IMPLICIT_COMMIT;
                }
                if self.t.eat(b"TABLE") || self.t.eat(b"TABLES") || kw == b"TRUNCATE" {
                    self.table_list();
                }
                Write
            }
            b"LOCK" => {
                self.flags |= Flags::IMPLICIT_COMMIT;
                if self.t.eat(b"TABLES") || self.t.eat(b"TABLE") {
                    self.flags |= Flags::LOCK_TABLES;
                    self.table_list();
                }
                Write
            }
            b"UNLOCK" => {
                if self.t.eat(b"TABLES") || self.t.eat(b"TABLE") {
                    // Commits only under LOCK TABLES; counted as a commit to be safe.
                    self.flags |= Flags::UNLOCK_TABLES | Flags::IMPLICIT_COMMIT;
                }
                Write
            }
            b"XA" => {
                self.flags |= Flags::XA;
                Write
            }
            b"CALL" => {
                self.flags |= Flags::CALL;
                Write
            }
            b"LOAD" => {
                if self.t.peek().is_some_and(|t| t.is(b"INDEX")) {
                    self.flags |= Flags::IMPLICIT_COMMIT;
                }
                self.load()
            }
            b"GET" => {
                if !self.t.eat(b"CURRENT") {
                    self.t.eat(b"STACKED");
                }
                if self.t.eat(b"DIAGNOSTICS") {
                    self.flags |= Flags::READS_DIAGNOSTICS;
                    Read
                } else {
                    Unknown
                }
            }
            // Statements that commit an open transaction before they run (MariaDB's list of
            // implicit commits; ANALYZE TABLE is in `analyze`, DDL in `create`/`drop`).
            b"GRANT" | b"REVOKE" | b"FLUSH" | b"RESET" | b"INSTALL" | b"UNINSTALL" | b"CACHE"
            | b"CHANGE" | b"STOP" | b"PURGE" => {
                self.flags |= Flags::IMPLICIT_COMMIT;
                Write
            }
            b"DELETE" | b"DO" | b"HANDLER" | b"KILL" | b"SHUTDOWN" | b"BINLOG" | b"EXECUTE"
            | b"IMPORT" | b"CLONE" | b"BACKUP" | b"SIGNAL" | b"RESIGNAL" | b"SAVEPOINT"
            | b"RELEASE" | b"RESTART" => Write,
            _ => Unknown,
        }
    }

    /// Walks the rest of the statement for flags and tables. For `WITH`, the kind is that of
    /// the first statement keyword outside the common table expressions.
    fn scan(&mut self, mut kind: StatementKind, with: bool) -> StatementKind {
        let mut depth = 0i32;
        let mut after_dot = false;
        while let Some(tok) = self.t.peek() {
            if tok.is_punct(b';') {
                break;
            }
            self.t.next();
            let mut buf = [0; 32];
            match tok.kind {
                Tok::Punct(b'(') => depth += 1,
                Tok::Punct(b')') => depth -= 1,
                Tok::UserVar if self.t.peek().is_some_and(|t| t.kind == Tok::Assign) => {
                    self.flags |= Flags::USER_VAR_ASSIGN;
                }
                Tok::SysVar => self.func_flags(sysvar_class(tok.text), kind),
                Tok::Quoted
                    if self.t.peek().is_some_and(|t| t.is_punct(b'('))
                        && !(with && kind == Unknown) =>
                {
                    self.func_flags(FuncClass::Stored, kind);
                }
                Tok::Word => {
                    let kw = tok.upper(&mut buf);
                    if with && kind == Unknown && depth == 0 {
                        kind = match kw {
                            Some(b"SELECT" | b"TABLE" | b"VALUES") => Read,
                            Some(b"UPDATE") => {
                                self.table_list();
                                Write
                            }
                            Some(b"INSERT" | b"DELETE" | b"REPLACE") => Write,
                            _ => Unknown,
                        };
                        continue;
                    }
                    self.word(kw, after_dot, kind);
                }
                _ => {}
            }
            after_dot = tok.is_punct(b'.');
        }
        kind
    }

    fn word(&mut self, kw: Option<&[u8]>, after_dot: bool, kind: StatementKind) {
        match kw {
            Some(b"FOR") => {
                if self.t.eat(b"UPDATE") || self.t.eat(b"SHARE") {
                    self.flags |= Flags::LOCKING_READ;
                }
            }
            Some(b"LOCK") => {
                if self.t.eat(b"IN") {
                    self.flags |= Flags::LOCKING_READ;
                }
            }
            Some(b"INTO") => {
                if kind == Read {
                    self.flags |= Flags::SELECT_INTO;
                    if self.t.peek().is_some_and(|t| t.kind == Tok::UserVar) {
                        self.flags |= Flags::USER_VAR_ASSIGN;
                    }
                } else {
                    self.table_list();
                }
            }
            Some(b"FROM" | b"JOIN" | b"STRAIGHT_JOIN") => self.table_list(),
            Some(b"SQL_CALC_FOUND_ROWS") => self.flags |= Flags::CALC_FOUND_ROWS,
            Some(b"NEXT") => {
                if self.t.eat(b"VALUE") {
                    self.flags |= Flags::SIDE_EFFECT_FUNC;
                }
            }
            Some(b"PREVIOUS") => {
                if self.t.eat(b"VALUE") {
                    self.flags |= Flags::SESSION_FUNC;
                }
            }
            _ => {
                if self.t.peek().is_some_and(|t| t.is_punct(b'(')) {
                    let class = match kw {
                        Some(name) if !after_dot => function_class(name),
                        _ => FuncClass::Stored,
                    };
                    self.func_flags(class, kind);
                }
            }
        }
    }

    fn func_flags(&mut self, class: FuncClass, kind: StatementKind) {
        self.flags |= match class {
            FuncClass::Pure => return,
            FuncClass::SideEffect => Flags::SIDE_EFFECT_FUNC,
            FuncClass::Session => Flags::SESSION_FUNC,
            FuncClass::Diagnostics => Flags::READS_DIAGNOSTICS,
            FuncClass::Stored if kind == Read => Flags::STORED_FUNC,
            FuncClass::Stored => return,
        };
    }
}
