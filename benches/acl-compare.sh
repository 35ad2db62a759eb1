#!/usr/bin/env bash
# The fast classifier (rules::fast) against DPDK's rte_acl (dpdk-test-acl) on the same
# generated ClassBench-style rule sets and trace, one core each, in the same run.
#
#   bash benches/acl-compare.sh                      # acl, fw, ipc at 10k rules
#   STYLES=acl RULES=1000 ALG=scalar bash benches/acl-compare.sh
#
# Env: STYLES (acl fw ipc), RULES (10000), PACKETS (65536 trace lines), ITER (20 passes over
# the trace), ALG (dpdk-test-acl --alg: avx2, sse, scalar, ...), CORE (1: both run pinned
# there), CHECK (2000: packets whose answers are compared between the two).
#
# Files: rules::gen writes `@src/len dst/len lo : hi lo : hi 0xPP/0xMM` (dpdk-test-acl's
# parse_cb_ipv4_rule: the '@', ' : ' between port bounds and proto/mask are required) and
# trace lines `src dst sport dport proto` as u32 decimals (its parse_cb_ipv4_trace reads them
# with strtoul base 0, so decimal or 0x-hex). dpdk-test-acl gives earlier lines higher
# priority and reports `result: <line - 1>` (4294967295 for no match), which is exactly
# rules' first-match file index, so the answers are compared packet by packet.
#
# dpdk-test-acl classifies `--tracestep` (256) packets per rte_acl_classify call; ours is
# reported both one packet at a time and in bursts of 64 (Fast::classify_burst).
set -euo pipefail

STYLES=${STYLES:-"acl fw ipc"}
RULES=${RULES:-10000}
PACKETS=${PACKETS:-65536}
ITER=${ITER:-20}
ALG=${ALG:-avx2}
CORE=${CORE:-1}
CHECK=${CHECK:-2000}

if ! command -v dpdk-test-acl >/dev/null; then
    echo "acl-compare: dpdk-test-acl not found (apt-get install -y dpdk-dev)" >&2
    exit 1
fi
cd "$(dirname "$0")/.."
dir=$(mktemp -d /tmp/acl-compare.XXXXXX)
trap 'rm -rf "$dir"' EXIT

cargo build --release -q -p rules --example classify_files
ours=target/release/examples/classify_files
eal=(--no-pci --no-huge -m 512 --file-prefix "acl-compare-$$" -l "$CORE" --log-level=error)

printf '%-5s %7s %12s %12s %12s %10s %10s %8s\n' style rules "dpdk Mpps" "fast Mpps" "burst Mpps" "fast/dpdk" "burst/dpdk" agree
for style in $STYLES; do
    "$ours" write --style "$style" --rules "$RULES" --seed 1 --packets "$PACKETS" --out "$dir" >/dev/null
    rules="$dir/$style-$RULES.rules"
    trace="$dir/$style-$RULES.trace"

    # Same answers? dpdk-test-acl --verbose=3 prints one result per packet.
    head -n "$CHECK" "$trace" >"$dir/check.trace"
    dpdk-test-acl "${eal[@]}" -- --rulesf="$rules" --tracef="$dir/check.trace" --iter=1 --verbose=3 --alg="$ALG" \
        | awk '/^ipv4_5tuple:/ { r = $NF; print (r == 4294967295 ? -1 : r) }' >"$dir/dpdk.answers"
    taskset -c "$CORE" "$ours" run "$rules" "$dir/check.trace" --repeat 1 --answers "$CHECK" \
        | grep -v '^rules=' >"$dir/ours.answers"
    if cmp -s "$dir/dpdk.answers" "$dir/ours.answers"; then agree=yes; else agree=NO; fi

    dpdk_pps=$(dpdk-test-acl "${eal[@]}" -- --rulesf="$rules" --tracef="$trace" --tracenum="$PACKETS" \
        --iter="$ITER" --verbose=0 --alg="$ALG" | awk '/search_ip5tuples/ && /pkt\/sec/ { print $(NF-1) }')
    line=$(taskset -c "$CORE" "$ours" run "$rules" "$trace" --repeat "$ITER" | grep '^rules=')
    fast=$(sed -E 's/.* fast=([0-9.]+).*/\1/' <<<"$line")
    burst=$(sed -E 's/.* burst=([0-9.]+).*/\1/' <<<"$line")
    dpdk=$(awk -v p="$dpdk_pps" 'BEGIN { printf "%.3f", p / 1e6 }')
    printf '%-5s %7s %12s %12s %12s %10s %10s %8s\n' "$style" "$RULES" "$dpdk" "$fast" "$burst" \
        "$(awk -v a="$fast" -v b="$dpdk" 'BEGIN { printf "%.2f", a / b }')" \
        "$(awk -v a="$burst" -v b="$dpdk" 'BEGIN { printf "%.2f", a / b }')" "$agree"
    echo "      ours: $line" >&2
done
