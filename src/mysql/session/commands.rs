//! Session commands (`SET`, `USE`, COM_INIT_DB, COM_SET_OPTION, COM_RESET_CONNECTION): on the
//! master and the reader, the master's reply to the client, the reader's compared with it; then
//! into the history. Without a master (`fail_on_write`, `error_on_write`) on the reader alone.

use super::super::backend::BackendError;
use super::super::classify::{
    Classification, HistoryKey, StatementKind, history_key, text_prepare,
};
use super::super::conn::{Receive, RelayError, Sink};
use super::super::frontend::frame_head;
use super::super::packets::StatusFlags;
use super::super::reply::cmd;
use super::history::used_database;
use super::lost::after_loss;
use super::recover::{Loss, Next};
use super::{End, Need, Session, Target};
use crate::config::MasterFailureMode;

impl Session {
    /// A session command: runs on the master (reply to the client) and on the reader (reply
    /// compared: a reader that disagrees leaves the session), then joins the history.
    /// Returns whether the master accepted it.
    pub(super) async fn session_command(
        &mut self,
        frame: &[u8],
        c: Option<&Classification<'_>>,
        reply_seq: u8,
    ) -> Result<Option<bool>, End> {
        let payload = frame_head(frame).0;
        if payload.first() != Some(&cmd::RESET_CONNECTION)
            && !self.state_fits(payload, true, reply_seq).await?
        {
            return Ok(None);
        }
        let mode = self.shared.cfg.master_failure_mode;
        if mode != MasterFailureMode::FailInstantly && !self.shared.has_master() {
            return self.session_command_on_reader(frame, c, reply_seq).await;
        }
        let caps = self.login.capabilities;
        let command = frame_head(frame).0.first().copied().unwrap_or(0);
        let replay = self.shared.cfg.transaction_replay;
        let mut retried = false;
        let (outcome, reader_sent, was_in, checksum) = loop {
            if !self.ensure_master(Need::Read, reply_seq).await? {
                return Ok(None);
            }
            let mut reader_sent = false;
            if let Some(r) = self.reader.as_mut() {
                reader_sent = r.send(frame).await.is_ok();
                if !reader_sent {
                    self.reader = None;
                }
            }
            let was_in = self.state.in_master_trx();
            let autocommit = self
                .state
                .master_status
                .contains(StatusFlags::SERVER_STATUS_AUTOCOMMIT);
            let checksum = replay && (was_in || !autocommit);
            let Some(m) = self.master.as_mut() else {
                return Ok(None);
            };
            let opts = Receive {
                checksum,
                client_stmt_id: None,
            };
            match m
                .exchange(frame, caps, Sink::Client(&mut self.client), opts)
                .await
            {
                Ok(o) => break (o, reader_sent, was_in, checksum),
                Err(RelayError::Client) => return Err(End),
                Err(RelayError::Backend { error, relayed }) => {
                    tracing::info!(listener = %self.shared.ctx.name, %error, "master connection lost");
                    self.master = None;
                    // The reader may have run it: it gets the session again from the history.
                    self.reader = None;
                    if relayed {
                        return Err(End);
                    }
                    let loss = Loss {
                        decision: after_loss(command, c, was_in, autocommit),
                        error: &error,
                        in_trx: was_in,
                    };
                    match self
                        .recover_master(loss, &mut retried, Need::Read, reply_seq)
                        .await?
                    {
                        Next::Again => continue,
                        Next::Answered => return Ok(None),
                    }
                }
            }
        };
        if let Some(st) = outcome.status() {
            self.state.status_of(Target::Master, st);
        }
        if reader_sent && let Some(r) = self.reader.as_mut() {
            let opts = Receive::default();
            match r.receive(command, caps, Sink::Discard, opts).await {
                Ok(ro) if ro.ok() == outcome.ok() => {
                    if let Some(st) = ro.status() {
                        self.state.status_of(Target::Reader, st);
                    }
                }
                Ok(_) => {
                    tracing::warn!(listener = %self.shared.ctx.name, server = %r.addr(), master_ok = outcome.ok(), "a reader answered a session command differently from the master; it leaves the session");
                    self.reader = None;
                }
                Err(_) => self.reader = None,
            }
        }
        let ok = outcome.ok();
        if ok {
            self.remember(frame, c);
        }
        if let Some(c) = c {
            self.state.after(c, Target::Master, ok);
        }
        if replay {
            self.record_trx(frame, was_in, checksum, outcome.checksum);
        }
        Ok(Some(ok))
    }

