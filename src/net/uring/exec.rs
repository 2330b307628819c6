//! An executor on the ring thread, for sessions that need a protocol loop (MySQL) rather than a
//! byte relay: their socket reads and writes become ring operations ([`super::sock`]), submitted
//! and reaped with the L4 relay's in one `io_uring_enter` per loop turn.
//!
//! Everything else such a session awaits (timers, channels, backend connects) stays with the
//! async runtime, whose handle the ring thread enters: those wake-ups arrive as messages on the
//! ring's eventfd.
//!
//! State lives in thread locals of the ring thread: the tasks, the operations in flight and the
//! submissions queued by tasks during a loop turn, which the ring pushes after running them.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Wake, Waker};

use io_uring::squeue;

use super::{Msg, Queue};

/// `user_data` bit of an operation of an executor task; the rest is its index in the op table.
pub(super) const OP_TAG: u64 = 1 << 62;

type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// What a task's operation does when the kernel completes it: returns the submission that
/// continues it (the rest of a short send), if any.
pub(super) trait Completion {
    fn done(&mut self, res: i32) -> Option<squeue::Entry>;
}

pub(super) type OnDone = Box<dyn Completion>;

struct Task {
    fut: Option<BoxFuture>,
    generation: u32,
    waker: Waker,
    queued: bool,
}

#[derive(Default)]
struct Local {
    tasks: Vec<Option<Task>>,
    free: Vec<usize>,
    ready: VecDeque<(usize, u32)>,
    /// Operations in flight, by index: what to do with their result.
    ops: Vec<Option<OnDone>>,
    free_ops: Vec<usize>,
    /// Submissions made by tasks since the ring last pushed them.
    pending: Vec<squeue::Entry>,
}

thread_local! {
    static LOCAL: RefCell<Local> = RefCell::new(Local::default());
    static ON_RING: Cell<bool> = const { Cell::new(false) };
}

/// The queue of the ring thread, for wakers and spawns from other threads.
static QUEUE: OnceLock<Arc<Queue>> = OnceLock::new();

/// Marks the calling thread as the ring thread.
pub(super) fn enter(queue: Arc<Queue>) {
    let _ = QUEUE.set(queue);
    ON_RING.with(|r| r.set(true));
}

/// True on the ring thread: sockets opened here do their I/O on the ring.
pub fn on_ring() -> bool {
    ON_RING.with(Cell::get)
}

/// Runs `fut` on the ring thread when the engine is installed, else on the async runtime.
pub fn spawn<F>(fut: F)
where
    F: Future<Output = ()> + Send + 'static,
{
    if on_ring() {
        add_task(Box::pin(fut));
    } else if let Some(e) = super::engine() {
        e.spawn(fut);
    } else {
        tokio::spawn(fut);
    }
}

pub(super) fn add_task(fut: BoxFuture) {
    LOCAL.with(|l| {
        let mut l = l.borrow_mut();
        let slot = l.free.pop().unwrap_or_else(|| {
            l.tasks.push(None);
            l.tasks.len() - 1
        });
        let generation = l.tasks[slot].as_ref().map_or(0, |t| t.generation) + 1;
        let waker = Waker::from(Arc::new(TaskWaker { slot, generation }));
        l.tasks[slot] = Some(Task {
            fut: Some(fut),
            generation,
            waker,
            queued: true,
        });
        l.ready.push_back((slot, generation));
    });
}

/// Queues a task woken by a message from another thread.
pub(super) fn wake(slot: usize, generation: u32) {
    LOCAL.with(|l| {
        let mut l = l.borrow_mut();
        if let Some(Some(t)) = l.tasks.get_mut(slot)
            && t.generation == generation
            && !t.queued
        {
            t.queued = true;
            l.ready.push_back((slot, generation));
        }
    });
}

struct TaskWaker {
    slot: usize,
    generation: u32,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if on_ring() {
            wake(self.slot, self.generation);
        } else if let Some(q) = QUEUE.get() {
            q.send(Msg::Wake(self.slot, self.generation));
        }
    }
}

/// Polls the ready tasks (and the ones they wake meanwhile), at most 1024 polls per turn so
/// that the ring gets to submit and reap in between.
pub(super) fn run_ready() {
    for _ in 0..1024 {
        let next = LOCAL.with(|l| {
            let mut l = l.borrow_mut();
            let (slot, generation) = l.ready.pop_front()?;
            let Some(Some(t)) = l.tasks.get_mut(slot) else {
                return Some(None);
            };
            if t.generation != generation {
                return Some(None);
            }
            t.queued = false;
            Some(t.fut.take().map(|f| (slot, f, t.waker.clone())))
        });
        let Some(next) = next else { return };
        let Some((slot, mut fut, waker)) = next else {
            continue;
        };
        // A panic ends its task only, as on the runtime (the ring serves every other session).
        let polled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            fut.as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_ready()
        }));
        let done = polled.unwrap_or_else(|_| {
            tracing::error!("a session task on the io_uring thread panicked; it is dropped");
            true
        });
        // Dropping a finished session closes its sockets, which may touch the op table.
        let finished = LOCAL.with(|l| {
            let mut l = l.borrow_mut();
            if done {
                if let Some(t) = l.tasks[slot].as_mut() {
                    t.fut = None;
                }
                l.free.push(slot);
                Some(fut)
            } else {
                if let Some(t) = l.tasks[slot].as_mut() {
                    t.fut = Some(fut);
                }
                None
            }
        });
        drop(finished);
    }
}

/// True if a task is waiting to be polled.
pub(super) fn has_ready() -> bool {
    LOCAL.with(|l| !l.borrow().ready.is_empty())
}

/// Queues a submission whose completion runs `on_done` (which may return a follow-up).
/// Only on the ring thread; the entry's buffers must stay valid until `on_done` runs.
pub(super) fn submit(entry: squeue::Entry, on_done: OnDone) {
    LOCAL.with(|l| {
        let mut l = l.borrow_mut();
        let i = l.free_ops.pop().unwrap_or_else(|| {
            l.ops.push(None);
            l.ops.len() - 1
        });
        l.ops[i] = Some(on_done);
        let e = entry.user_data(OP_TAG | i as u64);
        l.pending.push(e);
    });
}

/// The submissions tasks queued since the last call.
pub(super) fn take_pending(into: &mut Vec<squeue::Entry>) {
    LOCAL.with(|l| into.append(&mut l.borrow_mut().pending));
}

/// Runs the completion of operation `i`.
pub(super) fn complete(i: usize, res: i32) {
    let Some(mut op) = LOCAL.with(|l| l.borrow_mut().ops.get_mut(i).and_then(Option::take)) else {
        return;
    };
    let follow_up = op.done(res);
    LOCAL.with(|l| {
        let mut l = l.borrow_mut();
        match follow_up {
            Some(e) => {
                l.ops[i] = Some(op);
                l.pending.push(e.user_data(OP_TAG | i as u64));
            }
            None => l.free_ops.push(i),
        }
    });
}
