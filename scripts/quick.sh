#!/usr/bin/env bash
# The main job: build, then run the lab's quick profile (about 7 minutes): the same rule
# file (1 and 1000 rules, the last one matching) through the dataplane, tc u32, tc flower,
# tc cls_bpf (one program, and one per rule) and XDP, and the forwarding path also through
# DPDK's testpmd; generator and sink on core 0, the device under test on core 1. Writes
# OUT/report.md, results.csv, results.json and SVG plots, prints the conclusions, and removes
# everything it made, also on failure or Ctrl-C.
#
#   bash scripts/quick.sh [OUT]        (as root; default OUT: lab-out)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-lab-out}
[[ $EUID -eq 0 ]] || { echo "quick.sh: needs root (veth, namespaces, XDP, tc): run it in a root shell, or with sudo" >&2; exit 1; }

bash scripts/ci-deps.sh >/dev/null
cargo build --release --locked -p dataplane
./target/release/dataplane lab --profile quick --out "$OUT"
echo
sed -n '/^## Conclusions/,/^## Rule scaling/p' "$OUT/report.md" | sed '$d'
echo "Full report: $OUT/report.md"
