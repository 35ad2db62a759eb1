//! The packet parser in eBPF: walks the frame once and leaves every field a rule can test
//! in a stack slot (the eBPF twin of [`rules::PacketKey`]), so the rule blocks that follow
//! are loads and compares only.
//!
//! What it parses (and so what the eBPF targets can match), per [`rules::PacketKey`]:
//! - Ethernet; one or two 802.1Q (0x8100) / 802.1ad (0x88a8) tags, the outermost giving
//!   `vlan_id`/`vlan_prio`. In tc the kernel has usually moved the outer tag into
//!   `skb->vlan_tci` before ingress; the tc prologue reads it from there.
//! - IPv4 with options (IHL); a header that is truncated, not version 4 or with IHL < 5
//!   is not IP (`Family::None`). Fragments set `ip_flags` (RFC 791 §3.1: MF, offset);
//!   a non-first fragment has no L4 header, so no ports.
//! - IPv6 (RFC 8200 §4): up to 4 (`IPV6_EXT_HEADERS_MAX`) hop-by-hop (0), routing (43),
//!   fragment (44) and destination-options (60) headers; `ip_proto` is the upper-layer
//!   header after them. More, or a truncated one, leave `ip_proto` at that extension
//!   header's number and no ports. A fragment header with offset 0 and M clear (an atomic
//!   fragment, RFC 6946 §4) is not a fragment. A routing header with segments left
//!   makes `dst_ip` the final destination (RFC 8200 §8.1): the last address for type 0,
//!   segment list `[0]` for type 4 (SRH, RFC 8754 §2), the home address for type 2.
//! - TCP (20-byte header needed: ports and flags), UDP (8 bytes), SCTP (12 bytes): ports.
//! - VXLAN on UDP 4789 (RFC 7348 §5) and Geneve on UDP 6081 carrying Ethernet (protocol
//!   0x6558, version 0, RFC 8926 §3.4): the outer IP and UDP go to the `enc_` fields and
//!   the inner Ethernet frame is parsed again for the plain fields. A tunnel header (with
//!   options) followed by less than a full inner Ethernet header is plain UDP. Tunnels
//!   inside tunnels, GRE and IP-in-IP are not parsed (their frames match on the outer
//!   headers as plain ones).
//! - Headers must start within the first 4096 bytes (`MAX_HEADER_OFFSET`).

use std::os::fd::RawFd;

use bpf::{helpers, tc, xdp, Asm, Insn, Jmp, Reg, Size};

/// Where the frame comes from: decides how the prologue finds the packet and the VLAN tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Hook {
    Xdp,
    Tc,
}

/// One u64 stack slot per field. Absent fields read 0 with their `Has*` slot 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
#[allow(dead_code, reason = "the address words after the first are reached as Slot::word(Src0, i), never named")]
pub(crate) enum Slot {
    // Plain fields (inner on a tunnelled frame): reset before the inner parse.
    DstMac,
    SrcMac,
    HasVlan,
    VlanId,
    VlanPrio,
    /// 0 (none), 4 or 6.
    Family,
    IpProto,
    Src0,
    Src1,
    Src2,
    Src3,
    Dst0,
    Dst1,
    Dst2,
    Dst3,
    Tos,
    Ttl,
    IpFlags,
    HasPorts,
    SrcPort,
    DstPort,
    HasTcpFlags,
    TcpFlags,
    // Outer fields of a tunnel.
    Tunnel,
    HasEncKeyId,
    EncKeyId,
    EncFamily,
    EncSrc0,
    EncSrc1,
    EncSrc2,
    EncSrc3,
    EncDst0,
    EncDst1,
    EncDst2,
    EncDst3,
    HasEncDstPort,
    EncDstPort,
    /// Scratch: the u32 key of a counter lookup.
    MapKey,
    /// A pointer to this CPU's scratch map value (see [`launder`]).
    ScratchPtr,
}

