//! Tests of [`walk`] on hand-built frames, and property tests that it never panics and that
//! every offset it returns is inside the frame and in order.

use proptest::prelude::*;

use testkit::frames::*;

use super::*;
use Layer::*;

fn walk_default(frame: &[u8]) -> Result<Offsets, WalkError> {
    let offsets = walk(frame, &WalkConfig::default());
    if let Ok(o) = &offsets {
        check_invariants(frame.len(), o);
    }
    check_same_as_general(frame, &WalkConfig::default());
    offsets
}

/// `walk_into` (with its shortcut for common frames) gives what the general walk gives:
/// the same result, and the same offsets, also those parsed before an error. Into scratch
/// that holds another frame's walk, as a worker's does.
fn check_same_as_general(frame: &[u8], config: &WalkConfig) {
    // GRE with checksum, key and sequence: every field the shortcut has to clear.
    let stale = walk(&all_shapes()[10], &WalkConfig::default()).unwrap();
    assert!(stale.tunnel.is_some_and(|t| t.gre_key.is_some()));
    let (mut fast, mut general) = (stale, stale);
    let fast_result = walk_into(frame, config, &mut fast);
    let general_result = walk_into_general(frame, config, &mut general);
    assert_eq!(fast_result, general_result, "{frame:02x?}");
    assert_eq!(fast, general, "{frame:02x?}");
}

fn error(frame: &[u8]) -> (ErrorKind, Layer, usize) {
    let e = walk_default(frame).unwrap_err();
    (e.kind, e.layer, e.offset)
}

/// Every offset within the frame, each layer after the one before, each region inside the one
/// that contains it.
fn check_invariants(frame_len: usize, offsets: &Offsets) {
    let outer_end = check_headers(&offsets.outer, 0, frame_len);
    match (&offsets.tunnel, &offsets.inner) {
        (None, inner) => assert!(inner.is_none()),
        (Some(tunnel), inner) => {
            let l3 = offsets.outer.l3.expect("a tunnel needs an outer IP header");
            assert!(tunnel.offset >= l3.payload_offset());
            assert!(tunnel.payload_offset() <= tunnel.end && tunnel.end <= l3.end && l3.end <= outer_end);
            if let Some(l4) = offsets.outer.l4 {
                assert_eq!(l4.kind, L4Kind::Udp);
                assert_eq!(tunnel.offset, l4.offset + 8);
                assert!(tunnel.end <= l4.end());
            }
            if let Some(at) = tunnel.gre_checksum_offset {
                assert!(at >= tunnel.offset && at + 2 <= tunnel.payload_offset());
            }
            if let Some(inner) = inner {
                check_headers(inner, tunnel.payload_offset(), tunnel.end);
            }
        }
    }
    assert!(!offsets.layers.is_empty() && offsets.layers.as_slice()[0] == Eth);
}

fn check_headers(headers: &Headers, start: usize, limit: usize) -> usize {
    let mut cursor = start;
    if let Some(l2) = headers.l2 {
        assert!(l2.offset >= cursor && l2.offset + l2.len <= limit, "{l2:?} in {start}..{limit}");
        assert_eq!(l2.len, 14 + 4 * l2.vlan_count());
        cursor = l2.offset + l2.len;
    }
    if let Some(arp) = headers.arp {
        assert!(arp.offset == cursor && arp.offset + ArpInfo::LEN <= limit, "{arp:?} in {start}..{limit}");
        assert!(headers.l3.is_none() && headers.mpls.is_none());
    }
    if let Some(pppoe) = headers.pppoe {
        assert!(pppoe.offset == cursor && pppoe.payload_offset() <= pppoe.end && pppoe.end <= limit, "{pppoe:?}");
        assert!(headers.l3.is_none_or(|l3| l3.offset == pppoe.payload_offset() && l3.end <= pppoe.end));
        cursor = pppoe.payload_offset();
    }
    if let Some(cfm) = headers.cfm {
        assert!(cfm.offset == cursor && cfm.offset + CfmInfo::LEN <= limit, "{cfm:?} in {start}..{limit}");
        assert!(headers.l3.is_none() && headers.mpls.is_none() && headers.arp.is_none());
    }
    if let Some(mpls) = headers.mpls {
        let entries = usize::from(mpls.entries);
        assert!((1..=MAX_MPLS_ENTRIES).contains(&entries));
        assert!(mpls.offset == cursor && mpls.offset + 4 * entries <= limit, "{mpls:?} in {start}..{limit}");
        assert!(headers.l3.is_none());
    }
    let Some(l3) = headers.l3 else {
        assert!(headers.l4.is_none());
        return limit;
    };
    assert!(l3.offset >= cursor, "{l3:?} after {cursor}");
    assert!(l3.payload_offset() <= l3.end && l3.end <= limit, "{l3:?} in {start}..{limit}");
    assert!(l3.dst_offset >= l3.offset && l3.dst_offset + l3.addr_len() <= l3.payload_offset());
    assert!(l3.src_offset() + l3.addr_len() <= l3.payload_offset());
    if let Some(l4) = headers.l4 {
        assert_eq!(l4.offset, l3.payload_offset());
        assert_eq!(l4.end(), l3.end);
        assert_eq!(l4.complete, !l3.fragment.is_fragment());
        assert_ne!(l3.fragment, Fragment::Later);
    }
    l3.end
}

#[test]
fn plain_udp() {
    let frame = udp4_frame(9, b"hello");
    let o = walk_default(&frame).unwrap();
    assert_eq!(o.layers.as_slice(), [Eth, Ipv4, Udp]);
    assert_eq!(o.layers.names().collect::<Vec<_>>(), ["eth", "ipv4", "udp"]);
    let l3 = o.outer.l3.unwrap();
    assert_eq!((l3.kind, l3.offset, l3.header_len, l3.end, l3.protocol), (L3Kind::Ipv4, 14, 20, frame.len(), 17));
    assert_eq!((l3.src_offset(), l3.dst_offset), (26, 30));
    assert_eq!(o.outer.l4, Some(L4Info { kind: L4Kind::Udp, offset: 34, len: 13, complete: true }));
    assert!(o.tunnel.is_none() && o.inner.is_none());
}

#[test]
fn ethernet_padding_stays_out() {
    // A 32-byte IP packet padded to the 60-byte minimum frame.
    let frame = padded(udp4_frame(9, b"abcd"), 60);
    let o = walk_default(&frame).unwrap();
    assert_eq!(o.outer.l3.unwrap().end, 46);
    assert_eq!(o.outer.l4.unwrap().len, 12);
    // A 46-byte IP packet (the smallest that needs no padding) followed by a 4-byte trailer.
    let mut frame = udp4_frame(9, &[7u8; 18]);
    assert_eq!(frame.len(), 60);
    frame.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
    let o = walk_default(&frame).unwrap();
    assert_eq!((o.outer.l3.unwrap().end, o.outer.l4.unwrap().end()), (60, 60));
}

