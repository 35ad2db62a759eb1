//! The `checked` engine: every frame through the [`Pipeline`] (walk, checksum policy,
//! `--rewrite`, checksum computation), the failures freed under their drop reason, then the
//! survivors dropped, reflected or forwarded as in [`Io`].

use umem::Frame;
use wire::Offsets;

use super::io::Io;
use super::{Action, ForwardingEngine};
use crate::pipeline::multi::Linear;
use crate::pipeline::Pipeline;
use crate::queues::Queues;

/// The pipeline frame by frame, then `--action` on the burst's survivors.
pub struct Checked {
    pipeline: Pipeline,
    /// Scratch for the walk: no frame allocates.
    offsets: Offsets,
    /// The linear copy of a multi-buffer packet ([`crate::pipeline::multi`]).
    linear: Linear,
    then: Io,
}

impl Checked {
    /// An engine running `pipeline` on every frame, then doing `action` with the survivors.
    pub fn new(action: Action, pipeline: Pipeline) -> Checked {
        let then = Io::after(action, pipeline.keeps_lengths_and_requests());
        Checked { pipeline, offsets: Offsets::default(), linear: Linear::default(), then }
    }
}

impl ForwardingEngine for Checked {
    #[inline]
    fn forward(&mut self, burst: &mut Vec<Frame>, from: usize, queues: &mut Queues<'_>) {
        let stats = queues.stats();
        let slot = queues.slot(from);
        // Survivors move to the front, in order; the rest go back to the pool.
        let mut kept = 0;
        for i in 0..burst.len() {
            let frame = &mut burst[i];
            let processed = if frame.has_next() {
                self.pipeline.process_multi(&slot.umem, &slot.pool, frame, &mut self.offsets, &mut self.linear)
            } else {
                self.pipeline.process(&slot.umem, frame, &mut self.offsets)
            };
            match processed {
                Ok(()) => {
                    if kept != i {
                        burst.swap(kept, i);
                    }
                    kept += 1;
                }
                Err(reason) => stats.count_drop(reason, 1),
            }
        }
        for frame in burst.drain(kept..) {
            slot.pool.put(frame);
        }
        if !burst.is_empty() {
            self.then.forward(burst, from, queues);
        }
    }
}
