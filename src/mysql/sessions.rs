//! The sessions of one `[[mysql]]` listener by id: the connection id clients get in the
//! greeting, which `KILL` names. Each session publishes its backend connections here (they
//! change only when the session connects somewhere), so that `KILL QUERY` can reach the
//! statement it runs, and can be told to end (`KILL CONNECTION`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio_util::sync::CancellationToken;

/// Every live session of a listener.
#[derive(Debug, Default)]
pub struct Registry {
    next: AtomicU32,
    map: Mutex<HashMap<u32, Arc<Handle>>>,
}

/// What other sessions may know about, and do to, one session.
#[derive(Debug, Default)]
pub struct Handle {
    /// Cancelled by `KILL CONNECTION`: the session ends.
    pub kill: CancellationToken,
    inner: Mutex<Published>,
}

#[derive(Debug, Default)]
struct Published {
    user: String,
    /// `(server address, server thread id)` of each backend connection.
    backends: Vec<(String, u32)>,
}

/// A session's place in the registry; leaves it when dropped.
#[derive(Debug)]
pub struct Registration {
    registry: Arc<Registry>,
    pub id: u32,
    pub handle: Arc<Handle>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.registry.lock().remove(&self.id);
    }
}

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u32, Arc<Handle>>> {
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A new session with an id no live session has (never 0).
    pub fn register(self: &Arc<Self>) -> Registration {
        let handle = Arc::new(Handle::default());
        let mut map = self.lock();
        let id = loop {
            let id = self.next.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
            if id != 0 && !map.contains_key(&id) {
                break id;
            }
        };
        map.insert(id, handle.clone());
        Registration {
            registry: self.clone(),
            id,
            handle,
        }
    }

    /// The session with id `id`.
    pub fn get(&self, id: u64) -> Option<Arc<Handle>> {
        let id = u32::try_from(id).ok()?;
        self.lock().get(&id).cloned()
    }

    /// Live sessions.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Handle {
    fn inner(&self) -> std::sync::MutexGuard<'_, Published> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records the account the session is logged in as.
    pub fn set_user(&self, user: &str) {
        user.clone_into(&mut self.inner().user);
    }

    pub fn user(&self) -> String {
        self.inner().user.clone()
    }

    /// Records the session's backend connections.
    pub fn set_backends(&self, backends: Vec<(String, u32)>) {
        self.inner().backends = backends;
    }

    pub fn backends(&self) -> Vec<(String, u32)> {
        self.inner().backends.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_released() {
        let r = Arc::new(Registry::default());
        let a = r.register();
        let b = r.register();
        assert_ne!(a.id, b.id);
        assert_ne!(a.id, 0);
        a.handle.set_user("app");
        a.handle.set_backends(vec![("10.0.0.1:3306".into(), 42)]);
        let got = r.get(u64::from(a.id)).unwrap();
        assert_eq!(got.user(), "app");
        assert_eq!(got.backends(), [("10.0.0.1:3306".to_string(), 42)]);
        assert!(r.get(u64::from(u32::MAX) + 1).is_none());
        drop(a);
        assert_eq!(r.len(), 1);
        // Ids wrap around, skipping 0 and live sessions.
        r.next.store(u32::MAX - 1, Ordering::Relaxed);
        let c = r.register();
        assert_eq!(c.id, u32::MAX);
        let d = r.register();
        assert_eq!(d.id, 1.max(if b.id == 1 { 2 } else { 1 }));
    }
}
