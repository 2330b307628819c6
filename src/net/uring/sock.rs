//! A TCP socket for protocol sessions: opened on the ring thread, its reads and writes are ring
//! operations; anywhere else it is a plain runtime socket.
//!
//! Reads are cancel-safe: a `recv` stays in flight when the read that started it is dropped,
//! and the bytes it brings are kept for the next read. A `recv` targets the spare capacity of
//! the caller's buffer (split off and joined back without a copy), so an idle socket holds no
//! buffer of its own. Writes copy the bytes and complete when the kernel took all of them.
//!
//! A socket dropped with an operation in flight is shut down first: that completes the
//! operation, which holds the last reference to the buffers it points to.

use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Poll, Waker};

use bytes::BytesMut;
use io_uring::{opcode, squeue, types};
use nix::sys::socket::{MsgFlags, Shutdown, recv, send, shutdown};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::exec::{self, Completion};
use crate::net::relay::read_once_drained;

/// Room a read makes in a full buffer (callers size their buffers; this only avoids a
/// zero-length `recv`).
const MIN_READ: usize = 16 * 1024;
const EAGAIN: i32 = nix::errno::Errno::EAGAIN as i32;
const EINTR: i32 = nix::errno::Errno::EINTR as i32;
/// A send buffer above this size is freed once its bytes are sent (an idle session keeps
/// little memory).
const KEEP_TX: usize = 4 * 1024;

pub struct Sock(Inner);

enum Inner {
    Runtime(TcpStream),
    Ring(RingSock),
}

struct RingSock {
    /// `None` only after [`Sock::into_runtime`] took it.
    stream: Option<std::net::TcpStream>,
    st: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    /// The buffer region a `recv` in flight writes to.
    rx_target: Option<BytesMut>,
    /// Bytes received that no read took yet.
    rx: Option<BytesMut>,
    recv_in_flight: bool,
    eof: bool,
    rx_err: Option<io::Error>,
    reader: Option<Waker>,
    tx: Vec<u8>,
    tx_off: usize,
    /// Writes submitted and completed, to tell a writer its own write is done.
    tx_started: u64,
    tx_done: u64,
    send_in_flight: bool,
    tx_err: Option<io::Error>,
    writer: Option<Waker>,
}

fn lock(st: &Mutex<State>) -> MutexGuard<'_, State> {
    st.lock().unwrap_or_else(|e| e.into_inner())
}

fn set_waker(slot: &mut Option<Waker>, w: &Waker) {
    match slot {
        Some(old) if old.will_wake(w) => {}
        _ => *slot = Some(w.clone()),
    }
}

fn off_ring() -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        "socket busy on the io_uring thread",
    )
}

impl Sock {
    /// Wraps a connected socket; on the ring thread it moves to the ring (out of the runtime's
    /// epoll set, blocking mode: the ring waits for readiness itself).
    pub fn new(s: TcpStream) -> Sock {
        if !exec::on_ring() {
            return Sock(Inner::Runtime(s));
        }
        match super::to_ring(s) {
            Ok(s) => Sock(Inner::Ring(RingSock {
                stream: Some(s),
                st: Arc::default(),
            })),
            Err(e) => {
                // The descriptor is gone with the error; a closed socket reports it on use.
                tracing::warn!(error = %e, "moving a socket to io_uring failed");
                Sock(Inner::Ring(RingSock {
                    stream: None,
                    st: Arc::new(Mutex::new(State {
                        rx_err: Some(e),
                        ..State::default()
                    })),
                }))
            }
        }
    }

    /// True if the socket's I/O runs on the ring.
    pub fn on_ring(&self) -> bool {
        matches!(self.0, Inner::Ring(_))
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        match &self.0 {
            Inner::Runtime(s) => s.local_addr(),
            Inner::Ring(r) => r.std()?.local_addr(),
        }
    }

    /// The runtime socket back (for a TLS handshake); fails with anything in flight or unread.
    pub fn into_runtime(self) -> io::Result<TcpStream> {
        match self.0 {
            Inner::Runtime(s) => Ok(s),
            Inner::Ring(mut r) => {
                {
                    let st = lock(&r.st);
                    if st.recv_in_flight || st.send_in_flight || st.rx.is_some() {
                        return Err(off_ring());
                    }
                }
                let s = r.stream.take().ok_or_else(off_ring)?;
                s.set_nonblocking(true)?;
                TcpStream::from_std(s)
            }
        }
    }

