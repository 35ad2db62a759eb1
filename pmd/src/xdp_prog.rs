//! The XDP programs the AF_XDP port loads, built instruction by instruction with the
//! `bpf` crate (no ELF, no clang):
//!
//! - [`xsk_redirect_program`]: sends the frames a [`Steer`] selects to the AF_XDP socket
//!   of their RX queue and lets everything else (SSH, ARP, ...) go up the kernel stack;
//!   [`steer_program_hinted`] also writes the device's RX hints in front of each steered
//!   frame ([`crate::rx_hints`]), loaded device-bound.
//! - [`count_and_drop_program`] / [`XdpCounter`]: the packet sink, counting packets and
//!   bytes per CPU and dropping.
//!
//! What the steer matcher parses, and what it does not:
//! - Ethernet, optionally one 802.1Q (0x8100) or 802.1ad (0x88a8) tag. Stacked tags
//!   (QinQ) are not followed: their inner EtherType is not IP, so only an `ethertype:`
//!   condition for 0x8100 or 0x88a8 can match such frames.
//! - IPv4 with any IHL (options skipped via IHL*4). Only the first fragment carries the
//!   L4 header, so a non-first fragment never matches a port condition (RFC 791, section
//!   3.1: fragment offset); it still matches a `proto:` condition.
//! - IPv6: the next header right after the fixed 40-byte header. Extension headers
//!   (hop-by-hop, routing, fragment, ...) are not followed, so a UDP datagram behind one
//!   does not match `udp:`; `proto:` sees the extension header's number (e.g. 44 for a
//!   fragment).
//!
//! Every packet read is preceded by a bounds check against `data_end`; a frame too short
//! for what a condition needs does not match it.

use std::fmt;
use std::os::fd::RawFd;
use std::str::FromStr;

use bpf::{helpers, xdp, Asm, Insn, Jmp, Map, MapType, ProgType, Program, Reg, Size};

use crate::error::{Error, SteerProblem};
use crate::rx_hints::{
    offset, HintKfuncs, HINTS_LEN, HINTS_MAGIC, VALID_HASH, VALID_TIMESTAMP, VALID_VLAN, VALID_XDP_TIME,
};

/// Which frames the XSK redirect program sends to the AF_XDP sockets; the rest get
/// XDP_PASS (go to the kernel), so on a real NIC SSH keeps working.
///
/// Text form (it sits inside a devargs string, where `,` separates keys, so no commas):
/// alternatives joined by `+`, each `udp:PORT`, `tcp:PORT`, `proto:NAME|NUMBER` or
/// `ethertype:0xHEX|DECIMAL`; `|` lists several values of one kind; `all` (or nothing)
/// steers everything. Example: `udp:4789+udp:6081+ethertype:0x88b5`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Steer {
    /// A frame is steered if it matches any of these; empty = steer everything.
    pub any_of: Vec<SteerCond>,
}

/// One steering condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SteerCond {
    /// The EtherType, either the outer one or the one after a single VLAN tag.
    EtherType(u16),
    /// The IPv4 protocol or the IPv6 next header.
    IpProto(u8),
    /// UDP over IPv4 or IPv6 to this destination port.
    UdpDstPort(u16),
    /// TCP over IPv4 or IPv6 to this destination port.
    TcpDstPort(u16),
}

use wire::ethertype::{IPV4 as ETHERTYPE_IPV4, IPV6 as ETHERTYPE_IPV6, QINQ as ETHERTYPE_QINQ, VLAN as ETHERTYPE_VLAN};
/// IEEE 802.3 clause 3.2.6: values below this in the type field are frame lengths.
const ETHERTYPE_MIN: u16 = 0x0600;

use wire::ip_protocol::{TCP as IPPROTO_TCP, UDP as IPPROTO_UDP};

const ETH_HEADER_LEN: i32 = 14;
const VLAN_TAG_LEN: i32 = 4;
const IPV4_MIN_HEADER_LEN: i32 = 20;
/// Valid IPv4 header lengths in 32-bit words.
const IPV4_IHL_RANGE: std::ops::RangeInclusive<i32> = 5..=15;
const IPV6_HEADER_LEN: i32 = 40;
/// UDP and TCP both start with source port, destination port.
const L4_PORTS_LEN: i32 = 4;

/// Protocol names accepted after `proto:` (IANA "Assigned Internet Protocol Numbers").
const PROTO_NAMES: &[(&str, u8)] = &[
    ("icmp", 1),
    ("igmp", 2),
    ("ipip", 4),
    ("tcp", IPPROTO_TCP),
    ("udp", IPPROTO_UDP),
    ("ipv6", 41),
    ("gre", 47),
    ("esp", 50),
    ("ah", 51),
    ("icmpv6", 58),
    ("ospf", 89),
    ("sctp", 132),
    ("udplite", 136),
];

fn parse_number(text: &str) -> Option<u64> {
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

fn parse_port(text: &str, kind: &'static str) -> Result<u16, SteerProblem> {
    text.parse::<u16>().map_err(|_| SteerProblem::BadPort { kind, value: text.to_string() })
}

fn parse_proto(text: &str) -> Result<u8, SteerProblem> {
    let lower = text.to_ascii_lowercase();
    if let Some(&(_, number)) = PROTO_NAMES.iter().find(|(name, _)| *name == lower) {
        return Ok(number);
    }
    parse_number(text)
        .and_then(|number| u8::try_from(number).ok())
        .ok_or_else(|| SteerProblem::BadProto { value: text.to_string() })
}

fn parse_ethertype(text: &str) -> Result<u16, SteerProblem> {
    let value = parse_number(text)
        .and_then(|number| u16::try_from(number).ok())
        .ok_or_else(|| SteerProblem::BadEtherType { value: text.to_string() })?;
    if value < ETHERTYPE_MIN {
        return Err(SteerProblem::EtherTypeIsLength { value: text.to_string() });
    }
    Ok(value)
}

impl FromStr for Steer {
    type Err = Error;

    fn from_str(text: &str) -> Result<Steer, Error> {
        let text = text.trim();
        let error = |problem| Error::Steer { port: String::new(), expression: text.to_string(), problem };
        if text.is_empty() || text == "all" {
            return Ok(Steer::default());
        }
        let mut any_of = Vec::new();
        for alternative in text.split('+') {
            let alternative = alternative.trim();
            if alternative.is_empty() {
                return Err(error(SteerProblem::EmptyCondition));
            }
            if alternative == "all" {
                return Err(error(SteerProblem::AllCombined));
            }
            let Some((kind, values)) = alternative.split_once(':') else {
                return Err(error(SteerProblem::NotKindValue { alternative: alternative.to_string() }));
            };
            for value in values.split('|').map(str::trim) {
                if value.is_empty() {
                    return Err(error(SteerProblem::EmptyValue { alternative: alternative.to_string() }));
                }
                let cond = match kind.trim() {
                    "udp" => parse_port(value, "udp").map(SteerCond::UdpDstPort),
                    "tcp" => parse_port(value, "tcp").map(SteerCond::TcpDstPort),
                    "proto" => parse_proto(value).map(SteerCond::IpProto),
                    "ethertype" => parse_ethertype(value).map(SteerCond::EtherType),
                    other => {
                        Err(SteerProblem::UnknownKind { kind: other.to_string(), alternative: alternative.to_string() })
                    }
                };
                any_of.push(cond.map_err(error)?);
            }
        }
        if any_of.len() > MAX_STEER_CONDITIONS {
            return Err(error(SteerProblem::TooMany { count: any_of.len(), max: MAX_STEER_CONDITIONS }));
        }
        Ok(Steer { any_of })
    }
}

/// The most conditions one `steer=` expression may hold: each adds instructions to the
/// redirect program, and the command line is no place for thousands.
pub const MAX_STEER_CONDITIONS: usize = 64;

impl fmt::Display for SteerCond {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            SteerCond::EtherType(ethertype) => write!(f, "ethertype:{ethertype:#06x}"),
            SteerCond::IpProto(proto) => match PROTO_NAMES.iter().find(|(_, n)| *n == proto) {
                Some((name, _)) => write!(f, "proto:{name}"),
                None => write!(f, "proto:{proto}"),
            },
            SteerCond::UdpDstPort(port) => write!(f, "udp:{port}"),
            SteerCond::TcpDstPort(port) => write!(f, "tcp:{port}"),
        }
    }
}

