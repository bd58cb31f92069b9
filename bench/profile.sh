#!/bin/sh
# bench/profile.sh - where an echo server's time goes, for a fixed request count.
#
#   sh bench/profile.sh callgrind|strace|faults SIZE CONNS REQUESTS SERVER-COMMAND...
#   e.g. sh bench/profile.sh callgrind 1024 10 20000 build/examples/echo-server --port 0
#
# callgrind: runs the server under valgrind --tool=callgrind; the counters
#   are zeroed when the load generator has warmed up and dumped when it is
#   done, so the profile covers exactly REQUESTS echoes. Prints instructions
#   per request and the top functions (exclusive and inclusive, by
#   bench/cg_summary.py); the raw profile stays in
#   build/bench/profile/callgrind.out.PID.1 for callgrind_annotate or
#   kcachegrind.
# strace: strace -c -f over the same measured phase (attached at "warm",
#   detached at "done"); prints the syscall table and syscalls per request.
# faults: perf stat of the server's page faults over the same phase; prints
#   minor and major faults per request. The environment reaches the server,
#   e.g. MALLOC_TRIM_THRESHOLD_=67108864 to see what glibc's heap trimming
#   costs (bench/README.md).
#
# LOADGEN_ARGS adds load generator options, e.g. LOADGEN_ARGS=--tls against
# a TLS server (echo-server --tls-cert C --tls-key K).
#
# Needs `make -f Makefile -f bench/rules.mk bench-build` (and the examples)
# first. Instruction counts are repeatable on a noisy machine; times are not.
set -eu
tool=$1 size=$2 conns=$3 requests=$4
shift 4
build=${BUILD:-build}
out=$build/bench/profile
mkdir -p "$out"
loadgen=$build/bench/loadgen
fifo=$out/fifo.$$
srvout=$out/server.$$.out
mkfifo "$fifo"
trap 'rm -f "$fifo" "$srvout"' EXIT

case $tool in
callgrind)
  valgrind --tool=callgrind --callgrind-out-file="$out/callgrind.out.%p" \
    "$@" >"$srvout" 2>"$out/valgrind.log" &
  ;;
strace | faults)
  "$@" >"$srvout" 2>&1 &
  ;;
*) echo "usage: profile.sh callgrind|strace|faults SIZE CONNS REQUESTS CMD..." >&2; exit 2 ;;
esac
spid=$!
i=0
until grep -q "serving on" "$srvout" 2>/dev/null; do
  i=$((i + 1))
  if [ $i -gt 300 ] || ! kill -0 $spid 2>/dev/null; then
    echo "profile.sh: server did not start" >&2
    cat "$srvout" "$out/valgrind.log" 2>/dev/null >&2
    exit 1
  fi
  sleep 0.1
done
port=$(sed -n 's/^serving on .*:\([0-9]*\)$/\1/p' "$srvout" | head -1)

# The load generator talks to us through a FIFO (its stdin) and a pipe.
"$loadgen" pingpong --port "$port" --conns "$conns" --size "$size" \
  --requests "$requests" --warmup 0.5 --sync --stall 120 ${LOADGEN_ARGS:-} \
  <"$fifo" >"$out/loadgen.out" &
lpid=$!
exec 3>"$fifo"
wait_for() {
  j=0
  until grep -qx "$1" "$out/loadgen.out" 2>/dev/null; do
    j=$((j + 1))
    if [ $j -gt 6000 ] || ! kill -0 $lpid 2>/dev/null; then
      echo "profile.sh: load generator failed:" >&2
      cat "$out/loadgen.out" >&2
      kill $spid 2>/dev/null
      exit 1
    fi
    sleep 0.05
  done
}
wait_for warm
case $tool in
callgrind) callgrind_control -z $spid >/dev/null ;;
strace)
  strace -c -f -p $spid -o "$out/strace.txt" &
  tpid=$!
  sleep 1
  ;;
faults)
  perf stat -x, -e minor-faults,major-faults -p $spid -o "$out/faults.txt" &
  tpid=$!
  sleep 1
  ;;
esac
echo go >&3
wait_for done
case $tool in
callgrind) callgrind_control -d $spid >/dev/null ;;
strace | faults) kill -INT $tpid; wait $tpid || true ;;
esac
echo exit >&3
exec 3>&-
wait $lpid
tail -1 "$out/loadgen.out"
kill -TERM $spid
wait $spid || true

case $tool in
callgrind)
  # The dump made at "done" is callgrind.out.PID.1 (the one written at exit,
  # callgrind.out.PID, holds only the shutdown).
  prof=$out/callgrind.out.$spid.1
  echo "profile: $prof"
  /usr/bin/python3 "$(dirname "$0")/cg_summary.py" "$prof" "$requests" 25
  ;;
strace)
  cat "$out/strace.txt"
  calls=$(awk '$NF == "total" {print $4}' "$out/strace.txt")
  echo "syscalls per request: $(awk -v c="$calls" -v r="$requests" 'BEGIN{printf "%.2f", c/r}')"
  ;;
faults)
  awk -F, -v r="$requests" '$3 ~ /faults/ {
    printf "%s: %s (%.2f per request)\n", $3, $1, $1 / r }' "$out/faults.txt"
  ;;
esac
