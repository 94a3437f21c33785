#!/bin/bash
# rename_ports.sh SANDBOX_SH AGENT -- renaming a link moves its port (issue 22). The seed's D-Bus
# call CreateContainerInterface(veth{VMID}i0, ct{VMID}, VMID) renames the link to vi{VMID}:
#  1. the link attached before the call;
#  2. the call right after the link appears (before it is attached);
#  3. a link never attached (a debounced name);
#  4. the call while NetworkManager restarts;
#  5. enable_rename renaming a link the agent attached before the option was turned on;
#  6. a randomised run (seeded: OPA_RENAME_SEED) interleaving link creation, the call and link
#     deletion for 50 guests.
# After each: OVSDB, NM's profiles, the tree, the block and the ledger agree, nothing of the old
# name is left, and a port shown activated has its OVSDB row. OVSDB and NM are only read; links
# are made, renamed and deleted as a container's would be.
SANDBOX=$1
AGENT=$2
FT_NAME=rename
source "$(dirname "$0")/fault_lib.sh"
trap ft_cleanup EXIT
seed=${OPA_RENAME_SEED:-22}
guests=${OPA_RENAME_GUESTS:-50}

vsctl() { sx ovs-vsctl --timeout=5 "$@"; }
rows_named() { vsctl --bare --columns=_uuid find Port name="$1" | grep -c . || true; }
iface_rows_named() { vsctl --bare --columns=_uuid find Interface name="$1" | grep -c . || true; }
is_agent_row() {
    [ "$(rows_named "$1")" = 1 ] && vsctl get port "$1" external_ids | grep -q "port=\"\\?$1\"\\?[,}]" &&
        vsctl get port "$1" external_ids | grep -q 'owner=ovs-port-agent'
}
state_of() { cat "$tmp/ports/$1/state" 2>/dev/null || echo absent; }
agent_profiles_for() { agent_profiles | grep -c ":$1\$" || true; }
# The ledger's entries for port P with action A.
ledger_count() { # ACTION PORT
    jq -c --arg a "$1" --arg p "$2" 'select(.action == $a and .details.port == $p)' "$tmp/ledger.jsonl" | grep -c . || true
}
create_call() { # RAW VMID: prints the port's name, fails as the call does
    sx busctl call dev.ovs.PortAgent1 /dev/ovs/PortAgent1 dev.ovs.PortAgent1 CreateContainerInterface \
        ssu "$1" "ct$2" "$2" | sed -n 's/^s "\(.*\)"$/\1/p'
}
link_exists() { sx ip link show dev "$1" >/dev/null 2>&1; }

# Names of the sandbox's links now, one a line.
links_now() { sx ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | sort; }
# The whole picture agrees: every port the tree shows (the agent's) has its two profiles and is
# in the block; exactly those with a link are in OVSDB as the agent's rows and shown activated;
# the agent has no other profile and no other row.
picture() {
    local tree nm block rows attached p profiles links n
    profiles=$(agent_profiles)
    links=$(links_now)
    tree=$(tree_ports | tr '\n' ' ')
    nm=$(echo "$profiles" | sed -n 's/^\(port\|member\)://p' | sort -u | tr '\n' ' ')
    block=$(block_ports | tr '\n' ' ')
    rows=$(vsctl --bare --columns=name find Port external_ids:owner=ovs-port-agent | grep . | sort | tr '\n' ' ' || true)
    attached=""
    for p in $tree; do
        n=$(echo "$profiles" | grep -c ":$p\$" || true)
        [ "$n" = 2 ] || { echo "$p: $n profiles"; return 1; }
        if echo "$links" | grep -qx "$p"; then
            attached="$attached$p "
            [ "$(state_of "$p")" = activated ] || { echo "$p: $(state_of "$p") with its link"; return 1; }
        else
            [ "$(state_of "$p")" = pending ] || { echo "$p: $(state_of "$p") without a link"; return 1; }
        fi
    done
    attached=$(echo $attached | tr ' ' '\n' | sort | tr '\n' ' ')
    [ "$tree" = "$nm" ] || { echo "tree [$tree] != profiles [$nm]"; return 1; }
    [ "$tree" = "$block" ] || { echo "tree [$tree] != block [$block]"; return 1; }
    [ "$attached" = "$rows" ] || { echo "attached [$attached] != OVSDB rows [$rows]"; return 1; }
}
agrees() { picture >"$tmp/picture" 2>&1; }
# NEW attached and in OVSDB, OLD gone from everything; the ledger has NEW's port_attached and, if
# OLD was ever a port, its port_removed.
moved() { # NEW OLD
    agrees || return 1
    is_agent_row "$1" || return 1
    [ "$(state_of "$1")" = activated ] || return 1
    [ "$(nm_activated "$1")" = 1 ] || return 1
    [ "$(rows_named "$2")" = 0 ] && [ "$(iface_rows_named "$2")" = 0 ] || return 1
    [ "$(agent_profiles_for "$2")" = 0 ] || return 1
    [ ! -e "$tmp/ports/$2" ] || return 1
    ! block_ports | grep -qx "$2" || return 1
    [ "$(ledger_count port_attached "$1")" -ge 1 ] || return 1
    [ "$(ledger_count port_created "$2")" = "$(ledger_count port_removed "$2")" ] || return 1
}
expect_moved() { # NEW OLD WHAT
    local end=$(($(date +%s%N) + 30000000000))
    until moved "$1" "$2"; do
        if [ "$(date +%s%N)" -ge "$end" ]; then
            echo "--- $3: $1 <- $2 does not agree: $(cat "$tmp/picture")" >&2
            echo "OVSDB: $(vsctl --bare --columns=name,external_ids find Port | grep . | tr '\n' ' ')" >&2
            echo "profiles: $(agent_profiles | tr '\n' ' ')" >&2
            echo "tree: $(for p in $(tree_ports); do echo -n "$p=$(state_of "$p") "; done)" >&2
            echo "ledger: $(jq -c --arg a "$1" --arg b "$2" 'select(.details.port == $a or .details.port == $b or .details.old == $b) | [.action, .details.port]' "$tmp/ledger.jsonl" | tr '\n' ' ')" >&2
            fail "$3: the port did not move from $2 to $1"
        fi
        sleep 0.1
    done
    [ "$(ledger_count port_created "$2")" = 0 ] || [ "$(ledger_count port_removed "$2")" -ge 1 ] ||
        fail "$3: no port_removed for $2"
    note "$3: $2 -> $1 moved"
}

