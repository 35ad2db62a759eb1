//! A poll-mode worker: one thread, pinned to one core, running its port queues to
//! completion in bursts. No allocation, no locks, no system calls but the AF_XDP wakeups
//! inside the ports.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use pmd::af_xdp::WorkerUmems;
use pmd::{Port, BURST};
use umem::Frame;

use crate::pipeline::Pipeline;
use crate::stats::{DropReason, WorkerStats};
use crate::wire::Offsets;

/// What the worker does with every frame it receives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Count and free (DPDK testpmd's `rxonly`).
    Drop,
    /// Swap the Ethernet addresses and send back out of the same port (`macswap`).
    Reflect,
    /// Send out of the paired port unchanged (`io` forwarding, port 0 <-> port 1).
    Fwd,
}

/// One port queue a worker polls, and where its frames go.
pub struct PortQueue {
    pub port: Box<dyn Port>,
    /// The worker UMEM (and pool) this queue's frames live in.
    pub slot: usize,
    /// Index (in the worker's queues) of the queue `Fwd` transmits on.
    pub fwd_to: usize,
}

pub struct Worker {
    pub queues: Vec<PortQueue>,
    pub umems: WorkerUmems,
    pub action: Action,
    pub stats: Arc<WorkerStats>,
    /// `None`: raw io forwarding (no parsing), for benchmarks of the I/O path alone.
    pub pipeline: Option<Pipeline>,
    burst: Vec<Frame>,
    copies: Vec<Frame>,
    offsets: Offsets,
}

impl Worker {
    pub fn new(
        queues: Vec<PortQueue>,
        umems: WorkerUmems,
        action: Action,
        pipeline: Option<Pipeline>,
        stats: Arc<WorkerStats>,
    ) -> Worker {
        Worker {
            queues,
            umems,
            action,
            stats,
            pipeline,
            burst: Vec::with_capacity(BURST),
            copies: Vec::with_capacity(BURST),
            offsets: Offsets::default(),
        }
    }

    /// Polls until `stop` is set, or until every queue's input is exhausted (capture files)
    /// and everything sent has left; then hands every frame back.
    pub fn run(mut self, stop: &AtomicBool) {
        if let Some(core) = self.stats.core {
            if !core_affinity::set_for_current(core_affinity::CoreId { id: core }) {
                eprintln!("worker: could not pin to core {core}; running unpinned");
            }
        }
        while !stop.load(Ordering::Relaxed) {
            if self.poll_once() == 0 {
                self.idle();
                if self.finished() {
                    break;
                }
                std::hint::spin_loop();
            }
        }
        self.finish();
    }

    /// One pass over every queue: receive a burst, act on it. Returns the frames received.
    #[inline]
    pub fn poll_once(&mut self) -> usize {
        let mut received = 0;
        for index in 0..self.queues.len() {
            let slot = self.queues[index].slot;
            let pool = &mut self.umems.slots[slot].pool;
            let n = self.queues[index].port.rx_burst(pool, &mut self.burst, BURST);
            if n == 0 {
                continue;
            }
            received += n;
            let counters = &self.stats.queues[index];
            counters.rx_packets.add(n as u64);
            counters.rx_bytes.add(self.burst.iter().map(|f| f.len() as u64).sum());
            if self.pipeline.is_some() {
                self.run_pipeline(slot);
                if self.burst.is_empty() {
                    continue;
                }
            }
            let pool = &mut self.umems.slots[slot].pool;
            let n = self.burst.len();
            match self.action {
                Action::Drop => {
                    pool.put_all(&mut self.burst);
                    self.stats.count_drop(DropReason::Action, n as u64);
                }
                Action::Reflect => {
                    self.swap_macs(slot);
                    self.transmit(index, index);
                }
                Action::Fwd => {
                    let to = self.queues[index].fwd_to;
                    self.transmit(index, to);
                }
            }
        }
        received
    }

