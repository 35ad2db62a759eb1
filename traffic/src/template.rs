//! Frame templates for the generator and the in-memory port.
//!
//! [`UdpTemplate`] is the plain IPv4/UDP frame the tests and benchmarks use. [`Template`]
//! is what `dataplane gen` sends: UDP or TCP over IPv4 or IPv6, optionally VLAN-tagged,
//! optionally inside VXLAN, GRE or Geneve, built with the wire `Repr`s, every checksum right
//! unless one is asked to be wrong. [`from_key`] turns a rule key into a template, so frames
//! can be made to match a given rule.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use rules::{Family, PacketKey};

use crate::stamp::{Stamp, STAMP_LEN};
use wire::checks::CsumLayer;
use wire::csum::{ipv4_pseudo_header, ipv6_pseudo_header, Sum};
use wire::{
    ethertype, ip_protocol, udp_port, EthernetRepr, GeneveRepr, GreRepr, Ipv4Repr, Ipv6Repr, TcpRepr, UdpRepr,
    VlanRepr, VxlanRepr,
};

/// An untagged Ethernet header.
pub const ETH_HEADER: usize = 14;
/// An IPv4 header without options.
pub const IPV4_HEADER: usize = 20;
/// A UDP header.
pub const UDP_HEADER: usize = 8;
/// The smallest Ethernet frame without FCS.
pub const MIN_FRAME: usize = 60;
/// The largest untagged frame at MTU 1500, without FCS.
pub const MAX_FRAME: usize = 1514;

/// A frame the templates cannot build, or a key they cannot turn into one; the message says
/// what would work.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TemplateError {
    /// `--size` that is neither a frame size in range nor `imix`.
    BadSize {
        /// The text as given.
        text: String,
    },
    /// Source and destination addresses of different families.
    MixedFamilies {
        /// The source address.
        src: IpAddr,
        /// The destination address.
        dst: IpAddr,
        /// They are the tunnel's outer addresses.
        tunnel: bool,
    },
    /// VXLAN or Geneve around inner headers without Ethernet.
    InnerNeedsEthernet,
    /// A VXLAN or Geneve VNI past 24 bits.
    VniTooLarge {
        /// The VNI given.
        vni: u32,
    },
    /// A plain frame without an Ethernet header.
    PlainNeedsEthernet,
    /// A VLAN tag on headers without Ethernet.
    VlanNeedsEthernet,
    /// A VLAN id past 12 bits or a priority past 3.
    BadVlan {
        /// The id given.
        id: u16,
        /// The priority given.
        pcp: u8,
    },
    /// The output buffer is shorter than the frame.
    BufferTooSmall {
        /// The frame's length.
        len: usize,
        /// The buffer's length.
        buffer: usize,
    },
    /// A bad checksum asked for at a layer the frames do not have.
    NoSuchChecksum {
        /// The frames, as [`Template::describe`] says.
        frames: String,
        /// The layer asked for.
        layer: CsumLayer,
    },
    /// A header the wire views refused to write.
    Wire(wire::WireError),
    /// The key has no IP header.
    KeyWithoutIp,
    /// The key's IP protocol is neither UDP nor TCP.
    KeyProtocol {
        /// The protocol number.
        protocol: u8,
    },
    /// The key's protocol is the other one of UDP and TCP than the template sends.
    KeyProtocolNotTemplate {
        /// The protocol number.
        protocol: u8,
        /// The template.
        kind: TemplateKind,
    },
    /// The key is of a later fragment (no ports).
    KeyWithoutPorts,
    /// The key is of a fragment.
    KeyFragment {
        /// Its IP flags.
        ip_flags: u8,
    },
    /// The key's plain headers lack Ethernet, which only the GRE template can send.
    KeyWithoutEthernet {
        /// The template.
        kind: TemplateKind,
    },
    /// The key is of a tunnelled frame, the template is not a tunnel.
    KeyTunnelled {
        /// The template.
        kind: TemplateKind,
    },
    /// The key has an outer UDP port, the template is GRE.
    KeyPortOnGre,
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TemplateError::BadSize { text } => {
                write!(f, "'{text}': give a frame size from {MIN_FRAME} to {MAX_FRAME} bytes, or imix")
            }
            TemplateError::MixedFamilies { src, dst, tunnel } => write!(
                f,
                "{}source {src} and destination {dst} are of different families",
                if *tunnel { "tunnel " } else { "" }
            ),
            TemplateError::InnerNeedsEthernet => {
                f.write_str("VXLAN and Geneve carry Ethernet frames: the inner headers need an Ethernet header")
            }
            TemplateError::VniTooLarge { vni } => write!(f, "a VNI has 24 bits: {vni} is too large"),
            TemplateError::PlainNeedsEthernet => f.write_str("a frame without a tunnel starts with an Ethernet header"),
            TemplateError::VlanNeedsEthernet => f.write_str("a VLAN tag needs an Ethernet header"),
            TemplateError::BadVlan { id, pcp } => {
                write!(f, "VLAN id {id} / priority {pcp}: ids have 12 bits, priorities 3")
            }
            TemplateError::BufferTooSmall { len, buffer } => {
                write!(f, "a {len}-byte frame does not fit a {buffer}-byte buffer")
            }
            TemplateError::NoSuchChecksum { frames, layer } => {
                write!(f, "{frames} frames have no {} checksum", layer.name())
            }
            TemplateError::Wire(error) => write!(f, "{error}"),
            TemplateError::KeyWithoutIp => f.write_str("the key has no IP header; the generator sends IP"),
            TemplateError::KeyProtocol { protocol } => {
                write!(f, "the key needs IP protocol {protocol}; the generator sends UDP (17) or TCP (6)")
            }
            TemplateError::KeyProtocolNotTemplate { protocol, kind } => {
                write!(f, "the key needs IP protocol {protocol}, the {} template sends the other", kind.name())
            }
            TemplateError::KeyWithoutPorts => {
                f.write_str("the key has no ports (a later fragment); the generator sends whole datagrams")
            }
            TemplateError::KeyFragment { ip_flags } => {
                write!(f, "the key has ip_flags {ip_flags:#x} (a fragment); the generator sends no fragments")
            }
            TemplateError::KeyWithoutEthernet { kind } => write!(
                f,
                "the key's plain headers have no Ethernet header (IP inside a tunnel): the {} template cannot \
                 send that, gre can",
                kind.name()
            ),
            TemplateError::KeyTunnelled { kind } => write!(
                f,
                "the key is of a tunnelled frame (enc_* keys): use --template vxlan, geneve or gre, not {}",
                kind.name()
            ),
            TemplateError::KeyPortOnGre => f.write_str("the key has an outer UDP port (enc_dst_port); GRE has none"),
        }
    }
}

impl std::error::Error for TemplateError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TemplateError::Wire(error) => Some(error),
            _ => None,
        }
    }
}

impl From<wire::WireError> for TemplateError {
    fn from(error: wire::WireError) -> Self {
        TemplateError::Wire(error)
    }
}

