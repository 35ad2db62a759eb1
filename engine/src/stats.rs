//! Per-worker counters: each worker writes only its own (plain relaxed stores, no locked
//! instructions, each block on its own cache lines); the control thread reads and sums.

use std::sync::atomic::{AtomicU64, Ordering};

use crossbeam::utils::CachePadded;

use wire::checks::CsumLayer;
use wire::ErrorKind;

/// Why a frame was dropped. Every frame a worker receives is sent or dropped for one of
/// these reasons.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// `--action drop`.
    Action,
    /// A rule's `action drop`.
    Rule,
    /// No rule matched and `--default drop`.
    NoMatch,
    /// The transmit ring had no room.
    TxFull,
    /// Shorter than an Ethernet header.
    Runt,
    /// Forwarding had to copy to another UMEM and that UMEM had no free frame.
    NoFrame,
    /// The walker could not parse the frame to its end.
    Malformed(ErrorKind),
    /// `--csum verify`: this layer's checksum is wrong (or a forbidden zero).
    Csum(CsumLayer),
    /// `ttl-dec` on a TTL or hop limit of 0 or 1 (RFC 791, RFC 8200 §3).
    TtlExpired,
    /// A rewrite (encapsulation) needed more room than the frame has.
    NoRoom,
    /// A rewrite does not apply to this frame (e.g. decapsulating a frame with no tunnel).
    NotApplicable,
    /// A rule forwards to a port this worker has no queue of.
    NoRoute,
    /// An encapsulation would make the IP packet longer than the MTU
    /// ([`crate::pipeline::Pipeline::mtu`]); it is not fragmented (the outer header says DF).
    MtuExceeded,
    /// The kernel's rx descriptor was refused (outside the UMEM, across a chunk, a bad
    /// length, or a chunk user space already held): counted as received, never read.
    BadDesc,
    /// A rule's `police` said drop (the frame was beyond the rate, or its conform verdict).
    Police,
    /// More than `rules::chain::MAX_JUMPS` gotos for one frame (a loop of chains).
    ChainLoop,
    /// A rule's `mpls dec_ttl` on a top label stack entry whose TTL is 0 or 1 (act_mpls
    /// drops it; RFC 3032 §2.4.1).
    MplsTtlExpired,
    /// A rule's `gate` whose entry in force is `close` (802.1Qci; act_gate drops it).
    GateClosed,
    /// A rule's `gate` open, but the frame takes the entry's octets over its MAXOCTETS
    /// (act_gate's overlimit).
    GateOverlimit,
    /// A multi-buffer packet one of whose chunks the kernel handed back as a refused
    /// descriptor: dropped whole, its good chunks back to the pool.
    MbIncomplete,
    /// A multi-buffer packet of more than `umem::MAX_PIECES` chunks: dropped whole.
    MbTooMany,
    /// A multi-buffer packet (several chunks) where the engine parses frames (`--csum`,
    /// `--rewrite`, `--rules`): see [`crate::pipeline`] for why it is not walked.
    MbUnparsed,
    /// A multi-buffer packet to be forwarded into another UMEM (or to a port) that cannot
    /// hold it: too few free frames for all its chunks, or a port without multi-buffer.
    MbNoFrame,
}

const FIXED_REASONS: [DropReason; 6] = [
    DropReason::Action,
    DropReason::Rule,
    DropReason::NoMatch,
    DropReason::TxFull,
    DropReason::Runt,
    DropReason::NoFrame,
];
const TAIL_REASONS: [DropReason; 15] = [
    DropReason::TtlExpired,
    DropReason::NoRoom,
    DropReason::NotApplicable,
    DropReason::NoRoute,
    DropReason::MtuExceeded,
    DropReason::BadDesc,
    DropReason::Police,
    DropReason::ChainLoop,
    DropReason::MplsTtlExpired,
    DropReason::GateClosed,
    DropReason::GateOverlimit,
    DropReason::MbIncomplete,
    DropReason::MbTooMany,
    DropReason::MbUnparsed,
    DropReason::MbNoFrame,
];