impl fmt::Display for Steer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.any_of.is_empty() {
            return f.write_str("all");
        }
        for (i, cond) in self.any_of.iter().enumerate() {
            if i > 0 {
                f.write_str("+")?;
            }
            write!(f, "{cond}")?;
        }
        Ok(())
    }
}

/// What a steering program does with a frame that matches (non-matching frames get the
/// [`Uncovered`] action, XDP_PASS unless told).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnMatch {
    /// `bpf_redirect_map(xskmap, ctx->rx_queue_index, UNCOVERED)`: to the AF_XDP socket of
    /// the frame's RX queue, or the [`Uncovered`] action (XDP_PASS, up the stack, unless
    /// told) if that queue has none.
    Redirect(RawFd),
    /// Return this XDP action (tests use XDP_TX to tell matches from passes).
    Return(i32),
}

// Labels shared by the generated code.
const MATCHED: &str = "matched";
const NOT_MATCHED: &str = "not_matched";

// Register roles in the steering program.
const CTX: Reg = Reg::R6;
const DATA: Reg = Reg::R2;
const DATA_END: Reg = Reg::R3;
const SCRATCH: Reg = Reg::R4;
const L3: Reg = Reg::R7; // start of the IP header, later of the L4 header
const ETHERTYPE: Reg = Reg::R8;
const IP_PROTO: Reg = Reg::R9;

/// Everything a steer asks for, grouped by the layer that answers it.
struct Wanted {
    ethertypes: Vec<u16>,
    protos: Vec<u8>,
    udp_ports: Vec<u16>,
    tcp_ports: Vec<u16>,
}

impl Wanted {
    fn of(steer: &Steer) -> Wanted {
        let mut wanted =
            Wanted { ethertypes: Vec::new(), protos: Vec::new(), udp_ports: Vec::new(), tcp_ports: Vec::new() };
        for cond in &steer.any_of {
            match *cond {
                SteerCond::EtherType(ethertype) => wanted.ethertypes.push(ethertype),
                SteerCond::IpProto(proto) => wanted.protos.push(proto),
                SteerCond::UdpDstPort(port) => wanted.udp_ports.push(port),
                SteerCond::TcpDstPort(port) => wanted.tcp_ports.push(port),
            }
        }
        wanted
    }

    fn needs_ports(&self) -> bool {
        !self.udp_ports.is_empty() || !self.tcp_ports.is_empty()
    }

    fn needs_ip(&self) -> bool {
        !self.protos.is_empty() || self.needs_ports()
    }
}

/// `if DATA_END < from + len goto not_matched`, i.e. make `len` bytes at `from` readable.
fn require_bytes(asm: &mut Asm, from: Reg, len: i32) {
    asm.push(Insn::mov64_reg(SCRATCH, from)).push(Insn::add64_imm(SCRATCH, len)).jmp_reg(
        Jmp::Gt,
        SCRATCH,
        DATA_END,
        NOT_MATCHED,
    );
}

fn jump_if_any(asm: &mut Asm, reg: Reg, values: impl IntoIterator<Item = i32>, label: &str) {
    for value in values {
        asm.jmp_imm(Jmp::Eq, reg, value, label);
    }
}

