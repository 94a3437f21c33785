#!/bin/bash
# bench.sh [--out FILE] [--no-daemon | --daemon-only | --attach-only | --attached-only] [--ports N]
# -- build Release and run every benchmark (--daemon-only: parts 4-6; --attach-only: part 5;
# --attached-only: part 6).
#
# Prints each figure as a Markdown row "| benchmark | what | measured | target | PASS/MISS/info |"
# and writes the whole run (machine, command lines, figures) to FILE (default
# build-bench/bench-results.md). A missed target never fails the script; it fails only when a
# benchmark cannot run.
#
#   1. bench_ledger   Ledger::append with fsync from 1, 8 and 32 threads; verify vs sha256sum
#   2. bench_block    the interfaces block rewritten with N ports; writes when nothing changed
#   3. bench_fuse     the port tree with N ports: ls -l, cat state, stat
#   4. idle daemon    the real daemon in the sandbox (OPA_SANDBOX, default opa-bench):
#                     wake-ups per second while idle and RSS, with 0, 200 and N requested ports
#                     made by mkdir in its tree (pending: NM holds their profiles, no links)
#   5. bench_attach   link appears -> ACTIVATED and in OVSDB, the daemon against NetworkManager's
#                     floor (the same NM calls made directly), one port at a time and a burst, in
#                     a fresh sandbox; run with the default debounce_ms (500) and with 0
#   6. idle, attached the daemon as in 4, but its ports ATTACHED: 200 and then N veths
#                     (veth{ID}i0, 100 per `ip -batch`; each peer in a namespace of the guests'
#                     side, as a container's end is) created and waited for until every port
#                     is activated; wake-ups and RSS as in 4, and for each hundred the time and
#                     the CPU NetworkManager and the agent spent (--attached-only: this part alone)
#
# Needs root (FUSE mounts, the sandbox). Env: OPA_BENCH_JOBS (build parallelism, default nproc),
# OPA_BENCH_DIR (where temporary ledgers and interfaces files go; must be on the real disk,
# default /var/tmp), OPA_BENCH_MKDIR_LIMIT (seconds allowed for each of the two mkdir steps, default
# 1200; what was made by then is measured and the shortfall reported), OPA_BENCH_IDLE_SECONDS
# (the window for counting wake-ups, default 10), OPA_BENCH_ATTACH_SAMPLES (single-port runs of
# each side in part 5, default 20), OPA_BENCH_BURST (links at once in part 5, default 200),
# OPA_BENCH_ATTACH_LIMIT (seconds allowed for each of the two link steps of part 6, default 1200),
# OPA_BUILD_PREFIX (the build tree is <prefix>bench; default build-; in a Debian 13 root made by
# scripts/distro-root.sh: OPA_BUILD_PREFIX=build-trixie- scripts/distro-root.sh exec trixie ...).
set -euo pipefail

ROOT=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
cd "$ROOT"
OUT=$ROOT/${OPA_BUILD_PREFIX:-build-}bench/bench-results.md
ARGS="$*"
RUN_DAEMON=1
RUN_PROGRAMS=1
RUN_IDLE=1
RUN_ATTACH=1
RUN_ATTACHED=1
PORTS=1000
while [ $# -gt 0 ]; do
    case $1 in
        --out) OUT=$(readlink -f "$2"); shift 2 ;;
        --no-daemon) RUN_DAEMON=0; shift ;;
        --daemon-only) RUN_PROGRAMS=0; shift ;;
        --attach-only) RUN_PROGRAMS=0; RUN_IDLE=0; RUN_ATTACHED=0; shift ;;
        --attached-only) RUN_PROGRAMS=0; RUN_IDLE=0; RUN_ATTACH=0; shift ;;
        --ports) PORTS=$2; shift 2 ;;
        -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
        *) echo "bench.sh: unknown argument: $1" >&2; exit 2 ;;
    esac
