//! mysql_native_password (no I/O).
//!
//! reply = SHA1(password) XOR SHA1(scramble + SHA1(SHA1(password))); the server stores
//! SHA1(SHA1(password)) as `*HEX`. Knowing the stored hash and a client's reply recovers
//! SHA1(password) (MaxScale's trick), and SHA1(password) is all a reply to a backend's scramble
//! needs, so the proxy authenticates clients and then backends without ever holding a password.

use sha1::{Digest, Sha1};

/// Name of the plugin.
pub const NATIVE_PASSWORD: &str = "mysql_native_password";
/// Length of a scramble and of a reply.
pub const SCRAMBLE_LEN: usize = 20;

/// A SHA1 digest.
pub type Sha1Hash = [u8; 20];

/// Why a stored hash could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// Not `*` followed by 40 hex digits (e.g. another plugin's hash or an empty password).
    #[error("not a mysql_native_password hash")]
    BadHash,
}

fn sha1(parts: &[&[u8]]) -> Sha1Hash {
    let mut h = Sha1::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

fn xor(a: &Sha1Hash, b: &Sha1Hash) -> Sha1Hash {
    std::array::from_fn(|i| a[i] ^ b[i])
}

/// Equality of two digests in time independent of where they differ.
fn same(a: &Sha1Hash, b: &Sha1Hash) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// SHA1(password): what the proxy keeps instead of a password.
pub fn sha1_password(password: &[u8]) -> Sha1Hash {
    sha1(&[password])
}

/// SHA1(SHA1(password)), as stored by the server.
pub fn double_sha1(password: &[u8]) -> Sha1Hash {
    sha1(&[&sha1_password(password)])
}

/// The `*HEX` form of `PASSWORD('...')` (upper-case, as in `mysql.user`).
pub fn password_hash(password: &[u8]) -> String {
    let mut s = String::with_capacity(41);
    s.push('*');
    for b in double_sha1(password) {
        s.push_str(&format!("{b:02X}"));
    }
    s
}

/// Decodes a stored `*HEX` hash into SHA1(SHA1(password)).
pub fn parse_password_hash(stored: &str) -> Result<Sha1Hash, AuthError> {
    let hex = stored.strip_prefix('*').ok_or(AuthError::BadHash)?;
    if hex.len() != 40 || !hex.is_ascii() {
        return Err(AuthError::BadHash);
    }
    let mut out = [0u8; 20];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|_| AuthError::BadHash)?;
    }
    Ok(out)
}

/// The reply to `scramble` for a cleartext `password` (empty for an empty password).
pub fn scramble_reply(scramble: &[u8], password: &[u8]) -> Vec<u8> {
    if password.is_empty() {
        return Vec::new();
    }
    reply_from_sha1(scramble, &sha1_password(password)).to_vec()
}

/// The reply to `scramble` from SHA1(password) alone.
pub fn reply_from_sha1(scramble: &[u8], sha1_pw: &Sha1Hash) -> Sha1Hash {
    xor(sha1_pw, &sha1(&[scramble, &sha1(&[sha1_pw])]))
}

/// SHA1(password) if `reply` answers `scramble` for the stored SHA1(SHA1(password)), else `None`.
pub fn recover_sha1_password(scramble: &[u8], reply: &[u8], stored: &Sha1Hash) -> Option<Sha1Hash> {
    let reply: &Sha1Hash = reply.try_into().ok()?;
    let candidate = xor(reply, &sha1(&[scramble, stored]));
    same(&sha1(&[&candidate]), stored).then_some(candidate)
}

/// True if `reply` answers `scramble` for the stored SHA1(SHA1(password)).
pub fn verify_reply(scramble: &[u8], reply: &[u8], stored: &Sha1Hash) -> bool {
    recover_sha1_password(scramble, reply, stored).is_some()
}

/// A fresh 20-byte scramble of printable-safe bytes (no NUL, no `$`), as servers send.
pub fn new_scramble() -> [u8; SCRAMBLE_LEN] {
    std::array::from_fn(|_| {
        loop {
            let b = rand::random_range(1u8..128);
            if b != b'$' {
                break b;
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Vector from mysql_common's mysql_native_password tests.
    const SCRAMBLE: [u8; 20] = [
        0x4e, 0x52, 0x33, 0x48, 0x50, 0x3a, 0x71, 0x49, 0x59, 0x61, 0x5f, 0x39, 0x3d, 0x64, 0x62,
        0x3f, 0x53, 0x64, 0x7b, 0x60,
    ];
    const PASSWORD: &[u8] = b"G!ider27";
    const REPLY: [u8; 20] = [
        0x09, 0xcf, 0xf8, 0x85, 0x5e, 0x9e, 0x70, 0x53, 0x40, 0xff, 0x22, 0x70, 0xd8, 0xfb, 0x9f,
        0xad, 0xba, 0x90, 0x6b, 0x70,
    ];

    #[test]
    fn known_reply() {
        assert_eq!(scramble_reply(&SCRAMBLE, PASSWORD), REPLY.to_vec());
        assert_eq!(reply_from_sha1(&SCRAMBLE, &sha1_password(PASSWORD)), REPLY);
        assert!(scramble_reply(&SCRAMBLE, b"").is_empty());
    }

    #[test]
    fn known_password_hashes() {
        assert_eq!(
            password_hash(b"password"),
            "*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19"
        );
        // The lab's app/app account, as read from mysql.global_priv.
        assert_eq!(
            password_hash(b"app"),
            "*5BCB3E6AC345B435C7C2E6B7949A04CE6F6563D3"
        );
        let h = parse_password_hash("*2470c0c06dee42fd1618bb99005adca2ec9d1e19").unwrap();
        assert_eq!(h, double_sha1(b"password"));
    }

    #[test]
    fn bad_stored_hashes() {
        for s in [
            "",
            "*",
            "2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19",
            "*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E1",
            "*2470C0C06DEE42FD1618BB99005ADCA2EC9D1EZZ",
            "*é470C0C06DEE42FD1618BB99005ADCA2EC9D1E1",
        ] {
            assert_eq!(parse_password_hash(s), Err(AuthError::BadHash), "{s:?}");
        }
    }

    #[test]
    fn verify_and_recover() {
        let stored = double_sha1(PASSWORD);
        assert!(verify_reply(&SCRAMBLE, &REPLY, &stored));
        assert_eq!(
            recover_sha1_password(&SCRAMBLE, &REPLY, &stored),
            Some(sha1_password(PASSWORD))
        );
        let mut wrong = REPLY;
        wrong[0] ^= 1;
        assert!(!verify_reply(&SCRAMBLE, &wrong, &stored));
        assert!(!verify_reply(&SCRAMBLE, &REPLY[..19], &stored));
        assert!(!verify_reply(&SCRAMBLE, &[], &stored));
        assert!(!verify_reply(&SCRAMBLE, &REPLY, &double_sha1(b"other")));
    }

    #[test]
    fn proxy_round_trip() {
        // Client -> proxy with scramble A; proxy -> backend with scramble B using only the hash.
        let (a, b) = (new_scramble(), new_scramble());
        assert!(a.iter().all(|x| *x != 0 && *x != b'$' && *x < 128));
        let stored = double_sha1(b"s3cret");
        let client_reply = scramble_reply(&a, b"s3cret");
        let sha1_pw = recover_sha1_password(&a, &client_reply, &stored).unwrap();
        assert_eq!(
            reply_from_sha1(&b, &sha1_pw).to_vec(),
            scramble_reply(&b, b"s3cret")
        );
    }
}
