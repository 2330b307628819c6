//! One client session with MaxScale readwritesplit semantics: each command is read whole from
//! the client, classified (`classify`), routed to the master or to the session's reader, and
//! its reply relayed buffer by buffer while a `ReplyTracker` finds its end and the server
//! status (transaction state comes from the status flags, not from guessing at SQL).
//!
//! A session holds at most two backend connections: the master (opened at login) and one
//! reader (opened at the first read, picked by `router`). Session commands run on both and are
//! kept in a history replayed on every connection opened later. When the master changes, an
//! idle session moves to the new one on its next command; an open transaction is replayed
//! there (`trx`) and continues if every reply matches, otherwise the client gets ERR 1927.

mod conn;
mod exec;
pub mod history;
mod login;
pub mod prepared;
mod state;
mod stmt;
mod trx;

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::BytesMut;

use super::backend::{Backend, BackendError, Login};
use super::frontend::{ClientConn, FrontendError, authenticate, frame_head, parse_change_user};
use super::packets::{OkPacket, StatusFlags};
use super::proxy::Shared;
use super::reply::cmd;
use super::router;
use crate::config::MasterFailureMode;
use conn::Conn;
use history::History;
use login::{LoggedIn, LoginFailure, report_backend_error};
use prepared::Statements;
use state::RouteState;
use trx::TrxLog;

/// Which of the session's backends runs a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Master,
    Reader,
}

/// The session is over (the client left, or it was closed after an error it was sent).
#[derive(Debug)]
struct End;

/// What a command needs the master for, which decides what `master_failure_mode` does when
/// there is none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Need {
    /// A read or a session command.
    Read,
    /// A write, or anything that might be one.
    Write,
}

/// Runs one client from accept to close.
pub async fn run(shared: Arc<Shared>, stream: tokio::net::TcpStream, peer: SocketAddr) {
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
    let claim = shared.load.claim(&backend.addr);
    let mut s = Session {
        state: RouteState::new(backend.status),
        master: Some(Conn::new(backend, Some(claim))),
        reader: None,
        history: History::new(shared.cfg.max_session_history),
        shared,
        client,
        login,
        scramble,
        peer,
        stmts: Statements::default(),
        trx: TrxLog::default(),
        hint_warned: false,
    };
    if let Err(reason) = s.commands().await
        && let Some(r) = reason
    {
        s.shared.ctx.reject(r);
    }
    for c in [s.master.take(), s.reader.take()].into_iter().flatten() {
        c.quit().await;
    }
}

