#!/bin/bash
# nm-ovs-deb.sh -- the system's NetworkManager with Open vSwitch support, as Debian packages:
# Debian's own network-manager rebuilt with OVS by build-nm-ovs.sh --deb (version
# <Debian's>+ovs1), installed in place of Debian's, held, and put back on request.
#
#   nm-ovs-deb.sh status              what this host has: no NetworkManager; Debian's (no OVS);
#                                     the OVS rebuild; or the rebuild of an older Debian version
#   nm-ovs-deb.sh install [--yes] [--no-install-recommends] [--debs DIR]
#                                     build the packages for Debian's current network-manager
#                                     (cached; or take them from DIR), say what is replaced, install
#                                     them with apt, and hold them (apt-mark hold). Run again after
#                                     Debian publishes a new network-manager: it rebuilds and
#                                     reinstalls. Without --yes it asks first when on a terminal.
#   nm-ovs-deb.sh remove              unhold and put Debian's own packages back (apt, downgrade)
#
# What gets replaced: network-manager and libnm0 (network-manager depends on libnm0 of exactly
# its version), and libnm-dev and gir1.2-nm-1.0 when they are installed. Debian's arch:all
# packages (network-manager-l10n, ...-config-connectivity-debian) accept the rebuild as it is.
# Why a hold and not an apt pin: the rebuild exists only in dpkg's status, not in any apt source,
# so a pin could not keep it; a hold keeps apt from replacing it with Debian's build on
# 'apt upgrade' (shown as "kept back"; 'apt-mark showhold' lists it), and 'doctor' says when
# Debian has a newer network-manager that should be rebuilt.
# State: /var/lib/ovs-port-agent/nm-ovs-packages (what was replaced, and the versions before).
set -Eeuo pipefail
trap 'echo "nm-ovs-deb: FAILED (exit $?) at line $LINENO: $BASH_COMMAND" >&2' ERR
HERE=$(cd "$(dirname "$(readlink -f "$0")")" && pwd)
STATE=${OPA_NM_OVS_STATE:-/var/lib/ovs-port-agent/nm-ovs-packages}
say() { echo "nm-ovs-deb: $*"; }
die() { echo "nm-ovs-deb: ERROR: $*" >&2; exit 1; }
usage() { sed -n '2,23p' "$0" >&2; exit 2; }

verb=${1:-}
[ -n "$verb" ] || usage
shift
yes=0 debs= apt_opts=()
while [ $# -gt 0 ]; do
    case "$1" in
        --yes|-y) yes=1; shift ;;
        --debs) debs=${2:?--debs needs a directory}; shift 2 ;;
        --no-install-recommends) apt_opts+=(--no-install-recommends); shift ;;
        *) usage ;;
    esac
done

installed_version() { # package -> its version if installed (held or not: "ii " / "hi "), else nothing
    dpkg-query -W -f='${db:Status-Abbrev}${Version}' "$1" 2>/dev/null | sed -n 's/^[a-z]i *//p' || true
}
debian_version() { # package -> the newest version Debian's archive offers
    apt-cache madison "$1" 2>/dev/null | awk -F'|' '{gsub(/ /,"",$2); print $2}' |
        grep -v '+ovs[0-9]*$' | sort -V | tail -n 1 || true
}
plugin_present() {
    compgen -G "/usr/lib/*/NetworkManager/*/libnm-device-plugin-ovs.so" >/dev/null
}

# none | debian | ovs | ovs-old, with the installed and Debian's versions.
classify() {
    inst=$(installed_version network-manager)
    deb=$(debian_version network-manager)
    if [ -z "$inst" ]; then
        kind=none
    elif [[ $inst == *+ovs* ]] && plugin_present; then
        if [ -n "$deb" ] && [ "${inst%+ovs*}" != "$deb" ] && dpkg --compare-versions "$deb" gt "${inst%+ovs*}"; then
            kind=ovs-old
        else
            kind=ovs
        fi
    elif plugin_present; then
        kind=ovs   # some other build with OVS
    else
        kind=debian
    fi
}

cmd_status() {
    classify
    case "$kind" in
        none) say "NetworkManager is not installed (Debian has ${deb:-no network-manager in the package lists}); install the OVS rebuild: $0 install" ;;
        debian) say "NetworkManager $inst is Debian's build, without Open vSwitch support; replace it: $0 install" ;;
        ovs) say "NetworkManager $inst with Open vSwitch support$( [[ $inst == *+ovs* ]] && echo ' (the rebuilt Debian package)')" ;;
        ovs-old) say "NetworkManager $inst with OVS is installed; Debian has $deb: rebuild and reinstall with: $0 install" ;;
    esac
    [ -f "$STATE" ] && say "replaced by an earlier install: $(awk '{printf "%s%s (was %s)", sep, $1, $2; sep=", "}' "$STATE")"
    return 0
}

