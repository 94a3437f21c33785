#!/bin/bash
# Build NetworkManager with Open vSwitch support, of the same version as the host's Debian
# package, into a private prefix. Debian 12 builds network-manager with --disable-ovs, and its
# daemon cannot load an OVS plugin built separately (the plugin needs core symbols the packaged
# binary does not export), so the daemon itself is rebuilt from Debian's source (with Debian's
# patches) with -Dovs=true. Only two files are installed:
#   $PREFIX/sbin/NetworkManager
#   $PREFIX/lib/NetworkManager/$VERSION/libnm-device-plugin-ovs.so   (plugin dir is compiled in)
# Nothing is written over the distribution's files.
#
# Usage: scripts/build-nm-ovs.sh [--print-prefix] [--force]
# Env:   NM_OVS_PREFIX  install prefix        (default /opt/ovs-port-agent/nm-ovs-$VERSION)
#        NM_OVS_WORK    source and build dir  (default /var/cache/ovs-port-agent/nm-build)
#        NM_OVS_DEB_VERSION  Debian version to build (default: the host's network-manager package)
# A finished build is cached: a second run only re-checks it and takes seconds.
set -Eeuo pipefail
on_error() { # names the step that failed (its first line)
    local rc=$? step=${BASH_COMMAND%%$'\n'*}
    echo "build-nm-ovs: FAILED (exit $rc) at line ${BASH_LINENO[0]}: $step" >&2
}
trap on_error ERR

t_start=$(date +%s)
say() { echo "build-nm-ovs: $*"; }
die() { echo "build-nm-ovs: ERROR: $*" >&2; exit 1; }
elapsed() { echo "$(($(date +%s) - t_start)) s"; }

print_prefix=0
force=0
for a in "$@"; do
    case "$a" in
        --print-prefix) print_prefix=1 ;;
        --force) force=1 ;;
        *) echo "usage: $0 [--print-prefix] [--force]" >&2; exit 2 ;;
    esac
done

# The host package's version: the installed one, else the candidate apt would install.
deb_version=${NM_OVS_DEB_VERSION:-}
if [ -z "$deb_version" ]; then
    deb_version=$(dpkg-query -W -f='${Version}' network-manager 2>/dev/null || true)
fi
candidate() {
    local v
    v=$(apt-cache policy network-manager 2>/dev/null | sed -n 's/^ *Candidate: *//p')
    [ "$v" = "(none)" ] || echo "$v"
}
if [ -z "$deb_version" ]; then
    deb_version=$(candidate)
fi
if [ -z "$deb_version" ] && [ "$(id -u)" = 0 ]; then
    say "no package list knows network-manager yet: running apt-get update"
    apt-get update -qq || true
    deb_version=$(candidate)
