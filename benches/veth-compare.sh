#!/usr/bin/env bash
# veth-compare: the dataplane against DPDK's testpmd (net_af_xdp) and against
# trafgen, in one run, over veth pairs in network namespaces.
#
# Usage: benches/veth-compare.sh [--seconds N] [--rounds R] [--out FILE.md] [--keep-logs]
#
#   (1) rxdrop   dataplane run --action drop      vs  dpdk-testpmd rxonly
#   (2) io fwd   dataplane run --action fwd       vs  dpdk-testpmd io (dut0 -> dut1)
#   (3) gen      dataplane gen                    vs  trafgen
#
# Placement (design.md section 5): generator and sink on core 0, everything
# the device under test does on core 1 (testpmd and `dataplane run` are both
# started under `taskset -c 1`, so their control threads live there too).
# The veth receive path of dut0 runs in the sender's softirq, i.e. on core 0.
#
# Counting: (1) the DUT's own processed count (testpmd "Accumulated forward
# statistics" RX-packets; the dataplane's --stats-json final totals.rx);
# (2) packets delivered at the sink (`dataplane sink` on sink0 when the binary
# has it, else sink0's rx_packets, the same for both halves); (3) dut0's
# rx_packets. Every rate is count / seconds the generator ran. Each half runs
# on a freshly built topology, so both start from the same state.
#
# With --rounds R every measurement is repeated R times, the two halves of a
# test alternating which goes first; the table shows medians (the machine is
# shared and noisy: look at the spread before trusting a ratio).
#
# Environment: GEN_ENGINE (live, the default, or af-xdp: how `dataplane gen` feeds
# tests (1) and (2)); DATAPLANE (default target/release/dataplane, relative to the
# repository root). Halves whose tool is missing are reported as skipped.
#
# Needs root, scripts/lab-topology.sh, and scripts/ci-deps.sh's packages.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOPO="$ROOT/scripts/lab-topology.sh"
DP=${DATAPLANE:-target/release/dataplane}
[[ $DP == /* ]] || DP="$ROOT/$DP"

SECONDS_PER_TEST=10
# The generator that feeds the devices under test: live frames (BPF_PROG_RUN) out-runs
# both of them on veth; af-xdp does not (see docs/veth-bench-notes.md).
GEN_ENGINE=${GEN_ENGINE:-live}
ROUNDS=1
OUT=""
KEEP_LOGS=0

usage() {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
    exit 2
}

while [[ $# -gt 0 ]]; do
    case $1 in
    --seconds)
        [[ $# -ge 2 && $2 =~ ^[1-9][0-9]{0,3}$ ]] || { echo "--seconds needs 1..9999" >&2; exit 2; }
        SECONDS_PER_TEST=$2
        shift 2
        ;;
    --rounds)
        [[ $# -ge 2 && $2 =~ ^[1-9][0-9]?$ ]] || { echo "--rounds needs 1..99" >&2; exit 2; }
        ROUNDS=$2
        shift 2
        ;;
    --out)
        [[ $# -ge 2 ]] || usage
        OUT=$2
        shift 2
        ;;
    --keep-logs)
        KEEP_LOGS=1
        shift
        ;;
    -h | --help) usage ;;
    *)
        echo "unknown argument: $1" >&2
        usage
        ;;
    esac
done
N=$SECONDS_PER_TEST

[[ $EUID -eq 0 ]] || { echo "veth-compare: must run as root" >&2; exit 1; }
[[ -x $TOPO ]] || { echo "veth-compare: $TOPO not found" >&2; exit 1; }
for tool in ip taskset timeout stdbuf python3 awk; do
    command -v "$tool" >/dev/null || { echo "veth-compare: $tool not found" >&2; exit 1; }
done

# A prefix unique to this run (PIDs are at most 7 digits: "vc" + 7 <= 10,
# the topology script's limit), so parallel runs cannot collide.
PREFIX="vc$$"
NS_GEN="$PREFIX-gen"
NS_DUT="$PREFIX-dut"
NS_SINK="$PREFIX-sink"
WORK=$(mktemp -d /tmp/veth-compare.XXXXXX)
DPDK_PREFIX="$PREFIX-tp"
DPDK_RUNDIR_EXISTED=0
[[ -d /var/run/dpdk ]] && DPDK_RUNDIR_EXISTED=1

# Limits so nothing can hang: a DUT or sink outlives the generator by at most
# this many seconds before `timeout` ends it, and a process asked to stop
# gets this long before it is killed.
READY_TIMEOUT=30
DUT_LIMIT=$((N + 60))
STOP_GRACE=10

PIDS=()       # background processes we started and have not reaped yet
              # (each leads its own process group; reaped ones are dropped
              # from the list at once, since their PIDs can be reused)
FAILURES=()   # what went wrong, for the report
NOTES=()      # what the reader should know (fallbacks, skipped halves)
COMMANDS=()   # every measuring command, for the report

log() { echo "veth-compare: $*" >&2; }

# ---------------------------------------------------------------- cleanup

kill_ns_procs() {
    # Anything still running inside our namespaces is ours (we made them).
    local ns pid
    for ns in "$NS_GEN" "$NS_DUT" "$NS_SINK"; do
        [[ -e /run/netns/$ns ]] || continue
        for pid in $(ip netns pids "$ns" 2>/dev/null); do
            kill -KILL "$pid" 2>/dev/null || true
        done
    done
}

cleanup() {
    local rc=$? pid i
    trap - EXIT INT TERM
    # Disowned, bash does not print a "Killed" line for each of them.
    disown -a 2>/dev/null || true
    for pid in "${PIDS[@]}"; do
        # `timeout` made each of them a process group leader.
        kill -KILL -- "-$pid" 2>/dev/null || true
    done
    kill_ns_procs
    for pid in "${PIDS[@]}"; do
        for ((i = 0; i < 50; i++)); do
            alive "$pid" || break
            sleep 0.1
        done
    done
    "$TOPO" down "$PREFIX" >/dev/null 2>&1 || true
    rm -rf "/var/run/dpdk/$DPDK_PREFIX"
    if [[ $DPDK_RUNDIR_EXISTED -eq 0 ]]; then
        rmdir /var/run/dpdk 2>/dev/null || true
    fi
    if [[ $KEEP_LOGS -eq 1 ]]; then
        log "logs kept in $WORK"
    else
        rm -rf "$WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

# ---------------------------------------------------------------- helpers

topo_fresh() {
    kill_ns_procs
    "$TOPO" down "$PREFIX" >/dev/null
    "$TOPO" up "$PREFIX" >/dev/null
}

counter() { # NS IFACE STAT
    ip netns exec "$1" cat "/sys/class/net/$2/statistics/$3"
}

alive() { # PID: running and not yet a zombie
    [[ -e /proc/$1 ]] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null
}

# Starts "ip netns exec NS timeout LIMIT CMD..." in the background. timeout
# makes itself a process group leader, so the whole tree can be killed by
# group; SIGINT sent to it is forwarded to CMD. Sets STARTED_PID.
start_bg() { # LOGFILE NS LIMIT CMD...
    local logf=$1 ns=$2 limit=$3
    shift 3
    ip netns exec "$ns" timeout -k "$STOP_GRACE" -s INT "$limit" "$@" \
        </dev/null >"$logf" 2>&1 &
    STARTED_PID=$!
    PIDS+=("$STARTED_PID")
}

# Waits for (reaps) a background process and forgets it. Returns its status.
reap() { # PID
    local rc=0 p keep=()
    wait "$1" 2>/dev/null || rc=$?
    for p in "${PIDS[@]}"; do
        [[ $p == "$1" ]] || keep+=("$p")
    done
    PIDS=("${keep[@]}")
    return "$rc"
}

# SIGINT, then a bounded wait, then SIGKILL to the group. Returns the exit code.
stop_bg() { # PID
    local pid=$1 i rc=0
    if alive "$pid"; then
        kill -INT "$pid" 2>/dev/null || true
        for ((i = 0; i < STOP_GRACE * 10; i++)); do
            alive "$pid" || break
            sleep 0.1
        done
        if alive "$pid"; then
            log "pid $pid ignored SIGINT; killing"
            kill -KILL -- "-$pid" 2>/dev/null || true
        fi
    fi
    reap "$pid" || rc=$?
    return "$rc"
}

# Waits for a process to finish by itself (bounded), then stops it.
finish_bg() { # PID SECONDS
    local pid=$1 secs=$2 i
    for ((i = 0; i < secs * 10; i++)); do
        alive "$pid" || break
        sleep 0.1
    done
    stop_bg "$pid"
}

xdp_attached() { # NS IFACE
    ip netns exec "$1" ip -j link show dev "$2" 2>/dev/null | grep -q '"xdp"'
}

# Ready = the process is alive, an XDP program sits on every given interface
# and (optionally) a line matching PATTERN is in its log. Then a short pause,
# because the XSK map entry is written after the program is attached.
wait_ready() { # PID LOGFILE PATTERN NS IFACE...
    local pid=$1 logf=$2 pattern=$3 ns=$4 i ok dev
    shift 4
    for ((i = 0; i < READY_TIMEOUT * 10; i++)); do
        if ! alive "$pid"; then
            log "process exited during start-up; last lines of $logf:"
            tail -n 15 "$logf" >&2 || true
            return 1
        fi
        ok=1
        for dev in "$@"; do
            xdp_attached "$ns" "$dev" || ok=0
        done
        if [[ -n $pattern ]] && ! grep -q -- "$pattern" "$logf"; then
            ok=0
        fi
        if [[ $ok -eq 1 ]]; then
            sleep 0.5
            return 0
        fi
        sleep 0.1
    done
    log "not ready after ${READY_TIMEOUT}s; last lines of $logf:"
    tail -n 15 "$logf" >&2 || true
    return 1
}

# trafgen forks its worker (timeout watches only its parent): make sure
# nothing is left sending in the namespace before counters are read.
wait_ns_empty() { # NS
    local i pid
    for ((i = 0; i < STOP_GRACE * 10; i++)); do
        [[ -z $(ip netns pids "$1" 2>/dev/null) ]] && return 0
        sleep 0.1
    done
    for pid in $(ip netns pids "$1" 2>/dev/null); do
        kill -KILL "$pid" 2>/dev/null || true
    done
    log "killed leftovers in $1"
}

now() { date +%s.%N; }
fdiv() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.0f", a / b; else print "" }'; }
fsub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a - b }'; }

# Prints field KEY (dots for nesting) of the last JSON line in FILE that has it;
# with "final", only from a line with "final":true.
json_get() { # FILE KEY [final]
    python3 - "$@" <<'EOF'
import json, sys
path, key = sys.argv[1], sys.argv[2]
want_final = len(sys.argv) > 3
found = None
try:
    lines = open(path, errors="replace").read().splitlines()
except OSError:
    sys.exit(1)
for line in lines:
    line = line.strip()
    if not line.startswith("{"):
        continue
    try:
        obj = json.loads(line)
    except ValueError:
        continue
    if want_final and obj.get("final") is not True:
        continue
    cur = obj
    for part in key.split("."):
        cur = cur.get(part) if isinstance(cur, dict) else None
    if cur is not None:
        found = cur
if found is None:
    sys.exit(1)
print(found)
EOF
}

# testpmd prints, on SIGINT, "Accumulated forward statistics for all ports"
# followed by "RX-packets: N  RX-dropped: N  RX-total: N" and "TX-packets: ...".
testpmd_total() { # LOGFILE RX|TX
    awk -v want="$2-packets:" '
        /Accumulated forward statistics/ { acc = 1; next }
        acc && $1 == want { print $2; exit }' "$1"
}

# ---------------------------------------------------------------- tools

HAVE_TESTPMD=0
HAVE_TRAFGEN=0
HAVE_DP_RUN=0
HAVE_DP_GEN=0
HAVE_DP_SINK=0
command -v dpdk-testpmd >/dev/null && HAVE_TESTPMD=1
command -v trafgen >/dev/null && HAVE_TRAFGEN=1
if [[ -x $DP ]]; then
    "$DP" run --help >/dev/null 2>&1 && HAVE_DP_RUN=1
    "$DP" gen --help >/dev/null 2>&1 && HAVE_DP_GEN=1
    "$DP" sink --help >/dev/null 2>&1 && HAVE_DP_SINK=1
else
    NOTES+=("dataplane binary $DP not found: dataplane halves skipped.")
fi
[[ $HAVE_TESTPMD -eq 1 ]] || NOTES+=("dpdk-testpmd not found (apt package dpdk-dev): testpmd halves skipped.")
[[ $HAVE_TRAFGEN -eq 1 ]] || NOTES+=("trafgen not found (apt package netsniff-ng): trafgen half skipped.")

# The generator for (1) and (2): the dataplane's own when it has one,
# because trafgen (about 0.4 Mpps here) is slower than the devices under test.
if [[ $HAVE_DP_GEN -eq 1 ]]; then
    GEN_KIND=dataplane
elif [[ $HAVE_TRAFGEN -eq 1 ]]; then
    GEN_KIND=trafgen
    NOTES+=("Generator for (1) and (2) is trafgen (no \`dataplane gen\`): it tops out near 0.4 Mpps, so those rows measure the generator, not the DUT.")
else
    log "no generator: need \`$DP gen\` or trafgen"
    exit 1
fi
# Delivered packets for (2): the sink's own count when it exists.
if [[ $HAVE_DP_SINK -eq 1 ]]; then
    SINK_KIND=dataplane
else
    SINK_KIND=counter
    NOTES+=("Delivered packets for (2) are sink0's rx_packets (no \`dataplane sink\`).")
fi

# 60 bytes on the wire (64 with the FCS): Ethernet, IPv4, UDP, 18 bytes of
# zeros. Addresses are from the benchmarking range (RFC 2544) and never leave
# the namespaces; nothing there routes them.
TRAFGEN_CFG="$WORK/udp60.cfg"
cat >"$TRAFGEN_CFG" <<'EOF'
{
  eth(da=02:00:00:00:01:00, sa=02:00:00:00:00:01),
  ipv4(sa=198.18.0.1, da=198.18.0.2, ttl=64),
  udp(sp=9, dp=9),
  fill(0, 18)
}
EOF

# ---------------------------------------------------------------- pieces

# Runs the generator in the gen namespace on core 0 for N seconds. (In the
# background plus `wait`, so that SIGINT/SIGTERM to this script act at once.)
# Sets GEN_SENT (its own count, may be empty) and GEN_SECS.
run_gen() { # KIND LOGFILE
    local kind=$1 logf=$2 t0 t1 rc=0 s
    GEN_SENT=""
    if [[ $kind == dataplane ]]; then
        local cmd=("$DP" gen --iface gen0 --engine "$GEN_ENGINE" --template udp --size 60 --duration "$N" --json)
        COMMANDS+=("ip netns exec $NS_GEN taskset -c 0 ${cmd[*]}")
        t0=$(now)
        start_bg "$logf" "$NS_GEN" $((N + 30)) taskset -c 0 "${cmd[@]}"
        reap "$STARTED_PID" || rc=$?
        t1=$(now)
        wait_ns_empty "$NS_GEN"
        GEN_SENT=$(json_get "$logf" sent) || GEN_SENT=""
        s=$(json_get "$logf" seconds) || s=""
        GEN_SECS=$(awk -v s="${s:-$(fsub "$t1" "$t0")}" 'BEGIN { printf "%.3f", s }')
        if [[ $rc -ne 0 ]]; then
            FAILURES+=("$(basename "$logf" .log): dataplane gen exited $rc (log: $(tail -n 3 "$logf" | tr '\n' ' '))")
        fi
    else
        # trafgen: -P 1 one process (else one per CPU); --no-sock-mem and -Q
        # so it does not rewrite net.core.{r,w}mem_* or IRQ affinities (the
        # short option -A is broken in 0.6.8); it stops cleanly on SIGINT only.
        local cmd=(trafgen -o gen0 -i "$TRAFGEN_CFG" -P 1 --no-sock-mem -Q)
        COMMANDS+=("ip netns exec $NS_GEN timeout -s INT $N taskset -c 0 ${cmd[*]}")
        t0=$(now)
        start_bg "$logf" "$NS_GEN" "$N" taskset -c 0 "${cmd[@]}"
        reap "$STARTED_PID" || rc=$?
        t1=$(now)
        GEN_SECS=$(fsub "$t1" "$t0")
        wait_ns_empty "$NS_GEN"
        # Its summary lines start with a carriage return.
        GEN_SENT=$(tr -d '\r' <"$logf" | awk '/packets outgoing/ { print $1 }' | tail -n 1)
        # 124 = stopped by timeout, which is how it is meant to end.
        if [[ $rc -ne 0 && $rc -ne 124 ]] || grep -q 'failed' "$logf"; then
            FAILURES+=("$(basename "$logf" .log): trafgen exit $rc: $(grep -m1 -i 'fail' "$logf" || tail -n 1 "$logf")")
        fi
    fi
}

# Starts a device under test in the dut namespace, all of it on core 1.
# Sets DUT_PID; returns non-zero if it did not come up.
start_dut() { # KIND(dataplane|testpmd) MODE(drop|fwd|rxonly) LOGFILE STATSFILE
    local kind=$1 mode=$2 logf=$3 stats=$4 cmd ifaces=(dut0) pattern=""
    [[ $mode == fwd ]] && ifaces=(dut0 dut1)
    if [[ $kind == dataplane ]]; then
        cmd=("$DP" run --port af_xdp:iface=dut0)
        [[ $mode == fwd ]] && cmd+=(--port af_xdp:iface=dut1)
        [[ $mode == rxonly ]] && mode=drop
        # --duration is only a bound: the script stops it with SIGINT (the
        # contract: stop, print totals, exit 0) once the generator is done.
        cmd+=(--action "$mode" --cores 1 --stats-json "$stats" --duration "$DUT_LIMIT")
    else
        local fwd=rxonly vdevs=(--vdev "net_af_xdp0,iface=dut0")
        if [[ $mode == fwd ]]; then
            fwd=io
            vdevs+=(--vdev "net_af_xdp1,iface=dut1")
        fi
        # --lcores 0@1,1@1: main lcore and the forwarding lcore both on CPU 1.
        # --no-huge -m 1024: no hugepages needed. --no-shconf + own
        # --file-prefix: no shared files, parallel runs do not collide.
        # --stats-period: without it a non-interactive testpmd waits for
        # Enter and, with stdin at /dev/null, exits at once (status 0).
        # --total-num-mbufs 16384: starts in ~0.3 s instead of ~2.5 s.
        # stdbuf -oL: see its start-up lines while it runs.
        cmd=(stdbuf -oL -eL dpdk-testpmd --lcores "0@1,1@1" --main-lcore 0
            --no-pci --no-huge -m 1024 --no-shconf --file-prefix "$DPDK_PREFIX"
            "${vdevs[@]}" --
            --forward-mode="$fwd" --auto-start --stats-period 1 --total-num-mbufs 16384)
        pattern="forwards packets"
    fi
    COMMANDS+=("ip netns exec $NS_DUT taskset -c 1 ${cmd[*]}")
    start_bg "$logf" "$NS_DUT" "$DUT_LIMIT" taskset -c 1 "${cmd[@]}"
    DUT_PID=$STARTED_PID
    if ! wait_ready "$DUT_PID" "$logf" "$pattern" "$NS_DUT" "${ifaces[@]}"; then
        FAILURES+=("$(basename "$logf" .log): $kind ($mode) did not start: $(tail -n 1 "$logf")")
        stop_bg "$DUT_PID" || true
        return 1
    fi
}

# The DUT's processed count after it has been stopped.
dut_processed() { # KIND LOGFILE STATSFILE
    if [[ $1 == dataplane ]]; then
        json_get "$3" totals.rx final || json_get "$3" totals.rx || true
    else
        testpmd_total "$2" RX
    fi
}

# One half of test (1) or (2). Sets R_PPS (the compared figure), R_OFFERED,
# R_EXTRA (a short explanation of the counts).
measure_dut() { # KIND MODE(rxonly|fwd) TAG
    local kind=$1 mode=$2 tag=$3
    local logf="$WORK/$tag-dut.log" stats="$WORK/$tag-stats.jsonl"
    local sinklog="$WORK/$tag-sink.log" genlog="$WORK/$tag-gen.log"
    local sink_pid="" tx0 tx1 rx0 rx1 s0 s1 processed delivered rc=0
    R_PPS=""
    R_OFFERED=""
    R_EXTRA=""
    topo_fresh
    start_dut "$kind" "$mode" "$logf" "$stats" || return 0

    if [[ $mode == fwd && $SINK_KIND == dataplane ]]; then
        local sink_cmd=("$DP" sink --iface sink0 --duration $((N + 5)) --json)
        COMMANDS+=("ip netns exec $NS_SINK taskset -c 0 ${sink_cmd[*]}")
        start_bg "$sinklog" "$NS_SINK" $((N + 30)) taskset -c 0 "${sink_cmd[@]}"
        sink_pid=$STARTED_PID
        if ! wait_ready "$sink_pid" "$sinklog" "" "$NS_SINK" sink0; then
            FAILURES+=("$tag: dataplane sink did not start: $(tail -n 1 "$sinklog")")
            stop_bg "$sink_pid" || true
            stop_bg "$DUT_PID" || true
            return 0
        fi
    fi

    tx0=$(counter "$NS_GEN" gen0 tx_packets)
    rx0=$(counter "$NS_DUT" dut0 rx_packets)
    s0=$(counter "$NS_SINK" sink0 rx_packets)
    run_gen "$GEN_KIND" "$genlog"
    sleep 0.5 # let the DUT drain its rings
    tx1=$(counter "$NS_GEN" gen0 tx_packets)
    rx1=$(counter "$NS_DUT" dut0 rx_packets)
    s1=$(counter "$NS_SINK" sink0 rx_packets)

    if [[ -n $sink_pid ]]; then
        finish_bg "$sink_pid" 15 || rc=$?
        [[ $rc -eq 0 ]] || FAILURES+=("$tag: dataplane sink exited $rc")
        delivered=$(json_get "$sinklog" packets) || delivered=""
    else
        delivered=$((s1 - s0))
    fi

    if ! alive "$DUT_PID"; then
        FAILURES+=("$tag: $kind ($mode) died while measuring: $(tail -n 1 "$logf")")
    fi
    rc=0
    stop_bg "$DUT_PID" || rc=$?
    # testpmd is ended by timeout's SIGINT forwarding; both 0 and 130 are fine.
    if [[ $rc -ne 0 && $rc -ne 130 ]]; then
        FAILURES+=("$tag: $kind ($mode) exited $rc on SIGINT")
    fi
    processed=$(dut_processed "$kind" "$logf" "$stats")

    R_OFFERED=$(fdiv $((rx1 - rx0)) "$GEN_SECS")
    if [[ $mode == rxonly ]]; then
        [[ -n $processed ]] || FAILURES+=("$tag: $kind ($mode): no processed count found")
        R_PPS=$(fdiv "${processed:-0}" "$GEN_SECS")
        [[ -n $processed ]] || R_PPS=""
    else
        R_PPS=$(fdiv "${delivered:-0}" "$GEN_SECS")
        [[ -n $delivered ]] || R_PPS=""
    fi
    R_EXTRA="gen0 tx $((tx1 - tx0)), dut0 rx $((rx1 - rx0)), DUT processed ${processed:-?}, sink0 rx $((s1 - s0)), sink count ${delivered:-?}, gen ${GEN_SECS}s"
    log "$tag: ${R_PPS:-n/a} pps ($R_EXTRA)"
}

# One half of test (3): a generator alone, counted at dut0. The receiver is
# testpmd rxonly (an XDP program on dut0 lets a live-frames generator's
# frames in); without testpmd, GRO on dut0 does the same.
measure_gen() { # KIND TAG
    local kind=$1 tag=$2 genlog="$WORK/$2-gen.log" recv_pid="" tx0 tx1 rx0 rx1
    # Generator against generator: AF_XDP transmit, the like of trafgen's packet socket.
    local GEN_ENGINE=af-xdp
    R_PPS=""
    R_OFFERED=""
    R_EXTRA=""
    topo_fresh
    if [[ $HAVE_TESTPMD -eq 1 ]]; then
        start_dut testpmd rxonly "$WORK/$tag-recv.log" "" || return 0
        recv_pid=$DUT_PID
    else
        ip netns exec "$NS_DUT" ethtool -K dut0 gro on >/dev/null
    fi
    tx0=$(counter "$NS_GEN" gen0 tx_packets)
    rx0=$(counter "$NS_DUT" dut0 rx_packets)
    run_gen "$kind" "$genlog"
    tx1=$(counter "$NS_GEN" gen0 tx_packets)
    rx1=$(counter "$NS_DUT" dut0 rx_packets)
    [[ -n $recv_pid ]] && { stop_bg "$recv_pid" || true; }
    R_PPS=$(fdiv $((rx1 - rx0)) "$GEN_SECS")
    R_OFFERED=$R_PPS
    R_EXTRA="gen0 tx $((tx1 - tx0)), dut0 rx $((rx1 - rx0)), generator says ${GEN_SENT:-?}, ${GEN_SECS}s"
    log "$tag: $R_PPS pps ($R_EXTRA)"
}

# ---------------------------------------------------------------- run

# Per key, space-separated values, one per round.
declare -A PPS OFFERED EXTRA

run_case() { # KEY HAVE FUNCTION ARGS...
    local key=$1 have=$2
    shift 2
    if [[ $have -ne 1 ]]; then
        PPS[$key]="skipped"
        return
    fi
    "$@"
    PPS[$key]="${PPS[$key]:-}${R_PPS:-n/a} "
    OFFERED[$key]="${OFFERED[$key]:-}${R_OFFERED:-n/a} "
    EXTRA[$key]="${EXTRA[$key]:-}${EXTRA[$key]:+|}$R_EXTRA"
}

# Runs both halves of one test; odd rounds start with the dataplane, even
# rounds with the baseline, so neither always gets the quieter slot.
run_pair() { # ROUND DPKEY DPHAVE DPFUNC... -- BASEKEY BASEHAVE BASEFUNC...
    local round=$1 a=() b=()
    shift
    while [[ $1 != -- ]]; do a+=("$1"); shift; done
    shift
    b=("$@")
    if ((round % 2 == 1)); then
        run_case "${a[@]}"
        run_case "${b[@]}"
    else
        run_case "${b[@]}"
        run_case "${a[@]}"
    fi
}

log "prefix $PREFIX, $N s per measurement, $ROUNDS round(s), generator $GEN_KIND, sink $SINK_KIND"
for ((round = 1; round <= ROUNDS; round++)); do
    [[ $ROUNDS -eq 1 ]] || log "round $round of $ROUNDS"
    run_pair "$round" rxdrop_dp "$HAVE_DP_RUN" measure_dut dataplane rxonly "rxdrop-dataplane-r$round" \
        -- rxdrop_tp "$HAVE_TESTPMD" measure_dut testpmd rxonly "rxdrop-testpmd-r$round"
    run_pair "$round" fwd_dp "$HAVE_DP_RUN" measure_dut dataplane fwd "fwd-dataplane-r$round" \
        -- fwd_tp "$HAVE_TESTPMD" measure_dut testpmd fwd "fwd-testpmd-r$round"
    run_pair "$round" gen_dp "$HAVE_DP_GEN" measure_gen dataplane "gen-dataplane-r$round" \
        -- gen_tg "$HAVE_TRAFGEN" measure_gen trafgen "gen-trafgen-r$round"
done

# ---------------------------------------------------------------- report

# Median of the numeric values in a list ("skipped" or "n/a" when none).
median() { # "V1 V2 ..."
    local v
    for v in $1; do echo "$v"; done | sort -n | awk '
        /^skipped$/ { skipped = 1 }
        /^[0-9]+$/ { x[++n] = $1 }
        END {
            if (n == 0) { print (skipped ? "skipped" : "n/a"); exit }
            if (n % 2) print x[(n + 1) / 2]; else printf "%.0f\n", (x[n / 2] + x[n / 2 + 1]) / 2
        }'
}

ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN {
        if (a ~ /^[0-9]+$/ && b ~ /^[0-9]+$/ && b > 0) printf "%.2f", a / b; else print "n/a" }'
}

# A cell: the median, and with several rounds every value after it.
cell() { # "V1 V2 ..."
    local m
    m=$(median "$1")
    if [[ $ROUNDS -gt 1 && $m != skipped ]]; then
        echo "$m (${1% })"
    else
        echo "$m"
    fi
}

row() { # TITLE DPKEY BASELINE BASEKEY
    local a b
    a=$(median "${PPS[$2]}")
    b=$(median "${PPS[$4]}")
    printf '| %s | %s | %s | %s | %s | %s / %s |\n' "$1" "$(cell "${PPS[$2]}")" "$3" \
        "$(cell "${PPS[$4]}")" "$(ratio "$a" "$b")" \
        "$(median "${OFFERED[$2]:-skipped}")" "$(median "${OFFERED[$4]:-skipped}")"
}

# A DUT that handled (nearly) all it was offered was not the bottleneck:
# when both halves did, the row measures the generator.
saturation_note() { # TITLE DPKEY BASEKEY
    local k p o all=1 any=0
    for k in "$2" "$3"; do
        p=$(median "${PPS[$k]}")
        o=$(median "${OFFERED[$k]:-skipped}")
        [[ $p =~ ^[0-9]+$ && $o =~ ^[0-9]+$ ]] || continue
        any=1
        awk -v p="$p" -v o="$o" 'BEGIN { exit !(p >= 0.97 * o) }' || all=0
    done
    if [[ $any -eq 1 && $all -eq 1 ]]; then
        echo "**$1: every DUT measured kept up with what it was offered (>= 97%): this row measures the generator, not the DUTs; its ratio says little.**"
        echo
    fi
}

report() {
    local k c n f
    echo "# veth-compare: dataplane vs testpmd / trafgen"
    echo
    echo "$(date -u '+%Y-%m-%d %H:%M UTC'), kernel $(uname -r), CPU $(lscpu | awk -F: '/Model name/ { gsub(/^ +/, "", $2); print $2; exit }'), $(nproc) cores;"
    echo "DPDK $(dpkg-query -W -f='${Version}' dpdk-dev 2>/dev/null || echo '?'), netsniff-ng $(dpkg-query -W -f='${Version}' netsniff-ng 2>/dev/null || echo '?');"
    echo "$N s per measurement, $ROUNDS round(s) (medians); 60-byte UDP frames (64 with FCS); generator/sink on core 0, DUT on core 1."
    echo "Generator for (1) and (2): $GEN_KIND. Delivered count for (2): $SINK_KIND."
    echo
    echo "| test | dataplane pps | baseline | baseline pps | ratio | offered pps at dut0 (dataplane run / baseline run) |"
    echo "|---|---|---|---|---|---|"
    row "(1) rxdrop, DUT processed" rxdrop_dp "testpmd rxonly" rxdrop_tp
    row "(2) io forward dut0->dut1, delivered at sink" fwd_dp "testpmd io" fwd_tp
    row "(3) generator, received at dut0" gen_dp "trafgen" gen_tg
    echo
    echo "Counts per measurement:"
    echo
    for k in rxdrop_dp rxdrop_tp fwd_dp fwd_tp gen_dp gen_tg; do
        [[ -n ${EXTRA[$k]:-} ]] || continue
        echo "- $k:"
        tr '|' '\n' <<<"${EXTRA[$k]}" | awk '{ printf "  - round %d: %s\n", NR, $0 }'
    done
    echo
    saturation_note "(1) rxdrop" rxdrop_dp rxdrop_tp
    saturation_note "(2) io forward" fwd_dp fwd_tp
    if [[ ${#NOTES[@]} -gt 0 ]]; then
        echo "Notes:"
        echo
        for n in "${NOTES[@]}"; do echo "- $n"; done
        echo
    fi
    if [[ ${#FAILURES[@]} -gt 0 ]]; then
        echo "Failures:"
        echo
        for f in "${FAILURES[@]}"; do echo "- $f"; done
        echo
    fi
    echo "Commands (namespaces are made by scripts/lab-topology.sh up $PREFIX):"
    echo
    echo '```'
    for c in "${COMMANDS[@]}"; do echo "$c"; done | sed -E 's/-r[0-9]+-stats/-rN-stats/' | awk '!seen[$0]++'
    echo '```'
}

if [[ -n $OUT ]]; then
    report | tee "$OUT"
else
    report
fi

[[ ${#FAILURES[@]} -eq 0 ]]
