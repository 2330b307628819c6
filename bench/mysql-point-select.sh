#!/usr/bin/env bash
# sysbench against the Galera master directly, through HAProxy (tcp mode, nbthread 1, single
# writer: the master only, as HAProxy is deployed in front of Galera) and through a datagate
# [[mysql]] listener over every node (read/write split: reads to the other Synced nodes), in one
# run. Prints queries/s, p95 and each proxy's CPU time per query (utime+stime, /proc/PID/stat).
#
#   bench/mysql-point-select.sh [SECONDS=10] [THREADS=8]
# env: GALERA (the nodes, space-separated host:port, the master first; default the lab's
#      127.0.0.1:13306 127.0.0.1:13307 127.0.0.1:13308; the test lab is 1380x),
#      TESTS (default "oltp_point_select:THREADS oltp_read_only:4"; NAME:THREADS each),
#      DATAGATE (binary, default target/release/datagate), WORKERS (datagate threads, default 1),
#      RELAY_ENGINE (datagate [global] relay_engine: auto, the default, io_uring or epoll),
#      SPLIT (datagate read_write_split, default true), DG_EXTRA (more [[mysql]] lines, e.g.
#      "multiplex = false"),
#      NODE_CPU (percent of one core each node may use, e.g. 40: every mariadbd gets a CPU
#      quota of its own, as if each node were a host of its own; default: no quota).
# On one small machine the nodes, sysbench and the proxies share the same cores, so spreading
# reads over more nodes cannot add capacity; NODE_CPU shows what it adds when it can.
# Needs the sbtest tables (lab/sysbench.sh prepare) and the app/app + monitor/monitor accounts.
set -euo pipefail

SECS=${1:-10} THREADS=${2:-8}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DG=${DATAGATE:-$ROOT/target/release/datagate}
WORKERS=${WORKERS:-1}
RELAY_ENGINE=${RELAY_ENGINE:-auto}
GALERA=${GALERA:-127.0.0.1:13306 127.0.0.1:13307 127.0.0.1:13308}
read -r -a NODES <<<"$GALERA"
MASTER=${NODES[0]}
TESTS=${TESTS:-oltp_point_select:$THREADS oltp_read_only:4}
SPLIT=${SPLIT:-true}
DG_EXTRA=${DG_EXTRA:-}
NODE_CPU=${NODE_CPU:-}
BASE=${BENCH_PORT_BASE:-27500}
HAP_PORT=$BASE DG_PORT=$((BASE + 1)) ADMIN_PORT=$((BASE + 2))
DIR=$(mktemp -d /tmp/datagate-bench.XXXXXX)
TICK=$(getconf CLK_TCK)

for c in sysbench haproxy mariadb; do
  command -v "$c" >/dev/null || { echo "missing $c" >&2; exit 1; }
done
[ -x "$DG" ] || { echo "missing $DG (cargo build --release)" >&2; exit 1; }

pids=() capped=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for cg in "${capped[@]}"; do uncap "$cg"; done
  rm -rf "$DIR"
}
trap cleanup EXIT

# cgroup (v2, else v1 cpu controller) holding each capped node.
CG_ROOT=/sys/fs/cgroup
[ -f $CG_ROOT/cgroup.controllers ] || CG_ROOT=/sys/fs/cgroup/cpu
cap() { # cap PORT : the mariadbd listening on PORT gets NODE_CPU % of a core
  local port=$1 pid cg
  pid=$(ss -Hltnp "sport = :$port" | grep -o 'pid=[0-9]*' | head -n1 | cut -d= -f2)
  [ -n "$pid" ] || { echo "no process listens on $port" >&2; exit 1; }
  cg=$CG_ROOT/datagate-bench-$port
  mkdir -p "$cg"
  if [ -f "$cg/cpu.max" ]; then
    echo "$((NODE_CPU * 1000)) 100000" >"$cg/cpu.max"
  else
    echo 100000 >"$cg/cpu.cfs_period_us"
    echo $((NODE_CPU * 1000)) >"$cg/cpu.cfs_quota_us"
  fi
  echo "$pid" >"$cg/cgroup.procs"
  capped+=("$cg")
}
uncap() { # uncap CGROUP : its processes back to the root group, then remove it
  local p
  while read -r p; do echo "$p" >"$CG_ROOT/cgroup.procs" 2>/dev/null || true; done <"$1/cgroup.procs"
  rmdir "$1" 2>/dev/null || true
}
if [ -n "$NODE_CPU" ]; then
  [ -f $CG_ROOT/cgroup.controllers ] && ! grep -qw cpu $CG_ROOT/cgroup.subtree_control &&
    echo +cpu >$CG_ROOT/cgroup.subtree_control
  for n in "${NODES[@]}"; do cap "${n##*:}"; done
