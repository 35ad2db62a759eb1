//! Frame builders for tests and benches, inside out (payload first): `ethernet(IPV4,
//! &ipv4(17, &udp(1, 2, b"data")))`.
//!
//! They write every byte by hand and do not use the `wire` crate, for two reasons: a test of
//! the walker or of the checksum code should not build its input with the code it checks
//! (the builders are a second, plain reading of the RFCs), and `wire`'s own unit tests can
//! use them without a dependency cycle (a `wire` unit test would otherwise see two copies of
//! `wire`'s types). Header checksums are right: IPv4 header checksums always, L4 ones where
//! a builder says so; the others are 0.

use std::net::{Ipv4Addr, Ipv6Addr};

#[cfg(feature = "rules")]
use rules::key::{IP_FLAG_FIRSTFRAG, IP_FLAG_FRAG};
#[cfg(feature = "rules")]
use rules::{Family, PacketKey};

/// The source MAC of the builders' frames.
pub const SRC_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
/// The destination MAC of the builders' frames.
pub const DST_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const ETHERTYPE_VLAN: u16 = 0x8100;
const ETHERTYPE_QINQ: u16 = 0x88a8;
const ETHERTYPE_TRANSPARENT_ETHERNET: u16 = 0x6558;

// ---- checksums (RFC 1071) -------------------------------------------------------------

/// The Internet checksum of `bytes` (RFC 1071: the one's complement of the one's-complement
/// sum of 16-bit words, an odd last byte padded with zero), as written into a header.
pub fn internet_checksum(bytes: &[u8]) -> u16 {
    !fold(sum_words(bytes))
}

fn sum_words(bytes: &[u8]) -> u64 {
    bytes.chunks(2).map(|c| u64::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))).sum()
}

fn fold(mut sum: u64) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// The checksum of a TCP or UDP `segment` (its checksum field zero) over IPv4 from `src` to
/// `dst` (RFC 768, RFC 9293 §3.1: pseudo-header, then the segment). For UDP, a result of 0
/// is sent as 0xffff (0 means "no checksum").
pub fn ipv4_l4_checksum(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, segment: &[u8]) -> u16 {
    let mut pseudo = Vec::with_capacity(12);
    pseudo.extend_from_slice(&src.octets());
    pseudo.extend_from_slice(&dst.octets());
    pseudo.extend_from_slice(&[0, protocol]);
    pseudo.extend_from_slice(&(segment.len() as u16).to_be_bytes());
    let sum = !fold(sum_words(&pseudo) + sum_words(segment));
    if protocol == 17 && sum == 0 {
        0xffff
    } else {
        sum
    }
}

fn prepend(header: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(header.len() + payload.len());
    bytes.extend_from_slice(header);
    bytes.extend_from_slice(payload);
    bytes
}

// ---- Ethernet and VLAN ----------------------------------------------------------------

/// Ethernet ([`DST_MAC`] <- [`SRC_MAC`]) carrying `payload` of `ethertype`.
pub fn ethernet(ethertype: u16, payload: &[u8]) -> Vec<u8> {
    ethernet_tagged(&[], ethertype, payload)
}

/// Ethernet with VLAN tags, outermost first, each `(tpid, vid)` (priority 5).
pub fn ethernet_tagged(tags: &[(u16, u16)], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let first = tags.first().map_or(ethertype, |t| t.0);
    let mut bytes = Vec::with_capacity(14 + 4 * tags.len() + payload.len());
    bytes.extend_from_slice(&DST_MAC);
    bytes.extend_from_slice(&SRC_MAC);
    bytes.extend_from_slice(&first.to_be_bytes());
    for (i, &(_, vid)) in tags.iter().enumerate() {
        let next = tags.get(i + 1).map_or(ethertype, |t| t.0);
        let tci = 5u16 << 13 | (vid & 0x0fff); // PCP 5, DEI 0
        bytes.extend_from_slice(&tci.to_be_bytes());
        bytes.extend_from_slice(&next.to_be_bytes());
    }
    bytes.extend_from_slice(payload);
    bytes
}

// ---- IPv4 -----------------------------------------------------------------------------

/// The fields of an IPv4 header without options (RFC 791 §3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4Header {
    /// Source address.
    pub src_addr: Ipv4Addr,
    /// Destination address.
    pub dst_addr: Ipv4Addr,
    /// The protocol of the payload (17 UDP, 6 TCP, ...).
    pub protocol: u8,
    /// Time to live.
    pub ttl: u8,
    /// Type of service (DSCP and ECN).
    pub tos: u8,
    /// Identification.
    pub ident: u16,
    /// The DF flag.
    pub dont_fragment: bool,
    /// The MF flag.
    pub more_fragments: bool,
    /// Fragment offset in bytes (a multiple of 8).
    pub fragment_offset: u16,
    /// Bytes after the header (the total length is 20 more).
    pub payload_len: usize,
}

