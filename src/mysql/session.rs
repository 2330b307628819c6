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

mod commands;
mod connect;
mod exec;
mod frame;
pub mod history;
mod kill;
mod login;
mod lost;
mod pooling;
pub mod prepared;
pub mod readback;
mod recover;
mod replay;
mod state;
mod stmt;
mod trx;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::BytesMut;

use crate::net::deadline::Deadline;

use super::backend::{BackendError, Login};
use super::conn::Conn;
use super::frontend::{ClientConn, FrontendError, authenticate, frame_head, parse_change_user};
use super::packets::{OkPacket, StatusFlags};
use super::reply::cmd;
use super::sessions::Registration;
use super::shared::Shared;
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
    let client = ClientConn::new(stream);
    let registration = shared.sessions.register();
    let LoggedIn {
        client,
        login,
        scramble,
        seq,
    } = match Box::pin(login::login(&shared, client, peer, registration.id)).await {
        Ok(l) => l,
        Err(LoginFailure::Rejected(reason)) => {
            shared.ctx.reject(reason);
            return;
        }
        Err(LoginFailure::Gone) => return,
    };
    let mut s = Session {
        state: RouteState::new(StatusFlags::SERVER_STATUS_AUTOCOMMIT),
        master: None,
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
        text_stmts: HashMap::new(),
        me: registration,
        keep: None,
        insert_id: (0, None),
    };
    if let Err(reason) = Box::pin(s.first_master(seq)).await {
        if let Some(reason) = reason {
            s.shared.ctx.reject(reason);
        }
        return;
    }
    s.me.handle.set_user(&s.login.user);
    let kill = s.me.handle.kill.clone();
    tokio::select! {
        r = s.commands() => if let Err(Some(reason)) = r {
            s.shared.ctx.reject(reason);
        },
        () = kill.cancelled() => {
            tracing::info!(listener = %s.shared.ctx.name, id = s.me.id, "session killed (KILL CONNECTION)");
        }
    }
    s.close_conns().await;
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
    /// Text-protocol prepared statements (`PREPARE name FROM '…'`) by name: their text, to
    /// route `EXECUTE name` by it.
    text_stmts: HashMap<Vec<u8>, Vec<u8>>,
    /// The session's id and what `KILL` from other sessions needs.
    me: Registration,
    /// The connection that ran the last statement is kept until the next one (warnings or an
    /// error to read, `SQL_CALC_FOUND_ROWS`).
    keep: Option<Target>,
    /// The last id the master generated for the session, and the connection (`Conn::serial`)
    /// that has it as its `LAST_INSERT_ID()`.
    insert_id: (u64, Option<u64>),
}

impl Session {
    /// Logs in to the master as the client's account and tells the client it is in (or why
    /// not); `Err` ends the session (`Some`: counted as a reject with that reason).
    async fn first_master(&mut self, seq: u8) -> Result<(), Option<&'static str>> {
        // The master may have dropped the connection as we logged in (it just died): once more.
        let mut result = Err(BackendError::Closed);
        for _ in 0..2 {
            result = self.reconnect_master().await;
            if !matches!(result, Err(BackendError::Closed | BackendError::Io(_))) {
                break;
            }
        }
        if let Err(e) = result {
            tracing::warn!(listener = %self.shared.ctx.name, error = %e, "no master for a new client");
            report_backend_error(&mut self.client, seq, &e).await;
            return Err(Some("backend_login"));
        }
        let ok = OkPacket {
            status: self.state.master_status,
            ..OkPacket::default()
        };
        let caps = self.login.capabilities;
        if self.client.send(seq, &ok.build(caps, 0)).await.is_err() {
            return Err(None);
        }
        Ok(())
    }

    /// Tells the registry which backend connections the session has (for `KILL QUERY`).
    fn publish_backends(&self) {
        let conns = [self.master.as_ref(), self.reader.as_ref()];
        let backends = conns
            .into_iter()
            .flatten()
            .map(|c| (c.addr().to_string(), c.thread_id()))
            .collect();
        self.me.handle.set_backends(backends);
    }

    /// The command loop; `Err(Some(reason))` ends the session as a counted reject.
    async fn commands(&mut self) -> Result<(), Option<&'static str>> {
        let idle = self.shared.cfg.client_timeout.0;
        let linger = self.shared.cfg.multiplex_linger.0;
        // Both run once per command: deadlines re-armed only when they fire.
        let mut linger_deadline = Deadline::new(linger);
        let mut idle_deadline = Deadline::new(idle);
        loop {
            let mut early = None;
            if self.parkable() {
                if linger.is_zero() || self.shared.pool.contended() {
                    self.park();
                } else {
                    // A client that sends its next command soon keeps its connections.
                    match linger_deadline.within(self.client.read_frame()).await {
                        Ok(r) => early = Some(r),
                        Err(_) => self.park(),
                    }
                }
            }
            let read = async {
                match early {
                    Some(r) => r,
                    None => self.client.read_frame().await,
                }
            };
            let got = if idle.is_zero() {
                read.await
            } else {
                match idle_deadline.within(read).await {
                    Ok(r) => r,
                    Err(_) => {
                        tracing::info!(listener = %self.shared.ctx.name, peer = %self.peer, "client idle past client_timeout; closing");
                        let msg = "The client was disconnected by datagate because of inactivity \
                                   (client_timeout)";
                        self.client.send_err(0, 4031, "HY000", msg).await;
                        return Err(Some("client_timeout"));
                    }
                }
            };
            let frame = match got {
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
            // Boxed: an idle session's future stays small, the command's state lives only
            // while it runs.
            Box::pin(self.command(frame, command, reply_seq))
                .await
                .map_err(|End| None)?;
        }
    }

    async fn command(&mut self, frame: BytesMut, command: u8, reply_seq: u8) -> Result<(), End> {
        self.keep = None;
        match command {
            cmd::QUIT => Err(End),
            cmd::PING => self.send_ok(reply_seq).await,
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
                self.on_master(&frame, frame::Cmd::Plain, None, Need::Write, reply_seq)
                    .await?;
                self.shared.to_master.observe(start.elapsed());
                Ok(())
            }
        }
    }

    /// Answers OK with the session's status flags.
    async fn send_ok(&mut self, reply_seq: u8) -> Result<(), End> {
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

    /// After a backend failed before replying: ERR 1927 if a transaction was lost with it,
    /// else ERR 2013.
    async fn report_lost(&mut self, reply_seq: u8, in_trx: bool, who: &str, error: &BackendError) {
        if in_trx {
            let why = format!("the {who} was lost; the transaction was rolled back");
            self.lose_trx(reply_seq, &why).await;
        } else {
            let msg = format!("datagate: lost connection to the {who}: {error}");
            self.client.send_err(reply_seq, 2013, "HY000", &msg).await;
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
            crate::net::uring::spawn(c.quit());
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
        self.text_stmts.clear();
        self.trx.clear();
        match self.reconnect_master().await {
            Ok(()) => {
                self.state.reset(self.state.master_status);
                self.send_ok(reply_seq).await
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