/// The first and last plain slot (reset before parsing a tunnel's inner frame).
const PLAIN_SLOTS: std::ops::RangeInclusive<u8> = Slot::DstMac as u8..=Slot::TcpFlags as u8;
const ALL_SLOTS: u8 = Slot::MapKey as u8 + 1; // ScratchPtr is written before use

impl Slot {
    /// The slot's offset from R10 (the frame pointer).
    pub(crate) const fn off(self) -> i16 {
        -8 * (self as i16 + 1)
    }

    const fn from_index(index: u8) -> i16 {
        -8 * (index as i16 + 1)
    }

    /// Word `i` (0 = most significant) of the source or destination address slots.
    pub(crate) fn word(base: Slot, i: usize) -> i16 {
        base.off() - 8 * i as i16
    }
}

/// Family slot values.
pub(crate) const FAMILY_V4: i32 = 4;
pub(crate) const FAMILY_V6: i32 = 6;

/// Headers starting beyond this offset are not parsed; it also bounds the verifier's view
/// of the cursor.
pub(crate) const MAX_HEADER_OFFSET: i32 = 4096;
/// IPv6 extension headers followed before giving up.
pub(crate) const IPV6_EXT_HEADERS_MAX: usize = 4;

pub(crate) const VXLAN_PORT: u16 = 4789;
pub(crate) const GENEVE_PORT: u16 = 6081;

const ETHERTYPE_IPV4: i32 = 0x0800;
const ETHERTYPE_IPV6: i32 = 0x86dd;
const ETHERTYPE_VLAN: i32 = 0x8100;
const ETHERTYPE_QINQ: i32 = 0x88a8;
/// Geneve protocol type for an Ethernet payload (Transparent Ethernet Bridging).
const ETHERTYPE_TEB: i32 = 0x6558;

const ETH_HLEN: i32 = 14;

// Registers while parsing: R6 context, R7 packet start, R8 packet end, R9 cursor (offset
// of the header being parsed), R4 the next protocol; R0-R5 otherwise scratch.
pub(crate) const CTX: Reg = Reg::R6;
pub(crate) const DATA: Reg = Reg::R7;
pub(crate) const DATA_END: Reg = Reg::R8;
const CURSOR: Reg = Reg::R9;
const NEXT: Reg = Reg::R4;

/// Emits the prologue and the whole parse; falls through (at label `parsed`) with every
/// slot written. `scratch_fd` is a per-CPU array with one u64 entry (see [`launder`]);
/// if its lookup fails (it cannot), the program returns `miss_action`.
pub(crate) fn emit_parser(a: &mut Asm, hook: Hook, scratch_fd: RawFd, miss_action: i32) {
    a.push(Insn::mov64_reg(CTX, Reg::R1));
    match hook {
        Hook::Xdp => {
            a.push(Insn::ldx(Size::W, DATA, CTX, xdp::MD_DATA));
            a.push(Insn::ldx(Size::W, DATA_END, CTX, xdp::MD_DATA_END));
        }
        Hook::Tc => {
            a.push(Insn::ldx(Size::W, DATA, CTX, tc::SKB_DATA));
            a.push(Insn::ldx(Size::W, DATA_END, CTX, tc::SKB_DATA_END));
        }
    }
    a.push(Insn::mov64_imm(Reg::R1, 0));
    for index in 0..ALL_SLOTS {
        a.push(Insn::stx(Size::DW, Reg::R10, Slot::from_index(index), Reg::R1));
    }
    if hook == Hook::Tc {
        // The receive path usually strips the outer tag into skb->vlan_tci before tc
        // ingress runs (not so in a test run); it is then the outermost tag.
        a.push(Insn::ldx(Size::W, Reg::R1, CTX, SKB_VLAN_PRESENT));
        a.jmp_imm(Jmp::Eq, Reg::R1, 0, "skb_untagged");
        a.push(Insn::ldx(Size::W, Reg::R1, CTX, SKB_VLAN_TCI));
        store_tci(a, Reg::R1);
        a.label("skb_untagged");
    }
    a.push(Insn::st(Size::W, Reg::R10, Slot::MapKey.off(), 0));
    a.push2(Insn::ld_map_fd(Reg::R1, scratch_fd));
    a.push(Insn::mov64_reg(Reg::R2, Reg::R10));
    a.push(Insn::add64_imm(Reg::R2, i32::from(Slot::MapKey.off())));
    a.push(Insn::call(helpers::MAP_LOOKUP_ELEM));
    a.jmp_imm(Jmp::Ne, Reg::R0, 0, "have_scratch");
    a.push(Insn::mov64_imm(Reg::R0, miss_action));
    a.push(Insn::exit());
    a.label("have_scratch");
    a.push(Insn::stx(Size::DW, Reg::R10, Slot::ScratchPtr.off(), Reg::R0));
    a.push(Insn::mov64_imm(CURSOR, 0));
    emit_frame(a, "o", true);
    a.label("o_done");
    a.ja("parsed");
    emit_frame(a, "i", false);
    a.label("i_done");
    a.label("parsed");
}