impl Ipv4Header {
    /// The 20 header bytes, header checksum included.
    pub fn to_bytes(&self) -> [u8; 20] {
        let mut h = [0u8; 20];
        h[0] = 0x45;
        h[1] = self.tos;
        h[2..4].copy_from_slice(&((20 + self.payload_len) as u16).to_be_bytes());
        h[4..6].copy_from_slice(&self.ident.to_be_bytes());
        let mut flags_frag = (self.fragment_offset >> 3) & 0x1fff;
        if self.dont_fragment {
            flags_frag |= 0x4000;
        }
        if self.more_fragments {
            flags_frag |= 0x2000;
        }
        h[6..8].copy_from_slice(&flags_frag.to_be_bytes());
        h[8] = self.ttl;
        h[9] = self.protocol;
        h[12..16].copy_from_slice(&self.src_addr.octets());
        h[16..20].copy_from_slice(&self.dst_addr.octets());
        let sum = internet_checksum(&h);
        h[10..12].copy_from_slice(&sum.to_be_bytes());
        h
    }
}

/// The builders' IPv4 header: 198.18.0.1 -> 198.19.0.1 (RFC 2544 benchmarking addresses),
/// TTL 64, ident 1, DF.
pub fn ipv4_header(protocol: u8, payload_len: usize) -> Ipv4Header {
    Ipv4Header {
        src_addr: Ipv4Addr::new(198, 18, 0, 1),
        dst_addr: Ipv4Addr::new(198, 19, 0, 1),
        protocol,
        ttl: 64,
        tos: 0,
        ident: 1,
        dont_fragment: true,
        more_fragments: false,
        fragment_offset: 0,
        payload_len,
    }
}

/// IPv4 ([`ipv4_header`]) carrying `payload`.
pub fn ipv4(protocol: u8, payload: &[u8]) -> Vec<u8> {
    ipv4_from(ipv4_header(protocol, payload.len()), payload)
}

/// IPv4 with the given header fields carrying `payload` (`header.payload_len` is written as
/// given, so a test can make it disagree).
pub fn ipv4_from(header: Ipv4Header, payload: &[u8]) -> Vec<u8> {
    prepend(&header.to_bytes(), payload)
}

/// IPv4 with `options` (a multiple of 4 bytes) after the fixed header.
pub fn ipv4_with_options(protocol: u8, options: &[u8], payload: &[u8]) -> Vec<u8> {
    let header_len = 20 + options.len();
    let mut header = ipv4_header(protocol, payload.len()).to_bytes().to_vec();
    header.extend_from_slice(options);
    header[0] = 0x40 | (header_len / 4) as u8;
    header[2..4].copy_from_slice(&((header_len + payload.len()) as u16).to_be_bytes());
    header[10..12].copy_from_slice(&[0, 0]);
    let sum = internet_checksum(&header);
    header[10..12].copy_from_slice(&sum.to_be_bytes());
    prepend(&header, payload)
}

// ---- IPv6 -----------------------------------------------------------------------------

/// 2001:db8::`last` (RFC 3849 documentation prefix).
pub fn ipv6_addr(last: u16) -> Ipv6Addr {
    Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, last)
}

/// IPv6 2001:db8::1 -> 2001:db8::2, hop limit 64, flow label 0x12345, carrying `payload`
/// (whose first header is `next_header`).
pub fn ipv6(next_header: u8, payload: &[u8]) -> Vec<u8> {
    let mut h = [0u8; 40];
    let first: u32 = 6 << 28 | 0x12345; // version 6, traffic class 0, flow label
    h[0..4].copy_from_slice(&first.to_be_bytes());
    h[4..6].copy_from_slice(&(payload.len() as u16).to_be_bytes());
    h[6] = next_header;
    h[7] = 64;
    h[8..24].copy_from_slice(&ipv6_addr(1).octets());
    h[24..40].copy_from_slice(&ipv6_addr(2).octets());
    prepend(&h, payload)
}

// ---- L4 -------------------------------------------------------------------------------

/// A UDP datagram with checksum 0 ("none" over IPv4).
pub fn udp(src_port: u16, dst_port: u16, payload: &[u8]) -> Vec<u8> {
    let mut h = [0u8; 8];
    h[0..2].copy_from_slice(&src_port.to_be_bytes());
    h[2..4].copy_from_slice(&dst_port.to_be_bytes());
    h[4..6].copy_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    prepend(&h, payload)
}

