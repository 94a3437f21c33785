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
#        scripts/build-nm-ovs.sh --deb [--print-deb-dir] [--force]
# Env:   NM_OVS_PREFIX  install prefix        (default /opt/ovs-port-agent/nm-ovs-$VERSION)
#        NM_OVS_WORK    source and build dir  (default /var/cache/ovs-port-agent/nm-build)
#        NM_OVS_DEB_VERSION  Debian version to build (default: the host's network-manager package;
#                       with --deb: the newest version Debian's archive offers)
#        NM_OVS_DEB_OUT where --deb leaves its packages (default /var/cache/ovs-port-agent/nm-deb)
# A finished build is cached: a second run only re-checks it and takes seconds.
#
# --deb rebuilds Debian's own network-manager source package instead, as packages for the system:
# the same source, patches and debian/rules with one change, OVS enabled (--disable-ovs becomes
# --enable-ovs on Debian 12, -Dovs=false becomes -Dovs=true on Debian 13; the systemd drop-in
# that OVS support installs is added to network-manager.install so dh_missing accepts it), and a
# changelog entry whose version sorts just above Debian's (1.42.4-1+deb12u1 -> 1.42.4-1+deb12u1+ovs1).
# Only the architecture-dependent packages are built (network-manager, libnm0, libnm-dev,
# gir1.2-nm-1.0; the arch:all ones do not change), with nice -n 19 and
# DEB_BUILD_OPTIONS="nocheck nodoc noddebs parallel=2". The build dependencies are installed with
# apt-get build-dep from the unpacked source. Result: $NM_OVS_DEB_OUT/<debian version>/*.deb.
# scripts/nm-ovs-deb.sh installs them (scripts/install.sh --with-nm-ovs calls it).
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
print_deb_dir=0
force=0
deb=0
for a in "$@"; do
    case "$a" in
        --print-prefix) print_prefix=1 ;;
        --print-deb-dir) print_deb_dir=1 ;;
        --force) force=1 ;;
        --deb) deb=1 ;;
        *) echo "usage: $0 [--print-prefix] [--force] | --deb [--print-deb-dir] [--force]" >&2; exit 2 ;;
    esac
done

# Debian's newest version of network-manager in the archive (apt-cache madison lists only what
# the archive offers, never a locally installed rebuild).
debian_version() {
    apt-cache madison network-manager 2>/dev/null | awk -F'|' '{gsub(/ /,"",$2); print $2}' |
        grep -v '+ovs[0-9]*$' | sort -V | tail -n 1 || true
}
# The host package's version: the installed one (a rebuild of ours counts as its Debian
# version), else the candidate apt would install. With --deb: Debian's newest.
deb_version=${NM_OVS_DEB_VERSION:-}
if [ -z "$deb_version" ] && [ "$deb" = 1 ]; then
    deb_version=$(debian_version)
fi
if [ -z "$deb_version" ]; then
    deb_version=$(dpkg-query -W -f='${db:Status-Abbrev} ${Version}' network-manager 2>/dev/null |
        sed -n 's/^[a-z]i  *//p' || true)
    deb_version=${deb_version%+ovs*}