impl DropReason {
    /// How many reasons there are (the drop counters' length).
    pub const COUNT: usize = FIXED_REASONS.len() + ErrorKind::ALL.len() + CsumLayer::ALL.len() + TAIL_REASONS.len();

    /// Every reason, in counter order.
    pub fn all() -> impl Iterator<Item = DropReason> {
        FIXED_REASONS
            .into_iter()
            .chain(ErrorKind::ALL.into_iter().map(DropReason::Malformed))
            .chain(CsumLayer::ALL.into_iter().map(DropReason::Csum))
            .chain(TAIL_REASONS)
    }

    /// The counter slot.
    #[inline]
    pub fn index(self) -> usize {
        const MALFORMED: usize = FIXED_REASONS.len();
        const CSUM: usize = MALFORMED + ErrorKind::ALL.len();
        const TAIL: usize = CSUM + CsumLayer::ALL.len();
        match self {
            DropReason::Action => 0,
            DropReason::Rule => 1,
            DropReason::NoMatch => 2,
            DropReason::TxFull => 3,
            DropReason::Runt => 4,
            DropReason::NoFrame => 5,
            DropReason::Malformed(kind) => MALFORMED + kind as usize,
            DropReason::Csum(layer) => CSUM + layer as usize,
            DropReason::TtlExpired => TAIL,
            DropReason::NoRoom => TAIL + 1,
            DropReason::NotApplicable => TAIL + 2,
            DropReason::NoRoute => TAIL + 3,
            DropReason::MtuExceeded => TAIL + 4,
            DropReason::BadDesc => TAIL + 5,
            DropReason::Police => TAIL + 6,
            DropReason::ChainLoop => TAIL + 7,
            DropReason::MplsTtlExpired => TAIL + 8,
            DropReason::GateClosed => TAIL + 9,
            DropReason::GateOverlimit => TAIL + 10,
            DropReason::MbIncomplete => TAIL + 11,
            DropReason::MbTooMany => TAIL + 12,
            DropReason::MbUnparsed => TAIL + 13,
            DropReason::MbNoFrame => TAIL + 14,
        }
    }

    /// The counter's name in stats: `action`, `malformed_truncated`, `csum_inner_l4`, ...
    pub fn name(self) -> String {
        match self {
            DropReason::Action => "action".into(),
            DropReason::Rule => "rule".into(),
            DropReason::NoMatch => "no_match".into(),
            DropReason::TxFull => "tx_full".into(),
            DropReason::Runt => "runt".into(),
            DropReason::NoFrame => "no_frame".into(),
            DropReason::Malformed(kind) => format!("malformed_{}", kind.name()),
            DropReason::Csum(layer) => format!("csum_{}", layer.name()),
            DropReason::TtlExpired => "ttl_expired".into(),
            DropReason::NoRoom => "no_room".into(),
            DropReason::NotApplicable => "not_applicable".into(),
            DropReason::NoRoute => "no_route".into(),
            DropReason::MtuExceeded => "mtu_exceeded".into(),
            DropReason::BadDesc => "bad_desc".into(),
            DropReason::Police => "police".into(),
            DropReason::ChainLoop => "chain_loop".into(),
            DropReason::MplsTtlExpired => "mpls_ttl_expired".into(),
            DropReason::GateClosed => "gate_closed".into(),
            DropReason::GateOverlimit => "gate_overlimit".into(),
            DropReason::MbIncomplete => "mb_incomplete".into(),
            DropReason::MbTooMany => "mb_too_many".into(),
            DropReason::MbUnparsed => "mb_unparsed".into(),
            DropReason::MbNoFrame => "mb_no_frame".into(),
        }
    }
}

/// A counter with one writer.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds `n`. Only the owning worker calls this, so a load and a store suffice: no
    /// read-modify-write instruction, no contention.
    #[inline]
    pub fn add(&self, n: u64) {
        self.0.store(self.0.load(Ordering::Relaxed) + n, Ordering::Relaxed);
    }

    #[inline]
    /// The count so far.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Counters of one (worker, port queue).
