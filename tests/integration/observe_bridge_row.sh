#!/bin/bash
# observe_bridge_row.sh SANDBOX_SH AGENT [RESTARTS] -- an observation, not a pass/fail test:
# NetworkManager restarted RESTARTS times (default 10) with the agent and one port on the bridge,
# while `ovsdb-client monitor` (read-only) records every change of the Bridge table. Prints how
# often the bridge's row went away and for how long, for docs/NM-VERSIONS.md; exits 0 unless the
# set-up itself fails. (Known on NM 1.42: NM can delete the row with its last port after a restart;
# see docs/RELIABILITY.md.)
#   ctest -L observe --test-dir build-release -V     (not in the default suite)
SANDBOX=$1
AGENT=$2
restarts=${3:-10}
FT_NAME=brow
. "$(dirname "$0")/fault_lib.sh"
trap 'kill "${monitor_pid:-}" 2>/dev/null; ft_cleanup' EXIT

printf 'auto lo\niface lo inet loopback\n' >"$tmp/interfaces"
write_config
sandbox_up
start_agent
sx ip link add veth400i0 type veth peer name veth400i0p
wait_for 30 "veth400i0 attached" bash -c "[ \"\$(cat '$tmp/ports/veth400i0/state' 2>/dev/null)\" = activated ]"
# One line per change of a Bridge row: "<ms> <initial|insert|delete|old|new> <name>".
sx bash -c 'exec stdbuf -oL ovsdb-client --timestamp monitor "unix:$OVS_RUNDIR/db.sock" Open_vSwitch Bridge name' \
    >"$tmp/monitor.out" 2>&1 &
monitor_pid=$!
wait_for 10 "the monitor's first rows" grep -q ovsbr0 "$tmp/monitor.out"
for i in $(seq 1 "$restarts"); do
    "$SANDBOX" restart-nm >"$tmp/restart.out" 2>&1 || fail "restart-nm: $(cat "$tmp/restart.out")"
    wait_for 60 "veth400i0 back after restart $i" bash -c \
        "sx() { \"$SANDBOX\" exec \"\$@\"; }; sx ovs-vsctl --timeout=5 list-ports ovsbr0 | grep -qx veth400i0"
done
sleep 2   # the last restart's late deletions, if any, reach the monitor
kill "$monitor_pid" 2>/dev/null
wait "$monitor_pid" 2>/dev/null || true
deletes=$(grep -cE '^\S+ +delete +ovsbr0\b|delete.*ovsbr0' "$tmp/monitor.out" || true)
note "NetworkManager $(sx busctl get-property org.freedesktop.NetworkManager /org/freedesktop/NetworkManager org.freedesktop.NetworkManager Version | cut -d' ' -f2):" \
    "bridge row deleted $deletes time(s) in $restarts restarts with one agent port"
# How long the row was absent each time: from a delete to the next insert (the monitor stamps
# each update with a line "YYYY-MM-DD HH:MM:SS.mmm" before it).
awk '/^[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9] / { split($2, t, ":"); now = t[1] * 3600 + t[2] * 60 + t[3] }
     / delete +ovsbr0/ { gone = now }
     / insert +ovsbr0/ && gone { printf "[brow] absent %.0f ms\n", (now - gone) * 1000; gone = 0 }
     END { if (gone) print "[brow] absent at the end" }' "$tmp/monitor.out"
note "done"
