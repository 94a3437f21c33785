#!/bin/bash
# fault_kill.sh SANDBOX_SH AGENT -- the agent SIGKILLed at random moments during 100 mkdir/rmdir
# on its port tree, restarted each time (the dead FUSE mount left behind must not stop it). Once
# before a restart the ledger also gets a torn last line, as a kill in the middle of a write
# leaves. After the last restart: every profile the agent owns in NetworkManager belongs to a
# port in the tree, the tree, NM and OVSDB list the same ports, the interfaces block lists each
# once, the torn line was repaired and recorded, `ledger verify` passes.
# FT_SEED=N repeats a run (the seed is printed first).
SANDBOX=$1
AGENT=$2
FT_NAME=kill
. "$(dirname "$0")/fault_lib.sh"
trap ft_cleanup EXIT

seed=${FT_SEED:-$(($(date +%s) % 32768))}
note "seed $seed (repeat with FT_SEED=$seed)"
RANDOM=$seed
ops=${FT_OPS:-100}
kills=${FT_KILLS:-6}
links=8

printf 'auto lo\niface lo inet loopback\n' >"$tmp/interfaces"
# Links named outside include_prefixes: only a mkdir makes them ports.
write_config '["veth", "tap"]'
sandbox_up
sx bash -c "for i in \$(seq 0 $((links - 1))); do ip link add fk\$i type veth peer name fk\${i}p; done"
start_agent

