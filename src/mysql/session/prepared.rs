//! Prepared statements of one session (no I/O). The client sees statement ids of the proxy's
//! own; each backend connection prepares a statement when it first has to run it and keeps its
//! own id for it. COM_STMT_EXECUTE packets are rewritten for the backend they go to: its
//! statement id and, when the client relies on types bound by an earlier execute that went
//! elsewhere, those types.

use std::collections::HashMap;
use std::sync::Arc;

use super::super::codec::{self, HEADER_LEN};
use super::Target;

/// The id MariaDB clients use for "the statement prepared last" (pipelined prepare + execute).
pub const LAST_PREPARED: u32 = u32::MAX;

/// A prepared statement as the client knows it.
#[derive(Debug, Clone)]
pub struct Statement {
    /// The COM_STMT_PREPARE payload (command byte first), to prepare it on other connections.
    pub prepare: Arc<[u8]>,
    pub params: u16,
    /// Parameter types (2 bytes each) of the last execute that bound them.
    pub types: Option<Vec<u8>>,
    /// Where the last execute ran: cursor fetches and resets go there.
    pub last: Option<Target>,
    /// COM_STMT_SEND_LONG_DATA went to the master: the next execute must run there (set
    /// through [`Statements::update`], which counts it).
    long_data: bool,
    /// The last execute opened a cursor (on `last`) that has rows left to fetch (idem).
    cursor: bool,
}

impl Statement {
    pub fn long_data(&self) -> bool {
        self.long_data
    }

    /// Whether the statement holds something on one connection (long data, an open cursor).
    fn holds(&self) -> bool {
        self.long_data || self.cursor
    }
}

/// What [`Statements::update`] may change of a statement.
pub struct Update<'a> {
    pub last: &'a mut Option<Target>,
    pub long_data: &'a mut bool,
    pub cursor: &'a mut bool,
}

/// The session's statements by client id.
#[derive(Debug, Default)]
pub struct Statements {
    map: HashMap<u32, Statement>,
    next: u32,
    last: Option<u32>,
    /// Statements that [`Statement::holds`] something: checked after every command, so kept
    /// counted rather than searched for.
    holding: usize,
}

impl Statements {
    /// The id the next prepared statement gets.
    pub fn next_id(&self) -> u32 {
        self.next.wrapping_add(1).max(1)
    }

    /// Registers a statement the master prepared, under [`Statements::next_id`].
    pub fn add(&mut self, prepare: &[u8], params: u16) -> u32 {
        let id = self.next_id();
        self.next = id;
        self.last = Some(id);
        self.map.insert(
            id,
            Statement {
                prepare: Arc::from(prepare),
                params,
                types: None,
                last: None,
                long_data: false,
                cursor: false,
            },
        );
        id
    }

    /// The client id a packet names ([`LAST_PREPARED`] resolved), if it is known.
    pub fn resolve(&self, id: u32) -> Option<u32> {
        let id = if id == LAST_PREPARED { self.last? } else { id };
        self.map.contains_key(&id).then_some(id)
    }

    pub fn get(&self, id: u32) -> Option<&Statement> {
        self.map.get(&id)
    }

    pub fn get_mut(&mut self, id: u32) -> Option<&mut Statement> {
        self.map.get_mut(&id)
    }

    pub fn remove(&mut self, id: u32) -> Option<Statement> {
        if self.last == Some(id) {
            self.last = None;
        }
        let st = self.map.remove(&id)?;
        if st.holds() {
            self.holding -= 1;
        }
        Some(st)
    }