done
[ "$(id -u)" = 0 ] || { echo "bench.sh: needs root (FUSE mounts, the sandbox)" >&2; exit 1; }
[[ $PORTS =~ ^[0-9]+$ ]] && [ "$PORTS" -ge 200 ] || { echo "bench.sh: --ports must be >= 200" >&2; exit 2; }
JOBS=${OPA_BENCH_JOBS:-$(nproc)}
DIR=${OPA_BENCH_DIR:-/var/tmp}
MKDIR_LIMIT=${OPA_BENCH_MKDIR_LIMIT:-1200}
IDLE_SECONDS=${OPA_BENCH_IDLE_SECONDS:-10}
ATTACH_SAMPLES=${OPA_BENCH_ATTACH_SAMPLES:-20}
BURST=${OPA_BENCH_BURST:-200}
ATTACH_LIMIT=${OPA_BENCH_ATTACH_LIMIT:-1200}
export OPA_SANDBOX=${OPA_SANDBOX:-opa-bench}
BUILD=$ROOT/${OPA_BUILD_PREFIX:-build-}bench
SANDBOX=$ROOT/scripts/sandbox.sh

# Release, at -O2 rather than CMake's -O3: -O2 is what scripts/install.sh and the package ship
# (RelWithDebInfo without -g), and GCC 12 at -O3 stops the build on a false -Wrestrict warning
# in ifupdown/block.cpp.
echo "bench: building Release (-O2) in $BUILD with -j$JOBS ..." >&2
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release '-DCMAKE_CXX_FLAGS_RELEASE=-O2 -DNDEBUG' \
    -DOPA_BUILD_TESTS=OFF >/dev/null
cmake --build "$BUILD" -j"$JOBS" --target bench_ledger bench_block bench_fuse bench_attach ovs-port-agent >/dev/null
AGENT=$BUILD/cli/ovs-port-agent

mkdir -p "$(dirname "$OUT")"
: >"$OUT"
# out TEXT: to the terminal and the results file.
out() { printf '%s\n' "$*" | tee -a "$OUT"; }
# run CMD...: one benchmark; its command line goes with its figures.
run() {
    out ""
    out "\$ ${*#"$ROOT"/}"
    "$@" 2>&1 | tee -a "$OUT"
    return "${PIPESTATUS[0]}"
}

out "# ovs-port-agent benchmarks"
out "# machine: nproc $(nproc), kernel $(uname -r), $(date -u +%Y-%m-%dT%H:%M:%SZ)"
out "# cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
out "# memory: $(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
out "# $DIR is on: $(findmnt -n -o SOURCE,FSTYPE -T "$DIR" | tr -s ' ')"
out "# commit: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
out "# command: scripts/bench.sh $ARGS"
out "# load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"

if [ "$RUN_PROGRAMS" = 1 ]; then
    run "$BUILD/bench/bench_ledger" --dir="$DIR" --entries=2000 --threads=1,8,32 --verify-mb=200
    run "$BUILD/bench/bench_block" --dir="$DIR" --ports="$PORTS" --runs=50 --idle-calls=100
    run "$BUILD/bench/bench_fuse" --dir=/tmp --ports="$PORTS" --ls-runs=20 --cat-runs=10000 --stat-rounds=5
fi

[ "$RUN_DAEMON" = 1 ] || { echo "bench: figures written to $OUT" >&2; exit 0; }

# ------------------------------------------------------------------------------- idle daemon
tmp=$(mktemp -d /tmp/opa-bench-daemon-XXXXXX)
chmod 0755 "$tmp"
agent_pid=
# Part 6's peers live here, outside the sandbox's namespace, as a container's end of its veth
# lives in the container: NetworkManager does not see them.
GUESTS_NETNS=$OPA_SANDBOX-guests
cleanup() {
    set +e
    ip netns del "$GUESTS_NETNS" 2>/dev/null
    if [ -n "$agent_pid" ]; then
        kill -TERM "$agent_pid" 2>/dev/null
        wait "$agent_pid" 2>/dev/null
    fi
    grep -q " $tmp/ports " /proc/mounts && umount -l "$tmp/ports"
    "$SANDBOX" down >/dev/null 2>&1
    rm -rf "$tmp"
}
trap cleanup EXIT

