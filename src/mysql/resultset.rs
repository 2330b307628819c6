//! Text-protocol result sets (no I/O): column count, column definitions (Protocol::ColumnDefinition41)
//! and text rows, enough to read and write result sets of strings and NULLs.

use super::codec::{Reader, put_lenenc_bytes, put_lenenc_int};
use super::packets::PacketError;

/// Marker of a NULL value in a text row.
const NULL: u8 = 0xFB;

fn trunc(what: &'static str) -> PacketError {
    PacketError::Truncated(what)
}

/// Decodes the column-count packet that starts a result set.
pub fn parse_column_count(payload: &[u8]) -> Result<u64, PacketError> {
    let mut r = Reader::new(payload);
    match r.lenenc_int() {
        Some(n) if n > 0 && r.remaining() == 0 => Ok(n),
        _ => Err(PacketError::Unexpected {
            what: "column count",
            got: payload.first().copied().unwrap_or(0),
        }),
    }
}

/// Encodes a column-count packet.
pub fn column_count(n: u64) -> Vec<u8> {
    let mut b = Vec::with_capacity(9);
    put_lenenc_int(&mut b, n);
    b
}

/// One column definition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ColumnDef {
    pub schema: String,
    pub table: String,
    pub org_table: String,
    pub name: String,
    pub org_name: String,
    pub charset: u16,
    pub column_length: u32,
    /// `mysql_common::constants::ColumnType` as a byte.
    pub column_type: u8,
    pub flags: u16,
    pub decimals: u8,
}

impl ColumnDef {
    /// A `VARCHAR`-typed utf8mb4 column called `name`, for synthetic result sets.
    pub fn varchar(name: &str) -> ColumnDef {
        ColumnDef {
            name: name.to_string(),
            org_name: name.to_string(),
            charset: 45,
            column_length: 1024,
            column_type: 0xFD,
            ..ColumnDef::default()
        }
    }

    /// Decodes a ColumnDefinition41 payload.
    pub fn parse(payload: &[u8]) -> Result<ColumnDef, PacketError> {
        let mut r = Reader::new(payload);
        let mut s = || {
            r.lenenc_bytes()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .ok_or_else(|| trunc("column definition"))
        };
        let _catalog = s()?;
        let (schema, table, org_table, name, org_name) = (s()?, s()?, s()?, s()?, s()?);
        let fixed_len = r.lenenc_int().ok_or_else(|| trunc("column definition"))?;
        if fixed_len < 10 {
            return Err(trunc("column definition"));
        }
        Ok(ColumnDef {
            schema,
            table,
            org_table,
            name,
            org_name,
            charset: r.u16().ok_or_else(|| trunc("column charset"))?,
            column_length: r.u32().ok_or_else(|| trunc("column length"))?,
            column_type: r.u8().ok_or_else(|| trunc("column type"))?,
            flags: r.u16().ok_or_else(|| trunc("column flags"))?,
            decimals: r.u8().ok_or_else(|| trunc("column decimals"))?,
        })
    }

    /// Encodes the definition.
    pub fn build(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(64);
        for s in [
            "def",
            &self.schema,
            &self.table,
            &self.org_table,
            &self.name,
            &self.org_name,
        ] {
            put_lenenc_bytes(&mut b, s.as_bytes());
        }
        b.push(0x0C);
        b.extend_from_slice(&self.charset.to_le_bytes());
        b.extend_from_slice(&self.column_length.to_le_bytes());
        b.push(self.column_type);
        b.extend_from_slice(&self.flags.to_le_bytes());
        b.push(self.decimals);
        b.extend_from_slice(&[0, 0]);
        b
    }
}

/// Decodes a text row of `columns` values (`None` = NULL).
pub fn parse_text_row(payload: &[u8], columns: usize) -> Result<Vec<Option<Vec<u8>>>, PacketError> {
    let mut r = Reader::new(payload);
    let mut row = Vec::with_capacity(columns.min(4096));
    for _ in 0..columns {
        if r.peek() == Some(NULL) {
            r.u8();
            row.push(None);
        } else {
            row.push(Some(
                r.lenenc_bytes().ok_or_else(|| trunc("text row"))?.to_vec(),
            ));
        }
    }
    if r.remaining() != 0 {
        return Err(PacketError::Unexpected {
            what: "text row (extra bytes)",
            got: r.peek().unwrap_or(0),
        });
    }
    Ok(row)
}

/// Encodes a text row.
pub fn build_text_row<T: AsRef<[u8]>>(values: &[Option<T>]) -> Vec<u8> {
    let mut b = Vec::new();
    for v in values {
        match v {
            Some(v) => put_lenenc_bytes(&mut b, v.as_ref()),
            None => b.push(NULL),
        }
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_round_trip() {
        let c = ColumnDef {
            schema: "appdb".into(),
            table: "t".into(),
            ..ColumnDef::varchar("Variable_name")
        };
        assert_eq!(ColumnDef::parse(&c.build()), Ok(c.clone()));
        let b = c.build();
        for n in 0..b.len() - 2 {
            assert!(ColumnDef::parse(&b[..n]).is_err(), "prefix {n}");
        }
    }

    #[test]
    fn column_count_forms() {
        assert_eq!(parse_column_count(&column_count(3)), Ok(3));
        assert_eq!(parse_column_count(&column_count(300)), Ok(300));
        assert!(parse_column_count(&[]).is_err());
        assert!(parse_column_count(&[0]).is_err());
        assert!(parse_column_count(&[0xFC, 1]).is_err());
        assert!(parse_column_count(&[2, 9]).is_err());
    }

    #[test]
    fn rows_with_nulls() {
        let row: Vec<Option<&str>> = vec![Some("wsrep_ready"), None, Some("")];
        let b = build_text_row(&row);
        let got = parse_text_row(&b, 3).unwrap();
        assert_eq!(got, vec![Some(b"wsrep_ready".to_vec()), None, Some(vec![])]);
        assert!(parse_text_row(&b, 4).is_err());
        assert!(parse_text_row(&b, 2).is_err());
        assert!(parse_text_row(&b[..b.len() - 3], 3).is_err());
    }
}
