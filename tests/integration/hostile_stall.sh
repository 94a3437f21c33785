#!/bin/bash
# hostile_stall.sh SANDBOX_SH AGENT STALLING_PVE -- /etc/pve stalls (pmxcfs without quorum), as a
# FUSE stand-in whose reads of one guest's config never answer until released (issue 14, "Stuck
# peers"). While guest 100's config hangs:
#  - links of other guests and non-guest links are attached as usual, and the event loop keeps
#    feeding systemd's watchdog (WATCHDOG_USEC, a listener here);
#  - guest 100's link waits for its decision, which is logged and recorded once
#    (guest_config_stalled); root's mkdir of a guest-100 port is refused with EAGAIN in about 2 s,
#    and nothing is made;
#  - D-Bus keeps answering.
# Once the config answers, the waiting link is decided from it (its NIC names another bridge:
# left alone), and mkdir works. The agent shuts down without waiting for a read still held. Then NM, OVSDB,
# the tree and the block agree and the ledger verifies. OVSDB and NM are only read.
SANDBOX=$1
AGENT=$2
STALLING_PVE=$3
FT_NAME=stall
source "$(dirname "$0")/fault_lib.sh"
backing=$tmp/pve-backing
standin_pid=
listener_pid=
cleanup() {
    set +e
    rm -f "$backing"/.stall-*  # answer whatever waits, so everything can end
    [ -z "$listener_pid" ] || kill "$listener_pid" 2>/dev/null
    ft_cleanup_agent_first
    if [ -n "$standin_pid" ]; then
        umount -l "$tmp/pve" 2>/dev/null
        kill "$standin_pid" 2>/dev/null
        wait "$standin_pid" 2>/dev/null
    fi
    ft_cleanup
}
# The agent goes before the stand-in is unmounted (ft_cleanup stops it too; here it is earlier).
ft_cleanup_agent_first() {
    if [ -n "$agent_pid" ]; then
        kill -TERM "$agent_pid" 2>/dev/null
        wait "$agent_pid" 2>/dev/null
        agent_pid=
    fi
}
trap cleanup EXIT
command -v python3 >/dev/null || { echo "hostile_stall: python3 is needed for the notify listener"; exit 77; }
vsctl() { sx ovs-vsctl --timeout=5 "$@"; }
is_agent_row() {
    [ "$(vsctl --bare --columns=_uuid find Port name="$1" | grep -c .)" = 1 ] &&
        vsctl get port "$1" external_ids | grep -q 'owner=ovs-port-agent'
}
rows_named() { vsctl --bare --columns=_uuid find Port name="$1" | grep -c . || true; }
agent_profiles_for() { agent_profiles | grep -c ":$1\$" || true; }
ledger_count() { # ACTION PORT
    jq -c --arg a "$1" --arg p "$2" 'select(.action == $a and .details.port == $p)' "$tmp/ledger.jsonl" | grep -c . || true
}
monotonic() { python3 -c 'import time; print("%.3f" % time.monotonic())'; }
call() { sx busctl call dev.ovs.PortAgent1 /dev/ovs/PortAgent1 dev.ovs.PortAgent1 "$@"; }
others_attached() { is_agent_row tap101i0 && is_agent_row vethhost1; }
no_profiles_for() { [ "$(agent_profiles_for "$1")" = 0 ]; }
recorded_once() { [ "$(ledger_count "$1" "$2")" = 1 ]; }
tree_shows() { [ "$(tree_ports)" = "$1" ]; }

# Container 100's NIC names another bridge (left alone once known); VM 101 has no NIC line. (In
# two directories: the kernel serialises look-ups within one FUSE directory, so one held look-up
# in lxc/ would hold every other there too; the agent is built for that as well.)
mkdir -p "$backing/lxc" "$backing/qemu-server"
printf 'hostname: ct100\nnet0: name=eth0,bridge=vmbr9,hwaddr=BC:24:11:00:01:00,ip=dhcp,type=veth\n' \
    >"$backing/lxc/100.conf"
printf 'name: vm101\n' >"$backing/qemu-server/101.conf"
write_config
printf 'auto lo\niface lo inet loopback\n' >"$tmp/interfaces"
"$STALLING_PVE" "$backing" "$tmp/pve" >"$tmp/standin.log" 2>&1 &
standin_pid=$!
wait_for 10 "the stand-in mounted" grep -q " $tmp/pve fuse" /proc/mounts
touch "$backing/.stall-100.conf"
# The stand-in stalls for real: a reader is held (unkillably, as by pmxcfs) until the release.
cat "$tmp/pve/lxc/100.conf" >"$tmp/held-cat.out" 2>&1 &
held_cat=$!
wait_for 10 "the stand-in to hold a read" grep -q "^waiting: /lxc/100.conf" "$tmp/standin.log"
grep -q '^name: vm101' "$tmp/pve/qemu-server/101.conf" || fail "the stand-in does not serve qemu-server/101.conf"

start_notify_listener
watchdog_us=4000000

sandbox_up
t_stall=$(monotonic)
NOTIFY_SOCKET=$tmp/notify.sock WATCHDOG_USEC=$watchdog_us start_agent

echo "== 1. guest 100's config hangs: the others are attached meanwhile"
sx bash -c 'ip link add veth100i0 type veth peer name veth100i0p; ip tuntap add tap101i0 mode tap
    ip link add vethhost1 type veth peer name hostpeer1'
