#!/bin/bash
# scripts/install.sh -- build and install ovs-port-agent, then create its bridge through the
# agent's own setup-bridge (NetworkManager over D-Bus, never ovs-vsctl).
#
#   scripts/install.sh --bridge NAME [--uplink IF] [--system] [--with-ovsbr1] [--with-nm-ovs]
#                      [--prefix DIR]
#   scripts/install.sh --uninstall [--prefix DIR]
#
#   --bridge NAME    the bridge the agent manages (written into a new config; default ovsbr0)
#   --uplink IF      the NIC to enslave; its IP moves to the bridge's internal interface
#   --system         also install and start the systemd unit
#   --with-ovsbr1    also create an empty second bridge ovsbr1
#   --with-nm-ovs    first make the system's NetworkManager one with Open vSwitch support: when
#                    it lacks OVS (or is the rebuild of an older Debian version), Debian's own
#                    network-manager is rebuilt with OVS (scripts/build-nm-ovs.sh --deb, cached),
#                    what it replaces is listed, and the packages are installed and held
#                    (scripts/nm-ovs-deb.sh install; apt-mark hold)
#   --prefix DIR     install into DIR as if it were / (a scratch root; no bridge, no service)
#   --uninstall      remove exactly what an earlier install recorded in its manifest, and put
#                    Debian's own NetworkManager packages back if --with-nm-ovs replaced them
#
# Idempotent: running it again changes nothing that is already in place; an existing config is
# kept. Everything installed is listed in <prefix>/var/lib/ovs-port-agent/install-manifest.
set -Eeuo pipefail
trap 'echo "install: FAILED (exit $?) at line $LINENO: $BASH_COMMAND" >&2' ERR
cd "$(dirname "$(readlink -f "$0")")/.."

bridge=ovsbr0 uplink= system=0 with_ovsbr1=0 prefix=/ uninstall=0 with_nm_ovs=0
while [ $# -gt 0 ]; do
    case "$1" in
        --bridge) bridge=${2:?--bridge needs a name}; shift 2 ;;
        --uplink) uplink=${2:?--uplink needs an interface}; shift 2 ;;
        --system) system=1; shift ;;
        --with-ovsbr1) with_ovsbr1=1; shift ;;
        --with-nm-ovs) with_nm_ovs=1; shift ;;
        --prefix) prefix=${2:?--prefix needs a directory}; shift 2 ;;
        --uninstall) uninstall=1; shift ;;
        -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
        *) echo "install: unknown option '$1' (see --help)" >&2; exit 2 ;;
    esac
done
[[ $bridge =~ ^[A-Za-z0-9_.-]{1,15}$ ]] || { echo "install: invalid bridge name '$bridge'" >&2; exit 2; }
[ -z "$uplink" ] || [[ $uplink =~ ^[A-Za-z0-9_.-]{1,15}$ ]] || { echo "install: invalid uplink '$uplink'" >&2; exit 2; }
prefix=$(realpath -m "$prefix")
root() { if [ "$prefix" = / ]; then echo "$1"; else echo "$prefix$1"; fi; }
manifest=$(root /var/lib/ovs-port-agent/install-manifest)
say() { echo "install: $*"; }

if [ "$uninstall" = 1 ]; then
    if [ "$prefix" = / ] && [ -f /var/lib/ovs-port-agent/nm-ovs-packages ]; then
        say "putting Debian's own NetworkManager packages back"
        scripts/nm-ovs-deb.sh remove
    fi
    [ -f "$manifest" ] || { say "nothing to uninstall (no $manifest)"; exit 0; }
    if [ "$prefix" = / ] && command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
        systemctl disable --now ovs-port-agent.service 2>/dev/null || true
    fi
    # In reverse order of installation: files, then the directories the install created,
    # deepest first. The manifest goes first, as its directory is among them.
    entries=$(tac "$manifest")
    rm -f "$manifest"
    while read -r kind path; do
        case "$kind" in
            file) rm -f "$path" && say "removed $path" ;;
            dir) rmdir "$path" 2>/dev/null && say "removed $path/" || true ;;
        esac
    done <<<"$entries"
    if [ "$prefix" = / ] && command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
        systemctl daemon-reload || true
    fi
    say "uninstalled (the bridge, its NetworkManager profiles and the ledger's data are kept)"
    exit 0
fi