#[test]
fn vlan_and_qinq() {
    let payload = ipv4(17, &udp(1, 2, b""));
    let frame = ethernet_tagged(&[(0x8100, 100)], ethertype::IPV4, &payload);
    let o = walk_default(&frame).unwrap();
    assert_eq!(o.layers.as_slice(), [Eth, Vlan, Ipv4, Udp]);
    let l2 = o.outer.l2.unwrap();
    assert_eq!((l2.len, l2.ethertype_offset()), (18, 16));
    assert_eq!(l2.vlans, [Some(VlanTag { tpid: 0x8100, id: 100, pcp: 5, dei: false }), None]);
    assert_eq!(o.outer.l3.unwrap().offset, 18);

    for outer_tpid in [0x88a8, 0x9100] {
        let frame = ethernet_tagged(&[(outer_tpid, 10), (0x8100, 20)], ethertype::IPV4, &payload);
        let o = walk_default(&frame).unwrap();
        assert_eq!(o.layers.as_slice(), [Eth, Vlan, Vlan, Ipv4, Udp]);
        let vlans = o.outer.l2.unwrap().vlans;
        assert_eq!((vlans[0].unwrap().tpid, vlans[0].unwrap().id), (outer_tpid, 10));
        assert_eq!((vlans[1].unwrap().tpid, vlans[1].unwrap().id), (0x8100, 20));
        assert_eq!(o.outer.l3.unwrap().offset, 22);
    }

    let frame = ethernet_tagged(&[(0x88a8, 1), (0x8100, 2), (0x8100, 3)], ethertype::IPV4, &payload);
    assert_eq!(error(&frame), (ErrorKind::TooManyVlans, Vlan, 22));
}

#[test]
fn not_ip_stops_at_l2() {
    let frame = padded(ethernet(ethertype::ARP, &[0u8; 28]), 60);
    let o = walk_default(&frame).unwrap();
    assert_eq!(o.layers.as_slice(), [Eth]);
    assert!(o.outer.l3.is_none());
}

#[test]
fn arp_for_ipv4_over_ethernet() {
    let body = arp(1, [2, 0, 0, 0, 0, 1], [10, 0, 0, 1], [0; 6], [10, 0, 0, 2]);
    for (ethertype, tags) in [(ethertype::ARP, &[][..]), (ethertype::RARP, &[(0x8100, 7)][..])] {
        let frame = padded(ethernet_tagged(tags, ethertype, &body), 60);
        let o = walk_default(&frame).unwrap();
        let at = 14 + 4 * tags.len();
        assert_eq!(o.outer.arp, Some(ArpInfo { offset: at }));
        assert_eq!((o.layers.as_slice().last(), o.layers.len()), (Some(&Arp), 2 + tags.len()));
        assert_eq!(&frame[o.outer.arp.unwrap().spa_offset()..][..4], [10, 0, 0, 1]);
        assert!(o.outer.l3.is_none());
    }
    // ARP for another hardware or protocol, or a short one: no ARP header, and no error.
    let mut token_ring = body.clone();
    token_ring[1] = 6;
    for other in [token_ring, body[..27].to_vec()] {
        let o = walk_default(&ethernet(ethertype::ARP, &other)).unwrap();
        assert_eq!((o.layers.as_slice(), o.outer.arp), ([Eth].as_slice(), None));
    }
    // Inside VXLAN, the inner headers carry it.
    let inner = padded(ethernet(ethertype::ARP, &body), 60);
    let frame = ethernet(ethertype::IPV4, &ipv4(17, &udp(1, 4789, &vxlan(5, &inner))));
    let o = walk_default(&frame).unwrap();
    assert_eq!(o.inner.unwrap().arp.map(|a| a.offset), Some(14 + 20 + 8 + 8 + 14));
    assert_eq!(o.layers.as_slice(), [Eth, Ipv4, Udp, Vxlan, Eth, Arp]);
}

#[test]
fn mpls_label_stack_up_to_the_bottom() {
    let stack = mpls(&[(100, 5, 64), (200, 0, 1)], &ipv4(17, &udp(1, 2, b"")));
    let frame = ethernet(ethertype::MPLS_UNICAST, &stack);
    let o = walk_default(&frame).unwrap();
    assert_eq!(o.outer.mpls, Some(MplsInfo { offset: 14, entries: 2, bottom: true }));
    // RFC 3032 leaves what follows to the label: no IP is guessed under it.
    assert_eq!(o.layers.as_slice(), [Eth, Mpls]);
    assert!(o.outer.l3.is_none() && o.outer.l4.is_none());
    assert_eq!(&frame[14..18], [0x00, 0x06, 0x4a, 0x40]);
    // Multicast, tagged; a stack without a bottom within the frame is read to its end.
    let frame = ethernet_tagged(&[(0x8100, 3)], ethertype::MPLS_MULTICAST, &mpls(&[(1, 0, 9)], b""));
    assert_eq!(walk_default(&frame).unwrap().outer.mpls, Some(MplsInfo { offset: 18, entries: 1, bottom: true }));
    let mut no_bottom = mpls(&[(1, 0, 9), (2, 0, 9)], b"");
    no_bottom[6] &= !1;
    let o = walk_default(&ethernet(ethertype::MPLS_UNICAST, &no_bottom)).unwrap();
    assert_eq!(o.outer.mpls, Some(MplsInfo { offset: 14, entries: 2, bottom: false }));
    let deep: Vec<(u32, u8, u8)> = (0..9).map(|i| (i, 0, 1)).collect();
    let o = walk_default(&ethernet(ethertype::MPLS_UNICAST, &mpls(&deep, b""))).unwrap();
    assert_eq!(o.outer.mpls.map(|m| (m.entries, m.bottom)), Some((MAX_MPLS_ENTRIES as u8, false)));
    // Fewer than 4 bytes: no entry, no error (the frame is L2 only, as any unknown ethertype).
    let o = walk_default(&ethernet(ethertype::MPLS_UNICAST, &[0, 0, 1])).unwrap();
    assert_eq!((o.layers.as_slice(), o.outer.mpls), ([Eth].as_slice(), None));
}

