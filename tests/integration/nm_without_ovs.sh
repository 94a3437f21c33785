#!/bin/bash
# nm_without_ovs.sh SANDBOX_SH AGENT -- a real NetworkManager without its OVS plugin (as Debian
# packages it): the agent refuses to start and setup-bridge refuses to act, each with a message
# that says what to do, and nothing is changed in NetworkManager.
set -euo pipefail
SANDBOX=$1
AGENT=$2
export OPA_SANDBOX=${OPA_SANDBOX_PREFIX:-opa}-noovs OPA_SANDBOX_NO_OVS=1
tmp=$(mktemp -d)
cleanup() { "$SANDBOX" down >/dev/null 2>&1 || true; rm -rf "$tmp"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

cat >"$tmp/config.toml" <<CONF
ledger_path = "$tmp/ledger.jsonl"
setup_log_path = "$tmp/setup.log"
datapath_type = "netdev"
CONF
"$SANDBOX" down >/dev/null 2>&1 || true
"$SANDBOX" up >/dev/null
caps=$("$SANDBOX" exec busctl get-property org.freedesktop.NetworkManager /org/freedesktop/NetworkManager \
    org.freedesktop.NetworkManager Capabilities)
case " $caps " in *" 2 "*) fail "the sandbox's NM reports OVS: $caps" ;; esac
profiles_before=$("$SANDBOX" exec busctl call org.freedesktop.NetworkManager \
    /org/freedesktop/NetworkManager/Settings org.freedesktop.NetworkManager.Settings ListConnections)

rc=0
"$SANDBOX" exec "$AGENT" -c "$tmp/config.toml" run >"$tmp/run.out" 2>&1 || rc=$?
[ "$rc" = 1 ] || fail "run exited $rc, expected 1"
grep -q "has no Open vSwitch support" "$tmp/run.out" || fail "run did not say why: $(cat "$tmp/run.out")"
grep -q "scripts/build-nm-ovs.sh" "$tmp/run.out" || fail "run did not say what to do"
grep -q "org.freedesktop" "$tmp/run.out" && fail "run printed a D-Bus error dump: $(cat "$tmp/run.out")"

rc=0
"$SANDBOX" exec "$AGENT" -c "$tmp/config.toml" setup-bridge >"$tmp/setup.out" 2>&1 || rc=$?
[ "$rc" = 1 ] || fail "setup-bridge exited $rc, expected 1"
grep -q "scripts/build-nm-ovs.sh" "$tmp/setup.out" || fail "setup-bridge did not say what to do"
grep -q "has no Open vSwitch support" "$tmp/setup.log" || fail "the setup log lacks the failure"

profiles_after=$("$SANDBOX" exec busctl call org.freedesktop.NetworkManager \
    /org/freedesktop/NetworkManager/Settings org.freedesktop.NetworkManager.Settings ListConnections)
[ "$profiles_before" = "$profiles_after" ] || fail "profiles changed: $profiles_before -> $profiles_after"
echo "NM without OVS: PASS"
