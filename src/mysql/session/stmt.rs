//! The binary protocol: COM_STMT_PREPARE runs on the master (the client gets a statement id of
//! the session's own); COM_STMT_EXECUTE is routed by the statement's text like a query, and
//! every backend prepares a statement the first time it has to run it. Fetches and resets go
//! where the statement last ran, long data to the master (the next execute follows it there).

use std::time::Instant;

use bytes::BytesMut;

use super::super::classify::classify;
use super::super::frontend::frame_head;
use super::super::packets::StatusFlags;
use super::super::reply::cmd;
use super::exec::{Plan, ReaderMode, need};
use super::frame::{Cmd, FrameError, backend_frame, remember_prepared};
use super::prepared::stmt_id;
use super::{End, Need, Session, Target};

/// Whether a reply's status says a cursor is open with rows left to fetch.
fn open_cursor(status: Option<StatusFlags>) -> bool {
    status.is_some_and(|s| {
        s.contains(StatusFlags::SERVER_STATUS_CURSOR_EXISTS)
            && !s.contains(StatusFlags::SERVER_STATUS_LAST_ROW_SENT)
    })
}

impl Session {
    /// The client statement a COM_STMT_* payload names; if the session has no such statement,
    /// the client gets ERR 1243 ("unknown prepared statement handler ... given to `what`").
    async fn resolve_stmt(&mut self, payload: &[u8], what: &str, reply_seq: u8) -> Option<u32> {
        let named = stmt_id(payload);
        if let Some(id) = named.and_then(|i| self.stmts.resolve(i)) {
            return Some(id);
        }
        let id = named.unwrap_or(0);
        let msg = format!("Unknown prepared statement handler ({id}) given to {what}");
        self.client.send_err(reply_seq, 1243, "HY000", &msg).await;
        None
    }

    /// COM_STMT_PREPARE: on the master.
    pub(super) async fn stmt_prepare(&mut self, frame: &[u8], reply_seq: u8) -> Result<(), End> {
        let start = Instant::now();
        if !self
            .state_fits(frame_head(frame).0, false, reply_seq)
            .await?
        {
            return Ok(());
        }
        let id = self.stmts.next_id();
        let ran = self
            .on_master(frame, Cmd::Prepare(id), None, Need::Read, reply_seq)
            .await?;
        if let Some((o, _)) = ran
            && o.ok()
            && let Some((backend_id, params)) = o.prepared
        {
            let id = self.stmts.add(frame_head(frame).0, params);
            let text = self.stmts.get(id).map(|st| st.prepare.clone());
            if let (Some(m), Some(text)) = (self.master.as_mut(), text)
                && remember_prepared(m, text, backend_id).await.is_err()
            {
                self.master = None;
            }
        }
        self.observe(Target::Master, start);
        Ok(())
    }

    /// COM_STMT_EXECUTE: routed by the statement's text.
    pub(super) async fn stmt_execute(&mut self, frame: BytesMut, reply_seq: u8) -> Result<(), End> {
        let start = Instant::now();
        let payload = frame_head(&frame).0;
        let Some(id) = self
            .resolve_stmt(payload, "mysqld_stmt_execute", reply_seq)
            .await
        else {
            return Ok(());
        };
        let Some(st) = self.stmts.get(id) else {
            return Ok(());
        };
        let (prepare, long_data) = (st.prepare.clone(), st.long_data());
        let c = classify(prepare.get(1..).unwrap_or_default());
        let plan = match self.plan(&c) {
            _ if long_data => Plan::Master,
            Plan::All => Plan::Master,
            p => p,
        };
        let ran = match plan {
            Plan::Reader(want) => {
                let mode = ReaderMode::Pick(want.as_deref());
                self.on_reader(&frame, Cmd::Stmt(id), &c, mode, reply_seq)
                    .await?
            }
            Plan::LastReader => {
                self.on_reader(&frame, Cmd::Stmt(id), &c, ReaderMode::Pinned, reply_seq)
                    .await?
            }
            Plan::Master | Plan::All => {
                self.on_master(&frame, Cmd::Stmt(id), Some(&c), need(&c), reply_seq)
                    .await?
            }
        };
        if let Some((o, target)) = ran {
            self.state.after(&c, target, o.ok());
            self.note_reply(&o, target, &c);
            self.stmts.update(id, |st| {
                *st.last = Some(target);
                *st.long_data = false;
                *st.cursor = open_cursor(o.status());
            });
            self.observe(target, start);
        }
        Ok(())
    }