/// A PPPoE session header (RFC 2516 §5: version 1, type 1, code 0) for `session`, carrying
/// PPP protocol `protocol` (RFC 1661 §2) and `payload`.
fn pppoe(session: u16, protocol: u16, payload: &[u8]) -> Vec<u8> {
    let length = (payload.len() + 2) as u16;
    let header = [0x11, 0, (session >> 8) as u8, session as u8, (length >> 8) as u8, length as u8];
    [&header[..], &protocol.to_be_bytes(), payload].concat()
}

#[test]
fn pppoe_session_carries_ip_as_the_flow_dissector_reads_it() {
    let ip = ipv4(17, &udp(1, 2, b"x"));
    let frame = padded(ethernet(ethertype::PPPOE_SESSION, &pppoe(0x1234, 0x0021, &ip)), 60);
    let o = walk_default(&frame).unwrap();
    assert_eq!(o.layers.as_slice(), [Eth, Pppoe, Ipv4, Udp]);
    let p = o.outer.pppoe.unwrap();
    assert_eq!((p.offset, p.header_len, p.end, p.protocol), (14, 8, 22 + ip.len(), 0x21));
    assert_eq!((p.session_offset(), p.payload_offset()), (16, 22));
    let l3 = o.outer.l3.unwrap();
    assert_eq!((l3.offset, l3.end), (22, 22 + ip.len()));
    assert_eq!(o.outer.l4.map(|l4| l4.offset), Some(42));
    // IPv6 under a tag; a tunnel inside; MPLS as the flow dissector goes on into it.
    let v6 = ipv6(6, &tcp(1, 2, b""));
    let frame = ethernet_tagged(&[(0x8100, 2)], ethertype::PPPOE_SESSION, &pppoe(7, 0x0057, &v6));
    let o = walk_default(&frame).unwrap();
    assert_eq!(o.layers.as_slice(), [Eth, Vlan, Pppoe, Ipv6, Tcp]);
    let vxlan_in = ipv4(17, &udp(1, 4789, &vxlan(5, &udp4_frame(9, b""))));
    let o = walk_default(&ethernet(ethertype::PPPOE_SESSION, &pppoe(7, 0x21, &vxlan_in))).unwrap();
    assert_eq!(o.layers.as_slice(), [Eth, Pppoe, Ipv4, Udp, Vxlan, Eth, Ipv4, Udp]);
    let o = walk_default(&ethernet(ethertype::PPPOE_SESSION, &pppoe(7, 0x0281, &mpls(&[(5, 0, 1)], b"")))).unwrap();
    assert_eq!(o.outer.mpls, Some(MplsInfo { offset: 22, entries: 1, bottom: true }));
    // RFC 1661 §6.5: a compressed (one-byte) protocol field.
    let mut compressed = pppoe(7, 0x21, &ip);
    compressed.remove(6);
    compressed[5] -= 1;
    let o = walk_default(&ethernet(ethertype::PPPOE_SESSION, &compressed)).unwrap();
    assert_eq!(o.outer.pppoe.map(|p| (p.header_len, p.protocol)), Some((7, 0x21)));
    assert_eq!(o.outer.l3.map(|l3| l3.offset), Some(21));
}

#[test]
fn pppoe_headers_the_flow_dissector_refuses_are_l2_only() {
    let ip = ipv4(17, &udp(1, 2, b"x"));
    let good = pppoe(1, 0x21, &ip);
    let l2_only = |body: &[u8]| {
        let o = walk_default(&ethernet(ethertype::PPPOE_SESSION, body)).unwrap();
        (o.layers.as_slice() == [Eth] && o.outer.pppoe.is_none() && o.outer.l3.is_none(), o)
    };
    for (what, at, value) in [("version 2", 0, 0x21u8), ("type 2", 0, 0x12), ("code PADT", 1, 0xa7)] {
        let mut bad = good.clone();
        bad[at] = value;
        assert!(l2_only(&bad).0, "{what}");
    }
    // An even protocol (0x0020), one whose high byte is odd (0x0121 is compressed 0x01):
    // not PPP protocols (RFC 1661 §2).
    let (ok, _) = l2_only(&pppoe(1, 0x0020, &ip));
    assert!(ok, "even protocol");
    // LCP: a valid session, nothing walked under it.
    let o = walk_default(&ethernet(ethertype::PPPOE_SESSION, &pppoe(1, 0xc021, &[1, 1, 0, 4]))).unwrap();
    assert_eq!((o.layers.as_slice(), o.outer.pppoe.map(|p| p.protocol)), ([Eth, Pppoe].as_slice(), Some(0xc021)));
    // A length past the frame, or too short for the protocol field; a header cut short.
    let mut long = good.clone();
    long[5] += 1;
    assert!(l2_only(&long).0, "length past the frame");
    let mut short = good.clone();
    short[4..6].copy_from_slice(&[0, 1]);
    assert!(l2_only(&short).0, "length 1");
    assert!(l2_only(&good[..7]).0, "7 bytes");
    // The length bounds the IP packet: one that claims more than it is an error.
    let mut cut = good.clone();
    cut[5] -= 1;
    assert!(walk_default(&ethernet(ethertype::PPPOE_SESSION, &cut)).is_err());
}

#[test]
fn cfm_common_header() {
    // IEEE 802.1Q §21.4.1: MD level 5, version 0, opcode 1 (CCM), flags, first TLV offset 70.
    let frame = ethernet(ethertype::CFM, &[5 << 5, 1, 0x04, 70]);
    let o = walk_default(&frame).unwrap();
    assert_eq!((o.outer.cfm, o.layers.as_slice()), (Some(CfmInfo { offset: 14 }), [Eth, Cfm].as_slice()));
    assert_eq!(o.outer.cfm.map(|c| c.opcode_offset()), Some(15));
    assert!(o.outer.l3.is_none() && o.outer.mpls.is_none());
    // Under a tag; inside VXLAN.
    let frame = ethernet_tagged(&[(0x8100, 7)], ethertype::CFM, &[3 << 5, 47]);
    assert_eq!(walk_default(&frame).unwrap().outer.cfm, Some(CfmInfo { offset: 18 }));
    let inner = ethernet(ethertype::CFM, &[0, 3, 0, 0]);
    let frame = ethernet(ethertype::IPV4, &ipv4(17, &udp(1, 4789, &vxlan(5, &inner))));
    let o = walk_default(&frame).unwrap();
    assert_eq!(o.inner.and_then(|h| h.cfm), Some(CfmInfo { offset: 14 + 20 + 8 + 8 + 14 }));
    // One byte is no header (the flow dissector needs both): L2 only, no error.
    let o = walk_default(&ethernet(ethertype::CFM, &[0xa0])).unwrap();
    assert_eq!((o.layers.as_slice(), o.outer.cfm), ([Eth].as_slice(), None));
}

