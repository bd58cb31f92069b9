#!/bin/sh
# run.sh <label> <command> [args...]: runs one binding's conformance runner
# against the reference peer (tests/conformance/FORMAT.md).
#
# Starts the peer ($UVS_CONFORMANCE_PEER, default build/conformance/peer) on
# an ephemeral 127.0.0.1 port and a Unix socket in a temporary directory,
# exports the UVS_CONFORMANCE_* variables, runs the command under a time
# limit ($UVS_CONFORMANCE_TIMEOUT seconds, default 300), stops the peer and
# exits non-zero if the command failed or the peer logged a PEER-FAIL line
# (the peer's log is printed then). A runner may list, one per line, the
# scenarios it expects to fail (its known bugs, e.g. pytest xfail) in the
# file $UVS_CONFORMANCE_EXPECTED_FAILURES: the peer's failures for those
# scenarios are then shown but do not fail the run.

set -u

if [ $# -lt 2 ]; then
  echo "usage: $0 <label> <command> [args...]" >&2
  exit 2
fi
label=$1
shift

here=$(cd "$(dirname "$0")" && pwd)
peer=${UVS_CONFORMANCE_PEER:-build/conformance/peer}
if [ ! -x "$peer" ] && [ -x "$here/../../$peer" ]; then
  peer=$here/../../$peer
fi
if [ ! -x "$peer" ]; then
  echo "conformance $label: FAIL (no peer at $peer: run make conformance-peer)" >&2
  exit 2
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/uvs-conformance.XXXXXX") || exit 2
peer_pid=
cleanup() {
  if [ -n "$peer_pid" ]; then
    kill "$peer_pid" 2>/dev/null
    wait "$peer_pid" 2>/dev/null
    peer_pid=
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"$peer" "$here/scenarios.txt" "$tmp/peer.sock" >"$tmp/peer.out" 2>"$tmp/peer.log" &
peer_pid=$!

# wait (up to 10 s) for the peer to print its ports
i=0
while ! grep -q '^READY$' "$tmp/peer.out" 2>/dev/null; do
  if ! kill -0 "$peer_pid" 2>/dev/null || [ $i -ge 100 ]; then
    echo "conformance $label: FAIL (the peer did not start)" >&2
    cat "$tmp/peer.log" >&2
    exit 2
  fi
  sleep 0.1
  i=$((i + 1))
done
port=$(sed -n 's/^PORT //p' "$tmp/peer.out")
closed_port=$(sed -n 's/^CLOSED_PORT //p' "$tmp/peer.out")

UVS_CONFORMANCE_SCENARIOS=$here/scenarios.txt
UVS_CONFORMANCE_HOST=127.0.0.1
UVS_CONFORMANCE_PORT=$port
UVS_CONFORMANCE_UNIX=$tmp/peer.sock
UVS_CONFORMANCE_CLOSED_PORT=$closed_port
UVS_CONFORMANCE_EXPECTED_FAILURES=$tmp/expected-failures
export UVS_CONFORMANCE_SCENARIOS UVS_CONFORMANCE_HOST UVS_CONFORMANCE_PORT \
  UVS_CONFORMANCE_UNIX UVS_CONFORMANCE_CLOSED_PORT \
  UVS_CONFORMANCE_EXPECTED_FAILURES
: >"$tmp/expected-failures"

timeout "${UVS_CONFORMANCE_TIMEOUT:-300}" "$@"
rc=$?

# SIGTERM: the peer waits briefly for the connections still running (their
# failures are logged) and exits
kill "$peer_pid" 2>/dev/null
wait "$peer_pid" 2>/dev/null
peer_pid=

fails=$(grep -c '^PEER-FAIL' "$tmp/peer.log")
# failures of scenarios the runner expects to fail do not count
unexpected=0
if [ "$fails" -gt 0 ]; then
  unexpected=$(grep '^PEER-FAIL' "$tmp/peer.log" | while IFS= read -r line; do
    name=${line#PEER-FAIL }
    name=${name%%:*}
    grep -qxF "$name" "$tmp/expected-failures" || echo x
  done | wc -l)
  unexpected=$((unexpected + 0))
fi

status=PASS
reason=
if [ $rc -eq 124 ]; then
  status=FAIL
  reason="the command timed out after ${UVS_CONFORMANCE_TIMEOUT:-300} s"
elif [ $rc -ne 0 ]; then
  status=FAIL
  reason="the command exited with status $rc"
fi
if [ "$unexpected" -gt 0 ]; then
  status=FAIL
  reason="${reason:+$reason; }the peer logged $unexpected failure(s)"
fi
if [ "$fails" -gt 0 ] || [ $status = FAIL ]; then
  echo "---- peer log ($label) ----" >&2
  cat "$tmp/peer.log" >&2
  echo "----" >&2
fi
expected=$((fails - unexpected))
note=
[ "$expected" -gt 0 ] && note=" ($expected expected peer failure(s) of known-failing scenarios)"
if [ $status = PASS ]; then
  echo "conformance $label: PASS$note"
  exit 0
fi
echo "conformance $label: FAIL ($reason)$note" >&2
[ $rc -ne 0 ] && exit $rc
exit 1