struct Session {
    shared: Arc<Shared>,
    client: ClientConn,
    login: Login,
    scramble: Vec<u8>,
    peer: SocketAddr,
    master: Option<Conn>,
    reader: Option<Conn>,
    /// Session commands, replayed on connections opened later.
    history: History,
    state: RouteState,
    stmts: Statements,
    trx: TrxLog,
    /// A hint named an unknown server (logged once per session).
    hint_warned: bool,
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
            let reply_seq = seq.wrapping_add(1);
            let Some(&command) = head.first() else {
                self.client
                    .send_err(reply_seq, 1047, "08S01", "Empty command packet")
                    .await;
                return Err(Some("bad_packet"));
            };
            self.command(frame, command, reply_seq)
                .await
                .map_err(|End| None)?;
        }
    }

    async fn command(&mut self, frame: BytesMut, command: u8, reply_seq: u8) -> Result<(), End> {
        match command {
            cmd::QUIT => Err(End),
            cmd::PING => {
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
            cmd::BINLOG_DUMP | cmd::BINLOG_DUMP_GTID | cmd::REGISTER_SLAVE => {
                let msg = "Replication commands are not supported through datagate";
                self.client.send_err(reply_seq, 1047, "08S01", msg).await;
                Ok(())
            }
            cmd::CHANGE_USER => {
                let payload = frame_head(&frame).0.to_vec();
                self.change_user(&payload, reply_seq).await
            }
            cmd::QUERY => self.query(frame, reply_seq).await,
            cmd::INIT_DB | cmd::SET_OPTION => {
                let start = std::time::Instant::now();
                self.session_command(&frame, None, reply_seq).await?;
                self.shared.to_all.observe(start.elapsed());
                Ok(())
            }
            cmd::RESET_CONNECTION => self.reset_connection(&frame, reply_seq).await,
            cmd::STMT_PREPARE => self.stmt_prepare(&frame, reply_seq).await,
            cmd::STMT_EXECUTE => self.stmt_execute(frame, reply_seq).await,
            cmd::STMT_SEND_LONG_DATA | cmd::STMT_CLOSE | cmd::STMT_RESET | cmd::STMT_FETCH => {
                self.stmt_other(frame, command, reply_seq).await
            }
            cmd::STMT_BULK_EXECUTE => self.stmt_bulk(frame, reply_seq).await,
            _ => {
                let start = std::time::Instant::now();
                self.on_master(&frame, exec::Cmd::Plain, None, Need::Write, reply_seq)
                    .await?;
                self.shared.to_master.observe(start.elapsed());
                Ok(())
            }
        }
    }

    /// Tells the client that there is no master, as `master_failure_mode` says; `Err` if the
    /// session must end.
    async fn no_master(&mut self, need: Need, reply_seq: u8, e: &BackendError) -> Result<(), End> {
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
    async fn ensure_master(&mut self, need: Need, reply_seq: u8) -> Result<bool, End> {
        if let Some(m) = &self.master {
            let current = self.shared.is_master(m.addr());
            if current && !m.closed_while_idle() {
                return Ok(true);
            }
            if current && !self.state.in_master_trx() && self.state.temp_tables.is_empty() {
                // Closed by the server while idle (wait_timeout): nothing of the session is
                // lost with it but what the history gives back.
                tracing::debug!(listener = %self.shared.ctx.name, "master connection closed while idle; reconnecting");
                self.master = None;
                return match self.reconnect_master().await {
                    Ok(()) => Ok(true),
                    Err(e) => self.no_master(need, reply_seq, &e).await.map(|()| false),
                };
            }
            if current {
                // A transaction or temporary tables died with it: the next command tells.
                return Ok(true);
            }
            if let Some(old) = self.master.take() {
                tokio::spawn(old.quit());
            }
            if self.state.in_master_trx() {
                if self.replay_trx().await {
                    return Ok(true);
                }
                self.lose_trx(
                    reply_seq,
                    "the master changed; the transaction was rolled back",
                )
                .await;
                return Ok(false);
            }
        }
        match self.reconnect_master().await {
            Ok(()) => Ok(true),
            Err(e) => self.no_master(need, reply_seq, &e).await.map(|()| false),
        }
    }

    /// Tells the client its transaction is gone (ERR 1927) and forgets it.
    async fn lose_trx(&mut self, reply_seq: u8, why: &str) {
        self.trx.clear();
        self.state.master_status = StatusFlags::SERVER_STATUS_AUTOCOMMIT;
        self.state.ro_trx = false;
        let msg = format!("Connection was killed: {why}");
        self.client.send_err(reply_seq, 1927, "08S01", &msg).await;
    }

    /// Logs in to `b` as the session's user and replays the session history; `strict` fails
    /// on a history command the server refuses (a reader must agree with the master).
    async fn prepare_conn(
        &self,
        mut b: Backend,
        history: &History,
        database: Option<String>,
        strict: bool,
    ) -> Result<Backend, BackendError> {
        let mut login = self.login.clone();
        login.database = database;
        b.login(&login, self.shared.cfg.connect_timeout.0).await?;
        for stmt in history.payloads() {
            if let Err(e) = b.simple_command(stmt, self.login.capabilities).await {
                tracing::warn!(listener = %self.shared.ctx.name, server = %b.addr, error = %e, "session history replay failed");
                if strict {
                    return Err(e);
                }
            }
        }
        Ok(b)
    }

    /// A new master connection with the session's account, database and history.
    async fn reconnect_master(&mut self) -> Result<(), BackendError> {
        let header = self.shared.proxy_header(self.client.tcp(), self.peer);
        let b = self.shared.open_master(header.as_deref()).await?;
        let db = self.login.database.clone();
        let b = self.prepare_conn(b, &self.history, db, false).await?;
        self.shared.replays.inc();
        self.state.master_status = b.status;
        tracing::debug!(listener = %self.shared.ctx.name, master = %b.addr, "session moved to the master");
        let claim = self.shared.load.claim(&b.addr);
        self.master = Some(Conn::new(b, Some(claim)));
        Ok(())
    }

    /// Makes sure the session has a reader (`want`: a hinted server); `None` when no reader can
    /// be used, `Some(Target::Master)` when the master is the one to read from.
    async fn ensure_reader(
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
                tokio::spawn(old.quit());
            }
        }
        loop {
            let excluded: Vec<&str> = exclude.iter().map(String::as_str).collect();
            let (addr, claim) = match want {
                Some(a) if !excluded.contains(&a) => (a.to_string(), self.shared.load.claim(a)),
                Some(_) => return None,
                None => self.shared.load.pick(&snap, accept_master, &excluded)?,
            };
            if Some(addr.as_str()) == master_addr {
                return Some(Target::Master);
            }
            let header = self.shared.proxy_header(self.client.tcp(), self.peer);
            let opened = match self.shared.open_server(&addr, header.as_deref()).await {
                Ok(b) => {
                    let db = self.login.database.clone();
                    self.prepare_conn(b, &self.history, db, true).await
                }
                Err(e) => Err(e),
            };
            match opened {
                Ok(b) => {
                    self.state.reader_status = b.status;
                    self.reader = Some(Conn::new(b, Some(claim)));
                    return Some(Target::Reader);
                }
                Err(e) => {
                    tracing::info!(listener = %self.shared.ctx.name, server = %addr, error = %e, "cannot use reader");
                    exclude.push(addr);
                }
            }
        }
    }

    /// COM_CHANGE_USER: checked against the accounts, then a fresh master login as the new user;
    /// the session starts over (no reader, history, statements or temporary tables).
    async fn change_user(&mut self, payload: &[u8], reply_seq: u8) -> Result<(), End> {
        let cu = match parse_change_user(payload, self.login.capabilities) {
            Ok(cu) => cu,
            Err(e) => {
                self.client
                    .send_err(reply_seq, 1047, "08S01", &e.to_string())
                    .await;
                return Err(End);
            }
        };
        let ip = self.peer.ip();
        let check = |s: &Self| {
            authenticate(
                &s.shared.users.table(),
                &cu.user,
                ip,
                &s.scramble,
                &cu.auth_response,
            )
        };
        let mut auth = check(self);
        if matches!(&auth, Err(r) if r.retry_after_reload) {
            self.shared.users.reload_if_stale().await;
            auth = check(self);
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
        for c in [self.master.take(), self.reader.take()]
            .into_iter()
            .flatten()
        {
            tokio::spawn(c.quit());
        }
        let mut login = self.login.clone();
        login.user = cu.user;
        login.sha1_password = sha1;
        login.database = cu.database;
        if let Some(c) = cu.charset {
            login.charset = c;
        }
        let previous = std::mem::replace(&mut self.login, login);
        let saved = std::mem::replace(
            &mut self.history,
            History::new(self.shared.cfg.max_session_history),
        );
        self.stmts.clear();
        self.trx.clear();
        match self.reconnect_master().await {
            Ok(()) => {
                self.state.reset(self.state.master_status);
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
            Err(e) => {
                self.login = previous;
                self.history = saved;
                report_backend_error(&mut self.client, reply_seq, &e).await;
                Ok(())
            }
        }
    }
}
