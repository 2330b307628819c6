//! Table-driven tests: each row is a statement, its kind, its route in an autocommit session
//! without temporary tables, and its exact flags.

use super::*;

mod reads;
mod routes;
mod safety;
mod writes;

pub(super) use super::StatementKind as K;

pub(super) type Row = (&'static str, StatementKind, Route<'static>, Flags);

pub(super) const N: Flags = Flags::empty();
pub(super) const M: Route = Route::Master;
pub(super) const R: Route = Route::Reader;
pub(super) const A: Route = Route::All;
pub(super) const L: Route = Route::LastUsed;
pub(super) const B: StatementKind = StatementKind::Begin { read_only: None };

pub(super) fn check(rows: &[Row]) {
    let ctx = SessionContext::default();
    let mut failures = Vec::new();
    for &(sql, kind, want, flags) in rows {
        let c = classify(sql.as_bytes());
        let got = route(&c, &ctx);
        if c.kind != kind || got != want || c.flags != flags {
            failures.push(format!(
                "{sql:?}\n   want {kind:?} {want:?} {flags:?}\n    got {:?} {got:?} {:?}",
                c.kind, c.flags
            ));
        }
        if got != Route::Master && got != Route::All {
            assert!(
                matches!(
                    c.kind,
                    K::Read
                        | K::Begin {
                            read_only: Some(true)
                        }
                ),
                "only reads leave the master: {sql:?}"
            );
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Rejected or odd inputs: all `Unknown`, all to the master.
const ODD: &[&[u8]] = &[
    b"",
    b"   ",
    b"\n\t ",
    b";",
    b";;",
    b"-- only a comment",
    b"# only a comment",
    b"/* only a comment */",
    b"/* one */ -- two\n# three",
    b"/* unterminated comment",
    b"SELECT 1 /* unterminated",
    b"SELECT 'unterminated",
    b"SELECT \"unterminated",
    b"SELECT `unterminated",
    b"SELECT 'escaped quote at end\\'",
    b"SELECT /*! 1",
    b"/*!50000 SELECT 1",
    b"/*M!100100 SELECT 1",
    b"/*!50000 SELECT /*!50000 1 */ */",
    b"SELECT \xff",
    b"SELECT '\xc3'",
    b"\xfe\xff",
    b"SELECT * FROM t WHERE a = '\x80\x81'",
    b"\0",
    b"(",
    b"((",
    b")",
    b"*/ SELECT 1",
    b"123",
    b"'SELECT 1'",
    b"`SELECT` 1",
    b"@x := 1",
    b"FOOBAR",
    b"SELEC 1",
    b"GET x",
    b"SHOW",
    b"EXPLAIN",
    b"SET",
    b"SET STATEMENT a = 1",
    b"SET STATEMENT a = 1 FOR SET STATEMENT b = 1 FOR SELECT 1",
    b"START TRANSACTION READ",
    b"START TRANSACTION WITH SNAPSHOT",
    b"WITH c AS (SELECT 1)",
    b"; SELECT 1",
];

#[test]
fn odd_inputs_are_unknown_and_go_to_master() {
    let ctx = SessionContext::default();
    for sql in ODD {
        let c = classify(sql);
        assert_eq!(c.kind, K::Unknown, "{:?}", String::from_utf8_lossy(sql));
        assert_eq!(route(&c, &ctx), M, "{:?}", String::from_utf8_lossy(sql));
    }
}

#[test]
fn unknown_never_goes_to_a_reader_even_with_a_hint() {
    let ctx = SessionContext::default();
    for sql in [
        "/* maxscale route to slave */ FOOBAR",
        "SELECT 'x -- maxscale route to slave",
        "-- maxscale route to slave",
        "/* maxscale route to server db2 */",
    ] {
        let c = classify(sql.as_bytes());
        assert_eq!((c.kind, route(&c, &ctx)), (K::Unknown, M), "{sql:?}");
    }
}

#[test]
fn hints_in_every_form() {
    #[rustfmt::skip]
    let rows: &[(&str, Option<Hint>)] = &[
        ("SELECT 1 -- maxscale route to master", Some(Hint::Master)),
        ("-- maxscale route to master\nSELECT 1", Some(Hint::Master)),
        ("/* maxscale route to master */ SELECT 1", Some(Hint::Master)),
        ("SELECT /* maxscale route to slave */ 1", Some(Hint::Slave)),
        ("# maxscale route to master\nSELECT 1", Some(Hint::Master)),
        ("SELECT 1 # datagate route to slave", Some(Hint::Slave)),
        ("SELECT 1 /* datagate route to server db2 */", Some(Hint::Server("db2"))),
        ("SELECT 1 -- maxscale route to server db-3\n", Some(Hint::Server("db-3"))),
        ("SELECT 1 -- maxscale route to last", Some(Hint::Last)),
        ("SELECT 1 /* MAXSCALE ROUTE TO MASTER */", Some(Hint::Master)),
        ("SELECT 1 /*+ maxscale route to master */", Some(Hint::Master)),
        ("SELECT 1;\n-- maxscale route to slave", Some(Hint::Slave)),
        ("/* maxscale route to slave */ SELECT /* maxscale route to master */ 1", Some(Hint::Slave)),
        ("SELECT 1 -- maxscale route to nowhere", None),
        ("SELECT '-- maxscale route to master'", None),
        ("SELECT '/* maxscale route to master */'", None),
        ("SELECT 1 --maxscale route to master", None),
        ("SELECT 1 /* route to master */", None),
    ];
    for &(sql, want) in rows {
        assert_eq!(classify(sql.as_bytes()).hint, want, "{sql:?}");
    }
}

#[test]
fn tables_are_collected() {
    #[rustfmt::skip]
    let rows: &[(&str, &[&str])] = &[
        ("SELECT * FROM t", &["t"]),
        ("SELECT * FROM db.t", &["t"]),
        ("SELECT * FROM `db`.`my table`", &["my table"]),
        ("SELECT * FROM t1, t2 AS b, t3 c WHERE 1", &["t1", "t2", "t3"]),
        ("SELECT * FROM t1 JOIN t2 ON 1 LEFT JOIN t3 USING (a)", &["t1", "t2", "t3"]),
        ("SELECT * FROM t WHERE a IN (SELECT b FROM u)", &["t", "u"]),
        ("SELECT * FROM t FOR UPDATE", &["t"]),
        ("SELECT 1 FROM DUAL", &[]),
        ("INSERT INTO t VALUES (1)", &["t"]),
        ("INSERT INTO db.t (a) SELECT a FROM u", &["t", "u"]),
        ("UPDATE t SET a = 1", &["t"]),
        ("UPDATE t1, t2 SET t1.a = t2.a", &["t1", "t2"]),
        ("DELETE FROM t WHERE a = 1", &["t"]),
        ("CREATE TEMPORARY TABLE IF NOT EXISTS tmp (a INT)", &["tmp"]),
        ("CREATE TEMPORARY TABLE tmp AS SELECT * FROM t", &["tmp", "t"]),
        ("DROP TEMPORARY TABLE IF EXISTS a, b", &["a", "b"]),
        ("DESCRIBE t", &["t"]),
        ("SHOW CREATE TABLE t", &["t"]),
        ("SHOW COLUMNS FROM t", &["t"]),
        ("TABLE t", &["t"]),
        ("LOCK TABLES a READ, b WRITE, c LOW_PRIORITY WRITE", &["a", "b", "c"]),
        ("SELECT * FROM T JOIN t", &["T"]),
        ("WITH c AS (SELECT * FROM t) SELECT * FROM c", &["t", "c"]),
    ];
    for &(sql, want) in rows {
        let c = classify(sql.as_bytes());
        let got: Vec<_> = c
            .tables
            .as_slice()
            .iter()
            .map(|t| String::from_utf8_lossy(t))
            .collect();
        assert_eq!(got, want, "{sql:?}");
        assert!(!c.tables.overflowed());
    }
    let many = classify(b"SELECT * FROM a, b, c, d, e, f, g, h, i, j");
    assert!(many.tables.overflowed());
    assert_eq!(many.tables.as_slice().len(), Tables::CAPACITY);
}

#[test]
fn flags_debug_names_them() {
    let f = Flags::LOCKING_READ | Flags::MASTER_ONLY;
    assert_eq!(format!("{f:?}"), "{LOCKING_READ, MASTER_ONLY}");
}
