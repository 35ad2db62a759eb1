//! The classified path as it was before [`super::classified::Classified`]: each frame
//! walked, checked, looked up and routed before the next one. Kept (hidden) so benchmarks
//! measure the burst engine against it in one run, and tests check the two decide alike.

use std::sync::Arc;

use umem::Frame;

use super::actions::{carry_out, egress, MirrorOut};
use super::classified::{RulesHold, OUT_CAPACITY};
use super::routes::Routes;
use super::{Action, ForwardingEngine};
use crate::pipeline::{Pipeline, Scratch, SharedRules};
use crate::queues::Queues;

/// The pipeline and the rules, one frame at a time.
pub struct FrameByFrame {
    pipeline: Pipeline,
    /// As [`super::classified::Classified`]'s.
    egress_pipeline: Pipeline,
    rules: RulesHold,
    routes: Routes,
    scratch: Scratch,
    /// Per queue: the frames of this burst that leave through it.
    out: Vec<Vec<Frame>>,
}

impl FrameByFrame {
    /// As [`super::classified::Classified::new`].
    pub fn new(
        action: Action,
        pipeline: Pipeline,
        shared: Arc<SharedRules>,
        worker: usize,
        queue_ports: &[usize],
    ) -> FrameByFrame {
        FrameByFrame {
            egress_pipeline: pipeline.without_rewrite(),
            pipeline,
            rules: RulesHold::new(shared, worker),
            routes: Routes::new(action, queue_ports),
            scratch: Scratch::default(),
            out: queue_ports.iter().map(|_| Vec::with_capacity(OUT_CAPACITY)).collect(),
        }
    }
}

impl ForwardingEngine for FrameByFrame {
    fn forward(&mut self, burst: &mut Vec<Frame>, from: usize, queues: &mut Queues<'_>) {
        self.rules.refresh();
        let (table, worker) = (self.rules.table(), self.rules.worker());
        let (stats, fwd_to) = (queues.stats(), queues.fwd_to(from));
        let slot = queues.slot(from);
        self.scratch.in_port = Some(self.routes.port_of(from));
        let mut mirrors = MirrorOut { out: &mut self.out, routes: &self.routes, stats };
        for mut frame in burst.drain(..) {
            let scratch = &mut self.scratch;
            // Multi-buffer packets are the classified engine's business (a linear copy); this
            // reference engine, kept to measure against, does not take them.
            let multi = if frame.has_next() { Err(crate::stats::DropReason::MbUnparsed) } else { Ok(()) };
            let to = multi
                .and_then(|()| self.pipeline.prepare(slot.umem.data(&frame), scratch))
                .and_then(|()| {
                    let (matched, _) = table.lookup(&scratch.key, worker);
                    let (offsets, key) = (&mut scratch.offsets, &mut scratch.key);
                    carry_out(&self.pipeline, table, worker, slot, &mut frame, offsets, key, matched, &mut mirrors)
                })
                .and_then(|disposition| self.routes.route(disposition, from, fwd_to, slot.umem.data_mut(&mut frame)))
                .and_then(|queue| {
                    let (offsets, key) = (&mut scratch.offsets, &mut scratch.key);
                    let at = (from, fwd_to, queue);
                    egress(&self.egress_pipeline, table, worker, slot, &mut frame, offsets, key, at, &mut mirrors)
                });
            match to {
                Ok(queue) => mirrors.out[queue].push(frame),
                Err(reason) => {
                    stats.count_drop(reason, 1);
                    slot.pool.put(frame);
                }
            }
        }
        for (queue, frames) in self.out.iter_mut().enumerate().filter(|(_, frames)| !frames.is_empty()) {
            queues.transmit(from, queue, frames);
        }
    }

    fn idle(&mut self) {
        self.rules.refresh();
    }
}
