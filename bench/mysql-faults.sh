#!/usr/bin/env bash
# Faults as they happen, datagate next to HAProxy in the same run:
#   - the Galera master frozen with SIGSTOP (a hung host: its kernel still accepts and
#     acknowledges, the server answers nothing) under autocommit writers through datagate and
#     through HAProxy (balance first, inter 1s fall 2, on-marked-down shutdown-sessions), and a
#     writer straight to a survivor: the cluster's own stall, the floor;
#   - mixed statements (autocommit, multi-statement, a writing stored function, transactions)
#     through relays that lose one reply in ten after the statement ran.
# Prints RESULT lines: longest write gap and longest single statement per path, acknowledged
# writes not found exactly once, rows that exist twice.
#
#   bench/mysql-faults.sh [ROUNDS=3]
#
# Runs the ignored tests of tests/fault_bench.rs against the test lab (directory and port offset
# as in tests/support: DATAGATE_TEST_LAB_DIR, DATAGATE_TEST_PORT_OFFSET). Needs root, like the lab.
set -euo pipefail

ROUNDS=${1:-3}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
cargo build --quiet --bin datagate
cargo test --quiet --test fault_bench --no-run
for r in $(seq "$ROUNDS"); do
  echo "round $r"
  cargo test --quiet --test fault_bench -- --ignored --nocapture --test-threads=1 2>/dev/null |
    grep '^RESULT' || { echo "round $r failed" >&2; exit 1; }
done
