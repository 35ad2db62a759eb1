#!/usr/bin/env bash
# The live generator against its minimal reference, in one run (BENCHMARKS.md, "Generator").
#
# gen0 -> dut0 over veth; on dut0 the cheapest receiver there is (`sink --engine count`:
# a per-CPU counter, XDP_DROP), so its receive work runs in the generator's softirq on the
# same core, as a NIC's DMA would not, and the count is the generator's rate. Alternates
# `gen --engine live` (every frame varied in the kernel: flow, stamp, checksums) with
# `gen --engine live-reference` (the bare BPF_PROG_RUN loop: one 60-byte frame, an XDP_TX
# program kept attached to an ifb, nothing else), ROUNDS times each, and prints the medians
# and their ratio. Counted at the receiver.
#
#   bash benches/live-gen.sh [--seconds S] [--rounds N] [-- extra gen args]    (as root)
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=2
ROUNDS=5
while [[ $# -gt 0 ]]; do
    case $1 in
        --seconds) SECONDS_EACH=$2; shift 2 ;;
        --rounds) ROUNDS=$2; shift 2 ;;
        --) shift; break ;;
        *) echo "usage: $0 [--seconds S] [--rounds N] [-- extra gen args]" >&2; exit 2 ;;
    esac
done
EXTRA=("$@")
[[ $EUID -eq 0 ]] || { echo "live-gen.sh: needs root (namespaces, veth, XDP)" >&2; exit 1; }
BIN=./target/release/dataplane
[[ -x $BIN ]] || cargo build --release --locked -p dataplane
PREFIX=lg$$
bash scripts/lab-topology.sh up "$PREFIX" >/dev/null
trap 'bash scripts/lab-topology.sh down "$PREFIX" >/dev/null' EXIT

measure() { # engine -> pps at the receiver
    local engine=$1 log
    log=$(mktemp)
    ip netns exec "$PREFIX-dut" "$BIN" sink --engine count --iface dut0 --json >"$log" 2>/dev/null &
    local sink=$!
    sleep 0.5
    local args=(gen --iface gen0 --engine "$engine" --duration "$SECONDS_EACH" --core 0 --json)
    [[ $engine == live ]] && args+=("${EXTRA[@]}")
    ip netns exec "$PREFIX-gen" taskset -c 0 "$BIN" "${args[@]}" >/dev/null
    sleep 0.3
    kill -INT "$sink"; wait "$sink" || true
    python3 -c 'import json,sys; print(round(json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])["pps"]))' "$log"
    rm -f "$log"
}

live=(); reference=()
for ((i = 0; i < ROUNDS; i++)); do
    live+=("$(measure live)")
    reference+=("$(measure live-reference)")
done
python3 - "${live[*]}" "${reference[*]}" <<'PY'
import statistics, sys
live = [int(x) for x in sys.argv[1].split()]
ref = [int(x) for x in sys.argv[2].split()]
ml, mr = statistics.median(live), statistics.median(ref)
print(f"live      {ml/1e6:6.2f} Mpps  (rounds: {', '.join(f'{x/1e6:.2f}' for x in live)})")
print(f"reference {mr/1e6:6.2f} Mpps  (rounds: {', '.join(f'{x/1e6:.2f}' for x in ref)})")
print(f"ratio     {ml/mr:6.3f}")
PY
