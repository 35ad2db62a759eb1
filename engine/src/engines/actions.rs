//! A frame's rule carried out, for the classified engines: the plain action of a rule where
//! it has one (one action of chain 0), else its list through [`rules::chain::run`] with the
//! effects on the frame made here: rewrites (after which the frame is walked and keyed again,
//! so a `continue` or `goto` matches what the frame now is), mirror copies, policers and
//! gates (a closed one drops the frame as `gate_closed`, one over its octets as
//! `gate_overlimit`).
//!
//! Order on a list: the rule's actions in tc's order, then `--rewrite` and the checksum
//! policy (`--csum fix|lco`) on the frame that leaves; a mirror copy leaves with its
//! checksums computed as the frame is at that point.

use pmd::UmemSlot;
use rules::chain::{self, Outcome};
use rules::{Control, PacketKey};
use umem::Frame;
use wire::Offsets;

use super::routes::Routes;
use crate::pipeline::gate::Verdict;
use crate::pipeline::{packet_key, Disposition, Pipeline, RuleTable, Step};
use crate::stats::{DropReason, WorkerStats};

/// Where the mirror copies of a burst go: the engine's per-queue output, and how ports map
/// to this worker's queues.
pub(super) struct MirrorOut<'a> {
    /// By queue: the frames of this burst that leave through it (never grown: a copy that
    /// finds it full is not made).
    pub out: &'a mut [Vec<Frame>],
    /// Ports to queues.
    pub routes: &'a Routes,
    /// The worker's counters.
    pub stats: &'a WorkerStats,
}

/// Carries out what `matched` (chain 0's answer for `key`, `None` for no match) says for
/// `frame`: where it goes, or why it is dropped.
#[allow(clippy::too_many_arguments)] // the frame, its walk and key, and what it may touch
#[inline]
pub(super) fn carry_out(
    pipeline: &Pipeline,
    table: &RuleTable,
    worker: usize,
    slot: &mut UmemSlot,
    frame: &mut Frame,
    offsets: &mut Offsets,
    key: &mut PacketKey,
    matched: Option<usize>,
    mirrors: &mut MirrorOut<'_>,
) -> Result<Disposition, DropReason> {
    if let Some(action) = table.action(matched) {
        return pipeline.apply_rule(&slot.umem, frame, offsets, matched, action);
    }
    // A multi-buffer packet was walked on a linear copy (see crate::pipeline::multi): the
    // steps that rewrite it in place or copy it (a mirror takes one chunk) are not for it;
    // the others (police, gate, goto, redirect...) are, with its whole length.
    let multi = frame.has_next();
    let whole_len = if multi { slot.pool.packet_len(frame) } else { frame.len() };
    let mut now_ps = None;
    let lookup = table.hits_of(worker);
    let outcome = chain::run(&table.set, &lookup, key, matched, |rule, index, key| match &table.steps(rule)[index] {
        Step::Rewrite(_) | Step::Mirror(_) | Step::Blockcast { .. } if multi => Err(DropReason::MbUnparsed),
        Step::Rewrite(rewrite) => {
            rewrite.apply(&slot.umem, frame, offsets, &pipeline.walk, &pipeline.zero, pipeline.mtu)?;
            // What follows (a lookup, a mirror copy, the checksums) reads the walk and key.
            pipeline.walk(slot.umem.data(frame), offsets)?;
            let arrival = (key.has_in_port, key.in_port);
            packet_key(slot.umem.data(frame), offsets, key);
            (key.has_in_port, key.in_port) = arrival;
            Ok(Control::Pipe)
        }
        Step::Mirror(port) => {
            mirror(pipeline, slot, frame, offsets, *port, mirrors);
            Ok(Control::Pipe)
        }
        Step::Blockcast { .. } => {
            for port in blockcast_ports(table, key) {
                mirror(pipeline, slot, frame, offsets, port, mirrors);
            }
            Ok(Control::Pipe)
        }
        Step::Police { policer, conform, exceed } => {
            let now = *now_ps.get_or_insert_with(|| table.now_ps());
            Ok(if table.policer(*policer).conforms(whole_len, now) { *conform } else { *exceed })
        }
        Step::Gate { gate, control, egress } => {
            let gate = table.gate(*gate);
            let octets = if *egress { whole_len } else { msdu_len(slot.umem.data(frame), whole_len) };
            match gate.admit(gate.now_ns(), octets) {
                Verdict::Pending | Verdict::Open => Ok(*control),
                Verdict::Closed => Err(DropReason::GateClosed),
                Verdict::OverLimit => Err(DropReason::GateOverlimit),
            }
        }
        // The interpreter decides these itself and never asks.
        Step::Control | Step::Send(_) => Ok(Control::Pipe),
    })?;
    let disposition = match outcome {
        Outcome::Drop { policed: false, .. } => return Err(DropReason::Rule),
        Outcome::Drop { policed: true, .. } => return Err(DropReason::Police),
        Outcome::Loop { .. } => return Err(DropReason::ChainLoop),
        Outcome::Pass { .. } => Disposition::Pass,
        Outcome::Send { rule, action } => match table.steps(rule)[action] {
            Step::Send(disposition) => disposition,
            // Copies out of every other port but the last, which gets the frame.
            Step::Blockcast { redirect: true } if multi => return Err(DropReason::MbUnparsed),
            Step::Blockcast { redirect: true } => {
                let mut ports = blockcast_ports(table, key).peekable();
                let mut last = None;
                while let Some(port) = ports.next() {
                    if ports.peek().is_none() {
                        last = Some(port);
                    } else {
                        mirror(pipeline, slot, frame, offsets, port, mirrors);
                    }
                }
                Disposition::Fwd(last.ok_or(DropReason::NoRoute)?)
            }
            _ => return Err(DropReason::NotApplicable), // run answers Send only for a Send step
        },
        Outcome::NoMatch { .. } => match table.default_action().disposition {
            Disposition::Drop => return Err(DropReason::NoMatch),
            disposition => disposition,
        },
    };
    pipeline.egress(&slot.umem, frame, offsets, None)?;
    Ok(disposition)
}

