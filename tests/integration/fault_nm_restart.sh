#!/bin/bash
# fault_nm_restart.sh SANDBOX_SH AGENT -- NetworkManager restarted with 50 ports attached: every
# port is re-plugged (in OVSDB and ACTIVATED in NetworkManager) within 5 s of NM answering on the
# bus again, the agent is the same process, and the ledger records the outage (NM stopped, NM
# started) in that order. FT_NM_REPLUG_S changes the 5 s limit.
SANDBOX=$1
AGENT=$2
FT_NAME=nmr
. "$(dirname "$0")/fault_lib.sh"
trap ft_cleanup EXIT
limit_s=${FT_NM_REPLUG_S:-5}
n=50

printf 'auto lo\niface lo inet loopback\n' >"$tmp/interfaces"
write_config
sandbox_up
start_agent
pid_before=$agent_pid
sx bash -c "for i in \$(seq 300 $((300 + n - 1))); do ip link add veth\${i}i0 type veth peer name veth\${i}i0p; done"
all_plugged() {
    [ "$(ovs_ports | grep -cE '^veth3[0-9]{2}i0$')" = "$n" ] && [ "$(nm_activated 'veth3[0-9]{2}i0')" = "$n" ]
}
t0=$(now_ms)
wait_for 120 "$n ports attached" all_plugged
note "$n ports attached in $(($(now_ms) - t0)) ms"
ledger_lines=$(wc -l <"$tmp/ledger.jsonl")

"$SANDBOX" restart-nm >"$tmp/restart.out" 2>&1 || fail "restart-nm: $(cat "$tmp/restart.out")"
t_answer=$(now_ms)   # restart-nm returns once NM answers on the bus
wait_for 60 "$n ports re-plugged" all_plugged
replug_ms=$(($(now_ms) - t_answer))
note "re-plugged $n ports ${replug_ms} ms after NetworkManager answered again"
[ "$replug_ms" -le $((limit_s * 1000)) ] || fail "re-plugging took ${replug_ms} ms, more than ${limit_s} s"
[ "$agent_pid" = "$pid_before" ] && kill -0 "$agent_pid" || fail "the agent did not survive the NM restart"
[ "$(grep -c 'ready:' "$tmp/agent.log")" = 1 ] || fail "the agent started again"
# The outage in the ledger: stopped, then started, after the ports were attached.
outage=$(tail -n +$((ledger_lines + 1)) "$tmp/ledger.jsonl" | grep -oE '"action":"networkmanager_(stopped|started)"' | tr '\n' ' ')
[ "$outage" = '"action":"networkmanager_stopped" "action":"networkmanager_started" ' ] ||
    fail "the ledger does not record the outage as stopped then started: $outage"
# The tree agrees.
wait_for 10 "every port activated in the tree" bash -c "for p in \$(ls '$tmp/ports' | grep -E '^veth3'); do [ \"\$(cat '$tmp/ports/'\$p/state)\" = activated ] || exit 1; done"
stop_agent
ledger_verify >/dev/null || fail "ledger verify"
note "PASS"
