//! The live engine's patch table: what its XDP program writes into each frame.
//!
//! The kernel sends copies of one base frame per `BPF_PROG_RUN` call; the program turns each
//! copy into frame `i` of the [`FramePlan`]. User space does the template work ahead of time:
//! for every (size, flow, checksum variant) it builds the frame with
//! [`Template::build_into`] (stamp with stream, sequence and time all zero) and diffs it
//! against the size's base frame (flow 0, every checksum right) as 16-bit words. The
//! program only copies words, so it knows nothing of templates: udp, tcp, vxlan, gre,
//! geneve, IPv4/IPv6 and VLAN all come out right, outer tunnel source port entropy and
//! outer and inner checksums included.
//!
//! A live-frames run recycles its pages with the previous frame's bytes (the kernel copies
//! the base frame in only when a page is first made), so every entry of a size rewrites the
//! same set of words: the union of the words any entry of that size changes, plus the
//! innermost L4 checksum. Whatever the recycled page held, the patched frame is exact.
//!
//! [`apply`] is a plain reference of the program's arithmetic, for the tests.

use crate::gen::error::GenError;
use crate::gen::plan::FramePlan;
pub use crate::gen::plan::{bad_num, BAD_DEN};
use crate::stamp::{Stamp, STAMP_LEN};
use crate::template::{FrameSize, L4Proto, IMIX, MAX_FRAME};

/// Words the program rewrites per frame, at most.
pub const MAX_WORDS: usize = 16;
/// Patches the table holds, at most (sizes × flows × checksum variants).
pub const MAX_ENTRIES: usize = 1 << 18;

/// The base frame and rewritten words of one frame size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Slice {
    /// The size asked for (an IMIX entry or `--size`).
    pub size: usize,
    /// Flow 0, no bad checksum, a zero stamp: what the call hands the kernel.
    pub base: Vec<u8>,
    /// Byte offsets of the words every frame of this size gets written; the first is the
    /// innermost L4 checksum.
    pub offsets: Vec<u16>,
    /// Index of the first entry (flow 0, variant 0) of this size in the table.
    pub first_entry: u32,
    /// Where the stamp goes, if frames of this size have room for it.
    pub stamp_at: Option<usize>,
    /// The innermost L4 checksum field.
    pub csum_at: usize,
}

impl Slice {
    /// The frame's length.
    pub fn len(&self) -> usize {
        self.base.len()
    }

    /// Whether the frame is empty.
    pub fn is_empty(&self) -> bool {
        self.base.is_empty()
    }
}

/// Every patch of a plan: entry `first_entry + flow * variants + variant` of a slice holds
/// the values of its words. Variant 0 has every checksum right; variant `1 + k` has
/// [`FramePlan::bad_layers`]`[k]` wrong.
#[derive(Clone, Debug)]
pub struct PatchTable {
    /// One per distinct frame size, in the order of [`distinct_sizes`].
    pub slices: Vec<Slice>,
    /// Per entry, the words' values in wire order (big-endian bytes), padded with zeros.
    pub values: Vec<[u16; MAX_WORDS]>,
    /// `--flows`.
    pub flows: u32,
    /// Checksum variants per flow: all right, then one per bad layer.
    pub variants: u32,
    /// Layers bad checksums take turns over (`variants - 1`, or 0 without --bad-csum).
    pub layers: u32,
    /// Share of bad frames, out of [`BAD_DEN`].
    pub bad_num: u32,
    /// The innermost L4 is UDP: a computed checksum of 0 goes out as 0xffff (RFC 768).
    pub udp: bool,
}

/// The sizes of the calls: one slice per distinct size, in [`IMIX`] order of first use.
pub fn distinct_sizes(sizes: FrameSize) -> Vec<usize> {
    match sizes {
        FrameSize::Fixed(size) => vec![size],
        FrameSize::Imix => {
            let mut out = Vec::new();
            for size in IMIX {
                if !out.contains(&size) {
                    out.push(size);
                }
            }
            out
        }
    }
}

