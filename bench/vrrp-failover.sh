#!/usr/bin/env bash
# VIP failover gap, datagate vs keepalived, side by side in one run.
#
# Two VRRPv3 routers (priority 150 master, 100 backup, 100 ms adverts) in network namespaces on
# one bridge; a client namespace pings the VIP every 10 ms. The master is stopped with SIGTERM
# (graceful: priority 0) or crashed (frozen, VIP dropped, SIGKILL). Prints one line per case:
#   vrrp-failover run=N daemon=datagate|keepalived fail=sigterm|sigkill gap_ms= lost= vip_moved_ms=
# gap_ms: longest time between two ping replies; vip_moved_ms: signal -> VIP on the backup.
#
# Needs root, iproute2, keepalived, tcpdump, iputils-ping. RUNS=N repeats every case (default 3).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
[ "$(id -u)" = 0 ] || { echo "run as root (network namespaces, raw sockets)" >&2; exit 2; }
for t in ip keepalived tcpdump ping; do
  command -v "$t" >/dev/null || { echo "missing $t (apt-get install iproute2 keepalived tcpdump iputils-ping)" >&2; exit 2; }
done
export VRRP_BENCH_RUNS=${RUNS:-3}
cargo build --quiet --bin datagate
cargo test --quiet --test vrrp failover_gaps -- --ignored --nocapture 2>&1 | tee /dev/stderr | grep '^vrrp-failover' >/dev/null
