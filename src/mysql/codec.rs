//! MySQL packet framing (no I/O): 3-byte length + sequence id, the 16 MiB split/merge and the
//! `max_allowed_packet` limit, plus the little-endian / length-encoded primitives packets use.
//!
//! The compressed protocol is never negotiated: datagate strips `CLIENT_COMPRESS` from every
//! handshake it builds or answers (see `packets`), so every stream is plain framing.

use bytes::{Buf, BufMut};
/// The buffer types of this module's API.
pub use bytes::{Bytes, BytesMut};

/// Largest payload of one physical packet; a payload of exactly this size is continued by the next.
pub const MAX_CHUNK: usize = 0xFF_FFFF;
/// Length of a packet header (3-byte length + sequence id).
pub const HEADER_LEN: usize = 4;

/// Why framing failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// The logical packet is larger than `max_allowed_packet`.
    #[error("packet of at least {len} bytes exceeds max_allowed_packet ({max})")]
    TooLarge { len: usize, max: usize },
    /// A packet arrived out of sequence.
    #[error("packet sequence id {got}, expected {expected}")]
    BadSequence { expected: u8, got: u8 },
    /// The peer asked for the compressed protocol, which datagate never offers.
    #[error("the compressed protocol is not supported")]
    Compressed,
}

/// One logical packet: the sequence id of its first chunk and its whole (merged) payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    pub seq: u8,
    pub payload: Bytes,
}

/// Framing state of one connection: the sequence id (shared by both directions within a
/// command) and the size limit.
#[derive(Debug, Clone)]
pub struct PacketCodec {
    max_packet: usize,
    seq: u8,
    check_seq: bool,
}

impl PacketCodec {
    /// A codec accepting logical packets of at most `max_packet` bytes, checking sequence ids.
    pub fn new(max_packet: usize) -> PacketCodec {
        PacketCodec {
            max_packet,
            seq: 0,
            check_seq: true,
        }
    }

    /// Accept any sequence id on read (a relay that only forwards); writes still number packets.
    pub fn lenient(mut self) -> PacketCodec {
        self.check_seq = false;
        self
    }

    /// Starts a new command: the next packet (either direction) has sequence id 0.
    pub fn reset_seq(&mut self) {
        self.seq = 0;
    }

    /// The sequence id the next packet carries.
    pub fn seq(&self) -> u8 {
        self.seq
    }

    /// Sets the sequence id of the next packet (e.g. to answer a client's packet with seq + 1).
    pub fn set_seq(&mut self, seq: u8) {
        self.seq = seq;
    }

    /// Cheap check: the number of buffered bytes making up one whole logical packet, if present.
    /// Errors as soon as the header announces too much or a chunk is out of sequence.
    pub fn check(&self, buf: &[u8]) -> Result<Option<usize>, CodecError> {
        let mut off = 0;
        let mut total = 0usize;
        let mut seq = self.seq;
        loop {
            let Some(h) = buf.get(off..off + HEADER_LEN) else {
                return Ok(None);
            };
            let len = usize::from(h[0]) | usize::from(h[1]) << 8 | usize::from(h[2]) << 16;
            if self.check_seq && h[3] != seq {
                return Err(CodecError::BadSequence {
                    expected: seq,
                    got: h[3],
                });
            }
            seq = h[3].wrapping_add(1);
            total += len;
            if total > self.max_packet {
                return Err(CodecError::TooLarge {
                    len: total,
                    max: self.max_packet,
                });
            }
            off += HEADER_LEN + len;
            if buf.len() < off {
                return Ok(None);
            }
            if len < MAX_CHUNK {
                return Ok(Some(off));
            }
        }
    }

    /// Takes one whole logical packet off `buf` (merging 16 MiB chunks), or `None` if more bytes
    /// are needed. Same shape as `tokio_util::codec::Decoder::decode`.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Packet>, CodecError> {
        let Some(n) = self.check(buf)? else {
            return Ok(None);
        };
        let mut frame = buf.split_to(n);
        let first_seq = frame[3];
        let payload = if n < HEADER_LEN + MAX_CHUNK {
            frame.advance(HEADER_LEN);
            frame.freeze()
        } else {
            let mut merged = BytesMut::with_capacity(n);
            while frame.len() >= HEADER_LEN {
                let len = usize::from(frame[0])
                    | usize::from(frame[1]) << 8
                    | usize::from(frame[2]) << 16;
                frame.advance(HEADER_LEN);
                merged.extend_from_slice(&frame.split_to(len));
            }
            merged.freeze()
        };
        self.seq = first_seq.wrapping_add(chunks(payload.len()) as u8);
        Ok(Some(Packet {
            seq: first_seq,
            payload,
        }))
    }

    /// Appends `payload` to `dst` as one logical packet (split into 16 MiB chunks, the last one
    /// shorter, possibly empty), numbering from the current sequence id.
    pub fn encode(&mut self, payload: &[u8], dst: &mut BytesMut) -> Result<(), CodecError> {
        if payload.len() > self.max_packet {
            return Err(CodecError::TooLarge {
                len: payload.len(),
                max: self.max_packet,
            });
        }
        dst.reserve(payload.len() + HEADER_LEN * chunks(payload.len()));
        let mut rest = payload;
        loop {
            let n = rest.len().min(MAX_CHUNK);
            dst.put_uint_le(n as u64, 3);
            dst.put_u8(self.seq);
            self.seq = self.seq.wrapping_add(1);
            dst.put_slice(&rest[..n]);
            rest = &rest[n..];
            if n < MAX_CHUNK {
                return Ok(());
            }
        }
    }
}

