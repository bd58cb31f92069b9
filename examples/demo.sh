#!/bin/sh
# demo.sh - runs the echo example end to end on the loopback interface.
#
#   sh examples/demo.sh build/examples        (what `make demo` does)
#
# Starts echo-server on 127.0.0.1 with port 0 (the kernel picks a free one),
# reads the real port from its first line ("serving on 127.0.0.1:PORT"),
# runs echo-client against it, stops the server with SIGINT and shows both
# sides' output, then runs socketpair-read. Every step has a time limit and
# the exit status is non-zero if anything failed.

set -u

BIN=${1:-build/examples}
STEP_TIMEOUT=10 # seconds for each program, and for the server to start/stop
MESSAGE='Hello World!'
TMP=$(mktemp -d "${TMPDIR:-/tmp}/uvstreams-demo.XXXXXX") || exit 1
SERVER_PID=
FAILED=0

# shellcheck disable=SC2317 # called from the EXIT trap
cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -KILL "$SERVER_PID" 2>/dev/null
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
  echo "demo: FAILED: $*" >&2
  FAILED=1
}

# Prints a file with a label in front of every line.
show() {
  sed "s/^/  $1> /" "$2"
}

# Runs a command with the step time limit (coreutils timeout if present).
limited() {
  if command -v timeout >/dev/null 2>&1; then
    timeout "$STEP_TIMEOUT" "$@"
  else
    "$@"
  fi
}

# Waits until the server has printed its first line; echoes the port.
wait_for_port() {
  i=0
  while [ "$i" -lt $((STEP_TIMEOUT * 10)) ]; do
    line=$(head -n 1 "$TMP/server.out" 2>/dev/null)
    case $line in
    "serving on "*:*)
      echo "${line##*:}"
      return 0
      ;;
    esac
    kill -0 "$SERVER_PID" 2>/dev/null || return 1
    sleep 0.1
    i=$((i + 1))
  done
  return 1
}

# Sends SIGINT and waits (bounded) for the server; returns its status.
stop_server() {
  kill -INT "$SERVER_PID" 2>/dev/null || return 1
  i=0
  while kill -0 "$SERVER_PID" 2>/dev/null; do
    if [ "$i" -ge $((STEP_TIMEOUT * 10)) ]; then
      echo "demo: server ignored SIGINT, killing it" >&2
      kill -KILL "$SERVER_PID" 2>/dev/null
      break
    fi
    sleep 0.1
    i=$((i + 1))
  done
  wait "$SERVER_PID"
  status=$?
  SERVER_PID=
  return "$status"
}

for prog in echo-server echo-client socketpair-read; do
  if [ ! -x "$BIN/$prog" ]; then
    echo "demo: $BIN/$prog not found (run: make examples)" >&2
    exit 1
  fi
done

echo "== echo-server: $BIN/echo-server --host 127.0.0.1 --port 0"
"$BIN/echo-server" --host 127.0.0.1 --port 0 >"$TMP/server.out" \
  2>"$TMP/server.err" &
SERVER_PID=$!

if PORT=$(wait_for_port); then
  echo "== echo-client: $BIN/echo-client 127.0.0.1 $PORT '$MESSAGE'"
  limited "$BIN/echo-client" 127.0.0.1 "$PORT" "$MESSAGE" \
    >"$TMP/client.out" 2>&1
  status=$?
  show client "$TMP/client.out"
  [ "$status" -eq 0 ] || fail "echo-client exited with status $status"
  grep -qxF "Received: '$MESSAGE'" "$TMP/client.out" ||
    fail "echo-client did not get its message back"
else
  fail "echo-server did not start"
fi

if [ -n "$SERVER_PID" ]; then
  echo "== stopping echo-server with SIGINT"
  stop_server
  status=$?
  [ "$status" -eq 0 ] || fail "echo-server exited with status $status"
fi
echo "== echo-server output"
show server "$TMP/server.out"
show "server (stderr)" "$TMP/server.err"
grep -qx "closed" "$TMP/server.out" || fail "echo-server did not print 'closed'"

echo "== socketpair-read: $BIN/socketpair-read"
limited "$BIN/socketpair-read" >"$TMP/socketpair.out" 2>&1
status=$?
show socketpair-read "$TMP/socketpair.out"
[ "$status" -eq 0 ] || fail "socketpair-read exited with status $status"
grep -qxF "Received: 'abc'" "$TMP/socketpair.out" ||
  fail "socketpair-read did not receive 'abc'"

if [ "$FAILED" -eq 0 ]; then
  echo "== demo OK"
else
  echo "== demo FAILED" >&2
fi
exit "$FAILED"
