#!/bin/bash
# install-deps.sh with and without a policy-rc.d already on the machine (Debian's container
# images ship one): it exits 0 after installing, refuses service starts while apt runs, and
# leaves the machine's own file as it was (or none, where there was none). apt-get and
# dpkg-query are stand-ins on PATH, so nothing is installed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
script=$here/../../scripts/install-deps.sh
if [ "$(id -u)" != 0 ]; then echo "SKIP: install-deps.sh needs root" >&2; exit 77; fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/bin"
# dpkg-query: nothing is installed. apt-get: records what policy-rc.d says about starting a service.
printf '#!/bin/sh\nexit 1\n' >"$tmp/bin/dpkg-query"
cat >"$tmp/bin/apt-get" <<STUB
#!/bin/sh
[ "\$1" = install ] || exit 0
"$tmp/policy-rc.d" openvswitch-switch start; echo "\$?" >"$tmp/policy-during-install"
STUB
chmod +x "$tmp/bin/"*
fail() { echo "FAIL: $*" >&2; exit 1; }

run() { # label
    if ! PATH="$tmp/bin:$PATH" OPA_POLICY_RC="$tmp/policy-rc.d" "$script" >"$tmp/out" 2>&1; then
        cat "$tmp/out"; fail "$1: install-deps.sh exited non-zero"
    fi
    grep -q '^install-deps: done' "$tmp/out" || { cat "$tmp/out"; fail "$1: no 'done' line"; }
    [ "$(cat "$tmp/policy-during-install")" = 101 ] || fail "$1: services were not refused during the install"
    echo "ok: $1"
}

# 1. No policy-rc.d on the machine: none afterwards.
run "no policy-rc.d before"
[ ! -e "$tmp/policy-rc.d" ] || fail "a policy-rc.d was left behind"

# 2. The machine's own policy-rc.d (one that allows starts): put back, byte for byte.
printf '#!/bin/sh\n# the machine s own\nexit 0\n' >"$tmp/policy-rc.d"
chmod 755 "$tmp/policy-rc.d"
cp -p "$tmp/policy-rc.d" "$tmp/original"
run "a policy-rc.d before"
cmp -s "$tmp/policy-rc.d" "$tmp/original" || fail "the machine's policy-rc.d was not restored"
[ -x "$tmp/policy-rc.d" ] || fail "the restored policy-rc.d lost its mode"

# 3. A run killed half-way left the machine's file aside: the next run puts it back.
mv "$tmp/policy-rc.d" "$tmp/policy-rc.d.ovs-port-agent-saved"
printf '#!/bin/sh\nexit 101\n' >"$tmp/policy-rc.d"
run "after a killed run"
cmp -s "$tmp/policy-rc.d" "$tmp/original" || fail "the file saved by a killed run was not restored"
[ ! -e "$tmp/policy-rc.d.ovs-port-agent-saved" ] || fail "the saved copy was left behind"
echo "PASS"
