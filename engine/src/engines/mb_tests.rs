//! Multi-buffer packets (several UMEM chunks, as an `mb=1` AF_XDP port hands them over)
//! through each engine: forwarded whole, walked and checked on their linear copy, dropped
//! under a named reason where the engine cannot take them, and every chunk back in the
//! pool at the end.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use pmd::Umems;
use testkit::frames::{Checksum, GeneratorFrame};
use umem::UmemConfig;

use super::checked::Checked;
use super::classified::Classified;
use super::io::Io;
use super::tests::Wire;
use super::{Action, ForwardingEngine};
use crate::pipeline::classify::ClassifierKind;
use crate::pipeline::{CsumMode, Disposition, Pipeline, Rewrite, RuleTable, SharedRules};
use crate::queues::PortQueue;
use crate::stats::{DropReason, Snapshot, WorkerStats};
use crate::worker::Worker;

/// Bytes per chunk, as the kernel fills 2048-byte chunks after its 256 bytes of headroom.
const PIECE: usize = 1792;

/// Runs `frames` (each cut into chunks of `PIECE` bytes) through a worker with `engine`
/// from port 0; returns the drops by name and what each port sent.
fn run(
    frames: &[Vec<u8>],
    engine: impl FnOnce(&[usize]) -> Box<dyn ForwardingEngine>,
) -> (BTreeMap<String, u64>, [Vec<Vec<u8>>; 2], Snapshot) {
    let mut umems =
        Umems::new(UmemConfig { frame_size: 2048, frame_count: 512, hugepages: false, numa_node: None }).unwrap();
    let slot = &mut umems.slots[0];
    slot.pool.enable_chains(512);
    let mut incoming = VecDeque::new();
    for bytes in frames {
        let mut pieces = bytes.chunks(PIECE);
        let mut head = slot.pool.get().unwrap();
        assert!(slot.umem.write(&mut head, pieces.next().unwrap()));
        for piece in pieces {
            let mut frame = slot.pool.get().unwrap();
            assert!(slot.umem.write(&mut frame, piece));
            slot.pool.append(&mut head, frame).unwrap();
        }
        incoming.push_back(head);
    }
    let sent = [Arc::new(Mutex::new(Vec::new())), Arc::new(Mutex::new(Vec::new()))];
    let queues = (0..2)
        .map(|port| {
            let incoming = if port == 0 { std::mem::take(&mut incoming) } else { VecDeque::new() };
            let wire = Wire { umem: slot.umem.clone(), incoming, sent: sent[port].clone(), offload: false };
            PortQueue { port: Box::new(wire), slot: 0, fwd_to: 1 - port }
        })
        .collect();
    let stats = Arc::new(WorkerStats::new(None, vec![0, 1]));
    let engine = engine(&stats.queue_ports);
    let mut worker = Worker::new(queues, umems, engine, stats.clone());
    while worker.poll_once() > 0 {}
    let snap = Snapshot::take(&[stats], 2);
    assert_eq!(snap.rx(), frames.len() as u64);
    assert_eq!(snap.rx(), snap.tx() + snap.dropped(), "every packet sent or dropped");
    let report = worker.frame_report();
    assert_eq!(report.free, report.total, "every chunk of every packet back in the pool");
    let drops = DropReason::all().filter(|r| snap.drops[r.index()] != 0).map(|r| (r.name(), snap.drops[r.index()]));
    let sent = sent.map(|port| std::mem::take(&mut *port.lock().unwrap()));
    (drops.collect(), sent, snap)
}

fn jumbo(size: usize, dst_port: u16) -> GeneratorFrame {
    GeneratorFrame { size, dst_port, ..GeneratorFrame::udp() }
}

fn drops(list: &[(&str, u64)]) -> BTreeMap<String, u64> {
    list.iter().map(|(name, n)| (name.to_string(), *n)).collect()
}

#[test]
fn io_forwards_and_reflects_multi_buffer_packets_whole() {
    let frames = vec![jumbo(9000, 9).build(), jumbo(60, 9).build(), jumbo(4000, 9).build()];
    let (dropped, sent, snap) = run(&frames, |_| Box::new(Io::new(Action::Fwd)));
    assert_eq!(dropped, BTreeMap::new());
    assert_eq!(sent, [vec![], frames.clone()]);
    assert_eq!((snap.ports[0].rx_mb, snap.ports[1].tx_mb), (2, 2), "two of three packets are multi-buffer");
    assert_eq!(snap.ports[0].rx_bytes, 13060);
    assert_eq!(snap.ports[1].tx_bytes, 13060);

    let (_, sent, _) = run(&frames, |_| Box::new(Io::new(Action::Reflect)));
    for (got, want) in sent[0].iter().zip(&frames) {
        assert_eq!((&got[..6], &got[6..12], &got[12..]), (&want[6..12], &want[..6], &want[12..]));
    }
}

