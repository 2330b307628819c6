//! One client session: commands are read whole from the client, sent to the master as they
//! came, and the reply is relayed buffer by buffer while a [`ReplyTracker`] finds its end and
//! the server status (transaction state).
//!
//! The session follows the cluster's master: an idle session moves to a new master on its next
//! command (logging in again and replaying `USE`/`SET` history); a session inside a transaction
//! gets an error for that command and continues on the new master with the next one.

mod history;
mod login;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::BytesMut;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::backend::MAX_REPLY_PACKET;
use super::backend::{Backend, BackendError, Login};
use super::codec::{HEADER_LEN, PacketCodec};
use super::frontend::{ClientConn, FrontendError, authenticate, frame_head, parse_change_user};
use super::packets::{OkPacket, StatusFlags};
use super::proxy::Shared;
use super::reply::{ReplyTracker, Step, cmd, has_no_reply};
use history::{HistoryEntry, history_entry};
use login::{LoggedIn, LoginFailure, report_backend_error};

/// Runs one client from accept to close.
pub async fn run(shared: Arc<Shared>, stream: TcpStream, peer: SocketAddr) {
    let client = ClientConn::new(stream, shared.cfg.max_allowed_packet);
    let LoggedIn {
        client,
        backend,
        login,
        scramble,
    } = match login::login(&shared, client, peer).await {
        Ok(l) => l,
        Err(LoginFailure::Rejected(reason)) => {
            shared.ctx.reject(reason);
            return;
        }
        Err(LoginFailure::Gone) => return,
    };
    let mut s = Session {
        in_trans: backend.status.contains(StatusFlags::SERVER_STATUS_IN_TRANS),
        status: backend.status,
        backend: Some(backend),
        shared,
        client,
        login,
        scramble,
        peer,
        history: Vec::new(),
    };
    if let Err(reason) = s.commands().await
        && let Some(r) = reason
    {
        s.shared.ctx.reject(r);
    }
    if let Some(b) = s.backend.take() {
        b.quit().await;
    }
}

/// Why a relay failed.
enum RelayError {
    /// The backend failed; `relayed` says whether part of the reply already reached the client.
    Backend { error: BackendError, relayed: bool },
    /// The client went away.
    Client,
}

struct Session {
    shared: Arc<Shared>,
    client: ClientConn,
    backend: Option<Backend>,
    login: Login,
    scramble: Vec<u8>,
    peer: SocketAddr,
    /// `SET` statements run in this session (COM_QUERY payloads), replayed on a new master.
    history: Vec<Vec<u8>>,
    status: StatusFlags,
    in_trans: bool,
}

