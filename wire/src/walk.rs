//! The layer walker: one pass over a frame, filling [`Offsets`] (DPDK's `rte_net_hdr_lens`
//! and mbuf offsets, for outer and inner headers).
//!
//! Rules, each next to the code that applies it:
//! - Every region is bounded by the header that contains it: the IP total length (IPv4) or
//!   payload length (IPv6), then the UDP length, so Ethernet padding never joins a layer.
//! - Walking stops at the innermost L4 header; payloads are not walked.
//! - Tunnels are recognised one level deep: inside a tunnel, a UDP packet to the VXLAN port,
//!   GRE or IP-in-IP is just an L4 payload (a second tunnel level would need a second set of
//!   offsets, and no checksum offload or classifier here looks that deep).
//! - Fragments: a later fragment has no L4 header; a first fragment has one, marked
//!   incomplete, and its payload (a tunnel, say) is not decoded.
//! - PPPoE sessions (RFC 2516 §5) are stepped over into the IP or MPLS they carry, inside
//!   the PPPoE length, where the kernel's flow dissector goes on (version 1, type 1, code 0,
//!   a valid PPP protocol); any other PPPoE frame is L2 only, as an unknown ethertype.
//!
//! [`walk_into`] first tries a shortcut for the frames nearly all traffic is (untagged
//! Ethernet, IPv4 without options or fragmentation, TCP or UDP, or VXLAN carrying the same):
//! straight-line code with one bounds check per header set, about a third of the general
//! walk's instructions. Anything else, malformed frames included, takes the general walk,
//! which [`walk_into_general`] exposes so the tests and fuzz properties can hold the two to
//! the same result.

use crate::error::{ErrorKind, WalkError, WireError};
use crate::ethernet::EthernetFrame;
use crate::geneve::GenevePacket;
use crate::gre::GrePacket;
use crate::icmp::IcmpPacket;
use crate::icmpv6::Icmpv6Packet;
use crate::ipv4::Ipv4Packet;
use crate::ipv6::Ipv6Packet;
use crate::ipv6_ext::{walk_ext_headers, Ipv6ExtHeader};
use crate::layer::{Fragment, Layer};
use crate::tcp::TcpPacket;
use crate::udp::UdpPacket;
use crate::vlan::VlanHeader;
use crate::vxlan::VxlanHeader;
use crate::{ethernet, ethertype, ip_protocol, ipv4, ipv6, udp, udp_port, vlan, vxlan};

/// Ports a [`PortSet`] holds.
pub const MAX_PORTS: usize = 8;
/// VLAN tags the walker accepts in one Ethernet header (802.1ad QinQ: service + customer).
pub const MAX_VLANS: usize = 2;
/// Longest layer list: eth vlan vlan pppoe ipv6 udp geneve eth vlan vlan pppoe ipv6 tcp is 13.
pub const MAX_LAYERS: usize = 13;

/// A small set of UDP ports, searched linearly (8 compares beat any hashing here).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortSet {
    ports: [u16; MAX_PORTS],
    len: u8,
}

impl PortSet {
    /// The set with no port.
    pub const fn empty() -> PortSet {
        PortSet { ports: [0; MAX_PORTS], len: 0 }
    }

    /// The set of `port` alone.
    pub const fn single(port: u16) -> PortSet {
        let mut ports = [0; MAX_PORTS];
        ports[0] = port;
        PortSet { ports, len: 1 }
    }

    /// `None` when there are more than [`MAX_PORTS`] distinct ports.
    pub fn from_ports(ports: &[u16]) -> Option<PortSet> {
        let mut set = PortSet::empty();
        ports.iter().all(|&port| set.insert(port)).then_some(set)
    }

    /// Adds `port`; false when the set is full (a port already there is fine).
    pub fn insert(&mut self, port: u16) -> bool {
        if self.contains(port) {
            return true;
        }
        match self.ports.get_mut(usize::from(self.len)) {
            Some(slot) => {
                *slot = port;
                self.len += 1;
                true
            }
            None => false,
        }
    }

    /// Whether `port` is in the set.
    #[inline]
    pub fn contains(&self, port: u16) -> bool {
        self.as_slice().contains(&port)
    }

    /// The ports, in the order added.
    #[inline]
    pub fn as_slice(&self) -> &[u16] {
        self.ports.get(..usize::from(self.len)).unwrap_or(&[])
    }

    /// How many ports.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// Whether the set has no port.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// What the walker decodes. A UDP destination port in `vxlan_ports` means VXLAN, else in
/// `geneve_ports` Geneve (VXLAN wins if a port is in both).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WalkConfig {
    /// Default 4789 (RFC 7348 §5).
    pub vxlan_ports: PortSet,
    /// Default 6081 (RFC 8926 §3.3).
    pub geneve_ports: PortSet,
    /// Decode GRE (IP protocol 47). Default true.
    pub gre: bool,
    /// Decode IP-in-IP (IP protocol 4 and 41) and Ethernet over IP (143, SRv6 L2 payloads).
    /// Default true.
    pub ip_in_ip: bool,
    /// Read an IPv4 total length of 0 as "to the end of the frame" and say so in
    /// [`Offsets::ipv4_len_from_frame`], as tshark does for captures of TSO / BIG TCP senders
    /// (the NIC writes the lengths later). For `inspect` only: on the data path (default
    /// false) such a header is malformed (RFC 791 §3.1).
    pub ipv4_zero_len_is_frame: bool,
}

impl Default for WalkConfig {
    fn default() -> Self {
        WalkConfig {
            vxlan_ports: PortSet::single(udp_port::VXLAN),
            geneve_ports: PortSet::single(udp_port::GENEVE),
            gre: true,
            ip_in_ip: true,
            ipv4_zero_len_is_frame: false,
        }
    }
}

/// The layers of a frame in order, e.g. `eth ipv4 udp vxlan eth ipv4 tcp`. Extension headers
/// and unknown L4 protocols are not layers.
#[derive(Clone, Copy)]
pub struct LayerList {
    layers: [Layer; MAX_LAYERS],
    len: u8,
}

impl LayerList {
    /// The empty list.
    pub const fn new() -> LayerList {
        LayerList { layers: [Layer::Eth; MAX_LAYERS], len: 0 }
    }

    #[inline]
    fn clear(&mut self) {
        self.len = 0;
    }

