//! The sink's XDP program: counts every frame, finds the generator's sequence stamp without
//! parsing headers, keeps per-stream sequence state and a latency histogram in per-CPU maps,
//! and drops the frame. Built instruction by instruction with the `bpf` crate.
//!
//! # Finding the stamp
//!
//! The stamp (18 bytes: `magic 0xd5a1 | stream u16 | seq 48 bits | CLOCK_MONOTONIC send ns
//! u64`, big-endian) sits at the start of the innermost UDP/TCP payload. Where that is
//! depends only on the template the generator used, so the caller (the `dataplane` crate,
//! which knows the templates) passes the possible places ([`StampCandidate`]), and the
//! program tries them in ascending order of offset, each behind a bounds check against
//! `data_end`, taking the first that holds [`MAGIC_SEQUENCED`] and whose length field (the
//! innermost UDP length, or for TCP the IP length) agrees with the frame's length. The
//! magic alone is not enough: an earlier candidate can fall on a checksum or a flow's port
//! of a frame whose stamp lies further in, and those take the value 0xd5a1 now and then;
//! a length field matching too makes that a 2^-32 chance for bytes that vary. Frames where
//! no candidate matches (no stamp, a static stamp 0xd5a0, no room) count as `unsequenced`;
//! every frame counts as a packet.
//!
//! A frame padded to the Ethernet minimum after its IP datagram (a NIC padding a
//! decapsulated frame below 60 bytes) fails the length check and counts unsequenced; the
//! generator's frames are never padded (their lengths cover the whole frame).
//!
//! The candidates are immediates of the generated program rather than values read from a map:
//! adding a value read at run time to a packet pointer is variable-offset packet arithmetic,
//! which the verifier refuses without CAP_PERFMON ("R2 has pointer with unsupported alu
//! operation, pointer arithmetic with it prohibited for !root": Spectre v1 hardening), and a
//! `bpf_xdp_load_bytes` call per candidate would cost a helper call each. A new set of
//! candidates means loading a new program (the sink loads once per run).
//!
//! # Per-stream state
//!
//! A per-CPU hash keyed by the 16-bit stream id ([`MAX_STREAMS`] entries; a stream that does
//! not fit counts in `stream_overflow`) holds, per CPU: `next` (the highest sequence number
//! seen, plus one; 0 = none yet), `received`, `reordered` (below the highest and not seen
//! before), `duplicates` (seen before, within the window), `late` (older than the window:
//! cannot tell, counted as received) and a ring bitmap of [`WINDOW`] sequence numbers in [`WINDOW_WORDS`]
//! 64-bit words: a number is remembered while its word is the highest's or one of the 15
//! before it (961 to 1024 numbers back, depending on where in its word the highest is).
//! Advancing the highest clears the words between the old and the new highest's (unrolled,
//! at most [`WINDOW_WORDS`] stores).
//!
//! # Latency
//!
//! `bpf_ktime_get_ns()` (CLOCK_MONOTONIC) minus the stamp's send time, for every sequenced
//! frame that is not a duplicate. A send time in the future (another clock, garbage) counts
//! as `latency_invalid` and is left out of the histogram. The histogram is log-linear: values
//! below 16 ns have a bucket each, above that 8 sub-buckets per power of two (12.5 %
//! resolution), see [`bucket_of`]; the log2 is a branchy binary search in the program. A
//! per-CPU maximum is kept exactly. Reading the clock is the program's dearest step (about
//! 30 of its 55 ns on the development VM, where the plain counter takes 8):
//! [`SinkProgram::load_sampled`] measures only the sequence numbers that are multiples of a
//! power of two.
//!
//! # Merging CPUs
//!
//! See [`SinkProgram::read`]: per stream, `next` is the maximum over CPUs and the counts are
//! summed. Frames of one stream that the kernel spreads over two CPUs have no order between
//! them: each CPU sees its own subsequence, so `reordered` counts only what one CPU saw out of
//! order, and a frame seen once on each CPU is not found to be a duplicate (it lowers `lost`
//! instead). On veth a frame's XDP runs on the sender's CPU, so one generator thread's stream
//! stays on one CPU; on a NIC, RSS keeps one flow on one queue.

use std::os::fd::RawFd;

use bpf::{helpers, xdp, Asm, Insn, Jmp, Map, MapType, ProgType, Program, Reg, Size};

/// Bytes of the stamp (must match `crate::stamp::STAMP_LEN`; a test there checks).
pub const STAMP_LEN: usize = 18;
/// The magic of a stamp whose sequence number counts frames.
pub const MAGIC_SEQUENCED: u16 = 0xd5a1;

/// Sequence numbers remembered behind the highest one, to tell duplicates from late frames.
pub const WINDOW: u64 = 1024;
/// 64-bit words of the ring bitmap.
pub const WINDOW_WORDS: usize = (WINDOW / 64) as usize;
/// Streams tracked at once (each generator run is one).
pub const MAX_STREAMS: u32 = 256;
/// Most stamp candidates a program is built for.
pub const MAX_OFFSETS: usize = 128;

/// Histogram buckets: 16 direct ones, then 8 per power of two from 2^4 to 2^63.
pub const BUCKETS: usize = 16 + 60 * 8;

// The per-CPU totals and histogram: one PERCPU_ARRAY entry of u64 fields.
const T_PACKETS: i16 = 0;
const T_BYTES: i16 = 8;
const T_SEQUENCED: i16 = 16;
const T_UNSEQUENCED: i16 = 24;
const T_LATENCY_INVALID: i16 = 32;
const T_STREAM_OVERFLOW: i16 = 40;
const T_LATENCY_MAX: i16 = 48;
const T_LATENCY_COUNT: i16 = 56;
const T_BUCKETS: i16 = 64;
const TOTALS_SIZE: usize = T_BUCKETS as usize + BUCKETS * 8;

// One stream's state (per CPU).
const S_NEXT: i16 = 0;
const S_RECEIVED: i16 = 8;
const S_REORDERED: i16 = 16;
const S_DUPLICATES: i16 = 24;
const S_LATE: i16 = 32;
const S_BITMAP: i16 = 40;
const STREAM_SIZE: usize = S_BITMAP as usize + WINDOW_WORDS * 8;

// Stack slots.
const STACK_TOTALS_KEY: i16 = -4;
const STACK_STREAM_KEY: i16 = -8;
const STACK_SEQ: i16 = -16;
const STACK_SENT: i16 = -24;
/// A zeroed stream value, to insert a new stream from.
const STACK_ZERO: i16 = STACK_SENT - STREAM_SIZE as i16;

