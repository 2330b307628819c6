//! Routing under session state: transactions, autocommit, locks, temporary tables, hints.

use super::*;

fn route_in(sql: &str, ctx: &SessionContext) -> Route<'static> {
    let sql: &'static str = Box::leak(sql.to_owned().into_boxed_str());
    route(&classify(sql.as_bytes()), ctx)
}

fn check_in(ctx: &SessionContext, rows: &[(&str, Route)]) {
    for &(sql, want) in rows {
        assert_eq!(route_in(sql, ctx), want, "{sql:?}");
    }
}

#[test]
fn inside_a_transaction_everything_goes_to_the_master() {
    let ctx = SessionContext {
        in_transaction: true,
        ..Default::default()
    };
    check_in(
        &ctx,
        &[
            ("SELECT 1", M),
            ("SHOW TABLES", M),
            ("SHOW WARNINGS", M),
            ("SELECT * FROM t -- maxscale route to slave", M),
            ("SELECT 1 /* maxscale route to server db2 */", M),
            ("SELECT 1 -- maxscale route to last", M),
            ("INSERT INTO t VALUES (1) -- maxscale route to slave", M),
            ("COMMIT", M),
            ("ROLLBACK", M),
            ("BEGIN", M),
            ("START TRANSACTION READ ONLY", M),
            ("SET @x = 1", A),
            ("SET autocommit = 1", A),
            ("USE db", A),
        ],
    );
}

#[test]
fn autocommit_off_or_locked_tables_act_as_a_transaction() {
    for ctx in [
        SessionContext {
            autocommit: false,
            ..Default::default()
        },
        SessionContext {
            tables_locked: true,
            ..Default::default()
        },
    ] {
        check_in(
            &ctx,
            &[
                ("SELECT 1", M),
                ("SELECT 1 -- maxscale route to slave", M),
                ("SHOW TABLES", M),
                ("SET NAMES utf8", A),
                ("START TRANSACTION READ ONLY", R),
                ("BEGIN", M),
            ],
        );
    }
}

#[test]
fn read_only_transaction_stays_on_its_reader() {
    let ctx = SessionContext {
        in_transaction: true,
        read_only_transaction: true,
        ..Default::default()
    };
    check_in(
        &ctx,
        &[
            ("SELECT 1", L),
            ("SELECT * FROM t FOR UPDATE", L),
            ("SELECT 1 -- maxscale route to master", L),
            ("SHOW WARNINGS", L),
            ("INSERT INTO t VALUES (1)", L),
            ("COMMIT", L),
            ("ROLLBACK", L),
            ("BEGIN", L),
            ("SET @x = 1", A),
            ("FOOBAR", M),
            ("SELECT 1; SELECT 2", M),
        ],
    );
}

#[test]
fn session_default_access_mode_applies_to_begin() {
    let ctx = SessionContext {
        next_transaction_read_only: true,
        ..Default::default()
    };
    check_in(
        &ctx,
        &[
            ("BEGIN", R),
            ("START TRANSACTION", R),
            ("START TRANSACTION READ WRITE", M),
            ("START TRANSACTION READ ONLY", R),
        ],
    );
}

#[test]
fn temporary_tables_pin_reads_to_the_master() {
    let temp = vec!["tmp".to_owned()];
    let ctx = SessionContext {
        temp_tables: &temp,
        ..Default::default()
    };
    check_in(
        &ctx,
        &[
            ("SELECT * FROM tmp", M),
            ("SELECT * FROM TMP", M),
            ("SELECT * FROM db.tmp", M),
            ("SELECT * FROM `tmp`", M),
            ("SELECT * FROM t JOIN tmp ON 1", M),
            ("SELECT * FROM t, tmp", M),
            ("SELECT * FROM t WHERE a IN (SELECT a FROM tmp)", M),
            ("SELECT * FROM tmp -- maxscale route to slave", M),
            ("DESCRIBE tmp", M),
            ("SHOW CREATE TABLE tmp", M),
            ("SHOW COLUMNS FROM tmp", M),
            ("SELECT * FROM a, b, c, d, e, f, g, h, i", M),
            ("SELECT * FROM t", R),
            ("SELECT 'tmp' FROM t", R),
            ("SELECT tmp FROM t", R),
            ("SELECT * FROM tmp2", R),
        ],
    );
    let set: std::collections::HashSet<Vec<u8>> = [b"tmp".to_vec()].into();
    let ctx = SessionContext {
        temp_tables: &set,
        ..Default::default()
    };
    check_in(&ctx, &[("SELECT * FROM Tmp", M), ("SELECT * FROM t", R)]);
}

#[test]
fn hints_move_reads_only() {
    let ctx = SessionContext::default();
    check_in(
        &ctx,
        &[
            ("SELECT 1 -- maxscale route to master", M),
            (
                "SELECT * FROM t /* maxscale route to slave */ FOR UPDATE",
                R,
            ),
            ("SELECT LAST_INSERT_ID() -- maxscale route to slave", R),
            ("SELECT 1 -- maxscale route to last", L),
            (
                "SELECT 1 /* datagate route to server db2 */",
                Route::Server("db2"),
            ),
            ("SHOW WARNINGS -- maxscale route to master", M),
            ("INSERT INTO t VALUES (1) -- maxscale route to slave", M),
            ("UPDATE t SET a = 1 /* maxscale route to server db2 */", M),
            ("DELETE FROM t # datagate route to last", M),
            ("CALL p() -- maxscale route to slave", M),
            ("SET @x = 1 -- maxscale route to master", A),
            ("USE db -- maxscale route to slave", A),
            ("BEGIN -- maxscale route to slave", M),
            ("SELECT 1; SELECT 2 -- maxscale route to slave", M),
            ("SELECT 1 -- maxscale route to nowhere", R),
        ],
    );
}

#[test]
fn every_table_row_is_safe_in_every_context() {
    let temp = vec!["t".to_owned()];
    let contexts = [
        SessionContext::default(),
        SessionContext {
            in_transaction: true,
            ..Default::default()
        },
        SessionContext {
            autocommit: false,
            ..Default::default()
        },
        SessionContext {
            temp_tables: &temp,
            ..Default::default()
        },
    ];
    for (i, ctx) in contexts.iter().enumerate() {
        for sql in ODD {
            assert_eq!(route(&classify(sql), ctx), M);
        }
        for sql in [
            "INSERT INTO t VALUES (1)",
            "UPDATE t SET a = 1",
            "DROP TABLE t",
        ] {
            assert_eq!(route_in(sql, ctx), M, "{sql:?} in context {i}");
        }
        let want_read = if i == 0 { R } else { M };
        assert_eq!(route_in("SELECT * FROM t", ctx), want_read, "context {i}");
        assert_eq!(
            route_in("SELECT * FROM t -- maxscale route to slave", ctx),
            want_read
        );
        if i != 3 {
            assert_eq!(route_in("SHOW TABLES", ctx), want_read, "context {i}");
        }
    }
}
