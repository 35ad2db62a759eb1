#!/usr/bin/env bash
# Jumbo forwarding against 1500-byte forwarding, in one run (issue 14; BENCHMARKS.md,
# "Multi-buffer").
#
# gen0 -> dut0 -> (dataplane run --action fwd, one worker on the last core) -> dut1 ->
# sink0, every link at MTU 9000, so the dataplane's ports are multi-buffer (mb on by
# default): a 9000-byte frame arrives as several 2048-byte chunks, goes out as several
# descriptors. trafgen (AF_PACKET, one CPU: core 0) offers one frame size at its maximum rate
# for S seconds; what counts is what the dataplane forwarded (its stats JSON: port 1's tx
# frames and bytes) over the window the generator ran, against what gen0 sent (its
# tx_packets plus tx_dropped, veth's count of frames its peer's full ring refused: offered), plus what the dataplane dropped. Offered well above forwarded: the
# dataplane is the limit; equal: the generator is. Also the worker's own cost per frame
# (its busy-poll accounting) and the rate that cost allows one core.
# Sizes alternate, ROUNDS times each; prints the medians of pps and Gbps per size and the
# ratios 9000/1500 (Gbps counts the Ethernet frame without FCS).
#
#   bash benches/jumbo-fwd.sh [--seconds S] [--rounds N] [--frame 2048|4096]   (as root)
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=3
ROUNDS=3
FRAME=2048
while [[ $# -gt 0 ]]; do
    case $1 in
        --seconds) SECONDS_EACH=$2; shift 2 ;;
        --rounds) ROUNDS=$2; shift 2 ;;
        --frame) FRAME=$2; shift 2 ;;
        *) echo "usage: $0 [--seconds S] [--rounds N] [--frame 2048|4096]" >&2; exit 2 ;;
    esac
done
[[ $EUID -eq 0 ]] || { echo "jumbo-fwd.sh: needs root (namespaces, veth, XDP)" >&2; exit 1; }
command -v trafgen >/dev/null || { echo "jumbo-fwd.sh: needs trafgen (apt-get install netsniff-ng)" >&2; exit 1; }
BIN=./target/release/dataplane
cargo build --release --locked --quiet -p dataplane   # up to date: a no-op
PREFIX=jf$$
WORK=$(mktemp -d)
bash scripts/lab-topology.sh up "$PREFIX" >/dev/null
trap 'bash scripts/lab-topology.sh down "$PREFIX" >/dev/null; rm -rf "$WORK"' EXIT
for link in "gen gen0" "dut dut0" "dut dut1" "sink sink0"; do
    set -- $link
    ip -n "$PREFIX-$1" link set "$2" mtu 9000
done
DUT_CORE=$(($(nproc) - 1))

# One trafgen configuration per size: Ethernet (the lab's MACs), IPv4, UDP, zero payload.
for size in 1500 9000; do
    python3 - "$size" >"$WORK/$size.cfg" <<'PY'
import struct, sys
size = int(sys.argv[1])               # Ethernet frame without FCS
ip_len = size - 14
ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, ip_len, 0, 0x4000, 64, 17, 0, bytes([10, 0, 0, 1]), bytes([10, 0, 1, 1]))
words = struct.unpack("!10H", ip)
total = sum(words)
while total > 0xffff:
    total = (total & 0xffff) + (total >> 16)
ip = ip[:10] + struct.pack("!H", 0xffff - total) + ip[12:]
udp = struct.pack("!HHHH", 1024, 9, ip_len - 20, 0)   # checksum 0: none (RFC 768)
eth = bytes.fromhex("0200000001000200000000010800")
frame = eth + ip + udp + bytes(size - 14 - 28)
print("{ " + ", ".join(f"0x{b:02x}" for b in frame) + " }")
PY
done

offered() { # frames gen0 sent, taken by dut0 or dropped at its full ring (gen0's tx_dropped)
    local dir=/sys/class/net/gen0/statistics
    ip netns exec "$PREFIX-gen" sh -c "echo \$((\$(cat $dir/tx_packets) + \$(cat $dir/tx_dropped)))"
}

