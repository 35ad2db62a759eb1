//! Rewriting actions: the per-packet work that makes "compute" real.
//!
//! * `ttl-dec`: the outermost IPv4 TTL or IPv6 hop limit (inside a PPPoE session, the
//!   session's IP packet's; no PPPoE field covers it) minus one, the IPv4 header checksum
//!   updated incrementally (RFC 1624 Eqn. 3); a frame whose TTL would reach 0 is dropped
//!   (RFC 791; RFC 8200 §3). Frames without IP pass unchanged.
//! * `decap`: removes the outer headers of a VXLAN, Geneve, GRE or IP-in-IP frame. Where the
//!   tunnel carries an Ethernet frame, that frame is what remains; where it carries an IP
//!   packet, the outer Ethernet addresses are kept in front of it.
//! * `encap`: pushes Ethernet/IPv4-or-IPv6/UDP/VXLAN or Geneve, or Ethernet/IP/GRE, in front
//!   of the frame. The outer UDP checksum (or GRE checksum) is computed by Local Checksum
//!   Offload from the inner L4 checksum and the headers in between, without reading the
//!   payload; or left zero where the tunnel allows it (VXLAN over IPv4, RFC 7348 §5).
//! * `tunnel_key set|unset` (a rule's tc action): `encap` of VXLAN or Geneve
//!   ([`Rewrite::tunnel_key`]) and `decap`.
//! * `vlan pop|push|modify` (a rule's tc action): the outermost 802.1Q / 802.1ad tag
//!   removed, pushed in front of any others, or given a new VID (and PCP) and TPID, as the
//!   kernel's act_vlan does. No checksum covers the tags, so none changes.
//! * `mpls pop|push|modify|dec_ttl` (a rule's tc action): the top label stack entry, after
//!   the Ethernet header and its VLAN tags, removed (the ethertype before it set to the
//!   action's protocol), pushed, changed or its TTL decremented, as the kernel's act_mpls
//!   does (RFC 3032 §2.1 entries). No checksum covers the stack, so none changes.
//! * `pedit` (a rule's tc action): fields of the outermost headers set, added to or
//!   inverted, the checksums over them updated incrementally (see [`super::pedit`]).

use std::fmt;
use std::net::{AddrParseError, IpAddr};
use std::str::FromStr;

use umem::{Frame, Umem};

use super::pedit::Pedit;
use crate::stats::DropReason;
use rules::{MplsAction, TunnelSet, VlanAction};
use wire::checks::{self, OuterMode, ZeroPolicy};
use wire::csum::{update_u16, Checksum};
use wire::ethernet::{parse_mac, ParseMacError};
use wire::{
    ethertype, ip_protocol, walk_into, EthernetRepr, GeneveRepr, GreRepr, Ipv4Repr, Ipv6Repr, L3Kind, Offsets, UdpRepr,
    VlanHeader, VlanRepr, VxlanRepr, WalkConfig,
};

#[derive(Clone, Debug, PartialEq, Eq)]
/// A rewrite of a frame (`--rewrite`, or a rule's action).
pub enum Rewrite {
    /// `ttl-dec`: the outermost TTL or hop limit minus one.
    TtlDec,
    /// `decap`: the outer headers of a tunnel removed.
    Decap,
    /// `encap:...`: new outer headers pushed.
    Encap(Encap),
    /// A rule's `vlan` action.
    Vlan(VlanAction),
    /// A rule's `mpls` action.
    Mpls(MplsAction),
    /// A rule's `pedit` action.
    Pedit(Pedit),
}

/// Which tunnel `encap` builds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EncapKind {
    /// Ethernet / IP / UDP 4789 / VXLAN (RFC 7348).
    Vxlan,
    /// Ethernet / IP / UDP 6081 / Geneve (RFC 8926).
    Geneve,
    /// Ethernet / IP / GRE (RFC 2784, RFC 2890 for the key).
    Gre,
}

/// How the outer checksum of a new tunnel is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EncapCsum {
    /// By LCO (GRE: with the C bit set).
    Lco,
    /// UDP checksum 0 (IPv4 only); GRE without the C bit.
    Zero,
}

/// The outer headers `encap` pushes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Encap {
    /// Which tunnel.
    pub kind: EncapKind,
    /// VXLAN/Geneve VNI (24 bits), GRE key (32 bits, sent when given).
    pub vni: Option<u32>,
    /// Outer Ethernet source.
    pub src_mac: [u8; 6],
    /// Outer Ethernet destination.
    pub dst_mac: [u8; 6],
    /// Outer IP source (its family is the outer header's).
    pub src_ip: IpAddr,
    /// Outer IP destination, of the same family.
    pub dst_ip: IpAddr,
    /// UDP destination port of VXLAN or Geneve.
    pub dst_port: u16,
    /// Outer TTL or hop limit.
    pub ttl: u8,
    /// Outer IPv4 TOS or IPv6 traffic class, written as given (0 unless told; the inner
    /// header's ECN is not copied out, RFC 6040 §4.2's compatibility mode).
    pub tos: u8,
    /// How the outer checksum is made.
    pub csum: EncapCsum,
}

/// A `--rewrite` (or a rule's `encap ...`) that does not parse; the message shows the form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RewriteError {
    /// None of `ttl-dec`, `decap`, `encap:...`.
    Unknown {
        /// The text as given.
        text: String,
    },
    /// `encap:` with a tunnel other than vxlan, geneve or gre (`None`: no tunnel named).
    UnknownTunnel {
        /// The tunnel named, if any.
        given: Option<String>,
    },
    /// An `encap:` item without `=`.
    NotKeyValue {
        /// The item.
        item: String,
    },
    /// A number outside its field.
    OutOfRange {
        /// The key (`vni`, `port`, `ttl`, ...).
        key: String,
        /// Its value as given.
        value: String,
        /// The largest value the field holds.
        max: u64,
    },
    /// `src=` or `dst=` that is not an IP address.
    BadAddress {
        /// `src` or `dst`.
        key: &'static str,
        /// The value as given.
        value: String,
        /// Why it is not an address.
        source: AddrParseError,
    },
    /// `smac=` or `dmac=` that is not a MAC address.
    BadMac(ParseMacError),
    /// `csum=` other than `lco` or `zero`.
    BadCsum {
        /// The value as given.
        value: String,
    },
    /// A key `encap:` does not know.
    UnknownKey {
        /// The key as given.
        key: String,
    },
    /// `src=` or `dst=` missing.
    MissingAddresses,
    /// One address IPv4, the other IPv6.
    MixedFamilies,
    /// `csum=zero` on a UDP tunnel over IPv6 (RFC 8200 §8.1 forbids a zero UDP checksum).
    ZeroCsumOverIpv6,
}

