//! Typed views of the few replies datagate reads: master address, `ROLE`, sentinel events.
//!
//! Everything here comes from the network, so every shape is checked and nothing panics.

use redis_protocol::resp2::types::OwnedFrame;

use super::resp::{RespError, frame_str};

/// `host:port`, with brackets around IPv6 literals.
pub fn join_addr(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

fn unexpected(what: &str, f: &OwnedFrame) -> RespError {
    let mut shown = format!("{f:?}");
    shown.truncate(120);
    RespError::Unexpected(format!("{what}: {shown}"))
}

fn port_of(s: &str) -> Result<u16, RespError> {
    match s.parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(RespError::Unexpected(format!("bad port {s:?}"))),
    }
}

/// Reply of `SENTINEL get-master-addr-by-name`: `Some(addr)`, or `None` if the name is unknown.
pub fn master_addr(f: &OwnedFrame) -> Result<Option<String>, RespError> {
    match f {
        OwnedFrame::Null => Ok(None),
        OwnedFrame::Error(e) => Err(RespError::Server(e.clone())),
        OwnedFrame::Array(items) if items.len() == 2 => {
            let (Some(host), Some(port)) = (frame_str(&items[0]), frame_str(&items[1])) else {
                return Err(unexpected("master address is not two strings", f));
            };
            if host.is_empty() {
                return Err(unexpected("empty master host", f));
            }
            Ok(Some(join_addr(host, port_of(port)?)))
        }
        _ => Err(unexpected("master address is not [host, port]", f)),
    }
}

/// What a node says it is (`ROLE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// A master, with the replicas connected to it (`host:port`).
    Master {
        /// Replicas as the master lists them.
        replicas: Vec<String>,
    },
    /// A replica of `master`.
    Replica {
        /// The master it replicates from.
        master: String,
    },
    /// A sentinel or anything else: never a write target.
    Other(String),
}

/// Parses a `ROLE` reply.
pub fn role(f: &OwnedFrame) -> Result<Role, RespError> {
    let OwnedFrame::Array(items) = f else {
        if let OwnedFrame::Error(e) = f {
            return Err(RespError::Server(e.clone()));
        }
        return Err(unexpected("ROLE reply is not an array", f));
    };
    let Some(kind) = items.first().and_then(frame_str) else {
        return Err(unexpected("ROLE reply has no role name", f));
    };
    match kind {
        "master" => {
            let mut replicas = Vec::new();
            if let Some(OwnedFrame::Array(list)) = items.get(2) {
                for r in list {
                    if let OwnedFrame::Array(fields) = r
                        && let (Some(h), Some(p)) = (
                            fields.first().and_then(frame_str),
                            fields.get(1).and_then(frame_str),
                        )
                        && let Ok(port) = port_of(p)
                    {
                        replicas.push(join_addr(h, port));
                    }
                }
            }
            Ok(Role::Master { replicas })
        }
        "slave" | "replica" => {
            let host = items.get(1).and_then(frame_str);
            let port = match items.get(2) {
                Some(OwnedFrame::Integer(p)) => u16::try_from(*p).ok(),
                Some(other) => frame_str(other).and_then(|s| s.parse().ok()),
                None => None,
            };
            match (host, port) {
                (Some(h), Some(p)) => Ok(Role::Replica {
                    master: join_addr(h, p),
                }),
                _ => Err(unexpected("replica ROLE without master address", f)),
            }
        }
        other => Ok(Role::Other(other.to_string())),
    }
}

/// A sentinel event that matters to the monitor of one master name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hint {
    /// Our master moved (`+switch-master`) to this address.
    SwitchMaster(String),
    /// A replica of our master was promoted (`+promoted-slave`): a second master may exist now.
    Promoted(String),
    /// The failover leader picked `replica` to replace `master` (`+selected-slave`); it sends
    /// `REPLICAOF NO ONE` on its next tick.
    FailoverStarted {
        /// The master being replaced.
        master: String,
        /// The replica about to be promoted.
        replica: String,
    },
    /// A failover of our master was aborted (`-failover-abort-*`).
    FailoverAborted,
    /// Something about our master or its replicas went down or up (`+sdown`, `-sdown`).
    Changed,
}

