# fault_lib.sh -- sourced by the fault tests (fault_*.sh) and proxmox_coexistence.sh: one sandbox
# of their own, the agent with its ledger, interfaces file and port tree in a temporary directory,
# and read-only checks of NetworkManager (busctl) and OVSDB (ovs-vsctl). Callers set SANDBOX,
# AGENT and FT_NAME first.
# Every wait has a deadline; nothing sleeps for a fixed time to let something happen.
set -euo pipefail
export OPA_SANDBOX=${OPA_SANDBOX_PREFIX:-opa}-$FT_NAME
tmp=${tmp:-$(mktemp -d)}
agent_pid=
ft_cleanup() {
    set +e
    if [ -n "$agent_pid" ]; then
        kill -TERM "$agent_pid" 2>/dev/null
        wait "$agent_pid" 2>/dev/null
    fi
    grep -q " $tmp/ports " /proc/mounts && umount -l "$tmp/ports"
    [ "${FT_KEEP_SANDBOX:-0}" = 1 ] || "$SANDBOX" down >/dev/null 2>&1
    # FT_KEEP_TMP=1 keeps the ledger, config and agent log for a look afterwards.
    if [ "${FT_KEEP_TMP:-0}" = 1 ]; then echo "kept: $tmp" >&2; else rm -rf "$tmp"; fi
}
fail() {
    echo "FAIL[$FT_NAME]: $*" >&2
    echo "--- agent log:" >&2
    tail -n 40 "$tmp/agent.log" >&2 || true
    exit 1
}
note() { echo "[$FT_NAME] $*"; }
sx() { "$SANDBOX" exec "$@"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
# wait_for SECONDS DESCRIPTION COMMAND...: re-checks COMMAND until it succeeds or time is up.
wait_for() {
    local limit=$1 what=$2 end
    shift 2
    end=$(($(date +%s%N) + limit * 1000000000))
    until "$@" >/dev/null 2>&1; do
        [ "$(date +%s%N)" -lt "$end" ] || fail "timed out after ${limit}s waiting for $what"
        sleep 0.05
    done
}

# write_config [include_prefixes as TOML array]: the agent's config, everything in $tmp.
write_config() {
    local prefixes=${1:-'["veth", "tap"]'}
    cat >"$tmp/config.toml" <<CONF
bridge_name = "ovsbr0"
datapath_type = "netdev"
include_prefixes = $prefixes
debounce_ms = 100
ledger_path = "${FT_LEDGER:-$tmp/ledger.jsonl}"
ledger_spill_path = "$tmp/spill/ledger-held.jsonl"
interfaces_path = "${FT_INTERFACES:-$tmp/interfaces}"
mountpoint = "$tmp/ports"
setup_log_path = "$tmp/setup.log"
pve_root = "$tmp/pve"
CONF
    mkdir -p "$tmp/pve/lxc"
}

# A fresh sandbox with the bridge set up.
sandbox_up() {
    "$SANDBOX" down >/dev/null 2>&1 || true
    "$SANDBOX" up >/dev/null
    sx "$AGENT" -c "$tmp/config.toml" setup-bridge >/dev/null || fail "setup-bridge"
}

# start_agent: the daemon in the sandbox's network namespace; $! is the agent itself (exec all the
# way down). Waits until it is ready (the tree is mounted, the bus name owned).
start_agent() {
    local before
    before=$(grep -c "ready:" "$tmp/agent.log" 2>/dev/null || true)
    "$SANDBOX" exec "$AGENT" -c "$tmp/config.toml" run >>"$tmp/agent.log" 2>&1 &
    agent_pid=$!
    wait_for 30 "the agent to start" bash -c "[ \$(grep -c 'ready:' '$tmp/agent.log') -gt ${before:-0} ]"
}
stop_agent() {
    kill -TERM "$agent_pid"
    wait "$agent_pid" || fail "the agent did not exit cleanly"
    agent_pid=
}
kill_agent() {
    kill -KILL "$agent_pid" 2>/dev/null || true
    wait "$agent_pid" 2>/dev/null || true
    agent_pid=
}

# Ports on the bridge in OVSDB (the bridge's own internal port left out), sorted.
ovs_ports() { sx ovs-vsctl --timeout=5 list-ports ovsbr0 | grep -vx ovsbr0 | sort || true; }
# "PATH ID" of every profile in NetworkManager, sorted (read-only D-Bus calls).
profile_ids() {
    sx bash -c 'set -e
        for p in $(busctl call org.freedesktop.NetworkManager /org/freedesktop/NetworkManager/Settings \
                     org.freedesktop.NetworkManager.Settings ListConnections |
                   grep -o "/org/freedesktop/NetworkManager/Settings/[0-9]*"); do
            busctl call org.freedesktop.NetworkManager "$p" \
                org.freedesktop.NetworkManager.Settings.Connection GetSettings 2>/dev/null |
                grep -o "\"id\" s \"[^\"]*\"" | sed "s/^\"id\" s \"//; s/\"$//; s|^|$p |" || true
        done' | sort
}
# "role:name" of every profile the agent owns in NetworkManager, sorted.
agent_profiles() { profile_ids | awk '{ print $2 }' | sed -n 's/^ovs-port-agent://p' | sort; }
# Port names the agent has profiles for (its port: and member: roles), sorted, unique.
profile_ports() { agent_profiles | sed -n 's/^\(port\|member\)://p' | sort -u; }
# Port directories in the tree, sorted.
tree_ports() { ls "$tmp/ports" | grep -vxE 'bridge|ledger|by-vmid' | sort; }
# Port names in the interfaces block, sorted (duplicates kept).
block_ports() { sed -n 's/^allow-ovsbr0 //p' "${FT_INTERFACES:-$tmp/interfaces}" | tr ' ' '\n' | sort; }
ledger_verify() { "$AGENT" -c "$tmp/config.toml" ledger verify "${FT_LEDGER:-$tmp/ledger.jsonl}"; }
# nm_activated REGEX: how many port names matching REGEX NetworkManager has plugged: both the
# ovs-port device and the member device of that name ACTIVATED (100), from one GetManagedObjects.
nm_activated() {
    sx busctl --json=short call org.freedesktop.NetworkManager /org/freedesktop \
        org.freedesktop.DBus.ObjectManager GetManagedObjects |
        jq --arg re "^($1)\$" '[.data[0][] | .["org.freedesktop.NetworkManager.Device"] // empty
            | select(.Interface.data | test($re)) | {name: .Interface.data, state: .State.data}]
            | group_by(.name) | map(select((map(select(.state == 100)) | length) >= 2)) | length'
}

# start_notify_listener: systemd's side of sd_notify at $tmp/notify.sock (for NOTIFY_SOCKET): every
# datagram the agent sends, with the monotonic time it came, in $tmp/notify.log. Its pid goes in
# listener_pid (the caller kills it).
start_notify_listener() {
    python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a", buffering=1) as log:
    while True:
        message = s.recv(4096).decode(errors="replace").replace("\n", " ")
        log.write("%.3f %s\n" % (time.monotonic(), message))
' "$tmp/notify.sock" "$tmp/notify.log" &
    listener_pid=$!
    wait_for 10 "the notify listener" test -S "$tmp/notify.sock"
}
# max_watchdog_gap FROM TO: the longest gap in seconds between two WATCHDOG=1 received between the
# monotonic times FROM and TO, or "none" when fewer than two came.
max_watchdog_gap() {
    awk -v from="$1" -v to="$2" '/WATCHDOG=1/ && $1 >= from && $1 <= to {
            if (last != "") { gap = $1 - last; if (gap > max) max = gap } last = $1; n++ }
        END { if (n < 2) print "none"; else printf "%.3f", max }' "$tmp/notify.log"
}
