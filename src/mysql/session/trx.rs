//! The open transaction of a session, kept so that it can be replayed on a new master (no I/O):
//! the session state it started from and every command sent in it with the checksum of its
//! reply. A replay is good only if every reply checksums the same.

use super::history::History;

/// The commands of the open transaction.
#[derive(Debug, Default)]
pub struct TrxLog {
    /// Session history and database when the transaction started; `None` when none is kept.
    start: Option<(History, Option<String>)>,
    entries: Vec<(Vec<u8>, u64)>,
    size: usize,
    overflowed: bool,
}

impl TrxLog {
    /// Whether a transaction is being kept.
    pub fn active(&self) -> bool {
        self.start.is_some()
    }

    /// Whether the transaction can be replayed: kept, and not too large.
    pub fn replayable(&self) -> bool {
        self.active() && !self.overflowed
    }

    /// Whether the open transaction outgrew what is kept.
    pub fn too_large(&self) -> bool {
        self.overflowed && self.size > 0
    }

    /// Starts keeping a transaction that begins with the session in this state.
    pub fn start(&mut self, history: &History, database: Option<String>) {
        self.clear();
        self.start = Some((history.clone(), database));
    }

    /// Marks a transaction whose start was not seen (it cannot be replayed).
    pub fn start_unknown(&mut self) {
        self.clear();
        self.start = Some((History::new(1), None));
        self.overflowed = true;
    }

    /// Bytes of the commands kept.
    pub fn bytes(&self) -> usize {
        if self.overflowed { 0 } else { self.size }
    }

    /// Adds a command (its client frame) and the checksum of its reply; a transaction that
    /// grows past `limit` bytes is no longer kept (it cannot be replayed).
    pub fn push(&mut self, frame: &[u8], checksum: u64, limit: usize) {
        if self.overflowed || !self.active() {
            return;
        }
        self.size += frame.len();
        if self.size > limit {
            self.overflowed = true;
            self.entries = Vec::new();
            return;
        }
        self.entries.push((frame.to_vec(), checksum));
    }

    /// The state to start a replay from.
    pub fn start_state(&self) -> Option<&(History, Option<String>)> {
        self.start.as_ref()
    }

    /// The commands with their checksums, in order.
    pub fn entries(&self) -> &[(Vec<u8>, u64)] {
        &self.entries
    }

    /// The transaction ended (or was lost).
    pub fn clear(&mut self) {
        self.start = None;
        self.entries.clear();
        self.size = 0;
        self.overflowed = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_commands_until_too_large() {
        let mut t = TrxLog::default();
        const LIMIT: usize = 1 << 20;
        t.push(b"ignored: no transaction", 1, LIMIT);
        assert!(!t.active() && t.entries().is_empty());
        let mut h = History::new(10);
        h.push(b"\x03SET @a = 1");
        t.start(&h, Some("db".into()));
        t.push(b"BEGIN", 1, LIMIT);
        t.push(b"INSERT", 2, LIMIT);
        assert!(t.replayable());
        assert_eq!(t.entries().len(), 2);
        assert_eq!(t.start_state().unwrap().0.len(), 1);
        assert_eq!(t.bytes(), 11);
        t.push(&vec![0; LIMIT], 3, LIMIT);
        assert!(t.active() && !t.replayable() && t.too_large());
        assert_eq!(t.bytes(), 0);
        assert!(t.entries().is_empty());
        t.clear();
        assert!(!t.active());
        t.start(&h, None);
        assert!(t.replayable());
        t.start_unknown();
        assert!(t.active() && !t.replayable());
    }
}
