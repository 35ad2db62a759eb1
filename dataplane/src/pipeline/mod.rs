//! What a worker does to each frame between receive and transmit: walk its layers, apply the
//! checksum policy, rewrite it if asked. A frame that fails any step is dropped and counted
//! under the reason the step names, so every frame is accounted for.

pub mod checks;
#[cfg(test)]
mod lco_tests;
pub mod rewrite;

use umem::{Frame, Umem};

pub use checks::{CsumLayer, OuterMode, Status, Verdicts, ZeroPolicy};
pub use rewrite::Rewrite;

use crate::stats::DropReason;
use crate::wire::{walk_into, Offsets, WalkConfig};

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
}

/// The per-frame processing of one worker (each worker has its own copy).
#[derive(Clone, Debug)]
pub struct Pipeline {
    pub walk: WalkConfig,
    pub csum: CsumMode,
    pub zero: ZeroPolicy,
    /// Applied after `verify` and before `fix`/`lco`, so what is verified is what arrived
    /// and what is computed is what leaves.
    pub rewrite: Option<Rewrite>,
}

impl Default for Pipeline {
    fn default() -> Self {
        Pipeline { walk: WalkConfig::default(), csum: CsumMode::Off, zero: ZeroPolicy::default(), rewrite: None }
    }
}

impl Pipeline {
    fn computes(&self) -> bool {
        matches!(self.csum, CsumMode::Fix | CsumMode::Lco)
    }

    /// Runs one frame through the pipeline. `offsets` is the worker's scratch space, so no
    /// frame allocates. `Err` says why the frame must be dropped.
    #[inline]
    pub fn process(&self, umem: &Umem, frame: &mut Frame, offsets: &mut Offsets) -> Result<(), DropReason> {
        walk_into(umem.data(frame), &self.walk, offsets).map_err(|err| DropReason::Malformed(err.kind))?;
        if self.csum == CsumMode::Verify {
            let data = umem.data(frame);
            let verdicts = checks::verdicts(data, offsets);
            if let Some(layer) = checks::first_failure(data, offsets, &verdicts, &self.zero) {
                return Err(DropReason::Csum(layer));
            }
        }
        if let Some(rewrite) = &self.rewrite {
            if rewrite.apply(umem, frame, offsets, &self.walk, &self.zero)? && self.computes() {
                walk_into(umem.data(frame), &self.walk, offsets).map_err(|err| DropReason::Malformed(err.kind))?;
            }
        }
        match self.csum {
            CsumMode::Fix => checks::compute(umem.data_mut(frame), offsets, OuterMode::Fix, &self.zero),
            CsumMode::Lco => checks::compute(umem.data_mut(frame), offsets, OuterMode::Lco, &self.zero),
            CsumMode::Off | CsumMode::Verify => {}
        }
        Ok(())
    }
}