/// Appends code that jumps to MATCHED or NOT_MATCHED.
fn emit_matcher(asm: &mut Asm, steer: &Steer) {
    let wanted = Wanted::of(steer);
    let ethertypes = || wanted.ethertypes.iter().map(|&e| i32::from(e));

    asm.push(Insn::ldx(Size::W, DATA, CTX, xdp::MD_DATA)).push(Insn::ldx(Size::W, DATA_END, CTX, xdp::MD_DATA_END));

    // Ethernet: destination, source, EtherType (network order, hence be16).
    require_bytes(asm, DATA, ETH_HEADER_LEN);
    asm.push(Insn::ldx(Size::H, ETHERTYPE, DATA, 12))
        .push(Insn::be16(ETHERTYPE))
        .push(Insn::mov64_reg(L3, DATA))
        .push(Insn::add64_imm(L3, ETH_HEADER_LEN));
    jump_if_any(asm, ETHERTYPE, ethertypes(), MATCHED);

    // One VLAN tag: TCI, then the EtherType of what it carries.
    asm.jmp_imm(Jmp::Eq, ETHERTYPE, ETHERTYPE_VLAN.into(), "vlan")
        .jmp_imm(Jmp::Ne, ETHERTYPE, ETHERTYPE_QINQ.into(), "l3")
        .label("vlan");
    require_bytes(asm, DATA, ETH_HEADER_LEN + VLAN_TAG_LEN);
    asm.push(Insn::ldx(Size::H, ETHERTYPE, DATA, 16))
        .push(Insn::be16(ETHERTYPE))
        .push(Insn::add64_imm(L3, VLAN_TAG_LEN));
    jump_if_any(asm, ETHERTYPE, ethertypes(), MATCHED);

    asm.label("l3");
    if !wanted.needs_ip() {
        asm.ja(NOT_MATCHED);
        return;
    }
    let protos = || wanted.protos.iter().map(|&p| i32::from(p));
    asm.jmp_imm(Jmp::Eq, ETHERTYPE, ETHERTYPE_IPV4.into(), "ipv4").jmp_imm(
        Jmp::Ne,
        ETHERTYPE,
        ETHERTYPE_IPV6.into(),
        NOT_MATCHED,
    );

    // IPv6 (RFC 8200 section 3): version in the top nibble, next header at byte 6.
    require_bytes(asm, L3, IPV6_HEADER_LEN);
    asm.push(Insn::ldx(Size::B, SCRATCH, L3, 0))
        .push(Insn::rsh64_imm(SCRATCH, 4))
        .jmp_imm(Jmp::Ne, SCRATCH, 6, NOT_MATCHED)
        .push(Insn::ldx(Size::B, IP_PROTO, L3, 6));
    jump_if_any(asm, IP_PROTO, protos(), MATCHED);
    if !wanted.needs_ports() {
        asm.ja(NOT_MATCHED);
    } else {
        asm.push(Insn::add64_imm(L3, IPV6_HEADER_LEN)).ja("l4");
    }

    // IPv4 (RFC 791 section 3.1): version and IHL in byte 0, fragment offset in the low 13
    // bits of bytes 6-7, protocol at byte 9.
    asm.label("ipv4");
    require_bytes(asm, L3, IPV4_MIN_HEADER_LEN);
    asm.push(Insn::ldx(Size::B, SCRATCH, L3, 0))
        .push(Insn::rsh64_imm(SCRATCH, 4))
        .jmp_imm(Jmp::Ne, SCRATCH, 4, NOT_MATCHED)
        .push(Insn::ldx(Size::B, IP_PROTO, L3, 9));
    jump_if_any(asm, IP_PROTO, protos(), MATCHED);
    if !wanted.needs_ports() {
        asm.ja(NOT_MATCHED);
        return;
    }
    asm.push(Insn::ldx(Size::H, SCRATCH, L3, 6))
        .push(Insn::be16(SCRATCH))
        .push(Insn::and64_imm(SCRATCH, 0x1fff))
        .jmp_imm(Jmp::Ne, SCRATCH, 0, NOT_MATCHED);
    // Header length = IHL * 4 bytes, IHL 5..=15 (below 5 is malformed). Adding it to the
    // packet pointer from a register would be variable-offset pointer arithmetic, which
    // the verifier allows only with CAP_PERFMON (Spectre v1 hardening); dispatching on the
    // eleven possible values and adding constants loads with CAP_BPF alone. IHL 5 (no
    // options, nearly every packet) is tested first.
    asm.push(Insn::ldx(Size::B, SCRATCH, L3, 0)).push(Insn::and64_imm(SCRATCH, 0x0f));
    for ihl in IPV4_IHL_RANGE {
        asm.jmp_imm(Jmp::Eq, SCRATCH, ihl, &format!("ihl_{ihl}"));
    }
    asm.ja(NOT_MATCHED);
    for ihl in IPV4_IHL_RANGE {
        asm.label(&format!("ihl_{ihl}")).push(Insn::add64_imm(L3, ihl * 4)).ja("l4");
    }

    // L4: L3 points at the UDP or TCP header, IP_PROTO says which.
    asm.label("l4");
    require_bytes(asm, L3, L4_PORTS_LEN);
    asm.push(Insn::ldx(Size::H, SCRATCH, L3, 2)).push(Insn::be16(SCRATCH));
    for (proto, ports, skip) in
        [(IPPROTO_UDP, &wanted.udp_ports, "not_udp"), (IPPROTO_TCP, &wanted.tcp_ports, "not_tcp")]
    {
        if ports.is_empty() {
            continue;
        }
        asm.jmp_imm(Jmp::Ne, IP_PROTO, proto.into(), skip);
        jump_if_any(asm, SCRATCH, ports.iter().map(|&p| i32::from(p)), MATCHED);
        asm.label(skip);
    }
    asm.ja(NOT_MATCHED);
}

/// What the redirect program does with the traffic no AF_XDP socket sees: frames `steer`
/// does not select, and frames of RX queues without a socket in the XSK map.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Uncovered {
    /// XDP_PASS: up the kernel stack, as if no dataplane were there (SSH, ARP keep working).
    #[default]
    Pass,
    /// XDP_DROP: nothing reaches the kernel unclassified (an ACL whose default is drop).
    Drop,
}

impl Uncovered {
    /// The XDP action.
    pub fn action(self) -> i32 {
        match self {
            Uncovered::Pass => xdp::PASS,
            Uncovered::Drop => xdp::DROP,
        }
    }
}

impl fmt::Display for Uncovered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Uncovered::Pass => "XDP_PASS (to the kernel stack)",
            Uncovered::Drop => "XDP_DROP",
        })
    }
}

/// The steering program: `on_match` for frames `steer` selects, XDP_PASS for the rest.
pub fn steer_program(steer: &Steer, on_match: OnMatch) -> Vec<Insn> {
    steer_program_with(steer, on_match, Uncovered::Pass)
}

/// The steering program: `on_match` for frames `steer` selects, `uncovered` for the rest
/// (and, with [`OnMatch::Redirect`], for frames of queues without a socket).
pub fn steer_program_with(steer: &Steer, on_match: OnMatch, uncovered: Uncovered) -> Vec<Insn> {
    steer_program_hinted(steer, on_match, uncovered, None)
}

/// [`steer_program_with`], and with `hints` the frames that match get an
/// [`crate::rx_hints::RxHints`] in their metadata area first, filled by those kfuncs (see
/// [`emit_hints`]). Load such a program device-bound ([`bpf::LoadOptions::dev_bound`]) for
/// the device's own hints; loaded otherwise, the kfuncs are the kernel's defaults, which
/// answer `-EOPNOTSUPP`.
pub fn steer_program_hinted(
    steer: &Steer,
    on_match: OnMatch,
    uncovered: Uncovered,
    hints: Option<&HintKfuncs>,
) -> Vec<Insn> {
    let mut asm = Asm::new();
    // Helper calls clobber R1-R5, so the context lives in a callee-saved register.
    asm.push(Insn::mov64_reg(CTX, Reg::R1));
    if !steer.any_of.is_empty() {
        emit_matcher(&mut asm, steer);
    }
    asm.label(MATCHED);
    if let Some(kfuncs) = hints {
        emit_hints(&mut asm, kfuncs);
    }
    match on_match {
        OnMatch::Redirect(xsk_map_fd) => {
            // The low bits of the flags are the action when the queue has no socket (or
            // its index is past the map's end): a queue the dataplane does not serve.
            asm.push2(Insn::ld_map_fd(Reg::R1, xsk_map_fd))
                .push(Insn::ldx(Size::W, Reg::R2, CTX, xdp::MD_RX_QUEUE_INDEX))
                .push(Insn::mov64_imm(Reg::R3, uncovered.action()))
                .push(Insn::call(helpers::REDIRECT_MAP))
                .push(Insn::exit());
        }
        OnMatch::Return(action) => {
            asm.push(Insn::mov64_imm(Reg::R0, action)).push(Insn::exit());
        }
    }
    // With no conditions nothing jumps here, and the verifier refuses unreachable code.
    if !steer.any_of.is_empty() {
        asm.label(NOT_MATCHED).push(Insn::mov64_imm(Reg::R0, uncovered.action())).push(Insn::exit());
    }
    asm.finish().expect("the steering program places every label it jumps to")
}

