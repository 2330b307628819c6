//! Routing a statement and running it where the router says: on the master (replaying an open
//! transaction when the master is lost) or on a reader (retried once elsewhere if the reader
//! fails before any byte reached the client). Session commands are in `commands`.

use std::borrow::Cow;
use std::time::Instant;

use bytes::BytesMut;

use super::super::classify::{
    Classification, Flags, Route, StatementKind, classify, kill_target, route, text_execute,
};
use super::super::codec::{self, HEADER_LEN};
use super::super::conn::{Outcome, Receive, RelayError, Sink};
use super::super::frontend::frame_head;
use super::super::packets::StatusFlags;
use super::super::reply::cmd;
use super::super::router;
use super::frame::{Cmd, FrameError, backend_frame};
use super::lost::after_loss;
use super::recover::{Loss, Next};
use super::{End, Need, Session, Target};

/// Where a statement goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Plan {
    Master,
    /// A reader picked by the router, or the hinted server.
    Reader(Option<String>),
    /// The reader that ran the previous statement (read-only transaction, diagnostics).
    LastReader,
    /// Every backend of the session.
    All,
}

/// How a reader is chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReaderMode<'a> {
    /// Picked (or this hinted server); a failed read is retried once on another.
    Pick(Option<&'a str>),
    /// The session's current reader only; losing it inside a transaction loses the transaction.
    Pinned,
}

/// What the master is needed for.
pub fn need(c: &Classification) -> Need {
    if c.kind == StatementKind::Read {
        Need::Read
    } else {
        Need::Write
    }
}

/// `SET STATEMENT wsrep_sync_wait=1 FOR` before a read, so that the reader first applies every
/// write the cluster committed (the session's own included). `None` if it cannot be rewritten.
fn causal_frame(frame: &[u8]) -> Option<Vec<u8>> {
    const PREFIX: &[u8] = b"SET STATEMENT wsrep_sync_wait=1 FOR ";
    let sql = frame.get(HEADER_LEN + 1..)?;
    let starts_with_set = sql
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .and_then(|i| sql.get(i..i + 3))
        .is_some_and(|w| w.eq_ignore_ascii_case(b"set"));
    if starts_with_set {
        return None;
    }
    codec::frame(frame[3], &[&[cmd::QUERY], PREFIX, sql])
}

impl Session {
    /// Routes a classified statement.
    pub(super) fn plan(&mut self, c: &Classification) -> Plan {
        let r = route(c, &self.state.context());
        if !self.shared.cfg.read_write_split {
            return if r == Route::All {
                Plan::All
            } else {
                Plan::Master
            };
        }
        match r {
            Route::Master => Plan::Master,
            Route::All => Plan::All,
            // Variables only the master has: their readers would see other values.
            Route::Reader if self.state.vars_on_master_only => Plan::Master,
            Route::Reader => Plan::Reader(None),
            Route::LastUsed => match self.state.last {
                Target::Reader if self.reader.is_some() => Plan::LastReader,
                _ if self.state.ro_trx => Plan::LastReader,
                _ => Plan::Master,
            },
            Route::Server(name) => {
                let snap = self.shared.snapshot();
                match router::find_server(&snap, name) {
                    Some(s) if s.serving() => Plan::Reader(Some(s.address.clone())),
                    found => {
                        if !self.hint_warned {
                            self.hint_warned = true;
                            let why = if found.is_some() {
                                "not serving"
                            } else {
                                "unknown"
                            };
                            tracing::warn!(listener = %self.shared.ctx.name, server = name, why, "routing hint names a server that cannot be used; routed as a read");
                        }
                        Plan::Reader(None)
                    }
                }
            }
        }
    }