/// Addresses and ports of an IPv4/UDP frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UdpTemplate {
    /// The source MAC address.
    pub src_mac: [u8; 6],
    /// The destination MAC address.
    pub dst_mac: [u8; 6],
    /// The source IP address.
    pub src_ip: Ipv4Addr,
    /// The destination IP address.
    pub dst_ip: Ipv4Addr,
    /// The UDP source port.
    pub src_port: u16,
    /// The UDP destination port.
    pub dst_port: u16,
    /// Frame length without FCS, `MIN_FRAME..=MAX_FRAME`.
    pub size: usize,
}

impl Default for UdpTemplate {
    fn default() -> Self {
        UdpTemplate {
            src_mac: [0x02, 0, 0, 0, 0, 0x01],
            dst_mac: [0x02, 0, 0, 0, 0x01, 0x00],
            // RFC 2544 §12 benchmarking addresses: never routed on the Internet.
            src_ip: Ipv4Addr::new(198, 18, 0, 1),
            dst_ip: Ipv4Addr::new(198, 19, 0, 1),
            src_port: 1024,
            dst_port: 9,
            size: MIN_FRAME,
        }
    }
}

impl UdpTemplate {
    /// The frame bytes, with a correct IPv4 header checksum and UDP checksum. The payload is
    /// a counting pattern so a corrupted byte shows.
    pub fn build(&self) -> Vec<u8> {
        let size = self.size.clamp(MIN_FRAME, MAX_FRAME);
        let udp_len = size - ETH_HEADER - IPV4_HEADER;
        let mut frame = vec![0u8; size];
        let emitted = EthernetRepr { dst_addr: self.dst_mac, src_addr: self.src_mac, ethertype: ethertype::IPV4 }
            .emit(&mut frame)
            .and_then(|_| {
                Ipv4Repr {
                    src_addr: self.src_ip,
                    dst_addr: self.dst_ip,
                    protocol: ip_protocol::UDP,
                    ttl: 64,
                    tos: 0,
                    ident: 0,
                    dont_fragment: true,
                    more_fragments: false,
                    fragment_offset: 0,
                    payload_len: udp_len,
                }
                .emit(&mut frame[ETH_HEADER..])
            })
            .and_then(|_| {
                UdpRepr { src_port: self.src_port, dst_port: self.dst_port, payload_len: udp_len - UDP_HEADER }
                    .emit(&mut frame[ETH_HEADER + IPV4_HEADER..])
            });
        emitted.expect("a frame of MIN_FRAME..=MAX_FRAME bytes holds the headers");

        let udp = &mut frame[ETH_HEADER + IPV4_HEADER..];
        for (i, byte) in udp[UDP_HEADER..].iter_mut().enumerate() {
            *byte = i as u8;
        }
        let sum = ipv4_pseudo_header(self.src_ip.octets(), self.dst_ip.octets(), ip_protocol::UDP, udp_len as u16)
            .add_bytes(udp);
        // RFC 768: a computed checksum of zero is sent as all ones (zero means "none").
        udp[6..8].copy_from_slice(&sum.checksum().udp_wire().to_be_bytes());
        frame
    }
}

// --- Every template: UDP, TCP, VXLAN, GRE, Geneve; IPv4 or IPv6; VLAN optional -----------

/// `--template`: what the frames carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TemplateKind {
    /// Ethernet / IP / UDP.
    Udp,
    /// Ethernet / IP / TCP.
    Tcp,
    /// Ethernet / IP / UDP 4789 / VXLAN / Ethernet / IP / UDP (RFC 7348).
    Vxlan,
    /// Ethernet / IP / GRE with checksum and key / IP / UDP (RFC 2784, RFC 2890), or
    /// Ethernet inside GRE (0x6558) when the plain headers have one.
    Gre,
    /// Ethernet / IP / UDP 6081 / Geneve / Ethernet / IP / UDP (RFC 8926).
    Geneve,
}

impl TemplateKind {
    /// Every kind, in `--help` order.
    pub const ALL: [TemplateKind; 5] =
        [TemplateKind::Udp, TemplateKind::Tcp, TemplateKind::Vxlan, TemplateKind::Gre, TemplateKind::Geneve];

    /// The name `--template` takes.
    pub fn name(self) -> &'static str {
        match self {
            TemplateKind::Udp => "udp",
            TemplateKind::Tcp => "tcp",
            TemplateKind::Vxlan => "vxlan",
            TemplateKind::Gre => "gre",
            TemplateKind::Geneve => "geneve",
        }
    }

    /// The tunnel its frames are in, if any.
    pub fn tunnel(self) -> Option<TunnelType> {
        match self {
            TemplateKind::Udp | TemplateKind::Tcp => None,
            TemplateKind::Vxlan => Some(TunnelType::Vxlan),
            TemplateKind::Gre => Some(TunnelType::Gre),
            TemplateKind::Geneve => Some(TunnelType::Geneve),
        }
    }
}

/// The tunnel of a template.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TunnelType {
    /// VXLAN over UDP 4789 (RFC 7348).
    Vxlan,
    /// GRE with checksum and key (RFC 2784, RFC 2890).
    Gre,
    /// Geneve over UDP 6081 (RFC 8926).
    Geneve,
}

/// The innermost transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum L4Proto {
    /// UDP (RFC 768).
    Udp,
    /// TCP (RFC 9293).
    Tcp,
}

impl L4Proto {
    /// Its IP protocol number.
    pub const fn number(self) -> u8 {
        match self {
            L4Proto::Udp => ip_protocol::UDP,
            L4Proto::Tcp => ip_protocol::TCP,
        }
    }

    const fn header_len(self) -> usize {
        match self {
            L4Proto::Udp => UDP_HEADER,
            L4Proto::Tcp => wire::tcp::MIN_HEADER_LEN,
        }
    }

    /// Offset of the checksum field in the header (RFC 768; RFC 9293 §3.1).
    const fn checksum_offset(self) -> usize {
        match self {
            L4Proto::Udp => 6,
            L4Proto::Tcp => 16,
        }
    }
}

/// One 802.1Q tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Vlan {
    /// 12 bits.
    pub id: u16,
    /// 3 bits.
    pub pcp: u8,
}

/// The headers plain rule keys describe: the only ones, or those inside the tunnel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PlainHeaders {
    /// An Ethernet header (always, except inside GRE carrying IP).
    pub l2: bool,
    /// The source MAC address (with `l2`).
    pub src_mac: [u8; 6],
    /// The destination MAC address (with `l2`).
    pub dst_mac: [u8; 6],
    /// A VLAN tag on the Ethernet header.
    pub vlan: Option<Vlan>,
    /// Both of one family.
    pub src_ip: IpAddr,
    /// The destination IP address.
    pub dst_ip: IpAddr,
    /// IPv4 TOS / IPv6 traffic class.
    pub tos: u8,
    /// IPv4 TTL / IPv6 hop limit.
    pub ttl: u8,
    /// UDP or TCP.
    pub l4: L4Proto,
    /// The source port.
    pub src_port: u16,
    /// The destination port.
    pub dst_port: u16,
    /// TCP only: the 12 flag bits as in [`TcpRepr::flags`].
    pub tcp_flags: u16,
}

