#!/bin/bash
# scripts/fuzz.sh -- build the libFuzzer targets (tests/fuzz, clang, ASan + UBSan) in build-fuzz/
# and run each for a bounded time from its seed corpus (tests/fuzz/corpus/<target>). Fails when
# any target finds a crash, a sanitizer report or a broken property; the crashing input is kept
# in build-fuzz/artifacts/<target>/ (replay: build-fuzz/tests/fuzz/fuzz_<target> FILE).
#
#   scripts/fuzz.sh [TARGET...]     default: every target
#
# Env: OPA_BUILD_PREFIX, OPA_FUZZ_SECONDS (per target, default 60), OPA_JOBS (build jobs, default nproc).
# New inputs that found coverage go to build-fuzz/corpus/<target>/, not into the source tree.
set -Eeuo pipefail
on_error() { # names the step that failed (its first line)
    local rc=$? step=${BASH_COMMAND%%$'\n'*}
    echo "fuzz: FAILED (exit $rc) at line ${BASH_LINENO[0]}: $step" >&2
}
trap on_error ERR
cd "$(dirname "$(readlink -f "$0")")/.."
# OPA_BUILD_PREFIX (default build-): test.sh gives each Debian release build trees of its own.
B=${OPA_BUILD_PREFIX:-build-}fuzz
seconds=${OPA_FUZZ_SECONDS:-60}
jobs=${OPA_JOBS:-$(nproc)}
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(config interfaces ledger_verify ledger_line naming ovsdb proxmox_config)

echo "== $B: configure and compile (clang, libFuzzer, ASan + UBSan)"
cmake -S . -B "$B" -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DOPA_FUZZ=ON -DOPA_BUILD_TESTS=OFF >/dev/null
cmake --build "$B" --target fuzz -j "$jobs"

failed=()
for t in "${targets[@]}"; do
    binary=$B/tests/fuzz/fuzz_$t
    seeds=tests/fuzz/corpus/$t
    work="$B"/corpus/$t
    artifacts="$B"/artifacts/$t
    [ -x "$binary" ] && [ -d "$seeds" ] || { echo "fuzz: unknown target '$t'" >&2; exit 2; }
    mkdir -p "$work" "$artifacts"
    echo "== fuzz_$t: ${seconds} s"
    log="$B"/fuzz_$t.log
    # The first corpus directory receives new inputs; the seeds are only read.
    if ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        "$binary" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=8192 \
        -print_final_stats=1 -artifact_prefix="$artifacts/" "$work" "$seeds" >"$log" 2>&1; then
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
        rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
        echo "fuzz_$t: ok, ${runs:-?} runs, ${rate:-?} exec/s"
    else
        echo "fuzz_$t: FAILED; log $log, inputs:" >&2
        ls "$artifacts" >&2
        tail -n 40 "$log" >&2
        failed+=("$t")
    fi
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: failed: ${failed[*]}" >&2
    exit 1
fi
echo "fuzz: all ${#targets[@]} targets ran ${seconds} s each without a failure"
