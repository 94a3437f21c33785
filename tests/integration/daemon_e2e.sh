#!/bin/bash
# daemon_e2e.sh SANDBOX_SH AGENT -- the daemon in the sandbox, driven only by real links:
# 20 container veths (veth{VMID}i0, peers veth{VMID}i0p as Proxmox names them) and 5 VM taps
# appear -> all attached as OVS ports through NetworkManager and listed in the interfaces block
# (which Debian's ifupdown2 parses); links of other prefixes are untouched; NetworkManager
# restarts -> every port is back without restarting the agent; the links are deleted -> ports
# detached, profiles gone, block emptied; the ledger verifies. OVSDB is only read.
SANDBOX=$1
AGENT=$2
FT_NAME=e2e
# The daemon-test helpers shared with the fault tests: sandbox, agent, wait_for, ...
source "$(dirname "$0")/fault_lib.sh"
trap ft_cleanup EXIT
# fault_lib's fail(), with what NetworkManager holds.
fail() {
    echo "FAIL: $*" >&2
    echo "--- agent log:" >&2
    tail -n 40 "$tmp/agent.log" >&2
    [ -n "${OPA_E2E_DEBUG:-}" ] && sleep 2 && cp "$tmp/agent.log" "$tmp/ledger.jsonl" \
        "/run/ovs-port-agent-sandbox/$OPA_SANDBOX/nm.log" "$OPA_E2E_DEBUG"/
    echo "--- NetworkManager processes:" >&2
    pgrep -a NetworkManager >&2
    echo "--- NM profiles:" >&2
    for path in $("$SANDBOX" exec busctl call org.freedesktop.NetworkManager /org/freedesktop/NetworkManager/Settings \
        org.freedesktop.NetworkManager.Settings ListConnections | grep -o '/org/[^"]*'); do
        "$SANDBOX" exec busctl call org.freedesktop.NetworkManager "$path" \
            org.freedesktop.NetworkManager.Settings.Connection GetSettings | grep -o '"id" s "[^"]*"' >&2
    done
    exit 1
}
ports() { sx ovs-vsctl --timeout=5 list-ports ovsbr0 | sort; }
count_ports() { [ "$(ports | grep -cE '^(veth[0-9]+i0|tap[0-9]+i0)$')" = "$1" ]; }
nm_profiles() { sx busctl call org.freedesktop.NetworkManager /org/freedesktop/NetworkManager/Settings \
    org.freedesktop.NetworkManager.Settings ListConnections | grep -o 'Settings/[0-9]*' | wc -l; }

printf 'auto lo\niface lo inet loopback\n\nauto eth0\niface eth0 inet dhcp\n' >"$tmp/interfaces"
cp "$tmp/interfaces" "$tmp/interfaces.orig"
write_config
# Proxmox's guest configs: CT 150's NIC belongs on our bridge with VLAN 10, CT 151's on another.
printf 'hostname: ct150\nnet0: name=eth0,bridge=ovsbr0,hwaddr=BC:24:11:00:01:50,ip=dhcp,tag=10,type=veth\n' \
    >"$tmp/pve/lxc/150.conf"
printf 'hostname: ct151\nnet0: name=eth0,bridge=vmbr0,hwaddr=BC:24:11:00:01:51,ip=dhcp,type=veth\n' \
    >"$tmp/pve/lxc/151.conf"

sandbox_up   # a fresh stack with the bridge, whatever an earlier run left
profiles_with_bridge=$(nm_profiles)
# setup-bridge wrote its steps to the same ledger: started, each profile, activated, done.
setup_actions=$(grep -o '"action":"bridge_[a-z_]*"' "$tmp/ledger.jsonl" | sed 's/"action":"//; s/"$//' | uniq -c | awk '{print $2 "x" $1}' | tr '\n' ' ')
[ "$setup_actions" = "bridge_setup_startedx1 bridge_profile_createdx3 bridge_activatedx1 bridge_setup_donex1 " ] ||
    fail "setup-bridge's ledger entries: $setup_actions"
