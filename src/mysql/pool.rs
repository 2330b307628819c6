//! Backend connections shared by the sessions of one `[[mysql]]` listener (multiplexing): a
//! session holds a connection only while it has state that needs it (a transaction, locks,
//! temporary tables …) and gives it back otherwise. No I/O here: the session syncs what it
//! takes (`session/pooling`), the listener closes what [`Pool::reap`] returns.
//!
//! Connections are kept per account, protocol settings and database ([`PoolKey`]); each
//! carries the fingerprint of the session history it was given, so that a session gets back,
//! when there is one, a connection already in its state. The connections open to each server
//! are counted ([`Slot`]) and capped; at the cap sessions wait for one to come back or close.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::Notify;

use super::auth::Sha1Hash;
use super::backend::Login;

/// Who a connection is logged in as, and how: only connections with the same key are shared.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PoolKey {
    pub addr: String,
    pub user: String,
    pub password: Option<Sha1Hash>,
    pub capabilities: u32,
    pub mariadb_capabilities: u32,
    pub charset: u8,
    pub database: Option<String>,
}

impl PoolKey {
    /// The key of a connection to `addr` logged in as `login`, on `login.database`.
    pub fn new(addr: &str, login: &Login) -> PoolKey {
        PoolKey {
            addr: addr.to_string(),
            user: login.user.clone(),
            password: login.sha1_password,
            capabilities: login.capabilities.bits(),
            mariadb_capabilities: login.mariadb_capabilities,
            charset: login.charset,
            database: login.database.clone(),
        }
    }
}

/// The fingerprint of an empty session history: a freshly logged-in connection's.
pub const EMPTY_FP: u64 = 0;

/// What the pool needs to know of a connection.
pub trait Pooled {
    /// The fingerprint of the session history the connection was given.
    fn fingerprint(&self) -> u64;
}

/// Connections open per server, and who waits for one.
#[derive(Debug, Default)]
pub struct Slots {
    open: Mutex<HashMap<String, usize>>,
    /// Woken when a connection comes back or closes.
    freed: Notify,
    waiting: AtomicUsize,
    /// Connections per server at most (0 = no cap).
    max_per_server: usize,
}

/// One open connection counted against its server's cap; given back when dropped.
pub struct Slot {
    slots: Arc<Slots>,
    addr: String,
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Slot({})", self.addr)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(n) = self.slots.lock().get_mut(&self.addr) {
            *n = n.saturating_sub(1);
        }
        self.slots.freed.notify_waiters();
    }
}

impl Slot {
    /// The server the slot counts a connection of.
    pub fn addr(&self) -> &str {
        &self.addr
    }
}

impl Slots {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, usize>> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The listener's idle connections (`C`: a backend connection).
pub struct Pool<C> {
    idle: Mutex<HashMap<PoolKey, Vec<C>>>,
    slots: Arc<Slots>,
}

/// Waiting for a connection to come back: counted while it lives, so that sessions holding
/// connections give them back at once instead of keeping them for their next command.
pub struct Waiting<'a>(&'a Slots);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.waiting.fetch_sub(1, Ordering::Relaxed);
    }
}