    /// Replaces the list with `layers` (at most [`MAX_LAYERS`]; more are left out).
    #[inline]
    fn set(&mut self, layers: &[Layer]) {
        let len = layers.len().min(MAX_LAYERS);
        if let (Some(slots), Some(layers)) = (self.layers.get_mut(..len), layers.get(..len)) {
            slots.copy_from_slice(layers);
        }
        self.len = len as u8;
    }

    /// Appends `layer`. [`MAX_LAYERS`] covers the longest frame the walker accepts, so the
    /// list cannot overflow; if it ever did, the extra layer would be left out, not panic.
    #[inline]
    fn push(&mut self, layer: Layer) {
        if let Some(slot) = self.layers.get_mut(usize::from(self.len)) {
            *slot = layer;
            self.len += 1;
        }
        debug_assert!(usize::from(self.len) <= MAX_LAYERS);
    }

    /// The layers, outermost first.
    #[inline]
    pub fn as_slice(&self) -> &[Layer] {
        self.layers.get(..usize::from(self.len)).unwrap_or(&[])
    }

    /// How many layers.
    #[inline]
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// Whether the list has no layer.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The layers, outermost first.
    pub fn iter(&self) -> core::iter::Copied<core::slice::Iter<'_, Layer>> {
        self.as_slice().iter().copied()
    }

    /// The names, as in `inspect --json`'s `"layers"`.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.iter().map(Layer::name)
    }
}

impl Default for LayerList {
    fn default() -> Self {
        LayerList::new()
    }
}

/// Equal when the listed layers are: the slots after the length hold whatever an earlier walk
/// left there.
impl PartialEq for LayerList {
    fn eq(&self, other: &LayerList) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for LayerList {}

impl core::fmt::Debug for LayerList {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

/// One 802.1Q / 802.1ad tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct VlanTag {
    /// 0x8100, 0x88a8 or 0x9100.
    pub tpid: u16,
    /// 12-bit VLAN ID.
    pub id: u16,
    /// The priority code point (3 bits).
    pub pcp: u8,
    /// The drop eligible indicator.
    pub dei: bool,
}

/// The Ethernet header and its VLAN tags.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct L2Info {
    /// Where the Ethernet header starts in the frame.
    pub offset: usize,
    /// 14 plus 4 per VLAN tag.
    pub len: usize,
    /// Outermost first.
    pub vlans: [Option<VlanTag>; MAX_VLANS],
}

impl L2Info {
    /// How many VLAN tags the header has.
    pub fn vlan_count(&self) -> usize {
        self.vlans.iter().flatten().count()
    }

    /// Offset of the EtherType that announces L3 (after the last tag).
    pub fn ethertype_offset(&self) -> usize {
        self.offset + self.len - 2
    }
}

/// Which IP version an L3 header is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum L3Kind {
    /// IPv4 (RFC 791).
    Ipv4,
    /// IPv6 (RFC 8200).
    Ipv6,
}

/// The IP header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct L3Info {
    /// IPv4 or IPv6.
    pub kind: L3Kind,
    /// Where the IP header starts in the frame.
    pub offset: usize,
    /// IPv4: IHL × 4. IPv6: 40 plus the extension headers up to the upper layer.
    pub header_len: usize,
    /// `offset` + total length (IPv4) or + 40 + payload length (IPv6): never the frame end,
    /// so Ethernet padding is outside.
    pub end: usize,
    /// The where the packet sits in its datagram.
    pub fragment: Fragment,
    /// The upper-layer protocol, after any IPv6 extension headers.
    pub protocol: u8,
    /// Offset of the address the L4 pseudo-header uses as destination: the IPv4 destination,
    /// the IPv6 destination, or with an IPv6 routing header in transit the final destination
    /// inside it (RFC 8200 §8.1).
    pub dst_offset: usize,
}

impl L3Info {
    /// 4 or 16.
    #[inline]
    pub const fn addr_len(&self) -> usize {
        match self.kind {
            L3Kind::Ipv4 => 4,
            L3Kind::Ipv6 => 16,
        }
    }

    /// Offset of the source address.
    #[inline]
    pub const fn src_offset(&self) -> usize {
        match self.kind {
            L3Kind::Ipv4 => self.offset + ipv4::SRC_ADDR_OFFSET,
            L3Kind::Ipv6 => self.offset + ipv6::SRC_ADDR_OFFSET,
        }
    }

    /// Where the upper layer starts.
    #[inline]
    pub const fn payload_offset(&self) -> usize {
        self.offset + self.header_len
    }

    /// Upper-layer bytes (the L4 length of the pseudo-header for an unfragmented packet).
    #[inline]
    pub const fn payload_len(&self) -> usize {
        self.end.saturating_sub(self.payload_offset())
    }
}

/// Which upper-layer protocol an L4 header is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum L4Kind {
    /// UDP (RFC 768).
    Udp,
    /// TCP (RFC 9293).
    Tcp,
    /// ICMP (RFC 792).
    Icmp,
    /// ICMPv6 (RFC 4443).
    Icmpv6,
    /// Not decoded; the IP protocol number.
    Other(u8),
}

/// The L4 header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct L4Info {
    /// Which protocol.
    pub kind: L4Kind,
    /// Where the L4 header starts in the frame.
    pub offset: usize,
    /// To the L3 end (from the IP header, not the UDP length).
    pub len: usize,
    /// False in a first fragment: the L4 payload is not all here, so its checksum cannot be
    /// verified or fixed.
    pub complete: bool,
}

impl L4Info {
    /// Where the L4 segment ends in the frame (`offset + len`).
    #[inline]
    pub const fn end(&self) -> usize {
        self.offset + self.len
    }
}

/// An ARP or RARP header for IPv4 over Ethernet (RFC 826: hardware type 1, protocol type
/// 0x0800, address lengths 6 and 4), all [`ArpInfo::LEN`] bytes of it inside the frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ArpInfo {
    /// Where the ARP header starts in the frame.
    pub offset: usize,
}

impl ArpInfo {
    /// The header's length with 6-byte hardware and 4-byte protocol addresses.
    pub const LEN: usize = 28;

    /// Offset of the 16-bit opcode (1 request, 2 reply; RARP 3 and 4).
    #[inline]
    pub const fn op_offset(&self) -> usize {
        self.offset + 6
    }

    /// Offset of the sender hardware address.
    #[inline]
    pub const fn sha_offset(&self) -> usize {
        self.offset + 8
    }