/// Makes the verifier forget the cursor's exact value by passing it through map memory,
/// which it does not track. Without this, every path through the headers (0-2 tags, IPv4
/// option lengths, each IPv6 extension header sequence, tunnel or not) carries a
/// different cursor, no two verifier states are alike, and the number of paths explodes
/// past the verifier's 1M-instruction budget. After laundering, the next bounds check
/// (`need`) leaves every path with the same range [0, MAX_HEADER_OFFSET], so they prune.
fn launder(a: &mut Asm) {
    a.push(Insn::ldx(Size::DW, Reg::R1, Reg::R10, Slot::ScratchPtr.off()));
    a.push(Insn::stx(Size::DW, Reg::R1, 0, CURSOR));
    a.push(Insn::ldx(Size::DW, CURSOR, Reg::R1, 0));
}

/// `struct __sk_buff` offsets the `bpf` crate does not name.
const SKB_VLAN_PRESENT: i16 = 20;
const SKB_VLAN_TCI: i16 = 24;

fn store_tci(a: &mut Asm, tci: Reg) {
    a.push(Insn::st(Size::DW, Reg::R10, Slot::HasVlan.off(), 1));
    a.push(Insn::mov64_reg(Reg::R3, tci));
    a.push(Insn::and64_imm(Reg::R3, 0x0fff));
    a.push(Insn::stx(Size::DW, Reg::R10, Slot::VlanId.off(), Reg::R3));
    a.push(Insn::mov64_reg(Reg::R3, tci));
    a.push(Insn::and64_imm(Reg::R3, 0xffff));
    a.push(Insn::rsh64_imm(Reg::R3, 13));
    a.push(Insn::stx(Size::DW, Reg::R10, Slot::VlanPrio.off(), Reg::R3));
}

/// Leaves in R2 a packet pointer to the cursor with `need` readable bytes, or jumps to
/// `fail`. Clobbers R2, R3.
fn need(a: &mut Asm, bytes: i32, fail: &str) {
    a.jmp_imm(Jmp::Gt, CURSOR, MAX_HEADER_OFFSET, fail);
    a.push(Insn::mov64_reg(Reg::R2, DATA));
    a.push(Insn::add64_reg(Reg::R2, CURSOR));
    a.push(Insn::mov64_reg(Reg::R3, Reg::R2));
    a.push(Insn::add64_imm(Reg::R3, bytes));
    a.jmp_reg(Jmp::Gt, Reg::R3, DATA_END, fail);
}

fn load_be(a: &mut Asm, dst: Reg, size: Size, off: i16) {
    a.push(Insn::ldx(size, dst, Reg::R2, off));
    match size {
        Size::H => {
            a.push(Insn::be16(dst));
        }
        Size::W => {
            a.push(Insn::be32(dst));
        }
        _ => {}
    }
}

fn store(a: &mut Asm, slot: Slot, src: Reg) {
    a.push(Insn::stx(Size::DW, Reg::R10, slot.off(), src));
}

