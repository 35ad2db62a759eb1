//! The live engine's XDP program and its maps: every frame of a live-frames run becomes
//! frame `i` of the plan in the kernel ([`super::patch`] says how the table is made).
//!
//! Per frame, from its CPU's state and the config:
//! 1. variant: bad when floor((i+1)p) > floor(ip) (an accumulator of p in millionths), the
//!    layers in turn; flow = i mod flows (a counter);
//! 2. copies the entry's words (`first_entry + flow * variants + variant`) over the frame,
//!    the innermost L4 checksum among them;
//! 3. when the call's size has room: the stamp (stream = base + CPU id, the CPU's
//!    sequence number, `bpf_ktime_get_ns` read every [`CLOCK_EVERY`] frames and at each
//!    call's first) and its one's-complement sum added to the
//!    innermost L4 checksum (RFC 1624 eqn. 3; a UDP result of 0 is written 0xffff, RFC 768).
//!    Outer checksums (VXLAN / Geneve outer UDP, GRE) need no change: a segment whose own
//!    checksum was updated for new bytes has the same one's-complement total as before, so
//!    every checksum covering the whole inner segment stays right (the reasoning of Local
//!    Checksum Offload, Documentation/networking/checksum-offloads.rst). This holds for a
//!    deliberately wrong inner checksum too: it stays wrong by the same amount;
//! 4. counts the frame in the CPU's state and returns XDP_TX.
//!
//! Paced runs put a gate in front of all that (`C_PACE_STEP` non-zero): the call runs the
//! program many more times than frames are due, and each run reads the clock and lets a
//! frame through only when its slot has come (`S_NEXT`, in ns << 8, steps by one slot of
//! `C_PACE_BURST` frames), else returns XDP_DROP, which the kernel recycles in place. So
//! frames leave evenly spaced at any rate (or in bursts of exactly `--burst`), never in a
//! call-sized burst, and one large call per millisecond or so replaces one small call per
//! slot (small calls cost ~0.5 ms of CPU each when the receiver frees the pages on another
//! core: each call has its own page pool). A slot late by at most `C_PACE_LAG` (the jitter
//! of calls and flushes) goes at once. Further behind its schedule (a stall between calls,
//! time stolen from the VM), the slots go `C_PACE_GAP` apart, closer than one step, until
//! the schedule is met again: lost time is repaid at a bounded rate, so the average holds
//! and a stall never turns into a flood; a debt beyond `C_PACE_DEBT` is given up.
//! `S_BUDGET` (set by user space before each call) bounds the frames a call may send, so
//! counts stay exact.
//!
//! Nothing depends on what the recycled page held: every varying byte is written each time,
//! and the first [`HDR_MAX`] bytes (Ethernet, up to two VLAN tags, the start of the IP
//! header) are copied from the base frame first. A page comes back to the generator's pool
//! after the receiver is done with it, and receivers write to it: the kernel's VLAN
//! untagging moves the MAC addresses 4 bytes in place, an XDP target rewrites MACs before
//! it forwards; without the copy a later frame would leave with those bytes. Deeper writes
//! (a router's TTL) are not undone: copying every header costs ~25 % of the rate here.

use std::os::fd::RawFd;

use bpf::{helpers, xdp, Asm, Insn, Jmp, Map, MapType, ProgType, Program, Reg, Size};

use super::patch::{CpuState, PatchTable, Slice, BAD_DEN, MAX_WORDS};

// Config map value (one entry), all little-endian host u32 unless said.
const C_FLOWS: i16 = 0;
const C_VARIANTS: i16 = 4;
const C_BAD_NUM: i16 = 8;
const C_BAD_DEN: i16 = 12;
const C_LAYERS: i16 = 16;
const C_FIRST_ENTRY: i16 = 20;
const C_NWORDS: i16 = 24;
/// 0: the call's frames have no room for a stamp.
const C_STAMP_AT: i16 = 28;
/// 1: the run has one entry per size (one flow, no bad checksums): the program takes
/// [`C_ENTRY0`] and skips the flow, the variant and the table.
const C_SINGLE: i16 = 32;
const C_UDP: i16 = 36;
const C_STREAM: i16 = 40;
/// Bumped by user space before every call: a new call reads the clock on its first frame.
const C_EPOCH: i16 = 44;
/// `MAX_WORDS` u16 byte offsets.
const C_OFFSETS: i16 = 48;
/// The slice's first entry (its values), for [`C_SINGLE`] runs.
const C_ENTRY0: i16 = C_OFFSETS + 2 * MAX_WORDS as i16;
/// Pacing (u64, 8-aligned, ns << 8): one slot (0: unpaced), the lateness sent at once, the
/// most a late schedule may still repay, the slots' spacing while it repays, and the frames
/// of a slot (u32).
const C_PACE_STEP: i16 = (C_ENTRY0 + 2 * MAX_WORDS as i16 + 7) / 8 * 8;
const C_PACE_LAG: i16 = C_PACE_STEP + 8;
const C_PACE_DEBT: i16 = C_PACE_LAG + 8;
const C_PACE_GAP: i16 = C_PACE_DEBT + 8;
const C_PACE_BURST: i16 = C_PACE_GAP + 8;
/// Header bytes to copy from the base (u32, a multiple of 8), then the bytes.
const C_HDR_LEN: i16 = C_PACE_BURST + 8;
const C_HDR: i16 = C_HDR_LEN + 8;
/// Header bytes copied from the base each frame (4 stores).
pub const HDR_MAX: usize = 32;
const CONFIG_SIZE: u32 = C_HDR as u32 + HDR_MAX as u32;