    /// Without a master (`fail_on_write`, `error_on_write`): a session command runs on the
    /// reader alone and joins the history, which a master gets when there is one again.
    pub(super) async fn session_command_on_reader(
        &mut self,
        frame: &[u8],
        c: Option<&Classification<'_>>,
        reply_seq: u8,
    ) -> Result<Option<bool>, End> {
        let mut exclude = Vec::new();
        if self.ensure_reader(None, &mut exclude).await != Some(Target::Reader) {
            let e = BackendError::Timeout("the master (no master known)".into());
            self.no_master(Need::Read, reply_seq, &e).await?;
            return Ok(None);
        }
        let caps = self.login.capabilities;
        let Some(r) = self.reader.as_mut() else {
            return Ok(None);
        };
        let result = r
            .exchange(
                frame,
                caps,
                Sink::Client(&mut self.client),
                Receive::default(),
            )
            .await;
        let o = match result {
            Ok(o) => o,
            Err(RelayError::Client) => return Err(End),
            Err(RelayError::Backend { error, relayed }) => {
                self.reader = None;
                if relayed {
                    return Err(End);
                }
                self.report_lost(reply_seq, false, "reader", &error).await;
                return Ok(None);
            }
        };
        if let Some(st) = o.status() {
            self.state.status_of(Target::Reader, st);
        }
        if o.ok() {
            self.remember(frame, c);
        }
        if let Some(c) = c {
            self.state.after(c, Target::Reader, o.ok());
        }
        Ok(Some(o.ok()))
    }

    /// Keeps a session command that succeeded for connections opened later.
    pub(super) fn remember(&mut self, frame: &[u8], c: Option<&Classification<'_>>) {
        let payload = frame_head(frame).0;
        if let Some(db) = used_database(payload) {
            self.login.database = Some(db);
            return;
        }
        let next_trx_only = c.is_some_and(|c| {
            matches!(
                c.kind,
                StatementKind::SetTransactionReadOnly {
                    scope: super::super::classify::TransactionScope::Next,
                    ..
                }
            )
        });
        if matches!(payload.first(), Some(&(cmd::QUERY | cmd::SET_OPTION))) && !next_trx_only {
            self.history.push(payload);
        }
        if payload.first() == Some(&cmd::QUERY) {
            let sql = &payload[1..];
            match history_key(sql) {
                HistoryKey::Prepare(name) => match text_prepare(sql).and_then(|p| p.text) {
                    Some(text) => {
                        self.text_stmts.insert(name, text);
                    }
                    None => {
                        self.text_stmts.remove(&name);
                    }
                },
                HistoryKey::Deallocate(name) => {
                    self.text_stmts.remove(&name);
                }
                _ => {}
            }
        }
    }

    /// COM_RESET_CONNECTION: on every backend; the session's state starts over.
    pub(super) async fn reset_connection(
        &mut self,
        frame: &[u8],
        reply_seq: u8,
    ) -> Result<(), End> {
        if self.session_command(frame, None, reply_seq).await? == Some(true) {
            self.history.clear();
            self.stmts.clear();
            self.text_stmts.clear();
            self.trx.clear();
            self.insert_id = (0, None);
            for c in [self.master.as_mut(), self.reader.as_mut()]
                .into_iter()
                .flatten()
            {
                c.stmts.clear();
            }
            self.state.reset(self.state.master_status);
        }
        Ok(())
    }
}