impl PatchTable {
    /// Builds the table for `plan`; errors when it is too large for the live engine or a
    /// frame differs from its base in more than [`MAX_WORDS`] words.
    pub fn build(plan: &FramePlan) -> Result<PatchTable, GenError> {
        let sizes = distinct_sizes(plan.sizes);
        let layers = if plan.bad.is_some() { plan.bad_layers.len() as u32 } else { 0 };
        let variants = 1 + layers;
        let flows = plan.flows;
        let per_size = u64::from(flows) * u64::from(variants);
        let entries = per_size * sizes.len() as u64;
        if entries > MAX_ENTRIES as u64 {
            return Err(GenError::TooManyPatches { flows, variants, sizes: sizes.len(), entries, max: MAX_ENTRIES });
        }
        let template = plan.template;
        let zero = Stamp { sequenced: true, stream: 0, seq: 0, sent_ns: 0 };
        let mut slices = Vec::new();
        let mut values = Vec::with_capacity(entries as usize);
        let mut frame = vec![0u8; MAX_FRAME.max(template.min_len())];
        for (n, &size) in sizes.iter().enumerate() {
            let len = template.build_into(&mut frame, size, None, Some(&zero))?;
            let base = frame[..len].to_vec();
            let stamp_at = template.has_stamp_room(size).then(|| template.headers_len());
            let csum_at = template.l4_checksum_at();
            // First pass: which words any entry changes; second pass: their values (building
            // twice costs less than holding every frame).
            let mut differ = vec![false; len.div_ceil(2)];
            let mut each = |f: &mut dyn FnMut(&[u8])| -> Result<(), GenError> {
                for flow in 0..flows {
                    let t = template.for_flow(flow);
                    for variant in 0..variants {
                        let bad = (variant > 0).then(|| plan.bad_layers[variant as usize - 1]);
                        let got = t.build_into(&mut frame, size, bad, Some(&zero))?;
                        if got != len {
                            return Err(GenError::FlowLength { flow, got, len });
                        }
                        f(&frame[..len]);
                    }
                }
                Ok(())
            };
            each(&mut |built| {
                for (w, d) in differ.iter_mut().enumerate() {
                    let at = 2 * w;
                    if built[at] != base[at] || built.get(at + 1) != base.get(at + 1) {
                        *d = true;
                    }
                }
            })?;
            differ[csum_at / 2] = true;
            // The checksum word first: the program keeps its address for the stamp's update.
            let mut offsets = vec![csum_at as u16];
            offsets.extend(
                differ.iter().enumerate().filter(|&(w, d)| *d && 2 * w != csum_at).map(|(w, _)| (2 * w) as u16),
            );
            if offsets.len() > MAX_WORDS {
                return Err(GenError::TooManyWords {
                    frames: template.describe(),
                    size,
                    words: offsets.len(),
                    max: MAX_WORDS,
                });
            }
            if offsets.iter().any(|&at| at as usize + 2 > len) {
                return Err(GenError::OddLastByte { len });
            }
            each(&mut |built| {
                let mut entry = [0u16; MAX_WORDS];
                for (k, &at) in offsets.iter().enumerate() {
                    // Wire-order bytes, loaded and stored by the program as they are.
                    entry[k] = u16::from_ne_bytes([built[at as usize], built[at as usize + 1]]);
                }
                values.push(entry);
            })?;
            slices.push(Slice { size, base, offsets, first_entry: (n as u64 * per_size) as u32, stamp_at, csum_at });
        }
        let bad_num = plan.bad.map_or(0, |b| bad_num(b.percent));
        Ok(PatchTable { slices, values, flows, variants, layers, bad_num, udp: template.plain.l4 == L4Proto::Udp })
    }

    /// The slice of frames of `size`.
    pub fn slice_of(&self, size: usize) -> Option<usize> {
        self.slices.iter().position(|s| s.size == size)
    }
}

/// The program's per-CPU state, as user space models it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuState {
    /// Frames generated (the index of the next one).
    pub generated: u64,
    /// Stamps written (the next sequence number).
    pub seq: u64,
    /// `generated % flows`.
    pub flow: u64,
    /// `generated * bad_num % BAD_DEN`.
    pub acc: u64,
    /// Bad frames so far, modulo the layer count: whose turn it is.
    pub turn: u64,
}

