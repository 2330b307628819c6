//! An async connection to a MySQL/MariaDB server: login with mysql_native_password (from a
//! cleartext password or from SHA1(password) alone), text-protocol queries and ping.
//!
//! Used by health checks, the Galera monitor and the proxy's backend pool.

use std::fmt;
use std::time::Duration;

use bytes::BytesMut;
use mysql_common::constants::{CapabilityFlags, Command, StatusFlags};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::auth::{self, NATIVE_PASSWORD, SCRAMBLE_LEN, Sha1Hash};
use super::codec::{CodecError, Packet, PacketCodec};
use super::packets::{
    AuthSwitchRequest, EofPacket, ErrPacket, Handshake, HandshakeResponse, OkPacket, PacketError,
    SslRequest, is_end_of_rows,
};
use super::resultset::{ColumnDef, parse_column_count, parse_text_row};

/// Largest packet this client reads (status queries and the proxy's replies stay far below).
pub const DEFAULT_MAX_PACKET: usize = 64 << 20;

/// Capabilities this client asks for (intersected with the server's).
const CLIENT_CAPS: CapabilityFlags = CapabilityFlags::CLIENT_LONG_PASSWORD
    .union(CapabilityFlags::CLIENT_LONG_FLAG)
    .union(CapabilityFlags::CLIENT_PROTOCOL_41)
    .union(CapabilityFlags::CLIENT_TRANSACTIONS)
    .union(CapabilityFlags::CLIENT_SECURE_CONNECTION)
    .union(CapabilityFlags::CLIENT_MULTI_RESULTS)
    .union(CapabilityFlags::CLIENT_PS_MULTI_RESULTS)
    .union(CapabilityFlags::CLIENT_PLUGIN_AUTH)
    .union(CapabilityFlags::CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA)
    .union(CapabilityFlags::CLIENT_CONNECT_ATTRS)
    .union(CapabilityFlags::CLIENT_DEPRECATE_EOF);

/// Why a connection or a command failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("connect: {0}")]
    Connect(std::io::Error),
    #[error("timed out")]
    Timeout,
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("connection closed by the server")]
    Closed,
    /// The server answered with an ERR packet.
    #[error("server error {} ({}): {}", .0.code, .0.sqlstate, .0.message)]
    Server(ErrPacket),
    #[error("framing: {0}")]
    Codec(#[from] CodecError),
    #[error("malformed packet: {0}")]
    Packet(#[from] PacketError),
    /// The account needs a plugin other than mysql_native_password.
    #[error("unsupported authentication plugin {0:?}")]
    AuthPlugin(String),
    #[error("protocol: {0}")]
    Protocol(&'static str),
}

impl ClientError {
    /// The server's error code, if the server sent an ERR packet.
    pub fn server_code(&self) -> Option<u16> {
        match self {
            ClientError::Server(e) => Some(e.code),
            _ => None,
        }
    }
}

/// How to prove the account's password.
#[derive(Clone, PartialEq, Eq)]
pub enum Password {
    /// The password itself (monitor accounts from the config).
    Cleartext(String),
    /// SHA1(password), recovered from a client's login by the proxy.
    Sha1(Sha1Hash),
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

impl Password {
    fn reply(&self, scramble: &[u8]) -> Vec<u8> {
        let scramble = &scramble[..scramble.len().min(SCRAMBLE_LEN)];
        match self {
            Password::Cleartext(p) => auth::scramble_reply(scramble, p.as_bytes()),
            Password::Sha1(h) => auth::reply_from_sha1(scramble, h).to_vec(),
        }
    }
}

/// Where and as whom to connect.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// `host:port`.
    pub addr: String,
    pub user: String,
    pub password: Password,
    /// Initial default database.
    pub database: Option<String>,
    /// Limit for the TCP connect, handshake and login together.
    pub connect_timeout: Duration,
    /// Bytes written before anything else, e.g. a PROXY protocol v2 header.
    pub proxy_header: Option<Vec<u8>>,
}

/// A text result set (the first one, when a statement returns several).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResultSet {
    pub columns: Vec<ColumnDef>,
    pub rows: Vec<Vec<Option<String>>>,
    pub affected_rows: u64,
}

/// One connection to a server.
pub struct Connection {
    stream: TcpStream,
    buf: BytesMut,
    codec: PacketCodec,
    handshake: Handshake,
    caps: CapabilityFlags,
    status: StatusFlags,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("server", &self.handshake.server_version)
            .field("id", &self.handshake.connection_id)
            .finish()
    }
}