    /// Reads once into `buf` (growing it if full); 0 means the peer closed its write half.
    pub async fn read_buf(&mut self, buf: &mut BytesMut) -> io::Result<usize> {
        match &mut self.0 {
            Inner::Runtime(s) => read_buf_drained(s, buf).await,
            Inner::Ring(r) => r.read_buf(buf).await,
        }
    }

    /// Waits until a read would not block, without a buffer. On the ring it returns at once:
    /// the read that follows is the wait (and needs a buffer).
    pub async fn readable(&mut self) -> io::Result<()> {
        match &mut self.0 {
            Inner::Runtime(s) => s.readable().await,
            Inner::Ring(_) => Ok(()),
        }
    }

    pub async fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        match &mut self.0 {
            Inner::Runtime(s) => s.write_all(data).await,
            Inner::Ring(r) if exec::on_ring() => r.write_all(data).await,
            Inner::Ring(r) => r.write_now(data),
        }
    }

    /// Closes the write half (FIN).
    pub async fn shutdown(&mut self) -> io::Result<()> {
        match &mut self.0 {
            Inner::Runtime(s) => s.shutdown().await,
            Inner::Ring(r) => Ok(shutdown(r.std()?.as_raw_fd(), Shutdown::Write)?),
        }
    }

    /// True if the peer sent something or closed (or a read is pending): an idle connection
    /// that is not clean.
    pub fn has_input(&self) -> bool {
        let mut probe = [0u8; 1];
        match &self.0 {
            Inner::Runtime(s) => {
                !matches!(s.try_read(&mut probe), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
            }
            Inner::Ring(r) => {
                let st = lock(&r.st);
                if st.recv_in_flight || st.rx.is_some() || st.eof || st.rx_err.is_some() {
                    return true;
                }
                let Ok(fd) = r.fd() else { return true };
                let flags = MsgFlags::MSG_PEEK | MsgFlags::MSG_DONTWAIT;
                !matches!(recv(fd, &mut probe, flags), Err(nix::errno::Errno::EAGAIN))
            }
        }
    }
}

impl RingSock {
    fn std(&self) -> io::Result<&std::net::TcpStream> {
        self.stream.as_ref().ok_or_else(off_ring)
    }

    fn fd(&self) -> io::Result<RawFd> {
        Ok(self.std()?.as_raw_fd())
    }

    async fn read_buf(&mut self, buf: &mut BytesMut) -> io::Result<usize> {
        let fd = self.fd();
        poll_fn(|cx| {
            let mut st = lock(&self.st);
            if let Some(data) = st.rx.take() {
                let n = data.len();
                buf.unsplit(data);
                return Poll::Ready(Ok(n));
            }
            if let Some(e) = st.rx_err.take() {
                return Poll::Ready(Err(e));
            }
            if st.eof {
                return Poll::Ready(Ok(0));
            }
            if !exec::on_ring() {
                return Poll::Ready(Err(off_ring()));
            }
            let fd = match &fd {
                Ok(fd) => *fd,
                Err(_) => return Poll::Ready(Err(off_ring())),
            };
            set_waker(&mut st.reader, cx.waker());
            if !st.recv_in_flight {
                if buf.capacity() == buf.len() {
                    buf.reserve(MIN_READ);
                }
                let mut target = buf.split_off(buf.len());
                let room = target.spare_capacity_mut();
                let e = opcode::Recv::new(
                    types::Fd(fd),
                    room.as_mut_ptr().cast(),
                    room.len().min(u32::MAX as usize) as u32,
                )
                .build();
                st.rx_target = Some(target);
                st.recv_in_flight = true;
                exec::submit(e, Box::new(RecvDone(self.st.clone())));
            }
            Poll::Pending
        })
        .await
    }

