//! The classifier's view of a frame: the header fields rules test, read once per frame at
//! the offsets the walker found. Plain fields come from the innermost headers (the inner ones
//! of a tunnel), `enc_*` fields from the outer headers, as [`rules::PacketKey`] documents.

use rules::key::{IP_FLAG_FIRSTFRAG, IP_FLAG_FRAG};
use rules::{Family, PacketKey};

use wire::{ethertype, Fragment, Headers, L3Kind, L4Kind, Offsets, TunnelKind};

/// Fills `key` from a frame whose layers are in `offsets`. Everything it reads lies inside
/// regions the walker checked; a read that would not (impossible by construction) yields 0.
#[inline]
pub fn packet_key(frame: &[u8], offsets: &Offsets, key: &mut PacketKey) {
    *key = PacketKey::default();
    plain_fields(frame, offsets.innermost(), key);
    let Some(tunnel) = offsets.tunnel.as_ref() else { return };
    key.tunnel = true;
    match tunnel.kind {
        TunnelKind::Vxlan | TunnelKind::Geneve => {
            if let Some(vni) = tunnel.vni {
                key.has_enc_key_id = true;
                key.enc_key_id = vni;
            }
            if let Some(l4) = offsets.outer.l4.as_ref().filter(|l4| l4.kind == L4Kind::Udp) {
                key.has_enc_dst_port = true;
                key.enc_dst_port = be16(frame, l4.offset + 2);
            }
        }
        TunnelKind::Gre => {
            if let Some(gre_key) = tunnel.gre_key {
                key.has_enc_key_id = true;
                key.enc_key_id = gre_key;
            }
        }
        TunnelKind::IpInIp => {}
    }
    if let Some(l3) = offsets.outer.l3.as_ref() {
        key.enc_family = family(l3.kind);
        key.enc_src_ip = address(frame, l3.kind, l3.src_offset());
        key.enc_dst_ip = address(frame, l3.kind, l3.dst_offset);
        (key.enc_tos, key.enc_ttl) = tos_ttl(frame, l3.kind, l3.offset);
    }
}

/// The IPv4 TOS and TTL, or the IPv6 traffic class and hop limit, of the header at `offset`.
#[inline]
fn tos_ttl(frame: &[u8], kind: L3Kind, offset: usize) -> (u8, u8) {
    match kind {
        L3Kind::Ipv4 => (byte(frame, offset + 1), byte(frame, offset + 8)),
        // RFC 8200 §3: the traffic class straddles the first two bytes.
        L3Kind::Ipv6 => ((be16(frame, offset) >> 4) as u8, byte(frame, offset + 7)),
    }
}

const IPPROTO_SCTP: u8 = 132;
/// L2TPv3 over IP (RFC 3931 §4.1.1).
const IPPROTO_L2TP: u8 = 115;
/// Source port, destination port, verification tag, checksum (RFC 9260 §3.1).
const SCTP_COMMON_HEADER_LEN: usize = 12;

