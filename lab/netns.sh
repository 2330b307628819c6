#!/usr/bin/env bash
# Network namespaces for VRRP / gratuitous-ARP tests of the datagate lab.
#   dgbr      holds bridge br0 (no addresses)
#   dg1/2/3   eth0 = 10.213.0.11/.12/.13 on br0   (VIP holders: datagate or keepalived)
#   dgclient  eth0 = 10.213.0.100 on br0          (probes the VIP 10.213.0.200)
# Nothing is added to the root namespace. Keepalived state lives under ${LAB_DIR:-/tmp/datagate-lab}/netns.
set -euo pipefail

LAB_NAME=netns
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=SCRIPTDIR/lib.sh
. "$HERE/lib.sh"

N=$LAB_DIR/netns
# LAB_NS_PREFIX renames every namespace (default dg: dgbr dg1 dg2 dg3 dgclient) for a second lab.
P=${LAB_NS_PREFIX:-dg}
BRNS=${P}br H1=${P}1 H2=${P}2 H3=${P}3 HC=${P}client
HOSTS=("$H1" "$H2" "$H3" "$HC")
[[ "$P" =~ ^[a-z][a-z0-9]{0,5}$ ]] || { echo "LAB_NS_PREFIX: 1-6 lowercase letters/digits (interface names are limited to 15 chars)" >&2; exit 2; }
SUBNET=10.213.0
VIP=${VIP:-$SUBNET.200}
VRID=${VRID:-51}
ADVERT=${ADVERT:-0.1}

usage() {
  cat <<EOF
usage: $0 up|down|status|verify
       $0 exec NAME CMD...              run CMD inside namespace NAME
       $0 keepalived NAME PRIORITY      start keepalived (VRRPv3, vrid $VRID, advert ${ADVERT}s, VIP $VIP/24) in NAME
       $0 keepalived-stop NAME          SIGTERM keepalived in NAME (graceful: sends priority 0, drops the VIP)
       $0 keepalived-kill NAME          SIGKILL keepalived in NAME and drop its VIP (simulates a dead host)
       $0 vip                           which namespace holds $VIP
       $0 probe [SECONDS]               ping $VIP from ${HC} every 10 ms, report loss and the longest gap
       $0 garp-test                     send gratuitous ARP from ${H1}, check that ${H2} sees it
       $0 failover-test [stop|kill]     keepalived ${H1} (prio 150) + ${H2} (prio 100), fail ${H1}, measure the VIP gap
namespaces: $BRNS (bridge) ${HOSTS[*]}; subnet $SUBNET.0/24; state under $N
EOF
}

addr_of() {
  case "$1" in
    "$H1") echo "$SUBNET.11" ;; "$H2") echo "$SUBNET.12" ;; "$H3") echo "$SUBNET.13" ;; "$HC") echo "$SUBNET.100" ;;
    *) die "unknown namespace '$1' (one of: ${HOSTS[*]})" ;;
  esac
}

known_ns() { case "$1" in "$BRNS" | "$H1" | "$H2" | "$H3" | "$HC") return 0 ;; *) return 1 ;; esac; }
ns_exists() { ip netns list | awk '{print $1}' | grep -qx "$1"; }
nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

need_up() {
  if ! ns_exists "$BRNS" || ! ns_exists "$HC"; then die "namespaces are not up: run '$0 up' first"; fi
}