/// The octets act_gate counts of a frame at ingress (`skb->len` there): after the MACs and
/// ethertype, and after an outer VLAN tag, which the kernel takes off before tc sees it.
/// `data` holds the headers, `len` is the whole frame's length (several chunks' for a
/// multi-buffer packet).
#[inline]
fn msdu_len(data: &[u8], len: usize) -> usize {
    use wire::{ethernet, ethertype, vlan};
    let outer = data.get(12..14).map(|b| u16::from_be_bytes([b[0], b[1]]));
    let tagged = matches!(outer, Some(ethertype::VLAN | ethertype::QINQ));
    len.saturating_sub(ethernet::HEADER_LEN + if tagged { vlan::HEADER_LEN } else { 0 })
}

/// The egress stage of a frame that ingress sent to `queue`: where the egress rules of that
/// queue's port apply (tc's egress filters of the device), the frame is walked and keyed as
/// it now is (it keeps the port it arrived on, for `indev`) and carried out through them:
/// `pass` or no match sends it on to `queue`, a redirect elsewhere (without that port's
/// egress rules: one egress pass per frame), a drop drops it. `pipeline` is the worker's
/// without `--rewrite`, which ingress already applied. The queue the frame leaves by, or
/// why it is dropped.
#[allow(clippy::too_many_arguments)] // as carry_out, and where ingress sent the frame
#[inline]
pub(super) fn egress(
    pipeline: &Pipeline,
    table: &RuleTable,
    worker: usize,
    slot: &mut UmemSlot,
    frame: &mut Frame,
    offsets: &mut Offsets,
    key: &mut PacketKey,
    (from, fwd_to, queue): (usize, usize, usize),
    mirrors: &mut MirrorOut<'_>,
) -> Result<usize, DropReason> {
    let Some(rules) = table.egress(usize::from(mirrors.routes.port_of(queue))) else { return Ok(queue) };
    if frame.has_next() {
        return Err(DropReason::MbUnparsed);
    }
    pipeline.walk(slot.umem.data(frame), offsets)?;
    let arrival = (key.has_in_port, key.in_port);
    packet_key(slot.umem.data(frame), offsets, key);
    (key.has_in_port, key.in_port) = arrival;
    let (matched, _) = rules.lookup(key, worker);
    match carry_out(pipeline, rules, worker, slot, frame, offsets, key, matched, mirrors)? {
        Disposition::Pass => Ok(queue),
        elsewhere => mirrors.routes.route(elsewhere, from, fwd_to, slot.umem.data_mut(frame)),
    }
}

/// The ports a blockcast sends to: every port of the run but the one the frame arrived on
/// (act_mirred skips the device the packet came from).
fn blockcast_ports(table: &RuleTable, key: &PacketKey) -> impl Iterator<Item = usize> {
    let arrival = key.has_in_port.then_some(usize::from(key.in_port));
    (0..table.ports()).filter(move |&port| Some(port) != arrival)
}

/// A copy of `frame` as it is now, its checksums as `--csum` leaves them, onto the queue of
/// `port`; counted as mirrored, or as failed where it cannot be made.
fn mirror(
    pipeline: &Pipeline,
    slot: &mut UmemSlot,
    frame: &mut Frame,
    offsets: &Offsets,
    port: usize,
    mirrors: &mut MirrorOut<'_>,
) {
    let counters = &mirrors.stats.mirrors;
    let Some(queue) = mirrors.routes.queue_of_port(port) else {
        counters.failed.add(1);
        return;
    };
    let out = &mut mirrors.out[queue];
    if out.len() == out.capacity() {
        counters.failed.add(1);
        return;
    }
    let Some(mut copy) = slot.pool.get() else {
        counters.failed.add(1);
        return;
    };
    pipeline.compute_checksums(&slot.umem, frame, offsets);
    if slot.umem.write(&mut copy, slot.umem.data(frame)) {
        // The same bytes: the same checksum left to the device.
        copy.set_tx_csum(frame.tx_csum());
        out.push(copy);
        counters.mirrored.add(1);
    } else {
        slot.pool.put(copy);
        counters.failed.add(1);
    }
}
