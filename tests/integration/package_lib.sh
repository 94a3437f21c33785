# package_lib.sh -- sourced by the package tests (package_*.sh DIST): the agent's .deb and the
# NetworkManager-with-OVS packages of distribution DIST, built in that distribution (on the host
# when it is DIST, else in its scripts/distro-root.sh root), and clean roots to install them in.
# They run from the host (they start roots of their own); under scripts/test.sh inside a root they
# skip. They are slow, so they run only with OPA_PACKAGE_TESTS=1 (README, "Tests").
set -Eeuo pipefail
trap 'echo "$PT_NAME: FAILED (exit $?) at line $LINENO: $BASH_COMMAND" >&2' ERR
src=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../.." && pwd)
dist=${1:-$(. /etc/os-release && echo "$VERSION_CODENAME")}
host=$(. /etc/os-release && echo "$VERSION_CODENAME")
say() { echo "[$PT_NAME $dist] $*"; }
fail() { echo "FAIL[$PT_NAME $dist]: $*" >&2; exit 1; }
skip() { echo "skipped: $*"; exit 77; }

[ "$(id -u)" = 0 ] || skip "needs root"
[ "${OPA_PACKAGE_TESTS:-0}" = 1 ] || skip "package tests are slow: run them with OPA_PACKAGE_TESTS=1"
[ "${OPA_IN_DISTRO_ROOT:-0}" = 0 ] || skip "run the package tests from the host (they make roots of their own)"
[[ $dist =~ ^(bookworm|trixie)$ ]] || fail "unknown distribution '$dist'"

# in_dist CMD...: CMD in distribution $dist with its build tools (the host, or its dev root).
in_dist() {
    if [ "$dist" = "$host" ]; then "$@"; else "$src/scripts/distro-root.sh" exec "$dist" "$@"; fi
}
# Host path of a path inside $dist's dev root.
dist_path() {
    if [ "$dist" = "$host" ]; then echo "$1"; else echo "$("$src/scripts/distro-root.sh" path "$dist")$1"; fi
}

# The agent's .deb built in $dist (Release, stripped by CPack): sets $agent_deb.
# OPA_PACKAGE_BUILD_DIR: an existing build tree of $dist to package from instead (not reconfigured).
PKG_BUILD=${OPA_PACKAGE_BUILD_DIR:-$src/build-package-$dist}
build_agent_deb() {
    local t0=$(date +%s) configure=1
    [ -z "${OPA_PACKAGE_BUILD_DIR:-}" ] || configure=0
    say "building the agent's .deb in $dist ($PKG_BUILD)"
    in_dist bash -Eeuo pipefail -c '
        [ "$3" = 0 ] || cmake -S "$1" -B "$2" -DCMAKE_BUILD_TYPE=Release -DOPA_BUILD_TESTS=OFF >/dev/null
        nice -n 19 cmake --build "$2" -j 2 --target ovs-port-agent >"$2/build.log" 2>&1 || { tail -n 30 "$2/build.log"; exit 1; }
        rm -rf "$2/deb"
        cd "$2" && cpack -G DEB -B "$2/deb" >/dev/null' build "$src" "$PKG_BUILD" "$configure" || fail "building the .deb"
    agent_deb=$(ls "$PKG_BUILD"/deb/ovs-port-agent_*.deb)
    say "built $(basename "$agent_deb") in $(($(date +%s) - t0)) s"
}

# The rebuilt NetworkManager packages of $dist (build-nm-ovs.sh --deb, cached): sets $nm_debs to
# a copy inside the source tree (which clean roots see at the same path).
build_nm_debs() {
    local t0=$(date +%s) dir
    say "NetworkManager with OVS as packages for $dist (scripts/build-nm-ovs.sh --deb; cached)"
    in_dist "$src/scripts/build-nm-ovs.sh" --deb || fail "build-nm-ovs.sh --deb"
    dir=$(dist_path "$(in_dist "$src/scripts/build-nm-ovs.sh" --deb --print-deb-dir | tail -n 1)")
    nm_debs=$PKG_BUILD/nm-debs
    rm -rf "$nm_debs"
    mkdir -p "$nm_debs"
    cp "$dir"/*.deb "$nm_debs/"
    say "NetworkManager packages ready in $(($(date +%s) - t0)) s: $(ls "$nm_debs" | tr '\n' ' ')"
}

# in_clean CMD...: CMD in a throw-away overlay of a clean $dist root.
in_clean() { "$src/scripts/distro-root.sh" exec "$dist-clean" "$@"; }
