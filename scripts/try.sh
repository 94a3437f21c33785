#!/bin/bash
# scripts/try.sh -- set everything up and run the agent against the sandbox stack: installs the
# packages, builds the agent and NetworkManager with OVS, brings up the sandbox (a network
# namespace with its own D-Bus, OVS and NetworkManager), creates the bridge through
# `ovs-port-agent setup-bridge`, and runs `ovs-port-agent run` in the foreground until Ctrl-C.
# Nothing touches the host's own network. State lives in /tmp/ovs-port-agent-try.
set -Eeuo pipefail
on_error() { # names the step that failed (its first line)
    local rc=$? step=${BASH_COMMAND%%$'\n'*}
    echo "try: FAILED (exit $rc) at line ${BASH_LINENO[0]}: $step" >&2
}
trap on_error ERR
cd "$(dirname "$(readlink -f "$0")")/.."
[ "$(id -u)" = 0 ] || { echo "try: run as root (sudo scripts/try.sh): the sandbox needs network namespaces" >&2; exit 2; }

scripts/install-deps.sh
scripts/build-nm-ovs.sh
cmake -S . -B build-release -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-release -j "$(nproc)" --target ovs-port-agent
agent=$PWD/build-release/cli/ovs-port-agent

export OPA_SANDBOX=${OPA_SANDBOX:-opa-try}
scripts/sandbox.sh up

dir=/tmp/ovs-port-agent-try
mkdir -p "$dir"
[ -f "$dir/interfaces" ] || printf 'auto lo\niface lo inet loopback\n' >"$dir/interfaces"
cat >"$dir/config.toml" <<CONF
# The agent's configuration for the sandbox (see config/config.toml.example for every key).
bridge_name = "ovsbr0"
datapath_type = "netdev"     # the sandbox has no OVS kernel module
include_prefixes = ["veth", "tap"]
ledger_path = "$dir/ledger.jsonl"
interfaces_path = "$dir/interfaces"
mountpoint = "$dir/ports"
setup_log_path = "$dir/setup.log"
CONF

scripts/sandbox.sh exec "$agent" -c "$dir/config.toml" setup-bridge | tail -n 1

cat <<HINT

The agent now runs in the sandbox (Ctrl-C stops it). In another shell, as root:
  OPA_SANDBOX=$OPA_SANDBOX scripts/sandbox.sh exec ip link add veth100i0 type veth peer name veth100i0p
                                                               # a container's NIC appears
  OPA_SANDBOX=$OPA_SANDBOX scripts/sandbox.sh exec ovs-vsctl show   # read-only view of OVS
  ls -l $dir/ports; cat $dir/ports/*/state                                   # the port tree
  cat $dir/interfaces                                                         # the Proxmox block
  $agent -c $dir/config.toml ledger verify                                   # audit trail

After Ctrl-C the sandbox stays up, so you can look around; to take it down:
  OPA_SANDBOX=$OPA_SANDBOX scripts/sandbox.sh down

HINT
exec scripts/sandbox.sh exec "$agent" -c "$dir/config.toml" run