sx "$AGENT" -c "$tmp/config.toml" setup-bridge >/dev/null || fail "setup-bridge, second run"
tail -n 2 "$tmp/ledger.jsonl" | grep -o '"action":"[a-z_]*"' | tr '\n' ' ' |
    grep -qx '"action":"bridge_setup_started" "action":"bridge_setup_unchanged" ' ||
    fail "a second setup-bridge is not recorded as unchanged: $(tail -n 2 "$tmp/ledger.jsonl")"
start_agent

# 20 containers' veths, 5 VMs' taps, and links that are not the agent's.
sx bash -c 'for i in $(seq 100 119); do ip link add veth${i}i0 type veth peer name veth${i}i0p; done
            for i in $(seq 200 204); do ip tuntap add dev tap${i}i0 mode tap; done
            ip link add other0 type veth peer name other0p'
wait_for 60 "25 ports in OVSDB" count_ports 25
ports | grep -qE '^(veth[0-9]+i0p|other0|other0p)$' && fail "a foreign link was attached: $(ports | tr '\n' ' ')"
wait_for 10 "25 ports in the block" bash -c "[ \$(grep -c '^allow-ovsbr0 ' '$tmp/interfaces') = 25 ]"
grep -q '^auto veth\|^auto tap' "$tmp/interfaces" && fail "the block has an auto line"
head -n 5 "$tmp/interfaces" | cmp -s - "$tmp/interfaces.orig" || fail "bytes outside the block changed"
if command -v ifquery >/dev/null; then
    mkdir -p /run/network # ifquery makes it when missing; two at once fail with "File exists"
    listed=$(ifquery -i "$tmp/interfaces" -l --allow=ovsbr0 | wc -l)
    [ "$listed" = 25 ] || fail "ifquery lists $listed ports of class allow-ovsbr0, expected 25"
    parsed=$(ifquery -i "$tmp/interfaces" --allow=ovsbr0 -o json veth100i0)
    grep -q '"ovs-type": "OVSPort"' <<<"$parsed" || fail "ifquery does not see veth100i0 as an OVSPort: $parsed"
fi

# NetworkManager restarts: all back, the agent keeps running.
"$SANDBOX" restart-nm >"$tmp/restart.out" 2>&1 || fail "restart-nm: $(cat "$tmp/restart.out")"
wait_for 30 "25 ports back after the NM restart" count_ports 25
kill -0 "$agent_pid" || fail "the agent died when NetworkManager restarted"
grep -q networkmanager_started "$tmp/ledger.jsonl" || fail "the ledger does not record the NM restart"

# The port tree, from a plain shell.
grep -q " $tmp/ports fuse.ovs-ports " /proc/mounts || fail "the port tree is not mounted"
[ "$(ls "$tmp/ports" | grep -cE '^(veth|tap)[0-9]+i0$')" = 25 ] || fail "the tree does not list 25 ports"
# (The row can be in OVSDB a moment before NM reports the re-plug finished: wait for the state.)
wait_for 10 "veth100i0/state to read activated" grep -qx activated "$tmp/ports/veth100i0/state"
mkdir "$tmp/ports/vi200" || fail "mkdir vi200"
[ "$(cat "$tmp/ports/vi200/state")" = pending ] || fail "vi200 is not pending"
sx ip link add vi200 type veth peer name vi200peer
wait_for 20 "vi200 activated in the tree" bash -c "[ \"\$(cat '$tmp/ports/vi200/state')\" = activated ]"
echo 10 >"$tmp/ports/vi200/tag" || fail "echo 10 > tag"
wait_for 20 "tag 10 on vi200 in OVSDB" bash -c "[ \"\$(\"$SANDBOX\" exec ovs-vsctl --timeout=5 get port vi200 tag)\" = 10 ]"
grep -q "ovs_options tag=10" "$tmp/interfaces" || fail "the block lacks vi200's tag"
mkdir "$tmp/ports/bad name" 2>/dev/null && fail "mkdir accepted a name with a space"
rm -r "$tmp/ports/vi200" || fail "rm -r vi200"
wait_for 20 "vi200 detached" bash -c "! \"$SANDBOX\" exec ovs-vsctl --timeout=5 list-ports ovsbr0 | grep -qx vi200"
sx ip link del vi200

