#!/bin/bash
# scripts/test.sh -- install what is needed, build, and run the whole test suite twice: a normal
# build and an AddressSanitizer + UndefinedBehaviorSanitizer build. The sandbox tests (real
# NetworkManager with OVS in a network namespace) need root; as another user they are skipped.
#
# Then the libFuzzer targets run for a bounded time each (scripts/fuzz.sh, clang).
#
# Env: OPA_TEST_BUILDS="release asan" (which builds to test), OPA_JOBS (default: nproc),
#      OPA_FUZZ_SECONDS (per fuzz target, default 20 here; 0 skips fuzzing)
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
t0=$(date +%s)
jobs=${OPA_JOBS:-$(nproc)}

if [ "$(id -u)" = 0 ]; then
    scripts/install-deps.sh
    scripts/build-nm-ovs.sh
else
    echo "test: not root: skipping package installation and the sandbox tests"
fi

run_build() { # name cmake-args...
    local name=$1
    shift
    echo "== build-$name: configure and compile"
    cmake -S . -B "build-$name" "$@" >/dev/null
    cmake --build "build-$name" -j "$jobs"
    echo "== build-$name: tests"
    # halt_on_error: a sanitizer report fails the test that caused it.
    ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:abort_on_error=1 \
        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        ctest --test-dir "build-$name" --output-on-failure -j "$jobs"
}

for b in ${OPA_TEST_BUILDS:-release asan}; do
    case "$b" in
        release) run_build release -DCMAKE_BUILD_TYPE=RelWithDebInfo ;;
        asan) run_build asan -DCMAKE_BUILD_TYPE=Debug -DOPA_SANITIZE=ON ;;
        *) echo "test: unknown build '$b'" >&2; exit 2 ;;
    esac
done
fuzz_seconds=${OPA_FUZZ_SECONDS:-20}
if [ "$fuzz_seconds" != 0 ]; then
    echo "== fuzz: ${fuzz_seconds} s per target"
    OPA_FUZZ_SECONDS=$fuzz_seconds OPA_JOBS=$jobs scripts/fuzz.sh
fi
echo "test: all builds passed in $(($(date +%s) - t0)) s"
