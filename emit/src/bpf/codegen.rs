//! From rules to instructions: the parser ([`super::parse`]), then one compare block per
//! rule in matching order, each ending in its counter and its action.

use std::os::fd::RawFd;

use bpf::{helpers, tc, xdp, Asm, AsmError, Insn, Jmp, Reg, Size};

use super::parse::{emit_parser, Hook, Slot, CTX, DATA, DATA_END, FAMILY_V4, FAMILY_V6};
use rules::rule::{Keys, Masked, PortMatch, Prefix, Protocol, Rule};
use rules::Family;

/// What a matching rule makes the program do, resolved for one program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    Drop,
    Pass,
    /// `bpf_redirect` to this interface.
    Redirect(u32),
    /// Swap the MACs, then XDP_TX / redirect to the arriving interface.
    Reflect,
}

/// One rule to compile: its index in the file (the counter index) and its verdict.
pub(crate) struct RuleCode<'a> {
    pub(crate) index: usize,
    pub(crate) rule: &'a Rule,
    pub(crate) verdict: Verdict,
}

/// A program's shape.
pub(crate) struct ProgramSpec<'a> {
    pub(crate) hook: Hook,
    /// In matching order.
    pub(crate) rules: Vec<RuleCode<'a>>,
    /// The per-CPU array of u64 counters (one per rule of the file, then "no match").
    pub(crate) counters_fd: RawFd,
    /// A per-CPU array with one u64 entry, the parser's scratch.
    pub(crate) scratch_fd: RawFd,
    /// `Some(index)`: count frames no rule matched at this counter index.
    pub(crate) miss_counter: Option<u32>,
    /// Returned when no rule matched.
    pub(crate) miss_action: i32,
}

/// The instructions of one program.
pub(crate) fn generate(spec: &ProgramSpec<'_>) -> Result<Vec<Insn>, AsmError> {
    let mut a = Asm::new();
    emit_parser(&mut a, spec.hook, spec.scratch_fd, spec.miss_action);
    // The verifier refuses unreachable code, so rules that can never match are left out
    // and nothing follows a rule that matches everything.
    for (position, code) in spec.rules.iter().enumerate().filter(|(_, code)| !never_matches(&code.rule.keys)) {
        let next = format!("rule{position}_next");
        let before = a.len();
        emit_conditions(&mut a, &code.rule.protocol, &code.rule.keys, &next);
        let everything_matched = a.len() == before;
        emit_count(&mut a, spec.counters_fd, code.index as i32, &format!("rule{position}_counted"));
        emit_verdict(&mut a, spec.hook, code.verdict, &format!("rule{position}_act"));
        if everything_matched {
            return a.finish();
        }
        a.label(&next);
    }
    if let Some(index) = spec.miss_counter {
        emit_count(&mut a, spec.counters_fd, index as i32, "miss_counted");
    }
    a.push(Insn::mov64_imm(Reg::R0, spec.miss_action));
    a.push(Insn::exit());
    a.finish()
}

/// Loads a slot into a register the verifier does not link to the slot (`^= 0` gives the
/// register a fresh identity). Otherwise a compare that succeeds would teach the verifier
/// the slot's value, and the path on which rule k's first test matched would walk every
/// later rule with that knowledge, unprunable: N rules cost N^2 verifier steps.
/// A range with `lo > hi`, or a prefix without a family, matches no packet.
fn never_matches(k: &Keys) -> bool {
    let empty_range = |m: &Option<PortMatch>| matches!(m, Some(PortMatch::Range { lo, hi }) if lo > hi);
    let no_family = |p: &Option<Prefix>| matches!(p, Some(p) if p.family == Family::None);
    empty_range(&k.src_port)
        || empty_range(&k.dst_port)
        || no_family(&k.src_ip)
        || no_family(&k.dst_ip)
        || no_family(&k.enc_src_ip)
        || no_family(&k.enc_dst_ip)
}

fn load_slot(a: &mut Asm, dst: Reg, off: i16) {
    a.push(Insn::ldx(Size::DW, dst, Reg::R10, off));
    a.push(Insn::xor64_imm(dst, 0));
}

/// Jumps to `miss` unless the flag slot is set.
fn require(a: &mut Asm, flag: Slot, miss: &str) {
    load_slot(a, Reg::R1, flag.off());
    a.jmp_imm(Jmp::Eq, Reg::R1, 0, miss);
}

/// `field & mask == value` on a field of at most 32 bits (32-bit compares, so an
/// immediate with the top bit set is not sign-extended into a mismatch).
fn masked32(a: &mut Asm, off: i16, value: u32, mask: u32, width_mask: u32, miss: &str) {
    if mask & width_mask == 0 {
        return; // matches anything
    }
    load_slot(a, Reg::R1, off);
    if mask & width_mask != width_mask {
        a.push(Insn::and64_imm(Reg::R1, mask as i32));
    }
    a.jmp32_imm(Jmp::Ne, Reg::R1, (value & mask) as i32, miss);
}

