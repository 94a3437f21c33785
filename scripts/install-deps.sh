#!/bin/bash
# Install every package ovs-port-agent needs to build, test and run its sandbox.
# Idempotent: packages already present are left alone; a second run takes seconds.
#
#   scripts/install-deps.sh            build + test + sandbox packages
#   scripts/install-deps.sh --runtime  only what the daemon needs at run time
#
# Services shipped by these packages (openvswitch-switch, dbus, ifupdown2's networking) are
# never started by the install: a policy-rc.d refuses them for the duration, so installing
# never touches the host's own network. The sandbox starts its own private instances.
set -euo pipefail

RUNTIME_PKGS=(
    libfuse3-3 fuse3 libsdbus-c++1 libnl-3-200 libnl-route-3-200 libssl3 libspdlog1.10
    libsystemd0 dbus openvswitch-switch iproute2 util-linux
)
BUILD_PKGS=(
    cmake g++ make pkg-config git clang-format clang libclang-rt-14-dev
    libfuse3-dev libsdbus-c++-dev libsdbus-c++-bin libnl-3-dev libnl-route-3-dev
    libtomlplusplus-dev libssl-dev libspdlog-dev libfmt-dev libgtest-dev libgmock-dev
    libsystemd-dev libcli11-dev nlohmann-json3-dev
)
# What the tests use as real peers and read-only checks.
TEST_PKGS=(
    dbus dbus-bin libglib2.0-bin systemd ifupdown2 iproute2 util-linux procps psmisc kmod
    openvswitch-switch openvswitch-common python3
)
# What scripts/build-nm-ovs.sh needs to build NetworkManager with OVS from Debian's source.
NM_BUILD_PKGS=(
    ca-certificates meson ninja-build pkg-config gcc libc6-dev binutils perl xsltproc gettext
    python3 dpkg-dev xz-utils libglib2.0-dev libjansson-dev libudev-dev libndp-dev uuid-dev
    libdbus-1-dev libsystemd-dev libglib2.0-0 libndp0 libudev1 libjansson4
)

if [ "$(id -u)" != 0 ]; then
    echo "install-deps: must run as root (apt-get install)" >&2
    exit 2
fi

case "${1:-}" in
    --runtime) wanted=("${RUNTIME_PKGS[@]}") ;;
    "") wanted=("${RUNTIME_PKGS[@]}" "${BUILD_PKGS[@]}" "${TEST_PKGS[@]}" "${NM_BUILD_PKGS[@]}") ;;
    *) echo "usage: $0 [--runtime]" >&2; exit 2 ;;
esac

missing=()
for p in $(printf '%s\n' "${wanted[@]}" | sort -u); do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "install-deps: all ${#wanted[@]} packages already installed"
    exit 0
fi

echo "install-deps: installing ${#missing[@]} packages: ${missing[*]}"
t0=$(date +%s)

# Keep package scripts from starting daemons in the host's network namespace.
policy=/usr/sbin/policy-rc.d
own_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    own_policy=1
fi
cleanup() { [ "$own_policy" = 1 ] && rm -f "$policy"; }
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
# ifupdown2 replaces ifupdown; an update is needed on a machine that never ran one.
if ! apt-get install -y -q --no-install-recommends "${missing[@]}"; then
    echo "install-deps: apt-get install failed; refreshing package lists and retrying"
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
echo "install-deps: done in $(($(date +%s) - t0)) s"
