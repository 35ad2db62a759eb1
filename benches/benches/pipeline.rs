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
use std::net::Ipv4Addr;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use engine::pipeline::{CsumMode, Pipeline};
use engine::worker::Worker;
use pmd::BURST;
use traffic::template::UdpTemplate;
use wire::checks::{compute, verdicts, OuterMode, Status};
use wire::csum::reference;
use wire::ZeroPolicy;
use wire::{
    ethertype, ip_protocol, udp_port, walk, walk_into, EthernetRepr, Ipv4Repr, Offsets, UdpRepr, VxlanRepr, WalkConfig,
};

const VXLAN_FRAME_LEN: usize = 110;

/// The 64-byte IPv4/UDP template (60 bytes of headers and payload would be the minimum; 64
/// is the size the lab and the design guide quote).
fn udp64() -> Vec<u8> {
    UdpTemplate { size: 64, ..UdpTemplate::default() }.build()
}

fn ipv4(src: [u8; 4], dst: [u8; 4], protocol: u8, payload_len: usize) -> [u8; 20] {
    let mut header = [0u8; 20];
    Ipv4Repr {
        src_addr: Ipv4Addr::from(src),
        dst_addr: Ipv4Addr::from(dst),
        protocol,
        ttl: 64,
        tos: 0,
        ident: 1,
        dont_fragment: true,
        more_fragments: false,
        fragment_offset: 0,
        payload_len,
    }
    .emit(&mut header)
    .unwrap();
    header
}

fn ethernet(src: [u8; 6], dst: [u8; 6], ethertype: u16) -> [u8; 14] {
    let mut header = [0u8; 14];
    EthernetRepr { dst_addr: dst, src_addr: src, ethertype }.emit(&mut header).unwrap();
    header
}

/// eth / ipv4 / udp 4789 / vxlan / eth / ipv4 / tcp / 6 bytes: 110 bytes, every checksum
/// right (the outer UDP one included).
fn vxlan110() -> Vec<u8> {
    let payload = b"hello!";
    let mut tcp = [0u8; 20];
    tcp[0..2].copy_from_slice(&1024u16.to_be_bytes());
    tcp[2..4].copy_from_slice(&80u16.to_be_bytes());
    tcp[4..8].copy_from_slice(&1u32.to_be_bytes());
    tcp[12] = 0x50; // data offset 5
    tcp[13] = 0x18; // PSH ACK
    tcp[14..16].copy_from_slice(&0xffffu16.to_be_bytes());
    let inner_ip_len = tcp.len() + payload.len();
    let inner_len = 14 + 20 + inner_ip_len;
    let udp_payload_len = 8 + inner_len;

    let mut frame = Vec::with_capacity(VXLAN_FRAME_LEN);
    frame.extend_from_slice(&ethernet([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 1, 0], ethertype::IPV4));
    frame.extend_from_slice(&ipv4([198, 18, 0, 1], [198, 19, 0, 1], ip_protocol::UDP, 8 + udp_payload_len));
    let mut udp = [0u8; 8];
    UdpRepr { src_port: 49152, dst_port: udp_port::VXLAN, payload_len: udp_payload_len }.emit(&mut udp).unwrap();
    frame.extend_from_slice(&udp);
    let mut vxlan = [0u8; 8];
    VxlanRepr { vni: 42 }.emit(&mut vxlan).unwrap();
    frame.extend_from_slice(&vxlan);
    frame.extend_from_slice(&ethernet([2, 0, 0, 0, 0, 0x11], [2, 0, 0, 0, 0, 0x12], ethertype::IPV4));
    frame.extend_from_slice(&ipv4([10, 0, 0, 1], [10, 0, 0, 2], ip_protocol::TCP, inner_ip_len));
    frame.extend_from_slice(&tcp);
    frame.extend_from_slice(payload);
    assert_eq!(frame.len(), VXLAN_FRAME_LEN);

    // TCP, then the outer UDP checksum by LCO (with the inner one in place, exact); the tests
    // in `pipeline::lco_tests` hold `compute` to a sum over every byte.
    let offsets = walk(&frame, &WalkConfig::default()).unwrap();
    compute(&mut frame, &offsets, OuterMode::Lco, &ZeroPolicy::default());
    // The outer UDP checksum checked by the reference loop: pseudo-header + datagram = 0xffff.
    let mut pseudo = frame[26..34].to_vec();
    pseudo.extend_from_slice(&[0, ip_protocol::UDP]);
    pseudo.extend_from_slice(&((8 + udp_payload_len) as u16).to_be_bytes());
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