/// `BPF_NOEXIST`: insert only if the key is absent.
const BPF_NOEXIST: i32 = 1;

/// The bucket of `value` nanoseconds: the plain reference of what the program computes.
pub fn bucket_of(value: u64) -> usize {
    if value < 16 {
        return value as usize;
    }
    let exp = 63 - value.leading_zeros() as usize; // 4..=63
    let sub = ((value >> (exp - 3)) & 7) as usize;
    16 + (exp - 4) * 8 + sub
}

/// The largest value bucket `index` holds (what percentiles report: an upper bound).
pub fn bucket_upper(index: usize) -> u64 {
    if index < 16 {
        return index as u64;
    }
    let exp = (index - 16) / 8 + 4;
    let sub = ((index - 16) % 8) as u64;
    let width = 1u64 << (exp - 3);
    ((8 + sub) << (exp - 3)) + (width - 1)
}

/// Appends code computing [`bucket_of`]`(value)` into `out` (which must differ from `value`,
/// which is left as it was), using `t1` and `t2` as scratch. `prefix` keeps labels unique.
pub fn emit_bucket(asm: &mut Asm, value: Reg, out: Reg, t1: Reg, t2: Reg, prefix: &str) {
    let done = format!("{prefix}_done");
    asm.push(Insn::mov64_reg(out, value)).jmp_imm(Jmp::Lt, value, 16, &done);
    // floor(log2(value)) by halving the range: 32, 16, 8, 4, 2, 1 bits.
    asm.push(Insn::mov64_reg(t1, value)).push(Insn::mov64_imm(out, 0));
    for bits in [32, 16, 8, 4, 2, 1] {
        let skip = format!("{prefix}_log{bits}");
        asm.push(Insn::mov64_reg(t2, t1))
            .push(Insn::rsh64_imm(t2, bits))
            .jmp_imm(Jmp::Eq, t2, 0, &skip)
            .push(Insn::mov64_reg(t1, t2))
            .push(Insn::add64_imm(out, bits))
            .label(&skip);
    }
    // out = exp (4..=63); sub-bucket = (value >> (exp - 3)) & 7.
    asm.push(Insn::mov64_reg(t1, out))
        .push(Insn::sub64_imm(t1, 3))
        .push(Insn::mov64_reg(t2, value))
        .push(Insn::rsh64_reg(t2, t1))
        .push(Insn::and64_imm(t2, 7))
        .push(Insn::sub64_imm(out, 4))
        .push(Insn::lsh64_imm(out, 3))
        .push(Insn::add64_imm(out, 16))
        .push(Insn::add64_reg(out, t2))
        .label(&done);
}

/// `*(u64 *)(base + off) += 1`.
fn increment(asm: &mut Asm, base: Reg, off: i16) {
    asm.push(Insn::ldx(Size::DW, Reg::R1, base, off)).push(Insn::add64_imm(Reg::R1, 1)).push(Insn::stx(
        Size::DW,
        base,
        off,
        Reg::R1,
    ));
}

/// Register roles.
const CTX: Reg = Reg::R6;
/// The frame's length, once the context is no longer needed.
const LEN: Reg = Reg::R6;
const TOTALS: Reg = Reg::R7;
/// The frame's start, then (once the stamp is read and the sequence counted) the time.
const DATA: Reg = Reg::R8;
const NOW: Reg = Reg::R8;
/// The frame's end, then the stream's state.
const DATA_END: Reg = Reg::R9;
const STREAM: Reg = Reg::R9;

/// One place a stamp may be: at `offset` from the frame's start, in frames whose big-endian
/// 16-bit length field at `len_field` equals the frame's length minus `len_base` (for UDP
/// the innermost UDP length: base = the UDP header's offset; for TCP the IPv4 total length,
/// base = the IP header's offset, or the IPv6 payload length, base = its offset + 40).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StampCandidate {
    /// Where the stamp would start.
    pub offset: u16,
    /// Where the big-endian length field is.
    pub len_field: u16,
    /// What the frame's length minus the field must be.
    pub len_base: u16,
}

/// Sorted by offset (then the rest), without repeats: the order the program tries them in.
/// A candidate whose length field is not in the headers before the stamp is left out (the
/// program reads it within the bounds checked for the stamp).
fn sorted(candidates: &[StampCandidate]) -> Vec<StampCandidate> {
    let mut candidates: Vec<StampCandidate> =
        candidates.iter().copied().filter(|c| u32::from(c.len_field) + 2 <= u32::from(c.offset)).collect();
    candidates.sort_unstable();
    candidates.dedup();
    candidates
}

