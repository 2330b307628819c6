//! Statement-level scan: the leading keywords decide the kind, a pass over the remaining
//! tokens collects flags and table names.

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
        p.statement();
    }
    if p.t.error() {
        return Classification::unknown();
    }
    Classification {
        kind,
        flags: p.flags,
        hint: p.t.hint(),
        tables: p.tables,
    }
}

/// Words that end a table reference rather than alias it.
fn is_clause_word(tok: &Token) -> bool {
    let mut buf = [0; 32];
    matches!(
        tok.upper(&mut buf),
        Some(
            b"WHERE"
                | b"GROUP"
                | b"ORDER"
                | b"LIMIT"
                | b"HAVING"
                | b"FOR"
                | b"LOCK"
                | b"INTO"
                | b"JOIN"
                | b"LEFT"
                | b"RIGHT"
                | b"INNER"
                | b"CROSS"
                | b"NATURAL"
                | b"STRAIGHT_JOIN"
                | b"FULL"
                | b"OUTER"
                | b"ON"
                | b"USING"
                | b"UNION"
                | b"EXCEPT"
                | b"INTERSECT"
                | b"MINUS"
                | b"WINDOW"
                | b"SET"
                | b"VALUES"
                | b"VALUE"
                | b"SELECT"
                | b"PARTITION"
                | b"USE"
                | b"FORCE"
                | b"IGNORE"
                | b"PROCEDURE"
                | b"RETURNING"
                | b"FETCH"
                | b"OFFSET"
                | b"WITH"
                | b"TO"
                | b"IF"
                | b"AS"
                | b"READ"
                | b"WRITE"
                | b"LOW_PRIORITY"
                | b"DUAL"
                | b"DEFAULT"
                | b"TABLE"
        )
    )
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
                if self.t.eat(b"TABLE") || self.t.eat(b"TABLES") || kw == b"TRUNCATE" {
                    self.table_list();
                }
                Write
            }
            b"LOCK" => {
                if self.t.eat(b"TABLES") || self.t.eat(b"TABLE") {
                    self.flags |= Flags::LOCK_TABLES;
                    self.table_list();
                }
                Write
            }
            b"UNLOCK" => {
                if self.t.eat(b"TABLES") || self.t.eat(b"TABLE") {
                    self.flags |= Flags::UNLOCK_TABLES;
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
            b"LOAD" => self.load(),
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
            b"DELETE" | b"GRANT" | b"REVOKE" | b"DO" | b"HANDLER" | b"FLUSH" | b"RESET"
            | b"PURGE" | b"INSTALL" | b"UNINSTALL" | b"KILL" | b"SHUTDOWN" | b"BINLOG"
            | b"CACHE" | b"EXECUTE" | b"IMPORT" | b"CLONE" | b"BACKUP" | b"CHANGE" | b"STOP"
            | b"SIGNAL" | b"RESIGNAL" | b"SAVEPOINT" | b"RELEASE" | b"RESTART" => Write,
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

    /// A possibly qualified table name; returns its last part.
    fn table_name(&mut self) -> Option<&'a [u8]> {
        let tok = self.t.peek()?;
        match tok.kind {
            Tok::Word if !is_clause_word(&tok) => {}
            Tok::Quoted => {}
            _ => return None,
        }
        self.t.next();
        let mut name = tok.text;
        while self.t.eat_punct(b'.') {
            match self.t.peek() {
                Some(t) if matches!(t.kind, Tok::Word | Tok::Quoted) => {
                    self.t.next();
                    name = t.text;
                }
                _ => break,
            }
        }
        Some(name)
    }

    /// `name [[AS] alias] [, name …]`, as after `FROM` or in `DROP TABLE`.
    fn table_list(&mut self) {
        while let Some(name) = self.table_name() {
            self.tables.push(name);
            if self.t.eat(b"AS") {
                self.t.next();
            } else if let Some(tok) = self.t.peek()
                && (tok.kind == Tok::Quoted || tok.kind == Tok::Word && !is_clause_word(&tok))
            {
                self.t.next();
            }
            if self.t.eat(b"READ") {
                self.t.eat(b"LOCAL");
            } else {
                self.t.eat(b"LOW_PRIORITY");
                self.t.eat(b"WRITE");
            }
            if !self.t.eat_punct(b',') {
                return;
            }
        }
    }

    fn show(&mut self) -> StatementKind {
        let mut buf = [0; 32];
        let Some(tok) = self.t.next() else {
            return Unknown;
        };
        let master_only = match tok.upper(&mut buf) {
            Some(b"MASTER" | b"BINARY") => {
                self.t.eat(b"STATUS") || self.t.eat(b"LOGS") || self.t.eat(b"LOG")
            }
            Some(b"SLAVE" | b"REPLICA") => self.t.eat(b"STATUS") || self.t.eat(b"HOSTS"),
            Some(b"ALL") => self.t.eat(b"SLAVES") || self.t.eat(b"REPLICAS"),
            Some(b"REPLICAS" | b"BINLOG" | b"RELAYLOG") => true,
            Some(b"WARNINGS" | b"ERRORS") => {
                self.flags |= Flags::READS_DIAGNOSTICS;
                false
            }
            Some(b"COUNT") => {
                while self.t.next().is_some_and(|t| !t.is_punct(b')')) {}
                if self.t.eat(b"WARNINGS") || self.t.eat(b"ERRORS") {
                    self.flags |= Flags::READS_DIAGNOSTICS;
                }
                false
            }
            Some(b"CREATE") => {
                if self.t.eat(b"TABLE") || self.t.eat(b"VIEW") || self.t.eat(b"SEQUENCE") {
                    self.table_list();
                }
                false
            }
            _ => false,
        };
        if master_only {
            self.flags |= Flags::MASTER_ONLY;
        }
        Read
    }

    /// `EXPLAIN`/`DESCRIBE` of a table or of a statement; `EXPLAIN ANALYZE` runs it.
    fn explain(&mut self) -> StatementKind {
        let Some(tok) = self.t.peek() else {
            return Unknown;
        };
        if tok.is(b"ANALYZE") {
            self.t.next();
            return self.analyze();
        }
        let mut buf = [0; 32];
        match tok.upper(&mut buf) {
            Some(
                b"SELECT" | b"WITH" | b"TABLE" | b"VALUES" | b"INSERT" | b"UPDATE" | b"DELETE"
                | b"REPLACE" | b"FORMAT" | b"EXTENDED" | b"PARTITIONS" | b"FOR",
            ) => {}
            _ if tok.is_punct(b'(') => {}
            _ => {
                if let Some(name) = self.table_name() {
                    self.tables.push(name);
                }
            }
        }
        Read
    }

    /// `ANALYZE [FORMAT=…] stmt` executes `stmt`; `ANALYZE TABLE` updates statistics.
    fn analyze(&mut self) -> StatementKind {
        if self.t.eat(b"FORMAT") {
            self.t.eat_punct(b'=');
            self.t.next();
        }
        match self.t.peek() {
            Some(t) if t.is(b"SELECT") || t.is(b"WITH") || t.is(b"TABLE") => {
                if t.is(b"TABLE") {
                    self.t.next();
                    self.table_list();
                    return Write;
                }
                Read
            }
            Some(t) if t.is_punct(b'(') => Read,
            _ => Write,
        }
    }

    fn start(&mut self) -> StatementKind {
        if !self.t.eat(b"TRANSACTION") {
            return Write;
        }
        let mut read_only = None;
        loop {
            if self.t.eat(b"READ") {
                if self.t.eat(b"ONLY") {
                    read_only = Some(true);
                } else if self.t.eat(b"WRITE") {
                    read_only = Some(false);
                } else {
                    return Unknown;
                }
            } else if self.t.eat(b"WITH") {
                if !(self.t.eat(b"CONSISTENT") && self.t.eat(b"SNAPSHOT")) {
                    return Unknown;
                }
            } else if !self.t.eat_punct(b',') {
                break;
            }
        }
        StatementKind::Begin { read_only }
    }

    fn create(&mut self) -> StatementKind {
        if self.t.eat(b"OR") {
            self.t.eat(b"REPLACE");
        }
        let temporary = self.t.eat(b"TEMPORARY");
        if self.t.eat(b"TABLE") || self.t.eat(b"SEQUENCE") {
            if self.t.eat(b"IF") {
                self.t.eat(b"NOT");
                self.t.eat(b"EXISTS");
            }
            if let Some(name) = self.table_name() {
                self.tables.push(name);
                if temporary {
                    self.flags |= Flags::TEMP_TABLE_CREATE;
                }
            }
        }
        Write
    }

    fn drop(&mut self) -> StatementKind {
        if self.t.eat(b"PREPARE") {
            return SessionCommand;
        }
        let temporary = self.t.eat(b"TEMPORARY");
        if self.t.eat(b"TABLE") || self.t.eat(b"TABLES") || self.t.eat(b"SEQUENCE") {
            if self.t.eat(b"IF") {
                self.t.eat(b"EXISTS");
            }
            self.table_list();
            self.flags |= if temporary {
                Flags::TEMP_TABLE_DROP
            } else {
                Flags::DROP_TABLE
            };
        }
        Write
    }

    fn load(&mut self) -> StatementKind {
        if self.t.eat(b"DATA") || self.t.eat(b"XML") {
            while let Some(tok) = self.t.peek() {
                if tok.is(b"INFILE") || tok.is_punct(b';') {
                    break;
                }
                self.t.next();
                if tok.is(b"LOCAL") {
                    self.flags |= Flags::LOAD_DATA_LOCAL;
                }
            }
        }
        Write
    }
}

mod set;