fi
candidate() {
    local v
    if [ "$deb" = 1 ]; then debian_version; return; fi
    v=$(apt-cache policy network-manager 2>/dev/null | sed -n 's/^ *Candidate: *//p')
    [ "$v" = "(none)" ] || echo "${v%+ovs*}"
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

# --deb: Debian's own network-manager source package, rebuilt with OVS enabled (see the header).
DEB_OUT=${NM_OVS_DEB_OUT:-/var/cache/ovs-port-agent/nm-deb}
build_deb() {
    local suffix=+ovs1 new_version out arch src_dir dsc log unitdir t0 t1 t2 f
    new_version=$deb_version$suffix
    out=$DEB_OUT/$deb_version
    arch=$(dpkg --print-architecture)
    if [ "$print_deb_dir" = 1 ]; then
        echo "$out"
        return 0
    fi
    if [ "$force" = 0 ] && [ -f "$out/.built-$new_version" ] &&
        [ -f "$out/network-manager_${new_version#*:}_$arch.deb" ]; then
        say "cached packages of network-manager $new_version with OVS in $out:"
        (cd "$out" && ls -1 ./*.deb | sed 's|^\./|  |')
        say "OK ($(elapsed))"
        return 0
    fi
    [ "$(id -u)" = 0 ] || die "--deb must run as root (apt-get build-dep)"
    for c in apt-get dpkg-source dpkg-buildpackage; do
        command -v "$c" >/dev/null || die "missing '$c': apt-get install dpkg-dev"
    done
    say "rebuilding Debian's network-manager $deb_version with OVS as $new_version"
    mkdir -p "$WORK" "$out"
    t0=$(date +%s)
    # Debian's source package (with its patches), unpacked into a directory of its own.
    fetch_source
    src_dir=$WORK/deb-$deb_version/network-manager-${version}
    if [ "$force" = 1 ] || [ ! -f "$src_dir/.opa-prepared-$new_version" ]; then
        rm -rf "$WORK/deb-$deb_version"
        mkdir -p "$WORK/deb-$deb_version"
        dsc=$WORK/network-manager_${deb_version#*:}.dsc
        (cd "$WORK/deb-$deb_version" && dpkg-source --no-check -x "$dsc" "$src_dir" >/dev/null) ||
            die "dpkg-source -x $dsc failed"
        # The one change: OVS on (Debian 12: configure's --disable-ovs; Debian 13: meson's -Dovs=false).
        if grep -q -- '--disable-ovs' "$src_dir/debian/rules"; then
            sed -i 's/--disable-ovs/--enable-ovs/' "$src_dir/debian/rules"
        elif grep -q -- '-Dovs=false' "$src_dir/debian/rules"; then
            sed -i 's/-Dovs=false/-Dovs=true/' "$src_dir/debian/rules"
        else
            die "debian/rules of $deb_version has neither --disable-ovs nor -Dovs=false: not touched"
        fi
        # With OVS, NetworkManager also installs a systemd drop-in (NetworkManager.service.d/
        # NetworkManager-ovs.conf: start after openvswitch); ship it with network-manager.
        unitdir=$(sed -n 's#^\(.*/systemd/system\)/\(NetworkManager\|\*\)\.service$#\1#p' \
            "$src_dir/debian/network-manager.install" | head -n 1)
        [ -n "$unitdir" ] || die "cannot find NetworkManager.service in debian/network-manager.install"
        echo "$unitdir/NetworkManager.service.d/NetworkManager-ovs.conf" >>"$src_dir/debian/network-manager.install"
        # A changelog entry: the version sorts just above Debian's, the distribution is Debian's.
        local dist
        dist=$(dpkg-parsechangelog -l "$src_dir/debian/changelog" -S Distribution)
        {
            echo "network-manager ($new_version) $dist; urgency=medium"
            echo
            echo "  * Rebuilt with Open vSwitch support (OVS enabled in debian/rules, its systemd"
            echo "    drop-in installed) by ovs-port-agent's scripts/build-nm-ovs.sh --deb."
            echo "    Nothing else changed."
            echo
            echo " -- ovs-port-agent <root@localhost>  $(date -R)"
            echo
            cat "$src_dir/debian/changelog"
        } >"$src_dir/debian/changelog.new"
        mv "$src_dir/debian/changelog.new" "$src_dir/debian/changelog"
        touch "$src_dir/.opa-prepared-$new_version"
    fi
    t1=$(date +%s)
    say "source ready in $((t1 - t0)) s: $src_dir"

    # Build dependencies, from the unpacked source's debian/control (no deb-src line needed).
    # Package scripts may not start services meanwhile (a refusing policy-rc.d, put back after).
    say "installing the build dependencies (apt-get build-dep)"
    if ! with_policy_rc apt-get build-dep -y -q --no-install-recommends "$src_dir" >"$WORK/build-dep.log" 2>&1; then
        say "apt-get build-dep failed; refreshing the package lists and retrying"
        apt-get update -q >>"$WORK/build-dep.log" 2>&1 || true
        with_policy_rc apt-get build-dep -y -q --no-install-recommends "$src_dir" >>"$WORK/build-dep.log" 2>&1 ||
            { tail -n 20 "$WORK/build-dep.log" >&2; die "apt-get build-dep failed (log: $WORK/build-dep.log)"; }
    fi
    t2=$(date +%s)
    say "build dependencies ready in $((t2 - t1)) s; building (dpkg-buildpackage -B, nice -n 19, 2 jobs)"
    log=$WORK/dpkg-buildpackage-$deb_version.log
    local t3 changes
    changes=$WORK/deb-$deb_version/network-manager_${new_version#*:}_$arch.changes
    if [ "$force" = 0 ] && [ "$changes" -nt "$src_dir/.opa-prepared-$new_version" ]; then
        say "dpkg-buildpackage finished earlier ($changes): collecting its packages"
    else
        rm -f "$WORK/deb-$deb_version"/*.deb "$WORK/deb-$deb_version"/*.changes "$WORK/deb-$deb_version"/*.buildinfo
        (cd "$src_dir" && DEB_BUILD_OPTIONS="nocheck nodoc noddebs parallel=2" \
            nice -n 19 dpkg-buildpackage -B -uc -us) >"$log" 2>&1 ||
            { tail -n 30 "$log" >&2; die "dpkg-buildpackage failed (log: $log)"; }
    fi
    t3=$(date +%s)
    f=$WORK/deb-$deb_version/network-manager_${new_version#*:}_$arch.deb
    [ -f "$f" ] || die "dpkg-buildpackage made no $f"
    # (the listing is read whole: grep -q would close the pipe early, and pipefail would fail it)
    [ "$(dpkg-deb -c "$f" | grep -c 'libnm-device-plugin-ovs\.so$')" -ge 1 ] || die "$f has no OVS plugin"
    rm -f "$out"/*.deb "$out"/.built-*
    cp "$WORK/deb-$deb_version"/*.deb "$out/"
    echo "$new_version built $(date -u +%FT%TZ) in $((t3 - t2)) s" >"$out/.built-$new_version"
    say "packages in $out:"
    (cd "$out" && ls -1 ./*.deb | sed 's|^\./|  |')
    say "done in $(elapsed) (source $((t1 - t0)) s, build-deps $((t2 - t1)) s, dpkg-buildpackage $((t3 - t2)) s, $(nproc) CPUs)"
}

# Debian's source package of $deb_version into $WORK, through a private apt state with only
# deb-src lines: the host's apt configuration is not changed.
fetch_source() {
    [ -f "$WORK/network-manager_${deb_version#*:}.dsc" ] && return 0
    say "fetching Debian source package network-manager=$deb_version"
    local A=$WORK/apt codename mirror
    mkdir -p "$A/lists/partial" "$A/cache/archives/partial"
    codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
    mirror=${OPA_DEBIAN_MIRROR:-http://deb.debian.org/debian}
    {
        echo "deb-src $mirror $codename main"
        echo "deb-src $mirror $codename-updates main"
        echo "deb-src http://deb.debian.org/debian-security $codename-security main"
    } >"$A/sources.list"
    local o=(-oDir::Etc::SourceList="$A/sources.list" -oDir::Etc::SourceParts=/nonexistent
        -oDir::State::Lists="$A/lists" -oDir::Cache="$A/cache" -oAPT::Sandbox::User=root)
    apt-get "${o[@]}" -qq update || die "apt-get update of the deb-src list failed"
    (cd "$WORK" && apt-get "${o[@]}" -qq source --download-only "network-manager=$deb_version") ||
        die "could not download the source of network-manager=$deb_version"
}

# Runs CMD with a policy-rc.d that refuses to start services (the machine's own is put back).
with_policy_rc() {
    local policy=/usr/sbin/policy-rc.d saved rc=0
    saved=$policy.build-nm-ovs-saved
    [ -e "$saved" ] && mv -f "$saved" "$policy"
    [ -e "$policy" ] && mv -f "$policy" "$saved"
    printf '#!/bin/sh\n# build-nm-ovs: no services started during an install\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    DEBIAN_FRONTEND=noninteractive "$@" || rc=$?
    rm -f "$policy"
    if [ -e "$saved" ]; then mv -f "$saved" "$policy"; fi
    return $rc
}

if [ "$print_prefix" = 1 ]; then
    echo "$PREFIX"
    exit 0
fi

if [ "$deb" = 1 ]; then
    build_deb
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