row() { out "| idle daemon | $1 | $2 | $3 | $4 |"; }
now_ns() { date +%s%N; }
# Context switches of every thread of the agent: each one is a wake-up (or a preemption).
switches() {
    cat /proc/"$agent_pid"/task/*/status 2>/dev/null |
        awk '/^(voluntary|nonvoluntary)_ctxt_switches:/ {sum += $2} END {print sum + 0}'
}
rss_kib() { awk '/^VmRSS:/ {print $2}' /proc/"$1"/status; }
mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }
port_count() { find "$tmp/ports" -mindepth 1 -maxdepth 1 -name 'vi*' -type d | wc -l; }
# measure LABEL: after a quiet spell, wake-ups over IDLE_SECONDS and RSS, as rows.
measure() {
    local label=$1 before after rate rss threads nm_rss
    sleep 3   # let the debounced work of the last change (block, ledger) finish
    before=$(switches)
    sleep "$IDLE_SECONDS"
    after=$(switches)
    rate=$(awk -v d=$((after - before)) -v s="$IDLE_SECONDS" 'BEGIN {printf "%.1f", d / s}')
    rss=$(rss_kib "$agent_pid")
    threads=$(ls /proc/"$agent_pid"/task | wc -l)
    nm_rss=$(rss_kib "$(cat /run/ovs-port-agent-sandbox/"$OPA_SANDBOX"/nm.pid)" 2>/dev/null || echo 0)
    local verdict=MISS
    [ "$((after - before))" = 0 ] && verdict=PASS
    row "wake-ups while idle, $label, ${IDLE_SECONDS} s window ($threads threads)" \
        "$((after - before)) context switches = $rate /s" "0 /s" "$verdict"
    if [ "$label" = "0 ports" ]; then
        verdict=info; target="-"
    else
        verdict=MISS; target="<= 24 MiB"
        [ "$rss" -le $((24 * 1024)) ] && verdict=PASS
    fi
    row "VmRSS, $label" "$(mib "$rss") MiB (NetworkManager: $(mib "$nm_rss") MiB)" "$target" "$verdict"
}
# make_ports FIRST LAST LIMIT: mkdir vi{FIRST..LAST} in the tree, one mkdir process, at most
# LIMIT seconds; a row with the time taken and how many were made.
make_ports() {
    local first=$1 last=$2 limit=$3 start end had made status=0
    had=$(port_count)
    start=$(now_ns)
    (cd "$tmp/ports" && timeout "$limit" mkdir $(seq -f 'vi%g' "$first" "$last")) || status=$?
    end=$(now_ns)
    made=$(($(port_count) - had))
    local seconds
    seconds=$(awk -v n=$((end - start)) 'BEGIN {printf "%.1f", n / 1e9}')
    local what="mkdir of $((last - first + 1)) ports (vi$first..vi$last), one process, sequential"
    if [ "$status" = 0 ]; then
        row "$what" "$seconds s, $(awk -v n=$((end - start)) -v c="$made" 'BEGIN {printf "%.1f", n / 1e6 / c}') ms per port" "-" info
    else
        row "$what" "stopped after $seconds s (limit ${limit} s): $made made" "-" info
    fi
}

# write_config FILE LEDGER [LINE...]: the agent's config for the sandbox (userspace datapath;
# interfaces file, tree, setup log and Proxmox root in $tmp; a fresh interfaces file) plus LINEs.
write_config() {
    local file=$1 ledger=$2
    shift 2
    {
        echo 'bridge_name = "ovsbr0"'
        echo 'datapath_type = "netdev"'
        echo "ledger_path = \"$ledger\""
        echo "ledger_spill_path = \"$tmp/ledger-held.jsonl\""
        echo "interfaces_path = \"$tmp/interfaces\""
        echo "mountpoint = \"$tmp/ports\""
        echo "setup_log_path = \"$tmp/setup.log\""
        echo "pve_root = \"$tmp/pve\""
        printf '%s\n' "$@"
    } >"$file"
    printf 'auto lo\niface lo inet loopback\n\niface eth0 inet manual\n' >"$tmp/interfaces"
    mkdir -p "$tmp/pve"
}

# start_agent CONFIG: a fresh stack, setup-bridge, the agent running and ready.
start_agent() {
    "$SANDBOX" down >/dev/null 2>&1 || true   # a fresh stack
    "$SANDBOX" up >/dev/null 2>&1
    "$SANDBOX" exec "$AGENT" -c "$1" setup-bridge >/dev/null
    : >"$tmp/agent.log"
    "$SANDBOX" exec "$AGENT" -c "$1" run >"$tmp/agent.log" 2>&1 &
    agent_pid=$!
    local deadline=$(($(date +%s) + 30))
    until grep -q "ready:" "$tmp/agent.log"; do
        kill -0 "$agent_pid" 2>/dev/null || { cat "$tmp/agent.log" >&2; echo "bench: the agent died" >&2; exit 1; }
        [ "$(date +%s)" -lt "$deadline" ] || { echo "bench: the agent was not ready after 30 s" >&2; exit 1; }
        sleep 0.1
    done
}
stop_agent() {
    kill -TERM "$agent_pid" 2>/dev/null
    wait "$agent_pid" 2>/dev/null || true
    agent_pid=
    grep -q " $tmp/ports " /proc/mounts && umount -l "$tmp/ports"
    return 0
}
if [ "$RUN_IDLE" = 1 ]; then
out ""
out "\$ OPA_SANDBOX=$OPA_SANDBOX scripts/sandbox.sh up; ovs-port-agent -c CONFIG setup-bridge; ovs-port-agent -c CONFIG run"
write_config "$tmp/config.toml" "$tmp/ledger.jsonl"
start_agent "$tmp/config.toml"
out "# agent pid $agent_pid (config: datapath netdev; ledger, interfaces file and tree in $tmp)"
out "# ports below are REQUESTED by mkdir and stay pending (no links): NetworkManager holds two"
out "# in-memory profiles per port, nothing is activated"

measure "0 ports"
make_ports 1000 1199 "$MKDIR_LIMIT"
measure "$(port_count) ports"
if [ "$PORTS" -gt 200 ]; then
    make_ports 1200 $((1000 + PORTS - 1)) "$MKDIR_LIMIT"
    measure "$(port_count) ports"
fi
pending=$(grep -l '^pending$' "$tmp"/ports/vi*/state 2>/dev/null | wc -l)
out "# $pending ports pending at the end; agent log warnings/errors: $(grep -ciE 'warn|error' "$tmp/agent.log" || true)"
stop_agent
fi