# The D-Bus face, with the seed README's lines verbatim, and the CLI that uses it.
[ "$(sx gdbus call --system --dest dev.ovs.PortAgent1 --object-path /dev/ovs/PortAgent1 --method dev.ovs.PortAgent1.ping)" = "('pong',)" ] \
    || fail "ping"
sx gdbus call --system --dest dev.ovs.PortAgent1 --object-path /dev/ovs/PortAgent1 --method dev.ovs.PortAgent1.list_ports \
    | grep -q "'veth100i0'" || fail "list_ports lacks veth100i0"
[ "$(sx gdbus call --system --dest dev.ovs.PortAgent1 --object-path /dev/ovs/PortAgent1 --method dev.ovs.PortAgent1.create_container_interface 'veth-123-eth0' 'container-123' 100)" = "('vi100',)" ] \
    || fail "create_container_interface"
sx "$AGENT" -c "$tmp/config.toml" status | grep -qE '^vi100 +pending' || fail "status does not show vi100 pending"
sx ip link add vi100 type veth peer name vi100peer
wait_for 20 "vi100 attached" bash -c "\"$SANDBOX\" exec ovs-vsctl --timeout=5 list-ports ovsbr0 | grep -qx vi100"
sx "$AGENT" -c "$tmp/config.toml" status | grep -qE '^vi100 +activated' || fail "status does not show vi100 activated"
[ "$(sx gdbus call --system --dest dev.ovs.PortAgent1 --object-path /dev/ovs/PortAgent1 --method dev.ovs.PortAgent1.remove_container_interface 'vi100')" = "('vi100',)" ] \
    || fail "remove_container_interface"
wait_for 20 "vi100 detached" bash -c "! \"$SANDBOX\" exec ovs-vsctl --timeout=5 list-ports ovsbr0 | grep -qx vi100"
sx ip link del vi100
sx "$AGENT" -c "$tmp/config.toml" doctor >"$tmp/doctor.out" || fail "doctor found a failure: $(cat "$tmp/doctor.out")"
grep -q "the agent answers on D-Bus" "$tmp/doctor.out" || fail "doctor did not reach the agent"

# (Before the links go: after NM restarts, NM 1.42 with the userspace datapath can leave the
# bridge's internal interface unconfigured, and then deletes the bridge's row with its last
# port; the next port NM adds brings it back, but Proxmox's add-port would find no bridge.)
# A guest's Proxmox config decides: CT 150's NIC is on our bridge, so Proxmox's start hook plugs
# it (simulated exactly: del-port, then add-port with the tag) and the agent leaves it to Proxmox
# and shows it as external; CT 151's NIC is on another bridge and is left alone.
sx bash -c 'ip link add veth150i0 type veth peer name veth150i0p; ip link add veth151i0 type veth peer name veth151i0p'
wait_for 10 "veth150i0 left to Proxmox" grep -q "veth150i0: Proxmox plugs it into ovsbr0 itself" "$tmp/agent.log"
sx bash -c 'ovs-vsctl --timeout=5 del-port veth150i0 2>/dev/null; ovs-vsctl --timeout=5 add-port ovsbr0 veth150i0 tag=10' ||
    fail "the simulated Proxmox hook failed for veth150i0"
wait_for 10 "veth150i0 shown as external" grep -qx external "$tmp/ports/veth150i0/state"
[ "$(sx ovs-vsctl --timeout=5 get port veth150i0 tag)" = 10 ] || fail "veth150i0 lost the guest's VLAN tag 10"
grep -q '^iface veth150i0' "$tmp/interfaces" && fail "an external port is in the agent's block"
ports | grep -qx veth151i0 && fail "veth151i0 was attached although its guest config names another bridge"
grep -q "veth151i0: the guest's config puts net0 on bridge vmbr0" "$tmp/agent.log" || fail "no word about veth151i0"
# Proxmox's stop: the link goes and its hook deletes the port.
sx bash -c 'ip link del veth150i0; ip link del veth151i0; ovs-vsctl --timeout=5 del-port veth150i0'
wait_for 10 "veth150i0 gone from the tree" bash -c "[ ! -e '$tmp/ports/veth150i0' ]"

