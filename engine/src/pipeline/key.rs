//! The classifier's view of a frame: the header fields rules test, read once per frame at
//! the offsets the walker found. Plain fields come from the innermost headers (the inner ones
//! of a tunnel), `enc_*` fields from the outer headers, as [`rules::PacketKey`] documents.

use rules::key::{IP_FLAG_FIRSTFRAG, IP_FLAG_FRAG};
use rules::{Family, PacketKey};

use wire::{Fragment, Headers, L3Kind, L4Kind, Offsets, TunnelKind};

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
    }
}

const IPPROTO_SCTP: u8 = 132;
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
    }
    let Some(l3) = headers.l3.as_ref() else { return };
    key.family = family(l3.kind);
    key.ip_proto = l3.protocol;
    key.src_ip = address(frame, l3.kind, l3.src_offset());
    key.dst_ip = address(frame, l3.kind, l3.dst_offset);
    match l3.kind {
        L3Kind::Ipv4 => {
            key.ip_tos = byte(frame, l3.offset + 1);
            key.ip_ttl = byte(frame, l3.offset + 8);
        }
        L3Kind::Ipv6 => {
            // RFC 8200 §3: the traffic class straddles the first two bytes.
            key.ip_tos = (be16(frame, l3.offset) >> 4) as u8;
            key.ip_ttl = byte(frame, l3.offset + 7);
        }
    }
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
    use wire::{ethertype, walk, WalkConfig};

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
    fn vlan_and_ipv6() {
        let frame = ethernet_tagged(&[(0x8100, 42)], ethertype::IPV6, &ipv6(17, &udp(3, 4, b"data")));
        let key = key_of(&frame);
        assert_eq!((key.has_vlan, key.vlan_id, key.vlan_prio), (true, 42, 5));
        assert_eq!(key.family, Family::V6);
        assert_eq!(key.dst_ip, u128::from(ipv6_addr(2)));
        assert_eq!((key.src_port, key.dst_port), (3, 4));
    }
}
