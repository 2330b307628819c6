#!/usr/bin/env bash
# L4 benchmark: redis-benchmark through HAProxy (nbthread 1) and through a datagate [[tcp]]
# listener, same Redis backend, same client, one run. Prints requests/s, the proxy's CPU time per
# request (utime+stime from /proc/PID/stat; the user-space share of it in its own column) and
# datagate/HAProxy ratios.
#
#   bench/l4-redis.sh [REQUESTS=200000] [CLIENTS=50] [ROUNDS=3]
# env: DATAGATE (binary, default target/release/datagate), WORKERS (datagate data-plane threads, default 1),
#      RELAY_ENGINE (datagate [global] relay_engine: auto, the default, io_uring or epoll)
#      SENTINELS ("host:port ..." of running sentinels) and MASTER_NAME (default dn): measure a
#      [[redis]] listener (master via Sentinel) instead, against the master the sentinels name,
#      with HAProxy pointing at that same master; e.g. the test lab's
#      SENTINELS="127.0.0.1:26879 127.0.0.1:26880 127.0.0.1:26881"
set -euo pipefail

REQ=${1:-200000} CLIENTS=${2:-50} ROUNDS=${3:-3}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DG=${DATAGATE:-$ROOT/target/release/datagate}
WORKERS=${WORKERS:-1}
RELAY_ENGINE=${RELAY_ENGINE:-auto}
BASE=${BENCH_PORT_BASE:-27400}
REDIS_PORT=$BASE HAP_PORT=$((BASE + 1)) DG_PORT=$((BASE + 2)) ADMIN_PORT=$((BASE + 3))
DIR=$(mktemp -d /tmp/datagate-bench.XXXXXX)
TICK=$(getconf CLK_TCK)

for c in redis-server redis-benchmark haproxy; do
  command -v "$c" >/dev/null || { echo "missing $c (apt-get install redis-server redis-tools haproxy)" >&2; exit 1; }
done
[ -x "$DG" ] || { echo "missing $DG (cargo build --release)" >&2; exit 1; }

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$DIR"; }
trap cleanup EXIT

SENTINELS=${SENTINELS:-} MASTER_NAME=${MASTER_NAME:-dn}
if [ -n "$SENTINELS" ]; then
  read -r -a SL <<<"$SENTINELS"
  REDIS_PORT=$(redis-cli -h "${SL[0]%%:*}" -p "${SL[0]##*:}" SENTINEL get-master-addr-by-name "$MASTER_NAME" | sed -n 2p)
  [ -n "$REDIS_PORT" ] || { echo "the sentinels name no master $MASTER_NAME" >&2; exit 1; }
  LISTENER="[[redis]]
name = \"redis\"
listen = \"127.0.0.1:$DG_PORT\"
master_name = \"$MASTER_NAME\"
sentinels = [$(printf '"%s",' "${SL[@]}")]"
else
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize no >"$DIR/redis.log" 2>&1 &
  pids+=($!)
  LISTENER="[[tcp]]
name = \"redis\"
listen = \"127.0.0.1:$DG_PORT\"
servers = [\"127.0.0.1:$REDIS_PORT\"]
check = \"none\""
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
listen redis
    bind 127.0.0.1:$HAP_PORT
    server r1 127.0.0.1:$REDIS_PORT
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
$LISTENER
CFG
"$DG" run -c "$DIR/datagate.toml" >"$DIR/datagate.log" 2>&1 &
DG_PID=$!
pids+=("$DG_PID")

for p in $REDIS_PORT $HAP_PORT $DG_PORT; do
  for _ in $(seq 50); do redis-cli -p "$p" ping >/dev/null 2>&1 && break; sleep 0.1; done
  redis-cli -p "$p" ping >/dev/null || { echo "port $p does not answer" >&2; cat "$DIR"/*.log >&2; exit 1; }
done

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
user_ticks() { awk '{print $14}' "/proc/$1/stat"; }

# run PORT PID : prints "rps cpu_us_per_req user_percent"
run() {
  local port=$1 pid=$2 c0 c1 u0 u1 out rps
  c0=$(cpu_ticks "$pid") u0=$(user_ticks "$pid")
  out=$(timeout 300 redis-benchmark -h 127.0.0.1 -p "$port" -c "$CLIENTS" -n "$REQ" -t set,get -q 2>/dev/null | tr '\r' '\n' | grep 'requests per second')
  c1=$(cpu_ticks "$pid") u1=$(user_ticks "$pid")
  rps=$(awk '{s += $2} END {printf "%.0f", s / NR}' <<<"$out")
  awk -v t0="$c0" -v t1="$c1" -v u0="$u0" -v u1="$u1" -v tick="$TICK" -v n="$REQ" -v rps="$rps" \
    'BEGIN {printf "%s %.2f %.0f\n", rps, (t1 - t0) / tick * 1e6 / (2 * n), (t1 > t0) ? 100 * (u1 - u0) / (t1 - t0) : 0}'
}

printf '%-8s %-5s %12s %16s %6s\n' proxy round 'req/s' 'cpu_us/req' 'user%'
declare -a H D
for r in $(seq "$ROUNDS"); do
  read -r hr hc hu < <(run "$HAP_PORT" "$HAP_PID")
  read -r dr dc du < <(run "$DG_PORT" "$DG_PID")
  printf '%-8s %-5s %12s %16s %6s\n' haproxy "$r" "$hr" "$hc" "$hu" datagate "$r" "$dr" "$dc" "$du"
  H+=("$hr $hc"); D+=("$dr $dc")
done
printf '%s\n' "${H[@]}" >"$DIR/h"; printf '%s\n' "${D[@]}" >"$DIR/d"
paste -d' ' "$DIR/h" "$DIR/d" | awk -v l="$([ -n "$SENTINELS" ] && echo redis || echo tcp)" -v c="$CLIENTS" -v w="$WORKERS" -v e="$RELAY_ENGINE" '
  {hr += $1; hc += $2; dr += $3; dc += $4; n++}
  END {printf "RESULT l4-redis listener=%s clients=%d datagate_workers=%d relay_engine=%s haproxy_rps=%.0f datagate_rps=%.0f throughput_ratio=%.2f haproxy_cpu_us=%.2f datagate_cpu_us=%.2f cpu_ratio=%.2f\n",
       l, c, w, e, hr/n, dr/n, dr/hr, hc/n, dc/n, dc/hc}'