cmd_up() {
  ensure_pkgs iproute2 iputils-ping iputils-arping tcpdump keepalived
  local h a
  ns_exists "$BRNS" || { ip netns add "$BRNS"; log "created namespace $BRNS"; }
  nsx "$BRNS" ip link set lo up
  if ! ip -n "$BRNS" link show br0 >/dev/null 2>&1; then
    ip -n "$BRNS" link add br0 type bridge stp_state 0 forward_delay 0 mcast_snooping 0
    log "created bridge br0 in $BRNS"
  fi
  ip -n "$BRNS" link set br0 up
  for h in "${HOSTS[@]}"; do
    a=$(addr_of "$h")
    ns_exists "$h" || { ip netns add "$h"; log "created namespace $h"; }
    nsx "$h" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
    nsx "$h" ip link set lo up
    if ! ip -n "$BRNS" link show "to-$h" >/dev/null 2>&1; then
      ip -n "$h" link del eth0 2>/dev/null || true
      ip -n "$BRNS" link add "to-$h" type veth peer name eth0 netns "$h"
      log "veth to-$h ($BRNS) <-> eth0 ($h)"
    fi
    ip -n "$BRNS" link set "to-$h" master br0 up
    ip -n "$h" link set eth0 multicast on up
    if ! ip -n "$h" -4 addr show dev eth0 | grep -q "inet $a/24"; then
      ip -n "$h" addr add "$a/24" dev eth0
      log "$h: eth0 $a/24"
    fi
  done
  # Wait for the links to come up (veth carrier), then check reachability.
  sleep 0.5
  for h in ${H1} ${H2} ${H3}; do
    nsx "$HC" ping -c1 -W1 "$(addr_of "$h")" >/dev/null || die "${HC} cannot ping $h"
  done
  # all.sh stop takes the namespaces down only when this lab directory brought them up.
  mkdir -p "$N"
  echo "$P" >"$N/up"
  log "up: ${H1} $SUBNET.11, ${H2} $SUBNET.12, ${H3} $SUBNET.13, ${HC} $SUBNET.100 (bridge br0 in $BRNS); VIP will be $VIP"
}

cmd_down() {
  local h
  for h in ${H1} ${H2} ${H3}; do
    if [ -s "$N/$h/keepalived.pid" ]; then keepalived_stop "$h" quiet; fi
  done
  for h in "${HOSTS[@]}" "$BRNS"; do
    if ns_exists "$h"; then ip netns del "$h"; log "deleted namespace $h"; fi
  done
  rm -f "$N/up"
  log "down"
}

vip_holders() {
  local h out=""
  for h in ${H1} ${H2} ${H3}; do
    ns_exists "$h" || continue
    if ip -n "$h" -4 addr show dev eth0 2>/dev/null | grep -q "inet $VIP/"; then out+="$h "; fi
  done
  echo "${out% }"
}

cmd_status() {
  local h
  for h in "$BRNS" "${HOSTS[@]}"; do
    if ns_exists "$h"; then
      if [ "$h" = "$BRNS" ]; then
        printf '%-9s %s\n' "$h" "$(ip -n "$h" -br link show | awk '$1 != "lo" {print $1, $2}' | paste -sd' ' -)"
      else
        printf '%-9s %s\n' "$h" "$(ip -n "$h" -br -4 addr show | awk '$1 != "lo" {print $1, $2, $3, $4}' | paste -sd' ' -)"
      fi
    else
      printf '%-9s %s\n' "$h" "absent"
    fi
  done
  for h in ${H1} ${H2} ${H3}; do
    if ka_running "$h"; then
      printf 'keepalived %-4s pid %s (vrrp child %s)\n' "$h" "$(pid_of "$N/$h/keepalived.pid")" "$(pid_of "$N/$h/vrrp.pid")"
    fi
  done
  printf 'VIP %s held by: %s\n' "$VIP" "$(vip_holders)"
}

ka_running() { running "$N/$1/keepalived.pid" keepalived; }

