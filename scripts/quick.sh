#!/usr/bin/env bash
# The main job, quick profile: build, make a veth lab (generator ns <-> dataplane ns <->
# sink ns), push traffic through `dataplane run --action fwd` for a few seconds, report what
# was offered, forwarded and delivered, and remove everything, also on failure or Ctrl-C.
#
#   sudo bash scripts/quick.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_TO_RUN=${1:-5}
[[ $EUID -eq 0 ]] || { echo "quick.sh: needs root (veth, namespaces, XDP): sudo bash $0" >&2; exit 1; }

bash scripts/ci-deps.sh >/dev/null
cargo build --release --locked -p dataplane
BIN=$PWD/target/release/dataplane
PREFIX=q$$
OUT=$(mktemp -d)
DUT_PID=""
SINK_PID=""

cleanup() {
    [[ -n $DUT_PID ]] && kill -INT "$DUT_PID" 2>/dev/null || true
    [[ -n $SINK_PID ]] && kill -INT "$SINK_PID" 2>/dev/null || true
    wait 2>/dev/null || true
    bash scripts/lab-topology.sh down "$PREFIX" >/dev/null
    rm -rf "$OUT"
}
trap cleanup EXIT INT TERM

bash scripts/lab-topology.sh up "$PREFIX"
CORES=$(nproc)
DUT_CORE=$((CORES - 1))

ip netns exec "$PREFIX-sink" "$BIN" sink --iface sink0 --json >"$OUT/sink.json" 2>"$OUT/sink.log" &
SINK_PID=$!
ip netns exec "$PREFIX-dut" "$BIN" run --port af_xdp:iface=dut0 --port af_xdp:iface=dut1 --action fwd \
    --cores "$DUT_CORE" --stats-json "$OUT/stats.jsonl" 2>"$OUT/dut.log" &
DUT_PID=$!
for _ in $(seq 50); do
    ip -n "$PREFIX-dut" link show dut1 | grep -q xdp && ip -n "$PREFIX-sink" link show sink0 | grep -q xdp && break
    sleep 0.1
done

echo "quick: generator on core 0 -> gen0 -> dut0 [dataplane fwd, core $DUT_CORE] dut1 -> sink0, ${SECONDS_TO_RUN}s of 64-byte UDP"
GEN=$(ip netns exec "$PREFIX-gen" "$BIN" gen --iface gen0 --size 60 --duration "$SECONDS_TO_RUN" --core 0 --json)
sleep 0.5
kill -INT "$DUT_PID" "$SINK_PID"
wait "$DUT_PID" "$SINK_PID" || true
DUT_PID=""
SINK_PID=""

cat "$OUT/dut.log"
python3 - "$GEN" "$OUT/sink.json" "$OUT/stats.jsonl" <<'PY'
import json, sys
gen = json.loads(sys.argv[1])
sink = json.loads(open(sys.argv[2]).read().strip().splitlines()[-1])
final = json.loads(open(sys.argv[3]).read().strip().splitlines()[-1])
t = final["totals"]
print()
print(f"offered   {gen['sent']:>12,} frames  {gen['pps']/1e6:6.3f} Mpps (generator)")
print(f"forwarded {t['tx']:>12,} frames  of {t['rx']:,} received by the dataplane, {t['dropped']:,} dropped")
print(f"delivered {sink['packets']:>12,} frames  {sink['pps']/1e6:6.3f} Mpps (sink)")
x = final["xdp"]
print(f"kernel: rx_dropped {x['rx_dropped']}, rx_ring_full {x['rx_ring_full']} (frames the dataplane did not take in time)")
PY
