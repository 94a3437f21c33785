#!/bin/bash
# sandbox.sh up|down|status|exec CMD...  -- the whole real stack, in a network namespace of its own:
# a private system D-Bus daemon, ovsdb-server + ovs-vswitchd (userspace "netdev" datapath; no kernel
# module needed) and NetworkManager built with OVS support (scripts/build-nm-ovs.sh).
#
#   scripts/sandbox.sh up        start (idempotent); prints the bus address and the OVSDB socket
#   scripts/sandbox.sh status    say what runs; exit 0 only when the whole stack is healthy
#   scripts/sandbox.sh exec CMD  run CMD in the sandbox's network namespace, in the HOST's mount
#                                namespace (so a FUSE mount it makes is visible to every shell),
#                                with DBUS_SYSTEM_BUS_ADDRESS and OVS_RUNDIR pointing at the sandbox
#   scripts/sandbox.sh down      stop everything it started, delete the namespace (idempotent)
#   scripts/sandbox.sh restart-nm   stop NetworkManager and start it again (for fault tests)
#   scripts/sandbox.sh restart-ovs  stop ovs-vswitchd and ovsdb-server and start them again on the
#                                   same database (for fault tests)
#   scripts/sandbox.sh stop-ovs     the first half of restart-ovs (OVS stays down) ...
#   scripts/sandbox.sh start-ovs    ... and the second
#
# Env: OPA_SANDBOX (namespace name, default opa-sandbox), OPA_SANDBOX_STATE (default
#      /run/ovs-port-agent-sandbox/$OPA_SANDBOX), NM_OVS_PREFIX (see build-nm-ovs.sh),
#      OPA_SANDBOX_NM_LOGLEVEL (default INFO), OPA_SANDBOX_NO_OVS=1 (NetworkManager starts
#      without its OVS plugin, as Debian's own package would: for testing that case),
#      OPA_SANDBOX_NM_BIN (a NetworkManager daemon to run instead of build-nm-ovs.sh's, e.g. a
#      packaged /usr/sbin/NetworkManager; its plugin directory is /usr/lib/*/NetworkManager/<ver>
#      unless OPA_SANDBOX_NM_PLUGIN_DIR says otherwise).
# It never touches the host's own network: every daemon lives in the namespace, every file it
# writes is in the state directory or on a tmpfs private to the stack's mount namespace.
set -euo pipefail

HERE=$(cd "$(dirname "$(readlink -f "$0")")" && pwd)
NS=${OPA_SANDBOX:-opa-sandbox}
[[ $NS =~ ^[A-Za-z0-9_.-]{1,64}$ ]] || { echo "sandbox: bad namespace name '$NS'" >&2; exit 2; }
STATE=${OPA_SANDBOX_STATE:-/run/ovs-port-agent-sandbox/$NS}
BUS_SOCKET=$STATE/system_bus_socket
BUS_ADDRESS=unix:path=$BUS_SOCKET
OVSDB_SOCKET=$STATE/db.sock
NM_NAME=org.freedesktop.NetworkManager
NM_PATH=/org/freedesktop/NetworkManager
# Directories NetworkManager and OVS keep state in: a tmpfs over each, inside the stack's own
# mount namespace only.
TMPFS_DIRS="/run/dbus /run/openvswitch /run/NetworkManager /var/lib/NetworkManager /etc/openvswitch
/var/log/openvswitch /etc/NetworkManager"

log() { echo "sandbox[$NS]: $*" >&2; }
die() { echo "sandbox[$NS]: ERROR: $*" >&2; exit 1; }

# ------------------------------------------------------------------ inside the stack's namespaces
if [ "${1:-}" = --inner ]; then
    # Runs under `ip netns exec NS unshare --mount --propagation private`.
    set -x
    for d in $TMPFS_DIRS; do
        [ -d "$d" ] || mkdir -p "$d"   # an empty mount point, created once on a host without NM
        mount -t tmpfs -o mode=0755 tmpfs "$d"
    done
    mkdir -p /etc/NetworkManager/system-connections
    # NM uses udev for links only when /sys is writable; with no udevd running, no link would ever
    # become "initialized" and every veth created outside NM would stay strictly unmanaged.
    # A read-only /sys is NM's container path: links are usable at once.
    mount -o remount,bind,ro /sys
    if [ "${OPA_SANDBOX_NO_OVS:-0}" = 1 ]; then
        # An empty plugin directory (compiled into the daemon) in this mount namespace only:
        # NetworkManager then runs without Open vSwitch support.
        mount -t tmpfs -o ro,mode=0755 tmpfs "$NM_PLUGIN_DIR"
    fi
    ip link set lo up

    dbus-daemon --config-file="$STATE/bus.conf" --fork --print-pid >"$STATE/dbus.pid"

    ovsdb-tool create /etc/openvswitch/conf.db /usr/share/openvswitch/vswitch.ovsschema
    exec "$0" --start-ovs init