cmd_keepalived() {
  local h=$1 prio=$2 d pid
  need_up
  addr_of "$h" >/dev/null
  [ "$h" != "$HC" ] || die "keepalived runs in ${H1}, ${H2} or ${H3}"
  if ! [[ "$prio" =~ ^[0-9]+$ ]] || [ "$prio" -lt 1 ] || [ "$prio" -gt 254 ]; then die "PRIORITY must be 1..254"; fi
  d=$N/$h
  if ka_running "$h"; then log "keepalived already running in $h (pid $(pid_of "$d/keepalived.pid"))"; return 0; fi
  mkdir -p "$d"
  rm -f "$d/keepalived.pid" "$d/vrrp.pid" "$d/checkers.pid"
  cat >"$d/keepalived.conf" <<EOF
# generated by netns.sh
global_defs {
    router_id $h
    vrrp_version 3
    vrrp_garp_master_delay 1
    vrrp_garp_master_repeat 3
}
vrrp_instance DG {
    state BACKUP
    interface eth0
    virtual_router_id $VRID
    priority $prio
    advert_int $ADVERT
    virtual_ipaddress {
        $VIP/24 dev eth0
    }
}
EOF
  setsid ip netns exec "$h" keepalived -n -l -D -G -P -f "$d/keepalived.conf" \
    -p "$d/keepalived.pid" -r "$d/vrrp.pid" -c "$d/checkers.pid" </dev/null >>"$d/keepalived.log" 2>&1 &
  pid=$!
  disown "$pid" 2>/dev/null || true
  local i
  for ((i = 0; i < 50; i++)); do
    [ -s "$d/vrrp.pid" ] && break
    pid_alive "$pid" || { tail -n 20 "$d/keepalived.log" >&2; die "keepalived in $h exited"; }
    sleep 0.1
  done
  [ -s "$d/vrrp.pid" ] || { tail -n 20 "$d/keepalived.log" >&2; die "keepalived in $h did not start"; }
  log "keepalived in $h: pid $(pid_of "$d/keepalived.pid"), vrrp child $(pid_of "$d/vrrp.pid"), priority $prio, vrid $VRID, advert ${ADVERT}s (log $d/keepalived.log)"
}

keepalived_stop() {
  local h=$1 quiet=${2:-} d pid
  d=$N/$h
  pid=$(pid_of "$d/keepalived.pid")
  if ka_running "$h"; then
    stop_pid "$pid" "keepalived in $h" 10
  elif [ -z "$quiet" ]; then
    log "keepalived is not running in $h"
  fi
  rm -f "$d/keepalived.pid" "$d/vrrp.pid" "$d/checkers.pid"
}

cmd_keepalived_kill() {
  local h=$1 d pid child
  d=$N/$h
  ka_running "$h" || { log "keepalived is not running in $h"; return 0; }
  pid=$(pid_of "$d/keepalived.pid")
  child=$(pid_of "$d/vrrp.pid")
  # Freeze both first (no more adverts, no respawn, no graceful shutdown), drop the VIP the way a
  # dead host would lose it (a killed keepalived alone leaves it configured), then kill both.
  kill -STOP "$pid"
  if pid_alive "$child"; then kill -STOP "$child"; fi
  ip -n "$h" addr del "$VIP/24" dev eth0 2>/dev/null || true
  if pid_alive "$child"; then kill -KILL "$child"; fi
  kill -KILL "$pid"
  while pid_alive "$pid" || pid_alive "$child"; do sleep 0.01; done
  rm -f "$d/keepalived.pid" "$d/vrrp.pid" "$d/checkers.pid"
  log "keepalived in $h killed (SIGKILL parent $pid and vrrp child $child), VIP removed from $h"
}

# probe SECONDS : ping the VIP from dgclient every 10 ms; print sent, received, longest gap (ms).
probe_raw() {
  local secs=$1
  nsx "$HC" ping -D -n -i 0.01 -W 0.1 -w "$secs" "$VIP" 2>/dev/null || true
}

probe_report() {
  awk '
    /bytes from/ { t = substr($1, 2, length($1) - 2) * 1000; if (last != "" && t - last > gap) gap = t - last; last = t; ok++ }
    /packets transmitted/ { sent = $1 }
    END { printf "sent=%d received=%d lost=%d longest_gap_ms=%.0f\n", sent, ok, sent - ok, gap }'
}

cmd_probe() {
  local secs=${1:-5}
  need_up
  log "pinging $VIP from ${HC} every 10 ms for ${secs}s"
  probe_raw "$secs" | probe_report
}

