//! Criterion benchmarks across the crates live in `benches/`; `benches/veth-compare.sh` is
//! the head-to-head on veth against dpdk-testpmd and trafgen.
