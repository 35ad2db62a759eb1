//! A worker's port queues, their UMEMs and its counters, as a forwarding engine sees them for
//! one burst: where a frame's bytes are, how to free a frame under a drop reason, and how to
//! send frames out of a queue (copying them into another UMEM where two ports share none).

use pmd::Port;
use pmd::{UmemSlot, Umems};
use umem::{BurstSums, Frame, PoolCache, TxCsum};
use wire::checks::{self, L4Request};

use crate::stats::{DropReason, WorkerStats};

/// One port queue a worker polls, and where its frames go.
pub struct PortQueue {
    /// The port (one queue of it) this worker receives from and sends on.
    pub port: Box<dyn Port>,
    /// The worker UMEM (and pool) this queue's frames live in.
    pub slot: usize,
    /// Index (in the worker's queues) of the queue `Fwd` transmits on.
    pub fwd_to: usize,
}

/// The worker's queues, UMEMs and counters, lent to an engine for one burst.
pub struct Queues<'w> {
    ports: &'w mut [PortQueue],
    umems: &'w mut Umems,
    stats: &'w WorkerStats,
    /// Scratch for [`Queues::transmit`] across UMEMs (capacity `BURST`, never grows).
    copies: &'w mut Vec<Frame>,
    /// The burst as the worker received and counted it (for [`Queues::transmit_received`]).
    received: Received,
}

/// A burst as received: how many frames, and their [`Tally`].
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Received {
    pub frames: usize,
    pub tally: Tally,
}

impl<'w> Queues<'w> {
    pub(crate) fn new(
        ports: &'w mut [PortQueue],
        umems: &'w mut Umems,
        stats: &'w WorkerStats,
        copies: &'w mut Vec<Frame>,
        received: Received,
    ) -> Queues<'w> {
        Queues { ports, umems, stats, copies, received }
    }

    /// How many queues the worker polls (indices `0..count()`).
    pub fn count(&self) -> usize {
        self.ports.len()
    }

    /// The UMEM (frame bytes) and pool (free frames) of `queue`'s frames.
    #[inline]
    pub fn slot(&mut self, queue: usize) -> &mut UmemSlot {
        &mut self.umems.slots[self.ports[queue].slot]
    }

    /// The worker's counters (drops are counted here; rx and tx by the worker and
    /// [`Queues::transmit`]).
    #[inline]
    pub fn stats(&self) -> &'w WorkerStats {
        self.stats
    }

    /// The queue `--action fwd` sends `queue`'s frames to.
    #[inline]
    pub fn fwd_to(&self, queue: usize) -> usize {
        self.ports[queue].fwd_to
    }

    /// Frees every frame of `frames` (received on `queue`), counted under `reason`.
    #[inline]
    pub fn drop_all(&mut self, queue: usize, frames: &mut Vec<Frame>, reason: DropReason) {
        self.stats.count_drop(reason, frames.len() as u64);
        self.slot(queue).pool.put_all(frames);
    }

    /// Sends `frames` (received on queue `from`) on queue `to`; whatever the ring cannot take
    /// is dropped and counted (`tx_full`). Leaves `frames` empty.
    ///
    /// A frame with a checksum request (`--csum offload`) goes to the port as it is where
    /// the port passes requests to its device ([`Port::tx_csum_offload`]); otherwise its
    /// checksum is completed here, in software, first (`--csum lco`'s bytes).
    #[inline]
    pub fn transmit(&mut self, from: usize, to: usize, frames: &mut Vec<Frame>) {
        self.transmit_counted(from, to, frames, None);
    }

    /// [`Queues::transmit`] of the burst exactly as it was received (every frame, none
    /// changed in length, no checksum request: `--action fwd` and `reflect` without
    /// parsing), which the worker has counted already, so it is not counted again.
    #[inline]
    pub fn transmit_received(&mut self, from: usize, to: usize, frames: &mut Vec<Frame>) {
        let received = (frames.len() == self.received.frames).then_some(self.received.tally);
        self.transmit_counted(from, to, frames, received);
    }

    #[inline]
    fn transmit_counted(&mut self, from: usize, to: usize, frames: &mut Vec<Frame>, known: Option<Tally>) {
        let from_slot = self.ports[from].slot;
        let to_slot = self.ports[to].slot;
        let before = frames.len();
        if from_slot != to_slot {
            self.copy_to_slot(from_slot, to_slot, frames);
        }
        // One pass over the burst for everything counted of it, unless that was done at
        // receive and no copy was lost since.
        let burst = match known {
            Some(tally) if frames.len() == before => tally,
            _ => tally(&self.umems.slots[to_slot].pool, frames),
        };
        debug_assert_eq!(burst, tally(&self.umems.slots[to_slot].pool, frames), "a stale tally");
        let requests = burst.requests;
        let counters = &self.stats.queues[to];
        let offloads = requests > 0 && self.ports[to].port.tx_csum_offload();
        if requests > 0 && !offloads {
            let umem = &self.umems.slots[to_slot].umem;
            for frame in frames.iter_mut().filter(|f| f.tx_csum().is_some()) {
                complete_in_software(umem, frame);
            }
            counters.tx_csum_software.add(requests);
        }
        let pool = &mut self.umems.slots[to_slot].pool;
        let (bytes, multi) = (burst.bytes, burst.multi);
        let sent = self.ports[to].port.tx_burst(pool, frames);
        if offloads {
            let unsent = frames.iter().filter(|f| f.tx_csum().is_some()).count() as u64;
            counters.tx_csum_offload.add(requests - unsent);
        }
        counters.tx_packets.add(sent as u64);
        if frames.is_empty() {
            counters.tx_bytes.add(bytes);
            if multi > 0 {
                counters.tx_mb.add(multi);
            }
        } else {
            let unsent = tally(pool, frames);
            let (unsent_bytes, unsent_multi) = (unsent.bytes, unsent.multi);
            counters.tx_bytes.add(bytes - unsent_bytes);
            if multi > unsent_multi {
                counters.tx_mb.add(multi - unsent_multi);
            }
            self.stats.count_drop(DropReason::TxFull, frames.len() as u64);
            pool.put_all(frames);
        }
    }

    /// Moves the bytes of `frames` into frames of another UMEM (when the kernel would not let
    /// two sockets share one); `frames` then holds the copies.
    fn copy_to_slot(&mut self, from: usize, to: usize, frames: &mut Vec<Frame>) {
        let (src, dst) = two_slots(&mut self.umems.slots, from, to);
        for frame in frames.drain(..) {
            if frame.has_next() {
                // Chunk by chunk into a chain of the other UMEM (rare: UMEMs that differ in
                // multi-buffer, or a kernel that would not share one).
                match copy_chain(src, dst, &frame) {
                    Some(copy) => self.copies.push(copy),
                    None => self.stats.count_drop(DropReason::MbNoFrame, 1),
                }
                src.pool.put(frame);
                continue;
            }
            match dst.pool.get() {
                Some(mut copy) => {
                    dst.umem.write(&mut copy, src.umem.data(&frame));
                    copy.set_tx_csum(frame.tx_csum());
                    self.copies.push(copy);
                }
                None => self.stats.count_drop(DropReason::NoFrame, 1),
            }
            src.pool.put(frame);
        }
        std::mem::swap(frames, self.copies);
    }
}

