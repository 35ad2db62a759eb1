//! Rule lookup: the fast classifier (`rules::fast`, one packet at a time and in bursts of
//! 64) against the linear reference and tuple space search, measured in the same run, on
//! generated ClassBench-style sets (`rules::gen`: acl, fw, ipc) of 1 to 10,000 rules.
//! Throughput is in packets (criterion's "elements"), so criterion prints Mpps directly.
//!
//! The trace is `TraceKind::Mixed`: three quarters packets built to fall in a uniformly
//! picked rule, one quarter random headers; 4096 packets, so the structures are walked at
//! many places (uniform picks are the cache's worst case; real traffic is more skewed).
//! The linear reference at 10k rules gets a 256-packet slice of the same trace and 10
//! samples (it is slow: that is the point). `last/*`: every packet built for the last rule.
//!
//! Build time at 10k rules is a bench of its own; the structure's memory and shape are
//! printed to stderr at the start.

// criterion_group! defines a public function that cannot carry a doc comment.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rules::fast::{self, Fast};
use rules::gen::{self, Style, TraceKind};
use rules::tss::Tss;
use rules::{Classifier, Linear, PacketKey};

const SIZES: [usize; 5] = [1, 10, 100, 1000, 10_000];
const TRACE: usize = 4096;
const BURST: usize = 64;

fn one_by_one(classifier: &dyn Classifier, trace: &[PacketKey]) -> usize {
    let mut sum = 0usize;
    for packet in trace {
        sum = sum.wrapping_add(classifier.classify(black_box(packet)).unwrap_or(usize::MAX));
    }
    sum
}

fn bursts(classifier: &Fast, trace: &[PacketKey], out: &mut [Option<usize>]) -> usize {
    let mut sum = 0usize;
    for burst in trace.chunks(BURST) {
        classifier.classify_burst(black_box(burst), out);
        sum = sum.wrapping_add(out[0].unwrap_or(usize::MAX));
    }
    sum
}

fn lookups(c: &mut Criterion) {
    for style in Style::ALL {
        for n in SIZES {
            let set = gen::rule_set(style, n, 1);
            let trace = gen::trace(&set, TraceKind::Mixed, TRACE, 2);
            let fast = fast::build(&set).expect("the fast classifier holds the set");
            let tss = Tss::new(&set);
            let linear = Linear::new(&set);
            let stats = fast.stats();
            eprintln!(
                "classify {}/{n}: fast {} KiB, {} trees, {} cuts, {} leaf entries, depth {}; tss {:?} tables",
                style.name(),
                fast.memory_bytes() / 1024,
                stats.trees,
                stats.cuts,
                stats.entries,
                stats.max_depth,
                tss.tables()
            );
            let mut group = c.benchmark_group(format!("classify/{}/{n}", style.name()));
            group.throughput(Throughput::Elements(trace.len() as u64));
            group.bench_function("fast", |b| b.iter(|| one_by_one(&fast, &trace)));
            let mut out = vec![None; BURST];
            group.bench_function("fast-burst", |b| b.iter(|| bursts(&fast, &trace, &mut out)));
            group.bench_function("tss", |b| b.iter(|| one_by_one(&tss, &trace)));
            let linear_trace = if n >= 10_000 { &trace[..256] } else { &trace[..] };
            if n >= 10_000 {
                group.sample_size(10);
            }
            group.throughput(Throughput::Elements(linear_trace.len() as u64));
            group.bench_function("linear", |b| b.iter(|| one_by_one(&linear, linear_trace)));
            group.finish();
        }
    }
}

fn last_rule(c: &mut Criterion) {
    let n = 10_000;
    for style in Style::ALL {
        let set = gen::rule_set(style, n, 1);
        let trace = gen::trace(&set, TraceKind::LastRule, 256, 3);
        let fast = fast::build(&set).expect("the fast classifier holds the set");
        let linear = Linear::new(&set);
        let mut group = c.benchmark_group(format!("last/{}/{n}", style.name()));
        group.sample_size(10);
        group.throughput(Throughput::Elements(trace.len() as u64));
        group.bench_function("fast", |b| b.iter(|| one_by_one(&fast, &trace)));
        group.bench_function("linear", |b| b.iter(|| one_by_one(&linear, &trace)));
        group.finish();
    }
}

fn build(c: &mut Criterion) {
    let mut group = c.benchmark_group("build/10000");
    group.sample_size(10);
    for style in Style::ALL {
        let set = gen::rule_set(style, 10_000, 1);
        group.bench_with_input(BenchmarkId::new("fast", style.name()), &set, |b, set| {
            b.iter(|| fast::build(set).expect("fits"))
        });
        group.bench_with_input(BenchmarkId::new("tss", style.name()), &set, |b, set| b.iter(|| Tss::new(set)));
    }
    group.finish();
}

criterion_group!(benches, lookups, last_rule, build);
criterion_main!(benches);