/// The outer headers of a tunnelled frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TunnelHeaders {
    /// Which tunnel.
    pub kind: TunnelType,
    /// The outer source MAC address.
    pub src_mac: [u8; 6],
    /// The outer destination MAC address.
    pub dst_mac: [u8; 6],
    /// A VLAN tag on the outer Ethernet header.
    pub vlan: Option<Vlan>,
    /// Both of one family.
    pub src_ip: IpAddr,
    /// The outer destination IP address.
    pub dst_ip: IpAddr,
    /// The outer TTL / hop limit.
    pub ttl: u8,
    /// The VXLAN or Geneve VNI (24 bits; `None` sends 0), or the GRE key (`None`: no key field).
    pub key: Option<u32>,
    /// UDP tunnels: the outer source port (flow entropy, RFC 7348 §5) and destination port.
    pub src_port: u16,
    /// The outer UDP destination port.
    pub dst_port: u16,
    /// GRE: the C bit and a checksum over GRE header and payload (RFC 2784 §2.5).
    pub gre_checksum: bool,
}

/// A frame template: the plain headers, optionally inside a tunnel, and the frame size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Template {
    /// The only headers, or those inside the tunnel.
    pub plain: PlainHeaders,
    /// The outer headers, for a tunnelled frame.
    pub tunnel: Option<TunnelHeaders>,
    /// Frame length without FCS; a size below [`Template::min_len`] is raised to it.
    pub size: usize,
}

/// Frame sizes without FCS, `--size N|imix`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FrameSize {
    /// Every frame this long.
    Fixed(usize),
    /// [`IMIX`], in that order, over and over.
    Imix,
}

/// The "simple IMIX" 7:4:1 of IP packets of 40, 576 and 1500 bytes, as Ethernet frames
/// without FCS: 60 (40 + 14, padded to the minimum), 590 and 1514 bytes, interleaved so a
/// short run already has the mix. Mean 357.8 bytes. A template whose headers need more than
/// 60 bytes sends its smallest frame instead of 60.
pub const IMIX: [usize; 12] = [60, 590, 60, 60, 590, 60, 1514, 60, 590, 60, 590, 60];

impl FrameSize {
    /// The requested size of frame `index`.
    pub fn at(self, index: u64) -> usize {
        match self {
            FrameSize::Fixed(size) => size,
            FrameSize::Imix => IMIX[(index % IMIX.len() as u64) as usize],
        }
    }

    /// Parses `N` (60 to 1514) or `imix`.
    pub fn parse(text: &str) -> Result<FrameSize, TemplateError> {
        if text.eq_ignore_ascii_case("imix") {
            return Ok(FrameSize::Imix);
        }
        match text.parse::<usize>() {
            Ok(n) if (MIN_FRAME..=MAX_FRAME).contains(&n) => Ok(FrameSize::Fixed(n)),
            _ => Err(TemplateError::BadSize { text: text.to_string() }),
        }
    }
}

/// RFC 2544 §12 / RFC 5180 §5 benchmarking addresses: never routed on the Internet.
const PLAIN_V4: (Ipv4Addr, Ipv4Addr) = (Ipv4Addr::new(198, 18, 0, 1), Ipv4Addr::new(198, 19, 0, 1));
const OUTER_V4: (Ipv4Addr, Ipv4Addr) = (Ipv4Addr::new(198, 18, 100, 1), Ipv4Addr::new(198, 19, 100, 1));
const PLAIN_V6: (Ipv6Addr, Ipv6Addr) =
    (Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 1), Ipv6Addr::new(0x2001, 2, 0, 1, 0, 0, 0, 1));
const OUTER_V6: (Ipv6Addr, Ipv6Addr) =
    (Ipv6Addr::new(0x2001, 2, 0, 0xff, 0, 0, 0, 1), Ipv6Addr::new(0x2001, 2, 0, 0xff, 0, 0, 0, 2));
/// The default VNI / GRE key.
pub const DEFAULT_TUNNEL_KEY: u32 = 42;
/// Outer UDP source ports of a tunnel come from the dynamic range (RFC 6335 §6), one per flow.
const TUNNEL_SRC_PORT_BASE: u16 = 49152;
/// TCP ACK (RFC 9293 §3.1): an established connection's segment.
const TCP_ACK: u16 = 0x010;

fn addresses(ipv6: bool, v4: (Ipv4Addr, Ipv4Addr), v6: (Ipv6Addr, Ipv6Addr)) -> (IpAddr, IpAddr) {
    if ipv6 {
        (v6.0.into(), v6.1.into())
    } else {
        (v4.0.into(), v4.1.into())
    }
}

const fn eth_len(vlan: Option<Vlan>) -> usize {
    ETH_HEADER + if vlan.is_some() { wire::vlan::HEADER_LEN } else { 0 }
}

const fn ip_len(addr: IpAddr) -> usize {
    match addr {
        IpAddr::V4(_) => IPV4_HEADER,
        IpAddr::V6(_) => wire::ipv6::HEADER_LEN,
    }
}

const fn ip_ethertype(addr: IpAddr) -> u16 {
    match addr {
        IpAddr::V4(_) => ethertype::IPV4,
        IpAddr::V6(_) => ethertype::IPV6,
    }
}

/// The u128 form of an address, as [`rules::PacketKey`] keeps it (IPv4 in the low 32 bits).
pub fn addr_u128(addr: IpAddr) -> u128 {
    match addr {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

fn family_of(addr: IpAddr) -> Family {
    match addr {
        IpAddr::V4(_) => Family::V4,
        IpAddr::V6(_) => Family::V6,
    }
}

/// A `PacketKey` address back as an `IpAddr` (None for `Family::None`).
pub fn addr_from_u128(family: Family, addr: u128) -> Option<IpAddr> {
    match family {
        Family::V4 => Some(IpAddr::V4(Ipv4Addr::from(addr as u32))),
        Family::V6 => Some(IpAddr::V6(Ipv6Addr::from(addr))),
        Family::None => None,
    }
}

/// Adds `n` to an address (wrapping within its family).
fn offset_addr(addr: IpAddr, n: u32) -> IpAddr {
    match addr {
        IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(u32::from(a).wrapping_add(n))),
        IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(u128::from(a).wrapping_add(u128::from(n)))),
    }
}

/// A checksum field's value turned into a wrong one. Never 0 or 0xffff: in one's-complement
/// arithmetic those are the same number (a header whose right checksum is 0 also verifies
/// with 0xffff), and a UDP checksum of 0 means "none" rather than "bad" (RFC 768).
fn corrupted(value: u16) -> u16 {
    match value ^ 0x8001 {
        0 | 0xffff => value ^ 0x4002,
        other => other,
    }
}

fn corrupt_at(frame: &mut [u8], at: usize) {
    let value = u16::from_be_bytes([frame[at], frame[at + 1]]);
    frame[at..at + 2].copy_from_slice(&corrupted(value).to_be_bytes());
}

/// The RFC 768 / RFC 9293 / RFC 8200 §8.1 pseudo-header for an L4 segment of `len` bytes.
fn pseudo_header(src: IpAddr, dst: IpAddr, protocol: u8, len: usize) -> Sum {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => ipv4_pseudo_header(s.octets(), d.octets(), protocol, len as u16),
        (s, d) => {
            let as_v6 = |a: IpAddr| match a {
                IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
                IpAddr::V6(a) => a.octets(),
            };
            ipv6_pseudo_header(&as_v6(s), &as_v6(d), len as u32, protocol)
        }
    }
}

