//! Each engine over in-memory ports: the counters (drop reasons, rule hits) and the frames
//! sent are those of the worker before the engines (its per-mode code, kept for the
//! classified path as [`FrameByFrame`]), on the same frames.

use std::collections::{BTreeMap, VecDeque};
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};

use pmd::Umems;
use pmd::{Port, BURST};
use rules::gen::{self, Style, TraceKind};
use rules::{PacketKey, RuleSet};
use testkit::frames::{Checksum, GeneratorFrame};
use umem::{Frame, PoolCache, Umem, UmemConfig};
use wire::checks::CsumLayer;

use super::checked::Checked;
use super::classified::Classified;
use super::frame_by_frame::FrameByFrame;
use super::io::Io;
use super::{Action, ForwardingEngine};
use crate::pipeline::classify::ClassifierKind;
use crate::pipeline::{CsumMode, Disposition, Pipeline, Rewrite, RuleTable, SharedRules};
use crate::queues::PortQueue;
use crate::stats::{DropReason, Snapshot, WorkerStats};
use crate::worker::Worker;

/// A port whose receive side plays back what the test put there and whose transmit side
/// keeps a copy of every frame sent, a multi-buffer packet's chunks joined (the frames
/// themselves go back to the pool).
pub(super) struct Wire {
    pub(super) umem: Arc<Umem>,
    pub(super) incoming: VecDeque<Frame>,
    pub(super) sent: Arc<Mutex<Vec<Vec<u8>>>>,
    /// Plays a device that completes checksum requests (AF_XDP TX metadata): it keeps the
    /// frame as the device would send it, and asks that the frame holds only the partial
    /// sum there.
    pub(super) offload: bool,
}

impl Port for Wire {
    fn describe(&self) -> String {
        "wire".into()
    }
    fn umem(&self) -> &Arc<Umem> {
        &self.umem
    }
    fn rx_burst(&mut self, _pool: &mut PoolCache, out: &mut Vec<Frame>, max: usize) -> usize {
        let n = max.min(self.incoming.len());
        out.extend(self.incoming.drain(..n));
        n
    }
    fn tx_burst(&mut self, pool: &mut PoolCache, frames: &mut Vec<Frame>) -> usize {
        let mut sent = self.sent.lock().unwrap();
        let n = frames.len();
        for frame in frames.drain(..) {
            let mut bytes = self.umem.data(&frame).to_vec();
            let mut at = &frame;
            while let Some(piece) = pool.next(at) {
                bytes.extend_from_slice(self.umem.data(piece));
                at = piece;
            }
            let request = frame.tx_csum();
            assert!(self.offload || !request.is_some(), "a request reached a port that cannot pass it on");
            if request.is_some() {
                let request = wire::checks::L4Request { start: request.start(), offset: request.offset() };
                wire::checks::complete(&mut bytes, request);
            }
            sent.push(bytes);
            pool.put(frame);
        }
        n
    }
    fn tx_csum_offload(&self) -> bool {
        self.offload
    }
}

/// What a worker did with some frames.
#[derive(Debug, PartialEq)]
struct Outcome {
    /// Non-zero drop counters by name.
    drops: BTreeMap<String, u64>,
    /// Every frame sent, by port, in order.
    sent: [Vec<Vec<u8>>; 2],
    /// Rule hits (file order) and no-match count, when there are rules.
    hits: Option<(Vec<u64>, u64)>,
    /// Mirror copies made.
    mirrored: u64,
    /// Frames sent with a checksum request, and those completed in software instead.
    csum_requests: (u64, u64),
}

impl Outcome {
    fn drops(&self, reason: DropReason) -> u64 {
        self.drops.get(&reason.name()).copied().unwrap_or(0)
    }
}

/// Runs a worker over two ports (queue i is port i, `fwd` pairs them) with the engine
/// `engine` builds, `frames` arriving on port 0; returns what it did once every frame is
/// accounted for.
fn run(frames: &[Vec<u8>], engine: impl FnOnce(&[usize]) -> Box<dyn ForwardingEngine>) -> Outcome {
    run_on(frames, false, engine)
}

/// [`run`], the ports completing checksum requests as a device does where `offload`.
fn run_on(frames: &[Vec<u8>], offload: bool, engine: impl FnOnce(&[usize]) -> Box<dyn ForwardingEngine>) -> Outcome {
    let mut umems =
        Umems::new(UmemConfig { frame_size: 2048, frame_count: 1024, hugepages: false, numa_node: None }).unwrap();
    let slot = &mut umems.slots[0];
    let mut incoming = VecDeque::new();
    for bytes in frames {
        let mut frame = slot.pool.get().expect("a free frame");
        assert!(slot.umem.write(&mut frame, bytes));
        incoming.push_back(frame);
    }
    let sent = [Arc::new(Mutex::new(Vec::new())), Arc::new(Mutex::new(Vec::new()))];
    let queues = (0..2)
        .map(|port| {
            let incoming = if port == 0 { std::mem::take(&mut incoming) } else { VecDeque::new() };
            let wire = Wire { umem: slot.umem.clone(), incoming, sent: sent[port].clone(), offload };
            PortQueue { port: Box::new(wire), slot: 0, fwd_to: 1 - port }
        })
        .collect();
    let stats = Arc::new(WorkerStats::new(None, vec![0, 1]));
    let engine = engine(&stats.queue_ports);
    let mut worker = Worker::new(queues, umems, engine, stats.clone());
    while worker.poll_once() > 0 {}
    let snap = Snapshot::take(&[stats], 2);
    assert_eq!(snap.rx(), frames.len() as u64);
    assert_eq!(snap.rx() + snap.mirrored(), snap.tx() + snap.dropped(), "every frame (and copy) sent or dropped");
    assert_eq!(snap.mirror_failed(), 0, "every mirror copy made");
    let report = worker.frame_report();
    assert_eq!(report.free, report.total, "every frame back in the pool");
    let drops = DropReason::all().filter(|r| snap.drops[r.index()] != 0).map(|r| (r.name(), snap.drops[r.index()]));
    let sent = sent.map(|port| std::mem::take(&mut *port.lock().unwrap()));
    let w = &snap.workers[0];
    let csum_requests = (w.tx_csum_offload, w.tx_csum_software);
    Outcome { drops: drops.collect(), sent, hits: None, mirrored: snap.mirrored(), csum_requests }
}