    /// COM_QUERY.
    pub(super) async fn query(&mut self, frame: BytesMut, reply_seq: u8) -> Result<(), End> {
        let start = Instant::now();
        let (head, _) = frame_head(&frame);
        let whole = head.len() + HEADER_LEN == frame.len();
        let c = if whole {
            classify(&head[1..])
        } else {
            Classification::unknown()
        };
        if c.kind == StatementKind::Write
            && let Some(kill) = kill_target(c.sql)
        {
            return self.kill(kill, reply_seq).await;
        }
        // `EXECUTE name` goes where the text it runs would go.
        let prepared = (c.kind == StatementKind::Write)
            .then(|| text_execute(c.sql))
            .flatten()
            .and_then(|name| self.text_stmts.get(&name).cloned());
        let inner = prepared.as_deref().map(classify);
        let c = match inner {
            Some(i) if !matches!(route(&i, &self.state.context()), Route::All) => i,
            _ => c,
        };
        let ran = match self.plan(&c) {
            // `SET @x = f()` runs once, where writes go; the values are copied from there.
            Plan::All if c.flags.contains(Flags::SET_CALLS_FUNCTION) => {
                self.on_master(&frame, Cmd::Plain, Some(&c), Need::Write, reply_seq)
                    .await?
            }
            Plan::All => {
                self.session_command(&frame, Some(&c), reply_seq).await?;
                self.shared.to_all.observe(start.elapsed());
                return Ok(());
            }
            Plan::Master => {
                self.on_master(&frame, Cmd::Plain, Some(&c), need(&c), reply_seq)
                    .await?
            }
            Plan::Reader(want) => {
                let mode = ReaderMode::Pick(want.as_deref());
                self.on_reader(&frame, Cmd::Plain, &c, mode, reply_seq)
                    .await?
            }
            Plan::LastReader => {
                self.on_reader(&frame, Cmd::Plain, &c, ReaderMode::Pinned, reply_seq)
                    .await?
            }
        };
        if let Some((o, target)) = ran {
            self.state.after(&c, target, o.ok());
            self.note_reply(&o, target, &c);
            let sets_vars = Flags::USER_VAR_ASSIGN.union(Flags::SET_CALLS_FUNCTION);
            if o.ok() && target == Target::Master && c.flags.intersects(sets_vars) {
                self.copy_vars(&c).await;
            }
            self.observe(target, start);
        }
        Ok(())
    }

    /// After a statement's reply: what the connection must be kept for (its diagnostics until
    /// the next statement) and the id it generated.
    pub(super) fn note_reply(&mut self, o: &Outcome, target: Target, c: &Classification) {
        let diagnostics =
            o.tracker.warnings > 0 || !o.ok() || c.flags.contains(Flags::CALC_FOUND_ROWS);
        self.keep = diagnostics.then_some(target);
        if target == Target::Master
            && o.tracker.insert_id != 0
            && let Some(m) = &self.master
        {
            self.insert_id = (o.tracker.insert_id, Some(m.serial));
        }
    }

    /// Counts a statement by where it ran.
    pub(super) fn observe(&self, target: Target, start: Instant) {
        let m = match target {
            Target::Master => &self.shared.to_master,
            Target::Reader => &self.shared.to_reader,
        };
        m.observe(start.elapsed());
    }

    /// Runs a command on the master with the reply to the client. `Ok(None)` when it could not
    /// run (the client has had an ERR).
    pub(super) async fn on_master(
        &mut self,
        frame: &[u8],
        cmd: Cmd,
        c: Option<&Classification<'_>>,
        need: Need,
        reply_seq: u8,
    ) -> Result<Option<(Outcome, Target)>, End> {
        if !self.ensure_master(need, reply_seq).await? {
            return Ok(None);
        }
        if c.is_some_and(|c| c.flags.contains(Flags::SESSION_FUNC)) {
            self.restore_insert_id().await;
        }
        let replay = self.shared.cfg.transaction_replay;
        let caps = self.login.capabilities;
        let mut retried = false;
        loop {
            let was_in = self.state.in_master_trx();
            let begins = c.is_some_and(|c| matches!(c.kind, StatementKind::Begin { .. }));
            let autocommit = self
                .state
                .master_status
                .contains(StatusFlags::SERVER_STATUS_AUTOCOMMIT);
            let checksum = replay && (was_in || begins || !autocommit);
            let Some(m) = self.master.as_mut() else {
                return Ok(None);
            };
            let opts = Receive {
                checksum,
                client_stmt_id: match cmd {
                    Cmd::Prepare(id) => Some(id),
                    _ => None,
                },
            };
            let r = match backend_frame(m, &mut self.stmts, frame, cmd, caps).await {
                Ok(f) => {
                    m.exchange(&f, caps, Sink::Client(&mut self.client), opts)
                        .await
                }
                Err(FrameError::Refused(msg)) => {
                    self.client.send_err(reply_seq, 1243, "HY000", &msg).await;
                    return Ok(None);
                }
                Err(FrameError::Backend(error)) => Err(RelayError::Backend {
                    error,
                    relayed: false,
                }),
            };
            let error = match r {
                Ok(o) => {
                    if let Some(st) = o.status() {
                        self.state.status_of(Target::Master, st);
                    }
                    if replay && !matches!(cmd, Cmd::Prepare(_)) {
                        self.record_trx(frame, was_in, checksum, o.checksum);
                    }
                    return Ok(Some((o, Target::Master)));
                }
                Err(RelayError::Client) => return Err(End),
                Err(RelayError::Backend {
                    relayed: true,
                    error,
                }) => {
                    tracing::info!(listener = %self.shared.ctx.name, %error, "master lost in the middle of a reply; closing the session");
                    self.master = None;
                    return Err(End);
                }
                Err(RelayError::Backend { error, .. }) => error,
            };
            tracing::info!(listener = %self.shared.ctx.name, %error, "master connection lost");
            self.master = None;
            let command = frame_head(frame).0.first().copied().unwrap_or(0);
            let loss = Loss {
                decision: after_loss(command, c, was_in, autocommit),
                error: &error,
                in_trx: was_in,
            };
            match self
                .recover_master(loss, &mut retried, need, reply_seq)
                .await?
            {
                Next::Again => continue,
                Next::Answered => return Ok(None),
            }
        }
    }