[ "$(id -u)" = 0 ] || [ "$prefix" != / ] || { echo "install: run as root" >&2; exit 2; }
if [ "$(id -u)" = 0 ]; then scripts/install-deps.sh; fi
if [ "$with_nm_ovs" = 1 ]; then
    [ "$prefix" = / ] || { echo "install: --with-nm-ovs installs system packages: not with --prefix" >&2; exit 2; }
    scripts/nm-ovs-deb.sh install
fi
# OPA_BUILD_PREFIX (default build-): scripts/test.sh gives each Debian release trees of its own.
# OPA_INSTALL_BUILD_DIR: install from an existing, configured build tree (the tests' own).
build=${OPA_INSTALL_BUILD_DIR:-${OPA_BUILD_PREFIX:-build-}install}
if [ -z "${OPA_INSTALL_BUILD_DIR:-}" ]; then
    cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DOPA_BUILD_TESTS=OFF >/dev/null
fi
cmake --build "$build" -j "$(nproc)" --target ovs-port-agent

# The manifest's own directories are the first ones recorded in it.
new_dirs=()
d=$(dirname "$manifest")
while [ ! -d "$d" ]; do new_dirs=("$d" "${new_dirs[@]}"); d=$(dirname "$d"); done
mkdir -p "$(dirname "$manifest")"
[ -f "$manifest" ] || : >"$manifest"
record() { grep -qxF "$1 $2" "$manifest" || echo "$1 $2" >>"$manifest"; }
for d in "${new_dirs[@]}"; do record dir "$d"; done
make_dir() { # records only directories this install creates
    local d=$1 parts=() p
    while [ ! -d "$d" ]; do parts=("$d" "${parts[@]}"); d=$(dirname "$d"); done
    for p in "${parts[@]}"; do mkdir -m 0755 "$p"; record dir "$p"; done
}
put() { # mode source destination
    make_dir "$(dirname "$3")"
    if ! cmp -s "$2" "$3"; then
        install -m "$1" "$2" "$3"
        say "installed $3"
    fi
    record file "$3"
}

put 0755 "$build/cli/ovs-port-agent" "$(root /usr/sbin/ovs-port-agent)"
put 0644 dbus/dev.ovs.PortAgent1.conf "$(root /usr/share/dbus-1/system.d/dev.ovs.PortAgent1.conf)"
put 0644 config/config.toml.example "$(root /usr/share/doc/ovs-port-agent/config.toml.example)"
put 0644 README.md "$(root /usr/share/doc/ovs-port-agent/README.md)"
# What doctor names to rebuild NetworkManager with OVS after Debian updates it.
put 0755 scripts/nm-ovs-deb.sh "$(root /usr/lib/ovs-port-agent/nm-ovs-deb.sh)"
put 0755 scripts/build-nm-ovs.sh "$(root /usr/lib/ovs-port-agent/build-nm-ovs.sh)"
make_dir "$(root /var/lib/ovs-port-agent)"
config=$(root /etc/ovs-port-agent/config.toml)
if [ -f "$config" ]; then
    say "keeping the existing $config"
else
    make_dir "$(dirname "$config")"
    {
        echo "# ovs-port-agent configuration; every key: /usr/share/doc/ovs-port-agent/config.toml.example"
        echo "bridge_name = \"$bridge\""
        [ -z "$uplink" ] || echo "uplink = \"$uplink\""
    } >"$config"
    chmod 0644 "$config"
    record file "$config"
    say "wrote $config"
fi
if [ "$system" = 1 ]; then
    put 0644 scripts/ovs-port-agent.service "$(root /lib/systemd/system/ovs-port-agent.service)"
fi

if [ "$prefix" != / ]; then
    say "installed into $prefix; not creating a bridge or starting a service in a scratch root"
    exit 0
fi

agent=/usr/sbin/ovs-port-agent
setup=(setup-bridge --bridge "$bridge")
[ -z "$uplink" ] || setup+=(--uplink "$uplink")
[ "$with_ovsbr1" = 0 ] || setup+=(--with-ovsbr1)
say "creating the bridge through NetworkManager: $agent ${setup[*]}"
"$agent" "${setup[@]}"
if [ "$system" = 1 ] && command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    systemctl enable --now ovs-port-agent.service
    say "service ovs-port-agent enabled and started"
elif [ "$system" = 1 ]; then
    say "systemd is not running here: start the agent with '$agent run'"
fi
say "done"
