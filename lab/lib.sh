# Common helpers for the datagate lab scripts. Sourced, not run.
# shellcheck shell=bash

LAB_DIR=${LAB_DIR:-/tmp/datagate-lab}
# Shift every TCP port of the lab by this much (a multiple of 100 below 1000) to run a second lab
# beside the first one on the same machine (for example the test suite's lab next to a demo lab).
PORT_OFFSET=${LAB_PORT_OFFSET:-0}
case "$PORT_OFFSET" in '' | *[!0-9]*) echo "LAB_PORT_OFFSET must be a number" >&2; exit 2 ;; esac
if [ $((PORT_OFFSET % 100)) -ne 0 ] || [ "$PORT_OFFSET" -ge 1000 ]; then
  echo "LAB_PORT_OFFSET must be a multiple of 100 below 1000 (got $PORT_OFFSET)" >&2
  exit 2
fi

log()  { printf '[%s %s] %s\n' "$(date +%H:%M:%S)" "${LAB_NAME:-lab}" "$*"; }
warn() { printf '[%s %s] WARNING: %s\n' "$(date +%H:%M:%S)" "${LAB_NAME:-lab}" "$*" >&2; }
die()  { printf '[%s %s] ERROR: %s\n' "$(date +%H:%M:%S)" "${LAB_NAME:-lab}" "$*" >&2; exit 1; }

require_root() {
  [ "$(id -u)" -eq 0 ] || die "must run as root (try sudo)"
}

# ensure_pkgs PKG... : apt-get install the Debian packages that are not installed yet.
ensure_pkgs() {
  local missing=() p
  for p in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
      missing+=("$p")
    fi
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing missing packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # The lab runs its own server processes: keep the packages from starting system services
  # (mariadb on 3306, redis on 6379, sentinel on 26379) while they install, when nothing else
  # already decides that (an existing policy-rc.d is left alone).
  local policy=/usr/sbin/policy-rc.d own_policy=0 rc=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && own_policy=1
  fi
  { apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null; } || rc=$?
  if [ "$own_policy" = 1 ]; then rm -f "$policy"; fi
  [ "$rc" = 0 ] || die "apt-get install ${missing[*]} failed (exit $rc)"
  log "installed: ${missing[*]}"
}

# now_ms : wall clock in milliseconds.
now_ms() { date +%s%3N; }

# pid_of FILE : the pid recorded in FILE, or nothing.
pid_of() {
  local f=$1 pid
  [ -s "$f" ] || return 0
  pid=$(tr -dc '0-9' <"$f")
  [ -n "$pid" ] && printf '%s\n' "$pid"
  return 0
}

# pid_alive PID : true when PID is a live (non-zombie) process.
pid_alive() {
  local pid=${1:-}
  [ -n "$pid" ] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  local st
  st=$(awk '/^State:/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
  [ "$st" != "Z" ]
}

# running PIDFILE [COMM] : true when the pid in PIDFILE is alive (and, if given, its comm matches).
running() {
  local pid
  pid=$(pid_of "$1")
  pid_alive "$pid" || return 1
  if [ -n "${2:-}" ]; then
    grep -q -- "$2" "/proc/$pid/comm" 2>/dev/null || return 1
  fi
  return 0
}

# stop_pid PID NAME [TIMEOUT_S] : SIGTERM, wait, then SIGKILL if still alive.
stop_pid() {
  local pid=$1 name=$2 timeout=${3:-30} i
  pid_alive "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < timeout * 10; i++)); do
    pid_alive "$pid" || { log "$name (pid $pid) stopped"; return 0; }
    sleep 0.1
  done
  warn "$name (pid $pid) did not stop in ${timeout}s, sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  sleep 0.2
}

# wait_port PORT TIMEOUT_S : wait until something listens on 127.0.0.1:PORT.
wait_port() {
  local port=$1 timeout=$2 i
  for ((i = 0; i < timeout * 10; i++)); do
    if ss -Hltn "sport = :$port" 2>/dev/null | grep -q LISTEN; then return 0; fi
    sleep 0.1
  done
  return 1
}

# port_busy PORT : true when something listens on PORT (any address).
port_busy() { ss -Hltn "sport = :$1" 2>/dev/null | grep -q LISTEN; }

# port_owner PORT : "pid N: command line" of the process listening on PORT, for error messages.
port_owner() {
  local pid
  pid=$(ss -Hltnp "sport = :$1" 2>/dev/null | grep -o 'pid=[0-9]*' | head -n 1 | cut -d= -f2)
  [ -n "$pid" ] || { echo "unknown process"; return 0; }
  printf 'pid %s: %s' "$pid" "$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | cut -c1-160)"
}

# die_port_busy PORT : explain who holds PORT and how to run a second lab beside it.
die_port_busy() {
  die "port $1 is already in use ($(port_owner "$1")); stop that process, or run this lab with LAB_PORT_OFFSET=100 (and its own LAB_DIR)"
}
