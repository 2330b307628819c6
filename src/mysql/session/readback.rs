//! Variables a statement set on the master (`SET @x = f()`, `SELECT @x := …`, `… INTO @x`)
//! are read back from it and handed to the session's other connections, and to its history,
//! as literals: the statement itself runs once, on the master only, and every connection sees
//! the same values.

use super::super::classify::{AssignedVar, Classification, assigned_vars};
use super::super::codec::Reader;
use super::super::conn::{Receive, Sink, one_packet};
use super::super::packets::CapabilityFlags;
use super::super::reply::cmd;
use super::super::resultset::{ColumnDef, parse_column_count, parse_text_row};
use super::Session;

/// Columns read back per variable: the value, its character set, its collation, its bytes.
const PER_VAR: usize = 4;

/// `SELECT` reading `vars` back, [`PER_VAR`] columns each.
pub fn read_back_query(vars: &[AssignedVar]) -> String {
    let cols: Vec<String> = vars
        .iter()
        .map(|v| {
            let e = v.expr();
            format!("{e}, CHARSET({e}), COLLATION({e}), HEX({e})")
        })
        .collect();
    format!("SELECT {}", cols.join(", "))
}

fn is_name(b: &[u8]) -> bool {
    !b.is_empty() && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

fn is_number(b: &[u8], extra: &[u8]) -> bool {
    !b.is_empty()
        && b.iter()
            .all(|c| c.is_ascii_digit() || *c == b'-' || extra.contains(c))
}

/// The literal giving a variable the value read back: `column_type` of its value column and
/// the four values of [`read_back_query`]. `None` for anything it cannot write exactly.
pub fn literal(column_type: u8, values: &[Option<Vec<u8>>]) -> Option<String> {
    let [value, charset, collation, hex] = values else {
        return None;
    };
    let Some(value) = value else {
        return Some("NULL".into());
    };
    let text = std::str::from_utf8(value).ok();
    match column_type {
        // Integers (TINY, SHORT, LONG, INT24, LONGLONG).
        0x01 | 0x02 | 0x03 | 0x08 | 0x09 => text
            .filter(|t| is_number(t.as_bytes(), b""))
            .map(str::to_string),
        // DECIMAL, NEWDECIMAL: a literal with the same digits is a DECIMAL of the same scale.
        0x00 | 0xF6 => text
            .filter(|t| is_number(t.as_bytes(), b"."))
            .map(str::to_string),
        // FLOAT, DOUBLE: an exponent makes the literal a DOUBLE.
        0x04 | 0x05 => text.filter(|t| is_number(t.as_bytes(), b".eE+")).map(|t| {
            if t.contains(['e', 'E']) {
                t.to_string()
            } else {
                format!("{t}e0")
            }
        }),
        // Strings, as bytes in their character set and collation.
        _ => {
            let hex = hex
                .as_deref()
                .filter(|h| h.iter().all(u8::is_ascii_hexdigit))?;
            let hex = std::str::from_utf8(hex).ok()?;
            let (cs, coll) = (charset.as_deref()?, collation.as_deref()?);
            if !is_name(cs) || !is_name(coll) {
                return None;
            }
            if cs == b"binary" {
                return Some(format!("_binary X'{hex}'"));
            }
            let (cs, coll) = (String::from_utf8_lossy(cs), String::from_utf8_lossy(coll));
            Some(format!(
                "CONVERT(_binary X'{hex}' USING {cs}) COLLATE {coll}"
            ))
        }
    }
}

/// A text row: each value's bytes, `None` for NULL.
pub type Row = Vec<Option<Vec<u8>>>;

/// The frames of one text result set with a single row: its columns and the row.
pub fn single_row(frames: &[u8], caps: CapabilityFlags) -> Option<(Vec<ColumnDef>, Row)> {
    let mut packets = Vec::new();
    let mut r = Reader::new(frames);
    while r.remaining() > 0 {
        let len = r.uint(3)? as usize;
        r.u8()?;
        packets.push(r.take(len)?);
    }
    let mut it = packets.into_iter();
    let n = usize::try_from(parse_column_count(it.next()?).ok()?).ok()?;
    let mut cols = Vec::with_capacity(n.min(64));
    for _ in 0..n {
        cols.push(ColumnDef::parse(it.next()?).ok()?);
    }
    if !caps.contains(CapabilityFlags::CLIENT_DEPRECATE_EOF) {
        it.next().filter(|p| p.first() == Some(&0xFE))?;
    }
    let row = parse_text_row(it.next()?, n).ok()?;
    Some((cols, row))
}

/// `SET` giving every variable of `vars` its value read back (`frames`), as a COM_QUERY
/// payload; `None` if any value cannot be written exactly.
pub fn literal_set(vars: &[AssignedVar], frames: &[u8], caps: CapabilityFlags) -> Option<Vec<u8>> {
    let (cols, row) = single_row(frames, caps)?;
    if cols.len() != vars.len() * PER_VAR || row.len() != cols.len() {
        return None;
    }
    let mut parts = Vec::with_capacity(vars.len());
    for (i, v) in vars.iter().enumerate() {
        let at = i * PER_VAR;
        let lit = literal(cols[at].column_type, &row[at..at + PER_VAR])?;
        parts.push(format!("{} = {lit}", v.expr()));
    }
    let mut payload = vec![cmd::QUERY];
    payload.extend_from_slice(format!("SET {}", parts.join(", ")).as_bytes());
    Some(payload)
}

impl Session {
    /// After `c` ran on the master and assigned variables: reads them back and gives them to
    /// the reader and the history as literals. When that cannot be done, the values exist on
    /// the master connection only: reads stay there, and losing it ends the session.
    pub(super) async fn copy_vars(&mut self, c: &Classification<'_>) {
        let Some(vars) = assigned_vars(c.sql) else {
            self.state.vars_on_master_only = true;
            return;
        };
        if vars.is_empty() {
            return;
        }
        let caps = self.login.capabilities;
        let mut frames = Vec::new();
        let got = match self.master.as_mut() {
            Some(m) => {
                let q =
                    one_packet(&[&[cmd::QUERY][..], read_back_query(&vars).as_bytes()].concat());
                m.exchange(&q, caps, Sink::Collect(&mut frames), Receive::default())
                    .await
                    .is_ok_and(|o| o.ok())
            }
            None => false,
        };
        let set = got.then(|| literal_set(&vars, &frames, caps)).flatten();
        let fits = |set: &Vec<u8>| self.memory_left(set.len()) > 0 && self.history.fits(set);
        let Some(set) = set.filter(fits) else {
            tracing::warn!(listener = %self.shared.ctx.name, "cannot read back the variables a statement set; they stay on the master connection only");
            self.state.vars_on_master_only = true;
            return;
        };
        if let Some(r) = self.reader.as_mut() {
            let f = one_packet(&set);
            let ok = r
                .exchange(&f, caps, Sink::Discard, Receive::default())
                .await
                .is_ok_and(|o| o.ok());
            if !ok {
                self.reader = None;
            }
        }
        self.history.push(&set);
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::resultset::{build_text_row, column_count};
    use super::*;

    fn v(s: &str) -> Option<Vec<u8>> {
        Some(s.as_bytes().to_vec())
    }

    #[test]
    fn literals_keep_type_and_bytes() {
        let bin = |value: Option<Vec<u8>>, hex: &str| vec![value, v("binary"), v("binary"), v(hex)];
        assert_eq!(literal(0x08, &bin(v("-42"), "2A")).as_deref(), Some("-42"));
        assert_eq!(literal(0xF6, &bin(v("1.50"), "")).as_deref(), Some("1.50"));
        assert_eq!(literal(0x05, &bin(v("0.5"), "")).as_deref(), Some("0.5e0"));
        assert_eq!(
            literal(0x05, &bin(v("1e300"), "")).as_deref(),
            Some("1e300")
        );
        assert_eq!(literal(0x08, &bin(None, "")).as_deref(), Some("NULL"));
        assert_eq!(
            literal(0xFB, &bin(v("\x00'"), "0027")).as_deref(),
            Some("_binary X'0027'")
        );
        let text = vec![v("é"), v("utf8mb4"), v("utf8mb4_general_ci"), v("C3A9")];
        assert_eq!(
            literal(0xFD, &text).as_deref(),
            Some("CONVERT(_binary X'C3A9' USING utf8mb4) COLLATE utf8mb4_general_ci")
        );
    }

    #[test]
    fn unwritable_values_are_refused() {
        assert!(literal(0x08, &[v("1; DROP"), v("binary"), v("binary"), v("")]).is_none());
        assert!(literal(0xF6, &[v("1e5"), v("binary"), v("binary"), v("")]).is_none());
        let bad_cs = vec![v("x"), v("utf8 ; x"), v("utf8_bin"), v("78")];
        assert!(literal(0xFD, &bad_cs).is_none());
        let bad_hex = vec![v("x"), v("utf8"), v("utf8_bin"), v("7G")];
        assert!(literal(0xFD, &bad_hex).is_none());
        assert!(literal(0xFD, &[v("x")]).is_none());
    }

    fn frames(packets: &[Vec<u8>]) -> Vec<u8> {
        packets
            .iter()
            .flat_map(|p| one_packet(p).to_vec())
            .collect()
    }

    #[test]
    fn set_from_a_result_set() {
        let vars = assigned_vars(b"SET @a = f(), @b = g()").unwrap();
        assert_eq!(
            read_back_query(&vars[..1]),
            "SELECT @`a`, CHARSET(@`a`), COLLATION(@`a`), HEX(@`a`)"
        );
        let mut int = ColumnDef::varchar("@a");
        int.column_type = 0x08;
        let s = ColumnDef::varchar("x");
        let cols = [&int, &s, &s, &s, &s, &s, &s, &s];
        let row = build_text_row(&[
            v("7"),
            v("binary"),
            v("binary"),
            v("7"),
            v("hi"),
            v("latin1"),
            v("latin1_swedish_ci"),
            v("6869"),
        ]);
        let mut packets = vec![column_count(8)];
        packets.extend(cols.iter().map(|c| c.build()));
        packets.push(vec![0xFE, 0, 0, 2, 0]);
        packets.push(row);
        packets.push(vec![0xFE, 0, 0, 2, 0]);
        let f = frames(&packets);
        let caps = CapabilityFlags::CLIENT_PROTOCOL_41;
        let set = literal_set(&vars, &f, caps).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&set[1..]),
            "SET @`a` = 7, @`b` = CONVERT(_binary X'6869' USING latin1) COLLATE latin1_swedish_ci"
        );
        assert!(
            literal_set(&vars[..1], &f, caps).is_none(),
            "column count mismatch"
        );
        assert!(
            literal_set(&vars, &f[..f.len() - 12], caps).is_none(),
            "cut short"
        );
        assert!(single_row(&f, caps | CapabilityFlags::CLIENT_DEPRECATE_EOF).is_none());
    }
}
