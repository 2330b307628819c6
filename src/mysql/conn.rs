//! One backend connection of a session and the exchange of one command on it: the reply is
//! relayed to the client buffer by buffer (or read and dropped, for the other backends of a
//! session command and for replays) while a [`ReplyTracker`] finds its end.

use std::hash::Hasher;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::BytesMut;

use super::backend::{Backend, BackendError, MAX_REPLY_PACKET};
use super::codec::{HEADER_LEN, PacketCodec, Reader};
use super::frontend::{ClientConn, frame_head};
use super::liveness::Liveness;
use super::packets::{CapabilityFlags, StatusFlags};
use super::pool::{EMPTY_FP, Pooled, Slot};
use super::reply::{ReplyTracker, Step, has_no_reply};
use super::router;
pub use cache::BackendStatements;

/// After this long unused, a connection is checked before it is used again (the server may
/// have closed it: `wait_timeout`, a restart).
pub const IDLE_CHECK: Duration = Duration::from_secs(1);

static NEXT_SERIAL: AtomicU64 = AtomicU64::new(1);

/// A session's connection to one server.
pub struct Conn {
    pub b: Backend,
    /// The session's prepared statements as this connection knows them.
    pub stmts: BackendStatements,
    /// When the last reply ended.
    last_used: Instant,
    /// Statements running on the connection's server, for reader selection.
    ops: Option<Arc<AtomicUsize>>,
    /// Ends a wait for a reply the server can no longer send.
    live: Liveness,
    /// Counts the connection against its server's cap (shared connections).
    pub slot: Option<Slot>,
    /// Fingerprint of the session history the connection holds (`History::fingerprint`), as
    /// of when it was last given back or brought to a session's state.
    pub fp: u64,
    /// Unique among the process's connections (which one holds a session's LAST_INSERT_ID).
    pub serial: u64,
}

