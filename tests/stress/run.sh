#!/bin/sh
# run.sh - runs the stress programs (uvs_stress, see stress.h).
#
#   sh tests/stress/run.sh BUILD_DIR quick|full|soak [SECONDS]
#
# quick (make stress-quick, < 60 s, suited to make test): 2,000 concurrent
#   connections, 200 slowloris clients for 4 s (10 s sanitized), 6 fault rounds,
#   32 direct-read streams for 4 s;
# full (make stress): 10,000 connections, 1,000 slowloris clients for 15 s,
#   60 fault rounds, 200 direct-read streams for 15 s;
# soak (make soak SECONDS=N): everything mixed for N seconds (default 60).
# Prints one "PASS: ..." / "FAIL: ..." line per program (their figures
# before it) and "N passed, M failed"; exits non-zero if anything failed.

set -u
build=${1:-build}
mode=${2:-quick}
seconds=${3:-60}
bin=$build/stress/uvs_stress
[ -x "$bin" ] || { echo "FAIL: $bin is not built"; exit 1; }

case $mode in
quick) runs="conns --quick;slowloris --quick;faults --quick;direct --quick"; limit=120 ;;
full) runs="conns;slowloris;faults;direct"; limit=900 ;;
soak) runs="soak --seconds $seconds"; limit=$((seconds + 300)) ;;
*) echo "usage: $0 BUILD quick|full|soak [SECONDS]"; exit 2 ;;
esac

passed=0
failed=0
start=$(date +%s)
IFS=';'
for run in $runs; do
  IFS=' '
  # shellcheck disable=SC2086 # run is a word list
  set -- $run
  echo "=== uvs_stress $run"
  if timeout "$limit" "$bin" "$@"; then
    passed=$((passed + 1))
  else
    rc=$?
    [ "$rc" -eq 124 ] && echo "FAIL: uvs_stress $run: killed after $limit s"
    failed=$((failed + 1))
  fi
  IFS=';'
done
echo "stress $mode: $passed passed, $failed failed in $(($(date +%s) - start)) s"
[ "$failed" -eq 0 ]