    /// COM_STMT_BULK_EXECUTE (MariaDB): always a write.
    pub(super) async fn stmt_bulk(&mut self, frame: BytesMut, reply_seq: u8) -> Result<(), End> {
        let start = Instant::now();
        let payload = frame_head(&frame).0;
        let Some(id) = self
            .resolve_stmt(payload, "mysqld_stmt_bulk_execute", reply_seq)
            .await
        else {
            return Ok(());
        };
        if self
            .on_master(&frame, Cmd::Stmt(id), None, Need::Write, reply_seq)
            .await?
            .is_some()
        {
            self.state.wrote = true;
            self.state.last = Target::Master;
        }
        self.observe(Target::Master, start);
        Ok(())
    }

    /// COM_STMT_SEND_LONG_DATA, COM_STMT_CLOSE (no reply), COM_STMT_RESET, COM_STMT_FETCH.
    pub(super) async fn stmt_other(
        &mut self,
        frame: BytesMut,
        command: u8,
        reply_seq: u8,
    ) -> Result<(), End> {
        let payload = frame_head(&frame).0;
        let id = stmt_id(payload).and_then(|i| self.stmts.resolve(i));
        let caps = self.login.capabilities;
        match (command, id) {
            // The servers keep the statement in their connections' caches (shared by the
            // sessions, bounded): a client preparing the text again reuses it.
            (cmd::STMT_CLOSE, Some(id)) => {
                self.stmts.remove(id);
                Ok(())
            }
            (cmd::STMT_SEND_LONG_DATA, Some(id)) => {
                // No reply is expected: without a master connection the data is dropped and the
                // execute that follows reports the failure.
                if let Some(m) = self.master.as_mut()
                    && self.shared.is_master(m.addr())
                {
                    match backend_frame(m, &mut self.stmts, &frame, Cmd::Stmt(id), caps).await {
                        Ok(f) => {
                            if m.send(&f).await.is_err() {
                                self.master = None;
                            }
                        }
                        // The execute that follows reports a statement the master refused.
                        Err(FrameError::Refused(_)) => {}
                        Err(FrameError::Backend(_)) => self.master = None,
                    }
                }
                self.stmts.update(id, |st| *st.long_data = true);
                Ok(())
            }
            (cmd::STMT_CLOSE | cmd::STMT_SEND_LONG_DATA, None) => Ok(()),
            (_, None) => {
                let what = if command == cmd::STMT_FETCH {
                    "mysqld_stmt_fetch"
                } else {
                    "mysqld_stmt_reset"
                };
                self.resolve_stmt(payload, what, reply_seq).await;
                Ok(())
            }
            (_, Some(id)) => {
                let start = Instant::now();
                let on_reader = self.stmts.get(id).and_then(|s| s.last) == Some(Target::Reader)
                    && self.reader.is_some();
                let c = super::super::classify::Classification::unknown();
                let ran = if on_reader {
                    self.on_reader(&frame, Cmd::Stmt(id), &c, ReaderMode::Pinned, reply_seq)
                        .await?
                } else {
                    self.on_master(&frame, Cmd::Stmt(id), None, Need::Read, reply_seq)
                        .await?
                };
                if let Some((o, target)) = ran {
                    self.stmts.update(id, |st| {
                        if command == cmd::STMT_RESET {
                            *st.long_data = false;
                            *st.cursor = false;
                        } else {
                            // The fetch that sends the last row closes the cursor.
                            *st.cursor = o.ok() && open_cursor(o.status());
                        }
                    });
                    self.observe(target, start);
                }
                Ok(())
            }
        }
    }
}
