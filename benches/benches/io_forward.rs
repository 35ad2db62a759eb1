//! The budget everything else spends: how fast a worker moves frames between two in-memory
//! ports, with no kernel in the way (DPDK's io forwarding over a ring PMD).
//!
//! Baseline, measured in the same run: moving the same frame tokens between two plain
//! `VecDeque`s in bursts, with no port trait, no pools and no counters. The ratio says what
//! the worker's structure costs on top of moving the tokens.

// criterion_group! defines a public function that cannot carry a doc comment.
#![allow(missing_docs)]

use std::collections::VecDeque;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use engine::engines::io::Io;
use engine::stats::WorkerStats;
use engine::worker::{Action, PortQueue, Worker};
use pmd::mem::MemPort;
use pmd::{Umems, BURST};
use umem::{Frame, Umem, UmemConfig};

const PRELOAD: usize = 512;

/// A worker polling `ports` mem ports, each holding PRELOAD frames.
fn mem_worker(ports: usize, action: Action) -> Worker {
    let mut umems =
        Umems::new(UmemConfig { frame_size: 2048, frame_count: 8192, hugepages: false, numa_node: None }).unwrap();
    let frame = testkit::frames::generator_udp(60);
    let mut queues = Vec::new();
    for index in 0..ports {
        let slot = &mut umems.slots[0];
        let mut port = MemPort::new(slot.umem.clone(), 4096);
        for _ in 0..PRELOAD {
            assert!(port.inject(&mut slot.pool, &frame));
        }
        queues.push(PortQueue { port: Box::new(port), slot: 0, fwd_to: (index + 1) % ports });
    }
    let stats = Arc::new(WorkerStats::new(None, (0..ports).collect()));
    Worker::new(queues, umems, Box::new(Io::new(action)), stats)
}

fn io_forward(c: &mut Criterion) {
    let mut group = c.benchmark_group("io_forward");
    // One poll moves a burst from each of the two ports.
    group.throughput(Throughput::Elements(2 * BURST as u64));

    let mut worker = mem_worker(2, Action::Fwd);
    group.bench_function("worker_fwd_mem_to_mem", |b| {
        b.iter(|| {
            let moved = worker.poll_once();
            debug_assert_eq!(moved, 2 * BURST);
            moved
        })
    });

    let mut worker = mem_worker(2, Action::Reflect);
    group.bench_function("worker_reflect_macswap", |b| b.iter(|| worker.poll_once()));

    // Baseline: the same tokens between two VecDeques, burst by burst.
    let (_umem, frames) =
        Umem::create(&UmemConfig { frame_size: 2048, frame_count: 1024, hugepages: false, numa_node: None }).unwrap();
    let mut frames = frames.into_iter();
    let mut a: VecDeque<Frame> = frames.by_ref().take(PRELOAD).collect();
    let mut b: VecDeque<Frame> = frames.take(PRELOAD).collect();
    let mut burst: Vec<Frame> = Vec::with_capacity(BURST);
    group.bench_function("baseline_vecdeque_moves", |bench| {
        bench.iter(|| {
            burst.extend(a.drain(..BURST));
            b.extend(burst.drain(..));
            burst.extend(b.drain(..BURST));
            a.extend(burst.drain(..));
        })
    });
    group.finish();
}

criterion_group!(benches, io_forward);
criterion_main!(benches);