/// What is counted of a burst, in one pass over it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Tally {
    /// The bytes of its packets (every chunk of a multi-buffer one).
    pub bytes: u64,
    /// Its multi-buffer packets.
    pub multi: u64,
    /// Its frames with a checksum request (`--csum offload`).
    pub requests: u64,
}

/// [`Tally`] of `frames` (continuation chunks of multi-buffer packets kept by `pool`).
/// Branch-free over the burst ([`BurstSums`]); the chains (rare) are walked after, only when
/// there are any.
#[inline]
pub(crate) fn tally(pool: &PoolCache, frames: &[Frame]) -> Tally {
    with_chains(pool, frames, BurstSums::of(frames))
}

/// [`tally`] of a burst just received (no frame carries a checksum request yet).
#[inline]
pub(crate) fn tally_received(pool: &PoolCache, frames: &[Frame]) -> Tally {
    with_chains(pool, frames, BurstSums::of_received(frames))
}

#[inline]
fn with_chains(pool: &PoolCache, frames: &[Frame], sums: BurstSums) -> Tally {
    let mut tally = Tally { bytes: u64::from(sums.bytes), multi: 0, requests: u64::from(sums.requests) };
    if sums.chained {
        for frame in frames.iter().filter(|f| f.has_next()) {
            tally.bytes += (pool.packet_len(frame) - frame.len()) as u64;
            tally.multi += 1;
        }
    }
    tally
}

/// A copy of the multi-buffer packet `head` (of `src`) as a chain of `dst`'s frames, or
/// `None` (every frame taken given back) when `dst` lacks free frames or chains.
#[cold]
fn copy_chain(src: &UmemSlot, dst: &mut UmemSlot, head: &Frame) -> Option<Frame> {
    if !dst.pool.chains_enabled() {
        return None;
    }
    let mut copy = dst.pool.get()?;
    dst.umem.write(&mut copy, src.umem.data(head));
    copy.set_tx_csum(head.tx_csum());
    let mut at = head;
    while let Some(piece) = src.pool.next(at) {
        let Some(mut chunk) = dst.pool.get() else {
            dst.pool.put(copy);
            return None;
        };
        dst.umem.write(&mut chunk, src.umem.data(piece));
        if let Err(chunk) = dst.pool.append(&mut copy, chunk) {
            dst.pool.put(chunk);
            dst.pool.put(copy);
            return None;
        }
        at = piece;
    }
    Some(copy)
}

/// The device's part of a checksum request, done here (as `skb_checksum_help` would), and
/// the request withdrawn.
#[cold]
fn complete_in_software(umem: &umem::Umem, frame: &mut Frame) {
    let request = frame.tx_csum();
    checks::complete(umem.data_mut(frame), L4Request { start: request.start(), offset: request.offset() });
    frame.set_tx_csum(TxCsum::NONE);
}

fn two_slots(slots: &mut [UmemSlot], a: usize, b: usize) -> (&mut UmemSlot, &mut UmemSlot) {
    assert_ne!(a, b);
    if a < b {
        let (left, right) = slots.split_at_mut(b);
        (&mut left[a], &mut right[0])
    } else {
        let (left, right) = slots.split_at_mut(a);
        (&mut right[0], &mut left[b])
    }
}