/// Appends the hint writer, from MATCHED to the action: metadata area of
/// [`HINTS_LEN`] bytes (`bpf_xdp_adjust_meta`; if the kernel refuses, the frame goes on
/// without), zeroed, then each kfunc the kernel has called with pointers into it (as the
/// kernel's selftest progs/xdp_metadata.c does), its return value kept and its `valid` bit
/// set on success (the timestamp's only when non-zero; without one, the program's own
/// `bpf_ktime_get_ns` goes there under [`VALID_XDP_TIME`]), and the magic last.
fn emit_hints(asm: &mut Asm, kfuncs: &HintKfuncs) {
    const META: Reg = Reg::R7; // callee-saved: survives the kfunc calls
    const VALID: Reg = Reg::R8;
    asm.push(Insn::mov64_reg(Reg::R1, CTX))
        .push(Insn::mov64_imm(Reg::R2, -(HINTS_LEN as i32)))
        .push(Insn::call(helpers::XDP_ADJUST_META))
        .jmp_imm(Jmp::Ne, Reg::R0, 0, "hints_done")
        // adjust_meta changed the packet: pointers are loaded again and checked.
        .push(Insn::ldx(Size::W, META, CTX, xdp::MD_DATA_META))
        .push(Insn::ldx(Size::W, Reg::R3, CTX, xdp::MD_DATA))
        .push(Insn::mov64_reg(SCRATCH, META))
        .push(Insn::add64_imm(SCRATCH, HINTS_LEN as i32))
        .jmp_reg(Jmp::Gt, SCRATCH, Reg::R3, "hints_done");
    for word in (0..HINTS_LEN as i16).step_by(8) {
        asm.push(Insn::st(Size::DW, META, word, 0));
    }
    asm.push(Insn::mov64_imm(VALID, 0));
    /// (kfunc id, label, out-pointer offsets, return slot, valid bit)
    type Call<'a> = (Option<u32>, &'a str, &'a [i16], i16, u16);
    let calls: [Call; 3] = [
        (kfuncs.timestamp, "ts", &[offset::TIMESTAMP], offset::TIMESTAMP_RET, VALID_TIMESTAMP),
        (kfuncs.hash, "hash", &[offset::HASH, offset::HASH_TYPE], offset::HASH_RET, VALID_HASH),
        (kfuncs.vlan_tag, "vlan", &[offset::VLAN_PROTO, offset::VLAN_TCI], offset::VLAN_RET, VALID_VLAN),
    ];
    for (id, name, outs, ret_slot, bit) in calls {
        let ret_reg = |i: usize| [Reg::R2, Reg::R3][i];
        let Some(id) = id else {
            // Not in this kernel: as if the device had no such op.
            asm.push(Insn::st(Size::H, META, ret_slot, -libc::EOPNOTSUPP));
            continue;
        };
        asm.push(Insn::mov64_reg(Reg::R1, CTX));
        for (i, &out) in outs.iter().enumerate() {
            asm.push(Insn::mov64_reg(ret_reg(i), META)).push(Insn::add64_imm(ret_reg(i), out.into()));
        }
        let skip = format!("hint_{name}_absent");
        asm.push(Insn::call_kfunc(id)).push(Insn::stx(Size::H, META, ret_slot, Reg::R0)).jmp_imm(
            Jmp::Ne,
            Reg::R0,
            0,
            &skip,
        );
        if bit == VALID_TIMESTAMP {
            // veth and drivers without a stamp for this frame answer 0 with a zero time.
            asm.push(Insn::ldx(Size::DW, SCRATCH, META, offset::TIMESTAMP)).jmp_imm(Jmp::Eq, SCRATCH, 0, &skip);
            asm.push(Insn::or64_imm(VALID, bit.into())).ja("hint_ts_done").label(&skip);
            // No device stamp: the time the program saw the frame (CLOCK_MONOTONIC) instead.
            asm.push(Insn::call(helpers::KTIME_GET_NS))
                .push(Insn::stx(Size::DW, META, offset::TIMESTAMP, Reg::R0))
                .push(Insn::or64_imm(VALID, VALID_XDP_TIME.into()))
                .label("hint_ts_done");
            continue;
        }
        asm.push(Insn::or64_imm(VALID, bit.into())).label(&skip);
    }
    asm.push(Insn::stx(Size::H, META, offset::VALID, VALID))
        .push(Insn::st(Size::W, META, offset::MAGIC, HINTS_MAGIC as i32))
        .label("hints_done");
}

/// Redirects the frames `steer` selects (all of them if it is empty) to the AF_XDP socket
/// registered in `xsk_map_fd` (an XSKMAP keyed by RX queue) for the frame's RX queue;
/// everything else, and frames of queues without a socket, get XDP_PASS.
pub fn xsk_redirect_program(xsk_map_fd: RawFd, steer: &Steer) -> Vec<Insn> {
    steer_program(steer, OnMatch::Redirect(xsk_map_fd))
}

/// [`xsk_redirect_program`] with `uncovered` for what no socket sees: unsteered frames and
/// frames of queues without a socket.
pub fn xsk_redirect_program_with(xsk_map_fd: RawFd, steer: &Steer, uncovered: Uncovered) -> Vec<Insn> {
    steer_program_with(steer, OnMatch::Redirect(xsk_map_fd), uncovered)
}

/// Counter value layout: per CPU, `[packets, bytes]` as native-endian u64s.
const COUNTER_VALUE_SIZE: u32 = 16;

/// The packet sink: adds 1 and the frame length to the `[u64 packets, u64 bytes]` value at
/// key 0 of `counters_fd` (a PERCPU_ARRAY with one entry) and returns XDP_DROP.
///
/// The length comes from `bpf_xdp_get_buff_len`, which for the single-buffer frames a
/// program without multi-buffer support receives equals `data_end - data`. Subtracting
/// the two packet pointers would need CAP_PERFMON (the verifier treats pointer arithmetic
/// between pointers as a potential address leak), while this loads with CAP_BPF and
/// CAP_NET_ADMIN alone.
pub fn count_and_drop_program(counters_fd: RawFd) -> Vec<Insn> {
    const KEY_SLOT: i16 = -4;
    let frame_len = Reg::R7;
    let mut asm = Asm::new();
    asm.push(Insn::call(helpers::XDP_GET_BUFF_LEN))
        .push(Insn::mov64_reg(frame_len, Reg::R0))
        // key = 0, on the stack because map helpers take a pointer to it.
        .push(Insn::st(Size::W, Reg::R10, KEY_SLOT, 0))
        .push(Insn::mov64_reg(Reg::R2, Reg::R10))
        .push(Insn::add64_imm(Reg::R2, KEY_SLOT.into()))
        .push2(Insn::ld_map_fd(Reg::R1, counters_fd))
        .push(Insn::call(helpers::MAP_LOOKUP_ELEM))
        .jmp_imm(Jmp::Eq, Reg::R0, 0, "drop")
        // Plain read-modify-write: the value is this CPU's own and XDP does not migrate
        // mid-run, so a locked add would only cost time.
        .push(Insn::ldx(Size::DW, Reg::R1, Reg::R0, 0))
        .push(Insn::add64_imm(Reg::R1, 1))
        .push(Insn::stx(Size::DW, Reg::R0, 0, Reg::R1))
        .push(Insn::ldx(Size::DW, Reg::R1, Reg::R0, 8))
        .push(Insn::add64_reg(Reg::R1, frame_len))
        .push(Insn::stx(Size::DW, Reg::R0, 8, Reg::R1))
        .label("drop")
        .push(Insn::mov64_imm(Reg::R0, xdp::DROP))
        .push(Insn::exit());
    asm.finish().expect("the counting program places every label it jumps to")
}