impl fmt::Display for RewriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RewriteError::Unknown { text } => {
                write!(f, "'{text}': expected ttl-dec, decap or encap:vxlan|geneve|gre,src=IP,dst=IP,...")
            }
            RewriteError::UnknownTunnel { given } => {
                write!(f, "encap: unknown tunnel {:?}: expected vxlan, geneve or gre", given.as_deref())
            }
            RewriteError::NotKeyValue { item } => write!(f, "encap: '{item}' should be key=value"),
            RewriteError::OutOfRange { key, value, max } => write!(f, "encap: {key}={value} is not 0..={max}"),
            RewriteError::BadAddress { key, value, source } => write!(f, "encap: {key}={value}: {source}"),
            RewriteError::BadMac(error) => write!(f, "encap: {error}"),
            RewriteError::BadCsum { value } => write!(f, "encap: csum={value} should be lco or zero"),
            RewriteError::UnknownKey { key } => {
                write!(f, "encap: unknown key '{key}' (known: src, dst, vni, smac, dmac, port, ttl, tos, csum)")
            }
            RewriteError::MissingAddresses => {
                f.write_str("encap: give the outer addresses, e.g. encap:vxlan,src=198.18.0.1,dst=198.18.0.2,vni=42")
            }
            RewriteError::MixedFamilies => f.write_str("encap: src and dst must both be IPv4 or both IPv6"),
            RewriteError::ZeroCsumOverIpv6 => {
                f.write_str("encap: csum=zero is not allowed over IPv6 (RFC 8200 §8.1); use csum=lco")
            }
        }
    }
}

impl std::error::Error for RewriteError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RewriteError::BadAddress { source, .. } => Some(source),
            RewriteError::BadMac(error) => Some(error),
            _ => None,
        }
    }
}

impl FromStr for Rewrite {
    type Err = RewriteError;

    /// `ttl-dec`, `decap`, or
    /// `encap:vxlan|geneve|gre,src=IP,dst=IP[,vni=N][,smac=MAC][,dmac=MAC][,port=N][,ttl=N][,tos=N][,csum=lco|zero]`.
    fn from_str(text: &str) -> Result<Rewrite, RewriteError> {
        match text {
            "ttl-dec" => return Ok(Rewrite::TtlDec),
            "decap" => return Ok(Rewrite::Decap),
            _ => {}
        }
        let Some(args) = text.strip_prefix("encap:") else {
            return Err(RewriteError::Unknown { text: text.to_string() });
        };
        let mut items = args.split(',');
        let kind = match items.next() {
            Some("vxlan") => EncapKind::Vxlan,
            Some("geneve") => EncapKind::Geneve,
            Some("gre") => EncapKind::Gre,
            other => return Err(RewriteError::UnknownTunnel { given: other.map(str::to_string) }),
        };
        let (mut src_ip, mut dst_ip) = (None, None);
        let mut encap = Encap {
            kind,
            vni: None,
            src_mac: [0x02, 0, 0, 0, 0, 0x10],
            dst_mac: [0x02, 0, 0, 0, 0, 0x20],
            src_ip: IpAddr::from([0, 0, 0, 0]),
            dst_ip: IpAddr::from([0, 0, 0, 0]),
            dst_port: match kind {
                EncapKind::Vxlan => wire::udp_port::VXLAN,
                EncapKind::Geneve => wire::udp_port::GENEVE,
                EncapKind::Gre => 0,
            },
            ttl: 64,
            tos: 0,
            csum: EncapCsum::Lco,
        };
        for item in items {
            let (key, value) =
                item.split_once('=').ok_or_else(|| RewriteError::NotKeyValue { item: item.to_string() })?;
            let number = |max: u64| -> Result<u64, RewriteError> {
                value.parse::<u64>().ok().filter(|n| *n <= max).ok_or_else(|| RewriteError::OutOfRange {
                    key: key.to_string(),
                    value: value.to_string(),
                    max,
                })
            };
            let address = |key: &'static str| {
                value.parse::<IpAddr>().map_err(|source| RewriteError::BadAddress {
                    key,
                    value: value.to_string(),
                    source,
                })
            };
            match key {
                "src" => src_ip = Some(address("src")?),
                "dst" => dst_ip = Some(address("dst")?),
                "vni" | "key" => {
                    encap.vni = Some(number(if kind == EncapKind::Gre { u32::MAX.into() } else { 0xff_ffff })? as u32)
                }
                "smac" => encap.src_mac = parse_mac(value).map_err(RewriteError::BadMac)?,
                "dmac" => encap.dst_mac = parse_mac(value).map_err(RewriteError::BadMac)?,
                "port" => encap.dst_port = number(u16::MAX.into())? as u16,
                "ttl" => encap.ttl = number(255)? as u8,
                "tos" => encap.tos = number(255)? as u8,
                "csum" => {
                    encap.csum = match value {
                        "lco" => EncapCsum::Lco,
                        "zero" => EncapCsum::Zero,
                        _ => return Err(RewriteError::BadCsum { value: value.to_string() }),
                    }
                }
                _ => return Err(RewriteError::UnknownKey { key: key.to_string() }),
            }
        }
        let (Some(src), Some(dst)) = (src_ip, dst_ip) else {
            return Err(RewriteError::MissingAddresses);
        };
        if src.is_ipv4() != dst.is_ipv4() {
            return Err(RewriteError::MixedFamilies);
        }
        if src.is_ipv6() && encap.csum == EncapCsum::Zero && kind != EncapKind::Gre {
            return Err(RewriteError::ZeroCsumOverIpv6);
        }
        if encap.vni.is_none() && kind != EncapKind::Gre {
            encap.vni = Some(0);
        }
        (encap.src_ip, encap.dst_ip) = (src, dst);
        Ok(Rewrite::Encap(encap))
    }
}

