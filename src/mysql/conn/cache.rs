//! The statements a backend connection has prepared, by their text: connections are shared by
//! sessions, so the same statement prepared by two sessions is prepared once. The cache is
//! bounded; the least recently used statement is closed on the server when it overflows.

use std::collections::HashMap;
use std::sync::Arc;

/// Statements kept prepared per connection.
pub const MAX_CACHED: usize = 256;

/// One prepared statement on a backend connection.
#[derive(Debug, Clone)]
struct Entry {
    id: u32,
    /// Parameter types (2 bytes each) the connection last saw for it.
    types: Option<Vec<u8>>,
    used: u64,
}

/// A connection's prepared statements by COM_STMT_PREPARE payload.
#[derive(Debug, Default)]
pub struct BackendStatements {
    map: HashMap<Arc<[u8]>, Entry>,
    clock: u64,
}

impl BackendStatements {
    /// The server's id for the statement prepared from `prepare`, and the parameter types the
    /// connection last saw for it.
    pub fn get(&mut self, prepare: &[u8]) -> Option<(u32, Option<&[u8]>)> {
        self.clock += 1;
        let clock = self.clock;
        let e = self.map.get_mut(prepare)?;
        e.used = clock;
        Some((e.id, e.types.as_deref()))
    }

    /// Records a statement the server prepared; returns the id of a statement it replaces or
    /// that was evicted to make room (to be closed on the server).
    pub fn insert(&mut self, prepare: Arc<[u8]>, id: u32) -> Option<u32> {
        self.clock += 1;
        let evicted = if self.map.len() >= MAX_CACHED && !self.map.contains_key(&prepare) {
            let oldest = self
                .map
                .iter()
                .min_by_key(|(_, e)| e.used)
                .map(|(k, _)| k.clone());
            oldest.and_then(|k| self.map.remove(&k)).map(|e| e.id)
        } else {
            None
        };
        let used = self.clock;
        let replaced = self.map.insert(
            prepare,
            Entry {
                id,
                types: None,
                used,
            },
        );
        evicted.or(replaced.map(|e| e.id).filter(|old| *old != id))
    }

    /// The parameter types the connection now knows for `prepare`.
    pub fn set_types(&mut self, prepare: &[u8], types: &[u8]) {
        if let Some(e) = self.map.get_mut(prepare)
            && e.types.as_deref() != Some(types)
        {
            e.types = Some(types.to_vec());
        }
    }

    /// Forgets everything (the server closed its statements: COM_RESET_CONNECTION).
    pub fn clear(&mut self) {
        self.map.clear();
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn by_text_with_types_and_eviction() {
        let mut c = BackendStatements::default();
        let a: Arc<[u8]> = Arc::from(&b"\x16SELECT ?"[..]);
        assert_eq!(c.insert(a.clone(), 7), None);
        assert_eq!(c.get(&a), Some((7, None)));
        c.set_types(&a, &[8, 0]);
        assert_eq!(c.get(b"\x16SELECT ?"), Some((7, Some(&[8u8, 0][..]))));
        for i in 0..MAX_CACHED as u32 - 1 {
            c.insert(Arc::from(format!("\x16SELECT {i}").as_bytes()), 100 + i);
        }
        assert_eq!(c.len(), MAX_CACHED);
        c.get(&a);
        // The least recently used (SELECT 0, id 100) makes room, not the one just used.
        assert_eq!(c.insert(Arc::from(&b"\x16SELECT x"[..]), 1), Some(100));
        assert!(c.get(&a).is_some());
        c.clear();
        assert!(c.is_empty());
    }
}
