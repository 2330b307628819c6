//! Where a server's reply to one command ends (no I/O): the proxy relays reply packets as they
//! arrive and feeds each packet's first bytes to a [`ReplyTracker`], which says when the reply is
//! complete, when the client must send a `LOAD DATA LOCAL` file, and the last status flags.

use super::codec::MAX_CHUNK;
use super::packets::{CapabilityFlags, EofPacket, OkPacket, StatusFlags};
use super::resultset::parse_column_count;

/// Command bytes the proxy treats specially.
pub mod cmd {
    pub const QUIT: u8 = 0x01;
    pub const INIT_DB: u8 = 0x02;
    pub const QUERY: u8 = 0x03;
    pub const FIELD_LIST: u8 = 0x04;
    pub const STATISTICS: u8 = 0x09;
    pub const PROCESS_INFO: u8 = 0x0A;
    pub const PING: u8 = 0x0E;
    pub const CHANGE_USER: u8 = 0x11;
    pub const BINLOG_DUMP: u8 = 0x12;
    pub const REGISTER_SLAVE: u8 = 0x15;
    pub const STMT_PREPARE: u8 = 0x16;
    pub const STMT_EXECUTE: u8 = 0x17;
    pub const STMT_SEND_LONG_DATA: u8 = 0x18;
    pub const STMT_CLOSE: u8 = 0x19;
    pub const STMT_RESET: u8 = 0x1A;
    pub const SET_OPTION: u8 = 0x1B;
    pub const STMT_FETCH: u8 = 0x1C;
    pub const BINLOG_DUMP_GTID: u8 = 0x1E;
    pub const RESET_CONNECTION: u8 = 0x1F;
    pub const STMT_BULK_EXECUTE: u8 = 0xFA;
}

/// What the relay does after a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// More reply packets follow.
    More,
    /// The reply is complete.
    Done,
    /// The server asked for a local file: relay the client's packets up to an empty one, then
    /// keep reading the reply.
    LocalInfile,
}

/// A reply packet the tracker cannot make sense of.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed reply packet: {0}")]
pub struct ReplyError(pub &'static str);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// OK, ERR, local infile request or a column count.
    First,
    /// Column definitions still to come, then (without DEPRECATE_EOF) an EOF.
    Columns {
        left: u64,
    },
    ColumnsEof,
    Rows,
    /// After a COM_STMT_PREPARE OK: parameter then column definitions.
    Prepare {
        params: u64,
        cols: u64,
    },
    /// Exactly one packet of any kind (COM_STATISTICS).
    Single,
    /// Rows only (COM_STMT_FETCH), or column definitions only (COM_FIELD_LIST).
    RowsOnly,
    Done,
}

/// Follows one reply.
#[derive(Debug, Clone)]
pub struct ReplyTracker {
    caps: CapabilityFlags,
    state: State,
    prepare: bool,
    /// Status flags of the last OK/EOF seen.
    pub status: Option<StatusFlags>,
    /// Warnings of the last OK/EOF seen.
    pub warnings: u16,
    /// `last_insert_id` of the last OK seen.
    pub insert_id: u64,
    /// True once an ERR packet ended (part of) the reply.
    pub error: bool,
    /// Whether the last packet fed was an OK, EOF or ERR (not a column definition or a row).
    pub last_was_status: bool,
}

/// True if the command gets no reply at all.
pub fn has_no_reply(command: u8) -> bool {
    matches!(
        command,
        cmd::STMT_CLOSE | cmd::STMT_SEND_LONG_DATA | cmd::QUIT
    )
}

impl ReplyTracker {
    /// Tracks the reply to `command` under the negotiated `caps`.
    pub fn new(command: u8, caps: CapabilityFlags) -> ReplyTracker {
        let state = match command {
            cmd::STATISTICS => State::Single,
            cmd::STMT_FETCH | cmd::FIELD_LIST => State::RowsOnly,
            _ => State::First,
        };
        ReplyTracker {
            caps,
            state,
            prepare: command == cmd::STMT_PREPARE,
            status: None,
            warnings: 0,
            insert_id: 0,
            error: false,
            last_was_status: false,
        }
    }

    fn deprecate_eof(&self) -> bool {
        self.caps.contains(CapabilityFlags::CLIENT_DEPRECATE_EOF)
    }

    fn after_result(&mut self, status: StatusFlags, warnings: u16) -> Step {
        self.status = Some(status);
        self.warnings = warnings;
        self.last_was_status = true;
        if status.contains(StatusFlags::SERVER_MORE_RESULTS_EXISTS) {
            self.state = State::First;
            Step::More
        } else {
            self.state = State::Done;
            Step::Done
        }
    }

