#!/bin/bash
# ovs-port-agent hookscript for Proxmox VE: asks the agent to attach a guest's NICs when the
# guest starts, instead of waiting for the agent to discover the links, and to detach them when
# it stops.
#
# Install (containers and VMs alike):
#   cp scripts/proxmox-hookscript.sh /var/lib/vz/snippets/ovs-port-agent-hook.sh
#   chmod 0755 /var/lib/vz/snippets/ovs-port-agent-hook.sh
#   pct set VMID --hookscript local:snippets/ovs-port-agent-hook.sh    # a container
#   qm set VMID --hookscript local:snippets/ovs-port-agent-hook.sh     # a VM
#
# Proxmox runs it as `hookscript VMID PHASE`, PHASE one of pre-start, post-start, pre-stop,
# post-stop:
#   post-start  for each netN of the current config whose bridge= is the agent's bridge
#               (bridge_name in /etc/ovs-port-agent/config.toml, default ovsbr0):
#                 CreateContainerInterface(veth{VMID}i{N} | tap{VMID}i{N}, "{VMID}", VMID)
#               veth for a container (/etc/pve/lxc/VMID.conf exists), tap for a VM; a NIC with
#               firewall=1 sits behind a Linux firewall bridge, and what belongs on OVS is its
#               fwln{VMID}o{N} link, so that name is sent instead.
#   pre-stop    for the same NICs: RemoveContainerInterface(vi{VMID}) for net0,
#               RemoveContainerInterface(vi{VMID}i{N}) for netN.
#   pre-start, post-stop: nothing.
#
# It never makes a guest fail to start or stop: every problem (agent not running, bad config,
# unknown guest) is logged to syslog under the tag ovs-port-agent-hook and the script exits 0.
# The agent also attaches the links it discovers by itself; this only makes it happen at once.
# On a bridge named in the guest's config Proxmox's own start hook has plugged the NIC with
# ovs-vsctl before post-start: the agent then refuses (NotOwned, logged here) and shows the port
# as external, so this script is only useful where nothing else plugs the guest's NICs.
#
# Environment overrides, for tests: OPA_PVE_ROOT (/etc/pve), OPA_CONFIG
# (/etc/ovs-port-agent/config.toml), OPA_BUSCTL (busctl), OPA_LOGGER (logger),
# OPA_BUSCTL_TIMEOUT (seconds per call, 10: a hung agent must not hold the guest's start long).

set -u

pve_root=${OPA_PVE_ROOT:-/etc/pve}
config_file=${OPA_CONFIG:-/etc/ovs-port-agent/config.toml}
busctl=${OPA_BUSCTL:-busctl}
logger=${OPA_LOGGER:-logger}
busctl_timeout=${OPA_BUSCTL_TIMEOUT:-10}

readonly service=dev.ovs.PortAgent1
readonly object_path=/dev/ovs/PortAgent1
readonly interface=dev.ovs.PortAgent1

log() {
    "$logger" -t ovs-port-agent-hook -- "$*" 2>/dev/null || true
}

# bridge_name from the agent's config: a top-level `bridge_name = "name"` (or 'name'), before
# any [table]; the agent itself refuses a file with other forms, so this simple reading is enough.
agent_bridge() {
    local bridge=""
    if [[ -r $config_file ]]; then
        bridge=$(awk '
            /^[[:space:]]*\[/ { exit }
            /^[[:space:]]*bridge_name[[:space:]]*=/ {
                value = $0
                sub(/^[^=]*=[[:space:]]*/, "", value)
                if (match(value, /^"[^"]*"/) || match(value, /^\047[^\047]*\047/)) {
                    print substr(value, 2, RLENGTH - 2)
                }
                exit
            }' "$config_file")
    fi
    echo "${bridge:-ovsbr0}"
}

# Prints "N FIREWALL" for each netN line of the current config (before the first [section])
# whose bridge= is $2; FIREWALL is 1 or 0.
nics_on_bridge() {
    local conf=$1 wanted_bridge=$2 line index value pair bridge firewall
    local -a pairs
    while IFS= read -r line || [[ -n $line ]]; do
        line=${line%$'\r'}
        [[ $line == \[* ]] && break
        [[ $line =~ ^net(0|[1-9][0-9]?):[[:space:]]*(.*)$ ]] || continue
        index=${BASH_REMATCH[1]}
        value=${BASH_REMATCH[2]}
        ((index <= 31)) || continue
        bridge="" firewall=0
        IFS=',' read -ra pairs <<<"$value"
        for pair in "${pairs[@]}"; do
            case $pair in
                bridge=*) bridge=${pair#bridge=} ;;
                firewall=1 | firewall=[Oo][Nn] | firewall=[Yy][Ee][Ss] | firewall=[Tt][Rr][Uu][Ee])
                    firewall=1 ;;
            esac
        done
        [[ $bridge == "$wanted_bridge" ]] && echo "$index $firewall"
    done <"$conf"
}

call_agent() {
    local output
    if output=$("$busctl" --timeout="$busctl_timeout" call "$service" "$object_path" "$interface" \
        "$@" 2>&1); then
        log "$vmid $phase: $1 $3: ${output:-ok}"
    else
        log "$vmid $phase: $1 $3 failed (ignored, the guest goes on): ${output:-no output}"
    fi
}

main() {
    vmid=${1:-}
    phase=${2:-}
    if [[ ! $vmid =~ ^[1-9][0-9]{2,8}$ ]]; then
        log "called with VMID '$vmid' and phase '$phase'; expected 'hookscript VMID PHASE'"
        return 0
    fi
    case $phase in
        post-start | pre-stop) ;;
        *) return 0 ;;
    esac

    local conf kind
    if [[ -e $pve_root/lxc/$vmid.conf ]]; then
        conf=$pve_root/lxc/$vmid.conf kind=container
    elif [[ -e $pve_root/qemu-server/$vmid.conf ]]; then
        conf=$pve_root/qemu-server/$vmid.conf kind=vm
    else
        log "$vmid $phase: no config in $pve_root/lxc or $pve_root/qemu-server; nothing to do"
        return 0
    fi
    if [[ ! -r $conf || ! -f $conf ]]; then
        log "$vmid $phase: cannot read $conf; nothing to do"
        return 0
    fi

    local bridge nics index firewall ifname port
    bridge=$(agent_bridge)
    nics=$(nics_on_bridge "$conf" "$bridge")
    while read -r index firewall; do
        [[ -n $index ]] || continue
        if [[ $phase == post-start ]]; then
            if ((firewall)); then
                ifname=fwln${vmid}o${index}
            elif [[ $kind == container ]]; then
                ifname=veth${vmid}i${index}
            else
                ifname=tap${vmid}i${index}
            fi
            call_agent CreateContainerInterface ssu "$ifname" "$vmid" "$vmid"
        else
            port=vi${vmid}
            ((index == 0)) || port=vi${vmid}i${index}
            call_agent RemoveContainerInterface s "$port"
        fi
    done <<<"$nics"
    return 0
}

main "$@"
exit 0