    /// Offset of the sender protocol (IPv4) address.
    #[inline]
    pub const fn spa_offset(&self) -> usize {
        self.offset + 14
    }

    /// Offset of the target hardware address.
    #[inline]
    pub const fn tha_offset(&self) -> usize {
        self.offset + 18
    }

    /// Offset of the target protocol (IPv4) address.
    #[inline]
    pub const fn tpa_offset(&self) -> usize {
        self.offset + 24
    }
}

/// Label stack entries the walker reads (the kernel's flow dissector keeps as many,
/// FLOW_DIS_MPLS_MAX).
pub const MAX_MPLS_ENTRIES: usize = 7;

/// An MPLS label stack (RFC 3032 §2.1: 4-byte entries, label 20 bits, TC 3, S 1, TTL 8).
/// What follows the bottom of the stack is not walked: RFC 3032 leaves it to the label's
/// meaning (no IP is guessed from the first nibble), so a labelled frame has no L3 here.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MplsInfo {
    /// Where the top entry starts in the frame.
    pub offset: usize,
    /// Entries read: up to and including the bottom of the stack, at most
    /// [`MAX_MPLS_ENTRIES`], at least 1.
    pub entries: u8,
    /// The last entry read has the bottom-of-stack bit.
    pub bottom: bool,
}

/// The common header of a CFM PDU (IEEE 802.1Q §21.4.1: MD level in the top 3 bits of the
/// first byte, version in the low 5, then the opcode): the [`CfmInfo::LEN`] bytes the kernel's
/// flow dissector reads (`flow_dissector_key_cfm`), inside the frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CfmInfo {
    /// Where the CFM header starts in the frame.
    pub offset: usize,
}

impl CfmInfo {
    /// MD level/version and opcode: what flower matches (the flags and first TLV offset
    /// after them are not read).
    pub const LEN: usize = 2;

    /// Offset of the opcode.
    #[inline]
    pub const fn opcode_offset(&self) -> usize {
        self.offset + 1
    }
}

/// PPP protocol numbers the walker goes on into (RFC 1332 IPv4, RFC 5072 IPv6, RFC 3032 §4.3
/// MPLS), and the ethertype each stands for.
pub const PPP_PROTOCOLS: [(u16, u16); 4] = [
    (0x0021, ethertype::IPV4),
    (0x0057, ethertype::IPV6),
    (0x0281, ethertype::MPLS_UNICAST),
    (0x0283, ethertype::MPLS_MULTICAST),
];

/// The ethertype a PPP protocol number stands for, if the walker goes on into it.
#[inline]
pub fn ppp_ethertype(protocol: u16) -> Option<u16> {
    PPP_PROTOCOLS.iter().find(|&&(ppp, _)| ppp == protocol).map(|&(_, ether)| ether)
}

/// A PPPoE session header (RFC 2516 §5: version 1, type 1, code 0, session id, length) and
/// the PPP protocol field after it (RFC 1661 §2; one byte where compressed, §6.5), checked
/// as the kernel's flow dissector checks them; all of it, and the `length` bytes of payload
/// it announces, inside the frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PppoeInfo {
    /// Where the PPPoE header starts in the frame.
    pub offset: usize,
    /// 6 plus the PPP protocol field's 1 or 2 bytes.
    pub header_len: usize,
    /// The end of the PPPoE payload (`offset` + 6 + length): what follows is padding.
    pub end: usize,
    /// The PPP protocol (a compressed one as its 16-bit value, 0x21 for IPv4).
    pub protocol: u16,
}

impl PppoeInfo {
    /// The PPPoE header's own length.
    pub const HEADER_LEN: usize = 6;

    /// Offset of the 16-bit session id.
    #[inline]
    pub const fn session_offset(&self) -> usize {
        self.offset + 2
    }

    /// Where the PPP payload (the IP packet) starts.
    #[inline]
    pub const fn payload_offset(&self) -> usize {
        self.offset + self.header_len
    }
}

/// One set of headers: the outer ones, or those inside a tunnel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Headers {
    /// None inside IP-in-IP and GRE or Geneve carrying IP.
    pub l2: Option<L2Info>,
    /// An Ethernet/IPv4 ARP or RARP header after L2 (any other ARP: None).
    pub arp: Option<ArpInfo>,
    /// An MPLS label stack after L2.
    pub mpls: Option<MplsInfo>,
    /// A CFM header after L2.
    pub cfm: Option<CfmInfo>,
    /// A PPPoE session header after L2: the L3 (or MPLS) after it is the PPP payload's.
    pub pppoe: Option<PppoeInfo>,
    /// None for non-IP EtherTypes.
    pub l3: Option<L3Info>,
    /// None for later fragments, IPv6 "no next header", and when a GRE or IP-in-IP tunnel
    /// follows the outer IP header (see [`Offsets::tunnel`]).
    pub l4: Option<L4Info>,
}

/// Which tunnel a frame is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TunnelKind {
    /// VXLAN over UDP (RFC 7348).
    Vxlan,
    /// Geneve over UDP (RFC 8926).
    Geneve,
    /// GRE (RFC 2784, RFC 2890).
    Gre,
    /// IP inside IP (RFC 2003, RFC 2473).
    IpInIp,
}

/// The tunnel header between outer and inner headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TunnelInfo {
    /// Which tunnel.
    pub kind: TunnelKind,
    /// Start of the tunnel header (for IP-in-IP, of the inner IP header).
    pub offset: usize,
    /// VXLAN 8; Geneve 8 + options; GRE 4..16; IP-in-IP 0.
    pub header_len: usize,
    /// End of the tunnel's payload: the UDP end for VXLAN and Geneve, the outer L3 end otherwise.
    pub end: usize,
    /// EtherType of the payload: 0x6558 Ethernet, 0x0800 IPv4, 0x86dd IPv6, or another
    /// Geneve/GRE protocol type (then there are no inner headers).
    pub protocol: u16,
    /// VXLAN or Geneve VNI.
    pub vni: Option<u32>,
    /// The GRE key (K bit set).
    pub gre_key: Option<u32>,
    /// The GRE sequence number (S bit set).
    pub gre_sequence: Option<u32>,
    /// Offset of the GRE checksum field, when the C bit is set (RFC 2784 §2.5: it covers the
    /// GRE header and payload, from `offset` to `end`).
    pub gre_checksum_offset: Option<usize>,
}

