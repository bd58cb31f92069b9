#!/bin/sh
# tests/packages/run.sh BUILD LANGUAGE... - each language's package, installed
# the way its users install it and used from outside the source tree.
#
# Design: everything goes into one temporary directory, removed at the end,
# so the test installs nothing in a system location. The C library goes in
# first (make install PREFIX=$tmp/prefix), and each language's package finds
# it the way a user's would: pkg-config (PKG_CONFIG_PATH) when it is built,
# the run path it was linked with when it is loaded (no LD_LIBRARY_PATH:
# that would hide a missing run path). Then the language's echo client from
# examples/, copied out of the tree into $tmp/work, sends one line through
# the C example echo server on loopback and must print it back. A language
# whose toolchain is missing fails; nothing is skipped.
set -eu

build=$(cd "$1" && pwd)
shift
src=$(pwd)
make=${MAKE:-make}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/uvs-packages.XXXXXX")
prefix=$tmp/prefix
server_pid=
cleanup() {
  [ -z "$server_pid" ] || kill "$server_pid" 2>/dev/null || true
  [ -z "$server_pid" ] || wait "$server_pid" 2>/dev/null || true
  chmod -R u+w "$tmp" 2>/dev/null || true # Go's module cache is read-only
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

say() { echo "test-packages: $*"; }

# Some build tools print their progress; that goes to a log shown on failure.
quiet() {
  log=$tmp/step.log
  if ! "$@" >"$log" 2>&1; then
    cat "$log" >&2
    say "FAILED: $*" >&2
    return 1
  fi
}

say "C library into $prefix"
quiet $make --no-print-directory install PREFIX="$prefix"
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
# Tools that keep caches or settings in the home directory keep them here.
export HOME="$tmp/home"
mkdir -p "$HOME"
unset LD_LIBRARY_PATH PERL5LIB RUBYLIB LUA_PATH LUA_CPATH TCLLIBPATH CLASSPATH GOFLAGS || true

mkdir -p "$tmp/work"
"$build/examples/echo-server" --host 127.0.0.1 --port 0 >"$tmp/server.out" 2>&1 &
server_pid=$!
port=
tries=0
while [ -z "$port" ]; do
  port=$(sed -n 's/^serving on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$tmp/server.out")
  [ -n "$port" ] && break
  tries=$((tries + 1))
  if [ $tries -gt 300 ] || ! kill -0 "$server_pid" 2>/dev/null; then
    cat "$tmp/server.out" >&2
    say "the C echo server did not start" >&2
    exit 1
  fi
  sleep 0.1
done
say "C echo server on 127.0.0.1:$port"

# expect_echo LANGUAGE MESSAGE OUTPUT-FILE: the client's output has the line.
expect_echo() {
  if ! grep -q "$2" "$3"; then
    cat "$3" >&2
    say "$1: FAILED (no echo of '$2' in the client's output above)" >&2
    return 1
  fi
  say "$1: ok"
}

# expect_linked LANGUAGE FILE: FILE (the package's native module) loads
# libuvstreams from $prefix through its own run path, not some other copy.
expect_linked() {
  if ! ldd "$2" | grep -q "libuvstreams\.so\.[0-9]* => $prefix/lib/"; then
    ldd "$2" >&2
    say "$1: FAILED ($2 does not load libuvstreams from $prefix/lib)" >&2
    return 1
  fi
}

# Each test_<language> installs the package into $tmp and runs its client in
# $tmp/work; their environments stay in their subshells.
. "$src/tests/packages/languages.sh"

failed=
for language in "$@"; do
  if ! (cd "$tmp/work" && "test_$language"); then
    failed="$failed $language"
  fi
done
if [ -n "$failed" ]; then
  say "FAILED:$failed" >&2
  exit 1
fi
say "all passed ($*)"