/// Where a reply goes.
pub enum Sink<'a> {
    Client(&'a mut ClientConn),
    /// Read to its end and dropped (its checksum and status are kept).
    Discard,
    /// Read to its end into this buffer (raw frames), for replies the proxy reads itself.
    Collect(&'a mut Vec<u8>),
}

/// Why an exchange failed.
#[derive(Debug)]
pub enum RelayError {
    /// The backend failed; `relayed` says whether part of the reply already reached the client.
    Backend { error: BackendError, relayed: bool },
    /// The client went away.
    Client,
}

/// What a reply was.
#[derive(Debug)]
pub struct Outcome {
    pub tracker: ReplyTracker,
    /// Of the result sets and the OK/ERR summary, when asked for (transaction replay).
    pub checksum: u64,
    /// For a COM_STMT_PREPARE answered OK: the server's statement id and parameter count.
    pub prepared: Option<(u32, u16)>,
}

impl Outcome {
    pub fn status(&self) -> Option<StatusFlags> {
        self.tracker.status
    }

    pub fn ok(&self) -> bool {
        !self.tracker.error
    }
}

/// How to read a reply.
#[derive(Debug, Clone, Copy, Default)]
pub struct Receive {
    /// Compute [`Outcome::checksum`].
    pub checksum: bool,
    /// For COM_STMT_PREPARE: the statement id the client sees, written into the OK.
    pub client_stmt_id: Option<u32>,
}

fn backend_err(error: BackendError, relayed: bool) -> RelayError {
    RelayError::Backend { error, relayed }
}

/// Adds what the client saw of a reply and a replay must give again: rows and column
/// definitions whole, of an OK its affected rows and insert id (a replay that generates other
/// ids would break what the client holds), of an ERR its code; not status flags, warnings or
/// statement ids, which may differ between nodes without the client relying on them.
fn checksum_packet(h: &mut impl Hasher, packet: &[u8], status: bool) {
    if !status {
        h.write(packet);
        return;
    }
    let payload = &packet[HEADER_LEN.min(packet.len())..];
    let mut r = Reader::new(payload);
    match r.u8() {
        Some(0x00) => {
            h.write_u8(0);
            h.write_u64(r.lenenc_int().unwrap_or(u64::MAX));
            h.write_u64(r.lenenc_int().unwrap_or(u64::MAX));
        }
        Some(0xFF) => {
            h.write_u8(0xFF);
            h.write_u16(r.u16().unwrap_or(0));
        }
        Some(b) => h.write_u8(b),
        None => {}
    }
}

impl Pooled for Conn {
    fn fingerprint(&self) -> u64 {
        self.fp
    }
}

impl Conn {
    /// A connection over `b`, counted in no server's cap yet; `ops` counts the statements
    /// running on its server.
    pub fn new(b: Backend, ops: Option<Arc<AtomicUsize>>, live: Liveness) -> Conn {
        Conn {
            b,
            stmts: BackendStatements::default(),
            last_used: Instant::now(),
            ops,
            live,
            slot: None,
            fp: EMPTY_FP,
            serial: NEXT_SERIAL.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// How long the connection has been unused.
    pub fn idle_for(&self) -> Duration {
        self.last_used.elapsed()
    }

    /// The server's id of this connection (for `KILL QUERY`).
    pub fn thread_id(&self) -> u32 {
        self.b.handshake.connection_id
    }

    /// Reads more of a reply, unless the server is marked down or silent too long first.
    async fn fill(&mut self) -> Result<(), BackendError> {
        self.b.make_room();
        let b = &mut self.b;
        tokio::select! {
            biased;
            r = b.stream.read_buf(&mut b.buf) => match r? {
                0 => Err(BackendError::Closed),
                _ => Ok(()),
            },
            e = self.live.lost(&b.addr) => Err(e),
        }
    }

    /// True if the connection sat unused for [`IDLE_CHECK`] and the server has closed it
    /// meanwhile (or sent something unasked, such as a timeout error): it cannot be used.
    pub fn closed_while_idle(&self) -> bool {
        if self.last_used.elapsed() < IDLE_CHECK {
            return false;
        }
        if !self.b.buf.is_empty() {
            return true;
        }
        self.b.stream.has_input()
    }

    pub fn addr(&self) -> &str {
        &self.b.addr
    }

    /// Writes a command frame.
    pub async fn send(&mut self, frame: &[u8]) -> Result<(), BackendError> {
        self.b.stream.write_all(frame).await?;
        Ok(())
    }

    /// Sends `frame` and reads its reply into `sink`.
    pub async fn exchange(
        &mut self,
        frame: &[u8],
        caps: CapabilityFlags,
        sink: Sink<'_>,
        opts: Receive,
    ) -> Result<Outcome, RelayError> {
        let _busy = self.ops.as_ref().map(router::busy);
        self.send(frame).await.map_err(|e| backend_err(e, false))?;
        let command = frame_head(frame).0.first().copied().unwrap_or(0);
        self.receive(command, caps, sink, opts).await
    }

    /// Reads the reply to `command` (already sent) into `sink`.
    pub async fn receive(
        &mut self,
        command: u8,
        caps: CapabilityFlags,
        mut sink: Sink<'_>,
        opts: Receive,
    ) -> Result<Outcome, RelayError> {
        let mut out = Outcome {
            tracker: ReplyTracker::new(command, caps),
            checksum: 0,
            prepared: None,
        };
        if has_no_reply(command) {
            self.last_used = Instant::now();
            return Ok(out);
        }
        let mut hasher = std::hash::DefaultHasher::new();
        let codec = PacketCodec::new(MAX_REPLY_PACKET).lenient();
        let mut relayed = false;
        let mut first = true;
        let mut last_seq = 0u8;
        loop {
            let b = &mut self.b;
            let mut off = 0;
            let mut step = Step::More;
            while let Some(n) = codec
                .check(&b.buf[off..])
                .map_err(|e| backend_err(e.into(), relayed))?
            {
                if first {
                    first = false;
                    if let Some(id) = opts.client_stmt_id {
                        out.prepared = rewrite_prepare_ok(&mut b.buf[off..off + n], id);
                    }
                }
                let packet = &b.buf[off..off + n];
                last_seq = packet[3];
                let (head, _) = frame_head(packet);
                // Exact for one chunk; above MAX_CHUNK for a split packet, which is all `feed` asks.
                step = out
                    .tracker
                    .feed(head, n - HEADER_LEN)
                    .map_err(|_| backend_err(BackendError::Protocol("malformed reply"), relayed))?;
                if opts.checksum {
                    checksum_packet(&mut hasher, packet, out.tracker.last_was_status);
                }
                off += n;
                if step != Step::More {
                    break;
                }
            }
            if off > 0 {
                let chunk = b.buf.split_to(off);
                match &mut sink {
                    Sink::Client(client) => {
                        client
                            .write_all(&chunk)
                            .await
                            .map_err(|_| RelayError::Client)?;
                        relayed = true;
                    }
                    Sink::Collect(out) => out.extend_from_slice(&chunk),
                    Sink::Discard => {}
                }
            }
            match step {
                Step::Done => {
                    out.checksum = hasher.finish();
                    self.last_used = Instant::now();
                    // What the server says now, for the next session that takes the connection.
                    if let Some(st) = out.status() {
                        self.b.status = st;
                    }
                    return Ok(out);
                }
                Step::LocalInfile => match &mut sink {
                    Sink::Client(client) => loop {
                        // The file, as packets, up to an empty one.
                        let f = client.read_frame().await.map_err(|_| RelayError::Client)?;
                        self.send(&f).await.map_err(|e| backend_err(e, true))?;
                        if f.len() == HEADER_LEN {
                            break;
                        }
                    },
                    // A replayed LOAD DATA LOCAL gets an empty file (it no longer exists).
                    Sink::Discard | Sink::Collect(_) => self
                        .send(&[0, 0, 0, last_seq.wrapping_add(1)])
                        .await
                        .map_err(|e| backend_err(e, relayed))?,
                },
                Step::More => self.fill().await.map_err(|e| backend_err(e, relayed))?,
            }
        }
    }

    /// Prepares `prepare` (a COM_STMT_PREPARE payload) here; returns the server's id, or
    /// `None` if the server refused it.
    pub async fn prepare(
        &mut self,
        prepare: &[u8],
        caps: CapabilityFlags,
    ) -> Result<Option<u32>, BackendError> {
        let frame = one_packet(prepare);
        let opts = Receive {
            checksum: false,
            client_stmt_id: Some(0),
        };
        match self.exchange(&frame, caps, Sink::Discard, opts).await {
            Ok(o) => Ok(o.prepared.filter(|_| o.ok()).map(|(id, _)| id)),
            Err(RelayError::Backend { error, .. }) => Err(error),
            Err(RelayError::Client) => Err(BackendError::Closed),
        }
    }

    /// Closes politely.
    pub async fn quit(self) {
        self.b.quit().await;
    }
}

/// `payload` as one frame with sequence id 0 (commands the proxy sends of its own).
pub fn one_packet(payload: &[u8]) -> BytesMut {
    let mut f = BytesMut::with_capacity(payload.len() + HEADER_LEN);
    let mut codec = PacketCodec::new(usize::MAX);
    // Cannot fail: no size limit.
    let _ = codec.encode(payload, &mut f);
    f
}

/// In a COM_STMT_PREPARE OK frame: replaces the statement id by `client_id`; returns the
/// server's id and the parameter count (nothing for an ERR).
fn rewrite_prepare_ok(frame: &mut [u8], client_id: u32) -> Option<(u32, u16)> {
    let p = frame.get_mut(HEADER_LEN..)?;
    if p.first() != Some(&0x00) || p.len() < 12 {
        return None;
    }
    let id = u32::from_le_bytes([p[1], p[2], p[3], p[4]]);
    let params = u16::from_le_bytes([p[7], p[8]]);
    p[1..5].copy_from_slice(&client_id.to_le_bytes());
    Some((id, params))
}

mod cache;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prepare_ok_gets_the_client_id() {
        // OK, id 0x11223344, 1 column, 2 params, filler, 0 warnings.
        let mut f = one_packet(&[0, 0x44, 0x33, 0x22, 0x11, 1, 0, 2, 0, 0, 0, 0]);
        assert_eq!(rewrite_prepare_ok(&mut f, 9), Some((0x1122_3344, 2)));
        assert_eq!(&f[HEADER_LEN + 1..HEADER_LEN + 5], &9u32.to_le_bytes());
        let mut err = one_packet(&[0xFF, 0x28, 0x04, b'#']);
        assert_eq!(rewrite_prepare_ok(&mut err, 9), None);
        let mut short = one_packet(&[0, 1, 0, 0]);
        assert_eq!(rewrite_prepare_ok(&mut short, 9), None);
    }

    #[test]
    fn checksums_ignore_what_differs_between_nodes() {
        let sum = |packets: &[(&[u8], bool)]| {
            let mut h = std::hash::DefaultHasher::new();
            for (p, status) in packets {
                checksum_packet(&mut h, &one_packet(p), *status);
            }
            h.finish()
        };
        // OK: affected rows 1, insert id 7, other status flags and warnings: equal.
        let a = sum(&[(&[0, 1, 7, 2, 0, 0, 0], true)]);
        let b = sum(&[(&[0, 1, 7, 0, 0, 1, 0], true)]);
        assert_eq!(a, b);
        // Insert ids differ: the client saw 7, a replay giving 8 must fail.
        assert_ne!(a, sum(&[(&[0, 1, 8, 2, 0, 0, 0], true)]));
        // Affected rows differ.
        assert_ne!(a, sum(&[(&[0, 2, 7, 2, 0, 0, 0], true)]));
        // Rows differ.
        let row1 = sum(&[(&[1, b'a'], false), (&[0xFE, 0, 0, 2, 0], true)]);
        let row2 = sum(&[(&[1, b'b'], false), (&[0xFE, 0, 0, 0x22, 0], true)]);
        assert_ne!(row1, row2);
        // ERR: only the code counts.
        let e1 = sum(&[(&[0xFF, 0x7A, 0x04, b'#', b'x'], true)]);
        let e2 = sum(&[(&[0xFF, 0x7A, 0x04, b'#', b'y'], true)]);
        assert_eq!(e1, e2);
    }
}