/// The sink program over `totals_fd` (PERCPU_ARRAY, 1 entry of the totals layout) and
/// `streams_fd` (PERCPU_HASH, u32 key, stream layout), trying the stamp at each of
/// `candidates` (in ascending order of offset), measuring the latency of frames whose
/// sequence number is a multiple of `latency_every` (a power of two; 1: every frame).
/// Returns XDP_DROP.
pub fn sink_program(
    totals_fd: RawFd,
    streams_fd: RawFd,
    candidates: &[StampCandidate],
    latency_every: u32,
) -> Vec<Insn> {
    assert!(latency_every.is_power_of_two(), "latency_every {latency_every}: a power of two");
    let candidates = sorted(candidates);
    let magic_as_loaded = i32::from(u16::from_ne_bytes(MAGIC_SEQUENCED.to_be_bytes()));
    let mut asm = Asm::new();
    asm.push(Insn::mov64_reg(CTX, Reg::R1))
        .push(Insn::call(helpers::XDP_GET_BUFF_LEN))
        .push(Insn::mov64_reg(DATA_END, Reg::R0)) // the length, for now
        .push(Insn::st(Size::W, Reg::R10, STACK_TOTALS_KEY, 0))
        .push(Insn::mov64_reg(Reg::R2, Reg::R10))
        .push(Insn::add64_imm(Reg::R2, STACK_TOTALS_KEY.into()))
        .push2(Insn::ld_map_fd(Reg::R1, totals_fd))
        .push(Insn::call(helpers::MAP_LOOKUP_ELEM))
        .jmp_imm(Jmp::Eq, Reg::R0, 0, "drop")
        .push(Insn::mov64_reg(TOTALS, Reg::R0));
    // Plain read-modify-write everywhere: the values are this CPU's own and XDP does not
    // migrate mid-run.
    increment(&mut asm, TOTALS, T_PACKETS);
    asm.push(Insn::ldx(Size::DW, Reg::R1, TOTALS, T_BYTES))
        .push(Insn::add64_reg(Reg::R1, DATA_END))
        .push(Insn::stx(Size::DW, TOTALS, T_BYTES, Reg::R1))
        .push(Insn::mov64_reg(Reg::R1, CTX))
        .push(Insn::mov64_reg(LEN, DATA_END))
        .push(Insn::ldx(Size::W, DATA, Reg::R1, xdp::MD_DATA))
        .push(Insn::ldx(Size::W, DATA_END, Reg::R1, xdp::MD_DATA_END));

    // The candidates by offset, ascending: bounds check (a frame too short for this
    // offset is too short for every later one), magic, each length field the offset comes
    // with, then copy the stamp's fields to the stack.
    let mut groups: Vec<(u16, Vec<StampCandidate>)> = Vec::new();
    for &c in &candidates {
        match groups.last_mut() {
            Some((offset, group)) if *offset == c.offset => group.push(c),
            _ => groups.push((c.offset, vec![c])),
        }
    }
    for (i, (offset, group)) in groups.iter().enumerate() {
        let next = if i + 1 < groups.len() { format!("offset_{}", i + 1) } else { "unsequenced".to_owned() };
        let off = *offset as i16;
        let found = format!("found_{i}");
        asm.label(&format!("offset_{i}"))
            .push(Insn::mov64_reg(Reg::R2, DATA))
            .push(Insn::add64_imm(Reg::R2, i32::from(off) + STAMP_LEN as i32))
            .jmp_reg(Jmp::Gt, Reg::R2, DATA_END, "unsequenced")
            .push(Insn::ldx(Size::H, Reg::R3, DATA, off))
            .jmp_imm(Jmp::Ne, Reg::R3, magic_as_loaded, &next);
        for c in group {
            asm.push(Insn::ldx(Size::H, Reg::R3, DATA, c.len_field as i16))
                .push(Insn::be16(Reg::R3))
                .push(Insn::mov64_reg(Reg::R4, LEN))
                .push(Insn::sub64_imm(Reg::R4, c.len_base.into()))
                .jmp_reg(Jmp::Eq, Reg::R3, Reg::R4, &found);
        }
        asm.ja(&next)
            .label(&found)
            .push(Insn::ldx(Size::H, Reg::R1, DATA, off + 2))
            .push(Insn::be16(Reg::R1))
            .push(Insn::stx(Size::W, Reg::R10, STACK_STREAM_KEY, Reg::R1))
            .push(Insn::ldx(Size::H, Reg::R2, DATA, off + 4))
            .push(Insn::be16(Reg::R2))
            .push(Insn::lsh64_imm(Reg::R2, 32))
            .push(Insn::ldx(Size::W, Reg::R3, DATA, off + 6))
            .push(Insn::be32(Reg::R3))
            .push(Insn::or64_reg(Reg::R2, Reg::R3))
            .push(Insn::stx(Size::DW, Reg::R10, STACK_SEQ, Reg::R2))
            .push(Insn::ldx(Size::DW, Reg::R4, DATA, off + 10))
            .push(Insn::be64(Reg::R4))
            .push(Insn::stx(Size::DW, Reg::R10, STACK_SENT, Reg::R4))
            .ja("found");
    }
    asm.label("unsequenced");
    increment(&mut asm, TOTALS, T_UNSEQUENCED);
    if candidates.is_empty() {
        // Nothing below is reachable, and the verifier refuses unreachable code.
        asm.label("drop").push(Insn::mov64_imm(Reg::R0, xdp::DROP)).push(Insn::exit());
        return asm.finish().expect("the sink program places every label it jumps to");
    }
    asm.ja("drop");

    asm.label("found");
    increment(&mut asm, TOTALS, T_SEQUENCED);
    let lookup_stream = |asm: &mut Asm| {
        asm.push2(Insn::ld_map_fd(Reg::R1, streams_fd))
            .push(Insn::mov64_reg(Reg::R2, Reg::R10))
            .push(Insn::add64_imm(Reg::R2, STACK_STREAM_KEY.into()))
            .push(Insn::call(helpers::MAP_LOOKUP_ELEM))
            .jmp_imm(Jmp::Ne, Reg::R0, 0, "have_stream");
    };
    lookup_stream(&mut asm);
    // A new stream: insert zeroes (BPF_NOEXIST), then look it up again.
    for word in 0..STREAM_SIZE / 8 {
        asm.push(Insn::st(Size::DW, Reg::R10, STACK_ZERO + 8 * word as i16, 0));
    }
    asm.push2(Insn::ld_map_fd(Reg::R1, streams_fd))
        .push(Insn::mov64_reg(Reg::R2, Reg::R10))
        .push(Insn::add64_imm(Reg::R2, STACK_STREAM_KEY.into()))
        .push(Insn::mov64_reg(Reg::R3, Reg::R10))
        .push(Insn::add64_imm(Reg::R3, STACK_ZERO.into()))
        .push(Insn::mov64_imm(Reg::R4, BPF_NOEXIST))
        .push(Insn::call(helpers::MAP_UPDATE_ELEM));
    lookup_stream(&mut asm);
    // The map is full.
    increment(&mut asm, TOTALS, T_STREAM_OVERFLOW);
    asm.ja("latency");

    // R1 = seq, R2 = next.
    asm.label("have_stream").push(Insn::mov64_reg(STREAM, Reg::R0));
    increment(&mut asm, STREAM, S_RECEIVED);
    asm.push(Insn::ldx(Size::DW, Reg::R1, Reg::R10, STACK_SEQ))
        .push(Insn::ldx(Size::DW, Reg::R2, STREAM, S_NEXT))
        .jmp_reg(Jmp::Ge, Reg::R1, Reg::R2, "advance");

    // Below the highest: in the window (its word not overwritten since), or late.
    asm.push(Insn::mov64_reg(Reg::R3, Reg::R2))
        .push(Insn::sub64_imm(Reg::R3, 1))
        .push(Insn::rsh64_imm(Reg::R3, 6))
        .push(Insn::mov64_reg(Reg::R4, Reg::R1))
        .push(Insn::rsh64_imm(Reg::R4, 6))
        .push(Insn::sub64_reg(Reg::R3, Reg::R4))
        .jmp_imm(Jmp::Ge, Reg::R3, WINDOW_WORDS as i32, "late");
    emit_bit(&mut asm);
    // R5 = &word, R0 = word, R2 = bit.
    asm.push(Insn::mov64_reg(Reg::R4, Reg::R0))
        .push(Insn::and64_reg(Reg::R4, Reg::R2))
        .jmp_imm(Jmp::Ne, Reg::R4, 0, "duplicate")
        .push(Insn::or64_reg(Reg::R0, Reg::R2))
        .push(Insn::stx(Size::DW, Reg::R5, S_BITMAP, Reg::R0));
    increment(&mut asm, STREAM, S_REORDERED);
    asm.ja("latency");

    asm.label("duplicate");
    increment(&mut asm, STREAM, S_DUPLICATES);
    asm.ja("drop");

    asm.label("late");
    increment(&mut asm, STREAM, S_LATE);
    asm.ja("latency");

    // seq >= next: a new highest. Clear the words after the old highest's up to the new
    // one's (all of them when it jumps a whole window), then set the bit.
    asm.label("advance")
        .jmp_imm(Jmp::Eq, Reg::R2, 0, "set_bit")
        .push(Insn::mov64_reg(Reg::R3, Reg::R2))
        .push(Insn::sub64_imm(Reg::R3, 1))
        .push(Insn::rsh64_imm(Reg::R3, 6))
        .push(Insn::mov64_reg(Reg::R4, Reg::R1))
        .push(Insn::rsh64_imm(Reg::R4, 6))
        .push(Insn::sub64_reg(Reg::R4, Reg::R3))
        .jmp_imm(Jmp::Lt, Reg::R4, WINDOW_WORDS as i32, "clear_some");
    for word in 0..WINDOW_WORDS {
        asm.push(Insn::st(Size::DW, STREAM, S_BITMAP + 8 * word as i16, 0));
    }
    asm.ja("set_bit").label("clear_some");
    for step in 1..WINDOW_WORDS as i32 {
        asm.jmp_imm(Jmp::Lt, Reg::R4, step, "set_bit")
            .push(Insn::mov64_reg(Reg::R5, Reg::R3))
            .push(Insn::add64_imm(Reg::R5, step))
            .push(Insn::and64_imm(Reg::R5, WINDOW_WORDS as i32 - 1))
            .push(Insn::lsh64_imm(Reg::R5, 3))
            .push(Insn::mov64_reg(Reg::R0, STREAM))
            .push(Insn::add64_reg(Reg::R0, Reg::R5))
            .push(Insn::st(Size::DW, Reg::R0, S_BITMAP, 0));
    }
    asm.label("set_bit");
    emit_bit(&mut asm);
    asm.push(Insn::or64_reg(Reg::R0, Reg::R2))
        .push(Insn::stx(Size::DW, Reg::R5, S_BITMAP, Reg::R0))
        .push(Insn::mov64_reg(Reg::R2, Reg::R1))
        .push(Insn::add64_imm(Reg::R2, 1))
        .push(Insn::stx(Size::DW, STREAM, S_NEXT, Reg::R2));

    // Latency of a frame that is not a duplicate. The clock is read here, not on arrival:
    // the one helper call that costs (about 30 ns on this kind of VM), so duplicates skip
    // it; the sequence bookkeeping before it adds a few ns to every latency alike.
    asm.label("latency");
    if latency_every > 1 {
        asm.push(Insn::ldx(Size::DW, Reg::R1, Reg::R10, STACK_SEQ))
            .push(Insn::and64_imm(Reg::R1, latency_every as i32 - 1))
            .jmp_imm(Jmp::Ne, Reg::R1, 0, "drop");
    }
    asm.push(Insn::call(helpers::KTIME_GET_NS))
        .push(Insn::mov64_reg(NOW, Reg::R0))
        .push(Insn::ldx(Size::DW, Reg::R1, Reg::R10, STACK_SENT))
        .jmp_reg(Jmp::Gt, Reg::R1, NOW, "latency_invalid")
        .push(Insn::mov64_reg(Reg::R2, NOW))
        .push(Insn::sub64_reg(Reg::R2, Reg::R1));
    increment(&mut asm, TOTALS, T_LATENCY_COUNT);
    asm.push(Insn::ldx(Size::DW, Reg::R3, TOTALS, T_LATENCY_MAX))
        .jmp_reg(Jmp::Ge, Reg::R3, Reg::R2, "max_kept")
        .push(Insn::stx(Size::DW, TOTALS, T_LATENCY_MAX, Reg::R2))
        .label("max_kept");
    emit_bucket(&mut asm, Reg::R2, Reg::R0, Reg::R3, Reg::R4, "bucket");
    // Without CAP_PERFMON the verifier masks a variable offset added to a map value
    // pointer, and insists that every path reaching the addition brings the same bounds;
    // each branch of the log2 search leaves the index with bounds of its own. Two XORs with
    // a value it knows nothing of (the time) change nothing but make it forget them, and
    // the range check (always true) then gives every path the same bounds.
    asm.push(Insn::xor64_reg(Reg::R0, NOW))
        .push(Insn::xor64_reg(Reg::R0, NOW))
        .jmp_imm(Jmp::Gt, Reg::R0, BUCKETS as i32 - 1, "drop")
        .push(Insn::lsh64_imm(Reg::R0, 3))
        .push(Insn::mov64_reg(Reg::R5, TOTALS))
        .push(Insn::add64_reg(Reg::R5, Reg::R0));
    increment(&mut asm, Reg::R5, T_BUCKETS);
    asm.ja("drop");

    asm.label("latency_invalid");
    increment(&mut asm, TOTALS, T_LATENCY_INVALID);

    asm.label("drop").push(Insn::mov64_imm(Reg::R0, xdp::DROP)).push(Insn::exit());
    asm.finish().expect("the sink program places every label it jumps to")
}

