#!/bin/bash
# scripts/loop-bridge-setup.sh BUILD_DIR [RUNS] [DIST] -- runs the sandbox test
# sandbox.bridge_setup RUNS times in a row (default 50), each in a fresh sandbox (ctest brings it
# up and down), and prints the pass count. With DIST (e.g. trixie), each run goes into that
# Debian root (scripts/distro-root.sh exec DIST ...) while the loop itself stays on the host.
# Not part of the default suite: 15-20 s a run (release build). Needs root.
#
# The logs of failed runs are kept in BUILD_DIR/loop-bridge-setup/. While $OPA_QUIET_FILE
# (default /tmp/opa-quiet, on the host) exists, no sandbox test may run on this machine: the
# loop waits before its next run.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
build=$(readlink -f "${1:?usage: $0 BUILD_DIR [RUNS] [DIST]}")
runs=${2:-50}
dist=${3:-}
quiet=${OPA_QUIET_FILE:-/tmp/opa-quiet}
logs=$build/loop-bridge-setup
mkdir -p "$logs"
wrap=()
[ -n "$dist" ] && wrap=(scripts/distro-root.sh exec "$dist")
passed=0
failed=0
reapplied=0
t_start=$(date +%s)
for i in $(seq 1 "$runs"); do
    while [ -e "$quiet" ]; do
        echo "loop: $quiet exists, waiting before run $i"
        sleep 10 # polling another team's flag file, not a test condition
    done
    t0=$(date +%s)
    if "${wrap[@]}" nice -n 19 ctest --test-dir "$build" -R '^sandbox\.bridge_setup$' -V \
        >"$logs/run-$i.log" 2>&1 &&
        grep -Eq 'sandbox\.bridge_setup \.+ +Passed' "$logs/run-$i.log"; then # not skipped
        passed=$((passed + 1))
        note=""
        if grep -q "setup-bridge: reapplied" "$logs/run-$i.log"; then
            reapplied=$((reapplied + 1))
            note=", routes dropped by OVS and restored by a Reapply"
        fi
        rm -f "$logs/run-$i.log"
        echo "loop: run $i passed ($(($(date +%s) - t0)) s$note)"
    else
        failed=$((failed + 1))
        echo "loop: run $i FAILED ($(($(date +%s) - t0)) s), log: $logs/run-$i.log"
    fi
done
echo "loop: sandbox.bridge_setup passed $passed of $runs runs ($failed failed)" \
    "in $(($(date +%s) - t_start)) s${dist:+ in the $dist root};" \
    "the bridge's routes were restored by a Reapply in $reapplied of the passed runs"
[ "$failed" = 0 ]
