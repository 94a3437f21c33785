#!/bin/bash
# scripts/loop-fault-kill.sh BUILD_DIR [FIRST_SEED] [COUNT] [DIST] -- runs the fault test
# sandbox.fault_kill (the agent SIGKILLed during tree operations) for COUNT seeds in a row
# (default 100, from FIRST_SEED, default 1), each in a fresh sandbox, and prints the pass count.
# With DIST (e.g. trixie), each run goes into that Debian root. Not part of the default suite:
# 20-100 s a run. Needs root. It hunts a hang seen once in CI (docs/RELIABILITY.md): a hung run
# prints the agent's threads and stacks and fails at once.
#
# The logs of failed runs are kept in BUILD_DIR/loop-fault-kill/. While $OPA_QUIET_FILE (default
# /tmp/opa-quiet, on the host) exists, the loop waits before its next run.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
build=$(readlink -f "${1:?usage: $0 BUILD_DIR [FIRST_SEED] [COUNT] [DIST]}")
first=${2:-1}
count=${3:-100}
dist=${4:-}
quiet=${OPA_QUIET_FILE:-/tmp/opa-quiet}
logs=$build/loop-fault-kill
mkdir -p "$logs"
wrap=()
[ -n "$dist" ] && wrap=(scripts/distro-root.sh exec "$dist")
passed=0
failed=0
t_start=$(date +%s)
for seed in $(seq "$first" $((first + count - 1))); do
    while [ -e "$quiet" ]; do
        echo "loop: $quiet exists, waiting before seed $seed"
        sleep 10 # polling another team's flag file, not a test condition
    done
    t0=$(date +%s)
    if "${wrap[@]}" env FT_SEED="$seed" nice -n 19 ctest --test-dir "$build" -R '^sandbox\.fault_kill$' -V \
        >"$logs/seed-$seed.log" 2>&1 &&
        grep -Eq 'sandbox\.fault_kill \.+ +Passed' "$logs/seed-$seed.log"; then # not skipped
        passed=$((passed + 1))
        rm -f "$logs/seed-$seed.log"
        echo "loop: seed $seed passed ($(($(date +%s) - t0)) s)"
    else
        failed=$((failed + 1))
        echo "loop: seed $seed FAILED ($(($(date +%s) - t0)) s), log: $logs/seed-$seed.log"
    fi
done
echo "loop: sandbox.fault_kill passed $passed of $count seeds ($failed failed)" \
    "in $(($(date +%s) - t_start)) s${dist:+ in the $dist root}"
[ "$failed" = 0 ]
