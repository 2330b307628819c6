//! What a lost reply means (no I/O). When the connection that ran a command breaks before any
//! byte of its reply reached the client, the command may or may not have run. It runs again
//! only when running it twice cannot change anything; an open transaction died with the
//! connection (the server rolled it back) and is replayed; anything that may have written or
//! committed is reported to the client as of unknown outcome.

use super::super::classify::{Classification, StatementKind};
use super::super::reply::cmd;

/// What to do after a lost reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterLoss {
    /// It cannot have changed anything: run it again on a new connection.
    Retry,
    /// The open transaction was rolled back with the connection: replay it on a new connection,
    /// then run the command there.
    Replay,
    /// A `ROLLBACK`: the transaction is gone either way; run it again (it answers OK).
    RolledBack,
    /// It may have changed data, or committed the open transaction (`committing`).
    Unknown { committing: bool },
}

/// Decides for `command` (`c`: its classification, for queries and executes); `in_trans`:
/// a transaction was open (`SERVER_STATUS_IN_TRANS`); `autocommit`: the session's mode.
pub fn after_loss(
    command: u8,
    c: Option<&Classification>,
    in_trans: bool,
    autocommit: bool,
) -> AfterLoss {
    // With autocommit off nothing commits by itself: like inside a transaction, only a commit
    // can make a lost command's effect stay.
    let uncommitted = in_trans || !autocommit;
    let rerun = if in_trans {
        AfterLoss::Replay
    } else {
        AfterLoss::Retry
    };
    match (command, c) {
        (cmd::QUERY | cmd::STMT_EXECUTE, Some(c)) => {
            if uncommitted && c.commits() {
                AfterLoss::Unknown { committing: true }
            } else if in_trans && c.kind == StatementKind::Rollback && !c.may_write() {
                AfterLoss::RolledBack
            } else if uncommitted || !c.may_write() {
                rerun
            } else {
                AfterLoss::Unknown { committing: false }
            }
        }
        (cmd::QUERY | cmd::STMT_EXECUTE, None) => AfterLoss::Unknown {
            committing: uncommitted,
        },
        (
            cmd::STMT_PREPARE
            | cmd::PING
            | cmd::STATISTICS
            | cmd::FIELD_LIST
            | cmd::PROCESS_INFO
            | cmd::INIT_DB
            | cmd::SET_OPTION
            | cmd::STMT_RESET
            | cmd::STMT_FETCH,
            _,
        ) => rerun,
        // COM_STMT_BULK_EXECUTE and the rest: writes, unless nothing commits them.
        _ if uncommitted => rerun,
        _ => AfterLoss::Unknown { committing: false },
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::classify::classify;
    use super::*;

    fn q(sql: &str, in_trans: bool, autocommit: bool) -> AfterLoss {
        after_loss(
            cmd::QUERY,
            Some(&classify(sql.as_bytes())),
            in_trans,
            autocommit,
        )
    }

    const UNKNOWN: AfterLoss = AfterLoss::Unknown { committing: false };
    const COMMITTING: AfterLoss = AfterLoss::Unknown { committing: true };

    #[test]
    fn autocommit_statements() {
        assert_eq!(q("SELECT * FROM t", false, true), AfterLoss::Retry);
        assert_eq!(
            q("SELECT * FROM t FOR UPDATE", false, true),
            AfterLoss::Retry
        );
        assert_eq!(q("BEGIN", false, true), AfterLoss::Retry);
        assert_eq!(q("COMMIT", false, true), AfterLoss::Retry);
        assert_eq!(q("INSERT INTO t VALUES (1)", false, true), UNKNOWN);
        assert_eq!(
            q("SELECT 1; INSERT INTO t VALUES (1)", false, true),
            UNKNOWN
        );
        assert_eq!(q("SELECT f()", false, true), UNKNOWN);
        assert_eq!(q("SET @x = f()", false, true), UNKNOWN);
        assert_eq!(q("CREATE TABLE x (a INT)", false, true), UNKNOWN);
        assert_eq!(q("SET @x = 1", false, true), AfterLoss::Retry);
    }

    #[test]
    fn inside_a_transaction() {
        assert_eq!(q("SELECT 1", true, true), AfterLoss::Replay);
        assert_eq!(q("INSERT INTO t VALUES (1)", true, true), AfterLoss::Replay);
        assert_eq!(q("SELECT f()", true, true), AfterLoss::Replay);
        assert_eq!(q("COMMIT", true, true), COMMITTING);
        assert_eq!(
            q("INSERT INTO t VALUES (1); COMMIT", true, true),
            COMMITTING
        );
        assert_eq!(q("BEGIN", true, true), COMMITTING);
        assert_eq!(q("SET autocommit = 1", true, false), COMMITTING);
        assert_eq!(q("CREATE TABLE x (a INT)", true, true), COMMITTING);
        assert_eq!(q("LOCK TABLES t WRITE", true, true), COMMITTING);
        assert_eq!(q("TRUNCATE t", true, true), COMMITTING);
        assert_eq!(
            q("CREATE TEMPORARY TABLE x (a INT)", true, true),
            AfterLoss::Replay
        );
        assert_eq!(q("ROLLBACK", true, true), AfterLoss::RolledBack);
        assert_eq!(
            q("ROLLBACK; INSERT INTO t VALUES (1)", true, true),
            AfterLoss::Replay
        );
    }

    #[test]
    fn autocommit_off_before_the_first_statement() {
        // No transaction open yet, but nothing commits by itself.
        assert_eq!(
            q("INSERT INTO t VALUES (1)", false, false),
            AfterLoss::Retry
        );
        assert_eq!(q("COMMIT", false, false), COMMITTING);
        assert_eq!(q("CREATE TABLE x (a INT)", false, false), COMMITTING);
    }

    #[test]
    fn other_commands() {
        assert_eq!(
            after_loss(cmd::STMT_PREPARE, None, false, true),
            AfterLoss::Retry
        );
        assert_eq!(after_loss(cmd::PING, None, true, true), AfterLoss::Replay);
        assert_eq!(
            after_loss(cmd::STMT_BULK_EXECUTE, None, false, true),
            UNKNOWN
        );
        assert_eq!(
            after_loss(cmd::STMT_BULK_EXECUTE, None, true, true),
            AfterLoss::Replay
        );
        assert_eq!(after_loss(cmd::QUERY, None, false, true), UNKNOWN);
        assert_eq!(after_loss(cmd::QUERY, None, true, true), COMMITTING);
    }
}