// Per-CPU state value: u64 fields, as [`CpuState`].
const S_GENERATED: i16 = 0;
const S_SEQ: i16 = 8;
const S_FLOW: i16 = 16;
const S_ACC: i16 = 24;
const S_TURN: i16 = 32;
/// 0x10000 | the stamps' stream (the run's base + the CPU id) in wire order; 0: not read
/// yet.
const S_STREAM_BE: i16 = 40;
/// The send time stamps get, in wire order, read every [`CLOCK_EVERY`] stamped frames.
const S_NOW_BE: i16 = 48;
const S_SINCE: i16 = 56;
const S_EPOCH: i16 = 64;
/// The stream, host order.
const S_STREAM: i16 = 72;
/// The stream plus the send time's two 32-bit halves: their part of the stamp's sum.
const S_CONST_SUM: i16 = 80;
/// Paced runs: when the next slot is due by the schedule (ns << 8, 0: not started), frames
/// left in the current slot, frames this call may still send, runs the gate turned away,
/// and the earliest the next slot may go (ns << 8: the last slot plus `C_PACE_GAP`).
const S_NEXT: i16 = 88;
const S_LEFT: i16 = 96;
const S_BUDGET: i16 = 104;
const S_GATED: i16 = 112;
const S_EARLIEST: i16 = 120;
const STATE_SIZE: u32 = 128;

/// Stamped frames per `bpf_ktime_get_ns`: the helper costs ~35 ns here, more than half of
/// a frame's whole budget at line rate; 64 frames at ~17 Mpps are ~3.8 µs, so at full
/// speed a stamp's send time is at most that early (latencies under overload are hundreds
/// of µs). Each call's first stamped frame and, paced, each slot's first frame read the
/// clock anew, so paced stamps are exact. (32: ~1 % less rate, BENCHMARKS.md "Generator".)
pub const CLOCK_EVERY: i32 = 64;

// Stack slots.
const KEY: i16 = -4;
const ENTRY_KEY: i16 = -8;

/// Offsets are masked to this before they touch a packet pointer (the verifier needs a
/// bound; frames are at most 1514 bytes plus tunnel headers).
const OFFSET_MASK: i32 = 0x7fe;

/// `dst = &value` of the single-entry array map `fd` (`BPF_PSEUDO_MAP_VALUE`: the source
/// register field says 2, the second slot's immediate is the offset into the value).
fn ld_map_value(dst: Reg, fd: RawFd) -> [Insn; 2] {
    let mut pair = Insn::ld_imm64(dst, u64::from(fd as u32));
    // Reg::R2 stands for the number 2 in the source field.
    pair[0] = Insn::new(pair[0].code, dst, Reg::R2, 0, fd);
    pair
}

/// What every call of a run shares, when it does: then the program is built with these
/// as constants (one bounds check, stores at fixed offsets, no per-frame tests of the
/// config), which is most of the difference to the bare loop (BENCHMARKS.md, "Generator").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FixedLayout {
    /// Header bytes copied from the base (a multiple of 8, at most [`HDR_MAX`]).
    hdr: usize,
    /// The words' offsets, the innermost L4 checksum first.
    offsets: Vec<u16>,
    stamp_at: Option<usize>,
    /// One entry per size (one flow, no bad checksums).
    single: bool,
    udp: bool,
    /// Bytes every frame has: the one bound the program checks.
    need: usize,
}

impl FixedLayout {
    /// The layout every slice of `table` shares, if they share one.
    pub fn of(table: &PatchTable) -> Option<FixedLayout> {
        let first = table.slices.first()?;
        let min_len = table.slices.iter().map(Slice::len).min()?;
        let same = table.slices.iter().all(|s| s.offsets == first.offsets && s.stamp_at == first.stamp_at);
        let hdr = HDR_MAX.min(min_len / 8 * 8);
        let words_end = first.offsets.iter().map(|&o| usize::from(o) + 2).max().unwrap_or(0);
        let stamp_end = first.stamp_at.map_or(0, |at| at + crate::stamp::STAMP_LEN);
        let need = hdr.max(words_end).max(stamp_end);
        let fits = need <= min_len && need <= OFFSET_MASK as usize && !first.offsets.is_empty();
        (same && fits && table.slices.iter().all(|s| HDR_MAX.min(s.len() / 8 * 8) == hdr)).then(|| FixedLayout {
            hdr,
            offsets: first.offsets.clone(),
            stamp_at: first.stamp_at,
            single: table.flows == 1 && table.variants == 1,
            udp: table.udp,
            need,
        })
    }
}

