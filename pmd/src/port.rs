use std::io;
use std::sync::Arc;

use umem::{Frame, PoolCache, Umem};

use crate::counters::CounterSource;

/// Frames per burst, as in DPDK's default `nb_pkt_per_burst`.
pub const BURST: usize = 64;

/// One queue of one port: what a worker polls. DPDK's `rx_burst(port, queue)` and
/// `tx_burst(port, queue)` as a trait object owned by the worker.
///
/// Frames come from and go back to the worker's [`PoolCache`] for the port's UMEM; a port
/// never keeps a frame it was not asked to keep.
pub trait Port: Send {
    /// For messages: `af_xdp:dut0/q0`, `pcap:in.pcap`, `mem`.
    fn describe(&self) -> String;

    /// The memory this port's frames live in. Two ports on the same UMEM can pass frames
    /// without copying.
    fn umem(&self) -> &Arc<Umem>;

    /// Receives up to `max` frames onto the end of `out`; returns how many.
    fn rx_burst(&mut self, pool: &mut PoolCache, out: &mut Vec<Frame>, max: usize) -> usize;

    /// Sends frames from the front of `frames`, in order; returns how many the port took.
    /// Those it could not take (ring full) stay in `frames` for the caller to account for.
    fn tx_burst(&mut self, pool: &mut PoolCache, frames: &mut Vec<Frame>) -> usize;

    /// Housekeeping when a worker found nothing to do: reclaim sent frames, wake the kernel.
    fn poll(&mut self, _pool: &mut PoolCache) {}

    /// True once a finite source (a capture file) has delivered everything.
    fn rx_exhausted(&self) -> bool {
        false
    }

    /// Frames handed to `tx_burst` that have not finished sending yet.
    fn tx_pending(&self) -> usize {
        0
    }

    /// Flushes output and hands back every frame the port still holds.
    fn finish(&mut self, _pool: &mut PoolCache) -> io::Result<()> {
        Ok(())
    }

    /// The counters kept outside the worker for this queue (for AF_XDP, the kernel's
    /// `XDP_STATISTICS` of its socket), as a handle the control thread reads while a worker
    /// owns the port; `None` for a port without any.
    fn counters(&self) -> Option<Box<dyn CounterSource>> {
        None
    }

    /// Whether the kernel moves this queue's frames between the device and the UMEM without
    /// copying them (AF_XDP zero-copy); false for every port that has no device.
    fn zerocopy(&self) -> bool {
        false
    }

    /// Whether the port passes a frame's [`umem::TxCsum`] request to its device (AF_XDP TX
    /// metadata, `--csum offload`). A port that does not never sees a request: the worker
    /// completes the checksum in software before handing it the frame.
    fn tx_csum_offload(&self) -> bool {
        false
    }

    /// Descriptors the kernel handed back that were refused (outside the UMEM, across a
    /// chunk, a bad length, or a chunk user space already held) since the last call, and
    /// the multi-buffer packets dropped whole while gathering them. Not for every burst: a
    /// worker collects them when idle and at exit.
    fn take_bad_descs(&mut self) -> BadDescCount {
        BadDescCount::default()
    }

    /// Frames lent to the kernel to receive into (the AF_XDP fill ring): neither in the
    /// pool nor sent. The kernel keeps them until the socket closes.
    fn rx_lent(&self) -> usize {
        0
    }
}

/// Refused descriptors of one port, by ring.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BadDescCount {
    /// From the rx ring: each one was a frame the kernel says it received.
    pub rx: u64,
    /// From the completion ring.
    pub completion: u64,
    /// Multi-buffer packets dropped whole because one of their chunks was refused (each
    /// was received: counted as received and dropped, `mb_incomplete`).
    pub mb_incomplete: u64,
    /// Multi-buffer packets dropped whole for spanning more than `umem::MAX_PIECES` chunks
    /// (`mb_too_many`).
    pub mb_too_many: u64,
}