/// With R1 = seq and STREAM the stream's state: R5 = the address of seq's bitmap word
/// (minus [`S_BITMAP`]), R0 = that word, R2 = seq's bit in it. Clobbers R3, R4.
fn emit_bit(asm: &mut Asm) {
    asm.push(Insn::mov64_reg(Reg::R4, Reg::R1))
        .push(Insn::rsh64_imm(Reg::R4, 6))
        .push(Insn::and64_imm(Reg::R4, WINDOW_WORDS as i32 - 1))
        .push(Insn::lsh64_imm(Reg::R4, 3))
        .push(Insn::mov64_reg(Reg::R5, STREAM))
        .push(Insn::add64_reg(Reg::R5, Reg::R4))
        .push(Insn::ldx(Size::DW, Reg::R0, Reg::R5, S_BITMAP))
        .push(Insn::mov64_reg(Reg::R3, Reg::R1))
        .push(Insn::and64_imm(Reg::R3, 63))
        .push(Insn::mov64_imm(Reg::R2, 1))
        .push(Insn::lsh64_reg(Reg::R2, Reg::R3));
}

/// One stream, merged over CPUs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamCounts {
    /// The stamps' stream id.
    pub stream: u16,
    /// Highest sequence number seen + 1 (the maximum over CPUs).
    pub next: u64,
    /// Sequenced frames of this stream, duplicates and late ones included.
    pub received: u64,
    /// Frames that came after a higher sequence number.
    pub reordered: u64,
    /// Frames whose sequence number had come already.
    pub duplicates: u64,
    /// Older than the window when they came: taken as not seen before.
    pub late: u64,
}

