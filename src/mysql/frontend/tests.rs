use super::*;
use crate::mysql::auth::{double_sha1, new_scramble, scramble_reply, sha1_password};
use crate::mysql::users::Account;

fn table() -> UserTable {
    let acc = |user: &str, credential| Account {
        user: user.into(),
        host: "%".into(),
        credential,
        locked: false,
    };
    UserTable::new(vec![
        acc("app", Credential::Native(double_sha1(b"app"))),
        acc("nopw", Credential::NoPassword),
        acc("ed", Credential::Plugin("ed25519".into())),
        Account {
            locked: true,
            ..acc("locked", Credential::NoPassword)
        },
    ])
}

#[test]
fn authenticate_accounts() {
    let t = table();
    let ip: IpAddr = "127.0.0.1".parse().unwrap();
    let s = new_scramble();
    let good = scramble_reply(&s, b"app");
    assert_eq!(
        authenticate(&t, "app", ip, &s, &good),
        Ok(Some(sha1_password(b"app")))
    );
    let bad = authenticate(&t, "app", ip, &s, &scramble_reply(&s, b"nope")).unwrap_err();
    assert_eq!((bad.code, bad.sqlstate), (1045, "28000"));
    assert_eq!(
        bad.message,
        "Access denied for user 'app'@'127.0.0.1' (using password: YES)"
    );
    let empty = authenticate(&t, "app", ip, &s, &[]).unwrap_err();
    assert!(empty.message.ends_with("(using password: NO)"));
    assert_eq!(authenticate(&t, "nopw", ip, &s, &[]), Ok(None));
    assert_eq!(
        authenticate(&t, "nopw", ip, &s, &good).unwrap_err().code,
        1045
    );
    let ed = authenticate(&t, "ed", ip, &s, &good).unwrap_err();
    assert!(ed.message.contains("ed25519"), "{}", ed.message);
    assert_eq!(
        authenticate(&t, "locked", ip, &s, &[]).unwrap_err().code,
        4151
    );
    assert_eq!(authenticate(&t, "who", ip, &s, &[]).unwrap_err().code, 1045);
}

#[test]
fn greeting_says_mariadb_and_hides_compression() {
    let master = Handshake {
        server_version: "10.11.19-MariaDB".into(),
        connection_id: 7,
        capabilities: CapabilityFlags::from_bits_retain(u32::MAX),
        mariadb_capabilities: u32::MAX,
        charset: 45,
        ..Handshake::default()
    };
    let g = greeting(&master, 9, &[1; 20], false);
    assert_eq!(g.server_version, "5.5.5-10.11.19-MariaDB");
    assert_eq!(g.connection_id, 9);
    assert!(!g.capabilities.contains(CapabilityFlags::CLIENT_COMPRESS));
    assert!(!g.capabilities.contains(CapabilityFlags::CLIENT_SSL));
    assert_eq!(g.mariadb_capabilities, SUPPORTED_MARIADB_CAPS);
    let again = greeting(&g, 9, &[1; 20], true);
    assert_eq!(again.server_version, "5.5.5-10.11.19-MariaDB");
    assert!(again.capabilities.contains(CapabilityFlags::CLIENT_SSL));
    let parsed = Handshake::parse(&g.build()).unwrap();
    assert_eq!(parsed.scramble, vec![1; 20]);
}

#[test]
fn greeting_offers_what_every_server_has() {
    let hs = |version: &str, caps: u32, mariadb: u32| Handshake {
        server_version: version.into(),
        capabilities: CapabilityFlags::from_bits_retain(caps),
        mariadb_capabilities: mariadb,
        ..Handshake::default()
    };
    let (a, b, c) = (
        hs("11.4", 0b1111, 0b111),
        hs("10.11", 0b0111, 0b101),
        hs("10.6", 0b1101, 0b100),
    );
    let t = greeting_template(Some(&b), [&a, &b, &c]).unwrap();
    assert_eq!(t.server_version, "10.11");
    assert_eq!(t.capabilities.bits(), 0b0101);
    assert_eq!(t.mariadb_capabilities, 0b100);
    let first = greeting_template(None, [&c, &a]).unwrap();
    assert_eq!(first.server_version, "10.6");
    assert!(greeting_template(None, []).is_none());
}

#[test]
fn change_user_parsing() {
    let caps = CapabilityFlags::CLIENT_SECURE_CONNECTION | CapabilityFlags::CLIENT_PLUGIN_AUTH;
    let mut p = vec![0x11];
    p.extend_from_slice(b"bob\0");
    p.push(3);
    p.extend_from_slice(b"abc");
    p.extend_from_slice(b"db1\0");
    p.extend_from_slice(&[45, 0]);
    p.extend_from_slice(b"mysql_native_password\0");
    let cu = parse_change_user(&p, caps).unwrap();
    assert_eq!(cu.user, "bob");
    assert_eq!(cu.auth_response, b"abc");
    assert_eq!(cu.database.as_deref(), Some("db1"));
    assert_eq!(cu.charset, Some(45));
    assert_eq!(cu.auth_plugin.as_deref(), Some("mysql_native_password"));
    // Just user and auth.
    let cu = parse_change_user(&p[..9], caps).unwrap();
    assert_eq!((cu.database, cu.charset), (None, None));
    // Malformed: not the command, no NUL after the user, auth longer than the packet, no NUL
    // after the database.
    assert!(parse_change_user(b"\x03bob\0", caps).is_err());
    assert!(parse_change_user(b"\x11bob", caps).is_err());
    assert!(parse_change_user(b"\x11bob\0\x09ab", caps).is_err());
    assert!(parse_change_user(b"\x11bob\0\x00db", caps).is_err());
    assert!(parse_change_user(&[], caps).is_err());
}

#[test]
fn frame_heads() {
    assert_eq!(frame_head(&[1, 0, 0, 5, 0x0E]), (&[0x0E][..], 5));
    assert_eq!(frame_head(&[0, 0]), (&[][..], 0));
}
