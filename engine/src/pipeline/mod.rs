//! What a worker does to each frame between receive and transmit: walk its layers, apply the
//! checksum policy, rewrite it if asked. A frame that fails any step is dropped and counted
//! under the reason the step names, so every frame is accounted for.

pub mod classify;
pub mod gate;
pub mod key;
#[cfg(test)]
mod lco_tests;
pub mod multi;
pub mod pedit;
pub mod police;
pub mod rewrite;

use umem::{Frame, PoolCache, TxCsum, Umem};

use multi::{headers_end, Linear};

pub use classify::{Disposition, RuleAction, RuleTable, Scratch, SharedRules, Step};
pub use key::packet_key;
pub use rewrite::Rewrite;

use crate::stats::DropReason;
use wire::checks::{self, OuterMode, ZeroPolicy};
use wire::{walk_into, Offsets, WalkConfig};

/// `--csum`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CsumMode {
    /// Drop a frame with a bad checksum at any layer (counted per layer).
    Verify,
    /// Recompute every checksum present; the outer UDP one of a tunnel by LCO.
    Fix,
    /// Compute the inner checksums fully and the outer UDP one by LCO, also where it was 0.
    Lco,
    /// Leave checksums alone.
    Off,
    /// Every checksum right at the wire, as `Lco`, the work divided as Local Checksum
    /// Offload describes: the IPv4 header sums here, the innermost UDP or TCP checksum left
    /// to the device (the frame carries a [`umem::TxCsum`] request, sent as AF_XDP TX
    /// metadata, or completed in software by [`crate::queues::Queues::transmit`] for a port
    /// that cannot ask a device), a tunnel's outer one here by LCO from that
    /// ([`wire::checks::compute_offload`]).
    Offload,
}

/// The per-frame processing of one worker (each worker has its own copy).
#[derive(Clone, Debug)]
pub struct Pipeline {
    /// What the walker decodes (the VXLAN and Geneve ports, GRE, IP-in-IP).
    pub walk: WalkConfig,
    /// What happens to checksums (`--csum`).
    pub csum: CsumMode,
    /// Which zero checksums are acceptable (IPv6 UDP tunnel ports, RFC 6935).
    pub zero: ZeroPolicy,
    /// Applied after `verify` and before `fix`/`lco`, so what is verified is what arrived
    /// and what is computed is what leaves.
    pub rewrite: Option<Rewrite>,
    /// The largest IP packet (bytes after the Ethernet header) an encapsulation may make;
    /// a longer one is dropped as `mtu_exceeded`. `dataplane run` sets it to the smallest
    /// MTU of its ports (see [`crate::run`]); [`DEFAULT_MTU`] otherwise.
    pub mtu: usize,
}

impl Pipeline {
    /// Whether every frame leaves as long as it came and without a checksum request: no
    /// `--rewrite` (which pushes and pops headers) and no `--csum offload`. Then a burst's
    /// counts at receive hold at transmit too.
    pub fn keeps_lengths_and_requests(&self) -> bool {
        self.rewrite.is_none() && self.csum != CsumMode::Offload
    }
}

/// The MTU of a port that has none of its own (pcap, mem): Ethernet's 1500 (RFC 894).
pub const DEFAULT_MTU: usize = 1500;

impl Default for Pipeline {
    fn default() -> Self {
        Pipeline {
            walk: WalkConfig::default(),
            csum: CsumMode::Off,
            zero: ZeroPolicy::default(),
            rewrite: None,
            mtu: DEFAULT_MTU,
        }
    }
}

impl Pipeline {
    /// The same pipeline without `--rewrite`: the egress stage's, since ingress applied it.
    pub fn without_rewrite(&self) -> Pipeline {
        Pipeline { rewrite: None, ..self.clone() }
    }

    fn computes(&self) -> bool {
        matches!(self.csum, CsumMode::Fix | CsumMode::Lco | CsumMode::Offload)
    }

    /// Runs one frame through the pipeline. `offsets` is the worker's scratch space, so no
    /// frame allocates. `Err` says why the frame must be dropped.
    #[inline]
    pub fn process(&self, umem: &Umem, frame: &mut Frame, offsets: &mut Offsets) -> Result<(), DropReason> {
        self.walk(umem.data(frame), offsets)?;
        self.verify(umem.data(frame), offsets)?;
        self.egress(umem, frame, offsets, None)
    }

    /// [`Pipeline::process`] for a multi-buffer packet (`frame.has_next()`, its other chunks
    /// in `pool`): walk and checksum policy on its linear copy in `linear`, `--csum fix|lco`
    /// computed there and the headers written back into the head chunk (see [`multi`] for
    /// why). With `--rewrite` it is `mb_unparsed`.
    #[cold]
    pub fn process_multi(
        &self,
        umem: &Umem,
        pool: &PoolCache,
        frame: &mut Frame,
        offsets: &mut Offsets,
        linear: &mut Linear,
    ) -> Result<(), DropReason> {
        if self.rewrite.is_some() {
            return Err(DropReason::MbUnparsed);
        }
        let data = linear.gather(umem, pool, frame);
        self.walk(data, offsets)?;
        self.verify(data, offsets)?;
        if self.computes() {
            let head = umem.data_mut(frame);
            if headers_end(offsets) > head.len() {
                return Err(DropReason::MbUnparsed);
            }
            // Under offload too, all in software here: a multi-buffer packet carries no
            // request (what the device would do, LCO does).
            let outer = if self.csum == CsumMode::Fix { OuterMode::Fix } else { OuterMode::Lco };
            checks::compute(data, offsets, outer, &self.zero);
            let len = head.len();
            head.copy_from_slice(&data[..len]);
        }
        Ok(())
    }

