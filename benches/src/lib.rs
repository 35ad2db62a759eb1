//! Criterion benchmarks across the crates live in `benches/`; `benches/veth-compare.sh` is
//! the head-to-head on veth against dpdk-testpmd and trafgen. This library holds what
//! several of them set up the same way.

use std::sync::Arc;

use engine::engines::checked::Checked;
use engine::engines::io::Io;
use engine::engines::ForwardingEngine;
use engine::pipeline::Pipeline;
use engine::stats::WorkerStats;
use engine::worker::{Action, PortQueue, Worker};
use pmd::mem::MemPort;
use pmd::{Umems, BURST};
use umem::UmemConfig;

/// Frames preloaded into each mem port of [`mem_worker`].
pub const PRELOAD: usize = 512;

/// A worker forwarding (`--action fwd`) between two mem ports, each preloaded with
/// [`PRELOAD`] copies of `frame`; with `pipeline` the `checked` engine, without it `io`.
/// Call [`prime`] before measuring.
pub fn mem_worker(frame: &[u8], pipeline: Option<Pipeline>) -> Worker {
    mem_worker_with(&[frame.to_vec()], |_| match pipeline {
        Some(pipeline) => Box::new(Checked::new(Action::Fwd, pipeline)),
        None => Box::new(Io::new(Action::Fwd)),
    })
}

/// A worker with the engine `engine` builds for its queues' ports (queue 0 is port 0,
/// queue 1 port 1, each forwarding to the other), each port preloaded with [`PRELOAD`]
/// frames taken from `frames` in turn.
pub fn mem_worker_with(frames: &[Vec<u8>], engine: impl FnOnce(&[usize]) -> Box<dyn ForwardingEngine>) -> Worker {
    let mut umems =
        Umems::new(UmemConfig { frame_size: 2048, frame_count: 8192, hugepages: false, numa_node: None }).unwrap();
    let mut queues = Vec::new();
    for index in 0..2 {
        let slot = &mut umems.slots[0];
        let mut port = MemPort::new(slot.umem.clone(), 4096);
        for frame in frames.iter().cycle().take(PRELOAD) {
            assert!(port.inject(&mut slot.pool, frame));
        }
        queues.push(PortQueue { port: Box::new(port), slot: 0, fwd_to: (index + 1) % 2 });
    }
    let stats = Arc::new(WorkerStats::new(None, vec![0, 1]));
    let engine = engine(&stats.queue_ports);
    Worker::new(queues, umems, engine, stats)
}

/// Polls a few rounds and checks that every frame came out again: a worker that drops would
/// drain its ports, and the numbers would mean nothing.
pub fn prime(worker: &mut Worker) {
    for _ in 0..4 * PRELOAD / BURST {
        assert_eq!(worker.poll_once(), 2 * BURST);
    }
}

/// Rule `i` of an ACL that never matches the generator's flow (198.18.0.1:1024 ->
/// 198.19.0.1:9 UDP): nested destination prefixes, port ranges, protocols, by `i % 4`.
/// `actions` ends the line (`action drop`).
pub fn acl_miss_line(i: usize, actions: &str) -> String {
    let (a, b) = ((i >> 8) & 0xff, i & 0xff);
    match i % 4 {
        0 => format!("ip_proto udp dst_ip 10.{a}.{b}.0/24 dst_port {} {actions}\n", 1000 + i % 5000),
        1 => format!("ip_proto tcp src_ip 172.16.{b}.0/24 dst_port 1024-65535 {actions}\n"),
        2 => format!("ip_proto udp src_ip 192.168.{a}.{b}/32 dst_ip 198.19.0.0/16 {actions}\n"),
        _ => format!("ip_proto udp dst_ip 198.19.{}.0/24 src_port 2000-2999 {actions}\n", 1 + b % 254),
    }
}

/// The rule that matches the generator's flow, with `actions`.
pub fn acl_hit_line(actions: &str) -> String {
    format!("ip_proto udp dst_ip 198.19.0.1/32 dst_port 9 {actions}\n")
}

/// N-1 rules that never match the generator's flow ([`acl_miss_line`]), then one that
/// does (`action pass`): the 2016 study's "the last one matching".
pub fn acl_rules_text(n: usize) -> String {
    let mut text: String = (0..n.saturating_sub(1)).map(|i| acl_miss_line(i, "action drop")).collect();
    text.push_str(&acl_hit_line("action pass"));
    text
}
