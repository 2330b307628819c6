//! Golden-byte and malformed-input tests of the packet decoders.

use super::*;
use mysql_common::constants::MariadbCapabilities;

/// Handshake of MariaDB 10.11.19 (Debian 12), captured from the lab.
const MARIADB_HANDSHAKE: &str = "0a352e352e352d31302e31312e31392d4d6172696144422d302b64656231327531001000000063487d5e3f5f3f5c00fef7080200ff81150000000000001d000000352f2e3a7665764226357677006d7973716c5f6e61746976655f70617373776f726400";

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn parses_mariadb_handshake() {
    let b = hex(MARIADB_HANDSHAKE);
    let hs = Handshake::parse(&b).unwrap();
    assert_eq!(hs.server_version, "5.5.5-10.11.19-MariaDB-0+deb12u1");
    assert_eq!(hs.connection_id, 16);
    assert_eq!(hs.scramble.len(), 20);
    assert_eq!(&hs.scramble[..8], b"cH}^?_?\\");
    assert_eq!(hs.auth_plugin, "mysql_native_password");
    assert_eq!(hs.charset, 8);
    assert!(hs.status.contains(StatusFlags::SERVER_STATUS_AUTOCOMMIT));
    assert!(
        hs.capabilities
            .contains(CapabilityFlags::CLIENT_PROTOCOL_41)
    );
    assert!(
        hs.capabilities
            .contains(CapabilityFlags::CLIENT_DEPRECATE_EOF)
    );
    assert!(!hs.capabilities.contains(CLIENT_MYSQL));
    let ext = MariadbCapabilities::from_bits_retain(hs.mariadb_capabilities);
    assert!(ext.contains(MariadbCapabilities::MARIADB_CLIENT_STMT_BULK_OPERATIONS));
    // Rebuilding gives the same bytes, except that compression is never offered.
    let rebuilt = hs.build();
    assert!(Handshake::parse(&rebuilt).is_ok());
    let mut orig = b.clone();
    assert_eq!(orig[47], 0xFE);
    orig[47] &= !0x20; // CLIENT_COMPRESS in the lower capability bytes
    assert_eq!(rebuilt, orig);
    assert!(
        !Handshake::parse(&rebuilt)
            .unwrap()
            .capabilities
            .intersects(REFUSED_CAPABILITIES)
    );
}

#[test]
fn handshake_malformed() {
    let b = hex(MARIADB_HANDSHAKE);
    for n in [0, 1, 10, 40, 44, 46, 50, 60] {
        assert!(
            matches!(Handshake::parse(&b[..n]), Err(PacketError::Truncated(_))),
            "prefix {n}"
        );
    }
    let mut v9 = b.clone();
    v9[0] = 9;
    assert_eq!(Handshake::parse(&v9), Err(PacketError::ProtocolVersion(9)));
    // An ERR where a handshake was expected (e.g. "Host is blocked").
    assert!(Handshake::parse(&err_packet(1129, "HY000", "blocked")).is_err());
    // No NUL after the server version.
    assert!(Handshake::parse(b"\x0a5.5.5").is_err());
}

#[test]
fn mysql_handshake_has_no_extended_caps() {
    let hs = Handshake {
        server_version: "8.0.36".into(),
        connection_id: 7,
        scramble: (1..=20).collect(),
        capabilities: CapabilityFlags::from_bits_retain(0xFFFF_F7FF),
        mariadb_capabilities: 0,
        charset: 255,
        status: StatusFlags::SERVER_STATUS_AUTOCOMMIT,
        auth_plugin: "caching_sha2_password".into(),
    };
    let got = Handshake::parse(&hs.build()).unwrap();
    assert_eq!(got.mariadb_capabilities, 0);
    assert_eq!(got.scramble, hs.scramble);
    assert_eq!(
        got.capabilities,
        hs.capabilities.difference(REFUSED_CAPABILITIES)
    );
}