    /// What comes before a rule lookup: walk, checksum policy, and the frame's key (with the
    /// port it arrived on, where `scratch` knows it).
    #[inline]
    pub fn prepare(&self, data: &[u8], scratch: &mut Scratch) -> Result<(), DropReason> {
        self.walk(data, &mut scratch.offsets)?;
        self.verify(data, &scratch.offsets)?;
        packet_key(data, &scratch.offsets, &mut scratch.key);
        if let Some(port) = scratch.in_port {
            (scratch.key.has_in_port, scratch.key.in_port) = (true, port);
        }
        Ok(())
    }

    /// `--csum fix|lco|offload` on the frame as it is now (a mirror copy leaves with right
    /// sums). Under `offload` the frame's [`umem::TxCsum`] says what the device completes
    /// (set or withdrawn here, whatever an earlier call left).
    #[inline]
    pub fn compute_checksums(&self, umem: &Umem, frame: &mut Frame, offsets: &Offsets) {
        match self.csum {
            CsumMode::Fix => checks::compute(umem.data_mut(frame), offsets, OuterMode::Fix, &self.zero),
            CsumMode::Lco => checks::compute(umem.data_mut(frame), offsets, OuterMode::Lco, &self.zero),
            CsumMode::Offload => {
                let data = umem.data_mut(frame);
                let request = checks::compute_offload(data, offsets, &self.zero).and_then(|r| {
                    // A request the token cannot carry (none within a 4096-byte chunk): the
                    // device's part done here.
                    TxCsum::new(r.start, r.offset).or_else(|| {
                        checks::complete(data, r);
                        None
                    })
                });
                frame.set_tx_csum(request.unwrap_or(TxCsum::NONE));
            }
            CsumMode::Off | CsumMode::Verify => {}
        }
    }

    /// After the lookup: the rule's drop (`matched`: which rule, `None` for the default),
    /// else its rewrite and [`egress`](Self::egress). Where the frame goes, or why it is
    /// dropped.
    #[inline]
    pub fn apply_rule(
        &self,
        umem: &Umem,
        frame: &mut Frame,
        offsets: &mut Offsets,
        matched: Option<usize>,
        action: &RuleAction,
    ) -> Result<Disposition, DropReason> {
        if action.disposition == Disposition::Drop {
            return Err(if matched.is_some() { DropReason::Rule } else { DropReason::NoMatch });
        }
        self.egress(umem, frame, offsets, action.rewrite.as_ref())?;
        Ok(action.disposition)
    }

    /// The first stage: the frame's layers into `offsets`; a frame the walker cannot parse
    /// to its end is `malformed_*`.
    #[inline]
    pub fn walk(&self, data: &[u8], offsets: &mut Offsets) -> Result<(), DropReason> {
        walk_into(data, &self.walk, offsets).map_err(|err| DropReason::Malformed(err.kind))
    }

    /// Whether [`verify`](Self::verify) checks anything (`--csum verify`).
    #[inline]
    pub fn verifies(&self) -> bool {
        self.csum == CsumMode::Verify
    }

    /// The checksum policy on what arrived: with `--csum verify`, a frame with a bad checksum
    /// at any layer (or a forbidden zero) is `csum_<layer>`; other modes pass every frame.
    #[inline]
    pub fn verify(&self, data: &[u8], offsets: &Offsets) -> Result<(), DropReason> {
        if self.verifies() {
            let verdicts = checks::verdicts(data, offsets);
            if let Some(layer) = checks::first_failure(data, offsets, &verdicts, &self.zero) {
                return Err(DropReason::Csum(layer));
            }
        }
        Ok(())
    }

    /// The last stage: `--rewrite`, then a rule's rewrite, then `--csum fix|lco|offload`. `offsets`
    /// are the frame's as walked; they are walked again after an encapsulation or
    /// decapsulation where anything still reads them.
    #[inline]
    pub fn egress(
        &self,
        umem: &Umem,
        frame: &mut Frame,
        offsets: &mut Offsets,
        rule_rewrite: Option<&Rewrite>,
    ) -> Result<(), DropReason> {
        // A multi-buffer packet is walked on its linear copy, not in place (see [`multi`]):
        // nothing here may write it.
        if frame.has_next() && (self.rewrite.is_some() || rule_rewrite.is_some() || self.computes()) {
            return Err(DropReason::MbUnparsed);
        }
        let mut rewrites = [self.rewrite.as_ref(), rule_rewrite].into_iter().flatten().peekable();
        while let Some(rewrite) = rewrites.next() {
            let layout_changed = rewrite.apply(umem, frame, offsets, &self.walk, &self.zero, self.mtu)?;
            // Offsets are stale after encap/decap: walk again if anything still reads them.
            if layout_changed && (self.computes() || rewrites.peek().is_some()) {
                walk_into(umem.data(frame), &self.walk, offsets).map_err(|err| DropReason::Malformed(err.kind))?;
            }
        }
        self.compute_checksums(umem, frame, offsets);
        Ok(())
    }
}
