#!/usr/bin/env bash
# What RX hints cost: `run --action drop` on dut0 with the hinted redirect program
# (`rx_hints=1`; veth has the metadata kfuncs) against `rx_hints=0`, in one
# run (issue 14; BENCHMARKS.md, "RX hints").
#
# gen0 -> dut0: `gen --engine live` offers its maximum from core 0, dut0's receive (and so
# the redirect program with its kfunc calls) runs in the generator's softirq on core 0, the
# worker on the last core. Compared: frames the dataplane received per second, and the
# worker's ns per frame (busy-poll accounting). Alternates, ROUNDS times each; medians and
# ratios hints/no-hints.
#
#   bash benches/rx-hints.sh [--seconds S] [--rounds N]   (as root)
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=3
ROUNDS=3
while [[ $# -gt 0 ]]; do
    case $1 in
        --seconds) SECONDS_EACH=$2; shift 2 ;;
        --rounds) ROUNDS=$2; shift 2 ;;
        *) echo "usage: $0 [--seconds S] [--rounds N]" >&2; exit 2 ;;
    esac
done
[[ $EUID -eq 0 ]] || { echo "rx-hints.sh: needs root (namespaces, veth, XDP)" >&2; exit 1; }
BIN=./target/release/dataplane
cargo build --release --locked --quiet -p dataplane   # up to date: a no-op
PREFIX=rh$$
WORK=$(mktemp -d)
bash scripts/lab-topology.sh up "$PREFIX" >/dev/null
trap 'bash scripts/lab-topology.sh down "$PREFIX" >/dev/null; rm -rf "$WORK"' EXIT
DUT_CORE=$(($(nproc) - 1))

measure() { # devargs -> "rx_pps worker_ns_per_frame frames_with_hints"
    local devargs=$1 stats=$WORK/stats.json
    rm -f "$stats"
    ip netns exec "$PREFIX-dut" "$BIN" run --port "af_xdp:iface=dut0$devargs" --action drop --cores "$DUT_CORE" \
        --stats-interval 0 --stats-json "$stats" 2>"$WORK/dut.log" &
    local dut=$!
    for _ in $(seq 50); do
        ip -n "$PREFIX-dut" link show dut0 | grep -q xdp && break
        sleep 0.1
    done
    ip netns exec "$PREFIX-gen" "$BIN" gen --iface gen0 --engine live --duration "$SECONDS_EACH" --core 0 \
        --json >/dev/null
    sleep 0.3
    kill -INT "$dut"
    wait "$dut" || { cat "$WORK/dut.log" >&2; exit 1; }
    python3 - "$stats" "$SECONDS_EACH" <<'PY'
import json, sys
line = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
hints = line["xdp"].get("rx_hints") or {}
print(line["totals"]["rx"] / float(sys.argv[2]), line["workers"][0]["busy"]["ns_per_frame"] or 0,
      hints.get("frames_with_metadata", 0))
PY
}

hinted=""; plain=""
for ((i = 0; i < ROUNDS; i++)); do
    hinted+="$(measure ",rx_hints=1");"
    plain+="$(measure ",rx_hints=0");"
done
python3 - "$hinted" "$plain" <<'PY'
import statistics, sys
def parse(text):
    return [tuple(float(x) for x in r.split()) for r in text.strip(";").split(";")]
runs = {"rx_hints=1": parse(sys.argv[1]), "rx_hints=0": parse(sys.argv[2])}
med = {}
for name, rounds in runs.items():
    med[name] = (statistics.median(r[0] for r in rounds), statistics.median(r[1] for r in rounds))
    print(f"{name:<16} {med[name][0] / 1e6:6.2f} Mpps received, worker {med[name][1]:6.1f} ns/frame "
          f"(rounds Mpps: {', '.join(f'{r[0] / 1e6:.2f}' for r in rounds)}; frames with hints: "
          f"{', '.join(str(int(r[2])) for r in rounds)})")
a, b = med["rx_hints=1"], med["rx_hints=0"]
print(f"hints / none: received {a[0] / b[0]:.3f}, worker ns/frame {a[1] / b[1]:.3f}")
PY