fn login() -> HandshakeResponse {
    HandshakeResponse {
        fixed: SslRequest {
            capabilities: CapabilityFlags::CLIENT_PROTOCOL_41
                | CapabilityFlags::CLIENT_SECURE_CONNECTION
                | CapabilityFlags::CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA
                | CapabilityFlags::CLIENT_CONNECT_WITH_DB
                | CapabilityFlags::CLIENT_PLUGIN_AUTH
                | CapabilityFlags::CLIENT_CONNECT_ATTRS,
            max_packet: 1 << 24,
            charset: 45,
            mariadb_capabilities: 0,
        },
        user: "app".into(),
        auth_response: vec![7; 20],
        database: Some("appdb".into()),
        auth_plugin: Some("mysql_native_password".into()),
        attrs: vec![("_client_name".into(), "datagate".into())],
    }
}

#[test]
fn handshake_response_round_trip() {
    let r = login();
    assert_eq!(
        HandshakeResponse::parse(&r.build()),
        Ok(ClientHello::Login(r.clone()))
    );
    let mut bare = r.clone();
    bare.database = None;
    bare.attrs.clear();
    bare.fixed
        .capabilities
        .remove(CapabilityFlags::CLIENT_CONNECT_WITH_DB | CapabilityFlags::CLIENT_CONNECT_ATTRS);
    assert_eq!(
        HandshakeResponse::parse(&bare.build()),
        Ok(ClientHello::Login(bare))
    );
}

#[test]
fn handshake_response_old_style_auth_length() {
    // CLIENT_SECURE_CONNECTION without LENENC: one length byte.
    let mut b = SslRequest {
        capabilities: CapabilityFlags::CLIENT_PROTOCOL_41
            | CapabilityFlags::CLIENT_SECURE_CONNECTION,
        max_packet: 0,
        charset: 8,
        mariadb_capabilities: 0,
    }
    .build();
    b.extend_from_slice(b"root\0\x02ab");
    let ClientHello::Login(r) = HandshakeResponse::parse(&b).unwrap() else {
        panic!("not a login")
    };
    assert_eq!(
        (r.user.as_str(), &r.auth_response[..]),
        ("root", &b"ab"[..])
    );
    assert!(HandshakeResponse::parse(&b[..b.len() - 1]).is_err());
    // build() writes the same form when LENENC is not negotiated.
    let mut short = login();
    short
        .fixed
        .capabilities
        .remove(CapabilityFlags::CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA);
    assert_eq!(
        HandshakeResponse::parse(&short.build()),
        Ok(ClientHello::Login(short))
    );
}

#[test]
fn ssl_request_and_refusals() {
    let mut ssl = login().fixed;
    ssl.capabilities.insert(CapabilityFlags::CLIENT_SSL);
    ssl.mariadb_capabilities = 4;
    let b = ssl.build();
    assert_eq!(b.len(), 32);
    assert_eq!(
        HandshakeResponse::parse(&b),
        Ok(ClientHello::Ssl(ssl.clone()))
    );
    // Truncated fixed part.
    assert!(matches!(
        HandshakeResponse::parse(&b[..20]),
        Err(PacketError::Truncated(_))
    ));
    // 32 bytes without CLIENT_SSL: the user name is missing.
    let mut plain = login().fixed.build();
    assert!(matches!(
        HandshakeResponse::parse(&plain),
        Err(PacketError::Truncated(_))
    ));
    plain[0] |= 0x20; // CLIENT_COMPRESS
    assert_eq!(
        HandshakeResponse::parse(&plain),
        Err(PacketError::Compressed)
    );
    plain[1] &= !0x02; // CLIENT_PROTOCOL_41
    assert_eq!(
        HandshakeResponse::parse(&plain),
        Err(PacketError::OldProtocol)
    );
    // Attribute block longer than the packet.
    let mut b = login().build();
    let n = b.len();
    b.truncate(n - 3);
    assert!(matches!(
        HandshakeResponse::parse(&b),
        Err(PacketError::Truncated(_))
    ));
}

