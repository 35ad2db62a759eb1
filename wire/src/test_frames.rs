//! Frame builders for the walker tests, written with the `Repr`s (inside out: payload first).

use std::net::{Ipv4Addr, Ipv6Addr};

use super::{ethertype, EthernetRepr, GeneveRepr, GreRepr, Ipv4Repr, Ipv6Repr, UdpRepr, VlanRepr, VxlanRepr};

pub const SRC_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
pub const DST_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];

fn prepend(header_len: usize, payload: &[u8], emit: impl FnOnce(&mut [u8])) -> Vec<u8> {
    let mut bytes = vec![0u8; header_len + payload.len()];
    emit(&mut bytes[..header_len]);
    bytes[header_len..].copy_from_slice(payload);
    bytes
}

pub fn ethernet(ethertype: u16, payload: &[u8]) -> Vec<u8> {
    ethernet_tagged(&[], ethertype, payload)
}

/// Ethernet with VLAN tags, outermost first, each `(tpid, vid)`.
pub fn ethernet_tagged(tags: &[(u16, u16)], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let first = tags.first().map_or(ethertype, |t| t.0);
    let mut bytes = prepend(14, &[], |b| {
        EthernetRepr { dst_addr: DST_MAC, src_addr: SRC_MAC, ethertype: first }.emit(b).unwrap();
    });
    for (i, &(_, vid)) in tags.iter().enumerate() {
        let next = tags.get(i + 1).map_or(ethertype, |t| t.0);
        let mut tag = [0u8; 4];
        VlanRepr { pcp: 5, dei: false, vid, ethertype: next }.emit(&mut tag).unwrap();
        bytes.extend_from_slice(&tag);
    }
    bytes.extend_from_slice(payload);
    bytes
}