impl Rewrite {
    /// tc's `tunnel_key set` as the `encap:` rewrite it is (the same frame): VXLAN, or Geneve
    /// on port 6081; VNI 0, port 4789 and TTL 64 unless given (0 is "not given" for the port
    /// and the TTL, as the kernel's tunnel devices read them); `nocsum` is `csum=zero`.
    pub fn tunnel_key(set: &TunnelSet) -> Result<Rewrite, RewriteError> {
        tunnel_key_spec(set).parse()
    }
}

/// The `encap:` spec of `tunnel_key set` (see [`Rewrite::tunnel_key`]).
pub fn tunnel_key_spec(set: &TunnelSet) -> String {
    format!(
        "encap:{},src={},dst={},vni={},port={},ttl={},tos={},csum={}",
        if set.is_geneve() { "geneve" } else { "vxlan" },
        set.src_ip,
        set.dst_ip,
        set.id.unwrap_or(0),
        set.udp_port(),
        set.ttl.filter(|&ttl| ttl != 0).unwrap_or(64),
        set.tos.unwrap_or(0),
        if set.csum { "lco" } else { "zero" },
    )
}

impl Rewrite {
    /// Applies the rewrite to a frame whose layers are in `offsets` (walked just before).
    /// Returns whether the layout changed (the caller walks again before using `offsets`).
    /// `mtu`: the largest IP packet (bytes after the outer Ethernet header) `encap` may
    /// make; a longer one is `Err(MtuExceeded)` and the frame is left as it was. The outer
    /// IPv4 header says DF (RFC 6864 §4.1) and tunnels are not fragmented here (RFC 7348
    /// §4.3: VTEPs must not fragment VXLAN packets), so past the MTU the frame is dropped.
    pub fn apply(
        &self,
        umem: &Umem,
        frame: &mut Frame,
        offsets: &mut Offsets,
        walk: &WalkConfig,
        policy: &ZeroPolicy,
        mtu: usize,
    ) -> Result<bool, DropReason> {
        match self {
            Rewrite::TtlDec => ttl_dec(umem.data_mut(frame), offsets).map(|()| false),
            Rewrite::Decap => decap(umem, frame, offsets).map(|()| true),
            Rewrite::Encap(encap) => encap_frame(encap, umem, frame, offsets, walk, policy, mtu).map(|()| true),
            Rewrite::Vlan(vlan) => vlan_frame(*vlan, umem, frame, offsets),
            Rewrite::Mpls(mpls) => mpls_frame(*mpls, umem, frame, offsets),
            Rewrite::Pedit(pedit) => pedit.apply(umem.data_mut(frame), offsets).map(|()| false),
        }
    }

    /// How many bytes `encap` adds in front of a frame (0 for the other rewrites): outer
    /// Ethernet, IP, and UDP + VXLAN/Geneve or the GRE header with its optional fields.
    pub fn overhead(&self) -> usize {
        match self {
            Rewrite::Encap(encap) => 14 + encap.l3_len() + encap.tunnel_len(),
            Rewrite::Vlan(VlanAction::Push { .. }) => TAG_LEN,
            Rewrite::Mpls(MplsAction::Push { .. }) => MPLS_LEN,
            Rewrite::TtlDec | Rewrite::Decap | Rewrite::Vlan(_) | Rewrite::Mpls(_) | Rewrite::Pedit(_) => 0,
        }
    }
}

impl Encap {
    fn l3_len(&self) -> usize {
        if self.src_ip.is_ipv6() {
            40
        } else {
            20
        }
    }

    fn tunnel_len(&self) -> usize {
        match self.kind {
            EncapKind::Vxlan | EncapKind::Geneve => 8 + 8,
            EncapKind::Gre => {
                4 + if self.csum == EncapCsum::Lco { 4 } else { 0 } + if self.vni.is_some() { 4 } else { 0 }
            }
        }
    }
}

/// An 802.1Q / 802.1ad tag: TPID and TCI.
const TAG_LEN: usize = 4;

fn ttl_dec(data: &mut [u8], offsets: &Offsets) -> Result<(), DropReason> {
    let Some(l3) = offsets.outer.l3 else { return Ok(()) };
    match l3.kind {
        L3Kind::Ipv4 => {
            let (ttl_at, sum_at) = (l3.offset + 8, l3.offset + 10);
            let ttl = data[ttl_at];
            if ttl <= 1 {
                return Err(DropReason::TtlExpired);
            }
            // TTL and protocol share one 16-bit word of the header.
            let old_word = u16::from_be_bytes([ttl, data[ttl_at + 1]]);
            let new_word = old_word - 0x0100;
            let old_sum = Checksum::from_be_bytes([data[sum_at], data[sum_at + 1]]);
            data[ttl_at] = ttl - 1;
            data[sum_at..sum_at + 2].copy_from_slice(&update_u16(old_sum, old_word, new_word).to_be_bytes());
        }
        L3Kind::Ipv6 => {
            let at = l3.offset + 7;
            if data[at] <= 1 {
                return Err(DropReason::TtlExpired);
            }
            data[at] -= 1;
        }
    }
    Ok(())
}