#[test]
fn ok_packets() {
    let caps = CapabilityFlags::CLIENT_PROTOCOL_41;
    // OK from MariaDB after login: affected 0, insert id 0, autocommit, 0 warnings.
    let ok = OkPacket::parse(&[0, 0, 0, 2, 0, 0, 0], caps).unwrap();
    assert_eq!(ok.status, StatusFlags::SERVER_STATUS_AUTOCOMMIT);
    let full = OkPacket {
        affected_rows: 300,
        last_insert_id: 70000,
        status: StatusFlags::SERVER_STATUS_IN_TRANS | StatusFlags::SERVER_SESSION_STATE_CHANGED,
        warnings: 2,
        info: b"Rows matched: 1".to_vec(),
        session_state: vec![1, 2, 3],
    };
    let tracked = caps | CapabilityFlags::CLIENT_SESSION_TRACK;
    assert_eq!(
        OkPacket::parse(&full.build(tracked, 0xFE), tracked),
        Ok(full.clone())
    );
    let plain = OkPacket {
        session_state: vec![],
        ..full
    };
    assert_eq!(
        OkPacket::parse(&plain.build(caps, 0), caps),
        Ok(plain.clone())
    );
    let b = plain.build(caps, 0);
    assert!(OkPacket::parse(&b[..4], caps).is_err());
    assert!(OkPacket::parse(&[], caps).is_err());
    assert!(matches!(
        OkPacket::parse(&[0xFF, 0], caps),
        Err(PacketError::Unexpected { .. })
    ));
}

#[test]
fn err_packets() {
    let b = err_packet(1045, "28000", "Access denied for user 'app'@'127.0.0.1'");
    let e = ErrPacket::parse(&b).unwrap();
    assert_eq!((e.code, e.sqlstate.as_str()), (1045, "28000"));
    assert_eq!(e.build(), b);
    // Pre-handshake form without SQLSTATE.
    let e = ErrPacket::parse(b"\xff\x69\x04Host blocked").unwrap();
    assert_eq!(
        (e.code, e.sqlstate.as_str(), e.message.as_str()),
        (1129, "HY000", "Host blocked")
    );
    assert!(ErrPacket::parse(b"\xff\x15").is_err());
    assert!(ErrPacket::parse(b"\xff\x15\x04#280").is_err());
    assert!(ErrPacket::parse(b"\x00\x15\x04").is_err());
    assert_eq!(&err_packet(1, "4", "")[3..], b"#40000");
}

#[test]
fn eof_and_end_of_rows() {
    let eof = EofPacket {
        warnings: 1,
        status: StatusFlags::SERVER_MORE_RESULTS_EXISTS,
    };
    assert_eq!(EofPacket::parse(&eof.build()), Ok(eof));
    assert!(EofPacket::parse(&[0xFE, 0]).is_err());
    assert!(EofPacket::parse(&[0xFE; 12]).is_err());
    let dep = CapabilityFlags::CLIENT_DEPRECATE_EOF;
    assert!(is_end_of_rows(&eof.build(), CapabilityFlags::empty()));
    let ok_end = OkPacket::default().build(dep, 0xFE);
    assert!(is_end_of_rows(&ok_end, dep));
    assert!(!is_end_of_rows(&[0xFE; 20], CapabilityFlags::empty()));
    assert!(is_end_of_rows(&[0xFE; 20], dep));
    assert!(!is_end_of_rows(&[3, b'a', b'b', b'c'], dep));
}

#[test]
fn auth_switch() {
    let req = AuthSwitchRequest {
        plugin: "mysql_native_password".into(),
        data: (1..=20).collect(),
    };
    assert_eq!(AuthSwitchRequest::parse(&req.build()), Ok(req));
    assert!(AuthSwitchRequest::parse(&[0xFE]).is_err());
    assert!(AuthSwitchRequest::parse(b"\xfemysql").is_err());
    assert!(AuthSwitchRequest::parse(b"\x01abc").is_err());
}