fi

if [ "${1:-}" = --start-ovs ]; then
    # Inside the stack's namespaces: ovsdb-server on the existing database, then ovs-vswitchd.
    ovsdb-server /etc/openvswitch/conf.db \
        --remote=punix:/run/openvswitch/db.sock --remote=punix:"$OVSDB_SOCKET" \
        --pidfile=/run/openvswitch/ovsdb-server.pid --detach --log-file="$STATE/ovsdb-server.log"
    if [ "${2:-}" = init ]; then
        ovs-vsctl --no-wait init   # database initialisation only, no bridge or port
    fi
    ovs-vswitchd unix:/run/openvswitch/db.sock --pidfile=/run/openvswitch/ovs-vswitchd.pid --detach \
        --log-file="$STATE/ovs-vswitchd.log"
    cp /run/openvswitch/ovsdb-server.pid "$STATE/ovsdb-server.pid"
    cp /run/openvswitch/ovs-vswitchd.pid "$STATE/ovs-vswitchd.pid"
    exit 0
fi

if [ "${1:-}" = --start-nm ]; then
    # Runs inside the stack's namespaces (entered through ovsdb-server's).
    setsid "$NM_BIN" --debug --log-level="${OPA_SANDBOX_NM_LOGLEVEL:-INFO}" \
        --config="$STATE/nm.conf" --config-dir="$STATE/conf.d" --system-config-dir="$STATE/conf.d" \
        </dev/null >>"$STATE/nm.log" 2>&1 &
    echo $! >"$STATE/nm.pid"
    exit 0
fi