# The operations at which the agent is killed, while the operation runs.
# A tree operation that hangs fails the test at once, with what the agent's threads wait on and
# its log, instead of running into ctest's timeout with no word (seen once in a CI run).
# The connection is aborted afterwards, so that nothing (this script included) stays stuck in it.
hung() {
    local pid t dev
    pid=$(pgrep -f "$AGENT -c $tmp/config.toml run" | head -n 1)
    if [ -n "$pid" ]; then
        for t in /proc/"$pid"/task/*; do
            echo "  $(cat "$t/comm" 2>/dev/null): $(cat "$t/wchan" 2>/dev/null)"
            sed 's/^/      /' "$t/stack" 2>/dev/null | head -n 8
        done >&2
    fi
    # The mount's device (from mountinfo: a stat of a hung mount would hang too).
    dev=$(awk -v m="$tmp/ports" '$5 == m { split($3, d, ":"); print d[2] }' /proc/self/mountinfo | tail -n 1)
    grep -q ' /sys/fs/fuse/connections fusectl ' /proc/mounts ||
        mount -t fusectl none /sys/fs/fuse/connections 2>/dev/null || true
    [ -z "$dev" ] || echo 1 >"/sys/fs/fuse/connections/$dev/abort" 2>/dev/null || true
    touch "$tmp/hung"  # (in a command substitution, fail ends only that subshell)
    fail "op ${op} ($*) hung for 60 s"
}
# tree_call CMD...: CMD (which reads the tree) must end within 60 s, or the test fails at once
# (hung). A FUSE request the server has taken cannot be killed, so CMD runs in the background and
# this shell never waits on the mount itself.
tree_call() {
    local pid rc=0 end
    "$@" &
    pid=$!
    end=$(($(date +%s) + 60))
    while kill -0 "$pid" 2>/dev/null; do
        [ "$(date +%s)" -lt "$end" ] || hung "$@"
        sleep 0.05
    done
    wait "$pid" || rc=$?
    return "$rc"
}
declare -A kill_at=()
while [ ${#kill_at[@]} -lt "$kills" ]; do kill_at[$((RANDOM % ops))]=1; done
note "kills during operations: $(printf '%s\n' "${!kill_at[@]}" | sort -n | tr '\n' ' ')"
failed_ops=0
restarts=0
torn_written=0
for op in $(seq 0 $((ops - 1))); do
    name=fk$((RANDOM % links))
    if tree_call test -d "$tmp/ports/$name"; then cmd=(rmdir "$tmp/ports/$name"); else cmd=(mkdir "$tmp/ports/$name"); fi
    if [ -n "${kill_at[$op]:-}" ]; then
        timeout -s KILL 60 "${cmd[@]}" 2>/dev/null &
        op_pid=$!
        delay_ms=$((RANDOM % 400))
        # The kill lands at a random moment of the operation or of the work it started; this
        # sleep is the fault's timing, not a wait for a condition.
        sleep "$(printf '0.%03d' "$delay_ms")"
        note "op $op (${cmd[0]} $name): SIGKILL after ${delay_ms} ms"
        kill_agent
        rc=0
        wait "$op_pid" 2>/dev/null || rc=$?
        [ "$rc" != 137 ] || hung "${cmd[@]}"
        [ "$rc" = 0 ] || failed_ops=$((failed_ops + 1))
        if [ "$torn_written" = 0 ]; then
            # A kill in the middle of a ledger write: a last line without its newline.
            printf '{"action":"port_attached","details":{"port":"fk' >>"$tmp/ledger.jsonl"
            torn_written=1
        fi
        start_agent
        restarts=$((restarts + 1))
        [ "$(grep -c "mountpoint $tmp/ports: stale mount removed" "$tmp/agent.log")" = "$restarts" ] ||
            fail "restart $restarts did not report removing the stale mount"
    else
        tree_call "${cmd[@]}" 2>/dev/null || failed_ops=$((failed_ops + 1))
    fi
done
note "$ops operations, $restarts kills and restarts, $failed_ops operations failed (expected near a kill)"
op=settle

# The agent settles: the tree, NetworkManager and OVSDB agree, every port is activated.
consistent() {
    local tree nm ovs block st p
    tree=$(tree_call tree_ports) || return 1
    nm=$(profile_ports)
    ovs=$(ovs_ports)
    block=$(block_ports)
    [ "$tree" = "$nm" ] && [ "$tree" = "$ovs" ] && [ "$tree" = "$block" ] || return 1
    for p in $tree; do
        st=$(tree_call cat "$tmp/ports/$p/state") || return 1
        [ "$st" = activated ] || return 1
    done
}
settle_start=$(now_ms)
end=$(($(date +%s) + 60))
until consistent; do
    [ ! -e "$tmp/hung" ] || fail "a read of the tree hung (above)"
    if [ "$(date +%s)" -ge "$end" ]; then
        echo "tree:    $(tree_ports | tr '\n' ' ')" >&2
        echo "NM:      $(agent_profiles | tr '\n' ' ')" >&2
        echo "OVSDB:   $(ovs_ports | tr '\n' ' ')" >&2
        echo "block:   $(block_ports | tr '\n' ' ')" >&2
        fail "the tree, NetworkManager, OVSDB and the block do not agree after 60 s"
    fi
    sleep 0.2
done
note "consistent $(($(now_ms) - settle_start)) ms after the last operation"
note "settled: $(tree_ports | wc -l) ports: $(tree_ports | tr '\n' ' ')"

# No orphan profiles: every port:/member: profile of the agent names a port of the tree, and
# each port has exactly one of each.
for p in $(tree_ports); do
    [ "$(agent_profiles | grep -cxE "(port|member):$p")" = 2 ] || fail "$p does not have exactly one port and one member profile: $(agent_profiles | tr '\n' ' ')"
done
dups=$(block_ports | uniq -d)
[ -z "$dups" ] || fail "duplicate stanzas in the block: $dups"
[ "$(grep -c '^# BEGIN ovs-port-agent' "$tmp/interfaces")" = 1 ] || fail "not exactly one block"
[ "$(grep -c '^iface lo inet loopback' "$tmp/interfaces")" = 1 ] || fail "the admin's stanza is damaged"

stop_agent
ledger_verify >"$tmp/verify.out" 2>&1 || fail "ledger verify: $(cat "$tmp/verify.out")"
grep -q '"action":"ledger_recovered"' "$tmp/ledger.jsonl" || fail "the torn tail's repair is not recorded in the ledger"
ls "$tmp"/ledger.jsonl.torn-* >/dev/null 2>&1 || fail "the torn bytes were not kept aside"
[ "$(grep -c '"action":"agent_started"' "$tmp/ledger.jsonl")" = $((restarts + 1)) ] || fail "not every start is in the ledger"
note "PASS (seed $seed)"
