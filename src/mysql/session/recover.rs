//! Carrying on after the master connection broke with a command in flight (before any byte
//! of its reply reached the client), as `lost::after_loss` decides: run it again, replay the
//! transaction first, or tell the client that the outcome is unknown. A session that held
//! state only that connection had (temporary tables, locks, …) ends with an error naming it.

use super::super::backend::BackendError;
use super::super::packets::StatusFlags;
use super::lost::AfterLoss;
use super::{End, Need, Session};

/// A lost master reply.
pub(super) struct Loss<'a> {
    pub decision: AfterLoss,
    pub error: &'a BackendError,
    /// A transaction was open.
    pub in_trx: bool,
}

/// What the command loop does next.
pub(super) enum Next {
    /// Run the command again, on the new master connection.
    Again,
    /// The client has its answer (an ERR).
    Answered,
}

impl Session {
    /// What the session holds on its master connection that no other connection can be given.
    pub(super) fn held_on_master(&self) -> Vec<String> {
        let mut held = self.state.master_only_state();
        if self.stmts.has_long_data() {
            held.push("long data sent for a prepared statement".into());
        }
        held
    }

    /// Ends the session: its master connection is gone (`what`) and with it `held`.
    pub(super) async fn end_for_lost_state(
        &mut self,
        reply_seq: u8,
        what: &str,
        held: &[String],
    ) -> End {
        tracing::warn!(listener = %self.shared.ctx.name, what, held = %held.join(", "), "session state lost with the master connection; closing the session");
        let msg = format!(
            "Connection was killed: {what}; the session's {} existed only on that connection \
             and cannot be restored",
            held.join(", ")
        );
        self.client.send_err(reply_seq, 1927, "08S01", &msg).await;
        End
    }

    /// After the master connection was lost with a command in flight (`self.master` is None):
    /// prepares running it again, or answers the client. `retried` allows one new attempt.
    pub(super) async fn recover_master(
        &mut self,
        loss: Loss<'_>,
        retried: &mut bool,
        need: Need,
        reply_seq: u8,
    ) -> Result<Next, End> {
        let error = loss.error;
        let held = self.held_on_master();
        if !held.is_empty() {
            let what = match loss.decision {
                AfterLoss::Unknown { committing: true } => format!(
                    "the master was lost ({error}) while the transaction committed; whether it \
                     committed is unknown"
                ),
                AfterLoss::Unknown { committing: false } => format!(
                    "the master was lost ({error}) while it ran the statement; whether it was \
                     applied is unknown"
                ),
                _ if loss.in_trx => {
                    format!("the master was lost ({error}); the transaction was rolled back")
                }
                _ => format!("the master was lost ({error})"),
            };
            return Err(self.end_for_lost_state(reply_seq, &what, &held).await);
        }
        let first = !*retried;
        *retried = true;
        match loss.decision {
            AfterLoss::Retry | AfterLoss::RolledBack if first => {
                if loss.decision == AfterLoss::RolledBack {
                    self.trx.clear();
                    self.state.master_status = StatusFlags::SERVER_STATUS_AUTOCOMMIT;
                }
                Ok(if self.ensure_master(need, reply_seq).await? {
                    Next::Again
                } else {
                    Next::Answered
                })
            }
            AfterLoss::Replay if first => {
                if self.replay_trx().await {
                    return Ok(Next::Again);
                }
                let why = if self.trx.too_large() {
                    "the master was lost; the transaction was rolled back (too large to replay)"
                } else {
                    "the master was lost; the transaction was rolled back"
                };
                self.lose_trx(reply_seq, why).await;
                Ok(Next::Answered)
            }
            AfterLoss::Unknown { committing } => {
                if committing || loss.in_trx {
                    let why = format!(
                        "the master was lost ({error}) while the transaction committed; whether \
                         it committed is unknown"
                    );
                    self.lose_trx(reply_seq, &why).await;
                } else {
                    let msg = format!(
                        "Connection was killed: the master was lost ({error}) while it ran the \
                         statement; whether it was applied is unknown"
                    );
                    self.client.send_err(reply_seq, 1927, "08S01", &msg).await;
                }
                Ok(Next::Answered)
            }
            // The second loss in a row: give up, saying what did not happen.
            _ if loss.in_trx => {
                self.lose_trx(
                    reply_seq,
                    "the master was lost; the transaction was rolled back",
                )
                .await;
                Ok(Next::Answered)
            }
            _ => {
                let msg = format!(
                    "datagate: lost connection to the master during the query ({error}); it \
                     changed nothing"
                );
                self.client.send_err(reply_seq, 2013, "HY000", &msg).await;
                Ok(Next::Answered)
            }
        }
    }
}

impl Session {
    /// Bytes of session state left under `max_session_memory` after adding `more`.
    pub(super) fn memory_left(&self, more: usize) -> usize {
        let used = self.history.bytes() + self.stmts.bytes() + self.trx.bytes() + more;
        self.shared.cfg.max_session_memory.saturating_sub(used)
    }

    /// Refuses a command that would add `payload` to the session's kept state past
    /// `max_session_memory` or `max_session_history`: the client gets ERR 1290 and nothing
    /// runs. `Ok(true)` when it may run.
    pub(super) async fn state_fits(
        &mut self,
        payload: &[u8],
        history: bool,
        reply_seq: u8,
    ) -> Result<bool, End> {
        let cfg = &self.shared.cfg;
        let used = self.history.bytes() + self.stmts.bytes() + self.trx.bytes();
        let msg = if used + payload.len() > cfg.max_session_memory {
            format!(
                "datagate is running with max_session_memory = {} so it cannot keep this \
                 statement for the session (session commands {} bytes, prepared statements {} \
                 bytes, open transaction {} bytes, this statement {} bytes)",
                cfg.max_session_memory,
                self.history.bytes(),
                self.stmts.bytes(),
                self.trx.bytes(),
                payload.len()
            )
        } else if history && !self.history.fits(payload) {
            format!(
                "datagate is running with max_session_history = {} so it cannot keep another \
                 session command; reset the session (COM_RESET_CONNECTION) or raise the limit",
                cfg.max_session_history
            )
        } else {
            return Ok(true);
        };
        tracing::info!(listener = %self.shared.ctx.name, peer = %self.peer, "{msg}");
        self.client.send_err(reply_seq, 1290, "HY000", &msg).await;
        Ok(false)
    }
}