impl StreamCounts {
    /// Sequence numbers from 0 to the highest seen that did not arrive (the generator
    /// numbers each stream from 0): `next - (received - duplicates)`.
    pub fn lost(&self) -> u64 {
        self.next.saturating_sub(self.received.saturating_sub(self.duplicates))
    }
}

/// What the sink program counted, merged over CPUs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SinkCounts {
    /// Every frame that arrived.
    pub packets: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Frames with a sequenced stamp.
    pub sequenced: u64,
    /// Frames without one.
    pub unsequenced: u64,
    /// Sequenced frames whose send time lies in the future (not in the histogram).
    pub latency_invalid: u64,
    /// Sequenced frames of streams beyond [`MAX_STREAMS`] (no sequence state kept).
    pub stream_overflow: u64,
    /// Exact, in ns (0 when no latency was recorded).
    pub latency_max: u64,
    /// Latencies recorded (= the histogram's total).
    pub latency_count: u64,
    /// [`BUCKETS`] counts, see [`bucket_of`].
    pub histogram: Vec<u64>,
    /// Sorted by stream id.
    pub streams: Vec<StreamCounts>,
}

impl SinkCounts {
    /// Lost frames, over every stream.
    pub fn lost(&self) -> u64 {
        self.streams.iter().map(StreamCounts::lost).sum()
    }

    /// Reordered frames, over every stream.
    pub fn reordered(&self) -> u64 {
        self.streams.iter().map(|s| s.reordered).sum()
    }

    /// Duplicated frames, over every stream.
    pub fn duplicates(&self) -> u64 {
        self.streams.iter().map(|s| s.duplicates).sum()
    }

    /// Late frames (older than the window), over every stream.
    pub fn late(&self) -> u64 {
        self.streams.iter().map(|s| s.late).sum()
    }

    /// The upper bound of the bucket holding the `q` quantile (never above the maximum),
    /// None when nothing was recorded.
    pub fn latency_quantile(&self, q: f64) -> Option<u64> {
        let count: u64 = self.histogram.iter().sum();
        if count == 0 {
            return None;
        }
        let rank = ((q * count as f64).ceil() as u64).clamp(1, count);
        let mut seen = 0;
        for (index, &n) in self.histogram.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Some(bucket_upper(index).min(self.latency_max));
            }
        }
        Some(self.latency_max)
    }
}

fn u64_at(bytes: &[u8], off: i16) -> u64 {
    let off = off as usize;
    u64::from_ne_bytes(bytes[off..off + 8].try_into().expect("8-byte field"))
}

/// The sink program with its maps.
#[derive(Debug)]
pub struct SinkProgram {
    totals: Map,
    streams: Map,
    program: Program,
    candidates: Vec<StampCandidate>,
}

impl SinkProgram {
    /// Creates the maps and loads [`sink_program`] for these stamp candidates, measuring
    /// the latency of every frame.
    pub fn load(candidates: &[StampCandidate]) -> Result<SinkProgram, bpf::Error> {
        SinkProgram::load_sampled(candidates, 1)
    }

    /// [`SinkProgram::load`], measuring the latency only of frames whose sequence number is
    /// a multiple of `latency_every` (a power of two up to 2^30): reading the clock is the
    /// program's dearest step (about 30 ns of its 55 here), so a sample keeps the sink cheap
    /// at the highest rates. Percentiles and maximum are then those of the sample.
    pub fn load_sampled(candidates: &[StampCandidate], latency_every: u32) -> Result<SinkProgram, bpf::Error> {
        if !latency_every.is_power_of_two() || latency_every > 1 << 30 {
            return Err(bpf::Error::InvalidArgument {
                what: format!("latency every {latency_every} frames: give a power of two from 1 to 2^30"),
            });
        }
        let candidates = sorted(candidates);
        if candidates.len() > MAX_OFFSETS {
            return Err(bpf::Error::InvalidArgument {
                what: format!("{} stamp candidates: the sink program takes at most {MAX_OFFSETS}", candidates.len()),
            });
        }
        let totals = Map::create(MapType::PercpuArray, "sink_totals", 4, TOTALS_SIZE as u32, 1)?;
        let streams = Map::create(MapType::PercpuHash, "sink_streams", 4, STREAM_SIZE as u32, MAX_STREAMS)?;
        let program = Program::load(
            ProgType::Xdp,
            "sink_seq",
            &sink_program(totals.raw_fd(), streams.raw_fd(), &candidates, latency_every),
        )?;
        Ok(SinkProgram { totals, streams, program, candidates })
    }

    /// The program, to attach with `bpf::Link::attach_xdp`.
    pub fn program(&self) -> &Program {
        &self.program
    }

    /// The stamp candidates, in the order the program tries them.
    pub fn candidates(&self) -> &[StampCandidate] {
        &self.candidates
    }

    /// Packets, summed over CPUs (cheaper than [`SinkProgram::read`]: no streams).
    pub fn packets(&self) -> Result<u64, bpf::Error> {
        let mut per_cpu = vec![0u8; self.totals.value_buf_len()];
        self.totals.lookup(&0u32.to_ne_bytes(), &mut per_cpu)?;
        Ok(per_cpu.chunks_exact(TOTALS_SIZE.next_multiple_of(8)).map(|slot| u64_at(slot, T_PACKETS)).sum())
    }