wait_for 30 "tap101i0 and vethhost1 attached" others_attached
wait_for 10 "the stalled decision in the ledger" recorded_once guest_config_stalled veth100i0
grep -q 'link veth100i0: guest 100.s config under .* has not answered' "$tmp/agent.log" ||
    fail "no log line says veth100i0's decision waits for its config"
[ "$(rows_named veth100i0)" = 0 ] || fail "veth100i0 was plugged while its config hung"
[ "$(agent_profiles_for veth100i0)" = 0 ] || fail "veth100i0 has profiles while its config hung"
[ ! -e "$tmp/ports/veth100i0" ] || fail "veth100i0 is in the tree while its config hung"
call Ping >/dev/null || fail "D-Bus Ping does not answer"
call ListPorts >/dev/null || fail "D-Bus ListPorts does not answer"

echo "== 2. root's mkdir of a guest-100 port: EAGAIN, nothing made"
t0=$(now_ms)
if mkdir "$tmp/ports/veth100i1" 2>"$tmp/mkdir.err"; then fail "mkdir veth100i1 succeeded while guest 100's config hung"; fi
t1=$(now_ms)
note "mkdir refused after $((t1 - t0)) ms: $(cat "$tmp/mkdir.err")"
grep -q 'Resource temporarily unavailable' "$tmp/mkdir.err" || fail "mkdir did not fail with EAGAIN: $(cat "$tmp/mkdir.err")"
[ $((t1 - t0)) -lt 10000 ] || fail "mkdir took $((t1 - t0)) ms to be refused"
[ ! -e "$tmp/ports/veth100i1" ] || fail "the refused veth100i1 is in the tree"
[ "$(agent_profiles_for veth100i1)" = 0 ] || fail "the refused veth100i1 has profiles"
[ "$(ledger_count guest_config_stalled veth100i0)" = 1 ] || fail "the stall is recorded $(ledger_count guest_config_stalled veth100i0) times"

echo "== 3. the watchdog was fed while the config hung"
t_release=$(monotonic)
max_gap=$(max_watchdog_gap "$t_stall" "$t_release")
[ "$max_gap" != none ] || fail "the agent fed no watchdog: $(tail -5 "$tmp/notify.log")"
note "longest gap between watchdog pings during the stall: ${max_gap} s (timeout $((watchdog_us / 1000000)) s)"
awk -v g="$max_gap" -v t="$((watchdog_us / 1000000))" 'BEGIN { exit !(g < t) }' ||
    fail "the watchdog went unfed for ${max_gap} s"

echo "== 4. the config answers: the waiting link is decided from it"
rm -f "$backing/.stall-100.conf"
wait "$held_cat" || fail "the held read failed once answered: $(cat "$tmp/held-cat.out")"
wait_for 10 "veth100i0 left alone" recorded_once link_left_alone veth100i0
grep -q 'link veth100i0: its guest.s config answered; deciding now' "$tmp/agent.log" || fail "no log line for the late decision"
jq -r 'select(.action == "link_left_alone" and .details.port == "veth100i0") | .details.reason' "$tmp/ledger.jsonl" |
    grep -q vmbr9 || fail "veth100i0 was not left alone for naming vmbr9"
[ "$(rows_named veth100i0)" = 0 ] || fail "veth100i0 was plugged though its NIC names vmbr9"
mkdir "$tmp/ports/veth100i1" || fail "mkdir veth100i1 once the config answers"
wait_for 10 "veth100i1 in the tree" test -d "$tmp/ports/veth100i1"
rmdir "$tmp/ports/veth100i1" || fail "rmdir veth100i1"
wait_for 20 "veth100i1's profiles gone" no_profiles_for veth100i1

echo "== 5. the agent's shutdown does not wait for a stuck read"
# Its last record is written with the read still held; the process itself can end only once the
# read returns (the kernel holds its thread, as pmxcfs would).
touch "$backing/.stall-101.conf"
sx ip tuntap add tap101i1 mode tap
wait_for 10 "tap101i1's decision waiting" grep -q "link tap101i1: guest 101.s config" "$tmp/agent.log"
t0=$(now_ms)
kill -TERM "$agent_pid"
wait_for 20 "the agent's shutdown with the read held" grep -q '"action":"agent_stopped"' "$tmp/ledger.jsonl"
note "shut down in $(($(now_ms) - t0)) ms with VM 101's config hanging"
rm -f "$backing/.stall-101.conf"
wait_for 20 "the agent to exit" bash -c "! kill -0 $agent_pid"
wait "$agent_pid" || fail "the agent exited with $? after a read was held"
agent_pid=
sx ip link del tap101i1  # (its config has no NIC line: the next start would attach it)

echo "== 6. everything agrees"
expected=$'tap101i0\nvethhost1'
[ "$(ovs_ports)" = "$expected" ] || fail "OVSDB has: $(ovs_ports | tr '\n' ' ')"
[ "$(profile_ports)" = "$expected" ] || fail "NM has profiles for: $(profile_ports | tr '\n' ' ')"
[ "$(block_ports)" = "$expected" ] || fail "the block lists: $(block_ports | tr '\n' ' ')"
start_agent
wait_for 20 "the tree to show the two ports" tree_shows "$expected"
stop_agent
ledger_verify >/dev/null || fail "ledger verify: $(ledger_verify 2>&1 | tail -3)"
note "OK"