cmd_garp_test() {
  need_up
  local cap=$N/garp.pcap.txt pid
  mkdir -p "$N"
  log "${H2}: tcpdump -n -i eth0 arp (background, 5s max)"
  nsx "$H2" timeout 5 tcpdump -l -n -i eth0 -c 20 arp >"$cap" 2>/dev/null &
  pid=$!
  sleep 1
  log "${H1}: arping -U -c 3 -I eth0 $SUBNET.11 (gratuitous ARP)"
  nsx "$H1" arping -q -U -c 3 -w 3 -I eth0 "$SUBNET.11" || true
  wait "$pid" || true
  cat "$cap"
  grep -Eq "Request who-has $SUBNET.11 (\(ff:ff:ff:ff:ff:ff\) )?tell $SUBNET.11," "$cap" || die "${H2} did not see the gratuitous ARP"
  log "gratuitous ARP from ${H1} seen in ${H2}"
}

# failover-test [stop|kill] : measure how long dgclient cannot reach the VIP when the MASTER fails.
cmd_failover_test() {
  local how=${1:-stop} raw res i
  need_up
  case "$how" in stop | kill) ;; *) die "failover-test takes stop or kill" ;; esac
  for i in ${H1} ${H2}; do keepalived_stop "$i" quiet; done
  cmd_keepalived "$H1" 150
  cmd_keepalived "$H2" 100
  for ((i = 0; i < 50; i++)); do [ "$(vip_holders)" = "$H1" ] && break; sleep 0.1; done
  [ "$(vip_holders)" = "$H1" ] || die "${H1} did not become MASTER (VIP held by: '$(vip_holders)')"
  log "${H1} is MASTER and holds $VIP"
  nsx "$HC" ping -c1 -W1 "$VIP" >/dev/null || die "${HC} cannot reach $VIP"
  raw=$N/probe-$how.txt
  probe_raw 6 >"$raw" &
  local ppid=$! t0
  sleep 2
  t0=$(now_ms)
  if [ "$how" = stop ]; then
    log "SIGTERM keepalived in ${H1} (pid $(pid_of "$N/${H1}/keepalived.pid"))"
    kill -TERM "$(pid_of "$N/${H1}/keepalived.pid")"
  else
    cmd_keepalived_kill "$H1"
  fi
  for ((i = 0; i < 200; i++)); do [ "$(vip_holders)" = "$H2" ] && break; sleep 0.01; done
  log "VIP on ${H2} about $(( $(now_ms) - t0 ))ms after the $how (seen by polling 'ip addr')"
  keepalived_stop "$H1" quiet
  wait "$ppid" || true
  res=$(probe_report <"$raw")
  log "${HC} -> $VIP during failover ($how): $res"
  keepalived_stop "$H2"
  echo "$res"
}

cmd_verify() {
  need_up
  local a b
  for a in "${HOSTS[@]}"; do
    for b in "${HOSTS[@]}"; do
      [ "$a" = "$b" ] && continue
      nsx "$a" ping -c1 -W1 "$(addr_of "$b")" >/dev/null || die "$a cannot ping $b"
    done
  done
  log "ping between all namespaces works"
  cmd_garp_test
  cmd_failover_test stop
  cmd_failover_test kill
}

main() {
  local cmd=${1:-}
  [ $# -gt 0 ] && shift
  case "$cmd" in
    up) require_root; cmd_up ;;
    down) require_root; cmd_down ;;
    status) cmd_status ;;
    exec) require_root; [ $# -ge 2 ] || { usage >&2; exit 2; }; known_ns "$1" || die "unknown namespace $1 (one of: $BRNS ${HOSTS[*]})"; nsx "$@" ;;
    keepalived) require_root; [ $# -eq 2 ] || { usage >&2; exit 2; }; cmd_keepalived "$1" "$2" ;;
    keepalived-stop) require_root; [ $# -eq 1 ] || { usage >&2; exit 2; }; keepalived_stop "$1" ;;
    keepalived-kill) require_root; [ $# -eq 1 ] || { usage >&2; exit 2; }; cmd_keepalived_kill "$1" ;;
    vip) vip_holders ;;
    probe) require_root; cmd_probe "${1:-5}" ;;
    garp-test) require_root; cmd_garp_test ;;
    failover-test) require_root; cmd_failover_test "${1:-stop}" ;;
    verify) require_root; cmd_verify ;;
    -h | --help | help) usage ;;
    *) usage >&2; exit 2 ;;
  esac
}

main "$@"
