#!/usr/bin/env bash
# Redis failover write gap, datagate vs HAProxy, in the same run.
#
# A client writes (SET, one every 10 ms) through datagate's [[redis]] listener and another through
# HAProxy (tcp-check role:master, inter 1s, rise 2, balance first, shutdown-sessions), while the
# Redis master is SIGKILLed (or SENTINEL FAILOVER runs). The gap is measured from the first
# `+switch-master` any sentinel publishes to the first acknowledged write that is on the new
# master. Writes the old master acknowledged after the promotion are counted as lost, not as
# successes (after SENTINEL FAILOVER the old master says role:master for ~10 s).
#
#   bench/redis-failover.sh [ROUNDS=3] [sigkill|graceful|both]
#
# Runs the ignored tests `failover_write_gap_*` of tests/redis.rs against the test lab (lab/redis.sh
# and lab/haproxy.sh; directory and port offset as in tests/support: DATAGATE_TEST_LAB_DIR,
# DATAGATE_TEST_PORT_OFFSET). Needs root, like the lab.
set -euo pipefail

ROUNDS=${1:-3} KIND=${2:-both}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=$(mktemp /tmp/datagate-redis-failover.XXXXXX)
trap 'rm -f "$OUT"' EXIT
case "$KIND" in
  sigkill) TESTS=(failover_write_gap_sigkill) ;;
  graceful) TESTS=(failover_write_gap_graceful) ;;
  both) TESTS=(failover_write_gap_sigkill failover_write_gap_graceful) ;;
  *) echo "usage: $0 [ROUNDS] [sigkill|graceful|both]" >&2; exit 2 ;;
esac

cd "$ROOT"
cargo test --quiet --test redis --no-run
for ((i = 1; i <= ROUNDS; i++)); do
  for t in "${TESTS[@]}"; do
    echo "== round $i: $t"
    cargo test --quiet --test redis "$t" -- --ignored --exact --nocapture 2>&1 |
      grep -E '^(RESULT|SIGKILL:|SENTINEL FAILOVER:)' | tee -a "$OUT"
  done
done

echo
echo "== summary over $ROUNDS round(s): ms from +switch-master to the first write on the new master (min / median / max), lost writes (total)"
awk '
  /^RESULT/ {
    kind = ($2 == "SIGKILL") ? "SIGKILL" : "SENTINEL FAILOVER"
    proxy = (kind == "SIGKILL") ? $3 : $4
    sub(":", "", proxy)
    key = kind " " proxy
    if (match($0, /new master [0-9]+ ms/)) { g = substr($0, RSTART + 11, RLENGTH - 14); gaps[key] = gaps[key] " " g }
    else { gaps[key] = gaps[key] " none" }
    if (match($0, /lost [0-9]+/)) { lost[key] += substr($0, RSTART + 5, RLENGTH - 5) }
    if (match($0, /READONLY [0-9]+/)) { ro[key] += substr($0, RSTART + 9, RLENGTH - 9) }
  }
  END {
    for (k in gaps) {
      n = split(gaps[k], a, " "); m = 0
      for (i = 1; i <= n; i++) if (a[i] != "none") v[++m] = a[i] + 0
      for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
      if (m > 0) printf "%-28s %6d / %6d / %6d ms   lost %d   READONLY %d   (%d of %d rounds resumed)\n", k, v[1], v[int((m + 1) / 2)], v[m], lost[k], ro[k], m, n
      else printf "%-28s no write on the new master   lost %d   READONLY %d\n", k, lost[k], ro[k]
      delete v
    }
  }' "$OUT" | sort