fi

cat >"$DIR/haproxy.cfg" <<CFG
global
    nbthread 1
defaults
    mode tcp
    maxconn 4000
    timeout connect 3s
    timeout client 1h
    timeout server 1h
listen mysql
    bind 127.0.0.1:$HAP_PORT
    server m1 $MASTER
CFG
haproxy -f "$DIR/haproxy.cfg" >"$DIR/haproxy.log" 2>&1 &
HAP_PID=$!
pids+=("$HAP_PID")

cat >"$DIR/datagate.toml" <<CFG
[global]
workers = $WORKERS
relay_engine = "$RELAY_ENGINE"
[admin]
listen = "127.0.0.1:$ADMIN_PORT"
[log]
level = "warn"
[[galera]]
name = "g"
servers = [$(printf '"%s",' "${NODES[@]}")]
user = "monitor"
password = "monitor"
[[mysql]]
name = "rw"
listen = "127.0.0.1:$DG_PORT"
cluster = "g"
read_write_split = $SPLIT
$DG_EXTRA
CFG
"$DG" run -c "$DIR/datagate.toml" >"$DIR/datagate.log" 2>&1 &
DG_PID=$!
pids+=("$DG_PID")

for p in "${MASTER##*:}" $HAP_PORT $DG_PORT; do
  for _ in $(seq 100); do
    mariadb --no-defaults -h127.0.0.1 -P"$p" -uapp -papp -N -e 'SELECT 1' >/dev/null 2>&1 && break
    sleep 0.1
  done
  mariadb --no-defaults -h127.0.0.1 -P"$p" -uapp -papp -N -e 'SELECT 1' >/dev/null || {
    echo "port $p does not answer" >&2; cat "$DIR"/*.log >&2; exit 1; }
done

cpu_ticks() { if [ -n "$1" ]; then awk '{print $14 + $15}' "/proc/$1/stat"; else echo 0; fi; }

# run TEST THREADS NAME PORT [PID] : one line "NAME qps p95_ms cpu_us_per_query errors"
run() {
  local test=$1 threads=$2 name=$3 port=$4 pid=${5:-} c0 c1 out
  c0=$(cpu_ticks "$pid")
  out=$(sysbench "$test" --db-driver=mysql --mysql-host=127.0.0.1 --mysql-port="$port" \
    --mysql-user=app --mysql-password=app --mysql-db=sbtest --tables=4 --table-size=10000 \
    --threads="$threads" --time="$SECS" --report-interval=0 run)
  c1=$(cpu_ticks "$pid")
  awk -v name="$name" -v t0="$c0" -v t1="$c1" -v tick="$TICK" -v pid="$pid" '
    /queries:/ && /per sec/ {gsub(/[()]/, "", $3); q = $2; qps = $3}
    /95th percentile:/ {p95 = $3}
    /ignored errors:/ {err = $3}
    END {cpu = pid == "" ? "-" : sprintf("%.2f", (t1 - t0) / tick * 1e6 / q)
         printf "%-9s qps=%s p95_ms=%s cpu_us_per_query=%s errors=%s\n", name, qps, p95, cpu, err}' <<<"$out"
}

for t in $TESTS; do
  test=${t%%:*} threads=${t##*:}
  echo "$test, $threads threads, ${SECS}s each, master $MASTER, datagate over ${#NODES[@]} nodes (read_write_split = $SPLIT, relay_engine = $RELAY_ENGINE)${NODE_CPU:+, each node capped at $NODE_CPU% of a core}"
  run "$test" "$threads" direct "${MASTER##*:}"
  run "$test" "$threads" haproxy "$HAP_PORT" "$HAP_PID"
  run "$test" "$threads" datagate "$DG_PORT" "$DG_PID"
done