/// A TCP segment (PSH ACK) with an MSS option (data offset 6), checksum 0.
pub fn tcp(src_port: u16, dst_port: u16, payload: &[u8]) -> Vec<u8> {
    let mut bytes = vec![0u8; 24];
    bytes[0..2].copy_from_slice(&src_port.to_be_bytes());
    bytes[2..4].copy_from_slice(&dst_port.to_be_bytes());
    bytes[12] = 0x60;
    bytes[13] = 0x18; // PSH ACK
    bytes[20..24].copy_from_slice(&[2, 4, 0x05, 0xb4]);
    bytes.extend_from_slice(payload);
    bytes
}

/// An ICMP echo request with two bytes of data (checksum 0).
pub fn icmp_echo() -> Vec<u8> {
    vec![8, 0, 0, 0, 0, 1, 0, 1, 0xab, 0xcd]
}

/// An ICMPv6 echo request (checksum 0).
pub fn icmpv6_echo() -> Vec<u8> {
    vec![128, 0, 0, 0, 0, 1, 0, 1]
}

// ---- tunnels --------------------------------------------------------------------------

/// A VXLAN header (RFC 7348 §5: I flag, 24-bit VNI) in front of the `inner` frame.
pub fn vxlan(vni: u32, inner: &[u8]) -> Vec<u8> {
    let mut h = [0u8; 8];
    h[0] = 0x08;
    h[4..8].copy_from_slice(&((vni & 0x00ff_ffff) << 8).to_be_bytes());
    prepend(&h, inner)
}

/// A Geneve header (RFC 8926 §3.4, version 0, no O or C flag) with `options` (whole TLVs,
/// a multiple of 4 bytes) in front of `inner` of `protocol_type`.
pub fn geneve(vni: u32, protocol_type: u16, options: &[u8], inner: &[u8]) -> Vec<u8> {
    let mut h = vec![0u8; 8];
    h[0] = (options.len() / 4) as u8;
    h[2..4].copy_from_slice(&protocol_type.to_be_bytes());
    h[4..8].copy_from_slice(&((vni & 0x00ff_ffff) << 8).to_be_bytes());
    h.extend_from_slice(options);
    prepend(&h, inner)
}

/// The fields of a GRE header (RFC 2784, with RFC 2890's key and sequence number).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GreHeader {
    /// The ethertype of the payload.
    pub protocol_type: u16,
    /// The C bit: a checksum field (written as 0) and a reserved word follow.
    pub checksum_present: bool,
    /// The key, with the K bit.
    pub key: Option<u32>,
    /// The sequence number, with the S bit.
    pub sequence: Option<u32>,
}

/// A GRE header in front of `inner`.
pub fn gre(header: GreHeader, inner: &[u8]) -> Vec<u8> {
    let mut flags = 0u16;
    if header.checksum_present {
        flags |= 0x8000;
    }
    if header.key.is_some() {
        flags |= 0x2000;
    }
    if header.sequence.is_some() {
        flags |= 0x1000;
    }
    let mut h = Vec::with_capacity(16);
    h.extend_from_slice(&flags.to_be_bytes());
    h.extend_from_slice(&header.protocol_type.to_be_bytes());
    if header.checksum_present {
        h.extend_from_slice(&[0; 4]); // checksum and reserved1
    }
    for word in [header.key, header.sequence].into_iter().flatten() {
        h.extend_from_slice(&word.to_be_bytes());
    }
    prepend(&h, inner)
}

/// An ARP header for IPv4 over Ethernet (RFC 826): hardware type 1, protocol 0x0800,
/// address lengths 6 and 4, then `op` and the four addresses (28 bytes).
pub fn arp(op: u16, sha: [u8; 6], spa: [u8; 4], tha: [u8; 6], tpa: [u8; 4]) -> Vec<u8> {
    let mut h = vec![0, 1, 0x08, 0x00, 6, 4];
    h.extend_from_slice(&op.to_be_bytes());
    h.extend_from_slice(&sha);
    h.extend_from_slice(&spa);
    h.extend_from_slice(&tha);
    h.extend_from_slice(&tpa);
    h
}