    /// Keeps the open transaction for replay after a master reply.
    pub(super) fn record_trx(&mut self, frame: &[u8], was_in: bool, hashed: bool, checksum: u64) {
        if !self.state.in_master_trx() {
            self.trx.clear();
            return;
        }
        if !was_in || !self.trx.active() {
            if hashed && !was_in {
                self.trx.start(&self.history, self.login.database.clone());
            } else {
                self.trx.start_unknown();
            }
        }
        let limit = self.memory_left(0).saturating_add(self.trx.bytes());
        self.trx.push(frame, checksum, limit);
    }

    /// Runs a read on a reader, falling back to the master when there is none.
    pub(super) async fn on_reader(
        &mut self,
        frame: &[u8],
        cmd: Cmd,
        c: &Classification<'_>,
        mode: ReaderMode<'_>,
        reply_seq: u8,
    ) -> Result<Option<(Outcome, Target)>, End> {
        let causal = self.shared.cfg.causal_reads && self.state.wrote;
        let caps = self.login.capabilities;
        let mut exclude = Vec::new();
        for _attempt in 0..2 {
            let target = match mode {
                ReaderMode::Pinned => self.reader.as_ref().map(|_| Target::Reader),
                ReaderMode::Pick(want) => self.ensure_reader(want, &mut exclude).await,
            };
            match target {
                Some(Target::Reader) => {}
                None if mode == ReaderMode::Pinned && self.state.ro_trx => {
                    self.lose_trx(
                        reply_seq,
                        "the reader was lost; the transaction was rolled back",
                    )
                    .await;
                    return Ok(None);
                }
                _ => break,
            }
            let Some(r) = self.reader.as_mut() else {
                break;
            };
            let f: Cow<[u8]> = match (causal, cmd) {
                (false, _) => match backend_frame(r, &mut self.stmts, frame, cmd, caps).await {
                    Ok(f) => f,
                    Err(FrameError::Refused(_)) => break,
                    Err(FrameError::Backend(e)) => {
                        tracing::info!(listener = %self.shared.ctx.name, server = %r.addr(), error = %e, "reader lost");
                        exclude.push(r.addr().to_string());
                        self.reader = None;
                        continue;
                    }
                },
                (true, Cmd::Plain) => match causal_frame(frame) {
                    Some(f) => Cow::Owned(f),
                    None => break,
                },
                // Prepared reads after a write go to the master (see README, causal_reads).
                (true, _) => break,
            };
            let result = r
                .exchange(&f, caps, Sink::Client(&mut self.client), Receive::default())
                .await;
            match result {
                Ok(o) => {
                    if let Some(st) = o.status() {
                        self.state.status_of(Target::Reader, st);
                    }
                    return Ok(Some((o, Target::Reader)));
                }
                Err(RelayError::Client) => return Err(End),
                Err(RelayError::Backend { error, relayed }) => {
                    let r_addr = r.addr().to_string();
                    tracing::info!(listener = %self.shared.ctx.name, server = %r_addr, %error, relayed, "reader lost");
                    self.reader = None;
                    if relayed {
                        return Err(End);
                    }
                    if mode == ReaderMode::Pinned {
                        let in_trx = self.state.ro_trx;
                        self.report_lost(reply_seq, in_trx, "reader", &error).await;
                        return Ok(None);
                    }
                    exclude.push(r_addr);
                }
            }
        }
        self.on_master(frame, cmd, Some(c), Need::Read, reply_seq)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causal_reads_prefix() {
        let f = super::super::super::conn::one_packet(b"\x03SELECT 1");
        let out = causal_frame(&f).unwrap();
        assert_eq!(
            &out[HEADER_LEN..],
            b"\x03SET STATEMENT wsrep_sync_wait=1 FOR SELECT 1"
        );
        assert_eq!(out.len() - HEADER_LEN, out[0] as usize);
        let nested = super::super::super::conn::one_packet(b"\x03 set statement a=1 for select 1");
        assert!(causal_frame(&nested).is_none());
    }
}
