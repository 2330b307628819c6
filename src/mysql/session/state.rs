//! What a session knows for routing (no I/O): transaction state from the servers' status flags,
//! access mode set for the next transactions, table locks, temporary tables, whether it wrote,
//! and where the previous statement ran.

use super::super::classify::{
    Classification, Flags, LockCall, SessionContext, StatementKind, lock_calls,
};
use super::super::packets::StatusFlags;
use super::Target;

/// Routing state of one session.
#[derive(Debug, Clone)]
pub struct RouteState {
    /// Status flags of the master's last reply.
    pub master_status: StatusFlags,
    /// Status flags of the reader's last reply.
    pub reader_status: StatusFlags,
    /// A read-only transaction is open on the reader.
    pub ro_trx: bool,
    /// `SET TRANSACTION READ ONLY`: the next transaction is read-only.
    pub next_trx_read_only: bool,
    /// `SET SESSION TRANSACTION READ ONLY`: every transaction is.
    pub session_read_only: bool,
    /// `LOCK TABLES` is in effect.
    pub tables_locked: bool,
    /// Temporary tables the session created (as written, compared ignoring case).
    pub temp_tables: Vec<Vec<u8>>,
    /// Named locks taken with `GET_LOCK('name')` and not released.
    pub named_locks: Vec<Vec<u8>>,
    /// A `GET_LOCK` with a computed name ran (held until `RELEASE_ALL_LOCKS()`).
    pub unnamed_lock: bool,
    /// A variable the session set on the master could not be read back for the history: only
    /// the master connection has it.
    pub vars_on_master_only: bool,
    /// The session wrote something (causal reads wait for it from then on).
    pub wrote: bool,
    /// Where the previous statement ran.
    pub last: Target,
}

impl RouteState {
    /// The state after login, with the master's status flags.
    pub fn new(master_status: StatusFlags) -> RouteState {
        RouteState {
            master_status,
            reader_status: StatusFlags::SERVER_STATUS_AUTOCOMMIT,
            ro_trx: false,
            next_trx_read_only: false,
            session_read_only: false,
            tables_locked: false,
            temp_tables: Vec::new(),
            named_locks: Vec::new(),
            unnamed_lock: false,
            vars_on_master_only: false,
            wrote: false,
            last: Target::Master,
        }
    }

    /// A transaction is open on the master.
    pub fn in_master_trx(&self) -> bool {
        self.master_status
            .contains(StatusFlags::SERVER_STATUS_IN_TRANS)
    }