/// An MPLS label stack (RFC 3032 §2.1) of `(label, tc, ttl)` entries, the last one with the
/// bottom-of-stack bit, then `payload`.
pub fn mpls(entries: &[(u32, u8, u8)], payload: &[u8]) -> Vec<u8> {
    let mut stack = Vec::with_capacity(entries.len() * 4 + payload.len());
    for (i, &(label, tc, ttl)) in entries.iter().enumerate() {
        let bottom = u32::from(i + 1 == entries.len());
        let entry = (label & 0xf_ffff) << 12 | u32::from(tc & 7) << 9 | bottom << 8 | u32::from(ttl);
        stack.extend_from_slice(&entry.to_be_bytes());
    }
    stack.extend_from_slice(payload);
    stack
}

// ---- whole frames ---------------------------------------------------------------------

/// Pads with zeros to at least `len` bytes, as a NIC pads a short frame.
pub fn padded(mut frame: Vec<u8>, len: usize) -> Vec<u8> {
    if frame.len() < len {
        frame.resize(len, 0);
    }
    frame
}

/// eth / ipv4 / udp 1024 -> `dst_port` / payload.
pub fn udp4_frame(dst_port: u16, payload: &[u8]) -> Vec<u8> {
    ethernet(ETHERTYPE_IPV4, &ipv4(17, &udp(1024, dst_port, payload)))
}

/// eth / ipv4 / udp 4789 / vxlan / eth / ipv4 / tcp.
pub fn vxlan_frame() -> Vec<u8> {
    let inner = ethernet(ETHERTYPE_IPV4, &ipv4(6, &tcp(1000, 80, b"hello")));
    ethernet(ETHERTYPE_IPV4, &ipv4(17, &udp(49152, 4789, &vxlan(0x00beef, &inner))))
}

/// The generator's default UDP frame (`traffic`'s `UdpTemplate::default()`) of `size` bytes
/// without FCS (held to 60..=1514): [`GeneratorFrame::udp`] at that size.
pub fn generator_udp(size: usize) -> Vec<u8> {
    GeneratorFrame { size: size.clamp(60, 1514), ..GeneratorFrame::udp() }.build()
}

/// A checksum of a [`GeneratorFrame`] to get wrong (the names `inspect` gives them: the
/// outer headers are the only ones of a plain frame).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Checksum {
    /// The outer (or only) IPv4 header checksum.
    OuterL3,
    /// The outer (or only) UDP or TCP checksum.
    OuterL4,
    /// The inner IPv4 header checksum of a tunnelled frame.
    InnerL3,
    /// The inner UDP or TCP checksum of a tunnelled frame.
    InnerL4,
}

/// The outer headers of a VXLAN [`GeneratorFrame`] (RFC 7348 over IPv4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VxlanOuter {
    /// Outer IPv4 source.
    pub src_ip: Ipv4Addr,
    /// Outer IPv4 destination.
    pub dst_ip: Ipv4Addr,
    /// Outer TTL.
    pub ttl: u8,
    /// Outer UDP source port.
    pub src_port: u16,
    /// Outer UDP destination port.
    pub dst_port: u16,
    /// The VNI.
    pub vni: u32,
}

/// The frames of the generator's templates (`traffic`'s `Template`, IPv4 without VLAN tags):
/// Ethernet / IPv4 / UDP or TCP / a counting payload, optionally inside VXLAN. Every checksum
/// is right except the one in `bad`, and the outer ones cover the inner bytes as sent, so only
/// that one is wrong. traffic's tests hold its templates to these bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GeneratorFrame {
    /// The (inner) source MAC.
    pub src_mac: [u8; 6],
    /// The (inner) destination MAC.
    pub dst_mac: [u8; 6],
    /// The (inner) IPv4 source.
    pub src_ip: Ipv4Addr,
    /// The (inner) IPv4 destination.
    pub dst_ip: Ipv4Addr,
    /// The (inner) TTL.
    pub ttl: u8,
    /// TCP (ACK, seq 1, ack 1, window 65535) rather than UDP.
    pub tcp: bool,
    /// The (inner) L4 source port.
    pub src_port: u16,
    /// The (inner) L4 destination port.
    pub dst_port: u16,
    /// The VXLAN headers in front, if any.
    pub vxlan: Option<VxlanOuter>,
    /// The frame length without FCS, raised to the headers' length and to 60.
    pub size: usize,
    /// The checksum to get wrong, if any.
    pub bad: Option<Checksum>,
}

