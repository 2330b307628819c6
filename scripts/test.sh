#!/usr/bin/env bash
# Build datagate and run every test, against a real Galera cluster and Redis + Sentinel started by
# the tests themselves (lab/ scripts, state in /tmp/datagate-test-lab, ports shifted by 500).
# Run as root (the lab runs MariaDB/Redis as system users, VRRP tests use network namespaces).
#
#   scripts/test.sh                     everything
#   scripts/test.sh --test lab -- --test-threads=1     just these arguments to cargo test
#
# Installs the Debian packages the tests need (skipped when they are all there), checks
# `cargo fmt --check` and `cargo clippy --all-targets -- -D warnings`, runs
# `cargo build --all-targets`, `cargo test` and scripts/test-deb.sh (the .deb; DATAGATE_TEST_DEB=0
# skips it), and stops the test lab on exit, even on failure
# (KEEP_LAB=1 leaves it running for the next run).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

PACKAGES=(mariadb-server mariadb-client galera-4 rsync redis-server redis-tools redis-sentinel
  haproxy keepalived sysbench iputils-arping iputils-ping tcpdump iproute2 curl procps systemd
  python3-pymysql)
export DATAGATE_TEST_LAB_DIR=${DATAGATE_TEST_LAB_DIR:-/tmp/datagate-test-lab}
export DATAGATE_TEST_PORT_OFFSET=${DATAGATE_TEST_PORT_OFFSET:-500}

usage() {
  cat <<USAGE
usage: $0 [CARGO TEST ARGS...]   (as root)
  installs: ${PACKAGES[*]}
  runs:     cargo fmt --check; cargo clippy --all-targets -- -D warnings;
            cargo build --all-targets; cargo test (end-to-end tests one at a time);
            scripts/test-deb.sh (cargo deb, dpkg -i, checks, dpkg --purge; DATAGATE_TEST_DEB=0 skips it);
            or only cargo test ARGS when arguments are given
  lab:      LAB_DIR=$DATAGATE_TEST_LAB_DIR LAB_PORT_OFFSET=$DATAGATE_TEST_PORT_OFFSET, stopped on exit unless KEEP_LAB=1
USAGE
}
case "${1:-}" in -h | --help) usage; exit 0 ;; esac

log() { printf '[%s test] %s\n' "$(date +%H:%M:%S)" "$*"; }

[ "$(id -u)" -eq 0 ] || { usage >&2; echo "error: run as root (the test lab starts MariaDB, Redis and network namespaces)" >&2; exit 1; }

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # The tests run their own servers: keep the packages from starting system services meanwhile.
  own_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && own_policy=1
  fi
  rc=0
  { apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null; } || rc=$?
  [ "$own_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
  [ "$rc" = 0 ] || { echo "error: apt-get install ${missing[*]} failed" >&2; exit "$rc"; }
fi

# Under sudo, use the invoking user's Rust toolchain (rustup) when root has none.
if ! command -v cargo >/dev/null && [ -n "${SUDO_USER:-}" ]; then
  user_home=$(getent passwd "$SUDO_USER" | cut -d: -f6)
  if [ -x "$user_home/.cargo/bin/cargo" ]; then
    export PATH="$user_home/.cargo/bin:$PATH" CARGO_HOME=${CARGO_HOME:-$user_home/.cargo}
    export RUSTUP_HOME=${RUSTUP_HOME:-$user_home/.rustup}
  fi
fi
command -v cargo >/dev/null || { echo "error: cargo not found in PATH (under sudo: sudo env PATH=\"\$PATH\" $0)" >&2; exit 1; }

stop_lab() {
  local rc=$?
  if [ "${KEEP_LAB:-0}" = 1 ]; then
    log "KEEP_LAB=1: test lab left running (LAB_DIR=$DATAGATE_TEST_LAB_DIR LAB_PORT_OFFSET=$DATAGATE_TEST_PORT_OFFSET)"
  else
    log "stopping the test lab"
    LAB_DIR=$DATAGATE_TEST_LAB_DIR LAB_PORT_OFFSET=$DATAGATE_TEST_PORT_OFFSET "$ROOT/lab/all.sh" stop >/dev/null 2>&1 ||
      log "warning: lab/all.sh stop failed"
  fi
  exit "$rc"
}
trap stop_lab EXIT
trap 'exit 130' INT TERM

t0=$(date +%s)
failed=()
step() { # step NAME CMD... : run a test step, remember a failure and go on with the next step
  local name=$1
  shift
  log "$name: $*"
  "$@" || failed+=("$name")
}
if [ $# -eq 0 ]; then
  # Lint first: formatting and clippy findings fail the run like a failing test.
  if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
    if command -v rustup >/dev/null; then
      log "rustup component add rustfmt clippy"
      rustup component add rustfmt clippy
    fi
  fi
  step "cargo fmt" cargo fmt --check
  step "cargo clippy" cargo clippy --all-targets -- -D warnings
fi
log "cargo build --all-targets"
cargo build --all-targets
if [ $# -gt 0 ]; then
  step "cargo test $*" cargo test "$@"
else
  # Unit tests run in parallel; the end-to-end tests share one lab and some of them kill nodes,
  # so each test binary runs its tests one at a time (cargo runs the binaries one after another).
  step "unit tests" cargo test --no-fail-fast --lib --bins
  step "end-to-end tests" cargo test --no-fail-fast --test '*' -- --test-threads=1
  step "doc tests" cargo test --doc
  if command -v shellcheck >/dev/null; then
    step "shellcheck" shellcheck -x lab/*.sh scripts/*.sh .ci/run debian/postinst debian/prerm debian/postrm
  fi
  # The Debian package: cargo install cargo-deb (under a minute) when missing, a release build,
  # dpkg -i, checks, dpkg --purge. DATAGATE_TEST_DEB=0 leaves it out.
  if [ "${DATAGATE_TEST_DEB:-1}" != 0 ]; then
    deb_rc=0
    log "debian package: scripts/test-deb.sh"
    scripts/test-deb.sh || deb_rc=$?
    case $deb_rc in
      0) ;;
      77) log "debian package: skipped (see above)" ;;
      *) failed+=("debian package") ;;
    esac
  fi
fi
if [ ${#failed[@]} -gt 0 ]; then
  log "FAILED: ${failed[*]} ($(( $(date +%s) - t0 ))s)"
  exit 1
fi
log "all tests passed in $(( $(date +%s) - t0 ))s"
