//! Bidirectional byte relay between a client and a backend, tuned for request/response traffic.
//!
//! Each direction reads straight into one per-session buffer and writes it out before reading
//! again. A read that returns less than the buffer size means the socket is drained (as HAProxy
//! assumes), so readiness is cleared without the extra `read` that would only return `EAGAIN`:
//! one `read` and one `write` per message and direction. `splice(2)` was measured and saves
//! nothing for small messages (it needs the same number of syscalls plus a pipe), so it is not used.

use std::io::{self, Read};

use prometheus::IntCounter;
use socket2::SockRef;
use tokio::io::Interest;
use tokio::net::TcpStream;

use super::deadline::Deadline;
use crate::admin::metrics::metrics;

/// Per-direction buffer size.
pub const BUF_SIZE: usize = 16 * 1024;

/// Byte counters of one listener (`bytes_total{listener,direction}`).
#[derive(Clone)]
pub struct ByteCounters {
    /// From clients to backends.
    pub inbound: IntCounter,
    /// From backends to clients.
    pub outbound: IntCounter,
}

impl ByteCounters {
    pub fn new(listener: &str) -> ByteCounters {
        let m = &metrics().bytes_total;
        ByteCounters {
            inbound: m.with_label_values(&[listener, "in"]),
            outbound: m.with_label_values(&[listener, "out"]),
        }
    }
}

/// Bytes moved by one relay.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Relayed {
    pub client_to_server: u64,
    pub server_to_client: u64,
}

/// How long each side may stay silent before the session is closed (HAProxy `timeout client`
/// and `timeout server` in TCP mode); `None` = as long as it likes.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Idle {
    pub client: Option<std::time::Duration>,
    pub server: Option<std::time::Duration>,
}

impl Idle {
    /// From config values where zero means off.
    pub fn new(client: std::time::Duration, server: std::time::Duration) -> Idle {
        let on = |d: std::time::Duration| (!d.is_zero()).then_some(d);
        Idle {
            client: on(client),
            server: on(server),
        }
    }
}

/// Copies both ways until both sides have closed their write half, or either fails or stays
/// silent longer than `idle` allows (an error of kind `TimedOut`); on the `io_uring` engine
/// when it is installed. Both sockets are closed when it returns or is dropped.
pub async fn relay(
    client: TcpStream,
    server: TcpStream,
    counters: &ByteCounters,
    idle: Idle,
) -> io::Result<Relayed> {
    match super::uring::engine() {
        Some(e) => e.relay(client, server, counters, idle).await,
        None => relay_epoll(&client, &server, counters, idle).await,
    }
}

/// The relay on the runtime's readiness loop.
pub async fn relay_epoll(
    client: &TcpStream,
    server: &TcpStream,
    counters: &ByteCounters,
    idle: Idle,
) -> io::Result<Relayed> {
    let mut up = vec![0u8; BUF_SIZE];
    let mut down = vec![0u8; BUF_SIZE];
    let (a, b) = tokio::try_join!(
        pump(client, server, &mut up, &counters.inbound, idle.client),
        pump(server, client, &mut down, &counters.outbound, idle.server),
    )?;
    Ok(Relayed {
        client_to_server: a,
        server_to_client: b,
    })
}

/// One direction: `src` → `dst` until EOF on `src`, then half-close `dst`; `idle`: the
/// longest `src` may stay silent.
async fn pump(
    src: &TcpStream,
    dst: &TcpStream,
    buf: &mut [u8],
    counter: &IntCounter,
    idle: Option<std::time::Duration>,
) -> io::Result<u64> {
    let mut total = 0u64;
    let mut deadline = idle.map(Deadline::new);
    loop {
        let n = match &mut deadline {
            None => read_drained(src, buf).await?,
            Some(d) => d
                .within(read_drained(src, buf))
                .await
                .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "idle timeout"))??,
        };
        if n == 0 {
            // Peer closed its write half: pass the FIN on, keep the other direction open.
            let _ = SockRef::from(dst).shutdown(std::net::Shutdown::Write);
            return Ok(total);
        }
        write_all(dst, &buf[..n]).await?;
        counter.inc_by(n as u64);
        total += n as u64;
    }
}

/// Reads once; a short read clears read readiness so the next call waits for epoll.
pub async fn read_drained(src: &TcpStream, buf: &mut [u8]) -> io::Result<usize> {
    let room = buf.len();
    read_once_drained(src, room, || (&*SockRef::from(src)).read(buf)).await
}

/// Waits for `src` to be readable and makes one `read` (which reads at most `room` bytes). A
/// read that leaves room means the socket is drained: readiness is cleared then, so the next
/// call waits for epoll instead of making a `read` that only returns `EAGAIN`.
pub async fn read_once_drained(
    src: &TcpStream,
    room: usize,
    mut read: impl FnMut() -> io::Result<usize>,
) -> io::Result<usize> {
    loop {
        src.readable().await?;
        let mut got = 0usize;
        let res = src.try_io(Interest::READABLE, || {
            let n = read()?;
            got = n;
            if n > 0 && n < room {
                // Drained: report WouldBlock so tokio clears readiness (only if no newer event).
                Err(io::ErrorKind::WouldBlock.into())
            } else {
                Ok(n)
            }
        });
        match res {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if got > 0 {
                    return Ok(got);
                }
            }
            Err(e) => return Err(e),
        }
    }
}

/// Writes all of `data`, waiting for write readiness only when the socket buffer is full.
pub async fn write_all(dst: &TcpStream, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        match dst.try_write(data) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => dst.writable().await?,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use crate::net::tcp_pair as pair;

    #[tokio::test]
    async fn relays_both_ways_and_half_closes() {
        let (mut client, proxy_client_side) = pair().await;
        let (proxy_server_side, mut server) = pair().await;
        let counters = ByteCounters::new("relay_test");
        let task = tokio::spawn(async move {
            relay_epoll(
                &proxy_client_side,
                &proxy_server_side,
                &counters,
                Idle::default(),
            )
            .await
        });
        let big = vec![7u8; 3 * BUF_SIZE + 5];
        client.write_all(&big).await.unwrap();
        client.shutdown().await.unwrap();
        let mut got = Vec::new();
        server.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, big);
        server.write_all(b"reply").await.unwrap();
        server.shutdown().await.unwrap();
        let mut back = Vec::new();
        client.read_to_end(&mut back).await.unwrap();
        assert_eq!(back, b"reply");
        let r = task.await.unwrap().unwrap();
        assert_eq!(r.client_to_server, big.len() as u64);
        assert_eq!(r.server_to_client, 5);
    }

    #[tokio::test]
    async fn many_small_round_trips() {
        let (mut client, pc) = pair().await;
        let (ps, mut server) = pair().await;
        let counters = ByteCounters::new("relay_test_rt");
        tokio::spawn(async move { relay_epoll(&pc, &ps, &counters, Idle::default()).await });
        let mut buf = [0u8; 4];
        for i in 0..200u32 {
            client.write_all(&i.to_be_bytes()).await.unwrap();
            server.read_exact(&mut buf).await.unwrap();
            assert_eq!(u32::from_be_bytes(buf), i);
            server.write_all(&buf).await.unwrap();
            client.read_exact(&mut buf).await.unwrap();
            assert_eq!(u32::from_be_bytes(buf), i);
        }
    }
}
