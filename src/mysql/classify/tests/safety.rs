//! Which packets may change data (never run twice after a lost reply) and which commit an open
//! transaction (outcome unknown when the reply is lost).

use super::*;

#[rustfmt::skip]
const CASES: &[(&str, bool, bool)] = &[
    // (sql, may_write, commits an open transaction)
    ("SELECT 1", false, false),
    ("SELECT * FROM t WHERE id = 1", false, false),
    ("SELECT NOW(), CONCAT('a', 'b')", false, false),
    ("SELECT * FROM t FOR UPDATE", false, false),
    ("SELECT LAST_INSERT_ID()", false, false),
    ("SELECT f()", true, false),
    ("SELECT db.f(1)", true, false),
    ("SELECT `f`(1)", true, false),
    ("SELECT GET_LOCK('a', 1)", true, false),
    ("SELECT NEXTVAL(s)", true, false),
    ("SELECT NEXT VALUE FOR s", true, false),
    ("SELECT a INTO OUTFILE '/tmp/x' FROM t", true, false),
    ("SELECT 1; SELECT 2", false, false),
    ("SELECT 1; INSERT INTO t VALUES (1)", true, false),
    ("SELECT 1; DELETE FROM t", true, false),
    ("SELECT 1; COMMIT", true, true),
    ("INSERT INTO t VALUES (1); COMMIT", true, true),
    ("SELECT 1; CREATE TABLE x (a INT)", true, true),
    ("CALL p()", true, false),
    ("INSERT INTO t VALUES (1)", true, false),
    ("UPDATE t SET a = 1", true, false),
    ("DELETE FROM t", true, false),
    ("frobnicate", true, true),
    ("SET @x = 1", false, false),
    ("SET NAMES utf8mb4", false, false),
    ("SET sql_mode = CONCAT(@@sql_mode, ',STRICT_ALL_TABLES')", false, false),
    ("SET @x = f()", true, false),
    ("SET @x = (SELECT f())", true, false),
    ("SET @x = GET_LOCK('a', 1)", true, false),
    ("SET @x = LAST_INSERT_ID()", true, false),
    ("SET @x = @@identity", true, false),
    ("SET @x = NEXT VALUE FOR s", true, false),
    ("SET @x = db.f()", true, false),
    ("SET autocommit = 0", false, false),
    ("SET autocommit = 1", false, true),
    ("BEGIN", false, true),
    ("START TRANSACTION READ ONLY", false, true),
    ("COMMIT", false, true),
    ("ROLLBACK", false, false),
    ("CREATE TABLE x (a INT)", true, true),
    ("CREATE TEMPORARY TABLE x (a INT)", true, false),
    ("DROP TABLE x", true, true),
    ("DROP TEMPORARY TABLE x", true, false),
    ("ALTER TABLE t ADD b INT", true, true),
    ("TRUNCATE t", true, true),
    ("RENAME TABLE a TO b", true, true),
    ("LOCK TABLES t WRITE", true, true),
    ("UNLOCK TABLES", true, true),
    ("GRANT SELECT ON *.* TO u", true, true),
    ("FLUSH PRIVILEGES", true, true),
    ("ANALYZE TABLE t", true, true),
    ("ANALYZE SELECT 1", false, false),
    ("OPTIMIZE TABLE t", true, true),
    ("LOAD INDEX INTO CACHE t", true, true),
    ("SET PASSWORD = PASSWORD('x')", true, true),
    ("START SLAVE", true, true),
    ("SAVEPOINT a", true, false),
    ("ROLLBACK TO SAVEPOINT a", true, false),
];

#[test]
fn may_write_and_commits() {
    let mut failures = Vec::new();
    for &(sql, write, commits) in CASES {
        let c = classify(sql.as_bytes());
        if c.may_write() != write || c.commits() != commits {
            failures.push(format!(
                "{sql:?}: want may_write={write} commits={commits}, got {} {} ({:?} {:?})",
                c.may_write(),
                c.commits(),
                c.kind,
                c.flags
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
