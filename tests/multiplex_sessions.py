#!/usr/bin/python3
"""Thousands of PyMySQL sessions through one datagate listener (tests/multiplex.rs).

usage: multiplex_sessions.py PORT USER PASSWORD DB SESSIONS THREADS

1. Opens SESSIONS sessions (PyMySQL's default: autocommit off), each sets @v to its number
   and inserts (id, @v) into mux in a transaction it commits.
2. Prints "idle N" (N sessions opened) and waits for a line on stdin: the sessions sit idle.
3. Every session again, THREADS at a time: @v must still be its number; a transaction adds
   1000 to its row and reads it back (every tenth rolls back instead of committing); an insert
   into mux_ai must be what LAST_INSERT_ID() then returns.
4. Prints one JSON line: how many sessions passed each check, and the first errors.
"""

import json
import resource
import sys
import threading

import pymysql

port, user, password, db = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
n, threads = int(sys.argv[5]), int(sys.argv[6])

soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

sessions = [None] * n
counts = {"opened": 0, "vars": 0, "trx": 0, "insert_id": 0}
errors = []
lock = threading.Lock()


def fail(i, what, e):
    with lock:
        if len(errors) < 10:
            errors.append(f"session {i}: {what}: {e!r}")


def count(key):
    with lock:
        counts[key] += 1


def each(work):
    """Runs work(i) for every session, THREADS at a time."""
    def run(k):
        for i in range(k, n, threads):
            work(i)
    ts = [threading.Thread(target=run, args=(k,)) for k in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()


def open_session(i):
    try:
        c = pymysql.connect(host="127.0.0.1", port=port, user=user, password=password,
                            database=db, connect_timeout=30, read_timeout=60)
        with c.cursor() as cur:
            cur.execute("SET @v = %s", (i,))
            cur.execute("INSERT INTO mux (id, v) VALUES (%s, @v)", (i,))
        c.commit()
        sessions[i] = c
        count("opened")
    except Exception as e:  # noqa: BLE001 - every failure is reported
        fail(i, "open", e)


def second_round(i):
    c = sessions[i]
    if c is None:
        return
    try:
        with c.cursor() as cur:
            cur.execute("SELECT @v")
            (v,) = cur.fetchone()
            if v == i:
                count("vars")
            else:
                fail(i, "@v", f"got {v}")
            c.commit()
            c.begin()
            cur.execute("UPDATE mux SET v = v + 1000 WHERE id = %s", (i,))
            cur.execute("SELECT v FROM mux WHERE id = %s", (i,))
            (seen,) = cur.fetchone()
            if i % 10 == 0:
                c.rollback()
            else:
                c.commit()
            if seen == i + 1000:
                count("trx")
            else:
                fail(i, "trx", f"read {seen}")
            cur.execute("INSERT INTO mux_ai (session) VALUES (%s)", (i,))
            made = cur.lastrowid
            c.commit()
            cur.execute("SELECT LAST_INSERT_ID()")
            (lid,) = cur.fetchone()
            c.commit()
            if lid == made:
                count("insert_id")
            else:
                fail(i, "LAST_INSERT_ID()", f"{lid} after insert id {made}")
    except Exception as e:  # noqa: BLE001
        fail(i, "second round", e)


each(open_session)
print(f"idle {counts['opened']}", flush=True)
sys.stdin.readline()
each(second_round)
for c in sessions:
    if c is not None:
        c.close()
print(json.dumps({"counts": counts, "errors": errors}), flush=True)