    /// Changes where statement `id` last ran, its long data and cursor flags.
    pub fn update(&mut self, id: u32, f: impl FnOnce(Update<'_>)) {
        let Some(st) = self.map.get_mut(&id) else {
            return;
        };
        let before = st.holds();
        f(Update {
            last: &mut st.last,
            long_data: &mut st.long_data,
            cursor: &mut st.cursor,
        });
        match (before, st.holds()) {
            (false, true) => self.holding += 1,
            (true, false) => self.holding -= 1,
            _ => {}
        }
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Bytes of the statements' texts.
    pub fn bytes(&self) -> usize {
        self.map.values().map(|s| s.prepare.len()).sum()
    }

    /// Whether long data was sent for a statement that has not been executed since.
    pub fn has_long_data(&self) -> bool {
        self.holding > 0 && self.map.values().any(|s| s.long_data)
    }

    /// Whether a statement has an open cursor on `target`'s connection.
    pub fn cursor_on(&self, target: Target) -> bool {
        self.holding > 0
            && self
                .map
                .values()
                .any(|s| s.cursor && s.last == Some(target))
    }

    /// Forgets every statement (COM_RESET_CONNECTION, COM_CHANGE_USER).
    pub fn clear(&mut self) {
        self.map.clear();
        self.last = None;
        self.holding = 0;
    }
}

/// The statement id of a COM_STMT_* payload (command byte first).
pub fn stmt_id(payload: &[u8]) -> Option<u32> {
    let b = payload.get(1..5)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// Writes `id` into a COM_STMT_* frame (header first), in place.
pub fn set_stmt_id(frame: &mut [u8], id: u32) {
    if let Some(b) = frame.get_mut(HEADER_LEN + 1..HEADER_LEN + 5) {
        b.copy_from_slice(&id.to_le_bytes());
    }
}

/// The parameter block of a COM_STMT_EXECUTE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecTypes<'a> {
    /// The statement has no parameters.
    NoParams,
    /// `new_params_bound_flag` = 1: these types follow.
    Bound(&'a [u8]),
    /// `new_params_bound_flag` = 0: the server must remember the types of an earlier execute.
    Unbound,
}

/// A COM_STMT_EXECUTE too short for the statement's parameter count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("malformed COM_STMT_EXECUTE: {0}")]
pub struct ExecError(&'static str);

/// Fixed part of COM_STMT_EXECUTE: command, statement id, flags, iteration count.
const EXEC_FIXED: usize = 10;

fn bound_flag_at(params: u16) -> usize {
    EXEC_FIXED + usize::from(params).div_ceil(8)
}

/// Reads the parameter types of a COM_STMT_EXECUTE payload for a statement of `params`.
pub fn exec_types(payload: &[u8], params: u16) -> Result<ExecTypes<'_>, ExecError> {
    if payload.len() < EXEC_FIXED {
        return Err(ExecError("shorter than its fixed part"));
    }
    if params == 0 {
        return Ok(ExecTypes::NoParams);
    }
    let at = bound_flag_at(params);
    match payload.get(at) {
        None => Err(ExecError("no new_params_bound_flag")),
        Some(0) => Ok(ExecTypes::Unbound),
        Some(1) => payload
            .get(at + 1..at + 1 + 2 * usize::from(params))
            .map(ExecTypes::Bound)
            .ok_or(ExecError("parameter types cut short")),
        Some(_) => Err(ExecError("new_params_bound_flag is neither 0 nor 1")),
    }
}

/// The COM_STMT_EXECUTE `frame` (one chunk, header first, flag 0) with `types` bound: the flag
/// set to 1 and the types inserted after it. `None` if it cannot be rewritten.
pub fn bind_types(frame: &[u8], params: u16, types: &[u8]) -> Option<Vec<u8>> {
    let payload = frame.get(HEADER_LEN..)?;
    let at = bound_flag_at(params);
    if params == 0 || payload.get(at) != Some(&0) || types.len() != 2 * usize::from(params) {
        return None;
    }
    let (before, after) = (&payload[..at], &payload[at + 1..]);
    codec::frame(frame[3], &[before, &[1], types, after])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_data_and_cursors_are_counted() {
        let mut s = Statements::default();
        let a = s.add(b"\x16SELECT ?", 1);
        let b = s.add(b"\x16SELECT 2", 0);
        assert!(!s.has_long_data() && !s.cursor_on(Target::Reader));
        s.update(a, |st| *st.long_data = true);
        s.update(b, |st| {
            *st.last = Some(Target::Reader);
            *st.cursor = true;
        });
        assert!(s.has_long_data());
        assert!(s.cursor_on(Target::Reader) && !s.cursor_on(Target::Master));
        s.update(a, |st| *st.long_data = false);
        assert!(!s.has_long_data());
        s.remove(b);
        assert!(!s.cursor_on(Target::Reader));
        assert_eq!(s.holding, 0);
        s.update(a, |st| *st.cursor = true);
        s.clear();
        assert_eq!(s.holding, 0);
    }

    fn frame(payload: &[u8]) -> Vec<u8> {
        let mut f = (payload.len() as u32).to_le_bytes()[..3].to_vec();
        f.push(0);
        f.extend_from_slice(payload);
        f
    }

    /// COM_STMT_EXECUTE of statement 7 with two parameters (both non-null, BIGINT and VARCHAR).
    fn execute(bound: bool) -> Vec<u8> {
        let mut p = vec![0x17, 7, 0, 0, 0, 0, 1, 0, 0, 0, 0b00];
        if bound {
            p.extend_from_slice(&[1, 0x08, 0x00, 0x0F, 0x00]);
        } else {
            p.push(0);
        }
        p.extend_from_slice(&5i64.to_le_bytes());
        p.extend_from_slice(&[2, b'h', b'i']);
        p
    }

    #[test]
    fn ids_and_last_prepared() {
        let mut s = Statements::default();
        assert_eq!(s.resolve(LAST_PREPARED), None);
        let a = s.add(b"\x16SELECT ?", 1);
        let b = s.add(b"\x16SELECT 2", 0);
        assert_eq!((a, b), (1, 2));
        assert_eq!(s.resolve(LAST_PREPARED), Some(2));
        assert_eq!(s.resolve(1), Some(1));
        assert_eq!(s.resolve(3), None);
        assert_eq!(&s.get(1).unwrap().prepare[1..], b"SELECT ?");
        s.remove(2);
        assert_eq!(s.resolve(LAST_PREPARED), None);
        assert_eq!(s.next_id(), 3);
        s.clear();
        assert!(s.is_empty());
    }

    #[test]
    fn statement_ids_in_frames() {
        let mut f = frame(&execute(true));
        assert_eq!(stmt_id(&f[HEADER_LEN..]), Some(7));
        set_stmt_id(&mut f, 0x0102_0304);
        assert_eq!(stmt_id(&f[HEADER_LEN..]), Some(0x0102_0304));
        assert_eq!(stmt_id(&[0x17, 1, 2]), None);
        let mut short = vec![0, 0, 0, 0, 0x19];
        set_stmt_id(&mut short, 1); // too short: left alone
        assert_eq!(short, [0, 0, 0, 0, 0x19]);
    }

    #[test]
    fn execute_types() {
        assert_eq!(
            exec_types(&execute(true), 2),
            Ok(ExecTypes::Bound(&[0x08, 0x00, 0x0F, 0x00]))
        );
        assert_eq!(exec_types(&execute(false), 2), Ok(ExecTypes::Unbound));
        assert_eq!(
            exec_types(&[0x17, 1, 0, 0, 0, 0, 1, 0, 0, 0], 0),
            Ok(ExecTypes::NoParams)
        );
    }

    #[test]
    fn malformed_executes_are_rejected() {
        assert!(exec_types(&[0x17, 1, 0, 0, 0], 0).is_err());
        assert!(exec_types(&[0x17, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0], 2).is_err());
        let mut p = execute(true);
        p.truncate(13);
        assert!(exec_types(&p, 2).is_err());
        let mut p = execute(true);
        p[11] = 2;
        assert!(exec_types(&p, 2).is_err());
    }

    #[test]
    fn binding_types_from_an_earlier_execute() {
        let unbound = frame(&execute(false));
        let out = bind_types(&unbound, 2, &[0x08, 0x00, 0x0F, 0x00]).unwrap();
        assert_eq!(&out[..], &frame(&execute(true))[..]);
        assert!(bind_types(&frame(&execute(true)), 2, &[0x08, 0, 0x0F, 0]).is_none());
        assert!(bind_types(&unbound, 2, &[0x08, 0]).is_none());
        // No parameters: no flag to set (found by the mysql_stmt fuzz target).
        let none = frame(&[0x17, 7, 0, 0, 0, 0, 1, 0, 0, 0, 0]);
        assert!(bind_types(&none, 0, &[]).is_none());
    }
}
