#!/bin/bash
# distro-root.sh -- a Debian root of another release (e.g. Debian 13 "trixie" on a Debian 12 host)
# to build and test the agent in, with that release's own packages.
#
#   scripts/distro-root.sh create DIST      make the root (mmdebstrap, from the Debian mirror the
#                                           host's apt uses) and install what install-deps.sh
#                                           lists; cached: a second run takes seconds
#   scripts/distro-root.sh exec DIST CMD... run CMD inside it, in a mount namespace of its own:
#                                           /proc, /sys, /dev and this source tree (at the same
#                                           path) bound in, a fresh /run and /tmp
#   scripts/distro-root.sh path DIST        print where the root lives
#   scripts/distro-root.sh remove DIST      delete the root
#
# DIST-clean (bookworm-clean, trixie-clean) is a clean root instead: only what mmdebstrap's apt
# variant installs, plus a policy-rc.d that refuses to start services (as Debian's container
# images have; nothing a package installs may start in the host's network namespace). `exec`
# runs in a throw-away overlay of it: whatever CMD installs or changes is gone afterwards, so
# every exec starts from the same clean root (for package install tests).
# The kernel is the host's (network namespaces, veth, tap and /dev/fuse work as on the host);
# NetworkManager, OVS, D-Bus and every library are the root's.
# Env: OPA_ROOTS (default /var/cache/ovs-port-agent/roots), OPA_DEBIAN_MIRROR (default: the
#      host's Debian mirror, read from its apt sources).
set -Eeuo pipefail
on_error() { # names the step that failed (its first line)
    local rc=$? step=${BASH_COMMAND%%$'\n'*}
    echo "distro-root: FAILED (exit $rc) at line ${BASH_LINENO[0]}: $step" >&2
}
trap on_error ERR
HERE=$(cd "$(dirname "$(readlink -f "$0")")" && pwd)
SRC=$(dirname "$HERE")
ROOTS=${OPA_ROOTS:-/var/cache/ovs-port-agent/roots}

say() { echo "distro-root: $*" >&2; }
die() { echo "distro-root: ERROR: $*" >&2; exit 1; }
usage() { sed -n '2,22p' "$0" >&2; exit 2; }

[ "$(id -u)" = 0 ] || die "must run as root (mmdebstrap, mounts, chroot)"
verb=${1:-}
dist=${2:-}
[ -n "$verb" ] && [ -n "$dist" ] || usage
[[ $dist =~ ^(bookworm|trixie)(-clean)?$ ]] || die "unknown distribution '$dist' (bookworm or trixie, each also as DIST-clean)"
root=$ROOTS/$dist
base=${dist%-clean}
clean=0
[ "$base" = "$dist" ] || clean=1
overlay=0   # exec of a clean root: a throw-away overlay over it

# The host's Debian mirror: the first URI of its apt sources that serves Debian's main archive.
host_mirror() {
    local uri
    # (A missing sources file is not an error: the subshell's trap stays quiet.)
    uri=$( (trap - ERR; set +e
            grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}'
            grep -hs '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list | awk '{print $2}'
            true) |
           grep -E '/debian/?$' | grep -v security | head -n 1)
    [ -n "$uri" ] || die "no Debian mirror in the host's apt sources (set OPA_DEBIAN_MIRROR)"
    echo "$uri"
}

# What the root must hold: everything install-deps.sh lists for that release. The stamp names the
# install-deps.sh it was made with, so a changed package list installs again.
stamp_for() {
    if [ "$clean" = 1 ]; then echo "$root/.opa-ready-clean"; return; fi
    echo "$root/.opa-ready-$(sha256sum "$HERE/install-deps.sh" | cut -c1-16)"
}