/// The classified engine (burst or frame by frame) over `set`, each run with a fresh table.
fn run_classified(
    frames: &[Vec<u8>],
    set: &RuleSet,
    pipeline: &Pipeline,
    default: Disposition,
    frame_by_frame: bool,
) -> Outcome {
    run_classified_on(frames, set, pipeline, default, frame_by_frame, false)
}

/// [`run_classified`] on ports that complete checksum requests where `offload`.
fn run_classified_on(
    frames: &[Vec<u8>],
    set: &RuleSet,
    pipeline: &Pipeline,
    default: Disposition,
    frame_by_frame: bool,
    offload: bool,
) -> Outcome {
    // Three ports to the table, two to the worker: `fwd 2` has no route here.
    let names: Vec<String> = (0..3).map(|i| format!("dut{i}")).collect();
    let table = RuleTable::build(set.clone(), "t.rules", &names, 1, default, ClassifierKind::Fast).unwrap();
    let shared = Arc::new(SharedRules::new(table));
    let held = shared.clone();
    let mut outcome = run_on(frames, offload, |queue_ports| {
        let pipeline = pipeline.clone();
        if frame_by_frame {
            Box::new(FrameByFrame::new(Action::Fwd, pipeline, held, 0, queue_ports))
        } else {
            Box::new(Classified::new(Action::Fwd, pipeline, held, 0, queue_ports))
        }
    });
    outcome.hits = Some(shared.current().hits());
    outcome
}

fn udp(dst_port: u16) -> GeneratorFrame {
    GeneratorFrame { dst_port, ..GeneratorFrame::udp() }
}

fn vxlan(dst_port: u16) -> GeneratorFrame {
    GeneratorFrame { dst_port, ..GeneratorFrame::vxlan() }
}

fn with_bad(frame: &GeneratorFrame, checksum: Checksum) -> Vec<u8> {
    GeneratorFrame { bad: Some(checksum), ..*frame }.build()
}

fn swapped(mut frame: Vec<u8>) -> Vec<u8> {
    let (dst, src) = frame.split_at_mut(6);
    dst.swap_with_slice(&mut src[..6]);
    frame
}

/// Good and bad frames of every kind a drop reason names: two plain, a tunnel, a bad inner
/// and a bad outer checksum, a truncated tunnel and a runt.
fn assorted() -> Vec<Vec<u8>> {
    let mut truncated = vxlan(9).build();
    truncated.truncate(40);
    vec![
        udp(9).build(),
        vxlan(9).build(),
        with_bad(&vxlan(9), Checksum::InnerL4),
        with_bad(&udp(9), Checksum::OuterL3),
        truncated,
        vec![0xff; 10],
        udp(10).build(),
    ]
}

#[test]
fn io_drops_reflects_or_forwards_every_frame_as_before() {
    let frames = assorted();
    let dropped = run(&frames, |_| Box::new(Io::new(Action::Drop)));
    assert_eq!(dropped.drops, BTreeMap::from([("action".to_string(), 7)]));
    assert!(dropped.sent.iter().all(Vec::is_empty));

    // Reflect swaps the MACs of all but the runt, which it cannot.
    let reflected = run(&frames, |_| Box::new(Io::new(Action::Reflect)));
    assert_eq!(reflected.drops, BTreeMap::from([("runt".to_string(), 1)]));
    let expected: Vec<Vec<u8>> = frames.iter().filter(|f| f.len() >= 14).cloned().map(swapped).collect();
    assert_eq!(reflected.sent, [expected, vec![]]);

    // Forwarding reads nothing: even the runt goes.
    let forwarded = run(&frames, |_| Box::new(Io::new(Action::Fwd)));
    assert_eq!(forwarded.drops, BTreeMap::new());
    assert_eq!(forwarded.sent, [vec![], frames.clone()]);
}

#[test]
fn checked_drops_each_bad_frame_under_its_reason_as_before() {
    let frames = assorted();
    let verify = Pipeline { csum: CsumMode::Verify, ..Pipeline::default() };
    let outcome = run(&frames, |_| Box::new(Checked::new(Action::Fwd, verify)));
    // The cut tunnel's IPv4 header says more than the frame holds; the runt has no Ethernet.
    let expected =
        [("csum_inner_l4", 1), ("csum_outer_l3", 1), ("malformed_bad_total_length", 1), ("malformed_truncated", 1)];
    assert_eq!(outcome.drops, expected.map(|(name, n)| (name.to_string(), n)).into());
    let good = [0, 1, 6].map(|i| frames[i].clone());
    assert_eq!(outcome.sent, [vec![], good.to_vec()]);

    // `--csum off` lets the bad checksums through, `--rewrite ttl-dec` drops a TTL of 1.
    let mut last_hop = udp(9);
    last_hop.ttl = 1;
    let frames = [frames.clone(), vec![last_hop.build()]].concat();
    let ttl_dec = Pipeline { rewrite: Some(Rewrite::TtlDec), ..Pipeline::default() };
    let outcome = run(&frames, |_| Box::new(Checked::new(Action::Reflect, ttl_dec)));
    let expected = [("malformed_bad_total_length", 1), ("malformed_truncated", 1), ("ttl_expired", 1)];
    assert_eq!(outcome.drops, expected.map(|(name, n)| (name.to_string(), n)).into());
    assert_eq!(outcome.sent[0].len(), 5);
    assert!(outcome.sent[0].iter().all(|frame| frame[..6] == frames[0][6..12]), "MACs swapped");
}

/// A rule per action, each picked by the inner (or only) UDP destination port.
fn one_rule_per_action() -> RuleSet {
    let text = "\
        ip_proto udp dst_port 53 action drop\n\
        ip_proto udp dst_port 80 action pass\n\
        ip_proto udp dst_port 81 action fwd 1\n\
        ip_proto udp dst_port 82 action fwd 2\n\
        ip_proto udp dst_port 83 action reflect\n\
        ip_proto udp dst_port 84 action ttl-dec\n\
        ip_proto udp dst_port 85 action decap\n\
        ip_proto udp dst_port 86 action encap vxlan,src=198.18.1.1,dst=198.18.1.2,vni=7\n";
    rules::parse("t.rules", text).expect("the test's rules parse")
}

