//! SQL statement classifier for read/write splitting: a tokenizer-level scan (not a parser)
//! that says what a statement is, what pins it to the master, and which hint it carries.
//!
//! [`classify`] is pure and allocation-free; [`route`] turns a [`Classification`] and the
//! session's state into a [`Route`] following MaxScale's readwritesplit rules.

mod assigned;
mod functions;
mod hint;
mod history_key;
mod kill;
mod lexer;
mod locks;
mod prepare;
mod route;
mod statement;
#[cfg(test)]
mod tests;

pub use assigned::{AssignedVar, assigned_vars};
pub use hint::Hint;
pub use history_key::{HistoryKey, history_key};
pub use kill::{Kill, kill_target};
pub use locks::{LockCall, lock_calls};
pub use prepare::{TextPrepare, text_execute, text_prepare};
pub use route::{NoTempTables, Route, SessionContext, TempTables, route};

/// What a statement does, as far as routing is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatementKind {
    /// `SELECT`, `SHOW`, `DESCRIBE`, `EXPLAIN`, `TABLE`, `VALUES`, `WITH … SELECT`,
    /// `GET DIAGNOSTICS`, `HELP`: may run on a reader unless a flag says otherwise.
    Read,
    /// DML, DDL and every other statement that changes state on the server.
    Write,
    /// Changes only session state (`SET`, `USE`, `PREPARE`, `DEALLOCATE`): runs everywhere.
    SessionCommand,
    /// `BEGIN` / `START TRANSACTION`; `read_only` is the access mode if the statement names one.
    Begin {
        /// `Some(true)` for `READ ONLY`, `Some(false)` for `READ WRITE`, `None` if unstated.
        read_only: Option<bool>,
    },
    /// `COMMIT`.
    Commit,
    /// `ROLLBACK` (not `ROLLBACK TO SAVEPOINT`, which is a [`StatementKind::Write`]).
    Rollback,
    /// `SET autocommit = 0|1` in any of its spellings.
    SetAutocommit(bool),
    /// `SET [SESSION] TRANSACTION READ ONLY|READ WRITE` or `SET transaction_read_only = …`.
    SetTransactionReadOnly {
        /// The access mode being set.
        read_only: bool,
        /// Whether it applies to the next transaction only or to the whole session.
        scope: TransactionScope,
    },
    /// Empty, unparseable or unrecognised: must go to the master.
    Unknown,
}

/// How long a `SET … TRANSACTION` access mode lasts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransactionScope {
    /// `SET TRANSACTION …`: the next transaction only.
    Next,
    /// `SET SESSION TRANSACTION …`, `SET transaction_read_only = …`: until changed.
    Session,
}

/// Properties of a statement that constrain where it may run; a small bit set.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub struct Flags(u32);

impl Flags {
    /// `SELECT … FOR UPDATE`, `FOR SHARE`, `LOCK IN SHARE MODE`.
    pub const LOCKING_READ: Flags = Flags(1);
    /// `SELECT … INTO` (variables, `OUTFILE`, `DUMPFILE`).
    pub const SELECT_INTO: Flags = Flags(1 << 1);
    /// Calls a function that changes server state (`GET_LOCK`, `NEXTVAL`, `NEXT VALUE FOR` …).
    pub const SIDE_EFFECT_FUNC: Flags = Flags(1 << 2);
    /// Reads connection state kept on the master (`LAST_INSERT_ID()`, `LASTVAL()`, `@@identity` …).
    pub const SESSION_FUNC: Flags = Flags(1 << 3);
    /// Calls a function that is not a known built-in: a stored function, which may write.
    pub const STORED_FUNC: Flags = Flags(1 << 4);
    /// Assigns a user variable (`@x := …`, `SELECT … INTO @x`).
    pub const USER_VAR_ASSIGN: Flags = Flags(1 << 5);
    /// `CREATE TEMPORARY TABLE`; the created table is the first of [`Classification::tables`].
    pub const TEMP_TABLE_CREATE: Flags = Flags(1 << 6);
    /// `DROP TEMPORARY TABLE`; the dropped tables are in [`Classification::tables`].
    pub const TEMP_TABLE_DROP: Flags = Flags(1 << 7);
    /// `DROP TABLE` without `TEMPORARY`: drops a temporary table of that name if one exists.
    pub const DROP_TABLE: Flags = Flags(1 << 8);
    /// More than one statement in the packet.
    pub const MULTI_STATEMENT: Flags = Flags(1 << 9);
    /// `CALL`.
    pub const CALL: Flags = Flags(1 << 10);
    /// `LOAD DATA LOCAL INFILE` / `LOAD XML LOCAL INFILE`: the client will send a file.
    pub const LOAD_DATA_LOCAL: Flags = Flags(1 << 11);
    /// `XA …`.
    pub const XA: Flags = Flags(1 << 12);
    /// `LOCK TABLES`.
    pub const LOCK_TABLES: Flags = Flags(1 << 13);
    /// `UNLOCK TABLES`.
    pub const UNLOCK_TABLES: Flags = Flags(1 << 14);
    /// Reads the previous statement's outcome: `SHOW WARNINGS|ERRORS`, `GET DIAGNOSTICS`,
    /// `@@warning_count`, `@@error_count`, `ROW_COUNT()`, `FOUND_ROWS()`.
    pub const READS_DIAGNOSTICS: Flags = Flags(1 << 15);
    /// Asks about the master itself: `SHOW MASTER STATUS`, `SHOW SLAVE STATUS`, `SHOW BINLOG …`.
    pub const MASTER_ONLY: Flags = Flags(1 << 16);
    /// A statement after the first of a multi-statement packet may change data.
    pub const MULTI_WRITE: Flags = Flags(1 << 17);
    /// Commits an open transaction before it runs (DDL, `LOCK TABLES`, `GRANT`, `FLUSH` …).
    pub const IMPLICIT_COMMIT: Flags = Flags(1 << 18);
    /// A `SET` whose value calls a function that is not a pure built-in (a stored function,
    /// `GET_LOCK`, `NEXTVAL`, `LAST_INSERT_ID` …): it must run once, on the master.
    pub const SET_CALLS_FUNCTION: Flags = Flags(1 << 19);
    /// `SELECT SQL_CALC_FOUND_ROWS …`: a `FOUND_ROWS()` that follows reads this statement's
    /// count, on the same connection.
    pub const CALC_FOUND_ROWS: Flags = Flags(1 << 20);

