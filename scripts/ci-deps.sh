#!/usr/bin/env bash
# Installs the Debian (bookworm) packages that CI and the lab need.
#
#   iproute2       ip, ip netns, tc            (scripts/lab-topology.sh, the lab)
#   ethtool        ethtool -K gro, -S           (lab setup, counters)
#   tcpdump        tcpdump                      (debugging captures)
#   tshark         tshark                       (pcap/pcapng cross-checks)
#   python3-scapy  scapy for /usr/bin/python3   (test pcaps; note: a pyenv
#                  python3 earlier on PATH does not see it)
#   dpdk-dev       /usr/bin/dpdk-testpmd        (the `dpdk` package only has
#                  dpdk-devbind.py and friends; testpmd is in dpdk-dev)
#   librte-net-af-xdp23  the net_af_xdp PMD, loaded by testpmd from
#                  /usr/lib/x86_64-linux-gnu/dpdk/pmds-23.0/ (pulled in by
#                  dpdk-dev via libdpdk-dev; named here so it is never missed)
#   librte-mempool-ring23  the default mempool driver testpmd needs
#   netsniff-ng    /usr/sbin/trafgen            (baseline generator)
#   linux-perf     perf (optional: Debian's 6.1 perf; install failure is not fatal)
#
# Idempotent and fast: when every tool is already there, apt is not run.
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive

PMD_DIR=/usr/lib/x86_64-linux-gnu/dpdk/pmds-23.0

PACKAGES=(
    iproute2
    ethtool
    tcpdump
    tshark
    python3-scapy
    dpdk-dev
    librte-net-af-xdp23
    librte-mempool-ring23
    netsniff-ng
)
OPTIONAL_PACKAGES=(linux-perf)

have_all() {
    local bin
    for bin in ip ethtool tcpdump tshark dpdk-testpmd trafgen; do
        command -v "$bin" >/dev/null 2>&1 || return 1
    done
    # Binaries alone do not prove the PMD and scapy are there.
    [[ -e "$PMD_DIR/librte_net_af_xdp.so.23" ]] || return 1
    [[ -e "$PMD_DIR/librte_mempool_ring.so.23" ]] || return 1
    /usr/bin/python3 -c 'import scapy' >/dev/null 2>&1 || return 1
    return 0
}

if have_all; then
    echo "ci-deps: all tools present, skipping apt"
    exit 0
fi

SUDO=()
if [[ $EUID -ne 0 ]]; then
    command -v sudo >/dev/null || { echo "ci-deps: need root or sudo" >&2; exit 1; }
    SUDO=(sudo --preserve-env=DEBIAN_FRONTEND)
fi

# tshark's postinst asks whether non-root users may capture; answer "no"
# up front so the install never waits for a terminal.
echo 'wireshark-common wireshark-common/install-setuid boolean false' |
    "${SUDO[@]}" debconf-set-selections

"${SUDO[@]}" apt-get update -q
"${SUDO[@]}" apt-get install -y -q --no-install-recommends "${PACKAGES[@]}"
"${SUDO[@]}" apt-get install -y -q --no-install-recommends "${OPTIONAL_PACKAGES[@]}" ||
    echo "ci-deps: optional ${OPTIONAL_PACKAGES[*]} not installed (continuing)" >&2

if ! have_all; then
    echo "ci-deps: install finished but some tool is still missing" >&2
    exit 1
fi
echo "ci-deps: done"
