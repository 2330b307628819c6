//! The client side of a session: framing on the client socket, the greeting (as the master,
//! seen through the proxy), and mysql_native_password authentication against the loaded
//! accounts (see `users`).

use std::net::IpAddr;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::auth::{NATIVE_PASSWORD, Sha1Hash, recover_sha1_password};
use super::backend::Login;
use super::codec::{CodecError, HEADER_LEN, MAX_CHUNK, PacketCodec, Reader};
use super::packets::{CapabilityFlags, Handshake, StatusFlags, err_packet};
use super::users::{Credential, UserTable};
use crate::net::uring::Sock;

/// Capabilities the proxy can relay (intersected with the master's when greeting).
pub const SUPPORTED_CAPS: CapabilityFlags = CapabilityFlags::CLIENT_LONG_PASSWORD
    .union(CapabilityFlags::CLIENT_FOUND_ROWS)
    .union(CapabilityFlags::CLIENT_LONG_FLAG)
    .union(CapabilityFlags::CLIENT_CONNECT_WITH_DB)
    .union(CapabilityFlags::CLIENT_NO_SCHEMA)
    .union(CapabilityFlags::CLIENT_ODBC)
    .union(CapabilityFlags::CLIENT_LOCAL_FILES)
    .union(CapabilityFlags::CLIENT_IGNORE_SPACE)
    .union(CapabilityFlags::CLIENT_PROTOCOL_41)
    .union(CapabilityFlags::CLIENT_INTERACTIVE)
    .union(CapabilityFlags::CLIENT_IGNORE_SIGPIPE)
    .union(CapabilityFlags::CLIENT_TRANSACTIONS)
    .union(CapabilityFlags::CLIENT_RESERVED)
    .union(CapabilityFlags::CLIENT_SECURE_CONNECTION)
    .union(CapabilityFlags::CLIENT_MULTI_STATEMENTS)
    .union(CapabilityFlags::CLIENT_MULTI_RESULTS)
    .union(CapabilityFlags::CLIENT_PS_MULTI_RESULTS)
    .union(CapabilityFlags::CLIENT_PLUGIN_AUTH)
    .union(CapabilityFlags::CLIENT_CONNECT_ATTRS)
    .union(CapabilityFlags::CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA)
    .union(CapabilityFlags::CLIENT_CAN_HANDLE_EXPIRED_PASSWORDS)
    .union(CapabilityFlags::CLIENT_SESSION_TRACK)
    .union(CapabilityFlags::CLIENT_DEPRECATE_EOF);

/// MariaDB extended capabilities relayed: progress reports, COM_MULTI, bulk operations and
/// extended type info. Metadata caching (bit 4) is not: replies must carry their columns.
pub const SUPPORTED_MARIADB_CAPS: u32 = 0b1111;

/// Why the client side failed.
#[derive(Debug, thiserror::Error)]
pub enum FrontendError {
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("client closed the connection")]
    Closed,
    #[error("framing: {0}")]
    Codec(#[from] CodecError),
}

/// The client's transport: plain TCP, or TLS after an SSL request.
pub enum ClientStream {
    Plain(Sock),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
    /// Only while the TLS handshake runs.
    Upgrading,
}

/// Largest packet a client may send before it has logged in (a login with connection
/// attributes is a few hundred bytes): bad input before authentication costs little.
pub const MAX_LOGIN_PACKET: usize = 16 * 1024;

/// The read buffer of a client waiting for its next command on the ring: most commands fit,
/// longer ones are read on in `grow` steps.
const IDLE_READ: usize = 1024;

/// The client socket with its read buffer and packet limit.
pub struct ClientConn {
    pub stream: ClientStream,
    pub buf: BytesMut,
    codec: PacketCodec,
    /// How much the read buffer grows by when it runs short.
    grow: usize,
}

fn upgrading() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::NotConnected, "TLS handshake failed")
}

