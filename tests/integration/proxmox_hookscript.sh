#!/bin/bash
# scripts/proxmox-hookscript.sh against a temporary /etc/pve, with a fake busctl that records
# its arguments and a fake logger: the exact agent calls at each phase, and exit 0 whatever
# happens. Needs neither root nor a bus.
set -euo pipefail

source_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
hook=$source_root/scripts/proxmox-hookscript.sh

work=$(mktemp -d /tmp/opa-hookscript-test.XXXXXX)
trap 'rm -rf "$work"' EXIT

pve=$work/pve
mkdir -p "$pve/lxc" "$pve/qemu-server" "$work/bin"
calls=$work/calls   # one line per busctl call: its arguments
logs=$work/logs     # one line per logger call

cat >"$work/bin/busctl" <<EOF
#!/bin/bash
printf '%s\n' "\$*" >>"$calls"
if [[ -e "$work/busctl-fails" ]]; then
    echo "Call failed: The name dev.ovs.PortAgent1 was not provided by any .service files" >&2
    exit 1
fi
echo 's "reply"'
EOF
cat >"$work/bin/logger" <<EOF
#!/bin/bash
printf '%s\n' "\$*" >>"$logs"
EOF
chmod +x "$work/bin/busctl" "$work/bin/logger"

export OPA_PVE_ROOT=$pve
export OPA_CONFIG=$work/config.toml
export OPA_BUSCTL=$work/bin/busctl
export OPA_LOGGER=$work/bin/logger
unset OPA_BUSCTL_TIMEOUT

failures=0
fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}

# run_hook VMID PHASE: runs the hookscript, which must exit 0; leaves its calls in $calls.
run_hook() {
    rm -f "$calls" "$logs"
    touch "$calls" "$logs"
    local rc=0
    "$hook" "$@" >"$work/stdout" 2>"$work/stderr" || rc=$?
    ((rc == 0)) || fail "hookscript $* exited $rc: $(cat "$work/stderr")"
}