impl GeneratorFrame {
    /// `--template udp`: 02:00:00:00:00:01 -> 02:00:00:00:01:00, 198.18.0.1:1024 ->
    /// 198.19.0.1:9 (RFC 2544 §12 benchmarking addresses), TTL 64, ident 0, DF, 60 bytes.
    pub fn udp() -> GeneratorFrame {
        GeneratorFrame {
            src_mac: SRC_MAC,
            dst_mac: [0x02, 0, 0, 0, 0x01, 0x00],
            src_ip: Ipv4Addr::new(198, 18, 0, 1),
            dst_ip: Ipv4Addr::new(198, 19, 0, 1),
            ttl: 64,
            tcp: false,
            src_port: 1024,
            dst_port: 9,
            vxlan: None,
            size: 60,
            bad: None,
        }
    }

    /// `--template vxlan`: [`GeneratorFrame::udp`]'s addresses and ports inside, MACs
    /// 02:00:00:00:02:01 -> 02:00:00:00:02:02 there; outside 198.18.100.1:49152 ->
    /// 198.19.100.1:4789, TTL 64, VNI 42, the plain frame's MACs.
    pub fn vxlan() -> GeneratorFrame {
        GeneratorFrame {
            src_mac: [0x02, 0, 0, 0, 0x02, 0x01],
            dst_mac: [0x02, 0, 0, 0, 0x02, 0x02],
            vxlan: Some(VxlanOuter {
                src_ip: Ipv4Addr::new(198, 18, 100, 1),
                dst_ip: Ipv4Addr::new(198, 19, 100, 1),
                ttl: 64,
                src_port: 49152,
                dst_port: 4789,
                vni: 42,
            }),
            ..GeneratorFrame::udp()
        }
    }

    /// The frame's bytes.
    pub fn build(&self) -> Vec<u8> {
        let l4_len = if self.tcp { 20 } else { 8 };
        let headers = if self.vxlan.is_some() { 50 } else { 0 } + 14 + 20 + l4_len;
        let len = self.size.max(headers).max(60);
        let plain_len = len - if self.vxlan.is_some() { 50 } else { 0 };
        let (plain_l3, plain_l4) = match self.vxlan {
            Some(_) => (Checksum::InnerL3, Checksum::InnerL4),
            None => (Checksum::OuterL3, Checksum::OuterL4),
        };

        let mut segment = vec![0u8; plain_len - 14 - 20];
        segment[0..2].copy_from_slice(&self.src_port.to_be_bytes());
        segment[2..4].copy_from_slice(&self.dst_port.to_be_bytes());
        let checksum_at = if self.tcp {
            segment[4..8].copy_from_slice(&1u32.to_be_bytes()); // seq
            segment[8..12].copy_from_slice(&1u32.to_be_bytes()); // ack
            segment[12..14].copy_from_slice(&(5u16 << 12 | 0x010).to_be_bytes()); // offset 5, ACK
            segment[14..16].copy_from_slice(&0xffffu16.to_be_bytes()); // window
            16
        } else {
            let udp_len = segment.len() as u16;
            segment[4..6].copy_from_slice(&udp_len.to_be_bytes());
            6
        };
        for (i, byte) in segment[l4_len..].iter_mut().enumerate() {
            *byte = i as u8; // a counting pattern, so a corrupted byte shows
        }
        let protocol = if self.tcp { 6 } else { 17 };
        let sum = ipv4_l4_checksum(self.src_ip, self.dst_ip, protocol, &segment);
        segment[checksum_at..checksum_at + 2].copy_from_slice(&sum.to_be_bytes());
        if self.bad == Some(plain_l4) {
            corrupt(&mut segment[checksum_at..checksum_at + 2]);
        }
        let plain_ip = Ipv4Header {
            src_addr: self.src_ip,
            dst_addr: self.dst_ip,
            ttl: self.ttl,
            ident: 0,
            ..ipv4_header(protocol, segment.len())
        };
        let mut plain = eth_header(self.dst_mac, self.src_mac);
        plain.extend_from_slice(&ipv4_from(plain_ip, &segment));
        if self.bad == Some(plain_l3) {
            corrupt(&mut plain[24..26]);
        }
        let Some(outer) = self.vxlan else { return plain };

        let mut datagram = udp(outer.src_port, outer.dst_port, &vxlan(outer.vni, &plain));
        let sum = ipv4_l4_checksum(outer.src_ip, outer.dst_ip, 17, &datagram);
        datagram[6..8].copy_from_slice(&sum.to_be_bytes());
        if self.bad == Some(Checksum::OuterL4) {
            corrupt(&mut datagram[6..8]);
        }
        let outer_ip = Ipv4Header {
            src_addr: outer.src_ip,
            dst_addr: outer.dst_ip,
            ttl: outer.ttl,
            ident: 0,
            ..ipv4_header(17, datagram.len())
        };
        let mut frame = eth_header([0x02, 0, 0, 0, 0x01, 0x00], SRC_MAC);
        frame.extend_from_slice(&ipv4_from(outer_ip, &datagram));
        if self.bad == Some(Checksum::OuterL3) {
            corrupt(&mut frame[24..26]);
        }
        frame
    }
}

