//! Multi-buffer packets (AF_XDP `XDP_USE_SG`, a jumbo frame in several UMEM chunks) in the
//! pipeline.
//!
//! The choice: the walker and the checksum code read a *linear copy* of the packet, made in
//! a per-worker spare buffer ([`Linear`], sized once for [`umem::MAX_PIECES`] chunks of
//! 4096 bytes, so no packet allocates), and what the pipeline writes (checksum fields) goes
//! back into the head chunk, where every header is. Not "linearise into a spare chunk": a
//! 9000-byte frame fits no 2048- or 4096-byte chunk. Not "the walker reads across
//! fragments": the walker, the checksum verdicts, `--csum fix|lco` and the classifier key
//! all take one `&[u8]` whose length is the frame's; teaching each of them pieces means a
//! second code path through every length check, for frames that are at most a sixth of the
//! packet rate at any given bandwidth (9000 B against 1500 B). One copy of the packet (a
//! `memcpy` of some KiB) is what a jumbo frame costs here; single-chunk frames never take
//! this path. [`wire::csum::Sum::add_slices`] sums chunks in place where a caller has only
//! sums to make.
//!
//! What is not done on a multi-buffer packet: rewrites (`--rewrite`, a rule's pedit, vlan,
//! mpls, tunnel_key, ...) and egress rules, which re-walk and resize the frame in place,
//! and mirror copies (a copy takes one chunk): such a packet is dropped and counted as
//! `mb_unparsed`, never sent half-rewritten. The rest of an action list (police and gate
//! with the packet's whole length, goto, jump, redirect, pass, drop) is carried out.

use umem::{Frame, PoolCache, Umem, MAX_PIECES};
use wire::Offsets;

/// A worker's spare buffer for the linear copy of one multi-buffer packet.
#[derive(Debug)]
pub struct Linear {
    bytes: Vec<u8>,
}

impl Default for Linear {
    fn default() -> Linear {
        Linear { bytes: Vec::with_capacity(MAX_PIECES * 4096) }
    }
}

impl Linear {
    /// Copies every chunk of the packet `head` starts (its continuation chunks kept by
    /// `pool`) into the buffer, in order, and returns the packet's bytes. Never grows the
    /// buffer: a packet has at most `MAX_PIECES` chunks of at most 4096 bytes.
    pub fn gather(&mut self, umem: &Umem, pool: &PoolCache, head: &Frame) -> &mut [u8] {
        self.bytes.clear();
        self.bytes.extend_from_slice(umem.data(head));
        let mut at = head;
        while let Some(piece) = pool.next(at) {
            self.bytes.extend_from_slice(umem.data(piece));
            at = piece;
        }
        &mut self.bytes
    }
}

/// Where the last header byte the pipeline may write lies (the innermost L4 header's first
/// 20 bytes, or the innermost IP header): it must be within the head chunk.
pub fn headers_end(offsets: &Offsets) -> usize {
    let headers = offsets.innermost();
    match (headers.l4.as_ref(), headers.l3.as_ref()) {
        (Some(l4), _) => l4.offset + 20,
        (None, Some(l3)) => l3.offset + l3.header_len,
        (None, None) => 0,
    }
}