printf 'auto lo\niface lo inet loopback\n' >"$tmp/interfaces"
write_config '["veth"]'
sandbox_up
start_agent
wait_for 10 "the agent to watch OVSDB" grep -q "watching OVSDB" "$tmp/agent.log"

echo "== 1. attached before the call"
sx ip link add veth931i0 type veth peer name veth931i0p
wait_for 20 "veth931i0 attached" is_agent_row veth931i0
wait_for 10 "veth931i0 activated in the tree" bash -c "grep -qx activated '$tmp/ports/veth931i0/state'"
[ "$(create_call veth931i0 931)" = vi931 ] || fail "CreateContainerInterface did not return vi931"
expect_moved vi931 veth931i0 "attached before the call"

echo "== 2. the call right after the link appears"
out=$(sx bash -c 'ip link add veth932i0 type veth peer name veth932i0p &&
    busctl call dev.ovs.PortAgent1 /dev/ovs/PortAgent1 dev.ovs.PortAgent1 CreateContainerInterface ssu veth932i0 ct932 932')
[ "$out" = 's "vi932"' ] || fail "CreateContainerInterface right after the link: $out"
expect_moved vi932 veth932i0 "call right after the link"

echo "== 3. never attached"
out=$(sx bash -c 'ip link add veth-133-eth0 type veth peer name p133 &&
    busctl call dev.ovs.PortAgent1 /dev/ovs/PortAgent1 dev.ovs.PortAgent1 CreateContainerInterface ssu veth-133-eth0 ct133 133')
[ "$out" = 's "vi133"' ] || fail "CreateContainerInterface of a new link: $out"
expect_moved vi133 veth-133-eth0 "never attached"

echo "== 4. the call while NetworkManager restarts"
sx ip link add veth934i0 type veth peer name veth934i0p
wait_for 20 "veth934i0 attached" is_agent_row veth934i0
"$SANDBOX" restart-nm >"$tmp/restart.out" 2>&1 &
restart_pid=$!
out=$(create_call veth934i0 934 2>"$tmp/call.err" || true)
wait "$restart_pid" || fail "restart-nm: $(cat "$tmp/restart.out")"
if [ "$out" != vi934 ]; then
    # Refused while NM was away: nothing renamed; asked again, it moves the port.
    note "refused during the restart: $(cat "$tmp/call.err")"
    link_exists veth934i0 || fail "a refused call left the link renamed"
    end=$(($(date +%s%N) + 30000000000))
    until [ "$(create_call veth934i0 934 2>"$tmp/call.err")" = vi934 ]; do
        [ "$(date +%s%N)" -lt "$end" ] || fail "the call is refused after NM's return: $(cat "$tmp/call.err")"
        sleep 0.1
    done
fi
expect_moved vi934 veth934i0 "call during an NM restart"
# And a rename the other way round: the call first, NM restarted while the new port activates.
sx ip link add veth935i0 type veth peer name veth935i0p
wait_for 20 "veth935i0 attached" is_agent_row veth935i0
[ "$(create_call veth935i0 935)" = vi935 ] || fail "CreateContainerInterface veth935i0"
"$SANDBOX" restart-nm >"$tmp/restart.out" 2>&1 || fail "restart-nm: $(cat "$tmp/restart.out")"
expect_moved vi935 veth935i0 "NM restarted right after the call"

echo "== 5. enable_rename, for a link attached before it was turned on"
sx ip link add veth936i0 type veth peer name veth936i0p
wait_for 20 "veth936i0 attached" is_agent_row veth936i0
# The default template names it veth_936_eth0 (naming sanitises the dashes).
echo 'enable_rename = true' >>"$tmp/config.toml"
sx busctl call dev.ovs.PortAgent1 /dev/ovs/PortAgent1 dev.ovs.PortAgent1 ReloadConfig >/dev/null ||
    fail "ReloadConfig"
# The reloaded watcher reports every link again: veth936i0 is renamed now.
expect_moved veth_936_eth0 veth936i0 "enable_rename"
sed -i '/^enable_rename/d' "$tmp/config.toml"
sx busctl call dev.ovs.PortAgent1 /dev/ovs/PortAgent1 dev.ovs.PortAgent1 ReloadConfig >/dev/null ||
    fail "ReloadConfig"

echo "== 6. randomised: $guests guests, seed $seed"
RANDOM=$seed
# Each guest: its link made, maybe the call, maybe its link deleted (under whatever name it has
# then), in that order for the guest, interleaved at random with every other guest's steps.
declare -a steps=()
for i in $(seq 0 $((guests - 1))); do
    v=$((600 + i))
    steps+=("$v add")
    [ $((RANDOM % 4)) -ne 0 ] && steps+=("$v call")
    [ $((RANDOM % 3)) -eq 0 ] && steps+=("$v del")
done
# Shuffle, keeping each guest's steps in order: repeatedly take the next step of a random guest.
declare -A next=()
order=()
remaining=${#steps[@]}
while [ "$remaining" -gt 0 ]; do
    k=$((RANDOM % ${#steps[@]}))
    [ -n "${steps[$k]}" ] || continue
    v=${steps[$k]%% *}
    # The guest's earliest step not taken yet.
    for j in "${!steps[@]}"; do
        if [ -n "${steps[$j]}" ] && [ "${steps[$j]%% *}" = "$v" ]; then
            order+=("${steps[$j]}")
            steps[$j]=""
            break
        fi
    done
    remaining=$((remaining - 1))
done
printf '%s\n' "${order[@]}" >"$tmp/schedule"
: >"$tmp/calls"
sx bash -c '
    while read -r v what; do
        case $what in
            add) ip link add veth${v}i0 type veth peer name veth${v}i0p ;;
            call) r=$(busctl call dev.ovs.PortAgent1 /dev/ovs/PortAgent1 dev.ovs.PortAgent1 \
                      CreateContainerInterface ssu veth${v}i0 ct$v $v 2>&1) && echo "$v ok" >>"$1" ||
                      echo "$v refused $r" >>"$1" ;;
            del) ip link del veth${v}i0 2>/dev/null || ip link del vi$v ;;
        esac
    done <"$2"' _ "$tmp/calls" "$tmp/schedule" || fail "the randomised schedule did not run"
refused=$(grep -c refused "$tmp/calls" || true)
note "schedule: $(grep -c add "$tmp/schedule") links, $(grep -c call "$tmp/schedule") calls ($refused refused), $(grep -c del "$tmp/schedule") deletions"
grep refused "$tmp/calls" >&2 || true
[ "$refused" = 0 ] || fail "calls were refused"
# What must be left: a port vi{V} for every call; a port for every link still there (named vi{V}
# after a call, veth{V}i0 otherwise, or veth{V}i0 made after a call that found no link).
expected() {
    local v links
    links=$(links_now)
    for v in $(seq 600 $((600 + guests - 1))); do
        if grep -qx "$v ok" "$tmp/calls"; then echo "vi$v"; fi
        if echo "$links" | grep -qx "veth${v}i0"; then echo "veth${v}i0"; fi
        if echo "$links" | grep -qx "vi$v" && ! grep -qx "$v ok" "$tmp/calls"; then echo "vi$v"; fi
    done | sort -u
}
settled() {
    agrees || return 1
    local links all_rows
    links=$(links_now)
    all_rows=$(vsctl --bare --columns=name find Port)
    [ "$(tree_ports | grep -E '^(vi6|veth6)' | tr '\n' ' ')" = "$(expected | tr '\n' ' ')" ] || {
        echo "tree [$(tree_ports | grep -E '^(vi6|veth6)' | tr '\n' ' ')] != expected [$(expected | tr '\n' ' ')]" >"$tmp/picture"
        return 1
    }
    for v in $(seq 600 $((600 + guests - 1))); do
        if grep -qx "$v ok" "$tmp/calls"; then
            echo "$links" | grep -qx "veth${v}i0" && continue
            ! echo "$all_rows" | grep -qx "veth${v}i0" || return 1
            [ "$(ledger_count port_created "veth${v}i0")" = "$(ledger_count port_removed "veth${v}i0")" ] || return 1
        fi
    done
}
end=$(($(date +%s%N) + 120000000000))
until settled; do
    if [ "$(date +%s%N)" -ge "$end" ]; then
        echo "schedule (seed $seed):" >&2
        tr '\n' ';' <"$tmp/schedule" >&2
        echo >&2
        fail "the randomised run did not settle: $(cat "$tmp/picture")"
    fi
    sleep 0.2
done
note "randomised run settled: $(expected | wc -l) ports"

kill -0 "$agent_pid" || fail "the agent died"
grep -E '"action":"port_(attach|remove|create)_failed"' "$tmp/ledger.jsonl" | head -5 >&2 || true
stop_agent
ledger_verify >/dev/null || fail "ledger verify"
note "PASS"