/// One physical packet with sequence id `seq` whose payload is `parts` in order (header
/// first, ready to write); `None` if the payload does not fit in one chunk.
pub fn frame(seq: u8, parts: &[&[u8]]) -> Option<Vec<u8>> {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    if len >= MAX_CHUNK {
        return None;
    }
    let mut out = Vec::with_capacity(HEADER_LEN + len);
    out.extend_from_slice(&(len as u32).to_le_bytes()[..3]);
    out.push(seq);
    for p in parts {
        out.extend_from_slice(p);
    }
    Some(out)
}

/// Number of physical packets carrying a payload of `len` bytes.
fn chunks(len: usize) -> usize {
    len / MAX_CHUNK + 1
}

/// Cursor over a packet payload; every read is bounds-checked (`None` = truncated).
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    /// Reads from the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf }
    }
    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.buf.len()
    }
    /// Next byte without consuming it.
    pub fn peek(&self) -> Option<u8> {
        self.buf.first().copied()
    }
    /// `n` bytes.
    pub fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.buf.len() < n {
            return None;
        }
        let (a, b) = self.buf.split_at(n);
        self.buf = b;
        Some(a)
    }
    /// Everything left.
    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.buf)
    }
    /// One byte.
    pub fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    /// Little-endian unsigned integer of `n` (1..=8) bytes.
    pub fn uint(&mut self, n: usize) -> Option<u64> {
        let b = self.take(n)?;
        Some(b.iter().rev().fold(0u64, |acc, x| acc << 8 | u64::from(*x)))
    }
    /// Little-endian u16.
    pub fn u16(&mut self) -> Option<u16> {
        self.uint(2).map(|v| v as u16)
    }
    /// Little-endian u32.
    pub fn u32(&mut self) -> Option<u32> {
        self.uint(4).map(|v| v as u32)
    }
    /// Length-encoded integer; `None` on truncation or the 0xFF marker (not an integer).
    pub fn lenenc_int(&mut self) -> Option<u64> {
        match self.u8()? {
            n @ 0..=0xFA => Some(u64::from(n)),
            0xFC => self.uint(2),
            0xFD => self.uint(3),
            0xFE => self.uint(8),
            _ => None,
        }
    }
    /// Length-encoded string.
    pub fn lenenc_bytes(&mut self) -> Option<&'a [u8]> {
        let n = usize::try_from(self.lenenc_int()?).ok()?;
        self.take(n)
    }
    /// NUL-terminated string (the NUL is consumed); `None` if there is no NUL.
    pub fn nul_bytes(&mut self) -> Option<&'a [u8]> {
        let i = self.buf.iter().position(|b| *b == 0)?;
        let s = self.take(i)?;
        self.take(1)?;
        Some(s)
    }
}

/// Appends a length-encoded integer.
pub fn put_lenenc_int(dst: &mut Vec<u8>, v: u64) {
    match v {
        0..=0xFA => dst.push(v as u8),
        0xFB..=0xFFFF => {
            dst.push(0xFC);
            dst.extend_from_slice(&(v as u16).to_le_bytes());
        }
        0x1_0000..=0xFF_FFFF => {
            dst.push(0xFD);
            dst.extend_from_slice(&(v as u32).to_le_bytes()[..3]);
        }
        _ => {
            dst.push(0xFE);
            dst.extend_from_slice(&v.to_le_bytes());
        }
    }
}

