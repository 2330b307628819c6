//! Writes, DDL, transaction control and session commands.

use super::*;

const MS: Flags = Flags::MULTI_STATEMENT;
const DT: Flags = Flags::DROP_TABLE;
const TC: Flags = Flags::TEMP_TABLE_CREATE;
const TD: Flags = Flags::TEMP_TABLE_DROP;
const W: StatementKind = StatementKind::Write;
const SC: StatementKind = StatementKind::SessionCommand;

const fn trx(read_only: bool, scope: TransactionScope) -> StatementKind {
    StatementKind::SetTransactionReadOnly { read_only, scope }
}
const RO: StatementKind = StatementKind::Begin {
    read_only: Some(true),
};
const RW: StatementKind = StatementKind::Begin {
    read_only: Some(false),
};
const NEXT: TransactionScope = TransactionScope::Next;
const SESS: TransactionScope = TransactionScope::Session;

#[rustfmt::skip]
const WRITES: &[Row] = &[
    ("INSERT INTO t VALUES (1)", W, M, N),
    ("insert into t (a, b) values (1, 2)", W, M, N),
    ("INSERT t VALUES (1)", W, M, N),
    ("INSERT IGNORE INTO t VALUES (1)", W, M, N),
    ("INSERT LOW_PRIORITY IGNORE INTO t VALUES (1)", W, M, N),
    ("INSERT INTO t SELECT * FROM u", W, M, N),
    ("INSERT INTO t VALUES (1) ON DUPLICATE KEY UPDATE a = 1", W, M, N),
    ("INSERT INTO t SET a = 1", W, M, N),
    ("INSERT INTO t VALUES (LAST_INSERT_ID())", W, M, Flags::SESSION_FUNC),
    ("INSERT INTO t SELECT my_func()", W, M, N),
    ("INSERT INTO t VALUES ('SELECT 1')", W, M, N),
    ("INSERT INTO sbtest1 (id, k, c, pad) VALUES (5, 10, 'x', 'y')", W, M, N),
    ("INSERT INTO t VALUES (1) RETURNING id", W, M, N),
    ("REPLACE INTO t VALUES (1)", W, M, N),
    ("UPDATE t SET a = 1 WHERE id = 2", W, M, N),
    ("UPDATE sbtest1 SET k=k+1 WHERE id=5", W, M, N),
    ("UPDATE sbtest1 SET c='foo' WHERE id=5", W, M, N),
    ("update low_priority ignore t set a = my_func()", W, M, N),
    ("DELETE FROM sbtest1 WHERE id=5", W, M, N),
    ("DELETE t1 FROM t1 JOIN t2 ON t1.a = t2.a", W, M, N),
    ("WITH c AS (SELECT 1) UPDATE t, c SET t.a = 1", W, M, N),
    ("WITH c AS (SELECT 1) DELETE FROM t WHERE a IN (SELECT * FROM c)", W, M, N),
    ("WITH c AS (SELECT 1) INSERT INTO t SELECT * FROM c", W, M, N),
    ("SET STATEMENT sql_mode = '' FOR INSERT INTO t VALUES (1)", W, M, N),
    ("SET STATEMENT x = (1) FOR UPDATE t SET a = 1", W, M, N),
    ("/*!40000 ALTER TABLE t DISABLE KEYS */", W, M, Flags::IMPLICIT_COMMIT),
    ("CREATE TABLE t (a INT)", W, M, Flags::IMPLICIT_COMMIT),
    ("CREATE TABLE IF NOT EXISTS t (a INT PRIMARY KEY, b VARCHAR(10))", W, M, Flags::IMPLICIT_COMMIT),
    ("CREATE OR REPLACE TABLE t (a INT)", W, M, Flags::IMPLICIT_COMMIT),
    ("CREATE INDEX i ON t (a)", W, M, Flags::IMPLICIT_COMMIT),
    ("CREATE DATABASE d", W, M, Flags::IMPLICIT_COMMIT),
    ("CREATE VIEW v AS SELECT 1", W, M, Flags::IMPLICIT_COMMIT),
    ("CREATE SEQUENCE s", W, M, Flags::IMPLICIT_COMMIT),
    ("CREATE PROCEDURE p() BEGIN SELECT 1; END", W, M, Flags::MULTI_STATEMENT.union(Flags::MULTI_WRITE).union(Flags::IMPLICIT_COMMIT)),
    ("CREATE TEMPORARY TABLE tmp (a INT)", W, M, TC),
    ("create temporary table if not exists db.tmp as select * from t", W, M, TC),
    ("CREATE TEMPORARY SEQUENCE s", W, M, TC),
    ("ALTER TABLE t ADD COLUMN b INT", W, M, Flags::IMPLICIT_COMMIT),
    ("DROP TABLE t", W, M, DT.union(Flags::IMPLICIT_COMMIT)),
    ("DROP TABLE IF EXISTS t1, t2", W, M, DT.union(Flags::IMPLICIT_COMMIT)),
    ("DROP TEMPORARY TABLE tmp", W, M, TD),
    ("DROP TEMPORARY TABLE IF EXISTS tmp, tmp2", W, M, TD),
    ("DROP DATABASE d", W, M, Flags::IMPLICIT_COMMIT),
    ("DROP VIEW v", W, M, Flags::IMPLICIT_COMMIT),
    ("DROP INDEX i ON t", W, M, Flags::IMPLICIT_COMMIT),
    ("TRUNCATE TABLE t", W, M, Flags::IMPLICIT_COMMIT),
    ("TRUNCATE t", W, M, Flags::IMPLICIT_COMMIT),
    ("RENAME TABLE a TO b", W, M, Flags::IMPLICIT_COMMIT),
    ("GRANT SELECT ON *.* TO u", W, M, Flags::IMPLICIT_COMMIT),
    ("REVOKE ALL ON *.* FROM u", W, M, Flags::IMPLICIT_COMMIT),
    ("DO 1", W, M, N),
    ("DO GET_LOCK('x', 1)", W, M, Flags::SIDE_EFFECT_FUNC),
    ("HANDLER t OPEN", W, M, N),
    ("FLUSH TABLES", W, M, Flags::IMPLICIT_COMMIT),
    ("FLUSH PRIVILEGES", W, M, Flags::IMPLICIT_COMMIT),
    ("RESET QUERY CACHE", W, M, Flags::IMPLICIT_COMMIT),
    ("PURGE BINARY LOGS BEFORE NOW()", W, M, Flags::IMPLICIT_COMMIT),
    ("OPTIMIZE TABLE t", W, M, Flags::IMPLICIT_COMMIT),
    ("REPAIR TABLE t", W, M, Flags::IMPLICIT_COMMIT),
    ("ANALYZE TABLE t", W, M, Flags::IMPLICIT_COMMIT),
    ("ANALYZE UPDATE t SET a = 1", W, M, N),
    ("ANALYZE DELETE FROM t", W, M, N),
    ("EXPLAIN ANALYZE UPDATE t SET a = 1", W, M, N),
    ("CHECK TABLE t", W, M, Flags::IMPLICIT_COMMIT),
    ("CHECKSUM TABLE t", W, M, N),
    ("KILL 42", W, M, N),
    ("KILL QUERY 42", W, M, N),
    ("SHUTDOWN", W, M, N),
    ("EXECUTE stmt", W, M, N),
    ("EXECUTE stmt USING @a, @b", W, M, N),
    ("SAVEPOINT sp", W, M, N),
    ("RELEASE SAVEPOINT sp", W, M, N),
    ("ROLLBACK TO SAVEPOINT sp", W, M, N),
    ("ROLLBACK WORK TO sp", W, M, N),
    ("CHANGE MASTER TO MASTER_HOST = 'x'", W, M, Flags::IMPLICIT_COMMIT),
    ("START SLAVE", W, M, Flags::IMPLICIT_COMMIT),
    ("STOP SLAVE", W, M, Flags::IMPLICIT_COMMIT),
    ("INSTALL PLUGIN p SONAME 'x.so'", W, M, Flags::IMPLICIT_COMMIT),
    ("BACKUP STAGE START", W, M, N),
    ("SIGNAL SQLSTATE '45000'", W, M, N),
    ("BEGIN NOT ATOMIC SELECT 1; END", W, M, Flags::MULTI_STATEMENT.union(Flags::MULTI_WRITE).union(Flags::IMPLICIT_COMMIT)),
    ("SET GLOBAL max_connections = 100", W, M, N),
    ("SET @@global.max_connections = 100", W, M, N),
    ("SET @@GLOBAL.autocommit = 0", W, M, N),
    ("SET PERSIST max_connections = 100", W, M, N),
    ("SET sql_mode = '', GLOBAL max_connections = 10", W, M, N),
    ("SET GLOBAL TRANSACTION READ ONLY", W, M, N),
    ("SET PASSWORD = PASSWORD('x')", W, M, Flags::IMPLICIT_COMMIT),
    ("SET PASSWORD FOR u = 'x'", W, M, Flags::IMPLICIT_COMMIT),
    ("SET DEFAULT ROLE r TO u", W, M, N),
    ("CALL p()", W, M, Flags::CALL),
    ("call p(1, 'x')", W, M, Flags::CALL),
    ("CALL db.p", W, M, Flags::CALL),
    ("LOAD DATA LOCAL INFILE '/tmp/x' INTO TABLE t", W, M, Flags::LOAD_DATA_LOCAL),
    ("load data local infile 'x' replace into table t", W, M, Flags::LOAD_DATA_LOCAL),
    ("LOAD DATA LOW_PRIORITY LOCAL INFILE 'x' INTO TABLE t", W, M, Flags::LOAD_DATA_LOCAL),
    ("LOAD XML LOCAL INFILE 'x' INTO TABLE t", W, M, Flags::LOAD_DATA_LOCAL),
    ("LOAD DATA INFILE '/tmp/x' INTO TABLE t", W, M, N),
    ("LOAD INDEX INTO CACHE t", W, M, Flags::IMPLICIT_COMMIT),
    ("XA START 'x'", W, M, Flags::XA),
    ("XA BEGIN 'x'", W, M, Flags::XA),
    ("XA END 'x'", W, M, Flags::XA),
    ("XA PREPARE 'x'", W, M, Flags::XA),
    ("XA COMMIT 'x'", W, M, Flags::XA),
    ("XA ROLLBACK 'x'", W, M, Flags::XA),
    ("xa recover", W, M, Flags::XA),
    ("LOCK TABLES t READ", W, M, Flags::LOCK_TABLES.union(Flags::IMPLICIT_COMMIT)),
    ("LOCK TABLE t WRITE", W, M, Flags::LOCK_TABLES.union(Flags::IMPLICIT_COMMIT)),
    ("LOCK TABLES t1 READ LOCAL, t2 WRITE", W, M, Flags::LOCK_TABLES.union(Flags::IMPLICIT_COMMIT)),
    ("UNLOCK TABLES", W, M, Flags::UNLOCK_TABLES.union(Flags::IMPLICIT_COMMIT)),
    ("LOCK INSTANCE FOR BACKUP", W, M, Flags::IMPLICIT_COMMIT),
    ("INSERT INTO t VALUES (1); INSERT INTO t VALUES (2)", W, M, Flags::MULTI_STATEMENT.union(Flags::MULTI_WRITE)),
];