fn plain_fields(frame: &[u8], headers: &Headers, key: &mut PacketKey) {
    if let Some(l2) = headers.l2.as_ref() {
        key.has_l2 = true;
        key.dst_mac = bytes(frame, l2.offset);
        key.src_mac = bytes(frame, l2.offset + 6);
        if let Some(tag) = l2.vlans[0] {
            key.has_vlan = true;
            key.vlan_id = tag.id;
            key.vlan_prio = tag.pcp;
        }
        if let Some(tag) = l2.vlans[1] {
            key.has_cvlan = true;
            key.cvlan_id = tag.id;
            key.cvlan_prio = tag.pcp;
        }
        key.num_vlans = l2.vlan_count() as u8;
        key.ethertype = be16(frame, l2.ethertype_offset());
    }
    if let Some(arp) = headers.arp.as_ref() {
        key.has_arp = true;
        // The flow dissector keeps the opcode's low byte (flow_dissector_key_arp.op).
        key.arp_op = byte(frame, arp.op_offset() + 1);
        key.arp_sha = bytes(frame, arp.sha_offset());
        key.arp_sip = u32::from_be_bytes(bytes(frame, arp.spa_offset()));
        key.arp_tha = bytes(frame, arp.tha_offset());
        key.arp_tip = u32::from_be_bytes(bytes(frame, arp.tpa_offset()));
    }
    if let Some(mpls) = headers.mpls.as_ref() {
        key.has_mpls = true;
        key.mpls_lse = u32::from_be_bytes(bytes(frame, mpls.offset));
        // The walker read `entries` (at most MPLS_LSE_DEPTH_MAX, so the deeper ones fit).
        key.mpls_entries = mpls.entries;
        for (depth, entry) in key.mpls_deeper.iter_mut().enumerate().take(usize::from(mpls.entries).saturating_sub(1)) {
            *entry = u32::from_be_bytes(bytes(frame, mpls.offset + 4 * (depth + 1)));
        }
    }
    if let Some(pppoe) = headers.pppoe.as_ref() {
        // RFC 2516 §5; the flow dissector keeps the session id and the (widened) PPP protocol.
        key.has_pppoe = true;
        key.pppoe_sid = be16(frame, pppoe.session_offset());
        key.ppp_proto = pppoe.protocol;
    }
    if let Some(cfm) = headers.cfm.as_ref() {
        // IEEE 802.1Q §21.4.1: the MD level is the first byte's top 3 bits (the kernel keeps
        // the byte and flower masks it with 0xe0).
        key.has_cfm = true;
        key.cfm_mdl = byte(frame, cfm.offset) >> 5;
        key.cfm_op = byte(frame, cfm.opcode_offset());
    }
    let Some(l3) = headers.l3.as_ref() else { return };
    if headers.l2.is_none() {
        // IP inside IP or GRE: the ethertype the IP version stands for.
        key.ethertype = match l3.kind {
            L3Kind::Ipv4 => ethertype::IPV4,
            L3Kind::Ipv6 => ethertype::IPV6,
        };
    }
    key.family = family(l3.kind);
    key.ip_proto = l3.protocol;
    key.src_ip = address(frame, l3.kind, l3.src_offset());
    key.dst_ip = address(frame, l3.kind, l3.dst_offset);
    (key.ip_tos, key.ip_ttl) = tos_ttl(frame, l3.kind, l3.offset);
    key.ip_flags = match l3.fragment {
        Fragment::NotFragment => 0,
        Fragment::First => IP_FLAG_FRAG | IP_FLAG_FIRSTFRAG,
        Fragment::Later => IP_FLAG_FRAG,
    };
    let Some(l4) = headers.l4.as_ref() else { return };
    // SCTP's ports are in its 12-byte common header (RFC 9260 §3.1): a shorter L4 region has
    // no ports to read (the walker does not decode SCTP, so the length is checked here).
    let sctp_header = l4.kind == L4Kind::Other(IPPROTO_SCTP) && l4.len >= SCTP_COMMON_HEADER_LEN;
    match l4.kind {
        L4Kind::Udp | L4Kind::Tcp => {
            key.has_ports = true;
            key.src_port = be16(frame, l4.offset);
            key.dst_port = be16(frame, l4.offset + 2);
        }
        L4Kind::Other(IPPROTO_SCTP) if sctp_header => {
            key.has_ports = true;
            key.src_port = be16(frame, l4.offset);
            key.dst_port = be16(frame, l4.offset + 2);
        }
        _ => {}
    }
    // RFC 3931 §4.1.1.2: L2TPv3 over IP starts with its 32-bit session id (the walker does
    // not decode it, so the length is checked here, as for SCTP).
    if l4.kind == L4Kind::Other(IPPROTO_L2TP) && l4.len >= 4 {
        key.has_l2tpv3 = true;
        key.l2tpv3_sid = u32::from_be_bytes(bytes(frame, l4.offset));
    }
    if matches!(l4.kind, L4Kind::Icmp | L4Kind::Icmpv6) {
        // Type and code lead both headers (RFC 792, RFC 4443 §2.1); the walker checked them.
        key.has_icmp = true;
        key.icmp_type = byte(frame, l4.offset);
        key.icmp_code = byte(frame, l4.offset + 1);
    }
    if l4.kind == L4Kind::Tcp {
        key.has_tcp_flags = true;
        // The 12 bits after the data offset, flags in the low 8 (RFC 9293 §3.1), as the
        // kernel's flow dissector and so flower's `tcp_flags` take them.
        key.tcp_flags = be16(frame, l4.offset + 12) & 0x0fff;
    }
}

#[inline]
fn family(kind: L3Kind) -> Family {
    match kind {
        L3Kind::Ipv4 => Family::V4,
        L3Kind::Ipv6 => Family::V6,
    }
}

#[inline]
fn address(frame: &[u8], kind: L3Kind, offset: usize) -> u128 {
    match kind {
        L3Kind::Ipv4 => u128::from(u32::from_be_bytes(bytes(frame, offset))),
        L3Kind::Ipv6 => u128::from_be_bytes(bytes(frame, offset)),
    }
}

#[inline]
fn bytes<const N: usize>(frame: &[u8], offset: usize) -> [u8; N] {
    frame.get(offset..offset + N).and_then(|b| b.try_into().ok()).unwrap_or([0; N])
}

#[inline]
fn byte(frame: &[u8], offset: usize) -> u8 {
    frame.get(offset).copied().unwrap_or(0)
}

#[inline]
fn be16(frame: &[u8], offset: usize) -> u16 {
    u16::from_be_bytes(bytes(frame, offset))
}

