//! Sharing backend connections (`multiplex`): a session takes a connection when a command
//! needs one and gives it back after the command unless it holds state only that connection
//! has. A connection taken from the pool is brought to the session's state first: as it is
//! when it was given the same history, else reset (COM_RESET_CONNECTION) and given the
//! session's database and history, as a new connection would be.

use tokio::time::{Instant, timeout_at};

use super::super::backend::BackendError;
use super::super::conn::Conn;
use super::super::packets::StatusFlags;
use super::super::pool::PoolKey;
use super::super::reply::cmd;
use super::history::EMPTY_FP;
use super::{Session, Target};

/// Where a connection goes.
#[derive(Clone, Copy, Debug)]
pub enum Dest<'a> {
    /// The current master (waiting up to `connect_timeout` for one).
    Master,
    Server(&'a str),
}

impl Session {
    /// A connection to `dest` in the session's state: a shared one, or a new one at most
    /// `max_backend_connections` per server (waiting for one to come back at the cap, up to
    /// `connect_timeout`). `strict`: a history command the server refuses fails it.
    pub(super) async fn acquire(&self, dest: Dest<'_>, strict: bool) -> Result<Conn, BackendError> {
        let deadline = Instant::now() + self.shared.cfg.connect_timeout.0;
        let pool = &self.shared.pool;
        let fp = self.history.fingerprint();
        loop {
            let addr = match dest {
                Dest::Server(a) => a.to_string(),
                Dest::Master => match self.shared.snapshot().master.clone() {
                    Some(a) => a,
                    // No master yet: wait for one as a new connection does.
                    None => return self.open(Dest::Master, None, strict).await,
                },
            };
            let freed = pool.freed();
            tokio::pin!(freed);
            freed.as_mut().enable();
            let key = PoolKey::new(&addr, &self.login);
            while let Some(mut c) = pool.take(&key, fp) {
                if c.closed_while_idle() {
                    continue;
                }
                match self.sync(&mut c, strict).await {
                    Ok(()) => return Ok(c),
                    Err(e) => {
                        tracing::debug!(listener = %self.shared.ctx.name, server = %addr, error = %e, "a shared connection could not be brought to the session's state");
                    }
                }
            }
            let slot = pool.try_slot(&addr).or_else(|| {
                // At the cap: an idle connection of another account or database makes room.
                let mut other = pool.evict(&addr)?;
                let slot = other.slot.take();
                crate::net::uring::spawn(other.quit());
                slot
            });
            if let Some(slot) = slot {
                return self.open(dest, Some(slot), strict).await;
            }
            let _waiting = pool.waiting();
            if timeout_at(deadline, freed).await.is_err() {
                let max = self.shared.cfg.max_backend_connections;
                return Err(BackendError::PoolFull { addr, max });
            }
        }
    }

    /// Opens a new connection to `dest` counted in `slot`, logged in with the session's
    /// account, database and history.
    async fn open(
        &self,
        dest: Dest<'_>,
        slot: Option<super::super::pool::Slot>,
        strict: bool,
    ) -> Result<Conn, BackendError> {
        let header = self
            .shared
            .proxy_header(self.client.local_addr(), self.peer);
        let b = match dest {
            Dest::Master => self.shared.open_master(header.as_deref()).await?,
            Dest::Server(a) => self.shared.open_server(a, header.as_deref()).await?,
        };
        // The master may have moved while the slot was taken: count it where it went.
        let slot = match slot {
            Some(s) if s.addr() == b.addr => Some(s),
            _ => self.shared.pool.try_slot(&b.addr),
        };
        let db = self.login.database.clone();
        let b = self.prepare_conn(b, &self.history, db, strict).await?;
        Ok(self.shared.conn(b, slot))
    }

    /// Brings a shared connection to the session's state.
    async fn sync(&self, c: &mut Conn, strict: bool) -> Result<(), BackendError> {
        let fp = self.history.fingerprint();
        if c.fp == fp {
            return Ok(());
        }
        let caps = self.login.capabilities;
        let limit = self.shared.cfg.connect_timeout.0;
        let addr = c.addr().to_string();
        let work = async {
            if c.fp != EMPTY_FP {
                // On any failure below the connection is dropped, whatever state it is in.
                c.b.simple_command(&[cmd::RESET_CONNECTION], caps).await?;
                // The server forgot its prepared statements with the rest.
                c.stmts.clear();
                if let Some(db) = &self.login.database {
                    let init = [&[cmd::INIT_DB][..], db.as_bytes()].concat();
                    c.b.simple_command(&init, caps).await?;
                }
            }
            self.give_history(&mut c.b, &self.history, strict).await?;
            c.fp = fp;
            Ok(())
        };
        tokio::time::timeout(limit, work)
            .await
            .map_err(|_| BackendError::Timeout(addr))?
    }

