#!/bin/bash
# scripts/test.sh -- install what is needed, build, and run the whole test suite on each supported
# Debian release: the host's own, and the other one inside a root made by scripts/distro-root.sh
# (Debian 12 "bookworm": NetworkManager 1.42, OVS 3.1, sdbus-c++ 1; Debian 13 "trixie": NM 1.52,
# OVS 3.5, sdbus-c++ 2). On each: a normal build and an AddressSanitizer + UndefinedBehaviorSanitizer
# build, every ctest test (the sandbox tests run a real NetworkManager with OVS in a network
# namespace; they need root, and as another user they are skipped), then the libFuzzer targets
# for a bounded time each (scripts/fuzz.sh, clang).
#
# Env: OPA_DISTROS="bookworm trixie" (which releases; as non-root only the host's own),
#      OPA_TEST_BUILDS="release asan" (which builds to test), OPA_JOBS (default: nproc),
#      OPA_FUZZ_SECONDS (per fuzz target, default 20 here; 0 skips fuzzing),
#      OPA_BUILD_PREFIX (build trees are <prefix>release, ...; default build- on the host's
#      release, build-<release>- in a root).
set -Eeuo pipefail
on_error() { # names the step that failed (its first line)
    local rc=$? step=${BASH_COMMAND%%$'\n'*}
    echo "test: FAILED (exit $rc) at line ${BASH_LINENO[0]}: $step" >&2
}
trap on_error ERR
cd "$(dirname "$(readlink -f "$0")")/.."
t0=$(date +%s)
jobs=${OPA_JOBS:-$(nproc)}
host=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")

# The suite on the release this script runs on.
run_here() {
    local prefix=${OPA_BUILD_PREFIX:-build-}
    if [ "$(id -u)" = 0 ]; then
        echo "== $host: packages and NetworkManager with OVS"
        scripts/install-deps.sh
        scripts/build-nm-ovs.sh
    else
        echo "test: not root: skipping package installation and the sandbox tests"
    fi
    for b in ${OPA_TEST_BUILDS:-release asan}; do
        case "$b" in
            release) run_build "${prefix}release" -DCMAKE_BUILD_TYPE=RelWithDebInfo ;;
            asan) run_build "${prefix}asan" -DCMAKE_BUILD_TYPE=Debug -DOPA_SANITIZE=ON ;;
            *) echo "test: unknown build '$b'" >&2; exit 2 ;;
        esac
    done
    local fuzz_seconds=${OPA_FUZZ_SECONDS:-20}
    if [ "$fuzz_seconds" != 0 ]; then
        echo "== $host fuzz: ${fuzz_seconds} s per target"
        OPA_BUILD_PREFIX=$prefix OPA_FUZZ_SECONDS=$fuzz_seconds OPA_JOBS=$jobs scripts/fuzz.sh
    fi
}

run_build() { # dir cmake-args...
    local dir=$1
    shift
    echo "== $host $dir: configure and compile"
    cmake -S . -B "$dir" "$@" >/dev/null
    cmake --build "$dir" -j "$jobs"
    echo "== $host $dir: tests"
    # halt_on_error: a sanitizer report fails the test that caused it. Observations (label
    # observe: figures for docs/, no verdict) are run by hand.
    ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:abort_on_error=1 \
        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        ctest --test-dir "$dir" --output-on-failure -j "$jobs" -LE observe
}

# Inside a root made for another release: only that release.
if [ "${OPA_IN_DISTRO_ROOT:-0}" = 1 ]; then
    run_here
    exit 0
fi

if [ "$(id -u)" = 0 ]; then
    distros=${OPA_DISTROS:-bookworm trixie}
else
    distros=$host
fi
summary=()
for d in $distros; do
    t=$(date +%s)
    if [ "$d" = "$host" ]; then
        run_here
    else
        echo "== $d: in a Debian root of its own (scripts/distro-root.sh)"
        scripts/distro-root.sh create "$d"
        scripts/distro-root.sh exec "$d" env OPA_IN_DISTRO_ROOT=1 \
            OPA_BUILD_PREFIX="${OPA_BUILD_PREFIX:-build-$d-}" \
            ${OPA_TEST_BUILDS:+OPA_TEST_BUILDS="$OPA_TEST_BUILDS"} ${OPA_JOBS:+OPA_JOBS="$OPA_JOBS"} \
            ${OPA_FUZZ_SECONDS:+OPA_FUZZ_SECONDS="$OPA_FUZZ_SECONDS"} "$PWD/scripts/test.sh"
    fi
    summary+=("$d $(($(date +%s) - t)) s")
    echo "test: $d passed in $(($(date +%s) - t)) s"
done
echo "test: all builds passed in $(($(date +%s) - t0)) s (${summary[*]})"