    /// Flags that keep a read on the master.
    pub const PINS_TO_MASTER: Flags = Flags(
        Self::LOCKING_READ.0
            | Self::SELECT_INTO.0
            | Self::SIDE_EFFECT_FUNC.0
            | Self::SESSION_FUNC.0
            | Self::STORED_FUNC.0
            | Self::USER_VAR_ASSIGN.0
            | Self::TEMP_TABLE_CREATE.0
            | Self::TEMP_TABLE_DROP.0
            | Self::MULTI_STATEMENT.0
            | Self::CALL.0
            | Self::LOAD_DATA_LOCAL.0
            | Self::XA.0
            | Self::LOCK_TABLES.0
            | Self::UNLOCK_TABLES.0
            | Self::MASTER_ONLY.0,
    );

    /// Flags of a read that may still change data, so that it must not run twice.
    pub const READ_MAY_WRITE: Flags = Flags(
        Self::SIDE_EFFECT_FUNC.0
            | Self::STORED_FUNC.0
            | Self::SELECT_INTO.0
            | Self::MULTI_WRITE.0
            | Self::CALL.0
            | Self::LOAD_DATA_LOCAL.0
            | Self::XA.0,
    );

    const NAMES: [&'static str; 21] = [
        "LOCKING_READ",
        "SELECT_INTO",
        "SIDE_EFFECT_FUNC",
        "SESSION_FUNC",
        "STORED_FUNC",
        "USER_VAR_ASSIGN",
        "TEMP_TABLE_CREATE",
        "TEMP_TABLE_DROP",
        "DROP_TABLE",
        "MULTI_STATEMENT",
        "CALL",
        "LOAD_DATA_LOCAL",
        "XA",
        "LOCK_TABLES",
        "UNLOCK_TABLES",
        "READS_DIAGNOSTICS",
        "MASTER_ONLY",
        "MULTI_WRITE",
        "IMPLICIT_COMMIT",
        "SET_CALLS_FUNCTION",
        "CALC_FOUND_ROWS",
    ];

    /// No flag set.
    pub const fn empty() -> Flags {
        Flags(0)
    }

    /// Whether every flag of `other` is set.
    pub const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether any flag of `other` is set.
    pub const fn intersects(self, other: Flags) -> bool {
        self.0 & other.0 != 0
    }

    /// Whether no flag is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Both sets of flags.
    pub const fn union(self, other: Flags) -> Flags {
        Flags(self.0 | other.0)
    }

    /// Sets every flag of `other`.
    pub fn insert(&mut self, other: Flags) {
        self.0 |= other.0;
    }
}

impl std::ops::BitOr for Flags {
    type Output = Flags;
    fn bitor(self, rhs: Flags) -> Flags {
        Flags(self.0 | rhs.0)
    }
}

impl std::ops::BitOrAssign for Flags {
    fn bitor_assign(&mut self, rhs: Flags) {
        self.0 |= rhs.0;
    }
}

