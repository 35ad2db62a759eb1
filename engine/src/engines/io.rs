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
}

impl Io {
    /// An engine doing `action` with every frame.
    pub fn new(action: Action) -> Io {
        Io { action }
    }
}

impl ForwardingEngine for Io {
    #[inline]
    fn forward(&mut self, burst: &mut Vec<Frame>, from: usize, queues: &mut Queues<'_>) {
        match self.action {
            Action::Drop => queues.drop_all(from, burst, DropReason::Action),
            Action::Reflect => {
                swap_all_macs(burst, from, queues);
                queues.transmit(from, from, burst);
            }
            Action::Fwd => {
                let to = queues.fwd_to(from);
                queues.transmit(from, to, burst);
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
