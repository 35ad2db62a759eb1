#!/usr/bin/env bash
# Lab topology: three network namespaces joined by two veth pairs.
#
#   ${PREFIX}-gen            ${PREFIX}-dut                 ${PREFIX}-sink
#   gen0 02:00:00:00:00:01 <-> dut0 02:00:00:00:01:00
#                              dut1 02:00:00:00:01:01 <-> sink0 02:00:00:00:00:02
#
# Usage: scripts/lab-topology.sh up|down|status PREFIX
#
# Every link is created directly inside its namespace, so nothing ever appears
# in the root namespace: names cannot clash there, and several topologies with
# different prefixes can coexist (parallel tests). Nothing is addressed (no IP)
# and IPv6 is off in each namespace, so the only frames on the wire are the
# ones a test sends. The root namespace's sysctls are never touched.
set -euo pipefail

usage() {
    echo "usage: $0 up|down|status PREFIX" >&2
    echo "  PREFIX: 1-10 characters of [A-Za-z0-9_], e.g. lab1" >&2
    exit 2
}

die() {
    echo "lab-topology: $*" >&2
    exit 1
}

[[ $# -eq 2 ]] || usage
CMD=$1
PREFIX=$2

# Namespace names end up in /run/netns file names and in our messages; keep
# them short and boring so no quoting or path surprises can happen.
# "-sink" is the longest suffix; 10 + 5 keeps names well under any limit.
[[ $PREFIX =~ ^[A-Za-z0-9_]{1,10}$ ]] ||
    die "bad PREFIX '$PREFIX': use 1-10 characters of [A-Za-z0-9_]"

NS_GEN="${PREFIX}-gen"
NS_DUT="${PREFIX}-dut"
NS_SINK="${PREFIX}-sink"
ALL_NS=("$NS_GEN" "$NS_DUT" "$NS_SINK")

ns_exists() {
    [[ -e "/run/netns/$1" ]]
}

# Runs a command inside a namespace.
nsx() {
    local ns=$1
    shift
    ip netns exec "$ns" "$@"
}

topo_down() {
    local ns
    for ns in "${ALL_NS[@]}"; do
        if ns_exists "$ns"; then
            # Deleting the namespace deletes the veths inside it (and with
            # them their peers in the other namespaces, and any XDP program
            # attached to them).
            ip netns delete "$ns" 2>/dev/null || true
        fi
    done
    # A namespace can survive a failed delete only if something still holds
    # it; report that instead of pretending.
    for ns in "${ALL_NS[@]}"; do
        if ns_exists "$ns"; then
            echo "lab-topology: warning: namespace $ns still present" >&2
        fi
    done
    return 0
}

wait_oper_up() {
    local ns=$1 dev=$2 i state
    for ((i = 0; i < 50; i++)); do
        state=$(nsx "$ns" cat "/sys/class/net/$dev/operstate")
        [[ $state == up ]] && return 0
        sleep 0.1
    done
    echo "lab-topology: $ns/$dev operstate is '$state' after 5 s" >&2
    return 1
}

topo_up() {
    local ns
    for ns in "${ALL_NS[@]}"; do
        if ns_exists "$ns"; then
            die "namespace $ns already exists (run: $0 down $PREFIX)"
        fi
    done

    # From here on, any failure removes what we made so far.
    trap 'rc=$?; echo "lab-topology: up failed (exit $rc), cleaning up" >&2; topo_down; exit $rc' ERR
    set -o errtrace

    for ns in "${ALL_NS[@]}"; do
        ip netns add "$ns"
        # No IPv6 means no router solicitations, no DAD and no MLD reports:
        # packet counters then count only test traffic. Set "default" before
        # the veths are made so they inherit it; "all" covers lo.
        nsx "$ns" sysctl -q -w net.ipv6.conf.all.disable_ipv6=1
        nsx "$ns" sysctl -q -w net.ipv6.conf.default.disable_ipv6=1
        nsx "$ns" ip link set lo up
    done

    # Create each pair with both ends already in their namespaces.
    ip link add gen0 netns "$NS_GEN" address 02:00:00:00:00:01 type veth \
        peer name dut0 netns "$NS_DUT" address 02:00:00:00:01:00
    ip link add dut1 netns "$NS_DUT" address 02:00:00:00:01:01 type veth \
        peer name sink0 netns "$NS_SINK" address 02:00:00:00:00:02

    nsx "$NS_GEN" ip link set gen0 up
    nsx "$NS_DUT" ip link set dut0 up
    nsx "$NS_DUT" ip link set dut1 up
    nsx "$NS_SINK" ip link set sink0 up

    # Carrier comes up asynchronously; wait (bounded) so a test that starts
    # right after "up" does not send into a link that is still down.
    wait_oper_up "$NS_GEN" gen0
    wait_oper_up "$NS_DUT" dut0
    wait_oper_up "$NS_DUT" dut1
    wait_oper_up "$NS_SINK" sink0

    trap - ERR
    echo "lab-topology: up $PREFIX: $NS_GEN/gen0 <-> $NS_DUT/dut0, $NS_DUT/dut1 <-> $NS_SINK/sink0"
}

topo_status() {
    local ns rc=0
    for ns in "${ALL_NS[@]}"; do
        if ns_exists "$ns"; then
            echo "== $ns"
            nsx "$ns" ip -br link show
        else
            echo "== $ns (absent)"
            rc=1
        fi
    done
    return $rc
}

[[ $EUID -eq 0 ]] || die "must run as root (ip netns needs CAP_SYS_ADMIN)"
command -v ip >/dev/null || die "ip (iproute2) not found"

case $CMD in
up) topo_up ;;
down) topo_down ;;
status) topo_status ;;
*) usage ;;
esac
