#!/bin/bash
# fault_disk_full.sh SANDBOX_SH AGENT -- the ledger and the interfaces file each on a 64 KiB tmpfs
# (mounted in a private mount namespace of this test only), filled up while the agent runs:
# - interfaces file full: a new port still attaches, the failed write is logged and recorded
#   (interfaces_update_failed, "No space left on device"), the file is byte for byte the old one
#   and no temporary file is left; once space returns the agent writes the block by itself (its
#   5 s retry) and the next port lands in it too;
# - ledger full: the first failed append is logged once; requested changes (mkdir, rmdir, a tag
#   write, D-Bus RemoveContainerInterface and ReloadConfig) are refused with "No space left on
#   device" (D-Bus: LedgerUnwritable) and change nothing, while mkdir of an existing port is still
#   EEXIST; a container's link still attaches (its entries are held in memory); the ledger keeps
#   only whole lines and verifies. Once space returns, the first mkdir goes through, the held
#   entries come first, in order, with "held_since", then ledger_recovered; with no request, the
#   agent's retry writes them within 5 s. The ledger verifies.
# - killed with 20+ entries held: they were also kept, fsync'd, in the spill file (another
#   filesystem); the next start writes them all, in order, then ledger_recovered, then its own.
SANDBOX=$1
AGENT=$2
FT_NAME=disk
if [ "${FT_INNER:-0}" != 1 ]; then
    . "$(dirname "$0")/fault_lib.sh"
    trap ft_cleanup EXIT
    "$SANDBOX" down >/dev/null 2>&1 || true
    "$SANDBOX" up >/dev/null
    FT_INNER=1 tmp=$tmp unshare --mount --propagation private "$0" "$@" || exit 1
    exit 0
fi

# ---- inside the private mount namespace
. "$(dirname "$0")/fault_lib.sh"
inner_cleanup() {
    set +e
    if [ -n "$agent_pid" ]; then kill -TERM "$agent_pid"; wait "$agent_pid"; fi
    grep -q " $tmp/ports " /proc/mounts && umount -l "$tmp/ports"
    umount "$tmp/lfs" "$tmp/ifs" 2>/dev/null
}
trap inner_cleanup EXIT
mkdir -p "$tmp/lfs" "$tmp/ifs"
mount -t tmpfs -o size=64k,mode=0755 ft-ledger "$tmp/lfs"
mount -t tmpfs -o size=64k,mode=0755 ft-ifaces "$tmp/ifs"
FT_LEDGER=$tmp/lfs/ledger.jsonl
FT_INTERFACES=$tmp/ifs/interfaces
printf 'auto lo\niface lo inet loopback\n' >"$FT_INTERFACES"
write_config
sx "$AGENT" -c "$tmp/config.toml" setup-bridge >/dev/null || fail "setup-bridge"
start_agent
sx bash -c 'for i in 0 1 2 3 4; do ip link add dk$i type veth peer name dk${i}p; done'
activated() { [ "$(cat "$tmp/ports/$1/state" 2>/dev/null)" = activated ]; }
in_block() { grep -qx "allow-ovsbr0 $1" "$FT_INTERFACES"; }
fill() { dd if=/dev/zero of="$1/filler" bs=4k 2>/dev/null || true; }

mkdir "$tmp/ports/dk0" || fail "mkdir dk0"
wait_for 30 "dk0 activated" activated dk0
wait_for 10 "dk0 in the block" in_block dk0

