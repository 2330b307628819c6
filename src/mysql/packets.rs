//! MySQL/MariaDB packet payloads (no I/O): handshake v10, HandshakeResponse41 and SSL request,
//! OK / ERR / EOF and AuthSwitchRequest (result sets are in `resultset`).
//!
//! Layouts follow the MariaDB "Client/Server Protocol" pages; flag constants come from
//! `mysql_common`.

/// The flag types of this module's API.
pub use mysql_common::constants::{CapabilityFlags, StatusFlags};

use super::codec::{MAX_CHUNK, Reader, put_lenenc_bytes, put_lenenc_int};

/// Why a payload could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    /// The payload ends before a mandatory field.
    #[error("truncated {0}")]
    Truncated(&'static str),
    /// The first byte is not what this packet type starts with.
    #[error("unexpected first byte 0x{got:02x} in {what}")]
    Unexpected { what: &'static str, got: u8 },
    /// Handshake protocol other than v10.
    #[error("unsupported handshake protocol version {0}")]
    ProtocolVersion(u8),
    /// The client did not set `CLIENT_PROTOCOL_41`.
    #[error("the client does not speak protocol 4.1")]
    OldProtocol,
    /// The client asked for the compressed protocol, which is never offered.
    #[error("the compressed protocol is not supported")]
    Compressed,
}

/// Capabilities datagate never negotiates: compression (zlib and zstd).
pub const REFUSED_CAPABILITIES: CapabilityFlags =
    CapabilityFlags::CLIENT_COMPRESS.union(CapabilityFlags::CLIENT_ZSTD_COMPRESSION_ALGORITHM);

/// `CLIENT_MYSQL` (= `CLIENT_LONG_PASSWORD`): when a MariaDB server clears it, the last 4 bytes
/// of the handshake filler carry its extended capabilities.
const CLIENT_MYSQL: CapabilityFlags = CapabilityFlags::CLIENT_LONG_PASSWORD;

fn trunc(what: &'static str) -> impl FnOnce() -> PacketError {
    move || PacketError::Truncated(what)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The server's first packet (Protocol::HandshakeV10).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Handshake {
    pub server_version: String,
    pub connection_id: u32,
    /// The auth plugin data (20 bytes for mysql_native_password), without the trailing NUL.
    pub scramble: Vec<u8>,
    pub capabilities: CapabilityFlags,
    /// MariaDB extended capabilities (`MariadbCapabilities` bits); 0 for MySQL servers.
    pub mariadb_capabilities: u32,
    pub charset: u8,
    pub status: StatusFlags,
    pub auth_plugin: String,
}

impl Handshake {
    /// Decodes a handshake v10 payload.
    pub fn parse(payload: &[u8]) -> Result<Handshake, PacketError> {
        let mut r = Reader::new(payload);
        let version = r.u8().ok_or_else(trunc("handshake"))?;
        if version != 10 {
            return Err(PacketError::ProtocolVersion(version));
        }
        let server_version = text(r.nul_bytes().ok_or_else(trunc("server version"))?);
        let connection_id = r.u32().ok_or_else(trunc("connection id"))?;
        let mut scramble = r.take(8).ok_or_else(trunc("scramble"))?.to_vec();
        r.u8().ok_or_else(trunc("filler"))?;
        let lower = r.u16().ok_or_else(trunc("capabilities"))?;
        let mut hs = Handshake {
            server_version,
            connection_id,
            scramble: Vec::new(),
            capabilities: CapabilityFlags::from_bits_retain(u32::from(lower)),
            mariadb_capabilities: 0,
            charset: 0,
            status: StatusFlags::empty(),
            auth_plugin: String::new(),
        };
        if r.remaining() > 0 {
            hs.charset = r.u8().ok_or_else(trunc("charset"))?;
            hs.status = StatusFlags::from_bits_retain(r.u16().ok_or_else(trunc("status"))?);
            let upper = r.u16().ok_or_else(trunc("capabilities"))?;
            hs.capabilities =
                CapabilityFlags::from_bits_retain(u32::from(lower) | u32::from(upper) << 16);
            let data_len = usize::from(r.u8().ok_or_else(trunc("auth data length"))?);
            r.take(6).ok_or_else(trunc("filler"))?;
            let ext = r.u32().ok_or_else(trunc("filler"))?;
            if !hs.capabilities.contains(CLIENT_MYSQL) {
                hs.mariadb_capabilities = ext;
            }
            if hs
                .capabilities
                .contains(CapabilityFlags::CLIENT_SECURE_CONNECTION)
            {
                let n = data_len.saturating_sub(8).max(13);
                let part2 = r.take(n).ok_or_else(trunc("scramble"))?;
                let part2 = part2.strip_suffix(&[0]).unwrap_or(part2);
                scramble.extend_from_slice(part2);
            }
            if hs
                .capabilities
                .contains(CapabilityFlags::CLIENT_PLUGIN_AUTH)
            {
                // Some servers omit the final NUL.
                let name = r.nul_bytes().unwrap_or_else(|| r.rest());
                hs.auth_plugin = text(name);
            }
        }
        hs.scramble = scramble;
        Ok(hs)
    }

    /// Encodes the handshake; compression capabilities are always cleared.
    pub fn build(&self) -> Vec<u8> {
        let mut caps = self.capabilities.difference(REFUSED_CAPABILITIES);
        if self.mariadb_capabilities != 0 {
            caps.remove(CLIENT_MYSQL);
        }
        let caps = caps.bits();
        let mut b = vec![10];
        b.extend_from_slice(self.server_version.as_bytes());
        b.push(0);
        b.extend_from_slice(&self.connection_id.to_le_bytes());
        let (p1, p2) = self.scramble.split_at(self.scramble.len().min(8));
        b.extend_from_slice(p1);
        b.resize(b.len() + 8 - p1.len(), 0);
        b.push(0);
        b.extend_from_slice(&(caps as u16).to_le_bytes());
        b.push(self.charset);
        b.extend_from_slice(&self.status.bits().to_le_bytes());
        b.extend_from_slice(&((caps >> 16) as u16).to_le_bytes());
        b.push((self.scramble.len() + 1).min(255) as u8);
        b.extend_from_slice(&[0; 6]);
        b.extend_from_slice(&self.mariadb_capabilities.to_le_bytes());
        b.extend_from_slice(p2);
        b.resize(b.len() + 13usize.saturating_sub(p2.len()), 0);
        b.extend_from_slice(self.auth_plugin.as_bytes());
        b.push(0);
        b
    }
}

mod response;
pub use response::{ClientHello, HandshakeResponse, SslRequest};

/// An OK packet (also the 0xFE-headed end of a result set under `CLIENT_DEPRECATE_EOF`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OkPacket {
    pub affected_rows: u64,
    pub last_insert_id: u64,
    pub status: StatusFlags,
    pub warnings: u16,
    pub info: Vec<u8>,
    /// Raw session-state-change data (`CLIENT_SESSION_TRACK`), if any.
    pub session_state: Vec<u8>,
}