#[cfg(test)]
mod tests {
    use super::*;
    use testkit::frames::*;
    use wire::{walk, WalkConfig};

    fn key_of(frame: &[u8]) -> PacketKey {
        let offsets = walk(frame, &WalkConfig::default()).unwrap();
        let mut key = PacketKey::default();
        packet_key(frame, &offsets, &mut key);
        key
    }

    #[test]
    fn plain_udp() {
        let key = key_of(&udp4_frame(4789 + 1, b"x"));
        assert!(key.has_l2 && !key.has_vlan && !key.tunnel);
        assert_eq!((key.src_mac, key.dst_mac), (SRC_MAC, DST_MAC));
        assert_eq!(key.family, Family::V4);
        assert_eq!(key.ip_proto, 17);
        assert_eq!(key.src_ip, u128::from(u32::from_be_bytes([198, 18, 0, 1])));
        assert_eq!(key.dst_ip, u128::from(u32::from_be_bytes([198, 19, 0, 1])));
        assert_eq!((key.has_ports, key.src_port, key.dst_port), (true, 1024, 4790));
        assert!(!key.has_tcp_flags);
        assert_eq!(key.ip_flags, 0);
    }

    #[test]
    fn vxlan_inner_plain_outer_enc() {
        let key = key_of(&vxlan_frame());
        assert!(key.tunnel);
        assert_eq!((key.has_enc_key_id, key.enc_key_id), (true, 0x00beef));
        assert_eq!((key.has_enc_dst_port, key.enc_dst_port), (true, 4789));
        assert_eq!(key.enc_family, Family::V4);
        // Plain keys are the inner TCP flow.
        assert_eq!((key.ip_proto, key.src_port, key.dst_port), (6, 1000, 80));
        assert_eq!((key.has_tcp_flags, key.tcp_flags), (true, 0x018));
    }

    #[test]
    fn sctp_ports_need_the_whole_common_header() {
        let mut sctp = vec![0u8; 12];
        sctp[..4].copy_from_slice(&[0x0b, 0xb8, 0x00, 0x50]); // 3000 -> 80
        let key = key_of(&ethernet(ethertype::IPV4, &ipv4(132, &sctp)));
        assert_eq!((key.has_ports, key.src_port, key.dst_port), (true, 3000, 80));
        // 11 bytes: the ports are there but the header is not; no ports (RFC 9260 §3.1).
        let key = key_of(&ethernet(ethertype::IPV4, &ipv4(132, &sctp[..11])));
        assert_eq!((key.has_ports, key.src_port, key.dst_port), (false, 0, 0));
        assert_eq!(key.ip_proto, 132);
    }

    #[test]
    fn l2tpv3_session_id_after_the_ip_header() {
        // Session id 1234, then a cookie-less payload; IPv4 and IPv6 alike.
        let l2tp = [0, 0, 0x04, 0xd2, 0xaa, 0xbb];
        let key = key_of(&ethernet(ethertype::IPV4, &ipv4(115, &l2tp)));
        assert_eq!((key.ip_proto, key.has_l2tpv3, key.l2tpv3_sid), (115, true, 1234));
        assert!(!key.has_ports);
        let key = key_of(&ethernet(ethertype::IPV6, &ipv6(115, &l2tp[..4])));
        assert_eq!((key.family, key.has_l2tpv3, key.l2tpv3_sid), (Family::V6, true, 1234));
        // Three bytes hold no session id; another protocol's bytes are not one.
        let key = key_of(&ethernet(ethertype::IPV4, &ipv4(115, &l2tp[..3])));
        assert_eq!((key.ip_proto, key.has_l2tpv3), (115, false));
        let key = key_of(&ethernet(ethertype::IPV4, &ipv4(253, &l2tp)));
        assert!(!key.has_l2tpv3);
    }

    #[test]
    fn arp_fields_and_no_ip_family() {
        let body = arp(2, [2, 0, 0, 0, 0, 1], [10, 0, 0, 1], [2, 0, 0, 0, 0, 2], [10, 0, 0, 2]);
        let key = key_of(&padded(ethernet_tagged(&[(0x8100, 9)], ethertype::ARP, &body), 60));
        assert_eq!((key.ethertype, key.family, key.has_arp, key.arp_op), (ethertype::ARP, Family::None, true, 2));
        assert_eq!((key.arp_sip, key.arp_tip), (0x0a00_0001, 0x0a00_0002));
        assert_eq!((key.arp_sha, key.arp_tha), ([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]));
        assert_eq!((key.has_vlan, key.num_vlans, key.has_cvlan), (true, 1, false));
        // Another hardware type: the ethertype still, no ARP fields.
        let mut other = body;
        other[1] = 6;
        let key = key_of(&padded(ethernet(ethertype::ARP, &other), 60));
        assert_eq!((key.ethertype, key.has_arp, key.arp_sip), (ethertype::ARP, false, 0));
    }

