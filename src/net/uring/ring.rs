//! The ring thread: owns every handed-over socket pair and moves bytes with one `recv` and one
//! `send` submission per message and direction, all submitted and reaped by one
//! `io_uring_enter` per loop turn.
//!
//! Memory safety rests on one rule: a session (its buffers and its sockets) is freed only when
//! none of its submissions is in flight. Ending a session early (error, idle timeout, cancel)
//! therefore shuts both sockets down, which completes the pending `recv`s, and waits for them.

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use io_uring::{IoUring, opcode, squeue, types};
use nix::sys::socket::{Shutdown, shutdown};

use prometheus::IntCounter;

use super::exec::{self, OP_TAG};
use super::{Done, Job, Msg, Queue};
use crate::net::relay::{BUF_SIZE, Relayed};

/// `user_data` of the wake-up read on the eventfd.
const WAKE: u64 = u64::MAX;
/// `user_data` of the idle-timeout tick.
const TICK: u64 = u64::MAX - 1;
/// How often idle sessions are looked for while any session has an idle timeout.
const TICK_EVERY: Duration = Duration::from_millis(100);

/// Direction 0 is client → server, 1 is server → client; side 0 is the client socket.
const DIRS: [usize; 2] = [0, 1];

/// One direction of a session.
struct Pipe {
    buf: Box<[u8]>,
    len: usize,
    off: usize,
    total: u64,
    /// When the pending `recv` was submitted (`None`: no `recv` pending).
    waiting_since: Option<Instant>,
    eof: bool,
}

struct Session {
    id: u64,
    fds: [OwnedFd; 2],
    pipes: [Pipe; 2],
    /// Per direction: how long its source may stay silent.
    idle: [Option<Duration>; 2],
    /// Per direction: `bytes_total{direction="in"|"out"}`.
    counters: [IntCounter; 2],
    done: Option<Done>,
    in_flight: u8,
    /// Set once the session is being torn down; the error it ends with.
    ending: Option<io::Error>,
}

pub(super) struct Ring {
    ring: IoUring,
    queue: Arc<Queue>,
    sessions: Vec<Option<Session>>,
    free: Vec<usize>,
    by_id: HashMap<u64, usize>,
    wake_buf: Box<[u8; 8]>,
    tick: Box<types::Timespec>,
    tick_armed: bool,
    with_idle: usize,
    /// Submissions of executor tasks, moved from the executor each loop turn.
    from_tasks: Vec<squeue::Entry>,
}

impl Ring {
    pub(super) fn new(queue: Arc<Queue>, entries: u32) -> io::Result<Ring> {
        let ring = IoUring::builder()
            .setup_single_issuer()
            .setup_coop_taskrun()
            .setup_defer_taskrun()
            .build(entries)?;
        Ok(Ring {
            ring,
            queue,
            sessions: Vec::new(),
            free: Vec::new(),
            by_id: HashMap::new(),
            wake_buf: Box::new([0; 8]),
            tick: Box::new(types::Timespec::from(TICK_EVERY)),
            tick_armed: false,
            with_idle: 0,
            from_tasks: Vec::new(),
        })
    }