# -- the interfaces file's disk is full
fill "$tmp/ifs"
cp "$FT_INTERFACES" "$tmp/interfaces.before"
mkdir "$tmp/ports/dk1" || fail "mkdir dk1 failed although only the interfaces disk is full"
wait_for 30 "dk1 activated" activated dk1
wait_for 10 "the failed block write in the log" grep -q "cannot update the ovs-port-agent block.*No space left on device" "$tmp/agent.log"
wait_for 10 "the failed block write in the ledger" grep -q '"action":"interfaces_update_failed".*No space left on device' "$FT_LEDGER"
cmp -s "$FT_INTERFACES" "$tmp/interfaces.before" || fail "the interfaces file changed although it could not be written"
[ -z "$(ls -A "$tmp/ifs" | grep -vxE 'interfaces|filler|\.pve-interfaces\.lock')" ] ||
    fail "left behind on the full disk: $(ls -A "$tmp/ifs" | tr '\n' ' ')"
note "interfaces disk full: the file stayed as it was, the error is logged and recorded"
rm "$tmp/ifs/filler"
t0=$(now_ms)
wait_for 15 "dk1 in the block once space returned" in_block dk1
note "block written $(($(now_ms) - t0)) ms after space returned (no port change)"
mkdir "$tmp/ports/dk2" || fail "mkdir dk2"
wait_for 10 "dk2 in the block" in_block dk2

# -- the ledger's disk is full
fill "$tmp/lfs"
outage_logged() { [ "$(grep -c "No space left on device; holding ledger entries" "$tmp/agent.log")" -ge "$1" ]; }
recovered_count() { grep -c '"action":"ledger_recovered"' "$FT_LEDGER" || true; }
# The ledger's last page may still take a few entries: ports (pending: they have no link) are
# made until an append fails (logged once) and the next mkdir is refused.
refused=
for i in $(seq 1 30); do
    if ! err=$(mkdir "$tmp/ports/dkf$i" 2>&1); then
        refused=dkf$i
        break
    fi
done
[ -n "$refused" ] || fail "no mkdir was refused with the ledger disk full"
case $err in
*"No space left on device"*) ;;
*) fail "mkdir $refused with the ledger disk full: expected 'No space left on device', got: $err" ;;
esac
outage_logged 1 || fail "the ledger outage is not logged"
[ "$(grep -c "No space left on device; holding ledger entries" "$tmp/agent.log")" = 1 ] ||
    fail "the outage is logged more than once"
[ ! -e "$tmp/ports/$refused" ] || fail "the refused $refused is in the tree"
! profile_ports | grep -qx "$refused" || fail "the refused $refused has NM profiles"
! ovs_ports | grep -qx "$refused" || fail "the refused $refused is on the bridge"
grep -q "mkdir $refused: the ledger cannot be written (No space left on device)" "$tmp/agent.log" ||
    fail "the refusal of mkdir $refused is not logged"
# Every other requested change is refused too, and nothing changes.
! rmdir "$tmp/ports/dk0" 2>"$tmp/rmdir.err" || fail "rmdir dk0 succeeded with the ledger disk full"
grep -q "No space left on device" "$tmp/rmdir.err" || fail "rmdir dk0: $(cat "$tmp/rmdir.err")"
! echo 10 2>/dev/null >"$tmp/ports/dk0/tag" || fail "a tag write succeeded with the ledger disk full"
[ "$(cat "$tmp/ports/dk0/tag")" = "" ] || fail "dk0's tag changed although refused"
if sx gdbus call --system --dest dev.ovs.PortAgent1 --object-path /dev/ovs/PortAgent1 \
    --method dev.ovs.PortAgent1.RemoveContainerInterface dk0 >"$tmp/dbus.out" 2>&1; then
    fail "RemoveContainerInterface succeeded with the ledger disk full"
fi
grep -q "dev.ovs.PortAgent1.Error.LedgerUnwritable: the ledger cannot be written (No space left on device): refusing a change that could not be audited" "$tmp/dbus.out" ||
    fail "RemoveContainerInterface: $(cat "$tmp/dbus.out")"
sx gdbus call --system --dest dev.ovs.PortAgent1 --object-path /dev/ovs/PortAgent1 \
    --method dev.ovs.PortAgent1.ReloadConfig >"$tmp/dbus.out" 2>&1 &&
    fail "ReloadConfig succeeded with the ledger disk full"