#[derive(Debug, Default)]
pub struct QueueCounters {
    /// Frames received.
    pub rx_packets: Counter,
    /// Bytes received.
    pub rx_bytes: Counter,
    /// Frames sent.
    pub tx_packets: Counter,
    /// Bytes sent.
    pub tx_bytes: Counter,
    /// Refused rx descriptors (also in `rx_packets` and the `bad_desc` drop reason).
    pub bad_desc: Counter,
    /// Refused completion-ring addresses (each a sent frame that did not come back).
    pub bad_completion: Counter,
    /// Of `rx_packets`, multi-buffer packets (several UMEM chunks).
    pub rx_mb: Counter,
    /// Of `tx_packets`, multi-buffer packets (sent as several descriptors).
    pub tx_mb: Counter,
    /// Frames sent with a checksum request for the device (`--csum offload` through AF_XDP
    /// TX metadata).
    pub tx_csum_offload: Counter,
    /// Frames whose checksum request this port could not pass on, completed in software
    /// before sending (a port without TX metadata).
    pub tx_csum_software: Counter,
}

/// Where a worker's frames were when it stopped: every one of its UMEMs' frames is free
/// (back in its pool), lent to the kernel to receive into (the fill ring, kept until the
/// socket closes), or still sending. Anything else is lost.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FrameReport {
    /// Frames of the worker's UMEMs.
    pub total: u64,
    /// Back in their pools.
    pub free: u64,
    /// Lent to the kernel to receive into.
    pub rx_lent: u64,
    /// Handed to a port and not yet sent.
    pub tx_pending: u64,
}

impl FrameReport {
    /// Frames in none of the places above (a leak, or frames a bad descriptor replaced).
    pub fn lost(&self) -> i64 {
        self.total as i64 - (self.free + self.rx_lent + self.tx_pending) as i64
    }
}

/// How a worker spends its polls: all of them, and those that received something.
#[derive(Debug, Default)]
pub struct BusyCounters {
    /// Every poll of the worker's queues (updated every 1024 empty polls and at exit).
    pub polls: Counter,
    /// Polls that received at least one frame.
    pub busy_polls: Counter,
    /// Frames those polls received.
    pub busy_frames: Counter,
    /// Wall time inside those polls (receive, process, transmit), in ns.
    pub busy_ns: Counter,
}

/// The copies `mirred mirror` makes: frames sent that were never received, so a worker's
/// books read rx + mirrored = tx + dropped.
#[derive(Debug, Default)]
pub struct MirrorCounters {
    /// Copies made and queued for transmission.
    pub mirrored: Counter,
    /// Copies not made: no free frame, no queue of the port on this worker, or a full
    /// burst of copies.
    pub failed: Counter,
}

/// Everything one worker counts.
#[derive(Debug)]
pub struct WorkerStats {
    /// The core the worker is pinned to (`None`: unpinned).
    pub core: Option<usize>,
    /// Indexed like the worker's port queues.
    pub queues: Vec<CachePadded<QueueCounters>>,
    /// Global port number of each queue.
    pub queue_ports: Vec<usize>,
    /// One counter per [`DropReason`], at [`DropReason::index`].
    pub drops: CachePadded<[Counter; DropReason::COUNT]>,
    /// How the worker spends its polls.
    pub busy: CachePadded<BusyCounters>,
    /// Mirror copies.
    pub mirrors: CachePadded<MirrorCounters>,
    /// Set once, when the worker has stopped and handed its frames back.
    pub frames_at_exit: std::sync::OnceLock<FrameReport>,
}

impl WorkerStats {
    /// Zeroed counters for a worker on `core` whose queue `i` belongs to port `queue_ports[i]`.
    pub fn new(core: Option<usize>, queue_ports: Vec<usize>) -> WorkerStats {
        WorkerStats {
            core,
            queues: queue_ports.iter().map(|_| CachePadded::new(QueueCounters::default())).collect(),
            queue_ports,
            drops: CachePadded::new(std::array::from_fn(|_| Counter::default())),
            busy: CachePadded::new(BusyCounters::default()),
            mirrors: CachePadded::new(MirrorCounters::default()),
            frames_at_exit: std::sync::OnceLock::new(),
        }
    }