/// The program for maps `config` (one entry: its value is read by address), `state` and
/// `table`; with `fixed`, specialised to that layout (the config's per-call layout fields
/// are then not read).
pub fn program(config: RawFd, state: RawFd, table: RawFd, fixed: Option<&FixedLayout>) -> Vec<Insn> {
    let (ctx, entry, st, cfg) = (Reg::R6, Reg::R7, Reg::R8, Reg::R9);
    let mut a = Asm::new();
    // The config's one value by address (no lookup); this CPU's state by lookup.
    a.push(Insn::mov64_reg(ctx, Reg::R1))
        .push(Insn::st(Size::W, Reg::R10, KEY, 0))
        .push2(ld_map_value(cfg, config))
        .push2(Insn::ld_map_fd(Reg::R1, state))
        .push(Insn::mov64_reg(Reg::R2, Reg::R10))
        .push(Insn::add64_imm(Reg::R2, KEY.into()))
        .push(Insn::call(helpers::MAP_LOOKUP_ELEM))
        .jmp_imm(Jmp::Eq, Reg::R0, 0, "abort")
        .push(Insn::mov64_reg(st, Reg::R0));

    // 0. The pacing gate (paced runs only).
    a.push(Insn::ldx(Size::DW, Reg::R1, cfg, C_PACE_STEP))
        .jmp_imm(Jmp::Eq, Reg::R1, 0, "ungated")
        .push(Insn::ldx(Size::DW, Reg::R2, st, S_BUDGET))
        .jmp_imm(Jmp::Eq, Reg::R2, 0, "gate_drop")
        .push(Insn::ldx(Size::DW, Reg::R2, st, S_LEFT))
        .jmp_imm(Jmp::Eq, Reg::R2, 0, "slot")
        // Within a slot (a burst): the next frame goes at once.
        .push(Insn::add64_imm(Reg::R2, -1))
        .push(Insn::stx(Size::DW, st, S_LEFT, Reg::R2))
        .ja("pass_gate")
        .label("slot")
        .push(Insn::call(helpers::KTIME_GET_NS))
        .push(Insn::lsh64_imm(Reg::R0, 8))
        .push(Insn::ldx(Size::DW, Reg::R1, st, S_NEXT))
        // The first slot starts the schedule.
        .jmp_imm(Jmp::Ne, Reg::R1, 0, "started")
        .push(Insn::mov64_reg(Reg::R1, Reg::R0))
        .label("started")
        .jmp_reg(Jmp::Gt, Reg::R1, Reg::R0, "gate_drop")
        // Due. A little late (the jitter of calls and flushes): at once. Later: no sooner
        // than a gap after the last slot, so lost time is repaid at a bounded rate. Later
        // than may be repaid: the schedule starts again that far back.
        .push(Insn::mov64_reg(Reg::R2, Reg::R0))
        .push(Insn::sub64_reg(Reg::R2, Reg::R1))
        .push(Insn::ldx(Size::DW, Reg::R3, cfg, C_PACE_LAG))
        .jmp_reg(Jmp::Le, Reg::R2, Reg::R3, "go")
        .push(Insn::ldx(Size::DW, Reg::R3, st, S_EARLIEST))
        .jmp_reg(Jmp::Gt, Reg::R3, Reg::R0, "gate_drop")
        .push(Insn::ldx(Size::DW, Reg::R3, cfg, C_PACE_DEBT))
        .jmp_reg(Jmp::Le, Reg::R2, Reg::R3, "go")
        .push(Insn::mov64_reg(Reg::R1, Reg::R0))
        .push(Insn::sub64_reg(Reg::R1, Reg::R3))
        .label("go")
        .push(Insn::ldx(Size::DW, Reg::R2, cfg, C_PACE_STEP))
        .push(Insn::add64_reg(Reg::R1, Reg::R2))
        .push(Insn::stx(Size::DW, st, S_NEXT, Reg::R1))
        .push(Insn::ldx(Size::DW, Reg::R2, cfg, C_PACE_GAP))
        .push(Insn::add64_reg(Reg::R2, Reg::R0))
        .push(Insn::stx(Size::DW, st, S_EARLIEST, Reg::R2))
        .push(Insn::ldx(Size::W, Reg::R2, cfg, C_PACE_BURST))
        .push(Insn::add64_imm(Reg::R2, -1))
        .push(Insn::stx(Size::DW, st, S_LEFT, Reg::R2))
        // A slot's first frame gets a fresh send time in its stamp.
        .push(Insn::st(Size::DW, st, S_SINCE, CLOCK_EVERY))
        .label("pass_gate")
        .push(Insn::ldx(Size::DW, Reg::R2, st, S_BUDGET))
        .push(Insn::add64_imm(Reg::R2, -1))
        .push(Insn::stx(Size::DW, st, S_BUDGET, Reg::R2))
        .ja("ungated")
        .label("gate_drop")
        .push(Insn::ldx(Size::DW, Reg::R1, st, S_GATED))
        .push(Insn::add64_imm(Reg::R1, 1))
        .push(Insn::stx(Size::DW, st, S_GATED, Reg::R1))
        .push(Insn::mov64_imm(Reg::R0, xdp::DROP))
        .push(Insn::exit())
        .label("ungated");

    // 1. The entry: the config's copy when there is only one, else by variant (R3) and
    // flow.
    match fixed.map(|f| f.single) {
        Some(true) => {
            a.push(Insn::mov64_reg(entry, cfg)).push(Insn::add64_imm(entry, C_ENTRY0.into()));
        }
        Some(false) => {}
        None => {
            a.push(Insn::ldx(Size::W, Reg::R1, cfg, C_SINGLE))
                .jmp_imm(Jmp::Eq, Reg::R1, 0, "by_flow")
                .push(Insn::mov64_reg(entry, cfg))
                .push(Insn::add64_imm(entry, C_ENTRY0.into()))
                .ja("have_entry");
        }
    }
    if fixed.is_none_or(|f| !f.single) {
        entry_by_flow(&mut a, cfg, st, entry, table);
    }
    a.label("have_entry");

    // 2. The clock (cached, see CLOCK_EVERY) and the stream (the run's base plus the CPU,
    // read once), before anything holds a packet pointer: helpers clobber R1-R5.
    match fixed.map(|f| f.stamp_at.is_some()) {
        Some(true) => clock(&mut a, cfg, st),
        Some(false) => {}
        None => {
            a.push(Insn::ldx(Size::W, Reg::R1, cfg, C_STAMP_AT)).jmp_imm(Jmp::Eq, Reg::R1, 0, "words");
            clock(&mut a, cfg, st);
        }
    }

    // 3. The words. R2 = data, R3 = data_end, R5 = word count; word 0 is the innermost L4
    // checksum, whose address R0 keeps.
    let (data, end) = (Reg::R2, Reg::R3);
    a.label("words").push(Insn::ldx(Size::W, data, ctx, xdp::MD_DATA)).push(Insn::ldx(
        Size::W,
        end,
        ctx,
        xdp::MD_DATA_END,
    ));
    if let Some(f) = fixed {
        fixed_words(&mut a, f, data, end, entry, cfg);
    } else {
        general_words(&mut a, data, end, entry, cfg);
    }

    // 4. The stamp. R4 = stamp, R5 = checksum field, then R2 = the stamp's sum.
    let (stamp, csum, sum) = (Reg::R4, Reg::R5, Reg::R2);
    match fixed {
        Some(f) => {
            let Some(at) = f.stamp_at else { return finish(a) };
            a.push(Insn::mov64_reg(csum, data))
                .push(Insn::add64_imm(csum, i32::from(f.offsets[0])))
                .push(Insn::mov64_reg(stamp, data))
                .push(Insn::add64_imm(stamp, at as i32));
        }
        None => {
            a.push(Insn::mov64_reg(csum, Reg::R0))
                .push(Insn::ldx(Size::W, Reg::R1, cfg, C_STAMP_AT))
                .jmp_imm(Jmp::Eq, Reg::R1, 0, "count")
                .push(Insn::and64_imm(Reg::R1, OFFSET_MASK))
                .push(Insn::mov64_reg(stamp, data))
                .push(Insn::add64_reg(stamp, Reg::R1))
                .push(Insn::mov64_reg(Reg::R1, stamp))
                .push(Insn::add64_imm(Reg::R1, crate::stamp::STAMP_LEN as i32))
                .jmp_reg(Jmp::Gt, Reg::R1, end, "count");
        }
    }
    // Stream: the run's base plus the CPU, so two CPUs never share numbering.
    a.push(Insn::ldx(Size::DW, Reg::R0, st, S_STREAM_BE))
        .push(Insn::stx(Size::H, stamp, 2, Reg::R0))
        .push(Insn::ldx(Size::DW, Reg::R1, st, S_SEQ))
        .push(Insn::mov64_reg(Reg::R3, Reg::R1))
        .push(Insn::add64_imm(Reg::R3, 1))
        .push(Insn::stx(Size::DW, st, S_SEQ, Reg::R3))
        .push(Insn::ldx(Size::DW, sum, st, S_CONST_SUM));
    // 48-bit sequence number at 4..10 (16 + 32 bits), send time at 10..18, big-endian
    // (unaligned stores are fine on the hosts this runs on).
    a.push(Insn::mov64_reg(Reg::R0, Reg::R1))
        .push(Insn::rsh64_imm(Reg::R0, 32))
        .push(Insn::and64_imm(Reg::R0, 0xffff))
        .push(Insn::add64_reg(sum, Reg::R0))
        .push(Insn::be16(Reg::R0))
        .push(Insn::stx(Size::H, stamp, 4, Reg::R0))
        .push(Insn::mov32_reg(Reg::R0, Reg::R1))
        .push(Insn::add64_reg(sum, Reg::R0))
        .push(Insn::be32(Reg::R0))
        .push(Insn::stx(Size::W, stamp, 6, Reg::R0))
        .push(Insn::ldx(Size::DW, Reg::R0, st, S_NOW_BE))
        .push(Insn::stx(Size::DW, stamp, 10, Reg::R0));
    // RFC 1624 eqn. 3, the old stamp words all zero: HC' = ~(~HC + sum).
    a.push(Insn::ldx(Size::H, Reg::R0, csum, 0))
        .push(Insn::be16(Reg::R0))
        .push(Insn::mov64_imm(Reg::R3, 0xffff))
        .push(Insn::sub64_reg(Reg::R3, Reg::R0))
        .push(Insn::add64_reg(Reg::R3, sum));
    // Below 2^36: three folds leave 16 bits.
    for _ in 0..3 {
        a.push(Insn::mov64_reg(Reg::R0, Reg::R3))
            .push(Insn::rsh64_imm(Reg::R0, 16))
            .push(Insn::and64_imm(Reg::R3, 0xffff))
            .push(Insn::add64_reg(Reg::R3, Reg::R0));
    }
    a.push(Insn::mov64_imm(Reg::R0, 0xffff)).push(Insn::sub64_reg(Reg::R0, Reg::R3));
    match fixed.map(|f| f.udp) {
        Some(false) => {}
        Some(true) => {
            a.jmp_imm(Jmp::Ne, Reg::R0, 0, "store_csum").push(Insn::mov64_imm(Reg::R0, 0xffff));
        }
        None => {
            a.push(Insn::ldx(Size::W, Reg::R1, cfg, C_UDP))
                .jmp_imm(Jmp::Eq, Reg::R1, 0, "store_csum")
                .jmp_imm(Jmp::Ne, Reg::R0, 0, "store_csum")
                .push(Insn::mov64_imm(Reg::R0, 0xffff));
        }
    }
    a.label("store_csum").push(Insn::be16(Reg::R0)).push(Insn::stx(Size::H, csum, 0, Reg::R0));

    finish(a)
}

