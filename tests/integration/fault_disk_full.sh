#!/bin/bash
# fault_disk_full.sh SANDBOX_SH AGENT -- the ledger and the interfaces file each on a 64 KiB tmpfs
# (mounted in a private mount namespace of this test only), filled up while the agent runs:
# - interfaces file full: a new port still attaches, the failed write is logged and recorded
#   (interfaces_update_failed, "No space left on device"), the file is byte for byte the old one
#   and no temporary file is left; once space returns the agent writes the block by itself (its
#   5 s retry) and the next port lands in it too;
# - ledger full: the failed appends are logged ("ledger: cannot record ... No space left"), the
#   ledger keeps only whole lines and verifies; once space returns the next entries are appended
#   and the ledger verifies.
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
lines=$(wc -l <"$FT_LEDGER")
# Each change appends several entries; the first few may still fit in the file's last page.
for i in 1 2 3 4 5 6; do
    grep -q "ledger: cannot record.*No space left on device" "$tmp/agent.log" && break
    mkdir "$tmp/ports/dk3" || fail "mkdir dk3 with the ledger disk full"
    wait_for 30 "dk3 activated" activated dk3
    rmdir "$tmp/ports/dk3" || fail "rmdir dk3 with the ledger disk full"
    wait_for 30 "dk3 gone" bash -c "[ ! -e '$tmp/ports/dk3' ]"
done
grep -q "ledger: cannot record.*No space left on device" "$tmp/agent.log" || fail "no ledger error logged with the disk full"
[ "$(tail -c 1 "$FT_LEDGER" | od -An -c | tr -d ' ')" = '\n' ] || fail "the ledger ends in a partial line"
ledger_verify >"$tmp/verify.out" 2>&1 || fail "ledger verify with the disk full: $(cat "$tmp/verify.out")"
note "ledger disk full: $(($(wc -l <"$FT_LEDGER") - lines)) entries fitted, then appends failed cleanly; verify passes"
kill -0 "$agent_pid" || fail "the agent died"
rm "$tmp/lfs/filler"
lines=$(wc -l <"$FT_LEDGER")
mkdir "$tmp/ports/dk4" || fail "mkdir dk4"
wait_for 30 "dk4 activated" activated dk4
wait_for 10 "dk4 in the ledger" bash -c "tail -n +$((lines + 1)) '$FT_LEDGER' | grep -q dk4"
wait_for 10 "dk4 in the block" in_block dk4
stop_agent
ledger_verify >"$tmp/verify.out" 2>&1 || fail "ledger verify after space returned: $(cat "$tmp/verify.out")"
grep -q '"action":"agent_stopped"' "$FT_LEDGER" || fail "agent_stopped not recorded after space returned"
note "PASS"
