#!/bin/bash
# orphan_rows.sh SANDBOX_SH AGENT -- an OVSDB row of the agent's that neither a port nor profiles
# are behind is removed, through NetworkManager (issue 22). Such a row is left when the agent stops
# between a link's rename and its old profiles' removal: here the agent is killed with veth950i0
# attached, the link is renamed and the old name's profiles are deleted, as the move's first half
# does. At its next start the agent takes the rows over through NM and lets them go
# (port_orphan_row_removed), leaving nothing: no rows, no profiles of its own or of the take-over,
# no veth. A row of the same kind whose name a link has (one the agent does not take) is left
# alone. OVSDB is only read; NM's
# profiles are deleted over D-Bus, as the agent would.
SANDBOX=$1
AGENT=$2
FT_NAME=orphan
. "$(dirname "$0")/fault_lib.sh"
trap ft_cleanup EXIT

vsctl() { sx ovs-vsctl --timeout=5 "$@"; }
rows_named() { # Port and Interface rows of that name
    echo $(($(vsctl --bare --columns=_uuid find Port name="$1" | grep -c . || true) +
        $(vsctl --bare --columns=_uuid find Interface name="$1" | grep -c . || true)))
}
delete_profile() { # ID
    local path
    path=$(profile_ids | awk -v id="$1" '$2 == id { print $1 }')
    [ -n "$path" ] || fail "no profile $1"
    sx busctl call org.freedesktop.NetworkManager "$path" \
        org.freedesktop.NetworkManager.Settings.Connection Delete
}
ledger_has() { # ACTION PORT
    jq -c --arg a "$1" --arg p "$2" 'select(.action == $a and .details.port == $p)' \
        "$tmp/ledger.jsonl" | grep -q .
}
row_gone() { [ "$(rows_named "$1")" = 0 ]; }
state_is() { [ "$(cat "$tmp/ports/$1/state" 2>/dev/null)" = "$2" ]; }

printf 'auto lo\niface lo inet loopback\n' >"$tmp/interfaces"
write_config
sandbox_up
start_agent
for i in 950 951; do sx ip link add veth${i}i0 type veth peer name veth${i}i0p; done
wait_for 60 "veth950i0 and veth951i0 attached" bash -c "
    [ \"\$(cat '$tmp/ports/veth950i0/state' 2>/dev/null)\" = activated ] &&
    [ \"\$(cat '$tmp/ports/veth951i0/state' 2>/dev/null)\" = activated ]"
kill_agent

# The move's first half, as a crash would leave it: the link renamed, the old name's profiles
# deleted. NM releases an interface from OVS by its current name, so the old name's rows stay.
sx ip link set veth950i0 down
sx ip link set veth950i0 name vx950
delete_profile "ovs-port-agent:member:veth950i0"
delete_profile "ovs-port-agent:port:veth950i0"
sx ip link del vx950
# A row of the agent's whose name a link has: someone's link now (not the agent's to remove).
sx ip link set veth951i0 down
sx ip link set veth951i0 name vx951
delete_profile "ovs-port-agent:member:veth951i0"
delete_profile "ovs-port-agent:port:veth951i0"
sx ip link add veth951i0 type veth peer name vx951p
# Not a name the agent takes any more (it would make it a port again, and NM adopt the rows).
write_config '["veth950"]'
[ "$(rows_named veth950i0)" = 2 ] || fail "no orphan rows to test with: NM removed veth950i0's rows by itself"
[ "$(rows_named veth951i0)" = 2 ] || fail "no orphan rows to test with: NM removed veth951i0's rows by itself"
note "veth950i0 and veth951i0: OVSDB rows without profiles or links of the agent's"

t0=$(now_ms)
start_agent
wait_for 60 "veth950i0's orphan rows removed" row_gone veth950i0
note "veth950i0's rows removed $(($(now_ms) - t0)) ms after the agent started"
wait_for 10 "port_orphan_row_removed in the ledger" ledger_has port_orphan_row_removed veth950i0
ledger_has port_orphan_row veth951i0 || fail "veth951i0's orphan row was not recorded"
ledger_has port_orphan_row_removed veth951i0 && fail "veth951i0's row was removed although its name has a link"
[ "$(rows_named veth951i0)" = 2 ] || fail "veth951i0's rows were touched"
# The take-over's veth is no port of the agent's: nothing about it after the restart.
started=$(grep -n '"action":"agent_started"' "$tmp/ledger.jsonl" | tail -n 1 | cut -d: -f1)
tail -n +"$started" "$tmp/ledger.jsonl" | grep -E '"action":"port_(created|attach|removed)' &&
    fail "the take-over's veth was taken for a port"

# Nothing of the take-over or of the old name is left, and every view agrees.
ids=$(profile_ids | awk '{ print $2 }')
grep -q "ovs-port-agent-takeover:" <<<"$ids" && fail "take-over profiles left: $ids"
grep -q "veth950i0" <<<"$ids" && fail "profiles of veth950i0 left: $ids"
sx ip -o link show | grep -qE ': (veth950i0|opa[0-9a-f]+)[@:]' && fail "a take-over veth is left: $(sx ip -o link show)"
ovs_ports | grep -qx veth950i0 && fail "OVSDB still lists veth950i0"
[ -z "$(tree_ports)" ] || fail "the tree shows ports: $(tree_ports)"
[ -z "$(block_ports)" ] || fail "the block lists ports: $(block_ports)"
[ -z "$(profile_ports)" ] || fail "the agent has profiles: $(profile_ports)"
kill -0 "$agent_pid" || fail "the agent died"
stop_agent
ledger_verify >/dev/null || fail "ledger verify"
note "PASS"
