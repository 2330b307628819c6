#!/usr/bin/env bash
# datagate demo: a local 3-node MariaDB Galera cluster and Redis + 3 Sentinels (lab/, default
# ports), with datagate in front of them (config/demo.toml). Ctrl-C stops datagate and the lab.
#
#   scripts/demo.sh          as root (KEEP_LAB=1 leaves the lab running after Ctrl-C)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

CONFIG=${DEMO_CONFIG:-config/demo.toml}
export LAB_DIR=${LAB_DIR:-/tmp/datagate-lab}
export LAB_PORT_OFFSET=${LAB_PORT_OFFSET:-0}
PACKAGES=(mariadb-server mariadb-client galera-4 rsync redis-server redis-tools redis-sentinel curl iproute2 procps)

usage() {
  cat <<USAGE
usage: $0   (as root)
  starts lab/galera.sh and lab/redis.sh (LAB_DIR=$LAB_DIR), builds datagate (cargo build --release),
  runs target/release/datagate run -c $CONFIG in the foreground; Ctrl-C stops datagate and the lab
  (KEEP_LAB=1 keeps the lab running)
USAGE
}
case "${1:-}" in
  "") ;;
  -h | --help) usage; exit 0 ;;
  *) usage >&2; exit 2 ;;
esac

log() { printf '[%s demo] %s\n' "$(date +%H:%M:%S)" "$*"; }
die() { printf '[%s demo] ERROR: %s\n' "$(date +%H:%M:%S)" "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || { usage >&2; die "run as root (the lab starts MariaDB and Redis as their system users)"; }
# Under sudo, use the invoking user's Rust toolchain (rustup) when root has none.
if ! command -v cargo >/dev/null && [ -n "${SUDO_USER:-}" ]; then
  user_home=$(getent passwd "$SUDO_USER" | cut -d: -f6)
  if [ -x "$user_home/.cargo/bin/cargo" ]; then
    export PATH="$user_home/.cargo/bin:$PATH" CARGO_HOME=${CARGO_HOME:-$user_home/.cargo}
    export RUSTUP_HOME=${RUSTUP_HOME:-$user_home/.rustup}
  fi
fi
command -v cargo >/dev/null || die "cargo not found in PATH (under sudo: sudo env PATH=\"\$PATH\" $0)"
[ -f "$CONFIG" ] || die "$CONFIG not found"

# Ports datagate listens on (from the config): fail early with the name of whoever holds one.
listen_ports() { grep -E '^[[:space:]]*listen[[:space:]]*=' "$CONFIG" | grep -oE ':[0-9]+"' | tr -dc '0-9\n'; }
for p in $(listen_ports); do
  if ss -Hltn "sport = :$p" 2>/dev/null | grep -q LISTEN; then
    owner=$(ss -Hltnp "sport = :$p" 2>/dev/null | grep -o 'users:(([^)]*' | head -n 1)
    die "port $p (datagate's, from $CONFIG) is in use: ${owner:-unknown process}"
  fi
done

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Keep the packages from starting system services (mariadb on 3306, redis on 6379) meanwhile.
  own_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && own_policy=1
  fi
  rc=0
  { apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null; } || rc=$?
  [ "$own_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
  [ "$rc" = 0 ] || die "apt-get install ${missing[*]} failed"
fi

DG_PID=""
cleanup() {
  trap - EXIT INT TERM
  if [ -n "$DG_PID" ] && kill -0 "$DG_PID" 2>/dev/null; then
    log "stopping datagate (pid $DG_PID)"
    kill -TERM "$DG_PID" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$DG_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$DG_PID" 2>/dev/null || true
  fi
  if [ "${KEEP_LAB:-0}" = 1 ]; then
    log "KEEP_LAB=1: lab left running (stop it as root with: LAB_DIR=$LAB_DIR LAB_PORT_OFFSET=$LAB_PORT_OFFSET lab/all.sh stop)"
  else
    log "stopping the lab"
    lab/redis.sh stop >/dev/null 2>&1 || log "warning: lab/redis.sh stop failed"
    lab/galera.sh stop >/dev/null 2>&1 || log "warning: lab/galera.sh stop failed"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "starting the lab (Galera ~15 s on first start)"
lab/galera.sh start
lab/redis.sh start

log "building datagate (cargo build --release)"
cargo build --release
BIN=${CARGO_TARGET_DIR:-target}/release/datagate
"$BIN" check -c "$CONFIG"

"$BIN" run -c "$CONFIG" &
DG_PID=$!

admin=$(awk '/^\[admin\]/ {a = 1; next} /^\[/ {a = 0} a && /^[[:space:]]*listen/ {gsub(/.*=[[:space:]]*"|".*/, ""); print; exit}' "$CONFIG")
admin=${admin:-127.0.0.1:9090}
for _ in $(seq 1 150); do
  kill -0 "$DG_PID" 2>/dev/null || { wait "$DG_PID" || true; die "datagate exited (see its log above)"; }
  curl -fsS "http://$admin/readyz" >/dev/null 2>&1 && break
  sleep 0.2
done
if curl -fsS "http://$admin/readyz" >/dev/null 2>&1; then ready="ready"; else ready="running, not ready yet (curl http://$admin/readyz)"; fi

cat <<INFO

================================================================================
 datagate is $ready (pid $DG_PID, config $CONFIG)

   MySQL   mariadb -h127.0.0.1 -P3306 -uapp -papp appdb
   Redis   redis-cli -p 6379
   Metrics curl http://$admin/metrics
   Servers curl http://$admin/api/v1/servers

 Break something in another terminal (as root) and watch datagate follow:
   lab/galera.sh kill 1        lab/galera.sh restart 1
   lab/galera.sh desync 2      lab/galera.sh resync 2
   lab/redis.sh kill-master    lab/redis.sh failover    lab/redis.sh start

 Ctrl-C stops datagate and the lab.
================================================================================

INFO

wait "$DG_PID" || true
DG_PID=""
log "datagate exited"