impl OkPacket {
    /// Decodes an OK (0x00) or end-of-result OK (0xFE) payload under the negotiated `caps`.
    pub fn parse(payload: &[u8], caps: CapabilityFlags) -> Result<OkPacket, PacketError> {
        let mut r = Reader::new(payload);
        match r.u8().ok_or_else(trunc("OK packet"))? {
            0x00 => {}
            0xFE if payload.len() < MAX_CHUNK => {}
            got => {
                return Err(PacketError::Unexpected {
                    what: "OK packet",
                    got,
                });
            }
        }
        let mut ok = OkPacket {
            affected_rows: r.lenenc_int().ok_or_else(trunc("affected rows"))?,
            last_insert_id: r.lenenc_int().ok_or_else(trunc("last insert id"))?,
            ..OkPacket::default()
        };
        ok.status = StatusFlags::from_bits_retain(r.u16().ok_or_else(trunc("OK status"))?);
        ok.warnings = r.u16().ok_or_else(trunc("OK warnings"))?;
        if caps.contains(CapabilityFlags::CLIENT_SESSION_TRACK) {
            if r.remaining() > 0 {
                ok.info = r.lenenc_bytes().ok_or_else(trunc("OK info"))?.to_vec();
            }
            if ok
                .status
                .contains(StatusFlags::SERVER_SESSION_STATE_CHANGED)
            {
                ok.session_state = r
                    .lenenc_bytes()
                    .ok_or_else(trunc("session state"))?
                    .to_vec();
            }
        } else {
            ok.info = r.rest().to_vec();
        }
        Ok(ok)
    }

    /// Encodes the packet; `header` is 0x00 or 0xFE (end of a result set with DEPRECATE_EOF).
    pub fn build(&self, caps: CapabilityFlags, header: u8) -> Vec<u8> {
        let mut b = vec![header];
        put_lenenc_int(&mut b, self.affected_rows);
        put_lenenc_int(&mut b, self.last_insert_id);
        b.extend_from_slice(&self.status.bits().to_le_bytes());
        b.extend_from_slice(&self.warnings.to_le_bytes());
        if caps.contains(CapabilityFlags::CLIENT_SESSION_TRACK) {
            put_lenenc_bytes(&mut b, &self.info);
            if self
                .status
                .contains(StatusFlags::SERVER_SESSION_STATE_CHANGED)
            {
                put_lenenc_bytes(&mut b, &self.session_state);
            }
        } else {
            b.extend_from_slice(&self.info);
        }
        b
    }
}