fn store_imm(a: &mut Asm, slot: Slot, value: i32) {
    a.push(Insn::st(Size::DW, Reg::R10, slot.off(), value));
}

/// One Ethernet frame: L2, L3, L4, and on the outer frame the tunnel check. Labels are
/// prefixed with `p`; ends by jumping to `{p}_done`.
fn emit_frame(a: &mut Asm, p: &str, outer: bool) {
    let l = |name: &str| format!("{p}_{name}");
    let done = l("done");
    if !outer {
        a.label("inner");
    }
    // Also at the start of the outer frame: a constant cursor would give the packet
    // pointer R7 a different verified range on each L2 path, which also defeats pruning.
    launder(a);
    // Ethernet (IEEE 802.3 clause 3.2).
    need(a, ETH_HLEN, &done);
    load_be(a, Reg::R1, Size::W, 0);
    a.push(Insn::lsh64_imm(Reg::R1, 16));
    load_be(a, Reg::R3, Size::H, 4);
    a.push(Insn::or64_reg(Reg::R1, Reg::R3));
    store(a, Slot::DstMac, Reg::R1);
    load_be(a, Reg::R1, Size::H, 6);
    a.push(Insn::lsh64_imm(Reg::R1, 32));
    load_be(a, Reg::R3, Size::W, 8);
    a.push(Insn::or64_reg(Reg::R1, Reg::R3));
    store(a, Slot::SrcMac, Reg::R1);
    load_be(a, NEXT, Size::H, 12);
    a.push(Insn::add64_imm(CURSOR, ETH_HLEN));

    // Up to two VLAN tags (IEEE 802.1Q clause 9); the first one seen is the outermost,
    // unless tc already found one in skb->vlan_tci.
    for tag in 0..2 {
        let not_tag = l(&format!("not_tag{tag}"));
        let keep = l(&format!("keep_tag{tag}"));
        a.jmp_imm(Jmp::Eq, NEXT, ETHERTYPE_VLAN, &l(&format!("tag{tag}")));
        a.jmp_imm(Jmp::Ne, NEXT, ETHERTYPE_QINQ, &not_tag);
        a.label(&l(&format!("tag{tag}")));
        need(a, 4, &done);
        load_be(a, Reg::R1, Size::H, 0);
        a.push(Insn::ldx(Size::DW, Reg::R5, Reg::R10, Slot::HasVlan.off()));
        a.jmp_imm(Jmp::Ne, Reg::R5, 0, &keep);
        store_tci(a, Reg::R1);
        a.label(&keep);
        load_be(a, NEXT, Size::H, 2);
        a.push(Insn::add64_imm(CURSOR, 4));
        a.label(&not_tag);
    }
    launder(a);
    a.jmp_imm(Jmp::Eq, NEXT, ETHERTYPE_IPV4, &l("v4"));
    a.jmp_imm(Jmp::Eq, NEXT, ETHERTYPE_IPV6, &l("v6"));
    a.ja(&done);

    emit_ipv4(a, p);
    emit_ipv6(a, p);
    emit_l4(a, p, outer);
    if outer {
        emit_tunnels(a, p);
    }
}