grep -q "dev.ovs.PortAgent1.Error.LedgerUnwritable" "$tmp/dbus.out" || fail "ReloadConfig: $(cat "$tmp/dbus.out")"
# What needs no ledger is said as usual: mkdir of a port that exists is EEXIST, not ENOSPC.
mkdir "$tmp/ports/dk0" 2>"$tmp/mkdir.err" && fail "mkdir of the existing dk0 succeeded"
grep -q "File exists" "$tmp/mkdir.err" || fail "mkdir of the existing dk0: $(cat "$tmp/mkdir.err")"
activated dk0 || fail "dk0 is no longer attached"
# A container's link still attaches: its entries are held.
sx ip link add vethdk5 type veth peer name pdk5
wait_for 30 "vethdk5 (link-driven) activated with the ledger disk full" activated vethdk5
ovs_ports | grep -qx vethdk5 || fail "vethdk5 is not on the bridge"
[ "$(tail -c 1 "$FT_LEDGER" | od -An -c | tr -d ' ')" = '\n' ] || fail "the ledger ends in a partial line"
ledger_verify >"$tmp/verify.out" 2>&1 || fail "ledger verify with the disk full: $(cat "$tmp/verify.out")"
! grep -q '"port":"vethdk5"' "$FT_LEDGER" || fail "vethdk5 is in the ledger although its disk is full"
note "ledger disk full: mkdir $refused, rmdir, a tag write and D-Bus refused, nothing changed; a link still attaches; verify passes"
kill -0 "$agent_pid" || fail "the agent died"

# Space returns: the first request goes through, and what was held is written before it.
rm "$tmp/lfs/filler"
mkdir "$tmp/ports/dk4" || fail "mkdir dk4 right after space returned"
wait_for 30 "dk4 activated" activated dk4
wait_for 10 "dk4 in the block" in_block dk4
[ "$(recovered_count)" = 1 ] || fail "expected one ledger_recovered entry, found $(recovered_count)"
rec=$(grep -n '"action":"ledger_recovered"' "$FT_LEDGER" | cut -d: -f1)
held=$(sed -n "${rec}p" "$FT_LEDGER" | jq '.details.held')
[ "$(sed -n "${rec}p" "$FT_LEDGER" | jq '.details.dropped')" = 0 ] || fail "entries were dropped"
sed -n "${rec}p" "$FT_LEDGER" | jq -e '.details.error | test("No space left on device")' >/dev/null ||
    fail "ledger_recovered does not name the failure: $(sed -n "${rec}p" "$FT_LEDGER")"
[ "$held" -ge 2 ] || fail "ledger_recovered says $held entries were held"
# The held entries are the ones right before it, in the order they were recorded.
head -n $((rec - 1)) "$FT_LEDGER" | tail -n "$held" >"$tmp/late.jsonl"
[ "$(jq -c 'select(.details.held_since)' "$tmp/late.jsonl" | wc -l)" = "$held" ] ||
    fail "the $held entries before ledger_recovered are not all held ones"
[ "$(head -n $((rec - held - 1)) "$FT_LEDGER" | grep -c held_since || true)" = 0 ] ||
    fail "held entries before the outage's block"
jq -r '.details.held_since' "$tmp/late.jsonl" | sort -c || fail "held entries out of order"
jq -e 'select(.action == "port_attached" and .details.port == "vethdk5")' "$tmp/late.jsonl" >/dev/null ||
    fail "vethdk5's attachment is not among the held entries"
tail -n +$((rec + 1)) "$FT_LEDGER" | grep -q '"action":"port_created".*"port":"dk4"' ||
    fail "dk4 is not recorded after ledger_recovered"
