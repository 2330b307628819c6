//! The session's backend connections: the master (followed when it changes, with transaction
//! replay), the reader (picked by the router, checked before reuse), and logging in with the
//! session's account and history.

use super::super::backend::{Backend, BackendError};
use super::super::router;
use super::history::{EMPTY_FP, History};
use super::login::report_backend_error;
use super::pooling::Dest;
use super::{End, Need, Session, Target};
use crate::config::MasterFailureMode;

impl Session {
    /// Tells the client that there is no master, as `master_failure_mode` says; `Err` if the
    /// session must end.
    pub(super) async fn no_master(
        &mut self,
        need: Need,
        reply_seq: u8,
        e: &BackendError,
    ) -> Result<(), End> {
        let mode = self.shared.cfg.master_failure_mode;
        tracing::info!(listener = %self.shared.ctx.name, error = %e, ?mode, "no master for a session");
        match (mode, need) {
            (MasterFailureMode::ErrorOnWrite, Need::Write) => {
                let msg =
                    format!("datagate: the cluster has no master, it is read-only for now ({e})");
                self.client.send_err(reply_seq, 1290, "HY000", &msg).await;
                Ok(())
            }
            (MasterFailureMode::FailInstantly, _)
            | (MasterFailureMode::FailOnWrite, Need::Write) => {
                report_backend_error(&mut self.client, reply_seq, e).await;
                Err(End)
            }
            _ => {
                report_backend_error(&mut self.client, reply_seq, e).await;
                Ok(())
            }
        }
    }

    /// Makes sure the session has a connection to the current master: moves to a new master
    /// (replaying an open transaction) when it changed. `Ok(false)` once the client has had
    /// its ERR.
    pub(super) async fn ensure_master(&mut self, need: Need, reply_seq: u8) -> Result<bool, End> {
        if let Some(m) = &self.master {
            let snap = self.shared.snapshot();
            let current = snap.master.as_deref() == Some(m.addr());
            let idle_closed = m.closed_while_idle();
            if current && !idle_closed {
                return Ok(true);
            }
            let held = self.held_on_master();
            let pinned = !held.is_empty() || self.state.in_master_trx();
            if !idle_closed && pinned && router::still_synced(&snap, m.addr()) {
                // The master moved, but the old one still serves: the session finishes what
                // only that connection has (a transaction, locks, temporary tables) there.
                return Ok(true);
            }
            let what = if current {
                "the master closed the session's connection while it was idle"
            } else {
                "the master changed"
            };
            if let Some(old) = self.master.take() {
                crate::net::uring::spawn(old.quit());
            }
            if !held.is_empty() {
                return Err(self.end_for_lost_state(reply_seq, what, &held).await);
            }
            if self.state.in_master_trx() {
                if self.replay_trx().await {
                    return Ok(true);
                }
                let why = format!("{what}; the transaction was rolled back");
                self.lose_trx(reply_seq, &why).await;
                return Ok(false);
            }
            if current {
                tracing::debug!(listener = %self.shared.ctx.name, "{what}; reconnecting");
            }
        } else {
            let held = self.held_on_master();
            if !held.is_empty() {
                let what = "the master connection was lost";
                return Err(self.end_for_lost_state(reply_seq, what, &held).await);
            }
        }
        match self.reconnect_master().await {
            Ok(()) => Ok(true),
            // There is a master, busy with other sessions: this command fails, not the session.
            Err(e @ BackendError::PoolFull { .. }) => {
                report_backend_error(&mut self.client, reply_seq, &e).await;
                Ok(false)
            }
            Err(e) => self.no_master(need, reply_seq, &e).await.map(|()| false),
        }
    }

    /// Logs in to `b` as the session's user and replays the session history; `strict` fails
    /// on a history command the server refuses (a reader must agree with the master).
    pub(super) async fn prepare_conn(
        &self,
        mut b: Backend,
        history: &History,
        database: Option<String>,
        strict: bool,
    ) -> Result<Backend, BackendError> {
        let mut login = self.login.clone();
        login.database = database;
        let limit = self.shared.cfg.connect_timeout.0;
        let addr = b.addr.clone();
        let work = async {
            b.login(&login, limit).await?;
            self.give_history(&mut b, history, strict).await?;
            Ok(b)
        };
        // A server that stops answering half-way (frozen) must not hold the session.
        tokio::time::timeout(limit, work)
            .await
            .map_err(|_| BackendError::Timeout(addr))?
    }

    /// Replays `history` on `b` (counted in `mysql_session_replays_total` when there is one).
    /// A command the server refuses is logged and skipped, unless `strict` (a reader must
    /// agree with the master); a connection that fails ends it.
    pub(super) async fn give_history(
        &self,
        b: &mut Backend,
        history: &History,
        strict: bool,
    ) -> Result<(), BackendError> {
        if history.fingerprint() != EMPTY_FP {
            self.shared.replays.inc();
        }
        for stmt in history.payloads() {
            if let Err(e) = b.simple_command(stmt, self.login.capabilities).await {
                tracing::warn!(listener = %self.shared.ctx.name, server = %b.addr, error = %e, "session history replay failed");
                if strict || !matches!(e, BackendError::Server(_)) {
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// A master connection with the session's account, database and history.
    pub(super) async fn reconnect_master(&mut self) -> Result<(), BackendError> {
        let m = self.acquire(Dest::Master, false).await?;
        self.state.master_status = m.b.status;
        tracing::debug!(listener = %self.shared.ctx.name, master = %m.addr(), "session on the master");
        self.master = Some(m);
        self.publish_backends();
        Ok(())
    }

    /// Makes sure the session has a reader (`want`: a hinted server); `None` when no reader can
    /// be used, `Some(Target::Master)` when the master is the one to read from.
    pub(super) async fn ensure_reader(
        &mut self,
        want: Option<&str>,
        exclude: &mut Vec<String>,
    ) -> Option<Target> {
        let snap = self.shared.snapshot();
        let accept_master = self.shared.cfg.master_accept_reads;
        let master_addr = snap.master.as_deref();
        if let Some(addr) = want
            && Some(addr) == master_addr
        {
            return Some(Target::Master);
        }
        if let Some(r) = &self.reader {
            let keep = match want {
                Some(addr) => r.addr() == addr,
                None => router::reader_usable(&snap, r.addr(), accept_master),
            };
            if keep && Some(r.addr()) != master_addr && !r.closed_while_idle() {
                return Some(Target::Reader);
            }
            if let Some(old) = self.reader.take() {
                crate::net::uring::spawn(old.quit());
            }
        }
        loop {
            let excluded: Vec<&str> = exclude.iter().map(String::as_str).collect();
            let addr = match want {
                Some(a) if !excluded.contains(&a) => a.to_string(),
                Some(_) => return None,
                None => self.shared.load.pick(&snap, accept_master, &excluded)?,
            };
            if Some(addr.as_str()) == master_addr {
                return Some(Target::Master);
            }
            match self.acquire(Dest::Server(&addr), true).await {
                Ok(r) => {
                    self.state.reader_status = r.b.status;
                    self.reader = Some(r);
                    self.publish_backends();
                    return Some(Target::Reader);
                }
                Err(e) => {
                    tracing::info!(listener = %self.shared.ctx.name, server = %addr, error = %e, "cannot use reader");
                    exclude.push(addr);
                }
            }
        }
    }
}