fi
[ -n "$deb_version" ] || die "cannot tell the host's network-manager version (run 'apt-get update' first, or set NM_OVS_DEB_VERSION)"
# 1:1.42.4-1+deb12u1 -> 1.42.4
version=${deb_version#*:}
version=${version%%-*}
[[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "unexpected network-manager version '$deb_version'"

PREFIX=${NM_OVS_PREFIX:-/opt/ovs-port-agent/nm-ovs-$version}
WORK=${NM_OVS_WORK:-/var/cache/ovs-port-agent/nm-build}
BIN=$PREFIX/sbin/NetworkManager
PLUGDIR=$PREFIX/lib/NetworkManager/$version
PLUGIN=$PLUGDIR/libnm-device-plugin-ovs.so
STAMP=$PREFIX/.built-$deb_version

if [ "$print_prefix" = 1 ]; then
    echo "$PREFIX"
    exit 0
fi

# Runs the freshly built daemon in throw-away namespaces with a private bus and asks it over
# D-Bus for its Capabilities: 2 (OVS) must be there.
check_capability() {
    local tmp rc=0
    tmp=$(mktemp -d /tmp/nm-ovs-check.XXXXXX)
    cat >"$tmp/bus.conf" <<BUS
<busconfig>
  <type>system</type>
  <listen>unix:path=$tmp/bus</listen>
  <auth>EXTERNAL</auth>
  <policy context="default"><allow user="*"/><allow own="*"/><allow send_destination="*"/><allow receive_sender="*"/></policy>
</busconfig>
BUS
    cat >"$tmp/nm.conf" <<CONF
[main]
plugins=keyfile
auth-polkit=false
dns=none
rc-manager=unmanaged
hostname-mode=none
no-auto-default=*
[keyfile]
path=$tmp/connections
[connectivity]
enabled=false
CONF
    mkdir -p "$tmp/connections"
    # A new network and mount namespace: NM sees only a loopback, and its /run state is private.
    unshare --net --mount --propagation private bash -c '
        set -e
        tmp=$1; bin=$2
        for d in /run/NetworkManager /var/lib/NetworkManager /run/openvswitch /run/dbus; do
            mkdir -p "$d" && mount -t tmpfs tmpfs "$d"
        done
        mount -o remount,bind,ro /sys 2>/dev/null || true
        dbus-daemon --config-file="$tmp/bus.conf" --fork --print-pid >"$tmp/dbus.pid"
        export DBUS_SYSTEM_BUS_ADDRESS=unix:path=$tmp/bus
        "$bin" --debug --config="$tmp/nm.conf" --config-dir="$tmp/none" --system-config-dir="$tmp/none" \
            >"$tmp/nm.log" 2>&1 &
        nm=$!
        caps=
        for _ in $(seq 1 150); do
            caps=$(busctl --address="$DBUS_SYSTEM_BUS_ADDRESS" get-property org.freedesktop.NetworkManager \
                /org/freedesktop/NetworkManager org.freedesktop.NetworkManager Capabilities 2>/dev/null) && break
            sleep 0.1
        done
        ver=$(busctl --address="$DBUS_SYSTEM_BUS_ADDRESS" get-property org.freedesktop.NetworkManager \
                /org/freedesktop/NetworkManager org.freedesktop.NetworkManager Version 2>/dev/null || true)
        kill "$nm" 2>/dev/null || true
        wait "$nm" 2>/dev/null || true
        kill "$(cat "$tmp/dbus.pid")" 2>/dev/null || true
        echo "Capabilities: ${caps:-none}; Version: ${ver:-none}"
        # "au N c1 c2 ..." -> is 2 among the values?
        set -- $caps
        [ "${1:-}" = au ] || exit 1
        shift 2
        for c in "$@"; do [ "$c" = 2 ] && exit 0; done
        exit 1
    ' check "$tmp" "$BIN" || rc=$?
    if [ $rc -ne 0 ]; then
        echo "build-nm-ovs: daemon log tail:" >&2
        tail -n 15 "$tmp/nm.log" >&2 || true
    fi
    rm -rf "$tmp"
    return $rc
}

if [ "$force" = 0 ] && [ -x "$BIN" ] && [ -f "$PLUGIN" ] && [ -f "$STAMP" ]; then
    say "cached build of NetworkManager $deb_version with OVS at $PREFIX"
    say "checking that it reports the OVS capability"
    check_capability || die "cached daemon $BIN does not report the OVS capability; rebuild with --force"
    say "OK ($(elapsed))"
    exit 0
fi

for c in meson ninja dpkg-source apt-get gcc pkg-config xsltproc; do
    command -v "$c" >/dev/null || die "missing '$c': run scripts/install-deps.sh first"
done

say "building NetworkManager $deb_version (upstream $version) with -Dovs=true into $PREFIX"
mkdir -p "$WORK"
SRC=$WORK/NetworkManager-$deb_version
if [ "$force" = 1 ]; then rm -rf "$SRC" "$WORK/build-$deb_version"; fi

t0=$(date +%s)
if [ ! -f "$SRC/meson.build" ]; then
    say "fetching Debian source package network-manager=$deb_version"
    # A private apt state with only a deb-src line: the host's apt configuration is not changed.
    A=$WORK/apt
    mkdir -p "$A/lists/partial" "$A/cache/archives/partial"
    codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
    {
        echo "deb-src http://deb.debian.org/debian $codename main"
        echo "deb-src http://deb.debian.org/debian $codename-updates main"
        echo "deb-src http://deb.debian.org/debian-security $codename-security main"
    } >"$A/sources.list"
    o=(-oDir::Etc::SourceList="$A/sources.list" -oDir::Etc::SourceParts=/nonexistent
       -oDir::State::Lists="$A/lists" -oDir::Cache="$A/cache" -oAPT::Sandbox::User=root)
    apt-get "${o[@]}" -qq update || die "apt-get update of the deb-src list failed"
    rm -f "$WORK"/network-manager_*.dsc
    ( cd "$WORK" && apt-get "${o[@]}" -qq source --download-only "network-manager=$deb_version" ) \
        || die "could not download the source of network-manager=$deb_version"
    dsc=$(ls -1 "$WORK"/network-manager_*.dsc | tail -1)
    rm -rf "$SRC"
    # dpkg-source -x applies Debian's patches (the quilt series).
    ( cd "$WORK" && dpkg-source --no-check -x "$dsc" "$SRC" >/dev/null ) || die "dpkg-source -x $dsc failed"
fi
t1=$(date +%s)
say "source ready in $((t1 - t0)) s: $SRC"

BUILD=$WORK/build-$deb_version
if [ ! -f "$BUILD/build.ninja" ] || ! grep -q -- "--prefix=$PREFIX" "$BUILD/meson-logs/meson-log.txt" 2>/dev/null; then
    rm -rf "$BUILD"
    say "meson setup"
    # localstatedir=/var compiles in /run/openvswitch/db.sock and /run/NetworkManager.
    # What to leave out. NM's options change between versions (1.52 has no dhcpcanon, 1.42 no
    # nbft): only the options this source knows are passed.
    wanted=(-Dreadline=none -Dovs=true -Dcrypto=null
        -Dintrospection=false -Ddocs=false -Dtests=no -Dppp=false -Dmodem_manager=false
        -Dwifi=false -Diwd=false -Dbluez5_dun=false -Dteamdctl=false -Dofono=false
        -Dselinux=false -Dlibaudit=no -Dnmtui=false -Dnmcli=false -Dnm_cloud_setup=false
        -Dqt=false -Dlibpsl=false -Dconcheck=false -Debpf=false -Dvapi=false -Dnbft=false
        -Dsession_tracking=no -Dsession_tracking_consolekit=false -Dsuspend_resume=systemd
        -Dpolkit=false -Dconfig_plugins_default=keyfile -Difupdown=false -Dnetconfig=no
        -Dresolvconf=no -Ddhclient=no -Ddhcpcd=no -Ddhcpcanon=no -Dmodify_system=false
        -Dfirewalld_zone=false -Dsystemdsystemunitdir=no -Dudev_dir=no
        -Ddbus_conf_dir="$PREFIX/share/dbus-1/system.d")
    options_file=$SRC/meson.options
    [ -f "$options_file" ] || options_file=$SRC/meson_options.txt
    [ -f "$options_file" ] || die "no meson options file in $SRC"
    options=()
    for o in "${wanted[@]}"; do
        name=${o#-D}
        name=${name%%=*}
        if grep -q "option('$name'" "$options_file"; then options+=("$o"); fi
    done
    meson setup "$BUILD" "$SRC" \
        --prefix="$PREFIX" --sysconfdir=/etc --localstatedir=/var \
        --libdir=lib --buildtype=plain "${options[@]}" >"$WORK/meson-setup.log" 2>&1 \
        || { tail -n 30 "$WORK/meson-setup.log" >&2; die "meson setup failed (log: $WORK/meson-setup.log)"; }
fi
t2=$(date +%s)
say "meson setup took $((t2 - t1)) s; compiling the daemon and the OVS plugin (about 1.5 min on 2 CPUs)"
ninja -C "$BUILD" src/core/NetworkManager src/core/devices/ovs/libnm-device-plugin-ovs.so \
    >"$WORK/ninja.log" 2>&1 || { tail -n 30 "$WORK/ninja.log" >&2; die "ninja failed (log: $WORK/ninja.log)"; }
t3=$(date +%s)
say "compile took $((t3 - t2)) s"

plugindir=$(sed -n 's/^#define NMPLUGINDIR "\(.*\)"/\1/p' "$BUILD/config-extra.h")
[ "$plugindir" = "$PLUGDIR" ] || die "the build's plugin dir is '$plugindir', expected '$PLUGDIR'"
mkdir -p "$PREFIX/sbin" "$PLUGDIR"
install -m755 "$BUILD/src/core/NetworkManager" "$BIN"
install -m644 "$BUILD/src/core/devices/ovs/libnm-device-plugin-ovs.so" "$PLUGIN"
rm -f "$PREFIX"/.built-*

say "checking that the built daemon reports the OVS capability"
check_capability || die "the built daemon $BIN does not report the OVS capability"
echo "$deb_version $(date -u +%FT%TZ)" >"$STAMP"
say "installed $BIN and $PLUGIN"
say "done in $(elapsed) (source $((t1 - t0)) s, meson $((t2 - t1)) s, compile $((t3 - t2)) s, $(nproc) CPUs)"