impl std::fmt::Debug for Flags {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut set = f.debug_set();
        for (i, name) in Self::NAMES.iter().enumerate() {
            if self.0 & (1 << i) != 0 {
                set.entry(&format_args!("{name}"));
            }
        }
        set.finish()
    }
}

/// Up to [`Tables::CAPACITY`] table names a statement mentions, without schema or quotes.
///
/// Best effort, for matching against the session's temporary tables: names after `FROM`,
/// `JOIN`, `INTO`, `UPDATE`, `TABLE`, `DESCRIBE`. When more are seen, `overflowed` is set.
#[derive(Clone, Copy, Default)]
pub struct Tables<'a> {
    names: [&'a [u8]; Tables::CAPACITY],
    len: u8,
    overflowed: bool,
}

impl<'a> Tables<'a> {
    /// How many names are kept.
    pub const CAPACITY: usize = 8;

    pub(crate) fn push(&mut self, name: &'a [u8]) {
        if self.names[..self.len as usize]
            .iter()
            .any(|n| n.eq_ignore_ascii_case(name))
        {
            return;
        }
        match self.names.get_mut(self.len as usize) {
            Some(slot) => {
                *slot = name;
                self.len += 1;
            }
            None => self.overflowed = true,
        }
    }

    /// The names seen, in order of first appearance.
    pub fn as_slice(&self) -> &[&'a [u8]] {
        &self.names[..self.len as usize]
    }

    /// Whether more names were seen than kept.
    pub fn overflowed(&self) -> bool {
        self.overflowed
    }

    /// Whether `name` is among them, ignoring ASCII case.
    pub fn contains(&self, name: &[u8]) -> bool {
        self.as_slice().iter().any(|n| n.eq_ignore_ascii_case(name))
    }
}

impl std::fmt::Debug for Tables<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut list = f.debug_list();
        for n in self.as_slice() {
            list.entry(&String::from_utf8_lossy(n));
        }
        if self.overflowed {
            list.entry(&"…");
        }
        list.finish()
    }
}

/// Everything the router needs to know about one SQL statement; borrows from its text.
#[derive(Clone, Copy, Debug)]
pub struct Classification<'a> {
    /// What the (first) statement does.
    pub kind: StatementKind,
    /// What keeps it on the master or on the previous backend.
    pub flags: Flags,
    /// The first routing hint found in a comment.
    pub hint: Option<Hint<'a>>,
    /// Tables mentioned, for temporary-table tracking.
    pub tables: Tables<'a>,
    /// The text classified (empty for [`Classification::unknown`]).
    pub sql: &'a [u8],
}

impl Classification<'_> {
    /// An unclassifiable statement: goes to the master.
    pub fn unknown() -> Self {
        Classification {
            kind: StatementKind::Unknown,
            flags: Flags::empty(),
            hint: None,
            tables: Tables::default(),
            sql: &[],
        }
    }

    /// Whether running the packet may change data outside an open transaction: then it must
    /// never run a second time after its reply was lost. Unknown statements may; a read may
    /// when it calls a stored function, locks or writes a file (see [`Flags::READ_MAY_WRITE`]);
    /// every statement of a multi-statement packet counts.
    pub fn may_write(&self) -> bool {
        use StatementKind as K;
        let later = self.flags.contains(Flags::MULTI_WRITE);
        match self.kind {
            K::Read => self.flags.intersects(Flags::READ_MAY_WRITE),
            K::SessionCommand | K::SetAutocommit(_) | K::SetTransactionReadOnly { .. } => {
                later || self.flags.contains(Flags::SET_CALLS_FUNCTION)
            }
            K::Begin { .. } | K::Rollback | K::Commit => later,
            K::Write | K::Unknown => true,
        }
    }

    /// Whether running it inside an open transaction commits that transaction: `COMMIT`, a
    /// `BEGIN` (which commits the open one first), `SET autocommit = 1`, and the statements
    /// that commit implicitly (DDL, `LOCK TABLES`, `GRANT` …; see [`Flags::IMPLICIT_COMMIT`]).
    /// Unknown statements count: they might.
    pub fn commits(&self) -> bool {
        use StatementKind as K;
        matches!(
            self.kind,
            K::Commit | K::Begin { .. } | K::SetAutocommit(true) | K::Unknown
        ) || self.flags.contains(Flags::IMPLICIT_COMMIT)
    }
}

/// Classifies the text of one `COM_QUERY` (or `COM_STMT_PREPARE`) packet.
///
/// Never fails: empty input, invalid UTF-8, unterminated strings or comments and anything
/// unrecognised give [`StatementKind::Unknown`].
pub fn classify(sql: &[u8]) -> Classification<'_> {
    if std::str::from_utf8(sql).is_err() {
        return Classification::unknown();
    }
    statement::parse(sql)
}
