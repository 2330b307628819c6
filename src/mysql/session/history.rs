//! Session history: the session commands a session ran, replayed on every backend connection
//! it opens later (a reader, a new master), pruned of what later commands superseded.

use super::super::classify::{HistoryKey, history_key};
use super::super::reply::cmd;

/// The database a `USE db` / COM_INIT_DB selects (the login of a new connection names it).
pub fn used_database(payload: &[u8]) -> Option<String> {
    let (&command, rest) = payload.split_first()?;
    match command {
        cmd::INIT_DB => Some(String::from_utf8_lossy(rest).into_owned()),
        cmd::QUERY => {
            let sql = std::str::from_utf8(rest).ok()?.trim_start();
            let (word, args) = sql.split_at(sql.find(|c: char| !c.is_ascii_alphabetic())?);
            if !word.eq_ignore_ascii_case("use") || !args.starts_with(char::is_whitespace) {
                return None;
            }
            let db = args.trim().trim_end_matches(';').trim();
            let db = db
                .strip_prefix('`')
                .and_then(|d| d.strip_suffix('`'))
                .unwrap_or(db);
            (!db.is_empty() && !db.contains(char::is_whitespace)).then(|| db.to_string())
        }
        _ => None,
    }
}

#[derive(Debug, Clone)]
struct Entry {
    /// The command payload (command byte first).
    payload: Vec<u8>,
    key: HistoryKey,
}

fn key_of(payload: &[u8]) -> HistoryKey {
    match payload.split_first() {
        Some((&cmd::QUERY, sql)) => history_key(sql),
        Some((&cmd::SET_OPTION, _)) => HistoryKey::Vars(vec![b"\x1bset_option".to_vec()]),
        _ => HistoryKey::Other,
    }
}

/// The commands to replay, oldest first, at most `max` of them.
#[derive(Debug, Clone)]
pub struct History {
    entries: Vec<Entry>,
    max: usize,
    /// Sum of the payload sizes.
    bytes: usize,
    /// See [`History::fingerprint`].
    fp: u64,
}

pub use super::super::pool::EMPTY_FP;

impl History {
    /// An empty history keeping at most `max` commands (the oldest go first).
    pub fn new(max: usize) -> History {
        History {
            entries: Vec::new(),
            max: max.max(1),
            bytes: 0,
            fp: EMPTY_FP,
        }
    }

    /// Whether recording `payload` keeps the history within its `max` commands (a command
    /// superseding earlier ones always does).
    pub fn fits(&self, payload: &[u8]) -> bool {
        if used_database(payload).is_some() {
            return true;
        }
        let key = key_of(payload);
        let superseded = |e: &Entry| match (&key, &e.key) {
            (HistoryKey::Vars(names), HistoryKey::Vars(old)) => {
                old.iter().all(|n| names.contains(n))
            }
            (HistoryKey::Prepare(n) | HistoryKey::Deallocate(n), HistoryKey::Prepare(o)) => n == o,
            (HistoryKey::Other, _) => e.payload == payload,
            _ => false,
        };
        self.entries.iter().any(superseded) || self.entries.len() < self.max
    }

    /// Bytes of the commands kept.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Identifies the session state the history gives a connection: two histories with the
    /// same commands in the same order have the same fingerprint ([`EMPTY_FP`] when empty).
    pub fn fingerprint(&self) -> u64 {
        self.fp
    }

    fn changed(&mut self) {
        self.bytes = self.entries.iter().map(|e| e.payload.len()).sum();
        self.fp = if self.entries.is_empty() {
            EMPTY_FP
        } else {
            let mut h = std::hash::DefaultHasher::new();
            for e in &self.entries {
                std::hash::Hash::hash(&e.payload, &mut h);
            }
            std::hash::Hasher::finish(&h).max(1)
        };
    }

    /// Records a session command that succeeded (`USE` is not recorded: logins name the database).
    pub fn push(&mut self, payload: &[u8]) {
        if used_database(payload).is_some() {
            return;
        }
        let key = key_of(payload);
        match &key {
            HistoryKey::Vars(names) => self.entries.retain(|e| match &e.key {
                HistoryKey::Vars(old) => !old.iter().all(|n| names.contains(n)),
                _ => true,
            }),
            HistoryKey::Prepare(name) => self
                .entries
                .retain(|e| !matches!(&e.key, HistoryKey::Prepare(n) if n == name)),
            HistoryKey::Deallocate(name) => {
                let before = self.entries.len();
                self.entries
                    .retain(|e| !matches!(&e.key, HistoryKey::Prepare(n) if n == name));
                if self.entries.len() < before {
                    self.changed();
                    return;
                }
            }
            HistoryKey::Other => {
                if self.entries.iter().any(|e| e.payload == payload) {
                    return;
                }
            }
        }
        if self.entries.len() >= self.max {
            self.entries.remove(0);
        }
        self.entries.push(Entry {
            payload: payload.to_vec(),
            key,
        });
        self.changed();
    }