/// IPv4 (RFC 791 §3.1).
fn emit_ipv4(a: &mut Asm, p: &str) {
    let l = |name: &str| format!("{p}_{name}");
    let done = l("done");
    a.label(&l("v4"));
    need(a, 20, &done);
    a.push(Insn::ldx(Size::B, Reg::R1, Reg::R2, 0));
    a.push(Insn::mov64_reg(Reg::R5, Reg::R1));
    a.push(Insn::rsh64_imm(Reg::R5, 4));
    a.jmp_imm(Jmp::Ne, Reg::R5, 4, &done);
    a.push(Insn::and64_imm(Reg::R1, 0x0f));
    a.jmp_imm(Jmp::Lt, Reg::R1, 5, &done);
    a.push(Insn::lsh64_imm(Reg::R1, 2));
    a.push(Insn::mov64_reg(Reg::R5, Reg::R1)); // header length in bytes
                                               // The whole header, options included, must be there.
    a.push(Insn::add64_reg(Reg::R1, CURSOR));
    a.push(Insn::add64_reg(Reg::R1, DATA));
    a.jmp_reg(Jmp::Gt, Reg::R1, DATA_END, &done);
    store_imm(a, Slot::Family, FAMILY_V4);
    a.push(Insn::ldx(Size::B, Reg::R1, Reg::R2, 1));
    store(a, Slot::Tos, Reg::R1);
    a.push(Insn::ldx(Size::B, Reg::R1, Reg::R2, 8));
    store(a, Slot::Ttl, Reg::R1);
    a.push(Insn::ldx(Size::B, NEXT, Reg::R2, 9));
    store(a, Slot::IpProto, NEXT);
    load_be(a, Reg::R1, Size::W, 12);
    store(a, Slot::Src0, Reg::R1);
    load_be(a, Reg::R1, Size::W, 16);
    store(a, Slot::Dst0, Reg::R1);
    // Flags and fragment offset: MF = 0x2000, offset = low 13 bits.
    load_be(a, Reg::R1, Size::H, 6);
    a.push(Insn::mov64_reg(Reg::R3, Reg::R1));
    a.push(Insn::and64_imm(Reg::R3, 0x1fff));
    a.jmp_imm(Jmp::Eq, Reg::R3, 0, &l("v4_first"));
    store_imm(a, Slot::IpFlags, i32::from(rules::key::IP_FLAG_FRAG));
    a.ja(&done); // a later fragment: no L4 header
    a.label(&l("v4_first"));
    a.jmp_imm(Jmp::Set, Reg::R1, 0x2000, &l("v4_firstfrag"));
    a.ja(&l("v4_l4"));
    a.label(&l("v4_firstfrag"));
    store_imm(a, Slot::IpFlags, i32::from(rules::key::IP_FLAG_FRAG | rules::key::IP_FLAG_FIRSTFRAG));
    a.label(&l("v4_l4"));
    a.push(Insn::add64_reg(CURSOR, Reg::R5));
    a.ja(&l("l4"));
}

