#!/bin/sh
# run-installed.sh - what `make test-deb` runs (as root):
#
#   sh debian/tests/run-installed.sh build/deb libuvstreams0 libuvstreams-dev ...
#
# Installs the packages built by `make deb` with apt-get (which also pulls
# in their dependencies), runs the tests of debian/tests/control against
# them (the ones autopkgtest would run), and removes the packages again
# whatever happened, so the machine is left as it was. Refuses to start if
# one of them is installed already: removing it afterwards would change
# the machine.
set -u
debs=$1
shift
names="$*"
here=$(cd "$(dirname "$0")" && pwd)

if [ "$(id -u)" != 0 ]; then
  echo "test-deb: needs root (apt-get install/remove of $names)" >&2
  exit 1
fi
for p in $names; do
  if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
    echo "test-deb: $p is installed already; apt-get remove it first" >&2
    exit 1
  fi
done

# Other jobs on the machine may hold the dpkg lock for a while.
apt_get() {
  tries=0
  until DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 -y -q "$@"; do
    tries=$((tries + 1))
    [ $tries -lt 3 ] || return 1
    sleep 10
  done
}

cleanup() {
  echo "test-deb: removing $names"
  # shellcheck disable=SC2086 # names are words
  apt_get purge $names >/dev/null || echo "test-deb: could not remove $names" >&2
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# shellcheck disable=SC2046 # one argument per package file
apt_get install $(for f in "$debs"/*.deb; do echo "$(cd "$(dirname "$f")" && pwd)/$(basename "$f")"; done) >/dev/null || {
  echo "test-deb: apt-get install failed" >&2; exit 1; }
dpkg-query -W $names || exit 1

failed=0
for t in $(sed -n 's/^Tests: *//p' "$here/control"); do
  echo "test-deb: $t"
  if "$here/$t"; then echo "test-deb: $t passed"; else
    echo "test-deb: $t FAILED" >&2; failed=$((failed + 1)); fi
done
echo "test-deb: $(sed -n 's/^Tests: *//p' "$here/control" | wc -w) tests, $failed failed"
[ "$failed" = 0 ]