measure() { # size -> "pps gbps dropped offered_pps worker_ns_per_frame"
    local size=$1 stats=$WORK/stats.json log=$WORK/dut.log
    rm -f "$stats"
    ip netns exec "$PREFIX-dut" "$BIN" run --port "af_xdp:iface=dut0,frame=$FRAME,rx_hints=0" \
        --port "af_xdp:iface=dut1,frame=$FRAME,rx_hints=0" --action fwd --cores "$DUT_CORE" \
        --stats-interval 0 --stats-json "$stats" 2>"$log" &
    local dut=$!
    for _ in $(seq 50); do
        ip -n "$PREFIX-dut" link show dut0 | grep -q xdp && break
        sleep 0.1
    done
    local start end sent_before sent_after
    sent_before=$(offered)
    start=$(date +%s.%N)
    ip netns exec "$PREFIX-gen" timeout -s INT "$SECONDS_EACH" taskset -c 0 \
        trafgen -i "$WORK/$size.cfg" -o gen0 -J -P 1 -q >/dev/null 2>&1 || true
    end=$(date +%s.%N)
    sent_after=$(offered)
    sleep 0.3
    kill -INT "$dut"
    wait "$dut" || { cat "$log" >&2; exit 1; }
    python3 - "$stats" "$start" "$end" "$((sent_after - sent_before))" <<'PY'
import json, sys
line = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
window = float(sys.argv[3]) - float(sys.argv[2])
out = line["ports"][1]
ns = line["workers"][0]["busy"]["ns_per_frame"] or 0
reasons = {k: v for k, v in line["drops"].items() if v}
if reasons:
    print(f"dropped: {reasons}", file=sys.stderr)
print(out["tx"] / window, out["tx_bytes"] * 8 / window / 1e9, line["totals"]["dropped"], int(sys.argv[4]) / window, ns)
PY
}

declare -A runs=([1500]="" [9000]="")
for ((i = 0; i < ROUNDS; i++)); do
    for size in 1500 9000; do
        runs[$size]+="$(measure "$size");"
    done
done
python3 - "${runs[1500]}" "${runs[9000]}" "$FRAME" <<'PY'
import statistics, sys
def parse(text):
    return [tuple(float(x) for x in r.split()) for r in text.strip(";").split(";")]
sizes = {1500: parse(sys.argv[1]), 9000: parse(sys.argv[2])}
print(f"run --action fwd, frame={sys.argv[3]}, MTU 9000 (mb on), trafgen on core 0, forwarded per second")
med = {}
for size, rounds in sizes.items():
    med[size] = (statistics.median(r[0] for r in rounds), statistics.median(r[1] for r in rounds))
    print(f"{size:>5} B  {med[size][0] / 1e3:8.1f} kpps  {med[size][1]:6.2f} Gbps  "
          f"(offered {statistics.median(r[3] for r in rounds) / 1e3:.1f} kpps by gen0's counters; rounds kpps: "
          f"{', '.join(f'{r[0] / 1e3:.1f}' for r in rounds)}; dropped by the dataplane: "
          f"{', '.join(str(int(r[2])) for r in rounds)})")
print(f"9000 / 1500: pps {med[9000][0] / med[1500][0]:.3f}, Gbps {med[9000][1] / med[1500][1]:.3f}")
# The worker's own cost (busy-poll accounting: time in polls that found frames / frames),
# and the rate one core would sustain at that cost, whoever was the limit above.
for size, rounds in sizes.items():
    ns = statistics.median(r[4] for r in rounds)
    print(f"{size:>5} B  worker {ns:7.1f} ns/frame: one core's capacity {1e6 / ns:7.1f} kpps, "
          f"{size * 8 / ns:6.2f} Gbps (rounds ns: {', '.join(f'{r[4]:.0f}' for r in rounds)})")
PY
