//! Where a rule's disposition sends a frame, shared by the classified engines and the
//! actions they carry out.

use super::{swap_macs, Action};
use crate::pipeline::Disposition;
use crate::stats::DropReason;

/// Where a rule's disposition sends a frame: `pass` goes as `--action` says, `fwd N` to this
/// worker's queue of port N.
pub(super) struct Routes {
    action: Action,
    /// By port number: this worker's (first) queue of that port.
    port_queue: Vec<Option<usize>>,
    /// By queue: its port (what `indev` rules test).
    queue_port: Vec<u16>,
}

impl Routes {
    /// Routes for a worker whose queue `i` belongs to port `queue_ports[i]`.
    pub(super) fn new(action: Action, queue_ports: &[usize]) -> Routes {
        let ports = queue_ports.iter().copied().max().map_or(0, |p| p + 1);
        let mut port_queue = vec![None; ports];
        for (queue, &port) in queue_ports.iter().enumerate() {
            port_queue[port].get_or_insert(queue);
        }
        let queue_port = queue_ports.iter().map(|&port| u16::try_from(port).unwrap_or(u16::MAX)).collect();
        Routes { action, port_queue, queue_port }
    }

    /// This worker's (first) queue of `port`, if it has one.
    #[inline]
    pub(super) fn queue_of_port(&self, port: usize) -> Option<usize> {
        self.port_queue.get(port).copied().flatten()
    }

    /// The port queue `queue` belongs to (`u16::MAX` for none, which no `indev` rule names).
    #[inline]
    pub(super) fn port_of(&self, queue: usize) -> u16 {
        self.queue_port.get(queue).copied().unwrap_or(u16::MAX)
    }

    /// The queue a frame received on `from` leaves by (`fwd_to`: where `--action fwd` sends
    /// `from`'s frames), its MACs swapped first where it is reflected; or why it is dropped.
    #[inline]
    pub(super) fn route(
        &self,
        disposition: Disposition,
        from: usize,
        fwd_to: usize,
        data: &mut [u8],
    ) -> Result<usize, DropReason> {
        let (queue, swap) = match disposition {
            Disposition::Pass => match self.action {
                Action::Drop => return Err(DropReason::Action),
                Action::Reflect => (from, true),
                Action::Fwd => (fwd_to, false),
            },
            Disposition::Reflect => (from, true),
            Disposition::Fwd(port) => (self.port_queue.get(port).copied().flatten().ok_or(DropReason::NoRoute)?, false),
            Disposition::Drop => return Err(DropReason::Rule),
        };
        if swap && !swap_macs(data) {
            return Err(DropReason::Runt);
        }
        Ok(queue)
    }
}