fn masked_mac(a: &mut Asm, slot: Slot, m: Masked<u64>, miss: &str) {
    const MAC_BITS: u64 = (1 << 48) - 1;
    let mask = m.mask & MAC_BITS;
    if mask == 0 {
        return;
    }
    load_slot(a, Reg::R1, slot.off());
    if mask != MAC_BITS {
        a.push2(Insn::ld_imm64(Reg::R2, mask));
        a.push(Insn::and64_reg(Reg::R1, Reg::R2));
    }
    a.push2(Insn::ld_imm64(Reg::R2, m.value & mask));
    a.jmp_reg(Jmp::Ne, Reg::R1, Reg::R2, miss);
}

fn family_value(family: Family) -> i32 {
    match family {
        Family::V4 => FAMILY_V4,
        Family::V6 => FAMILY_V6,
        Family::None => 0,
    }
}

/// `family == prefix.family && addr & mask == prefix.addr`, word by word.
fn prefix(a: &mut Asm, family_slot: Slot, base: Slot, p: &Prefix, miss: &str) {
    load_slot(a, Reg::R1, family_slot.off());
    a.jmp_imm(Jmp::Ne, Reg::R1, family_value(p.family), miss);
    let mask = p.mask();
    if p.family == Family::V4 {
        masked32(a, base.off(), p.addr as u32, mask as u32, u32::MAX, miss);
    } else {
        for i in 0..4 {
            let shift = 96 - 32 * i as u32;
            masked32(a, Slot::word(base, i), (p.addr >> shift) as u32, (mask >> shift) as u32, u32::MAX, miss);
        }
    }
}

fn port(a: &mut Asm, slot: Slot, m: &PortMatch, miss: &str) {
    match *m {
        PortMatch::Masked(m) => masked32(a, slot.off(), u32::from(m.value), u32::from(m.mask), 0xffff, miss),
        PortMatch::Range { lo, hi } => {
            load_slot(a, Reg::R1, slot.off());
            if lo > 0 {
                a.jmp_imm(Jmp::Lt, Reg::R1, i32::from(lo), miss);
            }
            if hi < u16::MAX {
                a.jmp_imm(Jmp::Gt, Reg::R1, i32::from(hi), miss);
            }
        }
    }
}

fn require_ip(a: &mut Asm, miss: &str) {
    require(a, Slot::Family, miss);
}

/// The tests of [`Rule::matches`], in its order, each jumping to `miss` on failure.
/// (The parser always sees an Ethernet header, so `has_l2` holds.)
fn emit_conditions(a: &mut Asm, protocol: &Protocol, k: &Keys, miss: &str) {
    match protocol {
        Protocol::All => {}
        Protocol::Ipv4 | Protocol::Ipv6 => {
            load_slot(a, Reg::R1, Slot::Family.off());
            let want = if *protocol == Protocol::Ipv4 { FAMILY_V4 } else { FAMILY_V6 };
            a.jmp_imm(Jmp::Ne, Reg::R1, want, miss);
        }
        Protocol::Vlan => require(a, Slot::HasVlan, miss),
        // Refused before code is generated (`verdicts`: `Rule::beyond_classic_key`).
        Protocol::Ether(_) => {}
    }
    if let Some(m) = k.src_mac {
        masked_mac(a, Slot::SrcMac, m, miss);
    }
    if let Some(m) = k.dst_mac {
        masked_mac(a, Slot::DstMac, m, miss);
    }
    if let Some(id) = k.vlan_id {
        require(a, Slot::HasVlan, miss);
        masked32(a, Slot::VlanId.off(), u32::from(id), u32::MAX, u32::MAX, miss);
    }
    if let Some(prio) = k.vlan_prio {
        require(a, Slot::HasVlan, miss);
        masked32(a, Slot::VlanPrio.off(), u32::from(prio), u32::MAX, u32::MAX, miss);
    }
    if let Some(proto) = k.ip_proto {
        require_ip(a, miss);
        masked32(a, Slot::IpProto.off(), u32::from(proto), u32::MAX, u32::MAX, miss);
    }
    if let Some(p) = &k.src_ip {
        prefix(a, Slot::Family, Slot::Src0, p, miss);
    }
    if let Some(p) = &k.dst_ip {
        prefix(a, Slot::Family, Slot::Dst0, p, miss);
    }
    if let Some(m) = &k.src_port {
        require(a, Slot::HasPorts, miss);
        port(a, Slot::SrcPort, m, miss);
    }
    if let Some(m) = &k.dst_port {
        require(a, Slot::HasPorts, miss);
        port(a, Slot::DstPort, m, miss);
    }
    if let Some(m) = k.ip_tos {
        require_ip(a, miss);
        masked32(a, Slot::Tos.off(), u32::from(m.value), u32::from(m.mask), 0xff, miss);
    }
    if let Some(m) = k.ip_ttl {
        require_ip(a, miss);
        masked32(a, Slot::Ttl.off(), u32::from(m.value), u32::from(m.mask), 0xff, miss);
    }
    if let Some(m) = k.tcp_flags {
        require(a, Slot::HasTcpFlags, miss);
        masked32(a, Slot::TcpFlags.off(), u32::from(m.value), u32::from(m.mask), 0xffff, miss);
    }
    if let Some(m) = k.ip_flags {
        require_ip(a, miss);
        masked32(a, Slot::IpFlags.off(), u32::from(m.value), u32::from(m.mask), 0xff, miss);
    }
    if let Some(id) = k.enc_key_id {
        require(a, Slot::Tunnel, miss);
        require(a, Slot::HasEncKeyId, miss);
        masked32(a, Slot::EncKeyId.off(), id, u32::MAX, u32::MAX, miss);
    }
    if let Some(p) = &k.enc_src_ip {
        require(a, Slot::Tunnel, miss);
        prefix(a, Slot::EncFamily, Slot::EncSrc0, p, miss);
    }
    if let Some(p) = &k.enc_dst_ip {
        require(a, Slot::Tunnel, miss);
        prefix(a, Slot::EncFamily, Slot::EncDst0, p, miss);
    }
    if let Some(port) = k.enc_dst_port {
        require(a, Slot::Tunnel, miss);
        require(a, Slot::HasEncDstPort, miss);
        masked32(a, Slot::EncDstPort.off(), u32::from(port), u32::MAX, u32::MAX, miss);
    }
}