/// An Ethernet header for IPv4.
fn eth_header(dst: [u8; 6], src: [u8; 6]) -> Vec<u8> {
    let mut header = Vec::with_capacity(14);
    header.extend_from_slice(&dst);
    header.extend_from_slice(&src);
    header.extend_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
    header
}

/// Makes a checksum field wrong, and never 0 or 0xffff (for UDP 0 means "no checksum", and
/// the two are one number in one's complement), so a verifier must see it as bad.
fn corrupt(field: &mut [u8]) {
    let value = u16::from_be_bytes([field[0], field[1]]);
    let wrong = match value ^ 0x8001 {
        0 | 0xffff => value ^ 0x4002,
        other => other,
    };
    field.copy_from_slice(&wrong.to_be_bytes());
}

/// The benches' VXLAN frame, 110 bytes, every checksum right (the outer UDP one included):
/// eth 02:00:00:00:00:01 -> 02:00:00:00:01:00 / ipv4 198.18.0.1 -> 198.19.0.1 / udp 49152 ->
/// 4789 / vxlan 42 / eth 02:00:00:00:00:11 -> 02:00:00:00:00:12 / ipv4 10.0.0.1 -> 10.0.0.2
/// / tcp 1024 -> 80 (PSH ACK, seq 1, window 65535, no options) / "hello!".
pub fn vxlan_tcp_frame() -> Vec<u8> {
    let (inner_src, inner_dst) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
    let mut segment = vec![0u8; 20];
    segment[0..2].copy_from_slice(&1024u16.to_be_bytes());
    segment[2..4].copy_from_slice(&80u16.to_be_bytes());
    segment[4..8].copy_from_slice(&1u32.to_be_bytes());
    segment[12] = 0x50; // data offset 5
    segment[13] = 0x18; // PSH ACK
    segment[14..16].copy_from_slice(&0xffffu16.to_be_bytes());
    segment.extend_from_slice(b"hello!");
    let sum = ipv4_l4_checksum(inner_src, inner_dst, 6, &segment);
    segment[16..18].copy_from_slice(&sum.to_be_bytes());
    let inner_ip = Ipv4Header { src_addr: inner_src, dst_addr: inner_dst, ..ipv4_header(6, segment.len()) };
    let mut inner = Vec::new();
    inner.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x12]);
    inner.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x11]);
    inner.extend_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
    inner.extend_from_slice(&ipv4_from(inner_ip, &segment));

    let outer_ip = ipv4_header(17, 8 + 8 + inner.len());
    let mut datagram = udp(49152, 4789, &vxlan(42, &inner));
    let sum = ipv4_l4_checksum(outer_ip.src_addr, outer_ip.dst_addr, 17, &datagram);
    datagram[6..8].copy_from_slice(&sum.to_be_bytes());
    let mut frame = Vec::with_capacity(110);
    frame.extend_from_slice(&[0x02, 0, 0, 0, 0x01, 0x00]);
    frame.extend_from_slice(&SRC_MAC);
    frame.extend_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
    frame.extend_from_slice(&ipv4_from(outer_ip, &datagram));
    frame
}

