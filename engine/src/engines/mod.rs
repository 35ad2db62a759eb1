//! One forwarding engine per mode, as DPDK's testpmd has its forwarding engines: the worker
//! receives a burst, counts it, and hands it to its engine, chosen when the worker is built.
//!
//! - [`io::Io`]: no parsing; every frame dropped, reflected (MACs swapped) or forwarded as
//!   `--action` says.
//! - [`checked::Checked`]: the pipeline first (walk, checksum policy, `--rewrite`, checksum
//!   computation), frame by frame; the survivors then go as in `io`.
//! - [`classified::Classified`]: the pipeline and the rules over whole bursts, stage by stage
//!   (walk the burst, checksum policy, the burst's keys, one `classify_burst`, then rewrite
//!   and route each frame as its rule says).
//!
//! An engine accounts for every frame it is given: sent (through [`Queues::transmit`]) or
//! freed under its [`crate::stats::DropReason`].

mod actions;
pub mod checked;
pub mod classified;
#[doc(hidden)]
pub mod frame_by_frame;
pub mod io;
#[cfg(test)]
mod mb_tests;
mod routes;
#[cfg(test)]
mod tests;

use umem::Frame;

use crate::queues::Queues;

/// What the worker does with every frame it receives (`--action`); with rules, what
/// `action pass` (and the default) does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Count and free (DPDK testpmd's `rxonly`).
    Drop,
    /// Swap the Ethernet addresses and send back out of the same port (`macswap`).
    Reflect,
    /// Send out of the paired port unchanged (`io` forwarding, port 0 <-> port 1).
    Fwd,
}

/// What a worker runs on each burst it receives.
pub trait ForwardingEngine: Send {
    /// Acts on `burst`, just received on queue `from` (and counted as received), at most
    /// `pmd::BURST` frames. Leaves `burst` empty: every frame sent or dropped and counted.
    fn forward(&mut self, burst: &mut Vec<Frame>, from: usize, queues: &mut Queues<'_>);

    /// A poll found nothing: catch up on what waits for the next burst (a new rule table),
    /// so an idle worker does not hold on to the old one.
    fn idle(&mut self) {}
}

/// Swaps the Ethernet destination and source; false when the frame is too short to have them.
#[inline]
pub(crate) fn swap_macs(data: &mut [u8]) -> bool {
    if data.len() < wire::ethernet::HEADER_LEN {
        return false;
    }
    let (dst, src) = data.split_at_mut(6);
    dst.swap_with_slice(&mut src[..6]);
    true
}