impl TunnelInfo {
    const fn new(kind: TunnelKind, offset: usize, header_len: usize, end: usize, protocol: u16) -> TunnelInfo {
        TunnelInfo {
            kind,
            offset,
            header_len,
            end,
            protocol,
            vni: None,
            gre_key: None,
            gre_sequence: None,
            gre_checksum_offset: None,
        }
    }

    /// Where the inner headers start.
    #[inline]
    pub const fn payload_offset(&self) -> usize {
        self.offset + self.header_len
    }

    /// GRE with the C bit: a checksum to verify.
    #[inline]
    pub const fn has_gre_checksum(&self) -> bool {
        self.gre_checksum_offset.is_some()
    }
}

/// Where every layer of one frame is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Offsets {
    /// Every layer found, outermost first (what `inspect --json` lists).
    pub layers: LayerList,
    /// The only or outermost headers.
    pub outer: Headers,
    /// The tunnel header, if the frame is in a tunnel.
    pub tunnel: Option<TunnelInfo>,
    /// The headers inside the tunnel: None without a tunnel, or when its payload is neither
    /// Ethernet nor IP.
    pub inner: Option<Headers>,
    /// An IPv4 total length of 0 was read as the frame's length
    /// ([`WalkConfig::ipv4_zero_len_is_frame`]).
    pub ipv4_len_from_frame: bool,
}

impl Offsets {
    /// The inner headers if there are any, else the outer ones.
    #[inline]
    pub fn innermost(&self) -> &Headers {
        self.inner.as_ref().unwrap_or(&self.outer)
    }
}

/// What a region of bytes starts with.
#[derive(Clone, Copy)]
enum Start {
    Ethernet,
    Ip(L3Kind),
}

impl Start {
    /// From an EtherType (or GRE / Geneve protocol type).
    #[inline]
    fn from_ethertype(ethertype: u16) -> Option<Start> {
        match ethertype {
            ethertype::TRANSPARENT_ETHERNET => Some(Start::Ethernet),
            ethertype::IPV4 => Some(Start::Ip(L3Kind::Ipv4)),
            ethertype::IPV6 => Some(Start::Ip(L3Kind::Ipv6)),
            _ => None,
        }
    }
}

/// What a captured frame starts with, from its capture's link type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FrameStart {
    /// An Ethernet header (LINKTYPE_ETHERNET).
    Ethernet,
    /// Linux cooked capture v1 (LINKTYPE_LINUX_SLL): 16 bytes, the EtherType in the last two.
    LinuxSll,
    /// Linux cooked capture v2 (LINKTYPE_LINUX_SLL2): 20 bytes, the EtherType in the first two.
    LinuxSll2,
    /// An IP packet, IPv4 or IPv6 by its version nibble (LINKTYPE_RAW).
    RawIp,
    /// An IPv4 packet (LINKTYPE_IPV4).
    Ipv4,
    /// An IPv6 packet (LINKTYPE_IPV6).
    Ipv6,
}

/// Walks `frame` from its Ethernet header to the innermost L4 header. Never panics, never
/// allocates; on error says which layer failed where (see [`WalkError`]). The per-packet path
/// should prefer [`walk_into`], which fills an `Offsets` in place instead of returning ~300
/// bytes by value.
pub fn walk(frame: &[u8], config: &WalkConfig) -> Result<Offsets, WalkError> {
    let mut offsets = Offsets::default();
    walk_into(frame, config, &mut offsets)?;
    Ok(offsets)
}

/// [`walk`], writing into `out` (reset first). On error `out` keeps what was parsed before the
/// failing layer, e.g. for `inspect` to show how far it got.
#[inline]
pub fn walk_into(frame: &[u8], config: &WalkConfig, out: &mut Offsets) -> Result<(), WalkError> {
    if walk_common(frame, config, out) {
        return Ok(());
    }
    walk_into_general(frame, config, out)
}

/// [`walk_into`] without its shortcut for the common frames: every frame takes the general
/// walk. The same result as `walk_into` for every input (the tests and the fuzz properties
/// hold the shortcut to it); public only for them.
#[doc(hidden)]
pub fn walk_into_general(frame: &[u8], config: &WalkConfig, out: &mut Offsets) -> Result<(), WalkError> {
    walk_from_into(frame, FrameStart::Ethernet, config, out)
}

/// The general walk of a frame that starts with `start` (what its capture's link type says):
/// Linux cooked headers are stepped over to the EtherType they carry, raw IP is walked from
/// its IP header. `inspect` uses it for captures of every link type it reads.
pub fn walk_from_into(
    frame: &[u8],
    start: FrameStart,
    config: &WalkConfig,
    out: &mut Offsets,
) -> Result<(), WalkError> {
    let Offsets { layers, outer, tunnel, inner, ipv4_len_from_frame } = out;
    layers.clear();
    *outer = Headers::default();
    *tunnel = None;
    *inner = None;
    *ipv4_len_from_frame = false;
    let mut walker = Walker { frame, config, layers, len_from_frame: ipv4_len_from_frame };
    let (first, offset) = match start {
        FrameStart::Ethernet => (Start::Ethernet, 0),
        FrameStart::LinuxSll | FrameStart::LinuxSll2 => {
            let (layer, header_len, ethertype_at) = match start {
                FrameStart::LinuxSll => (Layer::LinuxSll, 16, 14),
                _ => (Layer::LinuxSll2, 20, 0),
            };
            if frame.len() < header_len {
                return Err(WireError::new(ErrorKind::Truncated, layer, 0, header_len, frame.len()).at(0));
            }
            walker.layers.push(layer);
            match Start::from_ethertype(crate::bytes::read_u16(frame, ethertype_at)) {
                Some(first) => (first, header_len),
                // ARP, an 802.2 frame (protocol below 0x0600), ...: the link header is all.
                None => return Ok(()),
            }
        }
        FrameStart::RawIp => match frame.first().map(|b| b >> 4) {
            Some(6) => (Start::Ip(L3Kind::Ipv6), 0),
            Some(4) => (Start::Ip(L3Kind::Ipv4), 0),
            Some(version) => {
                return Err(WireError::new(ErrorKind::BadVersion, Layer::Ipv4, 0, 4, version.into()).at(0));
            }
            None => {
                return Err(WireError::new(ErrorKind::Truncated, Layer::Ipv4, 0, ipv4::MIN_HEADER_LEN, 0).at(0));
            }
        },
        FrameStart::Ipv4 => (Start::Ip(L3Kind::Ipv4), 0),
        FrameStart::Ipv6 => (Start::Ip(L3Kind::Ipv6), 0),
    };
    let inner_start = walker.headers(first, offset, frame.len(), Some(tunnel), outer)?;
    if let (Some(start), Some(info)) = (inner_start, tunnel.as_ref()) {
        // One level deep: the inner walk is not offered a tunnel slot, so tunnels inside are payload.
        let (offset, end) = (info.payload_offset(), info.end);
        walker.headers(start, offset, end, None, inner.insert(Headers::default()))?;
    }
    Ok(())
}

