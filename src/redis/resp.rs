//! RESP2 framing for the sentinel and node client (`client`), no I/O: just enough for
//! `SENTINEL`, `SUBSCRIBE` and `ROLE`.
//!
//! Framing is split in two, like mini-redis: [`frame_len`] is a cheap, iterative check that a whole
//! frame is buffered (it also bounds size and nesting, so a hostile peer cannot make the recursive
//! decoder overflow the stack), then `redis-protocol` decodes exactly that frame.

use std::io;
use std::time::Duration;

use redis_protocol::resp2::decode::decode;
use redis_protocol::resp2::encode::encode;
use redis_protocol::resp2::types::{OwnedFrame, Resp2Frame};

/// Largest reply accepted from a sentinel or node.
pub const MAX_REPLY: usize = 1 << 20;
/// Deepest array nesting accepted (`ROLE` needs 3).
pub const MAX_DEPTH: usize = 8;

/// Why a RESP exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum RespError {
    /// TCP connect failed.
    #[error("connect to {addr}: {source}")]
    Connect {
        /// The address dialled.
        addr: String,
        /// The OS error.
        source: io::Error,
    },
    /// No complete answer within the deadline.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// Read or write failed.
    #[error("i/o: {0}")]
    Io(#[from] io::Error),
    /// The peer closed the connection.
    #[error("connection closed by peer")]
    Closed,
    /// The bytes are not valid RESP2.
    #[error("malformed reply: {0}")]
    Malformed(String),
    /// The reply is bigger than [`MAX_REPLY`].
    #[error("reply larger than {MAX_REPLY} bytes")]
    TooLarge,
    /// Arrays nested deeper than [`MAX_DEPTH`].
    #[error("reply nested deeper than {MAX_DEPTH} arrays")]
    TooDeep,
    /// The server answered with an error reply.
    #[error("server error: {0}")]
    Server(String),
    /// Valid RESP, but not the shape the command returns.
    #[error("unexpected reply: {0}")]
    Unexpected(String),
}

fn malformed(what: &str) -> RespError {
    RespError::Malformed(what.to_string())
}

/// Parses the decimal length of a `$` or `*` header (`-1` = null).
fn parse_len(line: &[u8]) -> Result<i64, RespError> {
    let s = std::str::from_utf8(line).map_err(|_| malformed("non-ASCII length"))?;
    let n: i64 = s.parse().map_err(|_| malformed("bad length"))?;
    if n < -1 {
        return Err(malformed("negative length"));
    }
    if n > MAX_REPLY as i64 {
        return Err(RespError::TooLarge);
    }
    Ok(n)
}

/// Length of the first complete RESP2 frame in `buf`; `None` while more bytes are needed.
pub fn frame_len(buf: &[u8]) -> Result<Option<usize>, RespError> {
    let mut pos = 0usize;
    // Elements still expected by each open array, innermost last.
    let mut open: Vec<i64> = Vec::new();
    loop {
        let rest = &buf[pos..];
        let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") else {
            if buf.len() > MAX_REPLY {
                return Err(RespError::TooLarge);
            }
            return Ok(None);
        };
        if eol == 0 {
            return Err(malformed("empty line where a type byte was expected"));
        }
        let (kind, line) = (rest[0], &rest[1..eol]);
        pos += eol + 2;
        match kind {
            b'+' | b'-' | b':' => {}
            b'$' => {
                let n = parse_len(line)?;
                if n >= 0 {
                    let end = pos + n as usize + 2;
                    if end > buf.len() {
                        return Ok(None);
                    }
                    if &buf[end - 2..end] != b"\r\n" {
                        return Err(malformed("bulk string not terminated by CRLF"));
                    }
                    pos = end;
                }
            }
            b'*' => {
                let n = parse_len(line)?;
                if n > 0 {
                    if open.len() >= MAX_DEPTH {
                        return Err(RespError::TooDeep);
                    }
                    open.push(n);
                    continue;
                }
            }
            _ => return Err(malformed("unknown type byte")),
        }
        // One element is complete: close every array it completes.
        loop {
            match open.last_mut() {
                None => return Ok(Some(pos)),
                Some(left) => {
                    *left -= 1;
                    if *left > 0 {
                        break;
                    }
                    open.pop();
                }
            }
        }
    }
}