#[test]
fn l2tpv3_over_ip_is_an_undecoded_l4() {
    // RFC 3931 §4.1.1.2: the session id right after the IP header; the key reads it there.
    let frame = ethernet(ethertype::IPV4, &ipv4(115, &[0, 0, 4, 0xd2, 1, 2]));
    let o = walk_default(&frame).unwrap();
    assert_eq!(o.outer.l4, Some(L4Info { kind: L4Kind::Other(115), offset: 34, len: 6, complete: true }));
    assert_eq!(o.layers.as_slice(), [Eth, Ipv4]);
}

#[test]
fn ipv4_options() {
    let frame = ethernet(ethertype::IPV4, &ipv4_with_options(6, &[0x94, 0x04, 0, 0, 1, 1, 1, 0], &tcp(1, 2, b"")));
    let o = walk_default(&frame).unwrap();
    let l3 = o.outer.l3.unwrap();
    assert_eq!((l3.header_len, l3.payload_offset()), (28, 42));
    assert_eq!(o.outer.l4.unwrap().offset, 42);
    assert_eq!(o.layers.as_slice(), [Eth, Ipv4, Tcp]);
}

#[test]
fn malformed_ipv4() {
    let mut frame = udp4_frame(9, b"x");
    frame[14] = 0x44; // IHL 4
    assert_eq!(error(&frame), (ErrorKind::BadIhl, Ipv4, 14));
    let mut frame = udp4_frame(9, b"x");
    frame[17] += 1; // total length one past the frame
    let e = walk_default(&frame).unwrap_err();
    assert_eq!((e.kind, e.needed, e.available), (ErrorKind::BadTotalLength, 30, 29));
    let mut frame = udp4_frame(9, b"x");
    frame[14] = 0x65;
    assert_eq!(error(&frame), (ErrorKind::BadVersion, Ipv4, 14));
}

#[test]
fn truncated_at_each_layer() {
    let eth4 = |payload: &[u8]| ethernet(ethertype::IPV4, payload);
    let udp_to = |port, payload: &[u8]| eth4(&ipv4(17, &udp(1, port, payload)));
    let cases: Vec<(Vec<u8>, Layer, usize, usize)> = vec![
        (udp4_frame(9, b"")[..13].to_vec(), Eth, 0, 13),
        (ethernet(0x8100, &[0, 1]), Vlan, 14, 2),
        (eth4(&[0x45; 12]), Ipv4, 14, 12),
        (ethernet(ethertype::IPV6, &[0x60; 30]), Ipv6, 14, 30),
        (eth4(&ipv4(17, &[0; 4])), Udp, 34, 4),
        (eth4(&ipv4(6, &[0; 12])), Tcp, 34, 12),
        (eth4(&ipv4(1, &[8, 0, 0, 0])), Icmp, 34, 4),
        (ethernet(ethertype::IPV6, &ipv6(58, &[128, 0])), Icmpv6, 54, 2),
        (udp_to(4789, &[8, 0, 0, 0, 0]), Vxlan, 42, 5),
        (udp_to(6081, &[0; 6]), Geneve, 42, 6),
        (eth4(&ipv4(47, &[0, 0])), Gre, 34, 2),
        (udp_to(4789, &vxlan(1, &[0; 10])), Eth, 50, 10),
        (udp_to(4789, &vxlan(1, &ethernet(ethertype::IPV4, &[0x45; 10]))), Ipv4, 64, 10),
        (eth4(&ipv4(4, &[0x45; 10])), Ipv4, 34, 10),
    ];
    for (frame, layer, offset, available) in cases {
        let e = walk_default(&frame).unwrap_err();
        assert_eq!((e.kind, e.layer, e.offset, e.available), (ErrorKind::Truncated, layer, offset, available), "{e}");
    }
    let e = walk_default(&eth4(&[0x45; 12])).unwrap_err();
    assert_eq!(e.to_string(), "ipv4 at offset 14: header needs 20 bytes, 12 available");
}

#[test]
fn udp_and_tcp_lengths() {
    let mut frame = udp4_frame(9, b"abcd");
    frame[38..40].copy_from_slice(&13u16.to_be_bytes()); // UDP length beyond the IP payload
    let e = walk_default(&frame).unwrap_err();
    assert_eq!((e.kind, e.layer, e.needed, e.available), (ErrorKind::BadUdpLength, Udp, 13, 12));
    assert_eq!(e.kind.name(), "bad_udp_length");
    frame[38..40].copy_from_slice(&7u16.to_be_bytes());
    assert_eq!(error(&frame), (ErrorKind::BadUdpLength, Udp, 34));
    frame[38..40].copy_from_slice(&10u16.to_be_bytes()); // shorter than the IP payload: fine
    assert_eq!(walk_default(&frame).unwrap().outer.l4.unwrap().len, 12, "L4 length comes from IP");

    let mut frame = ethernet(ethertype::IPV4, &ipv4(6, &tcp(1, 2, b"")));
    frame[34 + 12] = 0x40;
    assert_eq!(error(&frame), (ErrorKind::BadTcpOffset, Tcp, 34));
    frame[34 + 12] = 0x70; // 28 bytes of header in a 24-byte segment
    assert_eq!(error(&frame), (ErrorKind::BadTcpOffset, Tcp, 34));
}

#[test]
fn icmp() {
    let o = walk_default(&ethernet(ethertype::IPV4, &ipv4(1, &icmp_echo()))).unwrap();
    assert_eq!((o.layers.as_slice(), o.outer.l4.unwrap().kind), ([Eth, Ipv4, Icmp].as_slice(), L4Kind::Icmp));
    let o = walk_default(&ethernet(ethertype::IPV6, &ipv6(58, &icmpv6_echo()))).unwrap();
    assert_eq!((o.layers.as_slice(), o.outer.l4.unwrap().kind), ([Eth, Ipv6, Icmpv6].as_slice(), L4Kind::Icmpv6));
}

#[test]
fn unknown_l4_is_other() {
    let frame = ethernet(ethertype::IPV4, &ipv4(132, &[0; 12])); // SCTP
    let o = walk_default(&frame).unwrap();
    assert_eq!(o.layers.as_slice(), [Eth, Ipv4]);
    assert_eq!(o.outer.l4, Some(L4Info { kind: L4Kind::Other(132), offset: 34, len: 12, complete: true }));
    let o = walk_default(&ethernet(ethertype::IPV6, &ipv6(59, &[]))).unwrap();
    assert!(o.outer.l4.is_none(), "no next header");
}

