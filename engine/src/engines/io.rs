//! The `io` engine: no parsing, `--action` on every frame of the burst (DPDK testpmd's
//! `rxonly`, `macswap` and `io` forwarding modes). Also the last step of [`super::checked`].

use umem::Frame;

use super::{swap_macs, Action, ForwardingEngine};
use crate::queues::Queues;
use crate::stats::DropReason;

/// Drops, reflects or forwards whole bursts, as [`Action`] says.
#[derive(Clone, Copy, Debug)]
pub struct Io {
    action: Action,
    /// The bursts it is given are as the worker received (and counted) them: same lengths,
    /// no checksum request. Then transmit does not count them again.
    as_received: bool,
}

impl Io {
    /// An engine doing `action` with every frame.
    pub fn new(action: Action) -> Io {
        Io { action, as_received: true }
    }

    /// [`Io`] as the last step of an engine that may have changed its bursts' frames
    /// (`as_received`: false) or only dropped some of them (true).
    pub(crate) fn after(action: Action, as_received: bool) -> Io {
        Io { action, as_received }
    }

    #[inline]
    fn transmit(&self, from: usize, to: usize, burst: &mut Vec<Frame>, queues: &mut Queues<'_>) {
        if self.as_received {
            queues.transmit_received(from, to, burst);
        } else {
            queues.transmit(from, to, burst);
        }
    }
}

impl ForwardingEngine for Io {
    #[inline]
    fn forward(&mut self, burst: &mut Vec<Frame>, from: usize, queues: &mut Queues<'_>) {
        match self.action {
            Action::Drop => queues.drop_all(from, burst, DropReason::Action),
            Action::Reflect => {
                swap_all_macs(burst, from, queues);
                self.transmit(from, from, burst, queues);
            }
            Action::Fwd => {
                let to = queues.fwd_to(from);
                self.transmit(from, to, burst, queues);
            }
        }
    }
}

/// Swaps the MACs of every frame; one too short to have them is dropped (`runt`).
fn swap_all_macs(burst: &mut Vec<Frame>, from: usize, queues: &mut Queues<'_>) {
    let stats = queues.stats();
    let slot = queues.slot(from);
    let mut i = 0;
    while i < burst.len() {
        if !swap_macs(slot.umem.data_mut(&mut burst[i])) {
            // Shorter than an Ethernet header: nothing to swap (rare path, so remove()).
            slot.pool.put(burst.remove(i));
            stats.count_drop(DropReason::Runt, 1);
            continue;
        }
        i += 1;
    }
}