/// Picks the entry of the next frame and steps the state, as the program does: frame i is
/// bad when floor((i+1)p) > floor(ip), at layer floor(ip) mod layers ([`FramePlan::bad_layer`]).
pub fn next_entry(table: &PatchTable, slice: &Slice, state: &mut CpuState) -> usize {
    let mut variant = 0;
    let mut acc = state.acc + u64::from(table.bad_num);
    if acc >= BAD_DEN {
        acc -= BAD_DEN;
        variant = 1 + state.turn;
        state.turn += 1;
        if state.turn >= u64::from(table.layers) {
            state.turn = 0;
        }
    }
    state.acc = acc;
    let entry = u64::from(slice.first_entry) + state.flow * u64::from(table.variants) + variant;
    state.flow += 1;
    if state.flow >= u64::from(table.flows) {
        state.flow = 0;
    }
    entry as usize
}

/// A number congruent (modulo 0xffff) to the one's-complement sum of the stamp's variable
/// words (stream, sequence, time; the magic is in the base frame already), as the program
/// computes it: 32-bit halves, since 2^16 = 1 modulo 0xffff.
pub fn stamp_sum(stream: u16, seq: u64, sent_ns: u64) -> u64 {
    let seq = seq & ((1 << 48) - 1);
    u64::from(stream) + (seq >> 32) + (seq & 0xffff_ffff) + (sent_ns >> 32) + (sent_ns & 0xffff_ffff)
}

/// RFC 1624 eqn. 3 with the old words all zero: HC' = ~(~HC + m'), folded to 16 bits.
/// `udp`: a result of 0 is sent as 0xffff (RFC 768; the same number in one's complement).
pub fn add_to_checksum(checksum: u16, sum: u64, udp: bool) -> u16 {
    let mut s = u64::from(!checksum) + sum;
    for _ in 0..3 {
        s = (s & 0xffff) + (s >> 16);
    }
    debug_assert!(s <= 0xffff);
    let out = !(s as u16);
    if udp && out == 0 {
        0xffff
    } else {
        out
    }
}