/// Every port of [`one_rule_per_action`] (and 9, which no rule has) as a plain and a tunnel
/// frame, bad checksums and a TTL of 1 among them, and frames the walker refuses.
fn mixed_burst() -> Vec<Vec<u8>> {
    let mut frames = Vec::new();
    for port in [53, 80, 81, 82, 83, 84, 85, 86, 9] {
        frames.push(udp(port).build());
        frames.push(vxlan(port).build());
    }
    frames.push(with_bad(&vxlan(80), Checksum::InnerL4));
    frames.push(with_bad(&vxlan(81), Checksum::OuterL4));
    frames.push(with_bad(&udp(83), Checksum::OuterL3));
    let mut last_hop = vxlan(84);
    last_hop.vxlan.as_mut().unwrap().ttl = 1;
    frames.push(last_hop.build());
    let mut truncated = vxlan(80).build();
    truncated.truncate(45);
    frames.push(truncated);
    frames.push(vec![0xff; 10]);
    assert!(frames.len() <= BURST, "one burst");
    frames
}

#[test]
fn the_burst_engine_decides_every_frame_as_frame_by_frame_classification() {
    let set = one_rule_per_action();
    let frames = mixed_burst();
    for csum in [CsumMode::Verify, CsumMode::Fix, CsumMode::Lco, CsumMode::Off, CsumMode::Offload] {
        for default in [Disposition::Pass, Disposition::Drop] {
            let pipeline = Pipeline { csum, ..Pipeline::default() };
            let burst = run_classified(&frames, &set, &pipeline, default, false);
            let by_frame = run_classified(&frames, &set, &pipeline, default, true);
            assert_eq!(burst, by_frame, "--csum {csum:?}, default {default:?}");
        }
    }

    // And what they decided, for `--csum verify` and `--default drop`.
    let verify = Pipeline { csum: CsumMode::Verify, ..Pipeline::default() };
    let outcome = run_classified(&frames, &set, &verify, Disposition::Drop, false);
    let reasons = [
        (DropReason::Malformed(wire::ErrorKind::BadTotalLength), 1),
        (DropReason::Malformed(wire::ErrorKind::Truncated), 1),
        (DropReason::Csum(CsumLayer::InnerL4), 1),
        (DropReason::Csum(CsumLayer::OuterL4), 1),
        (DropReason::Csum(CsumLayer::OuterL3), 1),
        (DropReason::Rule, 2),
        (DropReason::NoMatch, 2),
        (DropReason::NoRoute, 2),
        (DropReason::TtlExpired, 1),
        (DropReason::NotApplicable, 1),
    ];
    for (reason, n) in reasons {
        assert_eq!(outcome.drops(reason), n, "{}: {outcome:?}", reason.name());
    }
    let total: u64 = reasons.iter().map(|(_, n)| n).sum();
    assert_eq!(outcome.drops.values().sum::<u64>(), total, "{outcome:?}");
    // Checked before classified: the bad and malformed frames hit no rule.
    assert_eq!(outcome.hits, Some((vec![2, 2, 2, 2, 2, 3, 2, 2], 2)));
    // pass, fwd 1, ttl-dec, decap (of the tunnel), encap: to port 1; reflect: back to 0.
    assert_eq!((outcome.sent[0].len(), outcome.sent[1].len()), (2, 9));
}

/// A VXLAN frame whose inner IPv4 5-tuple is `key`'s (TCP or UDP).
fn vxlan_for(key: &PacketKey) -> Vec<u8> {
    GeneratorFrame {
        src_ip: Ipv4Addr::from(key.src_ip as u32),
        dst_ip: Ipv4Addr::from(key.dst_ip as u32),
        tcp: key.ip_proto == 6,
        src_port: key.src_port,
        dst_port: key.dst_port,
        ..GeneratorFrame::vxlan()
    }
    .build()
}

#[test]
fn classbench_sets_classified_in_bursts_hit_the_rules_frame_by_frame_classification_hits() {
    // A set large enough for the fast classifier's lockstep burst walk (several trees).
    let generated = gen::rule_set(Style::Acl, 1000, 7);
    let actions = [rules::Action::Pass, rules::Action::Drop, rules::Action::Fwd(1), rules::Action::Reflect];
    let set = RuleSet::new(
        generated
            .rules
            .iter()
            .enumerate()
            .map(|(i, rule)| rules::Rule { actions: vec![actions[i % 4].clone()], ..rule.clone() })
            .collect(),
    );
    let frames: Vec<Vec<u8>> = gen::trace(&set, TraceKind::Mixed, 600, 8)
        .iter()
        .filter(|key| matches!(key.ip_proto, 6 | 17))
        .take(300)
        .map(vxlan_for)
        .collect();
    assert!(frames.len() > 4 * BURST, "several bursts");
    let verify = Pipeline { csum: CsumMode::Verify, ..Pipeline::default() };
    let burst = run_classified(&frames, &set, &verify, Disposition::Pass, false);
    let by_frame = run_classified(&frames, &set, &verify, Disposition::Pass, true);
    assert_eq!(burst, by_frame);
    let (hits, unmatched) = burst.hits.clone().unwrap();
    assert_eq!(hits.iter().sum::<u64>() + unmatched, frames.len() as u64);
    assert!(hits.iter().filter(|&&n| n > 0).count() > 100, "the frames spread over the rules");
    assert!(burst.drops(DropReason::Rule) > 0 && !burst.sent[0].is_empty() && !burst.sent[1].is_empty());
}

#[test]
fn a_published_table_is_taken_at_the_next_burst() {
    let table = |text: &str| {
        let set = rules::parse("t.rules", text).unwrap();
        RuleTable::build(set, "t.rules", &[String::new(), String::new()], 1, Disposition::Pass, ClassifierKind::Fast)
            .unwrap()
    };
    let shared = Arc::new(SharedRules::new(table("ip_proto udp dst_port 9 action drop\n")));
    let mut umems =
        Umems::new(UmemConfig { frame_size: 2048, frame_count: 256, hugepages: false, numa_node: None }).unwrap();
    let slot = &mut umems.slots[0];
    let sent = [Arc::new(Mutex::new(Vec::new())), Arc::new(Mutex::new(Vec::new()))];
    let queues = (0..2)
        .map(|port| {
            let wire =
                Wire { umem: slot.umem.clone(), incoming: VecDeque::new(), sent: sent[port].clone(), offload: false };
            PortQueue { port: Box::new(wire), slot: 0, fwd_to: 1 - port }
        })
        .collect();
    let stats = Arc::new(WorkerStats::new(None, vec![0, 1]));
    let engine = Classified::new(Action::Fwd, Pipeline::default(), shared.clone(), 0, &stats.queue_ports);
    let mut worker = Worker::new(queues, umems, Box::new(engine), stats.clone());
    let burst = |worker: &mut Worker| {
        let slot = &mut worker.umems.slots[0];
        let mut frames = Vec::new();
        for _ in 0..3 {
            let mut frame = slot.pool.get().unwrap();
            slot.umem.write(&mut frame, &udp(9).build());
            frames.push(frame);
        }
        // The only way in from outside: swap in a port with frames waiting.
        let wire = Wire { umem: slot.umem.clone(), incoming: frames.into(), sent: sent[0].clone(), offload: false };
        worker.queues[0].port = Box::new(wire);
        assert_eq!(worker.poll_once(), 3);
    };
    burst(&mut worker);
    let old = shared.current();
    shared.publish(table("ip_proto udp dst_port 9 action pass\n"));
    burst(&mut worker);
    let snap = Snapshot::take(&[stats], 2);
    assert_eq!((snap.drops[DropReason::Rule.index()], snap.ports[1].tx_packets), (3, 3));
    assert_eq!(old.hits(), (vec![3], 0), "the first burst, by the first table");
    assert_eq!(shared.current().hits(), (vec![3], 0), "the second burst, by the new one");
}