    /// Everything, merged over CPUs: totals and histogram buckets summed, the maximum
    /// latency the largest; per stream `next` the largest (the highest sequence number any
    /// CPU saw), `received`, `reordered`, `duplicates` and `late` summed. So
    /// `lost = next - (received - duplicates)` per stream counts the numbers no CPU saw,
    /// provided no frame reached two CPUs (a duplicate split over two CPUs goes unseen and
    /// lowers `lost` by one instead), and `reordered` is the sum of what each CPU saw out of
    /// order in its own share (frames on two CPUs have no order between them).
    pub fn read(&self) -> Result<SinkCounts, bpf::Error> {
        let mut counts = SinkCounts { histogram: vec![0; BUCKETS], ..SinkCounts::default() };
        let mut per_cpu = vec![0u8; self.totals.value_buf_len()];
        self.totals.lookup(&0u32.to_ne_bytes(), &mut per_cpu)?;
        for slot in per_cpu.chunks_exact(TOTALS_SIZE.next_multiple_of(8)) {
            counts.packets += u64_at(slot, T_PACKETS);
            counts.bytes += u64_at(slot, T_BYTES);
            counts.sequenced += u64_at(slot, T_SEQUENCED);
            counts.unsequenced += u64_at(slot, T_UNSEQUENCED);
            counts.latency_invalid += u64_at(slot, T_LATENCY_INVALID);
            counts.stream_overflow += u64_at(slot, T_STREAM_OVERFLOW);
            counts.latency_count += u64_at(slot, T_LATENCY_COUNT);
            counts.latency_max = counts.latency_max.max(u64_at(slot, T_LATENCY_MAX));
            for (i, bucket) in counts.histogram.iter_mut().enumerate() {
                *bucket += u64_at(slot, T_BUCKETS + 8 * i as i16);
            }
        }
        let mut key = [0u8; 4];
        let mut cursor: Option<[u8; 4]> = None;
        let mut values = vec![0u8; self.streams.value_buf_len()];
        while self.streams.next_key(cursor.as_ref().map(|k| &k[..]), &mut key)? {
            cursor = Some(key);
            // Streams are never deleted, so a key listed is there.
            if !self.streams.lookup(&key, &mut values)? {
                continue;
            }
            let mut stream = StreamCounts { stream: u32::from_ne_bytes(key) as u16, ..StreamCounts::default() };
            for slot in values.chunks_exact(STREAM_SIZE.next_multiple_of(8)) {
                stream.next = stream.next.max(u64_at(slot, S_NEXT));
                stream.received += u64_at(slot, S_RECEIVED);
                stream.reordered += u64_at(slot, S_REORDERED);
                stream.duplicates += u64_at(slot, S_DUPLICATES);
                stream.late += u64_at(slot, S_LATE);
            }
            counts.streams.push(stream);
        }
        counts.streams.sort_by_key(|s| s.stream);
        Ok(counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    use testkit::require_root;

    #[test]
    fn buckets_hold_their_values() {
        for v in [0u64, 1, 15, 16, 17, 31, 32, 33, 47, 48, 63, 64, 1000, 1 << 40, u64::MAX - 1, u64::MAX] {
            let b = bucket_of(v);
            assert!(b < BUCKETS, "{v}");
            assert!(bucket_upper(b) >= v, "{v}: bucket {b} up to {}", bucket_upper(b));
            assert!(b == 0 || bucket_upper(b - 1) < v, "{v}: bucket {b} is the first that holds it");
        }
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
        // Contiguous: each bucket starts right after the one before.
        for b in 1..BUCKETS {
            assert_eq!(bucket_of(bucket_upper(b - 1) + 1), b);
        }
    }

    proptest! {
        #[test]
        fn bucket_resolution_is_an_eighth(v in 16u64..) {
            let upper = bucket_upper(bucket_of(v));
            prop_assert!(upper >= v);
            prop_assert!((upper - v) as f64 <= v as f64 / 8.0, "{} -> {}", v, upper);
        }
    }

    /// A program returning `bucket_of(be64 at byte 14)`.
    fn bucket_program() -> Program {
        let mut asm = Asm::new();
        asm.push(Insn::ldx(Size::W, Reg::R2, Reg::R1, xdp::MD_DATA))
            .push(Insn::ldx(Size::W, Reg::R3, Reg::R1, xdp::MD_DATA_END))
            .push(Insn::mov64_imm(Reg::R0, -1))
            .push(Insn::mov64_reg(Reg::R4, Reg::R2))
            .push(Insn::add64_imm(Reg::R4, 22))
            .jmp_reg(Jmp::Gt, Reg::R4, Reg::R3, "out")
            .push(Insn::ldx(Size::DW, Reg::R6, Reg::R2, 14))
            .push(Insn::be64(Reg::R6));
        emit_bucket(&mut asm, Reg::R6, Reg::R0, Reg::R7, Reg::R8, "b");
        asm.label("out").push(Insn::exit());
        Program::load(ProgType::Xdp, "bucket_test", &asm.finish().unwrap()).unwrap()
    }

    fn bpf_bucket(program: &Program, v: u64) -> usize {
        let mut frame = vec![0u8; 22];
        frame[14..22].copy_from_slice(&v.to_be_bytes());
        program.test_run(&frame, 1).unwrap().retval as usize
    }

    #[test]
    fn bpf_buckets_agree_with_the_reference() {
        if !require_root("bpf_buckets_agree_with_the_reference") {
            return;
        }
        let program = bpf_bucket_program_cached();
        let mut edges = vec![0u64, 1, 15, 16, 17, u64::MAX];
        for exp in 4..64 {
            let p = 1u64 << exp;
            edges.extend([p - 1, p, p + 1, p + (p >> 3), p + (p >> 3) - 1]);
        }
        for v in edges {
            assert_eq!(bpf_bucket(&program, v), bucket_of(v), "{v}");
        }
        let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(2000));
        runner
            .run(&prop_oneof![any::<u64>(), 0u64..100_000, (0u32..64).prop_map(|e| 1u64 << e)], |v| {
                prop_assert_eq!(bpf_bucket(&program, v), bucket_of(v), "{}", v);
                Ok(())
            })
            .unwrap();
    }

    fn bpf_bucket_program_cached() -> Program {
        bucket_program()
    }

    // ---- the whole program through BPF_PROG_RUN ----

    /// Per-CPU state: the test thread stays on one CPU, so one stream's state is in one
    /// slot and the counts are exact.
    fn pin_to_one_cpu() {
        assert!(core_affinity::set_for_current(core_affinity::CoreId { id: 0 }), "pinning the test thread to CPU 0");
    }

    /// Ethernet (with `vlan` tags) / IPv4 / UDP / payload, the stamp at the payload's start.
    fn udp_frame(vlan: bool, payload: &[u8]) -> Vec<u8> {
        let mut frame = vec![0x02, 0, 0, 0, 0, 0x01, 0x02, 0, 0, 0, 0, 0x02];
        if vlan {
            frame.extend([0x81, 0x00, 0x00, 0x64]);
        }
        frame.extend([0x08, 0x00]);
        let mut ip = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, 17, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2];
        ip[2..4].copy_from_slice(&((28 + payload.len()) as u16).to_be_bytes());
        frame.extend(ip);
        frame.extend([0x04, 0x00, 0x00, 0x09]);
        frame.extend(((8 + payload.len()) as u16).to_be_bytes());
        frame.extend([0, 0]);
        frame.extend(payload);
        frame
    }