impl Session {
    /// The command loop; `Err(Some(reason))` ends the session as a counted reject.
    async fn commands(&mut self) -> Result<(), Option<&'static str>> {
        loop {
            let frame = match self.client.read_frame().await {
                Ok(f) => f,
                Err(FrontendError::Codec(_)) => {
                    let msg = "Got a packet bigger than 'max_allowed_packet' bytes";
                    self.client.send_err(1, 1153, "08S01", msg).await;
                    self.client.linger().await;
                    return Err(Some("max_allowed_packet"));
                }
                Err(_) => return Ok(()),
            };
            let (head, seq) = frame_head(&frame);
            let Some(&command) = head.first() else {
                self.client
                    .send_err(seq.wrapping_add(1), 1047, "08S01", "Empty command packet")
                    .await;
                return Err(Some("bad_packet"));
            };
            let reply_seq = seq.wrapping_add(1);
            match command {
                cmd::QUIT => return Ok(()),
                cmd::PING => {
                    let ok = OkPacket {
                        status: self.status,
                        ..OkPacket::default()
                    };
                    let caps = self.login.capabilities;
                    if self
                        .client
                        .send(reply_seq, &ok.build(caps, 0))
                        .await
                        .is_err()
                    {
                        return Ok(());
                    }
                }
                cmd::BINLOG_DUMP | cmd::BINLOG_DUMP_GTID | cmd::REGISTER_SLAVE => {
                    let msg = "Replication commands are not supported through datagate";
                    self.client.send_err(reply_seq, 1047, "08S01", msg).await;
                }
                cmd::CHANGE_USER => {
                    let payload = head.to_vec();
                    self.change_user(&payload, reply_seq)
                        .await
                        .map_err(|_| None)?;
                }
                _ => self
                    .forward(frame, command, reply_seq)
                    .await
                    .map_err(|_| None)?,
            }
        }
    }

    /// Makes sure the session has a connection to the current master; on failure the client has
    /// had its ERR and `false` is returned.
    async fn ensure_backend(&mut self, reply_seq: u8) -> Result<bool, ()> {
        if let Some(b) = &self.backend {
            if self.shared.is_master(&b.addr) {
                return Ok(true);
            }
            let old = self.backend.take();
            if let Some(old) = old {
                tokio::spawn(old.quit());
            }
            if self.in_trans {
                self.in_trans = false;
                let msg = "Connection was killed: the master changed; transaction rolled back";
                self.client.send_err(reply_seq, 1927, "08S01", msg).await;
                return Ok(false);
            }
        }
        match self.reconnect().await {
            Ok(b) => {
                self.backend = Some(b);
                Ok(true)
            }
            Err(e) => {
                report_backend_error(&mut self.client, reply_seq, &e).await;
                Ok(false)
            }
        }
    }

    /// A new master connection with the session's account, database and `SET` history.
    async fn reconnect(&mut self) -> Result<Backend, BackendError> {
        let header = self.shared.proxy_header(self.client.tcp(), self.peer);
        let mut b = self.shared.open_master(header.as_deref()).await?;
        b.login(&self.login, self.shared.cfg.connect_timeout.0)
            .await?;
        for stmt in &self.history {
            if let Err(e) = b.simple_command(stmt, self.login.capabilities).await {
                tracing::warn!(listener = %self.shared.ctx.name, error = %e, "session history replay failed");
            }
        }
        self.shared.replays.inc();
        self.status = b.status;
        tracing::debug!(listener = %self.shared.ctx.name, master = %b.addr, "session moved to the master");
        Ok(b)
    }

    async fn forward(&mut self, frame: BytesMut, command: u8, reply_seq: u8) -> Result<(), ()> {
        let on_master = self
            .backend
            .as_ref()
            .is_some_and(|b| self.shared.is_master(&b.addr));
        if has_no_reply(command) && !on_master {
            // COM_STMT_CLOSE / SEND_LONG_DATA for a statement of a connection that is gone: the
            // client expects no reply, so an error cannot be reported; drop it.
            return Ok(());
        }
        if !self.ensure_backend(reply_seq).await? {
            return Ok(());
        }
        let start = Instant::now();
        let (head, _) = frame_head(&frame);
        let record = history_entry(head);
        let r = self.relay(&frame, command).await;
        match r {
            Ok(tracker) => {
                if let Some(st) = tracker.status {
                    self.status = st;
                    self.in_trans = st.contains(StatusFlags::SERVER_STATUS_IN_TRANS);
                }
                if !tracker.error {
                    self.remember(command, record);
                }
            }
            Err(RelayError::Client) => return Err(()),
            Err(RelayError::Backend { error, relayed }) => {
                tracing::info!(listener = %self.shared.ctx.name, error = %error, "master connection lost");
                self.backend = None;
                self.in_trans = false;
                if relayed {
                    return Err(());
                }
                let msg = format!("datagate: lost connection to the master during query: {error}");
                self.client.send_err(reply_seq, 2013, "HY000", &msg).await;
            }
        }
        self.shared.queries.inc();
        self.shared.duration.observe(start.elapsed().as_secs_f64());
        Ok(())
    }

    /// Sends `frame` to the master and relays the reply.
    async fn relay(&mut self, frame: &[u8], command: u8) -> Result<ReplyTracker, RelayError> {
        let caps = self.login.capabilities;
        let Some(b) = self.backend.as_mut() else {
            return Err(RelayError::Backend {
                error: BackendError::Closed,
                relayed: false,
            });
        };
        let mut tracker = ReplyTracker::new(command, caps);
        let backend_err = |error, relayed| RelayError::Backend { error, relayed };
        b.stream
            .write_all(frame)
            .await
            .map_err(|e| backend_err(e.into(), false))?;
        if has_no_reply(command) {
            return Ok(tracker);
        }
        let codec = PacketCodec::new(MAX_REPLY_PACKET).lenient();
        let mut relayed = false;
        loop {
            let mut off = 0;
            let mut step = Step::More;
            while let Some(n) = codec
                .check(&b.buf[off..])
                .map_err(|e| backend_err(e.into(), relayed))?
            {
                let (head, _) = frame_head(&b.buf[off..off + n]);
                // Exact for one chunk; above MAX_CHUNK for a split packet, which is all `feed` asks.
                step = tracker
                    .feed(head, n - HEADER_LEN)
                    .map_err(|_| backend_err(BackendError::Protocol("malformed reply"), relayed))?;
                off += n;
                if step != Step::More {
                    break;
                }
            }
            if off > 0 {
                let out = b.buf.split_to(off);
                self.client
                    .write_all(&out)
                    .await
                    .map_err(|_| RelayError::Client)?;
                relayed = true;
            }
            match step {
                Step::Done => return Ok(tracker),
                Step::LocalInfile => loop {
                    // The file, as packets, up to an empty one.
                    let f = self
                        .client
                        .read_frame()
                        .await
                        .map_err(|_| RelayError::Client)?;
                    b.stream
                        .write_all(&f)
                        .await
                        .map_err(|e| backend_err(e.into(), true))?;
                    if f.len() == HEADER_LEN {
                        break;
                    }
                },
                Step::More => b.fill().await.map_err(|e| backend_err(e, relayed))?,
            }
        }
    }

    /// Keeps the session state a new master connection needs.
    fn remember(&mut self, command: u8, record: Option<HistoryEntry>) {
        match record {
            Some(HistoryEntry::Use(db)) => self.login.database = Some(db),
            Some(HistoryEntry::Set(stmt)) if !self.history.contains(&stmt) => {
                if self.history.len() >= self.shared.cfg.max_session_history.max(1) {
                    self.history.remove(0);
                }
                self.history.push(stmt);
            }
            Some(HistoryEntry::Set(_)) => {}
            None if command == cmd::RESET_CONNECTION => self.history.clear(),
            None => {}
        }
    }

    /// COM_CHANGE_USER: checked against the accounts, then a fresh master login as the new user.
    async fn change_user(&mut self, payload: &[u8], reply_seq: u8) -> Result<(), ()> {
        let cu = match parse_change_user(payload, self.login.capabilities) {
            Ok(cu) => cu,
            Err(e) => {
                self.client
                    .send_err(reply_seq, 1047, "08S01", &e.to_string())
                    .await;
                return Err(());
            }
        };
        let ip = self.peer.ip();
        let mut auth = authenticate(
            &self.shared.users.table(),
            &cu.user,
            ip,
            &self.scramble,
            &cu.auth_response,
        );
        if matches!(&auth, Err(r) if r.retry_after_reload) {
            self.shared.users.reload_if_stale().await;
            auth = authenticate(
                &self.shared.users.table(),
                &cu.user,
                ip,
                &self.scramble,
                &cu.auth_response,
            );
        }
        let sha1 = match auth {
            Ok(h) => h,
            Err(r) => {
                self.client
                    .send_err(reply_seq, r.code, r.sqlstate, &r.message)
                    .await;
                return Ok(());
            }
        };
        if let Some(old) = self.backend.take() {
            tokio::spawn(old.quit());
        }
        let mut login = self.login.clone();
        login.user = cu.user;
        login.sha1_password = sha1;
        login.database = cu.database;
        if let Some(c) = cu.charset {
            login.charset = c;
        }
        let previous = std::mem::replace(&mut self.login, login);
        let saved = std::mem::take(&mut self.history);
        self.in_trans = false;
        match self.reconnect().await {
            Ok(b) => {
                self.backend = Some(b);
                let ok = OkPacket {
                    status: self.status,
                    ..OkPacket::default()
                };
                let caps = self.login.capabilities;
                self.client
                    .send(reply_seq, &ok.build(caps, 0))
                    .await
                    .map_err(|_| ())
            }
            Err(e) => {
                self.login = previous;
                self.history = saved;
                report_backend_error(&mut self.client, reply_seq, &e).await;
                Ok(())
            }
        }
    }
}