/// Step 1 with several entries: the variant (bad checksums in turn) and the flow pick the entry
/// from the table.
fn entry_by_flow(a: &mut Asm, cfg: Reg, st: Reg, entry: Reg, table: RawFd) {
    a.label("by_flow")
        .push(Insn::mov64_imm(Reg::R3, 0))
        .push(Insn::ldx(Size::W, Reg::R2, cfg, C_BAD_NUM))
        .jmp_imm(Jmp::Eq, Reg::R2, 0, "no_bad")
        .push(Insn::ldx(Size::DW, Reg::R1, st, S_ACC))
        .push(Insn::add64_reg(Reg::R1, Reg::R2))
        .push(Insn::ldx(Size::W, Reg::R4, cfg, C_BAD_DEN))
        .jmp_reg(Jmp::Lt, Reg::R1, Reg::R4, "good")
        .push(Insn::sub64_reg(Reg::R1, Reg::R4))
        .push(Insn::ldx(Size::DW, Reg::R5, st, S_TURN))
        .push(Insn::mov64_reg(Reg::R3, Reg::R5))
        .push(Insn::add64_imm(Reg::R3, 1))
        .push(Insn::add64_imm(Reg::R5, 1))
        .push(Insn::ldx(Size::W, Reg::R0, cfg, C_LAYERS))
        .jmp_reg(Jmp::Lt, Reg::R5, Reg::R0, "turn_ok")
        .push(Insn::mov64_imm(Reg::R5, 0))
        .label("turn_ok")
        .push(Insn::stx(Size::DW, st, S_TURN, Reg::R5))
        .label("good")
        .push(Insn::stx(Size::DW, st, S_ACC, Reg::R1))
        .label("no_bad")
        .push(Insn::ldx(Size::DW, Reg::R1, st, S_FLOW))
        .push(Insn::ldx(Size::W, Reg::R2, cfg, C_VARIANTS))
        .push(Insn::mul64_reg(Reg::R2, Reg::R1))
        .push(Insn::add64_reg(Reg::R2, Reg::R3))
        .push(Insn::ldx(Size::W, Reg::R0, cfg, C_FIRST_ENTRY))
        .push(Insn::add64_reg(Reg::R2, Reg::R0))
        .push(Insn::stx(Size::W, Reg::R10, ENTRY_KEY, Reg::R2))
        .push(Insn::add64_imm(Reg::R1, 1))
        .push(Insn::ldx(Size::W, Reg::R0, cfg, C_FLOWS))
        .jmp_reg(Jmp::Lt, Reg::R1, Reg::R0, "flow_ok")
        .push(Insn::mov64_imm(Reg::R1, 0))
        .label("flow_ok")
        .push(Insn::stx(Size::DW, st, S_FLOW, Reg::R1))
        .push2(Insn::ld_map_fd(Reg::R1, table))
        .push(Insn::mov64_reg(Reg::R2, Reg::R10))
        .push(Insn::add64_imm(Reg::R2, ENTRY_KEY.into()))
        .push(Insn::call(helpers::MAP_LOOKUP_ELEM))
        .jmp_imm(Jmp::Eq, Reg::R0, 0, "abort")
        .push(Insn::mov64_reg(entry, Reg::R0));
}

