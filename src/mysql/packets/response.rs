//! What a client sends after the handshake: the SSL request and HandshakeResponse41.

use super::{CLIENT_MYSQL, CapabilityFlags, PacketError, REFUSED_CAPABILITIES, text, trunc};
use crate::mysql::codec::{Reader, put_lenenc_bytes};

/// The client's SSL request: the first 32 bytes of a HandshakeResponse41 with `CLIENT_SSL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SslRequest {
    pub capabilities: CapabilityFlags,
    pub max_packet: u32,
    pub charset: u8,
    pub mariadb_capabilities: u32,
}

impl SslRequest {
    /// Encodes the 32-byte fixed part (also the start of a full response).
    pub fn build(&self) -> Vec<u8> {
        let mut caps = self.capabilities.difference(REFUSED_CAPABILITIES);
        if self.mariadb_capabilities != 0 {
            caps.remove(CLIENT_MYSQL);
        }
        let mut b = Vec::with_capacity(32);
        b.extend_from_slice(&caps.bits().to_le_bytes());
        b.extend_from_slice(&self.max_packet.to_le_bytes());
        b.push(self.charset);
        b.extend_from_slice(&[0; 19]);
        b.extend_from_slice(&self.mariadb_capabilities.to_le_bytes());
        b
    }
}

/// The client's login (Protocol::HandshakeResponse41).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeResponse {
    pub fixed: SslRequest,
    pub user: String,
    pub auth_response: Vec<u8>,
    pub database: Option<String>,
    pub auth_plugin: Option<String>,
    pub attrs: Vec<(String, String)>,
}

/// What a client sends after the handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientHello {
    /// Switch to TLS, then the full response follows.
    Ssl(SslRequest),
    Login(HandshakeResponse),
}

impl HandshakeResponse {
    /// Decodes an SSL request or a full response; refuses compression and pre-4.1 clients.
    pub fn parse(payload: &[u8]) -> Result<ClientHello, PacketError> {
        let mut r = Reader::new(payload);
        let caps = CapabilityFlags::from_bits_retain(r.u32().ok_or_else(trunc("capabilities"))?);
        if !caps.contains(CapabilityFlags::CLIENT_PROTOCOL_41) {
            return Err(PacketError::OldProtocol);
        }
        if caps.intersects(REFUSED_CAPABILITIES) {
            return Err(PacketError::Compressed);
        }
        let max_packet = r.u32().ok_or_else(trunc("max packet"))?;
        let charset = r.u8().ok_or_else(trunc("charset"))?;
        r.take(19).ok_or_else(trunc("filler"))?;
        let ext = r.u32().ok_or_else(trunc("filler"))?;
        let fixed = SslRequest {
            capabilities: caps,
            max_packet,
            charset,
            mariadb_capabilities: if caps.contains(CLIENT_MYSQL) { 0 } else { ext },
        };
        if r.remaining() == 0 && caps.contains(CapabilityFlags::CLIENT_SSL) {
            return Ok(ClientHello::Ssl(fixed));
        }
        let user = text(r.nul_bytes().ok_or_else(trunc("user"))?);
        let auth = if caps.contains(CapabilityFlags::CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA) {
            r.lenenc_bytes()
        } else if caps.contains(CapabilityFlags::CLIENT_SECURE_CONNECTION) {
            r.u8().and_then(|n| r.take(usize::from(n)))
        } else {
            r.nul_bytes()
        };
        let auth_response = auth.ok_or_else(trunc("auth response"))?.to_vec();
        let mut resp = HandshakeResponse {
            fixed,
            user,
            auth_response,
            database: None,
            auth_plugin: None,
            attrs: Vec::new(),
        };
        if caps.contains(CapabilityFlags::CLIENT_CONNECT_WITH_DB) {
            let db = r.nul_bytes().unwrap_or_else(|| r.rest());
            resp.database = Some(text(db)).filter(|d| !d.is_empty());
        }
        if caps.contains(CapabilityFlags::CLIENT_PLUGIN_AUTH) {
            let p = r.nul_bytes().unwrap_or_else(|| r.rest());
            resp.auth_plugin = Some(text(p)).filter(|p| !p.is_empty());
        }
        if caps.contains(CapabilityFlags::CLIENT_CONNECT_ATTRS) && r.remaining() > 0 {
            let all = r
                .lenenc_bytes()
                .ok_or_else(trunc("connection attributes"))?;
            let mut a = Reader::new(all);
            while a.remaining() > 0 {
                let k = a.lenenc_bytes().ok_or_else(trunc("attribute"))?;
                let v = a.lenenc_bytes().ok_or_else(trunc("attribute"))?;
                resp.attrs.push((text(k), text(v)));
            }
        }
        Ok(ClientHello::Login(resp))
    }

    /// Encodes the response. The auth response is written as `fixed.capabilities` say
    /// (length-encoded, one length byte, or NUL-terminated); the flags of the optional fields
    /// (database, plugin, attributes) follow from which fields are present.
    pub fn build(&self) -> Vec<u8> {
        let mut fixed = self.fixed.clone();
        let caps = &mut fixed.capabilities;
        caps.insert(CapabilityFlags::CLIENT_PROTOCOL_41);
        caps.set(
            CapabilityFlags::CLIENT_CONNECT_WITH_DB,
            self.database.is_some(),
        );
        caps.set(
            CapabilityFlags::CLIENT_PLUGIN_AUTH,
            self.auth_plugin.is_some(),
        );
        caps.set(
            CapabilityFlags::CLIENT_CONNECT_ATTRS,
            !self.attrs.is_empty(),
        );
        let caps = *caps;
        let mut b = fixed.build();
        b.extend_from_slice(self.user.as_bytes());
        b.push(0);
        if caps.contains(CapabilityFlags::CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA) {
            put_lenenc_bytes(&mut b, &self.auth_response);
        } else if caps.contains(CapabilityFlags::CLIENT_SECURE_CONNECTION) {
            let n = self.auth_response.len().min(255);
            b.push(n as u8);
            b.extend_from_slice(&self.auth_response[..n]);
        } else {
            b.extend_from_slice(&self.auth_response);
            b.push(0);
        }
        for s in [&self.database, &self.auth_plugin].into_iter().flatten() {
            b.extend_from_slice(s.as_bytes());
            b.push(0);
        }
        if !self.attrs.is_empty() {
            let mut a = Vec::new();
            for (k, v) in &self.attrs {
                put_lenenc_bytes(&mut a, k.as_bytes());
                put_lenenc_bytes(&mut a, v.as_bytes());
            }
            put_lenenc_bytes(&mut b, &a);
        }
        b
    }
}