/// One valid frame of every shape the walker knows, for the property tests.
pub fn all_shapes() -> Vec<Vec<u8>> {
    let inner4 = ipv4(6, &tcp(1, 2, b"data"));
    let inner6 = ipv6(17, &udp(3, 4, b"data"));
    let inner_eth = ethernet(ETHERTYPE_IPV4, &inner4);
    let gre_all = GreHeader {
        protocol_type: ETHERTYPE_TRANSPARENT_ETHERNET,
        checksum_present: true,
        key: Some(9),
        sequence: Some(1),
    };
    let gre_plain = GreHeader { protocol_type: ETHERTYPE_IPV6, checksum_present: false, key: None, sequence: None };
    let geneve_options = [0x01, 0x02, 0x03, 0x01, 0xde, 0xad, 0xbe, 0xef];
    vec![
        udp4_frame(9, b"x"),
        padded(udp4_frame(9, b"x"), 60),
        ethernet(ETHERTYPE_IPV4, &ipv4(1, &icmp_echo())),
        ethernet(ETHERTYPE_IPV6, &ipv6(58, &icmpv6_echo())),
        ethernet_tagged(&[(ETHERTYPE_QINQ, 10), (ETHERTYPE_VLAN, 20)], ETHERTYPE_IPV6, &inner6),
        ethernet(ETHERTYPE_IPV4, &ipv4_with_options(6, &[1, 1, 1, 0], &tcp(5, 6, b""))),
        ethernet(ETHERTYPE_IPV6, &srv6_fragment_payload()),
        vxlan_frame(),
        ethernet(
            ETHERTYPE_IPV4,
            &ipv4(17, &udp(1, 6081, &geneve(7, ETHERTYPE_TRANSPARENT_ETHERNET, &geneve_options, &inner_eth))),
        ),
        ethernet(ETHERTYPE_IPV6, &ipv6(17, &udp(1, 6081, &geneve(7, ETHERTYPE_IPV6, &[], &inner6)))),
        ethernet(ETHERTYPE_IPV4, &ipv4(47, &gre(gre_all, &inner_eth))),
        ethernet(ETHERTYPE_IPV4, &ipv4(47, &gre(gre_plain, &inner6))),
        ethernet(ETHERTYPE_IPV4, &ipv4(4, &inner4)),
        ethernet(ETHERTYPE_IPV4, &ipv4(41, &inner6)),
        ethernet(ETHERTYPE_IPV6, &ipv6(4, &inner4)),
    ]
}

/// The IPv6 payload of hop-by-hop + SRH (2 segments, 1 left) + first fragment + UDP: the
/// bytes after a fixed header with next header 0.
pub fn srv6_fragment_chain(udp_datagram: &[u8]) -> Vec<u8> {
    let mut chain = vec![43, 0, 1, 4, 0, 0, 0, 0]; // hop-by-hop: PadN
    chain.extend_from_slice(&[44, 4, 4, 1, 1, 0, 0, 0]); // SRH: last entry 1
    chain.extend_from_slice(&ipv6_addr(0xd).octets()); // Segment List[0]: final destination
    chain.extend_from_slice(&ipv6_addr(0x51).octets()); // Segment List[1]: first segment
    chain.extend_from_slice(&[17, 0, 0x00, 0x01, 0, 0, 0, 7]); // fragment: offset 0, M
    chain.extend_from_slice(udp_datagram);
    chain
}

/// An IPv6 packet (fixed header included) around [`srv6_fragment_chain`]; the destination
/// field holds the first segment, as it does in transit.
pub fn srv6_fragment_payload() -> Vec<u8> {
    let mut datagram = udp(1000, 2000, &[0u8; 16]);
    datagram[4..6].copy_from_slice(&1000u16.to_be_bytes()); // the whole datagram is longer
    let mut packet = ipv6(0, &srv6_fragment_chain(&datagram));
    packet[24..40].copy_from_slice(&ipv6_addr(0x51).octets());
    packet
}

// ---- from a classifier key ------------------------------------------------------------

/// The frame a [`PacketKey`] describes: Ethernet (the key's MACs), then IPv4 (with
/// `ipv4_option_words` words of NOP options, so the IHL varies) or IPv6, then TCP, UDP,
/// SCTP or an ICMP-like body. A key without an IP family becomes a frame of the local
/// experimental ethertype 0x88b5. Checksums: IPv4 header only (tc does not look at the
/// others). At least 60 bytes. (Feature `rules`.)
#[cfg(feature = "rules")]
pub fn for_key(key: &PacketKey, ipv4_option_words: usize) -> Vec<u8> {
    let mut f = Vec::with_capacity(128);
    f.extend_from_slice(&key.dst_mac);
    f.extend_from_slice(&key.src_mac);
    let l4 = l4_for_key(key);
    match key.family {
        Family::None => {
            f.extend_from_slice(&0x88b5u16.to_be_bytes());
            f.extend_from_slice(&[0u8; 46]);
            return f;
        }
        Family::V4 => {
            f.extend_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
            let ihl = 5 + ipv4_option_words;
            let total = ihl * 4 + l4.len();
            let mut frag: u16 = 0;
            if key.ip_flags & IP_FLAG_FIRSTFRAG != 0 {
                frag = 0x2000; // MF, offset 0
            } else if key.ip_flags & IP_FLAG_FRAG != 0 {
                frag = 185; // a later fragment, offset 1480
            }
            let mut h = vec![0x40 | ihl as u8, key.ip_tos];
            h.extend_from_slice(&(total as u16).to_be_bytes());
            h.extend_from_slice(&[0x12, 0x34]);
            h.extend_from_slice(&frag.to_be_bytes());
            h.extend_from_slice(&[key.ip_ttl, key.ip_proto, 0, 0]);
            h.extend_from_slice(&(key.src_ip as u32).to_be_bytes());
            h.extend_from_slice(&(key.dst_ip as u32).to_be_bytes());
            h.resize(ihl * 4, 0x01); // NOP options (RFC 791 §3.1)
            let sum = internet_checksum(&h);
            h[10..12].copy_from_slice(&sum.to_be_bytes());
            f.extend_from_slice(&h);
        }
        Family::V6 => {
            f.extend_from_slice(&ETHERTYPE_IPV6.to_be_bytes());
            let first = 0x6000_0000u32 | (u32::from(key.ip_tos) << 20);
            f.extend_from_slice(&first.to_be_bytes());
            f.extend_from_slice(&(l4.len() as u16).to_be_bytes());
            f.extend_from_slice(&[key.ip_proto, key.ip_ttl]);
            f.extend_from_slice(&key.src_ip.to_be_bytes());
            f.extend_from_slice(&key.dst_ip.to_be_bytes());
        }
    }
    f.extend_from_slice(&l4);
    padded(f, 60)
}

