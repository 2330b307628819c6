//! One session's connection to the master: opened before the client is greeted (its handshake
//! gives the version, capabilities and connection id the client sees), then logged in as the
//! client's own account with SHA1(password) and the client's capabilities, so that every reply
//! can be relayed byte for byte.

use std::time::Duration;

use crate::net::uring::Sock;
use bytes::BytesMut;
use tokio::net::TcpStream;

use super::auth::{self, NATIVE_PASSWORD, SCRAMBLE_LEN, Sha1Hash};
use super::codec::{CodecError, Packet, PacketCodec};
use super::packets::{
    AuthSwitchRequest, CapabilityFlags, ErrPacket, Handshake, HandshakeResponse, OkPacket,
    PacketError, SslRequest, StatusFlags,
};
use super::reply::{ReplyTracker, Step};

/// Largest reply packet relayed from a server (MariaDB's own `max_allowed_packet` limit).
pub const MAX_REPLY_PACKET: usize = 1 << 30;

/// Why talking to a backend failed.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    #[error("timed out talking to {0}")]
    Timeout(String),
    /// Every connection to the server that `max_backend_connections` allows is in use.
    #[error("all {max} connections to {addr} that max_backend_connections allows are in use")]
    PoolFull { addr: String, max: usize },
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("connection closed by the server")]
    Closed,
    /// The server refused the login (or a command) with this ERR packet.
    #[error("server error {} ({}): {}", .0.code, .0.sqlstate, .0.message)]
    Server(ErrPacket),
    #[error("framing: {0}")]
    Codec(#[from] CodecError),
    #[error("malformed packet: {0}")]
    Packet(#[from] PacketError),
    #[error("the server asks for authentication plugin {0:?}")]
    AuthPlugin(String),
    #[error("protocol: {0}")]
    Protocol(&'static str),
    /// The monitor marked the server down while a reply was due (a frozen or unreachable host).
    #[error("the monitor marked {0} down while its reply was due")]
    MarkedDown(String),
    /// No byte of the reply within `server_timeout`.
    #[error("no reply from {addr} within server_timeout ({after:?})")]
    NoReply { addr: String, after: Duration },
}

/// Who logs in, and how the client negotiated.
#[derive(Debug, Clone)]
pub struct Login {
    pub user: String,
    /// SHA1(password); `None` for an account without a password.
    pub sha1_password: Option<Sha1Hash>,
    pub database: Option<String>,
    pub capabilities: CapabilityFlags,
    pub mariadb_capabilities: u32,
    pub charset: u8,
    pub attrs: Vec<(String, String)>,
}

/// An open connection to a server.
pub struct Backend {
    pub addr: String,
    pub stream: Sock,
    /// Bytes read from the server and not relayed yet.
    pub buf: BytesMut,
    pub handshake: Handshake,
    /// Status flags of the login OK.
    pub status: StatusFlags,
    codec: PacketCodec,
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backend")
            .field("addr", &self.addr)
            .field("id", &self.handshake.connection_id)
            .finish()
    }
}

impl Backend {
    /// Connects to `addr` (writing `proxy_header` first) and reads its handshake.
    pub async fn open(
        addr: &str,
        proxy_header: Option<&[u8]>,
        timeout: Duration,
    ) -> Result<Backend, BackendError> {
        let work = async {
            let stream =
                TcpStream::connect(addr)
                    .await
                    .map_err(|source| BackendError::Connect {
                        addr: addr.to_string(),
                        source,
                    })?;
            crate::net::sockopt::backend(&stream);
            let mut stream = Sock::new(stream);
            if let Some(h) = proxy_header {
                stream.write_all(h).await?;
            }
            let mut b = Backend {
                addr: addr.to_string(),
                stream,
                buf: BytesMut::with_capacity(16 * 1024),
                handshake: Handshake::default(),
                status: StatusFlags::empty(),
                codec: PacketCodec::new(MAX_REPLY_PACKET).lenient(),
            };
            let p = b.read_packet().await?;
            if p.payload.first() == Some(&0xFF) {
                return Err(BackendError::Server(ErrPacket::parse(&p.payload)?));
            }
            b.handshake = Handshake::parse(&p.payload)?;
            Ok(b)
        };
        tokio::time::timeout(timeout, work)
            .await
            .map_err(|_| BackendError::Timeout(addr.to_string()))?
    }

    /// Logs in as `login` with mysql_native_password, within `timeout`.
    pub async fn login(&mut self, login: &Login, timeout: Duration) -> Result<(), BackendError> {
        let addr = self.addr.clone();
        tokio::time::timeout(timeout, self.login_inner(login))
            .await
            .map_err(|_| BackendError::Timeout(addr))?
    }

    async fn login_inner(&mut self, login: &Login) -> Result<(), BackendError> {
        let server = self.handshake.capabilities;
        if !server.contains(CapabilityFlags::CLIENT_PROTOCOL_41) {
            return Err(BackendError::Protocol("server does not speak protocol 4.1"));
        }
        let mut caps = login.capabilities.intersection(server);
        caps.remove(CapabilityFlags::CLIENT_SSL);
        caps.insert(CapabilityFlags::CLIENT_SECURE_CONNECTION);
        caps.set(
            CapabilityFlags::CLIENT_PLUGIN_AUTH,
            server.contains(CapabilityFlags::CLIENT_PLUGIN_AUTH),
        );
        let reply = |scramble: &[u8]| match &login.sha1_password {
            None => Vec::new(),
            Some(h) => {
                auth::reply_from_sha1(&scramble[..scramble.len().min(SCRAMBLE_LEN)], h).to_vec()
            }
        };
        let plugin_auth = caps.contains(CapabilityFlags::CLIENT_PLUGIN_AUTH);
        let resp = HandshakeResponse {
            fixed: SslRequest {
                capabilities: caps,
                max_packet: MAX_REPLY_PACKET as u32,
                charset: login.charset,
                mariadb_capabilities: login.mariadb_capabilities
                    & self.handshake.mariadb_capabilities,
            },
            user: login.user.clone(),
            auth_response: reply(&self.handshake.scramble),
            database: login.database.clone(),
            auth_plugin: plugin_auth.then(|| NATIVE_PASSWORD.to_string()),
            attrs: if caps.contains(CapabilityFlags::CLIENT_CONNECT_ATTRS) {
                login.attrs.clone()
            } else {
                Vec::new()
            },
        };
        self.codec.set_seq(1);
        self.write_packet(&resp.build()).await?;
        loop {
            let p = self.read_packet().await?;
            match p.payload.first() {
                Some(0x00) => {
                    self.status = OkPacket::parse(&p.payload, caps)?.status;
                    return Ok(());
                }
                Some(0xFF) => return Err(BackendError::Server(ErrPacket::parse(&p.payload)?)),
                Some(0xFE) => {
                    let sw = AuthSwitchRequest::parse(&p.payload)?;
                    if sw.plugin != NATIVE_PASSWORD {
                        return Err(BackendError::AuthPlugin(sw.plugin));
                    }
                    self.write_packet(&reply(&sw.data)).await?;
                }
                _ => return Err(BackendError::Protocol("unexpected packet during login")),
            }
        }
    }

    /// Reads one logical packet (login and local commands only; replies are relayed raw).
    pub async fn read_packet(&mut self) -> Result<Packet, BackendError> {
        loop {
            if let Some(p) = self.codec.decode(&mut self.buf)? {
                return Ok(p);
            }
            self.fill().await?;
        }
    }

    /// Reads more bytes from the server into `buf`.
    pub async fn fill(&mut self) -> Result<(), BackendError> {
        self.make_room();
        if self.stream.read_buf(&mut self.buf).await? == 0 {
            return Err(BackendError::Closed);
        }
        Ok(())
    }

    /// Relayed bytes are split off the front of `buf`; keeps room for a full read (reusing the
    /// allocation once the split parts are written and dropped).
    pub fn make_room(&mut self) {
        if self.buf.capacity() - self.buf.len() < 8 * 1024 {
            self.buf.reserve(64 * 1024);
        }
    }

    /// Writes one logical packet with the next sequence id.
    pub async fn write_packet(&mut self, payload: &[u8]) -> Result<(), BackendError> {
        let mut out = BytesMut::with_capacity(payload.len() + 4);
        self.codec.encode(payload, &mut out)?;
        self.stream.write_all(&out).await?;
        Ok(())
    }

    /// Runs one command and reads its whole reply (session history replay); an ERR in the reply
    /// is returned as an error.
    pub async fn simple_command(
        &mut self,
        payload: &[u8],
        caps: CapabilityFlags,
    ) -> Result<(), BackendError> {
        self.codec.reset_seq();
        self.write_packet(payload).await?;
        let mut tracker = ReplyTracker::new(payload.first().copied().unwrap_or(0), caps);
        loop {
            let p = self.read_packet().await?;
            let step = tracker
                .feed(&p.payload, p.payload.len())
                .map_err(|_| BackendError::Protocol("malformed reply"))?;
            if tracker.error {
                return Err(BackendError::Server(ErrPacket::parse(&p.payload)?));
            }
            match step {
                Step::More => {}
                Step::Done => {
                    if let Some(st) = tracker.status {
                        self.status = st;
                    }
                    return Ok(());
                }
                Step::LocalInfile => self.write_packet(&[]).await?,
            }
        }
    }

    /// Closes politely.
    pub async fn quit(mut self) {
        self.codec.reset_seq();
        let _ = self.write_packet(&[0x01]).await;
        let _ = self.stream.shutdown().await;
    }
}