/// Writes the checksum of the L4 segment `frame[at..]` (its checksum field zero) at
/// `at + field`.
fn fill_l4_checksum(frame: &mut [u8], at: usize, field: usize, src: IpAddr, dst: IpAddr, proto: u8) {
    let segment = &frame[at..];
    let checksum = pseudo_header(src, dst, proto, segment.len()).add_bytes(segment).checksum();
    // RFC 768: a computed UDP checksum of 0 is sent as all ones (0 means "none"); TCP sends 0.
    let value = if proto == ip_protocol::UDP { checksum.udp_wire() } else { checksum };
    frame[at + field..at + field + 2].copy_from_slice(&value.to_be_bytes());
}

fn emit_eth(
    buffer: &mut [u8],
    src: [u8; 6],
    dst: [u8; 6],
    vlan: Option<Vlan>,
    ethertype: u16,
) -> Result<usize, TemplateError> {
    let outer_type = if vlan.is_some() { ethertype::VLAN } else { ethertype };
    let mut len = EthernetRepr { dst_addr: dst, src_addr: src, ethertype: outer_type }.emit(buffer)?;
    if let Some(tag) = vlan {
        // The TPID is the Ethernet header's EtherType; the tag is TCI and the real EtherType.
        len += VlanRepr { pcp: tag.pcp, dei: false, vid: tag.id, ethertype }.emit(&mut buffer[len..])?;
    }
    Ok(len)
}

/// An IP header for `payload_len` bytes of `protocol` (DF set on IPv4: nothing fragments).
fn emit_ip(
    buffer: &mut [u8],
    (src, dst): (IpAddr, IpAddr),
    protocol: u8,
    tos: u8,
    ttl: u8,
    payload_len: usize,
) -> Result<usize, TemplateError> {
    match (src, dst) {
        (IpAddr::V4(src_addr), IpAddr::V4(dst_addr)) => Ipv4Repr {
            src_addr,
            dst_addr,
            protocol,
            ttl,
            tos,
            ident: 0,
            dont_fragment: true,
            more_fragments: false,
            fragment_offset: 0,
            payload_len,
        }
        .emit(buffer),
        (IpAddr::V6(src_addr), IpAddr::V6(dst_addr)) => Ipv6Repr {
            src_addr,
            dst_addr,
            next_header: protocol,
            hop_limit: ttl,
            traffic_class: tos,
            flow_label: 0,
            payload_len,
        }
        .emit(buffer),
        _ => return Err(TemplateError::MixedFamilies { src, dst, tunnel: false }),
    }
    .map_err(TemplateError::Wire)
}

impl Template {
    /// The default frame of `kind`: addresses from the benchmarking ranges (RFC 2544 §12 for
    /// IPv4, RFC 5180 §5 for IPv6), UDP/TCP ports 1024 -> 9, TTL 64, VNI / GRE key 42.
    pub fn new(kind: TemplateKind, ipv6: bool) -> Template {
        let defaults = UdpTemplate::default();
        let tunnel = kind.tunnel();
        let (src_ip, dst_ip) = addresses(ipv6, PLAIN_V4, PLAIN_V6);
        let plain = PlainHeaders {
            // GRE carries IP as an IP tunnel does; Ethernet inside GRE is there for rules.
            l2: tunnel != Some(TunnelType::Gre),
            // Inside a tunnel: MACs of the virtual network, not of the wire.
            src_mac: if tunnel.is_some() { [0x02, 0, 0, 0, 0x02, 0x01] } else { defaults.src_mac },
            dst_mac: if tunnel.is_some() { [0x02, 0, 0, 0, 0x02, 0x02] } else { defaults.dst_mac },
            vlan: None,
            src_ip,
            dst_ip,
            tos: 0,
            ttl: 64,
            l4: if kind == TemplateKind::Tcp { L4Proto::Tcp } else { L4Proto::Udp },
            src_port: defaults.src_port,
            dst_port: defaults.dst_port,
            tcp_flags: TCP_ACK,
        };
        let tunnel = tunnel.map(|kind| {
            let (src_ip, dst_ip) = addresses(ipv6, OUTER_V4, OUTER_V6);
            TunnelHeaders {
                kind,
                src_mac: defaults.src_mac,
                dst_mac: defaults.dst_mac,
                vlan: None,
                src_ip,
                dst_ip,
                ttl: 64,
                key: Some(DEFAULT_TUNNEL_KEY),
                src_port: TUNNEL_SRC_PORT_BASE,
                dst_port: if kind == TunnelType::Geneve { udp_port::GENEVE } else { udp_port::VXLAN },
                gre_checksum: true,
            }
        });
        Template { plain, tunnel, size: MIN_FRAME }
    }

    /// What `--template` names this is.
    pub fn kind(&self) -> TemplateKind {
        match self.tunnel.map(|t| t.kind) {
            None if self.plain.l4 == L4Proto::Tcp => TemplateKind::Tcp,
            None => TemplateKind::Udp,
            Some(TunnelType::Vxlan) => TemplateKind::Vxlan,
            Some(TunnelType::Gre) => TemplateKind::Gre,
            Some(TunnelType::Geneve) => TemplateKind::Geneve,
        }
    }

    /// `udp`, `tcp/ipv6`, `vxlan/ipv4 vlan 10`: for messages.
    pub fn describe(&self) -> String {
        let family = |a: IpAddr| if a.is_ipv4() { "ipv4" } else { "ipv6" };
        let mut text = format!("{} {}", self.kind().name(), family(self.plain.src_ip));
        if let Some(t) = &self.tunnel {
            text = format!("{} over {}", text, family(t.src_ip));
        }
        text
    }

    /// The wire's outermost VLAN tag (on the tunnel's Ethernet header, or the only one).
    pub fn set_outer_vlan(&mut self, vlan: Option<Vlan>) {
        match &mut self.tunnel {
            Some(t) => t.vlan = vlan,
            None => self.plain.vlan = vlan,
        }
    }

    /// The wire's MACs (the tunnel's Ethernet header, or the only one).
    pub fn set_wire_macs(&mut self, src: [u8; 6], dst: [u8; 6]) {
        match &mut self.tunnel {
            Some(t) => (t.src_mac, t.dst_mac) = (src, dst),
            None => (self.plain.src_mac, self.plain.dst_mac) = (src, dst),
        }
    }

    /// Checks what the types cannot: families agree, Ethernet where a frame starts.
    pub fn validate(&self) -> Result<(), TemplateError> {
        let p = &self.plain;
        if p.src_ip.is_ipv4() != p.dst_ip.is_ipv4() {
            return Err(TemplateError::MixedFamilies { src: p.src_ip, dst: p.dst_ip, tunnel: false });
        }
        if let Some(t) = &self.tunnel {
            if t.src_ip.is_ipv4() != t.dst_ip.is_ipv4() {
                return Err(TemplateError::MixedFamilies { src: t.src_ip, dst: t.dst_ip, tunnel: true });
            }
            if !p.l2 && t.kind != TunnelType::Gre {
                return Err(TemplateError::InnerNeedsEthernet);
            }
            if t.kind != TunnelType::Gre && t.key.is_some_and(|k| k > 0x00ff_ffff) {
                return Err(TemplateError::VniTooLarge { vni: t.key.unwrap_or(0) });
            }
        } else if !p.l2 {
            return Err(TemplateError::PlainNeedsEthernet);
        }
        if p.vlan.is_some() && !p.l2 {
            return Err(TemplateError::VlanNeedsEthernet);
        }
        for vlan in [p.vlan, self.tunnel.and_then(|t| t.vlan)].into_iter().flatten() {
            if vlan.id > 0x0fff || vlan.pcp > 7 {
                return Err(TemplateError::BadVlan { id: vlan.id, pcp: vlan.pcp });
            }
        }
        Ok(())
    }