/// The walk's state. Results are written in place into the caller's [`Offsets`]: returning
/// them through the stack cost more than the parsing (store-forwarding stalls on the copies).
struct Walker<'a> {
    frame: &'a [u8],
    config: &'a WalkConfig,
    layers: &'a mut LayerList,
    /// [`Offsets::ipv4_len_from_frame`].
    len_from_frame: &'a mut bool,
}

impl<'a> Walker<'a> {
    /// `frame[start..end]`, or empty if that is out of range (which the checks upstream rule
    /// out; an empty region makes the next `new_checked` report truncation instead of a panic).
    #[inline]
    fn region(&self, start: usize, end: usize) -> &'a [u8] {
        self.frame.get(start..end).unwrap_or(&[])
    }

    /// Fills `out` with the headers in `frame[offset..end]`. With a `tunnel` slot, a tunnel
    /// after them is decoded into it and what its payload starts with is returned.
    fn headers(
        &mut self,
        start: Start,
        offset: usize,
        end: usize,
        tunnel: Option<&mut Option<TunnelInfo>>,
        out: &mut Headers,
    ) -> Result<Option<Start>, WalkError> {
        let (kind, l3_offset, end) = match start {
            Start::Ip(kind) => (kind, offset, end),
            Start::Ethernet => {
                let mut ethertype = self.l2(offset, end, &mut out.l2)?;
                let (mut after, mut end) = (offset + out.l2.map_or(0, |l2| l2.len), end);
                if ethertype == ethertype::PPPOE_SESSION {
                    // The PPP payload, as the flow dissector goes on into it; else L2 only.
                    let Some(pppoe) = self.pppoe(after, end, &mut out.pppoe) else { return Ok(None) };
                    ethertype = ppp_ethertype(pppoe.protocol).unwrap_or(0);
                    (after, end) = (pppoe.payload_offset(), pppoe.end);
                }
                match Start::from_ethertype(ethertype) {
                    Some(Start::Ip(kind)) => (kind, after, end),
                    // Not IP (ARP, MPLS, LLDP, an 802.3 length...): what is read of it is
                    // kept, and nothing under it is walked.
                    _ => {
                        self.not_ip(ethertype, after, end, out);
                        return Ok(None);
                    }
                }
            }
        };
        let l3 = match kind {
            L3Kind::Ipv4 => self.ipv4(l3_offset, end, &mut out.l3)?,
            L3Kind::Ipv6 => self.ipv6(l3_offset, end)?,
        };
        out.l3 = Some(l3);
        self.l4(&l3, tunnel, &mut out.l4)
    }

    /// What the classifier reads of a non-IP ethertype at `offset`: an Ethernet/IPv4 ARP
    /// header (RFC 826), an MPLS label stack (RFC 3032 §2.1), or a CFM header (IEEE 802.1Q
    /// §21.4). None is an error when short or of another kind: the frame is then L2 only.
    fn not_ip(&mut self, ethertype: u16, offset: usize, end: usize, out: &mut Headers) {
        let region = self.region(offset, end);
        match ethertype {
            ethertype::ARP | ethertype::RARP => {
                let Some(header) = region.get(..ArpInfo::LEN) else { return };
                // Hardware type 1 (Ethernet), protocol 0x0800, lengths 6 and 4.
                if header[..6] == [0, 1, 0x08, 0x00, 6, 4] {
                    self.layers.push(Layer::Arp);
                    out.arp = Some(ArpInfo { offset });
                }
            }
            ethertype::MPLS_UNICAST | ethertype::MPLS_MULTICAST => {
                let mut entries = 0;
                let mut bottom = false;
                for entry in region.chunks_exact(4).take(MAX_MPLS_ENTRIES) {
                    entries += 1;
                    // S, the bottom-of-stack bit: bit 8 of the entry (RFC 3032 §2.1).
                    if entry[2] & 1 != 0 {
                        bottom = true;
                        break;
                    }
                }
                if entries > 0 {
                    self.layers.push(Layer::Mpls);
                    out.mpls = Some(MplsInfo { offset, entries, bottom });
                }
            }
            // Any version and opcode: the flow dissector reads the two bytes as they are.
            ethertype::CFM if region.len() >= CfmInfo::LEN => {
                self.layers.push(Layer::Cfm);
                out.cfm = Some(CfmInfo { offset });
            }
            _ => {}
        }
    }

    /// A PPPoE session header at `offset` into `out`, if it is one the kernel's flow dissector
    /// goes past (`is_pppoe_ses_hdr_valid`: version 1, type 1, code 0; `ppp_proto_is_valid`:
    /// the protocol odd, its high byte even, RFC 1661 §2) and its length fits the frame.
    /// Anything else is not an error: the frame is then L2 only, as an unknown ethertype.
    fn pppoe(&mut self, offset: usize, end: usize, out: &mut Option<PppoeInfo>) -> Option<PppoeInfo> {
        let region = self.region(offset, end);
        let header = region.get(..PppoeInfo::HEADER_LEN + 2)?;
        if header[0] != 0x11 || header[1] != 0 {
            return None;
        }
        let length = usize::from(u16::from_be_bytes([header[4], header[5]]));
        // RFC 1661 §6.5: a protocol whose first byte is odd is the one-byte compressed form.
        let (protocol, field_len) = match header[6] {
            first if first & 1 == 1 => (u16::from(first), 1),
            first => (u16::from_be_bytes([first, header[7]]), 2),
        };
        if protocol & 0x0101 != 0x0001 || length < field_len || PppoeInfo::HEADER_LEN + length > region.len() {
            return None;
        }
        self.layers.push(Layer::Pppoe);
        let info = PppoeInfo {
            offset,
            header_len: PppoeInfo::HEADER_LEN + field_len,
            end: offset + PppoeInfo::HEADER_LEN + length,
            protocol,
        };
        *out = Some(info);
        Some(info)
    }

    /// Ethernet and up to [`MAX_VLANS`] tags into `out`; returns the EtherType after them.
    fn l2(&mut self, offset: usize, end: usize, out: &mut Option<L2Info>) -> Result<u16, WalkError> {
        let frame = EthernetFrame::new_checked(self.region(offset, end)).map_err(|e| e.at(offset))?;
        self.layers.push(Layer::Eth);
        let l2 = out.insert(L2Info { offset, len: ethernet::HEADER_LEN, vlans: [None; MAX_VLANS] });
        let mut ethertype = frame.ethertype();
        let mut count = 0;
        while vlan::is_vlan_tpid(ethertype) {
            let at = offset + l2.len;
            let Some(slot) = l2.vlans.get_mut(count) else {
                return Err(WireError::new(ErrorKind::TooManyVlans, Layer::Vlan, 0, MAX_VLANS, count + 1).at(at));
            };
            let tag = VlanHeader::new_checked(self.region(at, end)).map_err(|e| e.at(at))?;
            self.layers.push(Layer::Vlan);
            *slot = Some(VlanTag { tpid: ethertype, id: tag.vid(), pcp: tag.pcp(), dei: tag.dei() });
            count += 1;
            l2.len += vlan::HEADER_LEN;
            ethertype = tag.ethertype();
        }
        Ok(ethertype)
    }

    /// The IPv4 header. One whose total length is wrong but whose header (IHL) is all there
    /// still goes into `out` before the error is returned, so its checksum is judged (tshark
    /// does the same); its end is then the end of what is there.
    fn ipv4(&mut self, offset: usize, end: usize, out: &mut Option<L3Info>) -> Result<L3Info, WalkError> {
        let region = self.region(offset, end);
        let info = |header_len: usize, l3_end: usize| L3Info {
            kind: L3Kind::Ipv4,
            offset,
            header_len,
            end: l3_end,
            fragment: Fragment::NotFragment,
            protocol: region.get(9).copied().unwrap_or(0),
            dst_offset: offset + ipv4::DST_ADDR_OFFSET,
        };
        match Ipv4Packet::new_checked(region) {
            Ok(packet) => {
                self.layers.push(Layer::Ipv4);
                Ok(L3Info {
                    fragment: packet.fragment(),
                    ..info(packet.header_len(), offset + usize::from(packet.total_len()))
                })
            }
            // `new_checked` checks the total length last: the header itself is complete.
            Err(err) if err.kind == ErrorKind::BadTotalLength => {
                let packet = ipv4::Ipv4Packet::new_unchecked(region);
                let header_len = packet.header_len();
                self.layers.push(Layer::Ipv4);
                if packet.total_len() == 0 && self.config.ipv4_zero_len_is_frame {
                    *self.len_from_frame = true;
                    return Ok(L3Info { fragment: packet.fragment(), ..info(header_len, end) });
                }
                let l3_end = offset + usize::from(packet.total_len()).clamp(header_len, region.len());
                *out = Some(L3Info { fragment: packet.fragment(), ..info(header_len, l3_end) });
                Err(err.at(offset))
            }
            Err(err) => Err(err.at(offset)),
        }
    }

    fn ipv6(&mut self, offset: usize, end: usize) -> Result<L3Info, WalkError> {
        let region = self.region(offset, end);
        let packet = Ipv6Packet::new_checked(region).map_err(|e| e.at(offset))?;
        self.layers.push(Layer::Ipv6);
        let payload_at = offset + ipv6::HEADER_LEN;
        let payload_len = match packet.payload_len() {
            0 if packet.next_header() == ip_protocol::HOP_BY_HOP => {
                Self::jumbo_len(region).map_err(|e| e.at(offset))?
            }
            len => usize::from(len),
        };
        let payload = region.get(ipv6::HEADER_LEN..ipv6::HEADER_LEN + payload_len).unwrap_or(&[]);
        let chain = walk_ext_headers(packet.next_header(), payload).map_err(|e| e.at(payload_at))?;
        Ok(L3Info {
            kind: L3Kind::Ipv6,
            offset,
            header_len: ipv6::HEADER_LEN + chain.len,
            end: payload_at + payload_len,
            fragment: chain.fragment,
            protocol: chain.protocol,
            dst_offset: chain.final_destination_offset.map_or(offset + ipv6::DST_ADDR_OFFSET, |o| payload_at + o),
        })
    }

    /// The payload length of a jumbogram (RFC 2675 §2-3): payload length 0, a hop-by-hop
    /// header with the Jumbo Payload option, whose length must exceed 65,535 and fit the bytes
    /// there. Errors are [`ErrorKind::BadPayloadLength`] at the IPv6 header.
    #[cold]
    fn jumbo_len(packet: &[u8]) -> Result<usize, WireError> {
        let bad = |needed, available| WireError::new(ErrorKind::BadPayloadLength, Layer::Ipv6, 0, needed, available);
        let after = packet.get(ipv6::HEADER_LEN..).unwrap_or(&[]);
        let header = Ipv6ExtHeader::new_checked(after).map_err(|_| bad(ipv6::HEADER_LEN + 8, packet.len()))?;
        // No option: payload length 0 means nothing then, and the packet is malformed.
        let len = crate::ipv6_ext::jumbo_payload_len(&header).ok_or(bad(ipv6::HEADER_LEN + 1, ipv6::HEADER_LEN))?;
        let len = len as usize;
        // RFC 2675 §3: a Jumbo Payload Length of 65,535 or less is an error.
        if len <= usize::from(u16::MAX) {
            return Err(bad(usize::from(u16::MAX) + 1, len));
        }
        if ipv6::HEADER_LEN + len > packet.len() {
            return Err(bad(ipv6::HEADER_LEN + len, packet.len()));
        }
        Ok(len)
    }

    /// The L4 header into `out`, or with a `tunnel` slot a tunnel into it (then `out` stays
    /// None for GRE and IP-in-IP, which replace L4); returns what the tunnel payload starts with.
    fn l4(
        &mut self,
        l3: &L3Info,
        tunnel: Option<&mut Option<TunnelInfo>>,
        out: &mut Option<L4Info>,
    ) -> Result<Option<Start>, WalkError> {
        // RFC 791 §3.2, RFC 8200 §4.5: only the fragment at offset 0 holds the L4 header.
        if l3.fragment == Fragment::Later {
            return Ok(None);
        }
        let offset = l3.payload_offset();
        let end = l3.end;
        let bytes = self.region(offset, end);
        let at = |e: WireError| e.at(offset);
        let complete = !l3.fragment.is_fragment();
        // A tunnel inside a first fragment is not all here: leave it undecoded.
        let tunnel = if complete { tunnel } else { None };
        let info = |kind| Some(L4Info { kind, offset, len: end.saturating_sub(offset), complete });
        let (kind, layer) = match l3.protocol {
            ip_protocol::UDP => {
                let datagram =
                    if complete { UdpPacket::new_checked(bytes) } else { UdpPacket::new_checked_first_fragment(bytes) }
                        .map_err(at)?;
                self.layers.push(Layer::Udp);
                *out = info(L4Kind::Udp);
                let Some(tunnel) = tunnel else { return Ok(None) };
                let (payload_at, udp_end) = (offset + udp::HEADER_LEN, offset + usize::from(datagram.len()));
                let port = datagram.dst_port();
                return if self.config.vxlan_ports.contains(port) {
                    self.vxlan(payload_at, udp_end, tunnel)
                } else if self.config.geneve_ports.contains(port) {
                    self.geneve(payload_at, udp_end, tunnel)
                } else {
                    Ok(None)
                };
            }
            ip_protocol::TCP => {
                TcpPacket::new_checked(bytes).map_err(at)?;
                (L4Kind::Tcp, Layer::Tcp)
            }
            ip_protocol::ICMP => {
                IcmpPacket::new_checked(bytes).map_err(at)?;
                (L4Kind::Icmp, Layer::Icmp)
            }
            ip_protocol::ICMPV6 => {
                Icmpv6Packet::new_checked(bytes).map_err(at)?;
                (L4Kind::Icmpv6, Layer::Icmpv6)
            }
            ip_protocol::GRE if self.config.gre => {
                if let Some(tunnel) = tunnel {
                    return self.gre(offset, end, tunnel);
                }
                *out = info(L4Kind::Other(ip_protocol::GRE));
                return Ok(None);
            }
            // RFC 2003 (4in4), RFC 4213 §3.5 (6in4); the same numbers after IPv6 (RFC 2473).
            protocol @ (ip_protocol::IPV4 | ip_protocol::IPV6) if self.config.ip_in_ip => {
                if let Some(tunnel) = tunnel {
                    let (ethertype, kind) = if protocol == ip_protocol::IPV4 {
                        (ethertype::IPV4, L3Kind::Ipv4)
                    } else {
                        (ethertype::IPV6, L3Kind::Ipv6)
                    };
                    *tunnel = Some(TunnelInfo::new(TunnelKind::IpInIp, offset, 0, end, ethertype));
                    return Ok(Some(Start::Ip(kind)));
                }
                *out = info(L4Kind::Other(protocol));
                return Ok(None);
            }
            // RFC 8986 §10.1 (SRv6 End.DX2 and friends): an Ethernet frame as the IP payload,
            // decoded as IP-in-IP is, its inner headers starting with Ethernet.
            ip_protocol::ETHERNET if self.config.ip_in_ip => {
                if let Some(tunnel) = tunnel {
                    let info = TunnelInfo::new(TunnelKind::IpInIp, offset, 0, end, ethertype::TRANSPARENT_ETHERNET);
                    *tunnel = Some(info);
                    return Ok(Some(Start::Ethernet));
                }
                *out = info(L4Kind::Other(ip_protocol::ETHERNET));
                return Ok(None);
            }
            // RFC 8200 §4.7: nothing follows.
            ip_protocol::NO_NEXT_HEADER => return Ok(None),
            other => {
                *out = info(L4Kind::Other(other));
                return Ok(None);
            }
        };
        self.layers.push(layer);
        *out = info(kind);
        Ok(None)
    }

    /// VXLAN (RFC 7348 §5) in `[offset, end)`, the UDP payload.
    fn vxlan(&mut self, offset: usize, end: usize, out: &mut Option<TunnelInfo>) -> Result<Option<Start>, WalkError> {
        let header = VxlanHeader::new_checked(self.region(offset, end)).map_err(|e| e.at(offset))?;
        self.layers.push(Layer::Vxlan);
        let info = out.insert(TunnelInfo::new(
            TunnelKind::Vxlan,
            offset,
            vxlan::HEADER_LEN,
            end,
            ethertype::TRANSPARENT_ETHERNET,
        ));
        info.vni = Some(header.vni());
        Ok(Some(Start::Ethernet))
    }

    /// Geneve (RFC 8926 §3.4) in `[offset, end)`, the UDP payload.
    fn geneve(&mut self, offset: usize, end: usize, out: &mut Option<TunnelInfo>) -> Result<Option<Start>, WalkError> {
        let header = GenevePacket::new_checked(self.region(offset, end)).map_err(|e| e.at(offset))?;
        self.layers.push(Layer::Geneve);
        let protocol = header.protocol_type();
        let info = out.insert(TunnelInfo::new(TunnelKind::Geneve, offset, header.header_len(), end, protocol));
        info.vni = Some(header.vni());
        Ok(Start::from_ethertype(protocol))
    }

    /// GRE (RFC 2784, RFC 2890) in `[offset, end)`, the IP payload.
    fn gre(&mut self, offset: usize, end: usize, out: &mut Option<TunnelInfo>) -> Result<Option<Start>, WalkError> {
        let header = GrePacket::new_checked(self.region(offset, end)).map_err(|e| e.at(offset))?;
        self.layers.push(Layer::Gre);
        let protocol = header.protocol_type();
        let info = out.insert(TunnelInfo::new(TunnelKind::Gre, offset, header.header_len(), end, protocol));
        info.gre_key = header.key();
        info.gre_sequence = header.sequence();
        info.gre_checksum_offset = header.checksum_offset().map(|o| offset + o);
        Ok(Start::from_ethertype(protocol))
    }
}

