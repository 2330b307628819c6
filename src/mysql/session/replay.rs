//! Transaction replay: the open transaction's commands sent again to a new master, after the
//! session history as it was when the transaction began; good only if every reply checksums the
//! same as the original.

use std::time::Instant;

use super::super::conn::{Conn, Receive, Sink};
use super::super::frontend::frame_head;
use super::super::packets::StatusFlags;
use super::super::reply::cmd;
use super::Session;
use super::frame::Cmd;
use super::frame::backend_frame;

impl Session {
    /// Replays the open transaction on the current master; on success the session continues
    /// there as if nothing happened.
    pub(super) async fn replay_trx(&mut self) -> bool {
        if !self.shared.cfg.transaction_replay || !self.trx.replayable() {
            return false;
        }
        let Some((history, db)) = self.trx.start_state().cloned() else {
            return false;
        };
        let start = Instant::now();
        let header = self
            .shared
            .proxy_header(self.client.local_addr(), self.peer);
        let opened = match self.shared.open_master(header.as_deref()).await {
            Ok(b) => self.prepare_conn(b, &history, db, true).await,
            Err(e) => Err(e),
        };
        let result = match opened {
            Ok(b) => {
                let slot = self.shared.pool.try_slot(&b.addr);
                let mut conn = self.shared.conn(b, slot);
                match self.replay_on(&mut conn).await {
                    Ok(status) => Ok((conn, status)),
                    Err(why) => {
                        crate::net::uring::spawn(conn.quit());
                        Err(why)
                    }
                }
            }
            Err(e) => Err(e.to_string()),
        };
        match result {
            Ok((conn, status)) => {
                tracing::info!(listener = %self.shared.ctx.name, master = %conn.addr(), statements = self.trx.entries().len(), ms = start.elapsed().as_millis() as u64, "transaction replayed on the new master");
                self.master = Some(conn);
                self.publish_backends();
                self.state.master_status = status;
                self.shared.trx_replayed.inc();
                true
            }
            Err(why) => {
                tracing::warn!(listener = %self.shared.ctx.name, why, "transaction replay failed");
                self.shared.trx_replay_failed.inc();
                false
            }
        }
    }

    /// Sends the transaction's commands to `conn`, checking every reply against the original.
    pub(super) async fn replay_on(&mut self, conn: &mut Conn) -> Result<StatusFlags, String> {
        let caps = self.login.capabilities;
        let mut status = StatusFlags::SERVER_STATUS_AUTOCOMMIT;
        for i in 0..self.trx.entries().len() {
            let (frame, sum) = &self.trx.entries()[i];
            let payload = frame_head(frame).0;
            let cmd = match payload.first() {
                Some(
                    &(cmd::STMT_EXECUTE
                    | cmd::STMT_SEND_LONG_DATA
                    | cmd::STMT_RESET
                    | cmd::STMT_FETCH
                    | cmd::STMT_BULK_EXECUTE),
                ) => {
                    match super::prepared::stmt_id(payload).and_then(|id| self.stmts.resolve(id)) {
                        Some(id) => Cmd::Stmt(id),
                        None => return Err("a statement of the transaction is closed".into()),
                    }
                }
                _ => Cmd::Plain,
            };
            let f = backend_frame(conn, &mut self.stmts, frame, cmd, caps)
                .await
                .map_err(|e| e.to_string())?;
            let opts = Receive {
                checksum: true,
                client_stmt_id: None,
            };
            let o = conn
                .exchange(&f, caps, Sink::Discard, opts)
                .await
                .map_err(|e| format!("{e:?}"))?;
            if o.checksum != *sum {
                return Err(format!("the reply to statement {} differs", i + 1));
            }
            if let Some(st) = o.status() {
                status = st;
            }
        }
        Ok(status)
    }
}
