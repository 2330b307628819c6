//! Which statements change session state that a new master connection must get back.

use super::super::reply::cmd;

/// A statement to remember.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HistoryEntry {
    /// `USE db` or COM_INIT_DB: the database to log in with.
    Use(String),
    /// A `SET ...` statement (the COM_QUERY payload), replayed as is.
    Set(Vec<u8>),
}

/// The history entry a command payload (command byte first) makes, if any.
pub fn history_entry(payload: &[u8]) -> Option<HistoryEntry> {
    let (&command, rest) = payload.split_first()?;
    match command {
        cmd::INIT_DB => Some(HistoryEntry::Use(
            String::from_utf8_lossy(rest).into_owned(),
        )),
        cmd::QUERY => {
            let sql = std::str::from_utf8(rest).ok()?.trim_start();
            let word_end = sql
                .find(|c: char| !c.is_ascii_alphabetic())
                .unwrap_or(sql.len());
            let (word, args) = sql.split_at(word_end);
            if !args.starts_with(|c: char| c.is_whitespace()) {
                return None;
            }
            if word.eq_ignore_ascii_case("set") {
                return Some(HistoryEntry::Set(payload.to_vec()));
            }
            if word.eq_ignore_ascii_case("use") {
                let db = args.trim().trim_end_matches(';').trim();
                let db = db
                    .strip_prefix('`')
                    .and_then(|d| d.strip_suffix('`'))
                    .unwrap_or(db);
                if !db.is_empty() && !db.contains(char::is_whitespace) {
                    return Some(HistoryEntry::Use(db.to_string()));
                }
            }
            None
        }
        _ => None,
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

    #[test]
    fn entries() {
        assert_eq!(
            history_entry(&q("USE appdb")),
            Some(HistoryEntry::Use("appdb".into()))
        );
        assert_eq!(history_entry(&q("  use `my db`;")), None);
        assert_eq!(
            history_entry(&q("use `sb`;")),
            Some(HistoryEntry::Use("sb".into()))
        );
        assert_eq!(
            history_entry(&q("SET NAMES utf8mb4")),
            Some(HistoryEntry::Set(q("SET NAMES utf8mb4")))
        );
        assert_eq!(
            history_entry(&q("set\tautocommit=0")),
            Some(HistoryEntry::Set(q("set\tautocommit=0")))
        );
        assert_eq!(history_entry(&q("SELECT 1")), None);
        assert_eq!(history_entry(&q("SETX a=1")), None);
        assert_eq!(history_entry(&q("USE")), None);
        assert_eq!(
            history_entry(&[cmd::INIT_DB, b'x']),
            Some(HistoryEntry::Use("x".into()))
        );
        assert_eq!(history_entry(&[]), None);
        assert_eq!(history_entry(&[cmd::QUERY, 0xFF, 0xFE]), None);
    }
}