#[test]
fn ipv4_fragments() {
    let datagram = udp(1, 4789, &[0u8; 100]);
    let mut first = ipv4_header(17, 48);
    first.more_fragments = true;
    first.dont_fragment = false;
    let frame = ethernet(ethertype::IPV4, &ipv4_from(first, &datagram[..48]));
    let o = walk_default(&frame).unwrap();
    let l3 = o.outer.l3.unwrap();
    assert_eq!(l3.fragment, Fragment::First);
    assert_eq!(o.outer.l4, Some(L4Info { kind: L4Kind::Udp, offset: 34, len: 48, complete: false }));
    assert!(o.tunnel.is_none(), "a tunnel in a fragment is not decoded");
    assert_eq!(o.layers.as_slice(), [Eth, Ipv4, Udp]);

    let later = Ipv4Header { more_fragments: false, fragment_offset: 48, ..first };
    let frame = ethernet(ethertype::IPV4, &ipv4_from(later, &datagram[48..]));
    let o = walk_default(&frame).unwrap();
    assert_eq!((o.outer.l3.unwrap().fragment, o.outer.l4), (Fragment::Later, None));
    assert_eq!(o.layers.as_slice(), [Eth, Ipv4]);
}

#[test]
fn ipv6_hop_by_hop_srh_fragment() {
    let frame = ethernet(ethertype::IPV6, &srv6_fragment_payload());
    let o = walk_default(&frame).unwrap();
    assert_eq!(o.layers.as_slice(), [Eth, Ipv6, Udp]);
    let l3 = o.outer.l3.unwrap();
    assert_eq!((l3.header_len, l3.protocol, l3.fragment), (40 + 8 + 40 + 8, 17, Fragment::First));
    // The pseudo-header destination is Segment List[0], not the destination field (::51).
    let dst = &frame[l3.dst_offset..l3.dst_offset + 16];
    assert_eq!(dst, ipv6_addr(0xd).octets());
    assert_eq!(l3.dst_offset, 14 + 40 + 8 + 8);
    let l4 = o.outer.l4.unwrap();
    assert_eq!((l4.offset, l4.len, l4.complete), (14 + 96, 24, false));

    // The same chain at its final destination (segments left 0): the destination field is final.
    let mut arrived = frame.clone();
    arrived[14 + 48 + 3] = 0;
    let l3 = walk_default(&arrived).unwrap().outer.l3.unwrap();
    assert_eq!(l3.dst_offset, 14 + 24);

    // A later fragment: no L4.
    let mut later = frame.clone();
    later[14 + 88 + 3] = 0x08; // offset 8 bytes, M clear
    let o = walk_default(&later).unwrap();
    assert_eq!((o.outer.l3.unwrap().fragment, o.outer.l4), (Fragment::Later, None));
    assert_eq!(o.outer.l3.unwrap().header_len, 96);
}

#[test]
fn ipv6_malformed() {
    let mut frame = ethernet(ethertype::IPV6, &srv6_fragment_payload());
    frame[14 + 40 + 8 + 1] = 200; // the SRH claims 1608 bytes: past the payload
    let e = walk_default(&frame).unwrap_err();
    assert_eq!((e.kind, e.layer, e.offset, e.needed), (ErrorKind::Truncated, Ipv6, 62, 1608));
    let mut frame = ethernet(ethertype::IPV6, &ipv6(17, &udp(1, 2, b"")));
    frame[19] += 1; // payload length past the frame
    assert_eq!(error(&frame), (ErrorKind::BadPayloadLength, Ipv6, 14));
    let frame = ethernet(ethertype::IPV6, &ipv6(60, &[0, 0, 0, 0, 0, 0, 0, 0, 17, 0, 0, 0, 0, 0, 0, 0]));
    assert_eq!(error(&frame), (ErrorKind::BadExtHeaderOrder, Ipv6, 62));
    let frame = ethernet(ethertype::IPV6, &ipv6(60, &[60, 0, 0, 0, 0, 0, 0, 0].repeat(9)));
    assert_eq!(error(&frame), (ErrorKind::TooManyExtHeaders, Ipv6, 54 + 64));
}

#[test]
fn vxlan_default_port() {
    let frame = vxlan_frame();
    let o = walk_default(&frame).unwrap();
    assert_eq!(o.layers.as_slice(), [Eth, Ipv4, Udp, Vxlan, Eth, Ipv4, Tcp]);
    let tunnel = o.tunnel.unwrap();
    assert_eq!((tunnel.kind, tunnel.offset, tunnel.header_len, tunnel.end), (TunnelKind::Vxlan, 42, 8, frame.len()));
    assert_eq!((tunnel.vni, tunnel.protocol), (Some(0xbeef), ethertype::TRANSPARENT_ETHERNET));
    let inner = o.inner.unwrap();
    assert_eq!(inner.l2.unwrap().offset, 50);
    assert_eq!(inner.l3.unwrap().offset, 64);
    assert_eq!(inner.l4.unwrap().offset, 84);
    assert_eq!(inner.l4.unwrap().end(), frame.len());
    assert_eq!(o.innermost(), &inner);
}

#[test]
fn inner_padding_and_nested_tunnel_stay_payload() {
    // The inner frame is padded to 60 bytes and carries VXLAN itself: one level only.
    let nested = vxlan(2, &udp4_frame(9, b""));
    let inner = padded(ethernet(ethertype::IPV4, &ipv4(17, &udp(1, 4789, &nested[..8]))), 60);
    let frame = ethernet(ethertype::IPV4, &ipv4(17, &udp(1, 4789, &vxlan(1, &inner))));
    let o = walk_default(&frame).unwrap();
    assert_eq!(o.layers.as_slice(), [Eth, Ipv4, Udp, Vxlan, Eth, Ipv4, Udp]);
    let l3 = o.inner.unwrap().l3.unwrap();
    assert_eq!(l3.end, 50 + 14 + 36, "the inner IP end, not the inner frame's padding");
}

#[test]
fn vxlan_on_a_configured_port() {
    let inner = ethernet(ethertype::IPV4, &ipv4(17, &udp(1, 2, b"")));
    let frame = udp4_frame(8472, &vxlan(5, &inner));
    let o = walk_default(&frame).unwrap();
    assert_eq!(o.layers.as_slice(), [Eth, Ipv4, Udp], "8472 is not VXLAN by default");
    let config = WalkConfig { vxlan_ports: PortSet::from_ports(&[4789, 8472]).unwrap(), ..WalkConfig::default() };
    let o = walk(&frame, &config).unwrap();
    check_invariants(frame.len(), &o);
    assert_eq!(o.layers.as_slice(), [Eth, Ipv4, Udp, Vxlan, Eth, Ipv4, Udp]);
    assert_eq!(o.tunnel.unwrap().vni, Some(5));
    let mut frame = frame;
    frame[42] = 0; // I flag clear
    let e = walk(&frame, &config).unwrap_err();
    assert_eq!((e.kind, e.layer, e.offset), (ErrorKind::BadVxlanFlags, Vxlan, 42));
}