/// Action lists, chains, `continue` after a rewrite (matching the rewritten frame), mirror
/// copies, a policer and a loop of gotos: each frame's fate, the burst engine and frame by
/// frame alike, every copy counted (rx + mirrored = tx + dropped, checked by `run`).
#[test]
fn chains_lists_mirrors_and_policers_decide_as_tc_does() {
    let text = "\
        prio 1 ip_proto udp dst_port 53 action mirred egress mirror dev dut1 action drop\n\
        prio 2 ip_proto udp dst_port 80 action goto chain 5\n\
        prio 3 ip_proto udp dst_port 81 action ttl-dec continue\n\
        prio 4 ip_proto udp ip_ttl 63 action reflect\n\
        prio 5 ip_proto udp dst_port 82 action police pkts_rate 1 pkts_burst 2 conform-exceed drop/pipe action fwd 1\n\
        prio 6 ip_proto udp dst_port 83 action goto chain 7\n\
        chain 5 ip_proto udp dst_port 80 action mirred egress mirror dev dut0 pipe action fwd 1\n\
        chain 7 action goto chain 8\n\
        chain 8 action goto chain 7\n";
    let set = rules::parse("t.rules", text).expect("the test's rules parse");
    let mut frames: Vec<Vec<u8>> = [53, 80, 81, 9, 83].iter().map(|&port| udp(port).build()).collect();
    frames.extend((0..4).map(|_| udp(82).build()));
    let pipeline = Pipeline { csum: CsumMode::Fix, ..Pipeline::default() };
    let outcome = run_classified(&frames, &set, &pipeline, Disposition::Pass, false);
    let by_frame = run_classified(&frames, &set, &pipeline, Disposition::Pass, true);
    assert_eq!(outcome, by_frame);
    assert_eq!(outcome.mirrored, 2, "{outcome:?}");
    assert_eq!(outcome.drops(DropReason::Rule), 1, "53's original");
    assert_eq!(outcome.drops(DropReason::Police), 2, "two of four beyond a burst of 2");
    assert_eq!(outcome.drops(DropReason::ChainLoop), 1, "83 between chains 7 and 8");
    assert_eq!(outcome.drops.values().sum::<u64>(), 4, "{outcome:?}");
    // To port 0: 80's mirror copy and 81 reflected (matched at TTL 63, after its ttl-dec).
    // To port 1: 53's mirror copy, 80, 9 (no match: --action fwd), two of the 82s.
    assert_eq!((outcome.sent[0].len(), outcome.sent[1].len()), (2, 5), "{outcome:?}");
    let reflected = outcome.sent[0].iter().find(|f| f.len() > 37 && f[36..38] == 81u16.to_be_bytes()).expect("81 back");
    assert_eq!(reflected[22], 63, "sent with the TTL it was matched at");
    let mut checked = wire::Offsets::default();
    wire::walk_into(reflected, &wire::WalkConfig::default(), &mut checked).expect("it walks");
    let verdicts = wire::checks::verdicts(reflected, &checked);
    assert!(wire::checks::first_failure(reflected, &checked, &verdicts, &Default::default()).is_none(), "sums fixed");
    // Hits: each rule reached, the chains' too; one frame (9) matched nothing.
    let (hits, unmatched) = outcome.hits.expect("rules");
    assert_eq!(hits[..7], [1, 1, 1, 1, 4, 1, 1], "{hits:?}");
    assert_eq!(unmatched, 1);
}

/// `vlan` actions on a list: a pop makes the frame untagged for the chain it jumps to (its
/// key is made again), a push goes out in front of the MACs' ethertype, and the frames'
/// checksums are untouched (no checksum covers a tag).
#[test]
fn vlan_actions_rewrite_the_frame_and_what_later_rules_match() {
    let text = "\
        prio 1 protocol 802.1q vlan_id 100 action vlan pop action goto chain 1\n\
        prio 2 ip_proto udp dst_port 99 action vlan push id 42 priority 5 pipe action fwd 0\n\
        chain 1 protocol 802.1q action drop\n\
        chain 1 protocol ip ip_proto udp dst_port 7 action fwd 1\n";
    let set = rules::parse("t.rules", text).expect("the test's rules parse");
    let plain = udp(7).build();
    let tagged = [&plain[..12], &[0x81, 0x00, 0x00, 100], &plain[12..]].concat();
    let frames = vec![tagged, udp(99).build()];
    let pipeline = Pipeline { csum: CsumMode::Verify, ..Pipeline::default() };
    let outcome = run_classified(&frames, &set, &pipeline, Disposition::Drop, false);
    assert_eq!(outcome, run_classified(&frames, &set, &pipeline, Disposition::Drop, true));
    assert_eq!(outcome.drops.values().sum::<u64>(), 0, "{outcome:?}");
    assert_eq!(outcome.sent[1], [plain], "popped, then matched untagged in chain 1");
    let pushed = &outcome.sent[0][0];
    let original = udp(99).build();
    assert_eq!(pushed[12..16], [0x81, 0x00, 0xa0, 42], "802.1Q, PCP 5, VID 42");
    assert_eq!((&pushed[..12], &pushed[16..]), (&original[..12], &original[12..]));
}