/// `counters[index] += 1` on this CPU.
fn emit_count(a: &mut Asm, counters_fd: RawFd, index: i32, done: &str) {
    a.push(Insn::st(Size::W, Reg::R10, Slot::MapKey.off(), index));
    a.push2(Insn::ld_map_fd(Reg::R1, counters_fd));
    a.push(Insn::mov64_reg(Reg::R2, Reg::R10));
    a.push(Insn::add64_imm(Reg::R2, i32::from(Slot::MapKey.off())));
    a.push(Insn::call(helpers::MAP_LOOKUP_ELEM));
    a.jmp_imm(Jmp::Eq, Reg::R0, 0, done);
    // Per-CPU value: no other CPU writes it, so no atomic needed.
    a.push(Insn::ldx(Size::DW, Reg::R1, Reg::R0, 0));
    a.push(Insn::add64_imm(Reg::R1, 1));
    a.push(Insn::stx(Size::DW, Reg::R0, 0, Reg::R1));
    a.label(done);
}

fn emit_verdict(a: &mut Asm, hook: Hook, verdict: Verdict, label: &str) {
    let action = |xdp_action: i32, tc_action: i32| if hook == Hook::Xdp { xdp_action } else { tc_action };
    match verdict {
        Verdict::Drop => {
            a.push(Insn::mov64_imm(Reg::R0, action(xdp::DROP, tc::DROP)));
        }
        Verdict::Pass => {
            a.push(Insn::mov64_imm(Reg::R0, action(xdp::PASS, tc::PASS)));
        }
        Verdict::Redirect(ifindex) => {
            a.push(Insn::mov64_imm(Reg::R1, ifindex as i32));
            a.push(Insn::mov64_imm(Reg::R2, 0));
            a.push(Insn::call(helpers::REDIRECT));
        }
        Verdict::Reflect => {
            // The packet pointers are reloaded: a helper call may have moved the data.
            let (data, data_end) =
                if hook == Hook::Xdp { (xdp::MD_DATA, xdp::MD_DATA_END) } else { (tc::SKB_DATA, tc::SKB_DATA_END) };
            a.push(Insn::ldx(Size::W, DATA, CTX, data));
            a.push(Insn::ldx(Size::W, DATA_END, CTX, data_end));
            a.push(Insn::mov64_reg(Reg::R2, DATA));
            a.push(Insn::add64_imm(Reg::R2, 12));
            let swapped = format!("{label}_swapped");
            a.push(Insn::mov64_imm(Reg::R0, action(xdp::ABORTED, tc::DROP)));
            a.jmp_reg(Jmp::Gt, Reg::R2, DATA_END, &format!("{label}_out"));
            // dst (0..6) <-> src (6..12), as a word and a half-word each.
            a.push(Insn::ldx(Size::W, Reg::R1, DATA, 0));
            a.push(Insn::ldx(Size::H, Reg::R2, DATA, 4));
            a.push(Insn::ldx(Size::H, Reg::R3, DATA, 6));
            a.push(Insn::ldx(Size::W, Reg::R4, DATA, 8));
            a.push(Insn::stx(Size::H, DATA, 0, Reg::R3));
            a.push(Insn::stx(Size::W, DATA, 2, Reg::R4));
            a.push(Insn::stx(Size::W, DATA, 6, Reg::R1));
            a.push(Insn::stx(Size::H, DATA, 10, Reg::R2));
            a.label(&swapped);
            if hook == Hook::Xdp {
                a.push(Insn::mov64_imm(Reg::R0, xdp::TX));
            } else {
                a.push(Insn::ldx(Size::W, Reg::R1, CTX, tc::SKB_IFINDEX));
                a.push(Insn::mov64_imm(Reg::R2, 0));
                a.push(Insn::call(helpers::REDIRECT));
            }
            a.label(&format!("{label}_out"));
        }
    }
    a.push(Insn::exit());
}
