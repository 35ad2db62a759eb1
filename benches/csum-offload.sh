#!/usr/bin/env bash
# `run --csum offload` against `--csum lco` and `--csum fix` on VXLAN frames over veth, in one
# run (issue 14; BENCHMARKS.md, "Checksum offload").
#
# gen0 -> dut0 -> (dataplane, --action fwd) -> dut1 -> sink0. The generator sends VXLAN
# frames (inner UDP, --size bytes) at a fixed --rate from core 0; the dataplane's one worker
# runs on core 1. What is compared is the worker's own cost: ns per frame from its busy-poll
# accounting (time in polls that received something / the frames they received, the stats
# JSON's workers[0].busy.ns_per_frame), which a fixed offered rate leaves comparable. dut1
# keeps veth's tx-checksumming on, so under offload the requested inner checksum is left
# to the "device" (veth carries it CHECKSUM_PARTIAL; see dataplane/tests/csum_offload.rs),
# as a NIC with checksum offload would take it; --tx-sw-csum moves it back onto the CPU in
# the kernel (tx_sw_csum=1, for comparison). Modes alternate, ROUNDS times each; prints the
# medians and the ratios offload/lco and offload/fix.
#
#   bash benches/csum-offload.sh [--seconds S] [--rounds N] [--rate PPS] [--size N] [--tx-sw-csum]   (as root)
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=5
ROUNDS=3
RATE=200000
SIZE=1024
DEVARGS=
while [[ $# -gt 0 ]]; do
    case $1 in
        --seconds) SECONDS_EACH=$2; shift 2 ;;
        --rounds) ROUNDS=$2; shift 2 ;;
        --rate) RATE=$2; shift 2 ;;
        --size) SIZE=$2; shift 2 ;;
        --tx-sw-csum) DEVARGS=,tx_sw_csum=1; shift ;;
        *) echo "usage: $0 [--seconds S] [--rounds N] [--rate PPS] [--size N] [--tx-sw-csum]" >&2; exit 2 ;;
    esac
done
[[ $EUID -eq 0 ]] || { echo "csum-offload.sh: needs root (namespaces, veth, XDP)" >&2; exit 1; }
BIN=./target/release/dataplane
cargo build --release --locked --quiet -p dataplane   # up to date: a no-op
PREFIX=co$$
bash scripts/lab-topology.sh up "$PREFIX" >/dev/null
trap 'bash scripts/lab-topology.sh down "$PREFIX" >/dev/null' EXIT
DUT_CORE=$(($(nproc) - 1))

measure() { # csum mode -> "ns_per_frame tx_csum_offload frames_forwarded"
    local mode=$1 stats log
    stats=$(mktemp)
    log=$(mktemp)
    ip netns exec "$PREFIX-dut" "$BIN" run --port "af_xdp:iface=dut0$DEVARGS" --port "af_xdp:iface=dut1$DEVARGS" \
        --action fwd --csum "$mode" --cores "$DUT_CORE" --stats-interval 0 --stats-json "$stats" 2>"$log" &
    local dut=$!
    for _ in $(seq 50); do
        ip -n "$PREFIX-dut" link show dut0 | grep -q xdp && break
        sleep 0.1
    done
    ip netns exec "$PREFIX-gen" "$BIN" gen --iface gen0 --template vxlan --size "$SIZE" --rate "$RATE" \
        --duration "$SECONDS_EACH" --core 0 --json >/dev/null
    sleep 0.3
    kill -INT "$dut"
    wait "$dut" || { cat "$log" >&2; exit 1; }
    python3 - "$stats" <<'PY'
import json, sys
line = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
worker = line["workers"][0]
print(worker["busy"]["ns_per_frame"] or 0, worker["tx_csum_offload"], line["ports"][1]["tx"])
PY
    rm -f "$stats" "$log"
}

declare -A runs=([offload]="" [lco]="" [fix]="")
for ((i = 0; i < ROUNDS; i++)); do
    for mode in offload lco fix; do
        runs[$mode]+="$(measure "$mode");"
    done
done
python3 - "${runs[offload]}" "${runs[lco]}" "${runs[fix]}" "$RATE" "$SIZE" <<'PY'
import statistics, sys
def parse(text):
    return [tuple(float(x) for x in r.split()) for r in text.strip(";").split(";")]
modes = dict(zip(["offload", "lco", "fix"], (parse(t) for t in sys.argv[1:4])))
print(f"VXLAN frames of {sys.argv[5]} B at {int(sys.argv[4])} pps, worker ns per frame (busy-poll accounting)")
medians = {}
for mode, rounds in modes.items():
    medians[mode] = statistics.median(r[0] for r in rounds)
    asked = sum(r[1] for r in rounds) / max(1, sum(r[2] for r in rounds))
    print(f"--csum {mode:<8} {medians[mode]:8.1f} ns  (rounds: {', '.join(f'{r[0]:.1f}' for r in rounds)}; "
          f"{asked:.0%} of the frames forwarded asked the device)")
for base in ["lco", "fix"]:
    ratio = medians["offload"] / medians[base] if medians[base] else float("nan")
    print(f"offload / {base:<4} {ratio:6.3f}")
PY