/// An ERR packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrPacket {
    pub code: u16,
    /// Five characters; "HY000" when the server sent none (errors before the handshake).
    pub sqlstate: String,
    pub message: String,
}

impl ErrPacket {
    /// Decodes an ERR (0xFF) payload.
    pub fn parse(payload: &[u8]) -> Result<ErrPacket, PacketError> {
        let mut r = Reader::new(payload);
        match r.u8().ok_or_else(trunc("ERR packet"))? {
            0xFF => {}
            got => {
                return Err(PacketError::Unexpected {
                    what: "ERR packet",
                    got,
                });
            }
        }
        let code = r.u16().ok_or_else(trunc("error code"))?;
        let sqlstate = if r.peek() == Some(b'#') {
            let s = r.take(6).ok_or_else(trunc("SQLSTATE"))?;
            text(&s[1..])
        } else {
            "HY000".to_string()
        };
        Ok(ErrPacket {
            code,
            sqlstate,
            message: text(r.rest()),
        })
    }

    /// Encodes the packet (protocol 4.1 form, with the SQLSTATE).
    pub fn build(&self) -> Vec<u8> {
        err_packet(self.code, &self.sqlstate, &self.message)
    }
}

/// An ERR payload with `code`, a five-character `sqlstate` (padded/cut) and `msg`.
pub fn err_packet(code: u16, sqlstate: &str, msg: &str) -> Vec<u8> {
    let mut b = Vec::with_capacity(9 + msg.len());
    b.push(0xFF);
    b.extend_from_slice(&code.to_le_bytes());
    b.push(b'#');
    let mut state = [b'0'; 5];
    for (d, s) in state.iter_mut().zip(sqlstate.bytes()) {
        *d = s;
    }
    b.extend_from_slice(&state);
    b.extend_from_slice(msg.as_bytes());
    b
}

/// A classic EOF packet (without `CLIENT_DEPRECATE_EOF`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EofPacket {
    pub warnings: u16,
    pub status: StatusFlags,
}

impl EofPacket {
    /// Decodes an EOF payload (0xFE, fewer than 9 bytes).
    pub fn parse(payload: &[u8]) -> Result<EofPacket, PacketError> {
        let mut r = Reader::new(payload);
        match r.u8().ok_or_else(trunc("EOF packet"))? {
            0xFE if payload.len() < 9 => {}
            got => {
                return Err(PacketError::Unexpected {
                    what: "EOF packet",
                    got,
                });
            }
        }
        Ok(EofPacket {
            warnings: r.u16().ok_or_else(trunc("EOF warnings"))?,
            status: StatusFlags::from_bits_retain(r.u16().ok_or_else(trunc("EOF status"))?),
        })
    }

    /// Encodes the packet.
    pub fn build(&self) -> Vec<u8> {
        let mut b = vec![0xFE];
        b.extend_from_slice(&self.warnings.to_le_bytes());
        b.extend_from_slice(&self.status.bits().to_le_bytes());
        b
    }
}

/// True if `payload` ends a column list or row list: an EOF, or with `CLIENT_DEPRECATE_EOF`
/// a 0xFE-headed OK (a text row can start with 0xFE only if it is at least 16 MiB long).
pub fn is_end_of_rows(payload: &[u8], caps: CapabilityFlags) -> bool {
    let limit = if caps.contains(CapabilityFlags::CLIENT_DEPRECATE_EOF) {
        MAX_CHUNK
    } else {
        9
    };
    payload.first() == Some(&0xFE) && payload.len() < limit
}

/// The server asks the client to authenticate again with another plugin (0xFE header).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthSwitchRequest {
    pub plugin: String,
    /// Plugin data (the new scramble), without the trailing NUL.
    pub data: Vec<u8>,
}

impl AuthSwitchRequest {
    /// Decodes the request; the bare 0xFE (pre-4.1 password switch) is refused as truncated.
    pub fn parse(payload: &[u8]) -> Result<AuthSwitchRequest, PacketError> {
        let mut r = Reader::new(payload);
        match r.u8().ok_or_else(trunc("auth switch"))? {
            0xFE => {}
            got => {
                return Err(PacketError::Unexpected {
                    what: "auth switch",
                    got,
                });
            }
        }
        let plugin = text(r.nul_bytes().ok_or_else(trunc("auth switch plugin"))?);
        let data = r.rest();
        let data = data.strip_suffix(&[0]).unwrap_or(data);
        Ok(AuthSwitchRequest {
            plugin,
            data: data.to_vec(),
        })
    }

    /// Encodes the request (the data is NUL-terminated, as servers send it).
    pub fn build(&self) -> Vec<u8> {
        let mut b = vec![0xFE];
        b.extend_from_slice(self.plugin.as_bytes());
        b.push(0);
        b.extend_from_slice(&self.data);
        b.push(0);
        b
    }
}

#[cfg(test)]
mod tests;