    /// Serves until the process exits; returns only on a ring failure.
    pub(super) fn run(mut self) -> io::Error {
        self.push_wake();
        let mut done = Vec::with_capacity(256);
        loop {
            exec::run_ready();
            let mut batch = std::mem::take(&mut self.from_tasks);
            exec::take_pending(&mut batch);
            for e in batch.drain(..) {
                self.push(e);
            }
            self.from_tasks = batch;
            let want = if exec::has_ready() { 0 } else { 1 };
            match self.ring.submit_and_wait(want) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.raw_os_error() == Some(nix::errno::Errno::EBUSY as i32) => {}
                Err(e) => return e,
            }
            done.clear();
            done.extend(self.ring.completion().map(|c| (c.user_data(), c.result())));
            let now = Instant::now();
            for &(ud, res) in &done {
                match ud {
                    WAKE => self.on_wake(now),
                    TICK => self.on_tick(now),
                    ud if ud & OP_TAG != 0 => exec::complete((ud & !OP_TAG) as usize, res),
                    _ => self.on_io((ud >> 2) as usize, (ud & 3) as usize, res, now),
                }
            }
        }
    }

    fn push(&mut self, e: squeue::Entry) {
        // SAFETY: every buffer and timespec an entry points to lives in `self` until its
        // completion is reaped (see the module comment).
        while unsafe { self.ring.submission().push(&e) }.is_err() {
            let _ = self.ring.submit();
        }
    }

    fn push_wake(&mut self) {
        let e = opcode::Read::new(
            types::Fd(super::wake_fd(&self.queue)),
            self.wake_buf.as_mut_ptr(),
            8,
        )
        .build()
        .user_data(WAKE);
        self.push(e);
    }

    fn on_wake(&mut self, now: Instant) {
        let msgs = std::mem::take(&mut *self.queue.msgs.lock().unwrap_or_else(|e| e.into_inner()));
        for m in msgs {
            match m {
                Msg::Start(job) => self.start(job, now),
                Msg::Cancel(id) => {
                    if let Some(&slot) = self.by_id.get(&id) {
                        self.end(
                            slot,
                            io::Error::new(io::ErrorKind::Interrupted, "cancelled"),
                        );
                    }
                }
                Msg::Spawn(task) => exec::add_task(task),
                Msg::Wake(slot, generation) => exec::wake(slot, generation),
            }
        }
        self.push_wake();
    }

    fn start(&mut self, job: Job, now: Instant) {
        let Job {
            id,
            client,
            server,
            idle,
            counters,
            done,
        } = job;
        let pipe = || Pipe {
            buf: vec![0u8; BUF_SIZE].into_boxed_slice(),
            len: 0,
            off: 0,
            total: 0,
            waiting_since: None,
            eof: false,
        };
        if idle.client.is_some() || idle.server.is_some() {
            self.with_idle += 1;
            self.arm_tick();
        }
        let s = Session {
            id,
            fds: [client, server],
            pipes: [pipe(), pipe()],
            idle: [idle.client, idle.server],
            counters: [counters.inbound, counters.outbound],
            done: Some(done),
            in_flight: 0,
            ending: None,
        };
        let slot = match self.free.pop() {
            Some(i) => {
                self.sessions[i] = Some(s);
                i
            }
            None => {
                self.sessions.push(Some(s));
                self.sessions.len() - 1
            }
        };
        self.by_id.insert(id, slot);
        for d in DIRS {
            self.recv(slot, d, now);
        }
    }

    fn session(&mut self, slot: usize) -> &mut Session {
        self.sessions[slot]
            .as_mut()
            .expect("completion for a live session")
    }

    fn recv(&mut self, slot: usize, d: usize, now: Instant) {
        let s = self.session(slot);
        let p = &mut s.pipes[d];
        p.waiting_since = Some(now);
        let e = opcode::Recv::new(
            types::Fd(s.fds[d].as_raw_fd()),
            p.buf.as_mut_ptr(),
            p.buf.len() as u32,
        )
        .build()
        .user_data((slot as u64) << 2 | (d as u64) << 1);
        s.in_flight += 1;
        self.push(e);
    }

    fn send(&mut self, slot: usize, d: usize) {
        let s = self.session(slot);
        let p = &s.pipes[d];
        let e = opcode::Send::new(
            types::Fd(s.fds[1 - d].as_raw_fd()),
            p.buf[p.off..].as_ptr(),
            (p.len - p.off) as u32,
        )
        .flags(nix::sys::socket::MsgFlags::MSG_NOSIGNAL.bits())
        .build()
        .user_data((slot as u64) << 2 | (d as u64) << 1 | 1);
        s.in_flight += 1;
        self.push(e);
    }

    fn on_io(&mut self, slot: usize, op: usize, res: i32, now: Instant) {
        let (d, is_send) = (op >> 1, op & 1 == 1);
        let s = self.session(slot);
        s.in_flight -= 1;
        if s.ending.is_some() {
            self.finish_if_idle(slot);
            return;
        }
        if res < 0 {
            return self.end(slot, io::Error::from_raw_os_error(-res));
        }
        let n = res as usize;
        let p = &mut s.pipes[d];
        if is_send {
            if n == 0 {
                return self.end(slot, io::ErrorKind::WriteZero.into());
            }
            p.off += n;
            if p.off < p.len {
                self.send(slot, d);
            } else {
                self.recv(slot, d, now);
            }
            return;
        }
        p.waiting_since = None;
        if n == 0 {
            // The source closed its write half: pass the FIN on, keep the other way open.
            p.eof = true;
            let _ = shutdown(s.fds[1 - d].as_raw_fd(), Shutdown::Write);
            if s.pipes.iter().all(|p| p.eof) {
                self.finish(slot, Ok(()));
            }
            return;
        }
        p.len = n;
        p.off = 0;
        p.total += n as u64;
        s.counters[d].inc_by(n as u64);
        self.send(slot, d);
    }

    /// Starts tearing a session down: shutting both sockets down completes the pending `recv`s.
    fn end(&mut self, slot: usize, err: io::Error) {
        let s = self.session(slot);
        if s.ending.is_some() {
            return;
        }
        s.ending = Some(err);
        for fd in &s.fds {
            let _ = shutdown(fd.as_raw_fd(), Shutdown::Both);
        }
        self.finish_if_idle(slot);
    }

    fn finish_if_idle(&mut self, slot: usize) {
        let s = self.session(slot);
        if s.in_flight == 0 {
            let err = s.ending.take().unwrap_or_else(|| io::Error::other("ended"));
            self.finish(slot, Err(err));
        }
    }

    /// Frees a session with no submission in flight (closing its sockets) and reports.
    fn finish(&mut self, slot: usize, res: Result<(), io::Error>) {
        let s = self.sessions[slot].take().expect("live session");
        debug_assert_eq!(s.in_flight, 0);
        self.free.push(slot);
        self.by_id.remove(&s.id);
        if s.idle.iter().any(Option::is_some) {
            self.with_idle -= 1;
        }
        let relayed = Relayed {
            client_to_server: s.pipes[0].total,
            server_to_client: s.pipes[1].total,
        };
        let Session { fds, done, .. } = s;
        drop(fds);
        if let Some(done) = done {
            let _ = done.send(res.map(|()| relayed));
        }
    }

    fn arm_tick(&mut self) {
        if self.tick_armed {
            return;
        }
        self.tick_armed = true;
        let e = opcode::Timeout::new(&*self.tick as *const types::Timespec)
            .build()
            .user_data(TICK);
        self.push(e);
    }

    /// Ends the sessions whose source stayed silent longer than its idle timeout.
    fn on_tick(&mut self, now: Instant) {
        self.tick_armed = false;
        let mut expired = Vec::new();
        for (slot, s) in self.sessions.iter().enumerate() {
            let Some(s) = s else { continue };
            if s.ending.is_some() {
                continue;
            }
            let silent = DIRS
                .iter()
                .any(|&d| match (s.idle[d], s.pipes[d].waiting_since) {
                    (Some(limit), Some(since)) => now.duration_since(since) >= limit,
                    _ => false,
                });
            if silent {
                expired.push(slot);
            }
        }
        for slot in expired {
            self.end(
                slot,
                io::Error::new(io::ErrorKind::TimedOut, "idle timeout"),
            );
        }
        if self.with_idle > 0 {
            self.arm_tick();
        }
    }
}