#[test]
fn port_set() {
    let mut set = PortSet::empty();
    for port in 1..=8 {
        assert!(set.insert(port));
    }
    assert!(set.insert(3), "already there");
    assert!(!set.insert(9), "full");
    assert_eq!((set.len(), set.contains(8), set.contains(9)), (8, true, false));
    assert!(PortSet::from_ports(&[1, 2, 3, 4, 5, 6, 7, 8, 9]).is_none());
    assert_eq!(PortSet::single(4789).as_slice(), [4789]);
}

#[test]
fn geneve_with_options() {
    let options = [0x01, 0x02, 0x03, 0x01, 0xde, 0xad, 0xbe, 0xef, 0x01, 0x03, 0x80, 0x00];
    let inner = ethernet(ethertype::IPV4, &ipv4(6, &tcp(1, 2, b"")));
    let frame = udp4_frame(6081, &geneve(0x77, ethertype::TRANSPARENT_ETHERNET, &options, &inner));
    let o = walk_default(&frame).unwrap();
    assert_eq!(o.layers.as_slice(), [Eth, Ipv4, Udp, Geneve, Eth, Ipv4, Tcp]);
    let tunnel = o.tunnel.unwrap();
    assert_eq!((tunnel.kind, tunnel.header_len, tunnel.vni), (TunnelKind::Geneve, 20, Some(0x77)));
    assert_eq!(o.inner.unwrap().l2.unwrap().offset, 62);

    // Geneve carrying IPv6 straight away: no inner L2.
    let frame = udp4_frame(6081, &geneve(1, ethertype::IPV6, &[], &ipv6(17, &udp(1, 2, b""))));
    let o = walk_default(&frame).unwrap();
    assert_eq!(o.layers.as_slice(), [Eth, Ipv4, Udp, Geneve, Ipv6, Udp]);
    assert!(o.inner.unwrap().l2.is_none());

    // An unknown protocol type: the tunnel is there, its payload is not walked.
    let frame = udp4_frame(6081, &geneve(1, 0x88cc, &[], &[0; 20]));
    let o = walk_default(&frame).unwrap();
    assert_eq!((o.tunnel.unwrap().protocol, o.inner), (0x88cc, None));
}

#[test]
fn geneve_malformed() {
    let options = [0x01, 0x02, 0x03, 0x01, 0xde, 0xad, 0xbe, 0xef];
    let good = udp4_frame(6081, &geneve(1, ethertype::TRANSPARENT_ETHERNET, &options, &udp4_frame(9, b"")));
    let mut frame = good.clone();
    frame[42] |= 0x80; // version 2
    let e = walk_default(&frame).unwrap_err();
    assert_eq!((e.kind, e.layer, e.offset, e.available), (ErrorKind::BadGeneveVersion, Geneve, 42, 2));
    let mut frame = good.clone();
    frame[50 + 3] = 0x02; // the option claims 8 data bytes, the options hold 4
    let e = walk_default(&frame).unwrap_err();
    assert_eq!((e.kind, e.offset, e.needed, e.available), (ErrorKind::BadGeneveOptions, 42, 12, 8));
    let mut frame = good;
    frame[42] = 0x3f; // 252 bytes of options: past the UDP payload
    assert_eq!(error(&frame), (ErrorKind::Truncated, Geneve, 42));
}

#[test]
fn gre_with_checksum_key_sequence_and_inner_ethernet() {
    let repr = GreHeader {
        protocol_type: ethertype::TRANSPARENT_ETHERNET,
        checksum_present: true,
        key: Some(0x1234_5678),
        sequence: Some(99),
    };
    let inner = ethernet(ethertype::IPV4, &ipv4(17, &udp(1, 2, b"abc")));
    let frame = ethernet(ethertype::IPV4, &ipv4(47, &gre(repr, &inner)));
    let o = walk_default(&frame).unwrap();
    assert_eq!(o.layers.as_slice(), [Eth, Ipv4, Gre, Eth, Ipv4, Udp]);
    assert!(o.outer.l4.is_none(), "GRE is the tunnel, not an L4");
    let tunnel = o.tunnel.unwrap();
    assert_eq!((tunnel.kind, tunnel.offset, tunnel.header_len, tunnel.end), (TunnelKind::Gre, 34, 16, frame.len()));
    assert_eq!(
        (tunnel.gre_key, tunnel.gre_sequence, tunnel.gre_checksum_offset),
        (Some(0x1234_5678), Some(99), Some(38))
    );
    assert!(tunnel.has_gre_checksum());
    assert_eq!(o.inner.unwrap().l2.unwrap().offset, 50);

    // Key only, carrying IPv4: no inner L2, no checksum.
    let repr = GreHeader { protocol_type: ethertype::IPV4, checksum_present: false, key: Some(1), sequence: None };
    let frame = ethernet(ethertype::IPV4, &ipv4(47, &gre(repr, &ipv4(6, &tcp(1, 2, b"")))));
    let o = walk_default(&frame).unwrap();
    assert_eq!(o.layers.as_slice(), [Eth, Ipv4, Gre, Ipv4, Tcp]);
    let tunnel = o.tunnel.unwrap();
    assert_eq!((tunnel.header_len, tunnel.has_gre_checksum()), (8, false));
    assert_eq!(o.inner.unwrap().l3.unwrap().offset, 42);
    assert!(o.inner.unwrap().l2.is_none());

    // GRE can be turned off: then it is an undecoded L4.
    let config = WalkConfig { gre: false, ..WalkConfig::default() };
    let o = walk(&frame, &config).unwrap();
    assert_eq!((o.layers.as_slice(), o.outer.l4.unwrap().kind), ([Eth, Ipv4].as_slice(), L4Kind::Other(47)));
}

#[test]
fn gre_malformed() {
    let repr = GreHeader { protocol_type: ethertype::IPV4, checksum_present: false, key: None, sequence: None };
    let good = ethernet(ethertype::IPV4, &ipv4(47, &gre(repr, &ipv4(6, &tcp(1, 2, b"")))));
    let mut frame = good.clone();
    frame[35] = 0x01; // version 1 (PPTP)
    assert_eq!(error(&frame), (ErrorKind::BadGreVersion, Gre, 34));
    let mut frame = good.clone();
    frame[34] = 0x40; // the RFC 1701 routing bit
    assert_eq!(error(&frame), (ErrorKind::BadGreFlags, Gre, 34));
    let frame = ethernet(ethertype::IPV4, &ipv4(47, &[0x80, 0x00, 0x08, 0x00, 0, 0])); // C set, checksum cut
    let e = walk_default(&frame).unwrap_err();
    assert_eq!((e.kind, e.layer, e.offset, e.needed, e.available), (ErrorKind::Truncated, Gre, 34, 8, 6));
    // Bits 6-12 are ignored on receipt (RFC 2784 §2.3).
    let mut frame = good;
    frame[35] = 0x08;
    assert!(walk_default(&frame).is_ok());
}

