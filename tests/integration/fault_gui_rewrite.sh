#!/bin/bash
# fault_gui_rewrite.sh SANDBOX_SH AGENT -- a Proxmox-GUI-style save of the interfaces file while
# the agent runs and no port changes: the GUI writes a new file and renames it over the old one.
# (1) the new file drops the agent's block; (2) it keeps the agent's stanzas but without markers,
# reordered and mixed with the admin's; (3) the GUI's pending interfaces.new without the block.
# Each time the agent repairs its block (all 5 ports, once each, admin stanzas kept) by itself,
# through an inotify watch on the directory (no polling). Repair times are printed.
SANDBOX=$1
AGENT=$2
FT_NAME=gui
. "$(dirname "$0")/fault_lib.sh"
trap ft_cleanup EXIT
n=5

admin='auto lo
iface lo inet loopback

auto eth0
iface eth0 inet dhcp
'
printf '%s' "$admin" >"$tmp/interfaces"
write_config
sandbox_up
start_agent
sx bash -c "for i in \$(seq 500 $((500 + n - 1))); do ip link add veth\${i}i0 type veth peer name veth\${i}i0p; done"
expected=$(for i in $(seq 500 $((500 + n - 1))); do echo "veth${i}i0"; done)
block_ok() {
    local f=${1:-$tmp/interfaces}
    [ "$(sed -n 's/^allow-ovsbr0 //p' "$f" | sort)" = "$expected" ] &&
        [ "$(grep -c '^# BEGIN ovs-port-agent$' "$f")" = 1 ] && [ "$(grep -c '^# END ovs-port-agent$' "$f")" = 1 ] &&
        [ "$(grep -c '^iface veth' "$f")" = "$n" ] &&
        [ "$(grep -c '^iface lo inet loopback$' "$f")" = 1 ] && [ "$(grep -c '^iface eth0 inet dhcp$' "$f")" = 1 ]
}
wait_for 60 "$n ports in the block" block_ok
wait_for 60 "$n ports activated" bash -c "[ \$(cat '$tmp/ports'/veth5*/state | grep -c activated) = $n ]"
writes_before=$(grep -c '"action":"interfaces_updated"' "$tmp/ledger.jsonl")

# gui_save FILE TEXT: what the GUI does: a new file next to the old one, renamed over it.
gui_save() { printf '%s' "$2" >"$1.tmp.$$" && mv "$1.tmp.$$" "$1"; }
repair() { # description file text
    local t0
    gui_save "$2" "$3"
    t0=$(now_ms)
    wait_for 10 "the block repaired after: $1" block_ok "$2"
    note "$1: repaired in $(($(now_ms) - t0)) ms"
}

repair "a save that drops the block" "$tmp/interfaces" "$admin"
stanzas=$(for i in $(seq $((500 + n - 1)) -1 500); do
    printf 'allow-ovsbr0 veth%si0\niface veth%si0 inet manual\n\tovs_type OVSPort\n\tovs_bridge ovsbr0\n\n' "$i" "$i"; done)
repair "a save that reorders the stanzas and drops the markers" "$tmp/interfaces" \
    "$(printf 'auto lo\niface lo inet loopback\n\n%s\n\nauto eth0\niface eth0 inet dhcp\n' "$stanzas")"
[ "$(grep -c '^allow-ovsbr0 ' "$tmp/interfaces")" = "$n" ] || fail "duplicate stanzas after the repair"
repair "a pending interfaces.new without the block" "$tmp/interfaces.new" "$admin"
block_ok "$tmp/interfaces" || fail "the interfaces file lost its block"

# Not a loop: the agent's own writes come back through the watch and then change nothing.
writes=$(grep -c '"action":"interfaces_updated"' "$tmp/ledger.jsonl")
[ "$((writes - writes_before))" = 3 ] || fail "expected 3 repairs in the ledger, found $((writes - writes_before))"
stop_agent
ledger_verify >/dev/null || fail "ledger verify"
note "PASS"
