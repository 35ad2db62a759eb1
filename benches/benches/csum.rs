//! The Internet checksum's fast path in GB/s, against the plain word-by-word loop
//! (`csum::reference::sum16`, RFC 1071 §4.1) measured in the same run, at the sizes the
//! dataplane sums: an IPv4 header (20), an IPv6 header (40), the smallest frame (64), the
//! IPv4 minimum reassembly size (576), a full Ethernet MTU (1500) and a jumbo frame (9000).
//!
//! Three functions per size: `fast` (`Sum::add_bytes`, which picks AVX2 at run time when the
//! CPU has it and a dispatch-free loop below `kernel::SHORT` bytes), `scalar` (the portable kernel alone)
//! and `reference`. The ratio fast / reference is the figure to keep; the machines are shared.

// criterion_group! defines a public function that cannot carry a doc comment.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use wire::csum::{kernel, reference, Sum};

const SIZES: [usize; 6] = [20, 40, 64, 576, 1500, 9000];

fn csum(c: &mut Criterion) {
    eprintln!("csum: long buffers use the {} kernel", kernel::name());
    for size in SIZES {
        // Not all zeros or all ones: real-looking words, so carries happen as they would.
        let bytes: Vec<u8> = (0..size).map(|i| (i as u8).wrapping_mul(151).wrapping_add(17)).collect();
        let mut group = c.benchmark_group(format!("csum/{size}"));
        // Decimal, so criterion prints GB/s (1e9 bytes), the unit the targets are stated in.
        group.throughput(Throughput::BytesDecimal(size as u64));
        group.bench_with_input(BenchmarkId::from_parameter("fast"), &bytes, |b, bytes| {
            b.iter(|| Sum::new().add_bytes(black_box(bytes)).fold())
        });
        group.bench_with_input(BenchmarkId::from_parameter("scalar"), &bytes, |b, bytes| {
            b.iter(|| kernel::scalar_sum16(black_box(bytes)))
        });
        group.bench_with_input(BenchmarkId::from_parameter("reference"), &bytes, |b, bytes| {
            b.iter(|| reference::sum16(black_box(bytes)))
        });
        group.finish();
    }
}

criterion_group!(benches, csum);
criterion_main!(benches);