#[test]
fn ip_in_ip() {
    let frame = ethernet(ethertype::IPV4, &ipv4(4, &ipv4(6, &tcp(1, 2, b"x"))));
    let o = walk_default(&frame).unwrap();
    assert_eq!(o.layers.as_slice(), [Eth, Ipv4, Ipv4, Tcp]);
    let tunnel = o.tunnel.unwrap();
    assert_eq!((tunnel.kind, tunnel.offset, tunnel.header_len), (TunnelKind::IpInIp, 34, 0));
    assert!(o.outer.l4.is_none());
    let inner = o.inner.unwrap();
    assert_eq!((inner.l2, inner.l3.unwrap().offset, inner.l4.unwrap().offset), (None, 34, 54));

    let frame = ethernet(ethertype::IPV4, &ipv4(41, &ipv6(17, &udp(1, 2, b""))));
    let o = walk_default(&frame).unwrap();
    assert_eq!(o.layers.as_slice(), [Eth, Ipv4, Ipv6, Udp]);
    assert_eq!(o.inner.unwrap().l3.unwrap().kind, L3Kind::Ipv6);

    let frame = ethernet(ethertype::IPV6, &ipv6(4, &ipv4(17, &udp(1, 2, b""))));
    assert_eq!(walk_default(&frame).unwrap().layers.as_slice(), [Eth, Ipv6, Ipv4, Udp]);

    // Protocol 4 with an IPv6 packet inside is malformed.
    let frame = ethernet(ethertype::IPV4, &ipv4(4, &ipv6(17, &udp(1, 2, b""))));
    assert_eq!(error(&frame), (ErrorKind::BadVersion, Ipv4, 34));
}

#[test]
fn every_shape_walks() {
    for frame in all_shapes() {
        walk_default(&frame).unwrap_or_else(|e| panic!("{e}: {frame:02x?}"));
    }
}

proptest! {
    #[test]
    fn never_panics_on_arbitrary_bytes(frame in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = walk_default(&frame);
    }

    /// Random bytes rarely get past the EtherType; these start each layer's dice right.
    #[test]
    fn never_panics_on_random_ip_packets(
        ethertype in prop::sample::select(vec![0x0800u16, 0x86dd, 0x8100, 0x88a8]),
        version_ihl in prop::sample::select(vec![0x45u8, 0x46, 0x4f, 0x60, 0x00]),
        protocol in prop::sample::select(vec![0u8, 4, 6, 17, 41, 43, 44, 47, 58, 60]),
        mut body in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        if body.len() > 10 {
            body[0] = version_ihl;
            body[6] = protocol; // IPv6 next header
            body[9] = protocol; // IPv4 protocol
        }
        let _ = walk_default(&ethernet(ethertype, &body));
    }

    #[test]
    fn never_panics_on_damaged_frames(
        shape in 0..all_shapes().len(),
        cut in any::<prop::sample::Index>(),
        damage in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
        vxlan_port in prop_oneof![Just(4789u16), any::<u16>()],
    ) {
        let mut frame = all_shapes().swap_remove(shape);
        frame.truncate(cut.index(frame.len() + 1));
        for (at, byte) in damage {
            if !frame.is_empty() {
                let at = at.index(frame.len());
                frame[at] = byte;
            }
        }
        let config = WalkConfig { vxlan_ports: PortSet::single(vxlan_port), ..WalkConfig::default() };
        check_same_as_general(&frame, &config);
        if let Ok(offsets) = walk(&frame, &config) {
            check_invariants(frame.len(), &offsets);
        }
    }
}

// --- captures of other link types, lengths tshark reads, RFC 2675, SRv6 ----------------------

/// IPv6 with payload length 0 and a hop-by-hop header holding a Jumbo Payload option of
/// `jumbo_len` (RFC 2675 §2), then `upper` (protocol `next`) padded to `jumbo_len`.
fn jumbogram(next: u8, jumbo_len: u32, upper: &[u8]) -> Vec<u8> {
    let mut hbh = vec![next, 0, 0xc2, 4];
    hbh.extend_from_slice(&jumbo_len.to_be_bytes());
    let mut payload = hbh;
    payload.extend_from_slice(upper);
    payload.resize(jumbo_len as usize, 0);
    // The fixed header alone (the Repr refuses payloads over 65,535), payload length 0.
    let mut packet = ipv6(0, &[]);
    packet.extend_from_slice(&payload);
    packet
}

#[test]
fn jumbogram_length_comes_from_the_jumbo_payload_option() {
    let tcp = tcp_segment_bytes();
    let frame = ethernet(ethertype::IPV6, &jumbogram(6, 70_000, &tcp));
    let o = walk_default(&frame).unwrap();
    assert_eq!(o.layers.as_slice(), [Eth, Ipv6, Tcp]);
    let l3 = o.outer.l3.unwrap();
    assert_eq!((l3.header_len, l3.end, l3.protocol), (48, 14 + 40 + 70_000, 6));
    assert_eq!(o.outer.l4.unwrap().len, 70_000 - 8);
}

#[test]
fn malformed_jumbograms_are_payload_length_errors() {
    let tcp = tcp_segment_bytes();
    // RFC 2675 §3: a Jumbo Payload Length of 65,535 or less is an error.
    let small = ethernet(ethertype::IPV6, &jumbogram(6, 1000, &tcp));
    assert_eq!(walk_default(&small).unwrap_err().kind, ErrorKind::BadPayloadLength);
    // More than the frame holds.
    let mut cut = ethernet(ethertype::IPV6, &jumbogram(6, 70_000, &tcp));
    cut.truncate(60_000);
    let err = walk_default(&cut).unwrap_err();
    assert_eq!((err.kind, err.layer, err.needed), (ErrorKind::BadPayloadLength, Ipv6, 40 + 70_000));
    // Payload length 0 and hop-by-hop options without the Jumbo Payload option.
    let mut missing = ethernet(ethertype::IPV6, &ipv6(0, &[6, 0, 1, 4, 0, 0, 0, 0]));
    missing[14 + 4..14 + 6].copy_from_slice(&[0, 0]);
    assert_eq!(walk_default(&missing).unwrap_err().kind, ErrorKind::BadPayloadLength);
}