/// What [`common_headers`] found: Ethernet without tags, an IPv4 header without options that
/// is not a fragment, and a TCP or UDP header, all lengths checked as the general walk checks
/// them.
#[derive(Clone, Copy)]
struct CommonHeaders {
    offset: usize,
    /// The IPv4 end (`offset` + 14 + total length).
    l3_end: usize,
    protocol: u8,
    /// UDP only: the length field and the destination port.
    udp_len: usize,
    udp_dst_port: u16,
}

impl CommonHeaders {
    const L3_OFFSET: usize = ethernet::HEADER_LEN;
    const L4_OFFSET: usize = ethernet::HEADER_LEN + ipv4::MIN_HEADER_LEN;

    #[inline]
    fn l4_offset(&self) -> usize {
        self.offset + Self::L4_OFFSET
    }

    #[inline]
    fn l4_kind(&self) -> (L4Kind, Layer) {
        if self.protocol == ip_protocol::UDP {
            (L4Kind::Udp, Layer::Udp)
        } else {
            (L4Kind::Tcp, Layer::Tcp)
        }
    }

    /// The [`Headers`] the general walk gives these headers.
    #[inline]
    fn headers(&self) -> Headers {
        let l3_offset = self.offset + Self::L3_OFFSET;
        let l4_offset = self.l4_offset();
        Headers {
            l2: Some(L2Info { offset: self.offset, len: ethernet::HEADER_LEN, vlans: [None; MAX_VLANS] }),
            arp: None,
            mpls: None,
            cfm: None,
            pppoe: None,
            l3: Some(L3Info {
                kind: L3Kind::Ipv4,
                offset: l3_offset,
                header_len: ipv4::MIN_HEADER_LEN,
                end: self.l3_end,
                fragment: Fragment::NotFragment,
                protocol: self.protocol,
                dst_offset: l3_offset + ipv4::DST_ADDR_OFFSET,
            }),
            l4: Some(L4Info {
                kind: self.l4_kind().0,
                offset: l4_offset,
                len: self.l3_end - l4_offset,
                complete: true,
            }),
        }
    }
}

