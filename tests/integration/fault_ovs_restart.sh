#!/bin/bash
# fault_ovs_restart.sh SANDBOX_SH AGENT -- ovs-vswitchd and ovsdb-server restarted (on the same
# database, as `systemctl restart openvswitch-switch` does) with 10 ports attached, twice: every
# port is back in OVSDB with an OpenFlow port number (in the new ovs-vswitchd's datapath) and
# ACTIVATED in NetworkManager, the tree says activated, the agent is the same process; a link
# that appears after each restart still becomes a port (NetworkManager reached the new
# ovsdb-server); a link that appears while OVS is down fails and is attached by the agent's retry
# once OVS is back. OVSDB is only read.
SANDBOX=$1
AGENT=$2
FT_NAME=ovsr
. "$(dirname "$0")/fault_lib.sh"
trap ft_cleanup EXIT
n=10
re='(veth6[0-9]{2}|tap70[01])i0'

printf 'auto lo\niface lo inet loopback\n' >"$tmp/interfaces"
write_config
sandbox_up
start_agent
pid_before=$agent_pid
sx bash -c "for i in \$(seq 600 $((600 + n - 1))); do ip link add veth\${i}i0 type veth peer name veth\${i}i0p; done
            for i in 700 701; do ip tuntap add dev tap\${i}i0 mode tap; done"
n=$((n + 2))
all_plugged() {
    [ "$(ovs_ports | grep -cE "^$re\$")" = "$n" ] &&
        [ "$(nm_activated "$re")" = "$n" ] &&
        [ "$(sx ovs-vsctl --timeout=5 --bare --columns=name,ofport list Interface | paste - - - |
             awk '$2 > 0 { print $1 }' | grep -cE "^$re\$")" = "$n" ] &&
        [ "$(nm_activated 'ovsbr0')" = 1 ] &&
        for p in $(tree_ports); do [ "$(cat "$tmp/ports/$p/state")" = activated ] || return 1; done
}
wait_for 90 "$n ports attached" all_plugged
for round in 1 2; do
    "$SANDBOX" restart-ovs >"$tmp/restart.out" 2>&1 || fail "restart-ovs: $(cat "$tmp/restart.out")"
    t0=$(now_ms)
    wait_for 60 "$n ports back after OVS restart $round" all_plugged
    note "round $round: $n ports back $(($(now_ms) - t0)) ms after OVS was started again"
    sx ovs-vsctl --timeout=5 br-exists ovsbr0 || fail "the bridge is gone from OVSDB"
    sx ip link add veth69${round}i0 type veth peer name veth69${round}i0p
    n=$((n + 1))
    t0=$(now_ms)
    wait_for 30 "veth69${round}i0 attached after OVS restart $round" all_plugged
    note "round $round: a new port attached $(($(now_ms) - t0)) ms after its link appeared"
done
# A container starting while OVS is down: its activation fails (NM cannot reach OVSDB), and the
# agent tries again by itself until OVS is back (no link event, no NM restart needed).
"$SANDBOX" stop-ovs >"$tmp/stop.out" 2>&1 || fail "stop-ovs: $(cat "$tmp/stop.out")"
sx ip link add veth698i0 type veth peer name veth698i0p
n=$((n + 1))
failed() { grep -q '"action":"port_attach_failed".*"port":"veth698i0"' "${FT_LEDGER:-$tmp/ledger.jsonl}"; }
wait_for 90 "veth698i0's activation failed while OVS is down" failed
"$SANDBOX" start-ovs >"$tmp/start.out" 2>&1 || fail "start-ovs: $(cat "$tmp/start.out")"
t0=$(now_ms)
wait_for 90 "$n ports attached after OVS came back, veth698i0 by a retry" all_plugged
grep -q '"action":"port_attached".*"after_failed_attempts".*"port":"veth698i0"' "${FT_LEDGER:-$tmp/ledger.jsonl}" ||
    fail "no port_attached after failed attempts in the ledger"
note "a port whose activation failed while OVS was down: attached $(($(now_ms) - t0)) ms after OVS was started again"
[ "$agent_pid" = "$pid_before" ] && kill -0 "$agent_pid" || fail "the agent did not survive"
stop_agent
ledger_verify >/dev/null || fail "ledger verify"
note "PASS"
