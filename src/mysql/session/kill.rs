//! `KILL [CONNECTION | QUERY] id` with datagate's session ids: the statement the session runs
//! is killed on its servers with `KILL QUERY` (the servers check the killer's rights), and
//! `KILL CONNECTION` then ends the session.

use super::super::backend::BackendError;
use super::super::classify::Kill;
use super::super::conn::{Conn, Receive, Sink, one_packet};
use super::super::packets::{CapabilityFlags, OkPacket};
use super::history::History;
use super::{End, Session};

impl Session {
    /// Answers a `KILL` naming a session id.
    pub(super) async fn kill(&mut self, kill: Kill, reply_seq: u8) -> Result<(), End> {
        let (id, query_only) = match kill {
            Kill::ByQueryId => {
                let msg = "KILL QUERY ID is not supported through datagate: kill by \
                           connection id (the greeting's)";
                self.client.send_err(reply_seq, 1235, "42000", msg).await;
                return Ok(());
            }
            Kill::Session { id, query_only } => (id, query_only),
        };
        let Some(target) = self.shared.sessions.get(id) else {
            let msg = format!("Unknown thread id: {id}");
            self.client.send_err(reply_seq, 1094, "HY000", &msg).await;
            return Ok(());
        };
        if u64::from(self.me.id) == id {
            if query_only {
                return self.kill_ok(reply_seq).await;
            }
            let msg = "Connection was killed";
            self.client.send_err(reply_seq, 1927, "70100", msg).await;
            return Err(End);
        }
        let mut refused: Option<BackendError> = None;
        let mut killed_any = false;
        for (addr, thread) in target.backends() {
            match self.kill_query_on(&addr, thread).await {
                Ok(()) => killed_any = true,
                Err(e @ BackendError::Server(_)) => refused = Some(e),
                Err(e) => {
                    tracing::info!(listener = %self.shared.ctx.name, server = %addr, error = %e, "KILL QUERY could not reach the server");
                }
            }
        }
        // The servers judge the killer's rights; without a server that answered, only the
        // owner may end a session.
        let allowed = killed_any || (refused.is_none() && target.user() == self.login.user);
        if !allowed {
            let msg = format!("You are not owner of thread {id}");
            match refused {
                Some(BackendError::Server(err)) if err.code != 1094 => {
                    let _ = self.client.send(reply_seq, &err.build()).await;
                }
                _ => self.client.send_err(reply_seq, 1095, "HY000", &msg).await,
            }
            return Ok(());
        }
        if !query_only {
            target.kill.cancel();
        }
        self.kill_ok(reply_seq).await
    }

    async fn kill_ok(&mut self, reply_seq: u8) -> Result<(), End> {
        let ok = OkPacket {
            status: self.state.master_status,
            ..OkPacket::default()
        };
        let caps = self.login.capabilities;
        self.client
            .send(reply_seq, &ok.build(caps, 0))
            .await
            .map_err(|_| End)
    }

    /// Runs `KILL QUERY thread` on `addr`, on the session's own connection there or on one
    /// opened for it.
    async fn kill_query_on(&mut self, addr: &str, thread: u32) -> Result<(), BackendError> {
        let payload = format!("\x03KILL QUERY {thread}");
        let frame = one_packet(payload.as_bytes());
        let caps = self.login.capabilities;
        let own = [self.master.as_mut(), self.reader.as_mut()]
            .into_iter()
            .flatten()
            .find(|c| c.addr() == addr);
        if let Some(c) = own {
            return run(c, &frame, caps).await;
        }
        let b = self.shared.open_server(addr, None).await?;
        let b = self.prepare_conn(b, &History::new(1), None, false).await?;
        let mut c = Conn::new(b, None, self.shared.liveness());
        let r = run(&mut c, &frame, caps).await;
        crate::net::uring::spawn(c.quit());
        r
    }
}

/// Runs a command whose reply the proxy reads itself; an ERR reply is returned as the error.
async fn run(c: &mut Conn, frame: &[u8], caps: CapabilityFlags) -> Result<(), BackendError> {
    let mut out = Vec::new();
    match c
        .exchange(frame, caps, Sink::Collect(&mut out), Receive::default())
        .await
    {
        Ok(o) if o.ok() => Ok(()),
        Ok(_) => {
            let payload = out.get(4..).unwrap_or_default();
            Err(match super::super::packets::ErrPacket::parse(payload) {
                Ok(e) => BackendError::Server(e),
                Err(e) => BackendError::Packet(e),
            })
        }
        Err(super::super::conn::RelayError::Backend { error, .. }) => Err(error),
        Err(super::super::conn::RelayError::Client) => Err(BackendError::Closed),
    }
}