cmd_install() {
    [ "$(id -u)" = 0 ] || die "run as root"
    classify
    [ -n "$deb" ] || { apt-get update -q >/dev/null || true; deb=$(debian_version network-manager); }
    [ -n "$deb" ] || die "Debian's network-manager is not in the package lists (apt-get update?)"
    if [ "$kind" = ovs ] && [ "$inst" = "$deb+ovs1" ]; then
        say "NetworkManager $inst with Open vSwitch support is installed already (held); nothing to do"
        return 0
    fi
    local dir
    if [ -n "$debs" ]; then
        dir=$debs
    else
        NM_OVS_DEB_VERSION=$deb "$HERE/build-nm-ovs.sh" --deb
        dir=$(NM_OVS_DEB_VERSION=$deb "$HERE/build-nm-ovs.sh" --deb --print-deb-dir)
    fi
    local arch v new pkgs=() files=() p f
    arch=$(dpkg --print-architecture)
    new=$deb+ovs1
    for p in network-manager libnm0 libnm-dev gir1.2-nm-1.0; do
        case "$p" in
            network-manager|libnm0) ;;
            *) [ -n "$(installed_version "$p")" ] || continue ;;
        esac
        f=$dir/${p}_${new#*:}_$arch.deb
        [ -f "$f" ] || die "no $f (build it: $HERE/build-nm-ovs.sh --deb)"
        pkgs+=("$p")
        files+=("$f")
    done
    say "NetworkManager with Open vSwitch support: Debian's network-manager $deb rebuilt with OVS as $new"
    for p in "${pkgs[@]}"; do
        v=$(installed_version "$p")
        say "  $p: ${v:-not installed} -> $new"
    done
    say "they are then held (apt-mark hold) so that 'apt upgrade' does not put Debian's build back;"
    say "'$0 remove' (or scripts/install.sh --uninstall) puts Debian's packages back"
    if [ "$yes" = 0 ] && [ -t 0 ]; then
        read -r -p "nm-ovs-deb: go ahead? [y/N] " answer
        [[ $answer =~ ^[yY] ]] || die "not confirmed; nothing changed"
    fi
    # What was there before is recorded once (a later reinstall keeps the first record).
    mkdir -p "$(dirname "$STATE")"
    for p in "${pkgs[@]}"; do
        v=$(installed_version "$p")
        grep -q "^$p " "$STATE" 2>/dev/null || echo "$p ${v:-none}" >>"$STATE"
    done
    apt-mark unhold "${pkgs[@]}" >/dev/null 2>&1 || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --allow-downgrades "${apt_opts[@]}" "${files[@]}" ||
        die "apt-get install of the rebuilt packages failed"
    apt-mark hold "${pkgs[@]}" >/dev/null
    plugin_present || die "installed, but the OVS plugin is not in /usr/lib/*/NetworkManager/"
    say "installed and held: $(printf '%s ' "${pkgs[@]}")($new)"
    if [ -d /run/systemd/system ] && systemctl is-active -q NetworkManager 2>/dev/null; then
        say "NetworkManager was restarted by the package; check it with: ovs-port-agent doctor"
    fi
}

cmd_remove() {
    [ "$(id -u)" = 0 ] || die "run as root"
    local p v pkgs=() specs=()
    if [ -f "$STATE" ]; then
        mapfile -t pkgs < <(awk '{print $1}' "$STATE")
    else
        for p in network-manager libnm0 libnm-dev gir1.2-nm-1.0; do
            [[ $(installed_version "$p") == *+ovs* ]] && pkgs+=("$p")
        done
    fi
    if [ ${#pkgs[@]} = 0 ]; then
        say "no rebuilt NetworkManager package is installed; nothing to do"
        return 0
    fi
    for p in "${pkgs[@]}"; do
        v=$(debian_version "$p")
        [ -n "$v" ] || { apt-get update -q >/dev/null || true; v=$(debian_version "$p"); }
        [ -n "$v" ] || die "Debian's $p is not in the package lists"
        specs+=("$p=$v")
        say "  $p: $(installed_version "$p") -> $v (Debian's)"
    done
    apt-mark unhold "${pkgs[@]}" >/dev/null 2>&1 || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --allow-downgrades "${apt_opts[@]}" "${specs[@]}" ||
        die "apt-get install of Debian's packages failed"
    rm -f "$STATE"
    rmdir "$(dirname "$STATE")" 2>/dev/null || true
    say "Debian's packages are back: ${specs[*]}"
}

case "$verb" in
    status) cmd_status ;;
    install) cmd_install ;;
    remove) cmd_remove ;;
    *) usage ;;
esac