impl ClientConn {
    /// Wraps an accepted socket for the login: packets above [`MAX_LOGIN_PACKET`] are
    /// refused and the buffer stays small until [`ClientConn::logged_in`].
    pub fn new(stream: TcpStream) -> ClientConn {
        ClientConn {
            stream: ClientStream::Plain(Sock::new(stream)),
            buf: BytesMut::new(),
            codec: PacketCodec::new(MAX_LOGIN_PACKET).lenient(),
            grow: 1024,
        }
    }

    /// After the login: packets up to `max_packet` bytes, read in larger chunks.
    pub fn logged_in(&mut self, max_packet: usize) {
        self.codec = PacketCodec::new(max_packet).lenient();
        self.grow = 16 * 1024;
    }

    /// The address the client connected to.
    pub fn local_addr(&self) -> Option<std::net::SocketAddr> {
        match &self.stream {
            ClientStream::Plain(s) => s.local_addr().ok(),
            ClientStream::Tls(s) => s.get_ref().0.local_addr().ok(),
            ClientStream::Upgrading => None,
        }
    }

    /// Switches to TLS (after an SSL request; nothing else may be buffered).
    pub async fn start_tls(&mut self, acceptor: &tokio_rustls::TlsAcceptor) -> std::io::Result<()> {
        if !self.buf.is_empty() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "data after the SSL request",
            ));
        }
        let ClientStream::Plain(tcp) = std::mem::replace(&mut self.stream, ClientStream::Upgrading)
        else {
            return Err(upgrading());
        };
        let tcp = tcp.into_runtime()?;
        self.stream = ClientStream::Tls(Box::new(acceptor.accept(tcp).await?));
        Ok(())
    }

    /// Writes raw bytes (relayed packets).
    pub async fn write_all(&mut self, data: &[u8]) -> std::io::Result<()> {
        match &mut self.stream {
            ClientStream::Plain(s) => s.write_all(data).await,
            ClientStream::Tls(s) => {
                s.write_all(data).await?;
                s.flush().await
            }
            ClientStream::Upgrading => Err(upgrading()),
        }
    }

    /// Before closing on an error while the client may still be sending (a packet too big):
    /// finish our side and discard its input for a moment, so that the close is a FIN after the
    /// ERR, not a reset that can destroy the ERR before the client reads it.
    pub async fn linger(&mut self) {
        let drain = async {
            let _ = match &mut self.stream {
                ClientStream::Plain(s) => s.shutdown().await,
                ClientStream::Tls(s) => s.shutdown().await,
                ClientStream::Upgrading => Ok(()),
            };
            let mut seen = 0usize;
            while seen < 256 << 20 {
                self.buf.clear();
                match self.read_more().await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => seen += n,
                }
            }
        };
        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), drain).await;
    }

    async fn read_more(&mut self) -> std::io::Result<usize> {
        match &mut self.stream {
            ClientStream::Plain(s) => s.read_buf(&mut self.buf).await,
            ClientStream::Tls(s) => s.read_buf(&mut self.buf).await,
            ClientStream::Upgrading => Err(upgrading()),
        }
    }

    /// Reads one whole logical packet as raw bytes (headers included, ready to forward).
    pub async fn read_frame(&mut self) -> Result<BytesMut, FrontendError> {
        loop {
            if let Some(n) = self.codec.check(&self.buf)? {
                return Ok(self.buf.split_to(n));
            }
            let mut small = false;
            if self.buf.is_empty()
                && let ClientStream::Plain(s) = &mut self.stream
            {
                // An idle client holds no buffer: it is allocated when the next bytes come.
                // On the ring the wait is the read itself (a readiness wait first would cost
                // a ring operation and a loop turn per command): a small buffer then.
                self.buf = BytesMut::new();
                if s.on_ring() {
                    self.buf.reserve(IDLE_READ);
                    small = true;
                } else {
                    s.readable().await?;
                }
            }
            if !small && self.buf.capacity() - self.buf.len() < self.grow / 4 {
                self.buf.reserve(self.grow);
            }
            if self.read_more().await? == 0 {
                return Err(FrontendError::Closed);
            }
        }
    }

    /// Writes `payload` as one packet with sequence id `seq`.
    pub async fn send(&mut self, seq: u8, payload: &[u8]) -> Result<(), FrontendError> {
        let mut out = BytesMut::with_capacity(payload.len() + HEADER_LEN);
        self.codec.set_seq(seq);
        self.codec.encode(payload, &mut out)?;
        self.write_all(&out).await?;
        Ok(())
    }

    /// Sends an ERR packet with sequence id `seq` (errors writing it are ignored: the caller
    /// closes anyway or learns on the next read).
    pub async fn send_err(&mut self, seq: u8, code: u16, state: &str, msg: &str) {
        let _ = self.send(seq, &err_packet(code, state, msg)).await;
    }
}

