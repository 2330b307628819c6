//! Statements whose kind depends on the words after the first: `SHOW`, `EXPLAIN`,
//! `ANALYZE`, `START`, `CREATE`, `DROP`, `LOAD`.

use super::super::{Flags, StatementKind};
use super::Parser;

use StatementKind::{Read, SessionCommand, Unknown, Write};

impl Parser<'_> {
    pub(super) fn show(&mut self) -> StatementKind {
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
    pub(super) fn explain(&mut self) -> StatementKind {
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
    pub(super) fn analyze(&mut self) -> StatementKind {
        if self.t.eat(b"FORMAT") {
            self.t.eat_punct(b'=');
            self.t.next();
        }
        match self.t.peek() {
            Some(t) if t.is(b"SELECT") || t.is(b"WITH") || t.is(b"TABLE") => {
                if t.is(b"TABLE") {
                    self.t.next();
                    self.table_list();
                    self.flags |= Flags::IMPLICIT_COMMIT;
                    return Write;
                }
                Read
            }
            Some(t) if t.is_punct(b'(') => Read,
            _ => Write,
        }
    }

    pub(super) fn start(&mut self) -> StatementKind {
        if !self.t.eat(b"TRANSACTION") {
            // START SLAVE / REPLICA commit an open transaction.
            self.flags |= Flags::IMPLICIT_COMMIT;
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

    pub(super) fn create(&mut self) -> StatementKind {
        if self.t.eat(b"OR") {
            self.t.eat(b"REPLACE");
        }
        let temporary = self.t.eat(b"TEMPORARY");
        if !temporary {
            // Every CREATE but CREATE TEMPORARY TABLE commits an open transaction.
            self.flags |= Flags::IMPLICIT_COMMIT;
        }
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

    pub(super) fn drop(&mut self) -> StatementKind {
        if self.t.eat(b"PREPARE") {
            return SessionCommand;
        }
        let temporary = self.t.eat(b"TEMPORARY");
        if !temporary {
            self.flags |= Flags::IMPLICIT_COMMIT;
        }
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

    pub(super) fn load(&mut self) -> StatementKind {
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
