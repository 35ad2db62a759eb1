//! What the pipeline's parse-and-checksum stage costs per frame, and what it takes off a
//! worker's forwarding rate.
//!
//! Two frames: the 64-byte IPv4/UDP template, and a 110-byte VXLAN frame (outer Ethernet /
//! IPv4 / UDP 4789 / VXLAN, inner Ethernet / IPv4 / TCP, 6 bytes of payload), every checksum
//! right. Each group is one comparison, its members run back to back, with its baseline in
//! the same run (these machines are shared and noisy: keep the ratios, not the nanoseconds):
//!
//! - `pipeline/<frame>`, ns per frame: `walk_verify` (`walk_into` + `checks::verdicts`, the
//!   `--csum verify` stage), `walk` alone, for VXLAN also `compute_fix` and `compute_lco`
//!   (`checks::compute` on a walked frame), against `baseline_sum16`: one plain word-by-word
//!   Internet checksum (`csum::reference::sum16`) over all of the frame's bytes.
//! - `pipeline/worker_<frame>`, frames per second on one core: a worker forwarding between two
//!   `mem` ports (`Action::Fwd`) with `Pipeline { csum: Verify }` and `Pipeline { csum: Off }`
//!   (walk only), against `raw_io`: the same worker with no pipeline (as in `io_forward`).
//!
//! `cargo bench -p benches --bench pipeline -- --warm-up-time 1 --measurement-time 3`

// criterion_group! defines a public function that cannot carry a doc comment.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use engine::pipeline::{CsumMode, Pipeline};
use engine::worker::Worker;
use pmd::BURST;
use wire::checks::{compute, verdicts, OuterMode, Status};
use wire::csum::reference;
use wire::ZeroPolicy;
use wire::{ip_protocol, walk, walk_into, Offsets, WalkConfig};

/// The 64-byte IPv4/UDP frame of the generator's template (60 bytes of headers and payload
/// would be the minimum; 64 is the size the lab and the design guide quote).
fn udp64() -> Vec<u8> {
    testkit::frames::generator_udp(64)
}

/// eth / ipv4 / udp 4789 / vxlan / eth / ipv4 / tcp / 6 bytes: 110 bytes, every checksum
/// right (the outer UDP one included), checked once more here by the walker and by the
/// reference loop, so the benchmark never measures a frame the pipeline would refuse.
fn vxlan110() -> Vec<u8> {
    let frame = testkit::frames::vxlan_tcp_frame();
    let offsets = walk(&frame, &WalkConfig::default()).unwrap();
    let mut fixed = frame.clone();
    compute(&mut fixed, &offsets, OuterMode::Lco, &ZeroPolicy::default());
    assert_eq!(fixed, frame, "LCO computes the checksums the frame has");
    // The outer UDP checksum by the reference loop: pseudo-header + datagram = 0xffff.
    let mut pseudo = frame[26..34].to_vec();
    pseudo.extend_from_slice(&[0, ip_protocol::UDP]);
    pseudo.extend_from_slice(&((frame.len() - 34) as u16).to_be_bytes());
    pseudo.extend_from_slice(&frame[34..]);
    assert_eq!(reference::sum16(&pseudo), 0xffff, "outer UDP checksum");
    frame
}

/// Every checksum the frame has is right.
fn assert_all_good(name: &str, frame: &[u8]) {
    let offsets = walk(frame, &WalkConfig::default()).unwrap();
    let statuses = verdicts(frame, &offsets).0;
    assert!(statuses.iter().all(|s| matches!(s, Status::Good | Status::Absent)), "{name}: {statuses:?}");
}

/// `walk_into` + `verdicts` and its parts, per frame, against one full reference sum.
fn per_frame(c: &mut Criterion, name: &str, frame: &[u8], with_compute: bool) {
    assert_all_good(name, frame);
    let config = WalkConfig::default();
    let policy = ZeroPolicy::default();
    let mut offsets = Offsets::default();
    let mut group = c.benchmark_group(format!("pipeline/{name}"));
    group.throughput(Throughput::Elements(1));

    group.bench_function("walk_verify", |b| {
        b.iter(|| {
            walk_into(black_box(frame), &config, &mut offsets).unwrap();
            verdicts(black_box(frame), &offsets)
        })
    });
    group.bench_function("walk", |b| {
        b.iter(|| {
            walk_into(black_box(frame), &config, &mut offsets).unwrap();
            offsets.layers.len()
        })
    });
    if with_compute {
        walk_into(frame, &config, &mut offsets).unwrap();
        let mut scratch = frame.to_vec();
        // On a frame that is already right, compute rewrites every field with its own value.
        group.bench_function("compute_fix", |b| {
            b.iter(|| compute(black_box(&mut scratch), &offsets, OuterMode::Fix, &policy))
        });
        group.bench_function("compute_lco", |b| {
            b.iter(|| compute(black_box(&mut scratch), &offsets, OuterMode::Lco, &policy))
        });
        assert_eq!(scratch, frame, "compute changed a correct frame");
    }
    group.bench_function("baseline_sum16", |b| b.iter(|| reference::sum16(black_box(frame))));
    group.finish();
}

/// A worker forwarding between two mem ports, each preloaded with copies of `frame`.
fn mem_worker(frame: &[u8], pipeline: Option<Pipeline>) -> Worker {
    let mut worker = benches::mem_worker(frame, pipeline);
    benches::prime(&mut worker);
    worker
}

fn worker(c: &mut Criterion, name: &str, frame: &[u8]) {
    let mut group = c.benchmark_group(format!("pipeline/worker_{name}"));
    // One poll moves a burst from each of the two ports.
    group.throughput(Throughput::Elements(2 * BURST as u64));
    let cases = [
        ("csum_verify", Some(Pipeline { csum: CsumMode::Verify, ..Pipeline::default() })),
        ("csum_off", Some(Pipeline { csum: CsumMode::Off, ..Pipeline::default() })),
        ("raw_io", None),
    ];
    for (case, pipeline) in cases {
        let mut worker = mem_worker(frame, pipeline);
        group.bench_function(case, |b| {
            b.iter(|| {
                let moved = worker.poll_once();
                debug_assert_eq!(moved, 2 * BURST);
                moved
            })
        });
    }
    group.finish();
}

fn pipeline(c: &mut Criterion) {
    let (udp, vxlan) = (udp64(), vxlan110());
    per_frame(c, "udp64", &udp, false);
    per_frame(c, "vxlan110", &vxlan, true);
    worker(c, "udp64", &udp);
    worker(c, "vxlan110", &vxlan);
}

criterion_group!(benches, pipeline);
criterion_main!(benches);