/// The sink's program together with its counters.
#[derive(Debug)]
pub struct XdpCounter {
    // The program holds its own reference to the map; we keep the fd to read it.
    counters: Map,
    program: Program,
}

impl XdpCounter {
    /// Creates the per-CPU counters and loads [`count_and_drop_program`] on them.
    pub fn load() -> Result<XdpCounter, bpf::Error> {
        let counters = Map::create(MapType::PercpuArray, "sink_counters", 4, COUNTER_VALUE_SIZE, 1)?;
        let program = Program::load(ProgType::Xdp, "count_and_drop", &count_and_drop_program(counters.raw_fd()))?;
        Ok(XdpCounter { counters, program })
    }

    /// The program, to attach with `bpf::Link::attach_xdp`.
    pub fn program(&self) -> &Program {
        &self.program
    }

    /// The counters map (for pinning, so another process can read it).
    pub fn counters(&self) -> &Map {
        &self.counters
    }

    /// `(packets, bytes)` summed over all CPUs.
    pub fn read(&self) -> Result<(u64, u64), bpf::Error> {
        let mut per_cpu = vec![0u8; self.counters.value_buf_len()];
        self.counters.lookup(&0u32.to_ne_bytes(), &mut per_cpu)?;
        let field = |bytes: &[u8]| u64::from_ne_bytes(bytes.try_into().expect("8-byte field"));
        // The per-CPU stride is the value size rounded up to 8, which 16 already is.
        Ok(per_cpu
            .chunks_exact(COUNTER_VALUE_SIZE as usize)
            .fold((0, 0), |(packets, bytes), slot| (packets + field(&slot[..8]), bytes + field(&slot[8..]))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    use testkit::require_root;

    // ---- frames ----

    fn ethernet(tags: &[u16], ethertype: u16, payload: &[u8]) -> Vec<u8> {
        let mut frame = vec![0x02, 0, 0, 0, 0, 0x01, 0x02, 0, 0, 0, 0, 0x02];
        for tpid in tags {
            frame.extend(tpid.to_be_bytes());
            frame.extend(100u16.to_be_bytes()); // TCI: VLAN 100
        }
        frame.extend(ethertype.to_be_bytes());
        frame.extend(payload);
        frame
    }

    /// An IPv4 header with `ihl` 32-bit words (the buffer has at least 20 bytes even for a
    /// malformed IHL) and the given flags+fragment-offset field, followed by `l4`.
    fn ipv4(proto: u8, ihl: u8, fragment_field: u16, l4: &[u8]) -> Vec<u8> {
        let header_len = (usize::from(ihl) * 4).max(20);
        let mut packet = vec![0u8; header_len];
        packet[0] = 0x40 | ihl;
        let total = (header_len + l4.len()) as u16;
        packet[2..4].copy_from_slice(&total.to_be_bytes());
        packet[6..8].copy_from_slice(&fragment_field.to_be_bytes());
        packet[8] = 64;
        packet[9] = proto;
        packet[12..16].copy_from_slice(&[192, 0, 2, 1]);
        packet[16..20].copy_from_slice(&[192, 0, 2, 2]);
        // Options (if any): NOP, whose value must not matter.
        packet[20..].fill(1);
        packet.extend(l4);
        packet
    }

    fn ipv6(next_header: u8, l4: &[u8]) -> Vec<u8> {
        let mut packet = vec![0u8; 40];
        packet[0] = 0x60;
        packet[4..6].copy_from_slice(&(l4.len() as u16).to_be_bytes());
        packet[6] = next_header;
        packet[7] = 64;
        packet[8] = 0x20; // 2001:db8::1 -> 2001:db8::2
        packet[9..12].copy_from_slice(&[0x01, 0x0d, 0xb8]);
        packet[23] = 1;
        packet[24..28].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
        packet[39] = 2;
        packet.extend(l4);
        packet
    }

    fn udp(dst_port: u16) -> Vec<u8> {
        let mut datagram = vec![0u8; 8 + 18];
        datagram[0..2].copy_from_slice(&40000u16.to_be_bytes());
        datagram[2..4].copy_from_slice(&dst_port.to_be_bytes());
        datagram[4..6].copy_from_slice(&26u16.to_be_bytes());
        datagram
    }

    fn tcp(dst_port: u16) -> Vec<u8> {
        let mut segment = vec![0u8; 20];
        segment[0..2].copy_from_slice(&40000u16.to_be_bytes());
        segment[2..4].copy_from_slice(&dst_port.to_be_bytes());
        segment[12] = 5 << 4;
        segment[13] = 0x02; // SYN
        segment
    }

    fn arp() -> Vec<u8> {
        ethernet(&[], 0x0806, &[0, 1, 8, 0, 6, 4, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    }

    fn udp4(port: u16) -> Vec<u8> {
        ethernet(&[], ETHERTYPE_IPV4, &ipv4(IPPROTO_UDP, 5, 0, &udp(port)))
    }

    // ---- a plain reference matcher, to test the generated code against ----

    #[derive(Default)]
    struct Parsed {
        ethertypes: Vec<u16>,
        proto: Option<u8>,
        dst_port: Option<u16>,
    }

    fn be16_at(bytes: &[u8], at: usize) -> Option<u16> {
        bytes.get(at..at + 2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }

    fn reference_parse(frame: &[u8]) -> Parsed {
        let mut parsed = Parsed::default();
        let Some(outer) = be16_at(frame, 12) else {
            return parsed;
        };
        parsed.ethertypes.push(outer);
        let (ethertype, l3_start) = if outer == ETHERTYPE_VLAN || outer == ETHERTYPE_QINQ {
            let Some(inner) = be16_at(frame, 16) else {
                return parsed;
            };
            parsed.ethertypes.push(inner);
            (inner, 18)
        } else {
            (outer, 14)
        };
        let l3 = &frame[l3_start.min(frame.len())..];
        let l4_start = match ethertype {
            ETHERTYPE_IPV4 if l3.len() >= 20 && l3[0] >> 4 == 4 => {
                parsed.proto = Some(l3[9]);
                let fragment_offset = be16_at(l3, 6).unwrap() & 0x1fff;
                let header_len = usize::from(l3[0] & 0x0f) * 4;
                if fragment_offset != 0 || header_len < 20 {
                    return parsed;
                }
                header_len
            }
            ETHERTYPE_IPV6 if l3.len() >= 40 && l3[0] >> 4 == 6 => {
                parsed.proto = Some(l3[6]);
                40
            }
            _ => return parsed,
        };
        parsed.dst_port = be16_at(l3, l4_start + 2);
        parsed
    }

    fn reference_matches(steer: &Steer, frame: &[u8]) -> bool {
        let parsed = reference_parse(frame);
        steer.any_of.is_empty()
            || steer.any_of.iter().any(|cond| match *cond {
                SteerCond::EtherType(ethertype) => parsed.ethertypes.contains(&ethertype),
                SteerCond::IpProto(proto) => parsed.proto == Some(proto),
                SteerCond::UdpDstPort(port) => parsed.proto == Some(IPPROTO_UDP) && parsed.dst_port == Some(port),
                SteerCond::TcpDstPort(port) => parsed.proto == Some(IPPROTO_TCP) && parsed.dst_port == Some(port),
            })
    }

    // ---- running the generated code ----

    /// Loads the steer with XDP_TX on match, so a verdict tells matched from passed.
    fn load_tx_on_match(steer: &str) -> (Steer, Program) {
        let steer: Steer = steer.parse().unwrap();
        let insns = steer_program(&steer, OnMatch::Return(xdp::TX));
        let program = Program::load(ProgType::Xdp, "steer_test", &insns).unwrap();
        (steer, program)
    }

    fn matches(program: &Program, frame: &[u8]) -> bool {
        match program.test_run(frame, 1).unwrap().retval as i32 {
            xdp::TX => true,
            xdp::PASS => false,
            other => panic!("unexpected XDP action {other}"),
        }
    }

    #[test]
    fn udp_port_steer_verdicts() {
        if !require_root("udp_port_steer_verdicts") {
            return;
        }
        let (steer, program) = load_tx_on_match("udp:4789");
        let ihl6 = ethernet(&[], ETHERTYPE_IPV4, &ipv4(IPPROTO_UDP, 6, 0, &udp(4789)));
        let ihl15 = ethernet(&[], ETHERTYPE_IPV4, &ipv4(IPPROTO_UDP, 15, 0, &udp(4789)));
        let over_ipv6 = ethernet(&[], ETHERTYPE_IPV6, &ipv6(IPPROTO_UDP, &udp(4789)));
        let dot1q = ethernet(&[ETHERTYPE_VLAN], ETHERTYPE_IPV4, &ipv4(IPPROTO_UDP, 5, 0, &udp(4789)));
        let dot1ad = ethernet(&[ETHERTYPE_QINQ], ETHERTYPE_IPV6, &ipv6(IPPROTO_UDP, &udp(4789)));
        let first_fragment = ethernet(&[], ETHERTYPE_IPV4, &ipv4(IPPROTO_UDP, 5, 0x2000, &udp(4789)));
        let cases: &[(&str, Vec<u8>, bool)] = &[
            ("UDP/4789 over IPv4, IHL 5", udp4(4789), true),
            ("UDP/4789 over IPv4, IHL 6", ihl6.clone(), true),
            ("UDP/4789 over IPv4, IHL 15", ihl15, true),
            ("UDP/4789 over IPv6", over_ipv6, true),
            ("UDP/4789 in an 802.1Q tag", dot1q, true),
            ("UDP/4789 in an 802.1ad tag", dot1ad, true),
            ("first fragment (MF set, offset 0)", first_fragment, true),
            ("UDP/4790", udp4(4790), false),
            ("TCP/4789", ethernet(&[], ETHERTYPE_IPV4, &ipv4(IPPROTO_TCP, 5, 0, &tcp(4789))), false),
            (
                "non-first fragment whose payload looks like UDP/4789",
                ethernet(&[], ETHERTYPE_IPV4, &ipv4(IPPROTO_UDP, 5, 185, &udp(4789))),
                false,
            ),
            ("IHL 6 frame cut inside the UDP ports", ihl6[..14 + 24 + 3].to_vec(), false),
            ("IPv4 header cut short", udp4(4789)[..14 + 10].to_vec(), false),
            ("Ethernet header only", udp4(4789)[..14].to_vec(), false),
            ("VLAN tag cut short", ethernet(&[ETHERTYPE_VLAN], ETHERTYPE_IPV4, &[])[..16].to_vec(), false),
            ("IHL 4 (malformed)", ethernet(&[], ETHERTYPE_IPV4, &ipv4(IPPROTO_UDP, 4, 0, &udp(4789))), false),
            ("ARP", arp(), false),
        ];
        for (what, frame, expected) in cases {
            assert_eq!(matches(&program, frame), *expected, "{what}");
            assert_eq!(reference_matches(&steer, frame), *expected, "reference: {what}");
        }
    }

    #[test]
    fn tcp_proto_and_ethertype_steer_verdicts() {
        if !require_root("tcp_proto_and_ethertype_steer_verdicts") {
            return;
        }
        let tcp80 = ethernet(&[], ETHERTYPE_IPV4, &ipv4(IPPROTO_TCP, 5, 0, &tcp(80)));
        let tcp80_v6 = ethernet(&[], ETHERTYPE_IPV6, &ipv6(IPPROTO_TCP, &tcp(80)));
        let gre = ethernet(&[], ETHERTYPE_IPV4, &ipv4(47, 5, 0, &[0; 8]));
        let gre_v6 = ethernet(&[ETHERTYPE_VLAN], ETHERTYPE_IPV6, &ipv6(47, &[0; 8]));
        let gre_fragment = ethernet(&[], ETHERTYPE_IPV4, &ipv4(47, 5, 100, &[0; 8]));
        let tagged_arp = ethernet(&[ETHERTYPE_VLAN], 0x0806, &arp()[14..]);
        let custom = ethernet(&[], 0x88b5, &[0; 46]);
        /// (steer text, [(frame, expected to match)])
        type Case<'a> = (&'a str, &'a [(&'a [u8], bool)]);
        let cases: &[Case] = &[
            ("tcp:80", &[(&tcp80, true), (&tcp80_v6, true), (&udp4(80), false), (&arp(), false)]),
            ("proto:gre", &[(&gre, true), (&gre_v6, true), (&gre_fragment, true), (&tcp80, false)]),
            ("ethertype:0x0806", &[(&arp(), true), (&tagged_arp, true), (&tcp80, false)]),
            ("ethertype:0x8100", &[(&tagged_arp, true), (&arp(), false)]),
            (
                "udp:4789+udp:6081+ethertype:0x88b5",
                &[(&udp4(6081), true), (&custom, true), (&udp4(4789), true), (&tcp80, false)],
            ),
            ("proto:udp|tcp", &[(&udp4(1), true), (&tcp80_v6, true), (&gre, false)]),
            // Empty steer: everything, even a bare Ethernet header.
            ("all", &[(&arp(), true), (&udp4(4789)[..14], true)]),
        ];
        for (steer_text, frames) in cases {
            let (steer, program) = load_tx_on_match(steer_text);
            for (i, (frame, expected)) in frames.iter().enumerate() {
                assert_eq!(matches(&program, frame), *expected, "{steer_text}, frame {i}");
                assert_eq!(reference_matches(&steer, frame), *expected, "reference: {steer_text}, frame {i}");
            }
        }
    }

    fn arb_cond() -> impl Strategy<Value = SteerCond> {
        prop_oneof![
            prop::sample::select(vec![0x0800u16, 0x86dd, 0x0806, 0x88b5, 0x8100, 0x88a8])
                .prop_map(SteerCond::EtherType),
            prop::sample::select(vec![6u8, 17, 47, 44, 1]).prop_map(SteerCond::IpProto),
            prop::sample::select(vec![53u16, 4789, 6081]).prop_map(SteerCond::UdpDstPort),
            prop::sample::select(vec![80u16, 443, 4789]).prop_map(SteerCond::TcpDstPort),
        ]
    }

    /// Frames built from the pieces the matcher looks at, cut anywhere from 14 bytes on.
    fn arb_frame() -> impl Strategy<Value = Vec<u8>> {
        let tags = prop::sample::select(vec![
            vec![],
            vec![ETHERTYPE_VLAN],
            vec![ETHERTYPE_QINQ],
            vec![ETHERTYPE_QINQ, ETHERTYPE_VLAN],
        ]);
        let ethertype = prop::sample::select(vec![ETHERTYPE_IPV4, ETHERTYPE_IPV6, 0x0806, 0x88b5]);
        let proto = prop::sample::select(vec![6u8, 17, 47, 44, 1]);
        let ihl = prop_oneof![4 => Just(5u8), 1 => 0u8..16];
        // Flags (reserved, DF, MF) and offsets at each end of the 13-bit field.
        let fragment = prop_oneof![
            2 => Just(0u16),
            2 => prop::sample::select(vec![0x2000u16, 0x4000, 0x8000, 0x0001, 0x1000, 0x2001, 0x1fff]),
            1 => any::<u16>(),
        ];
        let port = prop::sample::select(vec![53u16, 80, 443, 4789, 6081]);
        let bad_version = prop::bool::weighted(0.1);
        let cut = any::<prop::sample::Index>();
        let whole = prop::bool::weighted(0.6);
        (tags, ethertype, proto, ihl, fragment, port, bad_version, cut, whole).prop_map(
            |(tags, ethertype, proto, ihl, fragment, port, bad_version, cut, whole)| {
                let l4 = if proto == IPPROTO_TCP { tcp(port) } else { udp(port) };
                let mut l3 = match ethertype {
                    ETHERTYPE_IPV4 => ipv4(proto, ihl, fragment, &l4),
                    ETHERTYPE_IPV6 => ipv6(proto, &l4),
                    _ => l4,
                };
                if bad_version {
                    l3[0] ^= 0x20;
                }
                let mut frame = ethernet(&tags, ethertype, &l3);
                if !whole {
                    frame.truncate(14 + cut.index(frame.len() - 14));
                }
                frame
            },
        )
    }

    #[test]
    fn steer_condition_count_is_bounded() {
        let at_limit = vec!["udp:1"; MAX_STEER_CONDITIONS].join("+");
        assert_eq!(at_limit.parse::<Steer>().unwrap().any_of.len(), MAX_STEER_CONDITIONS);
        let over = format!("{at_limit}|2");
        let err = over.parse::<Steer>().unwrap_err().to_string();
        assert!(err.contains("65 conditions; at most 64"), "{err}");
    }

    #[test]
    fn generated_code_agrees_with_the_reference_matcher() {
        if !require_root("generated_code_agrees_with_the_reference_matcher") {
            return;
        }
        let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(64));
        let strategy = (
            prop::collection::vec(arb_cond(), 0..4).prop_map(|any_of| Steer { any_of }),
            prop::collection::vec(arb_frame(), 48),
        );
        runner
            .run(&strategy, |(steer, frames)| {
                let insns = steer_program(&steer, OnMatch::Return(xdp::TX));
                let program = Program::load(ProgType::Xdp, "steer_diff", &insns).unwrap();
                for frame in &frames {
                    prop_assert_eq!(
                        matches(&program, frame),
                        reference_matches(&steer, frame),
                        "steer {} on frame {:02x?}",
                        steer,
                        frame
                    );
                }
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn xsk_redirect_program_passes_the_verifier() {
        if !require_root("xsk_redirect_program_passes_the_verifier") {
            return;
        }
        let xsks = Map::create(MapType::XskMap, "xsks", 4, 4, 4).unwrap();
        for steer in ["all", "udp:4789+udp:6081+ethertype:0x88b5", "proto:gre|udp+tcp:80"] {
            let steer: Steer = steer.parse().unwrap();
            let insns = xsk_redirect_program(xsks.raw_fd(), &steer);
            let program = Program::load(ProgType::Xdp, "xsk_redirect", &insns)
                .unwrap_or_else(|err| panic!("steer {steer}: {err}"));
            // No socket in the map: matched frames fall back to XDP_PASS as well.
            let verdict = program.test_run(&udp4(4789), 1).unwrap().retval;
            assert_eq!(verdict as i32, xdp::PASS, "steer {steer}");
        }
    }

    fn live_kfuncs() -> HintKfuncs {
        let kfuncs = HintKfuncs::resolve(&bpf::Btf::vmlinux().expect("CI kernels have BTF"));
        assert!(kfuncs.timestamp.is_some() && kfuncs.hash.is_some() && kfuncs.vlan_tag.is_some(), "{kfuncs:?}");
        kfuncs
    }

    /// Only a device-bound program may call the metadata kfuncs: loaded otherwise, the
    /// verifier refuses it ("metadata kfuncs require device-bound program"), which is why
    /// the device's hints are asked for by loading bound to it.
    #[test]
    fn hints_need_a_device_bound_program() {
        if !require_root("hints_need_a_device_bound_program") {
            return;
        }
        let kfuncs = live_kfuncs();
        let insns = steer_program_hinted(&Steer::default(), OnMatch::Return(xdp::TX), Uncovered::Pass, Some(&kfuncs));
        let err = Program::load(ProgType::Xdp, "hints_unbound", &insns).unwrap_err();
        assert!(err.to_string().contains("require device-bound program"), "{err}");
        // Without hints the program is the one it always was, and loads anywhere.
        let plain = steer_program_hinted(&Steer::default(), OnMatch::Return(xdp::TX), Uncovered::Pass, None);
        assert_eq!(plain, steer_program(&Steer::default(), OnMatch::Return(xdp::TX)));
        let run = Program::load(ProgType::Xdp, "no_hints", &plain).unwrap().test_run(&udp4(1), 1).unwrap();
        assert_eq!(run.data_out, udp4(1), "no metadata");
    }

    /// Device-bound to a veth (the device's own kfuncs, veth_xdp_metadata_ops), the redirect
    /// program with hints passes the verifier, with CAP_BPF and CAP_NET_ADMIN alone (the
    /// program without hints: `programs_load_with_only_cap_bpf_and_cap_net_admin`).
    #[test]
    fn dev_bound_hints_program_loads_on_veth() {
        if !require_root("dev_bound_hints_program_loads_on_veth") {
            return;
        }
        let kfuncs = live_kfuncs();
        let netns = testkit::Netns::with_veth_pair("hi");
        netns.run(|| {
            let ifindex = bpf::ifindex("veth0").unwrap();
            std::thread::spawn(move || {
                crate::caps::keep_only(&[crate::caps::CAP_NET_ADMIN, crate::caps::CAP_BPF]).expect("capset");
                let xsks = Map::create(MapType::XskMap, "xsks", 4, 4, 1).unwrap();
                let steer: Steer = "udp:4789+proto:gre".parse().unwrap();
                let insns =
                    steer_program_hinted(&steer, OnMatch::Redirect(xsks.raw_fd()), Uncovered::Drop, Some(&kfuncs));
                let options = bpf::LoadOptions::dev_bound(ifindex);
                Program::load_with(ProgType::Xdp, "xsk_hints", &insns, &options).unwrap();
                let insns = steer_program_hinted(&steer, OnMatch::Return(xdp::TX), Uncovered::Pass, Some(&kfuncs));
                let program = Program::load_with(ProgType::Xdp, "tx_hints", &insns, &options).unwrap();
                // The kernel test-runs no device-bound program (EINVAL): what the program
                // writes is checked on a live veth (tests/rx_hints.rs).
                let err = program.test_run(&udp4(4789), 1).unwrap_err();
                assert_eq!(err.raw_os_error(), Some(libc::EINVAL), "{err}");
            })
            .join()
            .unwrap();
        });
    }

    #[test]
    fn uncovered_drop_drops_unsteered_frames_and_queues_without_a_socket() {
        if !require_root("uncovered_drop_drops_unsteered_frames_and_queues_without_a_socket") {
            return;
        }
        let xsks = Map::create(MapType::XskMap, "xsks", 4, 4, 1).unwrap();
        let steer: Steer = "udp:4789".parse().unwrap();
        let drop = xsk_redirect_program_with(xsks.raw_fd(), &steer, Uncovered::Drop);
        let program = Program::load(ProgType::Xdp, "xsk_guarded", &drop).unwrap();
        // Steered, but queue 0 has no socket in the map; not steered. (Queues past the
        // map's end take the same fallback: the multi-queue veth test in
        // dataplane/tests/policy.rs sends on one.)
        for (what, frame) in [("steered", udp4(4789)), ("not steered", arp())] {
            let verdict = program.test_run(&frame, 1).unwrap().retval as i32;
            assert_eq!(verdict, xdp::DROP, "{what}");
        }
        let pass = xsk_redirect_program_with(xsks.raw_fd(), &steer, Uncovered::Pass);
        assert_eq!(pass, xsk_redirect_program(xsks.raw_fd(), &steer), "Pass is the plain program");
    }

    #[test]
    fn counter_counts_packets_and_bytes_and_drops() {
        if !require_root("counter_counts_packets_and_bytes_and_drops") {
            return;
        }
        let counter = XdpCounter::load().unwrap();
        assert_eq!(counter.read().unwrap(), (0, 0));
        let (mut packets, mut bytes) = (0u64, 0u64);
        for (size, repeat) in [(60usize, 1u32), (64, 3), (1514, 2), (14, 5)] {
            let run = counter.program().test_run(&vec![0xab; size], repeat).unwrap();
            assert_eq!(run.retval as i32, xdp::DROP);
            packets += u64::from(repeat);
            bytes += size as u64 * u64::from(repeat);
        }
        assert_eq!(counter.read().unwrap(), (packets, bytes));
    }

    /// The programs must load with just the capabilities the bpf crate's error message
    /// names; in particular without CAP_PERFMON, which pointer subtraction would need.
    #[test]
    fn programs_load_with_only_cap_bpf_and_cap_net_admin() {
        if !require_root("programs_load_with_only_cap_bpf_and_cap_net_admin") {
            return;
        }
        // Capabilities are per thread, so dropping them on a scratch thread leaves the rest
        // of the test process as it was.
        std::thread::spawn(|| {
            crate::caps::keep_only(&[crate::caps::CAP_NET_ADMIN, crate::caps::CAP_BPF]).expect("capset");

            let counter = XdpCounter::load().unwrap();
            counter.program().test_run(&udp4(53), 1).unwrap();
            assert_eq!(counter.read().unwrap(), (1, udp4(53).len() as u64));
            let xsks = Map::create(MapType::XskMap, "xsks", 4, 4, 1).unwrap();
            let steer: Steer = "udp:4789+proto:gre+ethertype:0x88b5".parse().unwrap();
            Program::load(ProgType::Xdp, "xsk_redirect", &xsk_redirect_program(xsks.raw_fd(), &steer)).unwrap();
        })
        .join()
        .unwrap();
    }

    // ---- the text form ----

    #[test]
    fn steer_text_parses() {
        use SteerCond::*;
        let steer: Steer = "udp:4789+udp:6081+ethertype:0x88b5".parse().unwrap();
        assert_eq!(steer.any_of, [UdpDstPort(4789), UdpDstPort(6081), EtherType(0x88b5)]);
        let steer: Steer = "proto:udp|tcp|gre|icmp+proto:17+tcp:80|443".parse().unwrap();
        assert_eq!(
            steer.any_of,
            [IpProto(17), IpProto(6), IpProto(47), IpProto(1), IpProto(17), TcpDstPort(80), TcpDstPort(443)]
        );
        assert_eq!("ethertype:35093".parse::<Steer>().unwrap().any_of, [EtherType(0x8915)]);
        assert_eq!("proto:0x2f".parse::<Steer>().unwrap().any_of, [IpProto(47)]);
        assert_eq!("all".parse::<Steer>().unwrap(), Steer::default());
        assert_eq!("".parse::<Steer>().unwrap(), Steer::default());
    }

    #[test]
    fn steer_text_errors_say_what_was_expected() {
        let error = |text: &str| text.parse::<Steer>().unwrap_err().to_string();
        assert!(error("udp:70000").contains("expected a port number 0-65535"));
        assert!(error("udp:").contains("empty value"));
        assert!(error("udp:53++tcp:80").contains("empty condition"));
        assert!(error("sctp:80").contains("unknown condition kind `sctp`"));
        assert!(error("4789").contains("is not KIND:VALUE"));
        assert!(error("proto:bogus").contains("protocol number 0-255 or one of the names"));
        assert!(error("proto:256").contains("protocol number 0-255"));
        assert!(error("ethertype:0x10000").contains("0x0600-0xffff"));
        assert!(error("ethertype:0x0042").contains("802.3 frame lengths"));
        assert!(error("all+udp:53").contains("cannot be combined"));
        assert!(error("udp:53,tcp:80").contains("expected a port number"));
    }

    #[test]
    fn steer_display_is_readable() {
        let steer: Steer = "udp:4789+proto:47+proto:200+ethertype:35093".parse().unwrap();
        assert_eq!(steer.to_string(), "udp:4789+proto:gre+proto:200+ethertype:0x8915");
        assert_eq!(Steer::default().to_string(), "all");
    }

    proptest! {
        #[test]
        fn steer_text_round_trips(conds in prop::collection::vec(prop_oneof![
            (ETHERTYPE_MIN..=u16::MAX).prop_map(SteerCond::EtherType),
            any::<u8>().prop_map(SteerCond::IpProto),
            any::<u16>().prop_map(SteerCond::UdpDstPort),
            any::<u16>().prop_map(SteerCond::TcpDstPort),
        ], 0..6)) {
            let steer = Steer { any_of: conds };
            let text = steer.to_string();
            prop_assert!(!text.contains(','), "{}", text);
            prop_assert_eq!(text.parse::<Steer>().ok(), Some(steer));
        }
    }
}