/// IPv6 (RFC 8200 §3, §4).
fn emit_ipv6(a: &mut Asm, p: &str) {
    let l = |name: &str| format!("{p}_{name}");
    let done = l("done");
    a.label(&l("v6"));
    need(a, 40, &done);
    a.push(Insn::ldx(Size::B, Reg::R1, Reg::R2, 0));
    a.push(Insn::rsh64_imm(Reg::R1, 4));
    a.jmp_imm(Jmp::Ne, Reg::R1, 6, &done);
    store_imm(a, Slot::Family, FAMILY_V6);
    load_be(a, Reg::R1, Size::W, 0);
    a.push(Insn::rsh64_imm(Reg::R1, 20));
    a.push(Insn::and64_imm(Reg::R1, 0xff));
    store(a, Slot::Tos, Reg::R1);
    a.push(Insn::ldx(Size::B, Reg::R1, Reg::R2, 7));
    store(a, Slot::Ttl, Reg::R1);
    a.push(Insn::ldx(Size::B, NEXT, Reg::R2, 6));
    for i in 0..4 {
        load_be(a, Reg::R1, Size::W, 8 + 4 * i as i16);
        a.push(Insn::stx(Size::DW, Reg::R10, Slot::word(Slot::Src0, i), Reg::R1));
        load_be(a, Reg::R1, Size::W, 24 + 4 * i as i16);
        a.push(Insn::stx(Size::DW, Reg::R10, Slot::word(Slot::Dst0, i), Reg::R1));
    }
    a.push(Insn::add64_imm(CURSOR, 40));
    let stop = l("ext_stop");
    for e in 0..IPV6_EXT_HEADERS_MAX {
        let here = |name: &str| l(&format!("ext{e}_{name}"));
        let next = l(&format!("ext{}", e + 1));
        a.label(&l(&format!("ext{e}")));
        launder(a);
        a.jmp_imm(Jmp::Eq, NEXT, 0, &here("opts"));
        a.jmp_imm(Jmp::Eq, NEXT, 60, &here("opts"));
        a.jmp_imm(Jmp::Eq, NEXT, 43, &here("routing"));
        a.jmp_imm(Jmp::Eq, NEXT, 44, &here("frag"));
        a.ja(&l("upper"));

        // Hop-by-hop / destination options: length in 8-octet units, not counting the
        // first 8 (RFC 8200 §4.3, §4.6).
        a.label(&here("opts"));
        need(a, 8, &stop);
        a.push(Insn::ldx(Size::B, Reg::R1, Reg::R2, 1));
        a.push(Insn::ldx(Size::B, NEXT, Reg::R2, 0));
        a.push(Insn::add64_imm(Reg::R1, 1));
        a.push(Insn::lsh64_imm(Reg::R1, 3));
        a.push(Insn::add64_reg(CURSOR, Reg::R1));
        a.ja(&next);

        // Routing (RFC 8200 §4.4): with segments left, the final destination is in it.
        a.label(&here("routing"));
        need(a, 8, &stop);
        a.push(Insn::ldx(Size::B, Reg::R0, Reg::R2, 1)); // Hdr Ext Len
        a.push(Insn::ldx(Size::B, Reg::R1, Reg::R2, 3)); // Segments Left
        a.push(Insn::ldx(Size::B, Reg::R5, Reg::R2, 2)); // Routing Type
        a.jmp_imm(Jmp::Eq, Reg::R1, 0, &here("rt_skip"));
        a.jmp_imm(Jmp::Eq, Reg::R5, 2, &here("rt_first"));
        a.jmp_imm(Jmp::Eq, Reg::R5, 4, &here("rt_first"));
        a.jmp_imm(Jmp::Ne, Reg::R5, 0, &here("rt_skip"));
        // Type 0 (RFC 2460 §4.4, deprecated by RFC 5095): the last of Hdr Ext Len / 2
        // addresses, at 8 + 16 * (n - 1) = 8 * len - 8.
        a.jmp_imm(Jmp::Lt, Reg::R0, 2, &here("rt_skip"));
        a.push(Insn::mov64_reg(Reg::R5, Reg::R0));
        a.push(Insn::lsh64_imm(Reg::R5, 3));
        a.push(Insn::add64_imm(Reg::R5, -8));
        a.ja(&here("rt_addr"));
        a.label(&here("rt_first"));
        a.push(Insn::mov64_imm(Reg::R5, 8));
        a.label(&here("rt_addr"));
        // Address at cursor + R5, 16 bytes, inside this header ((len + 1) * 8 bytes).
        a.push(Insn::mov64_reg(Reg::R1, Reg::R0));
        a.push(Insn::add64_imm(Reg::R1, 1));
        a.push(Insn::lsh64_imm(Reg::R1, 3));
        a.push(Insn::add64_imm(Reg::R1, -16));
        a.jmp_reg(Jmp::Gt, Reg::R5, Reg::R1, &here("rt_skip"));
        a.push(Insn::mov64_reg(Reg::R1, CURSOR));
        a.push(Insn::add64_reg(Reg::R1, Reg::R5));
        a.jmp_imm(Jmp::Gt, Reg::R1, MAX_HEADER_OFFSET, &here("rt_skip"));
        a.push(Insn::mov64_reg(Reg::R2, DATA));
        a.push(Insn::add64_reg(Reg::R2, Reg::R1));
        a.push(Insn::mov64_reg(Reg::R3, Reg::R2));
        a.push(Insn::add64_imm(Reg::R3, 16));
        a.jmp_reg(Jmp::Gt, Reg::R3, DATA_END, &here("rt_skip"));
        for i in 0..4 {
            load_be(a, Reg::R1, Size::W, 4 * i as i16);
            a.push(Insn::stx(Size::DW, Reg::R10, Slot::word(Slot::Dst0, i), Reg::R1));
        }
        a.label(&here("rt_skip"));
        need(a, 8, &stop);
        a.push(Insn::ldx(Size::B, NEXT, Reg::R2, 0));
        a.push(Insn::add64_imm(Reg::R0, 1));
        a.push(Insn::lsh64_imm(Reg::R0, 3));
        a.push(Insn::add64_reg(CURSOR, Reg::R0));
        a.ja(&next);

        // Fragment (RFC 8200 §4.5): offset in the top 13 bits of bytes 2-3, M = bit 0.
        a.label(&here("frag"));
        need(a, 8, &stop);
        a.push(Insn::ldx(Size::B, NEXT, Reg::R2, 0));
        load_be(a, Reg::R1, Size::H, 2);
        a.push(Insn::mov64_reg(Reg::R3, Reg::R1));
        a.push(Insn::rsh64_imm(Reg::R3, 3));
        a.jmp_imm(Jmp::Eq, Reg::R3, 0, &here("frag_first"));
        store_imm(a, Slot::IpFlags, i32::from(rules::key::IP_FLAG_FRAG));
        store(a, Slot::IpProto, NEXT);
        a.ja(&done); // a later fragment: no L4 header
        a.label(&here("frag_first"));
        a.jmp_imm(Jmp::Set, Reg::R1, 1, &here("frag_m"));
        a.ja(&here("frag_next"));
        a.label(&here("frag_m"));
        store_imm(a, Slot::IpFlags, i32::from(rules::key::IP_FLAG_FRAG | rules::key::IP_FLAG_FIRSTFRAG));
        a.label(&here("frag_next"));
        a.push(Insn::add64_imm(CURSOR, 8));
        a.ja(&next);
    }
    // Too many extension headers, or a truncated one: the protocol is the extension
    // header's number and there is no L4 header.
    a.label(&l(&format!("ext{IPV6_EXT_HEADERS_MAX}")));
    for number in [0, 43, 44, 60] {
        a.jmp_imm(Jmp::Eq, NEXT, number, &stop);
    }
    a.ja(&l("upper"));
    a.label(&stop);
    store(a, Slot::IpProto, NEXT);
    a.ja(&done);
    a.label(&l("upper"));
    store(a, Slot::IpProto, NEXT);
    a.ja(&l("l4"));
}