# ------------------------------------------------------------------------------- attach latency
if [ "$RUN_ATTACH" = 1 ]; then
    for debounce in 500 0; do
        write_config "$tmp/attach.toml" "$tmp/attach-ledger-$debounce.jsonl" \
            'include_prefixes = ["veth"]' "debounce_ms = $debounce"
        out ""
        out "# part 5, debounce_ms = $debounce: a fresh sandbox, setup-bridge, ovs-port-agent run"
        out "# (include_prefixes = [\"veth\"], datapath netdev); load average: $(cut -d' ' -f1-3 /proc/loadavg)"
        start_agent "$tmp/attach.toml"
        run "$SANDBOX" exec "$BUILD/bench/bench_attach" --samples="$ATTACH_SAMPLES" --burst="$BURST" \
            --inflight=100 --timeout=600 || out "# bench_attach failed (exit status $?)"
        out "# agent log warnings/errors: $(grep -ciE 'warn|error' "$tmp/agent.log" || true)"
        grep -iE 'warn|error' "$tmp/agent.log" | head -n 5 | sed 's/^/# agent: /' | tee -a "$OUT" || true
        stop_agent
    done
fi

# ------------------------------------------------------------------ idle daemon, attached ports
activated_count() { { grep -lx activated "$tmp"/ports/veth*i0/state 2>/dev/null || true; } | wc -l; }
# cpu_ticks PID: user + system CPU time of a process so far, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' /proc/"$1"/stat; }
TICKS_PER_S=$(getconf CLK_TCK)
nm_pid() { cat /run/ovs-port-agent-sandbox/"$OPA_SANDBOX"/nm.pid; }
# hundred_row FIRST LAST START_NS NM_TICKS AGENT_TICKS: how long one hundred took, and the CPU
# NetworkManager and the agent spent on it (NM's cost per added port grows with what it holds).
hundred_row() {
    local first=$1 last=$2 start=$3 nm0=$4 agent0=$5 n=$(($2 - $1 + 1))
    local wall_ns=$(($(now_ns) - start)) nm_t=$(($(cpu_ticks "$(nm_pid)") - nm0))
    local agent_t=$(($(cpu_ticks "$agent_pid") - agent0))
    row "ports $((first - 1000))-$((last - 1000 + 1)): veth${first}i0..veth${last}i0 until activated" \
        "$(awk -v w="$wall_ns" -v a="$nm_t" -v b="$agent_t" -v n="$n" -v h="$TICKS_PER_S" \
            'BEGIN {printf "%.1f s; NM CPU %.1f s = %.0f ms per port; agent CPU %.0f ms per port", w / 1e9, a / h, a / h * 1000 / n, b / h * 1000 / n}')" "-" info
}
# attach_links FIRST LAST LIMIT: veth{FIRST..LAST}i0 created, 100 per `ip -batch`, each hundred
# waited for until attached (at most LIMIT seconds in all); a row with the time taken.
attach_links() {
    local first=$1 last=$2 limit=$3 start end had deadline i j want status=ok
    had=$(activated_count)
    start=$(now_ns)
    deadline=$(($(date +%s) + limit))
    local t_hundred nm_hundred agent_hundred
    for ((i = first; i <= last; i += 100)); do
        t_hundred=$(now_ns)
        nm_hundred=$(cpu_ticks "$(nm_pid)")
        agent_hundred=$(cpu_ticks "$agent_pid")
        : >"$tmp/links.batch"
        for ((j = i; j <= last && j < i + 100; j++)); do
            echo "link add veth${j}i0 type veth peer name veth${j}i0p netns $GUESTS_NETNS" >>"$tmp/links.batch"
        done
        "$SANDBOX" exec ip -batch "$tmp/links.batch"
        want=$((had + j - first))
        until [ "$(activated_count)" -ge "$want" ]; do
            [ "$(date +%s)" -lt "$deadline" ] || { status=limit; break 2; }
            sleep 0.2
        done
        hundred_row "$i" $((j - 1)) "$t_hundred" "$nm_hundred" "$agent_hundred"
    done
    end=$(now_ns)
    local made=$(($(activated_count) - had)) seconds
    seconds=$(awk -v n=$((end - start)) 'BEGIN {printf "%.1f", n / 1e9}')
    local what="veth${first}i0..veth${last}i0 created (100 per ip -batch) until all activated"
    if [ "$status" = ok ]; then
        row "$what" "$seconds s, $(awk -v n=$((end - start)) -v c="$made" 'BEGIN {printf "%.1f", n / 1e6 / c}') ms per port" "-" info
    else
        row "$what" "stopped after $seconds s (limit ${limit} s): $made activated" "-" info
    fi
}
if [ "$RUN_ATTACHED" = 1 ]; then
    write_config "$tmp/attached.toml" "$tmp/attached-ledger.jsonl" 'include_prefixes = ["veth"]'
    out ""
    out "# part 6: a fresh sandbox, setup-bridge, ovs-port-agent run (include_prefixes = [\"veth\"],"
    out "# datapath netdev, default debounce_ms); ports ATTACHED: one veth pair each, the agent"
    out "# attaches veth{ID}i0; the peer veth{ID}i0p is in namespace $GUESTS_NETNS, as a container's"
    out "# end is in the container (in the sandbox's own namespace NM would manage 1,000 idle peers and"
    out "# re-check each of them for autoconnect on every profile added); load average: $(cut -d' ' -f1-3 /proc/loadavg)"
    start_agent "$tmp/attached.toml"
    ip netns del "$GUESTS_NETNS" 2>/dev/null || true
    ip netns add "$GUESTS_NETNS"
    measure "0 ports"
    attach_links 1000 1199 "$ATTACH_LIMIT"
    measure "$(activated_count) attached ports"
    if [ "$PORTS" -gt 200 ]; then
        attach_links 1200 $((1000 + PORTS - 1)) "$ATTACH_LIMIT"
        measure "$(activated_count) attached ports"
    fi
    out "# OVSDB ports on the bridge at the end: $("$SANDBOX" exec ovs-vsctl --timeout=10 list-ports ovsbr0 | grep -c '^veth' || true)"
    out "# agent log warnings/errors: $(grep -ciE 'warn|error' "$tmp/agent.log" || true)"
    grep -iE 'warn|error' "$tmp/agent.log" | head -n 5 | sed 's/^/# agent: /' | tee -a "$OUT" || true
    stop_agent
    ip netns del "$GUESTS_NETNS"  # and with it every peer, so every veth
fi
echo "bench: figures written to $OUT" >&2