    /// Bytes of all headers up to the innermost L4 header's end.
    pub fn headers_len(&self) -> usize {
        let mut len = 0;
        if let Some(t) = &self.tunnel {
            len += eth_len(t.vlan) + ip_len(t.src_ip) + self.tunnel_header_len(t);
        }
        if self.plain.l2 {
            len += eth_len(self.plain.vlan);
        }
        len + ip_len(self.plain.src_ip) + self.plain.l4.header_len()
    }

    /// The UDP + VXLAN/Geneve header, or the GRE header.
    fn tunnel_header_len(&self, t: &TunnelHeaders) -> usize {
        match t.kind {
            TunnelType::Vxlan => UDP_HEADER + wire::vxlan::HEADER_LEN,
            TunnelType::Geneve => UDP_HEADER + wire::geneve::MIN_HEADER_LEN,
            TunnelType::Gre => self.gre_repr(t).header_len(),
        }
    }

    fn gre_repr(&self, t: &TunnelHeaders) -> GreRepr {
        GreRepr {
            protocol_type: if self.plain.l2 {
                ethertype::TRANSPARENT_ETHERNET
            } else {
                ip_ethertype(self.plain.src_ip)
            },
            checksum_present: t.gre_checksum,
            key: t.key,
            sequence: None,
        }
    }

    /// The smallest frame of this template: its headers, at least [`MIN_FRAME`].
    pub fn min_len(&self) -> usize {
        self.headers_len().max(MIN_FRAME)
    }

    /// The length of a frame asked to be `size` bytes.
    pub fn frame_len(&self, size: usize) -> usize {
        size.max(self.min_len())
    }

    /// Where the innermost L4 header's checksum field sits (the same for every size and flow).
    pub fn l4_checksum_at(&self) -> usize {
        self.headers_len() - self.plain.l4.header_len() + self.plain.l4.checksum_offset()
    }

    /// Whether a frame of `size` has room for the sequence stamp.
    pub fn has_stamp_room(&self, size: usize) -> bool {
        self.frame_len(size) - self.headers_len() >= STAMP_LEN
    }

    /// The checksums frames of this template carry, in the slots `inspect` names them by.
    pub fn csum_layers(&self) -> Vec<CsumLayer> {
        let (l3, l4) = if self.tunnel.is_some() {
            (CsumLayer::InnerL3, CsumLayer::InnerL4)
        } else {
            (CsumLayer::OuterL3, CsumLayer::OuterL4)
        };
        let mut layers = Vec::new();
        if let Some(t) = &self.tunnel {
            if t.src_ip.is_ipv4() {
                layers.push(CsumLayer::OuterL3);
            }
            match t.kind {
                TunnelType::Vxlan | TunnelType::Geneve => layers.push(CsumLayer::OuterL4),
                TunnelType::Gre if t.gre_checksum => layers.push(CsumLayer::Tunnel),
                TunnelType::Gre => {}
            }
        }
        if self.plain.src_ip.is_ipv4() {
            layers.push(l3);
        }
        layers.push(l4);
        layers
    }

    /// Flow `flow` of `--flows`: the plain source port counts up from the template's (to
    /// 65535, then again from the template's with the next source address), and a tunnel's
    /// outer source port follows the flow (RFC 7348 §5 entropy). Flow 0 is the template.
    pub fn for_flow(&self, flow: u32) -> Template {
        if flow == 0 {
            return *self;
        }
        let mut t = *self;
        let span = 65536 - u32::from(self.plain.src_port);
        t.plain.src_port = self.plain.src_port + (flow % span) as u16;
        t.plain.src_ip = offset_addr(self.plain.src_ip, flow / span);
        if let Some(tunnel) = &mut t.tunnel {
            let base = u32::from(self.tunnel.map_or(TUNNEL_SRC_PORT_BASE, |o| o.src_port));
            tunnel.src_port = (base + flow % (65536 - base)) as u16;
        }
        t
    }

    /// This template's frame of [`Template::size`], without a stamp.
    pub fn build(&self) -> Vec<u8> {
        let mut frame = vec![0u8; self.frame_len(self.size)];
        let len = self.build_into(&mut frame, self.size, None, None).expect("a template built from its own size");
        frame.truncate(len);
        frame
    }