/// Appends a length-encoded string.
pub fn put_lenenc_bytes(dst: &mut Vec<u8>, b: &[u8]) {
    put_lenenc_int(dst, b.len() as u64);
    dst.extend_from_slice(b);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_frames_from_parts() {
        assert_eq!(
            frame(5, &[b"\x03", b"SELECT 1"]).unwrap(),
            b"\x09\0\0\x05\x03SELECT 1"
        );
        assert_eq!(frame(0, &[]).unwrap(), [0, 0, 0, 0]);
        let big = vec![0u8; MAX_CHUNK];
        assert!(frame(0, &[&big]).is_none(), "a whole chunk needs a split");
    }

    fn framed(chunks: &[(usize, u8)]) -> BytesMut {
        let mut b = BytesMut::new();
        for (len, seq) in chunks {
            b.put_uint_le(*len as u64, 3);
            b.put_u8(*seq);
            b.extend(std::iter::repeat_n(0xAB, *len));
        }
        b
    }

    #[test]
    fn round_trip_small() {
        let mut w = PacketCodec::new(1024);
        let mut buf = BytesMut::new();
        w.encode(b"\x03SELECT 1", &mut buf).unwrap();
        w.encode(b"", &mut buf).unwrap();
        assert_eq!(&buf[..4], &[9, 0, 0, 0]);
        let mut r = PacketCodec::new(1024);
        let p = r.decode(&mut buf).unwrap().unwrap();
        assert_eq!((p.seq, &p.payload[..]), (0, &b"\x03SELECT 1"[..]));
        let p = r.decode(&mut buf).unwrap().unwrap();
        assert_eq!((p.seq, p.payload.len()), (1, 0));
        assert_eq!(r.seq(), 2);
        assert!(buf.is_empty());
    }

    #[test]
    fn split_and_merge_at_16mib() {
        for len in [MAX_CHUNK - 1, MAX_CHUNK, MAX_CHUNK + 7, 2 * MAX_CHUNK] {
            let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let mut w = PacketCodec::new(64 << 20);
            let mut buf = BytesMut::new();
            w.encode(&payload, &mut buf).unwrap();
            assert_eq!(buf.len(), len + HEADER_LEN * chunks(len));
            assert_eq!(w.seq() as usize, chunks(len));
            let mut r = PacketCodec::new(64 << 20);
            // One byte short: not complete yet.
            assert_eq!(r.check(&buf[..buf.len() - 1]), Ok(None));
            let p = r.decode(&mut buf).unwrap().unwrap();
            assert_eq!(p.payload.len(), len);
            assert!(p.payload[..] == payload[..]);
            assert_eq!(r.seq(), w.seq());
        }
    }

    #[test]
    fn exact_chunk_needs_trailing_empty_packet() {
        let buf = framed(&[(MAX_CHUNK, 0)]);
        assert_eq!(PacketCodec::new(usize::MAX).check(&buf), Ok(None));
    }

    #[test]
    fn rejects_truncated_header() {
        let mut r = PacketCodec::new(1024);
        let mut buf = BytesMut::from(&[5u8, 0, 0][..]);
        assert_eq!(r.decode(&mut buf), Ok(None));
        assert_eq!(buf.len(), 3);
    }

    #[test]
    fn rejects_length_beyond_limit_before_the_data() {
        let r = PacketCodec::new(100);
        let e = r.check(&[101, 0, 0, 0]).unwrap_err();
        assert_eq!(e, CodecError::TooLarge { len: 101, max: 100 });
        let r = PacketCodec::new(MAX_CHUNK + 10);
        let mut buf = framed(&[(MAX_CHUNK, 0)]);
        buf.extend_from_slice(&[11, 0, 0, 1]);
        assert!(matches!(r.check(&buf), Err(CodecError::TooLarge { .. })));
        let mut w = PacketCodec::new(3);
        assert!(w.encode(b"abcd", &mut BytesMut::new()).is_err());
    }

    #[test]
    fn rejects_bad_sequence() {
        let mut r = PacketCodec::new(1024);
        let mut buf = framed(&[(1, 3)]);
        assert_eq!(
            r.decode(&mut buf),
            Err(CodecError::BadSequence {
                expected: 0,
                got: 3
            })
        );
        let buf = framed(&[(MAX_CHUNK, 0), (0, 5)]);
        assert!(matches!(
            PacketCodec::new(usize::MAX).check(&buf),
            Err(CodecError::BadSequence {
                expected: 1,
                got: 5
            })
        ));
        let mut lenient = PacketCodec::new(1024).lenient();
        let mut buf = framed(&[(1, 3)]);
        assert_eq!(lenient.decode(&mut buf).unwrap().unwrap().seq, 3);
        assert_eq!(lenient.seq(), 4);
    }

    #[test]
    fn sequence_wraps() {
        let mut w = PacketCodec::new(10);
        w.set_seq(255);
        let mut buf = BytesMut::new();
        w.encode(b"x", &mut buf).unwrap();
        assert_eq!(w.seq(), 0);
    }

    #[test]
    fn lenenc_round_trip_and_truncation() {
        for v in [
            0u64,
            250,
            251,
            0xFFFF,
            0x1_0000,
            0xFF_FFFF,
            0x100_0000,
            u64::MAX,
        ] {
            let mut b = Vec::new();
            put_lenenc_int(&mut b, v);
            assert_eq!(Reader::new(&b).lenenc_int(), Some(v));
            assert_eq!(Reader::new(&b[..b.len() - 1]).lenenc_int(), None);
        }
        assert_eq!(Reader::new(&[0xFB]).lenenc_int(), None);
        assert_eq!(Reader::new(&[0xFF]).lenenc_int(), None);
        assert_eq!(Reader::new(&[5, b'a']).lenenc_bytes(), None);
        assert_eq!(Reader::new(b"abc").nul_bytes(), None);
        let mut r = Reader::new(b"ab\0c");
        assert_eq!(r.nul_bytes(), Some(&b"ab"[..]));
        assert_eq!(r.rest(), b"c");
    }
}
