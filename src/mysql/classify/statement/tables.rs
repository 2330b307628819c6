//! Table references: the names after `FROM`, `JOIN`, `INTO`, `UPDATE`, `TABLE`.

use super::super::lexer::{Tok, Token};
use super::Parser;

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
    /// A possibly qualified table name; returns its last part.
    pub(super) fn table_name(&mut self) -> Option<&'a [u8]> {
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
    pub(super) fn table_list(&mut self) {
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
}