/// TCP, UDP, SCTP ports and TCP flags; on the outer frame, UDP may lead to a tunnel.
fn emit_l4(a: &mut Asm, p: &str, outer: bool) {
    let l = |name: &str| format!("{p}_{name}");
    let done = l("done");
    a.label(&l("l4"));
    launder(a);
    a.jmp_imm(Jmp::Eq, NEXT, 6, &l("tcp"));
    a.jmp_imm(Jmp::Eq, NEXT, 17, &l("udp"));
    a.jmp_imm(Jmp::Eq, NEXT, 132, &l("sctp"));
    a.ja(&done);

    let ports = |a: &mut Asm| {
        load_be(a, Reg::R1, Size::H, 0);
        store(a, Slot::SrcPort, Reg::R1);
        load_be(a, Reg::R1, Size::H, 2);
        store(a, Slot::DstPort, Reg::R1);
        store_imm(a, Slot::HasPorts, 1);
    };
    // TCP (RFC 9293 §3.1): the 12 bits below the data offset are flags (RFC 3168 adds
    // CWR/ECE, RFC 3540 the historic NS).
    a.label(&l("tcp"));
    need(a, 20, &done);
    ports(a);
    load_be(a, Reg::R1, Size::H, 12);
    a.push(Insn::and64_imm(Reg::R1, 0x0fff));
    store(a, Slot::TcpFlags, Reg::R1);
    store_imm(a, Slot::HasTcpFlags, 1);
    a.ja(&done);

    a.label(&l("sctp")); // RFC 9260 §3.1: 12-byte common header
    need(a, 12, &done);
    ports(a);
    a.ja(&done);

    a.label(&l("udp")); // RFC 768
    need(a, 8, &done);
    ports(a);
    if outer {
        // R1 still holds the destination port.
        a.jmp_imm(Jmp::Eq, Reg::R1, i32::from(VXLAN_PORT), &l("vxlan"));
        a.jmp_imm(Jmp::Eq, Reg::R1, i32::from(GENEVE_PORT), &l("geneve"));
    }
    a.ja(&done);
}

