//! The `classified` engine: the pipeline and the rules over whole bursts, stage by stage, so
//! each stage runs as one tight loop and the classifier sees the burst at once (its
//! `classify_burst` overlaps the memory accesses of several lookups):
//!
//! 1. walk every frame's layers (a frame the walker cannot parse is dropped, `malformed_*`),
//! 2. apply the checksum policy (`--csum verify`: a bad checksum is dropped, `csum_<layer>`),
//! 3. and build the key of every frame still in the burst (1 to 3 frame by frame in one loop,
//!    while the frame is in L1: three loops over the burst measured 0.87x of this,
//!    BENCHMARKS.md "Engines");
//! 4. one `classify_burst` for those keys (each answer counted in the rule's hit counter);
//! 5. per frame: its rule's drop, rewrite (and `--csum fix|lco`), and route; a rule with
//!    an action list, a chain or a policer goes through the chain interpreter
//!    ([`super::actions`]), and its mirror copies join the queues' bursts; where egress
//!    rules apply to the port it goes to, they decide again ([`super::actions::egress`]);
//! 6. the dropped frames back to the pool under their reason, the rest onto their queues;
//! 7. one `tx_burst` per queue that has frames.
//!
//! The per-frame decisions are those of classifying frame by frame
//! ([`super::frame_by_frame::FrameByFrame`], kept to measure the two against each other).

use std::sync::Arc;

use pmd::BURST;
use rules::PacketKey;
use umem::Frame;
use wire::Offsets;

use super::actions::{carry_out, egress, MirrorOut};
use super::routes::Routes;
use super::{Action, ForwardingEngine};
use crate::pipeline::multi::Linear;
use crate::pipeline::{packet_key, Pipeline, RuleTable, SharedRules};
use crate::queues::Queues;
use crate::stats::DropReason;

/// A worker's hold on the shared rule table: the table it classifies with, exchanged for a
/// newly published one between bursts (one atomic load per burst), never during one.
pub struct RulesHold {
    shared: Arc<SharedRules>,
    table: Arc<RuleTable>,
    worker: usize,
}

impl RulesHold {
    /// Holds `shared`'s current table; `worker` is this worker's number among the table's
    /// hit counters.
    pub fn new(shared: Arc<SharedRules>, worker: usize) -> RulesHold {
        let table = shared.current();
        RulesHold { shared, table, worker }
    }

    /// Takes the published table if it is newer than the one held.
    #[inline]
    pub fn refresh(&mut self) {
        if self.shared.generation() != self.table.generation {
            self.table = self.shared.current();
        }
    }

    /// The table held.
    #[inline]
    pub fn table(&self) -> &RuleTable {
        &self.table
    }

    /// This worker's number among the table's hit counters.
    #[inline]
    pub fn worker(&self) -> usize {
        self.worker
    }
}

/// The pipeline and the rules over whole bursts (see the module documentation).
pub struct Classified {
    pipeline: Pipeline,
    /// The pipeline of the egress stage: without `--rewrite`, which ingress applies.
    egress_pipeline: Pipeline,
    rules: RulesHold,
    routes: Routes,
    stages: Box<Stages>,
    /// Per queue: the frames of this burst that leave through it.
    out: Vec<Vec<Frame>>,
}

impl Classified {
    /// An engine classifying with `shared`'s table (`worker`: this worker's hit counters),
    /// for a worker whose queue `i` belongs to port `queue_ports[i]`; `action` is what `pass`
    /// does.
    pub fn new(
        action: Action,
        pipeline: Pipeline,
        shared: Arc<SharedRules>,
        worker: usize,
        queue_ports: &[usize],
    ) -> Classified {
        Classified {
            egress_pipeline: pipeline.without_rewrite(),
            pipeline,
            rules: RulesHold::new(shared, worker),
            routes: Routes::new(action, queue_ports),
            stages: Box::new(Stages::default()),
            out: queue_ports.iter().map(|_| Vec::with_capacity(OUT_CAPACITY)).collect(),
        }
    }
}

/// Room per queue for a burst's frames and as many mirror copies.
pub(super) const OUT_CAPACITY: usize = 2 * BURST;