    /// What the classifier's router needs.
    pub fn context(&self) -> SessionContext<'_> {
        SessionContext {
            in_transaction: self.ro_trx || self.in_master_trx(),
            read_only_transaction: self.ro_trx,
            autocommit: self
                .master_status
                .contains(StatusFlags::SERVER_STATUS_AUTOCOMMIT),
            next_transaction_read_only: self.next_trx_read_only || self.session_read_only,
            tables_locked: self.tables_locked,
            temp_tables: &self.temp_tables,
        }
    }

    /// Whether the session holds something on its master connection that no other connection
    /// can be given (the history restores the rest).
    pub fn holds_master_state(&self) -> bool {
        !self.temp_tables.is_empty()
            || self.tables_locked
            || !self.named_locks.is_empty()
            || self.unnamed_lock
            || self.vars_on_master_only
    }

    /// What the session holds on its master connection that no other connection can be given
    /// (the history restores the rest), for the error a client gets when that connection is
    /// lost. Empty when the session can move.
    pub fn master_only_state(&self) -> Vec<String> {
        let mut held = Vec::new();
        if !self.temp_tables.is_empty() {
            let names: Vec<String> = self
                .temp_tables
                .iter()
                .map(|t| String::from_utf8_lossy(t).into_owned())
                .collect();
            held.push(format!("temporary tables {}", names.join(", ")));
        }
        if self.tables_locked {
            held.push("table locks (LOCK TABLES)".into());
        }
        if !self.named_locks.is_empty() {
            let names: Vec<String> = self
                .named_locks
                .iter()
                .map(|n| format!("'{}'", String::from_utf8_lossy(n)))
                .collect();
            held.push(format!("named locks {}", names.join(", ")));
        }
        if self.unnamed_lock {
            held.push("named locks (GET_LOCK)".into());
        }
        if self.vars_on_master_only {
            held.push("variables set by a function".into());
        }
        held
    }

    /// Follows the named locks a statement that ran (successfully) takes and releases.
    fn track_locks(&mut self, sql: &[u8]) {
        for call in lock_calls(sql) {
            match call {
                LockCall::Get(n) => {
                    if !self.named_locks.iter().any(|h| h.eq_ignore_ascii_case(&n)) {
                        self.named_locks.push(n);
                    }
                }
                LockCall::GetUnnamed => self.unnamed_lock = true,
                LockCall::Release(n) => self.named_locks.retain(|h| !h.eq_ignore_ascii_case(&n)),
                LockCall::ReleaseAll => {
                    self.named_locks.clear();
                    self.unnamed_lock = false;
                }
            }
        }
    }

    /// Records the reply's status flags of a backend.
    pub fn status_of(&mut self, target: Target, status: StatusFlags) {
        match target {
            Target::Master => self.master_status = status,
            Target::Reader => {
                self.reader_status = status;
                self.ro_trx = status.contains(StatusFlags::SERVER_STATUS_IN_TRANS);
            }
        }
    }

    /// Updates the state after `c` ran on `target`; `ok` if the reply was not an error.
    pub fn after(&mut self, c: &Classification, target: Target, ok: bool) {
        use StatementKind as K;
        self.last = target;
        if !ok {
            return;
        }
        match c.kind {
            K::Begin { .. } => {
                self.next_trx_read_only = false;
                self.tables_locked = false;
            }
            K::Commit | K::Rollback => self.tables_locked = false,
            K::SetTransactionReadOnly { read_only, scope } => match scope {
                super::super::classify::TransactionScope::Next => {
                    self.next_trx_read_only = read_only
                }
                super::super::classify::TransactionScope::Session => {
                    self.session_read_only = read_only
                }
            },
            _ => {}
        }
        let f = c.flags;
        if f.intersects(Flags::SIDE_EFFECT_FUNC.union(Flags::SET_CALLS_FUNCTION)) {
            self.track_locks(c.sql);
        }
        if f.contains(Flags::LOCK_TABLES) {
            self.tables_locked = true;
        }
        if f.contains(Flags::UNLOCK_TABLES) {
            self.tables_locked = false;
        }
        if f.contains(Flags::TEMP_TABLE_CREATE) {
            if let Some(t) = c.tables.as_slice().first()
                && !self.temp_tables.iter().any(|x| x.eq_ignore_ascii_case(t))
            {
                self.temp_tables.push(t.to_vec());
            }
        } else if f.intersects(Flags::TEMP_TABLE_DROP.union(Flags::DROP_TABLE)) {
            let dropped = c.tables;
            self.temp_tables.retain(|t| !dropped.contains(t));
        }
        let writes = !matches!(
            c.kind,
            K::Read
                | K::SessionCommand
                | K::SetAutocommit(_)
                | K::SetTransactionReadOnly { .. }
                | K::Begin { .. }
                | K::Rollback
        );
        if target == Target::Master && writes {
            self.wrote = true;
        }
    }

    /// Forgets what a COM_RESET_CONNECTION / COM_CHANGE_USER resets on the server.
    pub fn reset(&mut self, master_status: StatusFlags) {
        *self = RouteState::new(master_status);
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::classify::{Route, classify, route};
    use super::*;

    const AUTOCOMMIT: StatusFlags = StatusFlags::SERVER_STATUS_AUTOCOMMIT;

    fn in_trans() -> StatusFlags {
        AUTOCOMMIT | StatusFlags::SERVER_STATUS_IN_TRANS
    }

    /// Routes `sql`, then records it as run with the reply status `status`.
    fn run(s: &mut RouteState, sql: &'static str, status: StatusFlags) -> Route<'static> {
        let c = classify(sql.as_bytes());
        let r = route(&c, &s.context());
        let target = match r {
            Route::Reader => Target::Reader,
            Route::LastUsed => s.last,
            _ => Target::Master,
        };
        s.status_of(target, status);
        s.after(&c, target, true);
        r
    }

    #[test]
    fn read_only_transaction_lives_on_the_reader() {
        let mut s = RouteState::new(AUTOCOMMIT);
        assert_eq!(run(&mut s, "SELECT 1", AUTOCOMMIT), Route::Reader);
        assert_eq!(
            run(&mut s, "START TRANSACTION READ ONLY", in_trans()),
            Route::Reader
        );
        assert!(s.ro_trx);
        assert_eq!(run(&mut s, "SELECT 2", in_trans()), Route::LastUsed);
        assert_eq!(s.last, Target::Reader);
        assert_eq!(run(&mut s, "COMMIT", AUTOCOMMIT), Route::LastUsed);
        assert!(!s.ro_trx);
        assert_eq!(
            run(&mut s, "INSERT INTO t VALUES (1)", AUTOCOMMIT),
            Route::Master
        );
        assert!(s.wrote);
    }

    #[test]
    fn transactions_and_autocommit_from_status_flags() {
        let mut s = RouteState::new(AUTOCOMMIT);
        assert_eq!(run(&mut s, "BEGIN", in_trans()), Route::Master);
        assert_eq!(run(&mut s, "SELECT 1", in_trans()), Route::Master);
        assert!(!s.wrote, "a read in a transaction is not a write");
        assert_eq!(run(&mut s, "COMMIT", AUTOCOMMIT), Route::Master);
        assert_eq!(
            run(&mut s, "SET autocommit = 0", StatusFlags::empty()),
            Route::All
        );
        assert_eq!(
            run(&mut s, "SELECT 1", StatusFlags::SERVER_STATUS_IN_TRANS),
            Route::Master
        );
        assert_eq!(run(&mut s, "SET autocommit = 1", AUTOCOMMIT), Route::All);
        assert_eq!(run(&mut s, "SELECT 1", AUTOCOMMIT), Route::Reader);
    }

    #[test]
    fn next_transaction_access_mode() {
        let mut s = RouteState::new(AUTOCOMMIT);
        assert_eq!(
            run(&mut s, "SET TRANSACTION READ ONLY", AUTOCOMMIT),
            Route::All
        );
        assert_eq!(run(&mut s, "BEGIN", in_trans()), Route::Reader);
        assert_eq!(run(&mut s, "COMMIT", AUTOCOMMIT), Route::LastUsed);
        assert_eq!(run(&mut s, "BEGIN", in_trans()), Route::Master);
        assert_eq!(run(&mut s, "COMMIT", AUTOCOMMIT), Route::Master);
        run(&mut s, "SET SESSION TRANSACTION READ ONLY", AUTOCOMMIT);
        assert_eq!(run(&mut s, "START TRANSACTION", in_trans()), Route::Reader);
        run(&mut s, "COMMIT", AUTOCOMMIT);
        assert_eq!(run(&mut s, "START TRANSACTION", in_trans()), Route::Reader);
    }

    #[test]
    fn temporary_tables_and_locks_pin_reads() {
        let mut s = RouteState::new(AUTOCOMMIT);
        run(&mut s, "CREATE TEMPORARY TABLE tmp1 (a INT)", AUTOCOMMIT);
        assert_eq!(run(&mut s, "SELECT * FROM TMP1", AUTOCOMMIT), Route::Master);
        assert_eq!(
            run(&mut s, "SELECT * FROM other", AUTOCOMMIT),
            Route::Reader
        );
        run(&mut s, "DROP TEMPORARY TABLE tmp1", AUTOCOMMIT);
        assert_eq!(run(&mut s, "SELECT * FROM tmp1", AUTOCOMMIT), Route::Reader);
        run(&mut s, "LOCK TABLES t READ", AUTOCOMMIT);
        assert_eq!(run(&mut s, "SELECT * FROM t", AUTOCOMMIT), Route::Master);
        run(&mut s, "UNLOCK TABLES", AUTOCOMMIT);
        assert_eq!(run(&mut s, "SELECT * FROM t", AUTOCOMMIT), Route::Reader);
    }

    #[test]
    fn state_only_the_master_connection_has() {
        let mut s = RouteState::new(AUTOCOMMIT);
        assert!(s.master_only_state().is_empty());
        run(&mut s, "SELECT GET_LOCK('job', 10)", AUTOCOMMIT);
        run(&mut s, "SET @ok = GET_LOCK('Other', 1)", AUTOCOMMIT);
        assert_eq!(s.master_only_state(), ["named locks 'job', 'Other'"]);
        run(&mut s, "SELECT RELEASE_LOCK('other')", AUTOCOMMIT);
        assert_eq!(s.master_only_state(), ["named locks 'job'"]);
        run(&mut s, "DO RELEASE_LOCK('job')", AUTOCOMMIT);
        assert!(s.master_only_state().is_empty());
        run(&mut s, "SELECT GET_LOCK(CONCAT('a', 1), 1)", AUTOCOMMIT);
        run(&mut s, "CREATE TEMPORARY TABLE tmp (a INT)", AUTOCOMMIT);
        run(&mut s, "LOCK TABLES t READ", AUTOCOMMIT);
        assert_eq!(
            s.master_only_state(),
            [
                "temporary tables tmp",
                "table locks (LOCK TABLES)",
                "named locks (GET_LOCK)"
            ]
        );
        run(&mut s, "SELECT RELEASE_ALL_LOCKS()", AUTOCOMMIT);
        run(&mut s, "UNLOCK TABLES", AUTOCOMMIT);
        run(&mut s, "DROP TEMPORARY TABLE tmp", AUTOCOMMIT);
        assert!(s.master_only_state().is_empty());
    }

    #[test]
    fn failed_statements_change_nothing_but_the_last_backend() {
        let mut s = RouteState::new(AUTOCOMMIT);
        let c = classify(b"CREATE TEMPORARY TABLE x (a INT)");
        s.after(&c, Target::Master, false);
        assert!(s.temp_tables.is_empty());
        assert!(!s.wrote);
        let c = classify(b"SELECT 1");
        s.after(&c, Target::Reader, false);
        assert_eq!(s.last, Target::Reader);
        s.reset(AUTOCOMMIT);
        assert_eq!(s.last, Target::Master);
    }
}