#[rustfmt::skip]
const SESSION: &[Row] = &[
    ("SET NAMES utf8mb4", SC, A, N),
    ("SET NAMES 'utf8mb4' COLLATE 'utf8mb4_general_ci'", SC, A, N),
    ("SET CHARACTER SET utf8", SC, A, N),
    ("SET @x = 1", SC, A, N),
    ("SET @x := 1", SC, A, N),
    ("SET @a = 1, @b = 2", SC, A, N),
    ("SET @x = 'a;b'", SC, A, N),
    ("SET @x = (SELECT a FROM t WHERE b = 1)", SC, A, N),
    ("SET @x = LAST_INSERT_ID()", SC, A, Flags::SET_CALLS_FUNCTION),
    ("SET sql_mode = 'STRICT_ALL_TABLES'", SC, A, N),
    ("SET SESSION sql_mode = ''", SC, A, N),
    ("SET @@session.sql_mode = ''", SC, A, N),
    ("SET @@sql_mode = ''", SC, A, N),
    ("SET LOCAL wait_timeout = 10", SC, A, N),
    ("SET time_zone = '+00:00'", SC, A, N),
    ("SET wsrep_sync_wait = 1", SC, A, N),
    ("SET TRANSACTION ISOLATION LEVEL READ COMMITTED", SC, A, N),
    ("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ", SC, A, N),
    ("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE", SC, A, N),
    ("SET ROLE r", SC, A, N),
    ("SET autocommit = @x", SC, A, N),
    ("set session `sql_mode` = 'ANSI'", SC, A, N),
    ("/*!40101 SET NAMES utf8 */", SC, A, N),
    ("/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_AUTO_VALUE_ON_ZERO' */", SC, A, N),
    ("USE db", SC, A, N),
    ("use `my db`", SC, A, N),
    ("PREPARE s FROM 'SELECT 1'", SC, A, N),
    ("DEALLOCATE PREPARE s", SC, A, N),
    ("DROP PREPARE s", SC, A, N),
    ("SET autocommit=0", K::SetAutocommit(false), A, N),
    ("SET autocommit = 1", K::SetAutocommit(true), A, N),
    ("set AUTOCOMMIT=ON", K::SetAutocommit(true), A, N),
    ("SET autocommit = OFF", K::SetAutocommit(false), A, N),
    ("SET autocommit=true", K::SetAutocommit(true), A, N),
    ("SET autocommit = FALSE", K::SetAutocommit(false), A, N),
    ("SET @@autocommit = 0", K::SetAutocommit(false), A, N),
    ("SET @@session.autocommit = 1", K::SetAutocommit(true), A, N),
    ("SET @@SESSION.AUTOCOMMIT = 0", K::SetAutocommit(false), A, N),
    ("SET SESSION autocommit = 0", K::SetAutocommit(false), A, N),
    ("SET LOCAL autocommit=1", K::SetAutocommit(true), A, N),
    ("SET @@local.autocommit=0", K::SetAutocommit(false), A, N),
    ("SET autocommit = 'OFF'", K::SetAutocommit(false), A, N),
    ("SET autocommit := 0", K::SetAutocommit(false), A, N),
    ("SET autocommit=DEFAULT", K::SetAutocommit(true), A, N),
    ("SET autocommit = 0, sql_mode = ''", K::SetAutocommit(false), A, N),
    ("SET sql_mode = '', autocommit = 1", K::SetAutocommit(true), A, N),
    ("/*!40101 SET autocommit=0 */", K::SetAutocommit(false), A, N),
    ("SET `autocommit` = 1", K::SetAutocommit(true), A, N),
    ("SET TRANSACTION READ ONLY", trx(true, NEXT), A, N),
    ("SET TRANSACTION READ WRITE", trx(false, NEXT), A, N),
    ("SET SESSION TRANSACTION READ ONLY", trx(true, SESS), A, N),
    ("SET LOCAL TRANSACTION READ WRITE", trx(false, SESS), A, N),
    ("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED, READ ONLY", trx(true, SESS), A, N),
    ("SET TRANSACTION READ ONLY, ISOLATION LEVEL SERIALIZABLE", trx(true, NEXT), A, N),
    ("SET transaction_read_only = 1", trx(true, SESS), A, N),
    ("SET @@session.transaction_read_only = ON", trx(true, SESS), A, N),
    ("SET tx_read_only = 0", trx(false, SESS), A, N),
];