pub fn ipv4_repr(protocol: u8, payload_len: usize) -> Ipv4Repr {
    Ipv4Repr {
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

pub fn ipv4(protocol: u8, payload: &[u8]) -> Vec<u8> {
    ipv4_from(ipv4_repr(protocol, payload.len()), payload)
}

pub fn ipv4_from(repr: Ipv4Repr, payload: &[u8]) -> Vec<u8> {
    prepend(20, payload, |b| {
        repr.emit(b).unwrap();
    })
}

/// IPv4 with `options` (a multiple of 4 bytes) after the fixed header.
pub fn ipv4_with_options(protocol: u8, options: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut bytes = ipv4(protocol, payload);
    let header_len = 20 + options.len();
    bytes.splice(20..20, options.iter().copied());
    bytes[0] = 0x40 | (header_len / 4) as u8;
    bytes[2..4].copy_from_slice(&((header_len + payload.len()) as u16).to_be_bytes());
    let mut packet = super::Ipv4Packet::new_checked(&mut bytes[..]).unwrap();
    packet.fill_checksum();
    bytes
}

pub fn ipv6_addr(last: u16) -> Ipv6Addr {
    Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, last)
}

pub fn ipv6(next_header: u8, payload: &[u8]) -> Vec<u8> {
    let repr = Ipv6Repr {
        src_addr: ipv6_addr(1),
        dst_addr: ipv6_addr(2),
        next_header,
        hop_limit: 64,
        traffic_class: 0,
        flow_label: 0x12345,
        payload_len: payload.len(),
    };
    prepend(40, payload, |b| {
        repr.emit(b).unwrap();
    })
}

pub fn udp(src_port: u16, dst_port: u16, payload: &[u8]) -> Vec<u8> {
    prepend(8, payload, |b| {
        UdpRepr { src_port, dst_port, payload_len: payload.len() }.emit(b).unwrap();
    })
}

/// A TCP segment with an MSS option (data offset 6).
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

pub fn icmp_echo() -> Vec<u8> {
    vec![8, 0, 0, 0, 0, 1, 0, 1, 0xab, 0xcd]
}

pub fn icmpv6_echo() -> Vec<u8> {
    vec![128, 0, 0, 0, 0, 1, 0, 1]
}

pub fn vxlan(vni: u32, inner: &[u8]) -> Vec<u8> {
    prepend(8, inner, |b| {
        VxlanRepr { vni }.emit(b).unwrap();
    })
}

pub fn geneve(vni: u32, protocol_type: u16, options: &[u8], inner: &[u8]) -> Vec<u8> {
    let repr = GeneveRepr { oam: false, critical: false, protocol_type, vni, options };
    prepend(repr.header_len(), inner, |b| {
        repr.emit(b).unwrap();
    })
}

pub fn gre(repr: GreRepr, inner: &[u8]) -> Vec<u8> {
    prepend(repr.header_len(), inner, |b| {
        repr.emit(b).unwrap();
    })
}

/// Pads with zeros to at least `len` bytes, as a NIC pads a short frame.
pub fn padded(mut frame: Vec<u8>, len: usize) -> Vec<u8> {
    if frame.len() < len {
        frame.resize(len, 0);
    }
    frame
}

/// eth / ipv4 / udp / payload.
pub fn udp4_frame(dst_port: u16, payload: &[u8]) -> Vec<u8> {
    ethernet(ethertype::IPV4, &ipv4(17, &udp(1024, dst_port, payload)))
}

/// eth / ipv4 / udp 4789 / vxlan / eth / ipv4 / tcp.
pub fn vxlan_frame() -> Vec<u8> {
    let inner = ethernet(ethertype::IPV4, &ipv4(6, &tcp(1000, 80, b"hello")));
    ethernet(ethertype::IPV4, &ipv4(17, &udp(49152, 4789, &vxlan(0x00beef, &inner))))
}

/// One valid frame of every shape the walker knows, for the property tests.
pub fn all_shapes() -> Vec<Vec<u8>> {
    let inner4 = ipv4(6, &tcp(1, 2, b"data"));
    let inner6 = ipv6(17, &udp(3, 4, b"data"));
    let inner_eth = ethernet(ethertype::IPV4, &inner4);
    let gre_all = GreRepr {
        protocol_type: ethertype::TRANSPARENT_ETHERNET,
        checksum_present: true,
        key: Some(9),
        sequence: Some(1),
    };
    let geneve_options = [0x01, 0x02, 0x03, 0x01, 0xde, 0xad, 0xbe, 0xef];
    vec![
        udp4_frame(9, b"x"),
        padded(udp4_frame(9, b"x"), 60),
        ethernet(ethertype::IPV4, &ipv4(1, &icmp_echo())),
        ethernet(ethertype::IPV6, &ipv6(58, &icmpv6_echo())),
        ethernet_tagged(&[(0x88a8, 10), (0x8100, 20)], ethertype::IPV6, &inner6),
        ethernet(ethertype::IPV4, &ipv4_with_options(6, &[1, 1, 1, 0], &tcp(5, 6, b""))),
        ethernet(ethertype::IPV6, &srv6_fragment_payload()),
        vxlan_frame(),
        ethernet(
            ethertype::IPV4,
            &ipv4(17, &udp(1, 6081, &geneve(7, ethertype::TRANSPARENT_ETHERNET, &geneve_options, &inner_eth))),
        ),
        ethernet(ethertype::IPV6, &ipv6(17, &udp(1, 6081, &geneve(7, ethertype::IPV6, &[], &inner6)))),
        ethernet(ethertype::IPV4, &ipv4(47, &gre(gre_all, &inner_eth))),
        ethernet(
            ethertype::IPV4,
            &ipv4(
                47,
                &gre(
                    GreRepr { protocol_type: ethertype::IPV6, checksum_present: false, key: None, sequence: None },
                    &inner6,
                ),
            ),
        ),
        ethernet(ethertype::IPV4, &ipv4(4, &inner4)),
        ethernet(ethertype::IPV4, &ipv4(41, &inner6)),
        ethernet(ethertype::IPV6, &ipv6(4, &inner4)),
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