    #[inline]
    /// Counts `n` frames dropped for `reason`.
    pub fn count_drop(&self, reason: DropReason, n: u64) {
        self.drops[reason.index()].add(n);
    }
}

/// A summed reading of every worker, taken by the control thread.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// Per port, by port number.
    pub ports: Vec<PortTotals>,
    /// Per worker, in the order given.
    pub workers: Vec<WorkerTotals>,
    /// Drops per reason, over all workers (at [`DropReason::index`]).
    pub drops: [u64; DropReason::COUNT],
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
/// One port's counters, summed over the workers that have queues of it.
pub struct PortTotals {
    /// Frames received.
    pub rx_packets: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Frames sent.
    pub tx_packets: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Refused rx descriptors.
    pub bad_desc: u64,
    /// Refused completion-ring addresses.
    pub bad_completion: u64,
    /// Of `rx_packets`, multi-buffer packets.
    pub rx_mb: u64,
    /// Of `tx_packets`, multi-buffer packets.
    pub tx_mb: u64,
    /// Frames sent with a checksum request for the device.
    pub tx_csum_offload: u64,
    /// Frames whose checksum request was completed in software before sending.
    pub tx_csum_software: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
/// One worker's counters, summed over its queues.
pub struct WorkerTotals {
    /// The core it is pinned to.
    pub core: Option<usize>,
    /// Frames received.
    pub rx_packets: u64,
    /// Frames sent.
    pub tx_packets: u64,
    /// Of `rx_packets`, multi-buffer packets.
    pub rx_mb: u64,
    /// Of `tx_packets`, multi-buffer packets.
    pub tx_mb: u64,
    /// Drops per reason (at [`DropReason::index`]).
    pub drops: [u64; DropReason::COUNT],
    /// Every poll of its queues.
    pub polls: u64,
    /// Polls that received at least one frame.
    pub busy_polls: u64,
    /// Frames those polls received.
    pub busy_frames: u64,
    /// Wall time inside those polls, in ns.
    pub busy_ns: u64,
    /// Mirror copies made (frames sent that were not received).
    pub mirrored: u64,
    /// Mirror copies that could not be made.
    pub mirror_failed: u64,
    /// Frames sent with a checksum request for the device (`--csum offload`).
    pub tx_csum_offload: u64,
    /// Frames whose checksum request was completed in software (a port without TX
    /// metadata).
    pub tx_csum_software: u64,
    /// `None` while the worker runs.
    pub frames_at_exit: Option<FrameReport>,
}

// By hand: arrays of more than 32 elements have no derived `Default`.
impl Default for Snapshot {
    fn default() -> Snapshot {
        Snapshot { ports: Vec::new(), workers: Vec::new(), drops: [0; DropReason::COUNT] }
    }
}

impl Default for WorkerTotals {
    fn default() -> WorkerTotals {
        WorkerTotals {
            core: None,
            rx_packets: 0,
            tx_packets: 0,
            rx_mb: 0,
            tx_mb: 0,
            drops: [0; DropReason::COUNT],
            polls: 0,
            busy_polls: 0,
            busy_frames: 0,
            busy_ns: 0,
            mirrored: 0,
            mirror_failed: 0,
            tx_csum_offload: 0,
            tx_csum_software: 0,
            frames_at_exit: None,
        }
    }
}

impl Snapshot {
    /// Reads and sums the counters of `workers`, whose queues belong to `port_count` ports.
    pub fn take(workers: &[std::sync::Arc<WorkerStats>], port_count: usize) -> Snapshot {
        let mut snap = Snapshot { ports: vec![PortTotals::default(); port_count], ..Default::default() };
        for worker in workers {
            let mut totals = WorkerTotals {
                core: worker.core,
                polls: worker.busy.polls.get(),
                busy_polls: worker.busy.busy_polls.get(),
                busy_frames: worker.busy.busy_frames.get(),
                busy_ns: worker.busy.busy_ns.get(),
                mirrored: worker.mirrors.mirrored.get(),
                mirror_failed: worker.mirrors.failed.get(),
                frames_at_exit: worker.frames_at_exit.get().copied(),
                ..Default::default()
            };
            for (queue, &port) in worker.queues.iter().zip(&worker.queue_ports) {
                let p = &mut snap.ports[port];
                p.rx_packets += queue.rx_packets.get();
                p.rx_bytes += queue.rx_bytes.get();
                p.tx_packets += queue.tx_packets.get();
                p.tx_bytes += queue.tx_bytes.get();
                p.bad_desc += queue.bad_desc.get();
                p.bad_completion += queue.bad_completion.get();
                p.rx_mb += queue.rx_mb.get();
                p.tx_mb += queue.tx_mb.get();
                totals.rx_packets += queue.rx_packets.get();
                totals.tx_packets += queue.tx_packets.get();
                totals.rx_mb += queue.rx_mb.get();
                totals.tx_mb += queue.tx_mb.get();
                p.tx_csum_offload += queue.tx_csum_offload.get();
                p.tx_csum_software += queue.tx_csum_software.get();
                totals.tx_csum_offload += queue.tx_csum_offload.get();
                totals.tx_csum_software += queue.tx_csum_software.get();
            }
            for (slot, counter) in worker.drops.iter().enumerate() {
                totals.drops[slot] = counter.get();
                snap.drops[slot] += counter.get();
            }
            snap.workers.push(totals);
        }
        snap
    }