#[test]
fn egress_rules_decide_again_on_the_frames_leaving_their_port() {
    let text = "\
        prio 1 ip_proto udp dst_port 15 action fwd 0\n\
        prio 2 ip_proto udp action fwd 1\n\
        dev dut1 egress prio 1 ip_proto udp dst_port 9 action drop\n\
        dev dut1 egress prio 2 ip_proto udp dst_port 10 action vlan push id 7 pipe action pass\n\
        dev dut1 egress prio 3 indev dut0 ip_proto udp dst_port 11 action mirred egress redirect dev dut0\n\
        egress prio 4 ip_proto udp dst_port 12 action goto chain 3\n\
        egress prio 5 ip_proto udp dst_port 15 action drop\n\
        dev dut1 egress chain 3 prio 1 ip_proto udp action drop\n";
    let set = rules::parse("t.rules", text).expect("the test's rules parse");
    let frames: Vec<Vec<u8>> = [9, 10, 11, 12, 13, 15].map(|port| udp(port).build()).to_vec();
    let pipeline = Pipeline { csum: CsumMode::Verify, ..Pipeline::default() };
    let outcome = run_classified(&frames, &set, &pipeline, Disposition::Drop, false);
    assert_eq!(outcome, run_classified(&frames, &set, &pipeline, Disposition::Drop, true));
    // 9 by dut1's rule, 12 by dut1's chain 3, 15 by the rule of every port on dut0.
    assert_eq!(outcome.drops(DropReason::Rule), 3, "{outcome:?}");
    let plain = udp(10).build();
    let tagged = [&plain[..12], &[0x81, 0x00, 0x00, 7], &plain[12..]].concat();
    assert_eq!(outcome.sent[1], [tagged, udp(13).build()], "10 tagged on the way out, 13 as it came");
    assert_eq!(outcome.sent[0], [udp(11).build()], "11 redirected back by dut1's egress rule");
    let (hits, unmatched) = outcome.hits.expect("hits");
    assert_eq!(hits, [1, 5, 1, 1, 1, 1, 1, 1], "an egress rule counts the frames it matched on every port");
    assert_eq!(unmatched, 0);
}

#[test]
fn an_egress_rule_of_a_device_that_is_no_port_is_an_error_at_load() {
    let set = rules::parse("t.rules", "dev nope egress prio 1 action drop\n").expect("parses");
    let names = ["dut0".to_string()];
    let errors =
        RuleTable::build(set, "t.rules", &names, 1, Disposition::Pass, ClassifierKind::Fast).err().expect("an error");
    assert_eq!(
        errors[0].to_string(),
        "t.rules:1:24: egress filter of dev nope: no --port of this run is interface nope, so no frame leaves by it \
         (its af_xdp ports: dut0)"
    );
}

/// tc's `tunnel_key set ... action mirred egress redirect dev X` leaves by X's port as the
/// frame `encap vxlan|geneve,...` makes (the outer UDP checksum right, summed here by
/// testkit's RFC 1071 code, not the dataplane's); `tunnel_key unset` of that frame gives
/// the inner frame back, and drops a frame that carries no tunnel (as `decap` does).
#[test]
fn tunnel_key_set_is_encap_and_unset_is_decap() {
    // The plain keys of a tunnelled frame match its inner headers (as flower's on a tunnel
    // device): the unset rule goes first, or the set rule would match its inner frame.
    let tc = "\
        prio 1 enc_key_id 42 enc_dst_port 4789 action tunnel_key unset action mirred egress redirect dev dut0\n\
        prio 2 ip_proto udp dst_port 99 action tunnel_key set src_ip 198.18.0.1 dst_ip 198.18.0.2 id 42 dst_port 4789 \
        action mirred egress redirect dev dut1\n\
        prio 3 ip_proto udp dst_port 98 action tunnel_key set src_ip 2001:db8::1 dst_ip 2001:db8::2 dst_port 6081 \
        tos 0x30 ttl 9 action mirred egress redirect dev dut1\n\
        prio 4 ip_proto udp dst_port 7 action tunnel_key unset action fwd 1\n";
    let spelled = "\
        prio 1 enc_key_id 42 enc_dst_port 4789 action decap action mirred egress redirect dev dut0\n\
        prio 2 ip_proto udp dst_port 99 action encap vxlan,src=198.18.0.1,dst=198.18.0.2,vni=42 \
        action mirred egress redirect dev dut1\n\
        prio 3 ip_proto udp dst_port 98 action encap geneve,src=2001:db8::1,dst=2001:db8::2,tos=48,ttl=9 \
        action mirred egress redirect dev dut1\n\
        prio 4 ip_proto udp dst_port 7 action decap action fwd 1\n";
    let (tc, spelled) = (rules::parse("t.rules", tc).unwrap(), rules::parse("s.rules", spelled).unwrap());
    let plain = udp(99).build();
    let frames = vec![plain.clone(), udp(98).build(), udp(7).build()];
    let pipeline = Pipeline { csum: CsumMode::Verify, ..Pipeline::default() };
    let outcome = run_classified(&frames, &tc, &pipeline, Disposition::Drop, false);
    assert_eq!(outcome, run_classified(&frames, &tc, &pipeline, Disposition::Drop, true));
    let as_encap = run_classified(&frames, &spelled, &pipeline, Disposition::Drop, false);
    assert_eq!((&outcome.sent, &outcome.drops), (&as_encap.sent, &as_encap.drops), "the same bytes as encap/decap");
    assert_eq!(outcome.drops, BTreeMap::from([(DropReason::NotApplicable.name(), 1)]), "unset of a plain frame");
    let [vxlan, geneve] = [&outcome.sent[1][0], &outcome.sent[1][1]];
    // Outer IPv4 (RFC 791): TTL 64, UDP, header checksum good; UDP to 4789 (RFC 7348 §5).
    assert_eq!((&vxlan[12..14], vxlan[22], vxlan[23]), (&[0x08, 0x00][..], 64, 17));
    assert_eq!(testkit::frames::internet_checksum(&vxlan[14..34]), 0, "IPv4 header checksum");
    assert_eq!(vxlan[36..38], 4789u16.to_be_bytes());
    let udp_len = usize::from(u16::from_be_bytes([vxlan[38], vxlan[39]]));
    assert_eq!(34 + udp_len, vxlan.len());
    let mut segment = vxlan[34..].to_vec();
    segment[6..8].fill(0);
    let sum = testkit::frames::ipv4_l4_checksum([198, 18, 0, 1].into(), [198, 18, 0, 2].into(), 17, &segment);
    assert_eq!(u16::from_be_bytes([vxlan[40], vxlan[41]]), sum, "outer UDP checksum (tc's csum)");
    // VXLAN: I flag, VNI 42, then the frame as it came (RFC 7348 §5).
    assert_eq!(vxlan[42..50], [0x08, 0, 0, 0, 0, 0, 42, 0]);
    assert_eq!(vxlan[50..], plain[..vxlan.len() - 50]);
    // Geneve over IPv6: traffic class 0x30, hop limit 9, UDP 6081 (RFC 8926 §3.3).
    assert_eq!((&geneve[12..14], u16::from_be_bytes([geneve[14], geneve[15]]) >> 4 & 0xff), (&[0x86, 0xdd][..], 0x30));
    assert_eq!((geneve[20], geneve[21], &geneve[56..58]), (17, 9, &6081u16.to_be_bytes()[..]));
    // Unset of what set made: the inner frame, out of dut0.
    let back = run_classified(std::slice::from_ref(vxlan), &tc, &pipeline, Disposition::Drop, false);
    assert_eq!(back.drops.values().sum::<u64>(), 0, "{back:?}");
    assert_eq!(back.sent[0], [plain[..vxlan.len() - 50].to_vec()]);
    assert_eq!(back.hits.expect("rules").0, [1, 0, 0, 0], "matched by its enc_ keys");
}