    fn stamp(magic: u16, stream: u16, seq: u64, sent_ns: u64) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend(magic.to_be_bytes());
        b.extend(stream.to_be_bytes());
        b.extend(&seq.to_be_bytes()[2..]);
        b.extend(sent_ns.to_be_bytes());
        b
    }

    /// The stamps of the frames above: after Ethernet / IPv4 / UDP, with and without a tag
    /// (UDP length at 38 or 42).
    const OFFSETS: [StampCandidate; 2] = [
        StampCandidate { offset: 42, len_field: 38, len_base: 34 },
        StampCandidate { offset: 46, len_field: 42, len_base: 38 },
    ];

    fn sequenced(stream: u16, seq: u64) -> Vec<u8> {
        udp_frame(false, &stamp(MAGIC_SEQUENCED, stream, seq, pmd_now()))
    }

    fn pmd_now() -> u64 {
        pmd::clock::monotonic_ns()
    }

    fn run(sink: &SinkProgram, frame: &[u8]) {
        let run = sink.program().test_run(frame, 1).unwrap();
        assert_eq!(run.retval as i32, xdp::DROP);
    }

    /// A plain model of one stream, as the program keeps it (same window, word by word).
    #[derive(Default)]
    struct Model {
        next: u64,
        received: u64,
        reordered: u64,
        duplicates: u64,
        late: u64,
        bitmap: [u64; WINDOW_WORDS],
    }

    impl Model {
        fn observe(&mut self, seq: u64) {
            self.received += 1;
            let word = |s: u64| ((s >> 6) as usize) % WINDOW_WORDS;
            if seq >= self.next {
                if self.next > 0 {
                    let old = (self.next - 1) >> 6;
                    let new = seq >> 6;
                    if new - old >= WINDOW_WORDS as u64 {
                        self.bitmap = [0; WINDOW_WORDS];
                    } else {
                        for w in old + 1..=new {
                            self.bitmap[(w as usize) % WINDOW_WORDS] = 0;
                        }
                    }
                }
                self.bitmap[word(seq)] |= 1 << (seq & 63);
                self.next = seq + 1;
            } else if ((self.next - 1) >> 6) - (seq >> 6) >= WINDOW_WORDS as u64 {
                self.late += 1;
            } else if self.bitmap[word(seq)] & 1 << (seq & 63) != 0 {
                self.duplicates += 1;
            } else {
                self.bitmap[word(seq)] |= 1 << (seq & 63);
                self.reordered += 1;
            }
        }
    }

    #[test]
    fn loss_reordering_duplicates_and_late_frames_are_counted_exactly() {
        if !require_root("loss_reordering_duplicates_and_late_frames_are_counted_exactly") {
            return;
        }
        pin_to_one_cpu();
        let sink = SinkProgram::load(&OFFSETS).unwrap();
        // Stream 7: 0..=9 with 4 lost, 3 and 8 swapped, 6 twice; then a jump to 5000 and
        // back to 9 (older than the window: late) and 4990 (reordered, within the window).
        let stream7 = [0, 1, 2, 5, 6, 3, 6, 9, 8, 7, 5000, 9, 4990, 4990];
        // Stream 8, interleaved: 0..100 in order, one duplicate at the end.
        let mut order = Vec::new();
        for (i, &seq) in stream7.iter().enumerate() {
            order.push((7u16, seq));
            for s in i * 8..(i + 1) * 8 {
                order.push((8, s as u64));
            }
        }
        order.push((8, 111));
        for &(stream, seq) in &order {
            run(&sink, &sequenced(stream, seq));
        }
        // Unsequenced: no stamp, a static stamp, a frame too short for a stamp, a tagged
        // frame (offset 46) with a static stamp.
        run(&sink, &udp_frame(false, &[0u8; 18]));
        run(&sink, &udp_frame(false, &stamp(0xd5a0, 7, 10, 0)));
        run(&sink, &udp_frame(false, &stamp(MAGIC_SEQUENCED, 7, 10, 0)[..17]));
        run(&sink, &udp_frame(true, &stamp(0xd5a0, 7, 10, 0)));
        // The magic where a stamp would be, but the UDP length is not this frame's.
        let mut wrong_length = sequenced(7, 10);
        wrong_length[39] ^= 1;
        run(&sink, &wrong_length);
        // A tagged one with a sequenced stamp: found at 46. Stream 9.
        run(&sink, &udp_frame(true, &stamp(MAGIC_SEQUENCED, 9, 0, pmd_now())));

        let c = sink.read().unwrap();
        assert_eq!(c.packets, order.len() as u64 + 6);
        assert_eq!(c.sequenced, order.len() as u64 + 1);
        assert_eq!(c.unsequenced, 5);
        assert_eq!(c.stream_overflow, 0);
        let s7 = c.streams.iter().find(|s| s.stream == 7).copied().unwrap();
        // Seen: 0 1 2 3 5 6 7 8 9 4990 5000 (+ 9 late) of 0..=5000.
        assert_eq!(
            (s7.next, s7.received, s7.reordered, s7.duplicates, s7.late),
            (5001, 14, 4, 2, 1),
            "3, 8, 7 and 4990 reordered; 6 and 4990 twice; 9 late"
        );
        assert_eq!(s7.lost(), 5001 - 12);
        let s8 = c.streams.iter().find(|s| s.stream == 8).copied().unwrap();
        assert_eq!((s8.next, s8.received, s8.reordered, s8.duplicates, s8.late), (112, 113, 0, 1, 0));
        assert_eq!(s8.lost(), 0);
        let s9 = c.streams.iter().find(|s| s.stream == 9).copied().unwrap();
        assert_eq!((s9.next, s9.received, s9.lost()), (1, 1, 0));
        assert_eq!(c.streams.len(), 3);
        assert_eq!(c.lost(), s7.lost());
        assert_eq!((c.reordered(), c.duplicates(), c.late()), (4, 3, 1));
        // Every non-duplicate sequenced frame has a latency.
        assert_eq!(c.latency_count, c.sequenced - 3);
        assert_eq!(c.histogram.iter().sum::<u64>(), c.latency_count);
    }

    #[test]
    fn sequence_state_agrees_with_the_model() {
        if !require_root("sequence_state_agrees_with_the_model") {
            return;
        }
        pin_to_one_cpu();
        // Runs of in-order numbers with jumps forward and back of any size around the window.
        let step = prop_oneof![
            6 => Just(1i64),
            1 => -70i64..70,
            1 => -1100i64..1100,
            1 => prop::sample::select(vec![-1024i64, -1023, -1025, 960, 1024, 1088, -64, 64, 0, 5000]),
        ];
        let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(24));
        runner
            .run(&prop::collection::vec(step, 1..600), |steps| {
                let sink = SinkProgram::load(&OFFSETS).unwrap();
                let mut model = Model::default();
                let mut seq = 0i64;
                for step in steps {
                    seq = (seq + step).max(0);
                    model.observe(seq as u64);
                    run(&sink, &sequenced(3, seq as u64));
                }
                let c = sink.read().unwrap();
                let s = c.streams[0];
                prop_assert_eq!(
                    (s.next, s.received, s.reordered, s.duplicates, s.late),
                    (model.next, model.received, model.reordered, model.duplicates, model.late)
                );
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn latency_is_measured_and_future_send_times_are_invalid() {
        if !require_root("latency_is_measured_and_future_send_times_are_invalid") {
            return;
        }
        pin_to_one_cpu();
        let sink = SinkProgram::load(&OFFSETS).unwrap();
        let before = pmd_now();
        run(&sink, &udp_frame(false, &stamp(MAGIC_SEQUENCED, 1, 0, before)));
        let elapsed = pmd_now() - before;
        run(&sink, &udp_frame(false, &stamp(MAGIC_SEQUENCED, 1, 1, u64::MAX)));
        run(&sink, &udp_frame(false, &stamp(MAGIC_SEQUENCED, 1, 2, pmd_now() + 3_600_000_000_000)));
        let c = sink.read().unwrap();
        assert_eq!((c.sequenced, c.latency_invalid, c.latency_count), (3, 2, 1));
        assert!(c.latency_max > 0 && c.latency_max <= elapsed, "{} within {elapsed}", c.latency_max);
        assert_eq!(c.histogram[bucket_of(c.latency_max)], 1);
        let p50 = c.latency_quantile(0.5).unwrap();
        assert_eq!(p50, c.latency_max, "one value: every quantile is it (capped at the max)");
        assert_eq!(SinkCounts::default().latency_quantile(0.5), None);
    }

    #[test]
    fn latency_can_be_sampled_by_sequence_number() {
        if !require_root("latency_can_be_sampled_by_sequence_number") {
            return;
        }
        pin_to_one_cpu();
        let sink = SinkProgram::load_sampled(&OFFSETS, 8).unwrap();
        for seq in 0..100 {
            run(&sink, &sequenced(1, seq));
        }
        let c = sink.read().unwrap();
        assert_eq!((c.sequenced, c.lost(), c.latency_count), (100, 0, 13), "0, 8, ..., 96");
        assert!(SinkProgram::load_sampled(&OFFSETS, 3).is_err());
        assert!(SinkProgram::load_sampled(&OFFSETS, 0).is_err());
    }

    /// Like the other programs of this crate, the sink's must load with CAP_BPF and
    /// CAP_NET_ADMIN alone (no CAP_PERFMON: its variable offsets are into map values, which
    /// the verifier masks, never into the packet).
    #[test]
    fn sink_program_loads_with_only_cap_bpf_and_cap_net_admin() {
        if !require_root("sink_program_loads_with_only_cap_bpf_and_cap_net_admin") {
            return;
        }
        // Capabilities are per thread: a scratch thread drops them.
        std::thread::spawn(|| {
            pmd::caps::keep_only(&[pmd::caps::CAP_NET_ADMIN, pmd::caps::CAP_BPF]).expect("capset");
            pin_to_one_cpu();
            for every in [1, 16] {
                let sink = SinkProgram::load_sampled(&OFFSETS, every).unwrap();
                for seq in [0, 5, 3, 3, 2000, 1] {
                    run(&sink, &sequenced(1, seq));
                }
                let c = sink.read().unwrap();
                assert_eq!((c.sequenced, c.duplicates(), c.reordered(), c.late()), (6, 1, 1, 1));
            }
        })
        .join()
        .unwrap();
    }

    #[test]
    fn the_most_candidates_load_and_the_last_one_is_found() {
        if !require_root("the_most_candidates_load_and_the_last_one_is_found") {
            return;
        }
        pin_to_one_cpu();
        // Offsets 42, 44, ... with two length fields each (the UDP length, and another).
        let candidates: Vec<StampCandidate> = (0..MAX_OFFSETS as u16)
            .map(|i| {
                let offset = 42 + 2 * (i / 2);
                let (len_field, len_base) = if i % 2 == 0 { (offset - 4, offset - 8) } else { (offset - 6, 0) };
                StampCandidate { offset, len_field, len_base }
            })
            .collect();
        let sink = SinkProgram::load(&candidates).unwrap();
        let last = candidates.last().unwrap().offset as usize;
        // A frame whose stamp is at the last offset: UDP length right for a UDP header at
        // last - 8, and zeroes before it (no magic at an earlier offset).
        let mut frame = vec![0u8; last + STAMP_LEN];
        frame[last..].copy_from_slice(&stamp(MAGIC_SEQUENCED, 4, 0, pmd_now()));
        frame[last - 4..last - 2].copy_from_slice(&((STAMP_LEN + 8) as u16).to_be_bytes());
        run(&sink, &frame);
        let c = sink.read().unwrap();
        assert_eq!((c.sequenced, c.unsequenced, c.streams.len()), (1, 0, 1));
        assert!(SinkProgram::load(
            &[candidates.clone(), vec![StampCandidate { offset: 1000, len_field: 996, len_base: 992 }]].concat()
        )
        .is_err());
    }

    #[test]
    fn streams_beyond_the_map_count_as_overflow() {
        if !require_root("streams_beyond_the_map_count_as_overflow") {
            return;
        }
        pin_to_one_cpu();
        let sink = SinkProgram::load(&OFFSETS).unwrap();
        for stream in 0..MAX_STREAMS as u16 + 3 {
            run(&sink, &sequenced(stream, 0));
        }
        let c = sink.read().unwrap();
        assert_eq!(c.streams.len(), MAX_STREAMS as usize);
        assert_eq!(c.stream_overflow, 3);
        assert_eq!(c.lost(), 0);
    }

    #[test]
    fn no_offsets_counts_everything_as_unsequenced() {
        if !require_root("no_offsets_counts_everything_as_unsequenced") {
            return;
        }
        let sink = SinkProgram::load(&[]).unwrap();
        run(&sink, &sequenced(1, 0));
        let c = sink.read().unwrap();
        assert_eq!((c.packets, c.bytes, c.sequenced, c.unsequenced), (1, 60, 0, 1));
        assert_eq!(sink.packets().unwrap(), 1);
    }
}