! grep -q "\"port\":\"$refused\"" "$FT_LEDGER" || fail "the refused $refused is in the ledger"
ledger_verify >"$tmp/verify.out" 2>&1 || fail "ledger verify after space returned: $(cat "$tmp/verify.out")"
grep -q "ledger .*writable again after [0-9]* ms: $held held entries written, 0 dropped" "$tmp/agent.log" ||
    fail "the end of the outage is not logged"
note "space returned: mkdir dk4 went through; $held held entries written in order before it, then ledger_recovered; verify passes"

# Again, with no request after space returns: the agent's retry (every 5 s) writes them.
fill "$tmp/lfs"
for i in $(seq 6 20); do
    outage_logged 2 && break
    sx ip link add vethdk$i type veth peer name pdk$i
    wait_for 30 "vethdk$i activated" activated vethdk$i
done
outage_logged 2 || fail "the second outage is not logged"
rm "$tmp/lfs/filler"
t0=$(now_ms)
wait_for 15 "the held entries written by the retry" bash -c "[ \$(grep -c '\"action\":\"ledger_recovered\"' '$FT_LEDGER') = 2 ]"
note "with no request, the retry wrote the held entries $(($(now_ms) - t0)) ms after space returned"

# Killed while entries are held (issue 15 item 3): they were kept on another filesystem too
# (ledger_spill_path, fsync'd), so the next start writes them all, in order, before its own.
spill=$tmp/spill/ledger-held.jsonl
fill "$tmp/lfs"
for i in $(seq 30 60); do
    [ -s "$spill" ] && [ "$(wc -l <"$spill")" -ge 20 ] && break
    sx ip link add vethdk$i type veth peer name pdk$i
    wait_for 30 "vethdk$i activated" activated vethdk$i
done
spilled=$(wc -l <"$spill")
[ "$spilled" -ge 20 ] || fail "only $spilled entries held on disk"
[ "$(stat -c %a "$spill")" = 600 ] || fail "the spill file is $(stat -c %a "$spill"), not 600"
kill_agent
umount -l "$tmp/ports"
jq -c '.details.held_since' "$spill" >"$tmp/spilled.since"
rm "$tmp/lfs/filler"
lines_before=$(wc -l <"$FT_LEDGER")
start_agent
rec=$(grep -n '"action":"ledger_recovered"' "$FT_LEDGER" | tail -n 1 | cut -d: -f1)
[ "$rec" -gt "$lines_before" ] || fail "no ledger_recovered after the restart"
sed -n "${rec}p" "$FT_LEDGER" | jq -e --arg spill "$spill" '.details.spill == $spill' >/dev/null ||
    fail "ledger_recovered does not name the spill file: $(sed -n "${rec}p" "$FT_LEDGER")"
# Right after the killed run's last line: every spilled entry, in order, then ledger_recovered,
# then this start's entries.
sed -n "$((lines_before + 1)),$((rec - 1))p" "$FT_LEDGER" | jq -c '.details.held_since' >"$tmp/written.since"
cmp -s "$tmp/spilled.since" "$tmp/written.since" ||
    fail "the entries written after the restart are not the $spilled held ones in order: $(diff "$tmp/spilled.since" "$tmp/written.since" | head -5)"
[ "$(sed -n "$((rec + 1))p" "$FT_LEDGER" | jq -r .action)" != null ] || fail "nothing after ledger_recovered"
tail -n +$((rec + 1)) "$FT_LEDGER" | grep -q held_since && fail "held entries after ledger_recovered"
[ ! -e "$spill" ] || fail "the spill file is still there after its entries were written"
grep -q "entries held by an earlier run found" "$tmp/agent.log" || fail "the replay is not logged"
note "killed with $spilled entries held: all written, in order, at the next start before its own entries"

stop_agent
ledger_verify >"$tmp/verify.out" 2>&1 || fail "ledger verify at the end: $(cat "$tmp/verify.out")"
grep -q '"action":"agent_stopped"' "$FT_LEDGER" || fail "agent_stopped not recorded after space returned"
note "PASS"