    /// Runs every frame of the burst through the pipeline; keeps the survivors in order and
    /// frees the rest under their drop reason.
    #[inline]
    fn run_pipeline(&mut self, slot: usize) {
        let Some(pipeline) = &self.pipeline else { return };
        let slot = &mut self.umems.slots[slot];
        let mut kept = 0;
        for i in 0..self.burst.len() {
            match pipeline.process(&slot.umem, &mut self.burst[i], &mut self.offsets) {
                Ok(()) => {
                    self.burst.swap(kept, i);
                    kept += 1;
                }
                Err(reason) => self.stats.count_drop(reason, 1),
            }
        }
        for frame in self.burst.drain(kept..) {
            slot.pool.put(frame);
        }
    }

    fn swap_macs(&mut self, slot: usize) {
        let slot = &mut self.umems.slots[slot];
        let mut i = 0;
        while i < self.burst.len() {
            let data = slot.umem.data_mut(&mut self.burst[i]);
            if data.len() < 14 {
                // Shorter than an Ethernet header: nothing to swap (rare path, so remove()).
                slot.pool.put(self.burst.remove(i));
                self.stats.count_drop(DropReason::Runt, 1);
                continue;
            }
            let (dst, src) = data.split_at_mut(6);
            dst.swap_with_slice(&mut src[..6]);
            i += 1;
        }
    }

    /// Sends the burst on queue `to`; whatever the ring cannot take is dropped and counted.
    #[inline]
    fn transmit(&mut self, from: usize, to: usize) {
        let from_slot = self.queues[from].slot;
        let to_slot = self.queues[to].slot;
        if from_slot != to_slot {
            self.copy_to_slot(from_slot, to_slot);
        }
        let bytes: u64 = self.burst.iter().map(|f| f.len() as u64).sum();
        let pool = &mut self.umems.slots[to_slot].pool;
        let sent = self.queues[to].port.tx_burst(pool, &mut self.burst);
        let counters = &self.stats.queues[to];
        counters.tx_packets.add(sent as u64);
        if self.burst.is_empty() {
            counters.tx_bytes.add(bytes);
        } else {
            let unsent_bytes: u64 = self.burst.iter().map(|f| f.len() as u64).sum();
            counters.tx_bytes.add(bytes - unsent_bytes);
            self.stats.count_drop(DropReason::TxFull, self.burst.len() as u64);
            pool.put_all(&mut self.burst);
        }
    }

    /// Moves the burst's bytes into frames of another UMEM (when the kernel would not let
    /// two sockets share one).
    fn copy_to_slot(&mut self, from: usize, to: usize) {
        let (src, dst) = two_slots(&mut self.umems.slots, from, to);
        for frame in self.burst.drain(..) {
            match dst.pool.get() {
                Some(mut copy) => {
                    dst.umem.write(&mut copy, src.umem.data(&frame));
                    self.copies.push(copy);
                }
                None => self.stats.count_drop(DropReason::NoFrame, 1),
            }
            src.pool.put(frame);
        }
        std::mem::swap(&mut self.burst, &mut self.copies);
    }

    fn idle(&mut self) {
        for queue in &mut self.queues {
            queue.port.poll(&mut self.umems.slots[queue.slot].pool);
        }
    }

    /// Every input is a finished capture and nothing is left to send.
    fn finished(&self) -> bool {
        self.queues.iter().all(|q| q.port.rx_exhausted() && q.port.tx_pending() == 0)
    }

    fn finish(&mut self) {
        for queue in &mut self.queues {
            if let Err(err) = queue.port.finish(&mut self.umems.slots[queue.slot].pool) {
                eprintln!("{}: {err}", queue.port.describe());
            }
        }
    }
}

fn two_slots(
    slots: &mut [pmd::af_xdp::UmemSlot],
    a: usize,
    b: usize,
) -> (&mut pmd::af_xdp::UmemSlot, &mut pmd::af_xdp::UmemSlot) {
    assert_ne!(a, b);
    if a < b {
        let (left, right) = slots.split_at_mut(b);
        (&mut left[a], &mut right[0])
    } else {
        let (left, right) = slots.split_at_mut(a);
        (&mut right[0], &mut left[b])
    }
}