    /// Writes a frame of `size` bytes (raised to [`Template::min_len`]) at the start of `out`
    /// and returns its length. Every checksum is right except the one in `bad` (which must be
    /// one of [`Template::csum_layers`]): the ones outside it cover the wrong value, so they
    /// stay right and only that layer is bad. `stamp` goes at the start of the innermost
    /// payload when it fits.
    pub fn build_into(
        &self,
        out: &mut [u8],
        size: usize,
        bad: Option<CsumLayer>,
        stamp: Option<&Stamp>,
    ) -> Result<usize, TemplateError> {
        let len = self.frame_len(size);
        if len > out.len() {
            return Err(TemplateError::BufferTooSmall { len, buffer: out.len() });
        }
        if let Some(layer) = bad {
            if !self.csum_layers().contains(&layer) {
                return Err(TemplateError::NoSuchChecksum { frames: self.describe(), layer });
            }
        }
        let frame = &mut out[..len];
        let p = &self.plain;
        let mut at = 0;
        // Outer headers, if any: (outer IP offset, tunnel header offset).
        let mut outer = None;
        if let Some(t) = &self.tunnel {
            at += emit_eth(frame, t.src_mac, t.dst_mac, t.vlan, ip_ethertype(t.src_ip))?;
            let ip_at = at;
            let protocol = if t.kind == TunnelType::Gre { ip_protocol::GRE } else { ip_protocol::UDP };
            at += emit_ip(&mut frame[at..], (t.src_ip, t.dst_ip), protocol, 0, t.ttl, len - at - ip_len(t.src_ip))?;
            let tunnel_at = at;
            let payload_protocol = if p.l2 { ethertype::TRANSPARENT_ETHERNET } else { ip_ethertype(p.src_ip) };
            match t.kind {
                TunnelType::Vxlan | TunnelType::Geneve => {
                    let udp =
                        UdpRepr { src_port: t.src_port, dst_port: t.dst_port, payload_len: len - at - UDP_HEADER };
                    at += udp.emit(&mut frame[at..])?;
                    let vni = t.key.unwrap_or(0);
                    at += if t.kind == TunnelType::Vxlan {
                        VxlanRepr { vni }.emit(&mut frame[at..])
                    } else {
                        GeneveRepr { oam: false, critical: false, protocol_type: payload_protocol, vni, options: &[] }
                            .emit(&mut frame[at..])
                    }?;
                }
                TunnelType::Gre => at += self.gre_repr(t).emit(&mut frame[at..])?,
            }
            outer = Some((ip_at, tunnel_at));
        }
        if p.l2 {
            at += emit_eth(&mut frame[at..], p.src_mac, p.dst_mac, p.vlan, ip_ethertype(p.src_ip))?;
        }
        let ip_at = at;
        let protocol = p.l4.number();
        at += emit_ip(&mut frame[at..], (p.src_ip, p.dst_ip), protocol, p.tos, p.ttl, len - at - ip_len(p.src_ip))?;
        let l4_at = at;
        at += match p.l4 {
            L4Proto::Udp => UdpRepr { src_port: p.src_port, dst_port: p.dst_port, payload_len: len - at - UDP_HEADER }
                .emit(&mut frame[at..]),
            L4Proto::Tcp => TcpRepr {
                src_port: p.src_port,
                dst_port: p.dst_port,
                seq_number: 1,
                ack_number: 1,
                flags: p.tcp_flags,
                window: 0xffff,
            }
            .emit(&mut frame[at..]),
        }?;

        // A counting pattern, so a corrupted byte shows; the stamp in front when it fits.
        let payload = &mut frame[at..];
        for (i, byte) in payload.iter_mut().enumerate() {
            *byte = i as u8;
        }
        if let Some(stamp) = stamp {
            stamp.write(payload);
        }

        // Checksums from the inside out: each outer one covers the inner ones as sent.
        let (plain_l3, plain_l4) = if outer.is_some() {
            (CsumLayer::InnerL3, CsumLayer::InnerL4)
        } else {
            (CsumLayer::OuterL3, CsumLayer::OuterL4)
        };
        fill_l4_checksum(frame, l4_at, p.l4.checksum_offset(), p.src_ip, p.dst_ip, protocol);
        if bad == Some(plain_l4) {
            corrupt_at(frame, l4_at + p.l4.checksum_offset());
        }
        if bad == Some(plain_l3) {
            corrupt_at(frame, ip_at + 10);
        }
        if let (Some(t), Some((outer_ip_at, tunnel_at))) = (&self.tunnel, outer) {
            match t.kind {
                TunnelType::Vxlan | TunnelType::Geneve => {
                    fill_l4_checksum(frame, tunnel_at, 6, t.src_ip, t.dst_ip, ip_protocol::UDP);
                    if bad == Some(CsumLayer::OuterL4) {
                        corrupt_at(frame, tunnel_at + 6);
                    }
                }
                TunnelType::Gre if t.gre_checksum => {
                    // RFC 2784 §2.5: over the GRE header and payload, the field taken as zero.
                    let checksum = Sum::new().add_bytes(&frame[tunnel_at..]).checksum();
                    frame[tunnel_at + 4..tunnel_at + 6].copy_from_slice(&checksum.to_be_bytes());
                    if bad == Some(CsumLayer::Tunnel) {
                        corrupt_at(frame, tunnel_at + 4);
                    }
                }
                TunnelType::Gre => {}
            }
            if bad == Some(CsumLayer::OuterL3) {
                corrupt_at(frame, outer_ip_at + 10);
            }
        }
        Ok(len)
    }

    /// The key rules see in this template's frames (flow 0): see [`rules::PacketKey`].
    pub fn key(&self) -> PacketKey {
        let p = &self.plain;
        let mac = |m: [u8; 6]| if p.l2 { m } else { [0; 6] };
        let mut key = PacketKey {
            has_l2: p.l2,
            src_mac: mac(p.src_mac),
            dst_mac: mac(p.dst_mac),
            has_vlan: p.vlan.is_some(),
            vlan_id: p.vlan.map_or(0, |v| v.id),
            vlan_prio: p.vlan.map_or(0, |v| v.pcp),
            family: family_of(p.src_ip),
            ip_proto: p.l4.number(),
            src_ip: addr_u128(p.src_ip),
            dst_ip: addr_u128(p.dst_ip),
            ip_tos: p.tos,
            ip_ttl: p.ttl,
            ip_flags: 0,
            has_ports: true,
            src_port: p.src_port,
            dst_port: p.dst_port,
            has_tcp_flags: p.l4 == L4Proto::Tcp,
            tcp_flags: if p.l4 == L4Proto::Tcp { p.tcp_flags & 0x0fff } else { 0 },
            num_vlans: u8::from(p.vlan.is_some()),
            ethertype: if family_of(p.src_ip) == Family::V6 { 0x86dd } else { 0x0800 },
            ..PacketKey::default()
        };
        if let Some(t) = &self.tunnel {
            key.tunnel = true;
            key.enc_family = family_of(t.src_ip);
            key.enc_src_ip = addr_u128(t.src_ip);
            key.enc_dst_ip = addr_u128(t.dst_ip);
            match t.kind {
                TunnelType::Vxlan | TunnelType::Geneve => {
                    (key.has_enc_key_id, key.enc_key_id) = (true, t.key.unwrap_or(0));
                    (key.has_enc_dst_port, key.enc_dst_port) = (true, t.dst_port);
                }
                TunnelType::Gre => (key.has_enc_key_id, key.enc_key_id) = (t.key.is_some(), t.key.unwrap_or(0)),
            }
        }
        key
    }
}