# Runs CMD in the root, made the root of a mount namespace of its own with pivot_root: under a
# plain chroot, `unshare --mount --propagation private` fails and `nsenter -m` lands in the
# host's tree (the sandbox uses both).
enter() {
    local ov=
    if [ "$overlay" = 1 ]; then
        ov=$(mktemp -d "$ROOTS/.overlay-$dist.XXXXXX")
        mkdir -p "$ov/upper" "$ov/work" "$ov/merged"
    fi
    local rc=0
    unshare --mount --propagation private -- /bin/bash -Eeuo pipefail -c '
        root=$1 src=$2 ov=$3; shift 3
        if [ -n "$ov" ]; then
            mount -t overlay overlay -o "lowerdir=$root,upperdir=$ov/upper,workdir=$ov/work" "$ov/merged"
            root=$ov/merged
        fi
        mount --bind "$root" "$root"
        mount --make-private "$root"
        mount -t proc proc "$root/proc"
        mount --rbind /sys "$root/sys"; mount --make-rslave "$root/sys"
        mount --rbind /dev "$root/dev"; mount --make-rslave "$root/dev"
        mount -t tmpfs -o mode=0755 tmpfs "$root/run"
        mount -t tmpfs -o mode=1777 tmpfs "$root/tmp"
        mkdir -p "$root$src"
        mount --bind "$src" "$root$src"
        cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
        mkdir -p "$root/.opa-oldroot"
        cd "$root"
        pivot_root . .opa-oldroot
        cd /
        umount -l /.opa-oldroot
        exec /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
            HOME=/root LANG=C.UTF-8 TERM="${TERM:-dumb}" ${CI:+CI=$CI} "$@"
    ' opa-root "$root" "$SRC" "$ov" "$@" || rc=$?
    [ -z "$ov" ] || rm -rf "$ov"
    return $rc
}

create() {
    local stamp mirror t0
    stamp=$(stamp_for)
    if [ -e "$stamp" ]; then
        say "$dist root ready (cached): $root"
        return 0
    fi
    t0=$(date +%s)
    command -v mmdebstrap >/dev/null || {
        say "installing mmdebstrap"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends mmdebstrap >/dev/null ||
            { apt-get update -q >/dev/null; DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends mmdebstrap >/dev/null; }
    }
    if [ "$clean" = 1 ]; then
        create_clean
        return 0
    fi
    if [ ! -x "$root/usr/bin/apt-get" ]; then
        mirror=${OPA_DEBIAN_MIRROR:-$(host_mirror)}
        say "making a $dist root from $mirror (about a minute)"
        rm -rf "$root.new"
        mkdir -p "$ROOTS"
        # deb-src too: build-nm-ovs.sh fetches network-manager's source inside the root.
        mmdebstrap --variant=apt --include=ca-certificates --components=main \
            --setup-hook='echo "deb-src '"$mirror"' '"$dist"' main" >"$1/etc/apt/sources.list.d/src.list"' \
            "$dist" "$root.new" "$mirror" >&2
        mv "$root.new" "$root"
    fi
    say "installing the $dist packages the agent builds, tests and runs with"
    # mmdebstrap leaves the root's package lists empty.
    enter apt-get update -q >&2
    enter "$SRC/scripts/install-deps.sh" >&2
    rm -f "$root"/.opa-ready-*
    touch "$stamp"
    say "$dist root ready in $(($(date +%s) - t0)) s: $root"
}

# A clean root: mmdebstrap's apt variant, fresh package lists, a refusing policy-rc.d.
create_clean() {
    local mirror
    mirror=${OPA_DEBIAN_MIRROR:-$(host_mirror)}
    say "making a clean $base root from $mirror (about a minute)"
    rm -rf "$root.new" "$root"
    mkdir -p "$ROOTS"
    # mount: entering the root needs umount (not in the apt variant).
    mmdebstrap --variant=apt --include=ca-certificates,mount --components=main \
        "$base" "$root.new" "$mirror" >&2
    # After mmdebstrap, which removes the policy-rc.d it uses itself.
    printf '#!/bin/sh\n# no services started in this root\nexit 101\n' >"$root.new/usr/sbin/policy-rc.d"
    chmod 755 "$root.new/usr/sbin/policy-rc.d"
    mv "$root.new" "$root"
    enter apt-get update -q >&2
    touch "$(stamp_for)"
    say "clean $base root ready in $(($(date +%s) - t0)) s: $root"
}

case "$verb" in
    create) create ;;
    exec)
        shift 2
        [ $# -gt 0 ] || usage
        [ -e "$(stamp_for)" ] || create
        overlay=$clean
        enter "$@"
        ;;
    path) echo "$root" ;;
    remove) rm -rf "$root" "$root.new"; say "removed $root" ;;
    *) usage ;;
esac
