#!/usr/bin/env bash
# Builds the Debian package with `cargo deb` and checks it on this machine: install with
# `dpkg -i`, the files, the `datagate` user, `datagate check` of the shipped config, the conffile,
# then `dpkg --purge` and that the user, the binary and /etc/datagate are gone.
#
#   scripts/test-deb.sh      as root, on a machine where datagate is not installed otherwise
#
# Exits 77 (skipped) without touching anything when a datagate package, file or user is already
# there: the purge at the end would remove it.
# Installs cargo-deb (cargo install cargo-deb --locked) when it is missing. The service is not
# started: the package's postinst never starts or enables it.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

log() { printf '[%s test-deb] %s\n' "$(date +%H:%M:%S)" "$*"; }
skip() { printf '[%s test-deb] SKIPPED: %s\n' "$(date +%H:%M:%S)" "$*" >&2; exit 77; }
die() { printf '[%s test-deb] FAILED: %s\n' "$(date +%H:%M:%S)" "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root (dpkg -i and the system user)"
command -v dpkg >/dev/null || die "dpkg not found: this test needs a Debian system"
command -v cargo >/dev/null || die "cargo not found in PATH"

# Never clobber a datagate that is there for real.
if dpkg-query -W -f='${Status}' datagate 2>/dev/null | grep -q 'installed'; then
  skip "the datagate package is already installed; remove it first"
fi
for p in /usr/bin/datagate /etc/datagate /lib/systemd/system/datagate.service; do
  [ ! -e "$p" ] || skip "$p exists (installed by hand?); this test would overwrite and purge it"
done
! getent passwd datagate >/dev/null || skip "a datagate user exists; purging the package would delete it"

t0=$(date +%s)
if ! cargo deb --version >/dev/null 2>&1; then
  log "cargo install cargo-deb --locked"
  cargo install cargo-deb --locked
fi

log "cargo deb"
deb=$(cargo deb | tail -n 1)
[ -f "$deb" ] || die "cargo deb did not print the path of a .deb (got: $deb)"
log "built $deb ($(du -h "$deb" | cut -f1))"

installed=0
cleanup() {
  local rc=$?
  if [ "$installed" = 1 ]; then
    log "purging after a failure"
    dpkg --purge datagate >/dev/null 2>&1 || true
  fi
  exit "$rc"
}
trap cleanup EXIT

log "dpkg -i"
installed=1
dpkg -i "$deb"

for f in /usr/bin/datagate /lib/systemd/system/datagate.service /etc/datagate/datagate.toml \
  /etc/datagate/admin.token /usr/share/doc/datagate/datagate.toml.example \
  /usr/share/doc/datagate/grafana/datagate.json; do
  [ -f "$f" ] || die "$f is not installed"
done
[ -x /usr/bin/datagate ] || die "/usr/bin/datagate is not executable"
cmp -s systemd/datagate.service /lib/systemd/system/datagate.service ||
  die "the installed unit differs from systemd/datagate.service"
id datagate || die "no datagate user"
[ "$(stat -c %G /etc/datagate/datagate.toml)" = datagate ] || die "datagate.toml is not group datagate"
[ "$(stat -c %a /etc/datagate/admin.token)" = 640 ] || die "admin.token is not mode 640"
[ -s /etc/datagate/admin.token ] || die "admin.token is empty"
/usr/bin/datagate version
/usr/bin/datagate check -c /etc/datagate/datagate.toml || die "datagate check rejects the shipped config"
# The daemon reads its config as the datagate user, as the unit runs it.
setpriv --reuid=datagate --regid=datagate --init-groups /usr/bin/datagate check -c /etc/datagate/datagate.toml ||
  die "the datagate user cannot read the shipped config"
conffiles=$(dpkg-query -W -f='${Conffiles}' datagate)
grep -q '^ /etc/datagate/datagate.toml ' <<<"$conffiles" || die "not a conffile: /etc/datagate/datagate.toml ($conffiles)"
if [ -d /run/systemd/system ]; then
  ! systemctl is-active --quiet datagate || die "the package started the service"
fi
if command -v systemd-analyze >/dev/null; then
  systemd-analyze verify /lib/systemd/system/datagate.service || die "systemd-analyze verify"
fi

log "dpkg --purge"
dpkg --purge datagate
installed=0
for p in /usr/bin/datagate /etc/datagate /lib/systemd/system/datagate.service; do
  [ ! -e "$p" ] || die "$p is still there after the purge"
done
! getent passwd datagate >/dev/null || die "the datagate user is still there after the purge"
! getent group datagate >/dev/null || die "the datagate group is still there after the purge"

log "package ok in $(( $(date +%s) - t0 ))s"