/// `pedit` on a list: the fields rewritten with every checksum right (the frames equal ones
/// built with those fields), a later chain matching the frame as rewritten, and a munge of a
/// header the frame lacks (IPv6 on IPv4) dropping it as not applicable.
#[test]
fn pedit_rewrites_fields_with_right_checksums_and_later_rules_see_them() {
    let text = "\
        prio 1 ip_proto udp dst_port 99 action pedit ex munge ip dst set 10.9.8.7 munge udp dport set 7 munge ip ttl add 0xff pipe action goto chain 1\n\
        prio 2 ip_proto udp dst_port 98 action pedit ex munge ip6 hoplimit set 1 pipe action mirred egress redirect dev dut0\n\
        prio 3 ip_proto udp dst_port 97 action pedit ex munge udp sport set 5 pipe action csum iph udp pipe action mirred egress redirect dev dut1\n\
        chain 1 protocol ip dst_ip 10.9.8.7 ip_proto udp dst_port 7 action mirred egress redirect dev dut1\n\
        chain 1 action drop\n";
    let set = rules::parse("t.rules", text).expect("the test's rules parse");
    let frames = vec![udp(99).build(), udp(98).build(), udp(97).build()];
    let pipeline = Pipeline { csum: CsumMode::Verify, ..Pipeline::default() };
    let outcome = run_classified(&frames, &set, &pipeline, Disposition::Drop, false);
    assert_eq!(outcome, run_classified(&frames, &set, &pipeline, Disposition::Drop, true));
    assert_eq!(outcome.drops, BTreeMap::from([(DropReason::NotApplicable.name(), 1)]), "{outcome:?}");
    let rewritten =
        GeneratorFrame { dst_ip: Ipv4Addr::new(10, 9, 8, 7), dst_port: 7, ttl: udp(99).ttl - 1, ..udp(99) }.build();
    let sport = GeneratorFrame { src_port: 5, ..udp(97) }.build();
    assert_eq!(outcome.sent[1], [rewritten, sport]);
    assert!(outcome.sent[0].is_empty());
}

/// tc's `police ... index N`: the rules naming one index share one bucket (the second rule
/// names it alone), also across the ingress and egress tables; without an index each rule
/// has its own.
#[test]
fn rules_naming_one_police_index_share_its_bucket() {
    let shared = "\
        prio 1 ip_proto udp dst_port 81 action police pkts_rate 1 pkts_burst 2 conform-exceed drop/pipe index 7 action fwd 1\n\
        prio 2 ip_proto udp dst_port 82 action police index 7 action fwd 1\n\
        prio 3 ip_proto udp dst_port 83 action fwd 1\n\
        dev dut1 egress prio 1 ip_proto udp dst_port 83 action police index 7 action pass\n";
    let apart = "\
        prio 1 ip_proto udp dst_port 81 action police pkts_rate 1 pkts_burst 2 conform-exceed drop/pipe action fwd 1\n\
        prio 2 ip_proto udp dst_port 82 action police pkts_rate 1 pkts_burst 2 conform-exceed drop/pipe action fwd 1\n";
    let frames: Vec<Vec<u8>> = [81, 82, 81, 82, 83].map(|port| udp(port).build()).to_vec();
    let pipeline = Pipeline::default();
    let run = |text: &str| {
        let set = rules::parse("t.rules", text).expect("the test's rules parse");
        let outcome = run_classified(&frames, &set, &pipeline, Disposition::Drop, false);
        assert_eq!(outcome, run_classified(&frames, &set, &pipeline, Disposition::Drop, true));
        outcome
    };
    // One bucket of 2 packets (at 1 packet/s nothing refills in the test): 81 and 82 take
    // it, the second 81 and 82 exceed, and so does 83 at dut1's egress.
    let outcome = run(shared);
    assert_eq!(outcome.drops(DropReason::Police), 3, "{outcome:?}");
    assert_eq!(outcome.sent[1], [udp(81).build(), udp(82).build()]);
    // Two buckets: every frame conforms.
    let outcome = run(apart);
    assert_eq!((outcome.drops(DropReason::Police), outcome.sent[1].len()), (0, 4), "{outcome:?}");
}

/// `mpls` actions on a list (tc-mpls.8's examples): a push goes out after the MACs with the
/// IP packet behind it untouched, a pop gives the IP frame back for the chain it jumps to
/// (its key made again), and `dec_ttl` drops an entry whose TTL runs out under its reason.
#[test]
fn mpls_actions_rewrite_the_frame_and_what_later_rules_match() {
    let text = "\
        prio 1 protocol ip ip_proto udp dst_port 99 action mpls push label 123 action mirred egress redirect dev dut1\n\
        prio 2 protocol mpls_uc mpls_label 123 action mpls pop protocol ip action goto chain 1\n\
        prio 3 protocol mpls_uc mpls_label 124 action mpls dec_ttl action mirred egress redirect dev dut1\n\
        chain 1 protocol ip ip_proto udp dst_port 7 action fwd 0\n\
        chain 1 action drop\n";
    let set = rules::parse("t.rules", text).expect("the test's rules parse");
    // RFC 3032 §2.1: label 20 bits, TC 3, S 1, TTL 8.
    let labelled = |frame: &[u8], label: u32, ttl: u32| {
        let entry = (label << 12 | 1 << 8 | ttl).to_be_bytes();
        [&frame[..12], &[0x88, 0x47], &entry, &frame[14..]].concat()
    };
    let (plain, original) = (udp(7).build(), udp(99).build());
    let frames = vec![original.clone(), labelled(&plain, 123, 64), labelled(&plain, 124, 1), labelled(&plain, 124, 64)];
    let pipeline = Pipeline { csum: CsumMode::Verify, ..Pipeline::default() };
    let outcome = run_classified(&frames, &set, &pipeline, Disposition::Drop, false);
    assert_eq!(outcome, run_classified(&frames, &set, &pipeline, Disposition::Drop, true));
    assert_eq!(outcome.sent[1], [labelled(&original, 123, 255), labelled(&plain, 124, 63)], "pushed; decremented");
    assert_eq!(outcome.sent[0], [plain], "popped, then matched as IP in chain 1");
    assert_eq!(outcome.drops(DropReason::MplsTtlExpired), 1, "{outcome:?}");
    assert_eq!(outcome.drops.values().sum::<u64>(), 1, "{outcome:?}");
}