/// Step 2, the stamp's clock: read every [`CLOCK_EVERY`] frames and at each call's first,
/// and its stream.
fn clock(a: &mut Asm, cfg: Reg, st: Reg) {
    a.push(Insn::ldx(Size::DW, Reg::R1, st, S_STREAM_BE))
        .jmp_imm(Jmp::Ne, Reg::R1, 0, "have_stream")
        .push(Insn::call(helpers::GET_SMP_PROCESSOR_ID))
        .push(Insn::ldx(Size::W, Reg::R1, cfg, C_STREAM))
        .push(Insn::add64_reg(Reg::R0, Reg::R1))
        .push(Insn::and64_imm(Reg::R0, 0xffff))
        .push(Insn::stx(Size::DW, st, S_STREAM, Reg::R0))
        .push(Insn::be16(Reg::R0))
        .push(Insn::or64_imm(Reg::R0, 0x1_0000))
        .push(Insn::stx(Size::DW, st, S_STREAM_BE, Reg::R0))
        .label("have_stream")
        .push(Insn::ldx(Size::DW, Reg::R1, st, S_SINCE))
        .push(Insn::ldx(Size::DW, Reg::R2, st, S_EPOCH))
        .push(Insn::ldx(Size::W, Reg::R3, cfg, C_EPOCH))
        .jmp_reg(Jmp::Ne, Reg::R2, Reg::R3, "clock")
        .jmp_imm(Jmp::Ge, Reg::R1, CLOCK_EVERY, "clock")
        .push(Insn::add64_imm(Reg::R1, 1))
        .push(Insn::stx(Size::DW, st, S_SINCE, Reg::R1))
        .ja("words")
        .label("clock")
        .push(Insn::stx(Size::DW, st, S_EPOCH, Reg::R3))
        .push(Insn::st(Size::DW, st, S_SINCE, 1))
        .push(Insn::call(helpers::KTIME_GET_NS))
        .push(Insn::mov64_reg(Reg::R1, Reg::R0))
        .push(Insn::be64(Reg::R1))
        .push(Insn::stx(Size::DW, st, S_NOW_BE, Reg::R1))
        // The sum: any value is congruent to the sum of its 16-bit words modulo 0xffff,
        // so its 32-bit halves will do.
        .push(Insn::mov64_reg(Reg::R1, Reg::R0))
        .push(Insn::rsh64_imm(Reg::R1, 32))
        .push(Insn::mov32_reg(Reg::R0, Reg::R0))
        .push(Insn::add64_reg(Reg::R1, Reg::R0))
        .push(Insn::ldx(Size::DW, Reg::R0, st, S_STREAM))
        .push(Insn::add64_reg(Reg::R1, Reg::R0))
        .push(Insn::stx(Size::DW, st, S_CONST_SUM, Reg::R1));
}

/// Step 5: count, send; and the abort every failed lookup or bound jumps to.
fn finish(mut a: Asm) -> Vec<Insn> {
    let st = Reg::R8;
    a.label("count")
        .push(Insn::ldx(Size::DW, Reg::R1, st, S_GENERATED))
        .push(Insn::add64_imm(Reg::R1, 1))
        .push(Insn::stx(Size::DW, st, S_GENERATED, Reg::R1))
        .push(Insn::mov64_imm(Reg::R0, xdp::TX))
        .push(Insn::exit())
        .label("abort")
        .push(Insn::mov64_imm(Reg::R0, xdp::ABORTED))
        .push(Insn::exit());
    a.finish().expect("the live program places every label it jumps to")
}

/// Step 3 for a fixed layout: one bound for everything, then the header and the words at constant
/// offsets. Leaves `data` and `end` as they were.
fn fixed_words(a: &mut Asm, f: &FixedLayout, data: Reg, end: Reg, entry: Reg, cfg: Reg) {
    a.push(Insn::mov64_reg(Reg::R1, data)).push(Insn::add64_imm(Reg::R1, f.need as i32)).jmp_reg(
        Jmp::Gt,
        Reg::R1,
        end,
        "abort",
    );
    for k in 0..f.hdr / 8 {
        let at = (8 * k) as i16;
        a.push(Insn::ldx(Size::DW, Reg::R1, cfg, C_HDR + at)).push(Insn::stx(Size::DW, data, at, Reg::R1));
    }
    for (k, &at) in f.offsets.iter().enumerate() {
        a.push(Insn::ldx(Size::H, Reg::R1, entry, 2 * k as i16)).push(Insn::stx(Size::H, data, at as i16, Reg::R1));
    }
}