/// Ethernet / IPv4 (IHL 5, not a fragment) / TCP or UDP in `frame[offset..end]`, with every
/// check the general walk makes on them passed; `None` for anything else (a VLAN tag, IPv6,
/// options, a fragment, another protocol, a malformed header), which the general walk then
/// decodes or reports.
#[inline]
fn common_headers(frame: &[u8], offset: usize, end: usize) -> Option<CommonHeaders> {
    let region = frame.get(offset..end)?;
    // One bounds check for Ethernet and IPv4; every index below is a constant inside it.
    let header: &[u8; CommonHeaders::L4_OFFSET] = region.get(..CommonHeaders::L4_OFFSET)?.try_into().ok()?;
    let be16 = |at: usize| u16::from_be_bytes([header[at], header[at + 1]]);
    // EtherType IPv4; version 4 with IHL 5 (RFC 791 §3.1); MF clear and fragment offset 0.
    if be16(12) != ethertype::IPV4 || header[14] != 0x45 || be16(20) & 0x3fff != 0 {
        return None;
    }
    let total_len = usize::from(be16(16));
    if total_len < ipv4::MIN_HEADER_LEN || CommonHeaders::L3_OFFSET + total_len > region.len() {
        return None;
    }
    let l4 = region.get(CommonHeaders::L4_OFFSET..CommonHeaders::L3_OFFSET + total_len)?;
    let protocol = header[23];
    let (mut udp_len, mut udp_dst_port) = (0, 0);
    match protocol {
        ip_protocol::UDP => {
            let udp: &[u8; udp::HEADER_LEN] = l4.get(..udp::HEADER_LEN)?.try_into().ok()?;
            // RFC 768: the length covers the 8-byte header and fits the IP payload.
            udp_len = usize::from(u16::from_be_bytes([udp[4], udp[5]]));
            if udp_len < udp::HEADER_LEN || udp_len > l4.len() {
                return None;
            }
            udp_dst_port = u16::from_be_bytes([udp[2], udp[3]]);
        }
        ip_protocol::TCP => {
            // RFC 9293 §3.1: the data offset is 5..=15 words and fits the IP payload.
            let data_offset = usize::from(*l4.get(12)? >> 4) * 4;
            if l4.len() < 20 || data_offset < 20 || data_offset > l4.len() {
                return None;
            }
        }
        _ => return None,
    }
    Some(CommonHeaders {
        offset,
        l3_end: offset + CommonHeaders::L3_OFFSET + total_len,
        protocol,
        udp_len,
        udp_dst_port,
    })
}

