//! From a [`Classification`] and the session's state to a routing decision (MaxScale
//! readwritesplit rules).

use std::collections::HashSet;
use std::hash::BuildHasher;

use super::{Classification, Flags, Hint, StatementKind};

/// Where a statement goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route<'a> {
    /// The cluster's master.
    Master,
    /// Any reader (the router picks one).
    Reader,
    /// Every backend of the session; the master's reply goes to the client.
    All,
    /// The backend that ran the previous statement (or holds the read-only transaction).
    LastUsed,
    /// The backend with this name, from a `route to server` hint on a read.
    Server(&'a str),
}

/// The temporary tables a session has created, compared ignoring ASCII case.
pub trait TempTables {
    /// Whether the session has none.
    fn is_empty(&self) -> bool;
    /// Whether `name` (unqualified) is one of them.
    fn contains(&self, name: &[u8]) -> bool;
}

/// A session without temporary tables.
pub struct NoTempTables;

impl TempTables for NoTempTables {
    fn is_empty(&self) -> bool {
        true
    }
    fn contains(&self, _: &[u8]) -> bool {
        false
    }
}

impl<T: AsRef<[u8]>> TempTables for Vec<T> {
    fn is_empty(&self) -> bool {
        Vec::is_empty(self)
    }
    fn contains(&self, name: &[u8]) -> bool {
        self.iter().any(|t| t.as_ref().eq_ignore_ascii_case(name))
    }
}

impl<T: AsRef<[u8]>, S: BuildHasher> TempTables for HashSet<T, S> {
    fn is_empty(&self) -> bool {
        HashSet::is_empty(self)
    }
    fn contains(&self, name: &[u8]) -> bool {
        self.iter().any(|t| t.as_ref().eq_ignore_ascii_case(name))
    }
}

/// What the session knows when routing a statement.
#[derive(Clone, Copy)]
pub struct SessionContext<'s> {
    /// A transaction is open (`SERVER_STATUS_IN_TRANS` from the last reply).
    pub in_transaction: bool,
    /// The open transaction was started read-only and lives on one reader.
    pub read_only_transaction: bool,
    /// `SERVER_STATUS_AUTOCOMMIT` from the last reply; off means every statement is in a
    /// transaction, even before the server reports one open.
    pub autocommit: bool,
    /// A `BEGIN` that names no access mode starts a read-only transaction
    /// (after `SET [SESSION] TRANSACTION READ ONLY`).
    pub next_transaction_read_only: bool,
    /// `LOCK TABLES` is in effect: everything stays on the master until `UNLOCK TABLES`.
    pub tables_locked: bool,
    /// Temporary tables created in this session.
    pub temp_tables: &'s dyn TempTables,
}

impl Default for SessionContext<'static> {
    fn default() -> Self {
        SessionContext {
            in_transaction: false,
            read_only_transaction: false,
            autocommit: true,
            next_transaction_read_only: false,
            tables_locked: false,
            temp_tables: &NoTempTables,
        }
    }
}

/// Decides where a classified statement goes.
///
/// In order: unknown statements and multi-statement packets go to the master; session
/// commands go everywhere; inside a read-only transaction everything stays on its reader;
/// inside any other transaction (or with autocommit off, or under `LOCK TABLES`) everything
/// goes to the master; `BEGIN … READ ONLY` picks a reader; writes go to the master. A read
/// touching a temporary table goes to the master. Otherwise a hint decides, then the flags
/// (see [`Flags::PINS_TO_MASTER`], [`Flags::READS_DIAGNOSTICS`]), and the rest go to a reader.
///
/// Hints therefore only ever move reads made outside a read-write transaction: a hint never
/// sends a write, a session command or anything inside a read-write transaction to a reader.
pub fn route<'a>(c: &Classification<'a>, ctx: &SessionContext) -> Route<'a> {
    use StatementKind as K;
    if c.kind == K::Unknown || c.flags.contains(Flags::MULTI_STATEMENT) {
        return Route::Master;
    }
    if matches!(
        c.kind,
        K::SessionCommand | K::SetAutocommit(_) | K::SetTransactionReadOnly { .. }
    ) {
        return Route::All;
    }
    if ctx.in_transaction && ctx.read_only_transaction {
        return Route::LastUsed;
    }
    let in_write_transaction = ctx.in_transaction || !ctx.autocommit || ctx.tables_locked;
    match c.kind {
        K::Begin { read_only } => {
            if !ctx.in_transaction && read_only.unwrap_or(ctx.next_transaction_read_only) {
                Route::Reader
            } else {
                Route::Master
            }
        }
        K::Read if !in_write_transaction => route_read(c, ctx),
        _ => Route::Master,
    }
}

fn route_read<'a>(c: &Classification<'a>, ctx: &SessionContext) -> Route<'a> {
    let temp = &ctx.temp_tables;
    if !temp.is_empty()
        && (c.tables.overflowed() || c.tables.as_slice().iter().any(|t| temp.contains(t)))
    {
        return Route::Master;
    }
    match c.hint {
        Some(Hint::Master) => Route::Master,
        Some(Hint::Slave) => Route::Reader,
        Some(Hint::Last) => Route::LastUsed,
        Some(Hint::Server(name)) => Route::Server(name),
        None if c.flags.intersects(Flags::PINS_TO_MASTER) => Route::Master,
        None if c.flags.contains(Flags::READS_DIAGNOSTICS) => Route::LastUsed,
        None => Route::Reader,
    }
}