/// Step 3 in general: the header and each word only where the frame has them; R0 = the address
/// of word 0 (the innermost L4 checksum).
fn general_words(a: &mut Asm, data: Reg, end: Reg, entry: Reg, cfg: Reg) {
    a.push(Insn::ldx(Size::W, Reg::R5, cfg, C_HDR_LEN));
    // The headers from the base, 8 bytes at a time (see the module docs).
    for k in 0..HDR_MAX / 8 {
        let at = (8 * k) as i16;
        a.jmp_imm(Jmp::Le, Reg::R5, 8 * k as i32, "headers_done")
            .push(Insn::mov64_reg(Reg::R1, data))
            .push(Insn::add64_imm(Reg::R1, 8 * k as i32 + 8))
            .jmp_reg(Jmp::Gt, Reg::R1, end, "headers_done")
            .push(Insn::ldx(Size::DW, Reg::R1, cfg, C_HDR + at))
            .push(Insn::stx(Size::DW, data, at, Reg::R1));
    }
    a.label("headers_done").push(Insn::ldx(Size::W, Reg::R5, cfg, C_NWORDS));
    for k in 0..MAX_WORDS {
        let next = format!("word{}", k + 1);
        let (at, skip) = if k == 0 { (Reg::R0, "count") } else { (Reg::R4, next.as_str()) };
        if k > 0 {
            a.jmp_imm(Jmp::Le, Reg::R5, k as i32, "patched");
        }
        a.push(Insn::ldx(Size::H, Reg::R1, cfg, C_OFFSETS + 2 * k as i16))
            .push(Insn::and64_imm(Reg::R1, OFFSET_MASK))
            .push(Insn::mov64_reg(at, data))
            .push(Insn::add64_reg(at, Reg::R1))
            .push(Insn::mov64_reg(Reg::R1, at))
            .push(Insn::add64_imm(Reg::R1, 2))
            .jmp_reg(Jmp::Gt, Reg::R1, end, skip)
            .push(Insn::ldx(Size::H, Reg::R1, entry, 2 * k as i16))
            .push(Insn::stx(Size::H, at, 0, Reg::R1));
        if k > 0 {
            a.label(&next);
        }
    }
    a.label("patched");
}

/// The pacing gate's setting: a slot of `burst` frames every `step_fp` / 256 ns; a slot late
/// by at most `lag_fp` / 256 ns goes at once; further behind, slots go `gap_fp` / 256 ns
/// apart until the schedule is met, and a debt of more than `debt_fp` / 256 ns is given up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pace {
    /// Nanoseconds << 8 between slots.
    pub step_fp: u64,
    /// Nanoseconds << 8 of lateness sent at once.
    pub lag_fp: u64,
    /// Nanoseconds << 8 the schedule may fall behind and still be repaid.
    pub debt_fp: u64,
    /// Nanoseconds << 8 between slots while repaying.
    pub gap_fp: u64,
    /// Frames per slot.
    pub burst: u32,
}

impl Pace {
    /// Lateness sent at once, in frames (8 to 128: half the receiving veth's ring): about
    /// 50 µs, the jitter between calls.
    const LAG: f64 = 50e-6;
    /// Lost time beyond that is repaid at this multiple of the rate.
    pub const REPAY_SPEED: f64 = 2.0;
    /// The most lost time repaid: longer than a scheduler tick or two (HZ 250: 4 ms) and
    /// a descheduled vCPU; at least one slot.
    pub const DEBT_MAX: f64 = 20e-3;

    /// `rate` frames per second in slots of `burst` (a late burst slot goes at once).
    pub fn new(rate: f64, burst: u32) -> Pace {
        let rate = rate.max(1.0);
        let frame_fp = 1e9 * 256.0 / rate;
        let step_fp = (frame_fp * f64::from(burst.max(1))).round().max(1.0) as u64;
        let lag_frames = if burst > 1 { burst } else { ((rate * Self::LAG) as u32).clamp(8, 128) };
        let lag_fp = ((frame_fp * f64::from(lag_frames)).round() as u64).max(step_fp);
        let debt_fp = ((Self::DEBT_MAX * 1e9 * 256.0) as u64).max(lag_fp);
        let gap_fp = (step_fp as f64 / Self::REPAY_SPEED).round() as u64;
        Pace { step_fp, lag_fp, debt_fp, gap_fp, burst: burst.max(1) }
    }

    /// No gate (unpaced runs).
    pub const UNPACED: Pace = Pace { step_fp: 0, lag_fp: 0, debt_fp: 0, gap_fp: 0, burst: 1 };
}

/// The loaded program with its maps.
#[derive(Debug)]
pub struct LiveProgram {
    config: Map,
    state: Map,
    /// The XDP program the live-frames calls run.
    pub program: Program,
    table: PatchTable,
    stream: u16,
    /// The config value as last written (slice, epoch).
    current: std::cell::RefCell<Vec<u8>>,
}

impl LiveProgram {
    /// Creates the maps, fills the table and loads the program (specialised to the run's
    /// layout where every call shares one).
    pub fn load(table: PatchTable, stream: u16) -> Result<LiveProgram, bpf::Error> {
        let fixed = FixedLayout::of(&table);
        Self::load_with(table, stream, fixed)
    }