/// The program's work on one frame, in user space: writes entry `entry`'s words into
/// `frame` (a copy of the slice's base, or whatever an earlier frame left there), then the
/// stamp with its checksum update when the slice has room.
pub fn apply(table: &PatchTable, slice: &Slice, entry: usize, stamp: Option<(u16, u64, u64)>, frame: &mut [u8]) {
    let values = &table.values[entry];
    for (k, &at) in slice.offsets.iter().enumerate() {
        frame[at as usize..at as usize + 2].copy_from_slice(&values[k].to_ne_bytes());
    }
    if let (Some(at), Some((stream, seq, sent_ns))) = (slice.stamp_at, stamp) {
        Stamp { sequenced: true, stream, seq, sent_ns }.write(&mut frame[at..at + STAMP_LEN]);
        let c = u16::from_be_bytes([frame[slice.csum_at], frame[slice.csum_at + 1]]);
        let c = add_to_checksum(c, stamp_sum(stream, seq, sent_ns), table.udp);
        frame[slice.csum_at..slice.csum_at + 2].copy_from_slice(&c.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gen::BadCsum;
    use crate::template::{Template, TemplateKind, Vlan};
    use proptest::prelude::*;
    use wire::checks::{CsumLayer, Status};

    fn templates() -> Vec<Template> {
        let mut all = Vec::new();
        for kind in TemplateKind::ALL {
            for ipv6 in [false, true] {
                for vlan in [false, true] {
                    let mut t = Template::new(kind, ipv6);
                    if vlan {
                        t.set_outer_vlan(Some(Vlan { id: 10, pcp: 0 }));
                    }
                    all.push(t);
                }
            }
        }
        all
    }

    /// Words equal, or both a checksum's two spellings of zero (0 and 0xffff: the program
    /// folds once where a full recomputation may give the other one).
    fn same_frame(got: &[u8], want: &[u8]) -> bool {
        got.len() == want.len()
            && got.chunks(2).zip(want.chunks(2)).all(|(g, w)| g == w || (g.len() == 2 && is_zero(g) && is_zero(w)))
    }

    fn is_zero(w: &[u8]) -> bool {
        w == [0, 0] || w == [0xff, 0xff]
    }

    /// Frame by frame, the patched frames (applied on top of the previous frame, as a
    /// recycled page holds it) are the frames `FramePlan::write` builds.
    fn check(plan: &FramePlan, frames: u64, seq0: u64, ns: u64) {
        let table = PatchTable::build(plan).unwrap();
        let mut state = CpuState { seq: seq0, ..CpuState::default() };
        let mut want = vec![0u8; MAX_FRAME];
        let mut current: Option<(usize, Vec<u8>)> = None;
        for i in 0..frames {
            let size = plan.sizes.at(i);
            let s = table.slice_of(size).unwrap();
            let slice = &table.slices[s];
            // A new call (a new size) starts from its base frame; the same size goes on
            // from the last frame's bytes.
            let page = match &mut current {
                Some((cs, page)) if *cs == s => page,
                _ => &mut current.insert((s, slice.base.clone())).1,
            };
            let entry = next_entry(&table, slice, &mut state);
            let stamp = slice.stamp_at.map(|_| (plan.stream(), state.seq, ns.wrapping_add(i * 977)));
            apply(&table, slice, entry, stamp, page);
            if stamp.is_some() {
                state.seq += 1;
            }
            state.generated += 1;
            let seq = seq0 + plan.stamped_before(i);
            let template = plan.template.for_flow((i % u64::from(plan.flows)) as u32);
            let st = Stamp { sequenced: true, stream: plan.stream(), seq, sent_ns: ns.wrapping_add(i * 977) };
            let bad = plan.bad_layer(i);
            let len = template.build_into(&mut want, size, bad, Some(&st)).unwrap();
            let what = format!("{} frame {i} (size {size}, bad {bad:?})", plan.template.describe());
            // Every checksum right but the bad one, the stamp readable.
            let offsets = wire::walk(page, &wire::WalkConfig::default()).unwrap();
            let verdicts = wire::checks::verdicts(page, &offsets);
            for layer in CsumLayer::ALL {
                let status = verdicts.get(layer);
                if Some(layer) == bad {
                    assert_eq!(status, Status::Bad, "{what}: {}", layer.name());
                } else {
                    assert!(matches!(status, Status::Good | Status::Absent), "{what}: {} {status:?}", layer.name());
                }
            }
            if stamp.is_some() {
                assert_eq!(crate::stamp::find(page, &offsets), Some(st), "{what}");
            }
            // Byte for byte the frame `write` builds, except where a wrong innermost L4
            // checksum was made wrong before the stamp went in (then it and the outer
            // checksums covering it differ, as checked above).
            let inner_bad = bad.is_some() && bad == plan.template.csum_layers().last().copied();
            if !(inner_bad && stamp.is_some()) {
                assert!(same_frame(page, &want[..len]), "{what}:\n got {:02x?}\nwant {:02x?}", &page[..], &want[..len]);
            }
        }
    }

    #[test]
    fn patched_frames_are_the_built_frames_for_every_template() {
        for t in templates() {
            for sizes in [FrameSize::Fixed(60), FrameSize::Fixed(200), FrameSize::Imix] {
                let bad = Some(BadCsum { percent: 30.0, layer: None });
                let plan = FramePlan::new(t, sizes, 7, bad, true).unwrap();
                check(&plan, 60, 0, 1_000_000_007);
                let plan = FramePlan::new(t, sizes, 3, None, true).unwrap();
                check(&plan, 24, 5, u64::MAX - 10_000);
            }
        }
    }

    #[test]
    fn many_flows_cross_into_the_next_source_address() {
        // 1024 + 64600 flows spill over to the next source address (two more IPv4 words).
        let t = Template::new(TemplateKind::Vxlan, false);
        let plan = FramePlan::new(t, FrameSize::Fixed(128), 70_000, None, true).unwrap();
        let table = PatchTable::build(&plan).unwrap();
        assert!(table.slices[0].offsets.len() <= MAX_WORDS);
        let slice = &table.slices[0];
        let mut state = CpuState { flow: 69_990, ..CpuState::default() };
        let mut page = slice.base.clone();
        let mut want = vec![0u8; MAX_FRAME];
        for i in 69_990..70_010u64 {
            let entry = next_entry(&table, slice, &mut state);
            apply(&table, slice, entry, Some((9, i, i)), &mut page);
            let st = Stamp { sequenced: true, stream: 9, seq: i, sent_ns: i };
            let len = t.for_flow((i % 70_000) as u32).build_into(&mut want, 128, None, Some(&st)).unwrap();
            assert!(same_frame(&page, &want[..len]), "flow {i}");
        }
    }

    #[test]
    fn tables_too_large_are_refused() {
        let t = Template::new(TemplateKind::Vxlan, false);
        let bad = Some(BadCsum { percent: 1.0, layer: None });
        let plan = FramePlan::new(t, FrameSize::Imix, 30_000, bad, true).unwrap();
        let why = PatchTable::build(&plan).unwrap_err();
        assert!(matches!(why, GenError::TooManyPatches { flows: 30_000, max: MAX_ENTRIES, .. }), "{why:?}");
        let why = why.to_string();
        assert!(why.contains("at most 262144") && why.contains("--flows 30000"), "{why}");
    }

    #[test]
    fn the_checksum_word_is_always_rewritten() {
        let plan =
            FramePlan::new(Template::new(TemplateKind::Udp, false), FrameSize::Fixed(60), 1, None, true).unwrap();
        let table = PatchTable::build(&plan).unwrap();
        assert_eq!(table.slices[0].offsets, vec![table.slices[0].csum_at as u16]);
        assert_eq!(table.slices[0].stamp_at, Some(42));
    }

    #[test]
    fn bad_checksums_follow_the_plan_exactly() {
        for percent in [0.0, 0.5, 1.0, 12.5, 33.3, 50.0, 99.0, 100.0] {
            let t = Template::new(TemplateKind::Gre, false);
            let plan =
                FramePlan::new(t, FrameSize::Fixed(100), 3, Some(BadCsum { percent, layer: None }), true).unwrap();
            let table = PatchTable::build(&plan).unwrap();
            let slice = &table.slices[0];
            let mut state = CpuState::default();
            for i in 0..3000u64 {
                let entry = next_entry(&table, slice, &mut state) - slice.first_entry as usize;
                let variant = entry % table.variants as usize;
                let want = plan.bad_layer(i).map_or(0, |l| 1 + plan.bad_layers.iter().position(|&b| b == l).unwrap());
                assert_eq!(variant, want, "{percent}% frame {i}");
                assert_eq!((entry / table.variants as usize) as u64, i % 3);
            }
        }
        let one = FramePlan::new(
            Template::new(TemplateKind::Udp, false),
            FrameSize::Fixed(60),
            1,
            Some(BadCsum { percent: 10.0, layer: Some(CsumLayer::OuterL4) }),
            true,
        )
        .unwrap();
        assert_eq!(PatchTable::build(&one).unwrap().variants, 2);
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        #[test]
        fn stamps_and_checksums_match_a_full_build(
            kind in 0usize..5, ipv6: bool, size in 60usize..400, flows in 1u32..40,
            seq0 in 0u64..(1 << 48) - 100, ns: u64, bad in 0.0f64..100.0,
        ) {
            let t = Template::new(TemplateKind::ALL[kind], ipv6);
            let plan = FramePlan::new(t, FrameSize::Fixed(size), flows, Some(BadCsum { percent: bad, layer: None }), true)
                .unwrap();
            check(&plan, 50, seq0, ns / 2);
        }

        #[test]
        fn the_checksum_update_is_rfc_1624(words in proptest::collection::vec(any::<u16>(), 1..30), stamp: [u16; 8]) {
            // A segment with a zero stamp, its checksum; the stamp added by RFC 1624 equals
            // the checksum of the stamped segment (up to 0 / 0xffff).
            let sum = |ws: &[u16]| {
                let mut s: u64 = ws.iter().map(|&w| u64::from(w)).sum();
                while s > 0xffff { s = (s & 0xffff) + (s >> 16); }
                !(s as u16)
            };
            let c = sum(&words);
            let mut stamped = words.clone();
            stamped.extend_from_slice(&stamp);
            let t: u64 = stamp.iter().map(|&w| u64::from(w)).sum();
            let got = add_to_checksum(c, t, false);
            let want = sum(&stamped);
            prop_assert!(got == want || (is_zero(&got.to_be_bytes()) && is_zero(&want.to_be_bytes())));
        }
    }
}
