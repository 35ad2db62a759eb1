//! Counters kept outside the worker for one port queue: what the kernel (or a driver) saw
//! that the worker cannot, such as frames dropped before they reached a ring, descriptors
//! refused, rings found full or empty. AF_XDP's `XDP_STATISTICS` are one source of them; a
//! port with no such counters has none ([`crate::Port::counters`] returns `None`).
//!
//! The worker owns its ports, so the counters are read through a [`CounterSource`] handle
//! the control thread holds: one system call a read, off the data path.

use std::io;
use std::ops::AddAssign;

use crate::rx_hints::HintCounts;

/// One reading of a port queue's counters: totals since the queue was opened. The names are
/// those of the kernel's `struct xdp_statistics`, which the stats JSON prints as they are.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PortCounters {
    /// Frames dropped for reasons the other counters do not name (an empty fill ring counts
    /// here and in `rx_fill_ring_empty_descs`).
    pub rx_dropped: u64,
    /// Received frames dropped for an invalid descriptor.
    pub rx_invalid_descs: u64,
    /// Frames to send dropped for an invalid descriptor.
    pub tx_invalid_descs: u64,
    /// Received frames dropped because the rx ring was full: the worker is not keeping up.
    pub rx_ring_full: u64,
    /// Times the kernel had a frame to deliver and found no empty frame in the fill ring.
    pub rx_fill_ring_empty_descs: u64,
    /// Times the kernel looked for frames to send and found the tx ring empty.
    pub tx_ring_empty_descs: u64,
    /// With RX hints on ([`crate::rx_hints`]): frames that carried each hint; `None` when
    /// the queue reads none.
    pub rx_hints: Option<HintCounts>,
}

impl AddAssign for PortCounters {
    fn add_assign(&mut self, other: PortCounters) {
        self.rx_dropped += other.rx_dropped;
        self.rx_invalid_descs += other.rx_invalid_descs;
        self.tx_invalid_descs += other.tx_invalid_descs;
        self.rx_ring_full += other.rx_ring_full;
        self.rx_fill_ring_empty_descs += other.rx_fill_ring_empty_descs;
        self.tx_ring_empty_descs += other.tx_ring_empty_descs;
        self.rx_hints = match (self.rx_hints, other.rx_hints) {
            (Some(mut mine), Some(theirs)) => {
                mine += theirs;
                Some(mine)
            }
            (mine, theirs) => mine.or(theirs),
        };
    }
}

/// Reads one port queue's [`PortCounters`] from any thread, while a worker owns the port.
pub trait CounterSource: Send + Sync {
    /// The counters now (a system call for AF_XDP; not for the data path).
    fn read(&self) -> io::Result<PortCounters>;
}