/// tc's `mirred ... blockid N` (act_mirred's blockcast): every port of the run but the one the
/// frame came in on; mirror sends a copy and goes on, redirect sends the frame.
#[test]
fn blockcast_sends_to_every_port_but_the_arrival_one() {
    let text = "\
        prio 1 ip_proto udp dst_port 5 action mirred egress mirror blockid 22 pipe action drop\n\
        prio 2 ip_proto udp dst_port 6 action mirred egress redirect blockid 22\n";
    let set = rules::parse("t.rules", text).expect("the test's rules parse");
    let names: Vec<String> = (0..2).map(|i| format!("dut{i}")).collect();
    let frames = vec![udp(5).build(), udp(6).build()];
    for frame_by_frame in [false, true] {
        let table = RuleTable::build(set.clone(), "t.rules", &names, 1, Disposition::Drop, ClassifierKind::Fast)
            .expect("resolvable");
        let shared = Arc::new(SharedRules::new(table));
        let outcome = run(&frames, |queue_ports| {
            if frame_by_frame {
                Box::new(FrameByFrame::new(Action::Fwd, Pipeline::default(), shared, 0, queue_ports))
            } else {
                Box::new(Classified::new(Action::Fwd, Pipeline::default(), shared, 0, queue_ports))
            }
        });
        // Both arrive on dut0: the copy of 5 and the frame 6 leave by dut1, nothing by dut0.
        assert_eq!(outcome.sent[1], [udp(5).build(), udp(6).build()], "{outcome:?}");
        assert!(outcome.sent[0].is_empty(), "{outcome:?}");
        assert_eq!((outcome.mirrored, outcome.drops(DropReason::Rule)), (1, 1), "{outcome:?}");
    }
}

/// An Ethernet frame of `ethertype` carrying `payload`, padded to the 60-byte minimum.
fn ether_frame(ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut frame = [&[2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1][..], &ethertype.to_be_bytes(), payload].concat();
    frame.resize(frame.len().max(60), 0);
    frame
}

/// flower's `cfm mdl N op N`: the MD level from the first byte's top 3 bits, the opcode from
/// the second (IEEE 802.1Q §21.4.1); other CFM PDUs and other frames go past the rules.
#[test]
fn cfm_rules_drop_and_forward_by_level_and_opcode() {
    let text = "\
        prio 1 protocol cfm cfm mdl 5 op 41 action drop\n\
        prio 2 protocol cfm cfm op 1 action fwd 0\n";
    let set = rules::parse("t.rules", text).expect("the test's rules parse");
    let cfm = |mdl: u8, op: u8| ether_frame(0x8902, &[mdl << 5, op, 0, 4]);
    let frames = vec![cfm(5, 41), cfm(4, 41), cfm(7, 1), udp(41).build()];
    let pipeline = Pipeline { csum: CsumMode::Verify, ..Pipeline::default() };
    let outcome = run_classified(&frames, &set, &pipeline, Disposition::Pass, false);
    assert_eq!(outcome, run_classified(&frames, &set, &pipeline, Disposition::Pass, true));
    assert_eq!(outcome.drops(DropReason::Rule), 1, "{outcome:?}");
    assert_eq!(outcome.sent[0], [cfm(7, 1)], "op 1 at any level");
    assert_eq!(outcome.sent[1], [cfm(4, 41), udp(41).build()], "level 4 and UDP: no rule");
    assert_eq!(outcome.hits.expect("rules"), (vec![1, 1], 2));
}

/// flower's `l2tpv3_sid`: the session id after the IP header (RFC 3931 §4.1.1.2), IPv4 and
/// IPv6 alike; a session-less L2TP packet (3 bytes) and other sessions go past the rule.
#[test]
fn l2tpv3_rules_match_the_session_id() {
    use testkit::frames::{ethernet, ipv4, ipv6};
    let set = rules::parse("t.rules", "ip_proto l2tp l2tpv3_sid 1234 action drop\n").expect("the rule parses");
    let session = |sid: u32| [&sid.to_be_bytes()[..], b"payload"].concat();
    let v4 = |payload: &[u8]| ethernet(wire::ethertype::IPV4, &ipv4(115, payload));
    let frames = vec![
        v4(&session(1234)),
        ethernet(wire::ethertype::IPV6, &ipv6(115, &session(1234))),
        v4(&session(1235)),
        v4(&[0, 0, 4]),
    ];
    let pipeline = Pipeline { csum: CsumMode::Verify, ..Pipeline::default() };
    let outcome = run_classified(&frames, &set, &pipeline, Disposition::Pass, false);
    assert_eq!(outcome, run_classified(&frames, &set, &pipeline, Disposition::Pass, true));
    assert_eq!(outcome.drops(DropReason::Rule), 2, "{outcome:?}");
    assert_eq!(outcome.sent[1], frames[2..], "another session, and none");
}

/// A PPPoE session frame (RFC 2516 §5) for `session`, carrying `ip` as PPP protocol
/// 0x0021 (RFC 1332), under the tags given.
fn pppoe_frame(tags: &[(u16, u16)], session: u16, ip: &[u8]) -> Vec<u8> {
    let length = (ip.len() + 2) as u16;
    let body = [&[0x11, 0][..], &session.to_be_bytes(), &length.to_be_bytes(), &[0x00, 0x21], ip].concat();
    testkit::frames::ethernet_tagged(tags, wire::ethertype::PPPOE_SESSION, &body)
}