#[cfg(feature = "rules")]
fn l4_for_key(key: &PacketKey) -> Vec<u8> {
    let mut l4 = Vec::new();
    let ports = |l4: &mut Vec<u8>| {
        l4.extend_from_slice(&key.src_port.to_be_bytes());
        l4.extend_from_slice(&key.dst_port.to_be_bytes());
    };
    match key.ip_proto {
        6 => {
            ports(&mut l4);
            l4.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0]); // seq, ack
            l4.extend_from_slice(&((5u16 << 12) | (key.tcp_flags & 0x0fff)).to_be_bytes());
            l4.extend_from_slice(&[0xff, 0xff, 0, 0, 0, 0]); // window, checksum, urgent
        }
        17 => {
            ports(&mut l4);
            l4.extend_from_slice(&16u16.to_be_bytes());
            l4.extend_from_slice(&[0, 0]);
            l4.extend_from_slice(b"payload!");
        }
        132 => {
            ports(&mut l4);
            l4.extend_from_slice(&[0; 8]); // verification tag, checksum
        }
        _ => l4.extend_from_slice(&[8, 0, 0, 0, 0, 1, 0, 1]), // an ICMP echo-ish body
    }
    l4
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 1071 §3's example: the words 0001 f203 f4f5 f6f7 sum to ddf2.
    #[test]
    fn checksum_follows_rfc_1071() {
        assert_eq!(internet_checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]), !0xddf2);
        // A header with its checksum in place sums to all ones.
        let header = ipv4_header(17, 8).to_bytes();
        assert_eq!(internet_checksum(&header), 0);
    }

    #[test]
    fn lengths_add_up() {
        let frame = udp4_frame(9, b"x");
        assert_eq!(frame.len(), 14 + 20 + 8 + 1);
        assert_eq!(u16::from_be_bytes([frame[16], frame[17]]), 29, "IPv4 total length");
        assert_eq!(u16::from_be_bytes([frame[38], frame[39]]), 9, "UDP length");
        assert_eq!(generator_udp(0).len(), 60);
        assert_eq!(generator_udp(64).len(), 64);
        assert_eq!(generator_udp(9000).len(), 1514);
        assert_eq!(vxlan_tcp_frame().len(), 110);
        let options = ipv4_with_options(6, &[1, 1, 1, 0], b"");
        assert_eq!((options[0], internet_checksum(&options[..24])), (0x46, 0));
    }

    #[test]
    fn l4_checksums_verify() {
        let frame = generator_udp(100);
        let (src, dst) = (Ipv4Addr::new(198, 18, 0, 1), Ipv4Addr::new(198, 19, 0, 1));
        let mut datagram = frame[34..].to_vec();
        let written = u16::from_be_bytes([datagram[6], datagram[7]]);
        datagram[6..8].copy_from_slice(&[0, 0]);
        assert_eq!(ipv4_l4_checksum(src, dst, 17, &datagram), written);
    }

    #[cfg(feature = "rules")]
    #[test]
    fn keys_become_frames_of_their_family() {
        let key = PacketKey { family: Family::V6, ip_proto: 17, ..PacketKey::default() };
        let frame = for_key(&key, 0);
        assert_eq!(u16::from_be_bytes([frame[12], frame[13]]), ETHERTYPE_IPV6);
        assert_eq!(frame.len(), 14 + 40 + 16);
        assert_eq!(for_key(&PacketKey::default(), 0).len(), 60);
    }
}