#[test]
fn checked_verifies_and_fixes_the_checksum_over_every_chunk() {
    let good = jumbo(9000, 9).build();
    let bad = GeneratorFrame { bad: Some(Checksum::OuterL4), ..jumbo(9000, 9) }.build();
    // The bad byte is past the head chunk's headers: only a sum over every chunk sees it.
    let mut bad_tail = good.clone();
    bad_tail[8000] ^= 0x55;
    let verify = Pipeline { csum: CsumMode::Verify, ..Pipeline::default() };
    let frames = vec![good.clone(), bad.clone(), bad_tail.clone()];
    let (dropped, sent, _) = run(&frames, |_| Box::new(Checked::new(Action::Fwd, verify)));
    assert_eq!(dropped, drops(&[("csum_outer_l4", 2)]));
    assert_eq!(sent[1], vec![good.clone()]);

    // fix: the checksum in the head chunk is rewritten from the whole payload.
    let fix = Pipeline { csum: CsumMode::Fix, ..Pipeline::default() };
    let (dropped, sent, _) = run(&[bad], |_| Box::new(Checked::new(Action::Fwd, fix.clone())));
    assert_eq!(dropped, BTreeMap::new());
    assert_eq!(sent[1], vec![good.clone()]);
    let (_, sent, _) = run(std::slice::from_ref(&bad_tail), |_| Box::new(Checked::new(Action::Fwd, fix)));
    let verdicts = wire::checks::verdicts(&sent[1][0], &wire::walk(&sent[1][0], &Default::default()).unwrap());
    assert_eq!(verdicts.get(wire::checks::CsumLayer::OuterL4), wire::checks::Status::Good);

    // A rewrite is not done on a multi-buffer packet: counted, not sent half-done.
    let ttl = Pipeline { rewrite: Some(Rewrite::TtlDec), ..Pipeline::default() };
    let (dropped, sent, _) = run(&[good.clone(), jumbo(60, 9).build()], |_| Box::new(Checked::new(Action::Fwd, ttl)));
    assert_eq!(dropped, drops(&[("mb_unparsed", 1)]));
    assert_eq!(sent[1].len(), 1);
}

#[test]
fn classified_matches_multi_buffer_packets_on_their_linear_copy() {
    let text = "prio 1 protocol ip ip_proto udp dst_port 53 action drop\nprio 2 protocol ip ip_proto udp action pass\n";
    let set = rules::parse("t.rules", text).unwrap();
    let names: Vec<String> = (0..2).map(|i| format!("dut{i}")).collect();
    let table = RuleTable::build(set, "t.rules", &names, 1, Disposition::Drop, ClassifierKind::Fast).unwrap();
    let shared = Arc::new(SharedRules::new(table));
    let frames = vec![jumbo(9000, 53).build(), jumbo(4000, 80).build(), jumbo(1500, 80).build()];
    let verify = Pipeline { csum: CsumMode::Verify, ..Pipeline::default() };
    let held = shared.clone();
    let (dropped, sent, _) =
        run(&frames, |ports| Box::new(Classified::new(Action::Fwd, verify.clone(), held, 0, ports)));
    assert_eq!(dropped, drops(&[("rule", 1)]));
    assert_eq!(sent[1], frames[1..].to_vec());
    assert_eq!(shared.current().hits().0, vec![1, 2]);

    // --csum fix would write the packet in place: not for multi-buffer packets.
    let fix = Pipeline { csum: CsumMode::Fix, ..Pipeline::default() };
    let (dropped, sent, _) = run(&frames, |ports| Box::new(Classified::new(Action::Fwd, fix, shared, 0, ports)));
    // (The 1500-byte frame is one chunk: fixed and sent as ever.)
    assert_eq!(dropped, drops(&[("rule", 1), ("mb_unparsed", 1)]));
    assert_eq!(sent[1], vec![frames[2].clone()]);
}

#[test]
fn action_lists_count_multi_buffer_packets_whole_and_refuse_to_copy_them() {
    let verify = Pipeline { csum: CsumMode::Verify, ..Pipeline::default() };
    let names: Vec<String> = (0..2).map(|i| format!("dut{i}")).collect();
    let classified = |text: &str| {
        let set = rules::parse("t.rules", text).unwrap();
        let table = RuleTable::build(set, "t.rules", &names, 1, Disposition::Drop, ClassifierKind::Fast).unwrap();
        Arc::new(SharedRules::new(table))
    };
    // A 5000-byte bucket (and no refill to speak of): the first 4000-byte packet conforms,
    // the second exceeds. Counted by its head chunk alone (1792 bytes) both would pass.
    let police = classified(
        "protocol ip ip_proto udp action police rate 8bit burst 5000 conform-exceed drop/pipe action mirred egress \
         redirect dev dut1\n",
    );
    let frames = vec![jumbo(4000, 80).build(), jumbo(4000, 80).build()];
    let (dropped, sent, _) =
        run(&frames, |ports| Box::new(Classified::new(Action::Drop, verify.clone(), police, 0, ports)));
    assert_eq!(dropped, drops(&[("police", 1)]));
    assert_eq!(sent[1], frames[..1].to_vec(), "the conforming packet, whole");

    // A mirror would copy one chunk of it: counted, not sent half.
    let mirror = classified("protocol ip ip_proto udp action mirred egress mirror dev dut0 pipe action drop\n");
    let (dropped, sent, _) =
        run(&frames[..1], |ports| Box::new(Classified::new(Action::Drop, verify, mirror, 0, ports)));
    assert_eq!(dropped, drops(&[("mb_unparsed", 1)]));
    assert!(sent.iter().all(Vec::is_empty));
}