/// The payload of a raw frame, or its first 16 MiB chunk, and its sequence id.
pub fn frame_head(frame: &[u8]) -> (&[u8], u8) {
    let seq = frame.get(3).copied().unwrap_or(0);
    let end = frame.len().min(HEADER_LEN + MAX_CHUNK);
    (frame.get(HEADER_LEN..end).unwrap_or(&[]), seq)
}

/// What the servers' handshakes have in common, for the greeting: the capabilities and MariaDB
/// extended capabilities every one offers, the version and charset of `preferred` (the
/// master), else of the first. `None` without any handshake.
pub fn greeting_template<'a>(
    preferred: Option<&'a Handshake>,
    all: impl IntoIterator<Item = &'a Handshake>,
) -> Option<Handshake> {
    let mut all = all.into_iter().peekable();
    let mut t = preferred.or_else(|| all.peek().copied())?.clone();
    for h in all {
        t.capabilities = t.capabilities.intersection(h.capabilities);
        t.mariadb_capabilities &= h.mariadb_capabilities;
    }
    Some(t)
}

/// The greeting a client gets: the servers' handshake (see [`greeting_template`]) with the
/// session's own connection id and scramble and the capabilities the proxy relays; the
/// version says MariaDB (`5.5.5-` prefix) as MariaDB servers do.
pub fn greeting(master: &Handshake, connection_id: u32, scramble: &[u8], tls: bool) -> Handshake {
    let mut caps = SUPPORTED_CAPS.intersection(master.capabilities);
    caps.insert(
        CapabilityFlags::CLIENT_PROTOCOL_41
            | CapabilityFlags::CLIENT_SECURE_CONNECTION
            | CapabilityFlags::CLIENT_PLUGIN_AUTH,
    );
    caps.set(CapabilityFlags::CLIENT_SSL, tls);
    let version = if master.server_version.starts_with("5.5.5-") {
        master.server_version.clone()
    } else {
        format!("5.5.5-{}", master.server_version)
    };
    Handshake {
        server_version: version,
        connection_id,
        scramble: scramble.to_vec(),
        capabilities: caps,
        mariadb_capabilities: master.mariadb_capabilities & SUPPORTED_MARIADB_CAPS,
        charset: master.charset,
        status: StatusFlags::SERVER_STATUS_AUTOCOMMIT,
        auth_plugin: NATIVE_PASSWORD.to_string(),
    }
}

/// An ERR the client gets instead of a login: code, SQLSTATE, message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: u16,
    pub sqlstate: &'static str,
    pub message: String,
    /// Worth reloading the accounts and trying again (unknown user, wrong password).
    pub retry_after_reload: bool,
}