    /// The payloads to replay, oldest first.
    pub fn payloads(&self) -> impl Iterator<Item = &[u8]> {
        self.entries.iter().map(|e| e.payload.as_slice())
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Forgets everything (COM_RESET_CONNECTION, COM_CHANGE_USER).
    pub fn clear(&mut self) {
        self.entries.clear();
        self.changed();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(sql: &str) -> Vec<u8> {
        let mut v = vec![cmd::QUERY];
        v.extend_from_slice(sql.as_bytes());
        v
    }

    fn texts(h: &History) -> Vec<String> {
        h.payloads()
            .map(|p| String::from_utf8_lossy(&p[1..]).into_owned())
            .collect()
    }

    #[test]
    fn used_databases() {
        assert_eq!(used_database(&q("USE appdb")), Some("appdb".into()));
        assert_eq!(used_database(&q("  use `sb`;")), Some("sb".into()));
        assert_eq!(used_database(&q("use `my db`")), None);
        assert_eq!(used_database(&q("USE")), None);
        assert_eq!(used_database(&q("USER x")), None);
        assert_eq!(used_database(&q("SELECT 1")), None);
        assert_eq!(used_database(&[cmd::INIT_DB, b'x']), Some("x".into()));
        assert_eq!(used_database(&[]), None);
        assert_eq!(used_database(&[cmd::QUERY, 0xFF, 0xFE]), None);
    }

    #[test]
    fn superseded_sets_are_pruned() {
        let mut h = History::new(50);
        h.push(&q("SET @a = 1"));
        h.push(&q("SET NAMES utf8mb4"));
        h.push(&q("SET @a = 2, @b = 3"));
        h.push(&q("SET @b = 4"));
        h.push(&q("USE other"));
        h.push(&q("SET NAMES latin1"));
        assert_eq!(
            texts(&h),
            ["SET @a = 2, @b = 3", "SET @b = 4", "SET NAMES latin1"]
        );
        h.push(&q("SET @a = 5, @b = 6"));
        assert_eq!(texts(&h), ["SET NAMES latin1", "SET @a = 5, @b = 6"]);
    }

    #[test]
    fn prepare_and_deallocate() {
        let mut h = History::new(50);
        h.push(&q("PREPARE s FROM 'SELECT 1'"));
        h.push(&q("PREPARE s FROM 'SELECT 2'"));
        h.push(&q("PREPARE t FROM 'SELECT 3'"));
        assert_eq!(
            texts(&h),
            ["PREPARE s FROM 'SELECT 2'", "PREPARE t FROM 'SELECT 3'"]
        );
        h.push(&q("DEALLOCATE PREPARE s"));
        assert_eq!(texts(&h), ["PREPARE t FROM 'SELECT 3'"]);
        h.push(&q("DROP PREPARE nothing"));
        assert_eq!(
            texts(&h),
            ["PREPARE t FROM 'SELECT 3'", "DROP PREPARE nothing"]
        );
    }

    #[test]
    fn what_fits_and_its_size() {
        let mut h = History::new(2);
        h.push(&q("SET @a = 1"));
        h.push(&q("SET @b = 2"));
        assert_eq!(h.bytes(), 2 * q("SET @a = 1").len());
        assert!(
            !h.fits(&q("SET @c = 3")),
            "a third variable needs a third entry"
        );
        assert!(h.fits(&q("SET @a = 4")), "supersedes SET @a");
        assert!(h.fits(&q("SET @b = 4, @a = 5")));
        assert!(h.fits(&q("SET @b = 2")), "the same command again");
        assert!(h.fits(&q("USE other")), "not recorded");
        h.push(&q("SET @a = 44"));
        assert_eq!(h.bytes(), q("SET @b = 2").len() + q("SET @a = 44").len());
        h.clear();
        assert_eq!(h.bytes(), 0);
        assert!(h.fits(&q("PREPARE s FROM 'SELECT 1'")));
    }

    #[test]
    fn fingerprints_follow_the_commands() {
        let mut a = History::new(10);
        let mut b = History::new(10);
        assert_eq!(a.fingerprint(), EMPTY_FP);
        a.push(&q("SET @a = 1"));
        assert_ne!(a.fingerprint(), EMPTY_FP);
        b.push(&q("SET @a = 2"));
        assert_ne!(a.fingerprint(), b.fingerprint());
        b.push(&q("SET @a = 1"));
        assert_eq!(
            a.fingerprint(),
            b.fingerprint(),
            "the same state, however reached"
        );
        a.push(&q("SET NAMES utf8mb4"));
        assert_ne!(a.fingerprint(), b.fingerprint());
        a.clear();
        assert_eq!(a.fingerprint(), EMPTY_FP);
    }

    #[test]
    fn bounded_and_without_duplicates() {
        let mut h = History::new(2);
        h.push(&q("SET @@global.x = 1"));
        h.push(&q("SET @@global.x = 1"));
        assert_eq!(h.len(), 1);
        h.push(&q("SET @a = 1"));
        h.push(&q("SET @b = 1"));
        assert_eq!(texts(&h), ["SET @a = 1", "SET @b = 1"]);
        let opt = [cmd::SET_OPTION, 1, 0];
        h.push(&opt);
        h.push(&[cmd::SET_OPTION, 0, 0]);
        assert_eq!(h.payloads().last(), Some(&[cmd::SET_OPTION, 0, 0][..]));
        assert_eq!(h.len(), 2);
        h.clear();
        assert!(h.is_empty());
    }
}