/// `vlan pop|push|modify` on the outermost tag, whose TPID follows the MAC addresses.
/// Returns whether the layout changed.
fn vlan_frame(vlan: VlanAction, umem: &Umem, frame: &mut Frame, offsets: &Offsets) -> Result<bool, DropReason> {
    const TPID_AT: usize = 12;
    let tagged = offsets.outer.l2.is_some_and(|l2| l2.vlan_count() > 0);
    match vlan {
        // act_vlan: popping or modifying an untagged frame changes nothing.
        VlanAction::Pop | VlanAction::Modify { .. } if !tagged => Ok(false),
        VlanAction::Pop => {
            umem.data_mut(frame).copy_within(0..TPID_AT, TAG_LEN);
            if !umem.adjust_head(frame, -(TAG_LEN as isize)) {
                return Err(DropReason::NotApplicable);
            }
            Ok(true)
        }
        VlanAction::Push { tpid, vid, prio } => {
            if !umem.adjust_head(frame, TAG_LEN as isize) {
                return Err(DropReason::NoRoom);
            }
            let data = umem.data_mut(frame);
            data.copy_within(TAG_LEN..TAG_LEN + TPID_AT, 0);
            // What followed the MACs (an ethertype or the old outer TPID) now follows the tag.
            let ethertype = u16::from_be_bytes([data[TPID_AT + TAG_LEN], data[TPID_AT + TAG_LEN + 1]]);
            data[TPID_AT..TPID_AT + 2].copy_from_slice(&tpid.to_be_bytes());
            let repr = VlanRepr { pcp: prio, dei: false, vid, ethertype };
            repr.emit(&mut data[TPID_AT + 2..]).map_err(|_| DropReason::NoRoom)?;
            Ok(true)
        }
        VlanAction::Modify { tpid, vid, prio } => {
            let data = umem.data_mut(frame);
            // The walk found the tag, so its 4 bytes are there.
            let old = VlanHeader::new_checked(&data[TPID_AT + 2..]).map(|tag| VlanRepr::parse(&tag));
            let old = old.map_err(|_| DropReason::NotApplicable)?;
            let repr = VlanRepr { vid, pcp: prio.unwrap_or(old.pcp), ..old };
            data[TPID_AT..TPID_AT + 2].copy_from_slice(&tpid.to_be_bytes());
            repr.emit(&mut data[TPID_AT + 2..]).map_err(|_| DropReason::NotApplicable)?;
            Ok(false)
        }
    }
}

/// A label stack entry (RFC 3032 §2.1): label 20 bits, TC 3, S 1, TTL 8.
const MPLS_LEN: usize = 4;

/// A label stack entry's 32 bits from its fields.
fn mpls_entry(label: u32, tc: u8, bos: u8, ttl: u8) -> u32 {
    label << 12 | u32::from(tc) << 9 | u32::from(bos) << 8 | u32::from(ttl)
}

/// `mpls pop|push|modify|dec_ttl` on the top entry, which follows the Ethernet header and
/// the tags the walk found (act_mpls works at the MAC header's end). Returns whether the
/// layout changed.
fn mpls_frame(mpls: MplsAction, umem: &Umem, frame: &mut Frame, offsets: &Offsets) -> Result<bool, DropReason> {
    let Some(l2) = offsets.outer.l2 else { return Err(DropReason::NotApplicable) };
    let (at, ethertype_at) = (l2.offset + l2.len, l2.ethertype_offset());
    let data = umem.data_mut(frame);
    let ethertype = u16::from_be_bytes([data[ethertype_at], data[ethertype_at + 1]]);
    let is_mpls = matches!(ethertype, ethertype::MPLS_UNICAST | ethertype::MPLS_MULTICAST);
    let top = data.get(at..at + MPLS_LEN).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
    match mpls {
        MplsAction::Push { proto, label, tc, ttl, bos } => {
            // act_mpls: the S bit set unless the frame was MPLS already (or `bos` says).
            let entry = mpls_entry(label, tc, bos.unwrap_or(u8::from(!is_mpls)), ttl);
            if !umem.adjust_head(frame, MPLS_LEN as isize) {
                return Err(DropReason::NoRoom);
            }
            let data = umem.data_mut(frame);
            data.copy_within(MPLS_LEN..MPLS_LEN + at, 0);
            data[ethertype_at..ethertype_at + 2].copy_from_slice(&proto.to_be_bytes());
            data[at..at + MPLS_LEN].copy_from_slice(&entry.to_be_bytes());
            Ok(true)
        }
        // skb_mpls_pop: a frame that is not MPLS is left as it is.
        MplsAction::Pop { .. } if !is_mpls => Ok(false),
        // The others (and a pop with no whole entry) fail in act_mpls, which drops the frame.
        _ if !is_mpls => Err(DropReason::NotApplicable),
        _ if top.is_none() => Err(DropReason::NotApplicable),
        MplsAction::Pop { proto } => {
            // Written whether or not the entry was the bottom of the stack, as act_mpls does.
            data[ethertype_at..ethertype_at + 2].copy_from_slice(&proto.to_be_bytes());
            data.copy_within(0..at, MPLS_LEN);
            if !umem.adjust_head(frame, -(MPLS_LEN as isize)) {
                return Err(DropReason::NotApplicable);
            }
            Ok(true)
        }
        MplsAction::Modify { label, tc, ttl, bos } => {
            let old = top.unwrap_or_default();
            let field = |value: Option<u32>, shift: u32, mask: u32| match value {
                Some(v) => v << shift,
                None => old & mask << shift,
            };
            let entry = field(label, 12, 0xf_ffff)
                | field(tc.map(u32::from), 9, 0b111)
                | field(bos.map(u32::from), 8, 1)
                | field(ttl.map(u32::from), 0, 0xff);
            data[at..at + MPLS_LEN].copy_from_slice(&entry.to_be_bytes());
            // A new S bit changes how much of the stack the walk reads.
            Ok((entry ^ old) & 1 << 8 != 0)
        }
        MplsAction::DecTtl => {
            // skb_mpls_dec_ttl drops at 0 after the decrement; a TTL of 0, which it would
            // wrap to 255, is dropped too (RFC 3032 §2.4.1: never forwarded).
            if data[at + 3] <= 1 {
                return Err(DropReason::MplsTtlExpired);
            }
            data[at + 3] -= 1;
            Ok(false)
        }
    }
}

fn decap(umem: &Umem, frame: &mut Frame, offsets: &Offsets) -> Result<(), DropReason> {
    let (Some(tunnel), Some(inner)) = (offsets.tunnel, offsets.inner.as_ref()) else {
        return Err(DropReason::NotApplicable);
    };
    // A PPPoE session ends where its length says (RFC 2516 §5), not at its IP end.
    let inner_end = match (inner.pppoe, inner.l3) {
        (Some(pppoe), _) => pppoe.end,
        (_, Some(l3)) => l3.end,
        _ => tunnel.end,
    };
    if let Some(l2) = inner.l2 {
        // The tunnel carries an Ethernet frame: it is the new frame.
        frame.set_len(inner_end.min(frame.len()));
        if !umem.adjust_head(frame, -(l2.offset as isize)) {
            return Err(DropReason::NotApplicable);
        }
        return Ok(());
    }
    let Some(l3) = inner.l3 else { return Err(DropReason::NotApplicable) };
    // An IP packet: keep the outer MAC addresses, retype, and drop everything between.
    let data = umem.data_mut(frame);
    let ether = if l3.kind == L3Kind::Ipv4 { ethertype::IPV4 } else { ethertype::IPV6 };
    let header_start = l3.offset - 14;
    data.copy_within(0..12, header_start);
    data[header_start + 12..header_start + 14].copy_from_slice(&ether.to_be_bytes());
    frame.set_len(inner_end.min(frame.len()));
    if !umem.adjust_head(frame, -(header_start as isize)) {
        return Err(DropReason::NotApplicable);
    }
    Ok(())
}

