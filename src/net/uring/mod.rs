//! The `io_uring` engine (`[global] relay_engine`): one ring thread for the data plane.
//!
//! L4 sessions: connecting, PROXY headers and session bookkeeping stay in the async runtime;
//! once both sockets are up, the relay hands them to the ring thread ([`ring`]) and awaits its
//! report. Protocol sessions (MySQL) run on the ring thread's executor ([`exec`]) and do their
//! socket I/O there ([`Sock`]).
//! Measured against the epoll relay on Redis traffic, the ring needs one `io_uring_enter` per
//! loop turn for all sessions instead of a `read`, a `write` and an `epoll_wait` wake-up per
//! message (README "Performance notes").
//!
//! Dropping the relay future (a server kicked into maintenance, a Redis master change, the
//! graceful stop giving up) asks the ring to close the session.

pub mod exec;
#[allow(unsafe_code)]
mod ring;
mod sock;

pub use exec::{on_ring, spawn};
pub use sock::Sock;

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use nix::sys::eventfd::{EfdFlags, EventFd};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

use super::relay::{ByteCounters, Idle, Relayed};
use crate::config::RelayEngine;

/// Submission queue size: how many operations one loop turn can queue before the ring is
/// flushed. It does not bound the sessions: operations in flight are not counted against it, and
/// completions beyond the completion queue wait in the kernel's overflow list.
const RING_ENTRIES: u32 = 4096;

type Done = oneshot::Sender<io::Result<Relayed>>;

/// A socket pair handed to the ring.
struct Job {
    id: u64,
    client: OwnedFd,
    server: OwnedFd,
    idle: Idle,
    counters: ByteCounters,
    done: Done,
}

enum Msg {
    Start(Job),
    Cancel(u64),
    /// A task for the executor ([`exec`]).
    Spawn(std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>),
    /// An executor task woken from another thread: its slot and generation.
    Wake(usize, u32),
}

/// What the async side shares with the ring thread: a message list and the eventfd that the
/// ring keeps a read pending on.
struct Queue {
    msgs: Mutex<Vec<Msg>>,
    wake: EventFd,
    /// The ring thread stopped (a ring failure): new sessions use the epoll relay.
    dead: AtomicBool,
}

impl Queue {
    fn send(&self, m: Msg) {
        self.msgs.lock().unwrap_or_else(|e| e.into_inner()).push(m);
        let _ = self.wake.write(1);
    }
}

/// A running ring thread.
pub struct Engine {
    queue: Arc<Queue>,
    next_id: AtomicU64,
}

static ENGINE: OnceLock<Engine> = OnceLock::new();

/// The installed engine, if `io_uring` is in use.
pub fn engine() -> Option<&'static Engine> {
    ENGINE
        .get()
        .filter(|e| !e.queue.dead.load(Ordering::Relaxed))
}

/// Sets the process's relay engine up once, at start; returns the name of the one in use.
pub fn install(choice: RelayEngine) -> Result<&'static str, String> {
    if choice == RelayEngine::Epoll {
        return Ok("epoll");
    }
    if ENGINE.get().is_some() {
        return Ok("io_uring");
    }
    match Engine::start() {
        Ok(e) => {
            let _ = ENGINE.set(e);
            Ok("io_uring")
        }
        Err(e) if choice == RelayEngine::Auto => {
            tracing::info!(error = %e, "io_uring unavailable; relaying with epoll");
            Ok("epoll")
        }
        Err(e) => Err(format!("relay_engine = \"io_uring\": {e}")),
    }
}

impl Engine {
    /// Starts the ring thread; fails when the kernel refuses the ring (too old, disabled by
    /// `kernel.io_uring_disabled`, or filtered by seccomp).
    pub fn start() -> io::Result<Engine> {
        let wake = EventFd::from_value_and_flags(0, EfdFlags::EFD_CLOEXEC)?;
        let queue = Arc::new(Queue {
            msgs: Mutex::new(Vec::new()),
            wake,
            dead: AtomicBool::new(false),
        });
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let q = queue.clone();
        let runtime = tokio::runtime::Handle::try_current().ok();
        std::thread::Builder::new()
            .name("datagate-uring".into())
            .spawn(move || match ring::Ring::new(q.clone(), RING_ENTRIES) {
                Ok(r) => {
                    // Tasks on the ring await timers and channels of the runtime.
                    let _runtime = runtime.as_ref().map(tokio::runtime::Handle::enter);
                    exec::enter(q.clone());
                    let _ = ready_tx.send(Ok(()));
                    let e = r.run();
                    q.dead.store(true, Ordering::Relaxed);
                    tracing::error!(error = %e, "io_uring relay stopped; new sessions use epoll");
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                }
            })?;
        ready_rx
            .recv()
            .map_err(|_| io::Error::other("ring thread exited"))??;
        Ok(Engine {
            queue,
            next_id: AtomicU64::new(0),
        })
    }

    /// Runs `fut` on the ring thread's executor.
    pub fn spawn<F>(&self, fut: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        self.queue.send(Msg::Spawn(Box::pin(fut)));
    }

    /// As [`super::relay::relay`], on the ring: copies both ways until both sides closed
    /// their write half, either fails, or one stays silent longer than `idle` allows
    /// (`TimedOut`). Both sockets are closed when it returns or is dropped.
    pub async fn relay(
        &self,
        client: TcpStream,
        server: TcpStream,
        counters: &ByteCounters,
        idle: Idle,
    ) -> io::Result<Relayed> {
        let client = OwnedFd::from(to_ring(client)?);
        let server = OwnedFd::from(to_ring(server)?);
        let (done, report) = oneshot::channel();
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.queue.send(Msg::Start(Job {
            id,
            client,
            server,
            idle,
            counters: counters.clone(),
            done,
        }));
        let mut guard = CancelOnDrop {
            queue: &self.queue,
            id,
            armed: true,
        };
        let r = report.await;
        guard.armed = false;
        r.unwrap_or_else(|_| Err(io::Error::other("io_uring relay stopped")))
    }
}

/// Takes a socket out of the async runtime's epoll set and makes it blocking: `io_uring`
/// then waits for readiness itself instead of failing with `EAGAIN`.
fn to_ring(s: TcpStream) -> io::Result<std::net::TcpStream> {
    let s = s.into_std()?;
    s.set_nonblocking(false)?;
    Ok(s)
}

struct CancelOnDrop<'a> {
    queue: &'a Queue,
    id: u64,
    armed: bool,
}

impl Drop for CancelOnDrop<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.queue.send(Msg::Cancel(self.id));
        }
    }
}

/// The eventfd's descriptor, for the ring's pending read.
fn wake_fd(q: &Queue) -> i32 {
    q.wake.as_fd().as_raw_fd()
}

#[cfg(test)]
mod sock_tests;
#[cfg(test)]
mod tests;