    /// Feeds one logical packet: `head` is its payload (or the first 16 MiB chunk of it) and
    /// `len` its whole payload length.
    pub fn feed(&mut self, head: &[u8], len: usize) -> Result<Step, ReplyError> {
        let first = head.first().copied();
        let small = len < MAX_CHUNK;
        self.last_was_status = false;
        if first == Some(0xFF) && head.get(1..3) == Some(&[0xFF, 0xFF]) && small {
            // A MariaDB progress report (MARIADB_CLIENT_PROGRESS), not an error.
            return Ok(Step::More);
        }
        if first == Some(0xFF) && small && self.state != State::Single {
            self.error = true;
            self.last_was_status = true;
            self.state = State::Done;
            return Ok(Step::Done);
        }
        let is_eof = first == Some(0xFE) && (len < 9 || (self.deprecate_eof() && small));
        match self.state {
            State::Done => Err(ReplyError("packet after the end of the reply")),
            State::Single => {
                self.state = State::Done;
                Ok(Step::Done)
            }
            State::First => match first {
                Some(0x00) if small => {
                    if self.prepare_ok(head)? {
                        self.last_was_status = true;
                        return Ok(self.prepare_next());
                    }
                    let ok = OkPacket::parse(head, self.caps).map_err(|_| ReplyError("OK"))?;
                    self.insert_id = ok.last_insert_id;
                    Ok(self.after_result(ok.status, ok.warnings))
                }
                Some(0xFB) if small => Ok(Step::LocalInfile),
                Some(0xFE) if len < 9 => {
                    // COM_SET_OPTION and old servers answer some commands with an EOF.
                    let eof = EofPacket::parse(head).map_err(|_| ReplyError("EOF"))?;
                    Ok(self.after_result(eof.status, eof.warnings))
                }
                _ => {
                    let n = parse_column_count(head).map_err(|_| ReplyError("column count"))?;
                    self.state = State::Columns { left: n };
                    Ok(Step::More)
                }
            },
            State::Columns { left } => {
                if left > 1 {
                    self.state = State::Columns { left: left - 1 };
                } else if self.deprecate_eof() {
                    self.state = State::Rows;
                } else {
                    self.state = State::ColumnsEof;
                }
                Ok(Step::More)
            }
            State::ColumnsEof => {
                if !is_eof {
                    return Err(ReplyError("expected EOF after the columns"));
                }
                let eof = EofPacket::parse(head).map_err(|_| ReplyError("EOF"))?;
                if eof
                    .status
                    .contains(StatusFlags::SERVER_STATUS_CURSOR_EXISTS)
                {
                    // A cursor was opened: rows come with COM_STMT_FETCH.
                    return Ok(self.after_result(eof.status, eof.warnings));
                }
                self.state = State::Rows;
                Ok(Step::More)
            }
            State::Rows | State::RowsOnly => {
                if !is_eof {
                    return Ok(Step::More);
                }
                let (status, warnings) = if self.deprecate_eof() {
                    OkPacket::parse(head, self.caps)
                        .map(|o| (o.status, o.warnings))
                        .or_else(|_| EofPacket::parse(head).map(|e| (e.status, e.warnings)))
                } else {
                    EofPacket::parse(head).map(|e| (e.status, e.warnings))
                }
                .map_err(|_| ReplyError("end of rows"))?;
                Ok(self.after_result(status, warnings))
            }
            State::Prepare { params, cols } => {
                // One definition, or the EOF closing a list when DEPRECATE_EOF is off.
                self.state = match (params, cols) {
                    (p, c) if p > 0 => State::Prepare {
                        params: p - 1,
                        cols: c,
                    },
                    (0, c) if c > 0 => State::Prepare {
                        params: 0,
                        cols: c - 1,
                    },
                    _ => State::Done,
                };
                Ok(self.prepare_next())
            }
        }
    }

    /// For a COM_STMT_PREPARE OK: the numbers of parameter and column packets to expect.
    fn prepare_ok(&mut self, head: &[u8]) -> Result<bool, ReplyError> {
        if self.state != State::First || !self.prepare || self.status.is_some() {
            return Ok(false);
        }
        let get = |i: usize| head.get(i).copied().map(u64::from);
        let field = |a: usize| -> Result<u64, ReplyError> {
            Ok(get(a).ok_or(ReplyError("prepare OK"))?
                | get(a + 1).ok_or(ReplyError("prepare OK"))? << 8)
        };
        let (cols, params) = (field(5)?, field(7)?);
        let eof = u64::from(!self.deprecate_eof());
        let with_eof = |n: u64| if n > 0 { n + eof } else { 0 };
        self.state = State::Prepare {
            params: with_eof(params),
            cols: with_eof(cols),
        };
        Ok(true)
    }

    fn prepare_next(&mut self) -> Step {
        match self.state {
            State::Prepare { params: 0, cols: 0 } | State::Done => {
                self.state = State::Done;
                Step::Done
            }
            _ => Step::More,
        }
    }
}

#[cfg(test)]
mod tests;