    /// The session's connection to `t`'s server, if it holds one.
    fn conn_mut(&mut self, t: Target) -> &mut Option<Conn> {
        match t {
            Target::Master => &mut self.master,
            Target::Reader => &mut self.reader,
        }
    }

    /// Whether the session holds a connection to `t` that it could give back now.
    fn releasable(&self, t: Target) -> bool {
        let held = match t {
            Target::Master => self.master.is_some(),
            Target::Reader => self.reader.is_some(),
        };
        held && !self.pinned(t)
    }

    /// Whether the session holds connections it could give back (`multiplex`).
    pub(super) fn parkable(&self) -> bool {
        self.shared.cfg.multiplex
            && (self.releasable(Target::Master) || self.releasable(Target::Reader))
    }

    /// After a command: gives back the connections the session does not need to keep.
    pub(super) fn park(&mut self) {
        if !self.shared.cfg.multiplex {
            return;
        }
        for t in [Target::Master, Target::Reader] {
            if self.releasable(t) {
                self.release(t);
            }
        }
    }

    /// Whether the session needs this very connection for what comes next: state only it has
    /// (a transaction, locks, temporary tables, variables a function set, long data, an open
    /// cursor), or the diagnostics of the last statement (warnings, an error,
    /// `SQL_CALC_FOUND_ROWS`) until the next statement.
    pub(super) fn pinned(&self, t: Target) -> bool {
        if self.keep == Some(t) || self.stmts.cursor_on(t) {
            return true;
        }
        match t {
            Target::Master => {
                self.state.in_master_trx()
                    || self.state.holds_master_state()
                    || self.stmts.has_long_data()
            }
            Target::Reader => {
                self.state.ro_trx
                    || self
                        .state
                        .reader_status
                        .contains(StatusFlags::SERVER_STATUS_IN_TRANS)
            }
        }
    }

    /// Gives a connection back to the pool (or closes it when it is not counted in one).
    fn release(&mut self, t: Target) {
        let Some(mut c) = self.conn_mut(t).take() else {
            return;
        };
        self.publish_backends();
        if c.slot.is_none() {
            crate::net::uring::spawn(c.quit());
            return;
        }
        if self.insert_id.1 == Some(c.serial) {
            // Other sessions may generate ids on it from now on.
            self.insert_id.1 = None;
        }
        c.fp = self.history.fingerprint();
        let key = PoolKey::new(c.addr(), &self.login);
        self.shared.pool.put(key, c);
    }

    /// At the end of the session: connections without session-only state go back to the
    /// pool (`multiplex`), the others are closed.
    pub(super) async fn close_conns(&mut self) {
        self.park();
        for t in [Target::Master, Target::Reader] {
            if let Some(c) = self.conn_mut(t).take() {
                c.quit().await;
            }
        }
    }

    /// Before a statement that reads `LAST_INSERT_ID()` on a connection other than the one
    /// that generated the session's last id (or none yet): gives it that id (`DO
    /// LAST_INSERT_ID(n)`), not the one another session left there.
    pub(super) async fn restore_insert_id(&mut self) {
        let (id, owner) = self.insert_id;
        let caps = self.login.capabilities;
        let Some(m) = self.master.as_mut() else {
            return;
        };
        let here = m.serial;
        if owner == Some(here) {
            return;
        }
        let q = [
            &[cmd::QUERY][..],
            format!("DO LAST_INSERT_ID({id})").as_bytes(),
        ]
        .concat();
        match m.b.simple_command(&q, caps).await {
            Ok(()) => self.insert_id = (id, Some(here)),
            // A connection that broke fails the statement that follows, as it would have.
            Err(e) => {
                tracing::info!(listener = %self.shared.ctx.name, error = %e, "cannot restore LAST_INSERT_ID on a shared connection");
            }
        }
    }
}