    /// [`LiveProgram::load`] with the layout given (`None`: the general program).
    pub fn load_with(table: PatchTable, stream: u16, fixed: Option<FixedLayout>) -> Result<LiveProgram, bpf::Error> {
        let config = Map::create(MapType::Array, "gen_config", 4, CONFIG_SIZE, 1)?;
        let state = Map::create(MapType::PercpuArray, "gen_state", 4, STATE_SIZE, 1)?;
        let entries = table.values.len().max(1) as u32;
        let values = Map::create(MapType::Array, "gen_patches", 4, 2 * MAX_WORDS as u32, entries)?;
        for (i, words) in table.values.iter().enumerate() {
            let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_ne_bytes()).collect();
            values.update(&(i as u32).to_ne_bytes(), &bytes)?;
        }
        let insns = program(config.raw_fd(), state.raw_fd(), values.raw_fd(), fixed.as_ref());
        let program = Program::load(ProgType::Xdp, "gen_live", &insns)?;
        // The program holds the table map; our fd may go.
        drop(values);
        let current = std::cell::RefCell::new(vec![0u8; CONFIG_SIZE as usize]);
        Ok(LiveProgram { config, state, program, table, stream, current })
    }

    /// The patch table it was loaded with.
    pub fn table(&self) -> &PatchTable {
        &self.table
    }

    /// Before a call: points the program at slice `slice` (the size of the call's frames)
    /// and tells it a new call starts (so it reads the clock anew).
    pub fn begin_call(&self, slice: usize) -> Result<(), bpf::Error> {
        self.begin_call_paced(slice, None)
    }

    /// Like [`LiveProgram::begin_call`], with the program's pacing gate set to `pace`.
    pub fn begin_call_paced(&self, slice: usize, pace: Option<Pace>) -> Result<(), bpf::Error> {
        let s: &Slice = &self.table.slices[slice];
        let t = &self.table;
        let mut v = self.current.borrow_mut();
        let epoch = u32::from_ne_bytes(v[C_EPOCH as usize..C_EPOCH as usize + 4].try_into().unwrap());
        let mut put = |at: i16, value: u32| v[at as usize..at as usize + 4].copy_from_slice(&value.to_ne_bytes());
        put(C_FLOWS, t.flows);
        put(C_VARIANTS, t.variants);
        put(C_BAD_NUM, t.bad_num);
        put(C_BAD_DEN, BAD_DEN as u32);
        put(C_LAYERS, t.layers.max(1));
        put(C_FIRST_ENTRY, s.first_entry);
        put(C_NWORDS, s.offsets.len() as u32);
        put(C_STAMP_AT, s.stamp_at.map_or(0, |at| at as u32));
        put(C_UDP, u32::from(t.udp));
        put(C_STREAM, u32::from(self.stream));
        put(C_SINGLE, u32::from(t.flows == 1 && t.variants == 1));
        put(C_EPOCH, epoch.wrapping_add(1));
        for (k, &at) in s.offsets.iter().enumerate() {
            let o = C_OFFSETS as usize + 2 * k;
            v[o..o + 2].copy_from_slice(&at.to_ne_bytes());
        }
        for (k, word) in t.values[s.first_entry as usize].iter().enumerate() {
            let o = C_ENTRY0 as usize + 2 * k;
            v[o..o + 2].copy_from_slice(&word.to_ne_bytes());
        }
        // The first HDR_MAX bytes, in whole 8-byte stores within the frame.
        let hdr = HDR_MAX.min(s.base.len() / 8 * 8);
        v[C_HDR_LEN as usize..][..4].copy_from_slice(&(hdr as u32).to_ne_bytes());
        v[C_HDR as usize..][..HDR_MAX].fill(0);
        v[C_HDR as usize..][..hdr].copy_from_slice(&s.base[..hdr]);
        let pace = pace.unwrap_or(Pace::UNPACED);
        v[C_PACE_STEP as usize..][..8].copy_from_slice(&pace.step_fp.to_ne_bytes());
        v[C_PACE_LAG as usize..][..8].copy_from_slice(&pace.lag_fp.to_ne_bytes());
        v[C_PACE_DEBT as usize..][..8].copy_from_slice(&pace.debt_fp.to_ne_bytes());
        v[C_PACE_GAP as usize..][..8].copy_from_slice(&pace.gap_fp.to_ne_bytes());
        v[C_PACE_BURST as usize..][..4].copy_from_slice(&pace.burst.max(1).to_ne_bytes());
        self.config.update(&0u32.to_ne_bytes(), &v)
    }

    /// Sets every CPU's budget (the frames a paced call may send) and returns what the
    /// budgets held before, summed: what the previous call left unsent.
    pub fn set_budget(&self, frames: u64) -> Result<u64, bpf::Error> {
        let mut buf = vec![0u8; self.state.value_buf_len()];
        self.state.lookup(&0u32.to_ne_bytes(), &mut buf)?;
        let mut left = 0;
        for cpu in buf.chunks_exact_mut(STATE_SIZE.next_multiple_of(8) as usize) {
            let field = &mut cpu[S_BUDGET as usize..][..8];
            left += u64::from_ne_bytes((&*field).try_into().expect("8 bytes"));
            field.copy_from_slice(&frames.to_ne_bytes());
        }
        self.state.update(&0u32.to_ne_bytes(), &buf)?;
        Ok(left)
    }

    /// Frames sent against the budgets [`LiveProgram::set_budget`] gave every CPU: what
    /// each spent, summed (a call runs on one CPU; a thread that moved spends on two).
    pub fn budget_spent(&self, given: u64) -> Result<u64, bpf::Error> {
        let mut buf = vec![0u8; self.state.value_buf_len()];
        self.state.lookup(&0u32.to_ne_bytes(), &mut buf)?;
        Ok(buf
            .chunks_exact(STATE_SIZE.next_multiple_of(8) as usize)
            .map(|b| given.saturating_sub(u64::from_ne_bytes(b[S_BUDGET as usize..][..8].try_into().expect("8 bytes"))))
            .sum())
    }

    /// Runs the pacing gate turned away (test runs that sent nothing), over all CPUs.
    pub fn gated(&self) -> Result<u64, bpf::Error> {
        let mut buf = vec![0u8; self.state.value_buf_len()];
        self.state.lookup(&0u32.to_ne_bytes(), &mut buf)?;
        Ok(buf
            .chunks_exact(STATE_SIZE.next_multiple_of(8) as usize)
            .map(|b| u64::from_ne_bytes(b[S_GATED as usize..][..8].try_into().expect("8 bytes")))
            .sum())
    }

    /// Every CPU's state (index = CPU id).
    pub fn states(&self) -> Result<Vec<CpuState>, bpf::Error> {
        let mut buf = vec![0u8; self.state.value_buf_len()];
        self.state.lookup(&0u32.to_ne_bytes(), &mut buf)?;
        let field = |b: &[u8], at: i16| u64::from_ne_bytes(b[at as usize..at as usize + 8].try_into().unwrap());
        Ok(buf
            .chunks_exact(STATE_SIZE.next_multiple_of(8) as usize)
            .map(|b| CpuState {
                generated: field(b, S_GENERATED),
                seq: field(b, S_SEQ),
                flow: field(b, S_FLOW),
                acc: field(b, S_ACC),
                turn: field(b, S_TURN),
            })
            .collect())
    }

    /// Frames the program has generated, over all CPUs.
    pub fn generated(&self) -> Result<u64, bpf::Error> {
        Ok(self.states()?.iter().map(|s| s.generated).sum())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_program_assembles_and_stays_small() {
        let insns = program(3, 4, 5, None);
        assert!(insns.len() < 450, "{} instructions", insns.len());
        assert_eq!(insns.last().unwrap(), &Insn::exit());
        let plan = crate::gen::FramePlan::new(
            crate::template::Template::new(crate::template::TemplateKind::Udp, false),
            crate::template::FrameSize::Fixed(60),
            1,
            None,
            true,
        )
        .unwrap();
        let table = PatchTable::build(&plan).unwrap();
        let fixed = FixedLayout::of(&table).expect("one size, one flow: a fixed layout");
        assert!(fixed.single && fixed.stamp_at.is_some() && fixed.need <= 60, "{fixed:?}");
        let specialised = program(3, 4, 5, Some(&fixed));
        assert!(specialised.len() * 2 < insns.len(), "{} against {}", specialised.len(), insns.len());
    }

    #[test]
    fn pace_repays_at_a_bounded_speed_and_gives_up_old_debt() {
        let pace = Pace::new(1e6, 1);
        assert_eq!(pace.step_fp, 256_000, "1 µs a frame, in ns << 8");
        assert_eq!(pace.lag_fp, 50 * 256_000, "50 frames late go at once");
        assert_eq!(pace.gap_fp, 128_000, "twice the rate while further behind");
        assert_eq!(pace.debt_fp, 20_000_000 * 256, "20 ms of lost time repaid at most");
        // Slow: at least 8 frames late go at once, and that much may be repaid.
        let slow = Pace::new(10.0, 1);
        assert_eq!((slow.lag_fp, slow.debt_fp), (8 * slow.step_fp, 8 * slow.step_fp));
        assert_eq!(Pace::new(1e5, 2000).step_fp, 20_000_000 * 256, "bursts of 2000 every 20 ms");
    }
}