fn tcp_segment_bytes() -> Vec<u8> {
    let mut tcp = vec![0u8; 20];
    tcp[12] = 5 << 4;
    tcp
}

#[test]
fn srv6_carrying_ethernet_is_walked_into() {
    // RFC 8754 SRH (routing type 4), next header 143: an Ethernet frame (RFC 8986 §10.1).
    let inner = ethernet(ethertype::IPV4, &ipv4(17, &udp(1, 2, b"in")));
    let mut srh = vec![143, 2, 4, 0, 0, 0, 0, 0];
    srh.extend_from_slice(&ipv6_addr(9).octets());
    srh.extend_from_slice(&inner);
    let frame = ethernet(ethertype::IPV6, &ipv6(43, &srh));
    let o = walk_default(&frame).unwrap();
    assert_eq!(o.layers.as_slice(), [Eth, Ipv6, Eth, Ipv4, Udp]);
    let tunnel = o.tunnel.unwrap();
    assert_eq!((tunnel.kind, tunnel.offset, tunnel.protocol), (TunnelKind::IpInIp, 14 + 40 + 24, 0x6558));
    assert!(o.inner.unwrap().l2.is_some());
    // And IPv4 / IPv6 after an SRH, as after any extension header.
    let mut srh4 = vec![4, 2, 4, 0, 0, 0, 0, 0];
    srh4.extend_from_slice(&ipv6_addr(9).octets());
    srh4.extend_from_slice(&ipv4(17, &udp(1, 2, b"in")));
    let o = walk_default(&ethernet(ethertype::IPV6, &ipv6(43, &srh4))).unwrap();
    assert_eq!(o.layers.as_slice(), [Eth, Ipv6, Ipv4, Udp]);
}

#[test]
fn ipv4_header_with_a_bad_total_length_is_kept_with_the_error() {
    let mut frame = ethernet(ethertype::IPV4, &ipv4(17, &udp(1, 2, b"data")));
    frame[14 + 2..14 + 4].copy_from_slice(&500u16.to_be_bytes());
    let mut o = Offsets::default();
    let err = walk_into(&frame, &WalkConfig::default(), &mut o).unwrap_err();
    assert_eq!((err.kind, err.layer, err.offset), (ErrorKind::BadTotalLength, Ipv4, 14));
    assert_eq!(o.layers.as_slice(), [Eth, Ipv4]);
    let l3 = o.outer.l3.expect("the complete header is kept, so its checksum is judged");
    assert_eq!((l3.offset, l3.header_len, l3.end), (14, 20, frame.len()));
    assert!(o.outer.l4.is_none());
    check_same_as_general(&frame, &WalkConfig::default());
}

#[test]
fn ipv4_total_length_zero_is_the_frame_length_only_when_configured() {
    let mut frame = ethernet(ethertype::IPV4, &ipv4(17, &udp(1, 2, b"data")));
    frame[14 + 2..14 + 4].copy_from_slice(&[0, 0]);
    // The data path: malformed (RFC 791 §3.1).
    let err = walk_default(&frame).unwrap_err();
    assert_eq!(err.kind, ErrorKind::BadTotalLength);
    // inspect: read as the frame's length (TSO / BIG TCP captures), and flagged.
    let config = WalkConfig { ipv4_zero_len_is_frame: true, ..WalkConfig::default() };
    let o = walk(&frame, &config).unwrap();
    assert_eq!(o.layers.as_slice(), [Eth, Ipv4, Udp]);
    assert!(o.ipv4_len_from_frame);
    assert_eq!(o.outer.l3.unwrap().end, frame.len());
    check_same_as_general(&frame, &config);
    // A sound frame walked after it into the same offsets clears the flag.
    let mut o2 = o;
    walk_into(&udp4_frame(80, b"x"), &config, &mut o2).unwrap();
    assert!(!o2.ipv4_len_from_frame);
}

#[test]
fn linux_cooked_and_raw_ip_frames_are_walked_from_their_network_layer() {
    let ip = ipv4(17, &udp(1, 2, b"data"));
    // SLL: packet type, ARPHRD, address length, 8 address bytes, protocol (EtherType).
    let mut sll = vec![0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x00];
    sll.extend_from_slice(&ip);
    let mut o = Offsets::default();
    walk_from_into(&sll, FrameStart::LinuxSll, &WalkConfig::default(), &mut o).unwrap();
    assert_eq!(o.layers.as_slice(), [LinuxSll, Ipv4, Udp]);
    assert_eq!((o.outer.l2, o.outer.l3.unwrap().offset), (None, 16));
    // SLL2: protocol first, then reserved, ifindex, ARPHRD, packet type, address.
    let mut sll2 = vec![0x86, 0xdd, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0];
    sll2.extend_from_slice(&ipv6(17, &udp(1, 2, b"data")));
    walk_from_into(&sll2, FrameStart::LinuxSll2, &WalkConfig::default(), &mut o).unwrap();
    assert_eq!(o.layers.as_slice(), [LinuxSll2, Ipv6, Udp]);
    assert_eq!(o.outer.l3.unwrap().offset, 20);
    // An ARP frame in SLL: the link header is all there is.
    let mut arp = sll.clone();
    arp[14..16].copy_from_slice(&[0x08, 0x06]);
    walk_from_into(&arp, FrameStart::LinuxSll, &WalkConfig::default(), &mut o).unwrap();
    assert_eq!(o.layers.as_slice(), [LinuxSll]);
    // Too short for the cooked header.
    let err = walk_from_into(&sll[..10], FrameStart::LinuxSll, &WalkConfig::default(), &mut o).unwrap_err();
    assert_eq!((err.kind, err.layer, err.needed, err.available), (ErrorKind::Truncated, LinuxSll, 16, 10));
    // Raw IP: the version nibble decides.
    walk_from_into(&ip, FrameStart::RawIp, &WalkConfig::default(), &mut o).unwrap();
    assert_eq!(o.layers.as_slice(), [Ipv4, Udp]);
    let v6 = ipv6(6, &tcp_segment_bytes());
    walk_from_into(&v6, FrameStart::RawIp, &WalkConfig::default(), &mut o).unwrap();
    assert_eq!(o.layers.as_slice(), [Ipv6, Tcp]);
    walk_from_into(&v6, FrameStart::Ipv6, &WalkConfig::default(), &mut o).unwrap();
    assert_eq!(o.layers.as_slice(), [Ipv6, Tcp]);
    let err = walk_from_into(&[0x50; 20], FrameStart::RawIp, &WalkConfig::default(), &mut o).unwrap_err();
    assert_eq!((err.kind, err.available), (ErrorKind::BadVersion, 5));
}