#[rustfmt::skip]
const TRANSACTIONS: &[Row] = &[
    ("BEGIN", B, M, N),
    ("begin work", B, M, N),
    ("BEGIN;", B, M, N),
    ("START TRANSACTION", B, M, N),
    ("START TRANSACTION WITH CONSISTENT SNAPSHOT", B, M, N),
    ("START TRANSACTION READ ONLY", RO, R, N),
    ("start transaction read only", RO, R, N),
    ("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY", RO, R, N),
    ("START TRANSACTION READ ONLY, WITH CONSISTENT SNAPSHOT", RO, R, N),
    ("/*!40108 START TRANSACTION READ ONLY */", RO, R, N),
    ("START TRANSACTION READ WRITE", RW, M, N),
    ("BEGIN; SELECT 1", B, M, MS),
    ("START TRANSACTION READ ONLY; SELECT 1", RO, M, MS),
    ("COMMIT", K::Commit, M, N),
    ("commit work", K::Commit, M, N),
    ("COMMIT AND NO CHAIN", K::Commit, M, N),
    ("ROLLBACK", K::Rollback, M, N),
    ("ROLLBACK WORK", K::Rollback, M, N),
    ("rollback and chain", K::Rollback, M, N),
];

#[test]
fn writes() {
    check(WRITES);
}

#[test]
fn session_commands() {
    check(SESSION);
}

#[test]
fn transactions() {
    check(TRANSACTIONS);
}