/// flower's `pppoe_sid`/`ppp_proto` with the IP keys of the session's packet, under a tag
/// and bare (which, as `protocol arp` does, also sees tagged frames); `protocol ip` does not see inside PPPoE; `ttl-dec` works on the session's IP (its
/// checksum right after), `pedit` of an IP field drops it as not_applicable, untouched.
#[test]
fn pppoe_rules_match_the_session_and_its_ip() {
    use testkit::frames::{ipv4, udp};
    let text = "\
        prio 1 protocol 802.1q vlan_id 2 vlan_ethtype ppp_ses pppoe_sid 1234 ppp_proto ip dst_ip 198.19.0.1 action fwd 0\n\
        prio 2 protocol ppp_ses pppoe_sid 1234 ppp_proto ip dst_ip 198.19.0.1 action drop\n\
        prio 3 protocol ip dst_ip 198.19.0.1 action drop\n\
        prio 4 protocol ppp_ses pppoe_sid 9 action ttl-dec pipe action fwd 0\n\
        prio 5 protocol ppp_ses pppoe_sid 8 action pedit ex munge ip ttl set 5 pipe action fwd 0\n";
    let set = rules::parse("t.rules", text).expect("the test's rules parse");
    let ip = ipv4(17, &udp(1, 53, b"query"));
    let frames = vec![
        pppoe_frame(&[], 1234, &ip),
        pppoe_frame(&[(0x8100, 2)], 1234, &ip),
        pppoe_frame(&[], 77, &ip),
        pppoe_frame(&[], 9, &ip),
        pppoe_frame(&[], 8, &ip),
    ];
    let pipeline = Pipeline { csum: CsumMode::Verify, ..Pipeline::default() };
    let outcome = run_classified(&frames, &set, &pipeline, Disposition::Pass, false);
    assert_eq!(outcome, run_classified(&frames, &set, &pipeline, Disposition::Pass, true));
    assert_eq!((outcome.drops(DropReason::Rule), outcome.drops(DropReason::NotApplicable)), (1, 1), "{outcome:?}");
    assert_eq!(outcome.sent[1], [frames[2].clone()], "another session: no rule, not even `protocol ip`");
    assert_eq!(outcome.sent[0].len(), 2, "{outcome:?}");
    assert_eq!(outcome.sent[0][0], frames[1], "the tagged session");
    let decremented = &outcome.sent[0][1];
    let ttl_at = 14 + 8 + 8;
    assert_eq!((decremented[ttl_at], frames[3][ttl_at]), (63, 64));
    let mut checked = wire::Offsets::default();
    wire::walk_into(decremented, &wire::WalkConfig::default(), &mut checked).expect("it walks");
    let verdicts = wire::checks::verdicts(decremented, &checked);
    assert!(wire::checks::first_failure(decremented, &checked, &verdicts, &Default::default()).is_none());
    assert_eq!(outcome.hits.expect("rules"), (vec![1, 1, 0, 1, 1], 1));
}

/// `gate` (802.1Qci, act_gate): a schedule whose only entry is `close` drops every frame
/// under `gate_closed` (its 1 ns cycle starts at once); one whose only entry is `open` lets
/// every frame on to the next action, for the rules sharing it by index too; an open gate's
/// control word decides after it.
#[test]
fn gates_drop_while_closed_and_pass_while_open() {
    let text = "\
        prio 1 ip_proto udp dst_port 7 action gate sched-entry close 1 action fwd 1\n\
        prio 2 ip_proto udp dst_port 8 action gate index 4 clockid CLOCK_MONOTONIC sched-entry open 1ms action fwd 1\n\
        prio 3 ip_proto udp dst_port 9 action gate index 4 action fwd 0\n\
        prio 4 ip_proto udp dst_port 10 action gate sched-entry OPEN 1ms drop\n";
    let set = rules::parse("t.rules", text).expect("the test's rules parse");
    let frames = vec![udp(7).build(), udp(8).build(), udp(9).build(), udp(7).build(), udp(10).build()];
    let pipeline = Pipeline::default();
    let outcome = run_classified(&frames, &set, &pipeline, Disposition::Drop, false);
    assert_eq!(outcome, run_classified(&frames, &set, &pipeline, Disposition::Drop, true));
    assert_eq!((outcome.drops(DropReason::GateClosed), outcome.drops(DropReason::Rule)), (2, 1), "{outcome:?}");
    assert_eq!(
        (outcome.sent[1].as_slice(), outcome.sent[0].as_slice()),
        (&[udp(8).build()][..], &[udp(9).build()][..])
    );
    assert_eq!(outcome.drops.values().sum::<u64>(), 3, "{outcome:?}");
}

/// `--csum offload` sends what `--csum lco` sends once the device has done its part: on
/// ports that pass requests on (counted as offloaded) and on ports that cannot (completed in
/// software, counted so), through both engines, rules with rewrites (decap, encap, ttl-dec)
/// and mirrors among them.
#[test]
fn offload_sends_what_lco_sends_once_the_device_has_done_its_part() {
    let set = one_rule_per_action();
    let frames = mixed_burst();
    let lco = Pipeline { csum: CsumMode::Lco, ..Pipeline::default() };
    let offload = Pipeline { csum: CsumMode::Offload, ..Pipeline::default() };
    let expected = run_classified(&frames, &set, &lco, Disposition::Pass, false);
    assert_eq!(expected.csum_requests, (0, 0), "lco asks no device");
    for by_frame in [false, true] {
        let on_device = run_classified_on(&frames, &set, &offload, Disposition::Pass, by_frame, true);
        let in_software = run_classified_on(&frames, &set, &offload, Disposition::Pass, by_frame, false);
        let sent: usize = expected.sent.iter().map(Vec::len).sum();
        assert_eq!(on_device.sent, expected.sent, "frame by frame: {by_frame}");
        assert_eq!(in_software.sent, expected.sent, "frame by frame: {by_frame}");
        // A frame the device cannot be asked for (an IPv4 UDP checksum of 0 kept, padding)
        // leaves computed here: not every frame sent carries a request.
        let (offloaded, software) = on_device.csum_requests;
        assert!(offloaded > 0 && software == 0, "{:?}", on_device.csum_requests);
        assert_eq!(in_software.csum_requests, (0, offloaded), "the same frames, completed in software");
        assert!(offloaded <= sent as u64);
    }

    // The checked engine (no rules), forwarding everything.
    let checked = |pipeline: &Pipeline, offload| {
        let pipeline = pipeline.clone();
        run_on(&frames, offload, move |_| Box::new(Checked::new(Action::Fwd, pipeline)))
    };
    let expected = checked(&lco, false);
    let on_device = checked(&offload, true);
    assert_eq!(on_device.sent, expected.sent);
    assert_eq!(on_device.csum_requests.0, expected.sent[1].len() as u64, "every frame forwarded asked the device");
    assert_eq!(checked(&offload, false).sent, expected.sent);
}