/// RFC 7348 §5 / RFC 8926 §3.3: the outer UDP source port comes from a hash of the inner
/// flow, in the dynamic range, so the underlay's ECMP spreads tunnels the way it would
/// spread their flows.
fn entropy_port(data: &[u8], offsets: &Offsets) -> u16 {
    let mut hash: u32 = 0x811c_9dc5;
    let mut mix = |bytes: &[u8]| {
        for &b in bytes {
            hash = (hash ^ u32::from(b)).wrapping_mul(0x0100_0193);
        }
    };
    if let Some(l3) = offsets.outer.l3 {
        let len = l3.addr_len();
        mix(data.get(l3.src_offset()..l3.src_offset() + 2 * len).unwrap_or(&[]));
        mix(&[l3.protocol]);
    }
    if let Some(l4) = offsets.outer.l4 {
        mix(data.get(l4.offset..l4.offset + 4).unwrap_or(&[]));
    }
    49152 | (hash as u16 & 0x3fff)
}

fn encap_frame(
    encap: &Encap,
    umem: &Umem,
    frame: &mut Frame,
    offsets: &mut Offsets,
    walk: &WalkConfig,
    policy: &ZeroPolicy,
    mtu: usize,
) -> Result<(), DropReason> {
    // Ethernet padding of the inner frame is not part of it: carry only up to its IP end.
    // A PPPoE session's payload ends where its length says (RFC 2516 §5), at or past the IP end.
    let inner_end = offsets.outer.pppoe.map(|p| p.end).or(offsets.outer.l3.map(|l3| l3.end));
    let inner_len = inner_end.map_or(frame.len(), |end| end.min(frame.len()));
    let ipv6 = encap.src_ip.is_ipv6();
    let l3_len = encap.l3_len();
    let gre_checksum = encap.csum == EncapCsum::Lco;
    let tunnel_len = encap.tunnel_len();
    // The outer IP packet: its header, the tunnel header, the inner frame. Checked before
    // anything is changed, so a dropped frame is the frame that arrived.
    if l3_len + tunnel_len + inner_len > mtu {
        return Err(DropReason::MtuExceeded);
    }
    let source_port = entropy_port(umem.data(frame), offsets);
    frame.set_len(inner_len);
    let push = 14 + l3_len + tunnel_len;
    if !umem.adjust_head(frame, push as isize) {
        return Err(DropReason::NoRoom);
    }
    let data = umem.data_mut(frame);
    let ether = if ipv6 { ethertype::IPV6 } else { ethertype::IPV4 };
    let at = EthernetRepr { dst_addr: encap.dst_mac, src_addr: encap.src_mac, ethertype: ether }
        .emit(data)
        .map_err(|_| DropReason::NoRoom)?;
    let protocol = if encap.kind == EncapKind::Gre { ip_protocol::GRE } else { ip_protocol::UDP };
    let l3_payload = tunnel_len + inner_len;
    let emitted = match (encap.src_ip, encap.dst_ip) {
        (IpAddr::V4(src), IpAddr::V4(dst)) => Ipv4Repr {
            src_addr: src,
            dst_addr: dst,
            protocol,
            ttl: encap.ttl,
            tos: encap.tos,
            // RFC 6864 §4.1: the ID of an atomic datagram (DF set, never fragmented) has no meaning.
            ident: 0,
            dont_fragment: true,
            more_fragments: false,
            fragment_offset: 0,
            payload_len: l3_payload,
        }
        .emit(&mut data[at..]),
        (IpAddr::V6(src), IpAddr::V6(dst)) => Ipv6Repr {
            src_addr: src,
            dst_addr: dst,
            next_header: protocol,
            hop_limit: encap.ttl,
            traffic_class: encap.tos,
            flow_label: 0,
            payload_len: l3_payload,
        }
        .emit(&mut data[at..]),
        _ => unreachable!("parse() requires both addresses of one family"),
    };
    let at = at + emitted.map_err(|_| DropReason::NoRoom)?;
    let written = match encap.kind {
        EncapKind::Vxlan | EncapKind::Geneve => {
            let at_tunnel = at
                + UdpRepr { src_port: source_port, dst_port: encap.dst_port, payload_len: tunnel_len - 8 + inner_len }
                    .emit(&mut data[at..])
                    .map_err(|_| DropReason::NoRoom)?;
            let vni = encap.vni.unwrap_or(0);
            if encap.kind == EncapKind::Vxlan {
                VxlanRepr { vni }.emit(&mut data[at_tunnel..])
            } else {
                let options = &[];
                GeneveRepr { oam: false, critical: false, protocol_type: ethertype::TRANSPARENT_ETHERNET, vni, options }
                    .emit(&mut data[at_tunnel..])
            }
        }
        EncapKind::Gre => GreRepr {
            protocol_type: ethertype::TRANSPARENT_ETHERNET,
            checksum_present: gre_checksum,
            key: encap.vni,
            sequence: None,
        }
        .emit(&mut data[at..]),
    };
    written.map_err(|_| DropReason::NoRoom)?;

    // The outer checksums, by LCO from the inner frame as it is.
    walk_into(data, walk, offsets).map_err(|e| DropReason::Malformed(e.kind))?;
    let inner_segment = offsets.inner.as_ref().and_then(|inner| checks::trusted_segment_sum(data, inner));
    let mode = if encap.csum == EncapCsum::Zero { OuterMode::Fix } else { OuterMode::Lco };
    checks::compute_outer(data, offsets, mode, policy, inner_segment);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use testkit::frames::generator_udp;
    use umem::UmemConfig;
    use wire::checks::{verdicts, CsumLayer, Status};
    use wire::walk;

    fn frame_in_umem(bytes: &[u8]) -> (Umem, Frame) {
        let (umem, mut frames) = Umem::create(&UmemConfig { frame_count: 2, ..Default::default() }).unwrap();
        let mut frame = frames.pop().unwrap();
        assert!(umem.write(&mut frame, bytes));
        (umem, frame)
    }

    fn apply(rewrite: &str, bytes: &[u8]) -> Result<Vec<u8>, DropReason> {
        let (umem, mut frame) = frame_in_umem(bytes);
        let config = WalkConfig::default();
        let mut offsets = walk(umem.data(&frame), &config).unwrap();
        let rewrite: Rewrite = rewrite.parse().unwrap();
        rewrite.apply(&umem, &mut frame, &mut offsets, &config, &ZeroPolicy::default(), 9000)?;
        Ok(umem.data(&frame).to_vec())
    }

    #[test]
    fn encap_past_the_mtu_is_dropped_and_the_frame_left_alone() {
        for (spec, overhead) in [
            ("encap:vxlan,src=198.18.0.1,dst=198.18.0.2", 50),
            ("encap:geneve,src=2001:db8::1,dst=2001:db8::2", 70),
            ("encap:gre,src=198.18.0.1,dst=198.18.0.2,key=5", 46),
            ("encap:gre,src=198.18.0.1,dst=198.18.0.2,csum=zero", 38),
        ] {
            let rewrite: Rewrite = spec.parse().unwrap();
            assert_eq!(rewrite.overhead(), overhead, "{spec}");
            // A frame whose encapsulated IP packet is exactly the MTU fits; one byte more does not.
            let fits = generator_udp(1514 - overhead);
            let (umem, mut frame) = frame_in_umem(&fits);
            let config = WalkConfig::default();
            let mut offsets = walk(umem.data(&frame), &config).unwrap();
            let zero = ZeroPolicy::default();
            assert_eq!(rewrite.apply(&umem, &mut frame, &mut offsets, &config, &zero, 1500), Ok(true), "{spec}");
            assert_eq!(frame.len(), 1514, "{spec}");
            let over = generator_udp(1514 - overhead + 1);
            let (umem, mut frame) = frame_in_umem(&over);
            let mut offsets = walk(umem.data(&frame), &config).unwrap();
            let result = rewrite.apply(&umem, &mut frame, &mut offsets, &config, &zero, 1500);
            assert_eq!(result, Err(DropReason::MtuExceeded), "{spec}");
            assert_eq!(umem.data(&frame), &over[..], "{spec}: a dropped frame is changed");
        }
        // Ethernet padding is not carried, so it does not count against the MTU.
        let mut padded = generator_udp(1464);
        padded.extend_from_slice(&[0; 20]);
        let (umem, mut frame) = frame_in_umem(&padded);
        let config = WalkConfig::default();
        let mut offsets = walk(umem.data(&frame), &config).unwrap();
        let vxlan: Rewrite = "encap:vxlan,src=198.18.0.1,dst=198.18.0.2".parse().unwrap();
        assert_eq!(vxlan.apply(&umem, &mut frame, &mut offsets, &config, &ZeroPolicy::default(), 1500), Ok(true));
    }

    fn all_good(bytes: &[u8]) -> Vec<(&'static str, &'static str)> {
        let offsets = walk(bytes, &WalkConfig::default()).unwrap();
        let v = verdicts(bytes, &offsets);
        CsumLayer::ALL.iter().map(|l| (l.name(), v.get(*l).name())).collect()
    }

    #[test]
    fn ttl_dec_updates_the_header_checksum_incrementally() {
        let original = generator_udp(60);
        let out = apply("ttl-dec", &original).unwrap();
        assert_eq!(out[22], 63);
        let offsets = walk(&out, &WalkConfig::default()).unwrap();
        assert_eq!(verdicts(&out, &offsets).get(CsumLayer::OuterL3), Status::Good);
        let mut frame = original.clone();
        frame[22] = 1;
        wire::Ipv4Packet::new_checked(&mut frame[14..]).unwrap().fill_checksum();
        assert_eq!(apply("ttl-dec", &frame), Err(DropReason::TtlExpired));
    }

    #[test]
    fn vxlan_encap_then_decap_gives_back_the_frame() {
        let original = generator_udp(111);
        let encapped = apply("encap:vxlan,src=198.18.0.1,dst=198.18.0.2,vni=42", &original).unwrap();
        assert_eq!(encapped.len(), original.len() + 50);
        let offsets = walk(&encapped, &WalkConfig::default()).unwrap();
        let layers: Vec<&str> = offsets.layers.names().collect();
        assert_eq!(layers, ["eth", "ipv4", "udp", "vxlan", "eth", "ipv4", "udp"]);
        assert_eq!(offsets.tunnel.unwrap().vni, Some(42));
        assert!(all_good(&encapped).iter().all(|(_, s)| *s == "good" || *s == "absent"), "{:?}", all_good(&encapped));
        assert_eq!(apply("decap", &encapped).unwrap(), original);
    }

    /// A PPPoE session carrying `ip`, with `extra` payload bytes after it inside the session
    /// (RFC 2516 §5's length counts them) and Ethernet padding after the session.
    fn pppoe_frame(ip: &[u8], extra: usize, padding: usize) -> Vec<u8> {
        let length = (2 + ip.len() + extra) as u16;
        let header = [&[0x11, 0, 0, 5][..], &length.to_be_bytes(), &[0x00, 0x21]].concat();
        let body = [&header[..], ip, &vec![0xee; extra], &vec![0; padding]].concat();
        testkit::frames::ethernet(ethertype::PPPOE_SESSION, &body)
    }

    #[test]
    fn pppoe_frames_are_rewritten_whole_or_not_at_all() {
        let ip = testkit::frames::ipv4(17, &testkit::frames::udp(1, 2, b"abc"));
        // ttl-dec: the session's IP packet, its header checksum right.
        let out = apply("ttl-dec", &pppoe_frame(&ip, 0, 0)).unwrap();
        assert_eq!(out[22 + 8], 63);
        assert!(all_good(&out).iter().all(|(_, s)| *s != "bad"), "{:?}", all_good(&out));
        // encap carries the whole session (its length's worth), not the padding after it;
        // decap gives it back.
        let frame = pppoe_frame(&ip, 3, 10);
        let encapped = apply("encap:vxlan,src=198.18.0.1,dst=198.18.0.2,vni=42", &frame).unwrap();
        assert_eq!(encapped.len(), frame.len() - 10 + 50);
        let offsets = walk(&encapped, &WalkConfig::default()).unwrap();
        let layers: Vec<&str> = offsets.layers.names().collect();
        assert_eq!(layers, ["eth", "ipv4", "udp", "vxlan", "eth", "pppoe", "ipv4", "udp"]);
        assert!(all_good(&encapped).iter().all(|(_, s)| *s != "bad"), "{:?}", all_good(&encapped));
        assert_eq!(apply("decap", &encapped).unwrap(), frame[..frame.len() - 10]);
    }

    #[test]
    fn every_tunnel_kind_gets_correct_outer_checksums() {
        let original = generator_udp(200);
        for spec in [
            "encap:vxlan,src=198.18.0.1,dst=198.18.0.2",
            "encap:vxlan,src=2001:db8::1,dst=2001:db8::2,vni=7",
            "encap:geneve,src=198.18.0.1,dst=198.18.0.2,vni=9",
            "encap:geneve,src=2001:db8::1,dst=2001:db8::2",
            "encap:gre,src=198.18.0.1,dst=198.18.0.2,key=5",
            "encap:gre,src=2001:db8::1,dst=2001:db8::2",
        ] {
            let out = apply(spec, &original).unwrap();
            let statuses = all_good(&out);
            assert!(statuses.iter().all(|(_, s)| *s == "good" || *s == "absent"), "{spec}: {statuses:?}");
            let offsets = walk(&out, &WalkConfig::default()).unwrap();
            assert!(offsets.tunnel.is_some(), "{spec}");
            assert_eq!(apply("decap", &out).unwrap(), original, "{spec}");
        }
    }

    #[test]
    fn csum_zero_leaves_the_outer_udp_checksum_out() {
        let original = generator_udp(60);
        let out = apply("encap:vxlan,src=198.18.0.1,dst=198.18.0.2,csum=zero", &original).unwrap();
        assert_eq!(&out[40..42], &[0, 0]);
        let offsets = walk(&out, &WalkConfig::default()).unwrap();
        assert_eq!(verdicts(&out, &offsets).get(CsumLayer::OuterL4), Status::Zero);
        let gre = apply("encap:gre,src=198.18.0.1,dst=198.18.0.2,csum=zero", &original).unwrap();
        let offsets = walk(&gre, &WalkConfig::default()).unwrap();
        assert!(offsets.tunnel.unwrap().gre_checksum_offset.is_none());
    }

    #[test]
    fn mpls_push_pop_modify_dec_ttl_as_act_mpls_does() {
        let config = WalkConfig::default();
        let apply = |umem: &Umem, frame: &mut Frame, action: MplsAction| {
            let mut offsets = walk(umem.data(frame), &config).unwrap();
            let result = Rewrite::Mpls(action).apply(umem, frame, &mut offsets, &config, &ZeroPolicy::default(), 1500);
            (result, umem.data(frame).to_vec())
        };
        // RFC 3032 §2.1: label 20 bits, TC 3, S 1, TTL 8, big-endian.
        let entry = |label: u32, tc: u32, s: u32, ttl: u32| (label << 12 | tc << 9 | s << 8 | ttl).to_be_bytes();
        let plain = generator_udp(60);
        let mpls_uc = [0x88, 0x47];
        let (umem, mut frame) = frame_in_umem(&plain);
        let push = |label, tc, ttl, bos| MplsAction::Push { proto: 0x8847, label, tc, ttl, bos };
        let modify = |label, tc, ttl, bos| MplsAction::Modify { label, tc, ttl, bos };
        // Not MPLS: pop leaves it; modify and dec_ttl drop it (act_mpls: TC_ACT_SHOT).
        assert_eq!(apply(&umem, &mut frame, MplsAction::Pop { proto: 0x0800 }), (Ok(false), plain.clone()));
        let not_mpls = Err(DropReason::NotApplicable);
        assert_eq!(apply(&umem, &mut frame, modify(Some(1), None, None, None)), (not_mpls, plain.clone()));
        assert_eq!(apply(&umem, &mut frame, MplsAction::DecTtl), (not_mpls, plain.clone()));
        // Push on IP: the S bit set, TTL 255 (act_mpls's default), after the MACs; the IP
        // packet (and its checksums) as it was.
        let one = [&plain[..12], &mpls_uc, &entry(123, 0, 1, 255), &plain[14..]].concat();
        assert_eq!(apply(&umem, &mut frame, push(123, 0, 255, None)), (Ok(true), one.clone()));
        // On MPLS: S clear, in front of the old top.
        let two = [&plain[..12], &mpls_uc, &entry(7, 5, 0, 64), &one[14..]].concat();
        assert_eq!(apply(&umem, &mut frame, push(7, 5, 64, None)), (Ok(true), two.clone()));
        // Modify: only the fields given; a new S bit changes what the walk reads.
        let top = |e: [u8; 4]| [&plain[..12], &mpls_uc, &e, &one[14..]].concat();
        assert_eq!(apply(&umem, &mut frame, modify(Some(8), None, Some(9), None)), (Ok(false), top(entry(8, 5, 0, 9))));
        assert_eq!(apply(&umem, &mut frame, modify(None, Some(2), None, Some(1))), (Ok(true), top(entry(8, 2, 1, 9))));
        assert_eq!(apply(&umem, &mut frame, modify(None, None, None, Some(0))), (Ok(true), top(entry(8, 2, 0, 9))));
        assert_eq!(apply(&umem, &mut frame, MplsAction::DecTtl), (Ok(false), top(entry(8, 2, 0, 8))));
        // Pop writes its protocol whatever the S bit (an inner pop says mpls_uc), then back to IP.
        assert_eq!(apply(&umem, &mut frame, MplsAction::Pop { proto: 0x8847 }), (Ok(true), one.clone()));
        assert_eq!(apply(&umem, &mut frame, MplsAction::Pop { proto: 0x0800 }), (Ok(true), plain.clone()));
        assert_eq!(all_good(umem.data(&frame)), all_good(&plain), "no checksum covers the stack");
        // dec_ttl at 1 (and at 0, which act_mpls would wrap) drops, the frame untouched.
        for ttl in [1, 0] {
            let low = [&plain[..12], &mpls_uc, &entry(5, 0, 1, ttl), &plain[14..]].concat();
            let (umem, mut frame) = frame_in_umem(&low);
            assert_eq!(apply(&umem, &mut frame, MplsAction::DecTtl), (Err(DropReason::MplsTtlExpired), low));
        }
        // MPLS without a whole entry: pop cannot (act_mpls drops).
        let short = [&plain[..12], &mpls_uc[..], &[0, 0]].concat();
        let (umem, mut frame) = frame_in_umem(&short);
        assert_eq!(apply(&umem, &mut frame, MplsAction::Pop { proto: 0x0800 }), (not_mpls, short));
        // Tagged: the entry goes after the tag (the MAC header's end), whose ethertype says MPLS.
        let tagged = [&plain[..12], &[0x81, 0x00, 0x00, 100], &plain[12..]].concat();
        let (umem, mut frame) = frame_in_umem(&tagged);
        let pushed = [&tagged[..16], &mpls_uc, &entry(1000, 0, 1, 64), &plain[14..]].concat();
        assert_eq!(apply(&umem, &mut frame, push(1000, 0, 64, None)), (Ok(true), pushed));
        assert_eq!(apply(&umem, &mut frame, MplsAction::Pop { proto: 0x0800 }), (Ok(true), tagged.clone()));
        assert_eq!(all_good(umem.data(&frame)), all_good(&tagged));
        assert_eq!(Rewrite::Mpls(push(1, 0, 1, None)).overhead(), 4);
    }

    #[test]
    fn vlan_push_modify_pop_as_act_vlan_does() {
        let plain = generator_udp(60);
        let (umem, mut frame) = frame_in_umem(&plain);
        let config = WalkConfig::default();
        let mut vlan = |action: VlanAction| {
            let mut offsets = walk(umem.data(&frame), &config).unwrap();
            let changed =
                Rewrite::Vlan(action).apply(&umem, &mut frame, &mut offsets, &config, &ZeroPolicy::default(), 1500);
            let after = walk(umem.data(&frame), &config).unwrap();
            assert_eq!(all_good(umem.data(&frame)), all_good(&plain), "{action}: no checksum covers a tag");
            (changed, after.outer.l2.unwrap().vlans.map(|t| t.map(|t| (t.tpid, t.id, t.pcp))))
        };
        // Pop and modify of an untagged frame change nothing.
        assert_eq!(vlan(VlanAction::Pop), (Ok(false), [None, None]));
        assert_eq!(vlan(VlanAction::Modify { tpid: 0x8100, vid: 5, prio: None }), (Ok(false), [None, None]));
        // Each push goes in front: the newest tag is the outermost.
        assert_eq!(
            vlan(VlanAction::Push { tpid: 0x8100, vid: 100, prio: 3 }),
            (Ok(true), [Some((0x8100, 100, 3)), None])
        );
        assert_eq!(
            vlan(VlanAction::Push { tpid: 0x88a8, vid: 1000, prio: 0 }),
            (Ok(true), [Some((0x88a8, 1000, 0)), Some((0x8100, 100, 3))])
        );
        // Modify: the outer VID, the PCP only when given, the TPID always (802.1Q unless told).
        assert_eq!(
            vlan(VlanAction::Modify { tpid: 0x8100, vid: 7, prio: None }),
            (Ok(false), [Some((0x8100, 7, 0)), Some((0x8100, 100, 3))])
        );
        assert_eq!(
            vlan(VlanAction::Modify { tpid: 0x88a8, vid: 8, prio: Some(6) }),
            (Ok(false), [Some((0x88a8, 8, 6)), Some((0x8100, 100, 3))])
        );
        // Two pops give the frame back.
        assert_eq!(vlan(VlanAction::Pop), (Ok(true), [Some((0x8100, 100, 3)), None]));
        assert_eq!(vlan(VlanAction::Pop), (Ok(true), [None, None]));
        assert_eq!(umem.data(&frame), plain.as_slice());
    }

    #[test]
    fn decap_of_a_plain_frame_is_not_applicable() {
        assert_eq!(apply("decap", &generator_udp(60)), Err(DropReason::NotApplicable));
    }

    #[test]
    fn bad_specs_say_what_is_wrong() {
        for (spec, expected) in [
            ("encap", "expected ttl-dec"),
            ("encap:ipip,src=1.1.1.1,dst=2.2.2.2", "unknown tunnel"),
            ("encap:vxlan", "give the outer addresses"),
            ("encap:vxlan,src=1.1.1.1,dst=2001:db8::1", "must both be IPv4 or both IPv6"),
            ("encap:vxlan,src=2001:db8::1,dst=2001:db8::2,csum=zero", "not allowed over IPv6"),
            ("encap:vxlan,src=1.1.1.1,dst=2.2.2.2,vni=16777216", "vni=16777216"),
            ("encap:vxlan,src=1.1.1.1,dst=2.2.2.2,color=red", "unknown key"),
        ] {
            let err = spec.parse::<Rewrite>().unwrap_err().to_string();
            assert!(err.contains(expected), "{spec}: {err}");
        }
        let bad_mac = "encap:vxlan,src=1.1.1.1,dst=2.2.2.2,smac=02:00".parse::<Rewrite>().unwrap_err();
        assert!(matches!(&bad_mac, RewriteError::BadMac(e) if e.text == "02:00"), "{bad_mac:?}");
        assert!(std::error::Error::source(&bad_mac).is_some(), "the MAC error is its source");
        let bad_ip = "encap:vxlan,src=1.1.1,dst=2.2.2.2".parse::<Rewrite>().unwrap_err();
        assert!(matches!(&bad_ip, RewriteError::BadAddress { key: "src", .. }), "{bad_ip:?}");
    }
}