    #[test]
    fn mpls_top_entry_and_no_ip_family() {
        let frame = ethernet(ethertype::MPLS_UNICAST, &mpls(&[(1000, 3, 64), (16, 0, 1)], &ipv4(17, &udp(1, 2, b""))));
        let key = key_of(&frame);
        assert_eq!((key.ethertype, key.family, key.has_mpls), (ethertype::MPLS_UNICAST, Family::None, true));
        assert_eq!(key.mpls_lse, 1000 << 12 | 3 << 9 | 64);
        assert_eq!((key.mpls_entries, key.mpls_deeper[0]), (2, 16 << 12 | 1 << 8 | 1), "down to the bottom");
        assert_eq!((key.mpls_entry(2), key.mpls_entry(3)), (Some(16 << 12 | 1 << 8 | 1), None));
        assert!(!key.has_ports && !key.has_arp);
    }

    #[test]
    fn pppoe_session_and_the_ip_inside() {
        // RFC 2516 §5: version/type 0x11, code 0, session 0x1234, length; PPP protocol 0x0021.
        let ip = ipv4(17, &udp(5, 53, b"q"));
        let length = (ip.len() + 2) as u16;
        let session = [&[0x11, 0, 0x12, 0x34][..], &length.to_be_bytes(), &[0x00, 0x21], &ip].concat();
        let key = key_of(&ethernet_tagged(&[(0x8100, 2)], ethertype::PPPOE_SESSION, &session));
        assert_eq!((key.ethertype, key.has_pppoe, key.pppoe_sid, key.ppp_proto), (0x8864, true, 0x1234, 0x21));
        assert_eq!((key.family, key.ip_proto, key.dst_port, key.vlan_id), (Family::V4, 17, 53, 2));
        assert_eq!(key.n_proto(), ethertype::IPV4, "the flow dissector ends on the IP inside");
        // LCP: a session, no IP.
        let lcp = [&[0x11, 0, 0, 7, 0, 6, 0xc0, 0x21][..], &[1, 1, 0, 4]].concat();
        let key = key_of(&ethernet(ethertype::PPPOE_SESSION, &lcp));
        assert_eq!((key.has_pppoe, key.ppp_proto, key.family, key.n_proto()), (true, 0xc021, Family::None, 0x8864));
    }

    #[test]
    fn cfm_level_and_opcode_and_no_ip_family() {
        // MD level 5, version 1, opcode 47 (DMM), under a tag.
        let frame = ethernet_tagged(&[(0x8100, 9)], ethertype::CFM, &[5 << 5 | 1, 47, 0, 4]);
        let key = key_of(&frame);
        assert_eq!((key.ethertype, key.family, key.has_cfm), (ethertype::CFM, Family::None, true));
        assert_eq!((key.cfm_mdl, key.cfm_op), (5, 47));
        assert!(!key.has_mpls && !key.has_arp && !key.has_ports);
        let key = key_of(&ethernet(ethertype::CFM, &[0xff]));
        assert_eq!((key.ethertype, key.has_cfm), (ethertype::CFM, false), "one byte is no header");
    }

    #[test]
    fn qinq_tags_icmp_and_outer_tos() {
        let frame = ethernet_tagged(&[(0x88a8, 100), (0x8100, 200)], ethertype::IPV4, &ipv4(1, &icmp_echo()));
        let key = key_of(&frame);
        assert_eq!((key.has_vlan, key.vlan_id, key.has_cvlan, key.cvlan_id), (true, 100, true, 200));
        assert_eq!((key.num_vlans, key.ethertype, key.family), (2, ethertype::IPV4, Family::V4));
        assert_eq!((key.has_icmp, key.icmp_type, key.icmp_code), (true, 8, 0));
        let key = key_of(&vxlan_frame());
        let outer = walk(&vxlan_frame(), &WalkConfig::default()).unwrap().outer.l3.unwrap().offset;
        assert_eq!((key.enc_tos, key.enc_ttl), (vxlan_frame()[outer + 1], vxlan_frame()[outer + 8]));
        assert!(!key.has_in_port, "the arrival port is the engine's to set");
    }

    #[test]
    fn vlan_and_ipv6() {
        let frame = ethernet_tagged(&[(0x8100, 42)], ethertype::IPV6, &ipv6(17, &udp(3, 4, b"data")));
        let key = key_of(&frame);
        assert_eq!((key.has_vlan, key.vlan_id, key.vlan_prio), (true, 42, 5));
        assert_eq!(key.family, Family::V6);
        assert_eq!(key.dst_ip, u128::from(ipv6_addr(2)));
        assert_eq!((key.src_port, key.dst_port), (3, 4));
    }
}
