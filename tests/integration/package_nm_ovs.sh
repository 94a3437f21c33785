#!/bin/bash
# package_nm_ovs.sh [DIST] -- NetworkManager with OVS as packages on a real host (issue 20), in a
# clean DIST root: Debian's own network-manager installed first (doctor: without OVS, and the
# command); scripts/nm-ovs-deb.sh install puts the +ovs1 rebuild (build-nm-ovs.sh --deb) in its
# place and holds it; the agent's .deb goes in with apt; the root's own /usr/sbin/NetworkManager,
# started the sandbox way (its own network namespace and bus, OPA_SANDBOX_NM_BIN), reports
# capability 2 (OVS) and loads its OVS plugin; doctor says it is the rebuild; setup-bridge and one
# port attach work against it; nm-ovs-deb.sh remove puts Debian's packages back.
# Needs root and OPA_PACKAGE_TESTS=1.
PT_NAME=package_nm_ovs
source "$(dirname "$(readlink -f "$0")")/package_lib.sh"

build_nm_debs
build_agent_deb   # incremental: package.agent_deb built it

t0=$(date +%s)
say "in a clean $dist root: Debian's NetworkManager, the rebuild, the agent, the sandbox"
in_clean env OPA_SANDBOX_PREFIX="${OPA_SANDBOX_PREFIX:-opa}" bash -Eeuo pipefail -c '
    src=$1 nm_debs=$2 agent_deb=$3
    trap "echo \"inner: FAILED at line \$LINENO: \$BASH_COMMAND\" >&2" ERR
    step() { echo "--- $*"; }
    apt_get() { DEBIAN_FRONTEND=noninteractive apt-get -y -q --no-install-recommends "$@" >/tmp/apt.log 2>&1 || { tail -n 30 /tmp/apt.log; return 1; }; }
    debian() { apt-cache madison "$1" | awk -F"|" "{gsub(/ /,\"\",\$2); print \$2}" | grep -v "+ovs" | sort -V | tail -n 1; }
    ver() { dpkg-query -W -f="\${Version}" "$1"; }

    step "Debian'"'"'s own network-manager, and what the sandbox and the tests use"
    apt_get install network-manager openvswitch-switch dbus iproute2 systemd procps
    [ "$(ver network-manager)" = "$(debian network-manager)" ]
    if ls /usr/lib/*/NetworkManager/*/libnm-device-plugin-ovs.so 2>/dev/null; then exit 1; fi

    step "scripts/nm-ovs-deb.sh install: what it replaces, then the rebuild, held"
    "$src/scripts/nm-ovs-deb.sh" install --yes --no-install-recommends --debs "$nm_debs" | tee /tmp/install.out
    grep -q "network-manager: $(debian network-manager) -> $(debian network-manager)+ovs1" /tmp/install.out
    [ "$(ver network-manager)" = "$(debian network-manager)+ovs1" ]
    [ "$(ver libnm0)" = "$(debian libnm0)+ovs1" ]
    # (outputs are read whole before grep -q: an early exit would SIGPIPE the writer under pipefail)
    holds=$(apt-mark showhold)
    grep -qx network-manager <<<"$holds"
    grep -qx libnm0 <<<"$holds"
    ls /usr/lib/*/NetworkManager/*/libnm-device-plugin-ovs.so
    "$src/scripts/nm-ovs-deb.sh" status | tee /tmp/status.out
    grep -q "the rebuilt Debian package" /tmp/status.out
    # apt upgrade keeps it (held)
    DEBIAN_FRONTEND=noninteractive apt-get -y -q upgrade >/dev/null
    [ "$(ver network-manager)" = "$(debian network-manager)+ovs1" ]

    step "the agent'"'"'s .deb with apt (its Recommends is the rebuild, installed now)"
    apt_get install "$agent_deb"
    ovs-port-agent --version

    step "the root'"'"'s own /usr/sbin/NetworkManager, the sandbox way"
    export OPA_SANDBOX_NM_BIN=/usr/sbin/NetworkManager
    SANDBOX=$src/scripts/sandbox.sh AGENT=/usr/sbin/ovs-port-agent FT_NAME=pkg
    source "$src/tests/integration/fault_lib.sh"
    trap ft_cleanup EXIT
    write_config
    sandbox_up
    state=/run/ovs-port-agent-sandbox/$OPA_SANDBOX
    grep -q "Loaded device plugin: NMOvsFactory" "$state/nm.log" || fail "NetworkManager did not load its OVS plugin"
    grep -m 1 "Loaded device plugin: NMOvsFactory" "$state/nm.log"
    caps=$(sx busctl get-property org.freedesktop.NetworkManager /org/freedesktop/NetworkManager \
        org.freedesktop.NetworkManager Capabilities)
    echo "Capabilities: $caps"
    set -- $caps; shift 2; has2=0; for c in "$@"; do [ "$c" = 2 ] && has2=1; done
    [ "$has2" = 1 ] || fail "Capabilities lack 2 (OVS): $caps"
    sx ovs-vsctl --timeout=5 br-exists ovsbr0 || fail "setup-bridge made no ovsbr0 in OVSDB"
    echo "setup-bridge: ovsbr0 is in OVSDB"

    step "doctor: the rebuilt package"
    sx "$AGENT" -c "$tmp/config.toml" doctor >/tmp/doctor.out 2>&1 || true
    cat /tmp/doctor.out
    grep -q "rebuilt with OVS, held" /tmp/doctor.out || fail "doctor did not name the rebuild"

    step "one port attached by the agent"
    start_agent
    sx ip link add veth150i0 type veth peer name veth150i0p
    wait_for 60 "veth150i0 on ovsbr0" bash -c "\"$SANDBOX\" exec ovs-vsctl --timeout=5 list-ports ovsbr0 | grep -qx veth150i0"
    echo "veth150i0 attached: $(ovs_ports | tr "\n" " ")"
    stop_agent
    ledger_verify
    ft_cleanup
    trap - EXIT

    step "scripts/nm-ovs-deb.sh remove: Debian'"'"'s packages back"
    "$src/scripts/nm-ovs-deb.sh" remove
    [ "$(ver network-manager)" = "$(debian network-manager)" ]
    [ "$(ver libnm0)" = "$(debian libnm0)" ]
    [ -z "$(apt-mark showhold)" ]
    if ls /usr/lib/*/NetworkManager/*/libnm-device-plugin-ovs.so 2>/dev/null; then exit 1; fi
    [ ! -e /var/lib/ovs-port-agent/nm-ovs-packages ]
    echo "Debian'"'"'s network-manager $(ver network-manager) and libnm0 $(ver libnm0) are back, unheld"
' inner "$src" "$nm_debs" "$agent_deb" || fail "in the clean root"
say "clean root part: $(($(date +%s) - t0)) s"
echo "package_nm_ovs $dist: PASS"