impl<C: Pooled> Pool<C> {
    /// A pool of at most `max_per_server` connections per server (0 = no cap).
    pub fn new(max_per_server: usize) -> Pool<C> {
        Pool {
            idle: Mutex::default(),
            slots: Arc::new(Slots {
                max_per_server,
                ..Slots::default()
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<PoolKey, Vec<C>>> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// An idle connection for `key`: one already in state `fp` if there is one, else the one
    /// given back last.
    pub fn take(&self, key: &PoolKey, fp: u64) -> Option<C> {
        let mut idle = self.lock();
        let list = idle.get_mut(key)?;
        let at = list
            .iter()
            .rposition(|c| c.fingerprint() == fp)
            .or(list.len().checked_sub(1))?;
        let c = list.swap_remove(at);
        if list.is_empty() {
            idle.remove(key);
        }
        Some(c)
    }

    /// Gives a connection back for other sessions.
    pub fn put(&self, key: PoolKey, conn: C) {
        self.lock().entry(key).or_default().push(conn);
        self.slots.freed.notify_waiters();
    }

    /// A slot for one more connection to `addr`, unless the server is at its cap.
    pub fn try_slot(&self, addr: &str) -> Option<Slot> {
        let mut open = self.slots.lock();
        let n = open.entry(addr.to_string()).or_default();
        if self.slots.max_per_server > 0 && *n >= self.slots.max_per_server {
            return None;
        }
        *n += 1;
        Some(Slot {
            slots: self.slots.clone(),
            addr: addr.to_string(),
        })
    }

    /// An idle connection to `addr` of any key (another account or database), to close so
    /// that a session at the cap can open its own.
    pub fn evict(&self, addr: &str) -> Option<C> {
        let mut idle = self.lock();
        let key = idle.keys().find(|k| k.addr == addr)?.clone();
        let list = idle.get_mut(&key)?;
        let c = list.remove(0);
        if list.is_empty() {
            idle.remove(&key);
        }
        Some(c)
    }

    /// Resolves when a connection comes back or closes. Enable it before looking for one
    /// (`Notified::enable`) so that none is missed in between.
    pub fn freed(&self) -> tokio::sync::futures::Notified<'_> {
        self.slots.freed.notified()
    }

    /// Counts a session waiting for a connection while the guard lives.
    pub fn waiting(&self) -> Waiting<'_> {
        self.slots.waiting.fetch_add(1, Ordering::Relaxed);
        Waiting(&self.slots)
    }

    /// Whether sessions wait for a connection now.
    pub fn contended(&self) -> bool {
        self.slots.waiting.load(Ordering::Relaxed) > 0
    }

    /// Removes the idle connections `drop_it` chooses (idle too long, server down) and returns
    /// them, to be closed outside the lock.
    pub fn reap(&self, drop_it: impl Fn(&PoolKey, &C) -> bool) -> Vec<C> {
        let mut idle = self.lock();
        let mut out = Vec::new();
        for (key, list) in idle.iter_mut() {
            let (gone, keep): (Vec<C>, Vec<C>) = std::mem::take(list)
                .into_iter()
                .partition(|c| drop_it(key, c));
            *list = keep;
            out.extend(gone);
        }
        idle.retain(|_, l| !l.is_empty());
        out
    }

    /// Connections open now (idle or in use), and of those idle.
    pub fn counts(&self) -> (usize, usize) {
        let idle = self.lock().values().map(Vec::len).sum();
        (self.slots.lock().values().sum(), idle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A connection as the pool sees it: its slot and its fingerprint.
    struct C(u64, #[allow(dead_code)] Slot);

    impl Pooled for C {
        fn fingerprint(&self) -> u64 {
            self.0
        }
    }

    fn key(addr: &str, user: &str, db: Option<&str>) -> PoolKey {
        PoolKey {
            addr: addr.into(),
            user: user.into(),
            password: None,
            capabilities: 0,
            mariadb_capabilities: 0,
            charset: 45,
            database: db.map(Into::into),
        }
    }

    #[test]
    fn same_state_first_then_the_last_given_back() {
        let pool = Pool::new(0);
        let k = key("a:1", "u", None);
        for fp in [7, 0, 9] {
            let slot = pool.try_slot("a:1").unwrap();
            pool.put(k.clone(), C(fp, slot));
        }
        assert_eq!(pool.counts(), (3, 3));
        assert_eq!(pool.take(&k, 0).unwrap().0, 0);
        assert_eq!(
            pool.take(&k, 5).unwrap().0,
            9,
            "none in that state: the last one"
        );
        assert!(
            pool.take(&key("a:1", "u", Some("db")), 7).is_none(),
            "another database"
        );
        assert!(
            pool.take(&key("a:1", "v", None), 7).is_none(),
            "another account"
        );
        let c = pool.take(&k, 7).unwrap();
        assert!(pool.take(&k, 7).is_none());
        assert_eq!(pool.counts(), (1, 0), "taken ones still count as open");
        drop(c);
        assert_eq!(pool.counts(), (0, 0));
    }

    #[test]
    fn capped_per_server_and_freed_wakes() {
        let pool: Pool<C> = Pool::new(2);
        let a = pool.try_slot("a:1").unwrap();
        let _b = pool.try_slot("a:1").unwrap();
        assert!(pool.try_slot("a:1").is_none(), "at the cap");
        assert!(pool.try_slot("b:1").is_some(), "per server");
        let freed = pool.freed();
        tokio::pin!(freed);
        freed.as_mut().enable();
        drop(a);
        let waker = futures_noop();
        let mut cx = std::task::Context::from_waker(&waker);
        assert!(
            freed.as_mut().poll(&mut cx).is_ready(),
            "a closed slot wakes waiters"
        );
        assert!(pool.try_slot("a:1").is_some());
    }

    #[test]
    fn evict_and_reap_and_contention() {
        let pool = Pool::new(0);
        pool.put(key("a:1", "u", None), C(1, pool.try_slot("a:1").unwrap()));
        pool.put(
            key("a:1", "v", Some("d")),
            C(2, pool.try_slot("a:1").unwrap()),
        );
        pool.put(key("b:1", "u", None), C(3, pool.try_slot("b:1").unwrap()));
        assert!(pool.evict("c:1").is_none());
        assert!(pool.evict("a:1").is_some());
        let gone = pool.reap(|k, _| k.addr == "b:1");
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0].0, 3);
        drop(gone);
        assert_eq!(pool.counts(), (1, 1));
        assert!(!pool.contended());
        let w = pool.waiting();
        assert!(pool.contended());
        drop(w);
        assert!(!pool.contended());
    }

    use std::future::Future;

    fn futures_noop() -> std::task::Waker {
        std::task::Waker::noop().clone()
    }
}