# expect_calls NAME LINE...: the busctl calls of the last run, exactly and in order.
expect_calls() {
    local name=$1
    shift
    local expected=""
    if (($# > 0)); then expected=$(printf '%s\n' "$@"); fi
    local actual
    actual=$(cat "$calls")
    if [[ $actual != "$expected" ]]; then
        fail "$name: busctl calls differ"
        diff <(echo "$expected") <(echo "$actual") >&2 || true
    else
        echo "ok: $name"
    fi
}

readonly call="--timeout=10 call dev.ovs.PortAgent1 /dev/ovs/PortAgent1 dev.ovs.PortAgent1"

# --- A container: net0 and net2 on the agent's bridge, net1 on another, net3 firewalled. ---
cat >"$work/config.toml" <<'EOF'
# the agent's config
debounce_ms = 500
bridge_name = "opabr0"   # the bridge NM manages
interfaces_path = "/etc/network/interfaces"
EOF
cat >"$pve/lxc/100.conf" <<'EOF'
#description with net9%3A bridge=opabr0
arch: amd64
hostname: web1
net0: name=eth0,bridge=opabr0,hwaddr=BC:24:11:AA:BB:CC,ip=dhcp,tag=10,type=veth
net1: name=eth1,bridge=vmbr0,hwaddr=BC:24:11:AA:BB:CD,ip=dhcp,type=veth
net2: name=eth2,bridge=opabr0,hwaddr=BC:24:11:AA:BB:CE,ip=dhcp,type=veth
net3: name=eth3,bridge=opabr0,firewall=1,hwaddr=BC:24:11:AA:BB:CF,ip=dhcp,type=veth
rootfs: local-lvm:vm-100-disk-0,size=8G

[snap1]
net4: name=eth4,bridge=opabr0,hwaddr=BC:24:11:AA:BB:D0,ip=dhcp,type=veth
EOF

run_hook 100 post-start
expect_calls "container post-start" \
    "$call CreateContainerInterface ssu veth100i0 100 100" \
    "$call CreateContainerInterface ssu veth100i2 100 100" \
    "$call CreateContainerInterface ssu fwln100o3 100 100"
grep -q 'veth100i0' "$logs" || fail "container post-start: nothing logged: $(cat "$logs")"

run_hook 100 pre-stop
expect_calls "container pre-stop" \
    "$call RemoveContainerInterface s vi100" \
    "$call RemoveContainerInterface s vi100i2" \
    "$call RemoveContainerInterface s vi100i3"

for phase in pre-start post-stop; do
    run_hook 100 "$phase"
    expect_calls "container $phase does nothing"
done

# --- Only net1 on the agent's bridge. ---
cat >"$pve/lxc/102.conf" <<'EOF'
net0: name=eth0,bridge=vmbr0,type=veth
net1: name=eth1,bridge=opabr0,type=veth
EOF
run_hook 102 post-start
expect_calls "container net1 only post-start" "$call CreateContainerInterface ssu veth102i1 102 102"
run_hook 102 pre-stop
expect_calls "container net1 only pre-stop" "$call RemoveContainerInterface s vi102i1"

# --- A VM. ---
cat >"$pve/qemu-server/101.conf" <<'EOF'
boot: order=scsi0;net0
net0: virtio=BC:24:11:00:00:01,bridge=opabr0,tag=20
net1: e1000=BC:24:11:00:00:02,bridge=vmbr0
net5: virtio=BC:24:11:00:00:03,bridge=opabr0,trunks=30;40

[PENDING]
net2: virtio=BC:24:11:00:00:04,bridge=opabr0
EOF
run_hook 101 post-start
expect_calls "vm post-start" \
    "$call CreateContainerInterface ssu tap101i0 101 101" \
    "$call CreateContainerInterface ssu tap101i5 101 101"
run_hook 101 pre-stop
expect_calls "vm pre-stop" \
    "$call RemoveContainerInterface s vi101" \
    "$call RemoveContainerInterface s vi101i5"

# --- The agent's default bridge when its config is missing or does not set one. ---
cat >"$pve/lxc/103.conf" <<'EOF'
net0: name=eth0,bridge=ovsbr0,type=veth
net1: name=eth1,bridge=opabr0,type=veth
EOF
OPA_CONFIG=$work/no-such-config.toml run_hook 103 post-start
expect_calls "missing config means ovsbr0" "$call CreateContainerInterface ssu veth103i0 103 103"
printf 'debounce_ms = 100\n[future]\nbridge_name = "not-top-level"\n' >"$work/other.toml"
OPA_CONFIG=$work/other.toml run_hook 103 post-start
expect_calls "config without bridge_name means ovsbr0" \
    "$call CreateContainerInterface ssu veth103i0 103 103"
printf "bridge_name = 'opabr0'\n" >"$work/literal.toml"
OPA_CONFIG=$work/literal.toml run_hook 103 post-start
expect_calls "literal-string bridge_name" "$call CreateContainerInterface ssu veth103i1 103 103"

# --- A failing agent: every NIC is still tried, the failure is logged, exit 0. ---
touch "$work/busctl-fails"
run_hook 100 post-start
expect_calls "failing busctl post-start" \
    "$call CreateContainerInterface ssu veth100i0 100 100" \
    "$call CreateContainerInterface ssu veth100i2 100 100" \
    "$call CreateContainerInterface ssu fwln100o3 100 100"
grep -q 'failed (ignored' "$logs" || fail "failing busctl: failure not logged: $(cat "$logs")"
run_hook 100 pre-stop
expect_calls "failing busctl pre-stop" \
    "$call RemoveContainerInterface s vi100" \
    "$call RemoveContainerInterface s vi100i2" \
    "$call RemoveContainerInterface s vi100i3"
rm -f "$work/busctl-fails"
OPA_BUSCTL=$work/bin/no-such-busctl run_hook 100 post-start
expect_calls "busctl missing altogether"
grep -q 'failed (ignored' "$logs" || fail "busctl missing: failure not logged: $(cat "$logs")"
OPA_LOGGER=$work/bin/no-such-logger run_hook 100 post-start
expect_calls "logger missing altogether" \
    "$call CreateContainerInterface ssu veth100i0 100 100" \
    "$call CreateContainerInterface ssu veth100i2 100 100" \
    "$call CreateContainerInterface ssu fwln100o3 100 100"

# --- Nothing to do, and still exit 0. ---
run_hook 999 post-start
expect_calls "unknown guest"
grep -q 'no config' "$logs" || fail "unknown guest: not logged: $(cat "$logs")"
mkdir "$pve/lxc/104.conf"
run_hook 104 post-start
expect_calls "directory in place of the config"
run_hook
expect_calls "no arguments"
run_hook 'abc' post-start
expect_calls "VMID not a number"
run_hook '../100' post-start
expect_calls "VMID with a path"
run_hook 100 some-future-phase
expect_calls "unknown phase"

if ((failures > 0)); then
    echo "$failures check(s) failed" >&2
    exit 1
fi
echo "all hookscript checks passed"