/// The walk of the frames nearly all traffic is, without the general walk's generality:
/// [`common_headers`], or those carried by VXLAN inside [`common_headers`]. Writes `out` and
/// returns true, with exactly what the general walk would write, or returns false having
/// written nothing.
#[inline]
fn walk_common(frame: &[u8], config: &WalkConfig, out: &mut Offsets) -> bool {
    let Some(outer) = common_headers(frame, 0, frame.len()) else { return false };
    if outer.protocol == ip_protocol::UDP {
        let port = outer.udp_dst_port;
        if config.vxlan_ports.contains(port) {
            return walk_common_vxlan(frame, &outer, out);
        }
        if config.geneve_ports.contains(port) {
            return false;
        }
    }
    out.layers.set(&[Layer::Eth, Layer::Ipv4, outer.l4_kind().1]);
    out.outer = outer.headers();
    out.tunnel = None;
    out.inner = None;
    out.ipv4_len_from_frame = false;
    true
}

/// VXLAN (RFC 7348 §5) after `outer`'s UDP header, carrying [`common_headers`].
#[inline]
fn walk_common_vxlan(frame: &[u8], outer: &CommonHeaders, out: &mut Offsets) -> bool {
    let vxlan_offset = outer.l4_offset() + udp::HEADER_LEN;
    let udp_end = outer.l4_offset() + outer.udp_len;
    let Some(vxlan) = frame.get(vxlan_offset..udp_end) else { return false };
    let Some(header) = vxlan.get(..vxlan::HEADER_LEN) else { return false };
    if header[0] & vxlan::FLAG_VNI == 0 {
        return false;
    }
    let vni = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) >> 8;
    let Some(inner) = common_headers(frame, vxlan_offset + vxlan::HEADER_LEN, udp_end) else { return false };
    out.layers.set(&[Layer::Eth, Layer::Ipv4, Layer::Udp, Layer::Vxlan, Layer::Eth, Layer::Ipv4, inner.l4_kind().1]);
    out.outer = outer.headers();
    let mut tunnel =
        TunnelInfo::new(TunnelKind::Vxlan, vxlan_offset, vxlan::HEADER_LEN, udp_end, ethertype::TRANSPARENT_ETHERNET);
    tunnel.vni = Some(vni);
    out.tunnel = Some(tunnel);
    out.inner = Some(inner.headers());
    out.ipv4_len_from_frame = false;
    true
}
