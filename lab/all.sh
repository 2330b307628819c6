#!/usr/bin/env bash
# Start or stop the whole datagate lab: Galera, Redis + Sentinel, HAProxy baseline, sysbench tables,
# and (with LAB_NETNS=1) the network namespaces for VRRP.
set -euo pipefail

LAB_NAME=all
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=SCRIPTDIR/lib.sh
. "$HERE/lib.sh"

usage() {
  cat <<EOF
usage: $0 start|stop|status
  start   galera.sh start, redis.sh start, [netns.sh up], haproxy.sh start, sysbench.sh prepare
  stop    haproxy.sh stop, [netns.sh down], redis.sh stop, galera.sh stop
  status  status of each part
env: LAB_DIR=$LAB_DIR  LAB_PORT_OFFSET=$PORT_OFFSET
     LAB_NETNS=1 also brings the namespaces up; 'stop' takes them down only if this LAB_DIR brought
     them up (or LAB_NETNS=1)
EOF
}

# netns_owned : the namespaces were brought up with this LAB_DIR (netns.sh leaves a marker).
netns_owned() { [ -e "$LAB_DIR/netns/up" ] || [ "${LAB_NETNS:-0}" = 1 ]; }

case "${1:-}" in
  start)
    require_root
    "$HERE/galera.sh" start
    "$HERE/redis.sh" start
    if [ "${LAB_NETNS:-0}" = 1 ]; then "$HERE/netns.sh" up; fi
    "$HERE/haproxy.sh" start
    "$HERE/sysbench.sh" prepare
    log "lab is up (state under $LAB_DIR)"
    ;;
  stop)
    require_root
    "$HERE/haproxy.sh" stop
    if netns_owned; then "$HERE/netns.sh" down; fi
    "$HERE/redis.sh" stop
    "$HERE/galera.sh" stop
    log "lab is stopped"
    ;;
  status)
    "$HERE/galera.sh" status
    "$HERE/redis.sh" status
    if netns_owned; then "$HERE/netns.sh" status; fi
    "$HERE/haproxy.sh" status
    ;;
  -h | --help | help) usage ;;
  *) usage >&2; exit 2 ;;
esac