impl Connection {
    /// Connects, reads the handshake and logs in, all within `opts.connect_timeout`.
    pub async fn connect(opts: &ConnectOptions) -> Result<Connection, ClientError> {
        let work = async {
            let mut conn = Connection::open(&opts.addr, opts.proxy_header.as_deref()).await?;
            conn.login(&opts.user, &opts.password, opts.database.as_deref())
                .await?;
            Ok(conn)
        };
        tokio::time::timeout(opts.connect_timeout, work)
            .await
            .map_err(|_| ClientError::Timeout)?
    }

    /// Connects and reads the server's handshake, without logging in (no timeout of its own).
    pub async fn open(addr: &str, proxy_header: Option<&[u8]>) -> Result<Connection, ClientError> {
        let mut stream = TcpStream::connect(addr)
            .await
            .map_err(ClientError::Connect)?;
        crate::net::sockopt::backend(&stream);
        if let Some(h) = proxy_header {
            stream.write_all(h).await?;
        }
        let mut conn = Connection {
            stream,
            buf: BytesMut::with_capacity(8 * 1024),
            codec: PacketCodec::new(DEFAULT_MAX_PACKET),
            handshake: Handshake::default(),
            caps: CapabilityFlags::empty(),
            status: StatusFlags::empty(),
        };
        let p = conn.read_packet().await?;
        if p.payload.first() == Some(&0xFF) {
            return Err(ClientError::Server(ErrPacket::parse(&p.payload)?));
        }
        conn.handshake = Handshake::parse(&p.payload)?;
        conn.status = conn.handshake.status;
        Ok(conn)
    }

    /// Logs in with mysql_native_password, following an AuthSwitchRequest to it if needed.
    pub async fn login(
        &mut self,
        user: &str,
        password: &Password,
        database: Option<&str>,
    ) -> Result<(), ClientError> {
        let hs = &self.handshake;
        if !hs
            .capabilities
            .contains(CapabilityFlags::CLIENT_PROTOCOL_41)
        {
            return Err(ClientError::Protocol("server does not speak protocol 4.1"));
        }
        let mut caps = CLIENT_CAPS.intersection(hs.capabilities);
        caps.set(CapabilityFlags::CLIENT_CONNECT_WITH_DB, database.is_some());
        let resp = HandshakeResponse {
            fixed: SslRequest {
                capabilities: caps,
                max_packet: DEFAULT_MAX_PACKET as u32,
                charset: 45, // utf8mb4_general_ci
                mariadb_capabilities: 0,
            },
            user: user.to_string(),
            auth_response: password.reply(&hs.scramble),
            database: database.map(str::to_string),
            auth_plugin: caps
                .contains(CapabilityFlags::CLIENT_PLUGIN_AUTH)
                .then(|| NATIVE_PASSWORD.to_string()),
            attrs: if caps.contains(CapabilityFlags::CLIENT_CONNECT_ATTRS) {
                vec![("_client_name".into(), "datagate".into())]
            } else {
                Vec::new()
            },
        };
        self.caps = caps;
        self.write_packet(&resp.build()).await?;
        loop {
            let p = self.read_packet().await?;
            match p.payload.first() {
                Some(0x00) => {
                    self.status = OkPacket::parse(&p.payload, self.caps)?.status;
                    return Ok(());
                }
                Some(0xFF) => return Err(ClientError::Server(ErrPacket::parse(&p.payload)?)),
                Some(0xFE) => {
                    let sw = AuthSwitchRequest::parse(&p.payload)?;
                    if sw.plugin != NATIVE_PASSWORD {
                        return Err(ClientError::AuthPlugin(sw.plugin));
                    }
                    self.write_packet(&password.reply(&sw.data)).await?;
                }
                Some(0x01) => {
                    return Err(ClientError::AuthPlugin(self.handshake.auth_plugin.clone()));
                }
                _ => return Err(ClientError::Protocol("unexpected packet during login")),
            }
        }
    }

    /// The server's handshake (version, connection id, capabilities).
    pub fn handshake(&self) -> &Handshake {
        &self.handshake
    }

    /// The capabilities in force on this connection.
    pub fn capabilities(&self) -> CapabilityFlags {
        self.caps
    }

    /// Server status flags from the last OK/EOF (transaction state, autocommit).
    pub fn status(&self) -> StatusFlags {
        self.status
    }

    /// Reads one logical packet.
    pub async fn read_packet(&mut self) -> Result<Packet, ClientError> {
        loop {
            if let Some(p) = self.codec.decode(&mut self.buf)? {
                return Ok(p);
            }
            if self.stream.read_buf(&mut self.buf).await? == 0 {
                return Err(ClientError::Closed);
            }
        }
    }