# ------------------------------------------------------------------ helpers (outside)
# Upstream version the daemon was built as (its plugin directory is named after it).
nm_version() { ls "$(dirname "$NM_BIN")/../lib/NetworkManager/" | head -n 1; }
# The daemon to run: OPA_SANDBOX_NM_BIN, else build-nm-ovs.sh's private build.
nm_bin() {
    if [ -n "${OPA_SANDBOX_NM_BIN:-}" ]; then echo "$OPA_SANDBOX_NM_BIN"; return; fi
    echo "$("$HERE/build-nm-ovs.sh" --print-prefix)/sbin/NetworkManager"
}
# The directory the daemon loads its device plugins from (compiled in).
nm_plugin_dir() {
    if [ -n "${OPA_SANDBOX_NM_PLUGIN_DIR:-}" ]; then echo "$OPA_SANDBOX_NM_PLUGIN_DIR"; return; fi
    if [ -n "${OPA_SANDBOX_NM_BIN:-}" ]; then
        ls -d /usr/lib/*/NetworkManager/[0-9]* 2>/dev/null | head -n 1
        return
    fi
    echo "$(dirname "$NM_BIN")/../lib/NetworkManager/$(nm_version)"
}
netns_inode() { stat -L -c %i "/run/netns/$NS" 2>/dev/null || echo none; }
# alive = exists and is not a zombie (PID 1 of some containers reaps orphans slowly)
alive() { [ -r "/proc/$1/stat" ] && [ "$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)" != Z ]; }
# pid of a recorded daemon, if it is alive, has the expected command name and lives in our netns
pid_of() {
    local f=$STATE/$1 comm=$2 p
    [ -s "$f" ] || return 1
    p=$(tr -dc 0-9 <"$f")
    [ -n "$p" ] && alive "$p" || return 1
    [ "$(cat "/proc/$p/comm" 2>/dev/null)" = "$comm" ] || return 1
    [ "$(stat -L -c %i "/proc/$p/ns/net" 2>/dev/null)" = "$(netns_inode)" ] || return 1
    echo "$p"
}
nm_ready() {
    busctl --address="$BUS_ADDRESS" get-property $NM_NAME $NM_PATH $NM_NAME Startup 2>/dev/null | grep -q '^b false'
}
healthy() {
    pid_of dbus.pid dbus-daemon >/dev/null && pid_of ovsdb-server.pid ovsdb-server >/dev/null &&
        pid_of ovs-vswitchd.pid ovs-vswitchd >/dev/null && pid_of nm.pid NetworkManager >/dev/null && nm_ready
}
print_info() {
    echo "OPA_SANDBOX=$NS"
    echo "OPA_SANDBOX_STATE=$STATE"
    echo "DBUS_SYSTEM_BUS_ADDRESS=$BUS_ADDRESS"
    echo "OVSDB_SOCKET=$OVSDB_SOCKET"
    echo "OVS_RUNDIR=$STATE"
}
stop_pid() { # pidfile comm
    local p i
    if p=$(pid_of "$1" "$2"); then
        kill -TERM "$p" 2>/dev/null || true
        for i in $(seq 1 100); do alive "$p" || break; sleep 0.05; done
        if alive "$p"; then kill -KILL "$p" 2>/dev/null || true; fi
        for i in $(seq 1 40); do alive "$p" || break; sleep 0.05; done
        log "stopped $2 ($p)"
    fi
    rm -f "$STATE/$1"
}
nm_answers() {
    busctl --address="$BUS_ADDRESS" get-property $NM_NAME $NM_PATH $NM_NAME Version >/dev/null 2>&1
}
wait_nm_ready() { # [check]: nm_ready (default; Startup done) or nm_answers
    # NM's Startup takes up to ~7 s on an idle machine; allow for a loaded one.
    local check=${1:-nm_ready}
    local end=$(($(date +%s) + ${OPA_SANDBOX_NM_TIMEOUT:-60}))
    while [ "$(date +%s)" -lt "$end" ]; do
        "$check" && return 0
        if ! pid_of nm.pid NetworkManager >/dev/null; then
            log "NetworkManager exited during start-up"
            return 1
        fi
        sleep 0.05
    done
    return 1
}
start_nm() {
    local ovsdb
    ovsdb=$(pid_of ovsdb-server.pid ovsdb-server) || die "ovsdb-server is not running"
    nsenter -t "$ovsdb" -n -m -- env NM_BIN="$NM_BIN" OPA_SANDBOX="$NS" OPA_SANDBOX_STATE="$STATE" \
        "$HERE/sandbox.sh" --start-nm
}

cmd_down() {
    local left
    stop_pid nm.pid NetworkManager
    stop_pid ovs-vswitchd.pid ovs-vswitchd
    stop_pid ovsdb-server.pid ovsdb-server
    stop_pid dbus.pid dbus-daemon
    if [ -e "/run/netns/$NS" ]; then
        left=$(ip netns pids "$NS" 2>/dev/null | tr '\n' ' ')
        if [ -n "$left" ]; then
            log "processes still in the namespace (not started by the sandbox), killing: $left"
            # shellcheck disable=SC2086
            kill -KILL $left 2>/dev/null || true
        fi
        ip netns del "$NS" && log "namespace deleted"
    fi
    rm -rf "$STATE"
    rmdir "$(dirname "$STATE")" 2>/dev/null || true
}

cmd_up() {
    [ "$(id -u)" = 0 ] || die "must run as root"
    for c in ip nsenter unshare setsid dbus-daemon busctl ovsdb-tool ovsdb-server ovs-vswitchd ovs-vsctl; do
        command -v "$c" >/dev/null || die "missing '$c': run scripts/install-deps.sh"
    done
    NM_BIN=$(nm_bin)
    if healthy; then
        log "already up"
        print_info
        return 0
    fi
    if [ -n "${OPA_SANDBOX_NM_BIN:-}" ]; then
        [ -x "$NM_BIN" ] || die "OPA_SANDBOX_NM_BIN=$NM_BIN is not an executable"
    else
        "$HERE/build-nm-ovs.sh" >&2 || die "NetworkManager with OVS is not available"
    fi
    # Whatever half-started state is left from before goes first.
    cmd_down 2>/dev/null || true
    mkdir -p "$STATE/conf.d"
    chmod 0700 "$STATE"

    cat >"$STATE/bus.conf" <<BUS
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <!-- A private "system" bus for the sandbox: no service activation. -->
  <type>system</type>
  <listen>unix:path=/run/dbus/system_bus_socket</listen>
  <listen>unix:path=$BUS_SOCKET</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
  <includedir>$STATE/bus.d</includedir>
</busconfig>
BUS
    mkdir -p "$STATE/bus.d"

    cat >"$STATE/nm.conf" <<CONF
[main]
plugins=keyfile
auth-polkit=false
# The stack's /etc is the host's: never touch resolv.conf or the hostname.
dns=none
rc-manager=unmanaged
systemd-resolved=false
hostname-mode=none
no-auto-default=*
dhcp=internal

[logging]
level=${OPA_SANDBOX_NM_LOGLEVEL:-INFO}

[keyfile]
path=/etc/NetworkManager/system-connections

# With the netdev datapath ovs-vswitchd realises every internal ovs-interface as a TAP device,
# and NM 1.42 would also show it as a second, external "tun" device (a checkpoint rollback even
# saved a keyfile for it). Hide those tun devices from NM -- but not VM taps (tap<VMID>i<N> and
# other tap* names), which the agent must be able to attach.
[device-opa-sandbox-internal-taps]
match-device=type:tun,except:interface-name:tap*
managed=0

[connectivity]
enabled=false
CONF

    ip netns add "$NS" 2>/dev/null || [ -e "/run/netns/$NS" ] || die "cannot create network namespace $NS"
    ip netns exec "$NS" unshare --mount --propagation private \
        env OPA_SANDBOX="$NS" OPA_SANDBOX_STATE="$STATE" OPA_SANDBOX_NO_OVS="${OPA_SANDBOX_NO_OVS:-0}" \
        NM_PLUGIN_DIR="$(nm_plugin_dir)" "$HERE/sandbox.sh" --inner \
        >"$STATE/inner.log" 2>&1 || { cat "$STATE/inner.log" >&2; cmd_down; die "starting dbus/ovsdb/ovs-vswitchd failed"; }
    start_nm
    if ! wait_nm_ready; then
        log "NetworkManager did not finish starting; tail of its log:"
        tail -n 20 "$STATE/nm.log" >&2 || true
        cmd_down
        die "NetworkManager did not come up"
    fi
    if [ "${OPA_SANDBOX_NO_OVS:-0}" != 1 ]; then
        grep -q "Loaded device plugin: NMOvsFactory" "$STATE/nm.log" || { cmd_down; die "NetworkManager did not load its OVS plugin"; }
    fi
    log "up: NetworkManager $(busctl --address="$BUS_ADDRESS" get-property $NM_NAME $NM_PATH $NM_NAME Version | cut -d' ' -f2) with OVS, pid $(cat "$STATE/nm.pid")"
    print_info | tee "$STATE/env"
}

cmd_status() {
    local rc=0 d
    for d in "dbus.pid dbus-daemon" "ovsdb-server.pid ovsdb-server" "ovs-vswitchd.pid ovs-vswitchd" "nm.pid NetworkManager"; do
        set -- $d
        if p=$(pid_of "$1" "$2"); then echo "$2: running (pid $p)"; else echo "$2: not running"; rc=1; fi
    done
    if nm_ready; then echo "NetworkManager: ready on $BUS_ADDRESS"; else echo "NetworkManager: not answering"; rc=1; fi
    [ -e "/run/netns/$NS" ] && echo "namespace: $NS" || { echo "namespace: absent"; rc=1; }
    [ $rc = 0 ] && print_info
    return $rc
}

cmd_exec() {
    [ $# -gt 0 ] || die "usage: $0 exec CMD [ARGS...]"
    [ -e "/run/netns/$NS" ] || die "the sandbox is not up (scripts/sandbox.sh up)"
    # --net only: the host's mount namespace stays, so FUSE mounts are visible everywhere.
    exec nsenter --net="/run/netns/$NS" -- env DBUS_SYSTEM_BUS_ADDRESS="$BUS_ADDRESS" OVS_RUNDIR="$STATE" \
        OPA_SANDBOX="$NS" OPA_SANDBOX_STATE="$STATE" "$@"
}

cmd_restart_nm() {
    NM_BIN=$(nm_bin)
    stop_pid nm.pid NetworkManager
    start_nm
    # Back on the bus is what matters after a restart; Startup can stay true for long while NM
    # re-activates many ports.
    wait_nm_ready nm_answers || die "NetworkManager did not come back"
    log "NetworkManager restarted, pid $(cat "$STATE/nm.pid")"
}

cmd_stop_ovs() {
    pid_of dbus.pid dbus-daemon >/dev/null || die "the sandbox is not up"
    stop_pid ovs-vswitchd.pid ovs-vswitchd
    stop_pid ovsdb-server.pid ovsdb-server
    log "OVS stopped"
}

cmd_start_ovs() {
    local dbus
    # The stack's mount namespace (its tmpfs /etc/openvswitch with the database) lives on in the
    # bus daemon while OVS is down.
    dbus=$(pid_of dbus.pid dbus-daemon) || die "the sandbox is not up"
    nsenter -t "$dbus" -n -m -- env OPA_SANDBOX="$NS" OPA_SANDBOX_STATE="$STATE" \
        "$HERE/sandbox.sh" --start-ovs >>"$STATE/inner.log" 2>&1 || die "starting OVS again failed"
    pid_of ovsdb-server.pid ovsdb-server >/dev/null && pid_of ovs-vswitchd.pid ovs-vswitchd >/dev/null ||
        die "OVS did not come back"
    log "OVS started: ovsdb-server $(cat "$STATE/ovsdb-server.pid"), ovs-vswitchd $(cat "$STATE/ovs-vswitchd.pid")"
}

cmd_restart_ovs() {
    cmd_stop_ovs
    cmd_start_ovs
}

case "${1:-}" in
    up) cmd_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
    exec) shift; cmd_exec "$@" ;;
    restart-nm) cmd_restart_nm ;;
    restart-ovs) cmd_restart_ovs ;;
    stop-ovs) cmd_stop_ovs ;;
    start-ovs) cmd_start_ovs ;;
    *) echo "usage: $0 up|down|status|exec CMD...|restart-nm|restart-ovs|stop-ovs|start-ovs" >&2; exit 2 ;;
esac
