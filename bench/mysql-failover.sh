#!/usr/bin/env bash
# Galera master SIGKILL under sysbench oltp_read_write, datagate vs HAProxy, in the same run.
#
# sysbench (2 threads, --mysql-ignore-errors=all) runs through datagate's [[mysql]] listener
# (read/write split, transaction replay) and through HAProxy (tcp mode, balance first with the
# master first and the other nodes backup, inter 1s fall 2, on-marked-down shutdown-sessions) at
# once, with a probe on each writing every 10 ms, while the master is SIGKILLed. Prints per proxy:
# transactions sysbench lost (ignored errors), reconnects, and the probe's longest write gap.
#
#   bench/mysql-failover.sh [ROUNDS=3]
#
# Runs the ignored test `failover_write_gap_under_oltp_read_write` of tests/rw_failover.rs
# against the test lab (directory and port offset as in tests/support: DATAGATE_TEST_LAB_DIR,
# DATAGATE_TEST_PORT_OFFSET). Needs root, like the lab.
set -euo pipefail

ROUNDS=${1:-3}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
cargo build --quiet --bin datagate
cargo test --quiet --test rw_failover --no-run
for r in $(seq "$ROUNDS"); do
  echo "round $r"
  cargo test --quiet --test rw_failover failover_write_gap_under_oltp_read_write -- \
    --ignored --nocapture 2>/dev/null | grep '^RESULT' || { echo "round $r failed" >&2; exit 1; }
done