    async fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        let fd = self.fd()?;
        if data.is_empty() {
            // A zero-length send would complete with 0, which means a peer that takes nothing.
            return Ok(());
        }
        let mut mine = None;
        poll_fn(|cx| {
            let mut st = lock(&self.st);
            if let Some(e) = st.tx_err.take() {
                return Poll::Ready(Err(e));
            }
            match mine {
                Some(n) if st.tx_done >= n => return Poll::Ready(Ok(())),
                Some(_) => {}
                None if st.send_in_flight => {}
                None => {
                    st.tx.clear();
                    st.tx.extend_from_slice(data);
                    st.tx_off = 0;
                    st.tx_started += 1;
                    mine = Some(st.tx_started);
                    st.send_in_flight = true;
                    let e = send_entry(fd, &st);
                    exec::submit(
                        e,
                        Box::new(SendDone {
                            st: self.st.clone(),
                            fd,
                        }),
                    );
                }
            }
            set_waker(&mut st.writer, cx.waker());
            Poll::Pending
        })
        .await
    }

    /// Off the ring thread (a connection closed by a runtime task): a direct non-blocking send.
    fn write_now(&mut self, mut data: &[u8]) -> io::Result<()> {
        if lock(&self.st).send_in_flight {
            return Err(off_ring());
        }
        let fd = self.fd()?;
        while !data.is_empty() {
            let n = send(fd, data, MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL)?;
            data = &data[n..];
        }
        Ok(())
    }
}

fn send_entry(fd: RawFd, st: &State) -> squeue::Entry {
    let rest = &st.tx[st.tx_off..];
    opcode::Send::new(types::Fd(fd), rest.as_ptr(), rest.len() as u32)
        .flags(MsgFlags::MSG_NOSIGNAL.bits())
        .build()
}

impl Drop for RingSock {
    fn drop(&mut self) {
        let busy = {
            let st = lock(&self.st);
            st.recv_in_flight || st.send_in_flight
        };
        if busy && let Ok(fd) = self.fd() {
            let _ = shutdown(fd, Shutdown::Both);
        }
    }
}

struct RecvDone(Arc<Mutex<State>>);

impl Completion for RecvDone {
    fn done(&mut self, res: i32) -> Option<squeue::Entry> {
        let mut st = lock(&self.0);
        st.recv_in_flight = false;
        let target = st.rx_target.take();
        match res {
            n if n > 0 => {
                let mut t = target.expect("a recv in flight has its target");
                // SAFETY: the kernel wrote `n` bytes into the spare capacity `t` starts with.
                #[allow(unsafe_code)]
                unsafe {
                    t.set_len(n as usize)
                };
                st.rx = Some(t);
            }
            0 => st.eof = true,
            n if -n == EAGAIN || -n == EINTR => {}
            n => st.rx_err = Some(io::Error::from_raw_os_error(-n)),
        }
        if let Some(w) = st.reader.take() {
            drop(st);
            w.wake();
        }
        None
    }
}

struct SendDone {
    st: Arc<Mutex<State>>,
    fd: RawFd,
}

impl Completion for SendDone {
    fn done(&mut self, res: i32) -> Option<squeue::Entry> {
        let mut st = lock(&self.st);
        match res {
            n if n > 0 => {
                st.tx_off += n as usize;
                if st.tx_off < st.tx.len() {
                    return Some(send_entry(self.fd, &st));
                }
            }
            n if -n == EAGAIN || -n == EINTR => {
                return Some(send_entry(self.fd, &st));
            }
            0 => st.tx_err = Some(io::ErrorKind::WriteZero.into()),
            n => st.tx_err = Some(io::Error::from_raw_os_error(-n)),
        }
        st.send_in_flight = false;
        st.tx_done = st.tx_started;
        if st.tx.capacity() > KEEP_TX {
            st.tx = Vec::new();
        }
        if let Some(w) = st.writer.take() {
            drop(st);
            w.wake();
        }
        None
    }
}

/// Reads once into `buf`'s spare capacity (the shortcut of [`read_once_drained`]).
async fn read_buf_drained(src: &TcpStream, buf: &mut BytesMut) -> io::Result<usize> {
    let room = buf.capacity() - buf.len();
    read_once_drained(src, room, || src.try_read_buf(buf)).await
}
