#!/bin/bash
# hostile_lock.sh SANDBOX_SH AGENT -- an unprivileged user holds Proxmox's lock on the interfaces
# file (issue 14): the lock file exists 0644, as Proxmox makes it, and user nobody takes a shared
# flock on a read-only descriptor for HOLD_S seconds while the agent starts and guests' links
# appear. The agent must keep serving meanwhile: every port attached (OVSDB, NM, the tree),
# systemd's watchdog fed without a gap as long as its timeout (the agent runs with
# WATCHDOG_USEC, NOTIFY_SOCKET pointing at a listener here), the spell in the ledger once with
# the holder; then the block is written once the lock is free, and the lock file is 0600 (no
# other user can open it again). FT_LOCK_HOLD_S changes the hold (default 30).
SANDBOX=$1
AGENT=$2
FT_NAME=lock
. "$(dirname "$0")/fault_lib.sh"
listener_pid=
holder_pid=
cleanup() {
    [ -n "$holder_pid" ] && { pkill -P "$holder_pid" sleep; kill "$holder_pid"; } 2>/dev/null
    [ -n "$listener_pid" ] && kill "$listener_pid" 2>/dev/null
    ft_cleanup
}
trap cleanup EXIT
hold_s=${FT_LOCK_HOLD_S:-30}
watchdog_us=4000000
n=3
command -v python3 >/dev/null || { echo "hostile_lock: python3 is needed for the notify listener"; exit 77; }
chmod 0755 "$tmp"   # as /etc/network: anyone may look in
printf 'auto lo\niface lo inet loopback\n' >"$tmp/interfaces"
lock=$tmp/.pve-interfaces.lock
install -m 0644 /dev/null "$lock"

start_notify_listener

write_config
sandbox_up
# The user takes the lock before the agent starts (a read-only descriptor is enough for flock).
# It holds it until this script lets go (at least HOLD_S seconds, and until every check of the
# held spell is done), so a slow machine cannot end the spell early.
setpriv --reuid=65534 --regid=65534 --clear-groups flock --shared --nonblock "$lock" \
    sleep 3600 &
holder_pid=$!
wait_for 10 "nobody to hold the lock" bash -c "grep -q ':$(stat -c %i "$lock") ' /proc/locks"
t_hold=$(python3 -c 'import time; print("%.3f" % time.monotonic())')

NOTIFY_SOCKET=$tmp/notify.sock WATCHDOG_USEC=$watchdog_us start_agent
wait_for 20 "the spell in the ledger" grep -q '"action":"interfaces_lock_busy"' "$tmp/ledger.jsonl"
grep -q 'interfaces block waits for the lock' "$tmp/agent.log" || fail "no log line says the block waits for the lock"
sx bash -c "for i in \$(seq 700 $((700 + n - 1))); do ip link add veth\${i}i0 type veth peer name veth\${i}i0p; done"
all_attached() {
    [ "$(ovs_ports | grep -cE '^veth70[0-9]i0$')" = "$n" ] && [ "$(nm_activated 'veth70[0-9]i0')" = "$n" ] &&
        [ "$(cat "$tmp"/ports/veth70*i0/state 2>/dev/null | grep -c '^activated$')" = "$n" ]
}
wait_for 60 "$n ports attached while the lock is held" all_attached
kill -0 "$holder_pid" 2>/dev/null || fail "the holder went away before the ports were attached"
note "$n ports attached while user nobody holds $lock"
held_long_enough() {
    python3 -c "import sys, time; sys.exit(0 if time.monotonic() - $t_hold >= $hold_s else 1)"
}
wait_for $((hold_s + 10)) "$hold_s s of holding" held_long_enough
grep -q '^allow-ovsbr0' "$tmp/interfaces" && fail "the block was written while nobody held the lock"

pkill -P "$holder_pid" sleep   # flock lets go when its command ends
wait "$holder_pid" || true
holder_pid=
t_free=$(python3 -c 'import time; print("%.3f" % time.monotonic())')
wait_for 20 "the block written once the lock is free" \
    bash -c "[ \"\$(sed -n 's/^allow-ovsbr0 //p' '$tmp/interfaces' | sort | tr '\n' ' ')\" = 'veth700i0 veth701i0 veth702i0 ' ]"
note "block written $(python3 -c "import time; print(int((time.monotonic() - $t_free) * 1000))") ms after the lock was freed"

# The watchdog: no gap between two WATCHDOG=1 as long as systemd's timeout during the hold.
max_gap=$(max_watchdog_gap "$(awk -v t="$t_hold" 'BEGIN { printf "%.3f", t - 5 }')" \
    "$(awk -v t="$t_free" 'BEGIN { printf "%.3f", t + 1 }')")
[ "$max_gap" != none ] || fail "the agent fed no watchdog while the lock was held: $(cat "$tmp/notify.log")"
note "longest gap between watchdog pings while the lock was held: ${max_gap} s (systemd's timeout: $((watchdog_us / 1000000)) s)"
awk -v g="$max_gap" -v t="$((watchdog_us / 1000000))" 'BEGIN { exit !(g < t) }' ||
    fail "the watchdog went unfed for ${max_gap} s: systemd would have killed the agent"

[ "$(grep -c '"action":"interfaces_lock_busy"' "$tmp/ledger.jsonl")" = 1 ] || fail "the spell is not recorded exactly once"
grep '"action":"interfaces_lock_busy"' "$tmp/ledger.jsonl" | grep -qE '"holders":\[[0-9]' || fail "the ledger does not name the holder"
grep -q '"action":"interfaces_lock_free"' "$tmp/ledger.jsonl" || fail "the end of the spell is not recorded"
[ "$(stat -c %a "$lock")" = 600 ] || fail "the lock file is $(stat -c %a "$lock"), not 600"
setpriv --reuid=65534 --regid=65534 --clear-groups cat "$lock" 2>/dev/null && fail "user nobody can still open the lock file"
stop_agent
ledger_verify >/dev/null || fail "ledger verify"
note "PASS"