# The links go: ports detached, profiles deleted, block emptied.
sx bash -c 'for i in $(seq 100 119); do ip link del veth${i}i0; done
            for i in $(seq 200 204); do ip link del tap${i}i0; done'
wait_for 60 "all ports detached" count_ports 0
wait_for 20 "the agent's profiles deleted" bash -c "[ \$(\"$SANDBOX\" exec busctl call org.freedesktop.NetworkManager /org/freedesktop/NetworkManager/Settings org.freedesktop.NetworkManager.Settings ListConnections | grep -o 'Settings/[0-9]*' | wc -l) = $profiles_with_bridge ]"
wait_for 10 "an empty block" bash -c "! grep -q '^allow-ovsbr0 ' '$tmp/interfaces'"
sx ip link show other0 >/dev/null || fail "other0 was touched"

# ReloadConfig: a new prefix applies at once (other0 becomes a port); a bad file or a key that
# needs a restart is refused with a named error and changes nothing.
reload() { sx busctl call dev.ovs.PortAgent1 /dev/ovs/PortAgent1 dev.ovs.PortAgent1 ReloadConfig; }
cp "$tmp/config.toml" "$tmp/config.good"
sed -i 's/^include_prefixes = .*/include_prefixes = ["veth", "tap", "other"]/' "$tmp/config.toml"
reload >/dev/null || fail "ReloadConfig of a valid file"
wait_for 20 "other0 attached after the reload" bash -c "\"$SANDBOX\" exec ovs-vsctl --timeout=5 list-ports ovsbr0 | grep -qx other0"
grep -q '"action":"config_reloaded"' "$tmp/ledger.jsonl" || fail "the reload is not in the ledger"
echo 'bridge_nam = "x"' >>"$tmp/config.toml"
reload >"$tmp/reload.out" 2>&1 && fail "ReloadConfig accepted an unknown key"
grep -q "InvalidArgs\|did you mean 'bridge_name'" "$tmp/reload.out" || fail "unclear reload error: $(cat "$tmp/reload.out")"
sed -i 's/^bridge_name = .*/bridge_name = "ovsbr9"/; /^bridge_nam = /d' "$tmp/config.toml"
reload >"$tmp/reload.out" 2>&1 && fail "ReloadConfig accepted a new bridge_name"
grep -q "needs a restart" "$tmp/reload.out" || fail "no restart advice: $(cat "$tmp/reload.out")"
cp "$tmp/config.good" "$tmp/config.toml"

kill -TERM "$agent_pid"; wait "$agent_pid" || fail "the agent did not exit cleanly"
agent_pid=
grep -q " $tmp/ports " /proc/mounts && fail "the port tree is still mounted after SIGTERM"

# Killed hard, the agent leaves a dead mount behind; the next start recovers it.
"$SANDBOX" exec "$AGENT" -c "$tmp/config.toml" run >>"$tmp/agent.log" 2>&1 &
agent_pid=$!
wait_for 20 "the tree mounted again" grep -q " $tmp/ports fuse.ovs-ports " /proc/mounts
kill -KILL "$agent_pid"; wait "$agent_pid" 2>/dev/null || true
agent_pid=
"$SANDBOX" exec "$AGENT" -c "$tmp/config.toml" run >>"$tmp/agent.log" 2>&1 &
agent_pid=$!
wait_for 20 "a live tree after the crash" ls "$tmp/ports/bridge"
kill -TERM "$agent_pid"; wait "$agent_pid" || fail "the restarted agent did not exit cleanly"
agent_pid=
grep -q " $tmp/ports " /proc/mounts && fail "a mount is left behind"
"$AGENT" -c "$tmp/config.toml" ledger verify || fail "ledger verify"
grep -q '"action":"agent_stopped"' "$tmp/ledger.jsonl" || fail "no agent_stopped entry"
echo "daemon e2e: PASS"
