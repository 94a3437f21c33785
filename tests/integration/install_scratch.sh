#!/bin/bash
# install_scratch.sh -- scripts/install.sh as a new user would run it, into a scratch root:
# the files land where they should, a second run changes nothing, an existing config is kept,
# --uninstall leaves nothing behind. Needs no root and touches nothing outside the scratch root.
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$src/scripts/install.sh" --bridge ovsbr7 --uplink eno1 --system --prefix "$scratch" >"$scratch.log" 2>&1 \
    || { cat "$scratch.log"; fail "install failed"; }
for f in usr/sbin/ovs-port-agent usr/share/dbus-1/system.d/dev.ovs.PortAgent1.conf \
         lib/systemd/system/ovs-port-agent.service etc/ovs-port-agent/config.toml \
         usr/share/doc/ovs-port-agent/README.md var/lib/ovs-port-agent/install-manifest; do
    [ -e "$scratch/$f" ] || fail "$f not installed"
done
"$scratch/usr/sbin/ovs-port-agent" -c "$scratch/etc/ovs-port-agent/config.toml" config show \
    | grep -q 'bridge_name = "ovsbr7"' || fail "the installed config does not name the bridge"
grep -q 'uplink = "eno1"' "$scratch/etc/ovs-port-agent/config.toml" || fail "uplink not configured"

echo '# edited by the admin' >>"$scratch/etc/ovs-port-agent/config.toml"
before=$(cd "$scratch" && find . -printf '%p %s %T@\n' | sort)
"$src/scripts/install.sh" --bridge other --system --prefix "$scratch" >"$scratch.log" 2>&1 || fail "second install"
after=$(cd "$scratch" && find . -printf '%p %s %T@\n' | sort)
[ "$before" = "$after" ] || fail "a second install changed files: $(diff <(echo "$before") <(echo "$after"))"
grep -q 'edited by the admin' "$scratch/etc/ovs-port-agent/config.toml" || fail "the config was replaced"

"$src/scripts/install.sh" --uninstall --prefix "$scratch" >"$scratch.log" 2>&1 || fail "uninstall"
left=$(find "$scratch" -mindepth 1)
[ -z "$left" ] || fail "uninstall left: $left"
rm -f "$scratch.log"

# The .deb built from the same tree installs the same files.
mkdir -p "$scratch/deb"
(cd "${OPA_INSTALL_BUILD_DIR:-$src/${OPA_BUILD_PREFIX:-build-}install}" && cpack -G DEB -B "$scratch/deb" >/dev/null) || fail "cpack"
deb=$(ls "$scratch"/deb/ovs-port-agent_*.deb)
contents=$(dpkg-deb -c "$deb" | awk '{print $6}')
for f in ./usr/sbin/ovs-port-agent ./usr/share/dbus-1/system.d/dev.ovs.PortAgent1.conf \
         ./usr/lib/systemd/system/ovs-port-agent.service ./usr/share/doc/ovs-port-agent/README.md \
         ./usr/share/doc/ovs-port-agent/config.toml.example; do
    grep -qxF "$f" <<<"$contents" || fail "the .deb lacks $f: $contents"
done
dpkg-deb -f "$deb" Depends | grep -q openvswitch-switch || fail "the .deb does not depend on openvswitch-switch"
echo "install into a scratch root, and the .deb: PASS"
