//! Quick side-by-side of classifier designs and tunings on generated ClassBench-style sets:
//! build time, memory, tree shape, and lookup ns per packet (one core, a 64k-packet trace
//! of packets built to hit random rules plus random ones). A tuning aid; the figures in
//! BENCHMARKS.md come from the criterion bench `classify`.
//!
//! `hot` is the same lookups on the trace's first 16 packets over and over: everything they
//! touch stays in L1/L2 and the branch predictor learns their paths, so it is the lookup's
//! work alone, without cache misses or mispredictions.
//!
//! `cargo run --release -p rules --example candidates -- [N...] [VARIANT...]` (variants by
//! name, e.g. `default bits12`; all when none is given).

use std::hint::black_box;
use std::time::Instant;

use rules::fast::{Fast, Params, TreeSplit};
use rules::gen::{self, Style, TraceKind};
use rules::{Classifier, PacketKey};

/// The fastest of several short runs: on a shared machine, the minimum is the run least
/// disturbed by others.
fn min_ns(trace_len: usize, mut run: impl FnMut()) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..9 {
        let start = Instant::now();
        let mut rounds = 0;
        while start.elapsed().as_secs_f64() < 0.03 {
            run();
            rounds += 1;
        }
        best = best.min(start.elapsed().as_secs_f64() * 1e9 / (rounds * trace_len) as f64);
    }
    best
}

fn ns_per_lookup(classifier: &dyn Classifier, trace: &[PacketKey]) -> f64 {
    min_ns(trace.len(), || {
        let mut sink = 0usize;
        for packet in trace {
            sink = sink.wrapping_add(classifier.classify(black_box(packet)).unwrap_or(0));
        }
        black_box(sink);
    })
}

fn ns_per_burst_lookup(classifier: &dyn Classifier, trace: &[PacketKey]) -> f64 {
    let mut out = vec![None; 64];
    min_ns(trace.len(), || {
        for burst in trace.chunks(64) {
            classifier.classify_burst(black_box(burst), &mut out);
            black_box(&out);
        }
    })
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let sizes: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
    let sizes = if sizes.is_empty() { vec![10, 1000, 10000] } else { sizes };
    let wanted: Vec<&String> = args.iter().filter(|a| a.parse::<usize>().is_err()).collect();
    let variants: Vec<(&str, Params)> = vec![
        ("default", Params::default()),
        ("one-tree", Params { wide_below: 0, ..Params::default() }),
        ("two-src", Params { split: TreeSplit::Src, ..Params::default() }),
        ("two-dst", Params { split: TreeSplit::Dst, ..Params::default() }),
        ("two-either", Params { split: TreeSplit::Either, ..Params::default() }),
        ("wide<8", Params { wide_below: 8, ..Params::default() }),
        ("wide<16", Params { wide_below: 16, ..Params::default() }),
        ("bits4", Params { max_cut_bits: 4, ..Params::default() }),
        ("bits12", Params { max_cut_bits: 12, ..Params::default() }),
        ("bits16", Params { max_cut_bits: 16, ..Params::default() }),
        ("bits8", Params { max_cut_bits: 8, ..Params::default() }),
        ("b8s4", Params { max_cut_bits: 8, space_factor: 4.0, ..Params::default() }),
        ("leaf4", Params { leaf_rules: 4, ..Params::default() }),
        ("leaf16", Params { leaf_rules: 16, ..Params::default() }),
        ("space2", Params { space_factor: 2.0, ..Params::default() }),
        ("space8", Params { space_factor: 8.0, ..Params::default() }),
    ];
    for style in Style::ALL {
        for &n in &sizes {
            let set = gen::rule_set(style, n, 1);
            let trace = gen::trace(&set, TraceKind::Mixed, 1 << 16, 2);
            let hot: Vec<PacketKey> = trace.iter().take(16).cycle().take(1 << 12).copied().collect();
            for (name, params) in
                variants.iter().filter(|(name, _)| wanted.is_empty() || wanted.iter().any(|w| w == name))
            {
                let start = Instant::now();
                let fast = Fast::with_params(&set, *params).expect("the fast classifier holds the set");
                let build = start.elapsed();
                let stats = fast.stats();
                let mut sum = [0usize; 6];
                for packet in &trace {
                    let c = fast.lookup_cost(packet);
                    for (total, x) in sum.iter_mut().zip([c.trees, c.levels, c.chain, c.tests, c.rule_checks, c.lines])
                    {
                        *total += x;
                    }
                }
                let per = |x: usize| x as f64 / trace.len() as f64;
                println!(
                    "{:4} {:6} fast/{:9} build {:6.1} ms mem {:6} KiB trees {} cuts {:5} entries {:6} depth {:2} | walks {:.1} levels {:4.1} chain {:4.1} tests {:4.1} rule {:3.1} lines {:4.1} | {:6.1} ns burst {:6.1} ns hot {:5.1} ns",
                    style.name(),
                    n,
                    name,
                    build.as_secs_f64() * 1e3,
                    fast.memory_bytes() / 1024,
                    stats.trees,
                    stats.cuts,
                    stats.entries,
                    stats.max_depth,
                    per(sum[0]),
                    per(sum[1]),
                    per(sum[2]),
                    per(sum[3]),
                    per(sum[4]),
                    per(sum[5]),
                    ns_per_lookup(&fast, &trace),
                    ns_per_burst_lookup(&fast, &trace),
                    ns_per_lookup(&fast, &hot)
                );
            }
            let start = Instant::now();
            let tss = rules::tss::Tss::new(&set);
            println!(
                "{:4} {:6} tss            build {:8.1} ms  tables {:?}  {:6.1} ns",
                style.name(),
                n,
                start.elapsed().as_secs_f64() * 1e3,
                tss.tables(),
                ns_per_lookup(&tss, &trace)
            );
            if n <= 1000 {
                println!(
                    "{:4} {:6} linear {:6.1} ns",
                    style.name(),
                    n,
                    ns_per_lookup(&rules::Linear::new(&set), &trace)
                );
            }
        }
    }
}