impl ForwardingEngine for Classified {
    fn forward(&mut self, burst: &mut Vec<Frame>, from: usize, queues: &mut Queues<'_>) {
        assert!(burst.len() <= BURST, "a burst of {} frames: the worker receives at most {BURST}", burst.len());
        self.rules.refresh();
        let (table, worker) = (self.rules.table(), self.rules.worker());
        let (stats, fwd_to) = (queues.stats(), queues.fwd_to(from));
        let slot = queues.slot(from);
        let s = &mut *self.stages;
        // The stages of the module documentation: 1 to 3, then 4.
        s.prepare(&self.pipeline, slot, burst, self.routes.port_of(from));
        table.lookup_burst(&s.keys[..s.live], &mut s.matched[..s.live], worker);
        // 5: per frame, as its rule says.
        let mut mirrors = MirrorOut { out: &mut self.out, routes: &self.routes, stats };
        for (j, &i) in s.live_at[..s.live].iter().enumerate() {
            let (matched, frame) = (s.matched[j], &mut burst[i]);
            let fate = carry_out(
                &self.pipeline,
                table,
                worker,
                slot,
                frame,
                &mut s.offsets[i],
                &mut s.keys[j],
                matched,
                &mut mirrors,
            )
            .and_then(|disposition| self.routes.route(disposition, from, fwd_to, slot.umem.data_mut(frame)))
            .and_then(|queue| {
                let (offsets, key) = (&mut s.offsets[i], &mut s.keys[j]);
                let at = (from, fwd_to, queue);
                egress(&self.egress_pipeline, table, worker, slot, frame, offsets, key, at, &mut mirrors)
            });
            s.fate[i] = fate.map_or_else(Fate::Drop, Fate::Out);
        }
        // 6 and 7: sort the burst into the pool and the queues, then send.
        for (i, frame) in burst.drain(..).enumerate() {
            match s.fate[i] {
                Fate::Out(queue) => self.out[queue].push(frame),
                Fate::Drop(reason) => {
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

/// What becomes of one frame of the burst.
#[derive(Clone, Copy, Debug)]
enum Fate {
    Drop(DropReason),
    /// Onto this queue's transmit burst.
    Out(usize),
}

/// The scratch of one burst, sized for `BURST` frames and owned by the engine, so no burst
/// allocates. `offsets` and `fate` are indexed by the frame's place in the burst; `live_at`,
/// `keys` and `matched` by its place among the frames still in play (`0..live`).
struct Stages {
    offsets: [Offsets; BURST],
    fate: [Fate; BURST],
    /// The burst indices of the frames still in play, in burst order.
    live_at: [usize; BURST],
    live: usize,
    keys: [PacketKey; BURST],
    matched: [Option<usize>; BURST],
    /// The linear copy of a multi-buffer packet.
    linear: Linear,
}

impl Default for Stages {
    fn default() -> Stages {
        Stages {
            offsets: [Offsets::default(); BURST],
            fate: [Fate::Drop(DropReason::Action); BURST],
            live_at: [0; BURST],
            live: 0,
            keys: [PacketKey::default(); BURST],
            matched: [None; BURST],
            linear: Linear::default(),
        }
    }
}

impl Stages {
    /// Stages 1 to 3, frame by frame: walk, checksum policy, key (with `in_port`, the port
    /// the burst arrived on). The frames that pass are in play, their keys side by side for
    /// `classify_burst`.
    #[inline]
    fn prepare(&mut self, pipeline: &Pipeline, slot: &pmd::UmemSlot, burst: &[Frame], in_port: u16) {
        self.live = 0;
        for (i, frame) in burst.iter().enumerate() {
            // A multi-buffer packet is walked and keyed on its linear copy
            // ([`crate::pipeline::multi`]).
            let data: &[u8] = if frame.has_next() {
                self.linear.gather(&slot.umem, &slot.pool, frame)
            } else {
                slot.umem.data(frame)
            };
            let checked =
                pipeline.walk(data, &mut self.offsets[i]).and_then(|()| pipeline.verify(data, &self.offsets[i]));
            match checked {
                Ok(()) => {
                    let key = &mut self.keys[self.live];
                    packet_key(data, &self.offsets[i], key);
                    (key.has_in_port, key.in_port) = (true, in_port);
                    self.live_at[self.live] = i;
                    self.live += 1;
                }
                Err(reason) => self.fate[i] = Fate::Drop(reason),
            }
        }
    }
}