    /// Writes one logical packet with the next sequence id.
    pub async fn write_packet(&mut self, payload: &[u8]) -> Result<(), ClientError> {
        let mut out = BytesMut::with_capacity(payload.len() + 4);
        self.codec.encode(payload, &mut out)?;
        self.stream.write_all(&out).await?;
        Ok(())
    }

    /// Starts a command: sequence id 0, then `payload` (command byte + arguments).
    pub async fn send_command(&mut self, cmd: Command, arg: &[u8]) -> Result<(), ClientError> {
        self.codec.reset_seq();
        let mut payload = Vec::with_capacity(1 + arg.len());
        payload.push(cmd as u8);
        payload.extend_from_slice(arg);
        self.write_packet(&payload).await
    }

    /// `COM_PING`.
    pub async fn ping(&mut self) -> Result<(), ClientError> {
        self.send_command(Command::COM_PING, &[]).await?;
        self.read_ok().await.map(drop)
    }

    /// Runs `sql` and returns the rows of its (first) result set; statements without a result
    /// set give no rows.
    pub async fn query(&mut self, sql: &str) -> Result<Vec<Vec<Option<String>>>, ClientError> {
        Ok(self.query_full(sql).await?.rows)
    }

    /// Runs `sql` and returns its first result set with column definitions; later result sets
    /// (procedures) are read and dropped.
    pub async fn query_full(&mut self, sql: &str) -> Result<ResultSet, ClientError> {
        self.send_command(Command::COM_QUERY, sql.as_bytes())
            .await?;
        let mut first: Option<ResultSet> = None;
        loop {
            let (rs, more) = self.read_result().await?;
            first.get_or_insert(rs);
            if !more {
                return Ok(first.unwrap_or_default());
            }
        }
    }

    /// Closes politely (`COM_QUIT`).
    pub async fn quit(mut self) {
        let _ = self.send_command(Command::COM_QUIT, &[]).await;
        let _ = self.stream.shutdown().await;
    }

    async fn read_ok(&mut self) -> Result<OkPacket, ClientError> {
        let p = self.read_packet().await?;
        match p.payload.first() {
            Some(0x00) => {
                let ok = OkPacket::parse(&p.payload, self.caps)?;
                self.status = ok.status;
                Ok(ok)
            }
            Some(0xFF) => Err(ClientError::Server(ErrPacket::parse(&p.payload)?)),
            _ => Err(ClientError::Protocol("expected OK or ERR")),
        }
    }

    /// Reads one result (OK or a result set); the flag says whether another follows.
    async fn read_result(&mut self) -> Result<(ResultSet, bool), ClientError> {
        let p = self.read_packet().await?;
        let ncols = match p.payload.first() {
            Some(0x00) => {
                let ok = OkPacket::parse(&p.payload, self.caps)?;
                self.status = ok.status;
                let rs = ResultSet {
                    affected_rows: ok.affected_rows,
                    ..ResultSet::default()
                };
                return Ok((rs, self.more_results()));
            }
            Some(0xFF) => return Err(ClientError::Server(ErrPacket::parse(&p.payload)?)),
            Some(0xFB) => {
                // LOAD DATA LOCAL INFILE request: decline with an empty file.
                self.write_packet(&[]).await?;
                return self
                    .read_ok()
                    .await
                    .map(|_| (ResultSet::default(), self.more_results()));
            }
            _ => parse_column_count(&p.payload)?,
        };
        let ncols = usize::try_from(ncols).map_err(|_| ClientError::Protocol("column count"))?;
        let mut rs = ResultSet::default();
        for _ in 0..ncols {
            let p = self.read_packet().await?;
            rs.columns.push(ColumnDef::parse(&p.payload)?);
        }
        let deprecate_eof = self.caps.contains(CapabilityFlags::CLIENT_DEPRECATE_EOF);
        if !deprecate_eof {
            EofPacket::parse(&self.read_packet().await?.payload)?;
        }
        loop {
            let p = self.read_packet().await?;
            if p.payload.first() == Some(&0xFF) {
                return Err(ClientError::Server(ErrPacket::parse(&p.payload)?));
            }
            if is_end_of_rows(&p.payload, self.caps) {
                self.status = if deprecate_eof {
                    OkPacket::parse(&p.payload, self.caps)?.status
                } else {
                    EofPacket::parse(&p.payload)?.status
                };
                return Ok((rs, self.more_results()));
            }
            let row = parse_text_row(&p.payload, ncols)?;
            rs.rows.push(
                row.into_iter()
                    .map(|v| v.map(|b| String::from_utf8_lossy(&b).into_owned()))
                    .collect(),
            );
        }
    }

    fn more_results(&self) -> bool {
        self.status
            .contains(StatusFlags::SERVER_MORE_RESULTS_EXISTS)
    }
}