/// Checks `reply` (to `scramble`) for `user` from `ip`; SHA1(password) on success (`None` for
/// an account without a password).
pub fn authenticate(
    users: &UserTable,
    user: &str,
    ip: IpAddr,
    scramble: &[u8],
    reply: &[u8],
) -> Result<Option<Sha1Hash>, Refusal> {
    let denied = |retry| Refusal {
        code: 1045,
        sqlstate: "28000",
        message: format!(
            "Access denied for user '{user}'@'{ip}' (using password: {})",
            if reply.is_empty() { "NO" } else { "YES" }
        ),
        retry_after_reload: retry,
    };
    let Some(account) = users.find(user, ip) else {
        return Err(denied(true));
    };
    if account.locked {
        return Err(Refusal {
            code: 4151,
            sqlstate: "HY000",
            message: "Access denied, this account is locked".into(),
            retry_after_reload: true,
        });
    }
    match &account.credential {
        Credential::NoPassword if reply.is_empty() => Ok(None),
        Credential::Native(stored) => recover_sha1_password(scramble, reply, stored)
            .map(Some)
            .ok_or_else(|| denied(true)),
        Credential::Plugin(p) => Err(Refusal {
            code: 1251,
            sqlstate: "08004",
            message: format!(
                "Account '{user}'@'{}' uses authentication plugin '{p}', which datagate cannot \
                 proxy; only mysql_native_password accounts can log in through it",
                account.host
            ),
            retry_after_reload: true,
        }),
        Credential::NoPassword | Credential::Invalid => Err(denied(true)),
    }
}

/// A COM_CHANGE_USER request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeUser {
    pub user: String,
    pub auth_response: Vec<u8>,
    pub database: Option<String>,
    pub charset: Option<u8>,
    pub auth_plugin: Option<String>,
}

/// A COM_CHANGE_USER payload that could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed COM_CHANGE_USER: {0}")]
pub struct ChangeUserError(&'static str);

/// Decodes a COM_CHANGE_USER payload (command byte included) under the client's `caps`.
pub fn parse_change_user(
    payload: &[u8],
    caps: CapabilityFlags,
) -> Result<ChangeUser, ChangeUserError> {
    let mut r = Reader::new(payload);
    if r.u8() != Some(0x11) {
        return Err(ChangeUserError("not COM_CHANGE_USER"));
    }
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let user = text(r.nul_bytes().ok_or(ChangeUserError("user"))?);
    let auth = if caps.contains(CapabilityFlags::CLIENT_SECURE_CONNECTION) {
        r.u8().and_then(|n| r.take(usize::from(n)))
    } else {
        r.nul_bytes()
    };
    let auth_response = auth.ok_or(ChangeUserError("auth response"))?.to_vec();
    let mut cu = ChangeUser {
        user,
        auth_response,
        database: None,
        charset: None,
        auth_plugin: None,
    };
    if r.remaining() == 0 {
        return Ok(cu);
    }
    let db = r.nul_bytes().ok_or(ChangeUserError("database"))?;
    cu.database = Some(text(db)).filter(|d| !d.is_empty());
    if r.remaining() >= 2 {
        cu.charset = r.u16().map(|c| c as u8);
    }
    if caps.contains(CapabilityFlags::CLIENT_PLUGIN_AUTH) && r.remaining() > 0 {
        let p = r.nul_bytes().unwrap_or_else(|| r.rest());
        cu.auth_plugin = Some(text(p)).filter(|p| !p.is_empty());
    }
    Ok(cu)
}

/// What a client logged in as: enough to log in to any backend again.
pub fn login_from(
    resp: &super::packets::HandshakeResponse,
    sha1_password: Option<Sha1Hash>,
    offered: CapabilityFlags,
    offered_mariadb: u32,
) -> Login {
    Login {
        user: resp.user.clone(),
        sha1_password,
        database: resp.database.clone(),
        capabilities: resp.fixed.capabilities.intersection(offered),
        mariadb_capabilities: resp.fixed.mariadb_capabilities & offered_mariadb,
        charset: resp.fixed.charset,
        attrs: resp.attrs.clone(),
    }
}

#[cfg(test)]
mod tests;