fn emit_tunnels(a: &mut Asm, p: &str) {
    let l = |name: &str| format!("{p}_{name}");
    let done = l("done");

    // VXLAN (RFC 7348 §5): flags (I = 0x08 says the VNI is valid), 24-bit VNI at byte 4.
    a.label(&l("vxlan"));
    a.push(Insn::add64_imm(CURSOR, 8)); // past UDP
    need(a, 8 + ETH_HLEN, &done);
    a.push(Insn::ldx(Size::B, Reg::R1, Reg::R2, 0));
    a.push(Insn::and64_imm(Reg::R1, 0x08));
    a.push(Insn::rsh64_imm(Reg::R1, 3));
    store(a, Slot::HasEncKeyId, Reg::R1);
    load_be(a, Reg::R1, Size::W, 4);
    a.push(Insn::rsh64_imm(Reg::R1, 8));
    store(a, Slot::EncKeyId, Reg::R1);
    store_imm(a, Slot::EncDstPort, i32::from(VXLAN_PORT));
    a.push(Insn::add64_imm(CURSOR, 8));
    a.ja(&l("tunnel"));

    // Geneve (RFC 8926 §3.4): Ver(2) Opt Len(6, in 4-byte words), O C Rsvd, Protocol
    // Type, VNI(24) Reserved(8), then the options.
    a.label(&l("geneve"));
    a.push(Insn::add64_imm(CURSOR, 8)); // past UDP
    need(a, 8, &done);
    a.push(Insn::ldx(Size::B, Reg::R1, Reg::R2, 0));
    a.push(Insn::mov64_reg(Reg::R5, Reg::R1));
    a.push(Insn::rsh64_imm(Reg::R5, 6));
    a.jmp_imm(Jmp::Ne, Reg::R5, 0, &done);
    a.push(Insn::and64_imm(Reg::R1, 0x3f));
    a.push(Insn::lsh64_imm(Reg::R1, 2));
    load_be(a, Reg::R5, Size::H, 2);
    a.jmp_imm(Jmp::Ne, Reg::R5, ETHERTYPE_TEB, &done);
    load_be(a, Reg::R0, Size::W, 4);
    a.push(Insn::rsh64_imm(Reg::R0, 8));
    a.push(Insn::add64_imm(CURSOR, 8));
    a.push(Insn::add64_reg(CURSOR, Reg::R1));
    need(a, ETH_HLEN, &done);
    store_imm(a, Slot::HasEncKeyId, 1);
    store(a, Slot::EncKeyId, Reg::R0);
    store_imm(a, Slot::EncDstPort, i32::from(GENEVE_PORT));

    // The outer L3 becomes the enc_ fields; the plain ones start again for the inner frame.
    a.label(&l("tunnel"));
    store_imm(a, Slot::Tunnel, 1);
    store_imm(a, Slot::HasEncDstPort, 1);
    for (from, to) in [(Slot::Family, Slot::EncFamily), (Slot::Src0, Slot::EncSrc0), (Slot::Dst0, Slot::EncDst0)] {
        let words = if from == Slot::Family { 1 } else { 4 };
        for i in 0..words {
            a.push(Insn::ldx(Size::DW, Reg::R1, Reg::R10, Slot::word(from, i)));
            a.push(Insn::stx(Size::DW, Reg::R10, Slot::word(to, i), Reg::R1));
        }
    }
    a.push(Insn::mov64_imm(Reg::R1, 0));
    for index in PLAIN_SLOTS {
        a.push(Insn::stx(Size::DW, Reg::R10, Slot::from_index(index), Reg::R1));
    }
    a.ja("inner");
}
