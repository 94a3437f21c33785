#!/bin/bash
# hostile_input.sh SANDBOX_SH AGENT -- what a guest's config, an OVSDB writer or a D-Bus caller
# may hand the agent (issue 14, "Guest configs and names"), against the real stack:
#  1. OVSDB Port rows named with '/' or longer than an interface name: ignored with a log line,
#     the tree still lists, the agent keeps serving.
#  2. CreateContainerInterface on the bridge's own interface and on a dummy link: refused with
#     a clear error; the links keep their names and stay up.
#  3. A guest NIC whose config names no bridge: its link is left alone (link_left_alone), with
#     no profile and no row; root's mkdir attaches it, without the config's tag.
#  4. A guest NIC on the agent's bridge with trunks=1-4094 written 200 times: root's mkdir
#     attaches it with all VLANs, and the ledger line is short (compact ranges).
SANDBOX=$1
AGENT=$2
FT_NAME=hostile
source "$(dirname "$0")/fault_lib.sh"
trap ft_cleanup EXIT
vsctl() { sx ovs-vsctl --timeout=5 "$@"; }
is_agent_row() {
    [ "$(vsctl --bare --columns=_uuid find Port name="$1" | grep -c .)" = 1 ] &&
        vsctl get port "$1" external_ids | grep -q 'owner=ovs-port-agent'
}
agent_profiles_for() { agent_profiles | grep -c ":$1\$" || true; }
# (Through files: `grep | grep -q` can fail under pipefail when grep -q stops reading early.)
logged_ignoring() { grep -F "is named \"$1\", which" "$tmp/agent.log" >"$tmp/ign" && grep -q 'ignoring' "$tmp/ign"; }
both_ignored() { logged_ignoring 'a/b' && logged_ignoring "$long"; }
# ledger_line ACTION PORT: the first ledger line of ACTION about PORT.
ledger_line() { grep "\"action\":\"$1\"" "$tmp/ledger.jsonl" | grep -m1 "\"port\":\"$2\"" || true; }
call() { sx busctl call dev.ovs.PortAgent1 /dev/ovs/PortAgent1 dev.ovs.PortAgent1 "$@"; }

write_config
printf 'auto lo\niface lo inet loopback\n' >"$tmp/interfaces"
ct() { printf 'hostname: ct%s\nnet0: %s\n' "$1" "$2" >"$tmp/pve/lxc/$1.conf"; }
ct 200 'name=eth0,hwaddr=BC:24:11:00:02:00,ip=dhcp,tag=30,trunks=5;6,type=veth'
all=$(printf '1-4094;%.0s' $(seq 200))
ct 201 "name=eth0,bridge=ovsbr0,hwaddr=BC:24:11:00:02:01,ip=dhcp,trunks=${all%;},type=veth"

sandbox_up
start_agent
wait_for 10 "the agent to watch OVSDB" grep -q "watching OVSDB" "$tmp/agent.log"

echo "== 1. OVSDB rows with names no interface can have"
long=$(printf 'x%.0s' $(seq 60))
vsctl add-port ovsbr0 'a/b' -- set Interface 'a/b' type=internal 2>/dev/null || true
vsctl add-port ovsbr0 "$long" -- set Interface "$long" type=internal 2>/dev/null || true
[ "$(vsctl --bare --columns=name find Port name="$long" | grep -c .)" = 1 ] || fail "the long-named row was not written"
[ "$(vsctl --bare --columns=name find Port name=a/b | grep -c .)" = 1 ] || fail "the row named a/b was not written"
wait_for 10 "the bad rows ignored in the log" both_ignored
ls "$tmp/ports" >/dev/null || fail "readdir of the tree fails"
call ListPorts >/dev/null || fail "ListPorts fails"
sx bash -c 'ip link add veth210i0 type veth peer name veth210i0p'
wait_for 20 "veth210i0 attached beside the bad rows" is_agent_row veth210i0
ls "$tmp/ports" | grep -qx veth210i0 || fail "veth210i0 is not in the tree"
[ "$(grep -cF 'is named "a/b", which' "$tmp/agent.log")" = 1 ] || fail "the bad row is logged more than once"

echo "== 2. Only a guest's veth or tap is renamed"
sx ip link add eth7 type bridge  # (no dummy module on the test host)
sx ip link set eth7 up
for case in "ovsbr0:is the bridge's own interface" "eth7:is not a veth or tap"; do
    link=${case%%:*} reason=${case#*:}
    flags_before=$(sx ip -o link show "$link" | grep -o '<[^>]*>')
    call CreateContainerInterface ssu "$link" ct 100 >/dev/null 2>"$tmp/create.err" &&
        fail "CreateContainerInterface renamed $link"
    grep -qF "$reason" "$tmp/create.err" || fail "$link: $(cat "$tmp/create.err")"
    sx ip link show "$link" >/dev/null || fail "$link was renamed"
    [ "$(sx ip -o link show "$link" | grep -o '<[^>]*>')" = "$flags_before" ] || fail "$link changed its flags"
done
ls "$tmp/ports" | grep -qx vi100 && fail "a port vi100 was made"

echo "== 3. A guest NIC that names no bridge"
sx bash -c 'ip link add veth200i0 type veth peer name veth200i0p'
wait_for 10 "link_left_alone for veth200i0" bash -c "grep '\"action\":\"link_left_alone\"' '$tmp/ledger.jsonl' | grep -q veth200i0"
grep -q "names no bridge" <<<"$(ledger_line link_left_alone veth200i0)" || fail "link_left_alone without the reason"
[ "$(agent_profiles_for veth200i0)" = 0 ] || fail "the agent made profiles for veth200i0"
[ "$(vsctl --bare --columns=_uuid find Port name=veth200i0 | grep -c .)" = 0 ] || fail "veth200i0 got a row"
mkdir "$tmp/ports/veth200i0" || fail "root's mkdir veth200i0"
wait_for 20 "veth200i0 attached on root's request" is_agent_row veth200i0
[ "$(vsctl get port veth200i0 tag)" = "[]" ] || fail "veth200i0 took the config's tag: $(vsctl get port veth200i0 tag)"
[ "$(vsctl get port veth200i0 trunks)" = "[]" ] || fail "veth200i0 took the config's trunks"

echo "== 4. trunks=1-4094 written 200 times"
mkdir "$tmp/ports/veth201i0" || fail "mkdir veth201i0"
sx bash -c 'ip link add veth201i0 type veth peer name veth201i0p'
wait_for 20 "veth201i0 attached" is_agent_row veth201i0
[ "$(vsctl get port veth201i0 trunks | tr ',' '\n' | grep -c .)" = 4094 ] || fail "veth201i0: not all 4094 VLANs"
line=$(ledger_line port_created veth201i0)
grep -q '"trunks":"1-4094"' <<<"$line" || fail "the ledger's trunks are not one range: ${line:0:300}"
[ "${#line}" -lt 2000 ] || fail "the port_created line is ${#line} bytes"

kill -0 "$agent_pid" || fail "the agent died"
stop_agent
ledger_verify >/dev/null || fail "ledger verify"
echo "PASS"