/// The program in the kernel against the plain reference ([`super::patch::apply`]): a
/// plain (not live) test run hands back the frame as the program left it.
#[cfg(test)]
mod kernel_tests {
    use super::*;
    use crate::gen::patch::{apply, next_entry};
    use crate::gen::{BadCsum, FramePlan};
    use crate::stamp::Stamp;
    use crate::template::{FrameSize, Template, TemplateKind, Vlan};

    /// Root, or skip with a message; under CI a skip would hide a failure.
    fn root(test: &str) -> bool {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let euid = status.lines().find_map(|l| l.strip_prefix("Uid:")).and_then(|l| l.split_whitespace().nth(1));
        if euid == Some("0") {
            return true;
        }
        assert!(std::env::var_os("CI").is_none(), "{test} needs root and CI is set, so it must run");
        eprintln!("skipping {test}: needs root (loads an XDP program)");
        false
    }

    #[test]
    fn the_kernel_writes_what_the_reference_writes() {
        if !root("the_kernel_writes_what_the_reference_writes") {
            return;
        }
        // The state is per CPU: stay on one.
        assert!(core_affinity::set_for_current(core_affinity::CoreId { id: 0 }), "pinning to core 0");
        let mut vlan = Template::new(TemplateKind::Tcp, true);
        vlan.set_outer_vlan(Some(Vlan { id: 7, pcp: 0 }));
        let cases = [
            (Template::new(TemplateKind::Udp, false), FrameSize::Fixed(60)),
            (vlan, FrameSize::Fixed(300)),
            (Template::new(TemplateKind::Vxlan, false), FrameSize::Imix),
            (Template::new(TemplateKind::Gre, true), FrameSize::Fixed(200)),
            (Template::new(TemplateKind::Geneve, false), FrameSize::Fixed(128)),
        ];
        let runs = cases
            .iter()
            .flat_map(|&(t, sizes)| [(t, sizes, 5, Some(BadCsum { percent: 30.0, layer: None })), (t, sizes, 1, None)]);
        for (template, sizes, flows, bad) in runs {
            let plan = FramePlan::new(template, sizes, flows, bad, true).unwrap();
            let table = PatchTable::build(&plan).unwrap();
            // The specialised program where the run has one layout, and the general one.
            for fixed in [FixedLayout::of(&table), None] {
                let live = LiveProgram::load_with(table.clone(), 0xfff0, fixed.clone()).unwrap();
                let table = live.table();
                let mut state = CpuState::default();
                let mut last = None;
                let mut times = Vec::new();
                for i in 0..80u64 {
                    // One frame per test run; a new call (new epoch) only when the size changes,
                    // so the cached clock is used and refreshed as in a live run.
                    let slice = table.slice_of(sizes.at(i)).unwrap();
                    if last != Some(slice) {
                        live.begin_call(slice).unwrap();
                        last = Some(slice);
                    }
                    let s = &table.slices[slice];
                    // The page as a receiver may hand it back: the MAC addresses moved 4 bytes
                    // (VLAN untagging), the first bytes rewritten. The program restores them.
                    let mut dirty = s.base.clone();
                    dirty.copy_within(0..12, 4);
                    dirty[..4].fill(0xee);
                    let out = live.program.test_run(&dirty, 1).unwrap();
                    assert_eq!(out.retval, xdp::TX as u32);
                    let mut want = s.base.clone();
                    let entry = next_entry(table, s, &mut state);
                    let stamp = s.stamp_at.map(|at| {
                        // The CPU and clock are the kernel's: take them from its stamp.
                        let st = Stamp::read(&out.data_out[at..]).expect("a stamp");
                        assert!(st.sequenced && st.stream.wrapping_sub(0xfff0) < 1024, "{st:?}");
                        assert_eq!(st.seq, state.seq, "frame {i}");
                        times.push(st.sent_ns);
                        (st.stream, st.seq, st.sent_ns)
                    });
                    apply(table, s, entry, stamp, &mut want);
                    if stamp.is_some() {
                        state.seq += 1;
                    }
                    assert_eq!(out.data_out, want, "{} frame {i}", template.describe());
                }
                if sizes != FrameSize::Imix {
                    // One call: the clock is read on the first stamped frame and every
                    // CLOCK_EVERY after it.
                    let changes = times.windows(2).filter(|w| w[0] != w[1]).count();
                    assert!(times.windows(2).all(|w| w[0] <= w[1]));
                    assert!(changes <= times.len().div_ceil(CLOCK_EVERY as usize), "{times:?}");
                    assert!(times.windows(2).take(CLOCK_EVERY as usize - 1).all(|w| w[0] == w[1]), "{times:?}");
                }
                let states = live.states().unwrap();
                assert_eq!(states.iter().map(|s| s.generated).sum::<u64>(), 80);
                assert_eq!(states.iter().map(|s| s.seq).sum::<u64>(), state.seq);
            }
        }
    }
}