/// Decodes the first reply in `buf`: the frame and the bytes it used, or `None` if incomplete.
pub fn decode_reply(buf: &[u8]) -> Result<Option<(OwnedFrame, usize)>, RespError> {
    let Some(len) = frame_len(buf)? else {
        return Ok(None);
    };
    match decode(&buf[..len]) {
        Ok(Some((frame, used))) if used == len => Ok(Some((frame, len))),
        Ok(_) => Err(malformed("frame boundary mismatch")),
        Err(e) => Err(RespError::Malformed(e.to_string())),
    }
}

/// Encodes a command as a RESP2 array of bulk strings.
pub fn encode_command(args: &[&[u8]]) -> Vec<u8> {
    let frame = OwnedFrame::Array(
        args.iter()
            .map(|a| OwnedFrame::BulkString(a.to_vec()))
            .collect(),
    );
    let mut out = vec![0u8; frame.encode_len(false)];
    // The buffer is sized by `encode_len`, so encoding cannot run short.
    let n = encode(&mut out, &frame, false).unwrap_or(0);
    out.truncate(n);
    out
}

/// Text of a bulk or simple string frame.
pub fn frame_str(f: &OwnedFrame) -> Option<&str> {
    match f {
        OwnedFrame::BulkString(b) | OwnedFrame::SimpleString(b) => std::str::from_utf8(b).ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_and_lengths() {
        assert_eq!(frame_len(b"+OK\r\n").unwrap(), Some(5));
        assert_eq!(frame_len(b"+OK\r").unwrap(), None);
        assert_eq!(frame_len(b"$-1\r\n").unwrap(), Some(5));
        assert_eq!(frame_len(b"*-1\r\n").unwrap(), Some(5));
        assert_eq!(frame_len(b"*0\r\n+x\r\n").unwrap(), Some(4));
        let two = b"*2\r\n$9\r\n127.0.0.1\r\n$5\r\n16379\r\nrest";
        assert_eq!(frame_len(two).unwrap(), Some(two.len() - 4));
        let nested = b"*3\r\n$6\r\nmaster\r\n:10\r\n*1\r\n*3\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\n0\r\n";
        assert_eq!(frame_len(nested).unwrap(), Some(nested.len()));
        for cut in 0..nested.len() {
            assert_eq!(frame_len(&nested[..cut]).unwrap(), None, "cut at {cut}");
        }
    }

    #[test]
    fn rejects_malformed_frames() {
        assert!(matches!(frame_len(b"?x\r\n"), Err(RespError::Malformed(_))));
        // Found by the fuzzer: a bare CRLF has no type byte.
        assert!(matches!(frame_len(b"\r\n"), Err(RespError::Malformed(_))));
        assert!(matches!(
            frame_len(b"*1\r\n\r\n"),
            Err(RespError::Malformed(_))
        ));
        assert!(matches!(
            frame_len(b"$-2\r\n"),
            Err(RespError::Malformed(_))
        ));
        assert!(matches!(frame_len(b"$x\r\n"), Err(RespError::Malformed(_))));
        assert!(matches!(
            frame_len(b"$1\r\nabc\r\n"),
            Err(RespError::Malformed(_))
        ));
        assert!(matches!(
            frame_len(b"$99999999999\r\n"),
            Err(RespError::TooLarge)
        ));
        let deep = b"*1\r\n".repeat(MAX_DEPTH + 1);
        assert!(matches!(frame_len(&deep), Err(RespError::TooDeep)));
        let huge = vec![b'+'; MAX_REPLY + 1];
        assert!(matches!(frame_len(&huge), Err(RespError::TooLarge)));
        assert!(matches!(
            decode_reply(b":abc\r\n"),
            Err(RespError::Malformed(_))
        ));
    }

    #[test]
    fn decodes_and_encodes() {
        let (f, n) = decode_reply(b"-ERR no\r\n+OK\r\n").unwrap().unwrap();
        assert_eq!(n, 9);
        assert_eq!(f, OwnedFrame::Error("ERR no".into()));
        assert_eq!(encode_command(&[b"ROLE"]), b"*1\r\n$4\r\nROLE\r\n".to_vec());
        assert_eq!(
            encode_command(&[b"AUTH", b"p w"]),
            b"*2\r\n$4\r\nAUTH\r\n$3\r\np w\r\n".to_vec()
        );
    }
}
