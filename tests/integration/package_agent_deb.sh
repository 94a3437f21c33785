#!/bin/bash
# package_agent_deb.sh [DIST] -- the agent's .deb as a user installs it (issue 13 item 6): built in
# DIST (default: the host's release), its Depends right for DIST (libsdbus-c++1 on Debian 12,
# libsdbus-c++2 on Debian 13), stripped; `apt install ./ovs-port-agent_*.deb` into a clean DIST
# root; --version, `config check` and `doctor` run; purge (with the packages it pulled in) leaves
# no file behind. Needs root and OPA_PACKAGE_TESTS=1.
PT_NAME=package_agent_deb
source "$(dirname "$(readlink -f "$0")")/package_lib.sh"

build_agent_deb
depends=$(dpkg-deb -f "$agent_deb" Depends)
say "Depends: $depends"
say "Recommends: $(dpkg-deb -f "$agent_deb" Recommends)"
case "$dist" in
    bookworm) want=libsdbus-c++1 other=libsdbus-c++2 ;;
    trixie) want=libsdbus-c++2 other=libsdbus-c++1 ;;
esac
grep -q "$want" <<<"$depends" || fail "Depends lacks $want"
grep -q "$other" <<<"$depends" && fail "Depends names $other"
for d in openvswitch-switch dbus fuse3; do grep -q "$d" <<<"$depends" || fail "Depends lacks $d"; done
[[ $(dpkg-deb -f "$agent_deb" Recommends) == *+ovs1* ]] || fail "Recommends does not name the OVS rebuild of network-manager"
size=$(dpkg-deb -f "$agent_deb" Installed-Size)
say "Installed-Size: $size KiB"
[ "$size" -lt 15000 ] || fail "installed size $size KiB: not stripped?"
x=$(mktemp -d)
dpkg-deb -x "$agent_deb" "$x"
if [ "$(readelf -S "$x/usr/sbin/ovs-port-agent" | grep -c '\.debug_info')" != 0 ]; then rm -rf "$x"; fail "the binary has debug info"; fi
rm -rf "$x"

t0=$(date +%s)
say "installing it into a clean $dist root"
in_clean bash -Eeuo pipefail -c '
    deb=$1
    trap "echo \"inner: FAILED at line \$LINENO: \$BASH_COMMAND\" >&2" ERR
    snapshot() {
        find / -xdev \( -path /proc -o -path /sys -o -path /dev -o -path /run -o -path /tmp \
            -o -path /var/cache/apt -o -path /var/lib/apt -o -path /var/lib/dpkg -o -path /var/log \
            -o -path /var/cache/debconf -o -path /work -o -path /.opa-oldroot \) -prune -o -print | sort
    }
    snapshot >/tmp/before
    dpkg-query -W -f="\${Package}\n" | sort >/tmp/pkgs-before
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$deb" >/tmp/apt.log 2>&1 || { tail -n 30 /tmp/apt.log; exit 1; }
    echo "--- ovs-port-agent --version"
    ovs-port-agent --version
    [[ $(ovs-port-agent --version) =~ ^ovs-port-agent\ [0-9] ]]
    echo "--- ovs-port-agent config check"
    ovs-port-agent config check
    echo "--- ovs-port-agent doctor (no NetworkManager here: it must say so and name the command)"
    rc=0
    ovs-port-agent doctor >/tmp/doctor.out 2>&1 || rc=$?
    cat /tmp/doctor.out
    [ "$rc" = 1 ] || { echo "doctor exited $rc, expected 1 (a FAIL)"; exit 1; }
    grep -q "NetworkManager is not installed" /tmp/doctor.out
    grep -q "/usr/lib/ovs-port-agent/nm-ovs-deb.sh install" /tmp/doctor.out
    echo "--- apt-get purge --autoremove ovs-port-agent"
    # RecommendsImportant=false: dependencies it pulled in (uuid-runtime, netbase) are otherwise
    # kept because packages of the clean root recommend them (libuuid1 recommends uuid-runtime).
    DEBIAN_FRONTEND=noninteractive apt-get -o APT::AutoRemove::RecommendsImportant=false \
        purge -y -q --autoremove ovs-port-agent >/tmp/apt.log 2>&1 || { tail -n 30 /tmp/apt.log; exit 1; }
    dpkg-query -W -f="\${Package}\n" | sort >/tmp/pkgs-after
    grep -qx ovs-port-agent /tmp/pkgs-after && { echo "ovs-port-agent is still installed"; exit 1; }
    kept=$(comm -13 /tmp/pkgs-before /tmp/pkgs-after | tr "\n" " ")
    if [ -n "$kept" ]; then
        # Debian 13 marks systemd Protected: autoremove keeps it (and what it needs) although
        # only openvswitch-switch, which the agent pulled in, wanted it. Purged by name here.
        echo "dependencies autoremove keeps (systemd is Protected on Debian 13), purged by name: $kept"
        DEBIAN_FRONTEND=noninteractive apt-get purge -y -q --allow-remove-essential $kept >/tmp/apt.log 2>&1 ||
            { tail -n 30 /tmp/apt.log; exit 1; }
        dpkg-query -W -f="\${Package}\n" | sort >/tmp/pkgs-after
    fi
    if ! diff /tmp/pkgs-before /tmp/pkgs-after; then echo "packages differ after the purge"; exit 1; fi
    left=$(dpkg -l | awk "/^rc/{print \$2}")
    [ -z "$left" ] || { echo "packages left in rc state: $left"; exit 1; }
    snapshot >/tmp/after
    for p in /usr/sbin/ovs-port-agent /etc/ovs-port-agent /var/lib/ovs-port-agent /usr/lib/ovs-port-agent \
             /usr/share/doc/ovs-port-agent /usr/share/dbus-1/system.d/dev.ovs.PortAgent1.conf \
             /usr/lib/systemd/system/ovs-port-agent.service /lib/systemd/system/ovs-port-agent.service; do
        [ ! -e "$p" ] || { echo "the purge left $p"; exit 1; }
    done
    # What the purged dependencies leave, none of it the agent'"'"'s: shadow backups and /etc/hosts
    # from adding and removing system users (dbus, openvswitch), ldconfig'"'"'s cache, and the
    # directory openvswitch-switch'"'"'s postinst makes and its purge keeps.
    # On Debian 13 also what purging systemd, passwd and util-linux'"'"'s uuid parts leaves (the
    # shadow files, machine-id, locale and console defaults, systemd'"'"'s private dirs).
    allowed="^(/etc/(passwd|group|shadow|gshadow)-?|/etc/hosts|/var/cache/ldconfig(/aux-cache)?|/var/lib/openvswitch"
    allowed="$allowed|/etc/\.pwd\.lock|/etc/default/locale|/etc/machine-id|/etc/mtab|/etc/vconsole\.conf"
    allowed="$allowed|/root/\.ssh|/var/cache/private|/var/lib/private|/var/lib/libuuid)\$"
    diff /tmp/before /tmp/after | sed -n "s/^[<>] //p" >/tmp/changed || true
    if [ -s /tmp/changed ]; then
        echo "left by the purged dependencies (Debian'"'"'s, allowed): $(grep -E "$allowed" /tmp/changed | tr "\n" " ")"
    fi
    if grep -vE "$allowed" /tmp/changed; then echo "files differ after the purge (above)"; exit 1; fi
    echo "purge left nothing of the agent'"'"'s behind, and no package"
' inner "$agent_deb" || fail "install, run or purge in the clean root"
say "install, --version, config check, doctor, purge: $(($(date +%s) - t0)) s"
echo "package_agent_deb $dist: PASS"