/// Parses a pub/sub push; `None` for subscribe confirmations and events about other masters.
pub fn hint(f: &OwnedFrame, master_name: &str) -> Result<Option<Hint>, RespError> {
    let OwnedFrame::Array(items) = f else {
        return Err(unexpected("pub/sub push is not an array", f));
    };
    let Some(kind) = items.first().and_then(frame_str) else {
        return Err(unexpected("pub/sub push has no kind", f));
    };
    if kind != "message" {
        return Ok(None);
    }
    let (Some(channel), Some(payload)) = (
        items.get(1).and_then(frame_str),
        items.get(2).and_then(frame_str),
    ) else {
        return Err(unexpected("pub/sub message without channel and text", f));
    };
    let words: Vec<&str> = payload.split_ascii_whitespace().collect();
    let hint = match channel {
        // <name> <old-ip> <old-port> <new-ip> <new-port>
        "+switch-master" => match words.as_slice() {
            [name, _, _, ip, port] if *name == master_name => {
                Some(Hint::SwitchMaster(join_addr(ip, port_of(port)?)))
            }
            [_, _, _, _, _] => None,
            _ => return Err(unexpected("bad +switch-master text", f)),
        },
        // slave <id> <ip> <port> @ <master-name> <master-ip> <master-port>
        "+selected-slave" => match words.as_slice() {
            [_, _, ip, port, "@", name, mip, mport] if *name == master_name => {
                Some(Hint::FailoverStarted {
                    master: join_addr(mip, port_of(mport)?),
                    replica: join_addr(ip, port_of(port)?),
                })
            }
            [_, _, _, _, "@", _, _, _] => None,
            _ => return Err(unexpected("bad +selected-slave text", f)),
        },
        "+promoted-slave" => match words.as_slice() {
            [_, _, ip, port, "@", name, _, _] if *name == master_name => {
                Some(Hint::Promoted(join_addr(ip, port_of(port)?)))
            }
            [_, _, _, _, "@", _, _, _] => None,
            _ => return Err(unexpected("bad +promoted-slave text", f)),
        },
        c if c.starts_with("-failover-abort") => match words.as_slice() {
            ["master", name, ..] if *name == master_name => Some(Hint::FailoverAborted),
            _ => None,
        },
        // master <name> <ip> <port>  |  <type> <id> <ip> <port> @ <master-name> <ip> <port>
        _ => match words.as_slice() {
            ["master", name, ..] if *name == master_name => Some(Hint::Changed),
            [_, _, _, _, "@", name, ..] if *name == master_name => Some(Hint::Changed),
            _ => None,
        },
    };
    Ok(hint)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redis::resp::decode_reply;

    fn parse(bytes: &[u8]) -> OwnedFrame {
        decode_reply(bytes).unwrap().unwrap().0
    }

    #[test]
    fn master_address_cases() {
        let ok = parse(b"*2\r\n$9\r\n127.0.0.1\r\n$5\r\n16379\r\n");
        assert_eq!(master_addr(&ok).unwrap(), Some("127.0.0.1:16379".into()));
        let v6 = parse(b"*2\r\n$3\r\n::1\r\n$4\r\n6379\r\n");
        assert_eq!(master_addr(&v6).unwrap(), Some("[::1]:6379".into()));
        assert_eq!(master_addr(&parse(b"*-1\r\n")).unwrap(), None);
        assert_eq!(master_addr(&parse(b"$-1\r\n")).unwrap(), None);
        // Malformed: wrong type, empty array, bad port, error reply, wrong arity, empty host.
        let bad: &[&[u8]] = &[
            b"+OK\r\n",
            b":5\r\n",
            b"*0\r\n",
            b"*2\r\n$9\r\n127.0.0.1\r\n$5\r\n99999\r\n",
            b"*2\r\n$9\r\n127.0.0.1\r\n$1\r\n0\r\n",
            b"*2\r\n$9\r\n127.0.0.1\r\n$3\r\nabc\r\n",
            b"*2\r\n$9\r\n127.0.0.1\r\n:16379\r\n",
            b"*1\r\n$9\r\n127.0.0.1\r\n",
            b"*3\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\n2\r\n",
            b"*2\r\n$0\r\n\r\n$4\r\n6379\r\n",
        ];
        for b in bad {
            assert!(
                master_addr(&parse(b)).is_err(),
                "{}",
                String::from_utf8_lossy(b)
            );
        }
        let err = parse(b"-IDONTKNOW I don't know\r\n");
        assert!(matches!(master_addr(&err), Err(RespError::Server(_))));
    }

    #[test]
    fn truncated_replies_are_incomplete_not_errors() {
        let full = b"*2\r\n$9\r\n127.0.0.1\r\n$5\r\n16379\r\n";
        for cut in 0..full.len() {
            assert!(decode_reply(&full[..cut]).unwrap().is_none());
        }
    }

    #[test]
    fn role_cases() {
        let m = parse(
            b"*3\r\n$6\r\nmaster\r\n:42\r\n*2\r\n*3\r\n$9\r\n127.0.0.1\r\n$5\r\n16380\r\n$2\r\n42\r\n*3\r\n$9\r\n127.0.0.1\r\n$5\r\n16381\r\n$2\r\n40\r\n",
        );
        assert_eq!(
            role(&m).unwrap(),
            Role::Master {
                replicas: vec!["127.0.0.1:16380".into(), "127.0.0.1:16381".into()]
            }
        );
        let r =
            parse(b"*5\r\n$5\r\nslave\r\n$9\r\n127.0.0.1\r\n:16379\r\n$9\r\nconnected\r\n:42\r\n");
        assert_eq!(
            role(&r).unwrap(),
            Role::Replica {
                master: "127.0.0.1:16379".into()
            }
        );
        let s = parse(b"*2\r\n$8\r\nsentinel\r\n*1\r\n$2\r\ndn\r\n");
        assert_eq!(role(&s).unwrap(), Role::Other("sentinel".into()));
        for bad in [
            &b"+master\r\n"[..],
            b"*0\r\n",
            b"*1\r\n:1\r\n",
            b"*2\r\n$5\r\nslave\r\n$1\r\nh\r\n",
        ] {
            assert!(role(&parse(bad)).is_err());
        }
        assert!(matches!(
            role(&parse(b"-NOAUTH Authentication required.\r\n")),
            Err(RespError::Server(_))
        ));
    }

    fn msg(channel: &str, text: &str) -> OwnedFrame {
        OwnedFrame::Array(vec![
            OwnedFrame::BulkString(b"message".to_vec()),
            OwnedFrame::BulkString(channel.as_bytes().to_vec()),
            OwnedFrame::BulkString(text.as_bytes().to_vec()),
        ])
    }

    #[test]
    fn hint_cases() {
        let sw = msg("+switch-master", "dn 127.0.0.1 16379 127.0.0.1 16380");
        assert_eq!(
            hint(&sw, "dn").unwrap(),
            Some(Hint::SwitchMaster("127.0.0.1:16380".into()))
        );
        assert_eq!(hint(&sw, "other").unwrap(), None);
        let pr = msg(
            "+promoted-slave",
            "slave 127.0.0.1:16380 127.0.0.1 16380 @ dn 127.0.0.1 16379",
        );
        assert_eq!(
            hint(&pr, "dn").unwrap(),
            Some(Hint::Promoted("127.0.0.1:16380".into()))
        );
        let sel = msg(
            "+selected-slave",
            "slave 127.0.0.1:16380 127.0.0.1 16380 @ dn 127.0.0.1 16379",
        );
        assert_eq!(
            hint(&sel, "dn").unwrap(),
            Some(Hint::FailoverStarted {
                master: "127.0.0.1:16379".into(),
                replica: "127.0.0.1:16380".into()
            })
        );
        assert_eq!(hint(&sel, "other").unwrap(), None);
        let bad_sel = msg(
            "+selected-slave",
            "slave x 127.0.0.1 0 @ dn 127.0.0.1 16379",
        );
        assert!(hint(&bad_sel, "dn").is_err());
        let abort = msg("-failover-abort-not-elected", "master dn 127.0.0.1 16379");
        assert_eq!(hint(&abort, "dn").unwrap(), Some(Hint::FailoverAborted));
        let sd = msg("+sdown", "master dn 127.0.0.1 16379");
        assert_eq!(hint(&sd, "dn").unwrap(), Some(Hint::Changed));
        let sd2 = msg(
            "-sdown",
            "slave 127.0.0.1:16381 127.0.0.1 16381 @ dn 127.0.0.1 16379",
        );
        assert_eq!(hint(&sd2, "dn").unwrap(), Some(Hint::Changed));
        let sub = parse(b"*3\r\n$9\r\nsubscribe\r\n$14\r\n+switch-master\r\n:1\r\n");
        assert_eq!(hint(&sub, "dn").unwrap(), None);
        assert!(hint(&msg("+switch-master", "dn 1 2"), "dn").is_err());
        assert!(hint(&msg("+switch-master", "dn a 1 b 0"), "dn").is_err());
        assert!(hint(&OwnedFrame::Integer(1), "dn").is_err());
        assert!(hint(&parse(b"*1\r\n$7\r\nmessage\r\n"), "dn").is_err());
    }

    #[test]
    fn mutated_replies_never_panic() {
        let samples: &[&[u8]] = &[
            b"*3\r\n$6\r\nmaster\r\n:42\r\n*1\r\n*3\r\n$9\r\n127.0.0.1\r\n$5\r\n16380\r\n$2\r\n42\r\n",
            b"*2\r\n$9\r\n127.0.0.1\r\n$5\r\n16379\r\n",
            b"*3\r\n$7\r\nmessage\r\n$14\r\n+switch-master\r\n$34\r\ndn 127.0.0.1 16379 127.0.0.1 16380\r\n",
        ];
        for s in samples {
            for i in 0..s.len() {
                for b in [
                    0u8, b'*', b'$', b'-', b':', b'+', b'\r', b'\n', b'9', b'0', 0xff,
                ] {
                    let mut m = s.to_vec();
                    m[i] = b;
                    for cut in [m.len(), i + 1] {
                        if let Ok(Some((f, used))) = decode_reply(&m[..cut]) {
                            assert!(used <= cut);
                            let _ = master_addr(&f);
                            let _ = role(&f);
                            let _ = hint(&f, "dn");
                        }
                    }
                }
            }
        }
    }
}