    /// Frames received, over all ports.
    pub fn rx(&self) -> u64 {
        self.ports.iter().map(|p| p.rx_packets).sum()
    }

    /// Frames sent, over all ports.
    pub fn tx(&self) -> u64 {
        self.ports.iter().map(|p| p.tx_packets).sum()
    }

    /// Frames dropped, for any reason.
    pub fn dropped(&self) -> u64 {
        self.drops.iter().sum()
    }

    /// Mirror copies made, over all workers: rx + mirrored = tx + dropped.
    pub fn mirrored(&self) -> u64 {
        self.workers.iter().map(|w| w.mirrored).sum()
    }

    /// Mirror copies that could not be made, over all workers.
    pub fn mirror_failed(&self) -> u64 {
        self.workers.iter().map(|w| w.mirror_failed).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn snapshot_sums_workers_per_port() {
        let a = Arc::new(WorkerStats::new(Some(0), vec![0, 1]));
        let b = Arc::new(WorkerStats::new(Some(1), vec![0, 1]));
        a.queues[0].rx_packets.add(10);
        b.queues[0].rx_packets.add(5);
        a.queues[1].tx_packets.add(9);
        a.count_drop(DropReason::TxFull, 1);
        b.count_drop(DropReason::Action, 5);
        let snap = Snapshot::take(&[a, b], 2);
        assert_eq!(snap.ports[0].rx_packets, 15);
        assert_eq!(snap.ports[1].tx_packets, 9);
        assert_eq!((snap.rx(), snap.tx(), snap.dropped()), (15, 9, 6));
        assert_eq!(snap.workers[1].drops[DropReason::Action.index()], 5);
        assert_eq!(snap.drops[DropReason::TxFull.index()], 1);
    }

    #[test]
    fn every_drop_reason_has_its_own_slot_and_name() {
        let reasons: Vec<DropReason> = DropReason::all().collect();
        assert_eq!(reasons.len(), DropReason::COUNT);
        for (slot, reason) in reasons.iter().enumerate() {
            assert_eq!(reason.index(), slot, "{reason:?}");
        }
        let mut names: Vec<String> = reasons.iter().map(|r| r.name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), DropReason::COUNT);
        assert!(names.contains(&"malformed_bad_ihl".to_string()));
        assert!(names.contains(&"csum_inner_l4".to_string()));
        assert!(names.contains(&"mtu_exceeded".to_string()));
        assert!(names.contains(&"bad_desc".to_string()));
    }
}
