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
set -Eeuo pipefail
on_error() { # names the step that failed (its first line)
    local rc=$? step=${BASH_COMMAND%%$'\n'*}
    echo "install-deps: FAILED (exit $rc) at line ${BASH_LINENO[0]}: $step" >&2
}
trap on_error ERR

# Debian 12 (bookworm) and Debian 13 (trixie) name some run-time libraries differently.
. /etc/os-release
case "${VERSION_CODENAME:-}" in
    bookworm)
        DISTRO_RUNTIME=(libfuse3-3 libsdbus-c++1 libssl3 libspdlog1.10)
        DISTRO_BUILD=(libclang-rt-14-dev)
        DISTRO_NM_BUILD=(libglib2.0-0)
        ;;
    trixie)
        DISTRO_RUNTIME=(libfuse3-4 libsdbus-c++2 libssl3t64 libspdlog1.15)
        DISTRO_BUILD=(libclang-rt-19-dev)
        DISTRO_NM_BUILD=(libglib2.0-0t64)
        ;;
    *)
        echo "install-deps: unsupported distribution '${PRETTY_NAME:-unknown}' (Debian 12 or 13 is supported)" >&2
        exit 2
        ;;
esac

RUNTIME_PKGS=(
    "${DISTRO_RUNTIME[@]}" fuse3 libnl-3-200 libnl-route-3-200
    libsystemd0 dbus openvswitch-switch iproute2 util-linux
)
BUILD_PKGS=(
    "${DISTRO_BUILD[@]}" cmake g++ make pkg-config git clang-format clang
    libfuse3-dev libsdbus-c++-dev libsdbus-c++-bin libnl-3-dev libnl-route-3-dev
    libtomlplusplus-dev libssl-dev libspdlog-dev libfmt-dev libgtest-dev libgmock-dev
    libsystemd-dev libcli11-dev nlohmann-json3-dev
)
# What the tests use as real peers and read-only checks.
TEST_PKGS=(
    dbus dbus-bin libglib2.0-bin systemd ifupdown2 iproute2 util-linux procps psmisc kmod
    openvswitch-switch openvswitch-common python3 jq
)
# What scripts/build-nm-ovs.sh needs to build NetworkManager with OVS from Debian's source.
NM_BUILD_PKGS=(
    ca-certificates meson ninja-build pkg-config gcc libc6-dev binutils perl xsltproc gettext
    python3 dpkg-dev xz-utils libglib2.0-dev libjansson-dev libudev-dev libndp-dev uuid-dev
    libdbus-1-dev libsystemd-dev "${DISTRO_NM_BUILD[@]}" libndp0 libudev1 libjansson4
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

# Keep package scripts from starting daemons in the host's network namespace: our refusing
# policy-rc.d stands in for the install, and a file the machine already had (Debian's container
# images ship one) is put back afterwards, also after a run that was killed half-way.
policy=${OPA_POLICY_RC:-/usr/sbin/policy-rc.d}   # tests point it elsewhere
saved=$policy.ovs-port-agent-saved
if [ -e "$saved" ]; then
    mv -f "$saved" "$policy"
fi
had_policy=0
if [ -e "$policy" ]; then
    mv -f "$policy" "$saved"
    had_policy=1
fi
printf '#!/bin/sh\n# installed by ovs-port-agent install-deps for the duration of an install\nexit 101\n' >"$policy"
chmod 755 "$policy"
restore_policy() {
    if [ "$had_policy" = 1 ]; then
        mv -f "$saved" "$policy"
    else
        rm -f "$policy"
    fi
}
trap restore_policy EXIT

export DEBIAN_FRONTEND=noninteractive
# ifupdown2 replaces ifupdown; an update is needed on a machine that never ran one.
if ! apt-get install -y -q --no-install-recommends "${missing[@]}"; then
    echo "install-deps: apt-get install failed; refreshing package lists and retrying"
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
echo "install-deps: done in $(($(date +%s) - t0)) s"
