#!/bin/bash
# sandbox_lifecycle.sh SANDBOX_SH -- up is idempotent, exec reaches the stack, down leaves no
# process, namespace, mount or state behind, and down is idempotent.
set -euo pipefail
SANDBOX=$1
export OPA_SANDBOX=${OPA_SANDBOX_PREFIX:-opa}-lifecycle
STATE=/run/ovs-port-agent-sandbox/$OPA_SANDBOX
fail() { echo "FAIL: $*" >&2; "$SANDBOX" down >/dev/null 2>&1 || true; exit 1; }
is_alive() { [ -r "/proc/$1/stat" ] && [ "$(sed 's/.*) //' "/proc/$1/stat" | cut -d' ' -f1)" != Z ]; }

# The sandbox's mounts in the host's namespace name it (/run/netns/NAME, its state directory);
# counting all mounts instead failed whenever anything else on the machine mounted meanwhile.
sandbox_mounts() { grep -F -e "/run/netns/$OPA_SANDBOX " -e "$STATE" /proc/mounts || true; }
[ -z "$(sandbox_mounts)" ] || "$SANDBOX" down >/dev/null 2>&1 || true
"$SANDBOX" up >/tmp/opa-lifecycle-up.out || fail "up failed"
grep -q "^DBUS_SYSTEM_BUS_ADDRESS=unix:path=$STATE/system_bus_socket$" /tmp/opa-lifecycle-up.out \
    || fail "up did not print the bus address"
grep -q "^OVSDB_SOCKET=$STATE/db.sock$" /tmp/opa-lifecycle-up.out || fail "up did not print the OVSDB socket"
pids=$(cat "$STATE"/*.pid)
[ -n "$(sandbox_mounts)" ] || fail "no mount of the sandbox found while it is up (the check below would see nothing)"
[ "$(echo "$pids" | wc -w)" = 4 ] || fail "expected 4 daemons, got: $pids"

"$SANDBOX" up >/tmp/opa-lifecycle-up2.out 2>&1 || fail "second up failed"
grep -q "already up" /tmp/opa-lifecycle-up2.out || fail "second up was not idempotent"
[ "$(cat "$STATE"/*.pid)" = "$pids" ] || fail "second up restarted daemons"
"$SANDBOX" status >/dev/null || fail "status says unhealthy"

# exec runs in the sandbox's network namespace but the host's mount namespace.
[ "$("$SANDBOX" exec readlink /proc/self/ns/net)" = "$(readlink "/proc/$(echo "$pids" | head -1)/ns/net")" ] \
    || fail "exec did not enter the sandbox's network namespace"
[ "$("$SANDBOX" exec readlink /proc/self/ns/mnt)" = "$(readlink /proc/self/ns/mnt)" ] \
    || fail "exec left the host's mount namespace"
"$SANDBOX" exec ovs-vsctl --timeout=5 show >/dev/null || fail "ovsdb not reachable through exec"
[ "$("$SANDBOX" exec busctl get-property org.freedesktop.NetworkManager /org/freedesktop/NetworkManager \
    org.freedesktop.NetworkManager Startup)" = "b false" ] || fail "NM not reachable through exec"
# The host's own network namespace has no sandbox link.
ip link show | grep -q "$OPA_SANDBOX" && fail "a sandbox link leaked into the host namespace"

"$SANDBOX" down || fail "down failed"
for p in $pids; do is_alive "$p" && fail "process $p survived down"; done
ip netns list | grep -qw "$OPA_SANDBOX" && fail "namespace survived down"
[ -e "$STATE" ] && fail "state directory survived down"
[ -z "$(sandbox_mounts)" ] || fail "a mount survived down: $(sandbox_mounts)"
"$SANDBOX" down || fail "second down failed"
"$SANDBOX" status >/dev/null 2>&1 && fail "status says healthy after down"
echo "sandbox lifecycle: PASS"
