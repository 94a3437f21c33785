#!/bin/bash
# hostile_opens.sh SANDBOX_SH AGENT -- an unprivileged user tries to hold 20,000 opens of the
# tree's ledger files (issue 14) while the real daemon runs with a descriptor limit of 1024:
# the user gets its 16,384 handles and EMFILE for the rest (logged once), the agent's descriptor
# count and RSS stay where they were, another user still reads the tree, and root's mkdir, a new
# link's attach and the interfaces block write still work meanwhile. OVSDB is only read.
SANDBOX=$1
AGENT=$2
FT_NAME=opens
. "$(dirname "$0")/fault_lib.sh"
holder_pid=
stop_holder() {
    [ -n "$holder_pid" ] && kill "$holder_pid" 2>/dev/null && wait "$holder_pid" 2>/dev/null
    holder_pid=
    return 0
}
trap 'stop_holder; ft_cleanup' EXIT
chmod 755 "$tmp"  # the unprivileged users reach the tree through it
agent_fds() { ls "/proc/$agent_pid/fd" | wc -l; }
agent_rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$agent_pid/status"; }
as_user() { local uid=$1; shift; setpriv --reuid="$uid" --regid="$uid" --clear-groups "$@"; }

printf 'auto lo\niface lo inet loopback\n' >"$tmp/interfaces"
write_config
sandbox_up
# Fewer descriptors than the opens below: the handles must cost the agent none.
prlimit --nofile=1024:1024 "$SANDBOX" exec "$AGENT" -c "$tmp/config.toml" run >>"$tmp/agent.log" 2>&1 &
agent_pid=$!
wait_for 30 "the agent to start" grep -q "ready:" "$tmp/agent.log"
sx bash -c 'for i in 100 101 102; do ip link add veth${i}i0 type veth peer name veth${i}i0p; done'
wait_for 60 "3 ports in the block" bash -c "[ \$(grep -c '^allow-ovsbr0 ' '$tmp/interfaces') = 3 ]"
wait_for 10 "the ports' ledgers in the tree" test -s "$tmp/ports/veth102i0/ledger"
fds_before=$(agent_fds)
rss_before=$(agent_rss_kb)

holder='n=0
for ((i = 0; i < 20000; i++)); do
    case $((i % 4)) in 0) f=ledger ;; 1) f=veth100i0/ledger ;; 2) f=veth101i0/ledger ;; 3) f=veth102i0/ledger ;; esac
    exec {fd}<"$f" && n=$((n + 1))
done
echo "held $n"
exec sleep 3600'
# Its own limit raised first: the kernel counts each open against the opener too.
(cd "$tmp/ports" && exec prlimit --nofile=30000:30000 setpriv --reuid=65534 --regid=65534 \
    --clear-groups bash -c "$holder") >"$tmp/holder.out" 2>"$tmp/holder.err" &
holder_pid=$!
wait_for 180 "the holder's 20,000 opens" grep -q '^held' "$tmp/holder.out"
held=$(awk '{ print $2 }' "$tmp/holder.out")
refused=$(grep -c 'Too many open files' "$tmp/holder.err" || true)
note "nobody holds $held opens; $refused refused with EMFILE"
[ "$held" = 16384 ] || fail "nobody holds $held handles, expected its limit 16384"
[ "$refused" = $((20000 - 16384)) ] || fail "$refused opens refused, expected $((20000 - 16384)): $(sort -u "$tmp/holder.err" | head -3)"
[ "$(grep -c 'uid 65534 holds 16384 files open on the tree' "$tmp/agent.log")" = 1 ] ||
    fail "the limit is not logged exactly once"
fds_held=$(agent_fds)
rss_held=$(agent_rss_kb)
note "agent: $fds_before descriptors and ${rss_before} kB RSS before, $fds_held and ${rss_held} kB with the handles held"
[ $((fds_held - fds_before)) -lt 16 ] || fail "the agent's descriptors grew from $fds_before to $fds_held"
[ $((rss_held - rss_before)) -lt 32768 ] || fail "the agent's RSS grew from $rss_before to $rss_held kB"

# Nobody else is limited: another user reads, root makes a port, a new link is attached and the
# block is written.
as_user 65533 cat "$tmp/ports/ledger" "$tmp/ports/veth100i0/ledger" >/dev/null || fail "uid 65533 cannot read the tree"
mkdir "$tmp/ports/vi300" || fail "root's mkdir vi300"
sx bash -c 'ip link add vi300 type veth peer name vi300p; ip link add veth103i0 type veth peer name veth103i0p'
wait_for 60 "vi300 and veth103i0 in OVSDB" bash -c "[ \$(\"$SANDBOX\" exec ovs-vsctl --timeout=5 list-ports ovsbr0 | grep -cxE 'vi300|veth103i0') = 2 ]"
wait_for 20 "5 ports in the block" bash -c "[ \$(grep -c '^allow-ovsbr0 ' '$tmp/interfaces') = 5 ]"
wait_for 20 "vi300 activated in the tree" grep -qx activated "$tmp/ports/vi300/state"
[ "$(agent_fds)" -lt $((fds_before + 16)) ] || fail "the agent's descriptors grew to $(agent_fds)"

stop_holder
wait_for 20 "nobody's handles released" as_user 65534 cat "$tmp/ports/ledger"
kill -0 "$agent_pid" || fail "the agent died"
stop_agent
ledger_verify >/dev/null || fail "ledger verify"
echo "hostile opens: PASS"