/// A template of `kind` whose frames have the header fields of `key` (as far as the kind can
/// carry them), `size` bytes long. The plain fields of the key go to the plain headers (the
/// inner ones of a tunnel), the `enc_*` fields to the tunnel's outer headers; what the key
/// leaves out keeps the template's default. Errors say what the generator cannot send.
pub fn from_key(key: &PacketKey, kind: TemplateKind, size: usize) -> Result<Template, TemplateError> {
    let mut t = Template::new(kind, key.family == Family::V6);
    t.size = size;
    let p = &mut t.plain;
    p.src_ip = addr_from_u128(key.family, key.src_ip).ok_or(TemplateError::KeyWithoutIp)?;
    p.dst_ip = addr_from_u128(key.family, key.dst_ip).ok_or(TemplateError::KeyWithoutIp)?;
    p.l4 = match key.ip_proto {
        ip_protocol::UDP => L4Proto::Udp,
        ip_protocol::TCP => L4Proto::Tcp,
        other => return Err(TemplateError::KeyProtocol { protocol: other }),
    };
    if kind == TemplateKind::Tcp && p.l4 == L4Proto::Udp || kind == TemplateKind::Udp && p.l4 == L4Proto::Tcp {
        return Err(TemplateError::KeyProtocolNotTemplate { protocol: key.ip_proto, kind });
    }
    if !key.has_ports {
        return Err(TemplateError::KeyWithoutPorts);
    }
    if key.ip_flags != 0 {
        return Err(TemplateError::KeyFragment { ip_flags: key.ip_flags });
    }
    (p.src_port, p.dst_port, p.tos, p.ttl) = (key.src_port, key.dst_port, key.ip_tos, key.ip_ttl);
    if p.l4 == L4Proto::Tcp {
        p.tcp_flags = key.tcp_flags & 0x0fff;
    }
    match (key.has_l2, kind.tunnel()) {
        (true, _) => {
            p.l2 = true;
            (p.src_mac, p.dst_mac) = (key.src_mac, key.dst_mac);
        }
        (false, Some(TunnelType::Gre)) => p.l2 = false,
        (false, _) => return Err(TemplateError::KeyWithoutEthernet { kind }),
    }
    p.vlan = key.has_vlan.then_some(Vlan { id: key.vlan_id & 0x0fff, pcp: key.vlan_prio & 7 });
    match (&mut t.tunnel, key.tunnel) {
        (None, true) => return Err(TemplateError::KeyTunnelled { kind }),
        (Some(tunnel), true) => {
            if key.enc_family != Family::None {
                tunnel.src_ip = addr_from_u128(key.enc_family, key.enc_src_ip).unwrap_or(tunnel.src_ip);
                tunnel.dst_ip = addr_from_u128(key.enc_family, key.enc_dst_ip).unwrap_or(tunnel.dst_ip);
            }
            match tunnel.kind {
                TunnelType::Gre => {
                    tunnel.key = key.has_enc_key_id.then_some(key.enc_key_id);
                    if key.has_enc_dst_port {
                        return Err(TemplateError::KeyPortOnGre);
                    }
                }
                TunnelType::Vxlan | TunnelType::Geneve => {
                    if key.has_enc_key_id {
                        tunnel.key = Some(key.enc_key_id);
                    }
                    if key.has_enc_dst_port {
                        tunnel.dst_port = key.enc_dst_port;
                    }
                }
            }
        }
        // Plain keys only: on a tunnel template they describe the inner headers, and the
        // outer ones keep their defaults.
        _ => {}
    }
    t.validate()?;
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wire::checks::{verdicts, Status};
    use wire::{walk, Layer, WalkConfig};

    /// Every kind, over IPv4 and IPv6, with and without a VLAN tag on the wire.
    fn all_templates() -> Vec<Template> {
        let mut all = Vec::new();
        for kind in TemplateKind::ALL {
            for ipv6 in [false, true] {
                for vlan in [None, Some(Vlan { id: 100, pcp: 3 })] {
                    let mut t = Template::new(kind, ipv6);
                    t.set_outer_vlan(vlan);
                    all.push(t);
                }
            }
        }
        // GRE carrying Ethernet, with a tagged inner frame; an IPv6 tunnel carrying IPv4.
        let mut gretap = Template::new(TemplateKind::Gre, false);
        gretap.plain.l2 = true;
        gretap.plain.vlan = Some(Vlan { id: 7, pcp: 0 });
        all.push(gretap);
        let mut mixed = Template::new(TemplateKind::Vxlan, false);
        let v6 = Template::new(TemplateKind::Vxlan, true).tunnel.unwrap();
        mixed.tunnel = Some(TunnelHeaders { src_ip: v6.src_ip, dst_ip: v6.dst_ip, ..mixed.tunnel.unwrap() });
        all.push(mixed);
        all
    }

    fn expected_layers(t: &Template) -> Vec<Layer> {
        let ip = |a: IpAddr| if a.is_ipv4() { Layer::Ipv4 } else { Layer::Ipv6 };
        let mut layers = Vec::new();
        if let Some(tunnel) = &t.tunnel {
            layers.push(Layer::Eth);
            if tunnel.vlan.is_some() {
                layers.push(Layer::Vlan);
            }
            layers.push(ip(tunnel.src_ip));
            match tunnel.kind {
                TunnelType::Vxlan => layers.extend([Layer::Udp, Layer::Vxlan]),
                TunnelType::Geneve => layers.extend([Layer::Udp, Layer::Geneve]),
                TunnelType::Gre => layers.push(Layer::Gre),
            }
        }
        if t.plain.l2 {
            layers.push(Layer::Eth);
            if t.plain.vlan.is_some() {
                layers.push(Layer::Vlan);
            }
        }
        layers.push(ip(t.plain.src_ip));
        layers.push(if t.plain.l4 == L4Proto::Tcp { Layer::Tcp } else { Layer::Udp });
        layers
    }

    #[test]
    fn every_template_walks_back_with_every_checksum_good_and_its_stamp() {
        let stamp = Stamp { sequenced: true, stream: 9, seq: 12345, sent_ns: 777 };
        for t in all_templates() {
            t.validate().unwrap();
            for size in [60, 64, 128, 1000, 1514] {
                let mut buf = [0u8; MAX_FRAME];
                let len = t.build_into(&mut buf, size, None, Some(&stamp)).unwrap();
                assert_eq!(len, size.max(t.min_len()), "{}", t.describe());
                let frame = &buf[..len];
                let offsets = walk(frame, &WalkConfig::default()).unwrap_or_else(|e| panic!("{}: {e}", t.describe()));
                assert_eq!(offsets.layers.as_slice(), expected_layers(&t), "{} size {size}", t.describe());
                let v = verdicts(frame, &offsets);
                for layer in CsumLayer::ALL {
                    let want = if t.csum_layers().contains(&layer) { Status::Good } else { Status::Absent };
                    assert_eq!(v.get(layer), want, "{} size {size} {}", t.describe(), layer.name());
                }
                let found = crate::stamp::find(frame, &offsets);
                if t.has_stamp_room(size) {
                    assert_eq!(found, Some(stamp), "{} size {size}", t.describe());
                } else {
                    assert_eq!(found, None);
                }
            }
        }
    }

    #[test]
    fn a_bad_checksum_is_bad_at_its_layer_only() {
        for t in all_templates() {
            for bad in t.csum_layers() {
                for size in [60, 333, 1514] {
                    let mut buf = [0u8; MAX_FRAME];
                    let len = t.build_into(&mut buf, size, Some(bad), None).unwrap();
                    let offsets = walk(&buf[..len], &WalkConfig::default()).unwrap();
                    let v = verdicts(&buf[..len], &offsets);
                    for layer in t.csum_layers() {
                        let want = if layer == bad { Status::Bad } else { Status::Good };
                        assert_eq!(v.get(layer), want, "{} bad {} at {}", t.describe(), bad.name(), layer.name());
                    }
                }
            }
            let absent = CsumLayer::ALL.into_iter().find(|l| !t.csum_layers().contains(l));
            if let Some(layer) = absent {
                assert!(t.build_into(&mut [0u8; MAX_FRAME], 60, Some(layer), None).is_err());
            }
        }
    }

    #[test]
    fn corrupted_values_are_never_equivalent_or_zero() {
        for value in 0..=u16::MAX {
            let c = corrupted(value);
            assert!(c != value && c != 0 && c != 0xffff, "{value:#x} -> {c:#x}");
        }
    }

    /// The key a template reports is the frame's: read back from the bytes through the walk.
    #[test]
    fn key_agrees_with_the_frame() {
        for t in all_templates() {
            let t = t.for_flow(70_000);
            let frame = t.build();
            let offsets = walk(&frame, &WalkConfig::default()).unwrap();
            let key = t.key();
            let inner = offsets.innermost();
            let (l3, l4) = (inner.l3.unwrap(), inner.l4.unwrap());
            let addr = |at: usize| -> u128 {
                if l3.addr_len() == 4 {
                    u128::from(u32::from_be_bytes(frame[at..at + 4].try_into().unwrap()))
                } else {
                    u128::from_be_bytes(frame[at..at + 16].try_into().unwrap())
                }
            };
            assert_eq!((addr(l3.src_offset()), addr(l3.dst_offset)), (key.src_ip, key.dst_ip), "{}", t.describe());
            let port = |at: usize| u16::from_be_bytes([frame[at], frame[at + 1]]);
            assert_eq!((port(l4.offset), port(l4.offset + 2)), (key.src_port, key.dst_port));
            assert_eq!(inner.l2.is_some(), key.has_l2);
            assert_eq!(inner.l2.map_or(0, |l2| l2.vlan_count()) > 0, key.has_vlan);
            assert_eq!(offsets.tunnel.is_some(), key.tunnel);
            if let Some(tunnel) = offsets.tunnel {
                let id = tunnel.vni.or(tunnel.gre_key);
                assert_eq!(id, key.has_enc_key_id.then_some(key.enc_key_id));
                let outer = offsets.outer.l3.unwrap();
                assert_eq!(addr_len_family(outer.addr_len()), key.enc_family);
            }
        }
    }

    fn addr_len_family(len: usize) -> Family {
        if len == 4 {
            Family::V4
        } else {
            Family::V6
        }
    }

    #[test]
    fn flows_vary_the_source_and_the_tunnel_entropy() {
        let t = Template::new(TemplateKind::Vxlan, false);
        assert_eq!(t.for_flow(0), t);
        let f1 = t.for_flow(1);
        assert_eq!((f1.plain.src_port, f1.tunnel.unwrap().src_port), (1025, 49153));
        let wrapped = t.for_flow(64512);
        assert_eq!(wrapped.plain.src_port, 1024);
        assert_eq!(wrapped.plain.src_ip, "198.18.0.2".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn imix_is_seven_four_one() {
        let count = |size| IMIX.iter().filter(|&&s| s == size).count();
        assert_eq!((count(60), count(590), count(1514)), (7, 4, 1));
        assert_eq!(FrameSize::parse("IMIX"), Ok(FrameSize::Imix));
        assert_eq!(FrameSize::parse("128"), Ok(FrameSize::Fixed(128)));
        assert!(FrameSize::parse("59").is_err() && FrameSize::parse("1515").is_err() && FrameSize::parse("x").is_err());
    }

    #[test]
    fn from_key_refuses_what_it_cannot_send() {
        let udp = Template::new(TemplateKind::Udp, false).key();
        assert_eq!(
            from_key(&PacketKey { ip_proto: 1, ..udp }, TemplateKind::Udp, 60),
            Err(TemplateError::KeyProtocol { protocol: 1 })
        );
        assert!(from_key(&PacketKey { family: Family::None, ..udp }, TemplateKind::Udp, 60).is_err());
        assert!(from_key(&PacketKey { ip_flags: 1, ..udp }, TemplateKind::Udp, 60)
            .unwrap_err()
            .to_string()
            .contains("fragment"));
        let vxlan = Template::new(TemplateKind::Vxlan, false).key();
        assert!(from_key(&vxlan, TemplateKind::Udp, 60).unwrap_err().to_string().contains("--template vxlan"));
        let ip_in_gre = Template::new(TemplateKind::Gre, false).key();
        assert!(from_key(&ip_in_gre, TemplateKind::Vxlan, 60).is_err());
        for kind in TemplateKind::ALL {
            for ipv6 in [false, true] {
                let t = Template::new(kind, ipv6);
                assert_eq!(from_key(&t.key(), kind, 60), Ok(t), "{kind:?} ipv6 {ipv6}");
            }
        }
    }

    #[test]
    fn udp_template_and_template_agree() {
        // The old plain template is the new one without a stamp, same bytes.
        let mut t = Template::new(TemplateKind::Udp, false);
        t.size = 128;
        assert_eq!(t.build(), UdpTemplate { size: 128, ..Default::default() }.build());
    }

    /// Engine tests and the benches build this frame with testkit (they do not depend on the
    /// generator): the two must stay the same bytes, or the benches measure another frame.
    #[test]
    fn udp_template_is_testkits_generator_frame() {
        for size in [0, 60, 64, 111, 1464, 1514, 9000] {
            assert_eq!(
                UdpTemplate { size, ..Default::default() }.build(),
                testkit::frames::generator_udp(size),
                "{size}"
            );
        }
    }

    /// The templates the engine tests and the benches build with testkit, byte for byte, bad
    /// checksums included.
    #[test]
    fn udp_tcp_and_vxlan_templates_are_testkits_generator_frames() {
        use testkit::frames::{Checksum, GeneratorFrame};
        let layers = [
            (None, None),
            (Some(CsumLayer::OuterL3), Some(Checksum::OuterL3)),
            (Some(CsumLayer::OuterL4), Some(Checksum::OuterL4)),
            (Some(CsumLayer::InnerL3), Some(Checksum::InnerL3)),
            (Some(CsumLayer::InnerL4), Some(Checksum::InnerL4)),
        ];
        for kind in [TemplateKind::Udp, TemplateKind::Tcp, TemplateKind::Vxlan] {
            for size in [0, 64, 111, 1514] {
                for (tcp, ttl, (src_port, dst_port)) in [(false, 64, (1024, 9)), (true, 1, (53, 80))] {
                    let mut template = Template::new(kind, false);
                    let mut ours =
                        if kind == TemplateKind::Vxlan { GeneratorFrame::vxlan() } else { GeneratorFrame::udp() };
                    let tcp = match kind {
                        TemplateKind::Udp => false,
                        TemplateKind::Tcp => true,
                        _ => tcp,
                    };
                    template.plain.l4 = if tcp { L4Proto::Tcp } else { L4Proto::Udp };
                    ours.tcp = tcp;
                    (template.size, ours.size) = (size, size);
                    (template.plain.ttl, ours.ttl) = (ttl, ttl);
                    (template.plain.src_port, template.plain.dst_port) = (src_port, dst_port);
                    (ours.src_port, ours.dst_port) = (src_port, dst_port);
                    if let (Some(t), Some(o)) = (template.tunnel.as_mut(), ours.vxlan.as_mut()) {
                        (t.ttl, o.ttl) = (ttl, ttl);
                    }
                    for (layer, checksum) in layers {
                        if layer.is_some_and(|l| !template.csum_layers().contains(&l)) {
                            continue;
                        }
                        let mut frame = vec![0u8; template.frame_len(size)];
                        let len = template.build_into(&mut frame, size, layer, None).unwrap();
                        frame.truncate(len);
                        let built = GeneratorFrame { bad: checksum, ..ours }.build();
                        assert_eq!(frame, built, "{} size {size} bad {layer:?}", template.describe());
                    }
                }
            }
        }
    }

    #[test]
    fn checksums_verify() {
        for size in [60, 61, 64, 128, 1514] {
            let t = UdpTemplate { size, ..Default::default() };
            let frame = t.build();
            assert_eq!(frame.len(), size);
            // A correct header sums to 0xffff including its checksum.
            assert_eq!(Sum::default().add_bytes(&frame[14..34]).fold(), 0xffff);
            let udp = &frame[34..];
            let pseudo = ipv4_pseudo_header(t.src_ip.octets(), t.dst_ip.octets(), 17, udp.len() as u16);
            assert_eq!(pseudo.add_bytes(udp).fold(), 0xffff, "size {size}");
        }
    }
}
